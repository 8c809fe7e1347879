//! Quality failures that return 200 OK: refusal rate off its baseline either way, output drift,
//! eval regression, retrieval degradation.
//!
//! Rates are judged with their counts when the source sends them: a refusal rate of 0.9%
//! means nothing on its own. The question is whether *this few* refusals out of *this many*
//! answers could come from the baseline rate (an exact Poisson tail, against
//! `count_p_value`), and whether the rate moved far enough to matter (the band). Both must
//! hold. Small samples therefore stay quiet, and a ratio that fell because its denominator
//! surged (an agent loop flooding a feature with requests nobody would refuse) is judged on
//! the answers normal traffic would have produced: the refusals that are still there are as
//! many as ever, so no guardrail moved.

use super::memory::Baseline;
use super::rule::{fmt_p, held_beyond, held_inside, values, Band, Ctx, Dir, Finding, Rule};
use super::stats::{
    finite, g_test, mean, poisson_at_least, poisson_at_most, positive, predictive_at_least,
    predictive_at_most, psi, total_variation,
};
use super::{fmt_ratio, fmt_secs, fmt_share, sev, DetectConfig};
use crate::domain::{Distribution, IncidentType, SignalKind};

/// Below a 1% refusal baseline a drop is not measurable: halving 0.2% is noise, not a bypass.
const MIN_MEASURABLE_REFUSALS: f64 = 0.01;
/// Windows over which counts are tested: a strong change shows in one minute, a weaker one
/// needs more answers behind it (up to `count_window_secs`).
const COUNT_WINDOWS: [u64; 7] = [60, 90, 120, 180, 300, 600, 900];
/// A stream whose baseline predicts fewer events than this over the recovery hold cannot
/// show that it is back to normal, either way; recovery is judged on the others.
const MIN_INFORMATIVE: f64 = 5.0;
/// Looser significance for "outside the band" (keeping a minute out of the baseline) and for
/// "still off" when judging recovery: cheap to be wrong about, so catch more.
const LOOSE_P: f64 = 1e-3;

fn fmt_rate(v: f64) -> String {
    SignalKind::RefusalRate.format(v)
}

/// One stream of counts: the whole feature or one segment, with its own baseline.
struct Stream<'a> {
    name: Option<&'a str>,
    index: Option<usize>,
    rate: f64,
    /// Trials per second in normal times; NaN when unknown.
    volume: f64,
    /// Events and trials behind `rate` in the baseline: the rate is an estimate, and the
    /// tests widen their tails by how thin it is.
    events: f64,
    trials: f64,
}

impl Stream<'_> {
    /// How surprising `k` events in `trials` are in direction `dir`, given that the baseline
    /// rate itself rests on a finite count (negative binomial, not Poisson: a rate from a few
    /// hundred events is a few percent off, which matters for windows that are not small).
    fn p_value(&self, dir: Dir, k: f64, trials: f64) -> f64 {
        if self.trials > 0.0 {
            match dir {
                Dir::Down => predictive_at_most(k, trials, self.events, self.trials),
                Dir::Up => predictive_at_least(k, trials, self.events, self.trials),
            }
        } else {
            match dir {
                Dir::Down => poisson_at_most(k, self.rate * trials),
                Dir::Up => poisson_at_least(k, self.rate * trials),
            }
        }
    }
}

fn streams<'a>(cx: &'a Ctx<'a>) -> Vec<Stream<'a>> {
    let mut out = vec![Stream {
        name: None,
        index: None,
        rate: cx.base.rate,
        volume: cx.base.volume,
        events: cx.base.rate_events,
        trials: cx.base.rate_trials,
    }];
    for (i, name) in cx.mem.segments.iter().enumerate() {
        if let Some(b) = cx.base.segs.get(i) {
            out.push(Stream {
                name: Some(name),
                index: Some(i),
                rate: b.rate,
                volume: b.volume,
                events: b.events,
                trials: b.trials,
            });
        }
    }
    out
}

/// A count test that came out significant.
struct CountBreach {
    stream: Option<String>,
    window: u64,
    events: f64,
    trials: f64,
    expected: f64,
    p: f64,
    /// The trials judged against: fewer than counted when volume surged.
    judged: f64,
}

/// The trials a count is judged against. Normally all of them; for a drop, at most what
/// normal traffic would have brought (its usual volume, less the share failing right now):
/// extra requests nobody would refuse cannot hide refusals, and refusals that are missing
/// because requests failed are not a bypass.
fn judged_trials(cx: &Ctx<'_>, s: &Stream<'_>, dir: Dir, w: u64, n: f64, surge_aware: bool) -> f64 {
    let normal = s.volume * w as f64 * cx.answered_share(w);
    if surge_aware && dir == Dir::Down && normal.is_finite() && normal > 0.0 {
        n.min(normal)
    } else {
        n
    }
}

