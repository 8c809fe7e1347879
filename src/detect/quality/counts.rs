//! Counted rates: whether this few (or this many) events out of this many trials could come
//! from the baseline rate, per stream (the feature and each segment) and window.

use crate::detect::rule::{Ctx, Dir};
use crate::detect::stats::{
    poisson_at_least, poisson_at_most, predictive_at_least, predictive_at_most,
};
use crate::domain::SignalKind;

/// Windows over which counts are tested: a strong change shows in one minute, a weaker one
/// needs more answers behind it (up to `count_window_secs`).
const COUNT_WINDOWS: [u64; 7] = [60, 90, 120, 180, 300, 600, 900];
/// A stream whose baseline predicts fewer events than this over the recovery hold cannot
/// show that it is back to normal, either way; recovery is judged on the others.
const MIN_INFORMATIVE: f64 = 5.0;
/// Looser significance for "outside the band" (keeping a minute out of the baseline) and for
/// "still off" when judging recovery: cheap to be wrong about, so catch more.
pub(super) const LOOSE_P: f64 = 1e-3;

pub(super) fn fmt_rate(v: f64) -> String {
    SignalKind::RefusalRate.format(v)
}

/// One stream of counts: the whole feature or one segment, with its own baseline.
pub(super) struct Stream<'a> {
    pub(super) name: Option<&'a str>,
    pub(super) index: Option<usize>,
    pub(super) rate: f64,
    /// Trials per second in normal times; NaN when unknown.
    pub(super) volume: f64,
    /// Events and trials behind `rate` in the baseline: the rate is an estimate, and the
    /// tests widen their tails by how thin it is.
    pub(super) events: f64,
    pub(super) trials: f64,
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

pub(super) fn streams<'a>(cx: &'a Ctx<'a>) -> Vec<Stream<'a>> {
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
pub(super) struct CountBreach {
    pub(super) stream: Option<String>,
    pub(super) window: u64,
    pub(super) events: f64,
    pub(super) trials: f64,
    pub(super) expected: f64,
    pub(super) p: f64,
    /// The trials judged against: fewer than counted when volume surged.
    pub(super) judged: f64,
}

/// The trials a count is judged against. Normally all of them; for a drop, at most what
/// normal traffic would have brought (its usual volume, less the share failing right now):
/// extra requests nobody would refuse cannot hide refusals, and refusals that are missing
/// because requests failed are not a bypass.
pub(super) fn judged_trials(
    cx: &Ctx<'_>,
    s: &Stream<'_>,
    dir: Dir,
    w: u64,
    n: f64,
    surge_aware: bool,
) -> f64 {
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
pub(super) fn recovered_counted(
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
pub(super) fn count_breach(
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
pub(super) fn volume_surged(cx: &Ctx<'_>, secs: u64) -> bool {
    let (_, n) = cx.mem.counts(cx.now, secs, None);
    let normal = cx.base.volume * secs as f64;
    normal.is_finite() && normal > 0.0 && n > 2.0 * normal && poisson_at_least(n, normal) < LOOSE_P
}
