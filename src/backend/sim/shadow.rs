//! Shadow traffic in the simulated fleet, and the per-variant figures a shadow comparison
//! reads. While a feature serves a prompt other than its last-known-good one, a share of its
//! requests is copied and served unseen with the last-known-good prompt, labelled as shadow:
//! the drill's rollback dialog then shows v12 (shadow) beside v13 (live). Every live request
//! is also tallied under its prompt version and model, so the current variant's figures come
//! from the same window.
//!
//! Shadow requests are drawn from a random stream of their own and tallied here only: the
//! buckets the signals (and so the detectors) read never see them, and a seed's live traffic
//! is the same with or without them.

use super::SimWorld;
use crate::backend::sim::rng::Rng;
use crate::backend::sim::telemetry::{Hist, Request};
use crate::detect::stats::js_distance;
use crate::domain::shadow::{Axis, Figure, Measured, ShadowAnswer, ShadowRequest, VariantFigures};
use std::collections::VecDeque;

/// The share of a feature's requests copied to the last-known-good prompt.
const SHADOW_SHARE: f64 = 0.05;
const SHADOW_SALT: u64 = 0x5348_4144_4f57;
/// Fewer answers than this make a category distribution noise (the drift signal's floor).
const MIN_DRIFT_ANSWERS: f64 = 20.0;
/// Fewer timed requests than this make a p95 meaningless.
const MIN_TIMED: u32 = 5;

/// Which variant, and whether it served live or as shadow.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Key {
    axis: Axis,
    value: String,
    shadow: bool,
}

#[derive(Clone, Debug, Default)]
struct Tally {
    requests: u64,
    answered: u64,
    refusals: u64,
    cost: f64,
    eval_sum: f64,
    eval_n: u64,
    ttft: Hist,
    categories: Vec<u64>,
}

impl Tally {
    fn record(&mut self, r: &Request, eval: f64) {
        self.requests += 1;
        self.cost += r.cost;
        if r.error {
            return;
        }
        self.answered += 1;
        self.refusals += u64::from(r.refused);
        self.ttft.observe(r.ttft);
        self.eval_sum += eval;
        self.eval_n += 1;
        if self.categories.len() <= r.category {
            self.categories.resize(r.category + 1, 0);
        }
        self.categories[r.category] += 1;
    }

    fn merge(&mut self, o: &Tally) {
        self.requests += o.requests;
        self.answered += o.answered;
        self.refusals += o.refusals;
        self.cost += o.cost;
        self.eval_sum += o.eval_sum;
        self.eval_n += o.eval_n;
        self.ttft.merge(&o.ttft);
        if self.categories.len() < o.categories.len() {
            self.categories.resize(o.categories.len(), 0);
        }
        for (a, b) in self.categories.iter_mut().zip(&o.categories) {
            *a += b;
        }
    }
}

/// Per bucket of simulated time, the tallies of every variant that served in it.
#[derive(Debug)]
pub(super) struct Variants {
    buckets: VecDeque<(i64, Vec<(Key, Tally)>)>,
    /// The share of requests copied to shadow traffic.
    share: f64,
}

impl Default for Variants {
    fn default() -> Self {
        Variants {
            buckets: VecDeque::new(),
            share: SHADOW_SHARE,
        }
    }
}

impl Variants {
    fn tally(&mut self, bucket: i64, key: Key) -> &mut Tally {
        if self.buckets.back().is_none_or(|(b, _)| *b != bucket) {
            self.buckets.push_back((bucket, Vec::new()));
        }
        let (_, tallies) = self.buckets.back_mut().expect("pushed above");
        let at = match tallies.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                tallies.push((key, Tally::default()));
                tallies.len() - 1
            }
        };
        &mut tallies[at].1
    }

    fn forget_before(&mut self, bucket: i64) {
        while self.buckets.front().is_some_and(|(b, _)| *b < bucket) {
            self.buckets.pop_front();
        }
    }

    fn sum(&self, key: &Key, from_bucket: i64) -> Tally {
        let mut out = Tally::default();
        for (_, tallies) in self.buckets.iter().filter(|(b, _)| *b >= from_bucket) {
            for (_, t) in tallies.iter().filter(|(k, _)| k == key) {
                out.merge(t);
            }
        }
        out
    }
}

/// What the second's live requests were served under: the shadow copies meet the same
/// provider (latency, errors) and the same users (refusals).
pub(super) struct Conditions {
    pub latency: f64,
    pub error_rate: f64,
    pub refusal_rate: f64,
}

