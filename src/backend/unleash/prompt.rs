//! Prompt versions as variants: which one is served, what a rollback writes, and the
//! served version's history rebuilt from the event log. The levers' toggles (lever.rs) are
//! read and written the same way.

use super::wire::{sorted_strategies, Event, FlagEnvironment, Strategy};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

pub(super) fn variant_weights(variants: &[Value]) -> Vec<(String, f64)> {
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
pub(super) fn served(variants: &[Value]) -> Option<String> {
    let weights = variant_weights(variants);
    let max = weights.iter().map(|(_, w)| *w).fold(0.0, f64::max);
    let mut top = weights.into_iter().filter(|(_, w)| *w == max && max > 0.0);
    match (top.next(), top.next()) {
        (Some((name, _)), None) => Some(name),
        _ => None,
    }
}

pub(super) fn prompt_strategy(env: &FlagEnvironment) -> Option<&Strategy> {
    sorted_strategies(env)
        .into_iter()
        .find(|s| !s.disabled && !variant_weights(&s.variants).is_empty())
}

/// The variants of a rollback: `to` the only variable variant, the others fixed at zero.
pub(super) fn rolled_back(variants: &[Value], to: &str) -> Vec<Value> {
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

pub(super) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// One variant in a strategy's served history: since when (None: before the log's window)
/// and by whom (the event's `createdBy`).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ServedSince {
    pub variant: String,
    pub at: Option<DateTime<Utc>>,
    pub by: Option<String>,
}

/// The variants a strategy served, oldest first, rebuilt from its events (any order; only
/// those of `strategy_id` in `environment` count). An event that leaves the served variant
/// as it was (a payload edit) starts nothing.
pub(super) fn served_history(
    events: &[Event],
    strategy_id: &str,
    environment: &str,
) -> Vec<ServedSince> {
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
    let mut seq: Vec<ServedSince> = Vec::new();
    for (at, e) in &mine {
        if seq.is_empty() {
            if let Some(before) = served(&variants_of(&e.pre_data)) {
                seq.push(ServedSince {
                    variant: before,
                    at: None,
                    by: None,
                });
            }
        }
        if let Some(after) = served(&variants_of(&e.data)) {
            if seq.last().map(|s| &s.variant) != Some(&after) {
                seq.push(ServedSince {
                    variant: after,
                    at: *at,
                    by: e.created_by.clone().filter(|b| !b.trim().is_empty()),
                });
            }
        }
    }
    seq
}

/// Last-known-good and when the served version last changed, from the strategy's events
/// (any order; only those of `strategy_id` in `environment` count).
pub(super) fn prompt_history(
    events: &[Event],
    strategy_id: &str,
    environment: &str,
    current: Option<&str>,
) -> (Option<String>, Option<DateTime<Utc>>) {
    let served_seq = served_history(events, strategy_id, environment);
    match served_seq.last() {
        Some(s) if Some(s.variant.as_str()) == current => {}
        _ => return (None, None),
    }
    let changed_at = served_seq.last().and_then(|s| s.at);
    let last_deploy = (1..served_seq.len()).rev().find(|&i| {
        !served_seq[..i]
            .iter()
            .any(|s| s.variant == served_seq[i].variant)
    });
    let lkg = last_deploy.map(|i| served_seq[i - 1].variant.clone());
    (lkg, changed_at)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            created_by: None,
            feature_name: None,
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
}
