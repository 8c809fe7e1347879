//! The levers panel: one feature's levers, two lines each (the setting now; who moved it last
//! and what `u` goes back to), drawn over the whole screen so an 80x24 terminal holds all
//! seven. The words come from `state::lever_panel`; this only lays them out and styles them.

use super::{first_key, key_hints, Ctx};
use crate::config::keymap::{ActionName, Mode};
use crate::config::theme::ThemeRole;
use crate::domain::text::fit;
use crate::state::lever_panel::{row_text, rows};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

/// Columns given to the lever's name.
const NAME: usize = 21;

pub fn render(frame: &mut Frame, area: Rect, feature: &str, cursor: usize, ctx: &Ctx) {
    let theme = ctx.theme;
    let block = Block::bordered()
        .title(Line::styled(
            format!(" Levers · {feature} "),
            theme.style(ThemeRole::Title),
        ))
        .border_style(theme.style(ThemeRole::Border))
        .style(theme.style(ThemeRole::Base));
    frame.render_widget(Clear, area);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [list, foot] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    let Some(info) = ctx.state.feature_info(feature) else {
        frame.render_widget(
            Paragraph::new(Line::styled(
                format!("{feature}: no source reports this feature any more"),
                theme.style(ThemeRole::Warn),
            )),
            list,
        );
        return;
    };
    let width = usize::from(list.width);
    let revert = first_key(ctx, Mode::Dialog, ActionName::Revert);
    let mut lines = Vec::new();
    for (i, row) in rows().into_iter().enumerate() {
        let t = row_text(ctx.state, info, row);
        let marker = if i == cursor { "▶ " } else { "  " };
        let role = if t.carried {
            ThemeRole::Base
        } else {
            ThemeRole::Muted
        };
        let first = Line::from(vec![
            Span::raw(marker),
            Span::styled(format!("{:<NAME$}", t.name), theme.style(ThemeRole::Header)),
            Span::styled(
                fit(&t.now, width.saturating_sub(NAME + 2)),
                theme.style(role),
            ),
        ]);
        lines.push(if i == cursor {
            first.style(theme.style(ThemeRole::Selected))
        } else {
            first
        });
        let mut second = t.last.clone();
        if let Some(to) = &t.revert_to {
            if !second.is_empty() {
                second.push_str(" · ");
            }
            second.push_str(&format!("{revert} → {to}"));
        }
        lines.push(Line::from(vec![
            Span::raw(" ".repeat(NAME + 2)),
            Span::styled(
                fit(&second, width.saturating_sub(NAME + 2)),
                theme.style(ThemeRole::Muted),
            ),
        ]));
    }
    // The cursor's row always shows on a short screen.
    let shown = usize::from(list.height).max(2);
    let skip = (cursor * 2 + 2).saturating_sub(shown);
    let lines: Vec<Line> = lines.into_iter().skip(skip).collect();
    frame.render_widget(Paragraph::new(lines), list);
    frame.render_widget(
        Paragraph::new(key_hints(
            ctx,
            Mode::Dialog,
            &[
                (ActionName::Down, "move"),
                (ActionName::Select, "set"),
                (ActionName::Revert, "revert"),
                (ActionName::Cancel, "back"),
            ],
        )),
        foot,
    );
}
