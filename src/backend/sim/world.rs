//! The simulated fleet's state: traffic per feature and segment, the scripted faults, and the
//! levers (prompt version, kill switches, the settable levers of levers.rs) that the
//! cockpit's actions pull.

use super::levers::{Allowance, Change, Levers, Served};
use super::rng::Rng;
use super::samples::{Kept, Kind, Ring};
use super::spec::{FaultKind, FaultSpec, FeatureSpec, FleetSpec, ModelSpec};
use super::telemetry::{Bucket, Request, SegmentBucket, Windowed};
use crate::backend::FeatureFlags;
use crate::detect::stats::js_distance;
use crate::domain::{
    Counts, Distribution, FeatureInfo, PromptVersion, SafeText, SegmentCounts, Signal, SignalKind,
    SignalSet,
};
use chrono::{DateTime, Duration, Utc};
use std::collections::VecDeque;

// A child of this module, so the shadow traffic it serves reads the feature's state as it is.
#[path = "shadow.rs"]
mod shadow;

/// Windows, in buckets, over which each point of a derived series is computed.
const RATE_WINDOW: usize = 6;
const DRIFT_WINDOW: usize = 30;
const WHOLE_FEATURE: &str = "*";

#[derive(Debug)]
struct FeatureState {
    spec: FeatureSpec,
    model: ModelSpec,
    model_version: String,
    model_changed_secs: Option<i64>,
    current_prompt: String,
    last_known_good: String,
    prompt_changed_secs: Option<i64>,
    killed: Vec<String>,
    buckets: VecDeque<Bucket>,
    /// Bucket number (time / bucket_secs) of `buckets[0]`.
    first_bucket: i64,
    evals: VecDeque<(i64, f64)>,
    baseline_dist: Vec<f64>,
    eval_baseline: Option<f64>,
    baseline_day_cost: f64,
    /// Requests kept for responders to read.
    ring: Ring,
    /// Live and shadow traffic per prompt version and model, for shadow comparisons.
    variants: shadow::Variants,
    levers: Levers,
}

/// How one request of a second was served, for the samples kept of it.
#[derive(Clone, Copy, Debug, Default)]
struct How {
    /// A tool-call continuation of a looping agent.
    continuation: bool,
    /// The chance its answer got past a guardrail that would have refused it.
    jail_p: f64,
    /// Eval difference of what the levers served it.
    eval_delta: f64,
    /// Index of the model that served it in the fleet's models.
    model: usize,
}

/// A cached answer arrives at once: no prefill, no generation.
const CACHE_TTFT: f64 = 0.03;
const CACHE_TPOT: f64 = 0.0005;

/// What the response cache and the token budget do to a request the model would serve.
fn serve_by_levers(r: &mut Request, served: &Served, allowance: &mut Allowance, rng: &mut Rng) {
    // The cache replays the answer (or the refusal) given before to the same question, so
    // the refusal rate holds.
    if served.cached > 0.0 && rng.chance(served.cached) {
        *r = Request {
            input_tokens: 0,
            output_tokens: 0,
            cost: 0.0,
            ttft: CACHE_TTFT,
            tpot: CACHE_TPOT,
            error: false,
            retrieval_hit: None,
            cached: true,
            ..r.clone()
        };
        return;
    }
    if served.budget > 0.0 {
        let tokens = f64::from(r.input_tokens) + f64::from(r.output_tokens);
        if !allowance.spend(r.segment, served.budget, tokens) {
            // Refused at the gateway with a 429: the model never saw it.
            *r = Request {
                input_tokens: 0,
                output_tokens: 0,
                cost: 0.0,
                error: true,
                refused: false,
                retrieval_hit: None,
                rate_limited: true,
                ..r.clone()
            };
        }
    }
}

fn fallback_kind(served: &Served) -> Kind {
    match &served.fallback {
        Some(to) if to.contains("human") => Kind::Handoff,
        _ => Kind::StaticAnswer,
    }
}

#[derive(Debug)]
pub struct SimWorld {
    spec: FleetSpec,
    seed: u64,
    origin: DateTime<Utc>,
    features: Vec<FeatureState>,
    /// Simulated seconds before this one have been generated.
    generated_until: i64,
    /// Per scenario entry: its one-shot start has been applied.
    started: Vec<bool>,
    /// Per scenario entry: stopped early by a responder's action (an agent loop killed).
    healed: Vec<bool>,
}

fn secs(d: DateTime<Utc>, origin: DateTime<Utc>) -> i64 {
    (d - origin).num_milliseconds().div_euclid(1000)
}

