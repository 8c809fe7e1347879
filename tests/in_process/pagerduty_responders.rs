//! Responder requests, status updates, roles and merges against the PagerDuty contract server:
//! the documented bodies, the `From` header, the requester looked up by email, a 429 and a
//! refusal each shown as what they are.

use crate::pagerduty_contract::{adapter, apply, find, list};
use cockpit_testkit::servers;
use oncall_cockpit::backend::{BackendError, IncidentOp};
use oncall_cockpit::domain::responders::{Layer, ResponderTarget, Role};
use oncall_cockpit::domain::Status;
use serde_json::json;
use servers::pagerduty::{PdIncident, PdServer};

fn ask(target: ResponderTarget) -> IncidentOp {
    IncidentOp::RequestResponders {
        layer: Layer::Model,
        who: "Bo Jensen (ML)".into(),
        target,
        message: "SEV1 pagerduty:PRR0001 on support-bot: needs the model layer's owner".into(),
    }
}

#[tokio::test]
async fn a_responder_request_names_the_requester_the_target_and_the_message() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PRR0001", 1, "support-bot drift"));
    let mut pd = adapter(&server, "responders");
    list(&mut pd).await;

    let done = apply(
        &mut pd,
        "pagerduty:PRR0001",
        ask(ResponderTarget::User("PUBOJ02".into())),
    )
    .await
    .expect("requested");
    assert!(
        done.contains("Bo Jensen (ML) (model layer) asked in"),
        "{done}"
    );
    // A second request needs no second look-up: the requester's id is kept.
    apply(
        &mut pd,
        "pagerduty:PRR0001",
        ask(ResponderTarget::EscalationPolicy("PEP0001".into())),
    )
    .await
    .expect("requested again");
    {
        let s = server.lock();
        assert_eq!(
            s.user_queries,
            ["ana@example.com"],
            "one look-up, by the From email"
        );
        let (id, body) = &s.responder_requests[0];
        assert_eq!(id, "PRR0001");
        assert_eq!(
            body["requester_id"], "PUANA01",
            "Ana's id, found by her email"
        );
        assert_eq!(
            body["message"],
            "SEV1 pagerduty:PRR0001 on support-bot: needs the model layer's owner"
        );
        assert_eq!(
            body["responder_request_targets"],
            json!([{ "responder_request_target": { "id": "PUBOJ02", "type": "user_reference" } }])
        );
        assert_eq!(
            s.responder_requests[1].1["responder_request_targets"][0]["responder_request_target"]
                ["type"],
            "escalation_policy_reference"
        );
        assert!(s.writes.iter().all(|w| w.from == "ana@example.com"));
    }
    // On the incident's timeline, from PagerDuty's own log.
    let listed = list(&mut pd).await;
    let inc = find(&listed, "pagerduty:PRR0001");
    assert!(
        inc.timeline
            .iter()
            .any(|t| t.text.as_str().contains("requested Bo Jensen to respond")),
        "{:?}",
        inc.timeline
    );
}

#[tokio::test]
async fn a_requester_pagerduty_does_not_know_and_an_unknown_target_fail_loudly() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PRR0002", 2, "errors"));
    let mut cfg = crate::pagerduty_contract::config(&server.url, "responders-unknown");
    cfg.from = "nobody@example.com".into();
    let mut pd = oncall_cockpit::backend::pagerduty::PagerDuty::new(&cfg).expect("adapter");
    let err = apply(
        &mut pd,
        "pagerduty:PRR0002",
        ask(ResponderTarget::User("PUBOJ02".into())),
    )
    .await
    .expect_err("no such requester");
    assert!(
        err.to_string()
            .contains("no PagerDuty user has the email nobody@example.com"),
        "{err}"
    );
    assert!(server.lock().responder_requests.is_empty());

    let mut pd = adapter(&server, "responders-target");
    let err = apply(
        &mut pd,
        "pagerduty:PRR0002",
        ask(ResponderTarget::User("PNOSUCH".into())),
    )
    .await
    .expect_err("unknown user");
    assert!(
        err.to_string()
            .contains("PagerDuty found no incident pagerduty:PRR0002 or no PagerDuty user PNOSUCH"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_status_update_sends_its_message_and_lands_on_the_timeline() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PSU0001", 1, "support-bot drift"));
    let mut pd = adapter(&server, "status-update");
    list(&mut pd).await;
    let text = "[SEV1] support-bot — drift\nContainment: prompt rollback to v12 landed";
    let done = apply(
        &mut pd,
        "pagerduty:PSU0001",
        IncidentOp::StatusUpdate(text.into()),
    )
    .await
    .expect("sent");
    assert!(done.starts_with("status update sent by ana"), "{done}");
    {
        let s = server.lock();
        assert_eq!(
            s.status_updates,
            [("PSU0001".to_string(), text.to_string())]
        );
        let w = s.writes.last().expect("write");
        assert_eq!(w.path, "/incidents/PSU0001/status_updates");
        assert_eq!(w.from, "ana@example.com");
        assert_eq!(w.body, json!({ "message": text }));
    }
    let listed = list(&mut pd).await;
    let inc = find(&listed, "pagerduty:PSU0001");
    assert!(
        inc.timeline
            .iter()
            .any(|t| t.text.as_str().contains("Status update from Ana Lima")),
        "{:?}",
        inc.timeline
    );
    // PagerDuty's log says when the last update went, so one sent from its web UI restarts
    // the cadence too.
    let logged = inc.last_status_update.expect("the update's log entry");
    assert!(
        (chrono::Utc::now() - logged).num_seconds().abs() < 30,
        "{logged}"
    );
    // An empty update is refused before anything is sent.
    let before = server.lock().requests;
    let err = apply(
        &mut pd,
        "pagerduty:PSU0001",
        IncidentOp::StatusUpdate(" ".into()),
    )
    .await
    .expect_err("empty");
    assert!(err.to_string().contains("needs text"), "{err}");
    assert_eq!(server.lock().requests, before);
}

#[tokio::test]
async fn a_role_is_noted_on_the_incident() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PRO0001", 1, "errors"));
    let mut pd = adapter(&server, "role");
    list(&mut pd).await;
    let done = apply(
        &mut pd,
        "pagerduty:PRO0001",
        IncidentOp::Role {
            role: Role::Commander,
            name: "Jane Doe".into(),
        },
    )
    .await
    .expect("noted");
    assert!(done.starts_with("commander: Jane Doe"), "{done}");
    assert_eq!(
        server.lock().notes,
        [(
            "PRO0001".to_string(),
            "Incident role: commander is Jane Doe (set by ana)".to_string()
        )]
    );
}