impl SimWorld {
    /// Tallies second `t`'s live requests of feature `fi` under their prompt and model, and
    /// serves its shadow copies with the last-known-good prompt when another one is live.
    pub(super) fn serve_shadow(&mut self, fi: usize, t: i64, live: &[Request], c: Conditions) {
        let bs = self.bucket_secs();
        let keep = i64::from(self.spec.history_secs) / bs.max(1);
        let mut rng = Rng::for_key(self.seed ^ SHADOW_SALT, fi as u64, t);
        let f = &mut self.features[fi];
        let bucket = t.div_euclid(bs.max(1));
        let prompt_of = |id: &str| f.spec.prompts.iter().find(|p| p.id == id);
        let live_delta = prompt_of(&f.current_prompt).map_or(0.0, |p| p.eval_delta);
        let (lkg_delta, lkg_weights) = match prompt_of(&f.last_known_good) {
            Some(p) => (
                p.eval_delta,
                p.category_weights
                    .clone()
                    .unwrap_or_else(|| f.spec.category_weights.clone()),
            ),
            None => (0.0, f.spec.category_weights.clone()),
        };
        let shadowing = f.last_known_good != f.current_prompt;
        let prompt = Key {
            axis: Axis::Prompt,
            value: f.current_prompt.clone(),
            shadow: false,
        };
        let model = Key {
            axis: Axis::Model,
            value: f.model.name.clone(),
            shadow: false,
        };
        let shadow_key = Key {
            axis: Axis::Prompt,
            value: f.last_known_good.clone(),
            shadow: true,
        };
        for r in live {
            let eval = (f.spec.eval_score + live_delta + 0.05 * rng.normal()).clamp(0.0, 1.0);
            f.variants.tally(bucket, prompt.clone()).record(r, eval);
            f.variants.tally(bucket, model.clone()).record(r, eval);
            if !shadowing || !rng.chance(f.variants.share) {
                continue;
            }
            // The same user input, answered again by the last-known-good prompt.
            let output = rng
                .lognormal(f.spec.output_tokens, 0.45)
                .min(f64::from(f.spec.max_tokens))
                .round() as u32;
            let copy = Request {
                output_tokens: output,
                cost: (f64::from(r.input_tokens) * f.model.price_in
                    + f64::from(output) * f.model.price_out)
                    / 1e6,
                ttft: rng.lognormal(f.model.ttft, 0.3) * c.latency,
                tpot: rng.lognormal(f.model.tpot, 0.25) * c.latency,
                error: rng.chance(c.error_rate),
                refused: rng.chance(c.refusal_rate),
                category: rng.weighted(&lkg_weights),
                ..r.clone()
            };
            let eval = (f.spec.eval_score + lkg_delta + 0.05 * rng.normal()).clamp(0.0, 1.0);
            f.variants
                .tally(bucket, shadow_key.clone())
                .record(&copy, eval);
        }
        f.variants.forget_before(bucket - keep);
    }

    /// The request's two variants over its window ending now: the current one as it served
    /// live, the target from its shadow traffic.
    pub fn compare(&self, request: &ShadowRequest) -> Result<ShadowAnswer, String> {
        let f = self
            .features
            .iter()
            .find(|f| f.spec.name == request.feature)
            .ok_or_else(|| format!("the fleet has no feature {}", request.feature))?;
        let bs = self.bucket_secs().max(1);
        let from = (self.generated_until - i64::from(request.window_secs)).div_euclid(bs);
        let read = |value: &str, shadow: bool, none: String| {
            let key = Key {
                axis: request.axis,
                value: value.to_string(),
                shadow,
            };
            let tally = f.variants.sum(&key, from);
            if tally.requests == 0 {
                VariantFigures::none(value, shadow, &none)
            } else {
                figures(value, shadow, &tally, &f.baseline_dist)
            }
        };
        let current_none = format!(
            "no traffic for {} in {} (label {})",
            request.current,
            request.window_words(),
            request.label
        );
        Ok(ShadowAnswer {
            current: read(&request.current, false, current_none),
            target: read(&request.target, true, request.no_target_data()),
            latency_note: None,
        })
    }
}

