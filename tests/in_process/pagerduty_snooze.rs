//! Snooze and reassign against the PagerDuty contract server: the documented bodies and
//! headers (`From`, the token, Accept, Content-Type), what the incident shows afterwards (when
//! it wakes, who has it, its timeline), a triggered incident acknowledged before its snooze,
//! the countdown restarting when a snooze ends, a 429 then success, and refusals shown.

use crate::pagerduty_contract::{adapter, apply, find, list};
use chrono::{Duration, Utc};
use cockpit_testkit::servers;
use oncall_cockpit::backend::{BackendError, IncidentOp};
use oncall_cockpit::domain::command::SnoozeFor;
use oncall_cockpit::domain::Status;
use serde_json::json;
use servers::pagerduty::{PdIncident, PdServer, ACCEPT, TOKEN};

fn hour() -> IncidentOp {
    IncidentOp::Snooze(SnoozeFor::parse("1h").expect("1h"))
}

fn to_bo(user: Option<&str>) -> IncidentOp {
    IncidentOp::Reassign {
        who: "Bo Jensen".into(),
        user: user.map(str::to_string),
    }
}

#[tokio::test]
async fn a_snooze_posts_its_seconds_and_the_incident_says_when_it_wakes() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PSN0001", 1, "support-bot drift").acked_by("Ana Lima"));
    let mut pd = adapter(&server, "snooze");
    list(&mut pd).await;
    let done = apply(&mut pd, "pagerduty:PSN0001", hour())
        .await
        .expect("snoozed");
    let until = server.incident("PSN0001").snoozed_until.expect("snoozed");
    assert_eq!(
        done,
        format!(
            "snoozed for 1h until {} UTC by ana (PagerDuty user ana@example.com)",
            until.format("%H:%M")
        )
    );
    {
        let s = server.lock();
        assert_eq!(s.snoozes, [("PSN0001".to_string(), 3600)]);
        let w = s.writes.last().expect("write");
        assert_eq!(
            (w.method.as_str(), w.path.as_str()),
            ("POST", "/incidents/PSN0001/snooze")
        );
        assert_eq!(w.from, "ana@example.com");
        assert_eq!(w.body, json!({ "duration": 3600 }));
    }
    let listed = list(&mut pd).await;
    let inc = find(&listed, "pagerduty:PSN0001");
    assert_eq!(inc.status, Status::Acknowledged);
    // PagerDuty's times are to the second.
    assert_eq!(
        inc.snoozed_until.map(|t| t.timestamp()),
        Some(until.timestamp())
    );
    assert!(
        (until - Utc::now() - Duration::hours(1))
            .num_seconds()
            .abs()
            < 30,
        "{until}"
    );
    assert!(
        inc.timeline.iter().any(|t| t
            .text
            .as_str()
            .contains("Snoozed for 60 minutes by Ana Lima")),
        "{:?}",
        inc.timeline
    );
}

#[tokio::test]
async fn a_triggered_incident_is_acknowledged_then_snoozed_and_pagerduty_refuses_otherwise() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PSN0002", 2, "cost spike"));
    // Not listed yet: the adapter does not know it is triggered, so it asks PagerDuty to
    // snooze it as it is, and PagerDuty's refusal is shown in its words.
    let mut fresh = adapter(&server, "snooze-unlisted");
    let err = apply(&mut fresh, "pagerduty:PSN0002", hour())
        .await
        .expect_err("triggered");
    assert!(
        matches!(&err, BackendError::Rejected(m) | BackendError::Http { message: m, .. }
            if m.contains("Incident must be acknowledged to be snoozed")),
        "{err:?}"
    );
    assert!(server.lock().snoozes.is_empty());

    let mut pd = adapter(&server, "snooze-triggered");
    list(&mut pd).await;
    let done = apply(&mut pd, "pagerduty:PSN0002", hour())
        .await
        .expect("acked and snoozed");
    assert!(
        done.starts_with("acknowledged and snoozed for 1h until "),
        "{done}"
    );
    let writes: Vec<(String, String)> = server
        .lock()
        .writes
        .iter()
        .map(|w| (w.method.clone(), w.path.clone()))
        .collect();
    assert_eq!(
        writes,
        [
            ("PUT".to_string(), "/incidents/PSN0002".to_string()),
            ("POST".to_string(), "/incidents/PSN0002/snooze".to_string()),
        ]
    );
    assert_eq!(server.incident("PSN0002").acks[0].1, "Ana Lima");
}

