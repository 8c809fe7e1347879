//! The signals part: every metrics source's latest readings and detections, every flag
//! system's levers, and the merged set the panes show.

use crate::domain::event::FeatureFlags;
use crate::domain::lever::{LeverSetting, LeverVariant};
use crate::domain::{Detection, FeatureInfo, PromptVersion, SafeText, SignalSet};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub struct Signals {
    /// All metrics sources merged, levers laid over: what the panes show. Derived.
    pub merged: SignalSet,
    pub detections: Vec<Detection>,
    /// Latest signals and detections per metrics source, so one source failing or lagging
    /// never blanks another's.
    per_source: BTreeMap<String, (SignalSet, Vec<Detection>)>,
    /// Latest levers per flag system; laid over the features so the panes show the prompt
    /// version and kill switches the flag system serves, not what metrics last saw.
    levers: BTreeMap<String, Vec<FeatureFlags>>,
    /// The feature pinned with next_feature; otherwise the selected incident's is shown.
    pub pinned: Option<String>,
}

impl Signals {
    pub fn feature(&self, name: &str) -> Option<&FeatureInfo> {
        self.merged.features.iter().find(|f| f.name == name)
    }

    /// The metrics source whose latest readings hold `feature`, the first by name: where a
    /// shadow comparison of its variants is asked.
    pub fn metrics_source_of(&self, feature: &str) -> Option<String> {
        self.per_source
            .iter()
            .find(|(_, (set, _))| {
                set.features.iter().any(|f| f.name == feature)
                    || set.signals.iter().any(|s| s.feature == feature)
            })
            .map(|(name, _)| name.clone())
    }

    /// A metrics source's latest readings.
    pub(crate) fn readings(&mut self, source: String, set: SignalSet, detections: Vec<Detection>) {
        self.per_source.insert(source, (set, detections));
        self.merge();
    }

    /// A flag system's latest levers.
    pub(crate) fn levers(&mut self, source: String, flags: &[FeatureFlags]) {
        self.levers
            .insert(source, flags.iter().map(sanitize_flags).collect());
        self.merge();
    }

    /// Pins the feature after `current` (wrapping), or the first.
    pub(crate) fn pin_next(&mut self, current: Option<String>) {
        let names: Vec<&String> = self.merged.features.iter().map(|f| &f.name).collect();
        if names.is_empty() {
            return;
        }
        let pos = current
            .and_then(|c| names.iter().position(|n| **n == c))
            .map(|p| (p + 1) % names.len())
            .unwrap_or(0);
        self.pinned = Some(names[pos].clone());
    }

    /// Rebuilds the merged set the panes read from every source's latest one.
    fn merge(&mut self) {
        let mut merged = SignalSet::default();
        let mut detections = Vec::new();
        for (set, dets) in self.per_source.values() {
            merged.at = merged.at.max(set.at);
            merged.signals.extend(set.signals.iter().cloned());
            merged
                .distributions
                .extend(set.distributions.iter().cloned());
            merged.features.extend(set.features.iter().cloned());
            merged.coverage.extend(set.coverage.iter().cloned());
            detections.extend(dets.iter().cloned());
        }
        // Flag systems first, then prompt registries, which are the authority on the
        // prompts of the features they report.
        for prompts_only in [false, true] {
            for (source, flags) in &self.levers {
                for ff in flags.iter().filter(|f| f.prompt_only == prompts_only) {
                    overlay_flags(&mut merged.features, source, ff);
                }
            }
        }
        self.merged = merged;
        self.detections = detections;
    }
}

/// Flag names, versions and segments come from outside like any other text.
fn sanitize_flags(ff: &FeatureFlags) -> FeatureFlags {
    let clean = |s: &String| SafeText::new(s).to_string();
    FeatureFlags {
        feature: clean(&ff.feature),
        prompt_versions: ff.prompt_versions.iter().map(clean).collect(),
        current_prompt: ff.current_prompt.as_ref().map(clean),
        last_known_good: ff.last_known_good.as_ref().map(clean),
        prompt_changed_at: ff.prompt_changed_at,
        killed: ff.killed.iter().map(clean).collect(),
        segments: ff.segments.iter().map(clean).collect(),
        prompt_only: ff.prompt_only,
        levers: ff.levers.iter().map(sanitize_lever).collect(),
    }
}

fn sanitize_lever(l: &LeverSetting) -> LeverSetting {
    let clean = |s: &String| SafeText::new(s).to_string();
    LeverSetting {
        lever: l.lever,
        flag: clean(&l.flag),
        variants: l
            .variants
            .iter()
            .map(|v| LeverVariant {
                name: clean(&v.name),
                value: sanitize_value(&v.value),
            })
            .collect(),
        current: clean(&l.current),
        segments: l
            .segments
            .iter()
            .map(|(s, v)| (clean(s), clean(v)))
            .collect(),
        previous: l.previous.as_ref().map(clean),
        changed_at: l.changed_at,
        changed_by: l.changed_by.as_ref().map(clean),
        segments_unknown: l.segments_unknown,
    }
}

/// A variant's value, every string in it (keys too) made safe to draw.
fn sanitize_value(v: &Value) -> Value {
    let clean = |s: &str| SafeText::new(s).to_string();
    match v {
        Value::String(s) => Value::String(clean(s)),
        Value::Array(a) => Value::Array(a.iter().map(sanitize_value).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (clean(k), sanitize_value(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The flag system is the authority on levers; metrics only know what they last saw served.
/// When two flag systems report one feature the first (by name) holds its levers; a prompt
/// registry reporting it too holds its prompts, the flag system keeps its kill switch.
fn overlay_flags(features: &mut Vec<FeatureInfo>, source: &str, ff: &FeatureFlags) {
    let pos = match features.iter().position(|f| f.name == ff.feature) {
        Some(p) => p,
        None => {
            features.push(FeatureInfo::traffic_only(&ff.feature, ""));
            features.len() - 1
        }
    };
    let info = &mut features[pos];
    if ff.prompt_only {
        if info.prompt_source.is_some() {
            return;
        }
        info.prompt_source = Some(source.to_string());
        // What a flag system said about the prompt gives way to the registry's.
        info.prompt_versions
            .retain(|v| ff.prompt_versions.contains(&v.id));
        info.current_prompt = None;
        info.last_known_good_prompt = None;
        info.prompt_changed_at = None;
        overlay_prompts(info, ff);
        return;
    }
    if info.flag_source.is_some() {
        return;
    }
    info.flag_source = Some(source.to_string());
    overlay_prompts(info, ff);
    info.killed = ff.killed.clone();
    info.levers = ff.levers.clone();
    for s in ff.segments.iter().chain(&ff.killed) {
        if s != "*" && !info.segments.contains(s) {
            info.segments.push(s.clone());
        }
    }
}

/// A lever source's prompt versions, the one served and the last known to be good.
fn overlay_prompts(info: &mut FeatureInfo, ff: &FeatureFlags) {
    for id in &ff.prompt_versions {
        if !info.prompt_versions.iter().any(|v| &v.id == id) {
            info.prompt_versions.push(PromptVersion {
                id: id.clone(),
                deployed_at: None,
                note: SafeText::new(""),
            });
        }
    }
    if ff.current_prompt.is_some() {
        info.current_prompt = ff.current_prompt.clone();
        info.prompt_changed_at = ff.prompt_changed_at.or(info.prompt_changed_at);
    }
    if ff.last_known_good.is_some() {
        info.last_known_good_prompt = ff.last_known_good.clone();
    }
}
