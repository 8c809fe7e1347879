//! Real backends named in config.toml, several at once. Every field not given takes its value
//! from `[source_defaults.<kind>]` in defaults.toml.

use super::secret::{AuthConfig, SecretSpec};
use super::timing::{PollSecs, TimeoutSecs};
use crate::domain::SignalKind;
use serde::Deserialize;
use std::collections::BTreeMap;

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
    /// Replaces the preset's query for a signal.
    #[serde(default)]
    pub queries: BTreeMap<SignalKind, String>,
    /// Model name → price, for cost = tokens x price.
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
}

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
}

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
    /// Only incidents of these teams / services (PagerDuty's `team_ids[]`, `service_ids[]`).
    #[serde(default)]
    pub team_ids: Vec<String>,
    #[serde(default)]
    pub service_ids: Vec<String>,
}

/// A flagd flag file the cockpit edits in place (flagd's file provider, or a file a GitOps
/// pipeline syncs).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagdConfig {
    pub name: String,
    pub path: std::path::PathBuf,
    /// Flag key patterns; `{feature}` is the cockpit's feature name.
    pub prompt_flag: String,
    pub kill_flag: String,
    /// Evaluation-context field that names the user segment in targeting rules.
    pub segment_field: String,
    pub poll_secs: PollSecs,
    pub timeout_secs: TimeoutSecs,
    /// The largest flag file read, in MiB.
    pub max_reply_mib: u64,
    /// A poll starts no sooner than this many times the last answer time after the
    /// previous one started, so a slow backend is not kept busy by the cockpit.
    pub answer_time_factor: f64,
}

/// Unleash flags per cockpit feature: `prompt_flag` and `kill_flag` name them, with
/// `{feature}` standing for the feature's name.
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
    /// Context field whose values name user segments in kill-switch constraints.
    pub segment_field: String,
    pub poll_secs: PollSecs,
    pub timeout_secs: TimeoutSecs,
    /// The most of one reply read, in MiB; a bigger reply is a source error.
    pub max_reply_mib: u64,
    /// A poll starts no sooner than this many times the last answer time after the
    /// previous one started, so a slow backend is not kept busy by the cockpit.
    pub answer_time_factor: f64,
}

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
}

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
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    #[serde(default)]
    pub prometheus: Vec<PrometheusConfig>,
    #[serde(default)]
    pub alertmanager: Vec<AlertmanagerConfig>,
    #[serde(default)]
    pub pagerduty: Vec<PagerDutyConfig>,
    #[serde(default)]
    pub pagerduty_events: Vec<PagerDutyEventsConfig>,
    #[serde(default)]
    pub flagd: Vec<FlagdConfig>,
    #[serde(default)]
    pub http_hook: Vec<HttpHookConfig>,
    #[serde(default)]
    pub unleash: Vec<UnleashConfig>,
}

impl Sources {
    pub fn is_empty(&self) -> bool {
        self.prometheus.is_empty()
            && self.alertmanager.is_empty()
            && self.pagerduty.is_empty()
            && self.pagerduty_events.is_empty()
            && self.flagd.is_empty()
            && self.http_hook.is_empty()
            && self.unleash.is_empty()
    }
}