impl SimWorld {
    /// Builds the fleet and generates its calm history, whose last hour is the baseline.
    pub fn new(spec: FleetSpec, seed: u64, origin: DateTime<Utc>) -> Result<Self, String> {
        let mut features = Vec::new();
        for f in &spec.features {
            let model = spec
                .models
                .iter()
                .find(|m| m.name == f.model)
                .cloned()
                .ok_or_else(|| format!("feature {} uses unknown model {}", f.name, f.model))?;
            features.push(FeatureState {
                model_version: model.version.clone(),
                model,
                model_changed_secs: None,
                current_prompt: f.current_prompt.clone(),
                last_known_good: f.current_prompt.clone(),
                prompt_changed_secs: f
                    .prompts
                    .iter()
                    .find(|p| p.id == f.current_prompt)
                    .map(|p| p.deployed_secs),
                killed: Vec::new(),
                buckets: VecDeque::new(),
                first_bucket: 0,
                evals: VecDeque::new(),
                baseline_dist: Vec::new(),
                eval_baseline: None,
                baseline_day_cost: 0.0,
                ring: Ring::default(),
                variants: shadow::Variants::default(),
                levers: Levers::new(f).map_err(|e| format!("feature {}: {e}", f.name))?,
                spec: f.clone(),
            });
        }
        let n = spec.scenario.len();
        let start = -i64::from(spec.history_secs);
        let mut world = SimWorld {
            spec,
            seed,
            origin,
            features,
            generated_until: start,
            started: vec![false; n],
            healed: vec![false; n],
        };
        world.generate_until(0);
        world.capture_baseline();
        Ok(world)
    }

    pub fn origin(&self) -> DateTime<Utc> {
        self.origin
    }

    /// The fleet and timetable this world runs.
    pub fn spec(&self) -> &FleetSpec {
        &self.spec
    }

    fn bucket_secs(&self) -> i64 {
        i64::from(self.spec.bucket_secs)
    }

    fn capture_baseline(&mut self) {
        let bs = self.bucket_secs();
        let n = (i64::from(self.spec.baseline_secs) / bs) as usize;
        for f in &mut self.features {
            let len = f.buckets.len();
            let slice: VecDeque<Bucket> = f
                .buckets
                .iter()
                .skip(len.saturating_sub(n))
                .cloned()
                .collect();
            let w = Windowed {
                buckets: &slice,
                bucket_secs: self.spec.bucket_secs,
            };
            let spend: f64 = slice.iter().map(|b| b.cost).sum();
            f.baseline_day_cost = spend / (slice.len().max(1) as f64 * bs as f64) * 86_400.0;
            f.baseline_dist = if slice.is_empty() {
                Vec::new()
            } else {
                w.categories(slice.len() - 1, slice.len())
            };
            let from = -i64::from(self.spec.baseline_secs);
            let scores: Vec<f64> = f
                .evals
                .iter()
                .filter(|(t, _)| *t >= from)
                .map(|(_, s)| *s)
                .collect();
            f.eval_baseline =
                (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64);
        }
    }

    /// Generates every simulated second up to `now`. A long gap (a suspended laptop) skips
    /// ahead rather than replaying hours of traffic.
    pub fn advance_to(&mut self, now: DateTime<Utc>) {
        let target = secs(now, self.origin);
        let keep = i64::from(self.spec.history_secs);
        if target - self.generated_until > keep {
            self.generated_until = target - keep;
        }
        self.generate_until(target);
    }

    fn generate_until(&mut self, end: i64) {
        while self.generated_until < end {
            let t = self.generated_until;
            self.start_events(t);
            for fi in 0..self.features.len() {
                self.generate_second(fi, t);
            }
            self.generated_until += 1;
        }
    }

    fn start_events(&mut self, t: i64) {
        for i in 0..self.spec.scenario.len() {
            let ev = self.spec.scenario[i].clone();
            if self.started[i] || ev.at_secs > t {
                continue;
            }
            self.started[i] = true;
            let Some(f) = self.features.iter_mut().find(|f| f.spec.name == ev.feature) else {
                continue;
            };
            match ev.fault {
                FaultKind::PromptDeploy => {
                    if let Some(v) = ev.version {
                        f.last_known_good = f.current_prompt.clone();
                        f.current_prompt = v;
                        f.prompt_changed_secs = Some(t);
                    }
                }
                FaultKind::ModelUpdate => {
                    if let Some(v) = ev.version {
                        f.model_version = v;
                        f.model_changed_secs = Some(ev.at_secs);
                    }
                }
                _ => {}
            }
        }
        // A model update that ends is the provider rolling back; a prompt deploy that ends is
        // the team rolling back to the version before it (unless a responder already did).
        for (i, ev) in self.spec.scenario.iter().enumerate() {
            if ev.end_secs != Some(t) || !self.started[i] {
                continue;
            }
            let Some(f) = self.features.iter_mut().find(|f| f.spec.name == ev.feature) else {
                continue;
            };
            match ev.fault {
                FaultKind::ModelUpdate => {
                    f.model_version = f.model.version.clone();
                    f.model_changed_secs = Some(t);
                }
                FaultKind::PromptDeploy if ev.version.as_ref() == Some(&f.current_prompt) => {
                    f.current_prompt = f.last_known_good.clone();
                    f.prompt_changed_secs = Some(t);
                }
                _ => {}
            }
        }
    }

