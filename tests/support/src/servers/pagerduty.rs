//! A contract server for PagerDuty's public REST API v2, on 127.0.0.1, holding incident state.
//! It rejects what the public docs say PagerDuty rejects, with PagerDuty's error shape
//! `{"error":{"message","code","errors":[…]}}`:
//! - every request: `Authorization: Token token=<key>` (else 401) and
//!   `Accept: application/vnd.pagerduty+json;version=2` (else 400);
//! - writes: `Content-Type: application/json` and `From: <email of a known user>` (else 400);
//! - `GET /incidents`: array filters only as `statuses[]` (a bare `statuses` is refused so a
//!   filter can never be silently ignored), known statuses, `limit` ≤ 100;
//! - `PUT /incidents/{id}`: `{"incident":{"type":"incident_reference", status|escalation_level}}`;
//!   changing a resolved incident → 400 "Incident Already Resolved"; an `escalation_level`
//!   past the last level of the incident's escalation policy (3 unless a test says) → 400;
//! - `POST /incidents/{id}/notes`: `{"note":{"content":"…"}}` with non-empty content; a note
//!   on a resolved incident → 400 "Incident Already Resolved";
//! - `GET /incidents/{id}/log_entries`: newest first, `limit` ≤ 100 and `offset` paging with
//!   `more`, like every PagerDuty list;
//! - `GET /oncalls`: array filters only as `escalation_policy_ids[]` (a bare name is refused),
//!   `limit` ≤ 100 and `offset` paging with `more`; with no `since`/`until`, the on-calls of
//!   now; `earliest=true` keeps one entry per policy, level and user;
//! - `GET /users?query=…`: users whose name or email contains the query (PagerDuty's search);
//! - `POST /incidents/{id}/responder_requests`: `requester_id` a known user's id, a non-empty
//!   `message`, and `responder_request_targets` as a non-empty list of
//!   `{"responder_request_target":{"id","type":"user_reference"|"escalation_policy_reference"}}`
//!   naming a known user or policy; logged as `responder_request_log_entry`;
//! - `POST /incidents/{id}/status_updates`: a non-empty `message` (`subject` and
//!   `html_message` optional strings); logged as `status_update_log_entry`;
//! - `PUT /incidents/{id}/merge`: `{"source_incidents":[{"id","type":"incident_reference"}]}`,
//!   each an open incident other than the target; the sources are resolved;
//! - `POST /incidents/{id}/snooze`: `{"duration": seconds}`, a positive whole number; only an
//!   acknowledged incident snoozes (else 400); answers 201 with the incident, whose
//!   `pending_actions` holds the `unacknowledge` at the snooze's end; logged as
//!   `snooze_log_entry`; once the time is up the incident is triggered again (logged as
//!   `unacknowledge_log_entry`);
//! - `PUT /incidents` (manage incidents): `{"incidents":[{"id","type":"incident_reference",
//!   "assignments":[{"assignee":{"id","type":"user_reference"}}]}]}`, each naming an open
//!   incident and known users; the incident is assigned to them alone and triggered for them;
//!   logged as `assign_log_entry`;
//! - `GET /incidents/{id}/related_change_events`: `pagerduty_changes.rs`;
//! - unknown incident → 404.
//!
//! Switches make it misbehave on purpose: 429 for the next N requests, a revoked token (401),
//! 403, a truncated JSON body, 500 on every write, and a delay before every answer.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

#[path = "pagerduty_changes.rs"]
mod changes;
pub use changes::{ChangeEvent, RelatedChanges};

pub const TOKEN: &str = "u+pd-contract-token-0123";
pub const ACCEPT: &str = "application/vnd.pagerduty+json;version=2";
/// Users the account knows: (email, name, id). `From` must name one of them.
pub const USERS: [(&str, &str, &str); 2] = [
    ("ana@example.com", "Ana Lima", "PUANA01"),
    ("bo@example.com", "Bo Jensen", "PUBOJ02"),
];

#[derive(Clone, Debug)]
pub struct LogEntry {
    pub kind: String,
    pub at: DateTime<Utc>,
    pub summary: String,
    pub agent: Option<String>,
    /// A note's text, carried as the channel summary like PagerDuty does.
    pub channel: Option<String>,
}

#[derive(Clone, Debug)]
pub struct PdIncident {
    pub id: String,
    pub number: u64,
    pub title: String,
    pub status: String,
    pub urgency: String,
    pub priority: Option<String>,
    pub service: String,
    /// PagerDuty ids of the service and of the team that owns it, for `service_ids[]` and
    /// `team_ids[]` filters.
    pub service_id: String,
    pub team_id: String,
    pub created_at: DateTime<Utc>,
    pub last_status_change_at: DateTime<Utc>,
    /// (at, acknowledger name)
    pub acks: Vec<(DateTime<Utc>, String)>,
    pub level: u32,
    pub key: String,
    pub log: Vec<LogEntry>,
    /// (id, name) of its escalation policy.
    pub policy: (String, String),
    /// Names of the users it is assigned to.
    pub assignees: Vec<String>,
    /// When a snooze ends and the incident triggers again.
    pub snoozed_until: Option<DateTime<Utc>>,
}

