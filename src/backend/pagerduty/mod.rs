//! PagerDuty REST API v2 incident adapter: lists open incidents (following `more` through
//! offset paging, up to `max_pages` per poll), acknowledges, resolves, escalates, adds notes, and builds each incident's
//! timeline from its log entries.
//!
//! Rate limits are respected in two ways: log entries are fetched only for incidents that are
//! new or whose `last_status_change_at` moved (at most `LOG_FETCHES_PER_POLL` per poll, most
//! urgent first), and after a 429 no request is sent until PagerDuty's reset time has passed;
//! every call made meanwhile fails loudly with the seconds left.
//!
//! Severity: a priority named like "P1", "SEV1" or "SEV-1" maps to that SEV (P0 → SEV1, P4
//! and beyond → SEV4). Without a usable priority, urgency decides: high → SEV2, low → SEV4.

pub mod config;
mod kind;

use super::http::{self, ReplyCap};
use super::{BackendError, IncidentOp, IncidentSource, NotShown};
use crate::config::secret::Secret;
use crate::domain::{Incident, IncidentId, IncidentType, SafeText, Sev, Status, TimelineEntry};
use chrono::{DateTime, Utc};
pub use config::PagerDutyConfig;
pub use kind::Kind;
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

const ACCEPT: &str = "application/vnd.pagerduty+json;version=2";
/// PagerDuty refuses pages larger than this.
const MAX_PAGE: u32 = 100;
/// Classic offset paging stops at 10 000 results; a server that keeps saying `more` past it
/// must not keep us looping.
const MAX_OFFSET: usize = 10_000;
/// Log-entry fetches per poll: one request per incident, so a storm of new incidents would
/// otherwise burn the account's rate limit in a single poll.
const LOG_FETCHES_PER_POLL: usize = 10;
/// Backoff after a 429 that names no reset time: PagerDuty's limits are per minute.
const DEFAULT_BACKOFF_SECS: u64 = 60;
/// Longest backoff a 429 can impose. PagerDuty's windows are a minute; a reset further away is
/// a broken header, and honouring it would silence the source for good (or overflow the clock).
const MAX_BACKOFF_SECS: u64 = 3600;
/// Types matched against titles and service names, most specific first: "errors" appears in
/// many titles that are really about something else.
const KIND_ORDER: [IncidentType; 8] = [
    IncidentType::CostExplosion,
    IncidentType::GuardrailBypass,
    IncidentType::OverRefusal,
    IncidentType::CapabilityDrift,
    IncidentType::EvalRegression,
    IncidentType::RetrievalDegradation,
    IncidentType::LatencyDegradation,
    IncidentType::Errors,
];

#[derive(Clone, Debug, Default, Deserialize)]
struct Reference {
    #[serde(default)]
    summary: Option<String>,
}

impl Reference {
    fn name(r: &Option<Reference>) -> Option<&str> {
        r.as_ref().and_then(|r| r.summary.as_deref())
    }
}

#[derive(Clone, Debug, Deserialize)]
struct Acknowledgement {
    at: DateTime<Utc>,
    #[serde(default)]
    acknowledger: Option<Reference>,
}

#[derive(Clone, Debug, Deserialize)]
struct Assignment {
    #[serde(default)]
    assignee: Option<Reference>,
}

#[derive(Clone, Debug, Deserialize)]
struct PdIncident {
    id: String,
    #[serde(default)]
    incident_number: Option<u64>,
    #[serde(default)]
    title: String,
    status: Status,
    #[serde(default)]
    urgency: Option<String>,
    created_at: DateTime<Utc>,
    #[serde(default)]
    last_status_change_at: Option<String>,
    #[serde(default)]
    service: Option<Reference>,
    #[serde(default)]
    priority: Option<Reference>,
    #[serde(default)]
    acknowledgements: Vec<Acknowledgement>,
    #[serde(default)]
    assignments: Vec<Assignment>,
    #[serde(default)]
    escalation_policy: Option<Reference>,
    #[serde(default)]
    incident_key: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    /// Present in some responses only; otherwise the level is tracked (see `level`).
    #[serde(default)]
    escalation_level: Option<u32>,
}

