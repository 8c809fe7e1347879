//! The AI runbook walkthrough: questions per incident type with answers pre-filled from what
//! the backend knows. Nothing here is final until the responder confirms it.

use crate::domain::change::Change;
use crate::domain::split;
use crate::domain::{FeatureInfo, Incident, IncidentType, SignalKind, SignalSet};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use std::collections::BTreeMap;

pub mod postmortem;

const QUESTIONS: &str = include_str!("questions.toml");

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub id: String,
    pub text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuestionFile {
    common: Vec<Question>,
    #[serde(default)]
    by_type: BTreeMap<IncidentType, Vec<Question>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub text: String,
    /// Filled in from instrumentation rather than typed.
    pub prefilled: bool,
    pub confirmed: bool,
    pub edited: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RunbookSession {
    pub questions: Vec<Question>,
    pub answers: Vec<Answer>,
    pub cursor: usize,
}

impl RunbookSession {
    /// Replaces question `id`'s pre-filled answer with `text`, unless the responder has
    /// confirmed or typed one.
    pub fn suggest(&mut self, id: &str, text: String) {
        let Some(i) = self.questions.iter().position(|q| q.id == id) else {
            return;
        };
        if let Some(a) = self
            .answers
            .get_mut(i)
            .filter(|a| !a.confirmed && !a.edited)
        {
            a.text = text;
            a.prefilled = true;
        }
    }

    pub fn progress(&self) -> (usize, usize) {
        let done = self.answers.iter().filter(|a| a.confirmed).count();
        (done, self.answers.len())
    }
}

fn load() -> Result<QuestionFile, String> {
    toml::from_str(QUESTIONS).map_err(|e| format!("runbook questions: {e}"))
}

pub fn questions_for(kind: IncidentType) -> Vec<Question> {
    match load() {
        Ok(mut file) => {
            let mut qs = file.by_type.remove(&kind).unwrap_or_default();
            // Type-specific questions go first: they are what this incident is about.
            qs.extend(file.common);
            qs
        }
        Err(e) => vec![Question {
            id: "error".into(),
            text: e,
        }],
    }
}

/// Starts the walkthrough of `inc`. `cause` is the last change before its onset on the change
/// timeline (`state/changes.rs`), when there is one: it decides the suggested layer.
pub fn start(
    inc: &Incident,
    info: Option<&FeatureInfo>,
    set: &SignalSet,
    cause: Option<&Change>,
) -> RunbookSession {
    let questions = questions_for(inc.kind);
    let answers = questions
        .iter()
        .map(|q| match (q.id.as_str(), cause) {
            ("layer", Some(c)) => Some(layer_from(c, inc.triggered_at)),
            _ => prefill(&q.id, inc, info, set),
        })
        .map(|text| match text {
            Some(text) => Answer {
                text,
                prefilled: true,
                confirmed: false,
                edited: false,
            },
            None => Answer {
                text: String::new(),
                prefilled: false,
                confirmed: false,
                edited: false,
            },
        })
        .collect();
    RunbookSession {
        questions,
        answers,
        cursor: 0,
    }
}

/// "prompt, from the last change before onset: −10m prompt support-bot v7→v8 (flagd)": the
/// layer first, as the other layer answers start, then the change it rests on, as the
/// timeline writes it. Like every pre-filled answer, a suggestion until the responder
/// confirms it.
pub fn layer_from(cause: &Change, onset: DateTime<Utc>) -> String {
    let mins = (onset - cause.at).num_minutes().max(0);
    format!(
        "{}, from the last change before onset: −{mins}m {} ({})",
        cause.layer.name(),
        cause.what,
        cause.origin
    )
}

fn last(set: &SignalSet, feature: &str, kind: SignalKind) -> Option<f64> {
    set.signals
        .iter()
        .find(|s| s.feature == feature && s.kind == kind)
        .and_then(|s| s.last())
}

fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = now - then;
    if d < Duration::zero() {
        "in the future".into()
    } else if d < Duration::hours(2) {
        format!("{}m before", d.num_minutes())
    } else if d < Duration::days(2) {
        format!("{}h before", d.num_hours())
    } else {
        format!("{}d before", d.num_days())
    }
}