/// One on-call as `GET /oncalls` lists it.
#[derive(Clone, Debug)]
pub struct OnCall {
    pub policy_id: String,
    pub policy_name: String,
    pub level: u32,
    pub user: String,
    /// The schedule that puts the user there; `None` when the policy names the user directly.
    pub schedule: Option<String>,
    /// Whether the shift covers now: one that does not is listed only for a time range.
    pub now: bool,
}

impl OnCall {
    pub fn new(policy_id: &str, level: u32, user: &str, schedule: Option<&str>) -> Self {
        OnCall {
            policy_id: policy_id.into(),
            policy_name: "AI on-call".into(),
            level,
            user: user.into(),
            schedule: schedule.map(Into::into),
            now: true,
        }
    }
}

impl PdIncident {
    /// A triggered, high-urgency incident created ten minutes ago, with its trigger log entry.
    pub fn new(id: &str, number: u64, title: &str) -> Self {
        let at = Utc::now() - ChronoDuration::minutes(10);
        PdIncident {
            id: id.into(),
            number,
            title: title.into(),
            status: "triggered".into(),
            urgency: "high".into(),
            priority: None,
            service: "support-bot".into(),
            service_id: "PSVC001".into(),
            team_id: "PTEAM01".into(),
            created_at: at,
            last_status_change_at: at,
            acks: Vec::new(),
            level: 1,
            key: format!("dedup-{id}"),
            policy: ("PEP0001".into(), "AI on-call".into()),
            assignees: vec!["Ana Lima".into()],
            snoozed_until: None,
            log: vec![LogEntry {
                kind: "trigger_log_entry".into(),
                at,
                summary: "Triggered through the API".into(),
                agent: Some("Prometheus integration".into()),
                channel: None,
            }],
        }
    }

    /// Acknowledged by `name` five minutes ago, logged like PagerDuty logs it.
    pub fn acked_by(mut self, name: &str) -> Self {
        let at = Utc::now() - ChronoDuration::minutes(5);
        self.status = "acknowledged".into();
        self.last_status_change_at = at;
        self.acks.push((at, name.into()));
        self.log.push(LogEntry {
            kind: "acknowledge_log_entry".into(),
            at,
            summary: format!("Acknowledged by {name}"),
            agent: Some(name.into()),
            channel: None,
        });
        self
    }
}

#[derive(Clone, Debug)]
pub struct Write {
    pub method: String,
    pub path: String,
    pub from: String,
    pub body: Value,
}

#[derive(Debug, Default)]
pub struct PdState {
    pub incidents: Vec<PdIncident>,
    /// Every request that reached the server, accepted or not.
    pub requests: u32,
    /// Every PUT that reached the server, accepted or not.
    pub puts: u32,
    /// Query pairs of each `GET /incidents`, as decoded.
    pub list_queries: Vec<Vec<(String, String)>>,
    /// Incident ids whose log entries were fetched, in order: one per request (page).
    pub log_fetches: Vec<String>,
    /// `(limit, offset)` of each log-entries request, by incident id.
    pub log_limits: std::collections::HashMap<String, Vec<(usize, usize)>>,
    /// Accepted writes.
    pub writes: Vec<Write>,
    /// (incident id, escalation_level) of each accepted escalation.
    pub escalations: Vec<(String, u64)>,
    /// (incident id, content) of each accepted note.
    pub notes: Vec<(String, String)>,
    /// The next `.0` requests get 429 with `ratelimit-reset: .1`.
    pub throttle: Option<(u32, u64)>,
    pub token_revoked: bool,
    pub forbidden: bool,
    pub malformed: bool,
    /// Writes (PUT, POST) answer 500 while reads keep working: PagerDuty half down.
    pub fail_writes: bool,
    pub delay: Duration,
    /// Requests that got past `delay`: a client that gave up first is never answered.
    pub answered: u32,
    /// Levels of the escalation policy every incident is on: escalating past the last one is
    /// refused, as PagerDuty refuses a level its policy does not have.
    pub policy_levels: u32,
    /// Every list page says `more: true` (with no total), as a broken proxy or API might.
    pub more_forever: bool,
    /// Who is on call, for `GET /oncalls`.
    pub oncalls: Vec<OnCall>,
    /// Query pairs of each `GET /oncalls`, as decoded.
    pub oncall_queries: Vec<Vec<(String, String)>>,
    /// `GET /oncalls` answers 500, or a truncated body, or a body of this many bytes.
    pub oncalls_fail: bool,
    pub oncalls_malformed: bool,
    pub oncalls_huge: Option<usize>,
    /// The next `GET /oncalls` gets 429 with `ratelimit-reset` of this many seconds.
    pub oncalls_throttle: Option<u64>,
    /// Query of each `GET /users`.
    pub user_queries: Vec<String>,
    /// (incident id, body) of each accepted responder request.
    pub responder_requests: Vec<(String, Value)>,
    /// (incident id, message) of each accepted status update.
    pub status_updates: Vec<(String, String)>,
    /// (target id, source ids) of each accepted merge.
    pub merges: Vec<(String, Vec<String>)>,
    /// (incident id, seconds) of each accepted snooze.
    pub snoozes: Vec<(String, u64)>,
    /// (incident id, user ids) of each accepted assignment.
    pub assignments: Vec<(String, Vec<String>)>,
    /// Change events correlated per incident, and how they were asked for.
    pub changes: RelatedChanges,
}