#[tokio::test]
async fn when_a_snooze_ends_the_incident_triggers_with_a_new_countdown() {
    let server = PdServer::start().await;
    let mut inc = PdIncident::new("PSN0003", 3, "latency").acked_by("Bo Jensen");
    inc.created_at = Utc::now() - Duration::hours(3);
    let woke = Utc::now() - Duration::minutes(2);
    inc.snoozed_until = Some(woke);
    server.add(inc);
    let mut pd = adapter(&server, "snooze-ends");
    let listed = list(&mut pd).await;
    let inc = find(&listed, "pagerduty:PSN0003");
    assert_eq!(inc.status, Status::Triggered);
    assert_eq!(inc.snoozed_until, None);
    // The countdown runs from when it triggered again, not from its creation three hours
    // ago: PagerDuty notifies afresh, and the responder has the whole response time again.
    let started = inc.respond_by - inc.sev.response_time();
    assert!(
        (started - woke).num_seconds().abs() <= 1,
        "countdown starts {started}, snooze ended {woke}"
    );
    assert!(inc.seconds_left(Utc::now()).is_some_and(|s| s > 0));
}

#[tokio::test]
async fn a_reassignment_puts_one_user_reference_and_the_incident_names_them() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PRA0001", 1, "support-bot drift").acked_by("Ana Lima"));
    let mut pd = adapter(&server, "reassign");
    list(&mut pd).await;
    let done = apply(&mut pd, "pagerduty:PRA0001", to_bo(Some("PUBOJ02")))
        .await
        .expect("reassigned");
    assert_eq!(
        done,
        "reassigned to Bo Jensen (PagerDuty user PUBOJ02) by ana (PagerDuty user ana@example.com)"
    );
    {
        let s = server.lock();
        assert!(s.user_queries.is_empty(), "the id was known: no look-up");
        let w = s.writes.last().expect("write");
        assert_eq!((w.method.as_str(), w.path.as_str()), ("PUT", "/incidents"));
        assert_eq!(w.from, "ana@example.com");
        assert_eq!(
            w.body,
            json!({ "incidents": [{
                "id": "PRA0001",
                "type": "incident_reference",
                "assignments": [{ "assignee": { "id": "PUBOJ02", "type": "user_reference" } }],
            }]})
        );
    }
    let listed = list(&mut pd).await;
    let inc = find(&listed, "pagerduty:PRA0001");
    let names: Vec<&str> = inc.assignees.iter().map(|n| n.as_str()).collect();
    assert_eq!(names, ["Bo Jensen"]);
    assert!(
        inc.timeline.iter().any(|t| t
            .text
            .as_str()
            .contains("Reassigned to Bo Jensen by Ana Lima")),
        "{:?}",
        inc.timeline
    );
}

#[tokio::test]
async fn a_name_without_an_id_is_looked_up_exactly_and_an_unknown_one_sends_nothing() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PRA0002", 2, "errors"));
    let mut pd = adapter(&server, "reassign-by-name");
    list(&mut pd).await;
    let op = IncidentOp::Reassign {
        who: "bo jensen".into(),
        user: None,
    };
    apply(&mut pd, "pagerduty:PRA0002", op)
        .await
        .expect("found by name");
    {
        let s = server.lock();
        assert_eq!(s.user_queries, ["bo jensen"]);
        assert_eq!(
            s.assignments,
            [("PRA0002".to_string(), vec!["PUBOJ02".to_string()])]
        );
    }
    // "Bo" is part of a name, not a name: PagerDuty's search finds Bo Jensen, the cockpit
    // does not guess.
    let puts = server.lock().puts;
    for who in ["Bo", "Jane Doe"] {
        let op = IncidentOp::Reassign {
            who: who.into(),
            user: None,
        };
        let err = apply(&mut pd, "pagerduty:PRA0002", op)
            .await
            .expect_err("no exact match");
        assert!(
            err.to_string()
                .contains(&format!("no PagerDuty user is named {who}")),
            "{err}"
        );
    }
    assert_eq!(server.lock().puts, puts, "nothing was sent");
}

