//! Plain data the screen is drawn from, in parts by layer: the incidents and their order,
//! the signals and levers, the sources and what each can do, the actions in flight, the
//! dialogs, the runbooks. Only `update` changes it: `update.rs` routes each `Action` to the
//! part that owns it, and each part's module holds its own pure update.

mod actions;
mod bulk;
pub mod changes;
pub mod command_line;
pub mod containment;
mod dialogs;
pub mod evidence;
mod feed;
mod groups;
mod guard;
mod habits;
mod incidents;
pub mod lever_panel;
mod levers;
pub mod oncall;
mod operations;
pub mod reassign;
pub mod responders;
mod runbook;
pub mod samples;
pub mod shadow;
mod signals;
mod snooze;
mod sources;
mod text_box;
pub mod update;

pub use crate::action::Saving;
pub use actions::{ActionStatus, Actions, TrackedAction};
pub use bulk::{Batch, Bulk};
pub use changes::Changes;
pub use containment::{Containment, Verdict, Watch};
pub use dialogs::{Confirm, Overlay, PickItem, Picker, TextPurpose};
pub use groups::group;
pub use guard::{actionable, Operation, Refusal, Target};
pub use incidents::{Incidents, Row, SortKey};
pub use operations::page_key;
pub use responders::Responders;
pub use samples::{Fetched, Samples};
pub use shadow::{Compared, Shadows};
pub use signals::Signals;
pub use sources::{SourceRole, SourceStatus, Sources};
pub use update::{update, NEW_SEV1_TICKS};

use crate::audit::AuditRecord;
use crate::config::alerts::AlertSettings;
use crate::config::keymap::Mode;
use crate::domain::command::CommandRequest;
use crate::domain::{FeatureInfo, Incident, IncidentId};
use crate::runbook::postmortem::Draft;
use crate::runbook::RunbookSession;
use chrono::{DateTime, Utc};
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
    /// Ask a samples source for one window of a feature's requests.
    Samples {
        source: String,
        query: crate::domain::sample::SampleQuery,
    },
    /// Ask a metrics source to compare two variants of a feature (a shadow comparison).
    Shadow {
        source: String,
        request: crate::domain::shadow::ShadowRequest,
    },
    /// Write files under the data directory, owner-only: an evidence snapshot a lever waits
    /// for (`Saving::Evidence`), or one sample a responder keeps.
    Save {
        what: Saving,
        snapshot: Box<evidence::Snapshot>,
    },
    /// Ring the terminal bell (a new SEV1).
    Bell,
    Quit,
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

#[derive(Debug)]
pub struct State {
    pub now: DateTime<Utc>,
    pub author: String,
    pub read_only: bool,
    /// Where the data comes from, for the header ("simulated fleet seed 42 ×10").
    pub banner: String,
    pub incidents: Incidents,
    pub signals: Signals,
    pub sources: Sources,
    pub samples: Samples,
    /// Shadow comparisons asked by lever dialogs, and their answers.
    pub shadow: Shadows,
    pub actions: Actions,
    /// Whether the levers pulled contained their incidents.
    pub containment: Containment,
    /// What changed around each feature: the timeline before an onset.
    pub changes: Changes,
    /// Sets of incidents acted on at once (a group, the marks), and their tallies.
    pub bulk: Bulk,
    /// The `:` command line's history.
    pub command_line: command_line::CommandLine,
    /// Roles and status updates, per incident.
    pub responders: Responders,
    pub overlay: Overlay,
    pub show_detail: bool,
    pub flash: Option<Flash>,
    pub runbooks: BTreeMap<IncidentId, RunbookSession>,
    pub size: (u16, u16),
    /// Simulated seconds per wall-clock second (`--speed`); 1 outside drills. Audit records and
    /// postmortems keep real time and mark simulated time separately when this is not 1.
    pub speed: f64,
    /// Bell and escalation roster, from `[alerts]` in the config.
    pub alerts: AlertSettings,
    /// How long each SEV may wait for an acknowledgement, in business hours and out
    /// (`[respond]`): every incident's countdown is set by it as it arrives.
    pub respond: crate::config::respond::RespondPolicy,
    /// First row shown in the help overlay.
    pub help_scroll: usize,
    /// How far the open scrolled view can scroll, measured on the last frame drawn
    /// (`Action::ScrollLimit`); `None` before the first measure of this view.
    pub scroll_limit: Option<usize>,
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
            incidents: Incidents::default(),
            signals: Signals::default(),
            sources: Sources::default(),
            samples: Samples::default(),
            shadow: Shadows::default(),
            actions: Actions::default(),
            containment: Containment::default(),
            changes: Changes::default(),
            bulk: Bulk::default(),
            command_line: command_line::CommandLine::default(),
            responders: Responders::default(),
            overlay: Overlay::None,
            show_detail: false,
            flash: None,
            runbooks: BTreeMap::new(),
            size: (80, 24),
            speed: 1.0,
            alerts: AlertSettings::default(),
            respond: crate::config::respond::RespondPolicy::default(),
            help_scroll: 0,
            scroll_limit: None,
            help_shape: (0, 0),
            ticks: 0,
            quit: false,
        }
    }

    pub fn selected(&self) -> Option<&Incident> {
        self.incidents.selected()
    }

    pub fn feature_info(&self, name: &str) -> Option<&FeatureInfo> {
        self.signals.feature(name)
    }

    /// The feature whose signals the signal pane shows: the pinned one, else the selected
    /// incident's, else the first with data.
    pub fn shown_feature(&self) -> Option<String> {
        self.signals
            .pinned
            .clone()
            .or_else(|| self.selected().map(|i| i.feature.as_str().to_string()))
            .filter(|f| self.feature_info(f).is_some())
            .or_else(|| self.signals.merged.features.first().map(|f| f.name.clone()))
    }

    /// Why the selected incident's source cannot do `op`, if it cannot.
    pub fn unsupported_reason(&self, op: Operation) -> Option<&str> {
        let inc = self.selected()?;
        self.sources.unsupported_reason(&inc.source, op)
    }

    /// Below this the layout cannot show an incident row and its countdown legibly, and no
    /// key but quit and help does anything: nothing acts on a screen that cannot show it.
    pub fn too_small(&self) -> bool {
        self.size.0 < MIN_WIDTH || self.size.1 < MIN_HEIGHT
    }

    /// Whether the incident's source is stale or failing: its row says so, because its status
    /// and countdown may no longer be true.
    pub fn source_in_doubt(&self, source: &str) -> bool {
        self.sources.in_doubt(source, self.now)
    }

    pub fn input_mode(&self) -> Mode {
        if self.too_small() {
            // Quit and help are normal-mode keys; a dialog or text box must not take keys the
            // responder cannot see.
            return Mode::Normal;
        }
        self.overlay.input_mode()
    }

    /// Says something in the footer; an info message expires, a warning or error stays until
    /// replaced.
    pub(crate) fn say(&mut self, level: FlashLevel, text: String) {
        self.flash = Some(Flash {
            level,
            text,
            at: self.now,
            tick: self.ticks,
        });
    }
}