type Shared = Arc<Mutex<PdState>>;

fn lock(s: &Shared) -> MutexGuard<'_, PdState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct PdServer {
    pub url: String,
    pub state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PdServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PdServer {
    /// Binds a free port and serves on the current tokio runtime.
    pub async fn start() -> PdServer {
        let state: Shared = Arc::new(Mutex::new(PdState {
            policy_levels: 3,
            ..PdState::default()
        }));
        let app = Router::new()
            .route("/incidents", get(list).put(manage))
            .route("/incidents/{id}/snooze", post(snooze))
            .route("/incidents/{id}", put(update))
            .route("/incidents/{id}/notes", post(add_note))
            .route("/incidents/{id}/log_entries", get(log_entries))
            .route("/oncalls", get(oncalls))
            .route("/users", get(users))
            .route(
                "/incidents/{id}/responder_requests",
                post(responder_request),
            )
            .route("/incidents/{id}/status_updates", post(status_update))
            .route("/incidents/{id}/merge", put(merge))
            .route(
                "/incidents/{id}/related_change_events",
                get(changes::related_change_events),
            )
            .with_state(state.clone());
        let (url, task) = super::serve_http(app).await;
        PdServer { url, state, task }
    }

    pub fn lock(&self) -> MutexGuard<'_, PdState> {
        lock(&self.state)
    }

    pub fn add(&self, inc: PdIncident) {
        self.lock().incidents.push(inc);
    }

    pub fn incident(&self, id: &str) -> PdIncident {
        self.lock()
            .incidents
            .iter()
            .find(|i| i.id == id)
            .cloned()
            .unwrap_or_else(|| panic!("server has no incident {id}"))
    }
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn pd_error(status: StatusCode, code: u32, message: &str, errors: &[&str]) -> Response {
    let mut error = json!({ "message": message, "code": code });
    if !errors.is_empty() {
        error["errors"] = json!(errors);
    }
    (status, Json(json!({ "error": error }))).into_response()
}

fn invalid(errors: &[&str]) -> Response {
    pd_error(
        StatusCode::BAD_REQUEST,
        2001,
        "Invalid Input Provided",
        errors,
    )
}

