//! Retrieval degradation: hit rate below a share of its baseline.

use super::counts::{count_breach, recovered_counted, volume_surged, LOOSE_P};
use super::refusals::Refusals;
use crate::detect::caps::Caps;
use crate::detect::memory::Baseline;
use crate::detect::rule::{fmt_p, held_beyond, held_inside, values, Band, Ctx, Dir, Finding, Rule};
use crate::detect::stats::{mean, positive};
use crate::detect::{fmt_secs, sev, DetectConfig};
use crate::domain::{IncidentType, SignalKind};

/// Retrieval hit rate below `retrieval_factor` x its baseline, with counts when the source
/// sends them.
pub struct Retrieval;

impl Rule for Retrieval {
    fn conditions(&self) -> &'static [(Dir, IncidentType)] {
        &[(Dir::Down, IncidentType::RetrievalDegradation)]
    }

    fn keep_secs(&self, cfg: &DetectConfig) -> u64 {
        cfg.retrieval_window_secs
            .max(cfg.recover_hold_secs)
            .max(cfg.count_window_secs)
            + 60
    }

    fn band(&self, base: &Baseline, cfg: &DetectConfig, _caps: &Caps) -> Band {
        Band {
            low: Some(Refusals::base_rate(base) * cfg.retrieval_factor),
            high: None,
        }
    }

    fn outside(&self, cx: &Ctx<'_>) -> bool {
        let cfg = cx.cfg;
        if cx.mem.has_counts() && cx.base.rate.is_finite() {
            return count_breach(
                cx,
                Dir::Down,
                cfg.retrieval_window_secs,
                LOOSE_P,
                false,
                |r| r * cfg.retrieval_factor,
            )
            .is_some()
                || volume_surged(cx, cfg.retrieval_window_secs);
        }
        let line = cx.base.level * cfg.retrieval_factor;
        cx.mem.recent.back().is_some_and(|s| s.value < line)
    }

    fn enter(&self, _dir: Dir, cx: &Ctx<'_>) -> Option<Finding> {
        let cfg = cx.cfg;
        let fmt = |v| SignalKind::RetrievalHit.format(v);
        let window = fmt_secs(cfg.retrieval_window_secs);
        if cx.mem.has_counts() && cx.base.rate.is_finite() {
            let base = cx.base.rate;
            if !positive(base) {
                return None;
            }
            let threshold = base * cfg.retrieval_factor;
            let b = count_breach(
                cx,
                Dir::Down,
                cfg.count_window_secs,
                cfg.count_p_value,
                false,
                |r| r * cfg.retrieval_factor,
            )?;
            let (k, n) = cx.mem.counts(cx.now, cfg.retrieval_window_secs, None);
            let now = if n > 0.0 { k / n } else { b.events / b.trials };
            return Some(Finding {
                segment: None,
                sev: sev::retrieval_sev(now, base),
                value: now,
                baseline: base,
                threshold,
                summary: format!("retrieval hit {} vs baseline {}", fmt(now), fmt(base)),
                evidence: vec![
                    format!("hit rate {} over the last {window}", fmt(now)),
                    format!(
                        "{:.0} hits in {:.0} retrievals over the last {}; {:.0} expected ({})",
                        b.events,
                        b.trials,
                        fmt_secs(b.window),
                        b.expected,
                        fmt_p(b.p)
                    ),
                    format!(
                        "threshold {} = {:.0}% of the pre-incident baseline {}",
                        fmt(threshold),
                        cfg.retrieval_factor * 100.0,
                        fmt(base)
                    ),
                ],
            });
        }
        let base = cx.base.level;
        if !positive(base) {
            return None;
        }
        let threshold = base * cfg.retrieval_factor;
        let (vals, n) = values(cx, cfg.retrieval_window_secs);
        if (vals.len() as f64) + 1e-9 < crate::detect::rule::MIN_COVERAGE * n as f64 {
            return None;
        }
        let now = mean(&vals).filter(|v| *v < threshold)?;
        let confirm = u64::try_from(cx.mem.step * 2).unwrap_or(120);
        held_beyond(cx, confirm, threshold, Dir::Down)?;
        Some(Finding {
            segment: None,
            sev: sev::retrieval_sev(now, base),
            value: now,
            baseline: base,
            threshold,
            summary: format!("retrieval hit {} vs baseline {}", fmt(now), fmt(base)),
            evidence: vec![
                format!("hit rate {} (mean of the last {window})", fmt(now)),
                format!("baseline {} (median of calm history)", fmt(base)),
                format!(
                    "threshold {} = {:.0}% of baseline",
                    fmt(threshold),
                    cfg.retrieval_factor * 100.0
                ),
            ],
        })
    }

    fn recovered(&self, _dir: Dir, cx: &Ctx<'_>) -> bool {
        let cfg = cx.cfg;
        let hold = cfg.recover_hold_secs;
        if cx.mem.has_counts() && cx.base.rate.is_finite() {
            let line = |r: f64| r * cfg.retrieval_exit_factor;
            return recovered_counted(cx, Dir::Down, hold, false, line);
        }
        let line = cx.base.level * cfg.retrieval_exit_factor;
        held_inside(cx, hold, line, Dir::Down)
    }
}
