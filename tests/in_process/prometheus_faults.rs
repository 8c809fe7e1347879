//! The Prometheus adapter against servers that misbehave the ways real ones do: error JSON,
//! truncated bodies, hangs, nothing listening, and auth that must arrive intact. Each case
//! runs its own axum server on 127.0.0.1.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, TimeZone, Utc};
use cockpit_testkit::servers;
use oncall_cockpit::backend::prometheus::Prometheus;
use oncall_cockpit::backend::prometheus::PrometheusConfig;
use oncall_cockpit::backend::{BackendError, MetricsSource};
use oncall_cockpit::config::secret::{AuthConfig, SecretSpec};
use oncall_cockpit::config::timing::{PollSecs, TimeoutSecs};
use oncall_cockpit::domain::{SignalKind, SignalSet};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const EMPTY_MATRIX: &str = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
/// Queries the otel preset runs per poll: four signals and the priced tokens query.
const OTEL_QUERIES: usize = 5;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0)
        .single()
        .expect("valid date")
}

fn config(url: &str) -> PrometheusConfig {
    PrometheusConfig {
        name: "faulty".into(),
        url: url.into(),
        preset: "otel".into(),
        feature_label: "job".into(),
        poll_secs: PollSecs::try_from(15.0).expect("in range"),
        timeout_secs: TimeoutSecs::try_from(0.5).expect("in range"),
        max_reply_mib: 8,
        answer_time_factor: 4.0,
        range_secs: 600,
        step_secs: 60,
        rate_window: "5m".into(),
        auth: None,
        segment_label: None,
        queries: BTreeMap::new(),
        prices: BTreeMap::new(),
        tls: None,
    }
}

async fn serve(router: Router) -> String {
    servers::serve_http(router).await.0
}

/// A server answering every query_range with `status` and `body`.
async fn answering(status: u16, body: &'static str) -> String {
    let code = StatusCode::from_u16(status).expect("status code");
    let handler = move || async move { (code, body) };
    serve(Router::new().route("/api/v1/query_range", get(handler))).await
}

async fn fetch(cfg: &PrometheusConfig) -> Result<SignalSet, BackendError> {
    let mut source = Prometheus::new(cfg).expect("valid config");
    source.fetch(now()).await
}

#[tokio::test]
async fn server_error_json_becomes_http_error_with_error_type() {
    let body = r#"{"status":"error","errorType":"internal","error":"boom"}"#;
    let url = answering(500, body).await;
    match fetch(&config(&url)).await {
        // Every query fails; the first in plan order is reported.
        Err(BackendError::Http { status, message }) => {
            assert_eq!(status, 500);
            assert_eq!(message, "tokens_per_min query: internal: boom");
        }
        other => panic!("expected HTTP 500, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_data_names_the_failing_signal() {
    // Only the TTFT query is rejected, as Prometheus would reject a bad query.
    let handler = |Query(q): Query<HashMap<String, String>>| async move {
        let query = q.get("query").cloned().unwrap_or_default();
        if query.contains("time_to_first_token") {
            let body = r#"{"status":"error","errorType":"bad_data","error":"1:1: parse error"}"#;
            (StatusCode::BAD_REQUEST, body)
        } else {
            (StatusCode::OK, EMPTY_MATRIX)
        }
    };
    let url = serve(Router::new().route("/api/v1/query_range", get(handler))).await;
    assert_eq!(
        fetch(&config(&url)).await.err(),
        Some(BackendError::Http {
            status: 400,
            message: "ttft_p99 query: bad_data: 1:1: parse error".into()
        })
    );
}

#[tokio::test]
async fn non_json_error_pages_are_excerpted() {
    let url = answering(502, "<html>\n  <body>bad gateway</body></html>").await;
    match fetch(&config(&url)).await {
        Err(BackendError::Http {
            status: 502,
            message,
        }) => {
            assert!(
                message.ends_with("<html> <body>bad gateway</body></html>"),
                "{message}"
            );
        }
        other => panic!("expected HTTP 502, got {other:?}"),
    }
}

#[tokio::test]
async fn truncated_success_is_malformed() {
    let url = answering(200, r#"{"status":"success","data":"#).await;
    match fetch(&config(&url)).await {
        Err(BackendError::Malformed(m)) => assert!(m.starts_with("tokens_per_min query: "), "{m}"),
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[tokio::test]
async fn wrong_shapes_are_malformed() {
    for body in [
        r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"x"},"values":[[1,"abc"]]}]}}"#,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"x"},"values":[["1",2]]}]}}"#,
        r#"{"status":"success"}"#,
        "[]",
    ] {
        let url = answering(200, body).await;
        let r = fetch(&config(&url)).await;
        assert!(
            matches!(r, Err(BackendError::Malformed(_))),
            "{body}: {r:?}"
        );
    }
}

#[tokio::test]
async fn a_hung_server_times_out() {
    let handler = || async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        EMPTY_MATRIX
    };
    let url = serve(Router::new().route("/api/v1/query_range", get(handler))).await;
    let r = fetch(&config(&url)).await;
    assert!(matches!(r, Err(BackendError::Timeout(_))), "{r:?}");
}

