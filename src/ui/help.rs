//! The help overlay, generated from the keymap so it never lies about the bindings.

use super::format::fit;
use super::{centered, View};
use crate::action::Action;
use crate::config::keymap::Mode;
use crate::config::theme::Role;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

// Global bindings show up inside every mode's list already (keymap.bindings includes them).
const SECTIONS: [(Mode, &str); 4] = [
    (Mode::Normal, "incident list"),
    (Mode::Dialog, "dialogs"),
    (Mode::Runbook, "runbook"),
    (Mode::Text, "text boxes"),
];
const KEYS: usize = 11;

pub fn render(frame: &mut Frame, area: Rect, view: &View) {
    let theme = view.theme;
    let rect = centered(
        area,
        area.width.saturating_sub(2).min(120),
        area.height.saturating_sub(2),
    );
    let block = Block::bordered()
        .title(Line::styled(
            " Help · esc closes ",
            theme.style(Role::Title),
        ))
        .border_style(theme.style(Role::Border))
        .style(theme.style(Role::Dialog));
    let inner = block.inner(rect);
    frame.render_widget(Clear, rect);
    frame.render_widget(block, rect);
    let mut entries: Vec<(String, String, bool)> = Vec::new();
    for (mode, title) in SECTIONS {
        let bindings = view.keymap.bindings(mode);
        if bindings.is_empty() {
            continue;
        }
        entries.push((title.to_string(), String::new(), true));
        for (action, keys) in bindings {
            // Quit is listed once, with the incident list; repeating it per mode is noise.
            if action == Action::Quit && mode != Mode::Normal {
                continue;
            }
            entries.push((keys.join(" "), action.description().to_string(), false));
        }
    }
    // As many columns as it takes to show every binding without scrolling.
    let rows = (inner.height as usize).max(1);
    let cols = entries.len().div_ceil(rows).max(1);
    let col_w = inner.width / cols as u16;
    for (c, chunk) in entries.chunks(rows).enumerate() {
        let lines: Vec<Line> = chunk
            .iter()
            .map(|(k, d, is_title)| {
                if *is_title {
                    Line::styled(k.clone(), theme.style(Role::Header))
                } else {
                    let desc_w = (col_w as usize).saturating_sub(KEYS + 3);
                    Line::from(vec![
                        Span::styled(format!(" {:<KEYS$} ", fit(k, KEYS)), theme.style(Role::Key)),
                        Span::styled(fit(d, desc_w), theme.style(Role::Base)),
                    ])
                }
            })
            .collect();
        let col = Rect {
            x: inner.x + c as u16 * col_w,
            width: col_w,
            ..inner
        };
        frame.render_widget(Paragraph::new(lines), col);
    }
}
