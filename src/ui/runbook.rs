//! The runbook walkthrough overlay.

use super::format::fit;
use super::{centered, first_key, key_hints, Ctx};
use crate::config::keymap::ActionName;
use crate::config::keymap::Mode;
use crate::config::theme::ThemeRole;
use crate::domain::text::wrap;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Gauge, Paragraph};
use ratatui::Frame;

pub fn render(frame: &mut Frame, area: Rect, id: &str, ctx: &Ctx) {
    let state = ctx.state;
    let theme = ctx.theme;
    let Some(session) = state.runbooks.get(id) else {
        return;
    };
    let rect = centered(
        area,
        area.width.saturating_sub(4).min(110),
        area.height.saturating_sub(2),
    );
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .title(Line::styled(
            format!(" Runbook · {id} "),
            theme.style(ThemeRole::Title),
        ))
        .border_style(theme.style(ThemeRole::Border))
        .style(theme.style(ThemeRole::Dialog));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [gauge, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(2),
        Constraint::Length(1),
    ])
    .areas(inner);
    let (done, total) = session.progress();
    let ratio = if total == 0 {
        0.0
    } else {
        done as f64 / total as f64
    };
    frame.render_widget(
        Gauge::default()
            .ratio(ratio)
            .label(format!("{done}/{total} confirmed"))
            .gauge_style(theme.style(ThemeRole::Ok)),
        gauge,
    );
    let width = body.width as usize;
    let edit_key = first_key(ctx, Mode::Runbook, ActionName::EditAnswer);
    let mut lines = Vec::new();
    let mut cursor_end = 0;
    for (i, (q, a)) in session.questions.iter().zip(&session.answers).enumerate() {
        let (mark, role) = if a.confirmed {
            ("✓", ThemeRole::Ok)
        } else if a.prefilled {
            ("?", ThemeRole::Warn)
        } else {
            ("·", ThemeRole::Muted)
        };
        let answer = if a.text.is_empty() {
            format!("(no data: {edit_key} to answer)")
        } else {
            let source = if a.edited {
                ""
            } else if a.prefilled {
                " [from instrumentation]"
            } else {
                ""
            };
            format!("{}{source}", a.text)
        };
        let current = i == session.cursor;
        // The question being answered is shown whole; the others one line each.
        let cut = |text: &str, w: usize| -> Vec<String> {
            if current {
                wrap(text, w)
                    .into_iter()
                    .map(|r| text[r].to_string())
                    .collect()
            } else {
                vec![fit(text, w)]
            }
        };
        let style = |role: ThemeRole| {
            let s = theme.style(role);
            if current {
                s.patch(theme.style(ThemeRole::Selected))
            } else {
                s
            }
        };
        for (n, part) in cut(&q.text, width.saturating_sub(2))
            .into_iter()
            .enumerate()
        {
            let lead = if n == 0 {
                format!("{mark} ")
            } else {
                "  ".into()
            };
            lines.push(Line::from(vec![
                Span::styled(lead, style(role)),
                Span::styled(part, style(ThemeRole::Base)),
            ]));
        }
        for part in cut(&answer, width.saturating_sub(3)) {
            lines.push(Line::styled(format!("   {part}"), style(ThemeRole::Muted)));
        }
        if current {
            cursor_end = lines.len();
        }
    }
    let visible = body.height as usize;
    let skip = cursor_end.saturating_sub(visible);
    let lines: Vec<Line> = lines.into_iter().skip(skip).collect();
    frame.render_widget(Paragraph::new(lines), body);
    let hints = [
        (ActionName::Down, "next"),
        (ActionName::ConfirmAnswer, "confirm"),
        (ActionName::EditAnswer, "edit"),
        (ActionName::Back, "close"),
    ];
    frame.render_widget(Paragraph::new(key_hints(ctx, Mode::Runbook, &hints)), foot);
}
