//! What changed around a feature before an incident started: prompt and model versions, flag
//! and lever flips, deploys. Plain data; sources report it (`BackendEvent::Changes`), the
//! cockpit notices some itself (`state/changes.rs`), and the describe view and the runbook's
//! "which layer" question read it relative to the incident's onset.

use super::text::{fit, sanitize};
use super::SafeText;
use chrono::{DateTime, Utc};

/// Changes a source reports per read, newest kept: the timeline shows the two hours before an
/// onset, and no source's history may grow the state without bound.
pub const MAX_CHANGES_PER_SOURCE: usize = 200;
/// Characters kept of a change's text: one line of the describe view, not a release note.
pub const MAX_CHANGE_TEXT: usize = 160;

/// The layer of the AI stack a change touched; the runbook's "which layer" answers name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    Prompt,
    Model,
    /// The index, embeddings, retrieval path or the data behind them.
    Data,
    /// Flags, configuration and deploys of the serving code.
    Infrastructure,
}

impl Layer {
    /// The word the runbook's layer answer starts with ("prompt: …").
    pub fn name(self) -> &'static str {
        match self {
            Layer::Prompt => "prompt",
            Layer::Model => "model",
            Layer::Data => "data/retrieval",
            Layer::Infrastructure => "infrastructure",
        }
    }

    /// The label column's word (ten columns).
    pub fn short(self) -> &'static str {
        match self {
            Layer::Prompt => "prompt",
            Layer::Model => "model",
            Layer::Data => "data",
            Layer::Infrastructure => "infra",
        }
    }

    /// The layer a free-text change (a deploy's summary) most likely touched: words that name
    /// a prompt, a model or the retrieval data; anything else is a deploy or config change of
    /// the serving stack. A guess, shown as one; the responder confirms the layer.
    pub fn guess(text: &str) -> Layer {
        let t = text.to_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
        if has(&["prompt", "system message", "template"]) {
            Layer::Prompt
        } else if has(&["model", "llm", "fine-tune", "finetune", "checkpoint"]) {
            Layer::Model
        } else if has(&[
            "index",
            "embedding",
            "retriev",
            "vector",
            "corpus",
            "dataset",
        ]) {
            Layer::Data
        } else {
            Layer::Infrastructure
        }
    }
}

/// One change, sanitised where it was made.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub at: DateTime<Utc>,
    /// The feature it touched; `None` when the source cannot say (a PagerDuty change event is
    /// about a service, and is tied to its incident instead).
    pub feature: Option<String>,
    /// The incident it was reported for (PagerDuty's related change events).
    pub incident: Option<String>,
    pub layer: Layer,
    /// "prompt support-bot v7→v8".
    pub what: SafeText,
    /// Where it was seen: the source's name, or "audit" for the cockpit's own levers.
    pub origin: String,
}

impl Change {
    pub fn new(at: DateTime<Utc>, layer: Layer, what: &str, origin: &str) -> Change {
        Change {
            at,
            feature: None,
            incident: None,
            layer,
            what: SafeText::new(&fit(&sanitize(what), MAX_CHANGE_TEXT)),
            origin: SafeText::new(origin).to_string(),
        }
    }

    pub fn on_feature(mut self, feature: &str) -> Change {
        self.feature = Some(SafeText::new(feature).to_string());
        self
    }

    pub fn on_incident(mut self, id: &str) -> Change {
        self.incident = Some(id.to_string());
        self
    }
}

/// What one source last read of its change history: the newest `MAX_CHANGES_PER_SOURCE`, and
/// why the last read failed when it did (the entries are then the last good read's).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChangeLog {
    pub entries: Vec<Change>,
    pub read_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

impl ChangeLog {
    /// Newest first, cut to the bound.
    pub fn bounded(mut entries: Vec<Change>) -> Vec<Change> {
        entries.sort_by_key(|c| std::cmp::Reverse(c.at));
        entries.truncate(MAX_CHANGES_PER_SOURCE);
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deploy_summary_names_its_layer_by_its_words() {
        assert_eq!(Layer::guess("Deploy prompt template v8"), Layer::Prompt);
        assert_eq!(Layer::guess("switch model to gpt-4o-mini"), Layer::Model);
        assert_eq!(Layer::guess("rebuilt the vector index"), Layer::Data);
        assert_eq!(
            Layer::guess("api-gateway 1.4.2 deployed"),
            Layer::Infrastructure
        );
    }

    #[test]
    fn text_from_outside_is_cut_and_cleaned() {
        let long = format!("\u{1b}[2J{}", "x".repeat(500));
        let c = Change::new(Utc::now(), Layer::Infrastructure, &long, "pd\u{7}");
        assert!(!c.what.as_str().contains('\u{1b}'));
        assert!(c.what.as_str().chars().count() <= MAX_CHANGE_TEXT);
        assert_eq!(c.origin, "pd");
    }
}