impl PdIncident {
    fn sev(&self) -> Sev {
        sev_of(Reference::name(&self.priority), self.urgency.as_deref())
    }

    /// Who acknowledged it, while it is acknowledged (an escalation clears acknowledgements).
    fn acknowledgement(&self) -> Option<&Acknowledgement> {
        match self.status {
            Status::Acknowledged => self.acknowledgements.last(),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct IncidentPage {
    incidents: Vec<PdIncident>,
    #[serde(default)]
    more: bool,
    /// Only with `total=true`, which the first page of each poll asks for.
    #[serde(default)]
    total: Option<u64>,
}

#[derive(Deserialize)]
struct IncidentEnvelope {
    incident: PdIncident,
}

#[derive(Deserialize)]
struct LogPage {
    log_entries: Vec<LogEntry>,
}

#[derive(Clone, Debug, Deserialize)]
struct LogEntry {
    #[serde(rename = "type")]
    kind: String,
    created_at: DateTime<Utc>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    agent: Option<Reference>,
    /// For notes, the channel's summary carries the note's text.
    #[serde(default)]
    channel: Option<Reference>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    errors: Vec<String>,
}

/// A timeline built from log entries, valid while `last_status_change_at` stays the same.
struct CachedLog {
    changed_at: Option<String>,
    /// Set after our own write: PagerDuty logged something the cache has not seen.
    stale: bool,
    timeline: Vec<TimelineEntry>,
    level: Option<u32>,
}

pub struct PagerDuty {
    name: String,
    base: String,
    token: Secret,
    from: String,
    timeout: Duration,
    page_size: u32,
    max_pages: u32,
    cap: ReplyCap,
    /// Server-side filters: `team_ids[]` and `service_ids[]` pairs for `GET /incidents`.
    filters: Vec<(&'static str, String)>,
    /// What the last list left unread, past `max_pages`.
    unread: NotShown,
    client: reqwest::Client,
    /// Incidents as last listed (or returned by our writes), by PagerDuty id: the state the
    /// conflict checks run against.
    known: HashMap<String, PdIncident>,
    timelines: HashMap<String, CachedLog>,
    /// PagerDuty (1-based) levels set by our own escalations, until the log shows them.
    escalated: HashMap<String, u32>,
    /// After a 429, no request goes out before this instant.
    blocked_until: Option<Instant>,
}

impl std::fmt::Debug for PagerDuty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagerDuty")
            .field("name", &self.name)
            .field("base", &self.base)
            .field("token", &self.token)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl PagerDuty {
    /// What `new` refuses in the config itself, without reading the token.
    pub fn check(cfg: &PagerDutyConfig) -> Result<(), String> {
        cfg.token.check().map_err(|e| format!("token: {e}"))?;
        if !cfg.from.trim().contains('@') {
            return Err(
                "`from` must be the email of a PagerDuty user (sent as From on writes)".into(),
            );
        }
        http::check_url(cfg.url.trim_end_matches('/'))?;
        for (key, ids) in [
            ("team_ids", &cfg.team_ids),
            ("service_ids", &cfg.service_ids),
        ] {
            if let Some(bad) = ids
                .iter()
                .find(|id| id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()))
            {
                return Err(format!(
                    "{key}: {bad:?} is not a PagerDuty id (letters and digits, like \"PT4KHLK\")"
                ));
            }
        }
        Ok(())
    }

    /// Loads the token and checks the config; errors name what to fix.
    pub fn new(cfg: &PagerDutyConfig) -> Result<Self, String> {
        let name = &cfg.name;
        Self::check(cfg).map_err(|e| format!("{name}: {e}"))?;
        let token = cfg
            .token
            .load()
            .map_err(|e| format!("{name}: token: {e}"))?;
        let from = cfg.from.trim();
        let timeout = cfg.timeout_secs.duration();
        let base = cfg.url.trim_end_matches('/').to_string();
        Ok(PagerDuty {
            name: name.clone(),
            base,
            token,
            from: from.to_string(),
            timeout,
            page_size: cfg.page_size.clamp(1, MAX_PAGE),
            max_pages: cfg.max_pages.max(1),
            cap: ReplyCap::mib(cfg.max_reply_mib),
            filters: cfg
                .team_ids
                .iter()
                .map(|t| ("team_ids[]", t.clone()))
                .chain(cfg.service_ids.iter().map(|s| ("service_ids[]", s.clone())))
                .collect(),
            unread: NotShown::default(),
            client: http::client_for(timeout, cfg.tls.as_ref())
                .map_err(|e| format!("{name}: {e}"))?,
            known: HashMap::new(),
            timelines: HashMap::new(),
            escalated: HashMap::new(),
            blocked_until: None,
        })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .header(
                "Authorization",
                format!("Token token={}", self.token.expose()),
            )
            .header("Accept", ACCEPT)
    }

    /// Writes need the acting user's email; `json` sets `Content-Type: application/json`.
    fn write(&self, method: Method, path: &str, body: &serde_json::Value) -> RequestBuilder {
        self.request(method, path)
            .header("From", &self.from)
            .json(body)
    }

    /// Fails without sending while a 429's reset time has not passed.
    fn check_rate_limit(&mut self) -> Result<(), BackendError> {
        let Some(until) = self.blocked_until else {
            return Ok(());
        };
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            self.blocked_until = None;
            return Ok(());
        }
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        Err(rate_limited(secs))
    }

    /// Sends and returns the body of a 2xx. Not `http::send`: a 429's headers say when to
    /// retry, and PagerDuty's error bodies distinguish conflicts from other refusals.
    async fn call(
        &mut self,
        req: RequestBuilder,
        incident: Option<&str>,
    ) -> Result<Vec<u8>, BackendError> {
        self.check_rate_limit()?;
        let resp = req
            .send()
            .await
            .map_err(|e| http::transport_error(e, self.timeout))?;
        let status = resp.status().as_u16();
        if status == 429 {
            let secs = reset_secs(resp.headers());
            self.blocked_until = Some(Instant::now() + Duration::from_secs(secs));
            return Err(rate_limited(secs));
        }
        if resp.status().is_success() {
            http::read_body(resp, self.cap, self.timeout).await
        } else {
            let body = http::read_error_body(resp).await;
            Err(map_error(status, &body, incident))
        }
    }

    async fn call_json<T: DeserializeOwned>(
        &mut self,
        req: RequestBuilder,
        incident: Option<&str>,
    ) -> Result<T, BackendError> {
        let body = self.call(req, incident).await?;
        http::decode_json(&body)
    }

    /// Triggered and acknowledged incidents, page by page, without duplicates (an incident
    /// can move between pages while we read them), at most `max_pages` pages: a backend that
    /// always says `more` must not keep one poll going until the timeout. What is left
    /// unread is counted from the first page's `total` into `unread`.
    async fn fetch_open(&mut self) -> Result<Vec<PdIncident>, BackendError> {
        let mut all: Vec<PdIncident> = Vec::new();
        let mut seen = HashSet::new();
        let mut offset = 0usize;
        let mut total = None;
        for page_no in 0..self.max_pages {
            let mut query: Vec<(&str, String)> = vec![
                ("statuses[]", "triggered".to_string()),
                ("statuses[]", "acknowledged".to_string()),
                ("limit", self.page_size.to_string()),
                ("offset", offset.to_string()),
            ];
            query.extend(self.filters.iter().map(|(k, v)| (*k, v.clone())));
            if page_no == 0 {
                // Costs PagerDuty a count once per poll; says how much a bounded read missed.
                query.push(("total", "true".to_string()));
            }
            let req = self.request(Method::GET, "/incidents").query(&query);
            let page: IncidentPage = self.call_json(req, None).await?;
            total = total.or(page.total);
            let got = page.incidents.len();
            all.extend(
                page.incidents
                    .into_iter()
                    .filter(|i| seen.insert(i.id.clone())),
            );
            offset += got;
            if !page.more || got == 0 {
                self.unread = NotShown::default();
                return Ok(all);
            }
            if offset >= MAX_OFFSET {
                break;
            }
        }
        self.unread = NotShown {
            count: total.map_or(0, |t| t.saturating_sub(all.len() as u64)),
            more: total.is_none(),
        };
        Ok(all)
    }

    fn needs_log(&self, inc: &PdIncident) -> bool {
        match self.timelines.get(&inc.id) {
            Some(c) => c.stale || c.changed_at != inc.last_status_change_at,
            None => true,
        }
    }

    /// Refreshes the timelines that need it, most urgent first, within the per-poll cap and
    /// half the timeout since `list` started (the driver bounds the whole `list` by the
    /// timeout). A failure leaves that incident for the next poll: the incident list itself
    /// is still good.
    async fn refresh_timelines(&mut self, incidents: &[PdIncident], started: Instant) {
        let mut due: Vec<&PdIncident> = incidents.iter().filter(|i| self.needs_log(i)).collect();
        due.sort_by_key(|i| (i.sev(), i.status != Status::Triggered, i.created_at));
        for inc in due.into_iter().take(LOG_FETCHES_PER_POLL) {
            if started.elapsed() > self.timeout / 2 {
                break;
            }
            match self.fetch_log(&inc.id).await {
                Ok(entries) => self.store_log(inc, &entries),
                Err(BackendError::Http { status: 429, .. }) => break,
                Err(e) => tracing::debug!(source = %self.name, incident = %inc.id, error = %e,
                    "log entries not fetched"),
            }
        }
    }

    async fn fetch_log(&mut self, pd_id: &str) -> Result<Vec<LogEntry>, BackendError> {
        let req = self
            .request(Method::GET, &format!("/incidents/{pd_id}/log_entries"))
            .query(&[("limit", MAX_PAGE)]);
        let page: LogPage = self.call_json(req, Some(pd_id)).await?;
        Ok(page.log_entries)
    }

    fn store_log(&mut self, inc: &PdIncident, entries: &[LogEntry]) {
        self.escalated.remove(&inc.id);
        self.timelines
            .insert(inc.id.clone(), cached_log(inc, entries));
    }

    /// PagerDuty's 1-based escalation level: the incident's own field when present, else our
    /// last escalation, else what the log says, else the first level.
    fn level(&self, pd_id: &str) -> u32 {
        level(
            self.known.get(pd_id).and_then(|i| i.escalation_level),
            self.escalated.get(pd_id).copied(),
            self.timelines.get(pd_id).and_then(|c| c.level),
        )
    }

    fn to_incident(&self, inc: &PdIncident) -> Incident {
        let timeline = self
            .timelines
            .get(&inc.id)
            .map(|c| c.timeline.clone())
            .unwrap_or_default();
        incident(&self.name, inc, self.level(&inc.id), timeline)
    }

    /// The PagerDuty id inside a cockpit id. Only plain alphanumeric ids are accepted, so an
    /// id can never reach into another path of the API.
    fn pd_id(&self, id: &str) -> Result<String, BackendError> {
        id.strip_prefix(&format!("{}:", self.name))
            .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()))
            .map(str::to_string)
            .ok_or_else(|| BackendError::Rejected(format!("no incident {id}")))
    }

