//! The Alertmanager HTTP client: lists alerts with their silences, acknowledges by
//! silencing and renewing, expires on resolve, and keeps notes in the silence comment.

use super::config::AlertmanagerConfig;
use super::mapping::{alertname, evidence, note_line, parse_sev, parse_type, timeline};
use super::wire::{
    check_matcher, exact_matchers, GettableAlert, GettableSilence, PostableSilence, SilenceCreated,
    Snapshot,
};
use crate::backend::http::{self, Auth, ReplyCap};
use crate::backend::{BackendError, IncidentOp, IncidentSource};
use crate::domain::{Incident, IncidentId, IncidentType, SafeText, Sev, Status};
use chrono::{DateTime, Duration as Span, Utc};
use reqwest::{RequestBuilder, Url};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// First line of every acknowledgement silence: lets people in the Alertmanager UI see where it
/// came from, and lets the cockpit recognise its own silences after a restart.
pub const ACK_COMMENT: &str = "acknowledged in oncall-cockpit";

const NO_ESCALATION: &str = "Alertmanager has no escalation levels; page through PagerDuty";
const NO_RESPONDERS: &str =
    "Alertmanager pages nobody by name; ask the owner directly (the request is noted)";
const NO_MERGE: &str = "Alertmanager groups alerts by its own route, and merges nothing";
/// A silence would look like a snooze but is not one: it never ends early to notify again,
/// and acknowledging here already is a silence, renewed while the alert fires. Both kept
/// short: the footer holds one line of 80 columns with the operation's name before it.
const NO_SNOOZE: &str = "Alertmanager has no snooze; an ack already silences it";
/// Alertmanager's routes, not a person, decide who is notified.
const NO_REASSIGN: &str = "Alertmanager assigns alerts to nobody; its routes notify";
const NOTE_NEEDS_ACK: &str =
    "add notes after acknowledging: Alertmanager keeps notes on the silence";

/// Every alert Alertmanager knows, whatever suppresses it: a silenced alert is an acknowledged
/// incident, an inhibited one is still an open incident.
const ALERTS_QUERY: &str = "active=true&silenced=true&inhibited=true&unprocessed=true";

/// An acknowledgement this adapter holds: the silence it renews while the alert fires.
#[derive(Clone, Debug)]
struct Held {
    silence_id: String,
    /// When the responder acknowledged; survives renewals that come back with a new id.
    acked_at: DateTime<Utc>,
}

pub struct Alertmanager {
    cfg: AlertmanagerConfig,
    base: Url,
    client: http::Client,
    auth: Auth,
    timeout: Duration,
    cap: ReplyCap,
    /// Alert fingerprint → the silence acknowledging it.
    held: HashMap<String, Held>,
}

impl Alertmanager {
    /// What `new` refuses in the config itself, without reading any secret.
    pub fn check(cfg: &AlertmanagerConfig) -> Result<(), String> {
        Auth::check(cfg.auth.as_ref())?;
        for m in &cfg.filter {
            Self::check_filter(m)?;
        }
        // Secrets and certificate files may be missing on the machine that checks: those are
        // warnings there (`secret_problems`), and the source's error where it runs.
        Self::new(&AlertmanagerConfig {
            auth: None,
            tls: None,
            ..cfg.clone()
        })
        .map(drop)
        .map_err(|e| {
            e.strip_prefix(&format!("{}: ", cfg.name))
                .unwrap_or(&e)
                .to_string()
        })
    }

    /// One matcher of `filter`, as Alertmanager would take it.
    pub fn check_filter(matcher: &str) -> Result<(), String> {
        check_matcher(matcher).map_err(|e| format!("filter {matcher:?}: {e}"))
    }

