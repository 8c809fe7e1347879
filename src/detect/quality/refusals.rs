//! Refusal rate off its baseline, either way: guardrail bypass below, over-refusal above.

use super::counts::{
    count_breach, fmt_rate, judged_trials, recovered_counted, streams, volume_surged, LOOSE_P,
};
use crate::detect::caps::Caps;
use crate::detect::memory::Baseline;
use crate::detect::rule::{fmt_p, held_beyond, held_inside, values, Band, Ctx, Dir, Finding, Rule};
use crate::detect::stats::{mean, positive};
use crate::detect::{fmt_ratio, fmt_secs, sev, DetectConfig};
use crate::domain::IncidentType;

/// Below a 1% refusal baseline a drop is not measurable: halving 0.2% is noise, not a bypass.
const MIN_MEASURABLE_REFUSALS: f64 = 0.01;

/// Refusal rate off its baseline, either way: too few refusals means the guardrail stopped
/// catching what it used to (guardrail bypass, SEV1), too many that the feature stopped
/// answering (over-refusal).
pub struct Refusals;

impl Refusals {
    fn low(base: f64, cfg: &DetectConfig) -> Option<f64> {
        (base >= MIN_MEASURABLE_REFUSALS).then_some(base * cfg.refusal_low_factor)
    }

    fn high(base: f64, cfg: &DetectConfig) -> f64 {
        (base * cfg.refusal_high_factor).max(base + cfg.refusal_min_increase)
    }

    pub(super) fn base_rate(b: &Baseline) -> f64 {
        if b.rate.is_finite() {
            b.rate
        } else {
            b.level
        }
    }

    fn band_text(base: f64, cfg: &DetectConfig) -> String {
        match Self::low(base, cfg) {
            Some(low) => format!(
                "normal band {} to {} (pre-incident baseline {})",
                fmt_rate(low),
                fmt_rate(Self::high(base, cfg)),
                fmt_rate(base)
            ),
            None => format!(
                "upper bound {}; no lower bound below a {} baseline",
                fmt_rate(Self::high(base, cfg)),
                fmt_rate(MIN_MEASURABLE_REFUSALS)
            ),
        }
    }

    /// Feature-wide rate over the refusal window: what the SEV ladder reads as the share of
    /// traffic affected.
    fn feature_rate(cx: &Ctx<'_>) -> f64 {
        let (k, n) = cx.mem.counts(cx.now, cx.cfg.refusal_window_secs, None);
        if n > 0.0 {
            k / n
        } else {
            f64::NAN
        }
    }

    /// Share of normal traffic refused beyond its usual rate: per segment, the extra
    /// refusals over what normal traffic there would bring, weighted by the segment's usual
    /// share (a flood in one segment neither dilutes nor inflates it), less one standard error
    /// of sampling noise: the SEV ladder reads the share surely affected, and a few hundred
    /// answers alone can add several points.
    fn affected_share(cx: &Ctx<'_>) -> Option<f64> {
        let w = cx.cfg.refusal_window_secs;
        // (extra rate, variance of the rate, usual volume)
        let segs: Vec<(f64, f64, f64)> = streams(cx)
            .iter()
            .filter(|s| s.index.is_some() && s.rate.is_finite() && s.volume > 0.0)
            .map(|s| {
                let (k, n) = cx.mem.counts(cx.now, w, s.index);
                let judged = judged_trials(cx, s, Dir::Down, w, n, true).max(1.0);
                let rate = (k / judged).min(1.0);
                (
                    (rate - s.rate).max(0.0),
                    rate * (1.0 - rate) / judged,
                    s.volume,
                )
            })
            .collect();
        let total: f64 = segs.iter().map(|(_, _, v)| v).sum();
        if segs.is_empty() || !positive(total) {
            let (k, n) = cx.mem.counts(cx.now, w, None);
            if !positive(n) {
                return None;
            }
            let rate = (k / n).min(1.0);
            let se = (rate * (1.0 - rate) / n).sqrt();
            return Some((rate - cx.base.rate - se).max(0.0));
        }
        let share: f64 = segs.iter().map(|(x, _, v)| x * v / total).sum();
        let var: f64 = segs
            .iter()
            .map(|(_, var, v)| var * (v / total).powi(2))
            .sum();
        Some((share - var.sqrt()).max(0.0))
    }

