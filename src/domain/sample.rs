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
    /// Which worst requests of the window to fetch beside the newest, where the source can
    /// find them itself.
    pub worst: Worst,
}

/// Which of a window's worst requests a fetch should hold even when they are not among its
/// newest: a busy window holds more requests than one fetch reads, and the worst of them are
/// what a responder sorts for and what a postmortem quotes. A source that can ask for them
/// (Phoenix, server-side) fetches them first; the fleet's ring already keeps its failures
/// apart from its ordinary requests and answers as always.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Worst {
    /// Judged worst by the eval annotation.
    pub eval: bool,
    /// The slowest.
    pub latency: bool,
}

impl Worst {
    pub const NONE: Worst = Worst {
        eval: false,
        latency: false,
    };
    pub const ALL: Worst = Worst {
        eval: true,
        latency: true,
    };

    pub fn any(self) -> bool {
        self.eval || self.latency
    }

    /// Whether a fetch that asked for `self` holds what `other` asks for.
    pub fn covers(self, other: Worst) -> bool {
        (self.eval || !other.eval) && (self.latency || !other.latency)
    }

    pub fn union(self, other: Worst) -> Worst {
        Worst {
            eval: self.eval || other.eval,
            latency: self.latency || other.latency,
        }
    }
}

/// What one fetch found: the samples, and what it could not do that was asked (worst-first
/// refused by an older server), for the view to say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SampleBatch {
    pub samples: Vec<Sample>,
    pub note: Option<String>,
}

impl From<Vec<Sample>> for SampleBatch {
    fn from(samples: Vec<Sample>) -> SampleBatch {
        SampleBatch {
            samples,
            note: None,
        }
    }
}

impl Sample {
    /// One sample as a Markdown quote: who, what it scored, and the start of what it said.
    pub fn quote(&self) -> String {
        let s = self;
        let labels: Vec<&str> = s.labels.iter().map(|l| l.as_str()).collect();
        let output: String = s.output.as_str().chars().take(300).collect();
        format!(
            "- {} · {} · {} · eval {} · {}\n  > {}\n",
            s.at.format("%H:%M:%S"),
            s.segment.as_ref().map_or("-", |t| t.as_str()),
            s.prompt_version.as_ref().map_or("-", |t| t.as_str()),
            s.eval_score
                .map_or_else(|| "-".into(), |e| format!("{e:.2}")),
            if labels.is_empty() {
                "no labels".to_string()
            } else {
                labels.join(", ")
            },
            output.replace('\n', "\n  > ")
        )
    }
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
