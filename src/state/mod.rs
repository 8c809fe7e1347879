//! Plain data the screen is drawn from. Only `update` changes it.

pub mod update;
mod view;

pub use update::update;

use crate::audit::AuditRecord;
use crate::config::alerts::AlertSettings;
use crate::domain::command::{Command, CommandRequest};
use crate::domain::event::{FeatureFlags, NotShown};
use crate::domain::{Detection, FeatureInfo, Incident, IncidentId, SignalSet};
use crate::runbook::postmortem::Draft;
use crate::runbook::RunbookSession;
use chrono::{DateTime, Utc};
use ratatui_textarea::TextArea;
use std::collections::BTreeMap;

/// What `update` asks the app to do; the only way state reaches the outside world.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Send(CommandRequest),
    Audit(AuditRecord),
    /// Write the postmortem after every audit record queued before it.
    Export(Box<Draft>),
    /// Incidents replaced by a newer poll, to be freed away from the frame path: 10,000
    /// incidents are some 100,000 allocations, and freeing them took ten times longer than
    /// drawing a frame.
    Discard(Vec<Incident>),
    /// Ring the terminal bell (a new SEV1).
    Bell,
    Quit,
}

pub use crate::domain::SourceRole;

#[derive(Clone, Debug, PartialEq)]
pub struct SourceHealth {
    pub name: String,
    pub role: SourceRole,
    /// Expected time between successful polls, in cockpit-clock seconds (None: not polled).
    pub interval_secs: Option<f64>,
    pub last_ok: Option<DateTime<Utc>>,
    pub last_error: Option<(DateTime<Utc>, String)>,
    /// Seconds between polls once pacing stretched them past `interval_secs` because the
    /// backend answers slowly; stale marks follow it.
    pub paced_secs: Option<f64>,
    /// Incidents the source holds that are not shown (past its cap or its pages per poll).
    pub not_shown: NotShown,
}

impl SourceHealth {
    pub fn new(name: &str, role: SourceRole, interval_secs: Option<f64>) -> Self {
        SourceHealth {
            name: name.to_string(),
            role,
            interval_secs,
            last_ok: None,
            last_error: None,
            paced_secs: None,
            not_shown: NotShown::default(),
        }
    }

    /// Seconds since the last good data, if any ever arrived.
    pub fn age_secs(&self, now: DateTime<Utc>) -> Option<i64> {
        self.last_ok.map(|t| (now - t).num_seconds().max(0))
    }

