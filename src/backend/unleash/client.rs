//! The Unleash HTTP client: reads the flags of each feature and carries out rollbacks,
//! kill-switch plans and lever settings, one write at a time.

use super::changes::{self, CHANGE_EVENTS, CHANGE_REFRESH};
use super::config::UnleashConfig;
use super::kill::{plan_kill, scope_label, KillView, Step};
use super::lever::{lever_history, plan_set, LeverView, Target};
use super::naming::{url_safe, Naming};
use super::prompt::{
    prompt_history, prompt_strategy, rolled_back, served, served_history, variant_weights,
};
use super::wire::{
    decode_context_field, decode_error, decode_events, decode_flag, decode_flag_list,
    decode_strategy, strategy_body, Event, FlagEnvironment, FlagSummary,
};
use crate::backend::http::{self, ReplyCap};
use crate::backend::{BackendError, FeatureFlags, FlagControl, FlagOp};
use crate::config::secret::Secret;
use crate::domain::change::ChangeLog;
use crate::domain::lever::{Lever, LeverSetting};
use chrono::{DateTime, Utc};
use reqwest::{Method, RequestBuilder};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Strategy events read per prompt flag to rebuild its history: enough for months of
/// rollbacks; an older deploy outside the window only means no last-known-good.
const EVENT_LIMIT: u32 = 200;
const STRATEGY_EVENTS: &str = "IS_ANY_OF:feature-strategy-add,feature-strategy-update";

/// What the event log said for a prompt strategy whose variants looked like `key`.
struct History {
    key: String,
    last_known_good: Option<String>,
    changed_at: Option<DateTime<Utc>>,
}

/// What the event log said for a lever's feature strategy whose variants looked like `key`:
/// the setting before, when it changed and who changed it.
struct LeverHistory {
    key: (String, String),
    previous: Option<String>,
    changed_at: Option<DateTime<Utc>>,
    changed_by: Option<String>,
}

/// A feature-wide lever setting the cockpit made, with the strategy as it left it: who pulled
/// it (Unleash logs only the API token's user), and what the log cannot show (the setting
/// before a strategy the cockpit created, the time where the log is not read).
struct Recorded {
    key: (String, String),
    previous: Option<String>,
    at: DateTime<Utc>,
    by: String,
}

/// The flag names of one cockpit feature.
#[derive(Default)]
struct FeatureFlagNames {
    prompt: Option<String>,
    kill: Option<String>,
    levers: Vec<(Lever, String)>,
}

pub struct Unleash {
    name: String,
    /// `<url>/api/admin`.
    admin: String,
    token: Secret,
    project: String,
    environment: String,
    prompt: Naming,
    kill: Naming,
    /// Each settable lever's toggle name, in `Lever::SETTABLE` order.
    levers: Vec<(Lever, Naming)>,
    segment_field: String,
    timeout: Duration,
    cap: ReplyCap,
    client: http::Client,
    /// Per prompt flag; the log is read again only when the served variants change.
    history: HashMap<String, History>,
    /// Per lever toggle, the same.
    lever_history: HashMap<String, LeverHistory>,
    /// Per lever toggle, the cockpit's last feature-wide setting of it.
    recorded: HashMap<String, Recorded>,
    /// The project's flag flips for the change timeline, and when they were last read (`None`
    /// after our own write, so the next read shows it).
    changes: ChangeLog,
    changes_read: Option<Instant>,
}

impl std::fmt::Debug for Unleash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unleash")
            .field("name", &self.name)
            .field("admin", &self.admin)
            .field("token", &self.token)
            .field("project", &self.project)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

impl Unleash {
    /// Loads the token and checks the config; errors name what to fix.
    /// What `new` refuses in the config itself, without reading the token.
    pub fn check(cfg: &UnleashConfig) -> Result<(), String> {
        Self::parts(cfg).map(drop)
    }