    fn enter_counted(dir: Dir, cx: &Ctx<'_>) -> Option<Finding> {
        let base = cx.base.rate;
        let cfg = cx.cfg;
        let breach = match dir {
            Dir::Down => {
                Self::low(base, cfg)?;
                count_breach(
                    cx,
                    dir,
                    cfg.count_window_secs,
                    cfg.count_p_value,
                    true,
                    |r| r * cfg.refusal_low_factor,
                )?
            }
            Dir::Up => count_breach(
                cx,
                dir,
                cfg.count_window_secs,
                cfg.count_p_value,
                false,
                |r| Self::high(r, cfg),
            )?,
        };
        let observed = breach.events / breach.judged;
        let whole = Self::feature_rate(cx);
        let who = breach
            .stream
            .as_deref()
            .map_or("feature-wide".to_string(), |s| format!("segment {s}"));
        let mut evidence = vec![
            format!(
                "{who}: {:.0} refusals in {:.0} answers over the last {}; {:.1} expected at the baseline {} ({})",
                breach.events,
                breach.trials,
                fmt_secs(breach.window),
                breach.expected,
                fmt_rate(breach.expected / breach.judged),
                fmt_p(breach.p)
            ),
        ];
        if breach.judged + 0.5 < breach.trials {
            evidence.push(format!(
                "volume {} normal: judged against the {:.0} answers normal traffic gives",
                fmt_ratio(breach.trials / breach.judged),
                breach.judged
            ));
        }
        if breach.stream.is_some() && whole.is_finite() {
            evidence.push(format!(
                "feature-wide {} over the last {}",
                fmt_rate(whole),
                fmt_secs(cfg.refusal_window_secs)
            ));
        }
        evidence.push(Self::band_text(base, cfg));
        let (kind_sev, tag, threshold) = match dir {
            Dir::Down => (
                sev::guardrail_sev(),
                "guardrail bypass?",
                Self::low(base, cfg).unwrap_or(f64::NAN),
            ),
            Dir::Up => {
                let extra = Self::affected_share(cx).unwrap_or(observed - base);
                evidence.push(format!(
                    "at least {:.1}% of normal traffic refused beyond its usual rate",
                    extra.max(0.0) * 100.0
                ));
                (
                    sev::quality_sev(extra.max(0.0)),
                    "over-refusal",
                    Self::high(base, cfg),
                )
            }
        };
        let scope = breach
            .stream
            .as_deref()
            .map_or(String::new(), |s| format!(" in {s}"));
        Some(Finding {
            segment: breach.stream.clone(),
            sev: kind_sev,
            value: observed,
            baseline: base,
            threshold,
            summary: format!(
                "refusals {}{scope} vs baseline {}: {tag}",
                fmt_rate(observed),
                fmt_rate(breach.expected / breach.judged)
            ),
            evidence,
        })
    }

