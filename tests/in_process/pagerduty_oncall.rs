//! Who is on call, from PagerDuty's `GET /oncalls`, against the contract server: the query
//! PagerDuty documents, paging, the refresh interval, and every way the read can fail without
//! failing the incident list.

use crate::pagerduty_contract::{adapter, config, find, list};
use chrono::Utc;
use cockpit_testkit::servers;
use oncall_cockpit::backend::pagerduty::PagerDuty;
use oncall_cockpit::backend::IncidentSource;
use oncall_cockpit::domain::oncall::OnCall;
use oncall_cockpit::domain::Incident;
use servers::pagerduty::{OnCall as Shift, PdIncident, PdServer, PdState};

/// A way to break the server, and a word the error it causes must contain.
type Fault = (&'static str, fn(&mut PdState));

fn on_call<'a>(incidents: &'a [Incident], id: &str) -> &'a OnCall {
    find(incidents, id)
        .on_call
        .as_ref()
        .unwrap_or_else(|| panic!("{id} has no on-call"))
}

fn names(oc: &OnCall, level: u32) -> String {
    oc.level(level).map(|l| l.describe()).unwrap_or_default()
}

fn values<'q>(q: &'q [(String, String)], k: &str) -> Vec<&'q str> {
    q.iter()
        .filter(|(key, _)| key == k)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Two incidents on one policy and one on another: one read names each level of each,
/// asking for exactly those policies, and the next poll within the refresh interval reads
/// nothing again.
#[tokio::test]
async fn names_each_level_of_each_incidents_policy_and_reads_them_once_per_refresh() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PINC001", 1, "eval regression"));
    server.add(PdIncident::new("PINC002", 2, "drift"));
    let mut other = PdIncident::new("PINC003", 3, "retrieval");
    other.policy = ("PEP0002".into(), "Data on-call".into());
    server.add(other);
    {
        let mut s = server.lock();
        s.oncalls = vec![
            Shift::new("PEP0001", 1, "Ana Lima", Some("AI primary")),
            Shift::new("PEP0001", 2, "Jane Doe", Some("ML")),
            Shift::new("PEP0001", 2, "Jane Doe", Some("ML")),
            Shift::new("PEP0002", 1, "Bo Jensen", None),
            // Another team's policy: never asked for, never shown.
            Shift::new("PEP0099", 1, "Someone Else", None),
        ];
        let mut later = Shift::new("PEP0001", 1, "Next Week", None);
        later.now = false;
        s.oncalls.push(later);
    }
    let mut pd = adapter(&server, "oncall-names");
    let incidents = list(&mut pd).await;

    let oc = on_call(&incidents, "pagerduty:PINC001");
    assert_eq!(oc.policy.as_str(), "AI on-call");
    assert!(oc.read_at.is_some() && oc.error.is_none(), "{oc:?}");
    assert_eq!(names(oc, 1), "Ana Lima (AI primary)");
    assert_eq!(names(oc, 2), "Jane Doe (ML)");
    assert_eq!(oc.levels.len(), 2, "{oc:?}");
    assert_eq!(on_call(&incidents, "pagerduty:PINC002"), oc);
    let data = on_call(&incidents, "pagerduty:PINC003");
    assert_eq!(
        (data.policy.as_str(), names(data, 1).as_str()),
        ("Data on-call", "Bo Jensen")
    );

    let queries = server.lock().oncall_queries.clone();
    assert_eq!(queries.len(), 1, "{queries:?}");
    let mut asked = values(&queries[0], "escalation_policy_ids[]");
    asked.sort_unstable();
    assert_eq!(asked, ["PEP0001", "PEP0002"]);
    assert_eq!(values(&queries[0], "earliest"), ["true"]);
    assert_eq!(values(&queries[0], "offset"), ["0"]);
    assert!(values(&queries[0], "since").is_empty(), "now, not a range");

    let again = list(&mut pd).await;
    assert_eq!(
        server.lock().oncall_queries.len(),
        1,
        "cached until the refresh"
    );
    assert_eq!(on_call(&again, "pagerduty:PINC001"), oc);

    // A policy never asked about is read on the next poll, refresh or not.
    let mut third = PdIncident::new("PINC004", 4, "cost");
    third.policy = ("PEP0003".into(), "Infra on-call".into());
    server.add(third);
    server
        .lock()
        .oncalls
        .push(Shift::new("PEP0003", 1, "Cy Park", None));
    let after = list(&mut pd).await;
    assert_eq!(server.lock().oncall_queries.len(), 2);
    assert_eq!(names(on_call(&after, "pagerduty:PINC004"), 1), "Cy Park");
}

