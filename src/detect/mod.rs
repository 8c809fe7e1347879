//! Detectors and the SEV ladder: pure functions over time series. No I/O, no clock: "now" is
//! the last point of each series (at `SignalSet::at`), so the same input always gives the same
//! verdict, in the cockpit, in a drill and in a test.
//!
//! Each detector looks at one signal and returns a [`Verdict`]: the threshold line to draw (when
//! it has enough data to know where the line is) and a [`Detection`] when the signal breaches it.
//! [`evaluate`] runs them all and keeps one detection per (feature, incident type).

pub mod cost;
pub mod health;
pub mod quality;
pub mod sev;
pub mod stats;

use crate::domain::{Detection, IncidentType, SafeText, Sev, Signal, SignalKind, SignalSet};
use serde::{Deserialize, Serialize};

/// Tuning of the detectors; the values ship in the `[detect]` table of
/// src/config/defaults.toml and a user config overrides them key by key.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    pub cost_rate_multiplier: f64,
    pub cost_trailing_secs: u64,
    pub cost_exclude_recent_secs: u64,
    pub daily_cost_multiplier: f64,
    pub latency_multiplier: f64,
    pub latency_hold_secs: u64,
    pub error_ratio: f64,
    pub error_hold_secs: u64,
    pub baseline_secs: u64,
    pub refusal_window_secs: u64,
    pub refusal_high_factor: f64,
    pub refusal_min_increase: f64,
    pub refusal_low_factor: f64,
    pub drift_js: f64,
    pub drift_window_secs: u64,
    pub eval_min: f64,
    pub retrieval_factor: f64,
    pub retrieval_window_secs: u64,
}

const DEFAULTS_TOML: &str = include_str!("../config/defaults.toml");

/// The `[detect]` table of the shipped defaults. An error here is a bug in a file that ships
/// with the binary; a test keeps it `Ok`.
pub fn from_defaults() -> Result<DetectConfig, String> {
    let table: toml::Table = DEFAULTS_TOML
        .parse()
        .map_err(|e| format!("src/config/defaults.toml: {e}"))?;
    let detect = table
        .get("detect")
        .cloned()
        .ok_or_else(|| "src/config/defaults.toml has no [detect] table".to_string())?;
    detect
        .try_into()
        .map_err(|e| format!("src/config/defaults.toml [detect]: {e}"))
}

/// The shipped detector defaults.
///
/// # Panics
/// Only if the defaults.toml compiled into the binary is malformed, which `from_defaults`'s
/// test rules out; there is no sane detector tuning to fall back to without that file.
pub fn builtin() -> DetectConfig {
    match from_defaults() {
        Ok(cfg) => cfg,
        Err(e) => panic!("shipped detector defaults are invalid: {e}"),
    }
}

/// A line to draw on one signal's chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    pub feature: String,
    pub kind: SignalKind,
    /// Breach when the signal goes above this.
    pub high: Option<f64>,
    /// Breach when the signal goes below this.
    pub low: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evaluation {
    /// At most one per (feature, incident type), worst SEV first.
    pub detections: Vec<Detection>,
    pub thresholds: Vec<Threshold>,
}

/// What one detector concluded about one signal.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verdict {
    /// `None` when the detector lacks the data to place its line (e.g. no baseline yet).
    pub threshold: Option<Threshold>,
    pub detection: Option<Detection>,
}

impl Verdict {
    fn line(sig: &Signal, high: Option<f64>, low: Option<f64>) -> Self {
        Verdict {
            threshold: Some(Threshold {
                feature: sig.feature.clone(),
                kind: sig.kind,
                high,
                low,
            }),
            detection: None,
        }
    }

    fn with(mut self, sig: &Signal, breach: Breach) -> Self {
        self.detection = Some(breach.into_detection(sig));
        self
    }
}

/// A detector's findings before they are tied to a signal and sanitised.
struct Breach {
    kind: IncidentType,
    sev: Sev,
    value: f64,
    baseline: f64,
    threshold: f64,
    summary: String,
    evidence: Vec<String>,
}

