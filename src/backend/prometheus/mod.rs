//! Prometheus HTTP API adapter. Every signal is one `query_range` over the sparkline window,
//! aggregated on the server per feature (`sum by`, `rate`, `histogram_quantile`), so a poll
//! moves a few hundred numbers however many raw series the server holds. The queries come
//! from a preset in `queries.toml` plus the user's `queries` overrides; all of them run
//! concurrently so one poll costs one round trip.

pub mod config;
mod kind;

use super::http::{self, Auth, ReplyCap};
use super::{BackendError, MetricsSource};
use crate::domain::{FeatureInfo, SafeText, Signal, SignalKind, SignalSet};
use chrono::{DateTime, Utc};
pub use config::{Price, PrometheusConfig};
pub use kind::Kind;
use reqwest::RequestBuilder;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;
use tokio::task::JoinSet;

const PRESETS: &str = include_str!("queries.toml");

/// Prometheus refuses a `query_range` that would return more points per series than this.
const MAX_POINTS: u64 = 11_000;

/// Daily cost has the simulator's shape: one point per day, the past 7 days and today.
const DAY_SECS: u32 = 86_400;
const DAILY_COST_DAYS: u64 = 7;

/// Prices are per 1M tokens.
const TOKENS_PER_PRICE_UNIT: f64 = 1e6;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Preset {
    #[serde(default)]
    queries: BTreeMap<SignalKind, String>,
    #[serde(default)]
    cost: Option<CostQuery>,
}

/// Tokens per minute by feature, model and token type; the adapter applies the price table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CostQuery {
    query: String,
    model_label: String,
    token_type_label: String,
    /// Values of `token_type_label` priced as input and as output tokens.
    input: String,
    output: String,
}

/// What the series of one query become.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Signal(SignalKind),
    /// Token rates priced into `CostPerMin`.
    CostTokens,
}

impl Role {
    fn name(self) -> String {
        match self {
            Role::Signal(kind) => kind_name(kind),
            Role::CostTokens => kind_name(SignalKind::CostPerMin),
        }
    }
}

#[derive(Clone, Debug)]
struct Planned {
    role: Role,
    promql: String,
    range_secs: u64,
    /// Checked to fit `Signal::step_secs` when the config is loaded.
    step_secs: u32,
}

/// The instants one query is evaluated at: `len` points `step_ms` apart, the last at the
/// poll's `now`, so every signal ends exactly where `SignalSet::at` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Grid {
    start_ms: i64,
    step_ms: i64,
    len: usize,
}

impl Grid {
    fn ending_at(end_ms: i64, range_secs: u64, step_secs: u32) -> Grid {
        let steps = range_secs / u64::from(step_secs);
        let step_ms = i64::from(step_secs) * 1000;
        Grid {
            start_ms: end_ms - steps as i64 * step_ms,
            step_ms,
            len: steps as usize + 1,
        }
    }

    fn end_ms(&self) -> i64 {
        self.start_ms + (self.len as i64 - 1) * self.step_ms
    }

    /// Which point a returned timestamp (float seconds) is. Prometheus answers exactly on
    /// the grid; rounding only absorbs the float representation of the seconds.
    /// In floats throughout: a server can send any number as a timestamp, and integer
    /// arithmetic on one far off the grid overflows.
    fn index(&self, t_secs: f64) -> Option<usize> {
        let offset_ms = (t_secs * 1000.0).round() - self.start_ms as f64;
        let k = (offset_ms / self.step_ms as f64).round();
        // NaN fails both comparisons.
        (k >= 0.0 && k < self.len as f64).then_some(k as usize)
    }
}

