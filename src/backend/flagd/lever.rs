//! The settable levers (model, config, token budget, retrieval, fallback) as flagd flags: one
//! flag per lever and feature, whose variants are the settings offered (any JSON value: a
//! model name, `{"temperature":0.2}`, a number of tokens per minute, `true`), whose default
//! variant is what the feature is served, and whose targeting rule, in the cockpit's own
//! shape (`rule.rs`), serves user segments another variant. docs/levers.md has the shapes.

use super::rule::{self, Group};
use super::{enabled, metadata};
use crate::domain::lever::{Lever, LeverSetting, LeverVariant};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// Variants and segments reported per lever flag: a file with more is a mistake, and the
/// choosers would not show them anyway. Setting one past the cap still works.
pub const MAX_LISTED: usize = 256;

/// The variant the feature is served: the default variant of an enabled flag, when it names
/// one of its variants. A disabled flag serves the application's own default, which the file
/// does not say.
fn served(flag: &Map<String, Value>) -> Option<&str> {
    let variants = flag.get("variants")?.as_object()?;
    flag.get("defaultVariant")
        .and_then(Value::as_str)
        .filter(|v| enabled(flag) && variants.contains_key(*v))
}

/// A lever flag as the cockpit reports it; `None` when it is not a flag with variants.
pub fn read(key: &str, flag: &Value, lever: Lever, field: &str) -> Option<LeverSetting> {
    let obj = flag.as_object()?;
    let variants: Vec<LeverVariant> = obj
        .get("variants")?
        .as_object()?
        .iter()
        .take(MAX_LISTED)
        .map(|(name, value)| LeverVariant {
            name: name.clone(),
            value: value.clone(),
        })
        .collect();
    let current = served(obj).unwrap_or_default().to_string();
    let rule = obj.get("targeting").filter(|t| !rule::is_empty(t));
    let groups = rule.map(|t| rule::parse(t, field));
    let mut segments = Vec::new();
    if enabled(obj) {
        for g in groups.iter().flatten().flatten() {
            for s in &g.segments {
                if segments.len() < MAX_LISTED && !segments.iter().any(|(x, _)| x == s) {
                    segments.push((s.clone(), g.variant.clone()));
                }
            }
        }
    }
    let rec = metadata::read(flag);
    // A change to one segment has no "previous" for the whole feature: a revert of the
    // feature to it would undo something else.
    let previous = rec
        .previous
        .filter(|_| rec.segment.is_none())
        .filter(|p| *p != current && variants.iter().any(|v| v.name == *p))
        .map(str::to_string);
    Some(LeverSetting {
        lever,
        flag: key.to_string(),
        variants,
        current,
        segments,
        previous,
        changed_at: rec.at,
        changed_by: rec.by.map(str::to_string),
        segments_unknown: matches!(groups, Some(None)),
    })
}

/// One setting to write: the lever, the feature, the segment (`None`: the whole feature),
/// the variant, and whether it reverts the previous setting.
pub struct Set<'a> {
    pub lever: Lever,
    pub feature: &'a str,
    pub segment: Option<&'a str>,
    pub variant: &'a str,
    pub undo: bool,
}

/// Serves `set.variant` to the feature (the default variant) or to one segment (the rule),
/// recording the change in the flag's metadata. Nothing is changed on an error.
pub fn write(
    flag: &mut Map<String, Value>,
    key: &str,
    set: &Set<'_>,
    field: &str,
    author: &str,
    now: DateTime<Utc>,
) -> Result<String, String> {
    let what = set.lever.short();
    let names: Vec<String> = flag
        .get("variants")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("flag {key} has no variants to choose from"))?
        .keys()
        .cloned()
        .collect();
    if !names.iter().any(|n| n == set.variant) {
        return Err(format!(
            "flag {key} has no variant {:?} (it has: {})",
            set.variant,
            names.join(", ")
        ));
    }
    if !matches!(flag.get("metadata"), None | Some(Value::Object(_))) {
        return Err(format!("flag {key}: metadata is not an object"));
    }
    let feature_variant = served(flag).map(str::to_string);
    let verb = if set.undo { "reverted" } else { "set" };
    let Some(segment) = set.segment else {
        if feature_variant.as_deref() == Some(set.variant) {
            return Err(format!(
                "{} already serves {what} {}",
                set.feature, set.variant
            ));
        }
        let has_rule = flag.get("targeting").is_some_and(|t| !rule::is_empty(t));
        flag.insert("state".into(), json!("ENABLED"));
        flag.insert("defaultVariant".into(), json!(set.variant));
        metadata::record(flag, key, feature_variant.as_deref(), None, author, now)?;
        let mut msg = format!(
            "{} {what} {verb}: {} → {}",
            set.feature,
            feature_variant.as_deref().unwrap_or("(flag was disabled)"),
            set.variant
        );
        if has_rule {
            msg.push_str(" (segments with their own rule keep it)");
        }
        return Ok(msg);
    };
    // Enabling a disabled flag for one segment would serve its default variant to everyone.
    let Some(feature_variant) = feature_variant else {
        return Err(format!(
            "flag {key} serves nothing yet (disabled, or no valid defaultVariant): set {what} \
             for the whole feature first"
        ));
    };
    let mut groups: Vec<Group> = match flag.get("targeting") {
        None => Vec::new(),
        Some(t) if rule::is_empty(t) => Vec::new(),
        Some(t) => rule::parse(t, field).ok_or_else(|| {
            format!(
                "flag {key} has its own targeting rule, which the cockpit never rewrites: set \
                 {what} for segment {segment} there by hand (the whole feature can still be \
                 set from here)"
            )
        })?,
    };
    let before = rule::served(&groups, segment).unwrap_or_else(|| feature_variant.clone());
    if before == set.variant {
        return Err(format!(
            "{} segment {segment} already serves {what} {}",
            set.feature, set.variant
        ));
    }
    // A segment set back to the feature's variant needs no rule of its own.
    let own = (set.variant != feature_variant).then_some(set.variant);
    rule::assign(&mut groups, segment, own);
    match rule::build(field, &groups) {
        Some(r) => {
            flag.insert("targeting".into(), r);
        }
        None => {
            flag.shift_remove("targeting");
        }
    }
    metadata::record(flag, key, Some(&before), Some(segment), author, now)?;
    Ok(format!(
        "{} {what} {verb} for segment {segment}: {before} → {}",
        set.feature, set.variant
    ))
}