/// What the instrumentation says about one question; None when it cannot know.
pub fn prefill(
    id: &str,
    inc: &Incident,
    info: Option<&FeatureInfo>,
    set: &SignalSet,
) -> Option<String> {
    let feature = inc.feature.as_str();
    let at = inc.triggered_at;
    match id {
        "layer" => {
            let info = info?;
            let prompt_change = info
                .current_prompt
                .as_ref()
                .zip(info.prompt_changed_at)
                .filter(|(_, t)| at - *t < Duration::hours(6) && *t <= at);
            let model_change = info
                .model_changed_at
                .filter(|t| *t <= at && at - *t < Duration::hours(24));
            Some(if let Some((v, t)) = prompt_change {
                format!("prompt: {v} deployed {} detection", ago(t, at))
            } else if let Some(t) = model_change {
                format!(
                    "model: {} {} changed {} detection",
                    info.model,
                    info.model_version,
                    ago(t, at)
                )
            } else if inc.kind == IncidentType::RetrievalDegradation {
                "data/retrieval: hit rate fell, prompt and model unchanged".into()
            } else {
                "unclear: no prompt or model change before detection".into()
            })
        }
        "last_known_good" => {
            let info = info?;
            if info.prompt_versions.is_empty() && info.last_known_good_prompt.is_none() {
                return Some("unknown: no flag system reports prompt versions".into());
            }
            let lkg = info.last_known_good_prompt.as_ref()?;
            let current = info.current_prompt.as_deref().unwrap_or("?");
            Some(format!("{lkg} (running {current})"))
        }
        "model_version" => {
            let info = info?;
            let model = model_and_version(info);
            Some(match info.model_changed_at {
                Some(t) => format!("{model}, changed {}", t.format("%Y-%m-%d %H:%M UTC")),
                None => format!("{model}, unchanged in the window"),
            })
        }
        "quality" => {
            let base = info.and_then(|i| i.eval_baseline);
            let now = last(set, feature, SignalKind::EvalScore);
            match (base, now) {
                (Some(b), Some(n)) => Some(format!("eval {b:.2} baseline → {n:.2} now")),
                (None, Some(n)) => Some(format!("eval {n:.2} now, no baseline")),
                _ => None,
            }
        }
        "retrieval" => {
            if !info?.uses_retrieval {
                return Some("n/a: feature does not use retrieval".into());
            }
            let hit = last(set, feature, SignalKind::RetrievalHit)?;
            Some(format!("hit rate {:.0}% now", hit * 100.0))
        }
        "repro" => {
            let i = info?;
            // A metrics-only source knows the model but not the sampling parameters: say so
            // rather than print NaN or 0 as if they were facts.
            let num = |v: f64| {
                if v.is_finite() {
                    v.to_string()
                } else {
                    "unknown".into()
                }
            };
            let seed = i
                .seed
                .map(|s| s.to_string())
                .unwrap_or_else(|| "none".into());
            let max_tokens = match i.max_tokens {
                0 => "unknown".to_string(),
                n => n.to_string(),
            };
            Some(format!(
                "model={} temperature={} top_p={} max_tokens={max_tokens} seed={seed} prompt={}",
                model_and_version(i),
                num(i.temperature),
                num(i.top_p),
                i.current_prompt.as_deref().unwrap_or("unknown")
            ))
        }
        "cost_driver" => {
            let cost = last(set, feature, SignalKind::CostPerMin)?;
            let tokens = last(set, feature, SignalKind::TokensPerMin)?;
            // The last ten minutes of the split: which segment carries the spend now.
            let now = set.at.unwrap_or(at);
            let split = split::split(
                set,
                &[],
                |_| false,
                feature,
                (now - Duration::minutes(10), now),
            );
            let who = match split.rows.first().filter(|r| r.cost_per_min.is_some()) {
                Some(top) => format!("segment {}: {}", top.segment, top.summary()),
                None => "per-segment split not instrumented (segment_label, README)".into(),
            };
            Some(format!(
                "{} at {}; {who}",
                SignalKind::CostPerMin.format(cost),
                SignalKind::TokensPerMin.format(tokens)
            ))
        }
        "drift_categories" => {
            let d = set.distributions.iter().find(|d| d.feature == feature)?;
            Some(top_movers(d))
        }
        "containment" => {
            let killed = &info?.killed;
            Some(if killed.is_empty() {
                "no kill switch engaged".into()
            } else {
                format!("engaged: {}", killed.join(", "))
            })
        }
        _ => None,
    }
}

