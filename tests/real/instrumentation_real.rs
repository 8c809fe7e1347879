//! The real-instrumentation tier (tests/instrumentation/README.md): what the official
//! OpenTelemetry instrumentation, OpenLIT and Traceloop really emit for the real `openai`
//! client, exported by the OTel SDK's PrometheusMetricReader and scraped by a real Prometheus.
//! These facts are the README's compatibility table; the cockpit's detection of the
//! convention is measured against them.

use chrono::Utc;
use cockpit_testkit::servers::instrumentation::{Job, Tier, ALL, LATENCY_BUCKETS};
use oncall_cockpit::backend::prometheus::{Price, Prometheus, PrometheusConfig};
use oncall_cockpit::backend::MetricsSource;
use oncall_cockpit::config::timing::{PollSecs, TimeoutSecs};
use oncall_cockpit::domain::{CoverageState, SignalKind, SignalSet};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Python start-up, the first requests and the first scrapes, on a busy machine.
const PATIENCE: Duration = Duration::from_secs(180);

/// The GenAI families each instrumentation emits for chat completions, plain and streamed
/// (histograms as their `_bucket`, `_count` and `_sum` series).
fn expected(instrumentation: &str) -> BTreeSet<String> {
    let histogram = |name: &str| {
        ["bucket", "count", "sum"]
            .map(|s| format!("{name}_{s}"))
            .to_vec()
    };
    let names: Vec<String> = match instrumentation {
        // Token usage and operation duration only: no TTFT, no TPOT.
        "otel" => [
            histogram("gen_ai_client_token_usage"),
            histogram("gen_ai_client_operation_duration_seconds"),
        ]
        .concat(),
        "openlit" => [
            histogram("gen_ai_client_token_usage"),
            histogram("gen_ai_client_operation_duration_seconds"),
            histogram("gen_ai_client_operation_time_to_first_chunk_seconds"),
            histogram("gen_ai_client_operation_time_per_output_chunk_seconds"),
            histogram("gen_ai_server_request_duration_seconds"),
            histogram("gen_ai_server_time_to_first_token_seconds"),
            histogram("gen_ai_server_time_per_output_token_seconds"),
            histogram("gen_ai_usage_cost_USD"),
        ]
        .concat(),
        // The unit "token" becomes a suffix; TTFT on the SDK's default buckets.
        "traceloop" => [
            histogram("gen_ai_client_token_usage_token"),
            histogram("gen_ai_client_operation_duration_seconds"),
            histogram("gen_ai_server_time_to_first_token_seconds"),
            histogram("llm_chat_completions_streaming_time_to_generate_seconds"),
            vec!["gen_ai_client_generation_choices_choice_total".to_string()],
        ]
        .concat(),
        other => panic!("no expectation for {other}"),
    };
    names.into_iter().collect()
}

