//! What a detector remembers of one signal: the recent points it judges, and the baseline it
//! judges them against.
//!
//! Points arrive by timestamp. They are folded into one-minute blocks (or one block per step,
//! when steps are longer). A finished block waits in quarantine before it may enter the
//! baseline, and it never does if, in the meantime, the signal left its band or an incident on
//! it opened: the minutes before a detection are usually the start of the anomaly, and an
//! anomaly that enters its own baseline hides itself. While an incident is open nothing is
//! admitted at all, so the band a responder sees stays the pre-incident one until the incident
//! is resolved.

use super::stats::{median, robust_sd};
use std::collections::VecDeque;

/// One point of a signal with the counts behind it (NaN counts when the source has none).
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// End of the step the point describes, unix seconds.
    pub t: i64,
    pub value: f64,
    pub events: f64,
    pub trials: f64,
    /// (events, trials) per segment, indexed like `Memory::segments`.
    pub segs: Vec<(f64, f64)>,
}

impl Sample {
    /// A step with requests behind it; a step with zero trials is "no traffic", which says
    /// nothing about normal (a feature switched off is not a new baseline).
    fn has_traffic(&self) -> bool {
        !(self.trials.is_finite() && self.trials <= 0.0)
    }
}

/// Points of one block of time, summed.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub start: i64,
    pub secs: i64,
    sum: f64,
    n: u32,
    pub events: f64,
    pub trials: f64,
    pub segs: Vec<(f64, f64)>,
}

impl Block {
    fn new(start: i64, secs: i64, segments: usize) -> Self {
        Block {
            start,
            secs,
            sum: 0.0,
            n: 0,
            events: 0.0,
            trials: 0.0,
            segs: vec![(0.0, 0.0); segments],
        }
    }

    fn add(&mut self, s: &Sample) {
        if s.value.is_finite() {
            self.sum += s.value;
            self.n += 1;
        }
        if s.events.is_finite() && s.trials.is_finite() {
            self.events += s.events;
            self.trials += s.trials;
        }
        if self.segs.len() < s.segs.len() {
            self.segs.resize(s.segs.len(), (0.0, 0.0));
        }
        for (acc, (e, n)) in self.segs.iter_mut().zip(&s.segs) {
            if e.is_finite() && n.is_finite() {
                acc.0 += e;
                acc.1 += n;
            }
        }
    }

    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            f64::NAN
        } else {
            self.sum / f64::from(self.n)
        }
    }
}

/// One segment's share of a baseline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SegmentBase {
    pub rate: f64,
    /// Trials per second.
    pub volume: f64,
    /// Events and trials behind `rate`.
    pub events: f64,
    pub trials: f64,
}

/// A baseline as the detectors use it and the responder sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Baseline {
    /// Median of the blocks' mean values.
    pub level: f64,
    /// Robust standard deviation of the blocks' means (MAD x 1.4826).
    pub spread: f64,
    /// Pooled rate events / trials over the blocks, outlier blocks trimmed; NaN without counts.
    pub rate: f64,
    /// Median trials per second; NaN without counts.
    pub volume: f64,
    /// Events and trials behind `rate`: its relative standard error is 1 / sqrt(events).
    pub rate_events: f64,
    pub rate_trials: f64,
    /// Per segment.
    pub segs: Vec<SegmentBase>,
    /// Seconds of accepted history behind the figures.
    pub covered_secs: i64,
}

/// Blocks with fewer trials than this say little about a rate on their own; they are merged
/// with their neighbours before the outlier trim.
const TRIM_MIN_TRIALS: f64 = 200.0;

/// Pooled events / trials over blocks, leaving out groups whose rate is far from the median
/// group: robust to a stretch the exclusion rules missed, without the downward bias a median
/// of small-count rates has.
fn trimmed_rate(pairs: &[(f64, f64)]) -> (f64, f64, f64) {
    let mut groups: Vec<(f64, f64)> = Vec::new();
    let mut acc = (0.0, 0.0);
    for &(e, n) in pairs {
        acc.0 += e;
        acc.1 += n;
        if acc.1 >= TRIM_MIN_TRIALS {
            groups.push(acc);
            acc = (0.0, 0.0);
        }
    }
    if acc.1 > 0.0 {
        groups.push(acc);
    }
    let total: (f64, f64) = groups
        .iter()
        .fold((0.0, 0.0), |a, g| (a.0 + g.0, a.1 + g.1));
    if total.1 <= 0.0 {
        return (f64::NAN, 0.0, 0.0);
    }
    if groups.len() < 3 {
        return (total.0 / total.1, total.0, total.1);
    }
    let rates: Vec<f64> = groups.iter().map(|(e, n)| e / n).collect();
    let Some(mid) = median(&rates) else {
        return (total.0 / total.1, total.0, total.1);
    };
    let kept = groups.iter().filter(|(e, n)| {
        // Five Poisson standard deviations of this group's count around the median rate,
        // plus a relative slack so large groups are not trimmed for real, small variation.
        let expected = mid * n;
        (e - expected).abs() <= 5.0 * expected.max(1.0).sqrt() + 0.25 * expected
    });
    let (e, n) = kept.fold((0.0, 0.0), |a, g| (a.0 + g.0, a.1 + g.1));
    if n > 0.0 {
        (e / n, e, n)
    } else {
        (total.0 / total.1, total.0, total.1)
    }
}