#[tokio::test]
async fn merge_sends_the_sources_as_incident_references_and_they_are_resolved() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PMG0001", 1, "support-bot eval"));
    server.add(PdIncident::new("PMG0002", 2, "support-bot drift"));
    server.add(PdIncident::new("PMG0003", 3, "support-bot retrieval"));
    let mut pd = adapter(&server, "merge");
    list(&mut pd).await;
    let done = apply(
        &mut pd,
        "pagerduty:PMG0001",
        IncidentOp::Merge(vec!["pagerduty:PMG0002".into(), "pagerduty:PMG0003".into()]),
    )
    .await
    .expect("merged");
    assert!(
        done.starts_with("pagerduty:PMG0002, pagerduty:PMG0003 merged into pagerduty:PMG0001"),
        "{done}"
    );
    {
        let s = server.lock();
        let w = s.writes.last().expect("write");
        assert_eq!(
            (w.method.as_str(), w.path.as_str()),
            ("PUT", "/incidents/PMG0001/merge")
        );
        assert_eq!(w.from, "ana@example.com");
        assert_eq!(
            w.body,
            json!({ "source_incidents": [
                { "id": "PMG0002", "type": "incident_reference" },
                { "id": "PMG0003", "type": "incident_reference" },
            ]})
        );
    }
    assert_eq!(server.incident("PMG0002").status, "resolved");
    let listed = list(&mut pd).await;
    assert_eq!(
        listed.len(),
        1,
        "merged incidents are resolved: no longer listed"
    );
    assert_eq!(listed[0].status, Status::Triggered);

    // Merging what is already resolved is PagerDuty's refusal, shown in its words; an id of
    // another source never reaches the API.
    let err = apply(
        &mut pd,
        "pagerduty:PMG0001",
        IncidentOp::Merge(vec!["pagerduty:PMG0002".into()]),
    )
    .await
    .expect_err("resolved source");
    assert!(
        err.to_string().contains("a source incident is resolved"),
        "{err}"
    );
    let before = server.lock().requests;
    let err = apply(
        &mut pd,
        "pagerduty:PMG0001",
        IncidentOp::Merge(vec!["sim:INC-1".into()]),
    )
    .await
    .expect_err("foreign id");
    assert!(err.to_string().contains("no incident sim:INC-1"), "{err}");
    assert_eq!(server.lock().requests, before);
}

#[tokio::test]
async fn each_new_write_is_held_back_by_a_429_and_a_failure_is_reported() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PRL0009", 1, "errors"));
    server.add(PdIncident::new("PRL0010", 2, "drift"));
    let mut pd = adapter(&server, "responders-429");
    list(&mut pd).await;
    for op in [
        ask(ResponderTarget::User("PUBOJ02".into())),
        IncidentOp::StatusUpdate("update".into()),
        IncidentOp::Merge(vec!["pagerduty:PRL0010".into()]),
    ] {
        server.lock().throttle = Some((1, 1));
        let err = apply(&mut pd, "pagerduty:PRL0009", op.clone())
            .await
            .expect_err("throttled");
        assert!(
            matches!(&err, BackendError::Http { status: 429, message } if message == "rate limited; retry in 1s"),
            "{op:?}: {err:?}"
        );
        // Until the reset, nothing more is sent.
        let before = server.lock().requests;
        let again = apply(&mut pd, "pagerduty:PRL0009", op.clone()).await;
        assert!(
            matches!(&again, Err(BackendError::Http { status: 429, .. })),
            "{again:?}"
        );
        assert_eq!(server.lock().requests, before, "{op:?}");
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    server.lock().fail_writes = true;
    let err = apply(
        &mut pd,
        "pagerduty:PRL0009",
        IncidentOp::StatusUpdate("update".into()),
    )
    .await
    .expect_err("500");
    assert!(
        matches!(&err, BackendError::Http { status: 500, .. }),
        "{err:?}"
    );
}
