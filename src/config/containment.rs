//! `[containment]`: how long a lever has to bring its incident's signal back inside the
//! pre-incident band before the cockpit says it did not, and the playbook's order of levers
//! per incident type, which names the next one. The built-in values live in defaults.toml.

use crate::domain::{IncidentType, Lever};
use serde::Deserialize;

/// One value per incident type; every type must be given (a type left out of a user's table
/// keeps its built-in value, since tables merge key by key).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerType<T> {
    pub cost_explosion: T,
    pub latency_degradation: T,
    pub errors: T,
    pub guardrail_bypass: T,
    pub over_refusal: T,
    pub capability_drift: T,
    pub eval_regression: T,
    pub retrieval_degradation: T,
    pub other: T,
}

impl<T> PerType<T> {
    pub fn get(&self, kind: IncidentType) -> &T {
        match kind {
            IncidentType::CostExplosion => &self.cost_explosion,
            IncidentType::LatencyDegradation => &self.latency_degradation,
            IncidentType::Errors => &self.errors,
            IncidentType::GuardrailBypass => &self.guardrail_bypass,
            IncidentType::OverRefusal => &self.over_refusal,
            IncidentType::CapabilityDrift => &self.capability_drift,
            IncidentType::EvalRegression => &self.eval_regression,
            IncidentType::RetrievalDegradation => &self.retrieval_degradation,
            IncidentType::Other => &self.other,
        }
    }
}

/// A deadline: 1 minute to a day, refused otherwise when the file is read.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(try_from = "i64")]
pub struct DeadlineSecs(u32);

impl TryFrom<i64> for DeadlineSecs {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, String> {
        match u32::try_from(n) {
            Ok(n) if (60..=86_400).contains(&n) => Ok(DeadlineSecs(n)),
            _ => Err(format!(
                "a containment deadline must be 60 to 86400 seconds, not {n}"
            )),
        }
    }
}

impl DeadlineSecs {
    pub fn get(self) -> i64 {
        i64::from(self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainmentSettings {
    pub deadline_secs: PerType<DeadlineSecs>,
    pub playbook: PerType<Vec<Lever>>,
}

impl Default for ContainmentSettings {
    /// The `[containment]` table of the built-in defaults.toml.
    fn default() -> Self {
        #[derive(Deserialize)]
        struct Defaults {
            containment: ContainmentSettings,
        }
        let ten = DeadlineSecs(600);
        toml::from_str::<Defaults>(include_str!("defaults.toml"))
            .ok()
            .map(|d| d.containment)
            .unwrap_or(ContainmentSettings {
                deadline_secs: PerType {
                    cost_explosion: ten,
                    latency_degradation: ten,
                    errors: ten,
                    guardrail_bypass: ten,
                    over_refusal: ten,
                    capability_drift: ten,
                    eval_regression: ten,
                    retrieval_degradation: ten,
                    other: ten,
                },
                playbook: PerType {
                    cost_explosion: vec![],
                    latency_degradation: vec![],
                    errors: vec![],
                    guardrail_bypass: vec![],
                    over_refusal: vec![],
                    capability_drift: vec![],
                    eval_regression: vec![],
                    retrieval_degradation: vec![],
                    other: vec![],
                },
            })
    }
}

impl ContainmentSettings {
    /// What the playbook says to pull after `pulled` did not contain an incident of `kind`:
    /// the lever after it, else the first one not pulled yet, else escalation.
    pub fn next_lever(&self, kind: IncidentType, pulled: &[Lever]) -> Lever {
        let book = self.playbook.get(kind);
        let after_last = pulled
            .last()
            .and_then(|last| book.iter().position(|l| l == last))
            .map_or(0, |i| i + 1);
        book.iter()
            .skip(after_last)
            .chain(book.iter())
            .find(|l| !pulled.contains(l))
            .copied()
            .unwrap_or(Lever::Escalate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_table_gives_every_type_a_deadline_and_a_playbook() {
        let c = ContainmentSettings::default();
        for kind in IncidentType::ALL {
            assert!(c.deadline_secs.get(kind).get() >= 60, "{kind:?}");
            assert!(!c.playbook.get(kind).is_empty(), "{kind:?}");
        }
        // The numbers read are the file's, not the fallback's.
        assert_ne!(
            c.deadline_secs.get(IncidentType::EvalRegression),
            c.deadline_secs.get(IncidentType::CostExplosion)
        );
    }

    #[test]
    fn the_next_lever_follows_the_one_that_failed_then_escalates() {
        let c = ContainmentSettings::default();
        let cost = IncidentType::CostExplosion;
        assert_eq!(
            c.next_lever(cost, &[Lever::KillSwitchSegment]),
            Lever::KillSwitchFeature
        );
        // A lever off the playbook: its first lever not pulled yet.
        assert_eq!(
            c.next_lever(cost, &[Lever::PromptRollback]),
            c.playbook.get(cost)[0]
        );
        let all = c.playbook.get(cost).clone();
        assert_eq!(c.next_lever(cost, &all), Lever::Escalate);
    }

    #[test]
    fn deadlines_out_of_range_are_refused() {
        assert!(DeadlineSecs::try_from(59).is_err());
        assert!(DeadlineSecs::try_from(86_401).is_err());
        assert!(DeadlineSecs::try_from(-1).is_err());
        assert_eq!(DeadlineSecs::try_from(600).map(DeadlineSecs::get), Ok(600));
    }
}
