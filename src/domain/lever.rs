//! The containment levers the playbook names, as data: which one a pulled flag operation
//! was, and what the playbook says to pull next when it did not contain (docs/incidents.md).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
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
            Lever::ModelSwitch => "a faster or more conservative model variant (L)",
            Lever::ConservativeConfig => {
                "a conservative config: lower temperature, stricter prompt (L)"
            }
            Lever::TokenBudget => "a token budget per user or segment (L)",
            Lever::RetrievalPath => "a cheaper retrieval path: lower top-k, cached answers (L)",
            Lever::Fallback => "route to the fallback: human, static answer (L)",
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

    /// The levers a flag system carries as a flag with variants (one setting served per
    /// feature, another per segment), in the order the levers panel lists them.
    pub const SETTABLE: [Lever; 5] = [
        Lever::ModelSwitch,
        Lever::ConservativeConfig,
        Lever::TokenBudget,
        Lever::RetrievalPath,
        Lever::Fallback,
    ];

    /// The word that names a settable lever in config keys (`model_flag = "{feature}.model"`),
    /// commands and the audit log's target.
    pub fn key(self) -> &'static str {
        match self {
            Lever::PromptRollback => "prompt",
            Lever::KillSwitchSegment | Lever::KillSwitchFeature => "kill",
            Lever::ModelSwitch => "model",
            Lever::ConservativeConfig => "config",
            Lever::TokenBudget => "budget",
            Lever::RetrievalPath => "retrieval",
            Lever::Fallback => "fallback",
            Lever::Escalate => "escalate",
        }
    }

    /// A settable lever from its key.
    pub fn from_key(key: &str) -> Option<Lever> {
        Lever::SETTABLE.into_iter().find(|l| l.key() == key)
    }

    /// The layer of the stack a settable lever changes, for the change timeline.
    pub fn layer(self) -> super::change::Layer {
        use super::change::Layer;
        match self {
            Lever::PromptRollback | Lever::ConservativeConfig => Layer::Prompt,
            Lever::ModelSwitch => Layer::Model,
            Lever::RetrievalPath => Layer::Data,
            _ => Layer::Infrastructure,
        }
    }
}

/// One setting a lever flag offers: a variant, and its value as the flag system holds it
/// (a model name, `{"temperature":0.2}`, a number of tokens per minute, `true`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeverVariant {
    pub name: String,
    pub value: Value,
}

impl LeverVariant {
    /// The value as one short line beside the variant's name: strings bare, numbers as
    /// written, objects as `key value` pairs.
    pub fn describe(&self) -> String {
        match &self.value {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k} {s}"),
                    other => format!("{k} {other}"),
                })
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        }
    }
}

/// One settable lever of one feature as its flag system reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeverSetting {
    pub lever: Lever,
    /// The flag (toggle) that carries it, for messages and the audit log.
    pub flag: String,
    /// The settings it offers, in the flag system's order.
    pub variants: Vec<LeverVariant>,
    /// The variant the feature is served (outside any segment rule).
    pub current: String,
    /// Segments served another variant: (segment, variant).
    #[serde(default)]
    pub segments: Vec<(String, String)>,
    /// The setting before the last change, when the flag system or the cockpit recorded it:
    /// what a revert goes back to.
    #[serde(default)]
    pub previous: Option<String>,
    #[serde(default)]
    pub changed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub changed_by: Option<String>,
    /// The flag system serves segments by rules the cockpit did not write (a team's own
    /// targeting): which segment gets which variant is unknown, `segments` is empty, and only
    /// the whole feature can be set from here.
    #[serde(default)]
    pub segments_unknown: bool,
}

impl LeverSetting {
    pub fn variant(&self, name: &str) -> Option<&LeverVariant> {
        self.variants.iter().find(|v| v.name == name)
    }

    /// The variant served to a segment (its own rule, else the feature's).
    pub fn served_to(&self, segment: Option<&str>) -> &str {
        segment
            .and_then(|s| self.segments.iter().find(|(seg, _)| seg == s))
            .map(|(_, v)| v.as_str())
            .unwrap_or(&self.current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_values_read_as_one_line() {
        let v = |value| LeverVariant {
            name: "x".into(),
            value,
        };
        assert_eq!(
            v(serde_json::json!("gpt-4o-mini")).describe(),
            "gpt-4o-mini"
        );
        assert_eq!(v(serde_json::json!(20000)).describe(), "20000");
        assert_eq!(
            v(serde_json::json!({"temperature": 0.2, "prompt": "strict"})).describe(),
            "temperature 0.2, prompt strict"
        );
    }
}
