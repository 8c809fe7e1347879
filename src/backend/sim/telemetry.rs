//! Per-request telemetry folded into fixed-width time buckets, the way a metrics system would
//! store it: counters and latency histograms, so percentiles over any window merge exactly.

use std::collections::VecDeque;

/// Log-spaced latency histogram from 1 ms to ~100 s.
pub const HIST_BINS: usize = 40;
const HIST_MIN: f64 = 0.001;
const HIST_RATIO: f64 = 1.34;

#[derive(Clone, Debug, PartialEq)]
pub struct Hist {
    pub counts: [u32; HIST_BINS],
}

impl Default for Hist {
    fn default() -> Self {
        Hist {
            counts: [0; HIST_BINS],
        }
    }
}

fn upper_bound(bin: usize) -> f64 {
    HIST_MIN * HIST_RATIO.powi(bin as i32 + 1)
}

impl Hist {
    pub fn observe(&mut self, seconds: f64) {
        let bin = if seconds <= HIST_MIN {
            0
        } else {
            ((seconds / HIST_MIN).ln() / HIST_RATIO.ln()).floor() as usize
        };
        self.counts[bin.min(HIST_BINS - 1)] += 1;
    }

    pub fn merge(&mut self, other: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
    }

    pub fn total(&self) -> u32 {
        self.counts.iter().sum()
    }

    /// Quantile with linear interpolation inside the bin, like PromQL's histogram_quantile.
    pub fn quantile(&self, q: f64) -> f64 {
        let total = self.total();
        if total == 0 {
            return f64::NAN;
        }
        let rank = q * total as f64;
        let mut seen = 0.0;
        for (bin, &c) in self.counts.iter().enumerate() {
            let c = c as f64;
            if seen + c >= rank && c > 0.0 {
                let lower = if bin == 0 { 0.0 } else { upper_bound(bin - 1) };
                let upper = upper_bound(bin);
                return lower + (upper - lower) * ((rank - seen) / c);
            }
            seen += c;
        }
        upper_bound(HIST_BINS - 1)
    }
}

/// One simulated request, as an OpenTelemetry GenAI span would describe it.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// Index of the user segment that sent it.
    pub segment: usize,
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub cost: f64,
    pub ttft: f64,
    pub tpot: f64,
    pub error: bool,
    pub refused: bool,
    pub category: usize,
    pub retrieval_hit: Option<bool>,
    /// Refused by a token budget before the model was called: an error, a 429.
    pub rate_limited: bool,
    /// Answered from the response cache: no model call, no tokens.
    pub cached: bool,
    /// Routed to the fallback: not a model request at all.
    pub fallback: bool,
}

/// What one user segment did within a bucket.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SegmentBucket {
    pub requests: u32,
    /// Answered, by the model or its cache (the refusal rate's trials).
    pub answered: u32,
    pub refusals: u32,
    pub cost: f64,
    pub rate_limited: u32,
    pub fallbacks: u32,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bucket {
    pub requests: u32,
    pub errors: u32,
    pub refusals: u32,
    pub tokens: u64,
    pub cost: f64,
    pub ttft: Hist,
    pub tpot: Hist,
    pub categories: Vec<u32>,
    pub retrievals: u32,
    pub retrieval_hits: u32,
    pub segments: Vec<SegmentBucket>,
    /// Requests a token budget refused at the gateway (429), counted apart from `requests`:
    /// the model never saw them, so GenAI client metrics have no span, token or error for
    /// them, and the containment a budget buys does not read as a provider error burst.
    pub rate_limited: u32,
    /// Of `requests`, those answered from the cache (with the answer or refusal given before).
    pub cached: u32,
    /// Requests routed to the fallback, counted apart from `requests`.
    pub fallbacks: u32,
}

impl Bucket {
    pub fn new(categories: usize, segments: usize) -> Self {
        Bucket {
            categories: vec![0; categories],
            segments: vec![SegmentBucket::default(); segments],
            ..Bucket::default()
        }
    }

    pub fn record(&mut self, r: &Request) {
        if r.fallback {
            self.fallbacks += 1;
            if let Some(seg) = self.segments.get_mut(r.segment) {
                seg.fallbacks += 1;
            }
            return;
        }
        if r.rate_limited {
            self.rate_limited += 1;
            if let Some(seg) = self.segments.get_mut(r.segment) {
                seg.rate_limited += 1;
            }
            return;
        }
        self.requests += 1;
        self.cached += u32::from(r.cached);
        self.tokens += u64::from(r.input_tokens) + u64::from(r.output_tokens);
        self.cost += r.cost;
        if let Some(seg) = self.segments.get_mut(r.segment) {
            seg.requests += 1;
            seg.cost += r.cost;
            if !r.error {
                seg.answered += 1;
                seg.refusals += u32::from(r.refused);
            }
        }
        if r.error {
            self.errors += 1;
            return;
        }
        self.ttft.observe(r.ttft);
        self.tpot.observe(r.tpot);
        if r.refused {
            self.refusals += 1;
        }
        if let Some(c) = self.categories.get_mut(r.category) {
            *c += 1;
        }
        if let Some(hit) = r.retrieval_hit {
            self.retrievals += 1;
            if hit {
                self.retrieval_hits += 1;
            }
        }
    }
}

/// Series derived from a run of buckets, one point per bucket, each over a trailing window.
pub struct Windowed<'a> {
    pub buckets: &'a VecDeque<Bucket>,
    pub bucket_secs: u32,
}

fn ratio(num: u32, den: u32) -> f64 {
    if den == 0 {
        f64::NAN
    } else {
        num as f64 / den as f64
    }
}

