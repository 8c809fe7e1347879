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

/// The band a detector judges a signal against: a breach is a value below `low` or above
/// `high`. The detector sets both sides explicitly, so the sparkline, the evidence and the
/// postmortem read the direction from here instead of guessing it from the signal kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    pub low: Option<f64>,
    pub high: Option<f64>,
}

impl Bounds {
    pub fn breached(&self, v: f64) -> bool {
        self.high.is_some_and(|h| v > h) || self.low.is_some_and(|l| v < l)
    }

    /// "≤$3.17", "≥0.77", "2.9%–11.6%": the band as one compact label.
    pub fn label(&self, kind: SignalKind) -> String {
        match (self.low, self.high) {
            (Some(l), Some(h)) => format!("{}–{}", kind.format(l), kind.format(h)),
            (None, Some(h)) => format!("≤{}", kind.format(h)),
            (Some(l), None) => format!("≥{}", kind.format(l)),
            (None, None) => String::new(),
        }
    }
}

/// One time series for one feature, oldest point first, evenly spaced `step_secs` apart and
/// ending at `end` (or, when the source does not say, at the poll: `SignalSet::at`). NaN
/// marks a step with no data. A point's time is its slot's: `end` minus the slots after it.
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
    /// The band the detector judges the signal against (filled in by detection; drawn on the
    /// sparkline, quoted in the postmortem).
    #[serde(default)]
    pub bounds: Option<Bounds>,
    /// The instant of the last slot. A source that aligns its grid to the step, or whose
    /// engine hides the newest seconds, ends its series before the poll: the points' times
    /// come from here, never from their position relative to the poll.
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
}

/// The newest value of a signal and the instant it is for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Newest {
    pub value: f64,
    pub at: DateTime<Utc>,
}

/// How a signal's newest value stands against the poll that brought it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Freshness {
    /// Within about a step of the poll: the value is current.
    Current(f64),
    /// The newest value is older than that (the newest slots are empty, or the engine's
    /// grid ends well before the poll): shown only with its age.
    Old(Newest),
    /// No value anywhere in the window.
    NoData,
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
            bounds: None,
            end: None,
        }
    }

    /// The same signal with its last slot at `end`.
    pub fn ending_at(self, end: DateTime<Utc>) -> Self {
        Signal {
            end: Some(end),
            ..self
        }
    }

    /// The newest value, however old. `Signal::freshness` says whether it is current.
    pub fn last(&self) -> Option<f64> {
        self.points.iter().rev().copied().find(|v| v.is_finite())
    }

    /// The instant of slot `i`, given where the series ends when it does not say itself
    /// (`poll`: the `SignalSet::at` it came with).
    pub fn slot_time(&self, i: usize, poll: DateTime<Utc>) -> DateTime<Utc> {
        let end = self.end.unwrap_or(poll);
        let back = self.points.len().saturating_sub(1 + i) as i64;
        end - chrono::Duration::seconds(back * i64::from(self.step_secs))
    }

    /// The newest finite value and its instant.
    pub fn newest(&self, poll: DateTime<Utc>) -> Option<Newest> {
        let i = self.points.iter().rposition(|v| v.is_finite())?;
        Some(Newest {
            value: self.points[i],
            at: self.slot_time(i, poll),
        })
    }

    /// Whether the newest value is current at `poll`: no more than a step and a half before
    /// it. Half a step of slack keeps an engine that hides its last seconds (VictoriaMetrics'
    /// 30 s latency offset on a grid aligned to the minute) current while its data flows,
    /// and still marks a value whose newest slot came back empty.
    pub fn freshness(&self, poll: DateTime<Utc>) -> Freshness {
        let Some(newest) = self.newest(poll) else {
            return Freshness::NoData;
        };
        let slack_ms = i64::from(self.step_secs) * 1500;
        if (poll - newest.at).num_milliseconds() <= slack_ms {
            Freshness::Current(newest.value)
        } else {
            Freshness::Old(newest)
        }
    }
}

