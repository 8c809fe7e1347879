//! The one gate every responder operation passes before it builds a dialog or a command:
//! read-only mode, something to act on, and a source able to do it. One place, so each
//! operation refuses for the same reasons in the same words.

use super::State;
use crate::config::keymap::ActionName;
use crate::domain::command::IncidentOp;
use crate::domain::{FeatureInfo, Incident};
use std::fmt;

/// What the responder asks the cockpit to do, before it knows on what.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    // Incident operations first, in the order their refusals are listed on the detail pane.
    Ack,
    Escalate,
    Note,
    Resolve,
    RequestResponders,
    StatusUpdate,
    SetRole,
    Merge,
    Rollback,
    KillSwitch,
    /// The levers panel: reading a feature's levers.
    Levers,
    /// Model, config, budget, retrieval or fallback set from the levers panel.
    SetLever,
    Page,
    Retry,
    RecordAnswer,
    Runbook,
    Describe,
    Export,
}

/// What an operation acts on.
enum Needs {
    /// The selected incident.
    Incident,
    /// The feature of the selected incident, else the one in the signal pane, with the flag
    /// system that holds its levers.
    Feature,
    /// Nothing chosen on screen (retry acts on the last failure, an answer on its runbook).
    Nothing,
}

impl Operation {
    /// How the operation is named in messages and on the detail pane.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Ack => "ack",
            Operation::Escalate => "escalate",
            Operation::Note => "note",
            Operation::Resolve => "resolve",
            Operation::RequestResponders => "request responders",
            Operation::StatusUpdate => "status update",
            Operation::SetRole => "role",
            Operation::Merge => "merge",
            Operation::Rollback => "prompt rollback",
            Operation::KillSwitch => "kill switch",
            Operation::Levers => "levers",
            Operation::SetLever => "lever",
            Operation::Page => "page",
            Operation::Retry => "retry",
            Operation::RecordAnswer => "recording runbook answers",
            Operation::Runbook => "runbook",
            Operation::Describe => "describe",
            Operation::Export => "export",
        }
    }

    /// The operation a key performs, if it is one.
    pub fn of(action: ActionName) -> Option<Operation> {
        Some(match action {
            ActionName::Ack => Operation::Ack,
            ActionName::Escalate => Operation::Escalate,
            ActionName::Note => Operation::Note,
            ActionName::Resolve => Operation::Resolve,
            ActionName::RequestResponders => Operation::RequestResponders,
            ActionName::StatusUpdate => Operation::StatusUpdate,
            ActionName::Merge => Operation::Merge,
            ActionName::Rollback => Operation::Rollback,
            ActionName::KillSwitch => Operation::KillSwitch,
            ActionName::Levers => Operation::Levers,
            ActionName::Page => Operation::Page,
            ActionName::Retry => Operation::Retry,
            ActionName::Runbook => Operation::Runbook,
            ActionName::Describe => Operation::Describe,
            ActionName::Export => Operation::Export,
            ActionName::ConfirmAnswer | ActionName::EditAnswer => Operation::RecordAnswer,
            _ => return None,
        })
    }

    /// Whether it changes something outside the cockpit (or the audit log): refused in
    /// read-only mode. Reading the runbook, describing and exporting a local file are not.
    fn writes(self) -> bool {
        !matches!(
            self,
            Operation::Runbook | Operation::Describe | Operation::Export | Operation::Levers
        )
    }

    fn needs(self) -> Needs {
        match self {
            Operation::Ack
            | Operation::Escalate
            | Operation::Note
            | Operation::Resolve
            | Operation::RequestResponders
            | Operation::StatusUpdate
            | Operation::SetRole
            | Operation::Merge
            | Operation::Page
            | Operation::Runbook
            | Operation::Describe
            | Operation::Export => Needs::Incident,
            Operation::Rollback
            | Operation::KillSwitch
            | Operation::Levers
            | Operation::SetLever => Needs::Feature,
            Operation::Retry | Operation::RecordAnswer => Needs::Nothing,
        }
    }
}

