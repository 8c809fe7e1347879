//! `[[prometheus]]`: a Prometheus HTTP API whose signals feed the cockpit's own detectors. Its config, as the file names it;
//! every key an entry leaves out comes from `[source_defaults.prometheus]` in defaults.toml.

use crate::config::limits::{Limit, PACE, REPLY};
use crate::config::secret::AuthConfig;
use crate::config::secret::{auth_secrets, SecretSpec};
use crate::config::sources::{Schema, SourceConfig};
use crate::config::timing::{PollSecs, TimeoutSecs};
use crate::domain::SignalKind;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The `[[prometheus]]` table.
pub const SCHEMA: Schema<PrometheusConfig> = Schema::new("prometheus");

/// USD per 1M tokens.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    pub name: String,
    pub url: String,
    /// Default query set: "otel" (OpenTelemetry GenAI names) or "vllm".
    pub preset: String,
    /// The label that names a feature in the cockpit ("job", "service_name", …).
    pub feature_label: String,
    pub poll_secs: PollSecs,
    pub timeout_secs: TimeoutSecs,
    /// The most of one reply read, in MiB; a bigger reply is a source error.
    pub max_reply_mib: u64,
    /// A poll starts no sooner than this many times the last answer time after the
    /// previous one started, so a slow backend is not kept busy by the cockpit.
    pub answer_time_factor: f64,
    /// Sparkline history fetched with query_range, and its resolution.
    pub range_secs: u64,
    pub step_secs: u64,
    /// Window of rate() and histogram_quantile() in the queries.
    pub rate_window: String,
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// The label naming a user segment or tenant on the token (and request) series: cost
    /// and requests are then read per segment too, for the split a kill-switch scope is
    /// chosen from. Unset: no split (the feature's totals only).
    #[serde(default)]
    pub segment_label: Option<String>,
    /// Replaces the preset's query for a signal.
    #[serde(default)]
    pub queries: BTreeMap<SignalKind, String>,
    /// Model name → price, for cost = tokens x price.
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
    /// A private CA and a client certificate (mutual TLS); see README, Security.
    #[serde(default)]
    pub tls: Option<crate::config::tls::TlsConfig>,
}

impl SourceConfig for PrometheusConfig {
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
        super::Prometheus::check(self).err().into_iter().collect()
    }
    fn secrets(&self) -> Vec<(String, &SecretSpec)> {
        auth_secrets(self.auth.as_ref())
    }
}
