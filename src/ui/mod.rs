//! Rendering: reads `State`, never changes it. One file per pane; every colour comes from a
//! theme role and every key name from the keymap.

mod describe;
mod detail;
mod dialog;
pub mod format;
mod header;
mod help;
mod incidents;
mod levers;
mod runbook;
mod samples;
mod shadow;
mod signals;
mod sources;
pub mod sparkline;
mod status;

use crate::config::keymap::ActionName;
use crate::config::keymap::Keymap;
use crate::config::keymap::Mode;
use crate::config::theme::{Theme, ThemeRole};
use crate::domain::{text, Sev, SignalKind};
use crate::state::{Overlay, State, TextPurpose, MIN_HEIGHT, MIN_WIDTH};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

/// From this width the detail pane sits beside the list instead of replacing the signals.
const WIDE: u16 = 120;

/// Everything a pane reads, passed as one (television's `draw::Ctx`): the state it shows, the
/// theme that styles it and the keymap that names its keys. Nothing in it can be changed.
pub struct Ctx<'a> {
    pub state: &'a State,
    pub theme: &'a Theme,
    pub keymap: &'a Keymap,
}

impl<'a> Ctx<'a> {
    pub fn new(state: &'a State, theme: &'a Theme, keymap: &'a Keymap) -> Self {
        Ctx {
            state,
            theme,
            keymap,
        }
    }

    /// The theme's style for a role.
    pub fn style(&self, role: ThemeRole) -> Style {
        self.theme.style(role)
    }

    /// The theme's style for a SEV badge.
    pub fn sev(&self, sev: Sev) -> Style {
        self.theme.style(ThemeRole::sev(sev))
    }
}

pub fn draw(frame: &mut Frame, ctx: &Ctx) {
    draw_panes(frame, ctx);
    scrub(frame.buffer_mut());
}

/// Text from outside becomes `SafeText` where it enters, but not all of what is shown is
/// text: incident ids, feature, model and prompt names from labels are kept verbatim because
/// they are keys. The backend writes cell symbols to the terminal as they are, so this last
/// pass guarantees that no control or bidi character reaches it, whichever pane drew it, and
/// that no cell holds a grapheme the terminal would draw at another width than the layout
/// counted (`⚠️`: two columns for ratatui, one for tmux, and a stale cell beside it). The
/// replacement is never wider than the columns the layout gave the cell, and the cells it
/// covered already hold spaces, so the terminal is told to draw them.
fn scrub(buf: &mut Buffer) {
    for cell in &mut buf.content {
        let symbol = cell.symbol();
        // One byte is one ASCII character: the common case, and never a problem once ratatui
        // has dropped control characters.
        if symbol.len() == 1 && !symbol.as_bytes()[0].is_ascii_control() {
            continue;
        }
        if symbol.chars().any(text::is_unsafe) || !text::same_width_everywhere(symbol) {
            let clean = text::sanitize(symbol);
            let fits = (1..=text::width(symbol).max(1)).contains(&text::width(&clean));
            cell.set_symbol(if fits { &clean } else { " " });
        }
    }
}

fn draw_panes(frame: &mut Frame, ctx: &Ctx) {
    let state = ctx.state;
    let area = frame.area();
    frame.render_widget(
        Block::default().style(ctx.theme.style(ThemeRole::Base)),
        area,
    );
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        // Help is the one thing that still works, so it is the one thing still drawn.
        if matches!(state.overlay, Overlay::Help) {
            help::render(frame, area, ctx);
        } else {
            too_small(frame, area, ctx);
        }
        return;
    }
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(8),
        Constraint::Length(2),
    ])
    .areas(area);
    header::render(frame, head, ctx);
    status::render(frame, foot, ctx);
    if area.width >= WIDE {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)])
                .areas(body);
        let [list, sig] =
            Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(left);
        incidents::render(frame, list, ctx);
        signals::render(frame, sig, ctx);
        detail::render(frame, right, ctx);
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
        incidents::render(frame, list, ctx);
        if state.show_detail {
            detail::render(frame, lower, ctx);
        } else {
            signals::render(frame, lower, ctx);
        }
    }
    match &state.overlay {
        Overlay::None => {}
        Overlay::Help => help::render(frame, area, ctx),
        Overlay::Confirm(c) => dialog::confirm(frame, area, c, ctx),
        Overlay::Picker(p) => dialog::picker(frame, area, p, ctx),
        Overlay::Text { purpose, editor } => {
            let question = match purpose {
                TextPurpose::Answer { incident, question } => state
                    .runbooks
                    .get(incident)
                    .and_then(|rb| rb.questions.get(*question))
                    .map(|q| q.text.as_str()),
                _ => None,
            };
            dialog::text(frame, area, purpose, question, editor, ctx)
        }
        Overlay::Runbook(id) => runbook::render(frame, area, id, ctx),
        Overlay::Describe { id, scroll } => describe::render(frame, area, id, *scroll, ctx),
        Overlay::Sources { scroll } => sources::render(frame, area, *scroll, ctx),
        // The status line stays visible below: a lever's outcome is said there.
        Overlay::Levers { feature, cursor } => levers::render(
            frame,
            Rect {
                height: area.height.saturating_sub(1),
                ..area
            },
            feature,
            *cursor,
            ctx,
        ),
        // The status line stays visible below: a written sample or a lever's outcome is
        // said there.
        Overlay::Samples(view) => samples::render(
            frame,
            Rect {
                height: area.height.saturating_sub(1),
                ..area
            },
            view,
            ctx,
        ),
    }
}

