//! An HTTP hook against a local endpoint that records what it receives: the request is the
//! configured template filled for the lever pulled, the secret header arrives but never shows
//! in what the cockpit reports, and a refusal fails loudly with the endpoint's words.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::any;
use axum::Router;
use chrono::{TimeZone, Utc};
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
        levers: Default::default(),
        variants: Default::default(),
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
        .is_some_and(|e| e.contains("needs a [rollback], [kill_switch] or [levers.<lever>]")));
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

// ---- the settable levers ------------------------------------------------------------------

use oncall_cockpit::backend::http_hook::{HookVariant, PerLever};
use oncall_cockpit::domain::lever::Lever;

fn variants(list: &[(&str, Value)]) -> BTreeMap<String, Vec<HookVariant>> {
    BTreeMap::from([(
        "triage-agent".to_string(),
        list.iter()
            .map(|(name, value)| HookVariant {
                name: name.to_string(),
                value: value.clone(),
            })
            .collect(),
    )])
}

/// The hook of `config` with a request per lever, each a little different (method, path,
/// body), and triage-agent's variants for each.
fn lever_config(url: &str, test: &str) -> HttpHookConfig {
    let mut cfg = config(url, test);
    let base = cfg.kill_switch.clone().expect("kill switch request");
    let req = |method: &str, path: &str, body: Value| HookRequest {
        method: method.into(),
        url: format!("{url}{path}"),
        body: Some(body),
        ..base.clone()
    };
    let body = json!({"variant": "{variant}", "value": "{value}", "segment": "{segment}",
                      "actor": "{actor}", "at": "{at}", "undo": "{undo}", "lever": "{lever}",
                      "note": "{action} {lever} of {feature} to {variant} ({value})"});
    cfg.levers = PerLever {
        model: Some(req("PUT", "/features/{feature}/model", body.clone())),
        config: Some(req(
            "PATCH",
            "/features/{feature}/config?by={actor}",
            body.clone(),
        )),
        budget: Some(req(
            "POST",
            "/budgets/{feature}/{segment}",
            json!({"tokensPerMinute": "{value}", "segment": "{segment}", "undo": "{undo}"}),
        )),
        retrieval: Some(req("POST", "/features/{feature}/retrieval", body.clone())),
        fallback: None,
    };
    cfg.variants = PerLever {
        model: Some(variants(&[
            ("frontier-xl", json!("gpt-4o")),
            ("frontier-mini", json!("gpt-4o-mini")),
        ])),
        config: Some(variants(&[
            ("standard", json!({"temperature": 0.7})),
            (
                "conservative",
                json!({"temperature": 0.2, "prompt": "strict"}),
            ),
        ])),
        budget: Some(variants(&[
            ("unlimited", json!(0)),
            ("20k", json!(20000)),
            ("5k", json!(5000)),
        ])),
        retrieval: Some(variants(&[
            ("top-k-8", json!({"topK": 8})),
            ("cached", json!({"cached": true})),
        ])),
        fallback: None,
    };
    cfg
}

fn lever_op(lever: Lever, segment: Option<&str>, variant: &str, undo: bool) -> FlagOp {
    FlagOp::SetLever {
        feature: "triage-agent".into(),
        lever,
        segment: segment.map(str::to_string),
        variant: variant.into(),
        undo,
    }
}

