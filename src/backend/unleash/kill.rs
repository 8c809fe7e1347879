//! Kill-switch planning: what each strategy kills, and the writes that engage or release
//! one scope without touching the others. Pure, so every plan is tested without Unleash.

use super::wire::{sorted_strategies, FlagEnvironment, Strategy};
use serde_json::{json, Value};

const WHOLE: &str = "*";

/// What a strategy does, as far as the cockpit understands it: kill-switch and lever
/// segment rules are both 100% strategies constrained on the segment field.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Shape {
    /// 100% of the traffic, no constraint.
    Whole,
    /// 100% of the traffic where `<segment_field> IN values`.
    Segments(Vec<String>),
    /// Anything else (partial rollout, other constraints, Unleash segments, custom strategy).
    Other,
}

pub(super) fn shape(st: &Strategy, field: &str) -> Shape {
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

pub(super) struct KillView<'a> {
    enabled: bool,
    strategies: Vec<(&'a Strategy, Shape)>,
}

impl<'a> KillView<'a> {
    pub(super) fn new(env: &'a FlagEnvironment, field: &str) -> Self {
        KillView {
            enabled: env.enabled,
            strategies: sorted_strategies(env)
                .into_iter()
                .map(|s| (s, shape(s, field)))
                .collect(),
        }
    }

    /// "*" first, then segments in strategy order.
    pub(super) fn killed(&self) -> Vec<String> {
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
    pub(super) fn segments(&self) -> Vec<String> {
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

/// One write of a kill-switch or lever change, with what it does for messages.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Step {
    Update(Strategy, String),
    Create(Value, String),
    /// A strategy's id.
    Delete(String, String),
    EnvOn,
    EnvOff,
}

impl Step {
    pub(super) fn describe(&self, flag: &str, env: &str) -> String {
        match self {
            Step::Update(_, what) | Step::Create(_, what) | Step::Delete(_, what) => what.clone(),
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

pub(super) fn with_values(st: &Strategy, values: &[String]) -> Strategy {
    let mut st = st.clone();
    if let Some(obj) = st.constraints.first_mut().and_then(Value::as_object_mut) {
        obj.insert("values".into(), json!(values));
    }
    st
}

fn new_strategy(flag: &str, field: &str, segment: Option<&str>, enabled: bool) -> Value {
    let mut st = rollout_strategy("kill switch", flag, field, segment);
    st["disabled"] = json!(!enabled);
    st
}

/// A strategy the cockpit adds: a 100% rollout for the whole feature or, constrained
/// `field IN [segment]`, for one segment, titled for what it carries ("kill switch: segment
/// free"). The caller sets what differs: disabled, variants, sort order.
pub(super) fn rollout_strategy(
    what: &str,
    flag: &str,
    field: &str,
    segment: Option<&str>,
) -> Value {
    let (title, constraints) = match segment {
        None => (format!("{what}: whole feature"), json!([])),
        Some(s) => (
            format!("{what}: {field} {s}"),
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
        "disabled": false,
        "constraints": constraints,
        "parameters": { "rollout": "100", "stickiness": "default", "groupId": flag },
        "variants": [],
        "segments": [],
    })
}

pub(super) fn scope_label(feature: &str, segment: Option<&str>) -> String {
    match segment {
        Some(s) => format!("{feature} segment {s}"),
        None => format!("{feature} (whole feature)"),
    }
}

/// The writes that take a kill-switch flag from what `env` shows to the same scopes with
/// `segment` (None: the whole feature) engaged or released, touching nothing else.
pub(super) fn plan_kill(
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
                Step::Delete(id, _) => format!("delete {id}"),
                Step::EnvOn => "on".into(),
                Step::EnvOff => "off".into(),
            })
            .collect()
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
}