/// Output category distribution of one feature: baseline vs the current window, as answer
/// counts per category (not shares): how many answers the reference rests on decides how far
/// the current window may differ from it by chance.
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
    /// The prompt registry that holds its prompt versions, when one reported it: the prompt
    /// rollback goes there, the kill switch to `flag_source`.
    #[serde(default)]
    pub prompt_source: Option<String>,
    pub segments: Vec<String>,
    /// Kill switches engaged: "*" for the whole feature, else segment names.
    pub killed: Vec<String>,
    /// The settable levers its flag system carries (model, config, budget, retrieval,
    /// fallback), as that system last reported them.
    #[serde(default)]
    pub levers: Vec<super::lever::LeverSetting>,
    pub temperature: f64,
    pub top_p: f64,
    pub max_tokens: u32,
    pub seed: Option<u64>,
    pub uses_retrieval: bool,
    pub eval_baseline: Option<f64>,
    /// USD per million tokens, the lowest of the feature's models' input and output prices,
    /// when the source's price table knows them: the token cap is derived from it
    /// (`detect::caps`).
    #[serde(default)]
    pub price_per_mtok: Option<f64>,
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
            prompt_source: None,
            segments: Vec::new(),
            killed: Vec::new(),
            levers: Vec::new(),
            temperature: f64::NAN,
            top_p: f64::NAN,
            max_tokens: 0,
            seed: None,
            uses_retrieval: false,
            eval_baseline: None,
            price_per_mtok: None,
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
    /// Which engine computed these numbers ("VictoriaMetrics", "Prometheus 2.42.0"), when
    /// the source can tell.
    #[serde(default)]
    pub engine: Option<String>,
    /// What that engine does differently from Prometheus, one line each: shown in the
    /// sources view and added to the evidence of every incident the source raises.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Signals of a feature that are not read plainly: through a fallback, unreliable, or
    /// not measured at all. A signal with no entry here and no series is one the source
    /// does not know about.
    #[serde(default)]
    pub coverage: Vec<Coverage>,
}

/// How one signal of one feature is read when it is not read plainly, so that a responder
/// can tell "healthy" from "not measured" and a fallback from the real thing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    pub feature: String,
    pub kind: SignalKind,
    pub state: CoverageState,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoverageState {
    /// The series shown measures something near the signal: what it is.
    Fallback(String),
    /// Data exists but cannot give a number worth showing: why, and the fix.
    Unreliable(String),
    /// Nothing measures it: what is absent, and how to get it.
    Missing(String),
}

impl Coverage {
    /// The line the signals pane shows in place of a value.
    pub fn text(&self) -> String {
        match &self.state {
            CoverageState::Fallback(what) => format!("fallback: {what}"),
            CoverageState::Unreliable(why) => format!("unreliable: {why}"),
            CoverageState::Missing(why) => format!("not measured: {why}"),
        }
    }
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
    /// While it still fires: since when the detector has judged the signal back inside its
    /// (narrower) exit band, against the pre-incident baseline, over the recovery hold. The
    /// incident recovers once that has lasted half a hold more; a lever that got the signal
    /// here has contained it. `None` while it is outside, or where the source cannot say.
    #[serde(default)]
    pub inside_since: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0)
            .single()
            .expect("valid")
    }

    #[test]
    fn points_take_their_time_from_the_end_not_from_the_poll() {
        let sig = Signal::new("f", SignalKind::CostPerMin, 60, vec![1.0, 2.0, 3.0]);
        // Without an end of its own, the series ends at the poll.
        assert_eq!(sig.slot_time(2, t(0)), t(0));
        assert_eq!(sig.slot_time(0, t(0)), t(-120));
        // An engine that answered up to 90 s before the poll.
        let sig = sig.ending_at(t(-90));
        assert_eq!(sig.slot_time(2, t(0)), t(-90));
        assert_eq!(sig.slot_time(0, t(0)), t(-210));
        assert_eq!(
            sig.newest(t(0)),
            Some(Newest {
                value: 3.0,
                at: t(-90)
            })
        );
    }

    #[test]
    fn a_value_is_current_within_a_step_and_a_half_of_the_poll() {
        let sig = |points: Vec<f64>, end: i64| {
            Signal::new("f", SignalKind::CostPerMin, 60, points).ending_at(t(end))
        };
        assert_eq!(
            sig(vec![1.0, 2.0], -90).freshness(t(0)),
            Freshness::Current(2.0)
        );
        assert_eq!(
            sig(vec![1.0, 2.0], -91).freshness(t(0)),
            Freshness::Old(Newest {
                value: 2.0,
                at: t(-91)
            })
        );
        // An empty newest slot: the value before it is a minute older than the slot.
        assert_eq!(
            sig(vec![2.98, f64::NAN], -37).freshness(t(0)),
            Freshness::Old(Newest {
                value: 2.98,
                at: t(-97)
            })
        );
        assert_eq!(
            sig(vec![f64::NAN, f64::NAN], 0).freshness(t(0)),
            Freshness::NoData
        );
        // `last` still finds the value, whatever its age.
        assert_eq!(sig(vec![2.98, f64::NAN], -37).last(), Some(2.98));
    }
}