#[tokio::test]
async fn each_lever_becomes_its_configured_request_with_the_declared_value() {
    let (url, seen) = endpoint().await;
    let mut hook = HttpHook::new(&lever_config(&url, "levers")).expect("hook");
    // Before anything is set the hook offers what its config declares, serving unknown.
    let known = hook.read(Utc::now()).await.expect("read");
    let levers: Vec<Lever> = known[0].levers.iter().map(|l| l.lever).collect();
    assert_eq!(
        levers,
        [
            Lever::ModelSwitch,
            Lever::ConservativeConfig,
            Lever::TokenBudget,
            Lever::RetrievalPath
        ]
    );
    let budget = &known[0].levers[2];
    assert_eq!(budget.variants[1].value, json!(20000));
    assert_eq!(budget.current, "", "the endpoint cannot say what it serves");

    let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 3, 0, 0).unwrap();
    let ops = [
        lever_op(Lever::ModelSwitch, None, "frontier-mini", false),
        lever_op(
            Lever::ConservativeConfig,
            Some("free tier/eu"),
            "conservative",
            false,
        ),
        lever_op(Lever::TokenBudget, Some("loop-tenant"), "5k", false),
        lever_op(Lever::RetrievalPath, None, "cached", false),
        lever_op(Lever::ModelSwitch, None, "frontier-xl", true),
    ];
    for (i, op) in ops.iter().enumerate() {
        let msg = hook
            .apply(op, "ana", t0 + chrono::Duration::minutes(i as i64))
            .await
            .unwrap_or_else(|e| panic!("{op:?}: {e}"));
        assert!(msg.contains("via ops-api (HTTP 200)"), "{msg}");
        assert!(!msg.contains("ops-secret"), "the token never shows: {msg}");
    }
    let seen = seen.lock().unwrap_or_else(|p| p.into_inner()).seen.clone();
    let got: Vec<(Method, &str)> = seen
        .iter()
        .map(|s| (s.method.clone(), s.uri.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (Method::PUT, "/features/triage-agent/model"),
            (Method::PATCH, "/features/triage-agent/config?by=ana"),
            (Method::POST, "/budgets/triage-agent/loop-tenant"),
            (Method::POST, "/features/triage-agent/retrieval"),
            (Method::PUT, "/features/triage-agent/model"),
        ]
    );
    for s in &seen {
        assert_eq!(s.auth.as_deref(), Some(TOKEN), "{}", s.uri);
        assert_eq!(s.team.as_deref(), Some("ai-triage-agent"), "{}", s.uri);
    }
    assert_eq!(
        seen[0].body,
        json!({"variant": "frontier-mini", "value": "gpt-4o-mini", "segment": null,
               "actor": "ana", "at": "2026-12-01T03:00:00Z", "undo": false, "lever": "model",
               "note": "model_switch model of triage-agent to frontier-mini (gpt-4o-mini)"})
    );
    assert_eq!(
        seen[1].body["value"],
        json!({"temperature": 0.2, "prompt": "strict"}),
        "an object value arrives as an object"
    );
    assert_eq!(seen[1].body["segment"], "free tier/eu");
    assert_eq!(
        seen[1].body["note"],
        "conservative_config config of triage-agent to conservative ({\"temperature\":0.2,\"prompt\":\"strict\"})"
    );
    assert_eq!(
        seen[2].body,
        json!({"tokensPerMinute": 5000, "segment": "loop-tenant", "undo": false}),
        "a number value arrives as a number"
    );
    assert_eq!(seen[3].body["value"], json!({"cached": true}));
    assert_eq!(
        (&seen[4].body["undo"], &seen[4].body["value"]),
        (&json!(true), &json!("gpt-4o"))
    );
    assert_eq!(
        seen[4].body["note"],
        "lever_revert model of triage-agent to frontier-xl (gpt-4o)"
    );

    // What was set is what the hook now reports, with who, when and what came before.
    let now = hook.read(Utc::now()).await.expect("read");
    let l = |lever| {
        now[0]
            .levers
            .iter()
            .find(|l| l.lever == lever)
            .expect("lever")
    };
    let model = l(Lever::ModelSwitch);
    assert_eq!(model.current, "frontier-xl");
    assert_eq!(model.previous.as_deref(), Some("frontier-mini"));
    assert_eq!(model.changed_by.as_deref(), Some("ana"));
    assert_eq!(model.changed_at, Some(t0 + chrono::Duration::minutes(4)));
    let config = l(Lever::ConservativeConfig);
    assert_eq!(config.current, "", "only a segment was set");
    assert_eq!(config.served_to(Some("free tier/eu")), "conservative");
    assert_eq!(
        l(Lever::TokenBudget).segments,
        [("loop-tenant".to_string(), "5k".to_string())]
    );
    assert_eq!(l(Lever::RetrievalPath).current, "cached");
}

