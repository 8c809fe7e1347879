//! Backend adapters live behind three traits: metrics (signals), incidents (list and act) and
//! flags (prompt version and kill switches). Each configured adapter is driven by its own tokio
//! task (see `driver`), which reports over the app's channel, so a slow or dead backend never
//! blocks the render loop.

pub mod alertmanager;
pub mod bounds;
pub mod clock;
pub mod driver;
pub mod flagd;
pub mod hook;
pub mod http;
pub mod local;
pub mod pagerduty;
pub mod pagerduty_events;
pub mod prometheus;
pub mod sim;
pub mod unleash;

use crate::domain::{Detection, Incident, IncidentId, SignalSet};
use chrono::{DateTime, Utc};
use std::future::Future;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("timed out after {0}s")]
    Timeout(u64),
    #[error("HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The backend understood and refused (conflict, unknown id, invalid state).
    #[error("{0}")]
    Rejected(String),
    /// The reply passed the source's `max_reply_mib`; `size` when the server announced it.
    #[error("reply too large ({})", too_large(*.size, *.cap))]
    TooLarge { size: Option<u64>, cap: u64 },
}

fn too_large(size: Option<u64>, cap: u64) -> String {
    let mib = |b: u64| {
        let m = b as f64 / f64::from(1 << 20);
        if m >= 10.0 || m.fract() == 0.0 {
            format!("{m:.0} MiB")
        } else {
            format!("{m:.1} MiB")
        }
    };
    match size {
        Some(size) => format!("{} > cap {}", mib(size), mib(cap)),
        None => format!("over the {} cap; not read further", mib(cap)),
    }
}

/// What a driver task reports back to the app.
#[derive(Clone, Debug, PartialEq)]
pub enum BackendEvent {
    Signals {
        source: String,
        at: DateTime<Utc>,
        set: SignalSet,
        detections: Vec<Detection>,
    },
    Incidents {
        source: String,
        at: DateTime<Utc>,
        incidents: Vec<Incident>,
    },
    /// What a flag system says the levers are set to now.
    Flags {
        source: String,
        at: DateTime<Utc>,
        flags: Vec<FeatureFlags>,
    },
    Failed {
        source: String,
        at: DateTime<Utc>,
        error: String,
    },
    /// Incidents the source holds that the cockpit does not show (past its cap on incidents
    /// or its pages per poll). Sent when it changes, before that poll's incidents.
    NotShown { source: String, not_shown: NotShown },
    /// Pacing stretched the poll interval to this many seconds (`None`: back to the
    /// configured one); stale marks follow it.
    Paced {
        source: String,
        interval_secs: Option<f64>,
    },
}

/// The levers of one feature as its flag system reports them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FeatureFlags {
    pub feature: String,
    /// Prompt versions the flag can serve, in the flag system's order.
    pub prompt_versions: Vec<String>,
    pub current_prompt: Option<String>,
    pub last_known_good: Option<String>,
    /// When the served prompt version last changed, if the flag system records it.
    pub prompt_changed_at: Option<DateTime<Utc>>,
    /// Kill switches engaged: "*" for the whole feature, else segment names.
    pub killed: Vec<String>,
    /// User segments the kill switch can target, as far as the flag system knows them.
    pub segments: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum IncidentOp {
    Ack,
    Escalate,
    Resolve,
    Note(String),
}

impl IncidentOp {
    pub fn name(&self) -> &'static str {
        match self {
            IncidentOp::Ack => "ack",
            IncidentOp::Escalate => "escalate",
            IncidentOp::Resolve => "resolve",
            IncidentOp::Note(_) => "note",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum FlagOp {
    Rollback {
        feature: String,
        to_version: String,
    },
    /// `segment: None` is the whole feature.
    KillSwitch {
        feature: String,
        segment: Option<String>,
        engage: bool,
    },
}

impl FlagOp {
    pub fn name(&self) -> &'static str {
        match self {
            FlagOp::Rollback { .. } => "prompt_rollback",
            FlagOp::KillSwitch { engage: true, .. } => "kill_switch_engage",
            FlagOp::KillSwitch { engage: false, .. } => "kill_switch_release",
        }
    }
}

/// PagerDuty's event severities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageSeverity {
    Critical,
    Error,
    Warning,
    Info,
}

