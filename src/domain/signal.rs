use super::{IncidentType, SafeText, Sev};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The AI-specific signals the cockpit watches per feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// USD per minute: tokens x price per model.
    CostPerMin,
    /// Input + output tokens per minute.
    TokensPerMin,
    /// USD per day, one point per day (7 past days, then today so far, projected).
    DailyCost,
    /// Time to first token, p99, seconds.
    TtftP99,
    /// Time per output token, p99, seconds.
    TpotP99,
    /// Failed requests / all requests, 0..1.
    ErrorRatio,
    /// Share of answers matching a refusal template, 0..1.
    RefusalRate,
    /// Jensen-Shannon distance of the output category distribution vs baseline, 0..1.
    Drift,
    /// Latest scheduled eval score, 0..1.
    EvalScore,
    /// Share of retrievals that returned a relevant document, 0..1.
    RetrievalHit,
}

impl SignalKind {
    /// Display order in the signal pane: money and safety first.
    pub const ALL: [SignalKind; 10] = [
        SignalKind::CostPerMin,
        SignalKind::TokensPerMin,
        SignalKind::RefusalRate,
        SignalKind::Drift,
        SignalKind::EvalScore,
        SignalKind::ErrorRatio,
        SignalKind::TtftP99,
        SignalKind::TpotP99,
        SignalKind::RetrievalHit,
        SignalKind::DailyCost,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SignalKind::CostPerMin => "cost $/min",
            SignalKind::TokensPerMin => "tokens/min",
            SignalKind::DailyCost => "cost $/day",
            SignalKind::TtftP99 => "TTFT p99",
            SignalKind::TpotP99 => "TPOT p99",
            SignalKind::ErrorRatio => "errors",
            SignalKind::RefusalRate => "refusals",
            SignalKind::Drift => "drift JS",
            SignalKind::EvalScore => "eval score",
            SignalKind::RetrievalHit => "retrieval hit",
        }
    }

    /// Human formatting of one value of this signal, compact enough for an 80-column row.
    pub fn format(self, v: f64) -> String {
        if !v.is_finite() {
            return "—".to_string();
        }
        match self {
            SignalKind::CostPerMin => format!("${v:.2}"),
            SignalKind::DailyCost => format!("${v:.0}"),
            SignalKind::TokensPerMin => {
                if v >= 1_000_000.0 {
                    format!("{:.1}M", v / 1_000_000.0)
                } else if v >= 1_000.0 {
                    format!("{:.1}k", v / 1_000.0)
                } else {
                    format!("{v:.0}")
                }
            }
            SignalKind::TtftP99 => format!("{v:.2}s"),
            SignalKind::TpotP99 => format!("{:.0}ms", v * 1000.0),
            SignalKind::ErrorRatio | SignalKind::RefusalRate | SignalKind::RetrievalHit => {
                format!("{:.1}%", v * 100.0)
            }
            SignalKind::Drift => format!("{v:.3}"),
            SignalKind::EvalScore => format!("{v:.2}"),
        }
    }

    /// Whether a breach is the value going up (cost, latency) or down (eval, retrieval).
    /// Refusals breach both ways and report `None`.
    pub fn breaches_upward(self) -> Option<bool> {
        match self {
            SignalKind::EvalScore | SignalKind::RetrievalHit => Some(false),
            SignalKind::RefusalRate => None,
            _ => Some(true),
        }
    }
}

/// Counts behind a ratio (or traffic behind a rate), one entry per point: what happened in the
/// step that ends at that point, not in an overlapping rate window, so consecutive entries
/// are independent and can be summed over any window. `events` is the numerator (refusals,
/// errors, retrieval hits) and `trials` the denominator (answers, requests, retrievals); for
/// cost and tokens only `trials` (requests) means anything. NaN marks a step with no data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub events: Vec<f64>,
    pub trials: Vec<f64>,
}

/// The same counts for one user segment or tenant of the feature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentCounts {
    pub segment: String,
    pub counts: Counts,
}

