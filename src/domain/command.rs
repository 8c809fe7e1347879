//! What the responder asks a system to do (acknowledge, roll back, page…), tagged so the
//! state can track each request until it succeeds or fails. Plain data: the backends carry
//! it out, the state only asks.

use super::lever::Lever;
use super::responders::{Layer, ResponderTarget, Role};
use super::IncidentId;

#[derive(Clone, Debug, PartialEq)]
pub enum IncidentOp {
    Ack,
    Escalate,
    Resolve,
    Note(String),
    /// Ask the owner of a layer in (PagerDuty's responder request).
    RequestResponders {
        layer: Layer,
        /// Who, as the config names them: for messages, never sent as an id.
        who: String,
        target: ResponderTarget,
        /// What the person asked in reads: the incident and the layer.
        message: String,
    },
    /// An update for the incident's stakeholders.
    StatusUpdate(String),
    /// Who holds a role in the response, recorded on the incident's timeline.
    Role {
        role: Role,
        name: String,
    },
    /// Merge these incidents (of the same source) into the one the command names.
    Merge(Vec<IncidentId>),
    /// Quiet an acknowledged incident for a while: it returns to triggered (and notifies
    /// again) when the time is up.
    Snooze(SnoozeFor),
    /// Hand the incident to one person.
    Reassign {
        /// Who, as the screen names them: for messages, and for finding the user when no id
        /// is known.
        who: String,
        /// Their PagerDuty user id, when the on-call list or the config knows it.
        user: Option<String>,
    },
}

/// How long a snooze lasts, in whole minutes, within `SnoozeFor::MAX_MINUTES`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnoozeFor(u32);

impl SnoozeFor {
    /// A day: PagerDuty takes longer, but an incident quiet for more than a day is forgotten,
    /// not snoozed; resolve it or leave it acknowledged instead.
    pub const MAX_MINUTES: u32 = 24 * 60;
    /// The chooser's durations.
    pub const CHOICES: [SnoozeFor; 4] =
        [SnoozeFor(30), SnoozeFor(60), SnoozeFor(120), SnoozeFor(240)];

    pub fn minutes(m: u32) -> Result<SnoozeFor, String> {
        if (1..=Self::MAX_MINUTES).contains(&m) {
            Ok(SnoozeFor(m))
        } else {
            Err(format!(
                "snooze lasts 1 minute to {}h, not {m} minutes",
                Self::MAX_MINUTES / 60
            ))
        }
    }

    /// "30m", "1h", "2h", "90m", "1h30m" (case aside); anything else says what is taken.
    pub fn parse(text: &str) -> Result<SnoozeFor, String> {
        let t = text.trim().to_lowercase();
        let bad = || {
            format!(
                "snooze takes a duration like 30m, 1h or 1h30m, not \"{}\"",
                text.trim()
            )
        };
        let (hours, rest) = match t.split_once('h') {
            Some((h, rest)) => (h.parse::<u32>().map_err(|_| bad())?, rest),
            None => (0, t.as_str()),
        };
        let mins = match rest.strip_suffix('m') {
            Some(m) => m.parse::<u32>().map_err(|_| bad())?,
            None if rest.is_empty() && t.contains('h') => 0,
            None => return Err(bad()),
        };
        let total = hours
            .checked_mul(60)
            .and_then(|h| h.checked_add(mins))
            .ok_or_else(bad)?;
        SnoozeFor::minutes(total)
    }

    pub fn as_minutes(self) -> u32 {
        self.0
    }

    pub fn seconds(self) -> u64 {
        u64::from(self.0) * 60
    }

    pub fn duration(self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(self.0))
    }
}

impl std::fmt::Display for SnoozeFor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.0 / 60, self.0 % 60) {
            (0, m) => write!(f, "{m}m"),
            (h, 0) => write!(f, "{h}h"),
            (h, m) => write!(f, "{h}h{m}m"),
        }
    }
}