/// A timestamp parameter in seconds with millisecond precision, the resolution Prometheus
/// keeps.
fn secs_param(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// One series of a query result, already laid on the query's grid (NaN = no value).
#[derive(Clone, Debug, PartialEq)]
struct Series {
    labels: BTreeMap<String, String>,
    points: Vec<f64>,
}

/// One Prometheus server as a metrics source: built from its `[[prometheus]]` entry, polled
/// by the metrics driver.
pub struct Prometheus {
    endpoint: String,
    client: reqwest::Client,
    auth: Auth,
    timeout: Duration,
    /// Per query reply: the queries run at once, so a poll holds at most plan x cap.
    cap: ReplyCap,
    feature_label: String,
    plan: Vec<Planned>,
    /// Labels of the priced tokens query, when it is in the plan.
    cost: Option<CostQuery>,
    prices: BTreeMap<String, Price>,
    uses_retrieval: bool,
    warnings: Warnings,
}

impl Prometheus {
    /// Validates the config (URL, preset, label, window, grid, prices, auth secrets) so that
    /// mistakes surface at startup with the source named, not as a failing poll.
    pub fn new(cfg: &PrometheusConfig) -> Result<Prometheus, String> {
        Self::build(cfg).map_err(|e| format!("[[prometheus]] {:?}: {e}", cfg.name))
    }

    /// What `new` refuses in the config itself, without reading any secret (check-config
    /// and start-up run it; a secret can be missing on the machine that checks).
    pub fn check(cfg: &PrometheusConfig) -> Result<(), String> {
        Auth::check(cfg.auth.as_ref())?;
        Self::build(&PrometheusConfig {
            auth: None,
            tls: None,
            ..cfg.clone()
        })
        .map(drop)
    }

    fn build(cfg: &PrometheusConfig) -> Result<Prometheus, String> {
        let endpoint = endpoint(&cfg.url)?;
        let timeout = cfg.timeout_secs.duration();
        check_label_name(&cfg.feature_label)?;
        check_window(&cfg.rate_window)?;
        let step_secs = check_grid(cfg.range_secs, cfg.step_secs)?;
        check_prices(&cfg.prices)?;
        let (plan, cost) = plan(load_preset(&cfg.preset)?, cfg, step_secs)?;
        let auth = Auth::from_config(cfg.auth.as_ref())?;
        let client = http::client_for(timeout, cfg.tls.as_ref()).map_err(|e| e.to_string())?;
        Ok(Prometheus {
            endpoint,
            client,
            auth,
            timeout,
            cap: ReplyCap::mib(cfg.max_reply_mib),
            feature_label: cfg.feature_label.clone(),
            uses_retrieval: plan
                .iter()
                .any(|p| p.role == Role::Signal(SignalKind::RetrievalHit)),
            plan,
            cost,
            prices: cfg.prices.clone(),
            warnings: Warnings {
                source: cfg.name.clone(),
                seen: HashSet::new(),
            },
        })
    }

    fn request(&self, promql: &str, grid: Grid) -> RequestBuilder {
        let step = secs_param(grid.step_ms);
        let start = secs_param(grid.start_ms);
        let end = secs_param(grid.end_ms());
        let req = self.client.get(&self.endpoint).query(&[
            ("query", promql),
            ("start", start.as_str()),
            ("end", end.as_str()),
            ("step", step.as_str()),
        ]);
        self.auth.apply(req)
    }

    /// Runs every planned query at once; returns their series in plan order, or the first
    /// failure in plan order (so the same breakage always names the same signal). `range`
    /// replaces each query's own range (a backtest walks history a chunk at a time).
    async fn run_queries(
        &self,
        end_ms: i64,
        range: Option<u64>,
    ) -> Result<Vec<Vec<Series>>, BackendError> {
        let mut tasks = JoinSet::new();
        for (i, q) in self.plan.iter().enumerate() {
            let grid = Grid::ending_at(end_ms, range.unwrap_or(q.range_secs), q.step_secs);
            let req = self.request(&q.promql, grid);
            let (timeout, cap) = (self.timeout, self.cap);
            tasks.spawn(async move { (i, query_range(req, timeout, cap, grid).await) });
        }
        let mut slots: Vec<Option<Result<Vec<Series>, BackendError>>> =
            self.plan.iter().map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            let (i, result) =
                joined.map_err(|e| BackendError::Unreachable(format!("query task failed: {e}")))?;
            slots[i] = Some(result);
        }
        self.plan
            .iter()
            .zip(slots)
            .map(|(q, slot)| match slot {
                Some(result) => result.map_err(|e| naming_query(e, q.role)),
                None => Err(BackendError::Unreachable(format!(
                    "{} query never finished",
                    q.role.name()
                ))),
            })
            .collect()
    }

    fn assemble(&mut self, results: Vec<Vec<Series>>, now: DateTime<Utc>) -> SignalSet {
        let mut signals = Vec::new();
        let mut models: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut reading = Reading {
            feature_label: &self.feature_label,
            prices: &self.prices,
            warnings: &mut self.warnings,
        };
        for (q, series) in self.plan.iter().zip(results) {
            match (q.role, &self.cost) {
                (Role::Signal(kind), _) => {
                    signals.extend(reading.direct(kind, q.step_secs, series));
                }
                (Role::CostTokens, Some(cq)) => {
                    let (cost, seen) = reading.priced(cq, q.step_secs, series);
                    signals.extend(cost);
                    for (feature, m) in seen {
                        models.entry(feature).or_default().extend(m);
                    }
                }
                // Never planned without its labels.
                (Role::CostTokens, None) => {}
            }
        }
        signals.sort_by(|a, b| (&a.feature, a.kind).cmp(&(&b.feature, b.kind)));
        let names: BTreeSet<String> = signals
            .iter()
            .map(|s| s.feature.clone())
            .chain(models.keys().cloned())
            .collect();
        let features = names
            .iter()
            .map(|n| feature_info(n, models.get(n), self.uses_retrieval))
            .collect();
        SignalSet {
            at: Some(now),
            signals,
            distributions: Vec::new(),
            features,
        }
    }
}