    /// Refuses what would silently overrule another responder, judged on the last-listed
    /// state (PagerDuty itself accepts a second acknowledgement).
    fn check_conflict(&self, pd_id: &str, op: &IncidentOp) -> Result<(), BackendError> {
        let Some(inc) = self.known.get(pd_id) else {
            return Ok(());
        };
        match (op, inc.status) {
            (IncidentOp::Note(_), _) => Ok(()),
            (_, Status::Resolved) => Err(BackendError::Rejected("already resolved".into())),
            (IncidentOp::Ack, Status::Acknowledged) => {
                let by = inc
                    .acknowledgement()
                    .and_then(|a| Reference::name(&a.acknowledger))
                    .unwrap_or("someone");
                Err(BackendError::Rejected(format!(
                    "already acknowledged by {}",
                    SafeText::new(by)
                )))
            }
            _ => Ok(()),
        }
    }

    async fn update(
        &mut self,
        pd_id: &str,
        fields: serde_json::Value,
        id: &str,
    ) -> Result<(), BackendError> {
        let mut incident = json!({ "type": "incident_reference" });
        if let (Some(obj), Some(extra)) = (incident.as_object_mut(), fields.as_object()) {
            obj.extend(extra.clone());
        }
        let req = self.write(
            Method::PUT,
            &format!("/incidents/{pd_id}"),
            &json!({ "incident": incident }),
        );
        let body = self.call(req, Some(id)).await?;
        // The write happened; an unreadable echo only means the next list fills the state in.
        if let Ok(env) = serde_json::from_slice::<IncidentEnvelope>(&body) {
            self.known.insert(pd_id.to_string(), env.incident);
        }
        Ok(())
    }

