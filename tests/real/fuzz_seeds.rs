//! Where the fuzz seeds of the real-server decoders come from: real Prometheus, Alertmanager
//! and Unleash replies, captured from the servers this binary starts anyway and written to
//! `tests/fuzz_regressions/<target>/seed-real-*`. A seed shaped by hand carries the writer's
//! idea of the API; a captured one carries the API's (field order, nulls, escapes, the
//! fields nobody thought of), which is what the fuzzer should mutate from.
//!
//! Not part of the suite (`#[ignore]`): it rewrites files in the repository. Run it after a
//! server upgrade and review the diff:
//!
//!     cargo test --test real capture_ -- --ignored --test-threads 1
//!
//! The replayed seeds are checked by `tests/in_process/fuzz_regressions.rs` like every other.

use chrono::{DateTime, Duration, Utc};
use cockpit_testkit::fuzz_harness::{self, NOW_SECS};
use cockpit_testkit::servers;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;

fn seed_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target)
}

/// Writes `bodies` joined by the harness's 0xFF separator, each led by its status line
/// unless it is a 200.
fn save(target: &str, name: &str, bodies: &[(u16, Vec<u8>)]) {
    let mut data = Vec::new();
    for (i, (status, body)) in bodies.iter().enumerate() {
        if i > 0 {
            data.push(0xFF);
        }
        if *status != 200 {
            data.extend_from_slice(format!("{status}\n").as_bytes());
        }
        data.extend_from_slice(body);
    }
    let path = seed_dir(target).join(format!("seed-real-{name}"));
    std::fs::write(&path, data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

async fn fetch(req: reqwest::RequestBuilder) -> (u16, Vec<u8>) {
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let body = resp.bytes().await.expect("body").to_vec();
    (status, body)
}

// ---- Prometheus --------------------------------------------------------------------------

/// Two features on two models for the two hours before the harness's `now`, one feature
/// only for the last hour, and a label value holding an escape sequence and a bidi
/// override, as a careless exporter can write it.
fn history() -> String {
    let mut text = String::new();
    let now = NOW_SECS;
    writeln!(text, "# TYPE gen_ai_client_token_usage_sum counter").expect("write");
    let series = [
        ("support-bot", "gpt-4o", 9000, 40.0),
        ("triage-agent", "llama-3-70b", 9000, 900.0),
        ("summarizer", "gpt-4o", 3600, 12.5),
        ("evil\u{1b}[2J\u{202e}bot", "m\u{1b}]0;x\u{7}", 9000, 3.0),
    ];
    for (job, model, since, per_scrape) in series {
        for kind in ["input", "output"] {
            for (k, t) in ((now - since)..=now).step_by(15).enumerate() {
                writeln!(
                    text,
                    "gen_ai_client_token_usage_sum{{job=\"{job}\",gen_ai_request_model=\"{model}\",gen_ai_token_type=\"{kind}\"}} {} {t}",
                    per_scrape * k as f64
                )
                .expect("write");
            }
        }
    }
    text.push_str("# EOF\n");
    text
}

#[tokio::test]
#[ignore = "rewrites seeds in the repository; run by hand"]
async fn capture_prometheus_seeds() {
    let server = servers::prometheus::start_backfilled("fuzz-seeds", &history());
    let http = reqwest::Client::new();
    let range = |query: &str| {
        http.get(format!("{}/api/v1/query_range", server.url))
            .query(&[
                ("query", query.to_string()),
                ("start", (NOW_SECS - 7200).to_string()),
                ("end", NOW_SECS.to_string()),
                ("step", "60".to_string()),
            ])
    };
    let rate = "sum by (job, gen_ai_request_model) (rate(gen_ai_client_token_usage_sum{gen_ai_token_type=\"output\"}[5m]))";
    let matrix = fetch(range(rate)).await;
    assert_eq!(matrix.0, 200, "{}", String::from_utf8_lossy(&matrix.1));
    save("prometheus_query_range", "matrix.json", &[matrix]);
    let empty = fetch(range("sum by (job) (rate(vllm:prompt_tokens_total[5m]))")).await;
    save("prometheus_query_range", "empty.json", &[empty]);
    let bad = fetch(range(
        "sum by (job) (rate(gen_ai_client_token_usage_sum[5m])",
    ))
    .await;
    assert_eq!(bad.0, 400);
    save("prometheus_query_range", "bad-data-400.json", &[bad]);
    let instant = fetch(
        http.get(format!("{}/api/v1/query", server.url))
            .query(&[("query", rate), ("time", &NOW_SECS.to_string())]),
    )
    .await;
    save("prometheus_query_range", "vector.json", &[instant]);
}

// ---- Alertmanager ------------------------------------------------------------------------

#[tokio::test]
#[ignore = "rewrites seeds in the repository; run by hand"]
async fn capture_alertmanager_seeds() {
    let am = servers::alertmanager::start("fuzz-seeds");
    let now = Utc::now();
    let post = |labels: &[(&'static str, &'static str)],
                annotations: &[(&'static str, &'static str)],
                since: DateTime<Utc>| {
        let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
        let annotations: BTreeMap<&str, &str> = annotations.iter().copied().collect();
        let am = &am;
        async move {
            am.post_alert(&labels, &annotations, since, now + Duration::hours(1))
                .await
        }
    };
    post(
        &[
            ("alertname", "AICostExplosion"),
            ("severity", "sev2"),
            ("feature", "triage-agent"),
            ("ai_incident_type", "cost_explosion"),
        ],
        &[
            (
                "summary",
                "triage-agent: cost $12.40/min, 14x the trailing hour",
            ),
            ("runbook_url", "https://runbooks.example.com/ai/cost"),
        ],
        now - Duration::minutes(13),
    )
    .await;
    post(
        &[
            ("alertname", "AIGuardrailBypass"),
            ("severity", "sev1"),
            ("feature", "code-assistant"),
        ],
        &[
            ("summary", "code-assistant: refusals 0.4% (band 2.7%–10.9%)"),
            (
                "description",
                "model output:\n\u{1b}]52;c;cm0gLXJmIC8=\u{7}\u{202e}done",
            ),
        ],
        now - Duration::minutes(6),
    )
    .await;
    let alerts = || {
        let http = reqwest::Client::new();
        let url = format!("{}/api/v2/alerts", am.url);
        async move { fetch(http.get(url)).await }
    };
    let silences = || {
        let http = reqwest::Client::new();
        let url = format!("{}/api/v2/silences", am.url);
        async move { fetch(http.get(url)).await }
    };
    save(
        "alertmanager_alerts",
        "firing-no-silence.json",
        &[alerts().await, silences().await],
    );
    am.post_silence(json!({
        "matchers": [
            { "name": "alertname", "value": "AICostExplosion", "isRegex": false, "isEqual": true },
            { "name": "feature", "value": "triage-agent", "isRegex": false, "isEqual": true }
        ],
        "startsAt": now - Duration::minutes(2),
        "endsAt": now + Duration::minutes(13),
        "createdBy": "ana",
        "comment": "oncall-cockpit ack: looking at the agent loop",
    }))
    .await;
    // Alertmanager marks the alert suppressed on its next evaluation, not at once.
    let mut suppressed = alerts().await;
    for _ in 0..100 {
        if String::from_utf8_lossy(&suppressed.1).contains("\"suppressed\"") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        suppressed = alerts().await;
    }
    save(
        "alertmanager_alerts",
        "acked-by-silence.json",
        &[suppressed, silences().await],
    );
    // What a filtered watch (`filter = ['feature="code-assistant"']`) gets: the one alert
    // whose annotation carries an escape sequence, JSON-escaped as Alertmanager sends it.
    let filtered = fetch(
        reqwest::Client::new()
            .get(format!("{}/api/v2/alerts", am.url))
            .query(&[("filter", "feature=\"code-assistant\"")]),
    )
    .await;
    save(
        "alertmanager_alerts",
        "filtered-hostile-annotation.json",
        &[filtered, silences().await],
    );
}

// ---- Unleash -----------------------------------------------------------------------------

#[tokio::test]
#[ignore = "rewrites seeds in the repository; run by hand"]
async fn capture_unleash_seeds() {
    let u = servers::unleash::shared();
    let http = reqwest::Client::new();
    let get = |path: String| {
        http.get(format!("{}/api/admin{path}", u.url))
            .header("Authorization", &u.token)
    };
    u.ensure_segment_field(&["free-tier", "enterprise"]).await;
    let prompt = "seeds-bot.prompt";
    let kill = "seeds-bot.kill-switch";
    u.create_flag(prompt, "release").await;
    u.create_flag(kill, "kill-switch").await;
    let variant = |name: &str, weight: u32, kind: &str| {
        json!({ "name": name, "weight": weight, "weightType": kind, "stickiness": "default",
                "payload": { "type": "string", "value": format!("prompts/{name}.md") } })
    };
    let st = u
        .add_strategy(
            prompt,
            json!({ "name": "flexibleRollout", "parameters": {
                "rollout": "100", "stickiness": "default", "groupId": prompt },
                "variants": [variant("v12", 1000, "variable")] }),
        )
        .await;
    u.switch(prompt, true).await;
    let id = st["id"].as_str().expect("strategy id").to_string();
    let path =
        format!("/projects/default/features/{prompt}/environments/production/strategies/{id}");
    // A deploy of v13 next to v12: the event log records both, the echo the new variants.
    let echo = fetch(
        http.put(format!("{}/api/admin{path}", u.url))
            .header("Authorization", &u.token)
            .json(&json!({ "name": "flexibleRollout", "parameters": {
                "rollout": "100", "stickiness": "default", "groupId": prompt },
                "variants": [variant("v13", 1000, "variable"), variant("v12", 0, "fix")] })),
    )
    .await;
    u.add_strategy(
        kill,
        json!({ "name": "flexibleRollout", "parameters": {
            "rollout": "100", "stickiness": "default", "groupId": kill },
            "constraints": [{ "contextName": "segment", "operator": "IN",
                              "values": ["free-tier"], "inverted": false }] }),
    )
    .await;
    u.switch(kill, true).await;
    let list = fetch(get("/projects/default/features".into())).await;
    let flag = fetch(get(format!("/projects/default/features/{prompt}"))).await;
    let kill_flag = fetch(get(format!("/projects/default/features/{kill}"))).await;
    let events = fetch(get("/search/events".into()).query(&[
        ("feature", format!("IS:{prompt}")),
        ("environment", "IS:production".into()),
        ("limit", "50".into()),
    ]))
    .await;
    let legal = fetch(get("/context/segment".into())).await;
    let missing = fetch(get("/projects/default/features/no-such-flag".into())).await;
    // Unleash's validation refusal: a flag name that is not URL-friendly.
    let invalid = fetch(
        http.post(format!("{}/api/admin/projects/default/features", u.url))
            .header("Authorization", &u.token)
            .json(&json!({ "name": "seeds bot \u{1b}[31m!", "type": "release" })),
    )
    .await;
    assert_eq!(invalid.0, 400, "{}", String::from_utf8_lossy(&invalid.1));
    let bodies = |detail: &(u16, Vec<u8>), error: &(u16, Vec<u8>)| {
        [&list, detail, &echo, &events, &legal, error]
            .map(|(_, b)| (200, b.clone()))
            .to_vec()
    };
    save(
        "unleash_responses",
        "prompt-flag.json",
        &bodies(&flag, &missing),
    );
    save(
        "unleash_responses",
        "kill-flag.json",
        &bodies(&kill_flag, &invalid),
    );
    let decoded = fuzz_harness::unleash(
        &std::fs::read(seed_dir("unleash_responses").join("seed-real-prompt-flag.json"))
            .expect("saved"),
    );
    assert_eq!(decoded, vec![true; 5], "captured replies decode");
}