/// Logs each distinct problem with the data once per source: the same gap would otherwise
/// fill the log every poll.
struct Warnings {
    source: String,
    seen: HashSet<String>,
}

impl Warnings {
    fn first(&mut self, key: String) -> bool {
        self.seen.insert(key)
    }
}

/// Turns query results into signals for one poll.
struct Reading<'a> {
    feature_label: &'a str,
    prices: &'a BTreeMap<String, Price>,
    warnings: &'a mut Warnings,
}

impl Reading<'_> {
    /// One signal per feature, straight from the query's series.
    fn direct(&mut self, kind: SignalKind, step: u32, series: Vec<Series>) -> Vec<Signal> {
        let mut by_feature: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for s in series {
            let Some(feature) = self.feature_of(&s, Role::Signal(kind)) else {
                continue;
            };
            if by_feature.contains_key(&feature) {
                self.warn_duplicate(kind, &feature);
                continue;
            }
            by_feature.insert(feature, s.points);
        }
        by_feature
            .into_iter()
            .map(|(f, points)| Signal::new(&f, kind, step, points))
            .collect()
    }

    /// Cost per minute per feature from token rates by model and token type, and the models
    /// seen per feature. A step where a model without a price used tokens is NaN: unknown,
    /// never a silent $0.
    fn priced(
        &mut self,
        cq: &CostQuery,
        step: u32,
        series: Vec<Series>,
    ) -> (Vec<Signal>, BTreeMap<String, BTreeSet<String>>) {
        let mut sums: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
        let mut models: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for s in series {
            let Some(feature) = self.feature_of(&s, Role::CostTokens) else {
                continue;
            };
            let model = s.labels.get(&cq.model_label).cloned().unwrap_or_default();
            let token_type = s.labels.get(&cq.token_type_label).map(String::as_str);
            let price = self.unit_price(cq, &model, token_type);
            if !model.is_empty() {
                // Shown in the signals pane: a label value is data, like any text from outside.
                let shown = SafeText::new(&model).to_string();
                models.entry(feature.clone()).or_default().insert(shown);
            }
            let acc = sums
                .entry(feature)
                .or_insert_with(|| vec![None; s.points.len()]);
            add_cost(acc, &s.points, price);
        }
        let signals = sums
            .into_iter()
            .map(|(f, acc)| {
                let points = acc.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect();
                Signal::new(&f, SignalKind::CostPerMin, step, points)
            })
            .collect();
        (signals, models)
    }

    /// USD per token for this model and token type, or None (warned once) when unknown.
    fn unit_price(&mut self, cq: &CostQuery, model: &str, token_type: Option<&str>) -> Option<f64> {
        let Some(price) = self.prices.get(model) else {
            if self.warnings.first(format!("price:{model}")) {
                tracing::warn!(
                    source = %self.warnings.source,
                    model,
                    "no price for this model in `prices`: cost of the features using it is unknown"
                );
            }
            return None;
        };
        match token_type {
            Some(t) if t == cq.input => Some(price.input / TOKENS_PER_PRICE_UNIT),
            Some(t) if t == cq.output => Some(price.output / TOKENS_PER_PRICE_UNIT),
            other => {
                let t = other.unwrap_or("");
                if self.warnings.first(format!("token_type:{t}")) {
                    tracing::warn!(
                        source = %self.warnings.source,
                        token_type = t,
                        "token type is neither input nor output: its cost is unknown"
                    );
                }
                None
            }
        }
    }

    /// The feature a series belongs to. A series without the feature label cannot be shown:
    /// the query does not aggregate `by` the feature label (warned once per query).
    fn feature_of(&mut self, s: &Series, role: Role) -> Option<String> {
        if let Some(f) = s.labels.get(self.feature_label) {
            // The feature name is shown everywhere and keys incidents, signals and levers:
            // sanitised here, once, so that every one of them agrees on it.
            return Some(SafeText::new(f).to_string());
        }
        if self.warnings.first(format!("unlabelled:{}", role.name())) {
            tracing::warn!(
                source = %self.warnings.source,
                query = %role.name(),
                label = self.feature_label,
                "query returned a series without the feature label; it is ignored"
            );
        }
        None
    }

    fn warn_duplicate(&mut self, kind: SignalKind, feature: &str) {
        if self
            .warnings
            .first(format!("duplicate:{}", kind_name(kind)))
        {
            tracing::warn!(
                source = %self.warnings.source,
                query = %kind_name(kind),
                feature,
                "query returned several series for one feature; only the first is shown"
            );
        }
    }
}

