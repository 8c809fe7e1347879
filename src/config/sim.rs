//! `[sim]`: the embedded simulated fleet a session runs on when no source is configured.

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSettings {
    pub seed: u64,
    pub speed: f64,
    pub poll_secs: super::timing::PollSecs,
}