    async fn add_note(&mut self, pd_id: &str, text: &str, id: &str) -> Result<(), BackendError> {
        if text.trim().is_empty() {
            return Err(BackendError::Rejected("a note needs text".into()));
        }
        let req = self.write(
            Method::POST,
            &format!("/incidents/{pd_id}/notes"),
            &json!({ "note": { "content": text } }),
        );
        self.call(req, Some(id)).await.map(|_| ())
    }

    fn mark_stale(&mut self, pd_id: &str) {
        if let Some(c) = self.timelines.get_mut(pd_id) {
            c.stale = true;
        }
    }
}

impl IncidentSource for PagerDuty {
    fn not_listed(&self) -> NotShown {
        self.unread
    }

    async fn list(&mut self, _now: DateTime<Utc>) -> Result<Vec<Incident>, BackendError> {
        let started = Instant::now();
        let incidents = self.fetch_open().await?;
        self.known = incidents
            .iter()
            .map(|i| (i.id.clone(), i.clone()))
            .collect();
        let known = &self.known;
        self.timelines.retain(|id, _| known.contains_key(id));
        self.escalated.retain(|id, _| known.contains_key(id));
        self.refresh_timelines(&incidents, started).await;
        Ok(incidents.iter().map(|i| self.to_incident(i)).collect())
    }

