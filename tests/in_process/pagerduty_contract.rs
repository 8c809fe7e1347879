//! The PagerDuty adapter against a contract server that imitates PagerDuty's REST API v2 and
//! refuses what PagerDuty refuses (see tests/servers/pagerduty.rs).

use chrono::Utc;
use cockpit_testkit::servers;
use oncall_cockpit::backend::pagerduty::PagerDuty;
use oncall_cockpit::backend::pagerduty::PagerDutyConfig;
use oncall_cockpit::backend::{BackendError, IncidentOp, IncidentSource, NotShown};
use oncall_cockpit::config::secret::SecretSpec;
use oncall_cockpit::config::timing::{PollSecs, TimeoutSecs};
use oncall_cockpit::domain::{Incident, IncidentType, Sev, Status};
use servers::pagerduty::{PdIncident, PdServer, ACCEPT, TOKEN};
use std::time::{Duration, Instant};

/// A config pointing at `url`, its token in a chmod-600 file (not an env var: setting env
/// vars while other test threads read them is a race).
pub(crate) fn config(url: &str, test: &str) -> PagerDutyConfig {
    use std::os::unix::fs::PermissionsExt;
    let dir = servers::temp_dir(&format!("pd-{test}"));
    let path = dir.join("token");
    std::fs::write(&path, TOKEN).expect("write token");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    PagerDutyConfig {
        name: "pagerduty".into(),
        url: url.into(),
        token: SecretSpec {
            env: None,
            file: Some(path),
        },
        from: "ana@example.com".into(),
        poll_secs: PollSecs::try_from(15.0).expect("in range"),
        timeout_secs: TimeoutSecs::try_from(5.0).expect("in range"),
        max_reply_mib: 8,
        answer_time_factor: 4.0,
        max_incidents: 5000,
        max_pages: 10,
        max_log_entries: 1000,
        oncall_refresh_secs: 300,
        team_ids: Vec::new(),
        service_ids: Vec::new(),
        page_size: 100,
        tls: None,
    }
}

pub(crate) fn adapter(server: &PdServer, test: &str) -> PagerDuty {
    PagerDuty::new(&config(&server.url, test)).expect("adapter")
}

pub(crate) async fn list(pd: &mut PagerDuty) -> Vec<Incident> {
    pd.list(Utc::now()).await.expect("list")
}

pub(crate) fn find<'a>(incidents: &'a [Incident], id: &str) -> &'a Incident {
    incidents
        .iter()
        .find(|i| i.id == id)
        .unwrap_or_else(|| panic!("{id} not listed"))
}

pub(crate) async fn apply(
    pd: &mut PagerDuty,
    id: &str,
    op: IncidentOp,
) -> Result<String, BackendError> {
    pd.apply(&id.to_string(), &op, "ana", Utc::now()).await
}

fn raw_get(url: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new().get(format!("{url}/incidents"))
}

fn raw_put(url: &str, id: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .put(format!("{url}/incidents/{id}"))
        .header("Authorization", format!("Token token={TOKEN}"))
        .header("Accept", ACCEPT)
}

/// Status and PagerDuty error code of a raw call.
async fn status_and_code(req: reqwest::RequestBuilder) -> (u16, i64) {
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    (status, body["error"]["code"].as_i64().unwrap_or(0))
}

#[tokio::test]
async fn contract_server_rejects_what_pagerduty_rejects() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PABC001", 1, "latency up"));
    let url = &server.url;
    let auth = format!("Token token={TOKEN}");
    let good =
        serde_json::json!({"incident": {"type": "incident_reference", "status": "acknowledged"}});

    // Correct calls pass, so each refusal below is about the one thing left out.
    let ok = raw_get(url)
        .header("Authorization", &auth)
        .header("Accept", ACCEPT);
    assert_eq!(status_and_code(ok).await.0, 200);

    let no_accept = raw_get(url).header("Authorization", &auth);
    assert_eq!(status_and_code(no_accept).await, (400, 2001));
    let bearer = raw_get(url)
        .header("Authorization", format!("Bearer {TOKEN}"))
        .header("Accept", ACCEPT);
    assert_eq!(status_and_code(bearer).await, (401, 2006));
    let no_auth = raw_get(url).header("Accept", ACCEPT);
    assert_eq!(status_and_code(no_auth).await.0, 401);
    let bare_array = raw_get(url)
        .header("Authorization", &auth)
        .header("Accept", ACCEPT)
        .query(&[("statuses", "triggered")]);
    assert_eq!(status_and_code(bare_array).await, (400, 2001));
    let big_page = raw_get(url)
        .header("Authorization", &auth)
        .header("Accept", ACCEPT)
        .query(&[("limit", "101")]);
    assert_eq!(status_and_code(big_page).await.0, 400);

    let no_from = raw_put(url, "PABC001").json(&good);
    assert_eq!(status_and_code(no_from).await, (400, 2001));
    let stranger = raw_put(url, "PABC001")
        .header("From", "mallory@example.com")
        .json(&good);
    assert_eq!(status_and_code(stranger).await.0, 400);
    let untyped = raw_put(url, "PABC001")
        .header("From", "ana@example.com")
        .json(&serde_json::json!({"incident": {"status": "acknowledged"}}));
    assert_eq!(status_and_code(untyped).await, (400, 2001));
    let no_content_type = raw_put(url, "PABC001")
        .header("From", "ana@example.com")
        .body(good.to_string());
    assert_eq!(status_and_code(no_content_type).await.0, 400);
    assert_eq!(server.incident("PABC001").status, "triggered");

    let good_put = raw_put(url, "PABC001")
        .header("From", "ana@example.com")
        .json(&good);
    assert_eq!(status_and_code(good_put).await.0, 200);
    assert_eq!(server.incident("PABC001").status, "acknowledged");
    let unknown = raw_put(url, "PNOPE99")
        .header("From", "ana@example.com")
        .json(&good);
    assert_eq!(status_and_code(unknown).await.0, 404);
}