fn not_found() -> Response {
    pd_error(StatusCode::NOT_FOUND, 2100, "Not Found", &[])
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn throttled(reset: u64) -> Response {
    let mut resp = pd_error(
        StatusCode::TOO_MANY_REQUESTS,
        2020,
        "Rate Limit Exceeded",
        &[],
    );
    let h = resp.headers_mut();
    for (name, value) in [
        ("ratelimit-limit", "960".to_string()),
        ("ratelimit-remaining", "0".to_string()),
        ("ratelimit-reset", reset.to_string()),
        ("retry-after", reset.to_string()),
    ] {
        if let Ok(v) = value.parse() {
            h.insert(name, v);
        }
    }
    resp
}

/// What every request must carry, checked in PagerDuty's order: rate limit, token, Accept;
/// for writes also Content-Type and a `From` naming a known user, whose name is returned.
async fn gate(state: &Shared, h: &HeaderMap, write: bool) -> Result<String, Response> {
    let delay = {
        let mut s = lock(state);
        s.requests += 1;
        s.delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut s = lock(state);
    s.answered += 1;
    if let Some((n, reset)) = s.throttle {
        s.throttle = (n > 1).then_some((n - 1, reset));
        return Err(throttled(reset));
    }
    if s.token_revoked || header(h, "authorization") != format!("Token token={TOKEN}") {
        return Err(pd_error(
            StatusCode::UNAUTHORIZED,
            2006,
            "Authentication failed",
            &[],
        ));
    }
    if s.forbidden {
        return Err(pd_error(StatusCode::FORBIDDEN, 2010, "Access Denied", &[]));
    }
    if header(h, "accept").replace(' ', "") != ACCEPT {
        return Err(invalid(&[
            "Accept must be application/vnd.pagerduty+json;version=2",
        ]));
    }
    if !write {
        return Ok(String::new());
    }
    if s.fail_writes {
        return Err(pd_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            2000,
            "Internal Server Error",
            &[],
        ));
    }
    if !header(h, "content-type").starts_with("application/json") {
        return Err(invalid(&["Content-Type must be application/json"]));
    }
    let from = header(h, "from");
    match USERS.iter().find(|(email, ..)| *email == from) {
        Some((_, name, _)) => Ok((*name).to_string()),
        None if from.is_empty() => Err(invalid(&[
            "You must specify a user's email address in the \"From\" header to perform this action",
        ])),
        None => Err(invalid(&["Requester User Not Found"])),
    }
}

fn user_ref(name: &str) -> Value {
    let id = USERS
        .iter()
        .find(|(_, n, _)| *n == name)
        .map(|u| u.2)
        .unwrap_or("PUOTHER");
    json!({ "id": id, "type": "user_reference", "summary": name })
}

/// The incident as PagerDuty renders it. No `escalation_level`: list responses don't carry it.
fn render(i: &PdIncident) -> Value {
    json!({
        "id": i.id,
        "type": "incident",
        "summary": format!("[#{}] {}", i.number, i.title),
        "self": format!("https://api.pagerduty.com/incidents/{}", i.id),
        "html_url": format!("https://example.pagerduty.com/incidents/{}", i.id),
        "incident_number": i.number,
        "title": i.title,
        "status": i.status,
        "urgency": i.urgency,
        "created_at": ts(i.created_at),
        "updated_at": ts(i.last_status_change_at),
        "last_status_change_at": ts(i.last_status_change_at),
        "incident_key": i.key,
        "service": { "id": i.service_id, "type": "service_reference", "summary": i.service },
        "teams": [{ "id": i.team_id, "type": "team_reference" }],
        "priority": i.priority.as_ref().map(|p| json!({
            "id": format!("PPRI{p}"), "type": "priority_reference", "summary": p
        })),
        "acknowledgements": i.acks.iter().map(|(at, by)| json!({
            "at": ts(*at), "acknowledger": user_ref(by)
        })).collect::<Vec<_>>(),
        "assignments": i.assignees.iter().map(|a| json!({
            "at": ts(i.created_at), "assignee": user_ref(a)
        })).collect::<Vec<_>>(),
        "pending_actions": i.snoozed_until.iter().map(|at| json!({
            "type": "unacknowledge", "at": ts(*at)
        })).collect::<Vec<_>>(),
        "escalation_policy": {
            "id": i.policy.0, "type": "escalation_policy_reference", "summary": i.policy.1
        },
    })
}

const ARRAY_PARAMS: [&str; 5] = [
    "statuses",
    "urgencies",
    "include",
    "service_ids",
    "team_ids",
];
const STATUSES: [&str; 3] = ["triggered", "acknowledged", "resolved"];

/// Filters of `GET /incidents` as PagerDuty reads them.
struct ListParams {
    statuses: Vec<String>,
    team_ids: Vec<String>,
    service_ids: Vec<String>,
    limit: usize,
    offset: usize,
    total: bool,
}

fn list_params(q: &[(String, String)]) -> Result<ListParams, &'static str> {
    let mut p = ListParams {
        statuses: Vec::new(),
        team_ids: Vec::new(),
        service_ids: Vec::new(),
        limit: 25,
        offset: 0,
        total: false,
    };
    for (k, v) in q {
        match k.as_str() {
            "statuses[]" if STATUSES.contains(&v.as_str()) => p.statuses.push(v.clone()),
            "statuses[]" => return Err("statuses[] has an unknown status"),
            "team_ids[]" => p.team_ids.push(v.clone()),
            "service_ids[]" => p.service_ids.push(v.clone()),
            "limit" => match v.parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => p.limit = n,
                _ => return Err("limit must be between 1 and 100"),
            },
            "offset" => p.offset = v.parse().map_err(|_| "offset must be a number")?,
            "total" => p.total = v == "true",
            k if ARRAY_PARAMS.contains(&k) => {
                return Err("array parameters must be sent as name[]")
            }
            _ => {}
        }
    }
    Ok(p)
}

async fn list(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = gate(&state, &headers, false).await {
        return r;
    }
    let mut s = lock(&state);
    wake_snoozed(&mut s.incidents);
    s.list_queries.push(q.clone());
    let p = match list_params(&q) {
        Ok(p) => p,
        Err(why) => return invalid(&[why]),
    };
    if s.malformed {
        return (
            [("content-type", "application/json")],
            "{\"incidents\":[{\"id\":",
        )
            .into_response();
    }
    let mut matching: Vec<&PdIncident> = s
        .incidents
        .iter()
        .filter(|i| p.statuses.is_empty() || p.statuses.contains(&i.status))
        .filter(|i| p.team_ids.is_empty() || p.team_ids.contains(&i.team_id))
        .filter(|i| p.service_ids.is_empty() || p.service_ids.contains(&i.service_id))
        .collect();
    matching.sort_by_key(|i| i.number);
    if s.more_forever {
        // The same first page again and again, always with more to come.
        let page: Vec<Value> = matching.iter().take(p.limit).map(|i| render(i)).collect();
        return Json(json!({
            "incidents": page, "limit": p.limit, "offset": p.offset, "more": true, "total": null
        }))
        .into_response();
    }
    let page: Vec<Value> = matching
        .iter()
        .skip(p.offset)
        .take(p.limit)
        .map(|i| render(i))
        .collect();
    let more = p.offset + page.len() < matching.len();
    // PagerDuty counts only when asked (`total=true`); null otherwise.
    let total = p.total.then_some(matching.len());
    Json(json!({
        "incidents": page, "limit": p.limit, "offset": p.offset, "more": more, "total": total
    }))
    .into_response()
}

