//! Latency and errors: conditions that must *hold* for a while before they page, because a
//! single slow scrape or a burst of 5xx during a deploy is not an incident. The hold times are
//! the design's (15 and 10 minutes), so these detectors are slow by definition.

use super::caps::Caps;
use super::memory::Baseline;
use super::rule::{held_beyond, held_inside, Band, Ctx, Dir, Finding, Rule};
use super::stats::{median, over, positive};
use super::{fmt_beyond, fmt_ratio, fmt_secs, sev, DetectConfig};
use crate::domain::{IncidentType, SignalKind};

/// TTFT or TPOT p99 above `latency_multiplier` x baseline for all of `latency_hold_secs`.
pub struct Latency(pub SignalKind);

impl Rule for Latency {
    fn conditions(&self) -> &'static [(Dir, IncidentType)] {
        &[(Dir::Up, IncidentType::LatencyDegradation)]
    }

    fn keep_secs(&self, cfg: &DetectConfig) -> u64 {
        cfg.latency_hold_secs.max(cfg.recover_hold_secs) + 60
    }

    fn band(&self, base: &Baseline, cfg: &DetectConfig, _caps: &Caps) -> Band {
        Band {
            low: None,
            high: Some(base.level * cfg.latency_multiplier),
        }
    }

    fn outside(&self, cx: &Ctx<'_>) -> bool {
        let line = cx.base.level * cx.cfg.latency_multiplier;
        cx.mem.recent.back().is_some_and(|s| s.value > line)
    }

    fn enter(&self, _dir: Dir, cx: &Ctx<'_>) -> Option<Finding> {
        let base = cx.base.level;
        if !positive(base) {
            return None;
        }
        let threshold = base * cx.cfg.latency_multiplier;
        let held = held_beyond(cx, cx.cfg.latency_hold_secs, threshold, Dir::Up)?;
        let now = *held.last()?;
        let lowest = held.iter().copied().fold(f64::INFINITY, f64::min);
        let fmt = |v| self.0.format(v);
        let (label, hold) = (self.0.label(), fmt_secs(cx.cfg.latency_hold_secs));
        Some(Finding {
            segment: None,
            // The ladder reads the level that held for the whole stretch, not the last blip.
            sev: sev::latency_sev(lowest / base),
            value: now,
            baseline: base,
            threshold,
            summary: format!(
                "{label} {}, {} baseline for {hold}",
                fmt(now),
                fmt_ratio(now / base)
            ),
            evidence: vec![
                format!(
                    "{label} now {}; lowest in the last {hold} {}",
                    fmt(now),
                    fmt(lowest)
                ),
                format!(
                    "{label} baseline {} (median of {} of calm history)",
                    fmt(base),
                    fmt_secs(u64::try_from(cx.base.covered_secs).unwrap_or(0))
                ),
                format!(
                    "{label} above {} = {} baseline for all of {hold} ({} points)",
                    fmt(threshold),
                    fmt_ratio(cx.cfg.latency_multiplier),
                    held.len()
                ),
            ],
        })
    }

    fn recovered(&self, _dir: Dir, cx: &Ctx<'_>) -> bool {
        let line = cx.base.level * cx.cfg.latency_exit_multiplier;
        held_inside(cx, cx.cfg.recover_hold_secs, line, Dir::Up)
    }
}

/// Error ratio above `error_ratio` for all of `error_hold_secs`. An absolute threshold: it
/// needs no baseline, which is only quoted for context when there is one.
pub struct Errors;

/// With counts, "held" is judged on slices of the hold rather than on every overlapping
/// point: at 90 requests a minute a true 12% error ratio reads under 5% in one minute of
/// forty, which must not restart a ten-minute hold.
const SLICES: i64 = 5;

impl Errors {
    /// The entry line: the feature's own error ratio cap, or `[detect] error_ratio`.
    fn line(cx: &Ctx<'_>) -> f64 {
        cx.caps.error_ratio.unwrap_or(cx.cfg.error_ratio)
    }

    /// Pooled ratio of each fifth of the last `secs`, oldest first; `None` when more than one
    /// fifth saw no requests.
    fn slices(cx: &Ctx<'_>, secs: u64) -> Option<Vec<f64>> {
        let w = (i64::try_from(secs).unwrap_or(600) / SLICES).max(1);
        let ratios: Vec<f64> = (0..SLICES)
            .rev()
            .map(|i| {
                let (e, n) = cx
                    .mem
                    .counts_between(cx.now - (i + 1) * w, cx.now - i * w, None);
                if n > 0.0 {
                    e / n
                } else {
                    f64::NAN
                }
            })
            .collect();
        let missing = ratios.iter().filter(|r| r.is_nan()).count();
        (missing <= 1).then_some(ratios)
    }

