//! `backtest` against a real Prometheus (Debian package) backfilled with three days of
//! OpenTelemetry GenAI history: long calm stretches with noise, three planted anomalies and
//! two near-misses. The backtest must find exactly the three, at their SEV, near their onset.

use chrono::{DateTime, Duration, TimeZone, Utc};
use cockpit_testkit::servers;
use oncall_cockpit::backend::prometheus::Prometheus;
use oncall_cockpit::backend::prometheus::{Price, PrometheusConfig};
use oncall_cockpit::backtest;
use oncall_cockpit::config::timing::{PollSecs, TimeoutSecs};
use oncall_cockpit::detect;
use oncall_cockpit::domain::{IncidentType, Sev};
use servers::prometheus::start_backfilled;
use std::collections::BTreeMap;
use std::fmt::Write;

const SCRAPE: i64 = 60;
const HOURS: i64 = 72;

/// Minute-aligned, ten minutes in the past: all of it is history to the server.
fn test_now() -> DateTime<Utc> {
    let t = (Utc::now().timestamp() - 600) / 60 * 60;
    Utc.timestamp_opt(t, 0).single().expect("valid time")
}

/// A stretch of history where a series runs at `factor` x its normal rate.
struct Anomaly {
    from: i64,
    minutes: i64,
    factor: f64,
}

impl Anomaly {
    fn at(&self, t: i64) -> f64 {
        if t >= self.from && t < self.from + self.minutes * 60 {
            self.factor
        } else {
            1.0
        }
    }
}