impl Prometheus {
    /// What `fetch` makes of the server's answers, one `(HTTP status, body)` per planned query
    /// in plan order (missing answers are empty bodies): the same decoding and assembly,
    /// without the network, so fuzzing and the regression tests drive the production path.
    pub fn decode_answers(
        &mut self,
        now: DateTime<Utc>,
        answers: &[(u16, &[u8])],
    ) -> Result<SignalSet, BackendError> {
        let end_ms = now.timestamp_millis();
        let results = self
            .plan
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let (status, body) = answers.get(i).copied().unwrap_or((200, b""));
                let grid = Grid::ending_at(end_ms, q.range_secs, q.step_secs);
                decode_query_range(status, body, grid).map_err(|e| naming_query(e, q.role))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.assemble(results, now))
    }

    /// How many queries one poll runs, i.e. how many answers `decode_answers` takes.
    pub fn query_count(&self) -> usize {
        self.plan.len()
    }
}

impl Prometheus {
    /// The signals over `range_secs` ending at `end`, on the source's own step: one chunk of
    /// a backtest. Queries on a coarser grid (daily cost) are left out: their points are
    /// days, not steps of the chunk. At most `MAX_POINTS` points per query, as Prometheus
    /// allows.
    pub async fn fetch_range(
        &mut self,
        end: DateTime<Utc>,
        range_secs: u64,
    ) -> Result<SignalSet, BackendError> {
        let step = self.plan.iter().map(|q| q.step_secs).min().unwrap_or(60);
        let points = range_secs / u64::from(step.max(1)) + 1;
        if points > MAX_POINTS {
            return Err(BackendError::Rejected(format!(
                "a chunk of {range_secs}s at {step}s steps is {points} points; Prometheus \
                 allows {MAX_POINTS}"
            )));
        }
        let daily: Vec<bool> = self.plan.iter().map(|q| q.step_secs != step).collect();
        let results = self
            .run_queries(end.timestamp_millis(), Some(range_secs))
            .await?;
        let results = results
            .into_iter()
            .zip(daily)
            .map(|(r, skip)| if skip { Vec::new() } else { r })
            .collect();
        Ok(self.assemble(results, end))
    }

