//! What changed before an incident, from PagerDuty's `GET /incidents/{id}/related_change_events`
//! against the contract server: the request PagerDuty documents, what the cockpit makes of
//! each event, how few incidents a poll reads, and a failure that leaves the incident list
//! whole and says why.

use crate::pagerduty_contract::{adapter, list};
use chrono::{Duration, Utc};
use cockpit_testkit::servers;
use oncall_cockpit::backend::IncidentSource;
use oncall_cockpit::domain::change::{Layer, MAX_CHANGE_TEXT};
use servers::pagerduty::{ChangeEvent, PdIncident, PdServer};

fn event(summary: &str, mins_before_now: i64, reason: &str) -> ChangeEvent {
    ChangeEvent {
        summary: summary.into(),
        at: Utc::now() - Duration::minutes(mins_before_now),
        source: "github-actions".into(),
        reason: reason.into(),
    }
}

fn asked(server: &PdServer) -> Vec<String> {
    server
        .lock()
        .changes
        .queries
        .iter()
        .map(|(id, _)| id.clone())
        .collect()
}

#[tokio::test]
async fn reads_an_incidents_related_change_events_as_dated_changes_with_their_reason() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PINC001", 1, "eval regression"));
    server.lock().changes.events.insert(
        "PINC001".into(),
        vec![
            event("Deploy prompt pack v8", 20, "recent_service_change"),
            event("api-gateway 1.4.2", 90, "related_service_change"),
        ],
    );
    let mut pd = adapter(&server, "changes-read");
    let incidents = list(&mut pd).await;
    assert_eq!(incidents.len(), 1);
    let log = pd.changes().expect("PagerDuty keeps change history");
    assert_eq!(log.error, None);
    let got: Vec<(String, Layer, Option<String>)> = log
        .entries
        .iter()
        .map(|c| (c.what.to_string(), c.layer, c.incident.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "deploy: Deploy prompt pack v8 (github-actions) · recent change on its service"
                    .to_string(),
                Layer::Prompt,
                Some("pagerduty:PINC001".to_string())
            ),
            (
                "deploy: api-gateway 1.4.2 (github-actions) · change on a related service"
                    .to_string(),
                Layer::Infrastructure,
                Some("pagerduty:PINC001".to_string())
            ),
        ],
        "newest first"
    );
    let queries = &server.lock().changes.queries;
    assert_eq!(
        queries[0].1,
        [("limit".to_string(), "25".to_string())],
        "one page: the endpoint takes a limit and no offset"
    );
}

#[tokio::test]
async fn reads_three_incidents_a_poll_most_urgent_first_and_each_again_only_after_five_minutes() {
    let server = PdServer::start().await;
    for n in 1..=5u64 {
        let mut inc = PdIncident::new(&format!("PINC00{n}"), n, "drift");
        // The last one is the most urgent.
        inc.priority = Some(if n == 5 { "P1" } else { "P3" }.into());
        server.add(inc);
    }
    let mut pd = adapter(&server, "changes-rate");
    list(&mut pd).await;
    let first = asked(&server);
    assert_eq!(first.len(), 3, "{first:?}");
    assert_eq!(first[0], "PINC005", "most urgent first");
    list(&mut pd).await;
    assert_eq!(asked(&server).len(), 5, "the other two on the next poll");
    list(&mut pd).await;
    assert_eq!(asked(&server).len(), 5, "nothing again within the refresh");
}

#[tokio::test]
async fn a_failed_read_keeps_the_incident_list_and_says_which_incident_and_why() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PINC001", 1, "drift"));
    server.lock().changes.fail = true;
    let mut pd = adapter(&server, "changes-fail");
    let incidents = list(&mut pd).await;
    assert_eq!(incidents.len(), 1, "the list itself stands");
    let error = pd
        .changes()
        .and_then(|l| l.error)
        .expect("the failure is said");
    assert!(
        error.contains("related change events of PINC001") && error.contains("500"),
        "{error}"
    );
    server.lock().changes.fail = false;
    list(&mut pd).await;
    assert_eq!(
        pd.changes().and_then(|l| l.error),
        None,
        "asked again at once"
    );
}

#[tokio::test]
async fn hostile_change_text_is_cleaned_and_cut() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PINC001", 1, "drift"));
    let long = format!("\u{1b}]0;owned\u{7}deploy {}", "x".repeat(5_000));
    server.lock().changes.events.insert(
        "PINC001".into(),
        vec![event(&long, 5, "intelligent\u{1b}[2J")],
    );
    let mut pd = adapter(&server, "changes-hostile");
    list(&mut pd).await;
    let log = pd.changes().expect("log");
    let what = log.entries[0].what.as_str();
    assert!(
        !what.contains('\u{1b}') && !what.contains('\u{7}'),
        "{what}"
    );
    assert!(what.chars().count() <= MAX_CHANGE_TEXT, "{}", what.len());
}