    /// The flag names and base URL, checked.
    #[allow(clippy::type_complexity)]
    fn parts(
        cfg: &UnleashConfig,
    ) -> Result<(Naming, Naming, Vec<(Lever, Naming)>, String, Duration), String> {
        cfg.token.check().map_err(|e| format!("token: {e}"))?;
        let timeout = cfg.timeout_secs.duration();
        let base = cfg.url.trim_end_matches('/').to_string();
        http::check_url(&base)?;
        for (key, value) in [("project", &cfg.project), ("environment", &cfg.environment)] {
            if !url_safe(value) {
                return Err(format!("{key} {value:?} is not an Unleash name"));
            }
        }
        let prompt = Naming::parse(&cfg.prompt_flag, "prompt_flag")?;
        let kill = Naming::parse(&cfg.kill_flag, "kill_flag")?;
        if prompt == kill {
            return Err("prompt_flag and kill_flag must differ".into());
        }
        let mut levers = Vec::new();
        let mut keys = vec![
            ("prompt_flag".to_string(), &prompt),
            ("kill_flag".into(), &kill),
        ];
        let parsed: Vec<(Lever, String, Naming)> = Lever::SETTABLE
            .into_iter()
            .filter_map(|l| Some((l, format!("{}_flag", l.key()), cfg.lever_flag(l)?)))
            .map(|(l, key, template)| Naming::parse(template, &key).map(|n| (l, key, n)))
            .collect::<Result<_, _>>()?;
        for (lever, key, naming) in &parsed {
            if let Some((other, _)) = keys.iter().find(|(_, n)| *n == naming) {
                return Err(format!("{key} and {other} must differ"));
            }
            keys.push((key.clone(), naming));
            levers.push((*lever, naming.clone()));
        }
        if !url_safe(&cfg.segment_field) {
            return Err(format!(
                "segment_field {:?} is not an Unleash context field name",
                cfg.segment_field
            ));
        }
        Ok((prompt, kill, levers, base, timeout))
    }

