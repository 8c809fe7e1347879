//! What one poll asks Prometheus: the built-in presets, the user's query overrides, and
//! the config checks that keep every query one Prometheus will serve.

use super::config::{Price, PrometheusConfig};
use crate::domain::SignalKind;
use serde::Deserialize;
use std::collections::BTreeMap;

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

/// The queries one poll runs: the preset's, with the user's added or replacing them, and
/// placeholders filled in. A direct `cost_per_min` query (the user's USD/min) replaces the
/// priced tokens query.
pub(super) fn plan(
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
    let fill_by = |t: &str, by: &str| t.replace("{by}", by).replace("{window}", &cfg.rate_window);
    let fill = |t: &str| fill_by(t, &cfg.feature_label);
    // With a segment label the priced tokens query is read per feature and segment (the
    // feature's cost is the sum over its segments), and requests join it.
    let by_segment = cfg
        .segment_label
        .as_ref()
        .map(|seg| format!("{}, {seg}", cfg.feature_label));
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
            promql: match &by_segment {
                Some(by) => fill_by(&c.query, by),
                None => fill(&c.query),
            },
            range_secs: cfg.range_secs,
            step_secs,
        });
        if let (Some(by), Some(split)) = (&by_segment, &preset.split) {
            plan.push(Planned {
                role: Role::SegmentRequests,
                promql: fill_by(&split.requests, by),
                range_secs: cfg.range_secs,
                step_secs,
            });
        }
    }
    Ok((plan, cost))
}

#[cfg(test)]
mod tests {
    use super::*;

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
