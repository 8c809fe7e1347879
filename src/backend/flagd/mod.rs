//! flagd flag files (`{"flags":{key:{"state","variants","defaultVariant","targeting"}}}`) as
//! a flag system. Per feature, a prompt flag whose variants are prompt versions (the default
//! variant is what is served) and a kill-switch flag with a `true` and a `false` variant (the
//! default variant switches the whole feature; a targeting rule switches user segments).
//!
//! The file belongs to the team, not to the cockpit: edits go through the parsed JSON so every
//! field the cockpit does not know (other flags, `$schema`, `$evaluators`, metadata) survives,
//! key order included, and each write replaces the file atomically. What the cockpit adds is
//! metadata on the prompt flag (`previousVariant`, `changedAt`, `changedBy`) so the next reader
//! knows the last-known-good version and when it changed; a `lastKnownGood` set by a deploy
//! pipeline takes precedence.

pub mod config;
mod kind;

use super::http::ReplyCap;
use super::{BackendError, FeatureFlags, FlagControl, FlagOp};
use crate::atomic_file;
use chrono::{DateTime, SecondsFormat, Utc};
pub use config::FlagdConfig;
pub use kind::Kind;
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
    /// The evaluation-context field that names a user segment.
    pub segment_field: String,
}

impl FlagNames {
    pub fn from_config(cfg: &FlagdConfig) -> Result<Self, String> {
        Ok(FlagNames {
            prompt: KeyPattern::parse(&cfg.prompt_flag)?,
            kill: KeyPattern::parse(&cfg.kill_flag)?,
            segment_field: cfg.segment_field.clone(),
        })
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

/// The segments of a targeting rule in the one shape the cockpit writes:
/// `{"if":[{"in":[{"var":FIELD},[segments…]]}, ON, null]}`. Anything else is the team's
/// own logic, which the cockpit reports but never rewrites.
fn cockpit_segments(targeting: &Value, field: &str, on: &str) -> Option<Vec<String>> {
    let branch = targeting.get("if")?.as_array()?;
    let [cond, then, otherwise] = branch.as_slice() else {
        return None;
    };
    if then.as_str() != Some(on) || !otherwise.is_null() {
        return None;
    }
    let args = cond.get("in")?.as_array()?;
    let [var, list] = args.as_slice() else {
        return None;
    };
    if str_of(var, "var") != Some(field) {
        return None;
    }
    list.as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_string))
        .collect()
}

fn segment_rule(field: &str, on: &str, segments: &[String]) -> Value {
    json!({"if": [{"in": [{"var": field}, segments]}, on, null]})
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

    /// The levers of every feature that has a prompt or kill-switch flag, in file order.
    pub fn levers(&self, names: &FlagNames) -> Vec<FeatureFlags> {
        let mut out: Vec<FeatureFlags> = Vec::new();
        let Some(flags) = self.flags() else {
            return out;
        };
        for (key, flag) in flags {
            let (feature, role) = match (names.prompt.feature(key), names.kill.feature(key)) {
                (Some(f), _) => (f, Role::Prompt),
                (None, Some(f)) => (f, Role::Kill),
                (None, None) => continue,
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
            }
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
            FlagOp::SetLever { lever, feature, .. } => Err(format!(
                "the flag file carries no {} lever for {feature}",
                lever.key()
            )),
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
        let meta = flag
            .entry("metadata")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or_else(|| format!("flag {key}: metadata is not an object"))?;
        meta.insert("previousVariant".into(), json!(from));
        meta.insert(
            "changedAt".into(),
            json!(now.to_rfc3339_opts(SecondsFormat::Secs, true)),
        );
        meta.insert("changedBy".into(), json!(author));
        let mut msg = format!("{feature} prompt rolled back {from} → {to}");
        if flag.get("targeting").is_some_and(|t| !is_empty_rule(t)) {
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
            Some(t) if is_empty_rule(t) => Vec::new(),
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
        if segments.is_empty() {
            flag.remove("targeting");
        } else {
            flag.insert("targeting".into(), segment_rule(field, &on, &segments));
        }
        Ok(format!(
            "kill switch {} for {what}",
            if engage { "engaged" } else { "released" }
        ))
    }
}

fn is_empty_rule(t: &Value) -> bool {
    t.is_null() || t.as_object().is_some_and(Map::is_empty)
}

fn read_prompt(flag: &Value, out: &mut FeatureFlags) {
    if let Some(variants) = flag.get("variants").and_then(Value::as_object) {
        out.prompt_versions = variants.keys().cloned().collect();
    }
    out.current_prompt = str_of(flag, "defaultVariant")
        .filter(|v| out.prompt_versions.iter().any(|p| p == v))
        .map(str::to_string);
    let meta = flag.get("metadata");
    let meta_str = |k: &str| meta.and_then(|m| str_of(m, k));
    out.last_known_good = meta_str("lastKnownGood")
        .or(meta_str("previousVariant"))
        .filter(|v| Some(*v) != out.current_prompt.as_deref())
        .map(str::to_string);
    out.prompt_changed_at = meta_str("changedAt")
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
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
    /// What `new` refuses in the config itself (flagd has no secrets: the same checks).
    pub fn check(cfg: &FlagdConfig) -> Result<(), String> {
        if cfg.path.as_os_str().is_empty() {
            return Err("path is empty: name the flag file".into());
        }
        FlagNames::from_config(cfg).map(drop)
    }

    pub fn new(cfg: &FlagdConfig) -> Result<Self, String> {
        Ok(Flagd {
            path: cfg.path.clone(),
            names: FlagNames::from_config(cfg).map_err(|e| format!("{}: {e}", cfg.name))?,
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