/// The JSON body, or PagerDuty's 400 for one that does not parse.
fn parse_body(body: &str) -> Result<Value, Box<Response>> {
    serde_json::from_str(body).map_err(|_| Box::new(invalid(&["Request body is not valid JSON"])))
}

async fn update(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    lock(&state).puts += 1;
    let user = match gate(&state, &headers, true).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let inc = &body["incident"];
    if inc["type"] != "incident_reference" {
        return invalid(&["incident.type must be incident_reference"]);
    }
    let mut s = lock(&state);
    let Some(ix) = s.incidents.iter().position(|i| i.id == id) else {
        return not_found();
    };
    if s.incidents[ix].status == "resolved" {
        return invalid(&["Incident Already Resolved"]);
    }
    match (inc["status"].as_str(), inc["escalation_level"].as_u64()) {
        (Some(st @ ("acknowledged" | "resolved")), None) => {
            set_status(&mut s.incidents[ix], st, &user)
        }
        (None, Some(level)) if level > u64::from(s.policy_levels) => {
            return invalid(&[&format!(
                "Escalation level {level} is not valid: the escalation policy has {} levels",
                s.policy_levels
            )])
        }
        (None, Some(level)) if level >= 1 => {
            s.escalations.push((id.clone(), level));
            escalate(&mut s.incidents[ix], level, &user)
        }
        _ => {
            return invalid(&[
                "incident needs a status (acknowledged|resolved) or an escalation_level",
            ])
        }
    }
    s.writes.push(Write {
        method: "PUT".into(),
        path: format!("/incidents/{id}"),
        from: header(&headers, "from").to_string(),
        body: body.clone(),
    });
    Json(json!({ "incident": render(&s.incidents[ix]) })).into_response()
}

/// PagerDuty accepts a second acknowledgement: it adds the acknowledger.
fn set_status(i: &mut PdIncident, status: &str, user: &str) {
    let at = now();
    if i.status != status {
        i.last_status_change_at = at;
    }
    i.status = status.into();
    let (kind, verb) = if status == "acknowledged" {
        i.acks.push((at, user.into()));
        ("acknowledge_log_entry", "Acknowledged")
    } else {
        ("resolve_log_entry", "Resolved")
    };
    i.log.push(LogEntry {
        kind: kind.into(),
        at,
        summary: format!("{verb} by {user}"),
        agent: Some(user.into()),
        channel: None,
    });
}

/// Escalating re-triggers the incident for the next level, which must acknowledge afresh.
fn escalate(i: &mut PdIncident, level: u64, user: &str) {
    let at = now();
    i.level = u32::try_from(level).unwrap_or(u32::MAX);
    i.status = "triggered".into();
    i.acks.clear();
    i.last_status_change_at = at;
    i.log.push(LogEntry {
        kind: "escalate_log_entry".into(),
        at,
        summary: format!("Escalated to level {level} by {user}"),
        agent: Some(user.into()),
        channel: None,
    });
}

async fn add_note(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let user = match gate(&state, &headers, true).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let Some(content) = body["note"]["content"]
        .as_str()
        .filter(|c| !c.trim().is_empty())
    else {
        return invalid(&["note.content is required"]);
    };
    let mut s = lock(&state);
    let Some(ix) = s.incidents.iter().position(|i| i.id == id) else {
        return not_found();
    };
    if s.incidents[ix].status == "resolved" {
        return invalid(&["Incident Already Resolved"]);
    }
    let at = now();
    s.incidents[ix].log.push(LogEntry {
        kind: "annotate_log_entry".into(),
        at,
        summary: format!("Note added by {user}"),
        agent: Some(user.clone()),
        channel: Some(content.into()),
    });
    s.notes.push((id.clone(), content.into()));
    s.writes.push(Write {
        method: "POST".into(),
        path: format!("/incidents/{id}/notes"),
        from: header(&headers, "from").to_string(),
        body: body.clone(),
    });
    let note = json!({
        "id": format!("PNOTE{}", s.notes.len()),
        "user": user_ref(&user),
        "content": content,
        "created_at": ts(at),
    });
    (StatusCode::CREATED, Json(json!({ "note": note }))).into_response()
}

