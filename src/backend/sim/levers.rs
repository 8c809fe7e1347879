//! The settable levers of one simulated feature: the variant each serves the feature and each
//! segment, what it was before and who moved it (reported as a flag system would), and what
//! they add up to for one segment's requests. How the world reacts is in docs/levers.md.

use super::spec::{FeatureSpec, VariantEffect, VariantSpec};
use crate::domain::lever::{LeverSetting, LeverVariant};
use crate::domain::Lever;
use chrono::{DateTime, Utc};

#[derive(Clone, Debug)]
struct LeverState {
    lever: Lever,
    variants: Vec<(VariantSpec, VariantEffect)>,
    current: String,
    segments: Vec<(String, String)>,
    previous: Option<String>,
    changed_at: Option<i64>,
    changed_by: Option<String>,
}

impl LeverState {
    fn served_to(&self, segment: &str) -> &str {
        self.segments
            .iter()
            .find(|(s, _)| s == segment)
            .map_or(self.current.as_str(), |(_, v)| v.as_str())
    }

    fn effect(&self, variant: &str) -> Option<&VariantEffect> {
        self.variants
            .iter()
            .find(|(v, _)| v.name == variant)
            .map(|(_, e)| e)
    }
}

/// What the levers serve one segment. Every field at its neutral value is the feature as
/// declared.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Served {
    /// Another model than the declared one, by name.
    pub model: Option<String>,
    /// Eval score difference of the model served.
    pub model_eval: f64,
    /// A temperature other than the declared one.
    pub temperature: Option<f64>,
    /// The stricter prompt variant.
    pub strict: bool,
    /// Tokens per minute the segment may spend; 0 unlimited.
    pub budget: f64,
    /// Retrieval depth over the depth served at start, when it differs.
    pub depth: Option<f64>,
    /// Share of requests answered from the response cache.
    pub cached: f64,
    /// Where requests go instead of the model.
    pub fallback: Option<String>,
}

/// How much less often a jailbreak gets past the guardrail per unit of temperature cut (as a
/// share of the declared temperature), and under the strict prompt. Both are partial: the
/// attack still works on some requests (docs/levers.md).
const TEMPERATURE_RESISTANCE: f64 = 0.5;
const STRICT_RESISTANCE: f64 = 0.8;
/// The strict prompt refuses a little more of what it should not.
pub const STRICT_REFUSAL: f64 = 1.15;
/// Eval score cost of the strict prompt's terser answers, and of a cached (older) answer.
const STRICT_EVAL: f64 = -0.01;
const CACHED_EVAL: f64 = -0.04;
/// Share of a request's input tokens that is retrieved context at the start depth, and share
/// of TTFT that is prefill (proportional to input tokens).
const CONTEXT_SHARE: f64 = 0.6;
const PREFILL_SHARE: f64 = 0.5;
/// Hit rate at depth k is the start rate times (k / k0) to this power: the best match is
/// usually among the first few chunks.
const DEPTH_RECALL_POWER: f64 = 0.05;

impl Served {
    /// The share of jailbreak attempts that still succeed, given the declared temperature.
    pub fn jailbreak_success(&self, declared_temperature: f64) -> f64 {
        let mut s = 1.0;
        if let Some(t) = self.temperature {
            if declared_temperature > 0.0 && t < declared_temperature {
                s *= 1.0 - TEMPERATURE_RESISTANCE * (1.0 - t / declared_temperature);
            }
        }
        if self.strict {
            s *= STRICT_RESISTANCE;
        }
        s
    }

    /// Multiplier of the refusal rate.
    pub fn refusal(&self) -> f64 {
        if self.strict {
            STRICT_REFUSAL
        } else {
            1.0
        }
    }

    /// Eval score difference of what this segment is served.
    pub fn eval_delta(&self) -> f64 {
        self.model_eval + if self.strict { STRICT_EVAL } else { 0.0 } + CACHED_EVAL * self.cached
    }

    /// Input tokens relative to the start depth.
    pub fn input_scale(&self) -> f64 {
        self.depth
            .map_or(1.0, |d| 1.0 - CONTEXT_SHARE + CONTEXT_SHARE * d)
    }

    /// TTFT relative to the start depth: the prefill shrinks with the context.
    pub fn prefill_scale(&self) -> f64 {
        self.depth.map_or(1.0, |_| {
            1.0 - PREFILL_SHARE + PREFILL_SHARE * self.input_scale()
        })
    }

    /// Retrieval hit rate relative to the start depth.
    pub fn recall_scale(&self) -> f64 {
        self.depth.map_or(1.0, |d| d.powf(DEPTH_RECALL_POWER))
    }

    /// Output categories sharpened towards the likeliest at a lower temperature: less varied
    /// answers.
    pub fn sharpen(&self, weights: &[f64], declared_temperature: f64) -> Option<Vec<f64>> {
        let t = self.temperature?;
        if declared_temperature <= 0.0 || t >= declared_temperature {
            return None;
        }
        let power = 1.0 + 0.25 * (1.0 - t / declared_temperature);
        Some(weights.iter().map(|w| w.max(0.0).powf(power)).collect())
    }
}

/// Per segment: the tokens a budget still allows (a bucket of one minute's budget, refilled
/// every second); `None` is a full bucket.
#[derive(Clone, Debug, Default)]
pub struct Allowance(Vec<Option<f64>>);

impl Allowance {
    /// Refills segment `si` for one more second of a `per_min` budget.
    pub fn refill(&mut self, si: usize, per_min: f64) {
        if self.0.len() <= si {
            self.0.resize(si + 1, None);
        }
        if let Some(a) = &mut self.0[si] {
            *a = (*a + per_min / 60.0).min(per_min);
        }
    }

