//! `[[http_hook]]`: a team's own HTTP endpoint for its levers. Its config, as the file names it;
//! every key an entry leaves out comes from `[source_defaults.http_hook]` in defaults.toml.

use crate::config::secret::SecretSpec;
use crate::config::sources::{Schema, SourceConfig};
use crate::config::timing::TimeoutSecs;
use crate::domain::lever::Lever;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The `[[http_hook]]` table.
pub const SCHEMA: Schema<HttpHookConfig> = Schema::new("http_hook");

/// One request of an HTTP hook. Strings may hold `{feature}`, `{segment}`, `{engage}`,
/// `{action}`, `{to_version}`, `{author}` (or `{actor}`), `{at}`; a lever's request also
/// `{lever}`, `{variant}`, `{value}` and `{undo}` (docs/levers.md, HTTP hook).
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

/// One thing per settable lever, under the lever's key (`Lever::key`): `levers.model`,
/// `variants.budget`…
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerLever<T> {
    #[serde(default = "none")]
    pub model: Option<T>,
    #[serde(default = "none")]
    pub config: Option<T>,
    #[serde(default = "none")]
    pub budget: Option<T>,
    #[serde(default = "none")]
    pub retrieval: Option<T>,
    #[serde(default = "none")]
    pub fallback: Option<T>,
}

fn none<T>() -> Option<T> {
    None
}

impl<T> Default for PerLever<T> {
    fn default() -> Self {
        PerLever {
            model: None,
            config: None,
            budget: None,
            retrieval: None,
            fallback: None,
        }
    }
}

impl<T> PerLever<T> {
    pub fn get(&self, lever: Lever) -> Option<&T> {
        match lever {
            Lever::ModelSwitch => self.model.as_ref(),
            Lever::ConservativeConfig => self.config.as_ref(),
            Lever::TokenBudget => self.budget.as_ref(),
            Lever::RetrievalPath => self.retrieval.as_ref(),
            Lever::Fallback => self.fallback.as_ref(),
            _ => None,
        }
    }

    /// The levers that have one, in `Lever::SETTABLE` order.
    pub fn iter(&self) -> impl Iterator<Item = (Lever, &T)> {
        Lever::SETTABLE
            .into_iter()
            .filter_map(|l| self.get(l).map(|t| (l, t)))
    }
}

/// One setting a lever offers: its name and the value the endpoint is sent as `{value}`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookVariant {
    pub name: String,
    pub value: serde_json::Value,
}

/// Variants declared per feature, in the order offered.
pub type FeatureVariants = BTreeMap<String, Vec<HookVariant>>;

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
    /// A request per settable lever (`[http_hook.levers.model]`…).
    #[serde(default)]
    pub levers: PerLever<HookRequest>,
    /// Per lever, each feature's variants (`[http_hook.variants.model]`, `feature = [{ name,
    /// value }…]`): the endpoint cannot be asked what it offers.
    #[serde(default)]
    pub variants: PerLever<FeatureVariants>,
    /// A private CA and a client certificate (mutual TLS); see README, Security.
    #[serde(default)]
    pub tls: Option<crate::config::tls::TlsConfig>,
}

impl HttpHookConfig {
    /// Every request configured, with the key that names it (`rollback`, `levers.model`).
    pub fn requests(&self) -> Vec<(String, &HookRequest)> {
        let mut out: Vec<(String, &HookRequest)> = Vec::new();
        out.extend(self.rollback.iter().map(|r| ("rollback".to_string(), r)));
        out.extend(
            self.kill_switch
                .iter()
                .map(|r| ("kill_switch".to_string(), r)),
        );
        out.extend(
            self.levers
                .iter()
                .map(|(l, r)| (format!("levers.{}", l.key()), r)),
        );
        out
    }
}

impl SourceConfig for HttpHookConfig {
    fn tls(&self) -> Option<&crate::config::tls::TlsConfig> {
        self.tls.as_ref()
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn problems(&self) -> Vec<String> {
        super::HttpHook::problems(self)
    }
    fn secrets(&self) -> Vec<(String, &SecretSpec)> {
        let mut specs = Vec::new();
        for (what, req) in self.requests() {
            for (header, spec) in &req.secret_headers {
                specs.push((format!("{what}.secret_headers.{header}"), spec));
            }
        }
        specs
    }
}
