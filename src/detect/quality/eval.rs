//! Eval regression: scheduled eval scores below the minimum by more than their noise.

use crate::detect::caps::Caps;
use crate::detect::memory::Baseline;
use crate::detect::rule::{values, Band, Ctx, Dir, Finding, Rule};
use crate::detect::{fmt_beyond, fmt_share, sev, DetectConfig};
use crate::domain::{IncidentType, SignalKind};

/// Latest scheduled eval score below the minimum by more than the evals' own noise: a score
/// that wobbles around 0.80 is not a regression each time it reads 0.79. Enter when the last
/// eval is below `eval_min` less `eval_noise_z` standard deviations of the calm evals, or the
/// mean of the last two is below `eval_min` less that over sqrt 2 (two evals halve the
/// noise); leave once every score of the recovery hold is back at `eval_min` or above.
pub struct Eval;

/// The least noise an eval score has: a score over a test set of ~1,000 items moves by about
/// a point between runs by sampling alone (sqrt(0.8 x 0.2 / 1000) = 0.013), whatever a few
/// calm evals suggest. Without history, twice that is assumed.
const MIN_EVAL_SD: f64 = 0.01;

impl Eval {
    fn sd(base: &Baseline) -> f64 {
        if base.spread.is_finite() {
            base.spread.max(MIN_EVAL_SD)
        } else {
            2.0 * MIN_EVAL_SD
        }
    }

    fn line(base: &Baseline, cfg: &DetectConfig) -> f64 {
        cfg.eval_min - cfg.eval_noise_z * Self::sd(base)
    }
}

impl Rule for Eval {
    fn conditions(&self) -> &'static [(Dir, IncidentType)] {
        &[(Dir::Down, IncidentType::EvalRegression)]
    }

    fn keep_secs(&self, cfg: &DetectConfig) -> u64 {
        cfg.recover_hold_secs + 60
    }

    fn needs_baseline(&self) -> bool {
        false
    }

    fn band(&self, base: &Baseline, cfg: &DetectConfig, _caps: &Caps) -> Band {
        Band {
            low: Some(Self::line(base, cfg)),
            high: None,
        }
    }

    fn outside(&self, cx: &Ctx<'_>) -> bool {
        let line = Self::line(cx.base, cx.cfg);
        cx.mem.recent.back().is_some_and(|s| s.value < line)
    }

    fn enter(&self, _dir: Dir, cx: &Ctx<'_>) -> Option<Finding> {
        let cfg = cx.cfg;
        // Distinct evals, newest first: the series repeats each score until the next one.
        let mut evals: Vec<f64> = Vec::new();
        for v in cx
            .mem
            .recent
            .iter()
            .rev()
            .map(|s| s.value)
            .filter(|v| v.is_finite())
        {
            if evals.last() != Some(&v) {
                evals.push(v);
            }
            if evals.len() == 2 {
                break;
            }
        }
        let now = *evals.first()?;
        let line = Self::line(cx.base, cfg);
        let pair_line = cfg.eval_min - cfg.eval_noise_z * Self::sd(cx.base) / 2f64.sqrt();
        let pair = (evals.len() == 2).then(|| (evals[0] + evals[1]) / 2.0);
        if now >= line && pair.is_none_or(|m| m >= pair_line) {
            return None;
        }
        let (baseline, from) = if cx.base.level.is_finite() {
            (cx.base.level, "median of calm evals".to_string())
        } else if let Some(r) = cx.recorded_eval {
            (r, "recorded for the feature".to_string())
        } else {
            (f64::NAN, String::new())
        };
        // Relative drop stands in for "share of traffic affected"; unknown without a baseline.
        let drop = if baseline > 0.0 {
            ((baseline - now) / baseline).max(0.0)
        } else {
            f64::NAN
        };
        let fmt = |v| SignalKind::EvalScore.format(v);
        let mut summary = format!(
            "eval score {} < {}",
            fmt_beyond(SignalKind::EvalScore, now, cfg.eval_min),
            fmt(cfg.eval_min)
        );
        if baseline.is_finite() {
            summary.push_str(&format!(" (baseline {})", fmt(baseline)));
        }
        let base_line = if baseline.is_finite() {
            format!(
                "baseline {} ({from}); relative drop {}",
                fmt(baseline),
                fmt_share(drop)
            )
        } else {
            "no baseline: SEV from the threshold alone".to_string()
        };
        Some(Finding {
            segment: None,
            sev: sev::quality_sev(drop),
            value: now,
            baseline,
            threshold: line,
            summary,
            evidence: vec![
                format!(
                    "latest eval {}, below {} = minimum {} less {} x eval noise {:.3}",
                    fmt(now),
                    fmt(line),
                    fmt(cfg.eval_min),
                    cfg.eval_noise_z,
                    Self::sd(cx.base)
                ),
                base_line,
            ],
        })
    }

    fn recovered(&self, _dir: Dir, cx: &Ctx<'_>) -> bool {
        let (vals, _) = values(cx, cx.cfg.recover_hold_secs);
        // Evals are sparse: "held" means every score seen during the hold is back above the
        // minimum, and the hold saw at least one.
        !vals.is_empty() && vals.iter().all(|v| *v >= cx.cfg.eval_min)
    }
}
