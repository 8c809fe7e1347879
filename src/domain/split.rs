//! Who a feature's traffic comes from, per user segment or tenant, over one window: what
//! choosing a kill-switch scope rests on. Two readings side by side, each saying where it
//! comes from:
//! - the signals' per-segment counts (the fleet; Prometheus with `segment_label`): requests
//!   and dollars per minute, each segment's share of the spend, its refusal rate;
//! - the samples of the window (the fleet; span attributes): how many were refused or
//!   flagged (jailbroken, hallucinated…) per segment, and the users spending most tokens.

use super::sample::Sample;
use super::{Signal, SignalKind, SignalSet};
use chrono::{DateTime, Utc};

/// From, to (excluded).
pub type Span = (DateTime<Utc>, DateTime<Utc>);

/// One segment of the feature over the window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SegmentRow {
    pub segment: String,
    /// From the signals; `None` where they do not split by segment or have no slot in the
    /// window.
    pub requests_per_min: Option<f64>,
    pub cost_per_min: Option<f64>,
    /// Of the feature's spend in the window, 0..1.
    pub spend_share: Option<f64>,
    pub refusal_rate: Option<f64>,
    /// From the window's samples.
    pub samples: usize,
    pub refused: usize,
    /// Labelled by an evaluator or the fleet (jailbroken, hallucinated, agent-loop…).
    pub flagged: usize,
}

impl SegmentRow {
    /// "$4.00/min (98% of spend) · 2.0 req/min · refused 0.0% · 5 samples, 3 flagged": what
    /// is known of the segment, each figure only where it was measured.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = self.cost_per_min {
            let mut s = format!("{}/min", SignalKind::CostPerMin.format(c));
            if let Some(share) = self.spend_share {
                s.push_str(&format!(" ({:.0}% of spend)", share * 100.0));
            }
            parts.push(s);
        }
        if let Some(r) = self.requests_per_min {
            parts.push(format!("{r:.1} req/min"));
        }
        if let Some(r) = self.refusal_rate {
            parts.push(format!("refused {}", SignalKind::RefusalRate.format(r)));
        }
        if self.samples > 0 {
            let mut s = format!(
                "{} sample{}",
                self.samples,
                if self.samples == 1 { "" } else { "s" }
            );
            if self.flagged > 0 {
                s.push_str(&format!(", {} flagged", self.flagged));
            }
            if self.refused > 0 {
                s.push_str(&format!(", {} refused", self.refused));
            }
            parts.push(s);
        }
        parts.join(" · ")
    }
}

/// The split of one feature over one window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Split {
    /// Most spend first (then most samples), so the segment to contain is on top.
    pub rows: Vec<SegmentRow>,
    /// Whether any signal split the window by segment: without, the rows are samples only.
    pub measured: bool,
    /// Users by tokens (input + output) in the window's samples, most first.
    pub top_users: Vec<(String, u64)>,
}

/// How many users `Split::top_users` names.
const TOP_USERS: usize = 3;

