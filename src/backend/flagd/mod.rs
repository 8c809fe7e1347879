//! flagd flag files (`{"flags":{key:{"state","variants","defaultVariant","targeting"}}}`) as
//! a flag system. Per feature, a prompt flag whose variants are prompt versions (the default
//! variant is what is served), a kill-switch flag with a `true` and a `false` variant (the
//! default variant switches the whole feature; a targeting rule switches user segments), and
//! a flag per settable lever (`lever.rs`).
//!
//! The file belongs to the team, not to the cockpit: edits go through the parsed JSON so every
//! field the cockpit does not know (other flags, `$schema`, `$evaluators`, metadata) survives,
//! key order included, and each write replaces the file atomically. What the cockpit adds is
//! metadata on the flags it changes (`metadata.rs`) so the next reader knows the last-known-good
//! version and when it changed; a `lastKnownGood` set by a deploy pipeline takes precedence.

pub mod config;
mod kind;
mod lever;
mod metadata;
mod rule;

use super::http::ReplyCap;
use super::{BackendError, FeatureFlags, FlagControl, FlagOp};
use crate::atomic_file;
use crate::domain::lever::Lever;
use chrono::{DateTime, Utc};
pub use config::FlagdConfig;
pub use kind::Kind;
pub use lever::MAX_LISTED;
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// A flag key pattern such as `{feature}.prompt`.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyPattern {
    prefix: String,
    suffix: String,
}

impl KeyPattern {
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let Some((prefix, suffix)) = pattern.split_once("{feature}") else {
            return Err(format!(
                "flag key pattern {pattern:?} must contain {{feature}}"
            ));
        };
        Ok(KeyPattern {
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
        })
    }

    pub fn key(&self, feature: &str) -> String {
        format!("{}{feature}{}", self.prefix, self.suffix)
    }

    fn feature<'a>(&self, key: &'a str) -> Option<&'a str> {
        key.strip_prefix(&self.prefix)?
            .strip_suffix(&self.suffix)
            .filter(|f| !f.is_empty())
    }
}

/// How the team names its flags.
#[derive(Clone, Debug, PartialEq)]
pub struct FlagNames {
    pub prompt: KeyPattern,
    pub kill: KeyPattern,
    /// Each settable lever's flag.
    pub levers: Vec<(Lever, KeyPattern)>,
    /// The evaluation-context field that names a user segment.
    pub segment_field: String,
}

impl FlagNames {
    /// The names, or every pattern that is wrong, each message naming its config key.
    pub fn from_config(cfg: &FlagdConfig) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let mut seen: Vec<(&str, String)> = Vec::new();
        let mut parse = |key: &'static str, pattern: &str| {
            if let Some((other, _)) = seen.iter().find(|(_, p)| *p == pattern) {
                errors.push(format!(
                    "{key} {pattern:?} is also {other}: each flag has one job"
                ));
            }
            seen.push((key, pattern.to_string()));
            KeyPattern::parse(pattern)
                .map_err(|e| errors.push(format!("{key}: {e}")))
                .ok()
        };
        let prompt = parse("prompt_flag", &cfg.prompt_flag);
        let kill = parse("kill_flag", &cfg.kill_flag);
        let levers: Vec<Option<(Lever, KeyPattern)>> = cfg
            .lever_flags()
            .into_iter()
            .map(|(lever, key, pattern)| parse(key, pattern).map(|p| (lever, p)))
            .collect();
        match (prompt, kill, levers.into_iter().collect::<Option<Vec<_>>>()) {
            (Some(prompt), Some(kill), Some(levers)) if errors.is_empty() => Ok(FlagNames {
                prompt,
                kill,
                levers,
                segment_field: cfg.segment_field.clone(),
            }),
            _ => Err(errors),
        }
    }

    fn lever(&self, lever: Lever) -> Option<&KeyPattern> {
        self.levers
            .iter()
            .find(|(l, _)| *l == lever)
            .map(|(_, p)| p)
    }

    /// The feature a flag key belongs to and the job of that flag.
    fn role<'a>(&self, key: &'a str) -> Option<(&'a str, Role)> {
        if let Some(f) = self.prompt.feature(key) {
            return Some((f, Role::Prompt));
        }
        if let Some(f) = self.kill.feature(key) {
            return Some((f, Role::Kill));
        }
        self.levers
            .iter()
            .find_map(|(l, p)| p.feature(key).map(|f| (f, Role::Lever(*l))))
    }
}

