//! `[[flagd]]`: a flagd flag file the cockpit edits in place. Its config, as the file names it;
//! every key an entry leaves out comes from `[source_defaults.flagd]` in defaults.toml.

use crate::config::limits::{Limit, PACE, REPLY};
use crate::config::sources::{Schema, SourceConfig};
use crate::config::timing::{PollSecs, TimeoutSecs};
use crate::domain::lever::Lever;
use serde::Deserialize;

/// The `[[flagd]]` table.
pub const SCHEMA: Schema<FlagdConfig> = Schema::new("flagd");

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
    /// One flag per settable lever (docs/levers.md, flagd): its variants are the settings
    /// offered, its default variant what the feature is served.
    pub model_flag: String,
    pub config_flag: String,
    pub budget_flag: String,
    pub retrieval_flag: String,
    pub fallback_flag: String,
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

impl FlagdConfig {
    /// Each settable lever's flag key pattern, with the config key that sets it.
    pub fn lever_flags(&self) -> [(Lever, &'static str, &str); 5] {
        [
            (Lever::ModelSwitch, "model_flag", &self.model_flag),
            (Lever::ConservativeConfig, "config_flag", &self.config_flag),
            (Lever::TokenBudget, "budget_flag", &self.budget_flag),
            (Lever::RetrievalPath, "retrieval_flag", &self.retrieval_flag),
            (Lever::Fallback, "fallback_flag", &self.fallback_flag),
        ]
    }
}

impl SourceConfig for FlagdConfig {
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
        super::Flagd::problems(self)
    }
}