/// 250 people on call at level 3 come in three pages of 100; five are named, the rest counted.
#[tokio::test]
async fn on_calls_are_read_page_by_page_and_bounded_on_screen() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PINC001", 1, "errors"));
    server.lock().oncalls = (0..250)
        .map(|n| Shift::new("PEP0001", 3, &format!("Manager {n:03}"), None))
        .collect();
    let mut pd = adapter(&server, "oncall-pages");
    let incidents = list(&mut pd).await;
    let oc = on_call(&incidents, "pagerduty:PINC001");
    let level = oc.level(3).expect("level 3");
    assert_eq!(level.names.len(), 5);
    assert_eq!(level.more, 245);
    let queries = server.lock().oncall_queries.clone();
    let offsets: Vec<&str> = queries.iter().flat_map(|q| values(q, "offset")).collect();
    assert_eq!(offsets, ["0", "100", "200"]);
    for q in &queries {
        let limit: usize = values(q, "limit")[0].parse().expect("limit");
        assert!(limit <= 100);
    }
}

/// A server that always says `more` is followed for `max_pages` pages, then the read fails
/// loudly; the incidents are listed all the same.
#[tokio::test]
async fn more_forever_stops_at_max_pages_and_says_so() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PINC001", 1, "errors"));
    server.lock().oncalls = vec![Shift::new("PEP0001", 1, "Ana Lima", None)];
    let mut cfg = config(&server.url, "oncall-more");
    cfg.max_pages = 3;
    let mut pd = PagerDuty::new(&cfg).expect("adapter");
    // Only the on-call pages misbehave: the incident list has one page.
    let incidents = list(&mut pd).await;
    assert!(on_call(&incidents, "pagerduty:PINC001").error.is_none());
    server.lock().more_forever = true;
    let mut more = PdIncident::new("PINC002", 2, "drift");
    more.policy = ("PEP0002".into(), "Other".into());
    server.add(more);
    let before = server.lock().oncall_queries.len();
    let incidents = pd
        .list(Utc::now())
        .await
        .expect("the list itself still answers");
    let oc = on_call(&incidents, "pagerduty:PINC001");
    let error = oc.error.as_ref().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("after 3 pages"), "{error}");
    assert_eq!(server.lock().oncall_queries.len() - before, 3);
    // What was read before stays, marked with the error.
    assert_eq!(names(oc, 1), "Ana Lima");
}

