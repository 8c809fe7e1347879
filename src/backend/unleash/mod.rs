//! Unleash 7 admin API flag adapter (`Authorization: <admin token>`).
//!
//! Per cockpit feature F, two flags in the configured project (names from `prompt_flag` and
//! `kill_flag`, `{feature}` standing for F):
//! - the prompt flag: its first enabled strategy with variants in the configured environment
//!   has one variant per prompt version; the version served is the variant that gets the
//!   traffic. A rollback rewrites that strategy's variants so the chosen one is the only
//!   `variable` variant (all the traffic) and every other is `fix` at weight 0, which Unleash
//!   accepts: they stay listed so a later rollback can choose them.
//! - the kill-switch flag: the whole feature is killed while the environment is on with an
//!   unconstrained 100% strategy; a segment is killed by a 100% strategy whose only
//!   constraint is `<segment_field> IN [segment]`. Changing one scope never touches the
//!   others: strategies are enabled, disabled or narrowed one by one, and the environment
//!   goes on only once an enabled strategy exists (Unleash would otherwise add a default,
//!   unconstrained one: a whole-feature kill nobody asked for) and off only when no scope is
//!   left.
//!
//! Last-known-good and "changed at" come from Unleash's own event log for the prompt flag
//! (`/api/admin/search/events`): each strategy event records the variants before and after,
//! so the history of the served version can be rebuilt. The last-known-good is the version
//! served before the latest change to a version never served before (a deploy), so a
//! rollback does not make the bad version "good"; "changed at" is the latest change of the
//! served version. Both stay None when the log does not show them.

pub mod config;
mod kind;

use super::http::{self, ReplyCap};
use super::{BackendError, FeatureFlags, FlagControl, FlagOp};
use crate::config::secret::Secret;
use chrono::{DateTime, Utc};
pub use config::UnleashConfig;
pub use kind::Kind;
use reqwest::{Method, RequestBuilder};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

const PLACEHOLDER: &str = "{feature}";
const WHOLE: &str = "*";
/// Strategy events read per prompt flag to rebuild its history: enough for months of
/// rollbacks; an older deploy outside the window only means no last-known-good.
const EVENT_LIMIT: u32 = 200;
const STRATEGY_EVENTS: &str = "IS_ANY_OF:feature-strategy-add,feature-strategy-update";

/// `null` where a list or object is expected decodes as empty, as Unleash sends both.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// One flag of `GET /api/admin/projects/{project}/features`.
#[derive(Clone, Debug, Deserialize)]
pub struct FlagSummary {
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub archived: bool,
}

#[derive(Deserialize)]
struct FlagList {
    features: Vec<FlagSummary>,
}

/// `GET /api/admin/projects/{project}/features/{flag}`.
#[derive(Clone, Debug, Deserialize)]
pub struct FlagDetail {
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub environments: Vec<FlagEnvironment>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct FlagEnvironment {
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub enabled: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub strategies: Vec<Strategy>,
}

/// A strategy as Unleash returns it. Constraints, parameters, variants and segments stay raw
/// JSON so that an update sends back everything the adapter does not itself change.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Strategy {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub disabled: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub constraints: Vec<Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub parameters: serde_json::Map<String, Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub variants: Vec<Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub segments: Vec<Value>,
    #[serde(default, rename = "sortOrder")]
    pub sort_order: Option<f64>,
}

/// One event of `GET /api/admin/search/events`.
#[derive(Clone, Debug, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, rename = "createdAt")]
    pub created_at: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub data: Option<Value>,
    #[serde(default, rename = "preData")]
    pub pre_data: Option<Value>,
}

#[derive(Deserialize)]
struct EventPage {
    events: Vec<Event>,
}

#[derive(Deserialize)]
struct ContextField {
    #[serde(default, rename = "legalValues", deserialize_with = "nullable")]
    legal_values: Vec<LegalValue>,
}

#[derive(Deserialize)]
struct LegalValue {
    value: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    details: Vec<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: Option<String>,
}

fn malformed(what: &str, e: serde_json::Error) -> BackendError {
    BackendError::Malformed(format!("{what}: {e}"))
}

pub fn decode_flag_list(body: &[u8]) -> Result<Vec<FlagSummary>, BackendError> {
    serde_json::from_slice::<FlagList>(body)
        .map(|l| l.features)
        .map_err(|e| malformed("flag list", e))
}

pub fn decode_flag(body: &[u8]) -> Result<FlagDetail, BackendError> {
    serde_json::from_slice(body).map_err(|e| malformed("flag", e))
}

/// The strategy echoed by a create or update.
pub fn decode_strategy(body: &[u8]) -> Result<Strategy, BackendError> {
    serde_json::from_slice(body).map_err(|e| malformed("strategy", e))
}