fn figures(value: &str, shadow: bool, t: &Tally, baseline: &[f64]) -> VariantFigures {
    let measured = |value: f64, count: u64| Ok(Measured { value, count });
    let ratio = |num: f64, den: u64, why: &str| {
        if den == 0 {
            Err(why.to_string())
        } else {
            measured(num / den as f64, den)
        }
    };
    let categories: Vec<f64> = t.categories.iter().map(|c| *c as f64).collect();
    let answers: f64 = categories.iter().sum();
    let drift = if answers < MIN_DRIFT_ANSWERS {
        Err(format!(
            "fewer than {MIN_DRIFT_ANSWERS} answers to weigh categories"
        ))
    } else if baseline.is_empty() {
        Err("no baseline distribution yet".into())
    } else {
        let mut cur = categories.clone();
        cur.resize(baseline.len().max(cur.len()), 0.0);
        measured(js_distance(baseline, &cur), t.answered)
    };
    let timed = t.ttft.total();
    let latency = if timed < MIN_TIMED {
        Err(format!("fewer than {MIN_TIMED} requests timed"))
    } else {
        measured(t.ttft.quantile(0.95), u64::from(timed))
    };
    VariantFigures {
        value: value.to_string(),
        shadow,
        figures: vec![
            (
                Figure::Eval,
                ratio(t.eval_sum, t.eval_n, "no request scored"),
            ),
            (
                Figure::Refusals,
                ratio(t.refusals as f64, t.answered, "no request answered"),
            ),
            (Figure::Drift, drift),
            (
                Figure::CostPerRequest,
                ratio(t.cost, t.requests, "no request priced"),
            ),
            (Figure::Latency, latency),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::shadow::Figure;

    fn drill(minutes: i64, shadow: bool) -> SimWorld {
        let spec = crate::backend::sim::FleetSpec::builtin().expect("fleet");
        let origin = chrono::DateTime::from_timestamp(1_795_000_000, 0).expect("a time");
        let mut world = SimWorld::new(spec, 42, origin).expect("world");
        if !shadow {
            for f in &mut world.features {
                f.variants.share = 0.0;
            }
        }
        world.advance_to(origin + chrono::Duration::minutes(minutes));
        world
    }

    fn request(target: &str) -> ShadowRequest {
        ShadowRequest {
            feature: "support-bot".into(),
            axis: Axis::Prompt,
            label: "prompt_version".into(),
            current: "v13".into(),
            target: target.into(),
            shadow_matcher: None,
            window_secs: 1800,
        }
    }

    fn value(v: &VariantFigures, f: Figure) -> Measured {
        match v.get(f) {
            Some(Ok(m)) => *m,
            other => panic!("{} {f:?}: {other:?}", v.value),
        }
    }

    #[test]
    fn shadow_traffic_leaves_the_live_signals_as_they_were() {
        // NaN points compare unequal, so the sets are compared as printed.
        let with = format!("{:?}", drill(12, true).snapshot());
        let without = format!("{:?}", drill(12, false).snapshot());
        assert_eq!(with, without);
    }

    #[test]
    fn the_last_known_good_prompt_serves_a_twentieth_as_shadow_and_reads_healthier() {
        let world = drill(12, true);
        let answer = world.compare(&request("v12")).expect("compared");
        assert!(!answer.current.shadow && answer.target.shadow);
        let live = value(&answer.current, Figure::CostPerRequest).count;
        let shadow = value(&answer.target, Figure::CostPerRequest).count;
        // v13 went live at minute 3: nine minutes of about 6 requests a second.
        assert!((2_700..=3_800).contains(&live), "{live}");
        let share = shadow as f64 / live as f64;
        assert!((0.035..0.065).contains(&share), "{shadow} of {live}");
        let eval = |v: &VariantFigures| value(v, Figure::Eval).value;
        assert!(
            eval(&answer.target) - eval(&answer.current) > 0.2,
            "{answer:?}"
        );
        let drift = |v: &VariantFigures| value(v, Figure::Drift).value;
        assert!(
            drift(&answer.current) > 2.0 * drift(&answer.target),
            "{answer:?}"
        );
        // Same model, same users: cost and latency alike within noise.
        let cost = |v: &VariantFigures| value(v, Figure::CostPerRequest).value;
        let ratio = cost(&answer.target) / cost(&answer.current);
        assert!((0.85..1.15).contains(&ratio), "{ratio}");

        // Nothing shadows v11: no data, saying where it looked.
        let none = world.compare(&request("v11")).expect("compared");
        assert!(!none.target.has_data());
        assert_eq!(
            none.target.get(Figure::Eval),
            Some(&Err(
                "no shadow traffic for v11 in the last 30 min (label prompt_version)".into()
            ))
        );
    }
}