async fn log_entries(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = gate(&state, &headers, false).await {
        return r;
    }
    let p = match list_params(&query) {
        Ok(p) => p,
        Err(e) => return invalid(&[e]),
    };
    let mut s = lock(&state);
    s.log_fetches.push(id.clone());
    s.log_limits
        .entry(id.clone())
        .or_default()
        .push((p.limit, p.offset));
    let Some(inc) = s.incidents.iter().find(|i| i.id == id) else {
        return not_found();
    };
    // Newest first, as PagerDuty lists them.
    let entries: Vec<Value> = inc
        .log
        .iter()
        .enumerate()
        .rev()
        .map(|(n, e)| {
            json!({
                "id": format!("R{}{n}", inc.id),
                "type": e.kind,
                "summary": e.summary,
                "created_at": ts(e.at),
                "agent": e.agent.as_deref().map(user_ref),
                "channel": match &e.channel {
                    Some(c) => json!({ "type": "note", "summary": c }),
                    None => json!({ "type": "api" }),
                },
                "incident": { "id": inc.id, "type": "incident_reference" },
            })
        })
        .collect();
    let more = p.offset + p.limit < entries.len();
    let page: Vec<Value> = entries.into_iter().skip(p.offset).take(p.limit).collect();
    Json(json!({
        "log_entries": page, "limit": p.limit, "offset": p.offset, "more": more, "total": null
    }))
    .into_response()
}

async fn oncalls(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = gate(&state, &headers, false).await {
        return r;
    }
    let mut s = lock(&state);
    s.oncall_queries.push(q.clone());
    let mut policies = Vec::new();
    let (mut limit, mut offset, mut earliest, mut ranged) = (25usize, 0usize, false, false);
    for (k, v) in &q {
        match k.as_str() {
            "escalation_policy_ids[]" => policies.push(v.clone()),
            "limit" => match v.parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => limit = n,
                _ => return invalid(&["limit must be between 1 and 100"]),
            },
            "offset" => match v.parse() {
                Ok(n) => offset = n,
                Err(_) => return invalid(&["offset must be a number"]),
            },
            "earliest" => earliest = v == "true",
            "since" | "until" => ranged = true,
            "escalation_policy_ids" | "schedule_ids" | "user_ids" | "include" => {
                return invalid(&["array parameters must be sent as name[]"])
            }
            _ => {}
        }
    }
    if let Some(reset) = s.oncalls_throttle.take() {
        return throttled(reset);
    }
    if s.oncalls_fail {
        return pd_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            2000,
            "Internal Server Error",
            &[],
        );
    }
    if s.oncalls_malformed {
        return (
            [("content-type", "application/json")],
            "{\"oncalls\":[{\"user\":",
        )
            .into_response();
    }
    if let Some(n) = s.oncalls_huge {
        let pad = "x".repeat(n);
        return Json(json!({ "oncalls": [], "more": false, "pad": pad })).into_response();
    }
    let mut seen = std::collections::HashSet::new();
    let matching: Vec<Value> = s
        .oncalls
        .iter()
        .filter(|o| policies.is_empty() || policies.contains(&o.policy_id))
        .filter(|o| ranged || o.now)
        .filter(|o| !earliest || seen.insert((o.policy_id.clone(), o.level, o.user.clone())))
        .map(|o| {
            json!({
                "escalation_policy": {
                    "id": o.policy_id, "type": "escalation_policy_reference", "summary": o.policy_name
                },
                "escalation_level": o.level,
                "schedule": o.schedule.as_ref().map(|sc| json!({
                    "id": "PSCHED1", "type": "schedule_reference", "summary": sc
                })),
                "user": user_ref(&o.user),
                "start": ts(now() - ChronoDuration::hours(2)),
                "end": ts(now() + ChronoDuration::hours(6)),
            })
        })
        .collect();
    if s.more_forever {
        let page: Vec<Value> = matching.into_iter().take(limit).collect();
        return Json(json!({ "oncalls": page, "limit": limit, "offset": offset, "more": true }))
            .into_response();
    }
    let more = offset + limit < matching.len();
    let page: Vec<Value> = matching.into_iter().skip(offset).take(limit).collect();
    Json(json!({ "oncalls": page, "limit": limit, "offset": offset, "more": more, "total": null }))
        .into_response()
}

fn render_user((email, name, id): (&str, &str, &str)) -> Value {
    json!({ "id": id, "type": "user", "name": name, "email": email, "summary": name })
}

async fn users(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = gate(&state, &headers, false).await {
        return r;
    }
    let query = q
        .iter()
        .find(|(k, _)| k == "query")
        .map(|(_, v)| v.to_lowercase())
        .unwrap_or_default();
    lock(&state).user_queries.push(query.clone());
    let found: Vec<Value> = USERS
        .iter()
        .filter(|(email, name, _)| {
            email.to_lowercase().contains(&query) || name.to_lowercase().contains(&query)
        })
        .map(|u| render_user(*u))
        .collect();
    Json(json!({ "users": found, "limit": 25, "offset": 0, "more": false, "total": null }))
        .into_response()
}

