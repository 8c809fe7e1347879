//! The PagerDuty HTTP client: lists open incidents page by page, keeps their timelines
//! within the rate limit, and carries out acks, resolves, escalations and notes.

use super::changes::{change_of, ChangeCache, ChangeEventPage, CHANGES_PER_INCIDENT};
use super::config::PagerDutyConfig;
use super::errors::{map_error, rate_limited, reset_secs};
use super::mapping::{cached_log, incident, level, CachedLog};
use super::oncall::{policies_of, OnCallCache, POLICIES_PER_REQUEST};
use super::wire::{
    IncidentEnvelope, IncidentList, IncidentPage, LogEntry, LogPage, OnCallEntry, OnCallPage,
    PdIncident, Reference, UserPage,
};
use crate::backend::http::{self, ReplyCap};
use crate::backend::{BackendError, IncidentOp, IncidentSource, NotShown};
use crate::config::secret::Secret;
use crate::domain::command::SnoozeFor;
use crate::domain::responders::ResponderTarget;
use crate::domain::{Incident, IncidentId, SafeText, Status};
use chrono::{DateTime, Utc};
use reqwest::{Method, RequestBuilder};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

const ACCEPT: &str = "application/vnd.pagerduty+json;version=2";
/// PagerDuty refuses pages larger than this.
const MAX_PAGE: u32 = 100;
/// Classic offset paging stops at 10 000 results; a server that keeps saying `more` past it
/// must not keep us looping.
const MAX_OFFSET: usize = 10_000;
/// Timelines refreshed per poll: at least one request per incident, so a storm of new
/// incidents would otherwise burn the account's rate limit in a single poll.
const LOG_FETCHES_PER_POLL: usize = 10;