    async fn apply(
        &mut self,
        id: &IncidentId,
        op: &IncidentOp,
        author: &str,
        _now: DateTime<Utc>,
    ) -> Result<String, BackendError> {
        let pd_id = self.pd_id(id)?;
        self.check_rate_limit()?;
        self.check_conflict(&pd_id, op)?;
        let as_user = format!("{author} (PagerDuty user {})", self.from);
        let msg = match op {
            IncidentOp::Ack => {
                self.update(&pd_id, json!({ "status": "acknowledged" }), id)
                    .await?;
                format!("acknowledged by {as_user}")
            }
            IncidentOp::Resolve => {
                self.update(&pd_id, json!({ "status": "resolved" }), id)
                    .await?;
                format!("resolved by {as_user}")
            }
            IncidentOp::Escalate => {
                let level = self.level(&pd_id).saturating_add(1);
                self.update(&pd_id, json!({ "escalation_level": level }), id)
                    .await?;
                self.escalated.insert(pd_id.clone(), level);
                format!("escalated to level {level} by {as_user}")
            }
            IncidentOp::Note(text) => {
                self.add_note(&pd_id, text, id).await?;
                format!("note added by {as_user}")
            }
        };
        self.mark_stale(&pd_id);
        Ok(msg)
    }
}

/// The incidents `list` shows for one `/incidents` page and, for each of them, this
/// `/log_entries` body: the same decoding and mapping without the network, so fuzzing and the
/// regression tests drive the production path. Also returns the page's `more` flag.
pub fn decode_incidents(
    source: &str,
    page: &[u8],
    log: &[u8],
) -> Result<(Vec<Incident>, bool), BackendError> {
    let page: IncidentPage = http::decode_json(page)?;
    let log: LogPage = http::decode_json(log)?;
    let incidents = page
        .incidents
        .iter()
        .map(|inc| {
            let cached = cached_log(inc, &log.log_entries);
            let level = level(inc.escalation_level, None, cached.level);
            incident(source, inc, level, cached.timeline)
        })
        .collect();
    Ok((incidents, page.more))
}