/// Back on the normal side of `line` over the hold, shown by every stream with enough
/// traffic to show anything (the segment that raised the incident among them), and no stream
/// still significantly off: recovery must be seen, not merely not contradicted. Rises are
/// judged on the smaller denominator too, so a flood of requests nobody refuses cannot dilute
/// an over-refusal into looking normal.
fn recovered_counted(
    cx: &Ctx<'_>,
    dir: Dir,
    hold: u64,
    surge_aware: bool,
    line: impl Fn(f64) -> f64,
) -> bool {
    let mut shown = false;
    for s in streams(cx) {
        if !s.rate.is_finite() {
            continue;
        }
        let (k, n) = cx.mem.counts(cx.now, hold, s.index);
        let is_trigger = s.name.is_some() && s.name == cx.trigger;
        if n <= 0.0 {
            continue;
        }
        let judged = judged_trials(cx, &s, Dir::Down, hold, n, surge_aware || dir == Dir::Up);
        if s.rate * judged < MIN_INFORMATIVE {
            if is_trigger {
                // The segment that raised it has too little traffic to show it is over.
                return false;
            }
            continue;
        }
        shown = true;
        let back = match dir {
            Dir::Down => k / judged >= line(s.rate),
            Dir::Up => k / n <= line(s.rate) && k / judged <= line(s.rate),
        };
        if !back {
            return false;
        }
    }
    shown && count_breach(cx, dir, hold, LOOSE_P, surge_aware, line).is_none()
}

/// The strongest significant departure in direction `dir`, over every stream and window up to
/// `max_window`: the band line from `line(rate)` and a p-value below `p_max` must both hold.
fn count_breach(
    cx: &Ctx<'_>,
    dir: Dir,
    max_window: u64,
    p_max: f64,
    surge_aware: bool,
    line: impl Fn(f64) -> f64,
) -> Option<CountBreach> {
    let mut best: Option<CountBreach> = None;
    for s in streams(cx) {
        if !(s.rate.is_finite()) || (dir == Dir::Down && s.rate <= 0.0) {
            continue;
        }
        for &w in COUNT_WINDOWS.iter().filter(|w| **w <= max_window.max(60)) {
            let (k, n) = cx.mem.counts(cx.now, w, s.index);
            if n <= 0.0 {
                continue;
            }
            // A surge of extra traffic cannot hide refusals that normal traffic would have
            // produced: judge against the smaller of what came and what normally comes.
            let judged = judged_trials(cx, &s, dir, w, n, surge_aware);
            let expected = s.rate * judged;
            let observed = k / judged;
            let beyond = match dir {
                Dir::Down => observed < line(s.rate),
                Dir::Up => observed > line(s.rate),
            };
            let p = s.p_value(dir, k, judged);
            if beyond && p < p_max && best.as_ref().is_none_or(|b| p < b.p) {
                best = Some(CountBreach {
                    stream: s.name.map(str::to_string),
                    window: w,
                    events: k,
                    trials: n,
                    expected,
                    p,
                    judged,
                });
            }
        }
    }
    best
}

