//! The Prometheus HTTP client: builds the source from its config, runs every planned
//! query at once, and assembles the answers into one `SignalSet`.

use super::config::{Price, PrometheusConfig};
use super::convention::{coarse, Conventions, Discovered};
use super::discover::Asker;
use super::engine::Engine;
use super::plan::{
    check_grid, check_label_name, check_prices, check_window, endpoint, load_preset, plan,
    plan_discovered, Planned, Role, MAX_POINTS,
};
use super::reading::{feature_info, with_requests, Reading, Warnings};
use super::shadow;
use super::wire::{decode_query_range, secs_param, Answer, Grid};
use crate::backend::http::{self, Auth, ReplyCap};
use crate::backend::{BackendError, MetricsSource};
use crate::domain::shadow::{ShadowAnswer, ShadowRequest, VariantFigures};
use crate::domain::{Coverage, CoverageState, Signal, SignalKind, SignalSet};
use chrono::{DateTime, Utc};
use reqwest::RequestBuilder;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;
use tokio::task::JoinSet;

/// Polls that ask for the build info before the engine is taken as Prometheus-compatible.
const IDENTIFY_TRIES: u32 = 3;

/// One Prometheus server as a metrics source: built from its `[[prometheus]]` entry, polled
/// by the metrics driver.
pub struct Prometheus {
    endpoint: String,
    /// `/api/v1/status/buildinfo` under the same base URL: which engine answers.
    buildinfo: String,
    /// Known once its build info answered; until then the Prometheus behaviour is assumed
    /// and the next poll asks again.
    engine: Option<Engine>,
    identify_tries: u32,
    client: http::Client,
    auth: Auth,
    timeout: Duration,
    /// Per query reply: the queries run at once, so a poll holds at most plan x cap.
    cap: ReplyCap,
    feature_label: String,
    segment_label: Option<String>,
    plan: Vec<Planned>,
    prices: BTreeMap<String, Price>,
    /// The config, to plan again when discovery finds other names.
    cfg: PrometheusConfig,
    step: u32,
    conventions: Conventions,
    /// What the server was found to hold, and when it was asked (cockpit time); until
    /// then the preset's queries run.
    found: Option<(Discovered, DateTime<Utc>)>,
    /// Whether the families found have stayed the same for `settle_secs`: until then every
    /// poll asks again.
    settled: bool,
    /// When the families found last changed (or were first found).
    changed_at: Option<DateTime<Utc>>,
    /// Signals no query can read on this server.
    missing: BTreeSet<SignalKind>,
    /// The query that gave each feature's signal its value in the last poll.
    chosen: BTreeMap<(String, SignalKind), String>,
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
        // Secrets and certificate files may be missing on the machine that checks: those are
        // warnings there (`secret_problems`), and the source's error where it runs.
        Self::build(&PrometheusConfig {
            auth: None,
            tls: None,
            ..cfg.clone()
        })
        .map(drop)
    }

    fn build(cfg: &PrometheusConfig) -> Result<Prometheus, String> {
        let endpoint = endpoint(&cfg.url)?;
        let buildinfo = endpoint.replace("/api/v1/query_range", "/api/v1/status/buildinfo");
        let timeout = cfg.timeout_secs.duration();
        check_label_name("feature_label", &cfg.feature_label)?;
        if let Some(seg) = &cfg.segment_label {
            check_label_name("segment_label", seg)?;
            if *seg == cfg.feature_label {
                return Err(format!(
                    "segment_label {seg:?} is the feature label; name the label of the user \
                     segment or tenant"
                ));
            }
        }
        check_window(&cfg.rate_window)?;
        let step_secs = check_grid(cfg.range_secs, cfg.step_secs)?;
        check_prices(&cfg.prices)?;
        let plan = plan(load_preset(&cfg.preset)?, cfg, step_secs)?;
        let conventions = Conventions::load()?;
        let auth = Auth::from_config(cfg.auth.as_ref())?;
        let client =
            http::Client::new(timeout, cfg.tls.as_ref(), &cfg.url).map_err(|e| e.to_string())?;
        Ok(Prometheus {
            endpoint,
            buildinfo,
            engine: None,
            identify_tries: 0,
            client,
            auth,
            timeout,
            cap: ReplyCap::mib(cfg.max_reply_mib),
            feature_label: cfg.feature_label.clone(),
            segment_label: cfg.segment_label.clone(),
            uses_retrieval: uses_retrieval(&plan),
            plan,
            prices: cfg.prices.clone(),
            cfg: cfg.clone(),
            step: step_secs,
            conventions,
            found: None,
            settled: false,
            changed_at: None,
            missing: BTreeSet::new(),
            chosen: BTreeMap::new(),
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
        now_ms: i64,
        range: Option<u64>,
    ) -> Result<Vec<Answer>, BackendError> {
        let mut tasks = JoinSet::new();
        for (i, q) in self.plan.iter().enumerate() {
            let grid = self.grid(now_ms, range.unwrap_or(q.range_secs), q.step_secs);
            let req = self.request(&q.promql, grid);
            let (timeout, cap) = (self.timeout, self.cap);
            tasks.spawn(async move { (i, query_range(req, timeout, cap, grid).await) });
        }
        let mut slots: Vec<Option<Result<Answer, BackendError>>> =
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

    /// The grid a query asks for at `now_ms`: aligned to the source's step, and ending
    /// before the engine's latency offset.
    fn grid(&self, now_ms: i64, range_secs: u64, step_secs: u32) -> Grid {
        let lag_ms = self
            .engine
            .as_ref()
            .map_or(0, |e| i64::from(e.latency_offset_secs) * 1000);
        Grid::aligned(now_ms, lag_ms, self.step_secs(), range_secs, step_secs)
    }

    /// Asks which engine answers, once it can. A server that cannot be reached is asked again
    /// next poll (its queries fail the poll anyway); any answer at all identifies it.
    /// The question gets a quarter of the poll's timeout, so a proxy that swallows it never
    /// costs the poll its signals; after `IDENTIFY_TRIES` unanswered, the engine is taken to
    /// be Prometheus-compatible and no longer asked.
    async fn identify(&mut self) {
        if self.engine.is_some() {
            return;
        }
        let asked = tokio::time::timeout(self.timeout / 4, self.probe_engine()).await;
        match asked {
            Ok(Ok(engine)) => {
                tracing::info!(source = %self.warnings.source, engine = %engine.name, "PromQL engine identified");
                self.engine = Some(engine);
            }
            _ => {
                self.identify_tries += 1;
                if self.identify_tries >= IDENTIFY_TRIES {
                    tracing::warn!(source = %self.warnings.source, "build info never answered; assuming Prometheus behaviour");
                    self.engine = Some(Engine::unanswered());
                }
            }
        }
    }

    /// Asks which metric families the server holds, before the first poll and again every
    /// `rediscover_secs` (services get instrumented, deploys add names), and plans the
    /// queries that read them. Gets half the poll's timeout; a failure keeps the plan it
    /// had and asks again next poll.
    async fn rediscover(&mut self, now: DateTime<Utc>) {
        let every = i64::try_from(self.conventions.rediscover_secs).unwrap_or(i64::MAX);
        if let Some((_, at)) = &self.found {
            if self.settled && (now - *at).num_seconds() < every && now >= *at {
                return;
            }
        }
        match tokio::time::timeout(self.timeout / 2, self.discover()).await {
            // Services start exporting one after another: while what is found still changes
            // (or nothing GenAI is there yet) the next poll asks again.
            Ok(Ok(found)) if found.families.iter().all(|f| f == "target_info") => {
                self.settled = false;
            }
            Ok(Ok(found)) => {
                let same = self
                    .found
                    .as_ref()
                    .is_some_and(|(f, _)| f.families == found.families);
                if !same {
                    self.changed_at = Some(now);
                }
                let settle = i64::try_from(self.conventions.settle_secs).unwrap_or(i64::MAX);
                self.settled = self
                    .changed_at
                    .is_some_and(|t| (now - t).num_seconds() >= settle);
                self.use_discovered(found, now);
            }
            Ok(Err(e)) => {
                if self.warnings.first(format!("discover:{e}")) {
                    tracing::warn!(source = %self.warnings.source, error = %e, "could not ask which metric families exist; keeping the queries planned so far");
                }
            }
            Err(_) => {
                if self.warnings.first("discover:timeout".into()) {
                    tracing::warn!(source = %self.warnings.source, "asking which metric families exist timed out; keeping the queries planned so far");
                }
            }
        }
    }

    /// What the server holds now (`doctor` asks without polling).
    pub async fn discover(&self) -> Result<Discovered, BackendError> {
        let base = self.endpoint.trim_end_matches("/api/v1/query_range");
        let asker = Asker {
            client: &self.client,
            auth: &self.auth,
            base,
            timeout: self.timeout,
            cap: self.cap,
        };
        let histograms = self
            .conventions
            .signals
            .values()
            .flatten()
            .filter_map(|c| c.histogram.clone())
            .collect();
        asker
            .discover(&self.conventions, &self.feature_label, &histograms)
            .await
    }

    /// Plans the queries that read what was found.
    pub fn use_discovered(&mut self, found: Discovered, now: DateTime<Utc>) {
        let (plan, missing) = plan_discovered(&self.conventions, &found, &self.cfg, self.step);
        if self.found.as_ref().map(|(f, _)| &f.families) != Some(&found.families) {
            tracing::info!(
                source = %self.warnings.source,
                families = ?found.families,
                queries = plan.len(),
                "metric families found; queries planned for them"
            );
        }
        self.uses_retrieval = uses_retrieval(&plan);
        self.plan = plan;
        self.missing = missing;
        self.found = Some((found, now));
    }

    /// Each planned query with the signal it reads and, for a fallback, what it measures.
    pub fn planned(&self) -> Vec<(SignalKind, String, Option<String>)> {
        self.plan
            .iter()
            .map(|p| (signal_of(p.role), p.promql.clone(), p.fallback.clone()))
            .collect()
    }

    /// The query that gave `feature`'s `kind` its value in the last poll, after the
    /// convention it reads in parentheses.
    pub fn chosen_query(&self, feature: &str, kind: SignalKind) -> Option<String> {
        self.chosen.get(&(feature.to_string(), kind)).cloned()
    }

    /// Signals no query can read on this server, with what is absent and how to get it.
    pub fn missing(&self) -> Vec<(SignalKind, String)> {
        self.missing
            .iter()
            .map(|k| {
                (
                    *k,
                    self.conventions.missing.get(k).cloned().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Which engine answers, asked now (`check-config --probe` asks without polling).
    pub async fn probe_engine(&self) -> Result<Engine, BackendError> {
        let req = self.auth.apply(self.client.get(&self.buildinfo));
        let resp = req
            .send()
            .await
            .map_err(|e| http::transport_error(e, self.timeout))?;
        let status = resp.status().as_u16();
        let victoria = resp.headers().contains_key("x-server-hostname");
        let body = if resp.status().is_success() {
            http::read_body(resp, self.cap, self.timeout).await?
        } else {
            http::read_error_body(resp).await
        };
        Ok(Engine::identify(status, victoria, &body))
    }

    /// The engine as identified (or assumed until then).
    pub fn engine(&self) -> Engine {
        self.engine.clone().unwrap_or_else(Engine::assumed)
    }

    /// Logs once per query how an answer missed the grid it asked for.
    fn warn_grid(&mut self, role: Role, answer: &Answer) {
        if answer.shifted_ms != 0 && self.warnings.first(format!("shifted:{}", role.name())) {
            tracing::warn!(
                source = %self.warnings.source,
                query = %role.name(),
                shifted_ms = answer.shifted_ms,
                "the engine answered on instants other than the ones asked for; its points \
                 keep their own times"
            );
        }
        if answer.off_grid > 0 && self.warnings.first(format!("off_grid:{}", role.name())) {
            tracing::warn!(
                source = %self.warnings.source,
                query = %role.name(),
                points = answer.off_grid,
                "points between the step's instants were dropped"
            );
        }
    }

    fn assemble(&mut self, results: Vec<Answer>, now: DateTime<Utc>) -> SignalSet {
        let plan = self.plan.clone();
        for (q, answer) in plan.iter().zip(&results) {
            self.warn_grid(q.role, answer);
        }
        // Every query's signals, by the signal they read, in rank order.
        let mut read: BTreeMap<SignalKind, Vec<(&Planned, Vec<Signal>)>> = BTreeMap::new();
        let mut models: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut reading = Reading {
            feature_label: &self.feature_label,
            segment_label: self.segment_label.as_deref(),
            prices: &self.prices,
            warnings: &mut self.warnings,
        };
        let mut requests = BTreeMap::new();
        for (q, answer) in plan.iter().zip(results) {
            let end = DateTime::<Utc>::from_timestamp_millis(answer.end_ms).unwrap_or(now);
            let signals = match (q.role, &q.cost) {
                (Role::Signal(kind), _) => reading.direct(kind, q.step_secs, answer.series),
                (Role::CostTokens, Some(cq)) => {
                    let (cost, seen) = reading.priced(cq, q.step_secs, answer.series);
                    for (feature, m) in seen {
                        models.entry(feature).or_default().extend(m);
                    }
                    cost
                }
                (Role::SegmentRequests, _) => {
                    requests.extend(reading.per_segment(answer.series));
                    continue;
                }
                // Never planned without its labels.
                (Role::CostTokens, None) => Vec::new(),
            };
            let signals = signals.into_iter().map(|s| s.ending_at(end)).collect();
            read.entry(signal_of(q.role))
                .or_default()
                .push((q, signals));
        }
        let mut signals = Vec::new();
        let mut coverage = Vec::new();
        let mut queries = BTreeMap::new();
        for (kind, mut candidates) in read {
            candidates.sort_by_key(|(q, _)| q.rank);
            let (chosen, cov) = self.choose(kind, candidates);
            for (sig, promql) in chosen {
                queries.insert((sig.feature.clone(), kind), promql);
                signals.push(sig);
            }
            coverage.extend(cov);
        }
        self.chosen = queries;
        for sig in signals
            .iter_mut()
            .filter(|s| s.kind == SignalKind::CostPerMin)
        {
            with_requests(sig, &requests);
        }
        signals.sort_by(|a, b| (&a.feature, a.kind).cmp(&(&b.feature, b.kind)));
        let names: BTreeSet<String> = signals
            .iter()
            .map(|s| s.feature.clone())
            .chain(models.keys().cloned())
            .collect();
        // Once the server has said what it holds, every signal the cockpit knows is
        // accounted for on every feature: a value, or why there is none.
        if self.found.is_some() {
            for feature in &names {
                for (kind, hint) in &self.conventions.missing {
                    let shown = signals
                        .iter()
                        .any(|s| &s.feature == feature && s.kind == *kind)
                        || coverage
                            .iter()
                            .any(|c: &Coverage| &c.feature == feature && c.kind == *kind);
                    if !shown {
                        coverage.push(Coverage {
                            feature: feature.clone(),
                            kind: *kind,
                            state: CoverageState::Missing(hint.clone()),
                        });
                    }
                }
            }
        }
        let features = names
            .iter()
            .map(|n| feature_info(n, models.get(n), self.uses_retrieval, &self.prices))
            .collect();
        SignalSet {
            at: Some(now),
            signals,
            distributions: Vec::new(),
            features,
            engine: self.engine.as_ref().map(|e| e.name.clone()),
            notes: self.engine().notes(),
            coverage,
        }
    }

    /// Per feature, the signal of the first candidate that gives it a value worth showing:
    /// one with a number, and, for a quantile, one its buckets resolve. A feature whose
    /// candidates all came back empty keeps the first empty one (its age and "no data" say
    /// the rest); one whose only numbers fell in coarse buckets is "unreliable".
    fn choose(
        &self,
        kind: SignalKind,
        candidates: Vec<(&Planned, Vec<Signal>)>,
    ) -> (Vec<(Signal, String)>, Vec<Coverage>) {
        let ratio = self.conventions.coarse_ratio;
        let buckets = self.found.as_ref().map(|(f, _)| &f.buckets);
        let mut chosen: BTreeMap<String, (Signal, &Planned)> = BTreeMap::new();
        let mut empty: BTreeMap<String, (Signal, String)> = BTreeMap::new();
        let mut unreliable: BTreeMap<String, String> = BTreeMap::new();
        for (q, sigs) in candidates {
            for sig in sigs {
                if chosen.contains_key(&sig.feature) {
                    continue;
                }
                let Some(newest) = sig.points.iter().rev().copied().find(|v| v.is_finite()) else {
                    empty
                        .entry(sig.feature.clone())
                        .or_insert((sig, format!("({}) {}", q.convention, q.promql)));
                    continue;
                };
                let bounds = q
                    .histogram
                    .as_ref()
                    .and_then(|h| buckets.and_then(|b| b.get(&(h.clone(), sig.feature.clone()))));
                if let (Some(h), Some(bounds)) = (&q.histogram, bounds) {
                    if let Some(c) = coarse(newest, bounds, ratio) {
                        unreliable
                            .entry(sig.feature.clone())
                            .or_insert_with(|| coarse_text(h, kind, newest, c.lower, c.upper));
                        continue;
                    }
                }
                chosen.insert(sig.feature.clone(), (sig, q));
            }
        }
        let mut coverage = Vec::new();
        for (feature, why) in unreliable {
            if !chosen.contains_key(&feature) {
                empty.remove(&feature);
                coverage.push(Coverage {
                    feature,
                    kind,
                    state: CoverageState::Unreliable(why),
                });
            }
        }
        let mut signals = Vec::new();
        for (feature, (sig, q)) in chosen {
            empty.remove(&feature);
            if let Some(what) = &q.fallback {
                coverage.push(Coverage {
                    feature,
                    kind,
                    state: CoverageState::Fallback(what.clone()),
                });
            }
            signals.push((sig, format!("({}) {}", q.convention, q.promql)));
        }
        signals.extend(empty.into_values());
        (signals, coverage)
    }
}

/// "coarse buckets — … — fix: …": what the number would have been, why it is not one, and
/// the boundaries that resolve it.
fn coarse_text(histogram: &str, kind: SignalKind, value: f64, lower: f64, upper: f64) -> String {
    let family = histogram.trim_end_matches("_bucket");
    let bucket = if upper.is_finite() {
        format!(
            "p99 {} lies in the bucket ({}, {}]",
            kind.format(value),
            kind.format(lower),
            kind.format(upper)
        )
    } else {
        format!(
            "p99 is above the last bucket boundary {}",
            kind.format(lower)
        )
    };
    format!(
        "coarse buckets — {bucket} of {family} — fix: explicit bucket boundaries for it (an OTel SDK View with ExplicitBucketHistogramAggregation, e.g. [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])"
    )
}

fn signal_of(role: Role) -> SignalKind {
    match role {
        Role::Signal(k) => k,
        Role::CostTokens | Role::SegmentRequests => SignalKind::CostPerMin,
    }
}

fn uses_retrieval(plan: &[Planned]) -> bool {
    plan.iter()
        .any(|p| p.role == Role::Signal(SignalKind::RetrievalHit))
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
        let now_ms = now.timestamp_millis();
        let results = self
            .plan
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let (status, body) = answers.get(i).copied().unwrap_or((200, b""));
                let grid = self.grid(now_ms, q.range_secs, q.step_secs);
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
            .map(|(r, skip)| {
                if skip {
                    Answer {
                        series: Vec::new(),
                        ..r
                    }
                } else {
                    r
                }
            })
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
        self.identify().await;
        self.rediscover(now).await;
        let results = self.run_queries(now.timestamp_millis(), None).await?;
        Ok(self.assemble(results, now))
    }

    /// Every figure of both variants at once, each an instant over the window (one point of
    /// `query_range`, so answers decode as the poll's do); the first failure fails the
    /// comparison, naming its query.
    async fn compare(
        &mut self,
        request: &ShadowRequest,
        now: DateTime<Utc>,
    ) -> Result<ShadowAnswer, BackendError> {
        let window = request.window_secs.max(1);
        let grid = self.grid(now.timestamp_millis(), 0, window);
        let mut tasks = JoinSet::new();
        let variants = [
            (request.current.as_str(), false),
            (request.target.as_str(), true),
        ];
        for (v, (value, target)) in variants.iter().enumerate() {
            let queries = shadow::queries(request, &self.feature_label, value, *target);
            for (i, (part, promql)) in queries.into_iter().enumerate() {
                let req = self.request(&promql, grid);
                let (timeout, cap) = (self.timeout, self.cap);
                tasks
                    .spawn(async move { (v, i, part, query_range(req, timeout, cap, grid).await) });
            }
        }
        let mut results: [Vec<Numbered>; 2] = [Vec::new(), Vec::new()];
        while let Some(joined) = tasks.join_next().await {
            let (v, i, part, r) =
                joined.map_err(|e| BackendError::Unreachable(format!("query task failed: {e}")))?;
            results[v].push((i, part, r));
        }
        let mut read = Vec::new();
        for (mut rs, (value, target)) in results.into_iter().zip(variants) {
            rs.sort_by_key(|(i, _, _)| *i);
            let answers = shadow::first_error(rs.into_iter().map(|(_, p, r)| (p, r)).collect())?;
            let (figures, fallback) = shadow::figures(value, target, &answers, &self.prices);
            let figures = if figures.has_data() {
                figures
            } else if target {
                VariantFigures::none(value, true, &request.no_target_data())
            } else {
                figures
            };
            read.push((figures, fallback));
        }
        let mut read = read.into_iter();
        let (Some((current, fell_back)), Some((target, target_fell_back))) =
            (read.next(), read.next())
        else {
            return Err(BackendError::Malformed("comparison lost a variant".into()));
        };
        Ok(ShadowAnswer {
            current,
            target,
            latency_note: (fell_back || target_fell_back)
                .then(|| "operation duration p95 (no time-to-first-token series)".to_string()),
        })
    }
}

/// One query's answer with its place among a variant's comparison queries.
type Numbered = (usize, shadow::Part, Result<Answer, BackendError>);

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

/// One `query_range` call. Not `http::send_json`: that flattens an error body into an
/// excerpt, and Prometheus puts the useful part (`errorType: error`) in JSON there.
async fn query_range(
    req: RequestBuilder,
    timeout: Duration,
    cap: ReplyCap,
    grid: Grid,
) -> Result<Answer, BackendError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::prometheus::plan::presets;
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
            tls: None,
            segment_label: None,
            queries: BTreeMap::new(),
            prices: BTreeMap::new(),
        }
    }

    #[test]
    fn every_preset_loads_and_fills_its_placeholders() {
        for name in presets().expect("presets").keys() {
            let p = Prometheus::new(&cfg(name)).expect("preset builds");
            assert!(
                p.plan.iter().any(|q| q.cost.is_some()),
                "{name} prices tokens"
            );
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
    fn a_segment_label_splits_the_priced_query_and_adds_requests() {
        for name in presets().expect("presets").keys() {
            let plain = Prometheus::new(&cfg(name)).expect("builds");
            assert!(plain.plan.iter().all(|q| q.role != Role::SegmentRequests));
            let mut c = cfg(name);
            c.segment_label = Some("tenant".into());
            let p = Prometheus::new(&c).expect("builds");
            let q = |role| {
                p.plan
                    .iter()
                    .find(|q| q.role == role)
                    .map(|q| q.promql.clone())
                    .unwrap_or_default()
            };
            assert!(q(Role::CostTokens).contains("job, tenant"), "{name}");
            assert!(
                q(Role::SegmentRequests).contains("sum by (job, tenant)"),
                "{name}"
            );
            // Every other query stays one series per feature.
            assert!(p
                .plan
                .iter()
                .filter(|q| matches!(q.role, Role::Signal(_)))
                .all(|q| !q.promql.contains("tenant")));
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
        assert!(err(&|c| c.segment_label = Some("tenant}".into())).contains("segment_label"));
        assert!(err(&|c| c.segment_label = Some("job".into())).contains("is the feature label"));
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
}