fn level(own: Option<u32>, escalated: Option<u32>, logged: Option<u32>) -> u32 {
    own.or(escalated).or(logged).unwrap_or(1)
}

fn incident(source: &str, inc: &PdIncident, level: u32, timeline: Vec<TimelineEntry>) -> Incident {
    let sev = inc.sev();
    let service = Reference::name(&inc.service).unwrap_or("unknown service");
    let ack = inc.acknowledgement();
    // Classified after sanitizing, so an escape sequence cannot hide or fake a type.
    let title = SafeText::new(&inc.title);
    let feature = SafeText::new(service);
    Incident {
        id: format!("{source}:{}", inc.id),
        source: source.to_string(),
        kind: kind_of(title.as_str(), feature.as_str()),
        feature,
        sev,
        title,
        status: inc.status,
        triggered_at: inc.created_at,
        // A start near the end of time must not overflow (chrono panics on that).
        respond_by: inc
            .created_at
            .checked_add_signed(sev.response_time())
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
        acked_by: ack.map(|a| SafeText::new(Reference::name(&a.acknowledger).unwrap_or("someone"))),
        acked_at: ack.map(|a| a.at),
        escalation_level: u8::try_from(level.saturating_sub(1)).unwrap_or(u8::MAX),
        firing: inc.status != Status::Resolved,
        evidence: evidence(inc),
        timeline,
    }
}

fn cached_log(inc: &PdIncident, entries: &[LogEntry]) -> CachedLog {
    // PagerDuty lists newest first, with timestamps to the second: reverse before the
    // stable sort so entries within one second keep their real order.
    let mut sorted = entries.to_vec();
    if sorted.first().map(|e| e.created_at) >= sorted.last().map(|e| e.created_at) {
        sorted.reverse();
    }
    sorted.sort_by_key(|e| e.created_at);
    CachedLog {
        changed_at: inc.last_status_change_at.clone(),
        stale: false,
        timeline: sorted.iter().map(timeline_entry).collect(),
        level: log_level(&sorted),
    }
}

fn rate_limited(secs: u64) -> BackendError {
    BackendError::Http {
        status: 429,
        message: format!("rate limited; retry in {secs}s"),
    }
}

/// Seconds until PagerDuty accepts requests again: the later of `ratelimit-reset` and
/// `Retry-After` (both in seconds), at least one and at most `MAX_BACKOFF_SECS`.
pub fn reset_secs(headers: &HeaderMap) -> u64 {
    let secs = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    match (secs("ratelimit-reset"), secs("retry-after")) {
        (None, None) => DEFAULT_BACKOFF_SECS,
        (a, b) => a
            .max(b)
            .unwrap_or(DEFAULT_BACKOFF_SECS)
            .clamp(1, MAX_BACKOFF_SECS),
    }
}