#[tokio::test]
async fn lists_all_230_open_incidents_through_three_pages() {
    let server = PdServer::start().await;
    for n in 1..=250u64 {
        let inc = PdIncident::new(&format!("PINC{n:03}"), n, &format!("incident {n}"));
        let inc = match n % 3 {
            0 => inc.acked_by("Bo Jensen"),
            _ => inc,
        };
        server.add(inc);
    }
    // Resolved ones must be filtered out by PagerDuty, not listed.
    for inc in server.lock().incidents.iter_mut().skip(230) {
        inc.status = "resolved".into();
    }
    let mut pd = adapter(&server, "paging");
    let incidents = list(&mut pd).await;

    assert_eq!(incidents.len(), 230);
    let ids: std::collections::HashSet<_> = incidents.iter().map(|i| &i.id).collect();
    assert_eq!(ids.len(), 230);
    let acked = incidents
        .iter()
        .filter(|i| i.status == Status::Acknowledged)
        .count();
    assert_eq!(acked, 76);
    let queries = server.lock().list_queries.clone();
    assert_eq!(queries.len(), 3, "{queries:?}");
    for (page, q) in queries.iter().enumerate() {
        let get = |k: &str| -> Vec<&str> {
            q.iter()
                .filter(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        assert_eq!(get("statuses[]"), ["triggered", "acknowledged"]);
        let limit: usize = get("limit")[0].parse().expect("limit");
        assert!(limit <= 100);
        assert_eq!(get("offset"), [(page * 100).to_string()]);
    }
}

/// `(key, value)` pairs of one `GET /incidents` query named `k`.
fn query_values<'q>(q: &'q [(String, String)], k: &str) -> Vec<&'q str> {
    q.iter()
        .filter(|(key, _)| key == k)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// A reply that always says `more: true` used to be followed until the timeout (343 requests
/// in 12 s); now one poll reads at most `max_pages` pages and says more is left unread.
#[tokio::test]
async fn more_true_forever_is_followed_for_max_pages_per_poll() {
    let server = PdServer::start().await;
    for n in 1..=5u64 {
        server.add(PdIncident::new(&format!("PMORE{n:02}"), n, "incident"));
    }
    server.lock().more_forever = true;
    let mut cfg = config(&server.url, "more-forever");
    cfg.max_pages = 3;
    let mut pd = PagerDuty::new(&cfg).expect("adapter");
    for poll in 1..=2usize {
        let incidents = list(&mut pd).await;
        assert_eq!(
            incidents.len(),
            5,
            "the same page read thrice is listed once"
        );
        assert_eq!(server.lock().list_queries.len(), 3 * poll);
        assert_eq!(
            pd.not_listed(),
            NotShown {
                count: 0,
                more: true
            },
            "the backend said more without a total"
        );
    }
}

#[tokio::test]
async fn pages_past_max_pages_are_counted_from_the_total() {
    let server = PdServer::start().await;
    for n in 1..=250u64 {
        server.add(PdIncident::new(&format!("PTOT{n:03}"), n, "incident"));
    }
    let mut cfg = config(&server.url, "total");
    cfg.max_pages = 2;
    let mut pd = PagerDuty::new(&cfg).expect("adapter");
    assert_eq!(list(&mut pd).await.len(), 200);
    assert_eq!(
        pd.not_listed(),
        NotShown {
            count: 50,
            more: false
        }
    );
    let queries = server.lock().list_queries.clone();
    assert_eq!(queries.len(), 2);
    assert_eq!(
        query_values(&queries[0], "total"),
        ["true"],
        "asked on the first page"
    );
    assert!(
        query_values(&queries[1], "total").is_empty(),
        "and only there"
    );
    // Everything fits again: nothing is left out.
    server.lock().incidents.truncate(150);
    assert_eq!(list(&mut pd).await.len(), 150);
    assert_eq!(pd.not_listed(), NotShown::default());
}

/// A responder watches their team: PagerDuty filters by team and service server-side.
#[tokio::test]
async fn team_and_service_ids_filter_on_pagerduty() {
    let server = PdServer::start().await;
    for (n, team, service) in [
        (1u64, "PTEAM01", "PSVC001"),
        (2, "PTEAM02", "PSVC002"),
        (3, "PTEAM02", "PSVC003"),
    ] {
        let mut inc = PdIncident::new(&format!("PFLT{n:03}"), n, "incident");
        inc.team_id = team.into();
        inc.service_id = service.into();
        server.add(inc);
    }
    let mut cfg = config(&server.url, "filters");
    cfg.team_ids = vec!["PTEAM02".into()];
    let mut pd = PagerDuty::new(&cfg).expect("adapter");
    let ids: Vec<String> = list(&mut pd).await.into_iter().map(|i| i.id).collect();
    assert_eq!(ids, ["pagerduty:PFLT002", "pagerduty:PFLT003"]);
    cfg.service_ids = vec!["PSVC003".into()];
    let mut pd = PagerDuty::new(&cfg).expect("adapter");
    let ids: Vec<String> = list(&mut pd).await.into_iter().map(|i| i.id).collect();
    assert_eq!(ids, ["pagerduty:PFLT003"]);
    let last = server
        .lock()
        .list_queries
        .last()
        .cloned()
        .unwrap_or_default();
    assert_eq!(query_values(&last, "team_ids[]"), ["PTEAM02"]);
    assert_eq!(query_values(&last, "service_ids[]"), ["PSVC003"]);
}

#[tokio::test]
async fn log_entries_are_fetched_for_ten_per_poll_most_urgent_first_and_only_on_change() {
    let server = PdServer::start().await;
    for n in 1..=25u64 {
        let mut inc = PdIncident::new(&format!("PLOG{n:03}"), n, "incident");
        // The last three are the most urgent: they go first.
        inc.priority = (n > 22).then(|| "P1".to_string());
        server.add(inc);
    }
    let mut pd = adapter(&server, "logcap");
    list(&mut pd).await;
    let first = server.lock().log_fetches.clone();
    assert_eq!(first.len(), 10);
    for id in ["PLOG023", "PLOG024", "PLOG025"] {
        assert!(first[..3].contains(&id.to_string()), "{first:?}");
    }
    list(&mut pd).await;
    list(&mut pd).await;
    assert_eq!(server.lock().log_fetches.len(), 25, "each fetched once");
    list(&mut pd).await;
    assert_eq!(server.lock().log_fetches.len(), 25, "nothing changed");

    server.lock().incidents[0] = PdIncident::new("PLOG001", 1, "incident").acked_by("Bo Jensen");
    list(&mut pd).await;
    assert_eq!(server.lock().log_fetches[25..], ["PLOG001".to_string()]);
}

#[tokio::test]
async fn ack_changes_pagerduty_and_shows_who() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PACK001", 7, "p99 latency high"));
    let mut pd = adapter(&server, "ack");
    assert_eq!(list(&mut pd).await[0].status, Status::Triggered);

    let msg = apply(&mut pd, "pagerduty:PACK001", IncidentOp::Ack).await;
    assert!(msg.expect("ack").contains("acknowledged"));
    let inc = server.incident("PACK001");
    assert_eq!(inc.status, "acknowledged");
    assert_eq!(inc.acks.last().map(|a| a.1.as_str()), Some("Ana Lima"));
    let writes = server.lock().writes.clone();
    assert_eq!(writes[0].from, "ana@example.com");
    assert_eq!(writes[0].body["incident"]["type"], "incident_reference");

    let listed = list(&mut pd).await;
    let inc = find(&listed, "pagerduty:PACK001");
    assert_eq!(inc.status, Status::Acknowledged);
    assert_eq!(inc.acked_by.as_ref().map(|s| s.as_str()), Some("Ana Lima"));
    assert!(inc.acked_at.is_some());
    assert_eq!(inc.seconds_left(Utc::now()), None);
}

