//! Cost explosion: $/min against its trailing median, and today's projected cost against the
//! previous days. Tokens/min gets the same line drawn but raises nothing on its own: a token
//! surge that costs nothing extra (a cheap model) is not a cost incident.
//!
//! The baseline is the median of the accepted minutes of the trailing window, so the runaway
//! being measured never raises its own threshold (it is kept out of the baseline while it
//! breaches and while its incident is open).

use super::caps::{Cap, Caps, Origin};
use super::rule::{held_beyond, held_inside, Band, Ctx, Dir, Finding, Rule};
use super::stats::{finite, mean, positive, tail};
use super::{fmt_ratio, fmt_secs, sev, DetectConfig};
use crate::domain::{IncidentType, Sev, Signal, SignalKind};

/// DESIGN.md: "daily cost > 2x 7-day average".
const HISTORY_DAYS: usize = 7;
/// Fewer past days than this say nothing about a normal day.
const MIN_HISTORY_DAYS: usize = 3;

/// A breach below the ladder's first cost rung (a trigger tuned under 2x) is still reported,
/// as the minor rung.
fn cost_ladder(multiplier: f64) -> Sev {
    sev::cost_sev(multiplier).unwrap_or(Sev::Sev4)
}

fn fmt_cost(v: f64) -> String {
    SignalKind::CostPerMin.format(v)
}

/// $/min above `cost_rate_multiplier` x the trailing median, for every point of
/// `cost_confirm_secs` (at least two points): one odd scrape is not a runaway.
pub struct CostRate;

impl CostRate {
    fn confirm_secs(cx: &Ctx<'_>) -> u64 {
        let two_steps = u64::try_from(cx.mem.step * 2).unwrap_or(120);
        cx.cfg.cost_confirm_secs.max(two_steps)
    }

    /// Above the trailing median's line: the detector proper, once a baseline exists.
    fn relative(cx: &Ctx<'_>) -> Option<Finding> {
        let base = cx.base.level;
        if !positive(base) {
            return None;
        }
        let threshold = base * cx.cfg.cost_rate_multiplier;
        let held = held_beyond(cx, Self::confirm_secs(cx), threshold, Dir::Up)?;
        let now = *held.last()?;
        let multiplier = now / base;
        let window = fmt_secs(cx.cfg.cost_trailing_secs);
        let mut evidence = vec![
            format!(
                "cost now {}/min = {} the trailing {window} median {}/min",
                fmt_cost(now),
                fmt_ratio(multiplier),
                fmt_cost(base)
            ),
            format!(
                "above {}/min ({} baseline) for all of the last {}",
                fmt_cost(threshold),
                fmt_ratio(cx.cfg.cost_rate_multiplier),
                fmt_secs(Self::confirm_secs(cx))
            ),
            format!(
                "baseline: {} of calm history, runaway minutes excluded",
                fmt_secs(u64::try_from(cx.base.covered_secs).unwrap_or(0))
            ),
        ];
        evidence.extend(Self::segment_line(cx));
        Some(Finding {
            segment: None,
            sev: cost_ladder(multiplier),
            value: now,
            baseline: base,
            threshold,
            summary: format!(
                "cost {}/min, {} trailing {window} median",
                fmt_cost(now),
                fmt_ratio(multiplier)
            ),
            evidence,
        })
    }

    /// Which segment carries the spend now, against its share in normal times: tells the
    /// responder which kill-switch scope contains the loop.
    fn segment_line(cx: &Ctx<'_>) -> Option<String> {
        let secs = Self::confirm_secs(cx);
        let shares: Vec<(usize, f64)> = (0..cx.mem.segments.len())
            .map(|i| (i, cx.mem.counts(cx.now, secs, Some(i)).0))
            .collect();
        let total: f64 = shares.iter().map(|(_, c)| c).sum();
        let (top, spend) = shares.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))?;
        if !positive(total) {
            return None;
        }
        let name = cx.mem.segments.get(top)?;
        let normal_total: f64 = cx.base.segs.iter().map(|s| s.volume).sum();
        let normal = cx
            .base
            .segs
            .get(top)
            .map(|s| s.volume / normal_total)
            .filter(|v| v.is_finite());
        Some(match normal {
            Some(n) => format!(
                "segment {name}: {:.0}% of spend now ({:.0}% of requests normally)",
                100.0 * spend / total,
                100.0 * n
            ),
            None => format!("segment {name}: {:.0}% of spend now", 100.0 * spend / total),
        })
    }
}

