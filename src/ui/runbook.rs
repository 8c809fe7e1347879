//! The runbook walkthrough overlay.

use super::format::fit;
use super::{centered, key_hints, View};
use crate::action::Action;
use crate::config::keymap::Mode;
use crate::config::theme::Role;
use crate::state::State;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Gauge, Paragraph};
use ratatui::Frame;

pub fn render(frame: &mut Frame, area: Rect, state: &State, id: &str, view: &View) {
    let theme = view.theme;
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
            theme.style(Role::Title),
        ))
        .border_style(theme.style(Role::Border))
        .style(theme.style(Role::Dialog));
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
            .gauge_style(theme.style(Role::Ok)),
        gauge,
    );
    let width = body.width as usize;
    let mut lines = Vec::new();
    let mut cursor_line = 0;
    for (i, (q, a)) in session.questions.iter().zip(&session.answers).enumerate() {
        let (mark, role) = if a.confirmed {
            ("✓", Role::Ok)
        } else if a.prefilled {
            ("?", Role::Warn)
        } else {
            ("·", Role::Muted)
        };
        if i == session.cursor {
            cursor_line = lines.len();
        }
        let q_line = Line::from(vec![
            Span::styled(format!("{mark} "), theme.style(role)),
            Span::styled(
                fit(&q.text, width.saturating_sub(2)),
                theme.style(Role::Base),
            ),
        ]);
        let answer = if a.text.is_empty() {
            "(no data: e to answer)".to_string()
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
        let a_line = Line::styled(
            format!("   {}", fit(&answer, width.saturating_sub(3))),
            theme.style(Role::Muted),
        );
        if i == session.cursor {
            lines.push(q_line.style(theme.style(Role::Selected)));
            lines.push(a_line.style(theme.style(Role::Selected)));
        } else {
            lines.push(q_line);
            lines.push(a_line);
        }
    }
    let visible = body.height as usize;
    let skip = (cursor_line + 2).saturating_sub(visible);
    let lines: Vec<Line> = lines.into_iter().skip(skip).collect();
    frame.render_widget(Paragraph::new(lines), body);
    let hints = [
        (Action::ConfirmAnswer, "confirm"),
        (Action::EditAnswer, "edit"),
        (Action::Back, "close"),
    ];
    frame.render_widget(Paragraph::new(key_hints(view, Mode::Runbook, &hints)), foot);
}
