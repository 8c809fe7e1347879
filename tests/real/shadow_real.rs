//! Shadow comparison against a real Prometheus: series of one feature labelled by prompt
//! version, v13 live and v12 as shadow traffic (`shadow="true"`), backfilled with values
//! whose figures can be worked out by hand. Counts rest on `increase()`, which extrapolates
//! to the window's edges, so they are checked within a scrape or two; every ratio (refusal
//! rate, $/request, a quantile) divides two counters extrapolated alike, so it is exact.

use crate::prometheus_real::{assert_close, config, test_now, SCRAPE};
use chrono::{DateTime, Utc};
use cockpit_testkit::servers::prometheus::start_backfilled;
use oncall_cockpit::backend::prometheus::Prometheus;
use oncall_cockpit::backend::MetricsSource;
use oncall_cockpit::domain::shadow::{Axis, Figure, Measured, ShadowRequest, VariantFigures};
use std::fmt::Write;

/// An hour of history: the 30-minute window and the rate window before it.
const SINCE: i64 = 3600;
/// Scrapes in the 30-minute window.
const WINDOW_SCRAPES: f64 = 1800.0 / SCRAPE as f64;

struct Om {
    now: i64,
    text: String,
}

impl Om {
    fn family(&mut self, name: &str, kind: &str) {
        writeln!(self.text, "# TYPE {name} {kind}").expect("write");
    }

    /// A counter growing by `per_scrape` each scrape, or a gauge (`per_scrape` 0) at `base`.
    fn series(&mut self, series: &str, base: f64, per_scrape: f64) {
        for (k, t) in (self.now - SINCE..=self.now)
            .step_by(SCRAPE as usize)
            .enumerate()
        {
            let v = base + per_scrape * k as f64;
            writeln!(self.text, "{series} {v} {t}").expect("write");
        }
    }
}

/// Per scrape, for v13 (live) and v12 (shadow): requests, answers, refusals, input and
/// output tokens (gpt-a: $2 and $8 per 1M), the eval and drift gauges, and TTFT buckets
/// (cumulative at 0.25, 0.5, 1, 2, +Inf).
struct Variant {
    labels: &'static str,
    requests: f64,
    answers: f64,
    refusals: f64,
    input: f64,
    output: f64,
    eval: f64,
    drift: f64,
    ttft: [f64; 5],
}

const V13: Variant = Variant {
    labels: r#"job="support-bot",prompt_version="v13""#,
    requests: 20.0,
    answers: 19.0,
    refusals: 1.9,
    input: 20_000.0,
    output: 4_000.0,
    eval: 0.64,
    drift: 0.21,
    ttft: [2.0, 10.0, 18.0, 20.0, 20.0],
};

const V12: Variant = Variant {
    labels: r#"job="support-bot",prompt_version="v12",shadow="true""#,
    requests: 1.0,
    answers: 1.0,
    refusals: 0.05,
    input: 1_000.0,
    output: 150.0,
    eval: 0.88,
    drift: 0.03,
    ttft: [1.0, 1.0, 1.0, 1.0, 1.0],
};

fn history(now: DateTime<Utc>) -> String {
    let mut h = Om {
        now: now.timestamp(),
        text: String::new(),
    };
    let ops = "gen_ai_client_operation_duration_seconds";
    h.family(ops, "histogram");
    for v in [&V13, &V12] {
        h.series(
            &format!("{ops}_count{{{},gen_ai_request_model=\"gpt-a\"}}", v.labels),
            0.0,
            v.requests,
        );
    }
    h.family("gen_ai_client_token_usage", "histogram");
    for v in [&V13, &V12] {
        for (kind, n) in [("input", v.input), ("output", v.output)] {
            h.series(
                &format!(
                    "gen_ai_client_token_usage_sum{{{},gen_ai_request_model=\"gpt-a\",gen_ai_token_type=\"{kind}\"}}",
                    v.labels
                ),
                0.0,
                n,
            );
        }
    }
    h.family("gen_ai_answers", "counter");
    for v in [&V13, &V12] {
        h.series(
            &format!("gen_ai_answers_total{{{}}}", v.labels),
            0.0,
            v.answers,
        );
    }
    h.family("gen_ai_refusals", "counter");
    for v in [&V13, &V12] {
        h.series(
            &format!("gen_ai_refusals_total{{{}}}", v.labels),
            0.0,
            v.refusals,
        );
    }
    for (name, pick) in [
        (
            "gen_ai_eval_score",
            (|v: &Variant| v.eval) as fn(&Variant) -> f64,
        ),
        ("gen_ai_output_drift_js", |v: &Variant| v.drift),
    ] {
        h.family(name, "gauge");
        for v in [&V13, &V12] {
            h.series(&format!("{name}{{{}}}", v.labels), pick(v), 0.0);
        }
    }
    let ttft = "gen_ai_server_time_to_first_token_seconds";
    h.family(ttft, "histogram");
    for v in [&V13, &V12] {
        for (le, n) in ["0.25", "0.5", "1", "2", "+Inf"].iter().zip(v.ttft) {
            h.series(
                &format!("{ttft}_bucket{{{},le=\"{le}\"}}", v.labels),
                0.0,
                n,
            );
        }
        h.series(&format!("{ttft}_count{{{}}}", v.labels), 0.0, v.ttft[4]);
    }
    h.text.push_str("# EOF\n");
    h.text
}