/// 500, a truncated body and a reply past the cap: each is an on-call error on the incident,
/// the levels read before stay, and the next poll asks again.
#[tokio::test]
async fn a_failed_read_keeps_the_last_answer_and_names_the_error() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PINC001", 1, "errors"));
    server.lock().oncalls = vec![Shift::new("PEP0001", 1, "Ana Lima", None)];
    let mut cfg = config(&server.url, "oncall-faults");
    cfg.max_reply_mib = 1;
    let mut pd = PagerDuty::new(&cfg).expect("adapter");
    let first = list(&mut pd).await;
    let read_at = on_call(&first, "pagerduty:PINC001").read_at;
    assert!(read_at.is_some());

    let faults: [Fault; 3] = [
        ("HTTP 500", |s| s.oncalls_fail = true),
        ("malformed", |s| s.oncalls_malformed = true),
        ("too large", |s| s.oncalls_huge = Some(2 << 20)),
    ];
    for (n, (says, fault)) in faults.into_iter().enumerate() {
        {
            let mut s = server.lock();
            s.oncalls_fail = false;
            s.oncalls_malformed = false;
            s.oncalls_huge = None;
            fault(&mut s);
        }
        // A new policy makes the read due now.
        let mut inc = PdIncident::new(&format!("PNEW{n}"), 10 + n as u64, "drift");
        inc.policy = (format!("PEPNEW{n}"), "New".into());
        server.add(inc);
        let before = server.lock().oncall_queries.len();
        let incidents = list(&mut pd).await;
        assert_eq!(server.lock().oncall_queries.len(), before + 1, "{says}");
        let oc = on_call(&incidents, "pagerduty:PINC001");
        let error = oc.error.as_ref().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains(says), "{says}: {error}");
        assert_eq!(names(oc, 1), "Ana Lima", "{says}");
        assert_eq!(
            oc.read_at, read_at,
            "{says}: the age is of the last good read"
        );
        let new = on_call(&incidents, &format!("pagerduty:PNEW{n}"));
        assert!(new.read_at.is_none(), "never read: {new:?}");
    }
    // Failed, so the next poll asks again, and a good answer clears the error.
    {
        let mut s = server.lock();
        s.oncalls_huge = None;
    }
    let before = server.lock().oncall_queries.len();
    let incidents = list(&mut pd).await;
    assert_eq!(server.lock().oncall_queries.len(), before + 1);
    assert!(on_call(&incidents, "pagerduty:PINC001").error.is_none());
}

/// A 429 on `/oncalls` holds back every request until its reset, as for every other call;
/// then the on-calls are read again.
#[tokio::test]
async fn rate_limited_on_calls_wait_for_the_reset_then_read_again() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PINC001", 1, "errors"));
    {
        let mut s = server.lock();
        s.oncalls = vec![Shift::new("PEP0001", 1, "Ana Lima", None)];
        s.oncalls_throttle = Some(1);
    }
    let mut pd = adapter(&server, "oncall-429");
    let incidents = list(&mut pd).await;
    let oc = on_call(&incidents, "pagerduty:PINC001");
    let error = oc.error.as_ref().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("rate limited; retry in 1s"), "{error}");
    assert!(oc.read_at.is_none());
    let sent = server.lock().requests;
    let held = pd.list(Utc::now()).await.expect_err("held back by the 429");
    assert!(held.to_string().contains("rate limited"), "{held}");
    assert_eq!(
        server.lock().requests,
        sent,
        "nothing sent before the reset"
    );
    // Poll until the reset has passed; no fixed sleep decides the outcome.
    let named = loop {
        if let Ok(incidents) = pd.list(Utc::now()).await {
            break on_call(&incidents, "pagerduty:PINC001").clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(names(&named, 1), "Ana Lima");
    assert!(named.error.is_none());
}

/// Names are outside text: escape sequences never reach the screen.
#[tokio::test]
async fn on_call_names_are_sanitised() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PINC001", 1, "errors"));
    server.lock().oncalls = vec![Shift::new(
        "PEP0001",
        1,
        "Eve\u{1b}]52;c;aGVsbG8=\u{7}\u{202e}Mallory",
        Some("\u{1b}[2JML"),
    )];
    let mut pd = adapter(&server, "oncall-hostile");
    let incidents = list(&mut pd).await;
    let shown = names(on_call(&incidents, "pagerduty:PINC001"), 1);
    assert!(
        !shown.chars().any(|c| c.is_control() || c == '\u{202e}'),
        "{shown:?}"
    );
    assert!(
        shown.starts_with("Eve") && shown.ends_with("(ML)"),
        "{shown:?}"
    );
}
