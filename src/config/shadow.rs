//! `[shadow]`: how the rollback and model-switch dialogs find a variant's own figures on
//! labelled series (docs/shadow.md). Built-in values in defaults.toml.

use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowSettings {
    /// The label naming the prompt version on series (`prompt_version`).
    pub prompt_label: LabelName,
    /// The label naming the model on series: the GenAI convention's request model.
    pub model_label: LabelName,
    /// A matcher the target's series must also match to count as its shadow traffic
    /// (`shadow="true"`); unset, every series of the target counts.
    #[serde(default)]
    pub shadow_matcher: Option<Matcher>,
    /// The window both variants are read over, in minutes (1 to 1440).
    pub window_mins: WindowMins,
}

impl Default for ShadowSettings {
    /// The `[shadow]` table of the built-in defaults.toml.
    fn default() -> Self {
        #[derive(Deserialize)]
        struct Defaults {
            shadow: ShadowSettings,
        }
        toml::from_str::<Defaults>(include_str!("defaults.toml"))
            .ok()
            .map(|d| d.shadow)
            .unwrap_or(ShadowSettings {
                prompt_label: LabelName("prompt_version".into()),
                model_label: LabelName("gen_ai_request_model".into()),
                shadow_matcher: None,
                window_mins: WindowMins(30),
            })
    }
}

/// A Prometheus label name: it is pasted into PromQL, so nothing else may be.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub struct LabelName(String);

impl TryFrom<String> for LabelName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if is_label_name(&s) {
            Ok(LabelName(s))
        } else {
            Err(format!(
                "{s:?} is not a label name (letters, digits and _, not starting with a digit)"
            ))
        }
    }
}

impl LabelName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= crate::domain::shadow::MAX_VALUE_LEN
}

/// One PromQL label matcher, `name="value"` (or `!=`, `=~`, `!~`), with no quote or
/// backslash inside the value: it is pasted into a selector.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub struct Matcher(String);

impl TryFrom<String> for Matcher {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bad = || {
            format!(
                "shadow_matcher {s:?} must be one label matcher like shadow=\"true\" (=, !=, =~ \
                 or !~, the value in double quotes, no quote or backslash inside)"
            )
        };
        let op_at = s.find(['=', '!']).ok_or_else(bad)?;
        let (name, rest) = s.split_at(op_at);
        let value = ["!~", "=~", "!=", "="]
            .iter()
            .find_map(|op| rest.strip_prefix(op))
            .ok_or_else(bad)?;
        let inner = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or_else(bad)?;
        if !is_label_name(name) || inner.contains(['"', '\\']) || s.len() > 256 {
            return Err(bad());
        }
        Ok(Matcher(s))
    }
}

impl Matcher {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(try_from = "i64")]
pub struct WindowMins(u32);

impl TryFrom<i64> for WindowMins {
    type Error = String;
    fn try_from(m: i64) -> Result<Self, String> {
        match u32::try_from(m) {
            Ok(m) if (1..=1440).contains(&m) => Ok(WindowMins(m)),
            _ => Err(format!("window_mins must be 1 to 1440, not {m}")),
        }
    }
}

impl WindowMins {
    pub fn secs(self) -> u32 {
        self.0 * 60
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_table_reads_and_bad_values_are_refused() {
        let s = ShadowSettings::default();
        assert_eq!(s.prompt_label.as_str(), "prompt_version");
        assert_eq!(s.model_label.as_str(), "gen_ai_request_model");
        assert_eq!(s.window_mins.secs(), 1800);
        assert!(s.shadow_matcher.is_none());
        for ok in [
            "shadow=\"true\"",
            "traffic!=\"live\"",
            "kind=~\"shadow|canary\"",
        ] {
            assert!(Matcher::try_from(ok.to_string()).is_ok(), "{ok}");
        }
        for bad in [
            "shadow",
            "shadow=true",
            "shadow=\"a\"} or vector(1) or {x=\"\"",
            "1x=\"y\"",
            "x=\"a\\\"\"",
        ] {
            assert!(Matcher::try_from(bad.to_string()).is_err(), "{bad}");
        }
        assert!(LabelName::try_from("prompt-version".to_string()).is_err());
        assert!(WindowMins::try_from(0).is_err() && WindowMins::try_from(1441).is_err());
    }
}
