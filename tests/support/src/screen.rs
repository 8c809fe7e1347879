//! The cockpit drawn without a terminal: a state rendered into a buffer with a built-in
//! theme and keymap, and the buffer as plain text, one line per row.

use chrono::{DateTime, Utc};
use oncall_cockpit::action::Action;
use oncall_cockpit::config::keymap::Keymap;
use oncall_cockpit::config::theme::Theme;
use oncall_cockpit::domain::event::BackendEvent;
use oncall_cockpit::domain::SignalSet;
use oncall_cockpit::state::{update, SourceRole, SourceStatus, State};
use oncall_cockpit::ui::{self, Ctx};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;

/// A built-in theme, parsed.
pub fn theme(name: &str) -> Theme {
    let text = Theme::builtin(name).expect("built-in theme");
    Theme::parse(name, text).expect("valid theme")
}

/// The default keymap, parsed.
pub fn keymap() -> Keymap {
    Keymap::parse("default", Keymap::builtin("default").expect("built-in")).expect("valid keymap")
}

/// `state` drawn at `w`x`h` in `theme`, with the default keymap.
pub fn render(state: &State, w: u16, h: u16, theme: &Theme) -> Buffer {
    let keymap = keymap();
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    term.draw(|f| ui::draw(f, &Ctx::new(state, theme, &keymap)))
        .expect("draw");
    term.backend().buffer().clone()
}

/// Each row's symbols, a newline after each.
pub fn text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

/// `state` at `w`x`h` in the default theme, as text.
pub fn screen(state: &State, w: u16, h: u16) -> String {
    text(&render(state, w, h, &theme("default")))
}

/// A cockpit that has read `set` from one metrics source named `source` at `at`: what the
/// signals pane then draws.
pub fn signals_state(source: &str, at: DateTime<Utc>, set: SignalSet) -> State {
    let mut state = State::new(at, "ana", "test");
    state.sources.list = vec![SourceStatus::new(source, SourceRole::Metrics, Some(15.0))];
    update(
        &mut state,
        Action::Backend(BackendEvent::Signals {
            source: source.into(),
            at,
            set,
            detections: Vec::new(),
        }),
    );
    state
}

/// The first line of a drawn screen holding `label` (a signal's row).
pub fn row<'a>(screen: &'a str, label: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(label))
        .unwrap_or_else(|| panic!("no {label:?} row in\n{screen}"))
}