    /// Without counts only the ratio is known: the mean of the refusal window must be outside
    /// the band, and every point of the last two steps too, so one odd point does not page.
    fn enter_ratio(dir: Dir, cx: &Ctx<'_>) -> Option<Finding> {
        let base = cx.base.level;
        let cfg = cx.cfg;
        let (vals, n) = values(cx, cfg.refusal_window_secs);
        if (vals.len() as f64) + 1e-9 < crate::detect::rule::MIN_COVERAGE * n as f64 {
            return None;
        }
        let now = mean(&vals)?;
        let confirm = u64::try_from(cx.mem.step * 2).unwrap_or(120);
        let (threshold, kind_sev, tag) = match dir {
            Dir::Down => {
                let low = Self::low(base, cfg)?;
                (now < low).then_some(())?;
                held_beyond(cx, confirm, low, Dir::Down)?;
                (low, sev::guardrail_sev(), "guardrail bypass?")
            }
            Dir::Up => {
                let high = Self::high(base, cfg);
                (now > high).then_some(())?;
                held_beyond(cx, confirm, high, Dir::Up)?;
                (high, sev::quality_sev(now - base), "over-refusal")
            }
        };
        Some(Finding {
            segment: None,
            sev: kind_sev,
            value: now,
            baseline: base,
            threshold,
            summary: format!(
                "refusals {} vs baseline {}: {tag}",
                fmt_rate(now),
                fmt_rate(base)
            ),
            evidence: vec![
                format!(
                    "refusal rate {} (mean of the last {}); no counts from the source, so the \
                     confidence is unknown",
                    fmt_rate(now),
                    fmt_secs(cfg.refusal_window_secs)
                ),
                Self::band_text(base, cfg),
                format!("shift {:+.1} points of traffic", (now - base) * 100.0),
            ],
        })
    }
}

impl Rule for Refusals {
    fn conditions(&self) -> &'static [(Dir, IncidentType)] {
        &[
            (Dir::Down, IncidentType::GuardrailBypass),
            (Dir::Up, IncidentType::OverRefusal),
        ]
    }

    fn keep_secs(&self, cfg: &DetectConfig) -> u64 {
        cfg.refusal_window_secs
            .max(cfg.recover_hold_secs)
            .max(cfg.count_window_secs)
            + 60
    }

    fn band(&self, base: &Baseline, cfg: &DetectConfig, _caps: &Caps) -> Band {
        let b = Self::base_rate(base);
        Band {
            low: Self::low(b, cfg),
            high: Some(Self::high(b, cfg)),
        }
    }

    fn outside(&self, cx: &Ctx<'_>) -> bool {
        let cfg = cx.cfg;
        if cx.mem.has_counts() && cx.base.rate.is_finite() {
            // Not surge-aware: a ratio diluted by a flood raises nothing, but it is not normal
            // either and must not become the baseline.
            let down = count_breach(
                cx,
                Dir::Down,
                cfg.refusal_window_secs,
                LOOSE_P,
                false,
                |r| r * cfg.refusal_low_factor,
            );
            let up = count_breach(cx, Dir::Up, cfg.refusal_window_secs, LOOSE_P, false, |r| {
                Self::high(r, cfg)
            });
            return down.is_some() || up.is_some() || volume_surged(cx, cfg.refusal_window_secs);
        }
        let band = self.band(cx.base, cfg, cx.caps);
        cx.mem.recent.back().is_some_and(|s| {
            s.value > band.high.unwrap_or(f64::INFINITY)
                || s.value < band.low.unwrap_or(f64::NEG_INFINITY)
        })
    }

    fn enter(&self, dir: Dir, cx: &Ctx<'_>) -> Option<Finding> {
        if cx.mem.has_counts() && cx.base.rate.is_finite() {
            Self::enter_counted(dir, cx)
        } else {
            Self::enter_ratio(dir, cx)
        }
    }

    fn recovered(&self, dir: Dir, cx: &Ctx<'_>) -> bool {
        let cfg = cx.cfg;
        let hold = cfg.recover_hold_secs;
        if cx.mem.has_counts() && cx.base.rate.is_finite() {
            let line = |r: f64| match dir {
                Dir::Down => r * cfg.refusal_exit_low_factor,
                Dir::Up => r + cfg.refusal_exit_share * (Self::high(r, cfg) - r),
            };
            return recovered_counted(cx, dir, hold, dir == Dir::Down, line);
        }
        let base = cx.base.level;
        match dir {
            Dir::Down => held_inside(cx, hold, base * cfg.refusal_exit_low_factor, Dir::Down),
            Dir::Up => held_inside(
                cx,
                hold,
                base + cfg.refusal_exit_share * (Self::high(base, cfg) - base),
                Dir::Up,
            ),
        }
    }
}