/// The split of `feature` over `span`: its signals' slots inside the span, and `samples`
/// (the window's, as fetched), `refused` saying which of them are refusals.
pub fn split(
    set: &SignalSet,
    samples: &[Sample],
    refused: impl Fn(&Sample) -> bool,
    feature: &str,
    span: Span,
) -> Split {
    let mut rows: Vec<SegmentRow> = Vec::new();
    let mut measured = false;
    let poll = set.at.unwrap_or(span.1);
    if let Some(cost) = signal(set, feature, SignalKind::CostPerMin) {
        let sums = segment_sums(cost, span, poll);
        measured |= !sums.is_empty();
        let total: f64 = sums.iter().map(|s| s.events).sum();
        for s in sums {
            let row = row_for(&mut rows, &s.segment);
            row.cost_per_min = Some(s.events / s.minutes);
            row.requests_per_min = s.trials.map(|t| t / s.minutes);
            row.spend_share = (total > 0.0).then(|| s.events / total);
        }
    }
    if let Some(refusals) = signal(set, feature, SignalKind::RefusalRate) {
        let sums = segment_sums(refusals, span, poll);
        measured |= !sums.is_empty();
        for s in sums {
            let rate = s.trials.filter(|t| *t > 0.0).map(|t| s.events / t);
            row_for(&mut rows, &s.segment).refusal_rate = rate;
        }
    }
    let mut users: Vec<(String, u64)> = Vec::new();
    for s in samples {
        let name = s
            .segment
            .as_ref()
            .map_or_else(|| "(none)".to_string(), |t| t.to_string());
        let row = row_for(&mut rows, &name);
        row.samples += 1;
        row.refused += usize::from(refused(s));
        row.flagged += usize::from(flagged(s));
        if let Some(user) = &s.user {
            let tokens = s.input_tokens.unwrap_or(0) + s.output_tokens.unwrap_or(0);
            match users.iter_mut().find(|(u, _)| u == user.as_str()) {
                Some((_, n)) => *n += tokens,
                None => users.push((user.to_string(), tokens)),
            }
        }
    }
    rows.sort_by(|a, b| {
        let spend = |r: &SegmentRow| r.cost_per_min.unwrap_or(-1.0);
        spend(b)
            .total_cmp(&spend(a))
            .then(b.samples.cmp(&a.samples))
            .then(a.segment.cmp(&b.segment))
    });
    users.retain(|(_, n)| *n > 0);
    users.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    users.truncate(TOP_USERS);
    Split {
        rows,
        measured,
        top_users: users,
    }
}

/// The split of the incident's window for the kill switch's scopes: the segments named
/// as the chooser names them.
pub fn row<'a>(split: &'a Split, segment: &str) -> Option<&'a SegmentRow> {
    split.rows.iter().find(|r| r.segment == segment)
}

/// Labelled bad by its source: anything but a refusal (the cockpit's own label).
fn flagged(s: &Sample) -> bool {
    s.labels
        .iter()
        .any(|l| l.as_str() != "refused" && !l.as_str().is_empty())
}

fn signal<'a>(set: &'a SignalSet, feature: &str, kind: SignalKind) -> Option<&'a Signal> {
    set.signals
        .iter()
        .find(|s| s.feature == feature && s.kind == kind && !s.segments.is_empty())
}

fn row_for<'a>(rows: &'a mut Vec<SegmentRow>, segment: &str) -> &'a mut SegmentRow {
    let i = match rows.iter().position(|r| r.segment == segment) {
        Some(i) => i,
        None => {
            rows.push(SegmentRow {
                segment: segment.to_string(),
                ..SegmentRow::default()
            });
            rows.len() - 1
        }
    };
    &mut rows[i]
}

/// One segment's counts summed over the slots of a window.
struct Sums {
    segment: String,
    events: f64,
    /// `None` where the source counts no trials (requests) for the segment.
    trials: Option<f64>,
    /// Minutes the summed slots cover.
    minutes: f64,
}