impl Breach {
    fn into_detection(self, sig: &Signal) -> Detection {
        Detection {
            feature: sig.feature.clone(),
            kind: self.kind,
            sev: self.sev,
            signal: sig.kind,
            value: self.value,
            baseline: self.baseline,
            threshold: self.threshold,
            summary: SafeText::new(&self.summary),
            evidence: self.evidence.iter().map(|l| SafeText::new(l)).collect(),
        }
    }
}

/// Runs every detector over every signal.
pub fn evaluate(set: &SignalSet, cfg: &DetectConfig) -> Evaluation {
    let mut thresholds = Vec::new();
    let mut found = Vec::new();
    for sig in &set.signals {
        let verdict = run(sig, set, cfg);
        thresholds.extend(verdict.threshold);
        found.extend(verdict.detection);
    }
    Evaluation {
        detections: merge(found),
        thresholds,
    }
}

fn run(sig: &Signal, set: &SignalSet, cfg: &DetectConfig) -> Verdict {
    match sig.kind {
        SignalKind::CostPerMin => cost::cost_rate(sig, cfg),
        SignalKind::TokensPerMin => cost::tokens_rate(sig, cfg),
        SignalKind::DailyCost => cost::daily_cost(sig, cfg),
        SignalKind::TtftP99 | SignalKind::TpotP99 => health::latency(sig, cfg),
        SignalKind::ErrorRatio => health::errors(sig, cfg),
        SignalKind::RefusalRate => quality::refusals(sig, cfg),
        SignalKind::Drift => {
            let dist = set.distributions.iter().find(|d| d.feature == sig.feature);
            quality::drift(sig, dist, cfg)
        }
        SignalKind::EvalScore => {
            let recorded = set
                .features
                .iter()
                .find(|f| f.name == sig.feature)
                .and_then(|f| f.eval_baseline);
            quality::eval(sig, cfg, recorded)
        }
        SignalKind::RetrievalHit => quality::retrieval(sig, cfg),
    }
}

/// One incident per (feature, type): cost rate and daily cost, or TTFT and TPOT, describe the
/// same incident, so the worse SEV leads and the other's figures join its evidence.
fn merge(found: Vec<Detection>) -> Vec<Detection> {
    let mut out: Vec<Detection> = Vec::new();
    for d in found {
        match out
            .iter_mut()
            .find(|o| o.feature == d.feature && o.kind == d.kind)
        {
            Some(existing) => absorb(existing, d),
            None => out.push(d),
        }
    }
    out.sort_by(|a, b| (a.sev, &a.feature, a.kind).cmp(&(b.sev, &b.feature, b.kind)));
    out
}

fn absorb(existing: &mut Detection, other: Detection) {
    let weaker = if other.sev < existing.sev {
        std::mem::replace(existing, other)
    } else {
        other
    };
    existing
        .evidence
        .push(SafeText::new(&format!("also: {}", weaker.summary)));
    existing.evidence.extend(weaker.evidence);
}

/// Copies thresholds into the signals so the UI can draw the lines. A one-sided line goes in
/// `Signal::threshold` whichever way it breaches (the signal kind says which way);
/// `threshold_low` is only for two-sided signals. Signals without a threshold are untouched.
pub fn apply_thresholds(set: &mut SignalSet, eval: &Evaluation) {
    for sig in &mut set.signals {
        let Some(t) = eval
            .thresholds
            .iter()
            .find(|t| t.feature == sig.feature && t.kind == sig.kind)
        else {
            continue;
        };
        match (t.high, t.low) {
            (Some(high), low) => {
                sig.threshold = Some(high);
                sig.threshold_low = low;
            }
            (None, low) => {
                sig.threshold = low;
                sig.threshold_low = None;
            }
        }
    }
}

/// "1h", "15m", "1h30m", "90s" for window lengths in summaries.
fn fmt_secs(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

/// "42x" for big multiples, "3.1x" for small ones where the decimal matters.
fn fmt_ratio(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}x")
    } else {
        format!("{r:.1}x")
    }
}