impl Baseline {
    /// No history: what rules with absolute thresholds are judged against before there is one.
    pub fn unknown() -> Self {
        Baseline {
            level: f64::NAN,
            spread: f64::NAN,
            rate: f64::NAN,
            rate_events: 0.0,
            rate_trials: 0.0,
            volume: f64::NAN,
            segs: Vec::new(),
            covered_secs: 0,
        }
    }

    fn from_blocks<'a>(blocks: impl Iterator<Item = &'a Block> + Clone, segments: usize) -> Self {
        let means: Vec<f64> = blocks.clone().map(Block::mean).collect();
        let covered_secs = blocks.clone().map(|b| b.secs).sum();
        let pairs: Vec<(f64, f64)> = blocks.clone().map(|b| (b.events, b.trials)).collect();
        let has_counts = pairs.iter().any(|(_, n)| *n > 0.0);
        let per_sec = |n: f64, secs: i64| n / secs.max(1) as f64;
        let volumes: Vec<f64> = blocks.clone().map(|b| per_sec(b.trials, b.secs)).collect();
        let segs = (0..segments)
            .map(|i| {
                let pairs: Vec<(f64, f64)> = blocks
                    .clone()
                    .map(|b| b.segs.get(i).copied().unwrap_or((0.0, 0.0)))
                    .collect();
                let vols: Vec<f64> = blocks
                    .clone()
                    .map(|b| per_sec(b.segs.get(i).map_or(0.0, |s| s.1), b.secs))
                    .collect();
                let (rate, events, trials) = trimmed_rate(&pairs);
                SegmentBase {
                    rate,
                    volume: median(&vols).unwrap_or(f64::NAN),
                    events,
                    trials,
                }
            })
            .collect();
        let (rate, rate_events, rate_trials) = if has_counts {
            trimmed_rate(&pairs)
        } else {
            (f64::NAN, 0.0, 0.0)
        };
        Baseline {
            level: median(&means).unwrap_or(f64::NAN),
            spread: robust_sd(&means).unwrap_or(f64::NAN),
            rate,
            rate_events,
            rate_trials,
            volume: if has_counts {
                median(&volumes).unwrap_or(f64::NAN)
            } else {
                f64::NAN
            },
            segs,
            covered_secs,
        }
    }
}

/// The recent points and the accepted baseline of one signal.
#[derive(Clone, Debug)]
pub struct Memory {
    pub step: i64,
    block_secs: i64,
    /// Newest point seen; older or equal timestamps are ignored (a re-fetched window).
    pub last_t: Option<i64>,
    /// Points of the last `keep_secs`, oldest first.
    pub recent: VecDeque<Sample>,
    keep_secs: i64,
    open: Option<Block>,
    /// Whether the open block saw the signal outside its band.
    open_tainted: bool,
    /// Whether the open block saw the signal outside its band at all, tainting or not.
    open_outside: bool,
    /// Since when every block has seen the signal outside its band.
    outside_since: Option<i64>,
    quarantine: VecDeque<Block>,
    quarantine_secs: i64,
    history: VecDeque<Block>,
    /// Seconds of accepted history kept (the longest baseline window the rule uses).
    history_secs: i64,
    baseline: Option<Baseline>,
    pub segments: Vec<String>,
}

impl Memory {
    pub fn new(step_secs: u32, keep_secs: u64, history_secs: u64, quarantine_secs: u64) -> Self {
        let step = i64::from(step_secs.max(1));
        Memory {
            step,
            block_secs: step.max(60),
            last_t: None,
            recent: VecDeque::new(),
            keep_secs: i64::try_from(keep_secs).unwrap_or(i64::MAX / 4).max(step),
            open: None,
            open_tainted: false,
            open_outside: false,
            outside_since: None,
            quarantine: VecDeque::new(),
            quarantine_secs: i64::try_from(quarantine_secs).unwrap_or(i64::MAX / 4),
            history: VecDeque::new(),
            history_secs: i64::try_from(history_secs).unwrap_or(i64::MAX / 4),
            baseline: None,
            segments: Vec::new(),
        }
    }

