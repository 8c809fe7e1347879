//! The fleet definition (fleet.toml), parsed once at start-up.

use serde::Deserialize;

pub const BUILTIN: &str = include_str!("fleet.toml");

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSpec {
    pub bucket_secs: u32,
    pub history_secs: u32,
    pub baseline_secs: u32,
    pub eval_every_secs: u32,
    pub models: Vec<ModelSpec>,
    pub features: Vec<FeatureSpec>,
    #[serde(default)]
    pub scenario: Vec<FaultSpec>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub name: String,
    pub version: String,
    pub price_in: f64,
    pub price_out: f64,
    pub ttft: f64,
    pub tpot: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentSpec {
    pub name: String,
    pub share: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptSpec {
    pub id: String,
    pub deployed_secs: i64,
    pub note: String,
    #[serde(default)]
    pub eval_delta: f64,
    #[serde(default)]
    pub category_weights: Option<Vec<f64>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    pub name: String,
    pub model: String,
    pub rps: f64,
    pub input_tokens: f64,
    pub output_tokens: f64,
    pub error_rate: f64,
    pub refusal_rate: f64,
    /// 0 for features without retrieval.
    pub retrieval_hit: f64,
    pub eval_score: f64,
    pub temperature: f64,
    pub top_p: f64,
    pub max_tokens: u32,
    #[serde(default)]
    pub seed: Option<u64>,
    pub categories: Vec<String>,
    pub category_weights: Vec<f64>,
    pub current_prompt: String,
    pub segments: Vec<SegmentSpec>,
    pub prompts: Vec<PromptSpec>,
    /// The settable levers this feature's flag system carries (docs/levers.md).
    #[serde(default)]
    pub levers: Vec<LeverSpec>,
}

/// One settable lever of a feature: the variants its flag offers and the one served at start.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeverSpec {
    /// The lever's key: model, config, budget, retrieval or fallback.
    pub lever: String,
    pub served: String,
    pub variants: Vec<VariantSpec>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    pub name: String,
    /// The value as the flag system holds it; what it means depends on the lever
    /// (`VariantSpec::effect`).
    pub value: serde_json::Value,
    /// Model switch only: how much this model's answers score above (or below) the
    /// feature's usual eval score on this feature's task.
    #[serde(default)]
    pub eval_delta: f64,
}

/// What serving a variant does to the fleet, read from its value.
#[derive(Clone, Debug, PartialEq)]
pub enum VariantEffect {
    /// Serve this model (a name in `models`).
    Model { model: String, eval_delta: f64 },
    /// Sampling temperature and whether the stricter prompt variant is served.
    Config { temperature: f64, strict: bool },
    /// Tokens per minute each user segment may spend; 0 is unlimited.
    Budget { tokens_per_min: f64 },
    /// Retrieval depth, and the share of requests answered from the response cache.
    Retrieval { top_k: f64, cached: f64 },
    /// Where requests are routed instead of the model; `None` serves the model.
    Fallback { to: Option<String> },
}

impl VariantSpec {
    /// The variant's effect on a lever, or what is wrong with its value.
    pub fn effect(&self, lever: crate::domain::Lever) -> Result<VariantEffect, String> {
        use crate::domain::Lever;
        use serde_json::Value;
        let v = &self.value;
        let num = |key: &str| v.get(key).and_then(Value::as_f64);
        let bad = |want: &str| format!("variant {} wants {want}, not {v}", self.name);
        match lever {
            Lever::ModelSwitch => v
                .as_str()
                .map(|m| VariantEffect::Model {
                    model: m.to_string(),
                    eval_delta: self.eval_delta,
                })
                .ok_or_else(|| bad("a model name")),
            Lever::ConservativeConfig => {
                let temperature = num("temperature")
                    .filter(|t| (0.0..=2.0).contains(t))
                    .ok_or_else(|| bad("a temperature from 0 to 2"))?;
                let strict = match v.get("prompt").map(|p| p.as_str()) {
                    None => false,
                    Some(Some("standard")) => false,
                    Some(Some("strict")) => true,
                    Some(_) => return Err(bad("prompt standard or strict")),
                };
                Ok(VariantEffect::Config {
                    temperature,
                    strict,
                })
            }
            Lever::TokenBudget => v
                .as_f64()
                .filter(|n| n.is_finite() && *n >= 0.0)
                .map(|tokens_per_min| VariantEffect::Budget { tokens_per_min })
                .ok_or_else(|| bad("tokens per minute (0: unlimited)")),
            Lever::RetrievalPath => {
                let top_k = num("top_k")
                    .filter(|k| *k >= 1.0)
                    .ok_or_else(|| bad("a top_k of at least 1"))?;
                let cached = match v.get("cached") {
                    None => 0.0,
                    Some(c) => c
                        .as_f64()
                        .filter(|c| (0.0..=1.0).contains(c))
                        .ok_or_else(|| bad("a cached share from 0 to 1"))?,
                };
                Ok(VariantEffect::Retrieval { top_k, cached })
            }
            Lever::Fallback => match v.as_str() {
                Some("off") => Ok(VariantEffect::Fallback { to: None }),
                Some(to) => Ok(VariantEffect::Fallback {
                    to: Some(to.to_string()),
                }),
                None => Err(bad("\"off\" or where the fallback goes")),
            },
            other => Err(format!("{} is not a settable lever", other.key())),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// A segment's agents loop: every request carries `factor` times the tokens (the agent
    /// re-sends its whole context) and `request_factor` times as many requests arrive, the
    /// extra ones tool-call continuations that nobody would refuse.
    AgentLoop,
    /// Deploys prompt `version`; its behaviour comes from the prompt's own spec. With
    /// `end_secs`, the team rolls it back to the previous version then.
    PromptDeploy,
    /// A segment's refusal rate (every segment's, without `segment`) is multiplied by
    /// `factor` (< 1: guardrail bypass).
    Jailbreak,
    /// The feature's error rate becomes `factor`.
    Errors,
    /// TTFT and time per output token are multiplied by `factor`.
    Latency,
    /// Retrieval hit rate becomes `factor`.
    Retrieval,
    /// The provider ships model `version`; refusal rate multiplied by `factor`.
    ModelUpdate,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub at_secs: i64,
    pub feature: String,
    pub fault: FaultKind,
    #[serde(default)]
    pub segment: Option<String>,
    #[serde(default)]
    pub factor: f64,
    /// Agent loops: requests per normal request (1 = no extra requests).
    #[serde(default = "one")]
    pub request_factor: f64,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub end_secs: Option<i64>,
}

fn one() -> f64 {
    1.0
}

impl FleetSpec {
    pub fn builtin() -> Result<FleetSpec, String> {
        Self::parse(BUILTIN)
    }

    pub fn parse(text: &str) -> Result<FleetSpec, String> {
        let spec: FleetSpec = toml::from_str(text).map_err(|e| format!("fleet spec: {e}"))?;
        spec.validate()?;
        Ok(spec)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.bucket_secs == 0 || self.history_secs < self.bucket_secs * 2 {
            return Err(
                "fleet spec: bucket_secs must be > 0 and history at least two buckets".into(),
            );
        }
        for f in &self.features {
            if !self.models.iter().any(|m| m.name == f.model) {
                return Err(format!(
                    "fleet spec: feature {} uses unknown model {}",
                    f.name, f.model
                ));
            }
            if f.categories.len() != f.category_weights.len() {
                return Err(format!(
                    "fleet spec: feature {} has {} categories but {} weights",
                    f.name,
                    f.categories.len(),
                    f.category_weights.len()
                ));
            }
            for p in &f.prompts {
                if let Some(w) = &p.category_weights {
                    if w.len() != f.categories.len() {
                        return Err(format!(
                            "fleet spec: prompt {} of {} has the wrong number of weights",
                            p.id, f.name
                        ));
                    }
                }
            }
            if !f.prompts.iter().any(|p| p.id == f.current_prompt) {
                return Err(format!(
                    "fleet spec: feature {} runs unknown prompt {}",
                    f.name, f.current_prompt
                ));
            }
            self.validate_levers(f)
                .map_err(|e| format!("fleet spec: feature {}: {e}", f.name))?;
        }
        for s in &self.scenario {
            let Some(f) = self.features.iter().find(|f| f.name == s.feature) else {
                return Err(format!(
                    "fleet spec: scenario names unknown feature {}",
                    s.feature
                ));
            };
            if let Some(seg) = &s.segment {
                if !f.segments.iter().any(|x| &x.name == seg) {
                    return Err(format!(
                        "fleet spec: scenario names unknown segment {seg} of {}",
                        f.name
                    ));
                }
            }
            if s.fault == FaultKind::PromptDeploy
                && !s
                    .version
                    .as_ref()
                    .is_some_and(|v| f.prompts.iter().any(|p| &p.id == v))
            {
                return Err(format!(
                    "fleet spec: prompt_deploy on {} needs a known version",
                    f.name
                ));
            }
        }
        Ok(())
    }

    fn validate_levers(&self, f: &FeatureSpec) -> Result<(), String> {
        for (i, l) in f.levers.iter().enumerate() {
            let lever = crate::domain::Lever::from_key(&l.lever)
                .ok_or_else(|| format!("unknown lever {}", l.lever))?;
            if f.levers[..i].iter().any(|o| o.lever == l.lever) {
                return Err(format!("lever {} declared twice", l.lever));
            }
            for (j, v) in l.variants.iter().enumerate() {
                if l.variants[..j].iter().any(|o| o.name == v.name) {
                    return Err(format!("{} variant {} declared twice", l.lever, v.name));
                }
                let effect = v.effect(lever).map_err(|e| format!("{} {e}", l.lever))?;
                if let VariantEffect::Model { model, .. } = &effect {
                    if !self.models.iter().any(|m| &m.name == model) {
                        return Err(format!(
                            "model variant {} names unknown model {model}",
                            v.name
                        ));
                    }
                }
            }
            if !l.variants.iter().any(|v| v.name == l.served) {
                return Err(format!(
                    "{} serves {}, which is not among its variants",
                    l.lever, l.served
                ));
            }
            // The start setting is the feature as declared above, so a fleet with levers
            // behaves at start exactly as one without.
            let served = l.variants.iter().find(|v| v.name == l.served);
            let start = served.map(|v| v.effect(lever)).transpose()?;
            let consistent = match &start {
                Some(VariantEffect::Model { model, eval_delta }) => {
                    *model == f.model && *eval_delta == 0.0
                }
                Some(VariantEffect::Config {
                    temperature,
                    strict,
                }) => *temperature == f.temperature && !strict,
                Some(VariantEffect::Budget { tokens_per_min }) => *tokens_per_min == 0.0,
                Some(VariantEffect::Retrieval { cached, .. }) => *cached == 0.0,
                Some(VariantEffect::Fallback { to }) => to.is_none(),
                None => true,
            };
            if !consistent {
                return Err(format!(
                    "{} serves {} at start, which is not the feature as declared",
                    l.lever, l.served
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_fleet_parses_and_validates() {
        let spec = FleetSpec::builtin();
        assert!(spec.is_ok(), "{spec:?}");
        let spec = spec.unwrap_or_else(|_| unreachable!());
        assert!(spec.features.len() >= 3);
        assert!(spec.models.len() >= 2);
    }

    #[test]
    fn bad_reference_is_named() {
        let text = BUILTIN.replace("model = \"coder-34b\"", "model = \"nope\"");
        let err = FleetSpec::parse(&text).err().unwrap_or_default();
        assert_eq!(
            err,
            "fleet spec: feature code-assistant uses unknown model nope"
        );
    }

    #[test]
    fn lever_variants_are_checked_at_load() {
        let text = BUILTIN.replace(
            "{ name = \"frontier-mini\", value = \"frontier-mini\", eval_delta = -0.02 }",
            "{ name = \"frontier-mini\", value = \"frontier-nano\" }",
        );
        assert_eq!(
            FleetSpec::parse(&text).err().unwrap_or_default(),
            "fleet spec: feature support-bot: model variant frontier-mini names unknown model \
             frontier-nano"
        );
        let text = BUILTIN.replacen("served = \"off\"", "served = \"pager\"", 1);
        assert_eq!(
            FleetSpec::parse(&text).err().unwrap_or_default(),
            "fleet spec: feature support-bot: fallback serves pager, which is not among its \
             variants"
        );
        let text = BUILTIN.replacen("served = \"unlimited\"", "served = \"1M/min\"", 1);
        assert!(FleetSpec::parse(&text)
            .err()
            .unwrap_or_default()
            .ends_with("budget serves 1M/min at start, which is not the feature as declared"));
        let text = BUILTIN.replacen(
            "{ temperature = 0.1, prompt = \"strict\" }",
            "{ temperature = 0.1, prompt = \"gentle\" }",
            1,
        );
        assert!(FleetSpec::parse(&text)
            .err()
            .unwrap_or_default()
            .contains("wants prompt standard or strict"));
    }
}
