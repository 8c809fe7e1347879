//! The settable levers as Unleash toggles (docs/levers.md, Unleash): the settings a toggle
//! offers (its strategy variants, each payload the setting's value), the one the feature is
//! served (the variant of its unconstrained strategy), the segments served another, and the
//! writes that serve a variant to the feature or one segment. Pure, so every plan is tested
//! without Unleash.

use super::kill::{shape, with_values, Shape, Step};
use super::prompt::{rolled_back, served, variant_weights, ServedSince};
use super::wire::{sorted_strategies, FlagEnvironment, Strategy};
use crate::domain::lever::{Lever, LeverSetting, LeverVariant};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// The most variants one toggle reports; a longer list is a toggle nobody chooses from.
pub(super) const MAX_VARIANTS: usize = 50;
/// The most segment rules one toggle reports.
const MAX_SEGMENTS: usize = 100;
/// The longest payload decoded, in bytes; a longer one is reported cut, as text.
const MAX_PAYLOAD: usize = 4096;

/// A variant's payload as the setting's value: `number` as a JSON number, `json` parsed,
/// `csv` as a list of strings, anything else as its text. A number or JSON that does not
/// parse, or a payload past `MAX_PAYLOAD`, stays text (cut), so the responder still sees what
/// the toggle holds. No payload: `null`.
pub(super) fn payload_value(variant: &Value) -> Value {
    let Some(p) = variant.get("payload").filter(|p| !p.is_null()) else {
        return Value::Null;
    };
    let text = match p.get("value") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => return cut(&other.to_string()),
        None => return Value::Null,
    };
    if text.len() > MAX_PAYLOAD {
        return cut(text);
    }
    match p.get("type").and_then(Value::as_str) {
        Some("number") => {
            let t = text.trim();
            if let Ok(i) = t.parse::<i64>() {
                return json!(i);
            }
            t.parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .unwrap_or_else(|| cut(text))
        }
        Some("json") => serde_json::from_str(text).unwrap_or_else(|_| cut(text)),
        Some("csv") => Value::Array(
            text.split(',')
                .map(|s| Value::String(s.trim().to_string()))
                .collect(),
        ),
        _ => Value::String(text.to_string()),
    }
}

fn cut(text: &str) -> Value {
    let mut end = text.len().min(MAX_PAYLOAD);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Value::String(text[..end].to_string())
}

/// A strategy's variants by name, in its order.
fn names(st: &Strategy) -> Vec<String> {
    variant_weights(&st.variants)
        .into_iter()
        .map(|(n, _)| n)
        .collect()
}

/// How a lever toggle serves, as far as the cockpit understands it.
pub(super) struct LeverView<'a> {
    env: &'a FlagEnvironment,
    /// The feature's strategy: the first enabled one with variants and no constraint.
    feature: Option<&'a Strategy>,
    /// Enabled 100% strategies with variants whose only constraint is `<field> IN [..]`,
    /// evaluated before the feature's strategy (one after it is never reached), each with
    /// its values.
    segments: Vec<(&'a Strategy, Vec<String>)>,
}

impl<'a> LeverView<'a> {
    pub(super) fn new(env: &'a FlagEnvironment, field: &str) -> Self {
        let mut feature = None;
        let mut segments = Vec::new();
        for st in sorted_strategies(env) {
            if st.disabled || names(st).is_empty() {
                continue;
            }
            match shape(st, field) {
                Shape::Whole => {
                    feature = Some(st);
                    break;
                }
                Shape::Segments(values) => segments.push((st, values)),
                Shape::Other => {}
            }
        }
        LeverView {
            env,
            feature,
            segments,
        }
    }

    /// The variant the feature is served: none while the toggle is off, without a feature
    /// strategy, or on a split.
    pub(super) fn current(&self) -> Option<String> {
        self.env
            .enabled
            .then(|| self.feature.and_then(|st| served(&st.variants)))
            .flatten()
    }