    /// The step of the source's signals, in seconds.
    pub fn step_secs(&self) -> u32 {
        self.plan.iter().map(|q| q.step_secs).min().unwrap_or(60)
    }
}

impl MetricsSource for Prometheus {
    async fn fetch(&mut self, now: DateTime<Utc>) -> Result<SignalSet, BackendError> {
        let results = self.run_queries(now.timestamp_millis(), None).await?;
        Ok(self.assemble(results, now))
    }
}

/// Adds `rates × price` into `acc` step by step. No data at a step adds nothing; zero
/// tokens cost zero even without a price; tokens without a price make the step unknown.
fn add_cost(acc: &mut [Option<f64>], rates: &[f64], price: Option<f64>) {
    for (slot, &v) in acc.iter_mut().zip(rates) {
        if !v.is_finite() {
            continue;
        }
        let cost = match price {
            _ if v == 0.0 => 0.0,
            Some(p) => v * p,
            None => f64::NAN,
        };
        *slot = Some(slot.unwrap_or(0.0) + cost);
    }
}

fn feature_info(
    name: &str,
    models: Option<&BTreeSet<String>>,
    uses_retrieval: bool,
) -> FeatureInfo {
    let model = models
        .map(|m| m.iter().cloned().collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    // Prometheus knows traffic, not deployments: everything else is unknown here.
    FeatureInfo {
        uses_retrieval,
        ..FeatureInfo::traffic_only(name, &model)
    }
}

/// Puts the failing query's signal name into errors about that query. Unreachable and
/// timeout are about the server, not the query, and stay as they are.
fn naming_query(e: BackendError, role: Role) -> BackendError {
    let name = role.name();
    match e {
        BackendError::Http { status, message } => BackendError::Http {
            status,
            message: format!("{name} query: {message}"),
        },
        BackendError::Malformed(m) => BackendError::Malformed(format!("{name} query: {m}")),
        BackendError::Rejected(m) => BackendError::Rejected(format!("{name} query: {m}")),
        other => other,
    }
}

fn kind_name(kind: SignalKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{kind:?}"))
}

// ---- wire format ----------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Matrix>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Matrix {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<RawSeries>,
}

#[derive(Debug, Deserialize)]
struct RawSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// One `query_range` call. Not `http::send_json`: that flattens an error body into an
/// excerpt, and Prometheus puts the useful part (`errorType: error`) in JSON there.
async fn query_range(
    req: RequestBuilder,
    timeout: Duration,
    cap: ReplyCap,
    grid: Grid,
) -> Result<Vec<Series>, BackendError> {
    let resp = req
        .send()
        .await
        .map_err(|e| http::transport_error(e, timeout))?;
    let status = resp.status();
    let body = if status.is_success() {
        http::read_body(resp, cap, timeout).await?
    } else {
        http::read_error_body(resp).await
    };
    decode_query_range(status.as_u16(), &body, grid)
}

/// One `query_range` answer, HTTP status and body, to series laid on `grid`.
fn decode_query_range(status: u16, body: &[u8], grid: Grid) -> Result<Vec<Series>, BackendError> {
    if !(200..300).contains(&status) {
        return Err(api_error(status, body));
    }
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| BackendError::Malformed(e.to_string()))?;
    on_grid(matrix(envelope)?, grid)
}

/// `errorType: error` from Prometheus's error JSON, else an excerpt of whatever came back
/// (a proxy's HTML page, say).
fn api_error(status: u16, body: &[u8]) -> BackendError {
    let message = match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope {
            error_type: Some(t),
            error: Some(e),
            ..
        }) => format!("{t}: {e}"),
        _ => http::excerpt(&String::from_utf8_lossy(body)),
    };
    BackendError::Http { status, message }
}

fn matrix(envelope: Envelope) -> Result<Vec<RawSeries>, BackendError> {
    if envelope.status != "success" {
        let detail = envelope.error.unwrap_or_default();
        return Err(BackendError::Malformed(format!(
            "status {:?} with HTTP 200: {detail}",
            envelope.status
        )));
    }
    match envelope.data {
        Some(m) if m.result_type == "matrix" => Ok(m.result),
        Some(m) => Err(BackendError::Malformed(format!(
            "expected a matrix, got {:?}",
            m.result_type
        ))),
        None => Err(BackendError::Malformed("success without data".into())),
    }
}