impl Rule for CostRate {
    fn conditions(&self) -> &'static [(Dir, IncidentType)] {
        &[(Dir::Up, IncidentType::CostExplosion)]
    }

    /// Its cap judges from the first minute, before any baseline exists.
    fn needs_baseline(&self) -> bool {
        false
    }

    fn baseline_secs(&self, cfg: &DetectConfig) -> u64 {
        cfg.cost_trailing_secs
    }

    fn keep_secs(&self, cfg: &DetectConfig) -> u64 {
        // The daily cost detector reads the last hour's burn from here.
        cfg.cost_confirm_secs.max(cfg.recover_hold_secs).max(3600) + 60
    }

    fn band(&self, base: &super::memory::Baseline, cfg: &DetectConfig, caps: &Caps) -> Band {
        cap_band(base, cfg, &caps.cost_per_min)
    }

    fn outside(&self, cx: &Ctx<'_>) -> bool {
        let line = cx.base.level * cx.cfg.cost_rate_multiplier;
        cx.mem.recent.back().is_some_and(|s| s.value > line)
    }

    fn enter(&self, _dir: Dir, cx: &Ctx<'_>) -> Option<Finding> {
        Self::relative(cx).or_else(|| {
            let mut f = cap_finding(
                cx,
                &cx.caps.cost_per_min,
                SignalKind::CostPerMin,
                Self::confirm_secs(cx),
            )?;
            f.evidence.extend(Self::segment_line(cx));
            Some(f)
        })
    }

    fn recovered(&self, _dir: Dir, cx: &Ctx<'_>) -> bool {
        // Raised during warm-up, the frozen baseline is unknown and only the cap judges.
        let relative = !cx.base.level.is_finite()
            || held_inside(
                cx,
                cx.cfg.recover_hold_secs,
                cx.base.level * cx.cfg.cost_exit_multiplier,
                Dir::Up,
            );
        relative && cap_recovered(cx, &cx.caps.cost_per_min)
    }
}

/// Tokens/min: the relative line drawn at the same multiple of the same trailing window as
/// $/min, raising nothing (a token surge on a cheap model is not a cost incident); only its
/// cap raises, the net for models without a price, whose cost is unknown.
pub struct TokensRate;

impl Rule for TokensRate {
    fn conditions(&self) -> &'static [(Dir, IncidentType)] {
        &[(Dir::Up, IncidentType::CostExplosion)]
    }

    fn needs_baseline(&self) -> bool {
        false
    }

    fn baseline_secs(&self, cfg: &DetectConfig) -> u64 {
        cfg.cost_trailing_secs
    }

    fn keep_secs(&self, cfg: &DetectConfig) -> u64 {
        cfg.cost_confirm_secs.max(cfg.recover_hold_secs).max(540) + 60
    }

    fn band(&self, base: &super::memory::Baseline, cfg: &DetectConfig, caps: &Caps) -> Band {
        cap_band(base, cfg, &caps.tokens_per_min)
    }

    fn outside(&self, cx: &Ctx<'_>) -> bool {
        let line = cx.base.level * cx.cfg.cost_rate_multiplier;
        cx.mem.recent.back().is_some_and(|s| s.value > line)
    }

    fn enter(&self, _dir: Dir, cx: &Ctx<'_>) -> Option<Finding> {
        cap_finding(
            cx,
            &cx.caps.tokens_per_min,
            SignalKind::TokensPerMin,
            CostRate::confirm_secs(cx),
        )
    }

    fn recovered(&self, _dir: Dir, cx: &Ctx<'_>) -> bool {
        cap_recovered(cx, &cx.caps.tokens_per_min)
    }
}

/// The relative line, or the cap where it applies and is lower.
fn cap_band(base: &super::memory::Baseline, cfg: &DetectConfig, cap: &Cap) -> Band {
    let relative = base.level * cfg.cost_rate_multiplier;
    let known = base.level.is_finite();
    let high = match (known, cap.applies(known)) {
        (true, true) => relative.min(cap.line),
        (true, false) => relative,
        (false, _) => cap.line,
    };
    Band {
        low: None,
        high: Some(high),
    }
}