fn too_small(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let state = ctx.state;
    let theme = ctx.theme;
    let mut msg = vec![
        Line::styled("terminal too small", theme.style(ThemeRole::Warn)),
        Line::styled(
            format!(
                "{}x{} — need {MIN_WIDTH}x{MIN_HEIGHT}",
                area.width, area.height
            ),
            theme.style(ThemeRole::Muted),
        ),
        Line::styled(
            "keys are ignored until it is bigger, except",
            theme.style(ThemeRole::Muted),
        ),
    ];
    let mut keys = vec![(ActionName::Quit, "quit")];
    // Help opens only over the list: a dialog left open keeps its place for when the
    // terminal grows back.
    if matches!(state.overlay, Overlay::None) {
        keys.push((ActionName::Help, "help"));
    }
    msg.push(key_hints(ctx, Mode::Normal, &keys));
    frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
}

/// How far the open scrolled view can scroll at the current size and content: the app
/// measures it after each frame and tells `update` (`Action::ScrollLimit`), which keeps
/// positions within it without knowing layout.
pub fn scroll_limit(state: &State) -> Option<usize> {
    match &state.overlay {
        Overlay::Help => Some(help::max_scroll(state)),
        Overlay::Confirm(c) => Some(dialog::confirm_max_scroll(state, c, state.size)),
        Overlay::Describe { id, .. } => Some(describe::max_scroll(state, id)),
        Overlay::Sources { .. } => Some(sources::max_scroll(state)),
        Overlay::Samples(view) if view.open.is_some() => Some(samples::max_scroll(state, view)),
        _ => None,
    }
}

/// Lines in the help overlay the keymap gives (headings included), and the width a column
/// needs to show every key and description whole.
pub fn help_shape(keymap: &Keymap) -> (usize, usize) {
    help::shape(&help::entries(keymap))
}

/// "line 3–20 of 140 · j/k scroll": where a scrolled view is, with the keys that move it.
pub(crate) fn scroll_hint<'a>(
    ctx: &Ctx,
    mode: Mode,
    first: usize,
    shown: usize,
    total: usize,
) -> Option<Line<'a>> {
    if total <= shown {
        return None;
    }
    let last = (first + shown).min(total);
    let keys = |a: ActionName| first_key(ctx, mode, a);
    Some(Line::from(vec![
        Span::styled(
            format!("lines {}–{last} of {total} · ", first + 1),
            ctx.theme.style(ThemeRole::Muted),
        ),
        Span::styled(
            format!("{}/{}", keys(ActionName::Down), keys(ActionName::Up)),
            ctx.theme.style(ThemeRole::Key),
        ),
        Span::styled(" scroll", ctx.theme.style(ThemeRole::Muted)),
    ]))
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
pub(crate) fn first_key(ctx: &Ctx, mode: Mode, action: ActionName) -> String {
    ctx.keymap
        .keys_for(mode, action)
        .into_iter()
        .next()
        .unwrap_or_else(|| "?".into())
}

/// "y yes, do it    n cancel": the key for each action in `mode`, then its label.
pub(crate) fn key_hints<'a>(ctx: &Ctx, mode: Mode, items: &[(ActionName, &'a str)]) -> Line<'a> {
    let mut spans = Vec::new();
    for (action, label) in items {
        spans.push(Span::styled(
            first_key(ctx, mode, *action),
            ctx.theme.style(ThemeRole::Key),
        ));
        spans.push(Span::raw(format!(" {label}    ")));
    }
    Line::from(spans)
}

pub(crate) fn pane<'a>(title: String, theme: &Theme) -> Block<'a> {
    Block::bordered()
        .border_style(theme.style(ThemeRole::Border))
        .title(Line::styled(title, theme.style(ThemeRole::Title)))
}