#[tokio::test]
async fn ack_of_someone_elses_incident_is_refused_without_a_put() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PCON001", 1, "cost spike").acked_by("Bo Jensen"));
    server.add(PdIncident::new("PCON002", 2, "errors"));
    let mut pd = adapter(&server, "conflict");
    list(&mut pd).await;

    let err = apply(&mut pd, "pagerduty:PCON001", IncidentOp::Ack).await;
    assert_eq!(
        err,
        Err(BackendError::Rejected(
            "already acknowledged by Bo Jensen".into()
        ))
    );
    assert_eq!(server.lock().puts, 0);

    // Resolved by someone else since the last list: PagerDuty's 400 is a conflict too.
    server.lock().incidents[1].status = "resolved".into();
    let err = apply(&mut pd, "pagerduty:PCON002", IncidentOp::Ack).await;
    assert_eq!(
        err,
        Err(BackendError::Rejected("Incident Already Resolved".into()))
    );
    assert_eq!(server.lock().puts, 1);
    // Known resolved (from the last list or write): refused locally.
    server.lock().incidents[1].status = "triggered".into();
    list(&mut pd).await;
    apply(&mut pd, "pagerduty:PCON002", IncidentOp::Resolve)
        .await
        .expect("resolve");
    let err = apply(&mut pd, "pagerduty:PCON002", IncidentOp::Resolve).await;
    assert_eq!(err, Err(BackendError::Rejected("already resolved".into())));
    assert_eq!(server.lock().puts, 2);

    let err = apply(&mut pd, "pagerduty:PNOPE99", IncidentOp::Ack).await;
    assert_eq!(
        err,
        Err(BackendError::Rejected(
            "no incident pagerduty:PNOPE99".into()
        ))
    );
    let err = apply(&mut pd, "pagerduty:../x", IncidentOp::Ack).await;
    assert_eq!(
        err,
        Err(BackendError::Rejected("no incident pagerduty:../x".into()))
    );
    assert_eq!(
        server.lock().puts,
        3,
        "the malformed id never left the adapter"
    );
}