pub fn decode_events(body: &[u8]) -> Result<Vec<Event>, BackendError> {
    serde_json::from_slice::<EventPage>(body)
        .map(|p| p.events)
        .map_err(|e| malformed("event log", e))
}

/// The legal values of a context field (`GET /api/admin/context/{field}`).
pub fn decode_context_field(body: &[u8]) -> Result<Vec<String>, BackendError> {
    serde_json::from_slice::<ContextField>(body)
        .map(|c| c.legal_values.into_iter().map(|v| v.value).collect())
        .map_err(|e| malformed("context field", e))
}

/// Unleash's error text (`{"message", "details":[{"message"}]}`), or a body excerpt.
pub fn decode_error(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => {
            let mut parts: Vec<String> = e.message.into_iter().collect();
            for d in e.details.into_iter().filter_map(|d| d.message) {
                if !parts.contains(&d) {
                    parts.push(d);
                }
            }
            http::excerpt(&parts.join(": "))
        }
        Err(_) => http::excerpt(&String::from_utf8_lossy(body)),
    }
}

/// A flag name template: `prefix{feature}suffix`.
#[derive(Clone, Debug, PartialEq)]
struct Naming {
    prefix: String,
    suffix: String,
}

impl Naming {
    fn parse(template: &str, key: &str) -> Result<Naming, String> {
        let Some((prefix, suffix)) = template.split_once(PLACEHOLDER) else {
            return Err(format!("{key} {template:?} must contain {PLACEHOLDER}"));
        };
        if suffix.contains(PLACEHOLDER) || (prefix.is_empty() && suffix.is_empty()) {
            return Err(format!(
                "{key} {template:?} needs one {PLACEHOLDER} and some fixed text around it"
            ));
        }
        Ok(Naming {
            prefix: prefix.into(),
            suffix: suffix.into(),
        })
    }

    fn flag(&self, feature: &str) -> String {
        format!("{}{feature}{}", self.prefix, self.suffix)
    }

    fn feature<'a>(&self, flag: &'a str) -> Option<&'a str> {
        flag.strip_prefix(self.prefix.as_str())
            .and_then(|rest| rest.strip_suffix(self.suffix.as_str()))
            .filter(|f| !f.is_empty())
    }
}

/// Unleash's own rule for names (URL-friendly), so a name can be put in a path as it is.
fn url_safe(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
}

fn variant_weights(variants: &[Value]) -> Vec<(String, f64)> {
    variants
        .iter()
        .filter_map(|v| {
            let name = v.get("name")?.as_str()?.to_string();
            let weight = v.get("weight").and_then(Value::as_f64).unwrap_or(0.0);
            Some((name, weight))
        })
        .collect()
}

/// The variant that gets the traffic: the single heaviest one. A tie (a split) serves no
/// single version.
fn served(variants: &[Value]) -> Option<String> {
    let weights = variant_weights(variants);
    let max = weights.iter().map(|(_, w)| *w).fold(0.0, f64::max);
    let mut top = weights.into_iter().filter(|(_, w)| *w == max && max > 0.0);
    match (top.next(), top.next()) {
        (Some((name, _)), None) => Some(name),
        _ => None,
    }
}

fn sorted_strategies(env: &FlagEnvironment) -> Vec<&Strategy> {
    let mut all: Vec<&Strategy> = env.strategies.iter().collect();
    all.sort_by(|a, b| {
        a.sort_order
            .unwrap_or(0.0)
            .total_cmp(&b.sort_order.unwrap_or(0.0))
    });
    all
}

fn prompt_strategy(env: &FlagEnvironment) -> Option<&Strategy> {
    sorted_strategies(env)
        .into_iter()
        .find(|s| !s.disabled && !variant_weights(&s.variants).is_empty())
}

