//! Flag names per cockpit feature: the `prompt_flag` / `kill_flag` templates and
//! Unleash's own rule for names.

const PLACEHOLDER: &str = "{feature}";

/// A flag name template: `prefix{feature}suffix`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Naming {
    prefix: String,
    suffix: String,
}

impl Naming {
    pub(super) fn parse(template: &str, key: &str) -> Result<Naming, String> {
        let Some((prefix, suffix)) = template.split_once(PLACEHOLDER) else {
            return Err(format!("{key} {template:?} must contain {PLACEHOLDER}"));
        };
        if suffix.contains(PLACEHOLDER) || (prefix.is_empty() && suffix.is_empty()) {
            return Err(format!(
                "{key} {template:?} needs one {PLACEHOLDER} and some fixed text around it"
            ));
        }
        Ok(Naming {
            prefix: prefix.into(),
            suffix: suffix.into(),
        })
    }

    pub(super) fn flag(&self, feature: &str) -> String {
        format!("{}{feature}{}", self.prefix, self.suffix)
    }

    pub(super) fn feature<'a>(&self, flag: &'a str) -> Option<&'a str> {
        flag.strip_prefix(self.prefix.as_str())
            .and_then(|rest| rest.strip_suffix(self.suffix.as_str()))
            .filter(|f| !f.is_empty())
    }
}

/// Unleash's own rule for names (URL-friendly), so a name can be put in a path as it is.
pub(super) fn url_safe(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_names_follow_the_templates() {
        let n = Naming::parse("{feature}.prompt", "prompt_flag").expect("valid");
        assert_eq!(n.flag("support-bot"), "support-bot.prompt");
        assert_eq!(n.feature("support-bot.prompt"), Some("support-bot"));
        assert_eq!(n.feature(".prompt"), None);
        assert_eq!(n.feature("support-bot.kill-switch"), None);
        let p = Naming::parse("ai-{feature}-prompt", "prompt_flag").expect("valid");
        assert_eq!(p.feature("ai-rag-prompt"), Some("rag"));
        assert!(Naming::parse("prompt", "prompt_flag").is_err());
        assert!(Naming::parse("{feature}", "prompt_flag").is_err());
        assert!(Naming::parse("{feature}.{feature}", "prompt_flag").is_err());
    }
}