    /// The feature's strategy, its id and its variants' weights: what its history is read
    /// again for when it changes.
    pub(super) fn feature_key(&self) -> Option<(String, String)> {
        self.feature.map(|st| {
            (
                st.id.clone(),
                format!("{:?}", variant_weights(&st.variants)),
            )
        })
    }

    /// The first rule a segment's traffic meets, with the variant it serves.
    fn rule_of(&self, segment: &str) -> Option<(&'a Strategy, &Vec<String>)> {
        self.segments
            .iter()
            .find(|(_, values)| values.iter().any(|v| v == segment))
            .map(|(st, values)| (*st, values))
    }

    /// Segments served their own variant: (segment, variant), first rule first.
    fn segment_settings(&self) -> Vec<(String, String)> {
        if !self.env.enabled {
            return Vec::new();
        }
        let mut out: Vec<(String, String)> = Vec::new();
        for (st, values) in &self.segments {
            let Some(v) = served(&st.variants) else {
                continue;
            };
            for s in values {
                if out.len() < MAX_SEGMENTS && !out.iter().any(|(x, _)| x == s) {
                    out.push((s.clone(), v.clone()));
                }
            }
        }
        out
    }

    /// Every variant any strategy offers, the feature's strategy's first, each once (its
    /// first definition wins), as Unleash holds it.
    fn offered(&self) -> Vec<&'a Value> {
        let mut order: Vec<&Strategy> = self.feature.into_iter().collect();
        order.extend(sorted_strategies(self.env).into_iter().filter(|s| {
            self.feature.map(|f| f.id != s.id).unwrap_or(true) && !names(s).is_empty()
        }));
        let mut out: Vec<&Value> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for v in order.iter().flat_map(|s| s.variants.iter()) {
            let Some(name) = v.get("name").and_then(Value::as_str) else {
                continue;
            };
            if !seen.contains(&name) && out.len() < MAX_VARIANTS {
                seen.push(name);
                out.push(v);
            }
        }
        out
    }

    /// The lever as the cockpit shows it; `None` for a toggle that offers no variant. Its
    /// history is the caller's to fill in.
    pub(super) fn setting(&self, lever: Lever, flag: &str) -> Option<LeverSetting> {
        let variants: Vec<LeverVariant> = self
            .offered()
            .into_iter()
            .filter_map(|v| {
                Some(LeverVariant {
                    name: v.get("name")?.as_str()?.to_string(),
                    value: payload_value(v),
                })
            })
            .collect();
        if variants.is_empty() {
            return None;
        }
        Some(LeverSetting {
            lever,
            flag: flag.to_string(),
            variants,
            current: self.current().unwrap_or_default(),
            segments: self.segment_settings(),
            // Strategies of other shapes are the team's own targeting, which SDKs evaluate in
            // order like any other; the adapter reports the segment rules it can read.
            segments_unknown: false,
            previous: None,
            changed_at: None,
            changed_by: None,
        })
    }
}

/// When the served variant last changed, from what, and by whom: the last entry of the
/// feature strategy's served history when it is what is served now, else nothing.
pub(super) fn lever_history(
    seq: &[ServedSince],
    current: &str,
) -> (Option<String>, Option<DateTime<Utc>>, Option<String>) {
    match seq {
        [.., before, last] if last.variant == current => {
            (Some(before.variant.clone()), last.at, last.by.clone())
        }
        [last] if last.variant == current => (None, last.at, last.by.clone()),
        _ => (None, None, None),
    }
}

/// What a set asks for, and the names messages use.
pub(super) struct Target<'a> {
    pub flag: &'a str,
    pub field: &'a str,
    pub feature: &'a str,
    pub lever: Lever,
    pub segment: Option<&'a str>,
    pub variant: &'a str,
}

impl Target<'_> {
    fn scope(&self) -> String {
        match self.segment {
            Some(s) => format!("{} segment {s}", self.feature),
            None => self.feature.to_string(),
        }
    }
}