#[tokio::test]
async fn nothing_listening_is_unreachable() {
    let port = servers::free_port();
    match fetch(&config(&format!("http://127.0.0.1:{port}"))).await {
        Err(BackendError::Unreachable(m)) => assert!(m.contains(&port.to_string()), "{m}"),
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

#[tokio::test]
async fn queries_run_concurrently() {
    // The server records how many queries it holds at once: one after another, never more
    // than one. Counted, not timed, so a loaded CI machine cannot make it flaky.
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (now, peak) = (in_flight.clone(), most.clone());
    let handler = move || {
        let (now, peak) = (now.clone(), peak.clone());
        async move {
            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(n, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(300)).await;
            now.fetch_sub(1, Ordering::SeqCst);
            EMPTY_MATRIX
        }
    };
    let url = serve(Router::new().route("/api/v1/query_range", get(handler))).await;
    let mut cfg = config(&url);
    cfg.timeout_secs = TimeoutSecs::try_from(5.0).expect("in range");
    let set = fetch(&cfg).await.expect("fetch");
    assert!(set.signals.is_empty() && set.features.is_empty());
    let peak = most.load(Ordering::SeqCst);
    assert!(
        peak >= 2,
        "queries ran one at a time (at most {peak} in flight)"
    );
}

#[tokio::test]
async fn values_are_parsed_and_placed_on_the_grid() {
    // Answers on the requested grid: 1.5 at start, +Inf next, NaN at the end, one point
    // skipped, and one point off the grid that must be ignored.
    let handler = |Query(q): Query<HashMap<String, String>>| async move {
        let num = |k: &str| q.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        let (start, end, step) = (num("start"), num("end"), num("step"));
        let body = format!(
            r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{"job":"bot"}},"values":[[{start},"1.5"],[{},"+Inf"],[{},"2e-3"],[{},"7"],[{end},"NaN"]]}}]}}}}"#,
            start + step,
            start + 3.0 * step,
            end + step,
        );
        body.into_response()
    };
    let url = serve(Router::new().route("/api/v1/query_range", get(handler))).await;
    let set = fetch(&config(&url)).await.expect("fetch");
    let ttft = set
        .signals
        .iter()
        .find(|s| s.feature == "bot" && s.kind == SignalKind::TtftP99)
        .expect("ttft signal");
    let shown: Vec<String> = ttft.points.iter().map(|v| format!("{v}")).collect();
    // range 600 s at 60 s steps: 11 points.
    let mut expected = vec!["NaN".to_string(); 11];
    expected[0] = "1.5".into();
    expected[3] = "0.002".into();
    assert_eq!(shown, expected);
    assert_eq!(set.at, Some(now()));
}

/// A server that records the Authorization header of every request.
async fn recording_auth() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let handler = |State(seen): State<Arc<Mutex<Vec<String>>>>, headers: HeaderMap| async move {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        seen.lock().expect("lock").push(auth);
        EMPTY_MATRIX.into_response()
    };
    let router = Router::new()
        .route("/api/v1/query_range", get(handler))
        .with_state(seen.clone());
    (serve(router).await, seen)
}

fn env_secret(var: &str, value: &str) -> SecretSpec {
    // Environment variables are process-wide: each test uses its own name.
    std::env::set_var(var, value);
    SecretSpec {
        env: Some(var.into()),
        file: None,
    }
}

#[tokio::test]
async fn bearer_token_is_sent() {
    let (url, seen) = recording_auth().await;
    let mut cfg = config(&url);
    cfg.auth = Some(AuthConfig {
        bearer: Some(env_secret("OC_TEST_PROM_FAULTS_BEARER", "tok-123")),
        basic_user: None,
        basic_password: None,
    });
    fetch(&cfg).await.expect("fetch");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen, vec!["Bearer tok-123".to_string(); OTEL_QUERIES]);
}

#[tokio::test]
async fn basic_auth_is_sent() {
    let (url, seen) = recording_auth().await;
    let mut cfg = config(&url);
    cfg.auth = Some(AuthConfig {
        bearer: None,
        basic_user: Some("ana".into()),
        basic_password: Some(env_secret("OC_TEST_PROM_FAULTS_BASIC", "s3cret")),
    });
    fetch(&cfg).await.expect("fetch");
    let seen = seen.lock().expect("lock").clone();
    // base64("ana:s3cret")
    assert_eq!(
        seen,
        vec!["Basic YW5hOnMzY3JldA==".to_string(); OTEL_QUERIES]
    );
}

#[test]
fn world_readable_token_file_is_rejected_naming_the_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = servers::temp_dir("prom-token");
    let path = dir.join("prometheus-token");
    std::fs::write(&path, "tok\n").expect("write token");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut cfg = config("http://127.0.0.1:9");
    cfg.auth = Some(AuthConfig {
        bearer: Some(SecretSpec {
            env: None,
            file: Some(path.clone()),
        }),
        basic_user: None,
        basic_password: None,
    });
    let err = Prometheus::new(&cfg).err().unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("readable by others"), "{err}");
}

#[tokio::test]
async fn a_build_info_that_never_answers_costs_no_poll_its_signals() {
    // A proxy that passes queries but swallows /api/v1/status/buildinfo.
    let asked = Arc::new(Mutex::new(0usize));
    let counter = asked.clone();
    let hang = move || {
        let counter = counter.clone();
        async move {
            *counter.lock().unwrap_or_else(|p| p.into_inner()) += 1;
            std::future::pending::<()>().await;
        }
    };
    let router = Router::new()
        .route("/api/v1/query_range", get(|| async { EMPTY_MATRIX }))
        .route("/api/v1/status/buildinfo", get(hang));
    let url = serve(router).await;
    let mut source = Prometheus::new(&config(&url)).expect("valid config");
    for poll in 0..5 {
        let set = source.fetch(now()).await;
        assert!(set.is_ok(), "poll {poll}: {set:?}");
    }
    // Asked on the first three polls, then taken as Prometheus-compatible.
    assert_eq!(*asked.lock().unwrap_or_else(|p| p.into_inner()), 3);
    assert_eq!(
        source.engine().name,
        "a Prometheus-compatible engine (build info: no answer)"
    );
}