fn on_grid(raw: Vec<RawSeries>, grid: Grid) -> Result<Vec<Series>, BackendError> {
    raw.into_iter()
        .map(|r| {
            let mut points = vec![f64::NAN; grid.len];
            for (t, v) in &r.values {
                let value = parse_value(v).ok_or_else(|| {
                    BackendError::Malformed(format!("value {v:?} is not a number"))
                })?;
                if let Some(i) = grid.index(*t) {
                    points[i] = value;
                }
            }
            Ok(Series {
                labels: r.metric,
                points,
            })
        })
        .collect()
}

/// Prometheus sends sample values as strings, including "NaN", "+Inf" and "-Inf". The
/// cockpit has no use for infinities (a quantile past the last bucket, a ratio over zero):
/// every non-finite value is "no value", NaN.
fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" | "+Inf" | "-Inf" | "Inf" => Some(f64::NAN),
        _ => s
            .parse::<f64>()
            .ok()
            .map(|v| if v.is_finite() { v } else { f64::NAN }),
    }
}

// ---- config -----------------------------------------------------------------------------

fn endpoint(url: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("url {url:?}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("url {url:?}: use http:// or https://"));
    }
    // Credentials in the URL would end up in error messages and logs; auth has a place.
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("url: put credentials under `auth`, not in the URL".into());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!(
            "url {url:?}: no query string or fragment, just the base URL"
        ));
    }
    Ok(format!(
        "{}/api/v1/query_range",
        parsed.as_str().trim_end_matches('/')
    ))
}

/// The feature label is pasted into PromQL; only a valid label name can be.
fn check_label_name(label: &str) -> Result<(), String> {
    let mut chars = label.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "feature_label {label:?} is not a Prometheus label name"
        ))
    }
}

/// A PromQL duration such as "5m" or "1h30m": digits followed by units, nothing else.
fn check_window(window: &str) -> Result<(), String> {
    let units = ["ms", "s", "m", "h", "d", "w", "y"];
    let mut rest = window;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let after = &rest[digits..];
        let unit = units.iter().find(|u| after.starts_with(**u));
        match unit {
            Some(u) if digits > 0 => rest = &after[u.len()..],
            _ => {
                return Err(format!(
                    "rate_window {window:?} is not a duration like \"5m\""
                ))
            }
        }
    }
    if window.is_empty() {
        return Err("rate_window is empty".into());
    }
    Ok(())
}

/// The step as `Signal` stores it, once the grid is known to be one Prometheus will serve.
fn check_grid(range_secs: u64, step_secs: u64) -> Result<u32, String> {
    let step = u32::try_from(step_secs).ok().filter(|s| *s > 0);
    let Some(step) = step else {
        return Err(format!(
            "step_secs must be between 1 and {}, got {step_secs}",
            u32::MAX
        ));
    };
    if range_secs < step_secs {
        return Err(format!(
            "range_secs ({range_secs}) must be at least step_secs ({step_secs})"
        ));
    }
    if range_secs / step_secs + 1 > MAX_POINTS {
        return Err(format!(
            "range_secs / step_secs is {} points; Prometheus allows {MAX_POINTS}",
            range_secs / step_secs + 1
        ));
    }
    Ok(step)
}

fn check_prices(prices: &BTreeMap<String, Price>) -> Result<(), String> {
    for (model, p) in prices {
        for (side, v) in [("input", p.input), ("output", p.output)] {
            if !v.is_finite() || v < 0.0 {
                return Err(format!(
                    "prices.{model:?}.{side} must be a price >= 0, got {v}"
                ));
            }
        }
    }
    Ok(())
}

fn presets() -> Result<BTreeMap<String, Preset>, String> {
    toml::from_str(PRESETS).map_err(|e| format!("built-in queries.toml: {e}"))
}

fn load_preset(name: &str) -> Result<Preset, String> {
    let mut all = presets()?;
    let known = all.keys().cloned().collect::<Vec<_>>().join(", ");
    all.remove(name)
        .ok_or_else(|| format!("unknown preset {name:?}; known presets: {known}"))
}

