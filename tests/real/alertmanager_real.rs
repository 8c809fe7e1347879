//! The Alertmanager adapter against a real Alertmanager on 127.0.0.1 (Debian package), and
//! against a fake one that misbehaves on purpose.

use chrono::{DateTime, Duration, Utc};
use cockpit_testkit::servers;
use oncall_cockpit::backend::alertmanager::AlertmanagerConfig;
use oncall_cockpit::backend::alertmanager::{Alertmanager, ACK_COMMENT};
use oncall_cockpit::backend::{BackendError, IncidentOp, IncidentSource};
use oncall_cockpit::config::timing::{PollSecs, TimeoutSecs};
use oncall_cockpit::domain::{Incident, IncidentType, Sev, Status};
use serde_json::{json, Value};
use servers::alertmanager::{start, AlertmanagerServer};
use std::collections::BTreeMap;
use std::time::Instant;

const ANA: &str = "ana@example.com";
/// Every wait polls; this only bounds how long a broken run takes to fail.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(15);

fn config(url: &str) -> AlertmanagerConfig {
    AlertmanagerConfig {
        name: "am".into(),
        url: url.into(),
        poll_secs: PollSecs::try_from(1.0).expect("in range"),
        timeout_secs: TimeoutSecs::try_from(5.0).expect("in range"),
        max_reply_mib: 8,
        answer_time_factor: 4.0,
        max_incidents: 5000,
        filter: Vec::new(),
        auth: None,
        // Short, so renewal is due a few (simulated) seconds after the ack.
        silence_secs: 20,
        renew_before_secs: 15,
        severity_label: "severity".into(),
        feature_label: "feature".into(),
        type_label: "ai_incident_type".into(),
        tls: None,
    }
}

fn adapter_for(url: &str) -> Alertmanager {
    Alertmanager::new(&config(url)).expect("adapter")
}

fn drift_labels() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("alertname", "SupportBotDrift"),
        ("severity", "sev2"),
        ("feature", "support-bot"),
        ("ai_incident_type", "capability_drift"),
    ])
}

async fn fire(
    am: &AlertmanagerServer,
    labels: &BTreeMap<&str, &str>,
    annotations: &[(&str, &str)],
) {
    let now = Utc::now();
    let annotations = annotations.iter().copied().collect();
    am.post_alert(
        labels,
        &annotations,
        now - Duration::minutes(1),
        now + Duration::hours(1),
    )
    .await;
}

/// Lists until `pick` finds what the test waits for.
async fn list_until<T>(
    adapter: &mut Alertmanager,
    now: DateTime<Utc>,
    what: &str,
    pick: impl Fn(&[Incident]) -> Option<T>,
) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let list = adapter.list(now).await.expect("list");
        if let Some(found) = pick(&list) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "gave up waiting for {what}: {list:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn titled(list: &[Incident], title: &str) -> Option<Incident> {
    list.iter().find(|i| i.title.as_str() == title).cloned()
}

