//! `[[pagerduty_events]]`: PagerDuty's Events API v2, where pages and change events go. Its config, as the file names it;
//! every key an entry leaves out comes from `[source_defaults.pagerduty_events]` in defaults.toml.

use crate::config::limits::{Limit, REPLY};
use crate::config::secret::SecretSpec;
use crate::config::sources::{Schema, SourceConfig};
use crate::config::timing::TimeoutSecs;
use serde::Deserialize;

/// The `[[pagerduty_events]]` table.
pub const SCHEMA: Schema<PagerDutyEventsConfig> = Schema::new("pagerduty_events");

/// A PagerDuty Events API v2 integration: where pages and change events go.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyEventsConfig {
    pub name: String,
    pub url: String,
    /// The integration's routing key (env var or 0600 file).
    pub routing_key: SecretSpec,
    pub timeout_secs: TimeoutSecs,
    /// The most of one reply read, in MiB; a bigger reply is a source error.
    pub max_reply_mib: u64,
    /// Send a change event when a prompt is rolled back or a kill switch moves.
    pub change_events: bool,
    /// A private CA and a client certificate (mutual TLS); see README, Security.
    #[serde(default)]
    pub tls: Option<crate::config::tls::TlsConfig>,
}

impl SourceConfig for PagerDutyEventsConfig {
    fn tls(&self) -> Option<&crate::config::tls::TlsConfig> {
        self.tls.as_ref()
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn limits(&self) -> Vec<(&'static Limit, f64)> {
        vec![(&REPLY, self.max_reply_mib as f64)]
    }
    fn problems(&self) -> Vec<String> {
        super::PagerDutyEvents::check(self)
            .err()
            .into_iter()
            .collect()
    }
    fn secrets(&self) -> Vec<(String, &SecretSpec)> {
        vec![("routing_key".into(), &self.routing_key)]
    }
}