/// Deterministic jitter in [-1, 1): the same history on every run.
fn jitter(series: u64, t: i64) -> f64 {
    let mut z = series
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(t as u64);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

struct History {
    start: i64,
    now: i64,
    text: String,
    next_id: u64,
}

impl History {
    fn family(&mut self, name: &str, kind: &str) {
        writeln!(self.text, "# TYPE {name} {kind}").expect("write");
    }

    /// A counter growing each scrape by `per_min`, +-10% noise.
    fn counter(&mut self, series: &str, per_min: impl Fn(i64) -> f64) {
        self.next_id += 1;
        let id = self.next_id;
        self.counter_with_noise(series, id, per_min);
    }

    /// The same, with the noise stream `id`: a histogram's buckets share one, so cumulative
    /// buckets stay ordered.
    fn counter_with_noise(&mut self, series: &str, id: u64, per_min: impl Fn(i64) -> f64) {
        let mut v = 0.0;
        for t in (self.start..=self.now).step_by(SCRAPE as usize) {
            v += (per_min(t) * (1.0 + 0.1 * jitter(id, t))).max(0.0);
            writeln!(self.text, "{series} {v:.3} {t}").expect("write");
        }
    }
}

/// Cumulative shares of TTFT under each bound, normally and when three times slower.
const BOUNDS: [&str; 7] = ["0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf"];
const CALM: [f64; 7] = [0.10, 0.50, 0.90, 0.995, 1.0, 1.0, 1.0];
const SLOW: [f64; 7] = [0.0, 0.10, 0.25, 0.55, 0.90, 0.998, 1.0];

fn history(now: DateTime<Utc>) -> (String, Vec<(&'static str, IncidentType, Sev, i64)>) {
    let now = now.timestamp();
    let start = now - HOURS * 3600;
    let mut h = History {
        start,
        now,
        text: String::new(),
        next_id: 0,
    };
    let hour = |n: i64| start + n * 3600;
    // The planted incidents...
    let cost = Anomaly {
        from: hour(26),
        minutes: 40,
        factor: 12.0,
    };
    let slow = Anomaly {
        from: hour(38),
        minutes: 45,
        factor: 3.0,
    };
    let failing = Anomaly {
        from: hour(56),
        minutes: 25,
        factor: 0.20,
    };
    // ...and near misses that must raise nothing: 1.5x tokens for 20 minutes, and 12%
    // errors for 6 minutes (the hold is 10).
    let bump = Anomaly {
        from: hour(12),
        minutes: 20,
        factor: 1.5,
    };
    let blip = Anomaly {
        from: hour(64),
        minutes: 6,
        factor: 0.12,
    };

    let usage = "gen_ai_client_token_usage_sum";
    h.family("gen_ai_client_token_usage", "histogram");
    for (job, input, output, anomaly) in [
        ("chat", 60_000.0, 12_000.0, &cost),
        ("search", 40_000.0, 4_000.0, &bump),
    ] {
        for (kind, per_min) in [("input", input), ("output", output)] {
            let series = format!(
                "{usage}{{job=\"{job}\",gen_ai_request_model=\"m\",gen_ai_token_type=\"{kind}\"}}"
            );
            h.counter(&series, |t| per_min * anomaly.at(t));
        }
    }

    let ttft = "gen_ai_server_time_to_first_token_seconds";
    h.family(ttft, "histogram");
    for (n, job) in ["chat", "search"].into_iter().enumerate() {
        for (i, le) in BOUNDS.iter().enumerate() {
            let series = format!("{ttft}_bucket{{job=\"{job}\",le=\"{le}\"}}");
            let is_slow = |t: i64| job == "search" && slow.at(t) > 1.0;
            h.counter_with_noise(&series, 1000 + n as u64, |t| {
                let share = if is_slow(t) { SLOW[i] } else { CALM[i] };
                120.0 * share
            });
        }
    }

    let ops = "gen_ai_client_operation_duration_seconds";
    h.family(ops, "histogram");
    for (job, failing) in [("chat", &failing), ("search", &blip)] {
        let error_share = |t: i64| {
            let in_it = t >= failing.from && t < failing.from + failing.minutes * 60;
            if in_it {
                failing.factor
            } else {
                0.008
            }
        };
        h.counter(&format!("{ops}_count{{job=\"{job}\"}}"), |t| {
            120.0 * (1.0 - error_share(t))
        });
        h.counter(
            &format!("{ops}_count{{job=\"{job}\",error_type=\"timeout\"}}"),
            |t| 120.0 * error_share(t),
        );
    }
    h.text.push_str("# EOF\n");
    let planted = vec![
        ("chat", IncidentType::CostExplosion, Sev::Sev2, cost.from),
        (
            "search",
            IncidentType::LatencyDegradation,
            Sev::Sev3,
            slow.from,
        ),
        ("chat", IncidentType::Errors, Sev::Sev3, failing.from),
    ];
    (h.text, planted)
}

fn config(url: &str) -> PrometheusConfig {
    let mut prices = BTreeMap::new();
    prices.insert(
        "m".to_string(),
        Price {
            input: 2.5,
            output: 10.0,
        },
    );
    PrometheusConfig {
        name: "prod".into(),
        url: url.into(),
        preset: "otel".into(),
        feature_label: "job".into(),
        poll_secs: PollSecs::try_from(15.0).expect("in range"),
        timeout_secs: TimeoutSecs::try_from(20.0).expect("in range"),
        max_reply_mib: 8,
        answer_time_factor: 4.0,
        range_secs: 7200,
        step_secs: 60,
        rate_window: "5m".into(),
        auth: None,
        segment_label: None,
        queries: BTreeMap::new(),
        prices,
        tls: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backtest_finds_exactly_the_planted_anomalies() {
    let now = test_now();
    let (text, planted) = history(now);
    let server = start_backfilled("backtest", &text);
    let mut source = Prometheus::new(&config(&server.url)).expect("adapter");
    let from = now - Duration::hours(HOURS - 1);
    let mut chunks = 0;
    let result = backtest::run(&mut source, "prod", from, now, &detect::builtin(), |_| {
        chunks += 1
    })
    .await
    .expect("backtest runs");
    assert_eq!(chunks, 3, "three days in day-long chunks");
    let report = backtest::render(&result);
    let found: Vec<(&str, IncidentType, Sev)> = result
        .incidents
        .iter()
        .map(|i| (i.feature.as_str(), i.kind, i.sev))
        .collect();
    let want: Vec<(&str, IncidentType, Sev)> =
        planted.iter().map(|(f, k, s, _)| (*f, *k, *s)).collect();
    assert_eq!(found, want, "{report}");
    for (inc, (_, kind, _, onset)) in result.incidents.iter().zip(&planted) {
        let after = inc.onset.timestamp() - onset;
        // Cost within minutes; errors and latency after their 10 and 15 minute holds plus
        // the 5-minute rate window.
        let bound = match kind {
            IncidentType::CostExplosion => 5 * 60,
            IncidentType::Errors => 17 * 60,
            _ => 22 * 60,
        };
        assert!(
            (0..=bound).contains(&after),
            "{kind:?} after {after}s\n{report}"
        );
        assert!(
            inc.recovered.is_some(),
            "{kind:?} never recovered\n{report}"
        );
    }
    let per_day: usize = result.per_day().values().flat_map(|m| m.values()).sum();
    assert_eq!(per_day, 3);
    assert!(
        report.contains("would have raised 3 incident(s): SEV1 0, SEV2 1, SEV3 2"),
        "{report}"
    );
}