    /// The index of a segment's counts in samples, registering a new name.
    pub fn segment_index(&mut self, name: &str) -> usize {
        match self.segments.iter().position(|s| s == name) {
            Some(i) => i,
            None => {
                self.segments.push(name.to_string());
                self.segments.len() - 1
            }
        }
    }

    /// Takes one new point. `blocked`: an incident on this signal is open, so nothing may
    /// enter the baseline.
    pub fn push(&mut self, s: Sample, blocked: bool) {
        let t = s.t;
        self.last_t = Some(t);
        let start = (t - 1).div_euclid(self.block_secs) * self.block_secs;
        if self.open.as_ref().is_some_and(|b| b.start != start) {
            self.close_block(blocked);
        }
        let open = self
            .open
            .get_or_insert_with(|| Block::new(start, self.block_secs, s.segs.len()));
        if s.has_traffic() {
            open.add(&s);
        }
        // A block that saw a blocked moment never enters, even if it closes after.
        self.open_tainted |= blocked;
        self.recent.push_back(s);
        while self
            .recent
            .front()
            .is_some_and(|f| f.t <= t - self.keep_secs)
        {
            self.recent.pop_front();
        }
        self.release(t, blocked);
    }

    fn close_block(&mut self, blocked: bool) {
        let Some(block) = self.open.take() else {
            return;
        };
        let tainted = std::mem::take(&mut self.open_tainted);
        if !std::mem::take(&mut self.open_outside) {
            self.outside_since = None;
        }
        let empty = block.n == 0 && block.trials <= 0.0;
        if !(blocked || tainted || empty) {
            self.quarantine.push_back(block);
        }
    }

    /// Admits the blocks that have waited out their quarantine.
    fn release(&mut self, now: i64, blocked: bool) {
        if blocked {
            self.quarantine.clear();
            return;
        }
        let mut changed = false;
        while self
            .quarantine
            .front()
            .is_some_and(|b| b.start + b.secs + self.quarantine_secs <= now)
        {
            if let Some(b) = self.quarantine.pop_front() {
                self.history.push_back(b);
                changed = true;
            }
        }
        let cap = (self.history_secs / self.block_secs).max(1) as usize;
        while self.history.len() > cap {
            self.history.pop_front();
            changed = true;
        }
        if changed {
            self.baseline = None;
        }
    }

    /// An episode opened or fires: the waiting blocks are probably the start of it and never
    /// enter the baseline.
    pub fn disturb(&mut self) {
        self.quarantine.clear();
        self.open_tainted = true;
    }

    /// The newest point is outside the band without an incident: kept out of the baseline like
    /// a disturbance, unless the signal has stayed out for longer than twice the baseline
    /// window. Then the old baseline describes a world that is gone (a launch doubled the
    /// traffic for good), and refusing the new normal forever would freeze it.
    pub fn outside(&mut self, now: i64) {
        self.open_outside = true;
        let since = *self.outside_since.get_or_insert(now);
        if now - since <= 2 * self.history_secs {
            self.disturb();
        }
    }

    /// The baseline from the newest `secs` of accepted history, `None` when less than
    /// `min_share` of that window is covered.
    pub fn baseline(&mut self, secs: u64, min_share: f64) -> Option<Baseline> {
        let want = i64::try_from(secs).unwrap_or(i64::MAX / 4);
        let n = (want / self.block_secs).max(1) as usize;
        let segments = self.segments.len();
        let cached = self
            .baseline
            .get_or_insert_with(|| {
                let take = self.history.len().saturating_sub(n);
                Baseline::from_blocks(self.history.iter().skip(take), segments)
            })
            .clone();
        // The cache holds the newest `n` blocks of the one window a rule asks for.
        (cached.covered_secs as f64 + 1e-9 >= min_share * want as f64).then_some(cached)
    }

    /// Points of the last `secs` (those with t > now - secs).
    pub fn window(&self, now: i64, secs: u64) -> impl DoubleEndedIterator<Item = &Sample> + Clone {
        let from = now - i64::try_from(secs).unwrap_or(i64::MAX / 4);
        // Points are in time order: skip the old ones without looking at each.
        let start = self.recent.partition_point(|s| s.t <= from);
        self.recent.range(start..).filter(move |s| s.t <= now)
    }

    /// Nominal number of points in `secs`.
    pub fn points_in(&self, secs: u64) -> usize {
        let step = u64::try_from(self.step).unwrap_or(1).max(1);
        usize::try_from(secs.div_ceil(step).max(1)).unwrap_or(usize::MAX)
    }

