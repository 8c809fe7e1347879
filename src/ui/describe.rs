//! The full-screen view of one incident (k9s `describe`): every line of the detail pane plus
//! each runbook answer, scrolled with the movement keys, so nothing about an incident is out
//! of reach at 80x24.

use super::{detail, first_key, scroll_hint, Ctx};
use crate::config::keymap::ActionName;
use crate::config::keymap::Mode;
use crate::config::theme::ThemeRole;
use crate::state::State;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

/// The text area inside the border, less the line that says where the view is.
fn body(area: Rect) -> Rect {
    let inner = Block::bordered().inner(area);
    Rect {
        height: inner.height.saturating_sub(1),
        ..inner
    }
}

/// Lines of incident `id` at the screen's width; none when it is gone.
fn content<'a>(state: &State, id: &str, ctx: Option<&Ctx>, width: u16) -> Option<Vec<Line<'a>>> {
    let inc = state.incidents.all.iter().find(|i| i.id == id)?;
    Some(detail::lines(state, inc, ctx, usize::from(width), true))
}

pub fn max_scroll(state: &State, id: &str) -> usize {
    let area = body(Rect::new(0, 0, state.size.0, state.size.1));
    content(state, id, None, area.width)
        .map_or(0, |l| l.len().saturating_sub(usize::from(area.height)))
}

pub fn render(frame: &mut Frame, area: Rect, id: &str, scroll: usize, ctx: &Ctx) {
    let state = ctx.state;
    let theme = ctx.theme;
    let back = first_key(ctx, Mode::Normal, ActionName::Back);
    let block = Block::bordered()
        .title(Line::styled(
            format!(" {id} · {back} back "),
            theme.style(ThemeRole::Title),
        ))
        .border_style(theme.style(ThemeRole::Border))
        .style(theme.style(ThemeRole::Base));
    frame.render_widget(Clear, area);
    frame.render_widget(block, area);
    let text = body(area);
    let Some(lines) = content(state, id, Some(ctx), text.width) else {
        frame.render_widget(
            Paragraph::new(Line::styled(
                format!("{id} is no longer reported by its source."),
                theme.style(ThemeRole::Muted),
            )),
            text,
        );
        return;
    };
    let rows = usize::from(text.height);
    let first = scroll.min(lines.len().saturating_sub(rows));
    let total = lines.len();
    let shown: Vec<Line> = lines.into_iter().skip(first).take(rows).collect();
    frame.render_widget(Paragraph::new(shown), text);
    if let Some(hint) = scroll_hint(ctx, Mode::Normal, first, rows, total) {
        let y = text.bottom();
        frame.render_widget(
            Paragraph::new(hint),
            Rect {
                y,
                height: 1,
                ..text
            },
        );
    }
}
