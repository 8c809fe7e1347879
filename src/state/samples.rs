//! The samples part: what each feature's model said, fetched on demand per window (the
//! incident's, the baseline's), and the view a responder reads them in.

use super::dialogs::scrolled;
use super::{Effect, FlashLevel, Overlay, State};
use crate::action::Action;
use crate::config::samples::SampleSettings;
use crate::domain::sample::{Sample, SampleQuery, Window, Worst};
use crate::domain::{IncidentId, SafeText};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;

/// One window's answer: the samples, or why there are none.
#[derive(Clone, Debug, PartialEq)]
pub struct Fetched {
    pub source: String,
    pub at: DateTime<Utc>,
    pub result: Result<Vec<Sample>, String>,
    /// What the source could not do that was asked (worst-first refused), sanitised.
    pub note: Option<String>,
    /// The worst requests the fetch asked for beside the newest.
    pub worst: Worst,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Samples {
    pub settings: SampleSettings,
    /// Per feature and window, the last answer.
    pub fetched: HashMap<(String, Window), Fetched>,
    /// Queries sent and not answered yet, in the order sent, with the worst each asked for.
    pub pending: Vec<(String, Window, Worst)>,
}

impl Samples {
    /// A samples source answers its queries one at a time in the order sent, so an answer is
    /// that of the first query pending for its feature and window.
    pub fn answered(
        &mut self,
        source: String,
        at: DateTime<Utc>,
        feature: String,
        window: Window,
        result: Result<Vec<Sample>, String>,
        note: Option<String>,
    ) {
        let asked = self
            .pending
            .iter()
            .position(|(f, w, _)| *f == feature && *w == window)
            .map(|i| self.pending.remove(i).2);
        // From outside (a server's error text): sanitised like any text bound for the screen.
        let clean = |t: String| SafeText::new(&t).to_string();
        let fetched = Fetched {
            source,
            at,
            result: result.map_err(clean),
            note: note.map(clean),
            worst: asked.unwrap_or_default(),
        };
        self.fetched.insert((feature, window), fetched);
    }

    pub fn get(&self, feature: &str, window: Window) -> Option<&Fetched> {
        self.fetched.get(&(feature.to_string(), window))
    }

    pub fn is_pending(&self, feature: &str, window: Window) -> bool {
        self.pending
            .iter()
            .any(|(f, w, _)| f == feature && *w == window)
    }

    /// Whether a query on its way holds the worst requests `worst` asks for.
    fn pending_covers(&self, feature: &str, window: Window, worst: Worst) -> bool {
        self.pending
            .iter()
            .any(|(f, w, asked)| f == feature && *w == window && asked.covers(worst))
    }

    /// The samples of one window, as fetched (empty when none arrived or the fetch failed).
    pub fn of(&self, feature: &str, window: Window) -> &[Sample] {
        match self.get(feature, window).map(|f| &f.result) {
            Some(Ok(list)) => list,
            _ => &[],
        }
    }

    /// Whether a sample is a refusal: labelled so by its source, or holding a template.
    pub fn refused(&self, s: &Sample) -> bool {
        s.labels.iter().any(|l| l.as_str() == "refused")
            || self.settings.refusal_template(s.output.as_str()).is_some()
    }
}

/// How the samples view orders its rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SampleSort {
    #[default]
    WorstEval,
    Errors,
    Refusals,
    Cost,
    Latency,
    Newest,
}

impl SampleSort {
    pub fn name(self) -> &'static str {
        match self {
            SampleSort::WorstEval => "worst eval",
            SampleSort::Errors => "errors",
            SampleSort::Refusals => "refusals",
            SampleSort::Cost => "cost",
            SampleSort::Latency => "latency",
            SampleSort::Newest => "newest",
        }
    }

    /// The worst requests a fetch must hold for this order to put the window's worst on top:
    /// a busy window's worst eval or slowest requests need not be among its newest.
    pub fn worst(self) -> Worst {
        match self {
            SampleSort::WorstEval => Worst {
                eval: true,
                latency: false,
            },
            SampleSort::Latency => Worst {
                eval: false,
                latency: true,
            },
            SampleSort::Errors | SampleSort::Refusals | SampleSort::Cost | SampleSort::Newest => {
                Worst::NONE
            }
        }
    }

    fn next(self) -> SampleSort {
        match self {
            SampleSort::WorstEval => SampleSort::Errors,
            SampleSort::Errors => SampleSort::Refusals,
            SampleSort::Refusals => SampleSort::Cost,
            SampleSort::Cost => SampleSort::Latency,
            SampleSort::Latency => SampleSort::Newest,
            SampleSort::Newest => SampleSort::WorstEval,
        }
    }
}