impl IncidentOp {
    pub fn name(&self) -> &'static str {
        match self {
            IncidentOp::Ack => "ack",
            IncidentOp::Escalate => "escalate",
            IncidentOp::Resolve => "resolve",
            IncidentOp::Note(_) => "note",
            IncidentOp::RequestResponders { .. } => "request_responders",
            IncidentOp::StatusUpdate(_) => "status_update",
            IncidentOp::Role { .. } => "role",
            IncidentOp::Merge(_) => "merge",
            IncidentOp::Snooze(_) => "snooze",
            IncidentOp::Reassign { .. } => "reassign",
        }
    }

    /// What the audit log keeps beside the action: the text sent, who was asked in, which
    /// incidents were merged.
    pub fn detail(&self) -> String {
        match self {
            IncidentOp::Ack | IncidentOp::Escalate | IncidentOp::Resolve => String::new(),
            IncidentOp::Note(text) | IncidentOp::StatusUpdate(text) => text.clone(),
            IncidentOp::RequestResponders {
                layer,
                who,
                target,
                message,
            } => format!("{who} ({layer} layer, {}): {message}", target.describe()),
            IncidentOp::Role { role, name } => format!("{role}: {name}"),
            IncidentOp::Merge(ids) => format!("merged into it: {}", ids.join(", ")),
            IncidentOp::Snooze(d) => format!("for {d}"),
            IncidentOp::Reassign { who, user } => match user {
                Some(id) => format!("to {who} (PagerDuty user {id})"),
                None => format!("to {who}"),
            },
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
    /// Serve a settable lever's variant (`Lever::SETTABLE`) to the feature, or to one
    /// segment. `undo` marks a revert to the previous setting, which contains nothing.
    SetLever {
        feature: String,
        lever: Lever,
        segment: Option<String>,
        variant: String,
        undo: bool,
    },
}

impl FlagOp {
    pub fn name(&self) -> &'static str {
        match self {
            FlagOp::Rollback { .. } => "prompt_rollback",
            FlagOp::KillSwitch { engage: true, .. } => "kill_switch_engage",
            FlagOp::KillSwitch { engage: false, .. } => "kill_switch_release",
            FlagOp::SetLever { undo: true, .. } => "lever_revert",
            FlagOp::SetLever { lever, .. } => match lever {
                Lever::ModelSwitch => "model_switch",
                Lever::ConservativeConfig => "conservative_config",
                Lever::TokenBudget => "token_budget",
                Lever::RetrievalPath => "retrieval_path",
                Lever::Fallback => "fallback",
                _ => "lever_set",
            },
        }
    }

    /// The lever this operation pulls to contain an incident; `None` for one that undoes a
    /// containment (a kill switch released, a lever reverted).
    pub fn lever(&self) -> Option<Lever> {
        match self {
            FlagOp::Rollback { .. } => Some(Lever::PromptRollback),
            FlagOp::SetLever { undo: true, .. } => None,
            FlagOp::SetLever { lever, .. } => Some(*lever),
            FlagOp::KillSwitch { engage: false, .. } => None,
            FlagOp::KillSwitch {
                segment: Some(_), ..
            } => Some(Lever::KillSwitchSegment),
            FlagOp::KillSwitch { segment: None, .. } => Some(Lever::KillSwitchFeature),
        }
    }

    /// The lever in words: "prompt rollback", "kill switch", "model switch"…
    pub fn lever_name(&self) -> &'static str {
        match self {
            FlagOp::Rollback { .. } => Lever::PromptRollback.short(),
            FlagOp::KillSwitch { .. } => "kill switch",
            FlagOp::SetLever { lever, .. } => lever.short(),
        }
    }

    /// The feature the lever moves.
    pub fn feature(&self) -> &str {
        match self {
            FlagOp::Rollback { feature, .. }
            | FlagOp::KillSwitch { feature, .. }
            | FlagOp::SetLever { feature, .. } => feature,
        }
    }

    /// What the audit log records as the target; `from_audit` reads it back.
    pub fn target(&self) -> String {
        match self {
            FlagOp::Rollback {
                feature,
                to_version,
            } => format!("{feature} prompt → {to_version}"),
            FlagOp::KillSwitch {
                feature, segment, ..
            } => match segment {
                Some(s) => format!("{feature} segment {s}"),
                None => format!("{feature} (whole feature)"),
            },
            FlagOp::SetLever {
                feature,
                lever,
                segment,
                variant,
                ..
            } => match segment {
                Some(s) => format!("{feature} {} segment {s} → {variant}", lever.key()),
                None => format!("{feature} {} → {variant}", lever.key()),
            },
        }
    }

    /// A lever operation back from the audit log's action and target (`name`, `target`);
    /// `None` for any other record.
    pub fn from_audit(action: &str, target: &str) -> Option<FlagOp> {
        match action {
            "prompt_rollback" => {
                let (feature, to) = target.split_once(" prompt → ")?;
                Some(FlagOp::Rollback {
                    feature: feature.into(),
                    to_version: to.into(),
                })
            }
            "kill_switch_engage" | "kill_switch_release" => {
                let (feature, segment) = match target.strip_suffix(" (whole feature)") {
                    Some(f) => (f, None),
                    None => {
                        let (f, s) = target.split_once(" segment ")?;
                        (f, Some(s.to_string()))
                    }
                };
                Some(FlagOp::KillSwitch {
                    feature: feature.into(),
                    segment,
                    engage: action == "kill_switch_engage",
                })
            }
            _ => {
                let (head, variant) = target.rsplit_once(" → ")?;
                let (scope, segment) = match head.split_once(" segment ") {
                    Some((scope, s)) => (scope, Some(s.to_string())),
                    None => (head, None),
                };
                let (feature, key) = scope.rsplit_once(' ')?;
                let lever = Lever::from_key(key)?;
                let undo = action == "lever_revert";
                let op = FlagOp::SetLever {
                    feature: feature.into(),
                    lever,
                    segment,
                    variant: variant.into(),
                    undo,
                };
                (undo || op.name() == action).then_some(op)
            }
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
            Command::Flag { op, .. } => op.target(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snooze_durations_read_as_typed_and_stay_within_a_day() {
        let ok = |t: &str| SnoozeFor::parse(t).map(SnoozeFor::as_minutes);
        assert_eq!(ok("30m"), Ok(30));
        assert_eq!(ok("1h"), Ok(60));
        assert_eq!(ok(" 2H "), Ok(120));
        assert_eq!(ok("1h30m"), Ok(90));
        assert_eq!(ok("90m"), Ok(90));
        assert_eq!(ok("24h"), Ok(1440));
        for bad in [
            "",
            "0m",
            "25h",
            "1d",
            "h",
            "m",
            "30",
            "-5m",
            "1h30",
            "99999999999h",
        ] {
            assert!(SnoozeFor::parse(bad).is_err(), "{bad:?} accepted");
        }
        let shown: Vec<String> = SnoozeFor::CHOICES.iter().map(|d| d.to_string()).collect();
        assert_eq!(shown, ["30m", "1h", "2h", "4h"]);
        assert_eq!(SnoozeFor(90).to_string(), "1h30m");
        assert_eq!(SnoozeFor(90).seconds(), 5400);
    }

    #[test]
    fn releasing_a_kill_switch_contains_nothing() {
        let op = |segment: Option<&str>, engage| FlagOp::KillSwitch {
            feature: "f".into(),
            segment: segment.map(str::to_string),
            engage,
        };
        assert_eq!(op(None, false).lever(), None);
        assert_eq!(
            op(Some("free"), true).lever(),
            Some(Lever::KillSwitchSegment)
        );
        assert_eq!(op(None, true).lever(), Some(Lever::KillSwitchFeature));
    }

    #[test]
    fn a_revert_contains_nothing_and_a_setting_is_its_lever() {
        let op = |undo| FlagOp::SetLever {
            feature: "f".into(),
            lever: Lever::TokenBudget,
            segment: Some("free".into()),
            variant: "tight".into(),
            undo,
        };
        assert_eq!(op(false).lever(), Some(Lever::TokenBudget));
        assert_eq!(op(true).lever(), None);
        for l in Lever::SETTABLE {
            assert_eq!(Lever::from_key(l.key()), Some(l));
        }
    }

    #[test]
    fn every_lever_reads_back_from_its_audit_record() {
        let ops = [
            FlagOp::Rollback {
                feature: "support bot".into(),
                to_version: "v2".into(),
            },
            FlagOp::KillSwitch {
                feature: "support-bot".into(),
                segment: Some("free tier".into()),
                engage: true,
            },
            FlagOp::KillSwitch {
                feature: "support-bot".into(),
                segment: None,
                engage: false,
            },
            FlagOp::SetLever {
                feature: "support bot".into(),
                lever: Lever::ModelSwitch,
                segment: None,
                variant: "gpt-4o-mini".into(),
                undo: false,
            },
            FlagOp::SetLever {
                feature: "triage".into(),
                lever: Lever::TokenBudget,
                segment: Some("free".into()),
                variant: "tight".into(),
                undo: true,
            },
        ];
        for op in ops {
            assert_eq!(FlagOp::from_audit(op.name(), &op.target()), Some(op));
        }
        assert_eq!(FlagOp::from_audit("ack", "INC-1"), None);
        assert_eq!(
            FlagOp::from_audit("model_switch", "f budget → tight"),
            None,
            "a record whose action and lever disagree is not read as either"
        );
    }
}