pub struct PagerDuty {
    name: String,
    base: String,
    token: Secret,
    from: String,
    timeout: Duration,
    page_size: u32,
    max_pages: u32,
    /// Log entries read per incident, newest first.
    max_log_entries: usize,
    cap: ReplyCap,
    /// Server-side filters: `team_ids[]` and `service_ids[]` pairs for `GET /incidents`.
    filters: Vec<(&'static str, String)>,
    /// What the last list left unread, past `max_pages`.
    unread: NotShown,
    client: http::Client,
    /// Incidents as last listed (or returned by our writes), by PagerDuty id: the state the
    /// conflict checks run against.
    known: HashMap<String, PdIncident>,
    timelines: HashMap<String, CachedLog>,
    /// PagerDuty (1-based) levels set by our own escalations, until the log shows them.
    escalated: HashMap<String, u32>,
    /// After a 429, no request goes out before this instant.
    blocked_until: Option<Instant>,
    /// Who is on call per escalation policy, read every `oncall_refresh`.
    oncall: OnCallCache,
    oncall_refresh: Duration,
    /// The PagerDuty user id of `from`, looked up once: a responder request names its
    /// requester by id, and the config names the user by email.
    requester: Option<String>,
    /// Related change events per incident, for the change timeline.
    changes: ChangeCache,
}

/// What one read of an incident's log brought back.
#[derive(Default)]
struct LogRead {
    /// Entries newer than what the cache holds, newest first.
    fresh: Vec<LogEntry>,
    /// The read met an entry the cache holds: everything older is already there.
    reached_held: bool,
    /// The read stopped at `max_log_entries` with more left unread.
    bound_hit: bool,
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
            max_log_entries: cfg.max_log_entries.max(1),
            cap: ReplyCap::mib(cfg.max_reply_mib),
            filters: cfg
                .team_ids
                .iter()
                .map(|t| ("team_ids[]", t.clone()))
                .chain(cfg.service_ids.iter().map(|s| ("service_ids[]", s.clone())))
                .collect(),
            unread: NotShown::default(),
            client: http::Client::new(timeout, cfg.tls.as_ref(), &cfg.url)
                .map_err(|e| format!("{name}: {e}"))?,
            known: HashMap::new(),
            timelines: HashMap::new(),
            escalated: HashMap::new(),
            blocked_until: None,
            oncall: OnCallCache::default(),
            oncall_refresh: Duration::from_secs(cfg.oncall_refresh_secs),
            requester: None,
            changes: ChangeCache::default(),
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
            match self.fetch_log(&inc.id, started).await {
                Ok(read) => self.store_log(inc, read),
                Err(BackendError::Http { status: 429, .. }) => break,
                Err(e) => tracing::debug!(source = %self.name, incident = %inc.id, error = %e,
                    "log entries not fetched"),
            }
        }
    }

    /// The incident's log entries newer than what the cache holds, newest first, page by page
    /// (`limit`, `offset`, `more`) up to `max_log_entries`: the first entry the cache already
    /// holds (same id, or older than its newest) ends the read. A log that cannot be read
    /// within half the timeout since `list` started is left for the next poll whole, never
    /// kept half-read: a later read stops at what it holds and would not go back for the rest.
    async fn fetch_log(&mut self, pd_id: &str, started: Instant) -> Result<LogRead, BackendError> {
        let held = self.timelines.get(pd_id).map(|c| {
            let newest = c.entries.iter().map(|e| e.created_at).max();
            let ids: HashSet<String> = c.entries.iter().filter_map(|e| e.id.clone()).collect();
            (newest, ids)
        });
        let known = |e: &LogEntry| match (&held, &e.id) {
            (None, _) => false,
            (Some((_, ids)), Some(id)) if ids.contains(id) => true,
            (Some((newest, _)), _) => newest.is_some_and(|n| e.created_at < n),
        };
        let mut read = LogRead::default();
        let mut offset = 0usize;
        loop {
            if offset > 0 && started.elapsed() > self.timeout / 2 {
                return Err(BackendError::Timeout((self.timeout / 2).as_secs()));
            }
            let left = self.max_log_entries - read.fresh.len();
            let limit = left.min(MAX_PAGE as usize);
            let req = self
                .request(Method::GET, &format!("/incidents/{pd_id}/log_entries"))
                .query(&[("limit", limit), ("offset", offset)]);
            let page: LogPage = self.call_json(req, Some(pd_id)).await?;
            let got = page.log_entries.len();
            for e in page.log_entries {
                if known(&e) {
                    read.reached_held = true;
                    return Ok(read);
                }
                if read.fresh.len() == self.max_log_entries {
                    read.bound_hit = true;
                    return Ok(read);
                }
                read.fresh.push(e);
            }
            offset += got;
            if !page.more || got == 0 {
                return Ok(read);
            }
            if read.fresh.len() >= self.max_log_entries || offset >= MAX_OFFSET {
                read.bound_hit = true;
                return Ok(read);
            }
        }
    }

    /// The new entries in front of what the cache holds, cut to `max_log_entries`. When the
    /// read stopped at the bound before reaching the held entries, those lie beyond a gap
    /// that was not read: they go, and the timeline says older entries were not read.
    fn store_log(&mut self, inc: &PdIncident, read: LogRead) {
        self.escalated.remove(&inc.id);
        let bound = self.max_log_entries;
        let held = self.timelines.remove(&inc.id);
        let mut entries = read.fresh;
        let mut cut = read.bound_hit;
        // A read that ran to the end of the log without meeting the held entries replaces
        // them: PagerDuty no longer lists them.
        if let Some(held) = held.filter(|_| read.reached_held) {
            entries.extend(held.entries);
            cut |= held.unread_past.is_some();
        }
        if entries.len() > bound {
            entries.truncate(bound);
            cut = true;
        }
        if cut {
            tracing::info!(source = %self.name, incident = %inc.id, bound,
                "log entries past max_log_entries not read");
        }
        self.timelines.insert(
            inc.id.clone(),
            cached_log(inc, &entries, cut.then_some(bound)),
        );
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
        let cached = self.timelines.get(&inc.id);
        let timeline = cached.map(|c| c.timeline.clone()).unwrap_or_default();
        incident(
            &self.name,
            inc,
            self.level(&inc.id),
            timeline,
            self.oncall.for_incident(inc),
            cached.and_then(|c| c.last_update),
        )
    }

    /// Reads who is on call for `policies` when the cache is due, within what is left of half
    /// the timeout since `list` started. A failure keeps what was held, with the error: the
    /// incident list itself is still good.
    async fn refresh_oncall(
        &mut self,
        incidents: &[PdIncident],
        started: Instant,
        now: DateTime<Utc>,
    ) {
        let policies = policies_of(incidents);
        if !self.oncall.due(&policies, self.oncall_refresh) {
            return;
        }
        match self.fetch_oncalls(&policies, started).await {
            Ok(entries) => self.oncall.store(&policies, entries, now),
            Err(e) => {
                tracing::debug!(source = %self.name, error = %e, "on-calls not read");
                self.oncall.fail(e.to_string());
            }
        }
    }

    /// Reads the related change events of the incidents due, most urgent first, within what
    /// is left of half the timeout since `list` started. A failure keeps what was read before
    /// and is reported with the change log; a 429 stops the round (the next poll waits for
    /// the reset anyway).
    async fn refresh_changes(
        &mut self,
        incidents: &[PdIncident],
        started: Instant,
        now: DateTime<Utc>,
    ) {
        let known = &self.known;
        self.changes.retain(|id| known.contains_key(id));
        for pd_id in self.changes.due(incidents) {
            if started.elapsed() > self.timeout / 2 {
                break;
            }
            let req = self
                .request(
                    Method::GET,
                    &format!("/incidents/{pd_id}/related_change_events"),
                )
                .query(&[("limit", CHANGES_PER_INCIDENT)]);
            match self.call_json::<ChangeEventPage>(req, Some(&pd_id)).await {
                Ok(page) => {
                    let id = format!("{}:{pd_id}", self.name);
                    let entries = page
                        .change_events
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|ev| change_of(ev, &self.name, &id))
                        .collect();
                    self.changes.store(&pd_id, entries, now);
                }
                Err(e) => {
                    tracing::debug!(source = %self.name, incident = %pd_id, error = %e,
                        "related change events not read");
                    let stop = matches!(e, BackendError::Http { status: 429, .. });
                    self.changes.fail(&pd_id, e.to_string());
                    if stop {
                        break;
                    }
                }
            }
        }
    }

    /// `GET /oncalls` for `policies`, `POLICIES_PER_REQUEST` ids a request, each followed page
    /// by page (`limit`, `offset`, `more`); at most `max_pages` pages in all, so a server that
    /// always says `more` cannot keep a poll going. `earliest=true`: one entry per policy,
    /// level and user, which is all the detail pane shows. No `since`/`until`: now.
    async fn fetch_oncalls(
        &mut self,
        policies: &[String],
        started: Instant,
    ) -> Result<Vec<OnCallEntry>, BackendError> {
        let mut all = Vec::new();
        let mut pages = 0;
        for chunk in policies.chunks(POLICIES_PER_REQUEST) {
            let mut offset = 0usize;
            loop {
                if pages >= self.max_pages {
                    return Err(BackendError::Malformed(format!(
                        "on-calls still said `more` after {} pages (max_pages)",
                        self.max_pages
                    )));
                }
                if started.elapsed() > self.timeout / 2 {
                    return Err(BackendError::Timeout((self.timeout / 2).as_secs().max(1)));
                }
                let mut query: Vec<(&str, String)> = chunk
                    .iter()
                    .map(|p| ("escalation_policy_ids[]", p.clone()))
                    .collect();
                query.push(("earliest", "true".into()));
                query.push(("limit", MAX_PAGE.to_string()));
                query.push(("offset", offset.to_string()));
                let req = self.request(Method::GET, "/oncalls").query(&query);
                let page: OnCallPage = self.call_json(req, None).await?;
                pages += 1;
                let got = page.oncalls.len();
                all.extend(page.oncalls);
                offset += got;
                if !page.more || got == 0 || offset >= MAX_OFFSET {
                    break;
                }
            }
        }
        Ok(all)
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
            (IncidentOp::Note(_) | IncidentOp::Role { .. }, _) => Ok(()),
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

    /// The user id of `from`, from `GET /users?query=<email>` the first time it is needed:
    /// the user whose email is `from` exactly (case aside), never a near match.
    async fn requester_id(&mut self) -> Result<String, BackendError> {
        if let Some(id) = &self.requester {
            return Ok(id.clone());
        }
        let req = self
            .request(Method::GET, "/users")
            .query(&[("query", self.from.as_str()), ("limit", "100")]);
        let page: UserPage = self.call_json(req, None).await?;
        let id = page
            .users
            .into_iter()
            .find(|u| {
                u.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(&self.from))
            })
            .map(|u| u.id)
            .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))
            .ok_or_else(|| {
                BackendError::Rejected(format!(
                    "no PagerDuty user has the email {} (`from` of [[pagerduty]] {:?}): a \
                     responder request needs its requester's user",
                    SafeText::new(&self.from),
                    self.name
                ))
            })?;
        self.requester = Some(id.clone());
        Ok(id)
    }

    /// `POST /incidents/{id}/responder_requests`: PagerDuty notifies the target (a user, or
    /// whoever its escalation policy has on call) with `message`, on behalf of `from`.
    async fn request_responders(
        &mut self,
        pd_id: &str,
        target: &ResponderTarget,
        message: &str,
        id: &str,
    ) -> Result<(), BackendError> {
        let requester = self.requester_id().await?;
        let body = json!({
            "requester_id": requester,
            "message": message,
            "responder_request_targets": [{
                "responder_request_target": {
                    "id": target.id(),
                    "type": target.reference_type(),
                }
            }],
        });
        let req = self.write(
            Method::POST,
            &format!("/incidents/{pd_id}/responder_requests"),
            &body,
        );
        // A 404 here may be the target as well as the incident: say both.
        match self.call(req, None).await {
            Err(BackendError::Http { status: 404, .. }) => Err(BackendError::Rejected(format!(
                "PagerDuty found no incident {id} or no {} (check [alerts.layers])",
                target.describe()
            ))),
            other => other.map(|_| ()),
        }
    }

    /// `POST /incidents/{id}/status_updates`: PagerDuty sends `message` to the incident's
    /// subscribers (its own email template: no `subject`/`html_message` override).
    async fn status_update(
        &mut self,
        pd_id: &str,
        text: &str,
        id: &str,
    ) -> Result<(), BackendError> {
        if text.trim().is_empty() {
            return Err(BackendError::Rejected("a status update needs text".into()));
        }
        let req = self.write(
            Method::POST,
            &format!("/incidents/{pd_id}/status_updates"),
            &json!({ "message": text }),
        );
        self.call(req, Some(id)).await.map(|_| ())
    }

    /// `PUT /incidents/{id}/merge`: PagerDuty moves the sources' alerts into the target and
    /// resolves the sources. Every source must be this account's plain id.
    async fn merge(
        &mut self,
        pd_id: &str,
        sources: &[IncidentId],
        id: &str,
    ) -> Result<(), BackendError> {
        let ids = sources
            .iter()
            .map(|s| self.pd_id(s))
            .collect::<Result<Vec<_>, _>>()?;
        if ids.is_empty() || ids.iter().any(|s| s == pd_id) {
            return Err(BackendError::Rejected(
                "a merge needs other incidents than the one merged into".into(),
            ));
        }
        let refs: Vec<serde_json::Value> = ids
            .iter()
            .map(|s| json!({ "id": s, "type": "incident_reference" }))
            .collect();
        let req = self.write(
            Method::PUT,
            &format!("/incidents/{pd_id}/merge"),
            &json!({ "source_incidents": refs }),
        );
        let body = match self.call(req, None).await {
            Err(BackendError::Http { status: 404, .. }) => {
                return Err(BackendError::Rejected(format!(
                    "PagerDuty found no incident {id} or no {}",
                    sources.join(" or ")
                )))
            }
            other => other?,
        };
        if let Ok(env) = serde_json::from_slice::<IncidentEnvelope>(&body) {
            self.known.insert(pd_id.to_string(), env.incident);
        }
        for s in &ids {
            if let Some(inc) = self.known.get_mut(s) {
                inc.status = Status::Resolved;
            }
        }
        Ok(())
    }

    /// `POST /incidents/{id}/snooze` with `{"duration": seconds}`: PagerDuty snoozes
    /// acknowledged incidents only, and answers with the incident, whose pending
    /// `unacknowledge` says when it triggers again.
    async fn snooze(
        &mut self,
        pd_id: &str,
        d: SnoozeFor,
        id: &str,
    ) -> Result<Option<DateTime<Utc>>, BackendError> {
        let req = self.write(
            Method::POST,
            &format!("/incidents/{pd_id}/snooze"),
            &json!({ "duration": d.seconds() }),
        );
        let body = self.call(req, Some(id)).await?;
        // The snooze happened; an unreadable echo only means the next list says until when.
        let Ok(env) = serde_json::from_slice::<IncidentEnvelope>(&body) else {
            return Ok(None);
        };
        let until = env.incident.snoozed_until();
        self.known.insert(pd_id.to_string(), env.incident);
        Ok(until)
    }

    /// The id of the one PagerDuty user named `who` (or whose email it is), from
    /// `GET /users?query=`: PagerDuty's search matches parts of names, so only an exact
    /// match counts, and two people of the same name are not guessed between.
    async fn user_named(&mut self, who: &str) -> Result<String, BackendError> {
        let req = self
            .request(Method::GET, "/users")
            .query(&[("query", who), ("limit", "100")]);
        let page: UserPage = self.call_json(req, None).await?;
        let ids: Vec<String> = page
            .users
            .into_iter()
            .filter(|u| {
                u.name
                    .as_deref()
                    .is_some_and(|n| n.trim().eq_ignore_ascii_case(who))
                    || u.email
                        .as_deref()
                        .is_some_and(|e| e.eq_ignore_ascii_case(who))
            })
            .map(|u| u.id)
            .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))
            .collect();
        let who = SafeText::new(who);
        match ids.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(BackendError::Rejected(format!(
                "no PagerDuty user is named {who} (name or email, exactly)"
            ))),
            many => Err(BackendError::Rejected(format!(
                "{} PagerDuty users are named {who}: choose them from the on-call list, which \
                 knows their ids",
                many.len()
            ))),
        }
    }

    /// `PUT /incidents` assigning the incident to one user: PagerDuty notifies them, and
    /// only them (the escalation policy no longer moves it on).
    async fn reassign(
        &mut self,
        pd_id: &str,
        who: &str,
        user: Option<&str>,
        id: &str,
    ) -> Result<String, BackendError> {
        let user_id = match user {
            Some(u) if !u.is_empty() && u.chars().all(|c| c.is_ascii_alphanumeric()) => {
                u.to_string()
            }
            Some(u) => {
                return Err(BackendError::Rejected(format!(
                    "{:?} is not a PagerDuty user id",
                    SafeText::new(u).as_str()
                )))
            }
            None => self.user_named(who).await?,
        };
        let body = json!({ "incidents": [{
            "id": pd_id,
            "type": "incident_reference",
            "assignments": [{ "assignee": { "id": user_id, "type": "user_reference" } }],
        }]});
        let req = self.write(Method::PUT, "/incidents", &body);
        let reply = match self.call(req, None).await {
            Err(BackendError::Http { status: 404, .. }) => {
                return Err(BackendError::Rejected(format!(
                    "PagerDuty found no incident {id} or no user {user_id}"
                )))
            }
            other => other?,
        };
        if let Ok(list) = serde_json::from_slice::<IncidentList>(&reply) {
            for inc in list.incidents.into_iter().filter(|i| i.id == pd_id) {
                self.known.insert(pd_id.to_string(), inc);
            }
        }
        Ok(user_id)
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

    fn changes(&self) -> Option<crate::domain::change::ChangeLog> {
        Some(self.changes.log())
    }

    async fn list(&mut self, now: DateTime<Utc>) -> Result<Vec<Incident>, BackendError> {
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
        self.refresh_oncall(&incidents, started, now).await;
        self.refresh_changes(&incidents, started, now).await;
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
            IncidentOp::RequestResponders {
                layer,
                who,
                target,
                message,
            } => {
                self.request_responders(&pd_id, target, message, id).await?;
                format!(
                    "{} ({layer} layer) asked in by {as_user}",
                    SafeText::new(who)
                )
            }
            IncidentOp::StatusUpdate(text) => {
                self.status_update(&pd_id, text, id).await?;
                format!("status update sent by {as_user}")
            }
            IncidentOp::Role { role, name } => {
                let text = format!("Incident role: {role} is {name} (set by {author})");
                self.add_note(&pd_id, &text, id).await?;
                format!("{role}: {} (noted by {as_user})", SafeText::new(name))
            }
            IncidentOp::Merge(sources) => {
                self.merge(&pd_id, sources, id).await?;
                format!("{} merged into {id} by {as_user}", sources.join(", "))
            }
            IncidentOp::Snooze(d) => {
                // PagerDuty snoozes acknowledged incidents only; the confirmation said a
                // triggered one is acknowledged first. A retry after a failed snooze finds
                // it acknowledged by then and only snoozes.
                let ack_first = self
                    .known
                    .get(&pd_id)
                    .is_some_and(|i| i.status == Status::Triggered);
                if ack_first {
                    self.update(&pd_id, json!({ "status": "acknowledged" }), id)
                        .await?;
                }
                let until = self
                    .snooze(&pd_id, *d, id)
                    .await?
                    .map(|t| format!(" until {} UTC", t.format("%H:%M")))
                    .unwrap_or_default();
                let acked = if ack_first { "acknowledged and " } else { "" };
                format!("{acked}snoozed for {d}{until} by {as_user}")
            }
            IncidentOp::Reassign { who, user } => {
                let user_id = self.reassign(&pd_id, who, user.as_deref(), id).await?;
                format!(
                    "reassigned to {} (PagerDuty user {user_id}) by {as_user}",
                    SafeText::new(who)
                )
            }
        };
        self.mark_stale(&pd_id);
        Ok(msg)
    }
}
