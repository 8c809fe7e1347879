//! What one poll asks Prometheus: the built-in presets, the user's query overrides, and
//! the config checks that keep every query one Prometheus will serve.

use super::config::{Price, PrometheusConfig};
use super::convention::{Conventions, Discovered};
use crate::domain::SignalKind;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

const PRESETS: &str = include_str!("queries.toml");

/// Prometheus refuses a `query_range` that would return more points per series than this.
pub(super) const MAX_POINTS: u64 = 11_000;

/// Daily cost has the simulator's shape: one point per day, the past 7 days and today.
const DAY_SECS: u32 = 86_400;
const DAILY_COST_DAYS: u64 = 7;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Preset {
    #[serde(default)]
    queries: BTreeMap<SignalKind, String>,
    #[serde(default)]
    cost: Option<CostQuery>,
    #[serde(default)]
    split: Option<SplitQuery>,
}

/// What the per-segment split needs beyond the cost query: requests per minute.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SplitQuery {
    /// Requests per minute by `{by}` (which then names the segment label too).
    requests: String,
    /// The family it reads: a discovering source plans it only where the family exists.
    family: String,
}

/// Tokens per minute by feature, model and token type; the adapter applies the price table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CostQuery {
    pub(super) query: String,
    pub(super) model_label: String,
    pub(super) token_type_label: String,
    /// Values of `token_type_label` priced as input and as output tokens.
    pub(super) input: String,
    pub(super) output: String,
}

/// What the series of one query become.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    Signal(SignalKind),
    /// Token rates priced into `CostPerMin`.
    CostTokens,
    /// Requests per minute by feature and segment: the traffic behind each segment's spend.
    SegmentRequests,
}

