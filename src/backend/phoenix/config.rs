//! `[[phoenix]]`: an Arize Phoenix tracing server, read for samples of what the models said.
//! Its config, as the file names it; every key an entry leaves out comes from
//! `[source_defaults.phoenix]` in defaults.toml.

use crate::config::limits::{Limit, PACE, PAGES, PROMPTS, PROMPT_VERSIONS, REPLY};
use crate::config::secret::{auth_secrets, AuthConfig, SecretSpec};
use crate::config::sources::{Schema, SourceConfig};
use crate::config::timing::{PollSecs, TimeoutSecs};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The `[[phoenix]]` table.
pub const SCHEMA: Schema<PhoenixConfig> = Schema::new("phoenix");

/// Phoenix answers at most 1000 spans a page.
pub const SPAN_PAGE: Limit = Limit {
    key: "page_size",
    min: 1.0,
    max: 1000.0,
    why: "Phoenix refuses pages larger than 1000 spans",
};

/// Worst traces asked for per window and kind of worst: the newest requests keep at least
/// half of a window's samples whatever this says.
pub const WORST_TRACES: Limit = Limit {
    key: "worst_traces",
    min: 0.0,
    max: 250.0,
    why: "worst traces per window and kind, 0 for none; at most half of the 500 samples a window holds",
};

/// The eval score below which a sample counts among the worst.
pub const WORST_EVAL: Limit = Limit {
    key: "worst_eval_below",
    min: 0.0,
    max: 1.0,
    why: "an eval score, 0 to 1",
};

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoenixConfig {
    pub name: String,
    pub url: String,
    /// The whole fetch of one window (every page and the annotations) must end within it.
    pub timeout_secs: TimeoutSecs,
    /// The most of one reply read, in MiB; a bigger reply is a source error.
    pub max_reply_mib: u64,
    /// Spans asked for per request, and the most requests one window's fetch makes.
    pub page_size: u32,
    pub max_pages: u32,
    /// Only spans of this OpenInference kind are samples ("LLM"); empty: every kind.
    pub span_kind: String,
    /// Cockpit feature → Phoenix project; a feature not listed is read from the project
    /// of its own name.
    #[serde(default)]
    pub projects: BTreeMap<String, String>,
    /// Span attributes for what OpenInference has no standard name for (a segment), or
    /// where a deployment uses another (a tenant id for the user).
    pub segment_attribute: String,
    pub user_attribute: String,
    pub conversation_attribute: String,
    pub prompt_version_attribute: String,
    /// The span annotation whose score is the eval score (0 to 1, higher is better).
    pub eval_annotation: String,
    /// The eval annotation scores badness (a hallucination score): the eval score is 1 − it.
    pub eval_inverted: bool,
    /// Worst-first: besides the newest spans of a window, the traces Phoenix finds worst
    /// (an eval score below `worst_eval_below`; the slowest), up to this many per kind.
    pub worst_traces: u32,
    pub worst_eval_below: f64,
    /// Also a prompt registry: each prompt's versions, the one holding `prompt_tag`, and the
    /// prompt rollback (the tag moved to another version).
    pub prompt_registry: bool,
    pub prompt_tag: String,
    /// Cockpit feature → Phoenix prompt name; a prompt not listed is the prompt of the
    /// feature of its own name.
    #[serde(default)]
    pub prompts: BTreeMap<String, String>,
    pub prompt_poll_secs: PollSecs,
    pub max_prompts: u32,
    pub max_prompt_versions: u32,
    /// A poll of the prompt registry starts no sooner than this many times the last answer
    /// time after the previous one started.
    pub answer_time_factor: f64,
    /// `Authorization: Bearer <API key>` when Phoenix runs with auth on.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// A private CA and a client certificate (mutual TLS); see README, Security.
    #[serde(default)]
    pub tls: Option<crate::config::tls::TlsConfig>,
}

impl PhoenixConfig {
    /// The Phoenix prompt `feature`'s prompt versions are in.
    pub fn prompt(&self, feature: &str) -> String {
        self.prompts
            .get(feature)
            .cloned()
            .unwrap_or_else(|| feature.to_string())
    }

    /// The Phoenix project `feature`'s spans are in.
    pub fn project(&self, feature: &str) -> String {
        self.projects
            .get(feature)
            .cloned()
            .unwrap_or_else(|| feature.to_string())
    }
}

impl SourceConfig for PhoenixConfig {
    fn tls(&self) -> Option<&crate::config::tls::TlsConfig> {
        self.tls.as_ref()
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn limits(&self) -> Vec<(&'static Limit, f64)> {
        vec![
            (&REPLY, self.max_reply_mib as f64),
            (&PAGES, f64::from(self.max_pages)),
            (&SPAN_PAGE, f64::from(self.page_size)),
            (&WORST_TRACES, f64::from(self.worst_traces)),
            (&WORST_EVAL, self.worst_eval_below),
            (&PROMPTS, f64::from(self.max_prompts)),
            (&PROMPT_VERSIONS, f64::from(self.max_prompt_versions)),
            (&PACE, self.answer_time_factor),
        ]
    }
    fn problems(&self) -> Vec<String> {
        super::Phoenix::check(self)
            .err()
            .into_iter()
            .chain(super::PhoenixPrompts::check(self).err())
            .collect()
    }
    fn secrets(&self) -> Vec<(String, &SecretSpec)> {
        auth_secrets(self.auth.as_ref())
    }
}