/// A 0..1 share of traffic as "23.0%".
fn fmt_share(v: f64) -> String {
    if v.is_finite() {
        format!("{:.1}%", v * 100.0)
    } else {
        "—".to_string()
    }
}

/// Points of a window that held data, "14/15 points", for evidence lines.
fn fmt_coverage(window: &[f64], n: usize) -> String {
    format!("{}/{n} points", stats::finite_count(window))
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    pub const NAN: f64 = f64::NAN;

    pub fn cfg() -> DetectConfig {
        from_defaults().expect("shipped defaults parse")
    }

    /// A signal for feature "chat" with `n` points from `f(index)`, oldest first.
    pub fn series(kind: SignalKind, step: u32, n: usize, f: impl Fn(usize) -> f64) -> Signal {
        Signal::new("chat", kind, step, (0..n).map(f).collect())
    }

    /// `n` points at 60s steps: `base` except the last `recent` points, which are `now`.
    pub fn step_up(kind: SignalKind, n: usize, base: f64, recent: usize, now: f64) -> Signal {
        series(kind, 60, n, |i| if i + recent >= n { now } else { base })
    }

    pub fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    pub fn evidence_text(d: &Detection) -> String {
        d.evidence
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use crate::domain::{Distribution, FeatureInfo};

    #[test]
    fn shipped_defaults_parse_and_builtin_agrees() {
        let parsed = from_defaults();
        assert!(parsed.is_ok(), "{parsed:?}");
        assert_eq!(parsed.ok(), Some(builtin()));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let mut table: toml::Table = DEFAULTS_TOML.parse().expect("toml");
        let mut detect = table.remove("detect").expect("[detect]");
        if let toml::Value::Table(t) = &mut detect {
            t.insert("cost_rate_multipler".into(), toml::Value::Float(3.0));
        }
        let err = detect
            .try_into::<DetectConfig>()
            .expect_err("typo must fail");
        assert!(err.to_string().contains("cost_rate_multipler"), "{err}");
    }

    #[test]
    fn empty_set_gives_empty_evaluation() {
        assert_eq!(
            evaluate(&SignalSet::default(), &cfg()),
            Evaluation::default()
        );
    }

    #[test]
    fn cost_rate_and_daily_cost_merge_into_one_incident_with_worse_sev() {
        let rate = step_up(SignalKind::CostPerMin, 120, 0.10, 3, 0.50); // 5x: SEV3
        let mut daily = series(SignalKind::DailyCost, 86_400, 8, |_| 100.0);
        daily.points[7] = 1500.0; // 15x: SEV2
        let set = SignalSet {
            signals: vec![rate, daily],
            ..SignalSet::default()
        };
        let eval = evaluate(&set, &cfg());
        assert_eq!(eval.detections.len(), 1);
        let d = &eval.detections[0];
        assert_eq!(d.kind, IncidentType::CostExplosion);
        assert_eq!(d.sev, Sev::Sev2);
        assert_eq!(d.signal, SignalKind::DailyCost);
        let text = evidence_text(d);
        assert!(text.contains("also: cost $0.50/min"), "{text}");
        assert!(text.contains("$1500"), "{text}");
        assert_eq!(eval.thresholds.len(), 2);
    }

    #[test]
    fn ttft_and_tpot_merge_and_sort_worst_first() {
        let ttft = step_up(SignalKind::TtftP99, 90, 0.6, 15, 1.84);
        let tpot = step_up(SignalKind::TpotP99, 90, 0.04, 15, 0.1);
        let mut errors = series(SignalKind::ErrorRatio, 60, 30, |_| 0.7);
        errors.feature = "search".into();
        let set = SignalSet {
            signals: vec![ttft, tpot, errors],
            ..SignalSet::default()
        };
        let eval = evaluate(&set, &cfg());
        let kinds: Vec<_> = eval
            .detections
            .iter()
            .map(|d| (d.feature.as_str(), d.kind, d.sev))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("search", IncidentType::Errors, Sev::Sev2),
                ("chat", IncidentType::LatencyDegradation, Sev::Sev3),
            ]
        );
        let text = evidence_text(&eval.detections[1]);
        assert!(text.contains("also: TPOT p99"), "{text}");
    }

    #[test]
    fn evaluate_uses_matching_distribution_and_recorded_eval_baseline() {
        let drift = series(SignalKind::Drift, 60, 30, |_| 0.2);
        let mut other = series(SignalKind::Drift, 60, 30, |_| 0.2);
        other.feature = "search".into();
        // Evals are sparse: one score, no history in the series.
        let eval_sig = series(SignalKind::EvalScore, 60, 30, |i| {
            if i == 29 {
                0.6
            } else {
                NAN
            }
        });
        let dist = Distribution {
            feature: "chat".into(),
            categories: vec!["a".into(), "b".into()],
            baseline: vec![0.5, 0.5],
            current: vec![0.2, 0.8],
        };
        let feature = FeatureInfo {
            name: "chat".into(),
            model: "m".into(),
            model_version: "1".into(),
            model_changed_at: None,
            prompt_versions: vec![],
            current_prompt: None,
            last_known_good_prompt: None,
            prompt_changed_at: None,
            flag_source: None,
            segments: vec![],
            killed: vec![],
            temperature: 0.0,
            top_p: 1.0,
            max_tokens: 100,
            seed: None,
            uses_retrieval: false,
            eval_baseline: Some(0.9),
        };
        let set = SignalSet {
            signals: vec![drift, other, eval_sig],
            distributions: vec![dist],
            features: vec![feature],
            ..SignalSet::default()
        };
        let eval = evaluate(&set, &cfg());
        let find = |f: &str, k| {
            eval.detections
                .iter()
                .find(|d| d.feature == f && d.kind == k)
                .map(|d| d.sev)
        };
        // TV 0.3 > 20% of traffic for chat; search has no distribution.
        assert_eq!(find("chat", IncidentType::CapabilityDrift), Some(Sev::Sev2));
        assert_eq!(
            find("search", IncidentType::CapabilityDrift),
            Some(Sev::Sev3)
        );
        // (0.9 - 0.6) / 0.9 = 33% relative drop.
        assert_eq!(find("chat", IncidentType::EvalRegression), Some(Sev::Sev2));
    }

    #[test]
    fn apply_thresholds_fills_lines_by_direction() {
        let refusals = step_up(SignalKind::RefusalRate, 90, 0.06, 5, 0.06);
        let eval_sig = series(SignalKind::EvalScore, 60, 10, |_| 0.9);
        let cost = series(SignalKind::CostPerMin, 60, 3, |_| 1.0); // too short for a baseline
        let mut set = SignalSet {
            signals: vec![refusals, eval_sig, cost],
            ..SignalSet::default()
        };
        let eval = evaluate(&set, &cfg());
        assert!(eval.detections.is_empty());
        apply_thresholds(&mut set, &eval);
        let r = &set.signals[0];
        assert!(close(r.threshold.unwrap_or(0.0), 0.12));
        assert!(close(r.threshold_low.unwrap_or(0.0), 0.03));
        let e = &set.signals[1];
        assert_eq!((e.threshold, e.threshold_low), (Some(0.8), None));
        let c = &set.signals[2];
        assert_eq!((c.threshold, c.threshold_low), (None, None));
    }

    #[test]
    fn formatting_helpers() {
        assert_eq!(fmt_secs(3600), "1h");
        assert_eq!(fmt_secs(900), "15m");
        assert_eq!(fmt_secs(5400), "1h30m");
        assert_eq!(fmt_secs(90), "1m30s");
        assert_eq!(fmt_secs(45), "45s");
        assert_eq!(fmt_ratio(42.4), "42x");
        assert_eq!(fmt_ratio(3.06), "3.1x");
        assert_eq!(fmt_share(0.2345), "23.4%");
        assert_eq!(fmt_share(f64::NAN), "—");
    }
}
