//! What a source is to the cockpit, whatever its kind.

use super::command::{Command, IncidentOp};

/// A part a source plays; one source may play several (the simulated fleet plays all but
/// pager; Prometheus plays metrics and, through the cockpit's own detectors, incidents).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceRole {
    Metrics,
    Incidents,
    Flags,
    Pager,
    /// Keeps the requests features served (a tracing server): read on demand.
    Samples,
}

impl SourceRole {
    /// The role a command's source plays: its failure is that role's.
    pub fn of(cmd: &Command) -> SourceRole {
        match cmd {
            Command::Incident { .. } => SourceRole::Incidents,
            Command::Flag { .. } => SourceRole::Flags,
            Command::Page { .. } => SourceRole::Pager,
        }
    }
}

/// A part a started source plays, for the cockpit to show and route by.
#[derive(Clone, Debug, PartialEq)]
pub struct Registration {
    pub name: String,
    pub role: SourceRole,
    /// Expected time between polls, in cockpit-clock seconds (`None`: not polled).
    pub interval_secs: Option<f64>,
    /// Incident operations the source cannot do at all, with why.
    pub unsupported: Vec<(IncidentOp, String)>,
    /// A pager that also sends change events when a lever moves.
    pub change_events: bool,
    /// A flag role that is only a prompt registry: it never becomes where kill switches go.
    pub prompts_only: bool,
    /// Why the source could not even start (bad URL, missing token): it shows as failing
    /// with this reason, and the rest of the cockpit carries on.
    pub error: Option<String>,
}

impl Registration {
    pub fn new(name: &str, role: SourceRole, interval_secs: Option<f64>) -> Registration {
        Registration {
            name: name.to_string(),
            role,
            interval_secs,
            unsupported: Vec::new(),
            change_events: false,
            prompts_only: false,
            error: None,
        }
    }
}