    /// Spends `tokens` of segment `si`'s budget; false when it has not that many left.
    pub fn spend(&mut self, si: usize, per_min: f64, tokens: f64) -> bool {
        if self.0.len() <= si {
            self.0.resize(si + 1, None);
        }
        let left = self.0[si].get_or_insert(per_min);
        if *left < tokens {
            return false;
        }
        *left -= tokens;
        true
    }
}

#[derive(Clone, Debug, Default)]
pub struct Levers {
    levers: Vec<LeverState>,
    /// Retrieval depth served at start, against which another depth is measured.
    start_depth: Option<f64>,
    pub allowance: Allowance,
}

impl Levers {
    pub fn new(spec: &FeatureSpec) -> Result<Levers, String> {
        let mut levers = Vec::new();
        let mut start_depth = None;
        for l in &spec.levers {
            let lever = Lever::from_key(&l.lever).ok_or_else(|| format!("no lever {}", l.lever))?;
            let variants = l
                .variants
                .iter()
                .map(|v| v.effect(lever).map(|e| (v.clone(), e)))
                .collect::<Result<Vec<_>, _>>()?;
            let state = LeverState {
                lever,
                variants,
                current: l.served.clone(),
                segments: Vec::new(),
                previous: None,
                changed_at: None,
                changed_by: None,
            };
            if let Some(VariantEffect::Retrieval { top_k, .. }) = state.effect(&l.served) {
                start_depth = Some(*top_k);
            }
            levers.push(state);
        }
        Ok(Levers {
            levers,
            start_depth,
            allowance: Allowance::default(),
        })
    }

    /// What the levers serve `segment` (or the feature outside any segment rule, for "").
    pub fn served(&self, segment: &str, declared_model: &str) -> Served {
        let mut s = Served::default();
        for l in &self.levers {
            match l.effect(l.served_to(segment)) {
                Some(VariantEffect::Model { model, eval_delta }) => {
                    if model != declared_model {
                        s.model = Some(model.clone());
                    }
                    s.model_eval = *eval_delta;
                }
                Some(VariantEffect::Config {
                    temperature,
                    strict,
                }) => {
                    s.temperature = Some(*temperature);
                    s.strict = *strict;
                }
                Some(VariantEffect::Budget { tokens_per_min }) => s.budget = *tokens_per_min,
                Some(VariantEffect::Retrieval { top_k, cached }) => {
                    s.cached = *cached;
                    if let Some(k0) = self.start_depth.filter(|k0| k0 != top_k) {
                        s.depth = Some(top_k / k0);
                    }
                }
                Some(VariantEffect::Fallback { to }) => s.fallback = to.clone(),
                None => {}
            }
        }
        s
    }

    /// The levers as a flag system reports them.
    pub fn report(&self, feature: &str, at: impl Fn(i64) -> DateTime<Utc>) -> Vec<LeverSetting> {
        self.levers
            .iter()
            .map(|l| LeverSetting {
                lever: l.lever,
                flag: format!("{feature}.{}", l.lever.key()),
                variants: l
                    .variants
                    .iter()
                    .map(|(v, _)| LeverVariant {
                        name: v.name.clone(),
                        value: v.value.clone(),
                    })
                    .collect(),
                current: l.current.clone(),
                segments: l.segments.clone(),
                segments_unknown: false,
                previous: l.previous.clone(),
                changed_at: l.changed_at.map(&at),
                changed_by: l.changed_by.clone(),
            })
            .collect()
    }

    /// Serves `variant` of `lever` to the feature or one segment, recording what it replaced.
    /// A segment set back to the feature's variant loses its own rule.
    pub fn set(&mut self, change: Change<'_>, now: i64) -> Result<String, String> {
        let Change {
            feature,
            lever,
            segment,
            variant,
            author,
        } = change;
        let l = self
            .levers
            .iter_mut()
            .find(|l| l.lever == lever)
            .ok_or_else(|| format!("{feature} has no {} lever in the fleet", lever.key()))?;
        if l.effect(variant).is_none() {
            let offered: Vec<&str> = l.variants.iter().map(|(v, _)| v.name.as_str()).collect();
            return Err(format!(
                "{feature} {} has no variant {variant} (offers {})",
                lever.key(),
                offered.join(", ")
            ));
        }
        let was = match segment {
            Some(s) => l.served_to(s).to_string(),
            None => l.current.clone(),
        };
        let scope = match segment {
            Some(s) => format!("{feature} segment {s}"),
            None => feature.to_string(),
        };
        if was == variant {
            return Err(format!(
                "{scope} is already served {} {variant}",
                lever.key()
            ));
        }
        match segment {
            Some(s) => {
                l.segments.retain(|(seg, _)| seg != s);
                if variant != l.current {
                    l.segments.push((s.to_string(), variant.to_string()));
                }
            }
            None => l.current = variant.to_string(),
        }
        // What a revert puts back is the whole feature's setting: a segment's old setting
        // is never recorded as the feature's previous one (as the flagd adapter does).
        if segment.is_none() {
            l.previous = Some(was.clone());
        }
        l.changed_at = Some(now);
        l.changed_by = Some(author.to_string());
        if lever == Lever::TokenBudget {
            // A new budget starts each segment on a full minute of it.
            self.allowance = Allowance::default();
        }
        Ok(format!("{scope} {} {was} → {variant}", lever.key()))
    }
}

/// One lever change as the cockpit asks it.
pub struct Change<'a> {
    pub feature: &'a str,
    pub lever: Lever,
    pub segment: Option<&'a str>,
    pub variant: &'a str,
    pub author: &'a str,
}