/// The samples view of one incident: its feature's requests in the incident's window and in
/// the baseline before it.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplesView {
    pub incident: IncidentId,
    pub feature: String,
    /// The window the list shows (a wide screen shows both side by side).
    pub window: Window,
    pub incident_window: Span,
    pub baseline_window: Span,
    pub sort: SampleSort,
    pub filter: String,
    pub selected: usize,
    /// The selected sample opened whole, scrolled this far.
    pub open: Option<usize>,
    /// `State::ticks` when the incident's window was last asked for.
    pub asked_tick: u64,
    /// The worst requests the view's fetches ask for: those of every order it was sorted by
    /// since it opened, so going back to an earlier order needs no new fetch.
    pub worst: Worst,
}

/// While the view is open, the incident's window is asked for again this often (wall clock,
/// whatever the drill speed): opened the moment an incident fires, it would otherwise stay
/// at the few seconds that had passed.
pub const REFRESH_TICKS: u64 = 10 * super::TICKS_PER_SEC;

impl SamplesView {
    /// The view of `inc`'s samples as it opens: its windows seen from now, worst eval first.
    pub(super) fn new(state: &State, inc: &crate::domain::Incident) -> SamplesView {
        let (incident_window, baseline_window) =
            windows(&state.samples.settings, inc.triggered_at, state.now);
        SamplesView {
            incident: inc.id.clone(),
            feature: inc.feature.to_string(),
            window: Window::Incident,
            incident_window,
            baseline_window,
            sort: SampleSort::default(),
            filter: String::new(),
            selected: 0,
            open: None,
            asked_tick: state.ticks,
            worst: SampleSort::default().worst(),
        }
    }

    pub fn range(&self, window: Window) -> Span {
        match window {
            Window::Incident => self.incident_window,
            Window::Baseline => self.baseline_window,
        }
    }
}

/// The rows of `window` the view shows: filtered by its text, in its order.
pub fn rows<'a>(samples: &'a Samples, view: &SamplesView, window: Window) -> Vec<&'a Sample> {
    let needle = view.filter.to_lowercase();
    let mut rows: Vec<&Sample> = samples
        .of(&view.feature, window)
        .iter()
        .filter(|s| needle.is_empty() || matches_filter(s, &needle))
        .collect();
    let key = |s: &Sample| -> f64 {
        match view.sort {
            SampleSort::WorstEval => s.eval_score.unwrap_or(f64::INFINITY),
            SampleSort::Errors => -f64::from(u8::from(s.error.is_some())),
            SampleSort::Refusals => -f64::from(u8::from(samples.refused(s))),
            SampleSort::Cost => -s.cost.unwrap_or(0.0),
            SampleSort::Latency => -s.latency_secs.unwrap_or(0.0),
            SampleSort::Newest => -(s.at.timestamp_millis() as f64),
        }
    };
    // Stable: ties keep the source's order (newest first).
    rows.sort_by(|a, b| key(a).total_cmp(&key(b)));
    rows
}

fn matches_filter(s: &Sample, needle: &str) -> bool {
    let fields = [
        Some(s.output.as_str()),
        Some(s.input.as_str()),
        s.segment.as_ref().map(|t| t.as_str()),
        s.user.as_ref().map(|t| t.as_str()),
        s.prompt_version.as_ref().map(|t| t.as_str()),
        s.model.as_ref().map(|t| t.as_str()),
        s.error.as_ref().map(|t| t.as_str()),
    ];
    fields
        .into_iter()
        .flatten()
        .chain(s.labels.iter().map(|l| l.as_str()))
        .any(|f| f.to_lowercase().contains(needle))
}

/// Per refusal template, how many outputs of a window hold it.
pub fn template_counts(samples: &Samples, feature: &str, window: Window) -> Vec<usize> {
    let mut counts = vec![0; samples.settings.refusal_templates.len()];
    for s in samples.of(feature, window) {
        if let Some(i) = samples.settings.refusal_template(s.output.as_str()) {
            counts[i] += 1;
        }
    }
    counts
}

const BOTH: [Window; 2] = [Window::Incident, Window::Baseline];