/// Waits until the raw alert named `alertname` is in `state` as Alertmanager itself reports it.
async fn alert_state(am: &AlertmanagerServer, alertname: &str, state: &str) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let alerts = am.alerts().await;
        let found = alerts
            .iter()
            .find(|a| a["labels"]["alertname"] == alertname)
            .cloned();
        if let Some(a) = found.filter(|a| a["status"]["state"] == state) {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "{alertname} never {state}: {alerts:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn matcher_set(silence: &Value) -> BTreeMap<String, String> {
    silence["matchers"]
        .as_array()
        .expect("matchers")
        .iter()
        .map(|m| {
            assert_eq!(m["isRegex"], false, "{m}");
            assert_eq!(m["isEqual"], true, "{m}");
            (
                m["name"].as_str().unwrap_or_default().to_string(),
                m["value"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn owned(labels: &BTreeMap<&str, &str>) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Silences on exactly these labels, in Alertmanager's own words.
async fn silences_for(am: &AlertmanagerServer, labels: &BTreeMap<&str, &str>) -> Vec<Value> {
    let want = owned(labels);
    am.silences()
        .await
        .into_iter()
        .filter(|s| matcher_set(s) == want)
        .collect()
}

fn active(silences: &[Value]) -> Vec<&Value> {
    silences
        .iter()
        .filter(|s| s["status"]["state"] == "active")
        .collect()
}

fn ends_at(silence: &Value) -> DateTime<Utc> {
    silence["endsAt"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .expect("endsAt")
}

#[tokio::test]
async fn ack_renew_resolve_against_real_alertmanager() {
    let am = start("lifecycle");
    let mut adapter = adapter_for(&am.url);
    let labels = drift_labels();
    let summary = "support-bot answers drifted from the golden set";
    fire(
        &am,
        &labels,
        &[
            ("summary", summary),
            ("description", "eval pass rate 71% vs 93% baseline"),
        ],
    )
    .await;

    // 1. Listed as a triggered SEV2 capability drift on support-bot.
    let inc = list_until(&mut adapter, Utc::now(), "the alert", |l| {
        titled(l, summary)
    })
    .await;
    assert!(inc.id.starts_with("am:"), "{}", inc.id);
    assert_eq!(inc.source, "am");
    assert_eq!(inc.status, Status::Triggered);
    assert_eq!(inc.sev, Sev::Sev2);
    assert_eq!(inc.kind, IncidentType::CapabilityDrift);
    assert_eq!(inc.feature.as_str(), "support-bot");
    assert!(inc.firing);
    assert_eq!(inc.respond_by, inc.triggered_at + Duration::hours(1));
    assert_eq!(
        inc.evidence[0].as_str(),
        "eval pass rate 71% vs 93% baseline"
    );

    // 2. Ack = a silence on exactly the alert's labels, by the responder.
    let msg = adapter
        .apply(&inc.id, &IncidentOp::Ack, ANA, Utc::now())
        .await;
    assert!(msg.is_ok(), "{msg:?}");
    let silences = silences_for(&am, &labels).await;
    let live = active(&silences);
    assert_eq!(live.len(), 1, "{silences:#?}");
    assert_eq!(live[0]["createdBy"], ANA);
    assert_eq!(live[0]["comment"], ACK_COMMENT);
    let first_id = live[0]["id"].clone();
    let first_end = ends_at(live[0]);
    alert_state(&am, "SupportBotDrift", "suppressed").await;
    let acked = list_until(&mut adapter, Utc::now(), "ack", |l| {
        titled(l, summary).filter(|i| i.status == Status::Acknowledged)
    })
    .await;
    assert_eq!(acked.acked_by.as_ref().map(|s| s.as_str()), Some(ANA));
    assert!(acked
        .timeline
        .iter()
        .any(|e| e.text.as_str() == format!("silenced by {ANA}: {ACK_COMMENT}")));
    let again = adapter.apply(&inc.id, &IncidentOp::Ack, "bo@example.com", Utc::now());
    assert_eq!(
        again.await,
        Err(BackendError::Rejected(format!(
            "already acknowledged by {ANA}"
        )))
    );

    // 3. Renewal: six seconds on, less than renew_before (15 s) of the 20 s silence is left.
    let later = Utc::now() + Duration::seconds(6);
    adapter.list(later).await.expect("list renews");
    let silences = silences_for(&am, &labels).await;
    let live = active(&silences);
    assert_eq!(live.len(), 1, "{silences:#?}");
    let renewed_end = ends_at(live[0]);
    assert!(renewed_end > first_end, "{first_end} → {renewed_end}");
    // Alertmanager 0.25 updates in place when startsAt is echoed back unchanged.
    assert_eq!(live[0]["id"], first_id, "{silences:#?}");
    adapter.list(later).await.expect("list");
    let live_end = ends_at(active(&silences_for(&am, &labels).await)[0]);
    assert_eq!(live_end, renewed_end, "renewed only when due");

    // 4. Resolve expires the silence and the alert is active again.
    let msg = adapter
        .apply(&inc.id, &IncidentOp::Resolve, ANA, Utc::now())
        .await;
    assert!(msg.is_ok(), "{msg:?}");
    let silences = silences_for(&am, &labels).await;
    assert!(active(&silences).is_empty(), "{silences:#?}");
    assert!(silences
        .iter()
        .any(|s| s["id"] == first_id && s["status"]["state"] == "expired"));
    alert_state(&am, "SupportBotDrift", "active").await;
    let back = list_until(&mut adapter, Utc::now(), "re-trigger", |l| {
        titled(l, summary).filter(|i| i.status == Status::Triggered)
    })
    .await;
    assert_eq!(back.acked_by, None);
    let twice = adapter
        .apply(&inc.id, &IncidentOp::Resolve, ANA, Utc::now())
        .await;
    assert!(matches!(twice, Err(BackendError::Rejected(_))), "{twice:?}");

    // Once the alert clears, the cockpit stops renewing and the silence runs out by itself.
    let msg = adapter
        .apply(&inc.id, &IncidentOp::Ack, ANA, Utc::now())
        .await;
    assert!(msg.is_ok(), "{msg:?}");
    let end_before = ends_at(active(&silences_for(&am, &labels).await)[0]);
    let now = Utc::now();
    am.post_alert(
        &labels,
        &BTreeMap::new(),
        now - Duration::minutes(1),
        now - Duration::seconds(1),
    )
    .await;
    // Polled at the real time: a poll that still saw the alert must not renew the silence.
    list_until(&mut adapter, Utc::now(), "clear", |l| {
        titled(l, summary).is_none().then_some(())
    })
    .await;
    adapter
        .list(Utc::now() + Duration::seconds(6))
        .await
        .expect("list");
    let live = active(&silences_for(&am, &labels).await)
        .into_iter()
        .map(ends_at)
        .collect::<Vec<_>>();
    assert_eq!(
        live,
        vec![end_before],
        "not renewed after the alert cleared"
    );
}

#[tokio::test]
async fn someone_elses_silence_and_notes_on_ours() {
    let am = start("others");
    let mut adapter = adapter_for(&am.url);
    let theirs = BTreeMap::from([
        ("alertname", "GuardrailBypass"),
        ("severity", "critical"),
        ("feature", "agent"),
        ("ai_incident_type", "guardrail_bypass"),
    ]);
    fire(&am, &theirs, &[("summary", "jailbreak prompts pass")]).await;
    let now = Utc::now();
    am.post_silence(json!({
        "matchers": [{"name": "alertname", "value": "GuardrailBypass", "isRegex": false, "isEqual": true}],
        "startsAt": now,
        "endsAt": now + Duration::hours(1),
        "createdBy": "bo@example.com",
        "comment": "looking at it from the UI",
    }))
    .await;
    let inc = list_until(&mut adapter, Utc::now(), "bo's silence", |l| {
        titled(l, "jailbreak prompts pass").filter(|i| i.status == Status::Acknowledged)
    })
    .await;
    assert_eq!(inc.sev, Sev::Sev1);
    assert_eq!(
        inc.acked_by.as_ref().map(|s| s.as_str()),
        Some("bo@example.com")
    );
    let ack = adapter
        .apply(&inc.id, &IncidentOp::Ack, ANA, Utc::now())
        .await;
    assert_eq!(
        ack,
        Err(BackendError::Rejected(
            "already acknowledged by bo@example.com".into()
        ))
    );
    let note = IncidentOp::Note("rolled back".into());
    let refused = adapter.apply(&inc.id, &note, ANA, Utc::now()).await;
    assert_eq!(
        refused,
        Err(BackendError::Rejected(
            "add notes after acknowledging: Alertmanager keeps notes on the silence".into()
        ))
    );
    let resolve = adapter
        .apply(&inc.id, &IncidentOp::Resolve, ANA, Utc::now())
        .await;
    assert!(
        matches!(resolve, Err(BackendError::Rejected(_))),
        "{resolve:?}"
    );

    // Our own acknowledgement keeps notes in its comment; they come back on the timeline.
    let ours = drift_labels();
    fire(&am, &ours, &[("summary", "drift")]).await;
    let inc = list_until(&mut adapter, Utc::now(), "drift", |l| titled(l, "drift")).await;
    let acked = adapter
        .apply(&inc.id, &IncidentOp::Ack, ANA, Utc::now())
        .await;
    assert!(acked.is_ok(), "{acked:?}");
    let ack_id = active(&silences_for(&am, &ours).await)[0]["id"].clone();
    let note = IncidentOp::Note("rolled back prompt to v12".into());
    let noted = adapter.apply(&inc.id, &note, ANA, Utc::now()).await;
    assert!(noted.is_ok(), "{noted:?}");
    let silences = silences_for(&am, &ours).await;
    let live = active(&silences);
    assert_eq!(live.len(), 1, "{silences:#?}");
    let comment = live[0]["comment"].as_str().unwrap_or_default();
    assert_eq!(live[0]["id"], ack_id, "a note updates the silence in place");
    assert!(comment.starts_with(ACK_COMMENT), "{comment}");
    assert!(
        comment.ends_with(&format!("{ANA}: rolled back prompt to v12")),
        "{comment}"
    );
    let listed = list_until(&mut adapter, Utc::now(), "note", |l| {
        titled(l, "drift").filter(|i| i.status == Status::Acknowledged)
    })
    .await;
    assert!(
        listed
            .timeline
            .iter()
            .any(|e| e.text.as_str() == format!("note by {ANA}: rolled back prompt to v12")),
        "{:#?}",
        listed.timeline
    );

    // A restarted cockpit has forgotten its holds; the same responder can still resolve.
    let mut restarted = adapter_for(&am.url);
    restarted.list(Utc::now()).await.expect("list");
    let by_bo = restarted
        .apply(&inc.id, &IncidentOp::Resolve, "bo@example.com", Utc::now())
        .await;
    assert!(matches!(by_bo, Err(BackendError::Rejected(_))), "{by_bo:?}");
    let resolved = restarted
        .apply(&inc.id, &IncidentOp::Resolve, ANA, Utc::now())
        .await;
    assert!(resolved.is_ok(), "{resolved:?}");
    assert!(active(&silences_for(&am, &ours).await).is_empty());
}

#[tokio::test]
async fn labels_map_to_sev_type_feature_and_text_is_sanitised() {
    let am = start("labels");
    let mut adapter = adapter_for(&am.url);
    let hostile = "cost \u{1b}]52;c;ZXZpbA==\u{7}spike\u{1b}[2J on \u{202e}gpt";
    fire(
        &am,
        &BTreeMap::from([
            ("alertname", "Cost"),
            ("severity", "WARNING"),
            ("job", "rag-api"),
        ]),
        &[("summary", hostile), ("current_value", "$4.10/min")],
    )
    .await;
    fire(
        &am,
        &BTreeMap::from([
            ("alertname", "NoSeverity"),
            ("ai_incident_type", "disk_full"),
        ]),
        &[],
    )
    .await;
    let list = list_until(&mut adapter, Utc::now(), "both alerts", |l| {
        (l.len() == 2).then(|| l.to_vec())
    })
    .await;
    let cost = list.iter().find(|i| i.title.as_str().starts_with("cost"));
    let cost = cost.expect("cost incident");
    assert_eq!(cost.title.as_str(), "cost spike on gpt");
    assert_eq!(cost.sev, Sev::Sev3);
    assert_eq!(cost.feature.as_str(), "rag-api");
    assert_eq!(cost.kind, IncidentType::Other);
    assert!(cost
        .evidence
        .iter()
        .any(|e| e.as_str() == "current_value: $4.10/min"));
    let bare = titled(&list, "NoSeverity").expect("no-severity incident");
    assert_eq!(bare.sev, Sev::Sev3);
    assert_eq!(bare.feature.as_str(), "NoSeverity");
    assert_eq!(bare.kind, IncidentType::Other);
}

/// `filter` matchers go to Alertmanager, which answers with the team's alerts only.
#[tokio::test]
async fn filter_matchers_narrow_the_list_server_side() {
    let am = start("filter");
    for (name, team, sev) in [
        ("PaymentsDown", "payments", "sev1"),
        ("PaymentsSlow", "payments", "sev4"),
        ("SearchDown", "search", "sev1"),
    ] {
        let labels = BTreeMap::from([("alertname", name), ("team", team), ("severity", sev)]);
        fire(&am, &labels, &[("summary", name)]).await;
    }
    let mut all = adapter_for(&am.url);
    list_until(&mut all, Utc::now(), "three alerts", |l| {
        (l.len() == 3).then_some(())
    })
    .await;
    let mut cfg = config(&am.url);
    cfg.filter = vec!["team=\"payments\"".into(), "severity=~\"sev1|sev2\"".into()];
    let mut team = Alertmanager::new(&cfg).expect("adapter");
    let titles: Vec<String> = team
        .list(Utc::now())
        .await
        .expect("list")
        .iter()
        .map(|i| i.title.to_string())
        .collect();
    assert_eq!(titles, ["PaymentsDown"]);
}

#[test]
fn escalation_is_unsupported_with_a_reason() {
    let adapter = adapter_for("http://127.0.0.1:9");
    let why = adapter.unsupported(&IncidentOp::Escalate);
    assert_eq!(
        why.as_deref(),
        Some("Alertmanager has no escalation levels; page through PagerDuty")
    );
    assert_eq!(adapter.unsupported(&IncidentOp::Ack), None);
    assert_eq!(adapter.unsupported(&IncidentOp::Resolve), None);
    // Its acknowledgement already is a silence; a snooze would be a second, different one.
    let snooze = IncidentOp::Snooze(oncall_cockpit::domain::command::SnoozeFor::CHOICES[0]);
    assert_eq!(
        adapter.unsupported(&snooze).as_deref(),
        Some("Alertmanager has no snooze; an ack already silences it")
    );
    let reassign = IncidentOp::Reassign {
        who: "Bo Jensen".into(),
        user: None,
    };
    assert_eq!(
        adapter.unsupported(&reassign).as_deref(),
        Some("Alertmanager assigns alerts to nobody; its routes notify")
    );
    assert!(Alertmanager::new(&config("ftp://x")).is_err());
}

mod faults {
    use super::*;
    use axum::http::StatusCode;
    use axum::routing::get;
    use axum::Router;

    /// A fake Alertmanager whose /alerts answers `status` with `body`.
    async fn fake(status: StatusCode, body: &'static str) -> String {
        let app = Router::new()
            .route("/api/v2/alerts", get(move || async move { (status, body) }))
            .route("/api/v2/silences", get(|| async { "[]" }))
            .route("/slow/api/v2/silences", get(|| async { "[]" }))
            .route(
                "/slow/api/v2/alerts",
                get(|| async {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    "[]"
                }),
            );
        cockpit_testkit::servers::serve_http(app).await.0
    }

    #[tokio::test]
    async fn server_error_is_http_with_the_body() {
        let url = fake(StatusCode::INTERNAL_SERVER_ERROR, "boom: storage").await;
        let got = adapter_for(&url).list(Utc::now()).await;
        assert_eq!(
            got,
            Err(BackendError::Http {
                status: 500,
                message: "boom: storage".into()
            })
        );
    }

    #[tokio::test]
    async fn wrong_shapes_are_malformed() {
        for body in ["not json", r#"{"data":[]}"#, r#"[{"labels":3}]"#] {
            let url = fake(StatusCode::OK, body).await;
            let got = adapter_for(&url).list(Utc::now()).await;
            assert!(
                matches!(got, Err(BackendError::Malformed(_))),
                "{body}: {got:?}"
            );
        }
    }

    #[tokio::test]
    async fn dead_port_is_unreachable() {
        let url = format!("http://127.0.0.1:{}", servers::free_port());
        let got = adapter_for(&url).list(Utc::now()).await;
        assert!(matches!(got, Err(BackendError::Unreachable(_))), "{got:?}");
    }

    #[tokio::test]
    async fn a_reply_past_the_cap_is_refused_whether_announced_or_not() {
        let mut cfg = config(&servers::huge::start("/api/v2/alerts", 20 << 20, true).url);
        cfg.max_reply_mib = 4;
        let got = Alertmanager::new(&cfg)
            .expect("adapter")
            .list(Utc::now())
            .await;
        assert_eq!(
            got.map_err(|e| e.to_string()),
            Err("reply too large (20 MiB > cap 4 MiB)".into())
        );
        cfg.url = servers::huge::start("/api/v2/alerts", 20 << 20, false).url;
        let got = Alertmanager::new(&cfg)
            .expect("adapter")
            .list(Utc::now())
            .await;
        assert_eq!(
            got.map_err(|e| e.to_string()),
            Err("reply too large (over the 4 MiB cap; not read further)".into())
        );
    }

    #[tokio::test]
    async fn hung_server_times_out() {
        let url = fake(StatusCode::OK, "[]").await;
        let mut cfg = config(&format!("{url}/slow"));
        cfg.timeout_secs = TimeoutSecs::try_from(0.5).expect("in range");
        let got = Alertmanager::new(&cfg)
            .expect("adapter")
            .list(Utc::now())
            .await;
        assert_eq!(got, Err(BackendError::Timeout(1)));
    }
}