#[tokio::test]
async fn resolve_escalate_and_note_reach_pagerduty() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PRES001", 1, "eval regression"));
    server.add(PdIncident::new("PESC001", 2, "guardrail bypass"));
    let mut at_two = PdIncident::new("PESC002", 3, "drift");
    at_two.log.push(servers::pagerduty::LogEntry {
        kind: "escalate_log_entry".into(),
        at: Utc::now(),
        summary: "Escalated to level 2 by Bo Jensen".into(),
        agent: Some("Bo Jensen".into()),
        channel: None,
    });
    server.add(at_two);
    let mut pd = adapter(&server, "writes");
    let listed = list(&mut pd).await;
    assert_eq!(find(&listed, "pagerduty:PESC001").escalation_level, 0);
    assert_eq!(find(&listed, "pagerduty:PESC002").escalation_level, 1);

    apply(&mut pd, "pagerduty:PRES001", IncidentOp::Resolve)
        .await
        .expect("resolve");
    assert_eq!(server.incident("PRES001").status, "resolved");

    apply(&mut pd, "pagerduty:PESC001", IncidentOp::Escalate)
        .await
        .expect("escalate");
    apply(&mut pd, "pagerduty:PESC001", IncidentOp::Escalate)
        .await
        .expect("escalate again");
    apply(&mut pd, "pagerduty:PESC002", IncidentOp::Escalate)
        .await
        .expect("escalate from level 2");
    let escalations = server.lock().escalations.clone();
    assert_eq!(
        escalations,
        [
            ("PESC001".to_string(), 2),
            ("PESC001".to_string(), 3),
            ("PESC002".to_string(), 3)
        ]
    );
    let listed = list(&mut pd).await;
    assert_eq!(find(&listed, "pagerduty:PESC001").escalation_level, 2);

    let note = "rolled back prompt v42 → v41";
    apply(&mut pd, "pagerduty:PESC001", IncidentOp::Note(note.into()))
        .await
        .expect("note");
    let notes = server.lock().notes.clone();
    assert_eq!(notes, [("PESC001".to_string(), note.to_string())]);
    // A note changes no status, yet the next list shows it: our write marked the log stale.
    let listed = list(&mut pd).await;
    let timeline = &find(&listed, "pagerduty:PESC001").timeline;
    assert!(
        timeline.iter().any(|e| e.text.as_str().contains(note)),
        "{timeline:?}"
    );
}

/// What PagerDuty refuses, the cockpit reports as a failure with PagerDuty's own reason,
/// changes nothing, and can retry: escalating past the policy's last level, and a note on
/// an incident someone resolved meanwhile.
#[tokio::test]
async fn refusals_fail_loudly_with_pagerduty_reason() {
    let server = PdServer::start().await;
    let mut top = PdIncident::new("PTOP001", 1, "cost explosion");
    top.log.push(servers::pagerduty::LogEntry {
        kind: "escalate_log_entry".into(),
        at: Utc::now(),
        summary: "Escalated to level 3 by Bo Jensen".into(),
        agent: Some("Bo Jensen".into()),
        channel: None,
    });
    top.level = 3;
    server.add(top);
    server.add(PdIncident::new("PDONE01", 2, "eval regression"));
    let mut pd = adapter(&server, "refusals");
    list(&mut pd).await;

    let err = apply(&mut pd, "pagerduty:PTOP001", IncidentOp::Escalate).await;
    let Err(BackendError::Http {
        status: 400,
        message,
    }) = &err
    else {
        panic!("escalating past the last level must fail: {err:?}");
    };
    assert!(
        message.contains("escalation policy has 3 levels"),
        "the reason is PagerDuty's: {message}"
    );
    assert_eq!(server.lock().escalations, Vec::<(String, u64)>::new());
    assert_eq!(server.incident("PTOP001").level, 3, "nothing changed");

    // Resolved by someone else between the cockpit's poll and the responder's note.
    server.lock().incidents[1].status = "resolved".into();
    let err = apply(
        &mut pd,
        "pagerduty:PDONE01",
        IncidentOp::Note("tried v41".into()),
    )
    .await;
    // The adapter knows this refusal: the incident's state, not a broken request.
    let Err(BackendError::Rejected(message)) = &err else {
        panic!("a note on a resolved incident must fail: {err:?}");
    };
    assert!(message.contains("Incident Already Resolved"), "{message}");
    assert!(server.lock().notes.is_empty());
}

/// `n` notes on `inc`, a second apart, ending `end`, as PagerDuty logs them.
fn add_notes(inc: &mut PdIncident, n: usize, end: chrono::DateTime<Utc>, first: usize) {
    for k in 0..n {
        let at = end - chrono::Duration::seconds((n - 1 - k) as i64);
        let number = first + k;
        inc.log.push(servers::pagerduty::LogEntry {
            kind: "annotate_log_entry".into(),
            at,
            summary: format!("Note added by Bo Jensen ({number})"),
            agent: Some("Bo Jensen".into()),
            channel: Some(format!("note {number}")),
        });
    }
}

