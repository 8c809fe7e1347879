//! `[[unleash]]`: Unleash's admin API, prompt versions and lever settings as variants and kill switches as strategies. Its config, as the file names it;
//! every key an entry leaves out comes from `[source_defaults.unleash]` in defaults.toml.

use crate::config::limits::{Limit, PACE, REPLY};
use crate::config::secret::SecretSpec;
use crate::config::sources::{Schema, SourceConfig};
use crate::config::timing::{PollSecs, TimeoutSecs};
use crate::domain::lever::Lever;
use serde::Deserialize;

/// The `[[unleash]]` table.
pub const SCHEMA: Schema<UnleashConfig> = Schema::new("unleash");

/// Unleash flags per cockpit feature: `prompt_flag`, `kill_flag` and one `<lever>_flag` per
/// settable lever name them, with `{feature}` standing for the feature's name.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnleashConfig {
    pub name: String,
    pub url: String,
    /// An admin API token, sent as `Authorization: <token>`.
    pub token: SecretSpec,
    pub project: String,
    pub environment: String,
    pub prompt_flag: String,
    pub kill_flag: String,
    /// The settable levers' toggles (docs/levers.md, Unleash): strategy variants whose
    /// payloads are the settings.
    pub model_flag: String,
    pub config_flag: String,
    pub budget_flag: String,
    pub retrieval_flag: String,
    pub fallback_flag: String,
    /// Context field whose values name user segments in kill-switch constraints.
    pub segment_field: String,
    pub poll_secs: PollSecs,
    pub timeout_secs: TimeoutSecs,
    /// The most of one reply read, in MiB; a bigger reply is a source error.
    pub max_reply_mib: u64,
    /// A poll starts no sooner than this many times the last answer time after the
    /// previous one started, so a slow backend is not kept busy by the cockpit.
    pub answer_time_factor: f64,
    /// A private CA and a client certificate (mutual TLS); see README, Security.
    #[serde(default)]
    pub tls: Option<crate::config::tls::TlsConfig>,
}

impl UnleashConfig {
    /// The name template of a settable lever's toggle; `None` for a lever that is not one
    /// (the prompt and the kill switch have their own keys).
    pub fn lever_flag(&self, lever: Lever) -> Option<&str> {
        match lever {
            Lever::ModelSwitch => Some(&self.model_flag),
            Lever::ConservativeConfig => Some(&self.config_flag),
            Lever::TokenBudget => Some(&self.budget_flag),
            Lever::RetrievalPath => Some(&self.retrieval_flag),
            Lever::Fallback => Some(&self.fallback_flag),
            _ => None,
        }
    }
}

impl SourceConfig for UnleashConfig {
    fn tls(&self) -> Option<&crate::config::tls::TlsConfig> {
        self.tls.as_ref()
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn limits(&self) -> Vec<(&'static Limit, f64)> {
        vec![
            (&REPLY, self.max_reply_mib as f64),
            (&PACE, self.answer_time_factor),
        ]
    }
    fn problems(&self) -> Vec<String> {
        super::Unleash::check(self).err().into_iter().collect()
    }
    fn secrets(&self) -> Vec<(String, &SecretSpec)> {
        vec![("token".into(), &self.token)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults' keys, with `change` applied to the file's text.
    fn problems(change: impl Fn(String) -> String) -> Vec<String> {
        let text = r#"
            name = "unleash"
            url = "http://127.0.0.1:4242"
            token = { env = "UNLEASH_TOKEN" }
            project = "default"
            environment = "production"
            prompt_flag = "{feature}.prompt"
            kill_flag = "{feature}.kill-switch"
            model_flag = "{feature}.model"
            config_flag = "{feature}.config"
            budget_flag = "{feature}.token-budget"
            retrieval_flag = "{feature}.retrieval"
            fallback_flag = "{feature}.fallback"
            segment_field = "segment"
            poll_secs = 15.0
            timeout_secs = 10.0
            max_reply_mib = 8
            answer_time_factor = 4.0
        "#;
        let cfg: UnleashConfig = toml::from_str(&change(text.to_string())).expect("config");
        cfg.problems()
    }

    #[test]
    fn every_lever_toggle_needs_its_own_name_with_the_feature_in_it() {
        assert!(problems(|t| t).is_empty());
        assert_eq!(
            problems(|t| t.replace("\"{feature}.fallback\"", "\"fallback\"")),
            ["fallback_flag \"fallback\" must contain {feature}"]
        );
        assert_eq!(
            problems(|t| t.replace("\"{feature}.token-budget\"", "\"{feature}.model\"")),
            ["budget_flag and model_flag must differ"]
        );
        assert_eq!(
            problems(|t| t.replace("\"{feature}.config\"", "\"{feature}.prompt\"")),
            ["config_flag and prompt_flag must differ"]
        );
    }
}