/// Samples quoted in a postmortem per window.
const QUOTED: usize = 3;

/// The worst samples of `inc`'s feature in each window, as fetched, for the postmortem.
pub(super) fn worst(state: &State, inc: &crate::domain::Incident) -> Vec<(Window, Sample)> {
    let view = SamplesView::new(state, inc);
    BOTH.into_iter()
        .flat_map(|w| {
            rows(&state.samples, &view, w)
                .into_iter()
                .take(QUOTED)
                .map(move |s| (w, s.clone()))
        })
        .collect()
}

/// Asks the samples source for `windows` of the view's feature, holding the `worst`
/// requests, unless a query on its way already holds them. No samples source: nothing to
/// ask, and the view says so.
pub(super) fn fetch(
    state: &mut State,
    view: &SamplesView,
    windows: &[Window],
    worst: Worst,
) -> Vec<Effect> {
    let Some(source) = state.sources.samples_source.clone() else {
        return vec![];
    };
    let mut effects = Vec::new();
    for &window in windows {
        if state.samples.pending_covers(&view.feature, window, worst) {
            continue;
        }
        let (from, to) = view.range(window);
        state
            .samples
            .pending
            .push((view.feature.clone(), window, worst));
        effects.push(Effect::Samples {
            source: source.clone(),
            query: SampleQuery {
                feature: view.feature.clone(),
                window,
                from,
                to,
                limit: state.samples.settings.per_window.get(),
                worst,
            },
        });
    }
    effects
}

pub use crate::domain::split::Span;