fn request(target: &str) -> ShadowRequest {
    ShadowRequest {
        feature: "support-bot".into(),
        axis: Axis::Prompt,
        label: "prompt_version".into(),
        current: "v13".into(),
        target: target.into(),
        shadow_matcher: Some(r#"shadow="true""#.into()),
        window_secs: 1800,
    }
}

fn measured(v: &VariantFigures, f: Figure) -> Measured {
    match v.get(f) {
        Some(Ok(m)) => *m,
        other => panic!("{} {f:?}: {other:?}", v.value),
    }
}

/// A count of `per_scrape` over the window, within two scrapes' worth of extrapolation.
#[track_caller]
fn assert_count(m: Measured, per_scrape: f64) {
    let expected = per_scrape * WINDOW_SCRAPES;
    assert!(
        (m.count as f64 - expected).abs() <= 2.0 * per_scrape.max(1.0),
        "count {} for {expected}",
        m.count
    );
}

#[tokio::test]
async fn labelled_series_give_each_variant_its_figures_and_counts() {
    let now = test_now();
    let server = start_backfilled("shadow", &history(now));
    let mut prom = Prometheus::new(&config(&server.url, "otel", "job")).expect("config");
    let answer = prom.compare(&request("v12"), now).await.expect("compared");
    let (cur, tgt) = (&answer.current, &answer.target);
    assert_eq!((cur.value.as_str(), cur.shadow), ("v13", false));
    assert_eq!((tgt.value.as_str(), tgt.shadow), ("v12", true));

    assert_close(measured(cur, Figure::Eval).value, 0.64);
    assert_close(measured(tgt, Figure::Eval).value, 0.88);
    // Gauge points in the window: one a scrape.
    let points = measured(cur, Figure::Eval).count;
    assert!((119..=121).contains(&points), "{points}");

    assert_close(measured(cur, Figure::Refusals).value, 0.1);
    assert_close(measured(tgt, Figure::Refusals).value, 0.05);
    assert_count(measured(cur, Figure::Refusals), V13.answers);
    assert_count(measured(tgt, Figure::Refusals), V12.answers);

    assert_close(measured(cur, Figure::Drift).value, 0.21);
    assert_close(measured(tgt, Figure::Drift).value, 0.03);

    // v13: (20k x $2 + 4k x $8) / 1M over 20 requests; v12: (1k x $2 + 150 x $8) / 1M.
    assert_close(measured(cur, Figure::CostPerRequest).value, 0.072 / 20.0);
    assert_close(measured(tgt, Figure::CostPerRequest).value, 0.0032);
    assert_count(measured(cur, Figure::CostPerRequest), V13.requests);
    assert_count(measured(tgt, Figure::CostPerRequest), V12.requests);

    // v13: rank 19 of 20 in (1, 2] holding 2, one below it; v12: all within 0.25 s.
    assert_close(measured(cur, Figure::Latency).value, 1.5);
    assert_close(measured(tgt, Figure::Latency).value, 0.25 * 0.95);
    assert_count(measured(cur, Figure::Latency), V13.ttft[4]);
    assert!(answer.latency_note.is_none());
}

#[tokio::test]
async fn a_variant_without_series_is_no_data_with_the_reason() {
    let now = test_now();
    let server = start_backfilled("shadow-none", &history(now));
    let mut prom = Prometheus::new(&config(&server.url, "otel", "job")).expect("config");
    // v11 has no series; v13's are live, never shadow, so as a target it has none either.
    for target in ["v11"] {
        let answer = prom.compare(&request(target), now).await.expect("compared");
        assert!(answer.current.has_data());
        assert!(!answer.target.has_data());
        assert_eq!(
            answer.target.get(Figure::Eval),
            Some(&Err(format!(
                "no shadow traffic for {target} in the last 30 min (label prompt_version, \
                 shadow=\"true\")"
            )))
        );
    }
    // The live v13 series do not pass for shadow traffic of v13.
    let mut r = request("v13");
    r.current = "v12".into();
    let answer = prom.compare(&r, now).await.expect("compared");
    assert!(!answer.target.has_data(), "{answer:?}");
    // A server that is gone fails the comparison, saying so.
    drop(server);
    let err = prom
        .compare(&request("v12"), now)
        .await
        .expect_err("nothing answers");
    assert!(err.to_string().contains("unreachable"), "{err}");
}