/// Above an absolute cap for every point of `secs`, where the cap applies: a default cap only
/// while the feature has no baseline (warm-up), the feature's own always. The SEV ladder
/// reads the multiple of the cap, SEV3 at least: a cap is a line someone drew on purpose.
fn cap_finding(cx: &Ctx<'_>, cap: &Cap, kind: SignalKind, secs: u64) -> Option<Finding> {
    let known = cx.base.level.is_finite();
    if !cap.applies(known) {
        return None;
    }
    // The config key the evidence names, and how the signal's values read.
    let tokens = kind == SignalKind::TokensPerMin;
    let key = if tokens {
        "tokens_per_min"
    } else {
        "cost_per_min_usd"
    };
    let fmt = |v: f64| {
        if tokens {
            format!("{} tokens", kind.format(v))
        } else {
            kind.format(v)
        }
    };
    let held = held_beyond(cx, secs, cap.line, Dir::Up)?;
    let now = *held.last()?;
    let multiple = now / cap.line;
    let what = if tokens { "tokens" } else { "cost" };
    let mut evidence = vec![format!(
        "{what} now {}/min = {} the cap {}/min, above it for all of the last {}",
        fmt(now),
        fmt_ratio(multiple),
        fmt(cap.line),
        fmt_secs(secs)
    )];
    if let Some(price) = cap.derived_from_price {
        evidence.push(format!(
            "token cap = the $ cap ÷ ${price:.2} per 1M tokens (the cheapest price of the \
             feature's models): tokens that cost less than the $ cap never reach it"
        ));
    }
    let source = cap.source(cx.feature, key);
    match cap.origin {
        Origin::Default => {
            evidence.push(format!(
                "no trailing baseline yet: the relative detector judges once it has {} of \
                 accepted history; until then {source} watches this feature",
                fmt_secs(cx.cfg.cost_trailing_secs / 2)
            ));
            evidence.push(format!(
                "if this is the feature's normal {what}, give it its own cap: \
                 [detect.caps.feature.{:?}] {key}",
                cx.feature
            ));
        }
        Origin::Feature => evidence.push(format!("ceiling set in {source}")),
    }
    let warm = if known { "" } else { ", no baseline yet" };
    Some(Finding {
        segment: None,
        sev: sev::cost_sev(multiple).unwrap_or(Sev::Sev3),
        value: now,
        baseline: cx.base.level,
        threshold: cap.line,
        summary: format!(
            "{} {}/min, above its {}/min cap{warm}",
            kind.label(),
            fmt(now),
            fmt(cap.line)
        ),
        evidence,
    })
}

/// Back under the cap's exit line (the cap scaled as the relative detector's exit line is)
/// for the hold, or the cap does not apply.
fn cap_recovered(cx: &Ctx<'_>, cap: &Cap) -> bool {
    if !cap.applies(cx.base.level.is_finite()) {
        return true;
    }
    let line = cap.line * cx.cfg.cost_exit_multiplier / cx.cfg.cost_rate_multiplier;
    held_inside(cx, cx.cfg.recover_hold_secs, line, Dir::Up)
}

/// Where a day at the recent burn would end, against a normal day.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Burn {
    /// Mean $/min over the last hour.
    pub hour_mean: f64,
    /// Minutes of that hour with data.
    pub minutes: f64,
    /// Mean $/min over the recovery hold.
    pub recent_mean: f64,
}

/// Daily cost: a day spent at the last hour's mean $/min would cost more than
/// `daily_cost_multiplier` x the previous days' average. This catches the sustained 2-3x burn
/// the rate detector lets through (it is inside the rate's band, so the rate's own baseline
/// slowly learns it) against a baseline that cannot learn it: the previous days. It looks at
/// the recent burn and not at what today already spent, so a runaway contained an hour ago
/// stops paging. It enters when both the hour and the recovery hold burn above the line, and
/// (`firing`) holds while the recovery hold's burn stays above 80% of it: the hour remembers
/// a runaway for an hour after it stopped, the last minutes do not.
///
/// Returns the line to draw on the daily signal and, when the condition holds, the finding.
pub fn daily_cost(
    sig: &Signal,
    cfg: &DetectConfig,
    burn: Option<Burn>,
    firing: bool,
) -> (Option<f64>, Option<Finding>) {
    let Some((&today, past)) = sig.points.split_last() else {
        return (None, None);
    };
    let history = tail(past, HISTORY_DAYS);
    let days = finite(history).count();
    let Some(avg) = mean(history).filter(|_| days >= MIN_HISTORY_DAYS && avg_ok(history)) else {
        return (None, None);
    };
    let threshold = avg * cfg.daily_cost_multiplier;
    // An hour mostly without data says nothing about the burn.
    let Some(burn) = burn.filter(|b| b.minutes >= 48.0 && b.hour_mean.is_finite()) else {
        return (Some(threshold), None);
    };
    // Enter when the hour and its last minutes both burn above the line; hold while the last
    // minutes stay above 80% of it.
    let mean_now = burn.recent_mean;
    let holds = if firing {
        mean_now * 1440.0 > threshold * 0.8
    } else {
        burn.hour_mean * 1440.0 > threshold && mean_now * 1440.0 > threshold
    };
    let day_at_burn = mean_now * 1440.0;
    if !(avg > 0.0 && holds) {
        return (Some(threshold), None);
    }
    let multiplier = day_at_burn / avg;
    let fmt = |v| SignalKind::DailyCost.format(v);
    let mut evidence = vec![
        format!(
            "a day at the recent burn ({}/min) costs {} = {} the previous {days} days' \
             average {}/day",
            fmt_cost(mean_now),
            fmt(day_at_burn),
            fmt_ratio(multiplier),
            fmt(avg)
        ),
        format!(
            "threshold {}/day = {} daily average",
            fmt(threshold),
            fmt_ratio(cfg.daily_cost_multiplier)
        ),
    ];
    if today.is_finite() {
        evidence.push(format!("today projected {} by the source", fmt(today)));
    }
    let finding = Finding {
        segment: None,
        sev: cost_ladder(multiplier),
        value: day_at_burn,
        baseline: avg,
        threshold,
        summary: format!(
            "burning {}/min: {} a normal day",
            fmt_cost(mean_now),
            fmt_ratio(multiplier)
        ),
        evidence,
    };
    (Some(threshold), Some(finding))
}

