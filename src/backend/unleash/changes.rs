//! Flag flips from Unleash's own event log, for the change timeline: the newest events of the
//! project (`GET /api/admin/search/events?project=IS:<project>`, one page of
//! `CHANGE_EVENTS`), each on a prompt, kill-switch or lever flag of a cockpit feature read as
//! what it did to that feature ("prompt support-bot v7→v8", "kill switch support-bot:
//! environment enabled", "token budget support-bot (free) open→tight"). Events of other flags
//! and other environments are not the cockpit's.

use super::naming::Naming;
use super::prompt::served;
use super::wire::Event;
use crate::domain::change::{Change, Layer};
use crate::domain::lever::Lever;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::Duration;

/// Events read per refresh, newest first: hours of a busy project's flips.
pub(super) const CHANGE_EVENTS: u32 = 100;
/// How often the log is read again while nothing the cockpit wrote moved it.
pub(super) const CHANGE_REFRESH: Duration = Duration::from_secs(60);

/// What the flags of the cockpit's features are called, and which environment is served.
pub(super) struct Flags<'a> {
    pub prompt: &'a Naming,
    pub kill: &'a Naming,
    pub levers: &'a [(Lever, Naming)],
    pub environment: &'a str,
}

fn variants(v: &Option<Value>) -> Vec<Value> {
    v.as_ref()
        .and_then(|v| v.get("variants"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// "feature-strategy-update" → "strategy updated".
fn action(kind: &str) -> String {
    let k = kind.strip_prefix("feature-").unwrap_or(kind);
    let k = k.replace('-', " ");
    for (from, to) in [
        (" update", " updated"),
        (" add", " added"),
        (" remove", " removed"),
    ] {
        if let Some(stem) = k.strip_suffix(from) {
            return format!("{stem}{to}");
        }
    }
    k
}

/// One event as a change of a cockpit feature; `None` for another flag, another environment,
/// or an event without a time.
pub(super) fn change_of(ev: &Event, flags: &Flags, source: &str) -> Option<Change> {
    let flag = ev.feature_name.as_deref()?;
    if ev
        .environment
        .as_deref()
        .is_some_and(|e| e != flags.environment)
    {
        return None;
    }
    let at = DateTime::parse_from_rfc3339(ev.created_at.as_deref()?)
        .ok()?
        .with_timezone(&Utc);
    let by = ev
        .created_by
        .as_deref()
        .filter(|b| !b.trim().is_empty())
        .map(|b| format!(" by {b}"))
        .unwrap_or_default();
    if let Some(feature) = flags.prompt.feature(flag) {
        let before = served(&variants(&ev.pre_data));
        let after = served(&variants(&ev.data));
        let change = match (&before, &after) {
            (b, Some(a)) if b.as_ref() != Some(a) && ev.kind.starts_with("feature-strategy") => {
                let from = b.as_deref().unwrap_or("?");
                Change::new(
                    at,
                    Layer::Prompt,
                    &format!("prompt {feature} {from}→{a}{by}"),
                    source,
                )
            }
            _ => Change::new(
                at,
                Layer::Infrastructure,
                &format!("prompt flag {flag}: {}{by}", action(&ev.kind)),
                source,
            ),
        };
        return Some(change.on_feature(feature));
    }
    if let Some((lever, feature)) = flags
        .levers
        .iter()
        .find_map(|(l, n)| Some((*l, n.feature(flag)?)))
    {
        return Some(lever_change(ev, lever, feature, flag, at, &by, source));
    }
    let feature = flags.kill.feature(flag)?;
    Some(
        Change::new(
            at,
            Layer::Infrastructure,
            &format!("kill switch {feature}: {}{by}", action(&ev.kind)),
            source,
        )
        .on_feature(feature),
    )
}

/// The segments a strategy's constraint names (`[]`: unconstrained), from an event's copy.
fn constrained_to(v: &Option<Value>) -> Vec<String> {
    v.as_ref()
        .and_then(|v| v.get("constraints"))
        .and_then(Value::as_array)
        .and_then(|cs| cs.first())
        .and_then(|c| c.get("values"))
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A lever toggle's event: a strategy that moved the variant it serves in the timeline's
/// words for a lever ("model switch support-bot full→mini", "… (free) full→mini"), anything
/// else as what happened to the toggle.
fn lever_change(
    ev: &Event,
    lever: Lever,
    feature: &str,
    flag: &str,
    at: DateTime<Utc>,
    by: &str,
    source: &str,
) -> Change {
    let before = served(&variants(&ev.pre_data));
    let after = served(&variants(&ev.data));
    let what = match (&before, &after) {
        (b, Some(a)) if b.as_ref() != Some(a) && ev.kind.starts_with("feature-strategy") => {
            let from = b.as_deref().unwrap_or("?");
            let segments = constrained_to(&ev.data);
            let scope = if segments.is_empty() {
                String::new()
            } else {
                format!(" ({})", segments.join(", "))
            };
            format!("{} {feature}{scope} {from}→{a}{by}", lever.short())
        }
        _ => format!("{} toggle {flag}: {}{by}", lever.short(), action(&ev.kind)),
    };
    Change::new(at, lever.layer(), &what, source).on_feature(feature)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> (Naming, Naming) {
        (
            Naming::parse("{feature}-prompt", "prompt_flag").expect("valid"),
            Naming::parse("{feature}-kill", "kill_flag").expect("valid"),
        )
    }

    fn event(json: &str) -> Event {
        serde_json::from_str(json).expect("valid event")
    }

    #[test]
    fn a_strategy_update_that_moves_the_served_variant_is_a_prompt_change() {
        let (p, k) = flags();
        let f = Flags {
            prompt: &p,
            kill: &k,
            levers: &[],
            environment: "production",
        };
        let ev = event(
            r#"{"type":"feature-strategy-update","createdAt":"2026-12-01T09:46:00.000Z",
                "createdBy":"ana","featureName":"support-bot-prompt","environment":"production",
                "preData":{"variants":[{"name":"v7","weight":1000},{"name":"v8","weight":0}]},
                "data":{"variants":[{"name":"v7","weight":0},{"name":"v8","weight":1000}]}}"#,
        );
        let c = change_of(&ev, &f, "unleash").expect("a change");
        assert_eq!(c.layer, Layer::Prompt);
        assert_eq!(c.what.as_str(), "prompt support-bot v7→v8 by ana");
        assert_eq!(c.feature.as_deref(), Some("support-bot"));
    }

    #[test]
    fn kill_switch_flips_count_and_other_flags_and_environments_do_not() {
        let (p, k) = flags();
        let f = Flags {
            prompt: &p,
            kill: &k,
            levers: &[],
            environment: "production",
        };
        let kill = event(
            r#"{"type":"feature-environment-enabled","createdAt":"2026-12-01T09:46:00Z",
                "featureName":"support-bot-kill","environment":"production"}"#,
        );
        let c = change_of(&kill, &f, "unleash").expect("a change");
        assert_eq!(
            c.what.as_str(),
            "kill switch support-bot: environment enabled"
        );
        assert_eq!(c.layer, Layer::Infrastructure);
        let other = event(
            r#"{"type":"feature-created","createdAt":"2026-12-01T09:46:00Z",
                "featureName":"dark-mode"}"#,
        );
        assert!(change_of(&other, &f, "unleash").is_none());
        let staging = event(
            r#"{"type":"feature-environment-enabled","createdAt":"2026-12-01T09:46:00Z",
                "featureName":"support-bot-kill","environment":"staging"}"#,
        );
        assert!(change_of(&staging, &f, "unleash").is_none());
    }

    #[test]
    fn a_lever_toggle_event_names_the_lever_its_scope_and_the_move() {
        let (p, k) = flags();
        let levers = [(
            Lever::TokenBudget,
            Naming::parse("{feature}-budget", "budget_flag").expect("valid"),
        )];
        let f = Flags {
            prompt: &p,
            kill: &k,
            levers: &levers,
            environment: "production",
        };
        let ev = event(
            r#"{"type":"feature-strategy-add","createdAt":"2026-12-01T09:46:00Z",
                "createdBy":"admin","featureName":"support-bot-budget","environment":"production",
                "data":{"constraints":[{"contextName":"segment","operator":"IN","values":["free"]}],
                        "variants":[{"name":"open","weight":0},{"name":"tight","weight":1000}]}}"#,
        );
        let c = change_of(&ev, &f, "unleash").expect("a change");
        assert_eq!(
            c.what.as_str(),
            "token budget support-bot (free) ?→tight by admin"
        );
        assert_eq!(c.layer, Lever::TokenBudget.layer());
        assert_eq!(c.feature.as_deref(), Some("support-bot"));
        let on = event(
            r#"{"type":"feature-environment-enabled","createdAt":"2026-12-01T09:47:00Z",
                "featureName":"support-bot-budget","environment":"production"}"#,
        );
        let c = change_of(&on, &f, "unleash").expect("a change");
        assert_eq!(
            c.what.as_str(),
            "token budget toggle support-bot-budget: environment enabled"
        );
    }
}