    /// Held above `line`: every fifth of the hold and its first minute (by counts), or every
    /// point (without). The first minute keeps a fault that began inside the oldest fifth
    /// from counting as held for the whole stretch.
    fn held(cx: &Ctx<'_>, secs: u64, line: f64) -> Option<Vec<f64>> {
        if cx.mem.has_counts() {
            let slices = Self::slices(cx, secs)?;
            let start = cx.now - i64::try_from(secs).unwrap_or(600);
            let (e, n) = cx.mem.counts_between(start, start + 60, None);
            let began = n <= 0.0 || e / n > line;
            (began && slices.iter().filter(|r| r.is_finite()).all(|r| *r > line))
                .then_some(slices.into_iter().filter(|r| r.is_finite()).collect())
        } else {
            held_beyond(cx, secs, line, Dir::Up)
        }
    }
}

impl Rule for Errors {
    fn conditions(&self) -> &'static [(Dir, IncidentType)] {
        &[(Dir::Up, IncidentType::Errors)]
    }

    fn keep_secs(&self, cfg: &DetectConfig) -> u64 {
        cfg.error_hold_secs.max(cfg.recover_hold_secs) + 60
    }

    fn needs_baseline(&self) -> bool {
        false
    }

    fn band(&self, _base: &Baseline, cfg: &DetectConfig, caps: &Caps) -> Band {
        Band {
            low: None,
            high: Some(caps.error_ratio.unwrap_or(cfg.error_ratio)),
        }
    }

    fn outside(&self, cx: &Ctx<'_>) -> bool {
        let line = Self::line(cx);
        cx.mem.recent.back().is_some_and(|s| s.value > line)
    }

    fn enter(&self, _dir: Dir, cx: &Ctx<'_>) -> Option<Finding> {
        let threshold = Self::line(cx);
        let held = Self::held(cx, cx.cfg.error_hold_secs, threshold)?;
        let now = *held.last()?;
        let typical = median(&held).unwrap_or(now);
        let fmt = |v| SignalKind::ErrorRatio.format(v);
        let hold = fmt_secs(cx.cfg.error_hold_secs);
        let (errors, requests) = cx.mem.counts(cx.now, cx.cfg.error_hold_secs, None);
        let mut evidence = vec![format!(
            "error ratio now {}; median over the last {hold} {}",
            fmt(now),
            fmt(typical)
        )];
        if requests > 0.0 {
            evidence.push(format!(
                "{errors:.0} failed of {requests:.0} requests in the last {hold}"
            ));
        }
        if cx.base.level.is_finite() {
            evidence.push(format!(
                "before that {} (median of calm history)",
                fmt(cx.base.level)
            ));
        } else {
            evidence.push(
                "no calm history yet (warm-up): the error line is absolute and needs none"
                    .to_string(),
            );
        }
        let own = if cx.caps.error_ratio.is_some() {
            " (this feature's own line, [detect.caps.feature])"
        } else {
            ""
        };
        evidence.push(format!("above {}{own} for all of {hold}", fmt(threshold)));
        Some(Finding {
            segment: None,
            sev: sev::errors_sev(typical),
            value: now,
            baseline: cx.base.level,
            threshold,
            summary: format!(
                "errors {} for {hold} (> {})",
                fmt_beyond(SignalKind::ErrorRatio, now, threshold),
                fmt(threshold)
            ),
            evidence,
        })
    }

    fn recovered(&self, _dir: Dir, cx: &Ctx<'_>) -> bool {
        let entry = Self::line(cx);
        let line = entry * cx.cfg.error_exit_share;
        let hold = cx.cfg.recover_hold_secs;
        if cx.mem.has_counts() {
            // The hold as a whole under the exit line, and no fifth of it back above the entry
            // line.
            let (e, n) = cx.mem.counts(cx.now, hold, None);
            return n > 0.0
                && e / n <= line
                && Self::slices(cx, hold).is_some_and(|s| s.iter().all(|r| !over(*r, entry)));
        }
        held_inside(cx, hold, line, Dir::Up)
    }
}