/// The variants of a rollback: `to` the only variable variant, the others fixed at zero.
fn rolled_back(variants: &[Value], to: &str) -> Vec<Value> {
    variants
        .iter()
        .map(|v| {
            let mut v = v.clone();
            let chosen = v.get("name").and_then(Value::as_str) == Some(to);
            if let Some(obj) = v.as_object_mut() {
                obj.insert("weight".into(), json!(if chosen { 1000 } else { 0 }));
                obj.insert(
                    "weightType".into(),
                    json!(if chosen { "variable" } else { "fix" }),
                );
            }
            v
        })
        .collect()
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Last-known-good and when the served version last changed, from the strategy's events
/// (any order; only those of `strategy_id` in `environment` count).
fn prompt_history(
    events: &[Event],
    strategy_id: &str,
    environment: &str,
    current: Option<&str>,
) -> (Option<String>, Option<DateTime<Utc>>) {
    let mut mine: Vec<(Option<DateTime<Utc>>, &Event)> = events
        .iter()
        .filter(|e| e.environment.as_deref() == Some(environment))
        .filter(|e| {
            let id = |v: &Option<Value>| {
                v.as_ref()
                    .and_then(|v| v.get("id"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            id(&e.data).as_deref() == Some(strategy_id)
        })
        .map(|e| (e.created_at.as_deref().and_then(parse_time), e))
        .collect();
    mine.sort_by_key(|(t, _)| *t);
    let variants_of = |v: &Option<Value>| -> Vec<Value> {
        v.as_ref()
            .and_then(|v| v.get("variants"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    // The versions served, in order, each with the time it started (None: before the log).
    let mut served_seq: Vec<(Option<DateTime<Utc>>, String)> = Vec::new();
    for (at, e) in &mine {
        if served_seq.is_empty() {
            if let Some(before) = served(&variants_of(&e.pre_data)) {
                served_seq.push((None, before));
            }
        }
        if let Some(after) = served(&variants_of(&e.data)) {
            if served_seq.last().map(|(_, v)| v) != Some(&after) {
                served_seq.push((*at, after));
            }
        }
    }
    match served_seq.last() {
        Some((_, v)) if Some(v.as_str()) == current => {}
        _ => return (None, None),
    }
    let changed_at = served_seq.last().and_then(|(t, _)| *t);
    let last_deploy = (1..served_seq.len())
        .rev()
        .find(|&i| !served_seq[..i].iter().any(|(_, v)| *v == served_seq[i].1));
    let lkg = last_deploy.map(|i| served_seq[i - 1].1.clone());
    (lkg, changed_at)
}

/// What a kill-switch strategy does, as far as the cockpit understands it.
#[derive(Clone, Debug, PartialEq)]
enum Shape {
    /// 100% of the traffic, no constraint.
    Whole,
    /// 100% of the traffic where `<segment_field> IN values`.
    Segments(Vec<String>),
    /// Anything else (partial rollout, other constraints, Unleash segments, custom strategy).
    Other,
}

fn shape(st: &Strategy, field: &str) -> Shape {
    let full = match st.name.as_str() {
        "default" => true,
        "flexibleRollout" => match st.parameters.get("rollout") {
            None => true,
            Some(Value::String(s)) => s.trim() == "100",
            Some(v) => v.as_f64() == Some(100.0),
        },
        _ => false,
    };
    if !full || !st.segments.is_empty() {
        return Shape::Other;
    }
    match st.constraints.as_slice() {
        [] => Shape::Whole,
        [c] => {
            let is = |k: &str, want: &str| c.get(k).and_then(Value::as_str) == Some(want);
            let inverted = c.get("inverted").and_then(Value::as_bool).unwrap_or(false);
            let values: Vec<String> = c
                .get("values")
                .and_then(Value::as_array)
                .map(|vs| {
                    vs.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if is("contextName", field) && is("operator", "IN") && !inverted && !values.is_empty() {
                Shape::Segments(values)
            } else {
                Shape::Other
            }
        }
        _ => Shape::Other,
    }
}

struct KillView<'a> {
    enabled: bool,
    strategies: Vec<(&'a Strategy, Shape)>,
}

impl<'a> KillView<'a> {
    fn new(env: &'a FlagEnvironment, field: &str) -> Self {
        KillView {
            enabled: env.enabled,
            strategies: sorted_strategies(env)
                .into_iter()
                .map(|s| (s, shape(s, field)))
                .collect(),
        }
    }

    /// "*" first, then segments in strategy order.
    fn killed(&self) -> Vec<String> {
        if !self.enabled {
            return Vec::new();
        }
        let active = || self.strategies.iter().filter(|(s, _)| !s.disabled);
        let mut out = Vec::new();
        if active().any(|(_, sh)| *sh == Shape::Whole) {
            out.push(WHOLE.to_string());
        }
        for (_, sh) in active() {
            if let Shape::Segments(values) = sh {
                for v in values {
                    if !out.contains(v) {
                        out.push(v.clone());
                    }
                }
            }
        }
        out
    }

    /// Every segment a kill strategy names, enabled or not.
    fn segments(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, sh) in &self.strategies {
            if let Shape::Segments(values) = sh {
                for v in values {
                    if !out.contains(v) {
                        out.push(v.clone());
                    }
                }
            }
        }
        out
    }

    fn enabled_other(&self) -> Option<&Strategy> {
        self.strategies
            .iter()
            .find(|(s, sh)| !s.disabled && *sh == Shape::Other)
            .map(|(s, _)| *s)
    }
}

/// One write of a kill-switch change, with what it does for messages.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Update(Strategy, String),
    Create(Value, String),
    EnvOn,
    EnvOff,
}

impl Step {
    fn describe(&self, flag: &str, env: &str) -> String {
        match self {
            Step::Update(_, what) | Step::Create(_, what) => what.clone(),
            Step::EnvOn => format!("switch {flag} on in {env}"),
            Step::EnvOff => format!("switch {flag} off in {env}"),
        }
    }
}

fn toggled(st: &Strategy, enabled: bool) -> Strategy {
    let mut st = st.clone();
    st.disabled = !enabled;
    st
}

fn with_values(st: &Strategy, values: &[String]) -> Strategy {
    let mut st = st.clone();
    if let Some(obj) = st.constraints.first_mut().and_then(Value::as_object_mut) {
        obj.insert("values".into(), json!(values));
    }
    st
}

fn new_strategy(flag: &str, field: &str, segment: Option<&str>, enabled: bool) -> Value {
    let (title, constraints) = match segment {
        None => ("kill switch: whole feature".to_string(), json!([])),
        Some(s) => (
            format!("kill switch: {field} {s}"),
            json!([{
                "contextName": field,
                "operator": "IN",
                "values": [s],
                "inverted": false,
                "caseInsensitive": false,
            }]),
        ),
    };
    json!({
        "name": "flexibleRollout",
        "title": title,
        "disabled": !enabled,
        "constraints": constraints,
        "parameters": { "rollout": "100", "stickiness": "default", "groupId": flag },
        "variants": [],
        "segments": [],
    })
}

fn strategy_body(st: &Strategy) -> Value {
    json!({
        "name": st.name,
        "title": st.title,
        "disabled": st.disabled,
        "constraints": st.constraints,
        "parameters": st.parameters,
        "variants": st.variants,
        "segments": st.segments,
    })
}

fn scope_label(feature: &str, segment: Option<&str>) -> String {
    match segment {
        Some(s) => format!("{feature} segment {s}"),
        None => format!("{feature} (whole feature)"),
    }
}

/// The writes that take a kill-switch flag from what `env` shows to the same scopes with
/// `segment` (None: the whole feature) engaged or released, touching nothing else.
fn plan_kill(
    flag: &str,
    env: &FlagEnvironment,
    field: &str,
    feature: &str,
    segment: Option<&str>,
    engage: bool,
) -> Result<Vec<Step>, String> {
    let view = KillView::new(env, field);
    let key = segment.unwrap_or(WHOLE);
    let what = scope_label(feature, segment);
    let mut target = view.killed();
    let on = target.iter().any(|k| k == key);
    match (engage, on) {
        (true, true) => return Err(format!("kill switch already engaged for {what}")),
        (false, false) => return Err(format!("kill switch is not engaged for {what}")),
        (true, false) => target.push(key.to_string()),
        (false, true) => target.retain(|k| k != key),
    }
    let other = view.enabled_other();
    if let (false, false, Some(st)) = (target.is_empty(), env.enabled, other) {
        return Err(format!(
            "{flag} has strategy {:?} in {} that is neither a whole-feature nor a `{field} IN` \
             kill; switching the flag on would apply it too: change it in Unleash",
            st.title.as_deref().unwrap_or(&st.name),
            env.name
        ));
    }
    if target.is_empty() && other.is_none() {
        // The plain Unleash kill switch: the strategies stay as they are, ready for next time.
        return Ok(vec![Step::EnvOff]);
    }
    let want_whole = target.iter().any(|k| k == WHOLE);
    let want: Vec<&String> = target.iter().filter(|k| *k != WHOLE).collect();
    let mut steps = Vec::new();
    let title = |st: &Strategy| st.title.clone().unwrap_or_else(|| st.name.clone());

    let wholes: Vec<&Strategy> = view
        .strategies
        .iter()
        .filter(|(_, sh)| *sh == Shape::Whole)
        .map(|(s, _)| *s)
        .collect();
    if want_whole {
        if !wholes.iter().any(|s| !s.disabled) {
            match wholes.first() {
                Some(st) => steps.push(Step::Update(
                    toggled(st, true),
                    format!("enable strategy {:?}", title(st)),
                )),
                None => steps.push(Step::Create(
                    new_strategy(flag, field, None, true),
                    "add a whole-feature strategy".into(),
                )),
            }
        }
    } else {
        for st in wholes.iter().filter(|s| !s.disabled) {
            steps.push(Step::Update(
                toggled(st, false),
                format!("disable strategy {:?}", title(st)),
            ));
        }
    }

    let segment_strategies: Vec<(&Strategy, &Vec<String>)> = view
        .strategies
        .iter()
        .filter_map(|(s, sh)| match sh {
            Shape::Segments(v) => Some((*s, v)),
            _ => None,
        })
        .collect();
    let mut covered: Vec<&String> = Vec::new();
    for (st, values) in segment_strategies.iter().filter(|(s, _)| !s.disabled) {
        let (keep, dropped): (Vec<&String>, Vec<&String>) =
            values.iter().partition(|v| want.contains(v));
        covered.extend(keep.iter().copied());
        if dropped.is_empty() {
            continue;
        }
        if keep.is_empty() {
            steps.push(Step::Update(
                toggled(st, false),
                format!("disable strategy {:?}", title(st)),
            ));
            continue;
        }
        let keep: Vec<String> = keep.into_iter().cloned().collect();
        steps.push(Step::Update(
            with_values(st, &keep),
            format!("narrow strategy {:?} to {}", title(st), keep.join(", ")),
        ));
        // A disabled strategy keeps a dropped segment known, so it can be engaged again.
        for d in dropped {
            let remembered = segment_strategies
                .iter()
                .any(|(_, vs)| vs.as_slice() == std::slice::from_ref(d));
            if !remembered {
                steps.push(Step::Create(
                    new_strategy(flag, field, Some(d), false),
                    format!("add a disabled strategy for segment {d}"),
                ));
            }
        }
    }
    for s in want.into_iter().filter(|s| !covered.contains(s)) {
        let parked = segment_strategies
            .iter()
            .find(|(st, vs)| st.disabled && vs.as_slice() == std::slice::from_ref(s));
        match parked {
            Some((st, _)) => steps.push(Step::Update(
                toggled(st, true),
                format!("enable strategy {:?}", title(st)),
            )),
            None => steps.push(Step::Create(
                new_strategy(flag, field, Some(s), true),
                format!("add a strategy for segment {s}"),
            )),
        }
    }
    if !env.enabled {
        steps.push(Step::EnvOn);
    }
    Ok(steps)
}

/// What the event log said for a prompt strategy whose variants looked like `key`.
struct History {
    key: String,
    last_known_good: Option<String>,
    changed_at: Option<DateTime<Utc>>,
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
    segment_field: String,
    timeout: Duration,
    cap: ReplyCap,
    client: reqwest::Client,
    /// Per prompt flag; the log is read again only when the served variants change.
    history: HashMap<String, History>,
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
    fn parts(cfg: &UnleashConfig) -> Result<(Naming, Naming, String, Duration), String> {
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
        if !url_safe(&cfg.segment_field) {
            return Err(format!(
                "segment_field {:?} is not an Unleash context field name",
                cfg.segment_field
            ));
        }
        Ok((prompt, kill, base, timeout))
    }

    pub fn new(cfg: &UnleashConfig) -> Result<Self, String> {
        let name = &cfg.name;
        let (prompt, kill, base, timeout) = Self::parts(cfg).map_err(|e| format!("{name}: {e}"))?;
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
            segment_field: cfg.segment_field.clone(),
            timeout,
            cap: ReplyCap::mib(cfg.max_reply_mib),
            client: http::client_for(timeout, cfg.tls.as_ref())
                .map_err(|e| format!("{name}: {e}"))?,
            history: HashMap::new(),
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
            if s.trim().is_empty() || s.chars().any(char::is_control) {
                return Err(BackendError::Rejected(format!(
                    "{s:?} is not a segment name"
                )));
            }
        }
        let env = self.flag_env(&flag, "kill-switch").await?;
        if let (Some(s), true) = (segment, engage) {
            let legal = self.legal_segments().await?;
            if !legal.is_empty() && !legal.iter().any(|l| l == s) {
                return Err(BackendError::Rejected(format!(
                    "{feature} has no user segment {s} (legal values of context field {}: {})",
                    self.segment_field,
                    legal.join(", ")
                )));
            }
        }
        let steps = plan_kill(&flag, &env, &self.segment_field, feature, segment, engage)
            .map_err(BackendError::Rejected)?;
        let envn = self.environment.clone();
        let base = format!("{}/environments/{envn}", self.flag_path(&flag));
        let mut done: Vec<String> = Vec::new();
        for step in &steps {
            let what = step.describe(&flag, &envn);
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
        let verb = if engage { "engaged" } else { "released" };
        Ok(format!(
            "kill switch {verb} for {} (Unleash {flag}, {envn})",
            scope_label(feature, segment)
        ))
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
    async fn read(&mut self, _now: DateTime<Utc>) -> Result<Vec<FeatureFlags>, BackendError> {
        let mut by_feature: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
        for f in self.list_flags().await?.into_iter().filter(|f| !f.archived) {
            if let Some(feature) = self.prompt.feature(&f.name) {
                by_feature.entry(feature.to_string()).or_default().0 = Some(f.name.clone());
            } else if let Some(feature) = self.kill.feature(&f.name) {
                by_feature.entry(feature.to_string()).or_default().1 = Some(f.name.clone());
            }
        }
        let legal = if by_feature.values().any(|(_, k)| k.is_some()) {
            self.legal_segments().await?
        } else {
            Vec::new()
        };
        let mut out = Vec::new();
        for (feature, (prompt, kill)) in by_feature {
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
            out.push(ff);
        }
        let live: Vec<String> = out.iter().map(|f| self.prompt.flag(&f.feature)).collect();
        self.history.retain(|flag, _| live.contains(flag));
        Ok(out)
    }

    async fn apply(
        &mut self,
        op: &FlagOp,
        _author: &str,
        _now: DateTime<Utc>,
    ) -> Result<String, BackendError> {
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strategy(id: &str, constraints: Value, disabled: bool) -> Strategy {
        serde_json::from_value(json!({
            "id": id,
            "name": "flexibleRollout",
            "title": null,
            "disabled": disabled,
            "constraints": constraints,
            "parameters": { "rollout": "100", "stickiness": "default", "groupId": "f" },
            "variants": [],
            "segments": [],
            "sortOrder": 0,
        }))
        .expect("strategy")
    }

    fn seg(values: &[&str]) -> Value {
        json!([{ "contextName": "segment", "operator": "IN", "values": values, "inverted": false }])
    }

    fn env(enabled: bool, strategies: Vec<Strategy>) -> FlagEnvironment {
        FlagEnvironment {
            name: "production".into(),
            enabled,
            strategies,
        }
    }

    fn plan(e: &FlagEnvironment, segment: Option<&str>, engage: bool) -> Result<Vec<Step>, String> {
        plan_kill("f.kill-switch", e, "segment", "f", segment, engage)
    }

    /// The steps as (kind, strategy id or "new", disabled after, segment values after).
    fn summary(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| match s {
                Step::Update(st, _) => {
                    let values = match shape(st, "segment") {
                        Shape::Segments(v) => v.join(","),
                        _ => String::new(),
                    };
                    format!("update {} disabled={} {values}", st.id, st.disabled)
                }
                Step::Create(body, _) => format!(
                    "create disabled={} {}",
                    body["disabled"], body["constraints"][0]["values"]
                ),
                Step::EnvOn => "on".into(),
                Step::EnvOff => "off".into(),
            })
            .collect()
    }

    #[test]
    fn flag_names_follow_the_templates() {
        let n = Naming::parse("{feature}.prompt", "prompt_flag").expect("valid");
        assert_eq!(n.flag("support-bot"), "support-bot.prompt");
        assert_eq!(n.feature("support-bot.prompt"), Some("support-bot"));
        assert_eq!(n.feature(".prompt"), None);
        assert_eq!(n.feature("support-bot.kill-switch"), None);
        let p = Naming::parse("ai-{feature}-prompt", "prompt_flag").expect("valid");
        assert_eq!(p.feature("ai-rag-prompt"), Some("rag"));
        assert!(Naming::parse("prompt", "prompt_flag").is_err());
        assert!(Naming::parse("{feature}", "prompt_flag").is_err());
        assert!(Naming::parse("{feature}.{feature}", "prompt_flag").is_err());
    }

    #[test]
    fn the_heaviest_single_variant_is_served_and_a_split_serves_none() {
        let v = |pairs: &[(&str, u32)]| -> Vec<Value> {
            pairs
                .iter()
                .map(|(n, w)| json!({ "name": n, "weight": w }))
                .collect()
        };
        assert_eq!(
            served(&v(&[("v12", 0), ("v14", 1000)])).as_deref(),
            Some("v14")
        );
        assert_eq!(
            served(&v(&[("v12", 900), ("v14", 100)])).as_deref(),
            Some("v12")
        );
        assert_eq!(served(&v(&[("v12", 500), ("v14", 500)])), None);
        assert_eq!(served(&v(&[("v12", 0)])), None);
        assert_eq!(served(&[json!("odd"), json!({ "weight": 5 })]), None);
    }

    #[test]
    fn a_rollback_fixes_every_other_variant_at_zero_and_keeps_their_payloads() {
        let variants = vec![
            json!({ "name": "v12", "weight": 0, "weightType": "fix", "payload": { "type": "string", "value": "p12" } }),
            json!({ "name": "v14", "weight": 1000, "weightType": "variable", "stickiness": "userId" }),
        ];
        let out = rolled_back(&variants, "v12");
        assert_eq!(out[0]["weightType"], "variable");
        assert_eq!(out[0]["weight"], 1000);
        assert_eq!(out[0]["payload"]["value"], "p12");
        assert_eq!(out[1]["weightType"], "fix");
        assert_eq!(out[1]["weight"], 0);
        assert_eq!(out[1]["stickiness"], "userId");
    }

    #[test]
    fn strategies_are_classified_by_what_they_kill() {
        assert_eq!(
            shape(&strategy("a", json!([]), false), "segment"),
            Shape::Whole
        );
        assert_eq!(
            shape(&strategy("a", seg(&["eu", "us"]), false), "segment"),
            Shape::Segments(vec!["eu".into(), "us".into()])
        );
        let mut partial = strategy("a", json!([]), false);
        partial.parameters.insert("rollout".into(), json!("50"));
        assert_eq!(shape(&partial, "segment"), Shape::Other);
        let inverted = json!([{ "contextName": "segment", "operator": "IN", "values": ["eu"], "inverted": true }]);
        assert_eq!(
            shape(&strategy("a", inverted, false), "segment"),
            Shape::Other
        );
        let other_field = json!([{ "contextName": "userId", "operator": "IN", "values": ["1"] }]);
        assert_eq!(
            shape(&strategy("a", other_field, false), "segment"),
            Shape::Other
        );
        let mut default = strategy("a", json!([]), false);
        default.name = "default".into();
        default.parameters.clear();
        assert_eq!(shape(&default, "segment"), Shape::Whole);
    }

    #[test]
    fn killed_scopes_need_the_environment_on() {
        let e = env(
            true,
            vec![
                strategy("w", json!([]), false),
                strategy("s", seg(&["eu"]), false),
                strategy("p", seg(&["us"]), true),
            ],
        );
        let view = KillView::new(&e, "segment");
        assert_eq!(view.killed(), ["*", "eu"]);
        assert_eq!(view.segments(), ["eu", "us"]);
        let off = env(false, e.strategies.clone());
        assert!(KillView::new(&off, "segment").killed().is_empty());
    }

    #[test]
    fn engaging_a_segment_adds_its_strategy_before_switching_on() {
        // Off, with the team's whole-feature strategy ready: it must not come on with it.
        let e = env(false, vec![strategy("w", json!([]), false)]);
        let steps = plan(&e, Some("eu"), true).expect("plan");
        assert_eq!(
            summary(&steps),
            [
                "update w disabled=true ",
                "create disabled=false [\"eu\"]",
                "on"
            ]
        );
    }

    #[test]
    fn engaging_the_whole_feature_reuses_a_parked_strategy() {
        let e = env(false, vec![strategy("w", json!([]), true)]);
        assert_eq!(
            summary(&plan(&e, None, true).expect("plan")),
            ["update w disabled=false ", "on"]
        );
        let ready = env(false, vec![strategy("w", json!([]), false)]);
        assert_eq!(summary(&plan(&ready, None, true).expect("plan")), ["on"]);
        let bare = env(false, vec![]);
        assert_eq!(
            summary(&plan(&bare, None, true).expect("plan")),
            ["create disabled=false null", "on"]
        );
    }

    #[test]
    fn releasing_one_scope_keeps_the_others() {
        let e = env(
            true,
            vec![
                strategy("w", json!([]), false),
                strategy("s", seg(&["eu", "us"]), false),
            ],
        );
        // Narrowed, and the dropped segment parked in its own disabled strategy.
        assert_eq!(
            summary(&plan(&e, Some("eu"), false).expect("plan")),
            [
                "update s disabled=false us",
                "create disabled=true [\"eu\"]"
            ]
        );
        assert_eq!(
            summary(&plan(&e, None, false).expect("plan")),
            ["update w disabled=true "]
        );
        let last = env(true, vec![strategy("s", seg(&["eu"]), false)]);
        assert_eq!(
            summary(&plan(&last, Some("eu"), false).expect("plan")),
            ["off"]
        );
    }

    #[test]
    fn kill_switch_conflicts_and_unknown_strategies_are_refused() {
        let e = env(true, vec![strategy("w", json!([]), false)]);
        assert_eq!(
            plan(&e, None, true),
            Err("kill switch already engaged for f (whole feature)".into())
        );
        assert_eq!(
            plan(&e, Some("eu"), false),
            Err("kill switch is not engaged for f segment eu".into())
        );
        let mut partial = strategy("p", json!([]), false);
        partial.parameters.insert("rollout".into(), json!("10"));
        let off = env(false, vec![partial.clone()]);
        let err = plan(&off, None, true).expect_err("would switch the 10% strategy on");
        assert!(err.contains("change it in Unleash"), "{err}");
        // On already, the unknown strategy keeps the environment on when our scope goes.
        let on = env(true, vec![partial, strategy("s", seg(&["eu"]), false)]);
        assert_eq!(
            summary(&plan(&on, Some("eu"), false).expect("plan")),
            ["update s disabled=true eu"]
        );
    }

    fn event(
        kind: &str,
        at: &str,
        id: &str,
        pre: Option<&[(&str, u32)]>,
        post: &[(&str, u32)],
    ) -> Event {
        let vs = |pairs: &[(&str, u32)]| json!({ "id": id, "variants": pairs.iter().map(|(n, w)| json!({ "name": n, "weight": w })).collect::<Vec<_>>() });
        Event {
            kind: kind.into(),
            created_at: Some(at.into()),
            environment: Some("production".into()),
            data: Some(vs(post)),
            pre_data: pre.map(vs),
        }
    }

    #[test]
    fn history_gives_the_version_before_the_last_deploy_and_the_last_change() {
        let add = event(
            "feature-strategy-add",
            "2026-01-01T00:00:00Z",
            "s",
            None,
            &[("v12", 1000)],
        );
        let deploy = event(
            "feature-strategy-update",
            "2026-01-02T00:00:00Z",
            "s",
            Some(&[("v12", 1000)]),
            &[("v12", 0), ("v14", 1000)],
        );
        let payload_edit = event(
            "feature-strategy-update",
            "2026-01-02T06:00:00Z",
            "s",
            Some(&[("v12", 0), ("v14", 1000)]),
            &[("v12", 0), ("v14", 1000)],
        );
        let rollback = event(
            "feature-strategy-update",
            "2026-01-03T00:00:00Z",
            "s",
            Some(&[("v12", 0), ("v14", 1000)]),
            &[("v12", 1000), ("v14", 0)],
        );
        let elsewhere = event(
            "feature-strategy-update",
            "2026-01-04T00:00:00Z",
            "other",
            None,
            &[("v99", 1000)],
        );
        let at = |s: &str| parse_time(s);

        // Newest first, as Unleash lists them.
        let events = vec![
            elsewhere.clone(),
            payload_edit.clone(),
            deploy.clone(),
            add.clone(),
        ];
        assert_eq!(
            prompt_history(&events, "s", "production", Some("v14")),
            (Some("v12".into()), at("2026-01-02T00:00:00Z"))
        );
        let events = vec![rollback, payload_edit, deploy.clone(), add.clone()];
        assert_eq!(
            prompt_history(&events, "s", "production", Some("v12")),
            (Some("v12".into()), at("2026-01-03T00:00:00Z"))
        );
        // Only ever one version: nothing was known to be good before it.
        assert_eq!(
            prompt_history(&[add], "s", "production", Some("v12")),
            (None, at("2026-01-01T00:00:00Z"))
        );
        // The log's start is outside the window: the deploy's own record still tells.
        assert_eq!(
            prompt_history(&[deploy], "s", "production", Some("v14")),
            (Some("v12".into()), at("2026-01-02T00:00:00Z"))
        );
        // The log disagrees with what is served now: say nothing rather than guess.
        assert_eq!(
            prompt_history(&[], "s", "production", Some("v14")),
            (None, None)
        );
    }

    #[test]
    fn decoders_survive_odd_json() {
        for body in [
            &b""[..],
            b"null",
            b"[]",
            b"{}",
            b"{\"features\":null}",
            b"{\"features\":[{\"name\":1}]}",
            b"{\"name\":\"f\",\"environments\":[{\"name\":\"p\",\"strategies\":[{\"id\":null}]}]}",
            b"{\"events\":[{\"type\":5}]}",
            b"\xff\xfe",
        ] {
            let _ = decode_flag_list(body);
            let _ = decode_flag(body);
            let _ = decode_strategy(body);
            let _ = decode_events(body);
            let _ = decode_context_field(body);
            let _ = decode_error(body);
        }
        let flag = decode_flag(
            br#"{"name":"f","environments":[{"name":"production","enabled":null,"strategies":[
                {"id":"s","name":"flexibleRollout","constraints":null,"variants":null,"segments":null,
                 "parameters":null,"disabled":null}]}]}"#,
        )
        .expect("nulls decode as empty");
        assert!(!flag.environments[0].enabled);
        assert!(flag.environments[0].strategies[0].constraints.is_empty());
        assert_eq!(
            decode_context_field(br#"{"name":"segment","legalValues":[{"value":"eu"},{"value":"us","description":"x"}]}"#),
            Ok(vec!["eu".to_string(), "us".to_string()])
        );
        assert_eq!(
            decode_error(br#"{"name":"NotFoundError","message":"gone","details":[{"message":"gone"},{"message":"really"}]}"#),
            "gone: really"
        );
        assert!(
            decode_flag_list(b"{}").is_err(),
            "a list without `features` is not empty"
        );
    }
}