fn texts(inc: &Incident) -> Vec<&str> {
    inc.timeline.iter().map(|e| e.text.as_str()).collect()
}

fn log_requests(server: &PdServer, id: &str) -> usize {
    server
        .lock()
        .log_fetches
        .iter()
        .filter(|f| f.as_str() == id)
        .count()
}

/// A log longer than one page is read page by page (PagerDuty's `limit` ≤ 100, `offset`,
/// `more`), newest first, every entry up to `max_log_entries`; past it the newest are kept
/// and the timeline's first line says older ones were not read.
#[tokio::test]
async fn log_entries_are_paged_up_to_max_log_entries_and_the_cut_is_said() {
    let server = PdServer::start().await;
    let end = Utc::now() - chrono::Duration::minutes(1);
    let mut whole = PdIncident::new("PPAGE01", 1, "agent loop");
    add_notes(&mut whole, 250, end, 1);
    server.add(whole);
    let mut long = PdIncident::new("PPAGE02", 2, "agent loop");
    add_notes(&mut long, 1234, end, 1);
    server.add(long);
    let mut pd = adapter(&server, "log-pages");
    let listed = list(&mut pd).await;

    // 250 notes and the trigger: three pages, all of it, oldest first.
    let whole = find(&listed, "pagerduty:PPAGE01");
    let t = texts(whole);
    assert_eq!(t.len(), 251, "every entry of a log under the bound");
    assert!(t[0].starts_with("Triggered"), "{:?}", &t[..2]);
    assert!(
        t[1].contains("(1)") && t[250].contains("(250)"),
        "{:?}",
        &t[249..]
    );
    assert!(whole.timeline.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(log_requests(&server, "PPAGE01"), 3);

    // 1,235 entries against the default bound of 1,000: ten pages, the newest 1,000 kept,
    // and the first line of the timeline says the rest were not read.
    let long = find(&listed, "pagerduty:PPAGE02");
    let t = texts(long);
    assert_eq!(t.len(), 1001, "1,000 entries and the line saying so");
    assert_eq!(
        t[0],
        "older PagerDuty log entries not read: the newest 1000 are shown (max_log_entries)"
    );
    assert!(t[1].contains("(235)"), "the 1,000th newest: {}", t[1]);
    assert!(t[1000].contains("(1234)"), "the newest: {}", t[1000]);
    assert_eq!(log_requests(&server, "PPAGE02"), 10);
    let Some(limits) = server.lock().log_limits.get("PPAGE02").cloned() else {
        panic!("log requests not recorded");
    };
    assert!(limits.iter().all(|(limit, _)| *limit <= 100), "{limits:?}");
    let offsets: Vec<usize> = limits.iter().map(|(_, offset)| *offset).collect();
    assert_eq!(offsets, (0..10).map(|p| p * 100).collect::<Vec<_>>());
}

/// After a change, only what is new is read: the first entry the cockpit already holds ends
/// the read, and the new entries join the held ones in order.
#[tokio::test]
async fn a_changed_log_is_read_only_up_to_what_is_held() {
    let server = PdServer::start().await;
    let end = Utc::now() - chrono::Duration::minutes(2);
    let mut inc = PdIncident::new("PMORE01", 1, "agent loop");
    add_notes(&mut inc, 250, end, 1);
    server.add(inc);
    let mut pd = adapter(&server, "log-new-only");
    list(&mut pd).await;
    assert_eq!(log_requests(&server, "PMORE01"), 3);

    {
        let mut s = server.lock();
        let inc = &mut s.incidents[0];
        add_notes(inc, 3, Utc::now() - chrono::Duration::seconds(30), 251);
        // PagerDuty's times are to the second: each change must land on another one.
        inc.last_status_change_at = Utc::now() - chrono::Duration::seconds(20);
    }
    let listed = list(&mut pd).await;
    assert_eq!(
        log_requests(&server, "PMORE01"),
        4,
        "one page for three new entries"
    );
    let t = texts(find(&listed, "pagerduty:PMORE01"));
    assert_eq!(t.len(), 254);
    assert!(t[0].starts_with("Triggered"));
    assert!(
        t[253].contains("(253)") && t[250].contains("(250)"),
        "{:?}",
        &t[249..]
    );

    // Past the bound the oldest held entries give way, and the timeline says so.
    let mut cfg = config(&server.url, "log-new-only-bound");
    cfg.max_log_entries = 254;
    let mut pd = PagerDuty::new(&cfg).expect("adapter");
    list(&mut pd).await;
    {
        let mut s = server.lock();
        let inc = &mut s.incidents[0];
        add_notes(inc, 2, Utc::now() - chrono::Duration::seconds(10), 254);
        inc.last_status_change_at = Utc::now() - chrono::Duration::seconds(5);
    }
    let listed = list(&mut pd).await;
    let t = texts(find(&listed, "pagerduty:PMORE01"));
    assert_eq!(t.len(), 255, "{:?}", &t[..3]);
    assert!(t[0].starts_with("older PagerDuty log entries not read: the newest 254"));
    // The trigger and note 1 gave way to notes 254 and 255.
    assert!(
        t[1].contains("(2)") && t[254].contains("(255)"),
        "{:?}",
        &t[..3]
    );
}

/// An incident with a longer history than the bound: the latest entries — the escalation
/// level among them — are never the ones cut.
#[tokio::test]
async fn a_long_log_keeps_its_newest_entries() {
    let server = PdServer::start().await;
    let mut long = PdIncident::new("PLONG01", 1, "agent loop");
    let start = Utc::now() - chrono::Duration::hours(3);
    for n in 0..150 {
        long.log.push(servers::pagerduty::LogEntry {
            kind: "annotate_log_entry".into(),
            at: start + chrono::Duration::seconds(n),
            summary: format!("Note added by Bo Jensen ({n})"),
            agent: Some("Bo Jensen".into()),
            channel: Some(format!("note {n}")),
        });
    }
    long.log.push(servers::pagerduty::LogEntry {
        kind: "escalate_log_entry".into(),
        at: Utc::now(),
        summary: "Escalated to level 2 by Bo Jensen".into(),
        agent: Some("Bo Jensen".into()),
        channel: None,
    });
    server.add(long);
    let mut cfg = config(&server.url, "long-log");
    cfg.max_log_entries = 100;
    let mut pd = PagerDuty::new(&cfg).expect("adapter");
    let listed = list(&mut pd).await;
    let inc = find(&listed, "pagerduty:PLONG01");
    assert_eq!(inc.escalation_level, 1, "the newest entry says level 2");
    let texts = texts(inc);
    assert!(
        texts
            .last()
            .is_some_and(|t| t.contains("Escalated to level 2")),
        "{:?}",
        texts.last()
    );
    assert_eq!(texts.len(), 101, "the newest 100 and the line saying so");
    assert!(texts[0].starts_with("older PagerDuty log entries not read"));
}

#[tokio::test]
async fn timeline_comes_from_log_entries_in_order() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PTL0001", 1, "retrieval degradation").acked_by("Bo Jensen"));
    let mut pd = adapter(&server, "timeline");
    let listed = list(&mut pd).await;
    let inc = &listed[0];
    let texts: Vec<&str> = inc.timeline.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[0].starts_with("Triggered"), "{texts:?}");
    assert_eq!(texts[1], "Acknowledged by Bo Jensen");
    assert!(inc.timeline[0].at < inc.timeline[1].at);
}

