//! The one targeting rule shape the cockpit writes and rewrites in a flag file: a JSONLogic
//! `if` chain that serves groups of user segments their own variant and everyone else the
//! default variant:
//!
//! `{"if":[{"in":[{"var":FIELD},[segs…]]}, V1, {"in":[{"var":FIELD},[segs…]]}, V2, …, null]}`
//!
//! `null` as the last branch makes flagd fall back to `defaultVariant`. A kill switch is the
//! chain with a single group (its "on" variant). Any other rule is the team's own logic: the
//! cockpit reports it as such and never rewrites it.

use serde_json::{json, Value};

/// Segments served one variant, in the rule's order.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub variant: String,
    pub segments: Vec<String>,
}

/// The groups of a rule in the cockpit's shape; `None` for any other rule.
pub fn parse(targeting: &Value, field: &str) -> Option<Vec<Group>> {
    let rule = targeting.as_object().filter(|o| o.len() == 1)?;
    let branch = rule.get("if")?.as_array()?;
    let (otherwise, pairs) = branch.split_last()?;
    if !otherwise.is_null() || pairs.is_empty() || pairs.len() % 2 != 0 {
        return None;
    }
    pairs
        .chunks(2)
        .map(|pair| {
            let [cond, then] = pair else { return None };
            Some(Group {
                variant: then.as_str()?.to_string(),
                segments: segments_of(cond, field)?,
            })
        })
        .collect()
}

/// `{"in":[{"var":FIELD},[segs…]]}`'s segments.
fn segments_of(cond: &Value, field: &str) -> Option<Vec<String>> {
    let cond = cond.as_object().filter(|o| o.len() == 1)?;
    let args = cond.get("in")?.as_array()?;
    let [var, list] = args.as_slice() else {
        return None;
    };
    let var = var.as_object().filter(|o| o.len() == 1)?;
    if var.get("var").and_then(Value::as_str) != Some(field) {
        return None;
    }
    list.as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// The rule for these groups; `None` when no segment is left, so the flag needs no rule.
pub fn build(field: &str, groups: &[Group]) -> Option<Value> {
    let mut branch: Vec<Value> = Vec::new();
    for g in groups.iter().filter(|g| !g.segments.is_empty()) {
        branch.push(json!({"in": [{"var": field}, g.segments]}));
        branch.push(json!(g.variant));
    }
    if branch.is_empty() {
        return None;
    }
    branch.push(Value::Null);
    Some(json!({ "if": branch }))
}

/// The variant the rule serves a segment: the first group that names it, as JSONLogic does.
pub fn served(groups: &[Group], segment: &str) -> Option<String> {
    groups
        .iter()
        .find(|g| g.segments.iter().any(|s| s == segment))
        .map(|g| g.variant.clone())
}

/// Moves a segment into `variant`'s group (appended, after the groups already there), or out
/// of every group when `variant` is `None`.
pub fn assign(groups: &mut Vec<Group>, segment: &str, variant: Option<&str>) {
    for g in groups.iter_mut() {
        g.segments.retain(|s| s != segment);
    }
    if let Some(v) = variant {
        match groups.iter_mut().find(|g| g.variant == v) {
            Some(g) => g.segments.push(segment.to_string()),
            None => groups.push(Group {
                variant: v.to_string(),
                segments: vec![segment.to_string()],
            }),
        }
    }
    groups.retain(|g| !g.segments.is_empty());
}

/// Whether a targeting value is no rule at all.
pub fn is_empty(t: &Value) -> bool {
    t.is_null() || t.as_object().is_some_and(|o| o.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_reads_back_as_built_and_a_kill_rule_is_a_chain_of_one() {
        let mut groups = Vec::new();
        assign(&mut groups, "free", Some("mini"));
        assign(&mut groups, "eu", Some("strict"));
        assign(&mut groups, "trial", Some("mini"));
        let rule = build("segment", &groups).expect("rule");
        assert_eq!(
            rule,
            json!({"if": [{"in": [{"var": "segment"}, ["free", "trial"]]}, "mini",
                          {"in": [{"var": "segment"}, ["eu"]]}, "strict", null]})
        );
        assert_eq!(parse(&rule, "segment"), Some(groups.clone()));
        assert_eq!(served(&groups, "trial").as_deref(), Some("mini"));
        assign(&mut groups, "eu", None);
        assert_eq!(groups.len(), 1, "an emptied group goes");
        assign(&mut groups, "free", None);
        assign(&mut groups, "trial", None);
        assert_eq!(build("segment", &groups), None);
        let kill = json!({"if": [{"in": [{"var": "segment"}, ["a"]]}, "on", null]});
        assert_eq!(
            parse(&kill, "segment"),
            Some(vec![Group {
                variant: "on".into(),
                segments: vec!["a".into()]
            }])
        );
    }

    #[test]
    fn anything_else_is_the_teams_own_rule() {
        for rule in [
            json!({"if": [{"ends_with": [{"var": "email"}, "@corp.com"]}, "a", null]}),
            json!({"if": [{"in": [{"var": "segment"}, ["x"]]}, "a", "b"]}),
            json!({"if": [{"in": [{"var": "tier"}, ["x"]]}, "a", null]}),
            json!({"if": [{"in": [{"var": "segment"}, ["x", 3]]}, "a", null]}),
            json!({"if": [{"in": [{"var": "segment"}, ["x"]]}, "a", {"var": "y"}, null]}),
            json!({"if": [null]}),
            json!({"if": [{"in": [{"var": "segment"}, ["x"]]}, "a", null], "and": []}),
            json!({"fractional": [["a", 50], ["b", 50]]}),
        ] {
            assert_eq!(parse(&rule, "segment"), None, "{rule}");
        }
    }
}