    pub fn new(cfg: &UnleashConfig) -> Result<Self, String> {
        let name = &cfg.name;
        let (prompt, kill, levers, base, timeout) =
            Self::parts(cfg).map_err(|e| format!("{name}: {e}"))?;
        let token = cfg
            .token
            .load()
            .map_err(|e| format!("{name}: token: {e}"))?;
        Ok(Unleash {
            name: name.clone(),
            admin: format!("{base}/api/admin"),
            token,
            project: cfg.project.clone(),
            environment: cfg.environment.clone(),
            prompt,
            kill,
            levers,
            segment_field: cfg.segment_field.clone(),
            timeout,
            cap: ReplyCap::mib(cfg.max_reply_mib),
            client: http::Client::new(timeout, cfg.tls.as_ref(), &cfg.url)
                .map_err(|e| format!("{name}: {e}"))?,
            history: HashMap::new(),
            lever_history: HashMap::new(),
            recorded: HashMap::new(),
            changes: ChangeLog::default(),
            changes_read: None,
        })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.admin))
            .header("Authorization", self.token.expose())
            .header("Accept", "application/json")
    }

    fn flag_path(&self, flag: &str) -> String {
        format!("/projects/{}/features/{flag}", self.project)
    }

    /// Sends and returns the body of a 2xx, or the status and Unleash's message with `what`
    /// was being done, so a failure says where it happened.
    async fn call(&self, req: RequestBuilder, what: &str) -> Result<(u16, Vec<u8>), BackendError> {
        let resp = req
            .send()
            .await
            .map_err(|e| http::transport_error(e, self.timeout))?;
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            let body = http::read_body(resp, self.cap, self.timeout).await?;
            return Ok((status, body));
        }
        let body = http::read_error_body(resp).await;
        let detail = decode_error(&body);
        let message = match status {
            401 => format!("{what}: Unleash refused the API token (expired or revoked?): {detail}"),
            403 => format!(
                "{what}: the API token may not do this (an admin token is needed): {detail}"
            ),
            _ => format!("{what}: {detail}"),
        };
        Err(BackendError::Http { status, message })
    }

    async fn get(&self, path: &str, what: &str) -> Result<Vec<u8>, BackendError> {
        self.call(self.request(Method::GET, path), what)
            .await
            .map(|(_, b)| b)
    }

    /// Writes: a refusal of the request itself (bad data, conflict, missing flag) is
    /// `Rejected` with Unleash's reason; auth and server failures stay `Http`.
    async fn write(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Vec<u8>, BackendError> {
        let mut req = self.request(method, path);
        if let Some(b) = body {
            req = req.json(b);
        }
        match self.call(req, what).await {
            Ok((_, b)) => Ok(b),
            Err(BackendError::Http {
                status: 400 | 404 | 409,
                message,
            }) => Err(BackendError::Rejected(format!(
                "Unleash refused to {message}"
            ))),
            Err(e) => Err(e),
        }
    }

    async fn list_flags(&self) -> Result<Vec<FlagSummary>, BackendError> {
        let what = format!("list flags of project {}", self.project);
        let body = self
            .get(&format!("/projects/{}/features", self.project), &what)
            .await?;
        decode_flag_list(&body)
    }

    /// The flag's configured environment; `kind` names the flag for a missing-flag message.
    async fn flag_env(&self, flag: &str, kind: &str) -> Result<FlagEnvironment, BackendError> {
        let what = format!("read flag {flag}");
        let body = match self.get(&self.flag_path(flag), &what).await {
            Err(BackendError::Http { status: 404, .. }) => {
                return Err(BackendError::Rejected(format!(
                    "no {kind} flag {flag} in Unleash project {}",
                    self.project
                )))
            }
            other => other?,
        };
        let detail = decode_flag(&body)?;
        detail
            .environments
            .into_iter()
            .find(|e| e.name == self.environment)
            .ok_or_else(|| {
                BackendError::Rejected(format!(
                    "flag {flag} has no environment {} in Unleash project {} (check `environment`)",
                    self.environment, self.project
                ))
            })
    }

    /// Legal values of the segment context field; none when the field is not defined.
    async fn legal_segments(&self) -> Result<Vec<String>, BackendError> {
        let what = format!("read context field {}", self.segment_field);
        let path = format!("/context/{}", self.segment_field);
        match self.get(&path, &what).await {
            Ok(body) => decode_context_field(&body),
            Err(BackendError::Http { status: 404, .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    async fn events(&self, flag: &str) -> Result<Vec<Event>, BackendError> {
        let req = self.request(Method::GET, "/search/events").query(&[
            ("feature", format!("IS:{flag}")),
            ("environment", format!("IS:{}", self.environment)),
            ("type", STRATEGY_EVENTS.to_string()),
            ("limit", EVENT_LIMIT.to_string()),
        ]);
        let (_, body) = self
            .call(req, &format!("read the event log of {flag}"))
            .await?;
        decode_events(&body)
    }

    /// The project's newest events as flips of the cockpit's features, every
    /// `CHANGE_REFRESH`. A failure keeps the last good read and says why; the levers
    /// themselves were read and stand.
    async fn refresh_changes(&mut self, now: DateTime<Utc>) {
        if self
            .changes_read
            .is_some_and(|t| t.elapsed() < CHANGE_REFRESH)
        {
            return;
        }
        let req = self.request(Method::GET, "/search/events").query(&[
            ("project", format!("IS:{}", self.project)),
            ("limit", CHANGE_EVENTS.to_string()),
        ]);
        let what = format!("read the event log of project {}", self.project);
        let read = match self.call(req, &what).await {
            Ok((_, body)) => super::wire::decode_events(&body),
            Err(e) => Err(e),
        };
        match read {
            Ok(page) => {
                let flags = changes::Flags {
                    prompt: &self.prompt,
                    kill: &self.kill,
                    levers: &self.levers,
                    environment: &self.environment,
                };
                let entries = page
                    .iter()
                    .filter_map(|ev| changes::change_of(ev, &flags, &self.name))
                    .collect();
                self.changes = ChangeLog {
                    entries: ChangeLog::bounded(entries),
                    read_at: Some(now),
                    error: None,
                };
                self.changes_read = Some(Instant::now());
            }
            Err(e) => {
                tracing::debug!(source = %self.name, error = %e, "event log not read");
                self.changes.error = Some(e.to_string());
            }
        }
    }

    async fn read_prompt(&mut self, flag: &str, ff: &mut FeatureFlags) -> Result<(), BackendError> {
        let env = self.flag_env(flag, "prompt").await?;
        let Some(st) = prompt_strategy(&env) else {
            return Ok(());
        };
        ff.prompt_versions = variant_weights(&st.variants)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        ff.current_prompt = served(&st.variants);
        let key = format!("{}:{:?}", st.id, variant_weights(&st.variants));
        let cached = self.history.get(flag).filter(|h| h.key == key);
        let (lkg, changed_at) = match cached {
            Some(h) => (h.last_known_good.clone(), h.changed_at),
            None => match self.events(flag).await {
                Ok(events) => {
                    let (lkg, at) = prompt_history(
                        &events,
                        &st.id,
                        &self.environment,
                        ff.current_prompt.as_deref(),
                    );
                    self.history.insert(
                        flag.to_string(),
                        History {
                            key,
                            last_known_good: lkg.clone(),
                            changed_at: at,
                        },
                    );
                    (lkg, at)
                }
                // The levers themselves were read; only their history is missing.
                Err(e) => {
                    tracing::debug!(source = %self.name, flag, error = %e, "event log not read");
                    (None, None)
                }
            },
        };
        ff.last_known_good = lkg;
        ff.prompt_changed_at = changed_at;
        Ok(())
    }

    async fn rollback(&mut self, feature: &str, to: &str) -> Result<String, BackendError> {
        let flag = self.checked_flag(&self.prompt, feature)?;
        let env = self.flag_env(&flag, "prompt").await?;
        let envn = &self.environment;
        let Some(st) = prompt_strategy(&env) else {
            return Err(BackendError::Rejected(format!(
                "{flag} has no enabled strategy with variants in {envn}"
            )));
        };
        let versions: Vec<String> = variant_weights(&st.variants)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        if !versions.iter().any(|v| v == to) {
            return Err(BackendError::Rejected(format!(
                "{feature} has no prompt version {to} (variants of {flag} in {envn}: {})",
                versions.join(", ")
            )));
        }
        let from = served(&st.variants);
        if from.as_deref() == Some(to) {
            return Err(BackendError::Rejected(format!(
                "{feature} already runs prompt {to}"
            )));
        }
        let mut updated = st.clone();
        updated.variants = rolled_back(&st.variants, to);
        let path = format!(
            "{}/environments/{envn}/strategies/{}",
            self.flag_path(&flag),
            st.id
        );
        let what = format!("update the variants of {flag} in {envn}");
        let body = self
            .write(Method::PUT, &path, Some(&strategy_body(&updated)), &what)
            .await?;
        let echoed = decode_strategy(&body)?;
        if served(&echoed.variants).as_deref() != Some(to) {
            return Err(BackendError::Malformed(format!(
                "Unleash accepted the rollback of {flag} but does not serve {to}"
            )));
        }
        let from = from.unwrap_or_else(|| "a split".into());
        let mut msg =
            format!("{feature} prompt rolled back {from} → {to} (Unleash {flag}, {envn})");
        if !env.enabled {
            msg.push_str(&format!(
                "; {flag} is off in {envn}, so no traffic gets a variant until it is on"
            ));
        }
        Ok(msg)
    }

    async fn kill_switch(
        &mut self,
        feature: &str,
        segment: Option<&str>,
        engage: bool,
    ) -> Result<String, BackendError> {
        let flag = self.checked_flag(&self.kill, feature)?;
        if let Some(s) = segment {
            check_segment_name(s)?;
        }
        let env = self.flag_env(&flag, "kill-switch").await?;
        if let (Some(s), true) = (segment, engage) {
            self.check_legal_segment(feature, s).await?;
        }
        let steps = plan_kill(&flag, &env, &self.segment_field, feature, segment, engage)
            .map_err(BackendError::Rejected)?;
        self.run_steps(&flag, &steps).await?;
        let envn = &self.environment;
        let verb = if engage { "engaged" } else { "released" };
        Ok(format!(
            "kill switch {verb} for {} (Unleash {flag}, {envn})",
            scope_label(feature, segment)
        ))
    }

    /// A segment the cockpit names must be one of the segment field's legal values, when the
    /// field has any.
    async fn check_legal_segment(&self, feature: &str, s: &str) -> Result<(), BackendError> {
        let legal = self.legal_segments().await?;
        if !legal.is_empty() && !legal.iter().any(|l| l == s) {
            return Err(BackendError::Rejected(format!(
                "{feature} has no user segment {s} (legal values of context field {}: {})",
                self.segment_field,
                legal.join(", ")
            )));
        }
        Ok(())
    }

    /// Carries out a plan one write at a time; a failure says which writes went through.
    async fn run_steps(&self, flag: &str, steps: &[Step]) -> Result<(), BackendError> {
        let envn = &self.environment;
        let base = format!("{}/environments/{envn}", self.flag_path(flag));
        let mut done: Vec<String> = Vec::new();
        for step in steps {
            let what = step.describe(flag, envn);
            let r = match step {
                Step::Update(st, _) => {
                    let path = format!("{base}/strategies/{}", st.id);
                    self.write(Method::PUT, &path, Some(&strategy_body(st)), &what)
                        .await
                }
                Step::Create(body, _) => {
                    self.write(
                        Method::POST,
                        &format!("{base}/strategies"),
                        Some(body),
                        &what,
                    )
                    .await
                }
                Step::Delete(id, _) => {
                    let path = format!("{base}/strategies/{id}");
                    self.write(Method::DELETE, &path, None, &what).await
                }
                Step::EnvOn => {
                    self.write(Method::POST, &format!("{base}/on"), None, &what)
                        .await
                }
                Step::EnvOff => {
                    self.write(Method::POST, &format!("{base}/off"), None, &what)
                        .await
                }
            };
            if let Err(e) = r {
                return Err(partly(e, &done));
            }
            done.push(what);
        }
        Ok(())
    }

    /// A lever toggle as the cockpit shows it, its history from the event log (read again only
    /// when the feature's strategy changed) or, for what the log cannot say, the cockpit's
    /// own record of its last setting.
    async fn read_lever(
        &mut self,
        lever: Lever,
        flag: &str,
    ) -> Result<Option<LeverSetting>, BackendError> {
        let env = self.flag_env(flag, lever.short()).await?;
        let view = LeverView::new(&env, &self.segment_field);
        let Some(mut setting) = view.setting(lever, flag) else {
            return Ok(None);
        };
        let Some(key) = view.feature_key() else {
            return Ok(Some(setting));
        };
        let cached = self.lever_history.get(flag).filter(|h| h.key == key);
        let (previous, changed_at, changed_by) = match cached {
            Some(h) => (h.previous.clone(), h.changed_at, h.changed_by.clone()),
            None => match self.events(flag).await {
                Ok(events) => {
                    let seq = served_history(&events, &key.0, &self.environment);
                    let (previous, at, by) = lever_history(&seq, &setting.current);
                    self.lever_history.insert(
                        flag.to_string(),
                        LeverHistory {
                            key: key.clone(),
                            previous: previous.clone(),
                            changed_at: at,
                            changed_by: by.clone(),
                        },
                    );
                    (previous, at, by)
                }
                // The lever itself was read; only its history is missing.
                Err(e) => {
                    tracing::debug!(source = %self.name, flag, error = %e, "event log not read");
                    (None, None, None)
                }
            },
        };
        setting.previous = previous;
        setting.changed_at = changed_at;
        setting.changed_by = changed_by;
        if let Some(r) = self.recorded.get(flag).filter(|r| r.key == key) {
            setting.changed_by = Some(r.by.clone());
            setting.previous = setting.previous.take().or_else(|| r.previous.clone());
            setting.changed_at = setting.changed_at.or(Some(r.at));
        }
        Ok(Some(setting))
    }

    #[allow(clippy::too_many_arguments)]
    async fn set_lever(
        &mut self,
        feature: &str,
        lever: Lever,
        segment: Option<&str>,
        variant: &str,
        undo: bool,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<String, BackendError> {
        let Some(naming) = self
            .levers
            .iter()
            .find(|(l, _)| *l == lever)
            .map(|(_, n)| n.clone())
        else {
            return Err(BackendError::Rejected(format!(
                "{} carries no {} lever",
                self.name,
                lever.short()
            )));
        };
        let flag = self.checked_flag(&naming, feature)?;
        if let Some(s) = segment {
            check_segment_name(s)?;
        }
        let env = self.flag_env(&flag, lever.short()).await?;
        let target = Target {
            flag: &flag,
            field: &self.segment_field,
            feature,
            lever,
            segment,
            variant,
        };
        let steps = plan_set(&env, &target).map_err(BackendError::Rejected)?;
        // Only a new rule names a segment; an old one may be moved or removed as it is.
        if let (Some(s), true) = (segment, steps.iter().any(|s| matches!(s, Step::Create(..)))) {
            self.check_legal_segment(feature, s).await?;
        }
        let before = LeverView::new(&env, &self.segment_field).current();
        self.run_steps(&flag, &steps).await?;
        // Read back: what Unleash now serves is the proof, strategy order included.
        let envn = self.environment.clone();
        let after = self.flag_env(&flag, lever.short()).await?;
        let view = LeverView::new(&after, &self.segment_field);
        let serves = view
            .setting(lever, &flag)
            .map(|s| s.served_to(segment).to_string());
        if serves.as_deref() != Some(variant) {
            let done: Vec<String> = steps.iter().map(|s| s.describe(&flag, &envn)).collect();
            return Err(partly(
                BackendError::Malformed(format!(
                    "Unleash accepted the writes to {flag} but serves {} {}",
                    target_scope(feature, segment),
                    serves.as_deref().unwrap_or("no variant")
                )),
                &done,
            ));
        }
        if segment.is_none() {
            if let Some(key) = view.feature_key() {
                self.recorded.insert(
                    flag.clone(),
                    Recorded {
                        key,
                        previous: before,
                        at: now,
                        by: author.to_string(),
                    },
                );
            }
        }
        let verb = if undo { "reverted" } else { "set" };
        let mut msg = format!(
            "{} {} {verb} to {variant} (Unleash {flag}, {envn})",
            target_scope(feature, segment),
            lever.short()
        );
        if steps.contains(&Step::EnvOn) {
            msg.push_str(&format!("; switched {flag} on in {envn}"));
        }
        Ok(msg)
    }

    fn checked_flag(&self, naming: &Naming, feature: &str) -> Result<String, BackendError> {
        let flag = naming.flag(feature);
        if url_safe(&flag) {
            Ok(flag)
        } else {
            Err(BackendError::Rejected(format!(
                "{flag:?} is not an Unleash flag name (letters, digits, - _ . ~ only)"
            )))
        }
    }
}

fn check_segment_name(s: &str) -> Result<(), BackendError> {
    if s.trim().is_empty() || s.chars().any(char::is_control) {
        return Err(BackendError::Rejected(format!(
            "{s:?} is not a segment name"
        )));
    }
    Ok(())
}

fn target_scope(feature: &str, segment: Option<&str>) -> String {
    match segment {
        Some(s) => format!("{feature} segment {s}"),
        None => feature.to_string(),
    }
}

/// A failure after some writes went through says which, so the responder knows the state.
fn partly(e: BackendError, done: &[String]) -> BackendError {
    if done.is_empty() {
        return e;
    }
    let already = format!(" (already done: {})", done.join("; "));
    match e {
        BackendError::Http { status, message } => BackendError::Http {
            status,
            message: format!("{message}{already}"),
        },
        BackendError::Rejected(m) => BackendError::Rejected(format!("{m}{already}")),
        BackendError::Malformed(m) => BackendError::Malformed(format!("{m}{already}")),
        BackendError::Unreachable(m) => BackendError::Unreachable(format!("{m}{already}")),
        BackendError::Timeout(_) => e,
        // Display says it all; the type only matters for the size, which is in the text.
        BackendError::TooLarge { .. } => BackendError::Rejected(format!("{e}{already}")),
    }
}

impl FlagControl for Unleash {
    fn changes(&self) -> Option<ChangeLog> {
        Some(self.changes.clone())
    }

    async fn read(&mut self, now: DateTime<Utc>) -> Result<Vec<FeatureFlags>, BackendError> {
        let mut by_feature: BTreeMap<String, FeatureFlagNames> = BTreeMap::new();
        for f in self.list_flags().await?.into_iter().filter(|f| !f.archived) {
            if let Some(feature) = self.prompt.feature(&f.name) {
                by_feature.entry(feature.to_string()).or_default().prompt = Some(f.name.clone());
            } else if let Some(feature) = self.kill.feature(&f.name) {
                by_feature.entry(feature.to_string()).or_default().kill = Some(f.name.clone());
            } else if let Some((lever, feature)) = self
                .levers
                .iter()
                .find_map(|(l, n)| Some((*l, n.feature(&f.name)?)))
            {
                let names = by_feature.entry(feature.to_string()).or_default();
                names.levers.push((lever, f.name.clone()));
            }
        }
        let legal = if by_feature.values().any(|n| n.kill.is_some()) {
            self.legal_segments().await?
        } else {
            Vec::new()
        };
        let mut out = Vec::new();
        for (feature, names) in by_feature {
            let FeatureFlagNames {
                prompt,
                kill,
                mut levers,
            } = names;
            let mut ff = FeatureFlags {
                feature,
                ..FeatureFlags::default()
            };
            if let Some(flag) = prompt {
                self.read_prompt(&flag, &mut ff).await?;
            }
            if let Some(flag) = kill {
                let env = self.flag_env(&flag, "kill-switch").await?;
                let view = KillView::new(&env, &self.segment_field);
                ff.killed = view.killed();
                ff.segments = legal.clone();
                for s in view.segments() {
                    if !ff.segments.contains(&s) {
                        ff.segments.push(s);
                    }
                }
            }
            levers.sort_by_key(|(l, _)| Lever::SETTABLE.iter().position(|s| s == l));
            for (lever, flag) in &levers {
                if let Some(setting) = self.read_lever(*lever, flag).await? {
                    ff.levers.push(setting);
                }
            }
            out.push(ff);
        }
        let live: Vec<String> = out.iter().map(|f| self.prompt.flag(&f.feature)).collect();
        self.history.retain(|flag, _| live.contains(flag));
        let toggles: Vec<String> = out
            .iter()
            .flat_map(|f| f.levers.iter().map(|l| l.flag.clone()))
            .collect();
        self.lever_history.retain(|flag, _| toggles.contains(flag));
        self.recorded.retain(|flag, _| toggles.contains(flag));
        self.refresh_changes(now).await;
        Ok(out)
    }

    async fn apply(
        &mut self,
        op: &FlagOp,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<String, BackendError> {
        // Whatever the write did, the next read shows it on the timeline.
        self.changes_read = None;
        match op {
            FlagOp::Rollback {
                feature,
                to_version,
            } => self.rollback(feature, to_version).await,
            FlagOp::KillSwitch {
                feature,
                segment,
                engage,
            } => self.kill_switch(feature, segment.as_deref(), *engage).await,
            FlagOp::SetLever {
                feature,
                lever,
                segment,
                variant,
                undo,
            } => {
                self.set_lever(
                    feature,
                    *lever,
                    segment.as_deref(),
                    variant,
                    *undo,
                    author,
                    now,
                )
                .await
            }
        }
    }
}