    /// The model the levers serve (its index in the fleet's models), else the declared one.
    fn model_served<'a>(&'a self, f: &'a FeatureState, served: &Served) -> (usize, &'a ModelSpec) {
        let name = served.model.as_deref().unwrap_or(&f.model.name);
        match self
            .spec
            .models
            .iter()
            .enumerate()
            .find(|(_, m)| m.name == name)
        {
            Some((i, m)) => (i, m),
            None => (usize::MAX, &f.model),
        }
    }

    fn active(&self, i: usize, ev: &FaultSpec, feature: &str, t: i64) -> bool {
        ev.feature == feature
            && ev.at_secs <= t
            && ev.end_secs.is_none_or(|end| t < end)
            && !self.healed[i]
    }

    fn generate_second(&mut self, fi: usize, t: i64) {
        // The budget's buckets are spent below while the feature is read.
        let mut allowance = std::mem::take(&mut self.features[fi].levers.allowance);
        let f = &self.features[fi];
        let name = f.spec.name.clone();
        let mut err_rate = f.spec.error_rate;
        let mut latency = 1.0;
        let mut hit = f.spec.retrieval_hit;
        let mut refusal_factor = 1.0;
        // (segment or "" for all, token factor, request factor)
        let mut seg_loops: Vec<(String, f64, f64)> = Vec::new();
        let mut seg_refusal: Vec<(String, f64)> = Vec::new();
        for (i, ev) in self.spec.scenario.iter().enumerate() {
            if !self.active(i, ev, &name, t) {
                continue;
            }
            let segment = ev.segment.clone().unwrap_or_default();
            match ev.fault {
                FaultKind::Errors => err_rate = ev.factor,
                FaultKind::Latency => latency *= ev.factor,
                FaultKind::Retrieval => hit = ev.factor,
                FaultKind::ModelUpdate => refusal_factor *= ev.factor,
                FaultKind::AgentLoop => seg_loops.push((segment, ev.factor, ev.request_factor)),
                FaultKind::Jailbreak => seg_refusal.push((segment, ev.factor)),
                FaultKind::PromptDeploy => {}
            }
        }
        let prompt = f.spec.prompts.iter().find(|p| p.id == f.current_prompt);
        let weights = prompt
            .and_then(|p| p.category_weights.clone())
            .unwrap_or_else(|| f.spec.category_weights.clone());
        let mut rng = Rng::for_key(self.seed, fi as u64, t);
        // The cache's draws have a stream of their own, so serving from it leaves the traffic
        // (and the evaluator's noise) of the seed as it was.
        const CACHE_SALT: u64 = 0xCA_C4E5;
        let mut cache_rng = Rng::for_key(self.seed ^ CACHE_SALT, fi as u64, t);
        let mut requests = Vec::new();
        let mut how: Vec<How> = Vec::new();
        // Per segment served: its share and eval difference, for the feature's eval.
        let mut evals: Vec<(f64, f64)> = Vec::new();
        for (si, seg) in f.spec.segments.iter().enumerate() {
            if f.killed
                .iter()
                .any(|k| k == WHOLE_FEATURE || *k == seg.name)
            {
                continue;
            }
            let served = f.levers.served(&seg.name, &f.model.name);
            let (mi, model) = self.model_served(f, &served);
            // Latency and a model update are the provider's, on the declared model: a
            // segment moved to another model escapes them.
            let (latency, refusal_factor) = if served.model.is_none() {
                (latency, refusal_factor)
            } else {
                (1.0, 1.0)
            };
            if served.fallback.is_none() {
                evals.push((seg.share, served.eval_delta()));
            }
            let applies = |s: &str| s.is_empty() || s == seg.name;
            let (token_factor, request_factor) = seg_loops
                .iter()
                .filter(|(s, _, _)| applies(s))
                .fold((1.0, 1.0), |(a, b), (_, tf, rf)| (a * tf, b * rf));
            let jailbreak = seg_refusal
                .iter()
                .filter(|(s, _)| applies(s))
                .map(|(_, x)| *x)
                .product::<f64>();
            // A lower temperature and the strict prompt stop part of the attacks: the
            // multiplier moves that part of the way back to 1.
            let success = served.jailbreak_success(f.spec.temperature);
            let jailbreak = if success < 1.0 {
                1.0 - (1.0 - jailbreak) * success
            } else {
                jailbreak
            };
            let usual_refusal = f.spec.refusal_rate * refusal_factor * served.refusal();
            let refusal = usual_refusal * jailbreak;
            let jail_p = if refusal < usual_refusal {
                (usual_refusal - refusal) / (1.0 - refusal).max(1e-9)
            } else {
                0.0
            };
            let sharpened = served.sharpen(&weights, f.spec.temperature);
            let weights = sharpened.as_deref().unwrap_or(&weights);
            let seg_hit = hit * served.recall_scale();
            if served.budget > 0.0 {
                allowance.refill(si, served.budget);
            }
            let normal = rng.poisson(f.spec.rps * seg.share);
            // The loop's extra requests are drawn only while a loop runs, so calm seconds
            // keep the same random stream whatever the timetable.
            let extra = if request_factor > 1.0 {
                rng.poisson(f.spec.rps * seg.share * (request_factor - 1.0))
            } else {
                0
            };
            for k in 0..normal + extra {
                let input =
                    rng.lognormal(f.spec.input_tokens, 0.35) * token_factor * served.input_scale();
                let output = rng
                    .lognormal(f.spec.output_tokens, 0.45)
                    .min(f64::from(f.spec.max_tokens))
                    * token_factor;
                let input_tokens = input.round() as u32;
                let output_tokens = output.round() as u32;
                let refused = rng.chance(refusal);
                how.push(How {
                    continuation: k >= normal,
                    jail_p,
                    eval_delta: served.eval_delta(),
                    model: mi,
                });
                let mut r = Request {
                    segment: si,
                    input_tokens,
                    output_tokens,
                    cost: (f64::from(input_tokens) * model.price_in
                        + f64::from(output_tokens) * model.price_out)
                        / 1e6,
                    ttft: rng.lognormal(model.ttft, 0.3) * latency * served.prefill_scale(),
                    tpot: rng.lognormal(model.tpot, 0.25) * latency,
                    error: rng.chance(err_rate),
                    // A tool-call continuation is never refused.
                    refused: refused && k < normal,
                    category: rng.weighted(weights),
                    retrieval_hit: (f.spec.retrieval_hit > 0.0).then(|| rng.chance(seg_hit)),
                    rate_limited: false,
                    cached: false,
                    fallback: served.fallback.is_some(),
                };
                if r.fallback {
                    // Answered without the model: nothing of the model's request remains.
                    r = Request {
                        input_tokens: 0,
                        output_tokens: 0,
                        cost: 0.0,
                        ttft: 0.0,
                        tpot: 0.0,
                        error: false,
                        refused: false,
                        retrieval_hit: None,
                        ..r
                    };
                } else {
                    serve_by_levers(&mut r, &served, &mut allowance, &mut cache_rng);
                }
                requests.push(r);
            }
        }
        self.features[fi].levers.allowance = allowance;
        let f = &self.features[fi];
        // The eval set is drawn from every segment the model serves.
        let served_share: f64 = evals.iter().map(|(s, _)| s).sum();
        let lever_eval = if served_share > 0.0 {
            evals.iter().map(|(s, d)| s * d).sum::<f64>() / served_share
        } else {
            0.0
        };
        let prompt = f.spec.prompts.iter().find(|p| p.id == f.current_prompt);
        let eval = (t.rem_euclid(i64::from(self.spec.eval_every_secs)) == 0).then(|| {
            let delta = prompt.map(|p| p.eval_delta).unwrap_or(0.0);
            (f.spec.eval_score + delta + lever_eval + 0.01 * rng.normal()).clamp(0.0, 1.0)
        });
        let bs = self.bucket_secs();
        let keep = (i64::from(self.spec.history_secs) / bs) as usize + DRIFT_WINDOW + 1;
        let stale_index = hit < f.spec.retrieval_hit;
        let eval_delta = prompt.map(|p| p.eval_delta).unwrap_or(0.0);
        self.keep_samples(fi, t, &requests, &how, stale_index, eval_delta);
        let conditions = shadow::Conditions {
            latency,
            error_rate: err_rate,
            refusal_rate: self.features[fi].spec.refusal_rate * refusal_factor,
        };
        self.serve_shadow(fi, t, &requests, conditions);
        let f = &mut self.features[fi];
        let b = t.div_euclid(bs);
        if f.buckets.is_empty() {
            f.first_bucket = b;
        }
        while f.first_bucket + f.buckets.len() as i64 <= b {
            f.buckets
                .push_back(Bucket::new(f.spec.categories.len(), f.spec.segments.len()));
        }
        while f.buckets.len() > keep {
            f.buckets.pop_front();
            f.first_bucket += 1;
        }
        let ix = (b - f.first_bucket) as usize;
        if let Some(bucket) = f.buckets.get_mut(ix) {
            for r in &requests {
                bucket.record(r);
            }
        }
        if let Some(score) = eval {
            f.evals.push_back((t, score));
            while f.evals.len() > 64 {
                f.evals.pop_front();
            }
        }
    }

    /// Offers this second's requests to the feature's ring, drawing from a stream of its own
    /// so the traffic of a seed stays the same with or without samples.
    fn keep_samples(
        &mut self,
        fi: usize,
        t: i64,
        requests: &[Request],
        how: &[How],
        stale_index: bool,
        eval_delta: f64,
    ) {
        const SAMPLES_SALT: u64 = 0x5a4d_504c_4553;
        let bs = self.bucket_secs();
        let cap = (i64::from(self.spec.history_secs) / bs.max(1)) as usize * 5;
        let mut rng = Rng::for_key(self.seed ^ SAMPLES_SALT, fi as u64, t);
        let f = &mut self.features[fi];
        // Look at the requests in a random order so the kept ones are not always the first
        // segment's.
        let start = if requests.is_empty() {
            0
        } else {
            rng.below(requests.len())
        };
        for i in 0..requests.len() {
            let ix = (start + i) % requests.len();
            let r = &requests[ix];
            let h = how.get(ix).copied().unwrap_or_default();
            let hallucinated = eval_delta < 0.0 && rng.chance((-eval_delta * 2.0).min(0.9));
            let kind = if r.fallback {
                fallback_kind(&f.levers.served(&f.spec.segments[r.segment].name, ""))
            } else if r.rate_limited {
                Kind::RateLimited
            } else if r.error {
                Kind::Error
            } else if r.refused {
                Kind::Refused
            } else if h.continuation {
                Kind::Looping
            } else if r.cached {
                Kind::Cached
            } else if h.jail_p > 0.0 && rng.chance(h.jail_p) {
                Kind::Jailbroken
            } else if stale_index && r.retrieval_hit == Some(false) {
                Kind::Stale
            } else if hallucinated {
                Kind::Hallucinated
            } else {
                Kind::Normal
            };
            let penalty = match kind {
                Kind::Hallucinated | Kind::Jailbroken => 0.45,
                Kind::Stale => 0.3,
                Kind::Looping => 0.2,
                _ => 0.0,
            };
            let eval = (f.spec.eval_score + eval_delta + h.eval_delta - penalty
                + 0.05 * rng.normal())
            .clamp(0.0, 1.0);
            let model = self.spec.models.get(h.model).unwrap_or(&f.model);
            let model_version = if model.name == f.model.name {
                f.model_version.clone()
            } else {
                model.version.clone()
            };
            let n = f.ring.next_number();
            let kept = Kept {
                t,
                n,
                segment: r.segment,
                prompt: f.current_prompt.clone(),
                model: model.name.clone(),
                model_version,
                input_tokens: r.input_tokens,
                output_tokens: r.output_tokens,
                cost: r.cost,
                latency: r.ttft + r.tpot * f64::from(r.output_tokens),
                category: r.category,
                retrieval_hit: r.retrieval_hit,
                eval,
                kind,
                variant: rng.next_u64(),
            };
            // Ordinary requests are kept at a rate, so the baseline shows a spread of them;
            // the ring's per-bucket room does the rest.
            if kind.notable() || rng.chance(0.3) {
                f.ring.offer(t.div_euclid(bs), kept, cap);
            }
        }
    }

    /// Up to `limit` kept requests of `feature` from `from` to `to`, newest first, as the
    /// samples a responder reads.
    pub fn samples(
        &self,
        feature: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<crate::domain::sample::Sample>, String> {
        let f = self
            .features
            .iter()
            .find(|f| f.spec.name == feature)
            .ok_or_else(|| format!("the fleet has no feature {feature}"))?;
        let segments: Vec<String> = f.spec.segments.iter().map(|s| s.name.clone()).collect();
        let voice = super::samples::Voice {
            feature: &f.spec.name,
            categories: &f.spec.categories,
            segments: &segments,
            params: crate::domain::sample::Params {
                temperature: Some(
                    f.levers
                        .served("", &f.model.name)
                        .temperature
                        .unwrap_or(f.spec.temperature),
                ),
                top_p: Some(f.spec.top_p),
                max_tokens: Some(u64::from(f.spec.max_tokens)),
                seed: f.spec.seed.and_then(|s| i64::try_from(s).ok()),
                conversation: None,
            },
            origin: self.origin,
        };
        Ok(f.ring
            .between(secs(from, self.origin), secs(to, self.origin))
            .take(limit)
            .map(|k| super::samples::sample(&voice, k))
            .collect())
    }

    /// Everything the fleet would show: the whole sparkline window of every signal.
    pub fn snapshot(&self) -> SignalSet {
        let bs = self.bucket_secs();
        self.snapshot_recent((i64::from(self.spec.history_secs) / bs) as usize)
    }

    /// The newest `points` of every signal: what a poll that already has the rest needs
    /// (headless drills step every bucket and would otherwise rebuild two hours each time).
    pub fn snapshot_recent(&self, points: usize) -> SignalSet {
        let bs = self.bucket_secs();
        let points = points.max(1);
        // Only whole buckets: a half-filled one would read as a sudden drop in traffic.
        let last_complete = self.generated_until.div_euclid(bs) - 1;
        let at = self.origin + Duration::seconds((last_complete + 1) * bs);
        let mut set = SignalSet {
            at: Some(at),
            ..SignalSet::default()
        };
        for f in &self.features {
            let buckets = &f.buckets;
            let end = last_complete - f.first_bucket;
            if end < 0 || buckets.is_empty() {
                continue;
            }
            let end = (end as usize).min(buckets.len() - 1);
            let start = (end + 1).saturating_sub(points);
            let w = Windowed {
                buckets,
                bucket_secs: self.spec.bucket_secs,
            };
            let pad = points - (end + 1 - start);
            let series = |g: &dyn Fn(usize) -> f64| -> Vec<f64> {
                let mut v: Vec<f64> = vec![f64::NAN; pad];
                v.extend((start..=end).map(g));
                v
            };
            let counts = |ev: &dyn Fn(&Bucket) -> f64, tr: &dyn Fn(&Bucket) -> f64| Counts {
                events: series(&|e| w.bucket(e).map_or(f64::NAN, ev)),
                trials: series(&|e| w.bucket(e).map_or(f64::NAN, tr)),
            };
            let per_segment = |ev: &dyn Fn(&SegmentBucket) -> f64,
                               tr: &dyn Fn(&SegmentBucket) -> f64|
             -> Vec<SegmentCounts> {
                f.spec
                    .segments
                    .iter()
                    .enumerate()
                    .map(|(i, seg)| SegmentCounts {
                        segment: seg.name.clone(),
                        counts: counts(&|b| b.segments.get(i).map_or(f64::NAN, ev), &|b| {
                            b.segments.get(i).map_or(f64::NAN, tr)
                        }),
                    })
                    .collect()
            };
            let name = f.spec.name.as_str();
            let step = self.spec.bucket_secs;
            let requests = |b: &Bucket| f64::from(b.requests);
            let mut cost = Signal::new(
                name,
                SignalKind::CostPerMin,
                step,
                series(&|e| w.per_minute(e, RATE_WINDOW, |b| b.cost)),
            );
            cost.counts = Some(counts(&|b| b.cost, &requests));
            cost.segments = per_segment(&|s| s.cost, &|s| f64::from(s.requests));
            set.signals.push(cost);
            let mut tokens = Signal::new(
                name,
                SignalKind::TokensPerMin,
                step,
                series(&|e| w.per_minute(e, RATE_WINDOW, |b| b.tokens as f64)),
            );
            tokens.counts = Some(counts(&|b| b.tokens as f64, &requests));
            set.signals.push(tokens);
            let mut push = |kind, pts| set.signals.push(Signal::new(name, kind, step, pts));
            push(
                SignalKind::TtftP99,
                series(&|e| w.quantile(e, RATE_WINDOW, 0.99, |b| &b.ttft)),
            );
            push(
                SignalKind::TpotP99,
                series(&|e| w.quantile(e, RATE_WINDOW, 0.99, |b| &b.tpot)),
            );
            let mut errors = Signal::new(
                name,
                SignalKind::ErrorRatio,
                step,
                series(&|e| w.error_ratio(e, RATE_WINDOW)),
            );
            errors.counts = Some(counts(&|b| f64::from(b.errors), &requests));
            set.signals.push(errors);
            let mut refusals = Signal::new(
                name,
                SignalKind::RefusalRate,
                step,
                series(&|e| w.refusal_rate(e, RATE_WINDOW)),
            );
            refusals.counts = Some(counts(&|b| f64::from(b.refusals), &|b| {
                f64::from(b.requests - b.errors)
            }));
            refusals.segments = per_segment(&|s| f64::from(s.refusals), &|s| f64::from(s.answered));
            set.signals.push(refusals);
            let mut push = |kind, pts| set.signals.push(Signal::new(name, kind, step, pts));
            push(
                SignalKind::Drift,
                series(&|e| {
                    let cur = w.categories(e, DRIFT_WINDOW);
                    if cur.iter().sum::<f64>() < 20.0 {
                        f64::NAN
                    } else {
                        js_distance(&f.baseline_dist, &cur)
                    }
                }),
            );
            let bucket_end = |e: usize| (f.first_bucket + e as i64 + 1) * bs;
            push(
                SignalKind::EvalScore,
                series(&|e| {
                    let until = bucket_end(e);
                    f.evals
                        .iter()
                        .rev()
                        .find(|(t, _)| *t < until)
                        .map(|(_, s)| *s)
                        .unwrap_or(f64::NAN)
                }),
            );
            if f.spec.retrieval_hit > 0.0 {
                let mut hits = Signal::new(
                    name,
                    SignalKind::RetrievalHit,
                    step,
                    series(&|e| w.retrieval_hit(e, RATE_WINDOW)),
                );
                hits.counts = Some(counts(&|b| f64::from(b.retrieval_hits), &|b| {
                    f64::from(b.retrievals)
                }));
                set.signals.push(hits);
            }
            set.signals.push(self.daily_cost(f, &w, end));
            set.distributions.push(Distribution {
                feature: name.to_string(),
                categories: f.spec.categories.clone(),
                baseline: f.baseline_dist.clone(),
                current: w.categories(end, DRIFT_WINDOW),
            });
            set.features.push(self.info(f));
        }
        set
    }

    /// Seven calm days at the baseline spend, then today projected: what the retained window
    /// spent plus the current rate for the rest of the day, so a contained loop stops
    /// projecting a blown budget as soon as its rate drops.
    fn daily_cost(&self, f: &FeatureState, w: &Windowed<'_>, end: usize) -> Signal {
        let spent: f64 = f.buckets.iter().take(end + 1).map(|b| b.cost).sum();
        let covered_min = ((end + 1) as f64 * f64::from(self.spec.bucket_secs) / 60.0).min(1440.0);
        let rate = w.per_minute(end, RATE_WINDOW, |b| b.cost);
        let mut rng = Rng::for_key(self.seed, 0xDA11, f.spec.name.len() as i64);
        // The previous days are a calm baseline period's spend: a fleet started with less
        // history than that (a feature launched now) has no previous days, and a normal day
        // guessed from a few seconds of traffic would make the daily-cost line noise.
        let past_days = if self.spec.history_secs >= self.spec.baseline_secs {
            7
        } else {
            0
        };
        let mut points: Vec<f64> = (0..past_days)
            .map(|_| f.baseline_day_cost * (1.0 + 0.05 * rng.normal()))
            .collect();
        points.push(spent + rate * (1440.0 - covered_min));
        Signal::new(&f.spec.name, SignalKind::DailyCost, 86_400, points)
    }

    fn info(&self, f: &FeatureState) -> FeatureInfo {
        let now = self.generated_until;
        let at = |s: i64| self.origin + Duration::seconds(s);
        // The feature as served outside any segment rule; the token cap's price is the
        // cheapest of every model a segment is served.
        let served = f.levers.served("", &f.model.name);
        let (_, model) = self.model_served(f, &served);
        let model_version = if model.name == f.model.name {
            f.model_version.clone()
        } else {
            model.version.clone()
        };
        let price = f
            .spec
            .segments
            .iter()
            .map(|s| {
                self.model_served(f, &f.levers.served(&s.name, &f.model.name))
                    .1
            })
            .chain([model])
            .map(|m| m.price_in.min(m.price_out))
            .fold(f64::INFINITY, f64::min);
        FeatureInfo {
            name: f.spec.name.clone(),
            model: model.name.clone(),
            model_version,
            model_changed_at: f.model_changed_secs.map(at),
            prompt_versions: f
                .spec
                .prompts
                .iter()
                .filter(|p| p.deployed_secs <= now)
                .map(|p| PromptVersion {
                    id: p.id.clone(),
                    deployed_at: Some(at(p.deployed_secs)),
                    note: SafeText::new(&p.note),
                })
                .collect(),
            current_prompt: Some(f.current_prompt.clone()),
            last_known_good_prompt: Some(f.last_known_good.clone()),
            prompt_changed_at: f.prompt_changed_secs.map(at),
            flag_source: None,
            prompt_source: None,
            segments: f.spec.segments.iter().map(|s| s.name.clone()).collect(),
            killed: f.killed.clone(),
            levers: f.levers.report(&f.spec.name, at),
            temperature: served.temperature.unwrap_or(f.spec.temperature),
            top_p: f.spec.top_p,
            max_tokens: f.spec.max_tokens,
            seed: f.spec.seed,
            uses_retrieval: f.spec.retrieval_hit > 0.0,
            eval_baseline: f.eval_baseline,
            price_per_mtok: Some(price),
        }
    }

    /// The levers as a flag system would report them.
    pub fn flags(&self) -> Vec<FeatureFlags> {
        self.features
            .iter()
            .map(|f| {
                let info = self.info(f);
                FeatureFlags {
                    feature: info.name,
                    prompt_versions: info.prompt_versions.into_iter().map(|v| v.id).collect(),
                    current_prompt: info.current_prompt,
                    last_known_good: info.last_known_good_prompt,
                    prompt_changed_at: info.prompt_changed_at,
                    killed: info.killed,
                    segments: info.segments,
                    prompt_only: false,
                    levers: info.levers,
                }
            })
            .collect()
    }

    fn feature_mut(&mut self, name: &str) -> Result<&mut FeatureState, String> {
        self.features
            .iter_mut()
            .find(|f| f.spec.name == name)
            .ok_or_else(|| format!("no feature {name} in the fleet"))
    }

    pub fn rollback(&mut self, feature: &str, version: &str) -> Result<String, String> {
        let now = self.generated_until;
        let f = self.feature_mut(feature)?;
        if !f
            .spec
            .prompts
            .iter()
            .any(|p| p.id == version && p.deployed_secs <= now)
        {
            return Err(format!("{feature} has no prompt version {version}"));
        }
        if f.current_prompt == version {
            return Err(format!("{feature} already runs prompt {version}"));
        }
        let from = std::mem::replace(&mut f.current_prompt, version.to_string());
        f.prompt_changed_secs = Some(now);
        Ok(format!("{feature} prompt rolled back {from} → {version}"))
    }

    pub fn kill_switch(
        &mut self,
        feature: &str,
        segment: Option<&str>,
        engage: bool,
    ) -> Result<String, String> {
        let scope = segment.unwrap_or(WHOLE_FEATURE).to_string();
        let f = self.feature_mut(feature)?;
        if segment.is_some() && !f.spec.segments.iter().any(|s| s.name == scope) {
            return Err(format!("{feature} has no user segment {scope}"));
        }
        let what = match segment {
            Some(s) => format!("{feature} segment {s}"),
            None => format!("{feature} (whole feature)"),
        };
        let was = f.killed.contains(&scope);
        if engage {
            if was {
                return Err(format!("kill switch already engaged for {what}"));
            }
            f.killed.push(scope.clone());
            // Killing the traffic ends the agent sessions that were looping.
            for (i, ev) in self.spec.scenario.iter().enumerate() {
                let hits = ev.fault == FaultKind::AgentLoop
                    && ev.feature == feature
                    && (scope == WHOLE_FEATURE || ev.segment.as_deref() == Some(scope.as_str()));
                if hits {
                    self.healed[i] = true;
                }
            }
            Ok(format!("kill switch engaged for {what}"))
        } else {
            if !was {
                return Err(format!("no kill switch engaged for {what}"));
            }
            f.killed.retain(|k| *k != scope);
            Ok(format!("kill switch released for {what}"))
        }
    }

    /// Serves a lever's variant to a feature or one of its segments from this second on.
    pub fn set_lever(&mut self, change: Change<'_>) -> Result<String, String> {
        let now = self.generated_until;
        let f = self.feature_mut(change.feature)?;
        if let Some(s) = change.segment {
            if !f.spec.segments.iter().any(|x| x.name == s) {
                return Err(format!("{} has no user segment {s}", change.feature));
            }
        }
        // The feature's model (outside segment rules) is what its info reports as changed.
        let changed_model =
            change.lever == crate::domain::Lever::ModelSwitch && change.segment.is_none();
        let msg = f.levers.set(change, now)?;
        if changed_model {
            f.model_changed_secs = Some(now);
        }
        Ok(msg)
    }
}
