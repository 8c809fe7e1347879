//! One request a feature served, as a responder reads it: what went in, what the model said,
//! and everything needed to reproduce it. Samples are evidence ("the bug is the model"): the
//! numbers say a refusal rate dropped, a sample shows the jailbroken answer.
//!
//! Every text field came from outside (a user's prompt, the model's output, a span attribute)
//! and is `SafeText`: stripped of terminal control when it was built.

use super::SafeText;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The most of one sample's input or output kept: a 1 MB output is evidence of a loop, and
/// its first 16 KiB show it as well as the whole.
pub const MAX_SAMPLE_TEXT: usize = 16 * 1024;

/// The most samples one window holds, from any source.
pub const MAX_SAMPLES_PER_WINDOW: usize = 500;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sample {
    /// The source's own id (span id, simulated request number): stable, for the evidence.
    pub id: SafeText,
    pub at: DateTime<Utc>,
    pub feature: SafeText,
    /// User segment or tenant, where the instrumentation names one.
    pub segment: Option<SafeText>,
    pub user: Option<SafeText>,
    pub prompt_version: Option<SafeText>,
    pub model: Option<SafeText>,
    /// `None`: served; `Some(why)`: the request failed (status code, error type).
    pub error: Option<SafeText>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// Dollars, where the source prices requests.
    pub cost: Option<f64>,
    pub latency_secs: Option<f64>,
    /// Evaluation score in [0, 1], higher is better.
    pub eval_score: Option<f64>,
    /// Judgements about the output from evaluators or annotations ("hallucinated",
    /// "jailbroken"…). The cockpit adds "refused" itself when a refusal template matches.
    pub labels: Vec<SafeText>,
    pub input: SafeText,
    pub output: SafeText,
    pub retrieved: Vec<Retrieved>,
    pub params: Params,
}

/// A document the retrieval step returned for the request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Retrieved {
    pub id: SafeText,
    /// Whether it was relevant (a hit) or not (a miss), where the source knows.
    pub hit: Option<bool>,
    pub score: Option<f64>,
}

/// The exact parameters to reproduce a request.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Params {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<u64>,
    pub seed: Option<i64>,
    /// Conversation or session id, where the request was one turn of many.
    pub conversation: Option<SafeText>,
}

/// Which stretch of time a sample comes from: what the model says now, or what it said
/// before the incident began.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    Incident,
    Baseline,
}

/// What one fetch asks a samples source for.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleQuery {
    pub feature: String,
    pub window: Window,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// At most this many, newest first (never above `MAX_SAMPLES_PER_WINDOW`).
    pub limit: usize,
}

/// Text from outside (a prompt, an output), cut to `MAX_SAMPLE_TEXT` bytes on a character
/// boundary, then made safe; its line breaks are kept.
pub fn sample_text(raw: &str) -> SafeText {
    if raw.len() <= MAX_SAMPLE_TEXT {
        return SafeText::lines(raw);
    }
    let mut end = MAX_SAMPLE_TEXT;
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    SafeText::lines(&format!("{}… [{} bytes in all]", &raw[..end], raw.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_character_boundary_and_says_so() {
        let raw = "é".repeat(MAX_SAMPLE_TEXT);
        let t = sample_text(&raw);
        assert!(t.as_str().len() < MAX_SAMPLE_TEXT + 40);
        assert!(t
            .as_str()
            .ends_with(&format!("[{} bytes in all]", raw.len())));
        assert_eq!(
            sample_text("ok \x1b]52;c;x\x07\r\nnext").as_str(),
            "ok \nnext"
        );
    }
}
