//! `[[langfuse]]`: Langfuse's public API, prompt versions and their `production` label. Its
//! config, as the file names it; every key an entry leaves out comes from
//! `[source_defaults.langfuse]` in defaults.toml.

use crate::config::limits::{Limit, PACE, PAGES, PROMPTS, PROMPT_VERSIONS, REPLY};
use crate::config::secret::SecretSpec;
use crate::config::sources::{Schema, SourceConfig};
use crate::config::timing::{PollSecs, TimeoutSecs};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The `[[langfuse]]` table.
pub const SCHEMA: Schema<LangfuseConfig> = Schema::new("langfuse");

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LangfuseConfig {
    pub name: String,
    pub url: String,
    /// HTTP Basic: the project's public key as the user, its secret key as the password.
    pub public_key: String,
    pub secret_key: SecretSpec,
    /// The label that marks the version served.
    pub label: String,
    /// Cockpit feature → Langfuse prompt name; a prompt not listed is the prompt of the
    /// feature of its own name.
    #[serde(default)]
    pub prompts: BTreeMap<String, String>,
    pub poll_secs: PollSecs,
    pub timeout_secs: TimeoutSecs,
    pub max_reply_mib: u64,
    /// Pages of the prompt list read per poll, and the prompts and versions kept of it.
    pub max_pages: u32,
    pub max_prompts: u32,
    pub max_prompt_versions: u32,
    pub answer_time_factor: f64,
    /// A private CA and a client certificate (mutual TLS); see README, Security.
    #[serde(default)]
    pub tls: Option<crate::config::tls::TlsConfig>,
}

impl LangfuseConfig {
    /// The Langfuse prompt holding `feature`'s versions.
    pub fn prompt(&self, feature: &str) -> String {
        self.prompts
            .get(feature)
            .cloned()
            .unwrap_or_else(|| feature.to_string())
    }
}

impl SourceConfig for LangfuseConfig {
    fn tls(&self) -> Option<&crate::config::tls::TlsConfig> {
        self.tls.as_ref()
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn limits(&self) -> Vec<(&'static Limit, f64)> {
        vec![
            (&REPLY, self.max_reply_mib as f64),
            (&PAGES, f64::from(self.max_pages)),
            (&PROMPTS, f64::from(self.max_prompts)),
            (&PROMPT_VERSIONS, f64::from(self.max_prompt_versions)),
            (&PACE, self.answer_time_factor),
        ]
    }
    fn problems(&self) -> Vec<String> {
        super::Langfuse::check(self).err().into_iter().collect()
    }
    fn secrets(&self) -> Vec<(String, &SecretSpec)> {
        vec![("secret_key".into(), &self.secret_key)]
    }
}