    /// (events, trials) summed over the last `secs`, for the feature (`None`) or a segment.
    pub fn counts(&self, now: i64, secs: u64, segment: Option<usize>) -> (f64, f64) {
        self.counts_between(
            now - i64::try_from(secs).unwrap_or(i64::MAX / 4),
            now,
            segment,
        )
    }

    /// (events, trials) of the points with `from < t <= to`.
    pub fn counts_between(&self, from: i64, to: i64, segment: Option<usize>) -> (f64, f64) {
        let start = self.recent.partition_point(|s| s.t <= from);
        self.recent
            .range(start..)
            .filter(|s| s.t <= to)
            .map(|s| match segment {
                None => (s.events, s.trials),
                Some(i) => s.segs.get(i).copied().unwrap_or((f64::NAN, f64::NAN)),
            })
            .filter(|(e, n)| e.is_finite() && n.is_finite())
            .fold((0.0, 0.0), |a, (e, n)| (a.0 + e, a.1 + n))
    }

    /// Whether the newest points carry counts at all.
    pub fn has_counts(&self) -> bool {
        self.recent
            .back()
            .is_some_and(|s| s.trials.is_finite() && s.events.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: i64, v: f64) -> Sample {
        Sample {
            t,
            value: v,
            events: f64::NAN,
            trials: f64::NAN,
            segs: vec![],
        }
    }

    #[test]
    fn blocks_enter_the_baseline_only_after_quarantine() {
        let mut m = Memory::new(10, 600, 3600, 600);
        for i in 1..=60 {
            m.push(sample(i * 10, 1.0), false);
        }
        // Ten minutes of blocks, none older than the 10-minute quarantine yet.
        assert_eq!(m.baseline(3600, 0.0).map(|b| b.covered_secs), Some(0));
        for i in 61..=180 {
            m.push(sample(i * 10, 1.0), false);
        }
        let b = m.baseline(3600, 0.0).expect("baseline");
        assert_eq!(b.covered_secs, 1200);
        assert_eq!(b.level, 1.0);
    }

    #[test]
    fn a_disturbance_drops_the_waiting_blocks_and_a_block_blocks_nothing_enters() {
        let mut m = Memory::new(10, 600, 3600, 600);
        for i in 1..=120 {
            m.push(sample(i * 10, 1.0), false);
        }
        m.outside(1200);
        for i in 121..=240 {
            m.push(sample(i * 10, 1.0), true);
        }
        for i in 241..=300 {
            m.push(sample(i * 10, 1.0), false);
        }
        // Minutes 0-9 had left quarantine before the disturbance; 10-19 were dropped by it,
        // 20-39 arrived blocked, and 40-49 are still waiting.
        let b = m.baseline(3600, 0.0).expect("baseline");
        assert_eq!(b.covered_secs, 600);
    }

    #[test]
    fn a_signal_out_of_band_for_longer_than_twice_the_window_becomes_the_new_normal() {
        let mut m = Memory::new(60, 600, 600, 60);
        for i in 1..=40 {
            m.push(sample(i * 60, 1.0), false);
        }
        // From minute 40 on, every point is outside: nothing enters for 20 minutes...
        for i in 41..=60 {
            m.outside(i * 60);
            m.push(sample(i * 60, 5.0), false);
        }
        assert_eq!(m.baseline(600, 0.0).map(|b| b.level), Some(1.0));
        // ...then the new level is accepted.
        for i in 61..=90 {
            m.outside(i * 60);
            m.push(sample(i * 60, 5.0), false);
        }
        assert_eq!(m.baseline(600, 0.0).map(|b| b.level), Some(5.0));
    }

    #[test]
    fn rates_pool_counts_and_trim_outlier_groups() {
        let pairs: Vec<(f64, f64)> = (0..20)
            .map(|i| {
                if i == 7 {
                    (150.0, 300.0)
                } else {
                    (18.0, 300.0)
                }
            })
            .collect();
        let (r, events, trials) = trimmed_rate(&pairs);
        assert!((r - 0.06).abs() < 1e-9, "{r}");
        assert!((events - 18.0 * 19.0).abs() < 1e-9);
        assert!((trials - 300.0 * 19.0).abs() < 1e-9);
        // Small groups are merged before judging: 1 refusal in 20 per block is 5%.
        let small: Vec<(f64, f64)> = (0..100).map(|i| ((i % 2) as f64, 10.0)).collect();
        assert!((trimmed_rate(&small).0 - 0.05).abs() < 1e-9);
        assert!(trimmed_rate(&[]).0.is_nan());
    }
}