    pub fn new(cfg: &AlertmanagerConfig) -> Result<Self, String> {
        let base = http::check_url(&cfg.url).map_err(|e| format!("{}: {e}", cfg.name))?;
        let timeout = cfg.timeout_secs.duration();
        if cfg.renew_before_secs >= cfg.silence_secs {
            // Otherwise every poll would renew every silence.
            return Err(format!(
                "{}: renew_before_secs must be less than silence_secs",
                cfg.name
            ));
        }
        Ok(Alertmanager {
            cfg: cfg.clone(),
            base,
            client: http::Client::new(timeout, cfg.tls.as_ref(), &cfg.url)
                .map_err(|e| e.to_string())?,
            auth: Auth::from_config(cfg.auth.as_ref()).map_err(|e| format!("{}: {e}", cfg.name))?,
            timeout,
            cap: ReplyCap::mib(cfg.max_reply_mib),
            held: HashMap::new(),
        })
    }

    /// `{url}/api/v2/{segments…}`, each segment percent-encoded; keeps any route prefix.
    fn endpoint(&self, segments: &[&str]) -> Result<Url, BackendError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| BackendError::Unreachable(format!("bad url {}", self.cfg.url)))?
            .pop_if_empty()
            .extend(["api", "v2"])
            .extend(segments);
        Ok(url)
    }

    fn request(&self, method: reqwest::Method, url: Url) -> RequestBuilder {
        self.auth.apply(self.client.request(method, url))
    }

    async fn alerts(&self) -> Result<Vec<GettableAlert>, BackendError> {
        let mut url = self.endpoint(&["alerts"])?;
        url.set_query(Some(ALERTS_QUERY));
        // Alertmanager ANDs repeated `filter` matchers server-side, so only the responder's
        // alerts cross the network.
        url.query_pairs_mut()
            .extend_pairs(self.cfg.filter.iter().map(|m| ("filter", m)));
        http::send_json(
            self.request(reqwest::Method::GET, url),
            self.timeout,
            self.cap,
        )
        .await
    }

    /// Every silence, unfiltered: an alert of the team's may be silenced by a matcher that
    /// does not name the team, and a filtered list would show it unacknowledged.
    async fn silences(&self) -> Result<Vec<GettableSilence>, BackendError> {
        let url = self.endpoint(&["silences"])?;
        http::send_json(
            self.request(reqwest::Method::GET, url),
            self.timeout,
            self.cap,
        )
        .await
    }

    async fn snapshot(&self) -> Result<Snapshot, BackendError> {
        let (alerts, silences) = tokio::try_join!(self.alerts(), self.silences())?;
        Ok(Snapshot { alerts, silences })
    }

    /// Creates or updates a silence; returns the id Alertmanager reports, which may be new.
    async fn post_silence(&self, body: &PostableSilence<'_>) -> Result<String, BackendError> {
        let url = self.endpoint(&["silences"])?;
        let req = self.request(reqwest::Method::POST, url).json(body);
        let created: SilenceCreated = http::send_json(req, self.timeout, self.cap).await?;
        Ok(created.silence_id)
    }

    /// Re-POSTs `sil` with the same id and the server's own `startsAt`, so it updates in place.
    async fn repost(
        &self,
        sil: &GettableSilence,
        ends_at: DateTime<Utc>,
        comment: &str,
    ) -> Result<String, BackendError> {
        self.post_silence(&PostableSilence {
            id: Some(&sil.id),
            matchers: &sil.matchers,
            starts_at: sil.starts_at,
            ends_at,
            created_by: &sil.created_by,
            comment,
        })
        .await
    }

    async fn expire(&self, silence_id: &str) -> Result<(), BackendError> {
        let url = self.endpoint(&["silence", silence_id])?;
        http::send(self.request(reqwest::Method::DELETE, url), self.timeout).await?;
        Ok(())
    }

    fn silence_span(&self) -> Span {
        capped_secs(self.cfg.silence_secs)
    }

    fn renew_before(&self) -> Span {
        capped_secs(self.cfg.renew_before_secs)
    }

    /// Drops holds whose alert cleared or whose silence someone else expired, then extends the
    /// silences that are about to run out.
    async fn renew(&mut self, snap: &Snapshot, now: DateTime<Utc>) -> Result<(), BackendError> {
        let firing: HashSet<&str> = snap.alerts.iter().map(|a| a.fingerprint.as_str()).collect();
        self.held.retain(|fp, h| {
            firing.contains(fp.as_str())
                && snap.silence(&h.silence_id).is_some_and(|s| s.is_active())
        });
        let due: Vec<(String, GettableSilence)> = self
            .held
            .iter()
            .filter_map(|(fp, h)| Some((fp.clone(), snap.silence(&h.silence_id)?.clone())))
            .filter(|(_, s)| s.ends_at - now <= self.renew_before())
            .collect();
        for (fp, sil) in due {
            let id = self
                .repost(&sil, now + self.silence_span(), &sil.comment)
                .await
                .map_err(|e| context(e, &format!("renewing silence {}", sil.id)))?;
            // Recorded right away: a timeout later in this poll must not lose the new id.
            if let Some(h) = self.held.get_mut(&fp) {
                h.silence_id = id;
            }
        }
        Ok(())
    }

    fn fingerprint<'a>(&self, id: &'a str) -> Result<&'a str, BackendError> {
        id.strip_prefix(&self.cfg.name)
            .and_then(|rest| rest.strip_prefix(':'))
            .ok_or_else(|| BackendError::Rejected(format!("{id} is not from {}", self.cfg.name)))
    }

    /// The active silence suppressing `alert`: the one this adapter holds if any, else the first.
    fn silencing<'s>(
        &self,
        alert: &GettableAlert,
        snap: &'s Snapshot,
    ) -> Option<&'s GettableSilence> {
        let held = self
            .held
            .get(&alert.fingerprint)
            .map(|h| h.silence_id.as_str());
        let mut active = alert
            .status
            .silenced_by
            .iter()
            .filter_map(|id| snap.silence(id))
            .filter(|s| s.is_active());
        let first = active.clone().next();
        active.find(|s| Some(s.id.as_str()) == held).or(first)
    }

    /// The silence this adapter may act on for `alert`: the one it holds, or (after a restart of
    /// the cockpit) an acknowledgement silence `author` made from the cockpit, which it adopts.
    fn own_silence<'s>(
        &mut self,
        alert: &GettableAlert,
        snap: &'s Snapshot,
        author: &str,
    ) -> Option<&'s GettableSilence> {
        let sil = self.silencing(alert, snap)?;
        if self.holds(alert, sil) {
            return Some(sil);
        }
        self.adopt(alert, sil, author).then_some(sil)
    }

    fn holds(&self, alert: &GettableAlert, sil: &GettableSilence) -> bool {
        self.held
            .get(&alert.fingerprint)
            .is_some_and(|h| h.silence_id == sil.id)
    }

    /// Takes over renewing `sil` if `author` made it from a cockpit: the previous session's hold
    /// died with it, and without renewal the acknowledgement would lapse.
    fn adopt(&mut self, alert: &GettableAlert, sil: &GettableSilence, author: &str) -> bool {
        let adoptable = sil.created_by == author && sil.comment.starts_with(ACK_COMMENT);
        if adoptable {
            let held = Held {
                silence_id: sil.id.clone(),
                acked_at: sil.starts_at,
            };
            self.held.insert(alert.fingerprint.clone(), held);
        }
        adoptable
    }

    async fn ack(
        &mut self,
        fp: &str,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<String, BackendError> {
        let snap = self.snapshot().await?;
        let alert = find_alert(&snap, fp)?;
        if let Some(sil) = self.silencing(alert, &snap) {
            if !self.holds(alert, sil) && self.adopt(alert, sil, author) {
                return Ok(format!(
                    "already acknowledged by {author}; the cockpit renews that silence again"
                ));
            }
            return Err(BackendError::Rejected(format!(
                "already acknowledged by {}",
                SafeText::new(&sil.created_by)
            )));
        }
        let matchers = exact_matchers(&alert.labels);
        let id = self
            .post_silence(&PostableSilence {
                id: None,
                matchers: &matchers,
                starts_at: now,
                ends_at: now + self.silence_span(),
                created_by: author,
                comment: ACK_COMMENT,
            })
            .await?;
        self.held.insert(
            fp.to_string(),
            Held {
                silence_id: id,
                acked_at: now,
            },
        );
        Ok(format!(
            "acknowledged by {author}: silenced while it fires, renewed by the cockpit"
        ))
    }

    async fn resolve(&mut self, fp: &str, author: &str) -> Result<String, BackendError> {
        if !self.held.contains_key(fp) {
            // Maybe acknowledged before a restart: adopt it if it is this author's.
            let snap = self.snapshot().await?;
            let alert = find_alert(&snap, fp)?;
            if self.own_silence(alert, &snap, author).is_none() {
                return Err(BackendError::Rejected(
                    "no acknowledgement silence from the cockpit to expire; Alertmanager \
                     resolves the alert itself when its condition clears"
                        .into(),
                ));
            }
        }
        let Some(held) = self.held.get(fp).cloned() else {
            return Err(BackendError::Rejected("no silence to expire".into()));
        };
        self.expire(&held.silence_id).await?;
        self.held.remove(fp);
        Ok(format!(
            "silence expired by {author}: the alert notifies again until its condition clears"
        ))
    }

    async fn note(
        &mut self,
        fp: &str,
        text: &str,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<String, BackendError> {
        let snap = self.snapshot().await?;
        let alert = find_alert(&snap, fp)?;
        let Some(sil) = self.own_silence(alert, &snap, author) else {
            return Err(BackendError::Rejected(NOTE_NEEDS_ACK.into()));
        };
        let comment = format!("{}\n{}", sil.comment, note_line(now, author, text));
        let id = self.repost(sil, sil.ends_at, &comment).await?;
        if let Some(h) = self.held.get_mut(fp) {
            h.silence_id = id;
        }
        Ok(format!("note by {author} added to the silence"))
    }

    fn incidents(&self, snap: &Snapshot) -> Vec<Incident> {
        snap.alerts.iter().map(|a| self.incident(a, snap)).collect()
    }

    /// The incidents `list` shows for these `/api/v2/alerts` and `/api/v2/silences` bodies:
    /// the same decoding and mapping without the network (and without renewing anything), so
    /// fuzzing and the regression tests drive the production path.
    pub fn decode_incidents(
        &self,
        alerts: &[u8],
        silences: &[u8],
    ) -> Result<Vec<Incident>, BackendError> {
        let snap = Snapshot {
            alerts: http::decode_json(alerts)?,
            silences: http::decode_json(silences)?,
        };
        Ok(self.incidents(&snap))
    }

    fn incident(&self, alert: &GettableAlert, snap: &Snapshot) -> Incident {
        let raw_sev = alert.labels.get(&self.cfg.severity_label);
        // No severity label: by Prometheus convention such alerts are warnings, and SEV3's four
        // hours keep them visible without claiming a page-worthy emergency.
        let sev = raw_sev.and_then(|s| parse_sev(s)).unwrap_or(Sev::Sev3);
        let silence = self.silencing(alert, snap);
        let held = self.held.get(&alert.fingerprint);
        let acked_at = silence.map(|s| match held {
            Some(h) if h.silence_id == s.id => h.acked_at,
            _ => s.starts_at,
        });
        let mut evidence = evidence(alert);
        if let Some(raw) = raw_sev.filter(|s| parse_sev(s).is_none()) {
            evidence.push(SafeText::new(&format!(
                "{} \"{raw}\" not recognised; treated as SEV3",
                self.cfg.severity_label
            )));
        }
        Incident {
            id: format!("{}:{}", self.cfg.name, alert.fingerprint),
            source: self.cfg.name.clone(),
            kind: self.kind(alert),
            feature: SafeText::new(self.feature(alert)),
            sev,
            title: SafeText::new(
                alert
                    .annotations
                    .get("summary")
                    .map(String::as_str)
                    .unwrap_or(alertname(alert)),
            ),
            status: match silence {
                Some(_) => Status::Acknowledged,
                None => Status::Triggered,
            },
            triggered_at: alert.starts_at,
            // A start near the end of time must not overflow (chrono panics on that).
            respond_by: alert
                .starts_at
                .checked_add_signed(sev.response_time())
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            acked_by: silence.map(|s| SafeText::new(&s.created_by)),
            acked_at,
            escalation_level: 0,
            // Alertmanager lists only alerts that have not resolved.
            firing: true,
            evidence,
            timeline: timeline(alert, silence.zip(acked_at)),
            on_call: None,
            last_status_update: None,
            snoozed_until: None,
            assignees: Vec::new(),
        }
    }

    fn kind(&self, alert: &GettableAlert) -> IncidentType {
        let key = &self.cfg.type_label;
        alert
            .labels
            .get(key)
            .or_else(|| alert.annotations.get(key))
            .map(|s| parse_type(s))
            .unwrap_or(IncidentType::Other)
    }

    fn feature<'a>(&self, alert: &'a GettableAlert) -> &'a str {
        [self.cfg.feature_label.as_str(), "job", "service"]
            .iter()
            .find_map(|k| alert.labels.get(*k))
            .map(String::as_str)
            .unwrap_or(alertname(alert))
    }
}