fn model_and_version(i: &FeatureInfo) -> String {
    if i.model_version.is_empty() {
        format!("{} (version unknown)", i.model)
    } else {
        format!("{} {}", i.model, i.model_version)
    }
}

fn shares(v: &[f64]) -> Vec<f64> {
    let total: f64 = v.iter().sum();
    v.iter()
        .map(|x| if total > 0.0 { x / total } else { 0.0 })
        .collect()
}

/// The categories whose share moved most, largest first: "refund-policy 22%→46%, …".
fn top_movers(d: &crate::domain::Distribution) -> String {
    let (base, cur) = (shares(&d.baseline), shares(&d.current));
    let mut moves: Vec<(usize, f64)> = (0..d.categories.len().min(base.len()).min(cur.len()))
        .map(|i| (i, cur[i] - base[i]))
        .collect();
    moves.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    moves
        .iter()
        .take(3)
        .map(|&(i, _)| {
            format!(
                "{} {:.0}%→{:.0}%",
                d.categories[i],
                base[i] * 100.0,
                cur[i] * 100.0
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_only_sources_say_unknown_instead_of_nan() {
        use crate::domain::{SafeText, Sev, Status};
        let now = chrono::Utc::now();
        let info = FeatureInfo::traffic_only("support-bot", "gpt-4o");
        let inc = Incident {
            id: "prometheus:INC-1".into(),
            source: "prometheus".into(),
            kind: IncidentType::LatencyDegradation,
            feature: SafeText::new("support-bot"),
            sev: Sev::Sev3,
            title: SafeText::new("t"),
            status: Status::Triggered,
            triggered_at: now,
            respond_by: now,
            acked_by: None,
            acked_at: None,
            escalation_level: 0,
            firing: true,
            evidence: vec![],
            timeline: vec![],
            on_call: None,
            last_status_update: None,
            snoozed_until: None,
            assignees: Vec::new(),
        };
        let set = SignalSet::default();
        assert_eq!(
            prefill("repro", &inc, Some(&info), &set).as_deref(),
            Some("model=gpt-4o (version unknown) temperature=unknown top_p=unknown max_tokens=unknown seed=none prompt=unknown")
        );
        assert_eq!(
            prefill("last_known_good", &inc, Some(&info), &set).as_deref(),
            Some("unknown: no flag system reports prompt versions")
        );
        assert_eq!(prefill("quality", &inc, Some(&info), &set), None);
    }

    #[test]
    fn top_movers_names_the_biggest_shifts_first() {
        let d = crate::domain::Distribution {
            feature: "f".into(),
            categories: vec!["a".into(), "b".into(), "c".into()],
            baseline: vec![50.0, 30.0, 20.0],
            current: vec![10.0, 30.0, 60.0],
        };
        assert_eq!(top_movers(&d), "a 50%→10%, c 20%→60%, b 30%→30%");
    }

    #[test]
    fn question_file_parses_and_every_type_gets_the_common_six() {
        assert!(load().is_ok(), "{:?}", load().err());
        for kind in IncidentType::ALL {
            let qs = questions_for(kind);
            assert!(qs.len() >= 6, "{kind:?}");
            assert!(qs.iter().any(|q| q.id == "repro"));
        }
        assert_eq!(
            questions_for(IncidentType::CostExplosion)[0].id,
            "cost_driver"
        );
    }
}