impl From<&IncidentOp> for Operation {
    fn from(op: &IncidentOp) -> Operation {
        match op {
            IncidentOp::Ack => Operation::Ack,
            IncidentOp::Escalate => Operation::Escalate,
            IncidentOp::Resolve => Operation::Resolve,
            IncidentOp::Note(_) => Operation::Note,
            IncidentOp::RequestResponders { .. } => Operation::RequestResponders,
            IncidentOp::StatusUpdate(_) => Operation::StatusUpdate,
            IncidentOp::Role { .. } => Operation::SetRole,
            IncidentOp::Merge(_) => Operation::Merge,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an operation that passed the guard acts on.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Incident(Box<Incident>),
    Feature {
        info: Box<FeatureInfo>,
        /// The flag system holding the feature's levers.
        flag_source: String,
    },
    Nothing,
}

impl Target {
    pub fn into_incident(self) -> Option<Incident> {
        match self {
            Target::Incident(i) => Some(*i),
            _ => None,
        }
    }

    pub fn into_feature(self) -> Option<(FeatureInfo, String)> {
        match self {
            Target::Feature { info, flag_source } => Some((*info, flag_source)),
            _ => None,
        }
    }
}

/// Why an operation does nothing; shown to the responder instead of acting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    ReadOnly(Operation),
    NoIncident(Operation),
    /// The selected incident's source cannot do it, and why.
    Unsupported(Operation, String),
    NoFeatureData(Operation),
    NoFlagSystem(Operation),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::ReadOnly(op) => write!(
                f,
                "read-only mode: {op} is disabled (started with --read-only)"
            ),
            Refusal::NoIncident(op) => write!(f, "{op}: no incident selected"),
            Refusal::Unsupported(op, why) => write!(f, "{op} unavailable: {why}"),
            Refusal::NoFeatureData(op) => write!(f, "{op}: no feature data yet"),
            Refusal::NoFlagSystem(op) => write!(f, "{op}: no flag system configured"),
        }
    }
}

/// Whether `op` may act now, and on what: read-only first (nothing writes, whatever is
/// selected), then the target, then whether the target's source can do it at all.
pub fn actionable(state: &State, op: Operation) -> Result<Target, Refusal> {
    if op.writes() && state.read_only {
        return Err(Refusal::ReadOnly(op));
    }
    match op.needs() {
        Needs::Nothing => Ok(Target::Nothing),
        Needs::Incident => {
            let inc = state.selected().ok_or(Refusal::NoIncident(op))?;
            if let Some(why) = state.unsupported_reason(op) {
                return Err(Refusal::Unsupported(op, why.to_string()));
            }
            Ok(Target::Incident(Box::new(inc.clone())))
        }
        Needs::Feature => {
            let info = target_feature(state)
                .and_then(|f| state.feature_info(&f))
                .ok_or(Refusal::NoFeatureData(op))?;
            let flag_source = lever_source(state, info, op)?;
            Ok(Target::Feature {
                info: Box::new(info.clone()),
                flag_source,
            })
        }
    }
}

/// Where `op` on the feature goes: its prompts to the prompt registry that reported them,
/// everything else to its flag system, else to the first flag system configured. A feature
/// whose only lever source is a prompt registry has no kill switch, and is told so.
fn lever_source(state: &State, info: &FeatureInfo, op: Operation) -> Result<String, Refusal> {
    let prompts = info
        .prompt_source
        .clone()
        .filter(|_| op == Operation::Rollback);
    let source = prompts
        .or_else(|| info.flag_source.clone())
        .or_else(|| state.sources.flag_source.clone());
    match (source, &info.prompt_source) {
        (Some(s), _) => match state.sources.unsupported_reason(&s, op) {
            Some(why) => Err(Refusal::Unsupported(op, why.to_string())),
            None => Ok(s),
        },
        (None, Some(registry)) => Err(Refusal::Unsupported(
            op,
            state.sources.unsupported_reason(registry, op).map_or_else(
                || {
                    format!(
                        "{}'s only lever source is the prompt registry {registry}",
                        info.name
                    )
                },
                |why| format!("{}'s only lever source: {why}", info.name),
            ),
        )),
        (None, None) => Err(Refusal::NoFlagSystem(op)),
    }
}

/// Feature to act on: the levers panel's while it is open, else the selected incident's,
/// else the one shown in the signal pane.
fn target_feature(state: &State) -> Option<String> {
    if let super::Overlay::Levers { feature, .. } = &state.overlay {
        return Some(feature.clone());
    }
    state
        .selected()
        .map(|i| i.feature.as_str().to_string())
        .filter(|f| state.feature_info(f).is_some())
        .or_else(|| state.shown_feature())
}

/// The guard, saying why when it refuses: the responder always learns why a key did nothing.
pub(super) fn allowed(state: &mut State, op: Operation) -> Option<Target> {
    match actionable(state, op) {
        Ok(target) => Some(target),
        Err(refusal) => {
            state.say(super::FlashLevel::Warn, refusal.to_string());
            None
        }
    }
}

/// The selected incident, if `op` may act on it (else the footer says why not).
pub(super) fn incident_for(state: &mut State, op: Operation) -> Option<Incident> {
    allowed(state, op).and_then(Target::into_incident)
}

/// The feature and its flag system, if `op` may act on them (else the footer says why not).
pub(super) fn feature_for(state: &mut State, op: Operation) -> Option<(FeatureInfo, String)> {
    allowed(state, op).and_then(Target::into_feature)
}