/// A parsed flag file, kept as JSON so unknown fields round-trip.
#[derive(Clone, Debug, PartialEq)]
pub struct FlagFile(Value);

/// The production decoder (and fuzz target): bytes as read from disk to a flag file.
pub fn decode(bytes: &[u8]) -> Result<FlagFile, String> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    match doc.get("flags") {
        Some(Value::Object(_)) => Ok(FlagFile(doc)),
        Some(_) => Err("\"flags\" is not an object".into()),
        None => Err("no \"flags\" object".into()),
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The segments a kill switch's rule kills: the cockpit's rule shape (`rule.rs`) with one
/// group, serving `on`. Anything else is the team's own logic, reported but never rewritten.
fn cockpit_segments(targeting: &Value, field: &str, on: &str) -> Option<Vec<String>> {
    let groups = rule::parse(targeting, field)?;
    match groups.as_slice() {
        [g] if g.variant == on => Some(g.segments.clone()),
        _ => None,
    }
}

/// A kill-switch flag's variant names: the one whose value is `true` and the one `false`.
fn kill_variants(flag: &Map<String, Value>) -> Option<(String, String)> {
    let variants = flag.get("variants")?.as_object()?;
    let name_of = |want: bool| {
        variants
            .iter()
            .find(|(_, v)| v.as_bool() == Some(want))
            .map(|(k, _)| k.clone())
    };
    Some((name_of(true)?, name_of(false)?))
}

fn enabled(flag: &Map<String, Value>) -> bool {
    flag.get("state").and_then(Value::as_str) == Some("ENABLED")
}

fn default_variant(flag: &Map<String, Value>) -> Option<&str> {
    flag.get("defaultVariant").and_then(Value::as_str)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    Prompt,
    Kill,
    Lever(Lever),
}

impl FlagFile {
    fn flags(&self) -> Option<&Map<String, Value>> {
        self.0.get("flags").and_then(Value::as_object)
    }

    fn flag_mut(&mut self, key: &str) -> Option<&mut Map<String, Value>> {
        self.0
            .get_mut("flags")
            .and_then(Value::as_object_mut)
            .and_then(|f| f.get_mut(key))
            .and_then(Value::as_object_mut)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(&self.0).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// The levers of every feature that has a prompt, kill-switch or lever flag, in file
    /// order; each feature's settable levers in `Lever::SETTABLE` order.
    pub fn levers(&self, names: &FlagNames) -> Vec<FeatureFlags> {
        let mut out: Vec<FeatureFlags> = Vec::new();
        let Some(flags) = self.flags() else {
            return out;
        };
        for (key, flag) in flags {
            let Some((feature, role)) = names.role(key) else {
                continue;
            };
            let pos = match out.iter().position(|l| l.feature == feature) {
                Some(p) => p,
                None => {
                    out.push(FeatureFlags {
                        feature: feature.to_string(),
                        ..FeatureFlags::default()
                    });
                    out.len() - 1
                }
            };
            let entry = &mut out[pos];
            match role {
                Role::Prompt => read_prompt(flag, entry),
                Role::Kill => read_kill(flag, &names.segment_field, entry),
                // One key per feature and pattern: a lever is never reported twice.
                Role::Lever(l) => {
                    entry
                        .levers
                        .extend(lever::read(key, flag, l, &names.segment_field));
                }
            }
        }
        let rank = |l: Lever| Lever::SETTABLE.iter().position(|s| *s == l);
        for ff in &mut out {
            ff.levers.sort_by_key(|s| rank(s.lever));
        }
        out
    }

    pub fn apply(
        &mut self,
        op: &FlagOp,
        names: &FlagNames,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<String, String> {
        match op {
            FlagOp::Rollback {
                feature,
                to_version,
            } => self.rollback(&names.prompt.key(feature), feature, to_version, author, now),
            FlagOp::KillSwitch {
                feature,
                segment,
                engage,
            } => {
                let key = names.kill.key(feature);
                self.kill(
                    &key,
                    feature,
                    segment.as_deref(),
                    *engage,
                    &names.segment_field,
                )
            }
            FlagOp::SetLever {
                feature,
                lever,
                segment,
                variant,
                undo,
            } => {
                let key = names
                    .lever(*lever)
                    .map(|p| p.key(feature))
                    .ok_or_else(|| format!("no flag is named for the {} lever", lever.short()))?;
                let flag = self
                    .flag_mut(&key)
                    .ok_or_else(|| format!("no {} flag {key} for {feature}", lever.short()))?;
                let set = lever::Set {
                    lever: *lever,
                    feature,
                    segment: segment.as_deref(),
                    variant,
                    undo: *undo,
                };
                lever::write(flag, &key, &set, &names.segment_field, author, now)
            }
        }
    }

    fn rollback(
        &mut self,
        key: &str,
        feature: &str,
        to: &str,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<String, String> {
        let flag = self
            .flag_mut(key)
            .ok_or_else(|| format!("no flag {key} for {feature}"))?;
        let known = flag
            .get("variants")
            .and_then(Value::as_object)
            .is_some_and(|v| v.contains_key(to));
        if !known {
            return Err(format!("flag {key} has no variant {to}"));
        }
        let from = default_variant(flag).unwrap_or("?").to_string();
        if from == to && enabled(flag) {
            return Err(format!("{feature} already serves prompt {to}"));
        }
        flag.insert("state".into(), json!("ENABLED"));
        flag.insert("defaultVariant".into(), json!(to));
        metadata::record(flag, key, Some(&from), None, author, now)?;
        let mut msg = format!("{feature} prompt rolled back {from} → {to}");
        if flag.get("targeting").is_some_and(|t| !rule::is_empty(t)) {
            msg.push_str(" (its targeting rule still applies to matching users)");
        }
        Ok(msg)
    }

    fn kill(
        &mut self,
        key: &str,
        feature: &str,
        segment: Option<&str>,
        engage: bool,
        field: &str,
    ) -> Result<String, String> {
        let flag = self
            .flag_mut(key)
            .ok_or_else(|| format!("no kill-switch flag {key} for {feature}"))?;
        let (on, off) = kill_variants(flag)
            .ok_or_else(|| format!("flag {key} needs a true and a false variant"))?;
        let was_enabled = enabled(flag);
        flag.insert("state".into(), json!("ENABLED"));
        let Some(segment) = segment else {
            let whole = was_enabled && default_variant(flag) == Some(&on);
            let what = format!("{feature} (whole feature)");
            return match (engage, whole) {
                (true, true) => Err(format!("kill switch already engaged for {what}")),
                (false, false) => Err(format!("no kill switch engaged for {what}")),
                (true, false) => {
                    flag.insert("defaultVariant".into(), json!(on));
                    Ok(format!("kill switch engaged for {what}"))
                }
                (false, true) => {
                    flag.insert("defaultVariant".into(), json!(off));
                    Ok(format!("kill switch released for {what}"))
                }
            };
        };
        if !was_enabled {
            // A disabled flag served nothing; enabling it for one segment must not kill the rest.
            flag.insert("defaultVariant".into(), json!(off));
        }
        let mut segments = match flag.get("targeting") {
            None => Vec::new(),
            Some(t) if rule::is_empty(t) => Vec::new(),
            Some(t) => cockpit_segments(t, field, &on).ok_or_else(|| {
                format!("flag {key} has its own targeting rule; change segments there by hand")
            })?,
        };
        let what = format!("{feature} segment {segment}");
        let has = segments.iter().any(|s| s == segment);
        match (engage, has) {
            (true, true) => return Err(format!("kill switch already engaged for {what}")),
            (false, false) => return Err(format!("no kill switch engaged for {what}")),
            (true, false) => segments.push(segment.to_string()),
            (false, true) => segments.retain(|s| s != segment),
        }
        let group = rule::Group {
            variant: on,
            segments,
        };
        match rule::build(field, &[group]) {
            Some(r) => {
                flag.insert("targeting".into(), r);
            }
            None => {
                flag.shift_remove("targeting");
            }
        }
        Ok(format!(
            "kill switch {} for {what}",
            if engage { "engaged" } else { "released" }
        ))
    }
}

fn read_prompt(flag: &Value, out: &mut FeatureFlags) {
    if let Some(variants) = flag.get("variants").and_then(Value::as_object) {
        out.prompt_versions = variants.keys().cloned().collect();
    }
    out.current_prompt = str_of(flag, "defaultVariant")
        .filter(|v| out.prompt_versions.iter().any(|p| p == v))
        .map(str::to_string);
    let recorded = metadata::read(flag);
    out.last_known_good = metadata::meta_str(flag, "lastKnownGood")
        .or(recorded.previous)
        .filter(|v| Some(*v) != out.current_prompt.as_deref())
        .map(str::to_string);
    out.prompt_changed_at = recorded.at;
}

fn read_kill(flag: &Value, field: &str, out: &mut FeatureFlags) {
    let Some(flag) = flag.as_object() else {
        return;
    };
    let Some((on, _)) = kill_variants(flag) else {
        return;
    };
    if let Some(list) = flag.get("metadata").and_then(|m| str_of(m, "segments")) {
        out.segments = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
    }
    if !enabled(flag) {
        return;
    }
    if default_variant(flag) == Some(on.as_str()) {
        out.killed.push("*".into());
    }
    if let Some(segs) = flag
        .get("targeting")
        .and_then(|t| cockpit_segments(t, field, &on))
    {
        out.killed.extend(segs);
    }
}

/// A flag file on disk as a flag system.
pub struct Flagd {
    path: PathBuf,
    names: FlagNames,
    cap: ReplyCap,
}

impl Flagd {
    /// Everything `new` refuses in the config itself, all at once (flagd has no secrets:
    /// the same checks).
    pub fn problems(cfg: &FlagdConfig) -> Vec<String> {
        let mut out = Vec::new();
        if cfg.path.as_os_str().is_empty() {
            out.push("path is empty: name the flag file".into());
        }
        if let Err(e) = FlagNames::from_config(cfg) {
            out.extend(e);
        }
        out
    }

    pub fn new(cfg: &FlagdConfig) -> Result<Self, String> {
        let names =
            FlagNames::from_config(cfg).map_err(|e| format!("{}: {}", cfg.name, e.join("; ")))?;
        Ok(Flagd {
            path: cfg.path.clone(),
            names,
            cap: ReplyCap::mib(cfg.max_reply_mib),
        })
    }
}

fn load(path: &std::path::Path, cap: ReplyCap) -> Result<(Vec<u8>, FlagFile), BackendError> {
    let bytes = read_capped(path, cap)?;
    let file =
        decode(&bytes).map_err(|e| BackendError::Malformed(format!("{}: {e}", path.display())))?;
    Ok((bytes, file))
}

/// The file, unless it is bigger than `cap`: a flag file the size of a disk is a mistake
/// (or an attack), never a reason to hold it in memory.
fn read_capped(path: &std::path::Path, cap: ReplyCap) -> Result<Vec<u8>, BackendError> {
    use std::io::Read;
    let unreachable =
        |e: std::io::Error| BackendError::Unreachable(format!("{}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(unreachable)?;
    let mut bytes = Vec::new();
    // One byte past the cap tells "exactly the cap" from "more", whatever the file claims to be
    // (a FIFO or /proc file has no size).
    file.take(cap.bytes().saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(unreachable)?;
    if bytes.len() as u64 > cap.bytes() {
        let size = std::fs::metadata(path)
            .ok()
            .map(|m| m.len())
            .filter(|&n| n > cap.bytes());
        return Err(BackendError::TooLarge {
            size,
            cap: cap.bytes(),
        });
    }
    Ok(bytes)
}

/// Read, change, and replace the file; if someone else wrote it in between, start again on
/// their version rather than overwrite their change.
fn edit(
    path: &std::path::Path,
    cap: ReplyCap,
    names: &FlagNames,
    op: &FlagOp,
    author: &str,
    now: DateTime<Utc>,
) -> Result<String, BackendError> {
    for _ in 0..3 {
        let (before, mut file) = load(path, cap)?;
        let msg = file
            .apply(op, names, author, now)
            .map_err(BackendError::Rejected)?;
        let current = read_capped(path, cap)?;
        if current != before {
            continue;
        }
        atomic_file::write(path, &file.encode()).map_err(|e| {
            BackendError::Unreachable(format!("cannot write {}: {e}", path.display()))
        })?;
        return Ok(msg);
    }
    Err(BackendError::Rejected(format!(
        "{} keeps changing under the cockpit; try again",
        path.display()
    )))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BackendError> + Send + 'static,
) -> Result<T, BackendError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BackendError::Unreachable(format!("file task failed: {e}")))?
}

impl FlagControl for Flagd {
    async fn read(&mut self, _now: DateTime<Utc>) -> Result<Vec<FeatureFlags>, BackendError> {
        let path = self.path.clone();
        let (names, cap) = (self.names.clone(), self.cap);
        blocking(move || Ok(load(&path, cap)?.1.levers(&names))).await
    }

    async fn apply(
        &mut self,
        op: &FlagOp,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<String, BackendError> {
        let path = self.path.clone();
        let (names, cap) = (self.names.clone(), self.cap);
        let op = op.clone();
        let author = author.to_string();
        blocking(move || edit(&path, cap, &names, &op, &author, now)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn names() -> FlagNames {
        FlagNames {
            prompt: KeyPattern::parse("{feature}.prompt").unwrap(),
            kill: KeyPattern::parse("{feature}.kill-switch").unwrap(),
            levers: vec![],
            segment_field: "segment".into(),
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 2, 30, 0).unwrap()
    }

    const FILE: &str = r#"{
  "$schema": "https://flagd.dev/schema/v0/flags.json",
  "flags": {
    "support-bot.prompt": {
      "state": "ENABLED",
      "variants": { "v12": "prompts/support/v12.txt", "v13": "prompts/support/v13.txt", "v14": "prompts/support/v14.txt" },
      "defaultVariant": "v14",
      "metadata": { "owner": "support-team", "lastKnownGood": "v12" }
    },
    "support-bot.kill-switch": {
      "state": "ENABLED",
      "variants": { "killed": true, "serving": false },
      "defaultVariant": "serving",
      "metadata": { "segments": "free-tier, enterprise" }
    },
    "checkout-redesign": { "state": "ENABLED", "variants": { "on": true, "off": false }, "defaultVariant": "off", "x-team": 7 }
  },
  "$evaluators": { "emailWithFaas": { "ends_with": [{ "var": "email" }, "@faas.com"] } }
}"#;

    fn op_kill(segment: Option<&str>, engage: bool) -> FlagOp {
        FlagOp::KillSwitch {
            feature: "support-bot".into(),
            segment: segment.map(str::to_string),
            engage,
        }
    }

    #[test]
    fn reads_versions_kills_and_segments() {
        let f = decode(FILE.as_bytes()).unwrap();
        let levers = f.levers(&names());
        assert_eq!(
            levers.len(),
            1,
            "unrelated flags are not features: {levers:?}"
        );
        let l = &levers[0];
        assert_eq!(l.prompt_versions, ["v12", "v13", "v14"]);
        assert_eq!(l.current_prompt.as_deref(), Some("v14"));
        assert_eq!(l.last_known_good.as_deref(), Some("v12"));
        assert!(l.killed.is_empty());
        assert_eq!(l.segments, ["free-tier", "enterprise"]);
    }

    #[test]
    fn rollback_changes_only_the_default_variant_and_records_when() {
        let mut f = decode(FILE.as_bytes()).unwrap();
        let op = FlagOp::Rollback {
            feature: "support-bot".into(),
            to_version: "v12".into(),
        };
        let msg = f.apply(&op, &names(), "ana", at()).unwrap();
        assert_eq!(msg, "support-bot prompt rolled back v14 → v12");
        let back = decode(&f.encode()).unwrap();
        let flag = &back.0["flags"]["support-bot.prompt"];
        assert_eq!(flag["defaultVariant"], "v12");
        assert_eq!(flag["metadata"]["owner"], "support-team");
        assert_eq!(flag["metadata"]["previousVariant"], "v14");
        assert_eq!(flag["metadata"]["changedBy"], "ana");
        let l = &back.levers(&names())[0];
        assert_eq!(l.prompt_changed_at, Some(at()));
        // The pipeline's own last-known-good wins over the cockpit's "previous".
        assert_eq!(l.last_known_good, None, "v12 is current, so no other LKG");
        assert!(
            f.apply(&op, &names(), "ana", at()).is_err(),
            "already served"
        );
        let bad = FlagOp::Rollback {
            feature: "support-bot".into(),
            to_version: "v99".into(),
        };
        assert!(f
            .apply(&bad, &names(), "ana", at())
            .unwrap_err()
            .contains("v99"));
    }

    #[test]
    fn unknown_fields_and_key_order_survive_a_write() {
        let mut f = decode(FILE.as_bytes()).unwrap();
        f.apply(&op_kill(None, true), &names(), "ana", at())
            .unwrap();
        f.apply(&op_kill(None, false), &names(), "ana", at())
            .unwrap();
        let before: Value = serde_json::from_str(FILE).unwrap();
        let after: Value = serde_json::from_slice(&f.encode()).unwrap();
        assert_eq!(before, after, "engage then release is the identity");
        let keys: Vec<_> = after["flags"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(
            keys,
            [
                "support-bot.prompt",
                "support-bot.kill-switch",
                "checkout-redesign"
            ]
        );
    }

    #[test]
    fn segment_kills_use_targeting_and_leave_the_whole_feature_alone() {
        let mut f = decode(FILE.as_bytes()).unwrap();
        f.apply(&op_kill(Some("free-tier"), true), &names(), "ana", at())
            .unwrap();
        f.apply(&op_kill(Some("enterprise"), true), &names(), "ana", at())
            .unwrap();
        let l = &f.levers(&names())[0];
        assert_eq!(l.killed, ["free-tier", "enterprise"]);
        let flag = &f.0["flags"]["support-bot.kill-switch"];
        assert_eq!(flag["defaultVariant"], "serving");
        assert_eq!(
            flag["targeting"],
            json!({"if": [{"in": [{"var": "segment"}, ["free-tier", "enterprise"]]}, "killed", null]})
        );
        assert!(f
            .apply(&op_kill(Some("free-tier"), true), &names(), "ana", at())
            .is_err());
        f.apply(&op_kill(Some("free-tier"), false), &names(), "ana", at())
            .unwrap();
        f.apply(&op_kill(Some("enterprise"), false), &names(), "ana", at())
            .unwrap();
        assert!(f.0["flags"]["support-bot.kill-switch"]
            .get("targeting")
            .is_none());
    }

    #[test]
    fn a_hand_written_targeting_rule_is_never_rewritten() {
        let mut doc: Value = serde_json::from_str(FILE).unwrap();
        doc["flags"]["support-bot.kill-switch"]["targeting"] =
            json!({"if": [{"ends_with": [{"var": "email"}, "@corp.com"]}, "killed", "serving"]});
        let mut f = FlagFile(doc.clone());
        let err = f
            .apply(&op_kill(Some("free-tier"), true), &names(), "ana", at())
            .unwrap_err();
        assert!(err.contains("by hand"), "{err}");
        // The whole-feature switch still works.
        f.apply(&op_kill(None, true), &names(), "ana", at())
            .unwrap();
        assert_eq!(
            f.0["flags"]["support-bot.kill-switch"]["targeting"],
            doc["flags"]["support-bot.kill-switch"]["targeting"]
        );
        assert_eq!(f.levers(&names())[0].killed, ["*"]);
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        assert!(decode(b"{").unwrap_err().contains("not JSON"));
        assert!(decode(b"{}").unwrap_err().contains("no \"flags\""));
        assert!(decode(br#"{"flags": []}"#)
            .unwrap_err()
            .contains("not an object"));
        // Odd but valid JSON never panics and yields what it can.
        let f = decode(br#"{"flags": {"a.prompt": 3, "b.kill-switch": {"variants": {"x": 1}}}}"#)
            .unwrap();
        let l = f.levers(&names());
        assert_eq!(l.len(), 2);
        assert!(l
            .iter()
            .all(|l| l.current_prompt.is_none() && l.killed.is_empty()));
        assert!(KeyPattern::parse("prompt").is_err());
    }
}
