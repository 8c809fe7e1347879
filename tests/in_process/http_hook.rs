//! An HTTP hook against a local endpoint that records what it receives: the request is the
//! configured template filled for the lever pulled, the secret header arrives but never shows
//! in what the cockpit reports, and a refusal fails loudly with the endpoint's words.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::any;
use axum::Router;
use chrono::Utc;
use cockpit_testkit::servers;
use oncall_cockpit::backend::http_hook::HttpHook;
use oncall_cockpit::backend::http_hook::{HookRequest, HttpHookConfig};
use oncall_cockpit::backend::{BackendError, FlagControl, FlagOp};
use oncall_cockpit::config::secret::SecretSpec;
use oncall_cockpit::config::timing::TimeoutSecs;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    uri: String,
    auth: Option<String>,
    team: Option<String>,
    body: Value,
}

#[derive(Default)]
struct Endpoint {
    seen: Vec<Seen>,
    refuse: bool,
}

type Shared = Arc<Mutex<Endpoint>>;

async fn record(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let header = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let mut e = s.lock().unwrap_or_else(|p| p.into_inner());
    e.seen.push(Seen {
        method,
        uri: uri.to_string(),
        auth: header("authorization"),
        team: header("x-team"),
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
    });
    if e.refuse {
        (
            StatusCode::CONFLICT,
            "{\"error\":\"feature is frozen by change management\"}".into(),
        )
    } else {
        (StatusCode::OK, "{}".into())
    }
}

async fn endpoint() -> (String, Shared) {
    let state: Shared = Arc::default();
    let app = Router::new()
        .route("/{*path}", any(record))
        .with_state(state.clone());
    (servers::serve_http(app).await.0, state)
}

const TOKEN: &str = "Bearer ops-secret-0123";

/// `test` names the token's directory: tests run in parallel, and `temp_dir` empties it.
fn config(url: &str, test: &str) -> HttpHookConfig {
    use std::os::unix::fs::PermissionsExt;
    let dir = servers::temp_dir(&format!("hook-{test}"));
    let path = dir.join("ops-token");
    std::fs::write(&path, TOKEN).expect("write token");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let body: Value = json!({"engage": "{engage}", "segment": "{segment}", "actor": "{author}",
                             "reason": "oncall-cockpit {action} on {feature}"});
    HttpHookConfig {
        name: "ops-api".into(),
        timeout_secs: TimeoutSecs::try_from(5.0).expect("in range"),
        features: vec!["triage-agent".into()],
        prompt_versions: vec!["v3".into(), "v4".into()],
        segments: vec!["free tier/eu".into()],
        rollback: Some(HookRequest {
            method: "put".into(),
            url: format!("{url}/prompts/{{feature}}?version={{to_version}}"),
            headers: BTreeMap::new(),
            secret_headers: BTreeMap::from([(
                "Authorization".to_string(),
                SecretSpec {
                    env: None,
                    file: Some(path.clone()),
                },
            )]),
            body: None,
        }),
        kill_switch: Some(HookRequest {
            method: "POST".into(),
            url: format!("{url}/features/{{feature}}/kill/{{segment}}"),
            headers: BTreeMap::from([("X-Team".to_string(), "ai-{feature}".to_string())]),
            secret_headers: BTreeMap::from([(
                "Authorization".to_string(),
                SecretSpec {
                    env: None,
                    file: Some(path),
                },
            )]),
            body: Some(body),
        }),
        tls: None,
    }
}

