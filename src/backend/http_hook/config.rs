//! `[[http_hook]]`: a team's own HTTP endpoint for its levers. Its config, as the file names it;
//! every key an entry leaves out comes from `[source_defaults.http_hook]` in defaults.toml.

use crate::config::secret::SecretSpec;
use crate::config::sources::{Schema, SourceConfig};
use crate::config::timing::TimeoutSecs;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The `[[http_hook]]` table.
pub const SCHEMA: Schema<HttpHookConfig> = Schema::new("http_hook");

/// One request of an HTTP hook. Strings may hold `{feature}`, `{segment}`, `{engage}`,
/// `{action}`, `{to_version}`, `{author}`, `{at}`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookRequest {
    #[serde(default = "default_method")]
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Header values that are secrets (an `Authorization` token): env var or 0600 file.
    #[serde(default)]
    pub secret_headers: BTreeMap<String, SecretSpec>,
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

fn default_method() -> String {
    "POST".into()
}

/// A team's own endpoint for its levers.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpHookConfig {
    pub name: String,
    pub timeout_secs: TimeoutSecs,
    /// Features whose levers this hook holds.
    #[serde(default)]
    pub features: Vec<String>,
    /// Versions and segments the responder can pick from; the endpoint cannot list them.
    #[serde(default)]
    pub prompt_versions: Vec<String>,
    #[serde(default)]
    pub segments: Vec<String>,
    #[serde(default)]
    pub rollback: Option<HookRequest>,
    #[serde(default)]
    pub kill_switch: Option<HookRequest>,
    /// A private CA and a client certificate (mutual TLS); see README, Security.
    #[serde(default)]
    pub tls: Option<crate::config::tls::TlsConfig>,
}

impl SourceConfig for HttpHookConfig {
    fn tls(&self) -> Option<&crate::config::tls::TlsConfig> {
        self.tls.as_ref()
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn problems(&self) -> Vec<String> {
        super::HttpHook::check(self).err().into_iter().collect()
    }
    fn secrets(&self) -> Vec<(String, &SecretSpec)> {
        let mut specs = Vec::new();
        for (what, req) in [
            ("rollback", &self.rollback),
            ("kill_switch", &self.kill_switch),
        ] {
            for (header, spec) in req.iter().flat_map(|r| r.secret_headers.iter()) {
                specs.push((format!("{what}.secret_headers.{header}"), spec));
            }
        }
        specs
    }
}