/// PagerDuty's error shape `{"error":{"message","code","errors":[…]}}`, or a body excerpt.
fn error_texts(body: &[u8]) -> (String, Vec<String>) {
    match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(env) => (
            SafeText::new(env.error.message.as_deref().unwrap_or("")).to_string(),
            env.error
                .errors
                .iter()
                .map(|e| SafeText::new(e).to_string())
                .collect(),
        ),
        Err(_) => (
            SafeText::new(&http::excerpt(&String::from_utf8_lossy(body))).to_string(),
            Vec::new(),
        ),
    }
}

/// A non-2xx answer (other than 429) as the error the cockpit shows: conflicts become
/// `Rejected` with PagerDuty's own words, the rest `Http` with its message.
pub fn map_error(status: u16, body: &[u8], incident: Option<&str>) -> BackendError {
    let (message, errors) = error_texts(body);
    let detail = std::iter::once(message.clone())
        .chain(errors.iter().cloned())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    let conflict = errors
        .iter()
        .chain(std::iter::once(&message))
        .find(|s| s.to_lowercase().contains("already"));
    match (status, incident, conflict) {
        (401, ..) => BackendError::Http {
            status,
            message: format!("invalid API token: expired or revoked? (PagerDuty: {detail})"),
        },
        (403, ..) => BackendError::Http {
            status,
            message: format!("forbidden: the token may not do this ({detail})"),
        },
        (404, Some(id), _) => BackendError::Rejected(format!("no incident {id}")),
        (400 | 409 | 422, _, Some(text)) => BackendError::Rejected(text.clone()),
        _ => BackendError::Http {
            status,
            message: detail,
        },
    }
}

fn sev_of(priority: Option<&str>, urgency: Option<&str>) -> Sev {
    priority.and_then(priority_sev).unwrap_or(match urgency {
        Some(u) if u.eq_ignore_ascii_case("low") => Sev::Sev4,
        _ => Sev::Sev2,
    })
}

/// "P1", "SEV1", "SEV-1", "Sev 2 - Major" → the number's SEV; names without one → None.
fn priority_sev(name: &str) -> Option<Sev> {
    let lower = name.trim().to_ascii_lowercase();
    let rest = lower
        .strip_prefix("sev")
        .or_else(|| lower.strip_prefix('p'))?;
    let digits: String = rest
        .trim_start_matches(['-', ' ', '_'])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let n: u32 = digits.parse().ok()?;
    Some(match n {
        0 | 1 => Sev::Sev1,
        2 => Sev::Sev2,
        3 => Sev::Sev3,
        _ => Sev::Sev4,
    })
}

/// Lowercase words separated by single spaces and padded, so names match whole words only.
fn words(s: &str) -> String {
    let spaced: String = s
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    format!(
        " {} ",
        spaced.split_whitespace().collect::<Vec<_>>().join(" ")
    )
}

fn kind_of(title: &str, service: &str) -> IncidentType {
    let hay = words(&format!("{title} {service}"));
    KIND_ORDER
        .into_iter()
        .find(|k| {
            let snake = serde_json::to_value(k)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            [k.label(), snake.as_str()]
                .iter()
                .any(|n| !n.is_empty() && hay.contains(&words(n)))
        })
        .unwrap_or(IncidentType::Other)
}

fn timeline_entry(e: &LogEntry) -> TimelineEntry {
    let mut text = e
        .summary
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| e.kind.trim_end_matches("_log_entry").replace('_', " "));
    let note = Reference::name(&e.channel).filter(|_| e.kind == "annotate_log_entry");
    if let Some(note) = note.filter(|n| !text.contains(n)) {
        text = format!("{text}: {note}");
    }
    if let Some(agent) = Reference::name(&e.agent).filter(|a| !text.contains(a)) {
        text = format!("{text} ({agent})");
    }
    TimelineEntry {
        at: e.created_at,
        text: SafeText::new(&text),
    }
}

