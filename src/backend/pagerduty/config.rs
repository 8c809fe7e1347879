//! `[[pagerduty]]`: PagerDuty's REST API v2, incidents listed and acted on. Its config, as the file names it;
//! every key an entry leaves out comes from `[source_defaults.pagerduty]` in defaults.toml.

use crate::config::limits::{
    Limit, INCIDENTS, LOG_ENTRIES, ONCALL_REFRESH, PACE, PAGES, PAGE_SIZE, REPLY,
};
use crate::config::secret::SecretSpec;
use crate::config::sources::{Schema, SourceConfig};
use crate::config::timing::{PollSecs, TimeoutSecs};
use serde::Deserialize;

/// The `[[pagerduty]]` table.
pub const SCHEMA: Schema<PagerDutyConfig> = Schema::new("pagerduty");

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    pub name: String,
    pub url: String,
    pub token: SecretSpec,
    /// Email of the acting PagerDuty user, sent as `From` on every write.
    pub from: String,
    pub poll_secs: PollSecs,
    pub timeout_secs: TimeoutSecs,
    /// Incidents listed per page (PagerDuty caps at 100).
    pub page_size: u32,
    /// The most of one reply read, in MiB; a bigger reply is a source error.
    pub max_reply_mib: u64,
    /// A poll starts no sooner than this many times the last answer time after the
    /// previous one started, so a slow backend is not kept busy by the cockpit.
    pub answer_time_factor: f64,
    /// Incidents held from this source; the least urgent beyond it are counted, not kept.
    pub max_incidents: usize,
    /// Pages of incidents read per poll; what lies beyond is counted, not followed.
    pub max_pages: u32,
    /// Log entries read per incident for its timeline (newest first, pages of 100); past
    /// it the timeline says older entries were not read.
    pub max_log_entries: usize,
    /// Seconds between reads of who is on call (`GET /oncalls`) for the listed incidents'
    /// escalation policies; a policy not read yet is read on the next poll.
    pub oncall_refresh_secs: u64,
    /// Only incidents of these teams / services (PagerDuty's `team_ids[]`, `service_ids[]`).
    #[serde(default)]
    pub team_ids: Vec<String>,
    #[serde(default)]
    pub service_ids: Vec<String>,
    /// A private CA and a client certificate (mutual TLS); see README, Security.
    #[serde(default)]
    pub tls: Option<crate::config::tls::TlsConfig>,
}

impl SourceConfig for PagerDutyConfig {
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
            (&PAGES, f64::from(self.max_pages)),
            (&PAGE_SIZE, f64::from(self.page_size)),
            (&LOG_ENTRIES, self.max_log_entries as f64),
            (&ONCALL_REFRESH, self.oncall_refresh_secs as f64),
        ]
    }
    fn problems(&self) -> Vec<String> {
        super::PagerDuty::check(self).err().into_iter().collect()
    }
    fn secrets(&self) -> Vec<(String, &SecretSpec)> {
        vec![("token".into(), &self.token)]
    }
}