/// One time series for one feature, oldest point first, evenly spaced `step_secs` apart and
/// ending at `SignalSet::at`. NaN marks a step with no data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub feature: String,
    pub kind: SignalKind,
    pub step_secs: u32,
    pub points: Vec<f64>,
    /// The counts behind the points, when the source has them: detectors then judge a rate by
    /// how many requests it rests on instead of by the ratio alone.
    #[serde(default)]
    pub counts: Option<Counts>,
    /// Per-segment counts, when the source splits the feature's traffic by user segment.
    #[serde(default)]
    pub segments: Vec<SegmentCounts>,
    /// Where the detector draws its line (filled in by detection, shown as the threshold line).
    pub threshold: Option<f64>,
    /// Second threshold for two-sided signals (refusals: the lower bound).
    pub threshold_low: Option<f64>,
}

impl Signal {
    pub fn new(feature: &str, kind: SignalKind, step_secs: u32, points: Vec<f64>) -> Self {
        Signal {
            feature: feature.to_string(),
            kind,
            step_secs,
            points,
            counts: None,
            segments: Vec::new(),
            threshold: None,
            threshold_low: None,
        }
    }

    pub fn last(&self) -> Option<f64> {
        self.points.iter().rev().copied().find(|v| v.is_finite())
    }
}

/// Output category distribution of one feature: baseline vs the current window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    pub feature: String,
    pub categories: Vec<String>,
    pub baseline: Vec<f64>,
    pub current: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptVersion {
    pub id: String,
    /// Unknown when only a flag system lists the version.
    pub deployed_at: Option<DateTime<Utc>>,
    pub note: SafeText,
}

/// What the backend knows about a feature; answers runbook questions and fills pickers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureInfo {
    pub name: String,
    pub model: String,
    pub model_version: String,
    pub model_changed_at: Option<DateTime<Utc>>,
    pub prompt_versions: Vec<PromptVersion>,
    pub current_prompt: Option<String>,
    pub last_known_good_prompt: Option<String>,
    /// When the current prompt version started serving.
    pub prompt_changed_at: Option<DateTime<Utc>>,
    /// The flag system that holds this feature's levers, when one reported it.
    pub flag_source: Option<String>,
    pub segments: Vec<String>,
    /// Kill switches engaged: "*" for the whole feature, else segment names.
    pub killed: Vec<String>,
    pub temperature: f64,
    pub top_p: f64,
    pub max_tokens: u32,
    pub seed: Option<u64>,
    pub uses_retrieval: bool,
    pub eval_baseline: Option<f64>,
}

impl FeatureInfo {
    /// What a metrics-only source can say about a feature: its name and models. Deployment
    /// facts (versions, prompts, sampling parameters) are unknown: NaN / 0 / empty, which the
    /// runbook shows as "unknown" rather than as facts.
    pub fn traffic_only(name: &str, model: &str) -> FeatureInfo {
        FeatureInfo {
            name: name.to_string(),
            model: model.to_string(),
            model_version: String::new(),
            model_changed_at: None,
            prompt_versions: Vec::new(),
            current_prompt: None,
            last_known_good_prompt: None,
            prompt_changed_at: None,
            flag_source: None,
            segments: Vec::new(),
            killed: Vec::new(),
            temperature: f64::NAN,
            top_p: f64::NAN,
            max_tokens: 0,
            seed: None,
            uses_retrieval: false,
            eval_baseline: None,
        }
    }
}

/// Everything a metrics source knows at one instant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SignalSet {
    pub at: Option<DateTime<Utc>>,
    pub signals: Vec<Signal>,
    pub distributions: Vec<Distribution>,
    pub features: Vec<FeatureInfo>,
}

/// A detector's verdict that a feature is in trouble.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub feature: String,
    pub kind: IncidentType,
    pub sev: Sev,
    pub signal: SignalKind,
    pub value: f64,
    pub baseline: f64,
    pub threshold: f64,
    /// One line for the incident title, e.g. "cost 42x trailing 1h average".
    pub summary: SafeText,
    /// Supporting figures for the detail pane.
    pub evidence: Vec<SafeText>,
}