#[tokio::test]
async fn incident_fields_map_to_the_cockpit() {
    let server = PdServer::start().await;
    let mut p1 = PdIncident::new("PMAP001", 41, "Guardrail bypass on support-bot");
    p1.priority = Some("P1".into());
    let mut low = PdIncident::new("PMAP002", 42, "disk 80%");
    low.urgency = "low".into();
    low.service = "cost_explosion".into();
    let mut sev3 = PdIncident::new("PMAP003", 43, "something");
    sev3.priority = Some("SEV-3".into());
    server.add(p1);
    server.add(low);
    server.add(sev3);
    server.add(PdIncident::new("PMAP004", 44, "unclassified"));
    let mut pd = adapter(&server, "mapping");
    let listed = list(&mut pd).await;

    let p1 = find(&listed, "pagerduty:PMAP001");
    assert_eq!(p1.source, "pagerduty");
    assert_eq!(
        (p1.sev, p1.kind),
        (Sev::Sev1, IncidentType::GuardrailBypass)
    );
    assert_eq!(p1.feature.as_str(), "support-bot");
    assert_eq!(p1.respond_by, p1.triggered_at + Sev::Sev1.response_time());
    assert!(p1.firing);
    let evidence: Vec<&str> = p1.evidence.iter().map(|e| e.as_str()).collect();
    assert!(evidence.contains(&"https://example.pagerduty.com/incidents/PMAP001"));
    assert!(evidence.contains(&"incident_key: dedup-PMAP001"));
    let low = find(&listed, "pagerduty:PMAP002");
    assert_eq!(
        (low.sev, low.kind),
        (Sev::Sev4, IncidentType::CostExplosion)
    );
    assert_eq!(find(&listed, "pagerduty:PMAP003").sev, Sev::Sev3);
    let plain = find(&listed, "pagerduty:PMAP004");
    assert_eq!((plain.sev, plain.kind), (Sev::Sev2, IncidentType::Other));

    for op in [
        IncidentOp::Ack,
        IncidentOp::Escalate,
        IncidentOp::Resolve,
        IncidentOp::Note("x".into()),
    ] {
        assert_eq!(pd.unsupported(&op), None);
    }
}

#[tokio::test]
async fn rate_limit_stops_all_requests_until_the_reset() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PRL0001", 1, "errors"));
    let mut pd = adapter(&server, "ratelimit");
    list(&mut pd).await;
    server.lock().throttle = Some((1, 2));

    let err = pd.list(Utc::now()).await;
    assert_eq!(
        err,
        Err(BackendError::Http {
            status: 429,
            message: "rate limited; retry in 2s".into()
        })
    );
    let seen = server.lock().requests;
    let again = pd.list(Utc::now()).await;
    assert!(
        matches!(&again, Err(BackendError::Http { status: 429, message }) if message.starts_with("rate limited; retry in ")),
        "{again:?}"
    );
    let ack = apply(&mut pd, "pagerduty:PRL0001", IncidentOp::Ack).await;
    assert!(
        matches!(&ack, Err(BackendError::Http { status: 429, .. })),
        "{ack:?}"
    );
    assert_eq!(server.lock().requests, seen, "nothing sent while limited");

    let deadline = Instant::now() + Duration::from_secs(6);
    let result = loop {
        let r = pd.list(Utc::now()).await;
        if r.is_ok() || Instant::now() > deadline {
            break r;
        }
        assert_eq!(server.lock().requests, seen, "nothing sent while limited");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(result.map(|l| l.len()), Ok(1));
}