/// `variants` with `to` the only one served, `to` added from `offered` when missing.
fn serving(variants: &[Value], offered: &[&Value], to: &str) -> Vec<Value> {
    let mut all = variants.to_vec();
    let has = |vs: &[Value]| {
        vs.iter()
            .any(|v| v.get("name").and_then(Value::as_str) == Some(to))
    };
    if !has(&all) {
        if let Some(v) = offered
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(to))
        {
            all.push((*v).clone());
        }
    }
    rolled_back(&all, to)
}

fn new_strategy(t: &Target, segment: Option<&str>, variants: Vec<Value>, order: f64) -> Value {
    let mut st = super::kill::rollout_strategy(t.lever.short(), t.flag, t.field, segment);
    st["sortOrder"] = json!(order);
    st["variants"] = Value::Array(variants);
    st
}

/// The writes that serve `t.variant` to the feature or to one segment, touching no other
/// scope. A segment set back to the feature's variant loses its own rule; a segment's new
/// rule goes first, so no strategy before it takes its traffic.
pub(super) fn plan_set(env: &FlagEnvironment, t: &Target) -> Result<Vec<Step>, String> {
    let view = LeverView::new(env, t.field);
    let offered = view.offered();
    let known: Vec<&str> = offered
        .iter()
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .collect();
    if !known.contains(&t.variant) {
        return Err(format!(
            "{} has no {} variant {} (variants of {} in {}: {})",
            t.feature,
            t.lever.short(),
            t.variant,
            t.flag,
            env.name,
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ));
    }
    let title = |st: &Strategy| st.title.clone().unwrap_or_else(|| st.name.clone());
    let first = sorted_strategies(env)
        .first()
        .and_then(|s| s.sort_order)
        .unwrap_or(0.0);
    let current = view.current();
    let Some(segment) = t.segment else {
        let mut steps = Vec::new();
        match view.feature {
            // Off, a strategy that already points at the variant only needs the toggle on.
            Some(st) if served(&st.variants).as_deref() == Some(t.variant) => {
                if env.enabled {
                    return Err(format!(
                        "{}'s {} is already {}",
                        t.feature,
                        t.lever.short(),
                        t.variant
                    ));
                }
            }
            Some(st) => {
                let mut updated = st.clone();
                updated.variants = serving(&st.variants, &offered, t.variant);
                steps.push(Step::Update(
                    updated,
                    format!("serve {} in strategy {:?}", t.variant, title(st)),
                ));
            }
            None => {
                let last = sorted_strategies(env)
                    .last()
                    .and_then(|s| s.sort_order)
                    .unwrap_or(0.0);
                let all: Vec<Value> = offered.iter().map(|v| (*v).clone()).collect();
                let variants = serving(&all, &offered, t.variant);
                steps.push(Step::Create(
                    new_strategy(t, None, variants, last + 1.0),
                    format!("add a whole-feature strategy serving {}", t.variant),
                ));
            }
        }
        if !env.enabled {
            steps.push(Step::EnvOn);
        }
        return Ok(steps);
    };
    if !env.enabled {
        return Err(format!(
            "{} is off in {}, so no segment is served a variant: set {}'s {} for the whole \
             feature first (that switches it on)",
            t.flag,
            env.name,
            t.feature,
            t.lever.short()
        ));
    }
    let rule = view.rule_of(segment);
    let own = rule.and_then(|(st, _)| served(&st.variants));
    let served_now = own.clone().or_else(|| current.clone());
    if served_now.as_deref() == Some(t.variant) {
        return Err(format!(
            "{} is already served {} {}",
            t.scope(),
            t.lever.short(),
            t.variant
        ));
    }
    let others = |values: &Vec<String>| -> Vec<String> {
        values.iter().filter(|v| *v != segment).cloned().collect()
    };
    let back_to_feature = current.as_deref() == Some(t.variant);
    let mut steps = Vec::new();
    match rule {
        // Its own rule goes; the feature's strategy serves it the same variant.
        Some((st, values)) if back_to_feature => {
            let rest = others(values);
            if rest.is_empty() {
                steps.push(Step::Delete(
                    st.id.clone(),
                    format!("remove strategy {:?}", title(st)),
                ));
            } else {
                steps.push(Step::Update(
                    with_values(st, &rest),
                    format!("narrow strategy {:?} to {}", title(st), rest.join(", ")),
                ));
            }
        }
        Some((st, values)) if values.len() == 1 => {
            let mut updated = st.clone();
            updated.variants = serving(&st.variants, &offered, t.variant);
            steps.push(Step::Update(
                updated,
                format!("serve {} in strategy {:?}", t.variant, title(st)),
            ));
        }
        rule => {
            if let Some((st, values)) = rule {
                let rest = others(values);
                steps.push(Step::Update(
                    with_values(st, &rest),
                    format!("narrow strategy {:?} to {}", title(st), rest.join(", ")),
                ));
            }
            let base: Vec<Value> = match view.feature {
                Some(st) => st.variants.clone(),
                None => offered.iter().map(|v| (*v).clone()).collect(),
            };
            steps.push(Step::Create(
                new_strategy(
                    t,
                    Some(segment),
                    serving(&base, &offered, t.variant),
                    first - 1.0,
                ),
                format!("add a strategy serving {} to segment {segment}", t.variant),
            ));
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(name: &str, weight: u32, payload: Option<(&str, &str)>) -> Value {
        let mut v = json!({
            "name": name,
            "weight": weight,
            "weightType": if weight > 0 { "variable" } else { "fix" },
            "stickiness": "default",
        });
        if let Some((kind, value)) = payload {
            v["payload"] = json!({ "type": kind, "value": value });
        }
        v
    }

    fn strategy(id: &str, order: f64, segments: Option<&[&str]>, variants: Vec<Value>) -> Strategy {
        let constraints = match segments {
            Some(values) => json!([{ "contextName": "segment", "operator": "IN",
                                     "values": values, "inverted": false }]),
            None => json!([]),
        };
        serde_json::from_value(json!({
            "id": id,
            "name": "flexibleRollout",
            "title": null,
            "disabled": false,
            "constraints": constraints,
            "parameters": { "rollout": "100", "stickiness": "default", "groupId": "f" },
            "variants": variants,
            "segments": [],
            "sortOrder": order,
        }))
        .expect("strategy")
    }

    fn env(enabled: bool, strategies: Vec<Strategy>) -> FlagEnvironment {
        FlagEnvironment {
            name: "production".into(),
            enabled,
            strategies,
        }
    }

    fn models() -> Vec<Value> {
        vec![
            variant("full", 1000, Some(("string", "gpt-4o"))),
            variant("mini", 0, Some(("string", "gpt-4o-mini"))),
        ]
    }

    fn target<'a>(segment: Option<&'a str>, variant: &'a str) -> Target<'a> {
        Target {
            flag: "f.model",
            field: "segment",
            feature: "f",
            lever: Lever::ModelSwitch,
            segment,
            variant,
        }
    }

    /// The steps as (kind, strategy id or "new", who it serves, segment values after).
    fn summary(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| match s {
                Step::Update(st, _) => {
                    let values = match shape(st, "segment") {
                        Shape::Segments(v) => v.join(","),
                        _ => String::new(),
                    };
                    format!("update {} {:?} {values}", st.id, served(&st.variants))
                        .trim_end()
                        .to_string()
                }
                Step::Create(body, _) => format!(
                    "create {:?} {} order {}",
                    served(body["variants"].as_array().expect("variants")),
                    body["constraints"][0]["values"],
                    body["sortOrder"]
                ),
                Step::Delete(id, _) => format!("delete {id}"),
                Step::EnvOn => "on".into(),
                Step::EnvOff => "off".into(),
            })
            .collect()
    }

    #[test]
    fn payloads_become_values_of_their_type_and_stay_bounded() {
        let p = |kind: &str, value: &str| payload_value(&variant("x", 0, Some((kind, value))));
        assert_eq!(p("number", "20000"), json!(20000));
        assert_eq!(p("number", " 0.2 "), json!(0.2));
        assert_eq!(
            p("number", "lots"),
            json!("lots"),
            "Unleash keeps it unchecked"
        );
        assert_eq!(
            p("json", r#"{"temperature":0.2,"prompt":"strict"}"#),
            json!({"temperature": 0.2, "prompt": "strict"})
        );
        assert_eq!(p("json", "{oops"), json!("{oops"));
        assert_eq!(p("csv", "human, static"), json!(["human", "static"]));
        assert_eq!(p("string", "gpt-4o"), json!("gpt-4o"));
        assert_eq!(payload_value(&variant("x", 0, None)), Value::Null);
        let big = format!("\"{}\"", "é".repeat(MAX_PAYLOAD));
        let Value::String(s) = p("json", &big) else {
            panic!("a payload past the bound stays text");
        };
        assert!(
            s.len() <= MAX_PAYLOAD && s.starts_with("\"é"),
            "{}",
            s.len()
        );
    }

    #[test]
    fn the_feature_is_served_its_unconstrained_strategy_and_segments_their_rules_before_it() {
        let e = env(
            true,
            vec![
                strategy("free", -1.0, Some(&["free", "trial"]), {
                    vec![
                        variant("full", 0, None),
                        variant("mini", 1000, Some(("string", "gpt-4o-mini"))),
                    ]
                }),
                strategy("all", 0.0, None, models()),
                // After the feature's strategy: never reached, so not a rule.
                strategy("late", 1.0, Some(&["enterprise"]), {
                    vec![variant("huge", 1000, Some(("string", "o3")))]
                }),
            ],
        );
        let s = LeverView::new(&e, "segment")
            .setting(Lever::ModelSwitch, "f.model")
            .expect("a lever");
        assert_eq!(s.current, "full");
        assert_eq!(
            s.segments,
            [
                ("free".to_string(), "mini".to_string()),
                ("trial".to_string(), "mini".to_string())
            ]
        );
        let names: Vec<&str> = s.variants.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["full", "mini", "huge"]);
        assert_eq!(
            s.variant("mini").map(|v| v.value.clone()),
            Some(json!("gpt-4o-mini"))
        );
        assert_eq!(s.served_to(Some("trial")), "mini");
        assert_eq!(s.served_to(Some("enterprise")), "full");

        // Off in the environment, Unleash serves nobody a variant.
        let off = env(false, e.strategies.clone());
        let s = LeverView::new(&off, "segment")
            .setting(Lever::ModelSwitch, "f.model")
            .expect("a lever");
        assert_eq!(s.current, "");
        assert!(s.segments.is_empty());
        // A toggle without variants offers no setting.
        let bare = env(true, vec![strategy("all", 0.0, None, vec![])]);
        assert_eq!(
            LeverView::new(&bare, "segment").setting(Lever::ModelSwitch, "f.model"),
            None
        );
    }

    #[test]
    fn history_gives_the_previous_variant_only_when_it_ends_in_the_served_one() {
        let at = |s: &str| super::super::prompt::parse_time(s);
        let seq = vec![
            ServedSince {
                variant: "full".into(),
                at: None,
                by: None,
            },
            ServedSince {
                variant: "mini".into(),
                at: at("2026-12-01T10:00:00Z"),
                by: Some("ana".into()),
            },
        ];
        assert_eq!(
            lever_history(&seq, "mini"),
            (
                Some("full".into()),
                at("2026-12-01T10:00:00Z"),
                Some("ana".into())
            )
        );
        assert_eq!(lever_history(&seq, "full"), (None, None, None));
        assert_eq!(
            lever_history(&seq[1..], "mini"),
            (None, at("2026-12-01T10:00:00Z"), Some("ana".into()))
        );
        assert_eq!(lever_history(&[], "mini"), (None, None, None));
    }

    #[test]
    fn a_feature_set_rewrites_its_strategy_or_adds_one_last() {
        let e = env(true, vec![strategy("all", 0.0, None, models())]);
        assert_eq!(
            summary(&plan_set(&e, &target(None, "mini")).expect("plan")),
            ["update all Some(\"mini\")"]
        );
        assert_eq!(
            plan_set(&e, &target(None, "full")),
            Err("f's model switch is already full".into())
        );
        let unknown = plan_set(&e, &target(None, "o3")).expect_err("unknown");
        assert_eq!(
            unknown,
            "f has no model switch variant o3 (variants of f.model in production: full, mini)"
        );
        // Only a segment rule offers variants: the feature gets its own strategy after it,
        // and an off toggle is switched on to serve it.
        let segs = env(
            false,
            vec![strategy("free", 0.0, Some(&["free"]), models())],
        );
        assert_eq!(
            summary(&plan_set(&segs, &target(None, "mini")).expect("plan")),
            ["create Some(\"mini\") null order 1.0", "on"]
        );
        // Off, already pointing at the variant: only switched on.
        let off = env(false, vec![strategy("all", 0.0, None, models())]);
        assert_eq!(
            summary(&plan_set(&off, &target(None, "full")).expect("plan")),
            ["on"]
        );
    }

    #[test]
    fn a_segment_set_adds_updates_narrows_or_removes_only_its_rule() {
        let all = || strategy("all", 0.0, None, models());
        let e = env(true, vec![all()]);
        assert_eq!(
            summary(&plan_set(&e, &target(Some("free"), "mini")).expect("plan")),
            ["create Some(\"mini\") [\"free\"] order -1.0"]
        );
        assert_eq!(
            plan_set(&e, &target(Some("free"), "full")),
            Err("f segment free is already served model switch full".into())
        );
        let rule = |values: &[&str]| {
            strategy("free", -1.0, Some(values), {
                vec![variant("full", 0, None), variant("mini", 1000, None)]
            })
        };
        // Its own rule: rewritten; set back to the feature's variant: removed.
        let own = env(true, vec![rule(&["free"]), all()]);
        assert_eq!(
            summary(&plan_set(&own, &target(Some("free"), "full")).expect("plan")),
            ["delete free"]
        );
        let three = env(
            true,
            vec![
                rule(&["free"]),
                strategy("all", 0.0, None, {
                    let mut v = models();
                    v.push(variant("nano", 0, None));
                    v
                }),
            ],
        );
        assert_eq!(
            summary(&plan_set(&three, &target(Some("free"), "nano")).expect("plan")),
            ["update free Some(\"nano\") free"]
        );
        // A rule shared with another segment: narrowed, and the segment gets its own.
        let shared = env(true, vec![rule(&["free", "trial"]), all()]);
        assert_eq!(
            summary(&plan_set(&shared, &target(Some("free"), "full")).expect("plan")),
            ["update free Some(\"mini\") trial"]
        );
        let mut with_nano = models();
        with_nano.push(variant("nano", 0, None));
        let shared = env(
            true,
            vec![
                rule(&["free", "trial"]),
                strategy("all", 0.0, None, with_nano),
            ],
        );
        assert_eq!(
            summary(&plan_set(&shared, &target(Some("free"), "nano")).expect("plan")),
            [
                "update free Some(\"mini\") trial",
                "create Some(\"nano\") [\"free\"] order -2.0"
            ]
        );
        let off = env(false, vec![all()]);
        let err = plan_set(&off, &target(Some("free"), "mini")).expect_err("off");
        assert!(err.contains("f.model is off in production"), "{err}");
    }
}
