//! Alertmanager API v2 wire types: alerts and silences as read and written, and the
//! matchers a silence and the `filter` parameter are made of.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GettableAlert {
    pub(super) labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) annotations: BTreeMap<String, String>,
    pub(super) starts_at: DateTime<Utc>,
    pub(super) fingerprint: String,
    pub(super) status: AlertStatus,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AlertStatus {
    #[serde(default)]
    pub(super) silenced_by: Vec<String>,
    #[serde(default)]
    pub(super) inhibited_by: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Matcher {
    pub(super) name: String,
    pub(super) value: String,
    pub(super) is_regex: bool,
    /// Absent before Alertmanager 0.22, where every matcher was an equality.
    #[serde(default = "equality")]
    pub(super) is_equal: bool,
}

fn equality() -> bool {
    true
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GettableSilence {
    pub(super) id: String,
    pub(super) matchers: Vec<Matcher>,
    pub(super) starts_at: DateTime<Utc>,
    pub(super) ends_at: DateTime<Utc>,
    pub(super) created_by: String,
    pub(super) comment: String,
    pub(super) status: SilenceStatus,
}

impl GettableSilence {
    pub(super) fn is_active(&self) -> bool {
        self.status.state == "active"
    }
}

#[derive(Clone, Debug, Deserialize)]
pub(super) struct SilenceStatus {
    pub(super) state: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PostableSilence<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) id: Option<&'a str>,
    pub(super) matchers: &'a [Matcher],
    pub(super) starts_at: DateTime<Utc>,
    pub(super) ends_at: DateTime<Utc>,
    pub(super) created_by: &'a str,
    pub(super) comment: &'a str,
}

#[derive(Debug, Deserialize)]
pub(super) struct SilenceCreated {
    #[serde(rename = "silenceID")]
    pub(super) silence_id: String,
}

/// One poll's view of Alertmanager.
pub(super) struct Snapshot {
    pub(super) alerts: Vec<GettableAlert>,
    pub(super) silences: Vec<GettableSilence>,
}

impl Snapshot {
    pub(super) fn alert(&self, fingerprint: &str) -> Option<&GettableAlert> {
        self.alerts.iter().find(|a| a.fingerprint == fingerprint)
    }

    pub(super) fn silence(&self, id: &str) -> Option<&GettableSilence> {
        self.silences.iter().find(|s| s.id == id)
    }
}

/// A silence on exactly this alert's label set, so it silences this alert and nothing else.
pub(super) fn exact_matchers(labels: &BTreeMap<String, String>) -> Vec<Matcher> {
    labels
        .iter()
        .map(|(name, value)| Matcher {
            name: name.clone(),
            value: value.clone(),
            is_regex: false,
            is_equal: true,
        })
        .collect()
}

/// One matcher of Alertmanager's `filter` parameter: `name op value` with op one of `=`,
/// `!=`, `=~`, `!~`, the value quoted or bare. Checked here because Alertmanager answers a bad
/// one with a 400 on every poll, which would leave the team's alerts unseen.
pub(super) fn check_matcher(m: &str) -> Result<(), String> {
    let m = m.trim();
    let name_end = m
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(m.len());
    let (name, rest) = m.split_at(name_end);
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("expected a label name first, like team=\"payments\"".into());
    }
    let rest = rest.trim_start();
    let value = ["=~", "!~", "!=", "="]
        .iter()
        .find_map(|op| rest.strip_prefix(op))
        .ok_or("expected =, !=, =~ or !~ after the label name")?
        .trim();
    let unquoted = value.strip_prefix('"').map(|v| v.strip_suffix('"'));
    match unquoted {
        Some(None) => Err("the value's closing quote is missing".into()),
        Some(Some(_)) => Ok(()),
        None if value.is_empty() => Err("expected a value after the operator".into()),
        None if value.contains(|c: char| "=~!\",{}".contains(c) || c.is_whitespace()) => {
            Err("quote a value with spaces or punctuation: name=\"value\"".into())
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_matchers() {
        for ok in [
            "team=\"payments\"",
            "severity=~\"sev1|sev2\"",
            "env != \"dev\"",
            "job!~\"test.*\"",
            "team=payments",
        ] {
            assert_eq!(check_matcher(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "=x",
            "team",
            "team==",
            "team=\"x",
            "1team=\"x\"",
            "team:x",
        ] {
            assert!(check_matcher(bad).is_err(), "{bad}");
        }
    }
}