impl PageSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            PageSeverity::Critical => "critical",
            PageSeverity::Error => "error",
            PageSeverity::Warning => "warning",
            PageSeverity::Info => "info",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum PageOp {
    /// Wake the on-call rotation for a detection. The same dedup key updates the same page.
    Trigger {
        dedup_key: String,
        summary: String,
        severity: PageSeverity,
        /// The affected feature.
        source: String,
        component: String,
        /// The incident type.
        class: String,
        details: Vec<(String, String)>,
    },
    /// Tell the pager's timeline a lever was pulled.
    Change {
        summary: String,
        source: String,
        details: Vec<(String, String)>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Incident {
        source: String,
        id: IncidentId,
        op: IncidentOp,
    },
    Flag {
        source: String,
        op: FlagOp,
    },
    Page {
        source: String,
        op: PageOp,
    },
}

impl Command {
    pub fn source(&self) -> &str {
        match self {
            Command::Incident { source, .. }
            | Command::Flag { source, .. }
            | Command::Page { source, .. } => source,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Command::Incident { op, .. } => op.name(),
            Command::Flag { op, .. } => op.name(),
            Command::Page {
                op: PageOp::Trigger { .. },
                ..
            } => "page",
            Command::Page {
                op: PageOp::Change { .. },
                ..
            } => "change_event",
        }
    }

    /// What the command acts on, for the audit log and status line.
    pub fn target(&self) -> String {
        match self {
            Command::Incident { id, .. } => id.clone(),
            Command::Page {
                op: PageOp::Trigger { dedup_key, .. },
                ..
            } => dedup_key.clone(),
            Command::Page {
                op: PageOp::Change { summary, .. },
                ..
            } => summary.clone(),
            Command::Flag {
                op:
                    FlagOp::Rollback {
                        feature,
                        to_version,
                    },
                ..
            } => {
                format!("{feature} prompt → {to_version}")
            }
            Command::Flag {
                op: FlagOp::KillSwitch {
                    feature, segment, ..
                },
                ..
            } => match segment {
                Some(s) => format!("{feature} segment {s}"),
                None => format!("{feature} (whole feature)"),
            },
        }
    }
}

/// A command tagged with the id the state uses to track it until it succeeds or fails.
#[derive(Clone, Debug, PartialEq)]
pub struct CommandRequest {
    pub action_id: u64,
    pub author: String,
    pub command: Command,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CommandOutcome {
    pub action_id: u64,
    pub result: Result<String, String>,
}

pub trait MetricsSource: Send + 'static {
    fn fetch(
        &mut self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<SignalSet, BackendError>> + Send;
}

/// Incidents a source holds but the cockpit does not show: past the pages read per poll, or
/// past the cap on incidents held per source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotShown {
    pub count: u64,
    /// The backend said there is more without saying how much.
    pub more: bool,
}

impl NotShown {
    pub fn is_none(&self) -> bool {
        self.count == 0 && !self.more
    }
}

pub trait IncidentSource: Send + 'static {
    /// Why this source cannot do `op` at all (shown greyed out with the reason), if it can't.
    fn unsupported(&self, _op: &IncidentOp) -> Option<String> {
        None
    }

    /// What the last `list` left out by the backend's own count (paging stopped early).
    fn not_listed(&self) -> NotShown {
        NotShown::default()
    }

    fn list(
        &mut self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Incident>, BackendError>> + Send;

    fn apply(
        &mut self,
        id: &IncidentId,
        op: &IncidentOp,
        author: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<String, BackendError>> + Send;
}

/// Somewhere to page people and record changes (PagerDuty's Events API).
pub trait Pager: Send + 'static {
    fn send(
        &mut self,
        op: &PageOp,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<String, BackendError>> + Send;
}

pub trait FlagControl: Send + 'static {
    /// The levers of every feature this flag system knows. A write-only system (an HTTP hook)
    /// knows none and returns an empty list.
    fn read(
        &mut self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<FeatureFlags>, BackendError>> + Send;

    fn apply(
        &mut self,
        op: &FlagOp,
        author: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<String, BackendError>> + Send;
}