/// A write's common part: the gate, the JSON body, and the open incident it names.
async fn open_write(
    state: &Shared,
    id: &str,
    headers: &HeaderMap,
    body: &str,
) -> Result<(String, Value, usize), Response> {
    let user = gate(state, headers, true).await?;
    let body = parse_body(body).map_err(|r| *r)?;
    let s = lock(state);
    let ix = s
        .incidents
        .iter()
        .position(|i| i.id == id)
        .ok_or_else(not_found)?;
    if s.incidents[ix].status == "resolved" {
        return Err(invalid(&["Incident Already Resolved"]));
    }
    Ok((user, body, ix))
}

fn log(i: &mut PdIncident, kind: &str, summary: String, user: &str) {
    let at = now();
    i.log.push(LogEntry {
        kind: kind.into(),
        at,
        summary,
        agent: Some(user.into()),
        channel: None,
    });
}

async fn responder_request(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (user, body, ix) = match open_write(&state, &id, &headers, &body).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let requester = body["requester_id"].as_str().unwrap_or("");
    if !USERS.iter().any(|u| u.2 == requester) {
        return invalid(&["requester_id must be the id of a user"]);
    }
    if body["message"].as_str().is_none_or(|m| m.trim().is_empty()) {
        return invalid(&["message is required"]);
    }
    let Some(targets) = body["responder_request_targets"]
        .as_array()
        .filter(|t| !t.is_empty())
    else {
        return invalid(&["responder_request_targets must be a non-empty array"]);
    };
    let mut s = lock(&state);
    let mut names = Vec::new();
    for t in targets {
        let t = &t["responder_request_target"];
        let tid = t["id"].as_str().unwrap_or("");
        match t["type"].as_str() {
            Some("user_reference") => match USERS.iter().find(|u| u.2 == tid) {
                Some(u) => names.push(u.1.to_string()),
                None => return not_found(),
            },
            Some("escalation_policy_reference") => {
                match s.incidents.iter().find(|i| i.policy.0 == tid) {
                    Some(i) => names.push(i.policy.1.clone()),
                    None => return not_found(),
                }
            }
            _ => {
                return invalid(&[
                    "responder_request_target.type must be user_reference or escalation_policy_reference",
                ])
            }
        }
    }
    log(
        &mut s.incidents[ix],
        "responder_request_log_entry",
        format!("{user} requested {} to respond", names.join(", ")),
        &user,
    );
    s.responder_requests.push((id.clone(), body.clone()));
    s.writes.push(Write {
        method: "POST".into(),
        path: format!("/incidents/{id}/responder_requests"),
        from: header(&headers, "from").to_string(),
        body: body.clone(),
    });
    let requested = json!({
        "incident": { "id": id, "type": "incident_reference" },
        "requester": user_ref(&user),
        "requested_at": ts(now()),
        "message": body["message"],
        "responder_request_targets": targets,
    });
    Json(json!({ "responder_request": requested })).into_response()
}

async fn status_update(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (user, body, ix) = match open_write(&state, &id, &headers, &body).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let Some(message) = body["message"].as_str().filter(|m| !m.trim().is_empty()) else {
        return invalid(&["message is required"]);
    };
    for optional in ["subject", "html_message"] {
        if !body[optional].is_null() && !body[optional].is_string() {
            return invalid(&["subject and html_message must be strings"]);
        }
    }
    let mut s = lock(&state);
    log(
        &mut s.incidents[ix],
        "status_update_log_entry",
        format!("Status update from {user}"),
        &user,
    );
    s.status_updates.push((id.clone(), message.to_string()));
    s.writes.push(Write {
        method: "POST".into(),
        path: format!("/incidents/{id}/status_updates"),
        from: header(&headers, "from").to_string(),
        body: body.clone(),
    });
    let update = json!({
        "id": format!("PSTAT{}", s.status_updates.len()),
        "message": message,
        "sender": user_ref(&user),
        "created_at": ts(now()),
    });
    Json(json!({ "status_update": update })).into_response()
}

async fn merge(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    lock(&state).puts += 1;
    let (user, body, ix) = match open_write(&state, &id, &headers, &body).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let Some(sources) = body["source_incidents"]
        .as_array()
        .filter(|a| !a.is_empty())
    else {
        return invalid(&["source_incidents must be a non-empty array"]);
    };
    let mut s = lock(&state);
    let mut merged = Vec::new();
    for src in sources {
        if src["type"] != "incident_reference" {
            return invalid(&["source_incidents[].type must be incident_reference"]);
        }
        let sid = src["id"].as_str().unwrap_or("");
        if sid == id {
            return invalid(&["An incident cannot be merged into itself"]);
        }
        match s.incidents.iter().find(|i| i.id == sid) {
            None => return not_found(),
            Some(i) if i.status == "resolved" => {
                return invalid(&["Arguments Caused Error: a source incident is resolved"])
            }
            Some(_) => merged.push(sid.to_string()),
        }
    }
    for sid in &merged {
        if let Some(i) = s.incidents.iter_mut().find(|i| &i.id == sid) {
            i.status = "resolved".into();
            i.last_status_change_at = now();
            log(
                i,
                "resolve_log_entry",
                format!("Resolved by {user} (merged into {id})"),
                &user,
            );
        }
    }
    log(
        &mut s.incidents[ix],
        "merge_log_entry",
        format!("{user} merged {} into this incident", merged.join(", ")),
        &user,
    );
    s.merges.push((id.clone(), merged));
    s.writes.push(Write {
        method: "PUT".into(),
        path: format!("/incidents/{id}/merge"),
        from: header(&headers, "from").to_string(),
        body: body.clone(),
    });
    Json(json!({ "incident": render(&s.incidents[ix]) })).into_response()
}