/// The queries one poll runs: the preset's, with the user's added or replacing them, and
/// placeholders filled in. A direct `cost_per_min` query (the user's USD/min) replaces the
/// priced tokens query.
fn plan(
    preset: Preset,
    cfg: &PrometheusConfig,
    step_secs: u32,
) -> Result<(Vec<Planned>, Option<CostQuery>), String> {
    let mut queries = preset.queries;
    for (kind, q) in &cfg.queries {
        if q.trim().is_empty() {
            return Err(format!("queries.{} is empty", kind_name(*kind)));
        }
        queries.insert(*kind, q.clone());
    }
    let cost = preset
        .cost
        .filter(|_| !queries.contains_key(&SignalKind::CostPerMin));
    let fill = |t: &str| {
        t.replace("{by}", &cfg.feature_label)
            .replace("{window}", &cfg.rate_window)
    };
    let grid_of = |kind| match kind {
        SignalKind::DailyCost => (u64::from(DAY_SECS) * DAILY_COST_DAYS, DAY_SECS),
        _ => (cfg.range_secs, step_secs),
    };
    let mut plan: Vec<Planned> = queries
        .iter()
        .map(|(kind, q)| {
            let (range_secs, step_secs) = grid_of(*kind);
            Planned {
                role: Role::Signal(*kind),
                promql: fill(q),
                range_secs,
                step_secs,
            }
        })
        .collect();
    if let Some(c) = &cost {
        plan.push(Planned {
            role: Role::CostTokens,
            promql: fill(&c.query),
            range_secs: cfg.range_secs,
            step_secs,
        });
    }
    Ok((plan, cost))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::timing::{PollSecs, TimeoutSecs};

    fn cfg(preset: &str) -> PrometheusConfig {
        PrometheusConfig {
            name: "prom".into(),
            url: "http://127.0.0.1:9090/".into(),
            preset: preset.into(),
            feature_label: "job".into(),
            poll_secs: PollSecs::try_from(15.0).expect("in range"),
            timeout_secs: TimeoutSecs::try_from(5.0).expect("in range"),
            max_reply_mib: 8,
            answer_time_factor: 4.0,
            range_secs: 7200,
            step_secs: 60,
            rate_window: "5m".into(),
            auth: None,
            queries: BTreeMap::new(),
            prices: BTreeMap::new(),
            tls: None,
        }
    }

    #[test]
    fn every_preset_loads_and_fills_its_placeholders() {
        for name in presets().expect("presets").keys() {
            let p = Prometheus::new(&cfg(name)).expect("preset builds");
            assert!(p.cost.is_some(), "{name} prices tokens");
            for q in &p.plan {
                assert!(!q.promql.contains("{by}") && !q.promql.contains("{window}"));
                assert!(
                    q.promql.contains("job") && q.promql.contains("[5m]"),
                    "{}",
                    q.promql
                );
            }
        }
    }

    #[test]
    fn overrides_replace_and_add_queries() {
        let mut c = cfg("otel");
        c.queries
            .insert(SignalKind::TtftP99, "my_ttft{by=\"{by}\"}".into());
        c.queries.insert(SignalKind::RetrievalHit, "hits".into());
        c.queries.insert(SignalKind::CostPerMin, "usd".into());
        let p = Prometheus::new(&c).expect("builds");
        let q = |role| {
            p.plan
                .iter()
                .find(|q| q.role == role)
                .map(|q| q.promql.clone())
        };
        assert_eq!(
            q(Role::Signal(SignalKind::TtftP99)),
            Some("my_ttft{by=\"job\"}".into())
        );
        assert_eq!(q(Role::Signal(SignalKind::CostPerMin)), Some("usd".into()));
        assert_eq!(q(Role::CostTokens), None);
        assert!(p.uses_retrieval);
    }

    #[test]
    fn bad_configs_are_named() {
        let err = |f: &dyn Fn(&mut PrometheusConfig)| {
            let mut c = cfg("otel");
            f(&mut c);
            Prometheus::new(&c).err().unwrap_or_default()
        };
        assert!(err(&|c| c.preset = "datadog".into()).contains("known presets: otel, vllm"));
        assert!(err(&|c| c.url = "ftp://x".into()).contains("http://"));
        assert!(err(&|c| c.url = "http://u:p@x".into()).contains("auth"));
        assert!(err(&|c| c.feature_label = "job) or (x".into()).contains("feature_label"));
        assert!(err(&|c| c.rate_window = "5 minutes".into()).contains("rate_window"));
        assert!(err(&|c| c.rate_window = String::new()).contains("rate_window"));
        assert!(err(&|c| c.step_secs = 0).contains("step_secs"));
        assert!(err(&|c| c.range_secs = 86_400 * 30).contains("11000"));
        assert!(err(&|c| {
            c.prices.insert(
                "m".into(),
                Price {
                    input: -1.0,
                    output: 1.0,
                },
            );
        })
        .contains("prices"));
        assert!(err(&|c| {
            c.queries.insert(SignalKind::Drift, " ".into());
        })
        .contains("queries.drift is empty"));
        assert!(err(&|c| {
            c.name = "eu".into();
            c.preset = "x".into();
        })
        .starts_with("[[prometheus]] \"eu\""));
    }

    #[test]
    fn windows_parse_like_promql_durations() {
        for ok in ["5m", "30s", "1h30m", "500ms", "2d"] {
            assert_eq!(check_window(ok), Ok(()), "{ok}");
        }
        for bad in ["m", "5", "5x", "-5m", "5m ", "5m]"] {
            assert!(check_window(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn grid_ends_at_now_and_maps_timestamps() {
        let g = Grid::ending_at(1_000_000_500, 7200, 60);
        assert_eq!(g.len, 121);
        assert_eq!(g.end_ms(), 1_000_000_500);
        assert_eq!(g.start_ms, 1_000_000_500 - 7_200_000);
        assert_eq!(g.index(992_800.5), Some(0));
        assert_eq!(g.index(1_000_000.5), Some(120));
        assert_eq!(g.index(1_000_060.5), None);
        assert_eq!(g.index(992_740.5), None);
        assert_eq!(secs_param(1_000_000_500), "1000000.500");
        assert_eq!(secs_param(60_000), "60.000");
        // A range that is not a whole number of steps keeps the end at now.
        let g = Grid::ending_at(100_000, 90, 60);
        assert_eq!((g.start_ms, g.len), (40_000, 2));
    }

    #[test]
    fn values_are_strings_and_non_finite_is_nan() {
        assert_eq!(parse_value("1.5"), Some(1.5));
        assert_eq!(parse_value("1e3"), Some(1000.0));
        assert!(parse_value("NaN").is_some_and(f64::is_nan));
        assert!(parse_value("+Inf").is_some_and(f64::is_nan));
        assert!(parse_value("-Inf").is_some_and(f64::is_nan));
        assert_eq!(parse_value("twelve"), None);
    }

    #[test]
    fn costs_add_up_and_unknown_prices_stay_unknown() {
        let mut acc = vec![None; 3];
        add_cost(&mut acc, &[60.0, f64::NAN, 0.0], Some(0.5));
        add_cost(&mut acc, &[10.0, f64::NAN, 5.0], None);
        add_cost(&mut acc, &[f64::NAN, f64::NAN, 0.0], None);
        assert!(acc[0].is_some_and(f64::is_nan));
        assert_eq!(acc[1], None);
        assert!(acc[2].is_some_and(f64::is_nan));
        let mut acc = vec![None; 2];
        add_cost(&mut acc, &[60.0, 0.0], Some(0.5));
        add_cost(&mut acc, &[f64::NAN, 0.0], None);
        assert_eq!(acc, vec![Some(30.0), Some(0.0)]);
    }

    #[test]
    fn errors_carry_prometheus_error_type() {
        let body = br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        assert_eq!(
            api_error(400, body),
            BackendError::Http {
                status: 400,
                message: "bad_data: parse error".into()
            }
        );
        assert_eq!(
            api_error(502, b"<html>\n bad gateway</html>"),
            BackendError::Http {
                status: 502,
                message: "<html> bad gateway</html>".into()
            }
        );
    }
}