impl Windowed<'_> {
    fn window(&self, end: usize, w: usize) -> std::collections::vec_deque::Iter<'_, Bucket> {
        let start = (end + 1).saturating_sub(w);
        let end = end.min(self.buckets.len().saturating_sub(1));
        self.buckets.range(start.min(end)..=end)
    }

    pub fn per_minute(&self, end: usize, w: usize, f: impl Fn(&Bucket) -> f64) -> f64 {
        let win = self.window(end, w);
        let secs = (win.len() as u32 * self.bucket_secs) as f64;
        win.map(f).sum::<f64>() * 60.0 / secs
    }

    pub fn quantile(&self, end: usize, w: usize, q: f64, pick: impl Fn(&Bucket) -> &Hist) -> f64 {
        let mut h = Hist::default();
        for b in self.window(end, w) {
            h.merge(pick(b));
        }
        // Fewer than a handful of samples make a p99 meaningless.
        if h.total() < 5 {
            f64::NAN
        } else {
            h.quantile(q)
        }
    }

    pub fn error_ratio(&self, end: usize, w: usize) -> f64 {
        ratio(
            self.window(end, w).map(|b| b.errors).sum(),
            self.window(end, w).map(|b| b.requests).sum(),
        )
    }

    pub fn refusal_rate(&self, end: usize, w: usize) -> f64 {
        let answered: u32 = self.window(end, w).map(|b| b.requests - b.errors).sum();
        ratio(self.window(end, w).map(|b| b.refusals).sum(), answered)
    }

    pub fn retrieval_hit(&self, end: usize, w: usize) -> f64 {
        ratio(
            self.window(end, w).map(|b| b.retrieval_hits).sum(),
            self.window(end, w).map(|b| b.retrievals).sum(),
        )
    }

    pub fn categories(&self, end: usize, w: usize) -> Vec<f64> {
        let n = self
            .window(end, w)
            .next()
            .map(|b| b.categories.len())
            .unwrap_or(0);
        let mut out = vec![0.0; n];
        for b in self.window(end, w) {
            for (o, c) in out.iter_mut().zip(&b.categories) {
                *o += f64::from(*c);
            }
        }
        out
    }

    pub fn bucket(&self, i: usize) -> Option<&Bucket> {
        self.buckets.get(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantile_is_within_one_bin() {
        let mut h = Hist::default();
        for i in 1..=1000 {
            h.observe(i as f64 / 1000.0); // uniform 1ms..1s
        }
        let p50 = h.quantile(0.5);
        let p99 = h.quantile(0.99);
        assert!((p50 - 0.5).abs() / 0.5 < HIST_RATIO - 1.0, "p50 {p50}");
        assert!((p99 - 0.99).abs() / 0.99 < HIST_RATIO - 1.0, "p99 {p99}");
        assert!(Hist::default().quantile(0.99).is_nan());
    }

    #[test]
    fn errors_do_not_count_as_refusals_or_latency() {
        let mut b = Bucket::new(2, 1);
        let ok = Request {
            segment: 0,
            input_tokens: 10,
            output_tokens: 5,
            cost: 0.01,
            ttft: 0.2,
            tpot: 0.01,
            error: false,
            refused: true,
            category: 1,
            retrieval_hit: Some(true),
            rate_limited: false,
            cached: false,
            fallback: false,
        };
        b.record(&ok);
        b.record(&Request {
            error: true,
            ..ok.clone()
        });
        let buckets = VecDeque::from([b.clone()]);
        let w = Windowed {
            buckets: &buckets,
            bucket_secs: 10,
        };
        assert_eq!(w.error_ratio(0, 1), 0.5);
        assert_eq!(w.refusal_rate(0, 1), 1.0);
        assert_eq!(b.ttft.total(), 1);
        assert_eq!(
            b.segments[0],
            SegmentBucket {
                requests: 2,
                answered: 1,
                refusals: 1,
                cost: 0.02,
                ..SegmentBucket::default()
            }
        );
        assert_eq!(w.categories(0, 1), vec![0.0, 1.0]);
        assert!((w.per_minute(0, 1, |b| b.cost) - 0.12).abs() < 1e-9);
    }

    #[test]
    fn fallbacks_and_budget_429s_are_not_model_requests() {
        let mut b = Bucket::new(1, 1);
        let r = Request {
            segment: 0,
            input_tokens: 0,
            output_tokens: 0,
            cost: 0.0,
            ttft: 0.03,
            tpot: 0.001,
            error: false,
            refused: false,
            category: 0,
            retrieval_hit: None,
            rate_limited: false,
            cached: true,
            fallback: false,
        };
        b.record(&r);
        b.record(&Request {
            cached: false,
            refused: true,
            ..r.clone()
        });
        b.record(&Request {
            cached: false,
            fallback: true,
            ..r.clone()
        });
        b.record(&Request {
            cached: false,
            error: true,
            rate_limited: true,
            ..r
        });
        assert_eq!((b.requests, b.refusals, b.tokens), (2, 1, 0));
        assert_eq!(
            (b.cached, b.fallbacks, b.rate_limited, b.errors),
            (1, 1, 1, 0)
        );
        let seg = &b.segments[0];
        assert_eq!(
            (seg.requests, seg.answered, seg.fallbacks, seg.rate_limited),
            (2, 2, 1, 1)
        );
        let buckets = VecDeque::from([b]);
        let w = Windowed {
            buckets: &buckets,
            bucket_secs: 10,
        };
        assert_eq!(w.refusal_rate(0, 1), 0.5);
        assert_eq!(w.error_ratio(0, 1), 0.0);
    }
}