fn genai(names: Vec<String>) -> BTreeSet<String> {
    names
        .into_iter()
        .filter(|n| n.starts_with("gen_ai_") || n.starts_with("llm_"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_instrumentation_emits_the_families_the_compatibility_table_says() {
    let tier = Tier::start("tier-families", &ALL, &json!({}));
    let deadline = Instant::now() + PATIENCE;
    for name in ALL {
        let want = expected(name);
        loop {
            let got = genai(tier.families(name).await);
            if got == want {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: families {got:?}, expected exactly {want:?}\napp log:\n{}",
                tier.app(name).log_text()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    // Pricing needs the model on the token series: Traceloop names only the response model.
    let models = |metric: &'static str, job: &'static str| {
        let tier = &tier;
        async move {
            let q = format!("count by (gen_ai_request_model, gen_ai_response_model) ({metric}{{job=\"{job}\"}})");
            tier.query(&q).await
        }
    };
    for (metric, job, request_model) in [
        ("gen_ai_client_token_usage_sum", "otel", true),
        ("gen_ai_client_token_usage_sum", "openlit", true),
        ("gen_ai_client_token_usage_token_sum", "traceloop", false),
    ] {
        let series = models(metric, job).await;
        assert!(!series.is_empty(), "{job}: no {metric}");
        for (labels, _) in series {
            assert_eq!(labels["gen_ai_response_model"], "gpt-4o-mini", "{job}");
            assert_eq!(
                labels.get("gen_ai_request_model").is_some(),
                request_model,
                "{job}: {labels}"
            );
        }
    }

    // service.name reaches Prometheus on target_info; only OpenLIT copies it onto its series.
    for name in ALL {
        let info = tier.query(&format!("target_info{{job=\"{name}\"}}")).await;
        assert_eq!(info.len(), 1, "{name}: {info:?}");
        assert_eq!(info[0].0["service_name"], format!("svc-{name}"));
        let on_series = tier
            .query(&format!(
                "count by (service_name) ({{job=\"{name}\",__name__=~\"gen_ai_client_operation_duration_seconds_count\"}})"
            ))
            .await;
        let labelled = on_series
            .iter()
            .any(|(l, _)| l.get("service_name").is_some());
        assert_eq!(labelled, name == "openlit", "{name}: {on_series:?}");
    }

    // Traceloop's TTFT histogram has the SDK's default buckets: nothing between 0 and 5 s.
    let bounds = tier
        .query(
            "count by (le) (gen_ai_server_time_to_first_token_seconds_bucket{job=\"traceloop\"})",
        )
        .await;
    let les: BTreeSet<String> = bounds
        .iter()
        .filter_map(|(l, _)| l["le"].as_str().map(str::to_string))
        .collect();
    let finite: Vec<f64> = les.iter().filter_map(|le| le.parse().ok()).collect();
    assert!(finite.contains(&0.0) && finite.contains(&5.0), "{les:?}");
    assert!(!finite.iter().any(|v| *v > 0.0 && *v < 5.0), "{les:?}");
}

fn cockpit_config(url: &str, feature_label: &str) -> PrometheusConfig {
    PrometheusConfig {
        name: "tier".into(),
        url: url.into(),
        preset: "otel".into(),
        feature_label: feature_label.into(),
        poll_secs: PollSecs::try_from(2.0).expect("in range"),
        timeout_secs: TimeoutSecs::try_from(10.0).expect("in range"),
        max_reply_mib: 8,
        answer_time_factor: 4.0,
        // Two minutes at two-second steps; rates over ten seconds of one-second scrapes.
        range_secs: 120,
        step_secs: 2,
        rate_window: "10s".into(),
        auth: None,
        segment_label: None,
        queries: BTreeMap::new(),
        prices: [(
            "gpt-4o-mini".to_string(),
            Price {
                input: 0.15,
                output: 0.60,
            },
        )]
        .into_iter()
        .collect(),
        tls: None,
    }
}

/// The newest finite value of a feature's signal, if the poll has one.
fn newest(set: &SignalSet, feature: &str, kind: SignalKind) -> Option<f64> {
    set.signals
        .iter()
        .find(|s| s.feature == feature && s.kind == kind)
        .and_then(|s| s.points.iter().rev().copied().find(|v| v.is_finite()))
}

fn coverage(set: &SignalSet, feature: &str, kind: SignalKind) -> Option<CoverageState> {
    set.coverage
        .iter()
        .find(|c| c.feature == feature && c.kind == kind)
        .map(|c| c.state.clone())
}

/// Polls the cockpit's adapter until `done` holds for the poll, or fails with the last one.
async fn poll_until(
    source: &mut Prometheus,
    what: &str,
    done: impl Fn(&SignalSet) -> bool,
) -> SignalSet {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let set = source.fetch(Utc::now()).await.expect("poll the tier");
        if done(&set) {
            return set;
        }
        let summary: Vec<String> = set
            .signals
            .iter()
            .map(|s| {
                format!(
                    "{} {:?} {:?}",
                    s.feature,
                    s.kind,
                    s.points.iter().rev().find(|v| v.is_finite())
                )
            })
            .chain(
                set.coverage
                    .iter()
                    .map(|c| format!("{} {:?} {}", c.feature, c.kind, c.text())),
            )
            .collect();
        assert!(
            Instant::now() < deadline,
            "{what}: not seen in {PATIENCE:?}; last poll:\n{}",
            summary.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

const BASE: &[(&str, f64)] = &[
    ("ttft_s", 0.05),
    // OpenLIT's time-per-token buckets start at 10 ms: a faster model is "coarse" there.
    ("per_token_s", 0.015),
    ("prompt_tokens", 120.0),
    ("completion_tokens", 40.0),
];

fn scenario(changes: &[(&str, f64)]) -> serde_json::Value {
    let mut s = serde_json::Map::new();
    for (k, v) in BASE.iter().chain(changes) {
        s.insert(k.to_string(), json!(v));
    }
    serde_json::Value::Object(s)
}

/// Jobs of the reading test: the three libraries as shipped, and Traceloop again with the
/// fix the cockpit names for its coarse latency buckets.
const FIXED: &str = "traceloop-buckets";

#[tokio::test(flavor = "multi_thread")]
async fn the_cockpit_reads_each_instrumentation_by_its_own_names_and_sees_spikes_and_slowdowns() {
    let fix = [("LATENCY_BUCKETS", LATENCY_BUCKETS)];
    let jobs: Vec<Job> = vec![
        ("otel", "otel", &[]),
        ("openlit", "openlit", &[]),
        ("traceloop", "traceloop", &[]),
        (FIXED, "traceloop", &fix),
    ];
    let tier = Tier::start_jobs("tier-read", &jobs, &scenario(&[]));
    let mut source = Prometheus::new(&cockpit_config(&tier.prometheus.url, "job")).expect("config");
    let all_jobs = ["otel", "openlit", "traceloop", FIXED];

    // Every instrumentation's tokens, priced by the model it names (Traceloop: the response
    // model), and its errors; latency as each can give it.
    let base = poll_until(
        &mut source,
        "tokens, cost and latency of every job",
        |set| {
            all_jobs.iter().all(|job| {
                [
                    SignalKind::TokensPerMin,
                    SignalKind::CostPerMin,
                    SignalKind::ErrorRatio,
                ]
                .iter()
                .all(|k| newest(set, job, *k).is_some_and(|v| v >= 0.0))
            }) && ["otel", "openlit", FIXED]
                .iter()
                .all(|job| newest(set, job, SignalKind::TtftP99).is_some())
                && coverage(set, "traceloop", SignalKind::TtftP99).is_some()
        },
    )
    .await;

    // The official instrumentation has no TTFT: operation duration stands in, said so.
    assert!(
        matches!(
            coverage(&base, "otel", SignalKind::TtftP99),
            Some(CoverageState::Fallback(_))
        ),
        "{:?}",
        coverage(&base, "otel", SignalKind::TtftP99)
    );
    // OpenLIT's own TTFT, not a fallback; its TPOT too.
    assert_eq!(coverage(&base, "openlit", SignalKind::TtftP99), None);
    assert!(newest(&base, "openlit", SignalKind::TpotP99).is_some());
    // Traceloop's TTFT on the SDK's default buckets is no number, and says how to fix it.
    match coverage(&base, "traceloop", SignalKind::TtftP99) {
        Some(CoverageState::Unreliable(why)) => {
            assert!(
                why.contains("coarse buckets") && why.contains("fix"),
                "{why}"
            )
        }
        other => panic!("traceloop TTFT: {other:?}"),
    }
    assert_eq!(newest(&base, "traceloop", SignalKind::TtftP99), None);
    // Nothing emits refusals: not measured, with the counters to emit.
    for job in all_jobs {
        match coverage(&base, job, SignalKind::RefusalRate) {
            Some(CoverageState::Missing(why)) => {
                assert!(why.contains("gen_ai_refusals_total"), "{why}")
            }
            other => panic!("{job} refusals: {other:?}"),
        }
    }
    assert!(matches!(
        coverage(&base, "otel", SignalKind::TpotP99),
        Some(CoverageState::Missing(_))
    ));

    // doctor reads the same server the same way, and says what each signal is.
    let report = oncall_cockpit::doctor::prometheus(
        &cockpit_config(&tier.prometheus.url, "job"),
        &oncall_cockpit::detect::builtin().caps,
        Utc::now(),
    )
    .await;
    assert!(report.readable, "{}", report.text);
    for job in all_jobs {
        assert!(
            report.text.contains(&format!("feature {job}\n")),
            "{}",
            report.text
        );
    }
    for said in [
        "fallback: operation duration p99",
        "unreliable: coarse buckets",
        "not measured: gen_ai_answers_total absent",
        // gpt-4o-mini is priced in the tier's config: its token line follows the $ cap.
        "caps           $10.00/min until its baseline exists;",
        "query: (OpenTelemetry GenAI, unit suffix (Traceloop)) sum by (job) (rate(gen_ai_client_token_usage_token_sum[10s])) * 60",
    ] {
        assert!(report.text.contains(said), "{said:?} not in\n{}", report.text);
    }

    // Features named by service.name: only OpenLIT puts it on its series; the others are
    // joined to target_info.
    let mut by_service =
        Prometheus::new(&cockpit_config(&tier.prometheus.url, "service_name")).expect("config");
    poll_until(
        &mut by_service,
        "tokens of every service by service_name",
        |set| {
            all_jobs.iter().all(|job| {
                newest(set, &format!("svc-{job}"), SignalKind::TokensPerMin)
                    .is_some_and(|v| v > 0.0)
            })
        },
    )
    .await;

    // A cost spike: ten times the tokens per call.
    let before: BTreeMap<&str, f64> = all_jobs
        .iter()
        .map(|j| {
            (
                *j,
                newest(&base, j, SignalKind::CostPerMin).unwrap_or(f64::NAN),
            )
        })
        .collect();
    // Per token faster, so a call takes as long as before.
    tier.set_scenario(&scenario(&[
        ("prompt_tokens", 1200.0),
        ("completion_tokens", 400.0),
        ("per_token_s", 0.0015),
    ]));
    poll_until(&mut source, "cost x5 on every job", |set| {
        all_jobs.iter().all(|job| {
            newest(set, job, SignalKind::CostPerMin).is_some_and(|v| v > 5.0 * before[job])
        })
    })
    .await;

    // Back to the usual calls, slowed down: thirty times the time to first token, three
    // times per token. A quantile does not ramp up with its window like a rate: the
    // latencies of the first poll are the baseline.
    let latency: BTreeMap<&str, f64> = ["otel", "openlit", FIXED]
        .iter()
        .map(|j| {
            (
                *j,
                newest(&base, j, SignalKind::TtftP99).unwrap_or(f64::NAN),
            )
        })
        .collect();
    tier.set_scenario(&scenario(&[("ttft_s", 1.5), ("per_token_s", 0.045)]));
    poll_until(&mut source, "latency x3 where it is measured", |set| {
        latency
            .iter()
            .all(|(job, v)| newest(set, job, SignalKind::TtftP99).is_some_and(|now| now > 3.0 * v))
    })
    .await;
}

#[test]
fn doctor_exits_non_zero_when_a_configured_source_cannot_be_read() {
    let dir = cockpit_testkit::servers::temp_dir("doctor-dead");
    let port = cockpit_testkit::servers::free_port();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!("[[prometheus]]\nname = \"dead\"\nurl = \"http://127.0.0.1:{port}\"\n"),
    )
    .expect("write config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oncall-cockpit"))
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("doctor")
        .output()
        .expect("run doctor");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("prometheus \"dead\"") && stdout.contains("cannot be read"),
        "{stdout}"
    );
    assert!(stderr.contains("cannot be read"), "{stderr}");
}