/// The level after the log's escalations, oldest first: "level N" in a summary sets it,
/// an escalation that names no level counts as one step. None when nothing escalated.
fn log_level(entries: &[LogEntry]) -> Option<u32> {
    let mut level = None;
    for e in entries.iter().filter(|e| e.kind == "escalate_log_entry") {
        let summary = e.summary.as_deref().unwrap_or("").to_lowercase();
        let named = summary.split("level").nth(1).and_then(|rest| {
            let digits: String = rest
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse::<u32>().ok()
        });
        level = Some(named.unwrap_or(level.unwrap_or(1_u32).saturating_add(1)));
    }
    level
}

fn evidence(inc: &PdIncident) -> Vec<SafeText> {
    let mut out = Vec::new();
    let number = inc
        .incident_number
        .map(|n| format!("PagerDuty #{n}"))
        .unwrap_or_else(|| format!("PagerDuty {}", inc.id));
    let urgency = inc.urgency.as_deref().unwrap_or("unknown");
    let priority = Reference::name(&inc.priority).unwrap_or("none");
    out.push(format!(
        "{number} · urgency {urgency} · priority {priority}"
    ));
    if let Some(ep) = Reference::name(&inc.escalation_policy) {
        out.push(format!("escalation policy: {ep}"));
    }
    let assignees: Vec<&str> = inc
        .assignments
        .iter()
        .filter_map(|a| Reference::name(&a.assignee))
        .collect();
    if !assignees.is_empty() {
        out.push(format!("assigned: {}", assignees.join(", ")));
    }
    out.extend(inc.html_url.clone());
    out.extend(
        inc.incident_key
            .as_ref()
            .map(|k| format!("incident_key: {k}")),
    );
    out.iter().map(|s| SafeText::new(s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn priorities_and_urgency_map_to_sev() {
        assert_eq!(sev_of(Some("P1"), Some("low")), Sev::Sev1);
        assert_eq!(sev_of(Some("SEV-1"), None), Sev::Sev1);
        assert_eq!(sev_of(Some("Sev 3 - Minor"), None), Sev::Sev3);
        assert_eq!(sev_of(Some("P0"), None), Sev::Sev1);
        assert_eq!(sev_of(Some("P5"), Some("high")), Sev::Sev4);
        assert_eq!(sev_of(Some("Priority"), Some("high")), Sev::Sev2);
        assert_eq!(sev_of(None, Some("high")), Sev::Sev2);
        assert_eq!(sev_of(None, Some("low")), Sev::Sev4);
    }

    #[test]
    fn kinds_match_whole_words_most_specific_first() {
        assert_eq!(
            kind_of("Guardrail bypass causing errors", "chat"),
            IncidentType::GuardrailBypass
        );
        assert_eq!(
            kind_of("alert", "cost_explosion-detector"),
            IncidentType::CostExplosion
        );
        assert_eq!(kind_of("5xx errors", "api"), IncidentType::Errors);
        assert_eq!(kind_of("terrors", "api"), IncidentType::Other);
        assert_eq!(
            kind_of("Over-refusal spike", "bot"),
            IncidentType::OverRefusal
        );
    }

    #[test]
    fn escalation_level_from_log_summaries() {
        let at = Utc::now();
        let entry = |summary: &str| LogEntry {
            kind: "escalate_log_entry".into(),
            created_at: at,
            summary: Some(summary.into()),
            agent: None,
            channel: None,
        };
        assert_eq!(log_level(&[]), None);
        assert_eq!(log_level(&[entry("Escalated to Level 3 by Ana")]), Some(3));
        assert_eq!(
            log_level(&[entry("Escalated"), entry("Escalated")]),
            Some(3)
        );
    }

    #[test]
    fn rate_limit_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(reset_secs(&h), DEFAULT_BACKOFF_SECS);
        h.insert("ratelimit-reset", HeaderValue::from_static("2"));
        assert_eq!(reset_secs(&h), 2);
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(reset_secs(&h), 7);
    }
}