impl IncidentSource for Alertmanager {
    fn unsupported(&self, op: &IncidentOp) -> Option<String> {
        match op {
            IncidentOp::Escalate => Some(NO_ESCALATION.into()),
            IncidentOp::RequestResponders { .. } => Some(NO_RESPONDERS.into()),
            IncidentOp::Merge(_) => Some(NO_MERGE.into()),
            IncidentOp::Snooze(_) => Some(NO_SNOOZE.into()),
            IncidentOp::Reassign { .. } => Some(NO_REASSIGN.into()),
            _ => None,
        }
    }

    async fn list(&mut self, now: DateTime<Utc>) -> Result<Vec<Incident>, BackendError> {
        let snap = self.snapshot().await?;
        self.renew(&snap, now).await?;
        Ok(self.incidents(&snap))
    }

    async fn apply(
        &mut self,
        id: &IncidentId,
        op: &IncidentOp,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<String, BackendError> {
        let fp = self.fingerprint(id)?;
        match op {
            IncidentOp::Ack => self.ack(fp, author, now).await,
            IncidentOp::Resolve => self.resolve(fp, author).await,
            IncidentOp::Note(text) => self.note(fp, text, author, now).await,
            // Alertmanager keeps no timeline of its own: both go where notes go, the comment
            // of the silence that acknowledges the alert.
            IncidentOp::StatusUpdate(text) => {
                self.note(fp, &format!("status update: {text}"), author, now)
                    .await
            }
            IncidentOp::Role { role, name } => {
                self.note(fp, &format!("role {role}: {name}"), author, now)
                    .await
            }
            IncidentOp::Escalate => Err(BackendError::Rejected(NO_ESCALATION.into())),
            IncidentOp::RequestResponders { .. } => {
                Err(BackendError::Rejected(NO_RESPONDERS.into()))
            }
            IncidentOp::Merge(_) => Err(BackendError::Rejected(NO_MERGE.into())),
            IncidentOp::Snooze(_) => Err(BackendError::Rejected(NO_SNOOZE.into())),
            IncidentOp::Reassign { .. } => Err(BackendError::Rejected(NO_REASSIGN.into())),
        }
    }
}

fn find_alert<'s>(snap: &'s Snapshot, fp: &str) -> Result<&'s GettableAlert, BackendError> {
    snap.alert(fp).ok_or_else(|| {
        BackendError::Rejected(format!(
            "alert {fp} is no longer in Alertmanager (it has cleared)"
        ))
    })
}

/// Says which call failed without hiding what kind of failure it was.
fn context(e: BackendError, what: &str) -> BackendError {
    match e {
        BackendError::Http { status, message } => BackendError::Http {
            status,
            message: format!("{what}: {message}"),
        },
        BackendError::Malformed(m) => BackendError::Malformed(format!("{what}: {m}")),
        BackendError::Rejected(m) => BackendError::Rejected(format!("{what}: {m}")),
        other => other,
    }
}

/// At most a year: a longer silence is a typo in the config, and the cap keeps `now + span`
/// from overflowing (chrono panics on that).
fn capped_secs(secs: u64) -> Span {
    let year = Span::days(365);
    i64::try_from(secs)
        .ok()
        .and_then(Span::try_seconds)
        .map_or(year, |s| s.min(year))
}