/// Previous days with data, all positive: a day of zero cost (the feature was off) is not a
/// normal day to compare with.
fn avg_ok(history: &[f64]) -> bool {
    finite(history).all(|v| v >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn days(today: f64) -> Signal {
        series(SignalKind::DailyCost, 86_400, 8, |i| {
            if i == 7 {
                today
            } else {
                100.0
            }
        })
    }

    fn burn(per_min: f64) -> Option<Burn> {
        Some(Burn {
            hour_mean: per_min,
            minutes: 60.0,
            recent_mean: per_min,
        })
    }

    #[test]
    fn a_day_at_the_last_hours_burn_above_twice_the_week_fires() {
        // A normal day costs $100: $0.0694/min.
        let (line, f) = daily_cost(&days(150.0), &cfg(), burn(250.0 / 1440.0), false);
        assert_eq!(line, Some(200.0));
        let f = f.expect("fires");
        assert_eq!(f.sev, Sev::Sev3);
        assert!(close(f.value, 250.0));
        assert_eq!(
            daily_cost(&days(150.0), &cfg(), burn(1500.0 / 1440.0), false)
                .1
                .map(|f| f.sev),
            Some(Sev::Sev2)
        );
        assert_eq!(
            daily_cost(&days(150.0), &cfg(), burn(10_500.0 / 1440.0), false)
                .1
                .map(|f| f.sev),
            Some(Sev::Sev1)
        );
    }

    #[test]
    fn spent_money_alone_does_not_fire_and_firing_leaves_below_eighty_percent() {
        // Today already cost 9x, but the last hour burned at a normal rate: contained.
        assert_eq!(
            daily_cost(&days(900.0), &cfg(), burn(100.0 / 1440.0), false).1,
            None
        );
        // 190/day: under the line to enter, over 80% of it to stay.
        assert_eq!(
            daily_cost(&days(100.0), &cfg(), burn(190.0 / 1440.0), false).1,
            None
        );
        assert!(daily_cost(&days(100.0), &cfg(), burn(190.0 / 1440.0), true)
            .1
            .is_some());
        // An hour mostly without data.
        let sparse = Some(Burn {
            hour_mean: 1.0,
            minutes: 20.0,
            recent_mean: 1.0,
        });
        // Firing, the hour still remembers the runaway, but the last minutes burn normally.
        let stopped = Some(Burn {
            hour_mean: 400.0 / 1440.0,
            minutes: 60.0,
            recent_mean: 100.0 / 1440.0,
        });
        assert_eq!(daily_cost(&days(100.0), &cfg(), stopped, true).1, None);
        assert_eq!(daily_cost(&days(100.0), &cfg(), sparse, false).1, None);
        // Two days of history are not a baseline.
        let short = series(SignalKind::DailyCost, 86_400, 3, |_| 100.0);
        assert_eq!(daily_cost(&short, &cfg(), burn(1.0), false), (None, None));
        let empty = series(SignalKind::DailyCost, 86_400, 0, |_| 0.0);
        assert_eq!(daily_cost(&empty, &cfg(), burn(1.0), false), (None, None));
    }
}