#[tokio::test]
async fn revoked_token_and_forbidden_are_reported() {
    let server = PdServer::start().await;
    server.add(PdIncident::new("PTOK001", 1, "errors"));
    let mut pd = adapter(&server, "token");
    list(&mut pd).await;
    server.lock().token_revoked = true;
    let err = pd.list(Utc::now()).await;
    match &err {
        Err(BackendError::Http {
            status: 401,
            message,
        }) => {
            assert!(message.contains("invalid API token"), "{message}");
            assert!(message.contains("expired"), "{message}");
            assert!(!message.contains(TOKEN));
        }
        other => panic!("expected 401, got {other:?}"),
    }
    let ack = apply(&mut pd, "pagerduty:PTOK001", IncidentOp::Ack).await;
    assert!(matches!(ack, Err(BackendError::Http { status: 401, .. })));

    server.lock().token_revoked = false;
    server.lock().forbidden = true;
    let err = pd.list(Utc::now()).await;
    assert!(
        matches!(&err, Err(BackendError::Http { status: 403, message }) if message.contains("Access Denied")),
        "{err:?}"
    );
}

#[tokio::test]
async fn malformed_dead_and_slow_servers_fail_distinctly() {
    let server = PdServer::start().await;
    server.lock().malformed = true;
    let mut pd = adapter(&server, "malformed");
    let err = pd.list(Utc::now()).await;
    assert!(matches!(err, Err(BackendError::Malformed(_))), "{err:?}");

    let dead = format!("http://127.0.0.1:{}", servers::free_port());
    let mut pd = PagerDuty::new(&config(&dead, "dead")).expect("adapter");
    let err = pd.list(Utc::now()).await;
    assert!(matches!(err, Err(BackendError::Unreachable(_))), "{err:?}");

    let slow = PdServer::start().await;
    slow.lock().delay = Duration::from_secs(3);
    let mut cfg = config(&slow.url, "slow");
    cfg.timeout_secs = TimeoutSecs::try_from(0.5).expect("in range");
    let mut pd = PagerDuty::new(&cfg).expect("adapter");
    let err = pd.list(Utc::now()).await;
    assert_eq!(err, Err(BackendError::Timeout(1)));
    // The adapter gave up rather than the server answering late: the reply was never sent.
    assert_eq!(
        slow.lock().answered,
        0,
        "the slow server answered before the timeout"
    );
}

#[tokio::test]
async fn escape_sequences_from_pagerduty_arrive_inert() {
    let server = PdServer::start().await;
    let mut inc = PdIncident::new(
        "PESC0SQ",
        1,
        "\u{1b}]52;c;cm0gLXJmIH4=\u{7}Prod \u{1b}[31mguardrail bypass\u{1b}[0m\u{1b}[2J",
    );
    inc.service = "bot\u{1b}]0;pwned\u{1b}\\".into();
    let inc = inc.acked_by("Eve\u{1b}[8m hidden\u{9b}31m");
    server.add(inc);
    let mut pd = adapter(&server, "escapes");
    let listed = list(&mut pd).await;
    let inc = &listed[0];
    assert_eq!(inc.title.as_str(), "Prod guardrail bypass");
    assert_eq!(inc.kind, IncidentType::GuardrailBypass);
    assert_eq!(inc.feature.as_str(), "bot");
    assert_eq!(
        inc.acked_by.as_ref().map(|s| s.as_str()),
        Some("Eve hidden")
    );
    let mut all: Vec<&str> = vec![inc.title.as_str(), inc.feature.as_str()];
    all.extend(inc.evidence.iter().map(|e| e.as_str()));
    all.extend(inc.timeline.iter().map(|e| e.text.as_str()));
    assert!(inc.timeline.len() == 2);
    for s in all {
        assert!(!s.chars().any(char::is_control), "{s:?}");
        assert!(!s.contains("52;c") && !s.contains("pwned"), "{s:?}");
    }
    let err = apply(&mut pd, "pagerduty:PESC0SQ", IncidentOp::Ack).await;
    assert_eq!(
        err,
        Err(BackendError::Rejected(
            "already acknowledged by Eve hidden".into()
        ))
    );
}

#[test]
fn config_errors_name_what_to_fix() {
    let mut cfg = config("http://127.0.0.1:1", "cfgerr");
    cfg.token = SecretSpec {
        env: Some("OC_PD_TEST_SURELY_UNSET".into()),
        file: None,
    };
    let err = PagerDuty::new(&cfg).err().unwrap_or_default();
    assert!(err.contains("OC_PD_TEST_SURELY_UNSET"), "{err}");

    let mut cfg = config("http://127.0.0.1:1", "cfgerr2");
    cfg.from = "".into();
    assert!(PagerDuty::new(&cfg)
        .err()
        .unwrap_or_default()
        .contains("from"));
    let pd = PagerDuty::new(&config("http://127.0.0.1:1", "cfgerr3")).expect("adapter");
    assert!(!format!("{pd:?}").contains(TOKEN));
}

