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
}