#[tokio::test]
async fn refusals_are_shown_and_a_429_holds_each_write_back_until_it_succeeds() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PRA0003", 3, "drift").acked_by("Ana Lima"));
    let mut pd = adapter(&server, "snooze-reassign-429");
    list(&mut pd).await;
    let err = apply(&mut pd, "pagerduty:PRA0003", to_bo(Some("PNOSUCH")))
        .await
        .expect_err("unknown user");
    assert!(
        err.to_string()
            .contains("PagerDuty found no incident pagerduty:PRA0003 or no user PNOSUCH"),
        "{err}"
    );
    for op in [hour(), to_bo(Some("PUBOJ02"))] {
        server.lock().throttle = Some((1, 1));
        let err = apply(&mut pd, "pagerduty:PRA0003", op.clone())
            .await
            .expect_err("throttled");
        assert!(
            matches!(&err, BackendError::Http { status: 429, message } if message == "rate limited; retry in 1s"),
            "{op:?}: {err:?}"
        );
        let before = server.lock().requests;
        let again = apply(&mut pd, "pagerduty:PRA0003", op.clone()).await;
        assert!(
            matches!(&again, Err(BackendError::Http { status: 429, .. })),
            "{again:?}"
        );
        assert_eq!(server.lock().requests, before, "held back: {op:?}");
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        apply(&mut pd, "pagerduty:PRA0003", op.clone())
            .await
            .unwrap_or_else(|e| panic!("{op:?} after the reset: {e}"));
        list(&mut pd).await;
    }
    let s = server.lock();
    assert_eq!(s.snoozes.len(), 1);
    assert_eq!(s.assignments.len(), 1);
}

#[tokio::test]
async fn the_contract_server_refuses_snoozes_and_assignments_pagerduty_refuses() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PRA0004", 4, "drift").acked_by("Ana Lima"));
    let url = &server.url;
    let client = reqwest::Client::new();
    let post = |body: serde_json::Value, from: Option<&str>| {
        let mut req = client
            .post(format!("{url}/incidents/PRA0004/snooze"))
            .header("Authorization", format!("Token token={TOKEN}"))
            .header("Accept", ACCEPT)
            .json(&body);
        if let Some(f) = from {
            req = req.header("From", f);
        }
        req
    };
    let status = |req: reqwest::RequestBuilder| async move {
        req.send().await.expect("send").status().as_u16()
    };
    assert_eq!(status(post(json!({ "duration": 60 }), None)).await, 400);
    assert_eq!(
        status(post(json!({ "duration": 0 }), Some("ana@example.com"))).await,
        400
    );
    assert_eq!(
        status(post(json!({ "duration": "1h" }), Some("ana@example.com"))).await,
        400
    );
    let put = |body: serde_json::Value| {
        client
            .put(format!("{url}/incidents"))
            .header("Authorization", format!("Token token={TOKEN}"))
            .header("Accept", ACCEPT)
            .header("From", "ana@example.com")
            .json(&body)
    };
    let assign = |kind: &str| {
        json!({ "incidents": [{ "id": "PRA0004", "type": "incident_reference",
            "assignments": [{ "assignee": { "id": "PUBOJ02", "type": kind } }] }] })
    };
    assert_eq!(status(put(assign("user"))).await, 400);
    assert_eq!(status(put(json!({ "incidents": [] }))).await, 400);
    assert_eq!(
        status(put(
            json!({ "incidents": [{ "id": "PRA0004", "type": "incident_reference" }] })
        ))
        .await,
        400
    );
    assert!(server.lock().writes.is_empty());
    // The correct calls pass, so each refusal above was about the one thing wrong.
    assert_eq!(status(put(assign("user_reference"))).await, 200);
    assert_eq!(
        status(post(json!({ "duration": 60 }), Some("ana@example.com"))).await,
        400,
        "reassigned: triggered for Bo, so no longer snoozable"
    );
}