/// Per segment, the events and trials of the slots that end inside `span` and carry a
/// count. A segment without one such slot is left out: unknown, never zero.
fn segment_sums(sig: &Signal, span: Span, poll: DateTime<Utc>) -> Vec<Sums> {
    let inside: Vec<usize> = (0..sig.points.len())
        .filter(|&i| {
            let t = sig.slot_time(i, poll);
            t > span.0 && t <= span.1
        })
        .collect();
    let step_min = f64::from(sig.step_secs.max(1)) / 60.0;
    sig.segments
        .iter()
        .filter_map(|seg| {
            let mut events = 0.0;
            let mut trials = 0.0;
            let mut with_trials = 0usize;
            let mut slots = 0usize;
            for &i in &inside {
                let e = seg.counts.events.get(i).copied().unwrap_or(f64::NAN);
                if !e.is_finite() {
                    continue;
                }
                events += e;
                slots += 1;
                let t = seg.counts.trials.get(i).copied().unwrap_or(f64::NAN);
                if t.is_finite() {
                    trials += t;
                    with_trials += 1;
                }
            }
            (slots > 0).then(|| Sums {
                segment: seg.segment.clone(),
                events,
                trials: (with_trials == slots).then_some(trials),
                minutes: slots as f64 * step_min,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Counts, SegmentCounts};
    use chrono::Duration;

    fn at(min: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default()
            + Duration::minutes(min)
    }

    fn seg(name: &str, events: &[f64], trials: &[f64]) -> SegmentCounts {
        SegmentCounts {
            segment: name.into(),
            counts: Counts {
                events: events.to_vec(),
                trials: trials.to_vec(),
            },
        }
    }

    /// Four one-minute slots ending at minute 10 (slots at 7, 8, 9, 10).
    fn set(kind: SignalKind, segments: Vec<SegmentCounts>) -> SignalSet {
        let mut sig = Signal::new("bot", kind, 60, vec![1.0; 4]).ending_at(at(10));
        sig.segments = segments;
        SignalSet {
            at: Some(at(10)),
            signals: vec![sig],
            ..SignalSet::default()
        }
    }

    #[test]
    fn spend_and_requests_per_minute_count_only_the_window_and_rank_the_spender_first() {
        let set = set(
            SignalKind::CostPerMin,
            vec![
                seg("free", &[0.1, 0.1, 0.1, 0.1], &[10.0, 10.0, 10.0, 10.0]),
                // The loop: a tenant whose spend jumps in the last two minutes.
                seg("acme", &[0.1, 0.1, 3.0, 5.0], &[1.0, 1.0, 2.0, 2.0]),
            ],
        );
        // Slots at minutes 9 and 10 only.
        let s = split(&set, &[], |_| false, "bot", (at(8), at(10)));
        assert!(s.measured);
        assert_eq!(s.rows[0].segment, "acme");
        assert_eq!(s.rows[0].cost_per_min, Some(4.0));
        assert_eq!(s.rows[0].requests_per_min, Some(2.0));
        assert_eq!(s.rows[1].cost_per_min, Some(0.1));
        assert_eq!(s.rows[1].requests_per_min, Some(10.0));
        let share = s.rows[0].spend_share.unwrap_or_default();
        assert!((share - 8.0 / 8.2).abs() < 1e-12, "{share}");
    }

    #[test]
    fn unknown_slots_stay_unknown_and_never_read_as_zero() {
        let set = set(
            SignalKind::CostPerMin,
            vec![
                seg("a", &[f64::NAN; 4], &[f64::NAN; 4]),
                // Dollars without requests (a source that prices tokens but cannot count).
                seg("b", &[1.0, 1.0, 1.0, 1.0], &[f64::NAN; 4]),
            ],
        );
        let s = split(&set, &[], |_| false, "bot", (at(0), at(10)));
        assert_eq!(s.rows.len(), 1, "{s:?}");
        assert_eq!(s.rows[0].segment, "b");
        assert_eq!(s.rows[0].cost_per_min, Some(1.0));
        assert_eq!(s.rows[0].requests_per_min, None);
    }

    #[test]
    fn refusal_rate_per_segment_is_refusals_over_answers_in_the_window() {
        let set = set(
            SignalKind::RefusalRate,
            vec![seg(
                "free",
                &[1.0, 1.0, 0.0, 0.0],
                &[10.0, 10.0, 10.0, 10.0],
            )],
        );
        let s = split(&set, &[], |_| false, "bot", (at(6), at(10)));
        assert_eq!(s.rows[0].refusal_rate, Some(0.05));
        let s = split(&set, &[], |_| false, "bot", (at(8), at(10)));
        assert_eq!(s.rows[0].refusal_rate, Some(0.0));
    }

    #[test]
    fn a_window_outside_the_signals_range_is_samples_only() {
        let set = set(
            SignalKind::CostPerMin,
            vec![seg("free", &[1.0; 4], &[1.0; 4])],
        );
        let s = split(&set, &[], |_| false, "bot", (at(-60), at(-30)));
        assert!(!s.measured);
        assert!(s.rows.is_empty());
    }
}