impl Role {
    pub(super) fn name(self) -> String {
        match self {
            Role::Signal(kind) => kind_name(kind),
            Role::CostTokens => kind_name(SignalKind::CostPerMin),
            Role::SegmentRequests => "segment_requests".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct Planned {
    pub(super) role: Role,
    pub(super) promql: String,
    pub(super) range_secs: u64,
    /// Checked to fit `Signal::step_secs` when the config is loaded.
    pub(super) step_secs: u32,
    /// Order among the queries of one signal: per feature, the first that gives the
    /// feature a value wins.
    pub(super) rank: usize,
    /// What the query measures instead, when it is a fallback for its signal.
    pub(super) fallback: Option<String>,
    /// The `_bucket` family of a quantile query, whose boundaries are checked.
    pub(super) histogram: Option<String>,
    /// For `Role::CostTokens`: the labels to price by.
    pub(super) cost: Option<CostQuery>,
    /// Whose names it reads ("OpenTelemetry GenAI, unit suffix (Traceloop)", the preset,
    /// the user's query).
    pub(super) convention: String,
}

impl Planned {
    fn new(role: Role, promql: String, range_secs: u64, step_secs: u32) -> Planned {
        Planned {
            role,
            promql,
            range_secs,
            step_secs,
            rank: 0,
            fallback: None,
            histogram: None,
            cost: None,
            convention: String::new(),
        }
    }
}

pub(super) fn kind_name(kind: SignalKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{kind:?}"))
}

pub(super) fn endpoint(url: &str) -> Result<String, String> {
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

/// A label (`feature_label`, `segment_label`) is pasted into PromQL; only a valid label name
/// can be.
pub(super) fn check_label_name(key: &str, label: &str) -> Result<(), String> {
    let mut chars = label.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!("{key} {label:?} is not a Prometheus label name"))
    }
}

/// A PromQL duration such as "5m" or "1h30m": digits followed by units, nothing else.
pub(super) fn check_window(window: &str) -> Result<(), String> {
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
pub(super) fn check_grid(range_secs: u64, step_secs: u64) -> Result<u32, String> {
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

pub(super) fn check_prices(prices: &BTreeMap<String, Price>) -> Result<(), String> {
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

pub(super) fn presets() -> Result<BTreeMap<String, Preset>, String> {
    toml::from_str(PRESETS).map_err(|e| format!("built-in queries.toml: {e}"))
}

pub(super) fn load_preset(name: &str) -> Result<Preset, String> {
    let mut all = presets()?;
    let known = all.keys().cloned().collect::<Vec<_>>().join(", ");
    all.remove(name)
        .ok_or_else(|| format!("unknown preset {name:?}; known presets: {known}"))
}

/// The queries one poll runs before the server has said which names it holds: the
/// preset's, with the user's added or replacing them, and placeholders filled in. A direct
/// `cost_per_min` query (the user's USD/min) replaces the priced tokens query.
pub(super) fn plan(
    preset: Preset,
    cfg: &PrometheusConfig,
    step_secs: u32,
) -> Result<Vec<Planned>, String> {
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
    let fill = |t: &str| fill(t, cfg, "");
    let mut plan: Vec<Planned> = queries
        .iter()
        .map(|(kind, q)| {
            let (range_secs, step_secs) = grid_of(cfg, *kind, step_secs);
            let convention = if cfg.queries.contains_key(kind) {
                "queries in config.toml"
            } else {
                "the preset"
            };
            Planned {
                convention: convention.into(),
                ..Planned::new(Role::Signal(*kind), fill(q), range_secs, step_secs)
            }
        })
        .collect();
    if let Some(c) = cost {
        plan.push(Planned {
            cost: Some(c.clone()),
            convention: "the preset".into(),
            ..Planned::new(
                Role::CostTokens,
                fill_split(&c.query, cfg, ""),
                cfg.range_secs,
                step_secs,
            )
        });
        if let (Some(_), Some(split)) = (&cfg.segment_label, &preset.split) {
            plan.push(Planned {
                convention: "the preset".into(),
                ..Planned::new(
                    Role::SegmentRequests,
                    fill_split(&split.requests, cfg, ""),
                    cfg.range_secs,
                    step_secs,
                )
            });
        }
    }
    Ok(plan)
}

/// `fill`, with `{by}` naming the segment label too when the source splits by segment: for
/// the priced tokens query (the feature's cost is then the sum over its segments) and the
/// requests behind each segment's spend.
fn fill_split(template: &str, cfg: &PrometheusConfig, join: &str) -> String {
    match &cfg.segment_label {
        Some(seg) => fill_by(
            template,
            cfg,
            join,
            &format!("{}, {seg}", cfg.feature_label),
        ),
        None => fill(template, cfg, join),
    }
}

/// With a segment label, the requests query of every preset whose request family the server
/// holds: the traffic behind each segment's spend, whatever the instrumentation.
fn split_requests(found: &Discovered, cfg: &PrometheusConfig, step_secs: u32) -> Vec<Planned> {
    if cfg.segment_label.is_none() {
        return Vec::new();
    }
    let Ok(presets) = presets() else {
        return Vec::new();
    };
    presets
        .into_values()
        .filter_map(|p| p.split)
        .filter(|split| found.has_all(std::slice::from_ref(&split.family)))
        .map(|split| {
            let join = found.join(&split.family, &cfg.feature_label);
            Planned {
                convention: format!("requests from {}", split.family),
                ..Planned::new(
                    Role::SegmentRequests,
                    fill_split(&split.requests, cfg, &join),
                    cfg.range_secs,
                    step_secs,
                )
            }
        })
        .collect()
}

fn grid_of(cfg: &PrometheusConfig, kind: SignalKind, step_secs: u32) -> (u64, u32) {
    match kind {
        SignalKind::DailyCost => (u64::from(DAY_SECS) * DAILY_COST_DAYS, DAY_SECS),
        _ => (cfg.range_secs, step_secs),
    }
}

fn fill(template: &str, cfg: &PrometheusConfig, join: &str) -> String {
    fill_by(template, cfg, join, &cfg.feature_label)
}

/// Placeholders filled: `{join}`, `{by}` (the labels to aggregate by), `{window}`.
fn fill_by(template: &str, cfg: &PrometheusConfig, join: &str, by: &str) -> String {
    template
        .replace("{join}", join)
        .replace("{by}", by)
        .replace("{window}", &cfg.rate_window)
}

/// The queries one poll runs once the server has said which families it holds: for each
/// signal, every candidate of conventions.toml whose families exist, best first; the user's
/// `queries` replace a signal's candidates. Also returns the signals nothing can read.
pub(super) fn plan_discovered(
    conv: &Conventions,
    found: &Discovered,
    cfg: &PrometheusConfig,
    step_secs: u32,
) -> (Vec<Planned>, BTreeSet<SignalKind>) {
    let label = cfg.feature_label.as_str();
    let mut plan = Vec::new();
    for (kind, q) in &cfg.queries {
        let (range_secs, step) = grid_of(cfg, *kind, step_secs);
        plan.push(Planned {
            convention: "queries in config.toml".into(),
            ..Planned::new(Role::Signal(*kind), fill(q, cfg, ""), range_secs, step)
        });
    }
    let user_cost = cfg.queries.contains_key(&SignalKind::CostPerMin);
    if !user_cost {
        for (rank, c) in conv.cost.iter().enumerate() {
            if !found.has_all(&c.requires) {
                continue;
            }
            let join = found.join(&c.requires[0], label);
            plan.push(Planned {
                rank,
                convention: c.convention.clone(),
                cost: Some(CostQuery {
                    query: c.query.clone(),
                    model_label: c.model_label.clone(),
                    token_type_label: c.token_type_label.clone(),
                    input: c.input.clone(),
                    output: c.output.clone(),
                }),
                ..Planned::new(
                    Role::CostTokens,
                    fill_split(&c.query, cfg, &join),
                    cfg.range_secs,
                    step_secs,
                )
            });
        }
        if plan.iter().any(|p| p.role == Role::CostTokens) {
            plan.extend(split_requests(found, cfg, step_secs));
        }
    }
    for (kind, candidates) in &conv.signals {
        if cfg.queries.contains_key(kind) {
            continue;
        }
        // Direct cost candidates come after the priced ones.
        let offset = if *kind == SignalKind::CostPerMin {
            conv.cost.len()
        } else {
            0
        };
        for (rank, c) in candidates.iter().enumerate() {
            if !found.has_all(&c.requires) {
                continue;
            }
            let join = found.join(&c.requires[0], label);
            let (range_secs, step) = grid_of(cfg, *kind, step_secs);
            plan.push(Planned {
                rank: offset + rank,
                fallback: c.fallback.clone(),
                histogram: c.histogram.clone(),
                convention: c.convention.clone(),
                ..Planned::new(
                    Role::Signal(*kind),
                    fill(&c.query, cfg, &join),
                    range_secs,
                    step,
                )
            });
        }
    }
    let read: BTreeSet<SignalKind> = plan
        .iter()
        .map(|p| match p.role {
            Role::Signal(k) => k,
            Role::CostTokens | Role::SegmentRequests => SignalKind::CostPerMin,
        })
        .collect();
    let missing = conv
        .missing
        .keys()
        .filter(|k| !read.contains(k))
        .copied()
        .collect();
    (plan, missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::timing::{PollSecs, TimeoutSecs};

    fn cfg(label: &str) -> PrometheusConfig {
        PrometheusConfig {
            name: "p".into(),
            url: "http://127.0.0.1:9090".into(),
            preset: "otel".into(),
            feature_label: label.into(),
            poll_secs: PollSecs::try_from(15.0).expect("in range"),
            timeout_secs: TimeoutSecs::try_from(5.0).expect("in range"),
            max_reply_mib: 8,
            answer_time_factor: 4.0,
            range_secs: 7200,
            step_secs: 60,
            rate_window: "5m".into(),
            auth: None,
            segment_label: None,
            queries: BTreeMap::new(),
            prices: BTreeMap::new(),
            tls: None,
        }
    }

    fn found(families: &[&str], labelled: &[&str]) -> Discovered {
        Discovered {
            families: families.iter().map(|f| f.to_string()).collect(),
            labelled: labelled.iter().map(|f| f.to_string()).collect(),
            target_info_labelled: true,
            buckets: BTreeMap::new(),
        }
    }

    fn queries(plan: &[Planned], kind: SignalKind) -> Vec<&Planned> {
        plan.iter()
            .filter(|p| match p.role {
                Role::Signal(k) => k == kind,
                Role::CostTokens => kind == SignalKind::CostPerMin,
                Role::SegmentRequests => false,
            })
            .collect()
    }

    #[test]
    fn discovered_names_pick_the_queries_and_the_rest_is_missing() {
        let conv = Conventions::load().expect("conventions");
        // Traceloop's names, service.name only on target_info.
        let traceloop = found(
            &[
                "gen_ai_client_token_usage_token_sum",
                "gen_ai_client_operation_duration_seconds_bucket",
                "gen_ai_client_operation_duration_seconds_count",
                "target_info",
            ],
            &["target_info"],
        );
        let (plan, missing) = plan_discovered(&conv, &traceloop, &cfg("service_name"), 60);
        let tokens = queries(&plan, SignalKind::TokensPerMin);
        assert_eq!(tokens.len(), 1);
        assert!(tokens[0]
            .promql
            .contains("gen_ai_client_token_usage_token_sum"));
        assert!(
            tokens[0]
                .promql
                .contains("* on (job, instance) group_left(service_name) target_info"),
            "{}",
            tokens[0].promql
        );
        let cost = queries(&plan, SignalKind::CostPerMin);
        assert!(cost[0].cost.is_some() && cost[0].promql.contains("gen_ai_response_model"));
        // Latency only from operation duration: a fallback, its buckets checked.
        let ttft = queries(&plan, SignalKind::TtftP99);
        assert_eq!(ttft.len(), 1);
        assert!(ttft[0].fallback.is_some());
        assert_eq!(
            ttft[0].histogram.as_deref(),
            Some("gen_ai_client_operation_duration_seconds_bucket")
        );
        for kind in [
            SignalKind::TpotP99,
            SignalKind::RefusalRate,
            SignalKind::Drift,
        ] {
            assert!(missing.contains(&kind), "{kind:?}");
        }
        assert!(!missing.contains(&SignalKind::ErrorRatio));

        // Labelled series need no join; the user's query replaces a signal's candidates.
        let mut c = cfg("job");
        c.queries
            .insert(SignalKind::RefusalRate, "my_refusals{x=\"{by}\"}".into());
        let openlit = found(
            &[
                "gen_ai_client_token_usage_sum",
                "gen_ai_server_time_to_first_token_seconds_bucket",
            ],
            &[
                "gen_ai_client_token_usage_sum",
                "gen_ai_server_time_to_first_token_seconds_bucket",
            ],
        );
        let (plan, missing) = plan_discovered(&conv, &openlit, &c, 60);
        assert!(!queries(&plan, SignalKind::TokensPerMin)[0]
            .promql
            .contains("target_info"));
        let refusals = queries(&plan, SignalKind::RefusalRate);
        assert_eq!(refusals.len(), 1);
        assert_eq!(refusals[0].promql, "my_refusals{x=\"job\"}");
        assert!(!missing.contains(&SignalKind::RefusalRate));
        assert!(queries(&plan, SignalKind::TtftP99)[0].fallback.is_none());
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
}
