//! The contract between the engine and one kind of detector.
//!
//! The engine owns time, memory and the incident state machine; a rule only answers questions
//! about one signal at one instant: where its band is, whether this point is outside it,
//! whether the incident condition is met now (with the numbers that prove it), and whether the
//! signal has been back inside its pre-incident band long enough to call it recovered.
//! Entering and leaving are separate questions with separate margins (hysteresis).

use super::caps::Caps;
use super::memory::{Baseline, Memory};
use super::DetectConfig;
use crate::domain::{Distribution, IncidentType, Sev};

/// Which way a signal breaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dir {
    Up,
    Down,
}

/// The lines a detector draws around normal.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Band {
    pub low: Option<f64>,
    pub high: Option<f64>,
}

/// What the rule sees at one instant.
pub struct Ctx<'a> {
    pub mem: &'a Memory,
    /// The baseline to judge against: the pre-incident one while an incident is open.
    pub base: &'a Baseline,
    pub cfg: &'a DetectConfig,
    /// Unix seconds of the newest point.
    pub now: i64,
    pub dist: Option<&'a Distribution>,
    /// The eval score the source recorded for the feature, when it has one.
    pub recorded_eval: Option<f64>,
    /// The feature's recent (t, failed, requests), for rules whose denominator failed
    /// requests shrink (refusals are judged per answer).
    pub errors: &'a [(i64, f64, f64)],
    /// While firing: the segment whose counts raised the condition (`None`: feature-wide or
    /// not split); its own counts must show the recovery.
    pub trigger: Option<&'a str>,
    /// The feature the signal belongs to, for evidence that names its config.
    pub feature: &'a str,
    /// The feature's absolute caps (see `caps`).
    pub caps: &'a Caps,
}

impl Ctx<'_> {
    /// Share of requests answered (not failed) over the last `secs`; 1 when unknown.
    pub fn answered_share(&self, secs: u64) -> f64 {
        let from = self.now - i64::try_from(secs).unwrap_or(i64::MAX / 4);
        let (failed, total) = self
            .errors
            .iter()
            .filter(|(t, e, n)| *t > from && *t <= self.now && e.is_finite() && n.is_finite())
            .fold((0.0, 0.0), |a, (_, e, n)| (a.0 + e, a.1 + n));
        if total > 0.0 {
            (1.0 - failed / total).clamp(0.0, 1.0)
        } else {
            1.0
        }
    }
}

/// Evidence that the incident condition holds, as numbers and the words that explain them.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// The segment whose counts proved it, when one did.
    pub segment: Option<String>,
    pub sev: Sev,
    pub value: f64,
    pub baseline: f64,
    pub threshold: f64,
    pub summary: String,
    pub evidence: Vec<String>,
}

pub trait Rule: Send + Sync {
    /// The incident conditions this signal can raise, one per direction.
    fn conditions(&self) -> &'static [(Dir, IncidentType)];
    /// Seconds of accepted history the baseline is computed from.
    fn baseline_secs(&self, cfg: &DetectConfig) -> u64 {
        cfg.baseline_secs
    }
    /// Seconds of recent points the rule needs to judge entry and recovery.
    fn keep_secs(&self, cfg: &DetectConfig) -> u64;
    /// Whether the rule can judge without a baseline (absolute thresholds).
    fn needs_baseline(&self) -> bool {
        true
    }
    /// The lines drawn around normal; `caps` are the feature's own lines where a rule has
    /// them.
    fn band(&self, base: &Baseline, cfg: &DetectConfig, caps: &Caps) -> Band;
    /// The newest point is outside the band (a breach not yet confirmed, or noise): the
    /// waiting minutes must not enter the baseline.
    fn outside(&self, cx: &Ctx<'_>) -> bool;
    /// The incident condition in direction `dir` holds now.
    fn enter(&self, dir: Dir, cx: &Ctx<'_>) -> Option<Finding>;
    /// The signal has been back inside the (narrower) exit band for the recovery hold.
    fn recovered(&self, dir: Dir, cx: &Ctx<'_>) -> bool;
}

/// Share of a window's nominal points that must hold data for a verdict on it.
pub const MIN_COVERAGE: f64 = 0.8;

/// Finite values of the last `secs` and how many points that window should hold.
pub fn values(cx: &Ctx<'_>, secs: u64) -> (Vec<f64>, usize) {
    let vals = cx
        .mem
        .window(cx.now, secs)
        .map(|s| s.value)
        .filter(|v| v.is_finite())
        .collect();
    (vals, cx.mem.points_in(secs))
}

/// Every point of the last `secs` beyond `line` (above it for `Dir::Up`), with enough of the
/// window covered: "held for the whole stretch".
pub fn held_beyond(cx: &Ctx<'_>, secs: u64, line: f64, dir: Dir) -> Option<Vec<f64>> {
    let (vals, n) = values(cx, secs);
    let covered = vals.len() as f64 + 1e-9 >= MIN_COVERAGE * n as f64 && !vals.is_empty();
    let beyond = |v: &f64| match dir {
        Dir::Up => *v > line,
        Dir::Down => *v < line,
    };
    (covered && vals.iter().all(beyond)).then_some(vals)
}

/// Most points of the last `secs` back on the normal side of `line`, the median included:
/// "back inside for the hold", tolerant of a stray noisy point but not of a breach that
/// still holds half the time.
pub fn held_inside(cx: &Ctx<'_>, secs: u64, line: f64, dir: Dir) -> bool {
    let (vals, n) = values(cx, secs);
    if (vals.len() as f64) + 1e-9 < MIN_COVERAGE * n as f64 || vals.is_empty() {
        return false;
    }
    let inside = |v: f64| match dir {
        Dir::Up => v <= line,
        Dir::Down => v >= line,
    };
    let share = vals.iter().filter(|v| inside(**v)).count() as f64 / vals.len() as f64;
    let mid = super::stats::median(&vals).unwrap_or(f64::NAN);
    share >= MIN_COVERAGE && inside(mid)
}

/// A p-value for evidence lines: "p = 3e-10", "p < 1e-15".
pub fn fmt_p(p: f64) -> String {
    if !p.is_finite() {
        "p unknown".to_string()
    } else if p < 1e-15 {
        "p < 1e-15".to_string()
    } else if p < 0.001 {
        format!("p = {p:.0e}")
    } else {
        format!("p = {p:.3}")
    }
}