/// The incident's and the baseline's windows for an incident that started at `onset`, seen
/// at `now`.
pub fn windows(
    settings: &SampleSettings,
    onset: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (Span, Span) {
    let end = onset - Duration::seconds(i64::from(settings.baseline_gap_secs));
    let start = end - Duration::seconds(i64::from(settings.baseline_secs));
    // A second past now, so a request served this very second is in.
    ((onset, now + Duration::seconds(1)), (start, end))
}

/// A lever's chooser is open: fetch the samples of the incident on its feature now, so the
/// evidence snapshot taken when the lever is confirmed holds them even if nobody opened the
/// samples view, with the window's worst (the postmortem quotes them) however busy it was.
pub(super) fn prefetch_for_lever(state: &mut State) -> Vec<Effect> {
    if matches!(state.overlay, Overlay::None) {
        return vec![];
    }
    let Some(inc) = state.selected().cloned() else {
        return vec![];
    };
    let fresh = BOTH.iter().all(|w| {
        state
            .samples
            .get(inc.feature.as_str(), *w)
            .is_some_and(|f| {
                f.result.is_ok()
                    && f.worst.covers(Worst::ALL)
                    && (state.now - f.at).num_seconds() < 60
            })
    });
    if fresh {
        return vec![];
    }
    let view = SamplesView::new(state, &inc);
    fetch(state, &view, &BOTH, Worst::ALL)
}

pub(super) fn open(state: &mut State) -> Vec<Effect> {
    let Some(inc) = state.selected().cloned() else {
        return vec![];
    };
    let view = SamplesView::new(state, &inc);
    if state.sources.samples_source.is_none() {
        state.say(
            FlashLevel::Warn,
            "no samples source configured: add a [[phoenix]] source (README, Real backends)".into(),
        );
    }
    let effects = fetch(state, &view, &BOTH, view.worst);
    state.overlay = Overlay::Samples(Box::new(view));
    effects
}

/// The open view's incident window, asked for again once `REFRESH_TICKS` have passed.
pub(super) fn refresh_due(state: &mut State) -> Vec<Effect> {
    let (ticks, now) = (state.ticks, state.now);
    let Overlay::Samples(view) = &mut state.overlay else {
        return vec![];
    };
    if ticks.saturating_sub(view.asked_tick) < REFRESH_TICKS
        || state.samples.is_pending(&view.feature, Window::Incident)
    {
        return vec![];
    }
    view.asked_tick = ticks;
    view.incident_window.1 = now + Duration::seconds(1);
    let view = (**view).clone();
    fetch(state, &view, &[Window::Incident], view.worst)
}

/// Keys in the samples view. `None`: not the view's own key, so it acts as on the list, on
/// the incident the samples belong to (a kill switch pulled while reading them).
pub(super) fn update(state: &mut State, action: Action) -> Option<Vec<Effect>> {
    let Overlay::Samples(view) = &mut state.overlay else {
        return Some(vec![]);
    };
    let count = rows(&state.samples, view, view.window).len();
    let last = count.saturating_sub(1);
    let page = usize::from(state.size.1.saturating_sub(8)).max(1);
    // The movement keys scroll the open sample, or move through the list.
    let moved = match view.open {
        Some(scroll) => {
            let limit = state.scroll_limit.unwrap_or(usize::MAX);
            scrolled(scroll, &action, limit, page).map(|pos| view.open = Some(pos))
        }
        None => scrolled(view.selected, &action, last, page).map(|pos| view.selected = pos),
    };
    if moved.is_some() {
        return Some(vec![]);
    }
    match (&action, view.open) {
        (Action::ToggleDetail | Action::Select, None) if count > 0 => view.open = Some(0),
        (Action::ToggleDetail | Action::Select | Action::Back | Action::Cancel, Some(_)) => {
            view.open = None
        }
        (Action::SampleWindow, _) => {
            view.window = match view.window {
                Window::Incident => Window::Baseline,
                Window::Baseline => Window::Incident,
            };
            view.selected = 0;
            view.open = None;
        }
        (Action::SampleSort, None) => {
            view.sort = view.sort.next();
            view.selected = 0;
            // An order whose worst the fetched samples may miss: fetched again, holding both.
            let worst = view.worst.union(view.sort.worst());
            if worst != view.worst {
                view.worst = worst;
                let view = (**view).clone();
                return Some(fetch(state, &view, &BOTH, worst));
            }
        }
        (Action::Filter, None) => {
            let current = view.filter.clone();
            let Overlay::Samples(view) = std::mem::take(&mut state.overlay) else {
                return Some(vec![]);
            };
            state.overlay = Overlay::Text {
                purpose: super::TextPurpose::SamplesFilter(view),
                editor: super::text_box::editor(&current, "jailbroken free-tier refund …"),
            };
        }
        // Refresh: the incident's window grows with time.
        (Action::Samples, _) => {
            view.incident_window.1 = state.now + Duration::seconds(1);
            view.asked_tick = state.ticks;
            let view = (**view).clone();
            return Some(fetch(state, &view, &BOTH, view.worst));
        }
        (Action::Back | Action::Cancel, None) => {
            if view.filter.is_empty() {
                state.overlay = Overlay::None;
            } else {
                view.filter.clear();
                view.selected = 0;
            }
        }
        (Action::WriteSample, _) => return Some(write_selected(state)),
        _ => return None,
    }
    Some(vec![])
}

/// Writes the selected sample whole (with its reproduce block) under the data directory.
fn write_selected(state: &mut State) -> Vec<Effect> {
    let Overlay::Samples(view) = &state.overlay else {
        return vec![];
    };
    let Some(sample) = rows(&state.samples, view, view.window)
        .get(view.selected)
        .map(|s| (*s).clone())
    else {
        state.say(FlashLevel::Warn, "no sample selected to write".into());
        return vec![];
    };
    let dir = format!(
        "evidence/{}",
        crate::private::file_component(&view.incident)
    );
    let name = format!(
        "sample-{}.json",
        crate::private::file_component(sample.id.as_str())
    );
    let mut doc = serde_json::to_value(&sample).unwrap_or_default();
    if let Some(map) = doc.as_object_mut() {
        map.insert("reproduce".into(), reproduce(&sample).into());
    }
    let bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    vec![Effect::Save {
        what: super::Saving::Sample,
        snapshot: Box::new(super::evidence::Snapshot {
            dir,
            files: vec![(name, bytes)],
        }),
    }]
}

/// The parameters to reproduce a sample, one line, as the runbook asks for them.
pub fn reproduce(s: &Sample) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "?".into());
    format!(
        "model={} temperature={} top_p={} max_tokens={} seed={} prompt={} conversation={}",
        opt(s.model.as_ref().map(|m| m.to_string())),
        opt(s.params.temperature.map(|v| v.to_string())),
        opt(s.params.top_p.map(|v| v.to_string())),
        opt(s.params.max_tokens.map(|v| v.to_string())),
        s.params
            .seed
            .map_or_else(|| "none".to_string(), |v| v.to_string()),
        opt(s.prompt_version.as_ref().map(|m| m.to_string())),
        opt(s.params.conversation.as_ref().map(|m| m.to_string())),
    )
}
