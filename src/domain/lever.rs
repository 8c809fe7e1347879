//! The containment levers the playbook names, as data: which one a pulled flag operation
//! was, and what the playbook says to pull next when it did not contain (docs/incidents.md).

use super::command::FlagOp;
use serde::Deserialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Lever {
    PromptRollback,
    /// The kill switch on one user segment.
    KillSwitchSegment,
    /// The kill switch on the whole feature.
    KillSwitchFeature,
    ModelSwitch,
    ConservativeConfig,
    TokenBudget,
    RetrievalPath,
    Fallback,
    /// Past the levers: the next escalation level decides.
    Escalate,
}

impl Lever {
    /// How the containment line and the playbook name it, with its key where it has one.
    pub fn label(self) -> &'static str {
        match self {
            Lever::PromptRollback => "prompt rollback to last-known-good (p)",
            Lever::KillSwitchSegment => "kill switch on the segment (K)",
            Lever::KillSwitchFeature => "kill switch on the whole feature (K)",
            Lever::ModelSwitch => "a faster or more conservative model variant",
            Lever::ConservativeConfig => {
                "a conservative config (lower temperature, stricter prompt)"
            }
            Lever::TokenBudget => "a token budget per user or segment",
            Lever::RetrievalPath => "a cheaper retrieval path (lower top-k, cached answers)",
            Lever::Fallback => "route to the fallback (human, static answer)",
            Lever::Escalate => "escalate (e)",
        }
    }

    /// The short name a containment verdict gives the lever it judges.
    pub fn short(self) -> &'static str {
        match self {
            Lever::PromptRollback => "prompt rollback",
            Lever::KillSwitchSegment => "segment kill switch",
            Lever::KillSwitchFeature => "kill switch",
            Lever::ModelSwitch => "model switch",
            Lever::ConservativeConfig => "conservative config",
            Lever::TokenBudget => "token budget",
            Lever::RetrievalPath => "retrieval path",
            Lever::Fallback => "fallback",
            Lever::Escalate => "escalation",
        }
    }

    /// The lever a flag operation pulls to contain an incident; `None` for one that undoes a
    /// containment (a kill switch released).
    pub fn of(op: &FlagOp) -> Option<Lever> {
        match op {
            FlagOp::Rollback { .. } => Some(Lever::PromptRollback),
            FlagOp::KillSwitch { engage: false, .. } => None,
            FlagOp::KillSwitch {
                segment: Some(_), ..
            } => Some(Lever::KillSwitchSegment),
            FlagOp::KillSwitch { segment: None, .. } => Some(Lever::KillSwitchFeature),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releasing_a_kill_switch_contains_nothing() {
        let op = |segment: Option<&str>, engage| FlagOp::KillSwitch {
            feature: "f".into(),
            segment: segment.map(str::to_string),
            engage,
        };
        assert_eq!(Lever::of(&op(None, false)), None);
        assert_eq!(
            Lever::of(&op(Some("free"), true)),
            Some(Lever::KillSwitchSegment)
        );
        assert_eq!(Lever::of(&op(None, true)), Some(Lever::KillSwitchFeature));
    }
}