/// Sends what `effects` ask of PagerDuty through the adapter and hands each answer back to
/// the state as the driver does (an error as its text); returns the state's effects.
async fn carry(
    pd: &mut PagerDuty,
    s: &mut oncall_cockpit::state::State,
    effects: Vec<oncall_cockpit::state::Effect>,
) -> usize {
    use oncall_cockpit::domain::command::{Command, CommandOutcome};
    use oncall_cockpit::state::Effect;
    let mut sent = 0;
    for e in effects {
        let Effect::Send(req) = e else { continue };
        let Command::Incident { id, op, .. } = &req.command else {
            panic!("not for PagerDuty: {:?}", req.command);
        };
        sent += 1;
        let result = pd.apply(id, op, &req.author, Utc::now()).await;
        oncall_cockpit::state::update(
            s,
            oncall_cockpit::action::Action::CommandDone(CommandOutcome {
                action_id: req.action_id,
                result: result.map_err(|e| e.to_string()),
            }),
        );
    }
    sent
}

fn flash(s: &oncall_cockpit::state::State) -> (oncall_cockpit::state::FlashLevel, String) {
    let f = s.flash.as_ref().expect("something is said");
    (f.level, f.text.clone())
}

/// Each refusal the contract server makes, carried through the cockpit as the driver carries
/// it: the failure is said loudly with PagerDuty's reason and the retry hint, nothing is
/// dropped, and `t` sends the same command again, which goes through once its cause is gone
/// (a wider escalation policy) or is refused again, as loudly (a resolved incident stays
/// resolved).
#[tokio::test]
async fn each_refusal_shows_loudly_and_can_be_retried() {
    use oncall_cockpit::action::Action;
    use oncall_cockpit::domain::event::BackendEvent;
    use oncall_cockpit::state::{update, FlashLevel};
    let server = PdServer::start().await;
    let mut top = PdIncident::new("PTOP001", 1, "cost explosion");
    top.log.push(servers::pagerduty::LogEntry {
        kind: "escalate_log_entry".into(),
        at: Utc::now(),
        summary: "Escalated to level 3 by Bo Jensen".into(),
        agent: Some("Bo Jensen".into()),
        channel: None,
    });
    top.level = 3;
    server.add(top);
    server.add(PdIncident::new("PDONE01", 2, "eval regression"));
    let mut pd = adapter(&server, "refusal-retry");
    let incidents = list(&mut pd).await;
    let mut s = cockpit_testkit::common::drill_state(1);
    let at = s.now;
    update(
        &mut s,
        Action::Backend(BackendEvent::Incidents {
            source: "pagerduty".into(),
            at,
            incidents,
        }),
    );

    // Escalating past the policy's last level.
    assert!(cockpit_testkit::common::select_where(&mut s, |i| i.id == "pagerduty:PTOP001"));
    update(&mut s, Action::Escalate);
    let fx = update(&mut s, Action::Confirm);
    assert_eq!(carry(&mut pd, &mut s, fx).await, 1);
    let (level, text) = flash(&s);
    assert_eq!(level, FlashLevel::Error, "{text}");
    assert!(
        text.contains("FAILED")
            && text.contains("escalation policy has 3 levels")
            && text.ends_with("(t: retry)"),
        "{text}"
    );
    assert!(server.lock().escalations.is_empty());
    server.lock().policy_levels = 4;
    let fx = update(&mut s, Action::Retry);
    assert_eq!(carry(&mut pd, &mut s, fx).await, 1, "t sends it again");
    let (level, text) = flash(&s);
    assert_eq!(level, FlashLevel::Info, "{text}");
    assert!(text.contains("escalated to level 4"), "{text}");
    assert_eq!(server.lock().escalations, vec![("PTOP001".to_string(), 4)]);

    // A note on an incident someone resolved meanwhile.
    server.lock().incidents[1].status = "resolved".into();
    assert!(cockpit_testkit::common::select_where(&mut s, |i| i.id == "pagerduty:PDONE01"));
    update(&mut s, Action::Note);
    for c in "tried v41".chars() {
        update(
            &mut s,
            Action::TextInput(crossterm::event::KeyEvent::new(
                crossterm::event::KeyCode::Char(c),
                crossterm::event::KeyModifiers::NONE,
            )),
        );
    }
    let mut fx = update(&mut s, Action::Submit);
    for attempt in ["first", "retried"] {
        assert_eq!(carry(&mut pd, &mut s, fx).await, 1, "{attempt}");
        let (level, text) = flash(&s);
        assert_eq!(level, FlashLevel::Error, "{attempt}: {text}");
        assert!(
            text.contains("note") && text.contains("FAILED: Incident Already Resolved"),
            "{attempt}: {text}"
        );
        assert!(text.ends_with("(t: retry)"), "{attempt}: {text}");
        fx = update(&mut s, Action::Retry);
    }
    assert!(server.lock().notes.is_empty());
}