/// More than twice the usual trials, beyond chance: whatever the ratio does now, it is not
/// the feature's normal and must not become its baseline (a loop's tool calls would teach it
/// a refusal rate diluted by requests nobody refuses).
fn volume_surged(cx: &Ctx<'_>, secs: u64) -> bool {
    let (_, n) = cx.mem.counts(cx.now, secs, None);
    let normal = cx.base.volume * secs as f64;
    normal.is_finite() && normal > 0.0 && n > 2.0 * normal && poisson_at_least(n, normal) < LOOSE_P
}

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

    fn base_rate(b: &Baseline) -> f64 {
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
        if (vals.len() as f64) + 1e-9 < super::rule::MIN_COVERAGE * n as f64 {
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

    fn band(&self, base: &Baseline, cfg: &DetectConfig) -> Band {
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
        let band = self.band(cx.base, cfg);
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

/// How the output categories moved, from the source's distribution when it sent one.
struct Shift {
    psi: f64,
    tv: f64,
    /// Sampling noise of `tv`: a window of a few hundred answers differs from the reference
    /// by a few points of traffic by chance alone.
    tv_noise: f64,
    largest: Option<String>,
}

fn shift(dist: &Distribution) -> Shift {
    let n: f64 = finite(&dist.current).filter(|v| *v > 0.0).sum();
    let tv_noise = if n > 0.0 {
        0.5 * dist
            .current
            .iter()
            .filter(|c| c.is_finite() && **c > 0.0)
            .map(|c| {
                let p = c / n;
                (p * (1.0 - p) / n).sqrt()
            })
            .sum::<f64>()
    } else {
        f64::NAN
    };
    Shift {
        psi: psi(&dist.baseline, &dist.current),
        tv: total_variation(&dist.baseline, &dist.current),
        tv_noise,
        largest: largest_move(dist),
    }
}

/// The category whose share moved most, "'code' 12.0% → 31.0%", so the responder sees *what*
/// the feature now produces instead of a bare distance.
fn largest_move(dist: &Distribution) -> Option<String> {
    let shares = |xs: &[f64]| -> Option<Vec<f64>> {
        let sum: f64 = finite(xs).filter(|v| *v > 0.0).sum();
        (sum > 0.0).then(|| {
            xs.iter()
                .map(|v| {
                    if v.is_finite() && *v > 0.0 {
                        v / sum
                    } else {
                        0.0
                    }
                })
                .collect()
        })
    };
    let (b, c) = (shares(&dist.baseline)?, shares(&dist.current)?);
    let at = |v: &[f64], i: usize| v.get(i).copied().unwrap_or(0.0);
    let (i, name) = dist
        .categories
        .iter()
        .enumerate()
        .max_by(|(i, _), (j, _)| {
            let di = (at(&c, *i) - at(&b, *i)).abs();
            let dj = (at(&c, *j) - at(&b, *j)).abs();
            di.total_cmp(&dj)
        })?;
    Some(format!(
        "largest shift: '{name}' {} → {}",
        fmt_share(at(&b, i)),
        fmt_share(at(&c, i))
    ))
}

/// Output drift: the JS distance the source computed against its reference distribution,
/// averaged over `drift_window_secs`, above `drift_js`; back below `drift_exit_js` for the
/// recovery hold to recover. The share of traffic that moved (total variation) sets the SEV
/// when the source also sent the category distribution.
pub struct Drift;

impl Rule for Drift {
    fn conditions(&self) -> &'static [(Dir, IncidentType)] {
        &[(Dir::Up, IncidentType::CapabilityDrift)]
    }

    fn keep_secs(&self, cfg: &DetectConfig) -> u64 {
        cfg.drift_window_secs.max(cfg.recover_hold_secs) + 60
    }

    fn needs_baseline(&self) -> bool {
        false
    }

    fn band(&self, _base: &Baseline, cfg: &DetectConfig) -> Band {
        Band {
            low: None,
            high: Some(cfg.drift_js),
        }
    }

    fn outside(&self, cx: &Ctx<'_>) -> bool {
        cx.mem
            .recent
            .back()
            .is_some_and(|s| s.value > cx.cfg.drift_js)
    }

    fn enter(&self, _dir: Dir, cx: &Ctx<'_>) -> Option<Finding> {
        let threshold = cx.cfg.drift_js;
        let (vals, n) = values(cx, cx.cfg.drift_window_secs);
        if (vals.len() as f64) + 1e-9 < super::rule::MIN_COVERAGE * n as f64 {
            return None;
        }
        let now = mean(&vals).filter(|v| *v > threshold)?;
        // A distance from a few dozen answers is mostly sampling noise (90 answers over four
        // categories read JS 0.08 on average and 0.18 one time in a thousand): the counts must
        // also differ from the reference beyond chance.
        let p = cx
            .dist
            .map_or(f64::NAN, |d| g_test(&d.baseline, &d.current));
        if p.is_finite() && p >= cx.cfg.count_p_value {
            return None;
        }
        let fmt = |v| SignalKind::Drift.format(v);
        let shift = cx.dist.map(shift);
        let tv = shift.as_ref().map_or(f64::NAN, |s| s.tv);
        // The ladder reads the share that surely moved, not the noise on top of it.
        let moved = shift
            .as_ref()
            .map_or(f64::NAN, |s| (s.tv - s.tv_noise.max(0.0)).max(0.0));
        let mut summary = format!("output drift JS {} > {}", fmt(now), fmt(threshold));
        if tv.is_finite() {
            summary.push_str(&format!(", {} of traffic shifted", fmt_share(tv)));
        }
        let mut evidence = vec![format!(
            "JS distance {} (mean of the last {}), threshold {}",
            fmt(now),
            fmt_secs(cx.cfg.drift_window_secs),
            fmt(threshold)
        )];
        if p.is_finite() {
            let n: f64 = cx
                .dist
                .map_or(0.0, |d| finite(&d.current).filter(|v| *v > 0.0).sum());
            evidence.push(format!(
                "{n:.0} answers in the current window differ from the reference beyond chance ({})",
                fmt_p(p)
            ));
        }
        match &shift {
            Some(s) if s.psi.is_finite() => {
                evidence.push(format!(
                    "PSI {:.3}, total variation {} (±{} sampling noise)",
                    s.psi,
                    fmt_share(s.tv),
                    fmt_share(s.tv_noise)
                ));
                evidence.extend(s.largest.clone());
            }
            _ => evidence.push("no category distribution from the source: PSI unavailable".into()),
        }
        Some(Finding {
            segment: None,
            sev: sev::quality_sev(moved),
            value: now,
            // Distance from the baseline distribution to itself.
            baseline: 0.0,
            threshold,
            summary,
            evidence,
        })
    }

    fn recovered(&self, _dir: Dir, cx: &Ctx<'_>) -> bool {
        held_inside(cx, cx.cfg.recover_hold_secs, cx.cfg.drift_exit_js, Dir::Up)
    }
}

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

    fn band(&self, base: &Baseline, cfg: &DetectConfig) -> Band {
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
        let mut summary = format!("eval score {} < {}", fmt(now), fmt(cfg.eval_min));
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

    fn band(&self, base: &Baseline, cfg: &DetectConfig) -> Band {
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
        if (vals.len() as f64) + 1e-9 < super::rule::MIN_COVERAGE * n as f64 {
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
