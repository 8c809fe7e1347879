//! The cockpit drawn without a terminal: a state rendered into a buffer with a built-in
//! theme and keymap, and the buffer as plain text, one line per row.

use oncall_cockpit::config::keymap::Keymap;
use oncall_cockpit::config::theme::Theme;
use oncall_cockpit::state::State;
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
