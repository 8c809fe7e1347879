//! The shadow part: comparisons of two variants of a feature (the prompt a rollback would
//! serve beside the one served now; a model switch's target beside the current model), asked
//! of the feature's metrics source when a lever's dialog opens, answered over the channel
//! like samples, and drawn by the dialog from here each frame. A failed or unanswerable
//! comparison is kept with its error so the dialog can say so and ask again.

use super::{Effect, State};
use crate::config::shadow::ShadowSettings;
use crate::domain::lever::Lever;
use crate::domain::shadow::{Axis, ShadowAnswer, ShadowRequest, MAX_VALUE_LEN};
use chrono::{DateTime, Utc};

/// Comparisons kept: each is one lever dialog opened this session; the oldest goes first.
const MAX_KEPT: usize = 16;

/// Where one comparison stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Compared {
    Asking {
        source: String,
        since: DateTime<Utc>,
    },
    Answered {
        source: String,
        at: DateTime<Utc>,
        answer: ShadowAnswer,
    },
    Failed {
        source: Option<String>,
        at: DateTime<Utc>,
        error: String,
    },
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Shadows {
    pub settings: ShadowSettings,
    /// Per request, the newest last.
    asked: Vec<(ShadowRequest, Compared)>,
}

impl Shadows {
    pub fn of(&self, request: &ShadowRequest) -> Option<&Compared> {
        self.asked
            .iter()
            .find(|(r, _)| r == request)
            .map(|(_, c)| c)
    }

    fn set(&mut self, request: ShadowRequest, compared: Compared) {
        self.asked.retain(|(r, _)| *r != request);
        if self.asked.len() >= MAX_KEPT {
            self.asked.remove(0);
        }
        self.asked.push((request, compared));
    }

    /// A source's answer. One nobody asked for (a dialog long closed and forgotten) is kept
    /// all the same: it is the newest word on that comparison.
    pub(super) fn answered(
        &mut self,
        source: String,
        at: DateTime<Utc>,
        request: ShadowRequest,
        answer: Result<ShadowAnswer, String>,
    ) {
        let compared = match answer {
            Ok(answer) => Compared::Answered {
                source,
                at,
                answer: answer.sanitised(),
            },
            Err(error) => Compared::Failed {
                source: Some(source),
                at,
                error: crate::domain::SafeText::new(&error).to_string(),
            },
        };
        self.set(request, compared);
    }
}

/// The comparison a lever's dialog shows: a prompt rollback compares prompt versions, a
/// model switch models, over `[shadow]`'s labels and window. `None` for a lever that serves
/// no other variant, or values no series could carry.
pub fn request_for(
    state: &State,
    feature: &str,
    lever: Lever,
    current: &str,
    target: &str,
) -> Option<ShadowRequest> {
    let s = &state.shadow.settings;
    let (axis, label) = match lever {
        Lever::PromptRollback => (Axis::Prompt, s.prompt_label.as_str()),
        Lever::ModelSwitch => (Axis::Model, s.model_label.as_str()),
        _ => return None,
    };
    let fits = |v: &str| !v.is_empty() && v.len() <= MAX_VALUE_LEN;
    if !fits(current) || !fits(target) || current == target {
        return None;
    }
    Some(ShadowRequest {
        feature: feature.to_string(),
        axis,
        label: label.to_string(),
        current: current.to_string(),
        target: target.to_string(),
        shadow_matcher: s.shadow_matcher.as_ref().map(|m| m.as_str().to_string()),
        window_secs: s.window_mins.secs(),
    })
}

/// Asks the feature's metrics source for the comparison (again, if it was asked before).
/// With no metrics source reading the feature, the comparison fails at once, saying so.
pub(super) fn ask(state: &mut State, request: &ShadowRequest) -> Vec<Effect> {
    let now = state.now;
    let Some(source) = state.signals.metrics_source_of(&request.feature) else {
        let error = format!("no metrics source reads {}", request.feature);
        state.shadow.set(
            request.clone(),
            Compared::Failed {
                source: None,
                at: now,
                error,
            },
        );
        return vec![];
    };
    state.shadow.set(
        request.clone(),
        Compared::Asking {
            source: source.clone(),
            since: now,
        },
    );
    vec![Effect::Shadow {
        source,
        request: request.clone(),
    }]
}