#[tokio::test]
async fn a_lever_without_a_request_or_variant_is_refused_before_anything_is_sent() {
    let (url, seen) = endpoint().await;
    let mut hook = HttpHook::new(&lever_config(&url, "no-request")).expect("hook");
    let err = hook
        .apply(
            &lever_op(Lever::Fallback, None, "human", false),
            "ana",
            Utc::now(),
        )
        .await
        .expect_err("no fallback request");
    assert_eq!(
        err.to_string(),
        "ops-api has no fallback request configured"
    );
    let err = hook
        .apply(
            &lever_op(Lever::TokenBudget, None, "1k", false),
            "ana",
            Utc::now(),
        )
        .await
        .expect_err("undeclared variant");
    assert!(
        err.to_string()
            .contains("triage-agent has no token budget variant \"1k\" in ops-api (declared: unlimited, 20k, 5k)"),
        "{err}"
    );
    let other = FlagOp::SetLever {
        feature: "support-bot".into(),
        lever: Lever::ModelSwitch,
        segment: None,
        variant: "frontier-mini".into(),
        undo: false,
    };
    let err = hook
        .apply(&other, "ana", Utc::now())
        .await
        .expect_err("no variants");
    assert!(
        err.to_string()
            .contains("declares no model switch variants for support-bot"),
        "{err}"
    );
    assert!(seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .seen
        .is_empty());
}

#[tokio::test]
async fn a_refused_lever_fails_loudly_keeps_the_token_out_and_can_be_retried() {
    let seen: Shared = Arc::default();
    let echo = Router::new()
        .route(
            "/{*path}",
            any(|State(s): State<Shared>, headers: HeaderMap| async move {
                let mut e = s.lock().unwrap_or_else(|p| p.into_inner());
                if e.refuse {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let token = auth.trim_start_matches("Bearer ").to_string();
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("upstream busy; request had Authorization: {auth} (token {token})"),
                    );
                }
                e.seen.push(Seen {
                    method: Method::POST,
                    uri: String::new(),
                    auth: None,
                    team: None,
                    body: Value::Null,
                });
                (StatusCode::OK, "{}".into())
            }),
        )
        .with_state(seen.clone());
    let url = servers::serve_http(echo).await.0;
    seen.lock().unwrap_or_else(|p| p.into_inner()).refuse = true;
    let mut hook = HttpHook::new(&lever_config(&url, "refused")).expect("hook");
    let op = lever_op(Lever::TokenBudget, Some("loop-tenant"), "5k", false);
    let err = hook.apply(&op, "ana", Utc::now()).await.expect_err("503");
    let text = err.to_string();
    assert!(
        matches!(&err, BackendError::Http { status: 503, message } if message.contains("upstream busy")),
        "{text}"
    );
    assert!(
        !text.contains("ops-secret-0123"),
        "the audit text has no token: {text}"
    );
    assert!(text.contains("[secret]"), "{text}");
    let now = hook.read(Utc::now()).await.expect("read");
    assert!(
        now[0]
            .levers
            .iter()
            .all(|l| l.segments.is_empty() && l.changed_by.is_none()),
        "a refused lever is not shown as set"
    );
    // The same command again, once the endpoint is back.
    seen.lock().unwrap_or_else(|p| p.into_inner()).refuse = false;
    hook.apply(&op, "ana", Utc::now())
        .await
        .expect("the retry lands");
    let now = hook.read(Utc::now()).await.expect("read");
    let budget = now[0]
        .levers
        .iter()
        .find(|l| l.lever == Lever::TokenBudget)
        .expect("budget");
    assert_eq!(budget.served_to(Some("loop-tenant")), "5k");
}

#[test]
fn lever_config_mistakes_are_reported_all_at_once() {
    let mut cfg = lever_config("http://127.0.0.1:1", "lever-mistakes");
    cfg.variants.retrieval = None;
    cfg.variants.fallback = Some(variants(&[("off", json!(false))]));
    cfg.variants.budget = Some(variants(&[
        ("5k", json!(5000)),
        ("5k", json!(5001)),
        (" ", json!(1)),
    ]));
    let problems = HttpHook::problems(&cfg);
    assert_eq!(
        problems,
        [
            "levers.retrieval: no variants declared for any feature (variants.retrieval)",
            "variants.budget.triage-agent: variant \"5k\" is declared twice",
            "variants.budget.triage-agent: variant 3 has an empty name",
            "variants.fallback: declared, but there is no levers.fallback request to set them",
        ]
    );
    assert!(HttpHook::new(&cfg).is_err());
    // Levers alone make a hook.
    let mut cfg = lever_config("http://127.0.0.1:1", "levers-alone");
    cfg.rollback = None;
    cfg.kill_switch = None;
    assert!(
        HttpHook::new(&cfg).is_ok(),
        "{:?}",
        HttpHook::new(&cfg).err()
    );
}