/// Snoozes that ran out: the incident is triggered again, as PagerDuty does at the end.
fn wake_snoozed(incidents: &mut [PdIncident]) {
    let at = now();
    for i in incidents.iter_mut() {
        let Some(until) = i.snoozed_until.filter(|u| *u <= at) else {
            continue;
        };
        i.snoozed_until = None;
        if i.status != "acknowledged" {
            continue;
        }
        i.status = "triggered".into();
        i.acks.clear();
        i.last_status_change_at = until;
        i.log.push(LogEntry {
            kind: "unacknowledge_log_entry".into(),
            at: until,
            summary: "Unacknowledged due to snooze timeout".into(),
            agent: None,
            channel: None,
        });
    }
}

async fn snooze(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (user, body, ix) = match open_write(&state, &id, &headers, &body).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let Some(secs) = body["duration"].as_u64().filter(|d| *d > 0) else {
        return invalid(&["duration must be a positive number of seconds"]);
    };
    let mut s = lock(&state);
    if s.incidents[ix].status != "acknowledged" {
        return invalid(&["Incident must be acknowledged to be snoozed"]);
    }
    let until = now() + ChronoDuration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000));
    s.incidents[ix].snoozed_until = Some(until);
    log(
        &mut s.incidents[ix],
        "snooze_log_entry",
        format!("Snoozed for {} minutes by {user}", secs / 60),
        &user,
    );
    s.snoozes.push((id.clone(), secs));
    s.writes.push(Write {
        method: "POST".into(),
        path: format!("/incidents/{id}/snooze"),
        from: header(&headers, "from").to_string(),
        body: body.clone(),
    });
    (
        StatusCode::CREATED,
        Json(json!({ "incident": render(&s.incidents[ix]) })),
    )
        .into_response()
}

/// `PUT /incidents`: only assignments are carried out here; other fields of the bulk update
/// are refused rather than silently dropped.
async fn manage(State(state): State<Shared>, headers: HeaderMap, body: String) -> Response {
    lock(&state).puts += 1;
    let user = match gate(&state, &headers, true).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let Some(items) = body["incidents"].as_array().filter(|a| !a.is_empty()) else {
        return invalid(&["incidents must be a non-empty array"]);
    };
    let mut s = lock(&state);
    let mut changes = Vec::new();
    for item in items {
        if item["type"] != "incident_reference" {
            return invalid(&["incidents[].type must be incident_reference"]);
        }
        let iid = item["id"].as_str().unwrap_or("");
        let Some(ix) = s.incidents.iter().position(|i| i.id == iid) else {
            return not_found();
        };
        if s.incidents[ix].status == "resolved" {
            return invalid(&["Incident Already Resolved"]);
        }
        let Some(assignments) = item["assignments"].as_array().filter(|a| !a.is_empty()) else {
            return invalid(&["incidents[] needs assignments (the only update served here)"]);
        };
        let mut names = Vec::new();
        for a in assignments {
            let who = &a["assignee"];
            if who["type"] != "user_reference" {
                return invalid(&["assignments[].assignee.type must be user_reference"]);
            }
            match USERS.iter().find(|u| Some(u.2) == who["id"].as_str()) {
                Some(u) => names.push((u.1.to_string(), u.2.to_string())),
                None => return not_found(),
            }
        }
        changes.push((ix, names));
    }
    let mut changed = Vec::new();
    for (ix, names) in changes {
        let i = &mut s.incidents[ix];
        i.assignees = names.iter().map(|n| n.0.clone()).collect();
        // The new assignee is notified and acknowledges afresh.
        if i.status == "acknowledged" {
            i.status = "triggered".into();
            i.acks.clear();
            i.snoozed_until = None;
            i.last_status_change_at = now();
        }
        let who: Vec<&str> = names.iter().map(|n| n.0.as_str()).collect();
        log(
            i,
            "assign_log_entry",
            format!("Reassigned to {} by {user}", who.join(", ")),
            &user,
        );
        changed.push(render(i));
        let (iid, ids) = (i.id.clone(), names.iter().map(|n| n.1.clone()).collect());
        s.assignments.push((iid, ids));
    }
    s.writes.push(Write {
        method: "PUT".into(),
        path: "/incidents".into(),
        from: header(&headers, "from").to_string(),
        body: body.clone(),
    });
    Json(json!({ "incidents": changed })).into_response()
}