    /// Stale after three missed polls, or failing since its last success.
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        let Some(interval) = self.interval_secs else {
            return false;
        };
        let interval = interval.max(self.paced_secs.unwrap_or(0.0));
        match self.age_secs(now) {
            Some(age) => age as f64 > 3.0 * interval.max(1.0),
            None => true,
        }
    }

    pub fn failing(&self) -> bool {
        match (&self.last_error, self.last_ok) {
            (Some((err_at, _)), Some(ok_at)) => *err_at >= ok_at,
            (Some(_), None) => true,
            _ => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ActionStatus {
    Pending,
    Succeeded(String),
    Failed(String),
}

/// An action sent to a backend, tracked until it visibly succeeds or fails.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackedAction {
    pub id: u64,
    pub command: Command,
    pub status: ActionStatus,
    pub at: DateTime<Utc>,
}

impl TrackedAction {
    pub fn label(&self) -> String {
        format!("{} {}", self.command.name(), self.command.target())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlashLevel {
    Info,
    Warn,
    Error,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Flash {
    pub level: FlashLevel,
    pub text: String,
    pub at: DateTime<Utc>,
    /// `State::ticks` when shown: expiry counts wall-clock ticks, because at drill speed
    /// simulated seconds fly by faster than anyone can read.
    pub tick: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Confirm {
    pub title: String,
    /// What the action is about (an incident title may be 100,000 characters): wrapped to a
    /// bounded height, the rest scrolled to with up / down.
    pub lines: Vec<String>,
    /// What the responder must know before saying yes ("STILL FIRING", "the ack is undone"):
    /// always on screen, never scrolled away, like the yes / cancel line.
    pub warnings: Vec<String>,
    /// Drawn in the danger style; kill switch, rollback and resolve.
    pub danger: bool,
    pub command: Command,
    /// First wrapped line of `lines` shown.
    pub scroll: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PickItem {
    pub label: String,
    pub detail: String,
    /// None: the harmless choice ("keep serving"), which closes the picker and changes nothing.
    pub confirm: Option<Confirm>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Picker {
    pub title: String,
    pub items: Vec<PickItem>,
    pub cursor: usize,
}

#[derive(Debug)]
pub enum TextPurpose {
    Filter,
    Note(IncidentId),
    Answer {
        incident: IncidentId,
        question: usize,
    },
}

#[derive(Debug, Default)]
pub enum Overlay {
    #[default]
    None,
    Help,
    Confirm(Box<Confirm>),
    Picker(Picker),
    Text {
        purpose: TextPurpose,
        editor: Box<TextArea<'static>>,
    },
    Runbook(IncidentId),
    /// The selected incident in full, on the whole screen (k9s `describe`): title, evidence,
    /// levers, runbook, timeline and notes, scrolled with the movement keys.
    Describe {
        id: IncidentId,
        scroll: usize,
    },
    /// Every source's health with its whole error, for when the footer cannot hold them all.
    Sources {
        scroll: usize,
    },
}

#[derive(Debug)]
pub struct State {
    pub now: DateTime<Utc>,
    pub author: String,
    pub read_only: bool,
    /// Where the data comes from, for the header ("simulated fleet seed 42 ×10").
    pub banner: String,
    pub flag_source: Option<String>,
    /// Where pages go (PagerDuty Events API), and whether levers pulled become change events.
    pub pager_source: Option<String>,
    pub change_events: bool,
    /// In no particular order: `view` orders them.
    pub incidents: Vec<Incident>,
    /// Indices of all `incidents` in display order. Derived when incidents change, so a filter
    /// keystroke never sorts.
    pub order: Vec<usize>,
    /// Indices into `incidents` that pass the filter, in display order. Derived; kept in step
    /// by `update` so rendering never recomputes it.
    pub view: Vec<usize>,
    /// Views of filters typed since the incidents last changed (see `view`). Derived.
    pub filter_views: Vec<(String, Vec<usize>)>,
    /// Open incidents per SEV, SEV1 first. Derived with `view`, so the header and the list
    /// title never walk every incident on every frame.
    pub open_by_sev: [usize; 4],
    /// Position in `view`.
    pub cursor: usize,
    pub selected_id: Option<IncidentId>,
    /// All metrics sources merged: what the panes show. Derived from `signal_sets`.
    pub signals: SignalSet,
    pub detections: Vec<Detection>,
    /// Latest signals and detections per metrics source, so one source failing or lagging
    /// never blanks another's.
    pub signal_sets: BTreeMap<String, (SignalSet, Vec<Detection>)>,
    /// Latest levers per flag system; laid over `signals.features` so the panes show the
    /// prompt version and kill switches the flag system serves, not what metrics last saw.
    pub flag_sets: BTreeMap<String, Vec<FeatureFlags>>,
    /// (source, operation name) → why that source cannot do it; shown instead of acting.
    pub unsupported: BTreeMap<(String, String), String>,
    pub sources: Vec<SourceHealth>,
    pub filter: String,
    pub overlay: Overlay,
    pub show_detail: bool,
    /// Feature chosen with next_feature; otherwise the selected incident's feature.
    pub signal_feature: Option<String>,
    pub actions: Vec<TrackedAction>,
    pub next_action_id: u64,
    pub flash: Option<Flash>,
    pub runbooks: BTreeMap<IncidentId, RunbookSession>,
    pub size: (u16, u16),
    /// Simulated seconds per wall-clock second (`--speed`); 1 outside drills. Audit records and
    /// postmortems keep real time and mark simulated time separately when this is not 1.
    pub speed: f64,
    /// Bell and escalation roster, from `[alerts]` in the config.
    pub alerts: AlertSettings,
    /// An incident that just became SEV1, and the tick it did: its row flashes for a moment.
    pub new_sev1: Option<(IncidentId, u64)>,
    /// First row shown in the help overlay.
    pub help_scroll: usize,
    /// Lines and column width of the help overlay: it is generated from the keymap, which
    /// only the app holds, and `update` needs its shape to keep scrolling within it.
    pub help_shape: (usize, usize),
    /// Ticks seen so far; the app ticks at a fixed wall-clock rate (`TICKS_PER_SEC`).
    pub ticks: u64,
    pub quit: bool,
}

/// Wall-clock ticks per second the app sends.
pub const TICKS_PER_SEC: u64 = 2;

/// The smallest terminal the cockpit draws its panes in.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

impl State {
    pub fn new(now: DateTime<Utc>, author: &str, banner: &str) -> Self {
        State {
            now,
            author: author.to_string(),
            read_only: false,
            banner: banner.to_string(),
            flag_source: None,
            pager_source: None,
            change_events: false,
            incidents: Vec::new(),
            order: Vec::new(),
            view: Vec::new(),
            filter_views: Vec::new(),
            open_by_sev: [0; 4],
            cursor: 0,
            selected_id: None,
            signals: SignalSet::default(),
            detections: Vec::new(),
            signal_sets: BTreeMap::new(),
            flag_sets: BTreeMap::new(),
            unsupported: BTreeMap::new(),
            sources: Vec::new(),
            filter: String::new(),
            overlay: Overlay::None,
            show_detail: false,
            signal_feature: None,
            actions: Vec::new(),
            next_action_id: 1,
            flash: None,
            runbooks: BTreeMap::new(),
            size: (80, 24),
            speed: 1.0,
            alerts: AlertSettings::default(),
            new_sev1: None,
            help_scroll: 0,
            help_shape: (0, 0),
            ticks: 0,
            quit: false,
        }
    }

    pub fn selected(&self) -> Option<&Incident> {
        self.view
            .get(self.cursor)
            .and_then(|&i| self.incidents.get(i))
    }

    pub fn feature_info(&self, name: &str) -> Option<&FeatureInfo> {
        self.signals.features.iter().find(|f| f.name == name)
    }

    /// The feature whose signals the signal pane shows.
    pub fn shown_feature(&self) -> Option<String> {
        self.signal_feature
            .clone()
            .or_else(|| self.selected().map(|i| i.feature.as_str().to_string()))
            .filter(|f| self.feature_info(f).is_some())
            .or_else(|| self.signals.features.first().map(|f| f.name.clone()))
    }

    /// Why the selected incident's source cannot do `op`, if it cannot.
    pub fn unsupported_reason(&self, op: &str) -> Option<&str> {
        let inc = self.selected()?;
        self.unsupported
            .get(&(inc.source.clone(), op.to_string()))
            .map(String::as_str)
    }

    /// Incidents held by sources but not shown, over every source: the list's "+N not
    /// shown".
    pub fn not_shown(&self) -> NotShown {
        self.sources
            .iter()
            .filter(|h| h.role == SourceRole::Incidents)
            .fold(NotShown::default(), |acc, h| NotShown {
                count: acc.count.saturating_add(h.not_shown.count),
                more: acc.more || h.not_shown.more,
            })
    }

    pub fn pending_count(&self) -> usize {
        self.actions
            .iter()
            .filter(|a| a.status == ActionStatus::Pending)
            .count()
    }

    pub fn last_failed(&self) -> Option<&TrackedAction> {
        self.actions
            .iter()
            .rev()
            .find(|a| matches!(a.status, ActionStatus::Failed(_)))
    }

    /// Below this the layout cannot show an incident row and its countdown legibly, and no
    /// key but quit and help does anything: nothing acts on a screen that cannot show it.
    pub fn too_small(&self) -> bool {
        self.size.0 < MIN_WIDTH || self.size.1 < MIN_HEIGHT
    }

    /// Whether the incident's source is stale or failing: its row says so, because its status
    /// and countdown may no longer be true.
    pub fn source_in_doubt(&self, source: &str) -> bool {
        self.sources
            .iter()
            .any(|h| h.name == source && (h.failing() || h.is_stale(self.now)))
    }

    pub fn input_mode(&self) -> crate::config::keymap::Mode {
        use crate::config::keymap::Mode;
        if self.too_small() {
            // Quit and help are normal-mode keys; a dialog or text box must not take keys the
            // responder cannot see.
            return Mode::Normal;
        }
        match &self.overlay {
            Overlay::None | Overlay::Help | Overlay::Describe { .. } | Overlay::Sources { .. } => {
                Mode::Normal
            }
            Overlay::Confirm(_) | Overlay::Picker(_) => Mode::Dialog,
            Overlay::Text { .. } => Mode::Text,
            Overlay::Runbook(_) => Mode::Runbook,
        }
    }
}