#[tokio::test]
async fn levers_become_the_configured_requests() {
    let (url, seen) = endpoint().await;
    let mut hook = HttpHook::new(&config(&url, "requests")).expect("hook");
    // Before anything is pulled the hook knows only what its config declares.
    let known = hook.read(Utc::now()).await.expect("read");
    assert_eq!(known.len(), 1);
    assert_eq!(known[0].feature, "triage-agent");
    assert!(known[0].killed.is_empty());
    assert_eq!(known[0].segments, ["free tier/eu"]);

    let kill = FlagOp::KillSwitch {
        feature: "triage-agent".into(),
        segment: Some("free tier/eu".into()),
        engage: true,
    };
    let msg = hook
        .apply(&kill, "ana", Utc::now())
        .await
        .expect("accepted");
    assert!(msg.contains("engaged") && msg.contains("ops-api"), "{msg}");
    assert!(!msg.contains("ops-secret"), "the token never shows: {msg}");
    let rollback = FlagOp::Rollback {
        feature: "triage-agent".into(),
        to_version: "v3".into(),
    };
    hook.apply(&rollback, "ana", Utc::now())
        .await
        .expect("accepted");

    let seen = seen.lock().unwrap_or_else(|p| p.into_inner()).seen.clone();
    assert_eq!(seen.len(), 2);
    let k = &seen[0];
    assert_eq!(k.method, Method::POST);
    assert_eq!(k.uri, "/features/triage-agent/kill/free%20tier%2Feu");
    assert_eq!(k.auth.as_deref(), Some(TOKEN));
    assert_eq!(k.team.as_deref(), Some("ai-triage-agent"));
    assert_eq!(
        k.body,
        json!({"engage": true, "segment": "free tier/eu", "actor": "ana",
               "reason": "oncall-cockpit engage on triage-agent"})
    );
    let r = &seen[1];
    assert_eq!(r.method, Method::PUT);
    assert_eq!(r.uri, "/prompts/triage-agent?version=v3");

    // What was pulled is what the cockpit now shows for the feature.
    let now = hook.read(Utc::now()).await.expect("read");
    assert_eq!(now[0].killed, ["free tier/eu"]);
    assert_eq!(now[0].current_prompt.as_deref(), Some("v3"));
}

#[tokio::test]
async fn a_refusal_fails_loudly_and_changes_nothing_shown() {
    let (url, seen) = endpoint().await;
    seen.lock().unwrap_or_else(|p| p.into_inner()).refuse = true;
    let mut hook = HttpHook::new(&config(&url, "refusal")).expect("hook");
    let kill = FlagOp::KillSwitch {
        feature: "triage-agent".into(),
        segment: None,
        engage: true,
    };
    let err = hook
        .apply(&kill, "ana", Utc::now())
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, BackendError::Http { status: 409, message } if message.contains("frozen by change management")),
        "{err}"
    );
    let now = hook.read(Utc::now()).await.expect("read");
    assert!(
        now[0].killed.is_empty(),
        "a refused lever is not shown as pulled"
    );

    // A dead endpoint says where it tried.
    let dead = format!("http://127.0.0.1:{}", servers::free_port());
    let mut hook = HttpHook::new(&config(&dead, "dead")).expect("hook");
    let err = hook
        .apply(&kill, "ana", Utc::now())
        .await
        .expect_err("unreachable");
    assert!(matches!(err, BackendError::Unreachable(_)), "{err}");
}

#[test]
fn a_hook_without_requests_or_with_a_bad_method_does_not_start() {
    let mut cfg = config("http://127.0.0.1:1", "no-requests");
    cfg.rollback = None;
    cfg.kill_switch = None;
    assert!(HttpHook::new(&cfg)
        .err()
        .is_some_and(|e| e.contains("needs a [rollback] or [kill_switch]")));
    let mut cfg = config("http://127.0.0.1:1", "bad-method");
    if let Some(r) = cfg.rollback.as_mut() {
        r.method = "GET POST".into();
    }
    assert!(HttpHook::new(&cfg)
        .err()
        .is_some_and(|e| e.contains("bad HTTP method")));
}

/// `tls.server_name` renames one host: a hook whose requests go to two hosts, or whose host
/// is a placeholder, is refused at start instead of renaming whichever request came first.
#[test]
fn server_name_needs_one_written_out_host() {
    let server_name = Some(oncall_cockpit::config::tls::TlsConfig {
        server_name: Some("ops.internal.example".into()),
        ..Default::default()
    });
    let mut cfg = config("https://127.0.0.1:8443", "one-host");
    cfg.tls = server_name.clone();
    assert!(
        HttpHook::new(&cfg).is_ok(),
        "{:?}",
        HttpHook::new(&cfg).err()
    );
    for (test, url) in [
        ("two-hosts", "https://10.0.0.9:8443/kill"),
        ("placeholder-host", "https://{feature}.ops.example/kill"),
    ] {
        let mut cfg = config("https://127.0.0.1:8443", test);
        cfg.tls = server_name.clone();
        if let Some(k) = cfg.kill_switch.as_mut() {
            k.url = url.into();
        }
        let err = HttpHook::new(&cfg).err().unwrap_or_default();
        assert!(
            err.contains("tls.server_name needs every request url"),
            "{test}: {err}"
        );
    }
}
