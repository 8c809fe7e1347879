//! Rendering: reads `State`, never changes it. One file per pane; every colour comes from a
//! theme role and every key name from the keymap.

mod detail;
mod dialog;
pub mod format;
mod header;
mod help;
mod incidents;
mod runbook;
mod signals;
pub mod sparkline;
mod status;

use crate::action::Action;
use crate::config::keymap::Keymap;
use crate::config::keymap::Mode;
use crate::config::theme::{Role, Theme};
use crate::domain::{text, SignalKind};
use crate::state::{Overlay, State};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

/// Below this the layout cannot show an incident row and its countdown legibly.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;
/// From this width the detail pane sits beside the list instead of replacing the signals.
const WIDE: u16 = 120;

/// Everything the renderer reads besides the state.
pub struct View<'a> {
    pub theme: &'a Theme,
    pub keymap: &'a Keymap,
}

pub fn draw(frame: &mut Frame, state: &State, view: &View) {
    draw_panes(frame, state, view);
    scrub(frame.buffer_mut());
}

/// Text from outside becomes `SafeText` where it enters, but not all of what is shown is
/// text: incident ids, feature, model and prompt names from labels are kept verbatim because
/// they are keys. The backend writes cell symbols to the terminal as they are, so this last
/// pass guarantees that no control or bidi character reaches it, whichever pane drew it.
fn scrub(buf: &mut Buffer) {
    for cell in &mut buf.content {
        if cell.symbol().chars().any(text::is_unsafe) {
            let clean = text::sanitize(cell.symbol());
            cell.set_symbol(if clean.is_empty() { " " } else { &clean });
        }
    }
}

fn draw_panes(frame: &mut Frame, state: &State, view: &View) {
    let area = frame.area();
    frame.render_widget(Block::default().style(view.theme.style(Role::Base)), area);
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area, view.theme);
        return;
    }
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(8),
        Constraint::Length(2),
    ])
    .areas(area);
    header::render(frame, head, state, view.theme);
    status::render(frame, foot, state, view);
    if area.width >= WIDE {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)])
                .areas(body);
        let [list, sig] =
            Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(left);
        incidents::render(frame, list, state, view.theme);
        signals::render(frame, sig, state, view.theme);
        detail::render(frame, right, state, view.theme);
    } else {
        // The signal pane needs a row per signal; the list gets everything else, and never
        // less than a few rows.
        let signal_rows = SignalKind::ALL.len() as u16 + 2;
        let list_rows = body
            .height
            .saturating_sub(signal_rows)
            .max(body.height * 2 / 5)
            .max(6);
        let [list, lower] =
            Layout::vertical([Constraint::Length(list_rows), Constraint::Min(4)]).areas(body);
        incidents::render(frame, list, state, view.theme);
        if state.show_detail {
            detail::render(frame, lower, state, view.theme);
        } else {
            signals::render(frame, lower, state, view.theme);
        }
    }
    match &state.overlay {
        Overlay::None => {}
        Overlay::Help => help::render(frame, area, view),
        Overlay::Confirm(c) => dialog::confirm(frame, area, c, view),
        Overlay::Picker(p) => dialog::picker(frame, area, p, view),
        Overlay::Text { purpose, editor } => dialog::text(frame, area, purpose, editor, view),
        Overlay::Runbook(id) => runbook::render(frame, area, state, id, view),
    }
}

fn too_small(frame: &mut Frame, area: Rect, theme: &Theme) {
    let msg = vec![
        Line::styled("terminal too small", theme.style(Role::Warn)),
        Line::styled(
            format!(
                "{}x{} — need {MIN_WIDTH}x{MIN_HEIGHT}",
                area.width, area.height
            ),
            theme.style(Role::Muted),
        ),
    ];
    frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
}

/// A centred rectangle of at most `w` x `h` inside `area`.
pub(crate) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// The key to show for an action: the first one bound in `mode`.
pub(crate) fn first_key(view: &View, mode: Mode, action: &Action) -> String {
    view.keymap
        .keys_for(mode, action)
        .into_iter()
        .next()
        .unwrap_or_else(|| "?".into())
}

/// "y yes, do it    n cancel": the key for each action in `mode`, then its label.
pub(crate) fn key_hints<'a>(view: &View, mode: Mode, items: &[(Action, &'a str)]) -> Line<'a> {
    let mut spans = Vec::new();
    for (action, label) in items {
        spans.push(Span::styled(
            first_key(view, mode, action),
            view.theme.style(Role::Key),
        ));
        spans.push(Span::raw(format!(" {label}    ")));
    }
    Line::from(spans)
}

pub(crate) fn pane<'a>(title: String, theme: &Theme) -> Block<'a> {
    Block::bordered()
        .border_style(theme.style(Role::Border))
        .title(Line::styled(title, theme.style(Role::Title)))
}
