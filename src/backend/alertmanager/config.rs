//! `[[alertmanager]]`: an Alertmanager v2 API whose alerts are incidents; ack is a silence. Its config, as the file names it;
//! every key an entry leaves out comes from `[source_defaults.alertmanager]` in defaults.toml.

use crate::config::limits::{Limit, INCIDENTS, PACE, REPLY};
use crate::config::secret::AuthConfig;
use crate::config::secret::{auth_secrets, SecretSpec};
use crate::config::sources::{Schema, SourceConfig};
use crate::config::timing::{PollSecs, TimeoutSecs};
use serde::Deserialize;

/// The `[[alertmanager]]` table.
pub const SCHEMA: Schema<AlertmanagerConfig> = Schema::new("alertmanager");

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    pub name: String,
    pub url: String,
    pub poll_secs: PollSecs,
    pub timeout_secs: TimeoutSecs,
    /// The most of one reply read, in MiB; a bigger reply is a source error.
    pub max_reply_mib: u64,
    /// A poll starts no sooner than this many times the last answer time after the
    /// previous one started, so a slow backend is not kept busy by the cockpit.
    pub answer_time_factor: f64,
    /// Incidents held from this source; the least urgent beyond it are counted, not kept.
    pub max_incidents: usize,
    /// Matchers sent as `filter` to `GET /api/v2/alerts` (`team="payments"`,
    /// `severity=~"sev1|sev2"`): Alertmanager returns only the alerts that match all of them.
    #[serde(default)]
    pub filter: Vec<String>,
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Each acknowledgement silence lasts this long and is renewed while the alert fires.
    pub silence_secs: u64,
    /// Renew when less than this is left.
    pub renew_before_secs: u64,
    pub severity_label: String,
    pub feature_label: String,
    /// Label or annotation naming the incident type (cost_explosion, guardrail_bypass, …).
    pub type_label: String,
    /// A private CA and a client certificate (mutual TLS); see README, Security.
    #[serde(default)]
    pub tls: Option<crate::config::tls::TlsConfig>,
}

impl SourceConfig for AlertmanagerConfig {
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
            (&INCIDENTS, self.max_incidents as f64),
        ]
    }
    fn problems(&self) -> Vec<String> {
        // Each matcher on its own, so two bad ones are two errors.
        let mut problems: Vec<String> = self
            .filter
            .iter()
            .filter_map(|m| super::Alertmanager::check_filter(m).err())
            .collect();
        let rest = AlertmanagerConfig {
            filter: Vec::new(),
            ..self.clone()
        };
        problems.extend(super::Alertmanager::check(&rest).err());
        problems
    }
    fn secrets(&self) -> Vec<(String, &SecretSpec)> {
        auth_secrets(self.auth.as_ref())
    }
}
