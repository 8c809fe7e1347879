//! `[[flagd]]`: a flagd flag file the cockpit edits in place. Its config, as the file names it;
//! every key an entry leaves out comes from `[source_defaults.flagd]` in defaults.toml.

use crate::config::limits::{Limit, PACE, REPLY};
use crate::config::sources::{Schema, SourceConfig};
use crate::config::timing::{PollSecs, TimeoutSecs};
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
        super::Flagd::check(self).err().into_iter().collect()
    }
}
