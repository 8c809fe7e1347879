//! The help overlay, generated from the keymap so it never lies about the bindings. It takes
//! the whole screen and as many columns as fit with every key and description whole; what
//! does not fit scrolls (at 60x16, one column of full descriptions rather than four columns of
//! keys alone).

use super::format::fit;
use super::{scroll_hint, Ctx};
use crate::config::keymap::ActionName;
use crate::config::keymap::{Keymap, Mode};
use crate::config::theme::ThemeRole;
use crate::domain::text::width;
use crate::state::State;
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
/// Space between two columns.
const GAP: usize = 2;

pub struct Entry {
    keys: String,
    description: String,
    heading: bool,
}

pub fn entries(keymap: &Keymap) -> Vec<Entry> {
    let mut out = Vec::new();
    for (mode, title) in SECTIONS {
        let bindings = keymap.bindings(mode);
        if bindings.is_empty() {
            continue;
        }
        out.push(Entry {
            keys: title.to_string(),
            description: String::new(),
            heading: true,
        });
        for (action, keys) in bindings {
            // Quit is listed once, with the incident list; repeating it per mode is noise.
            if action == ActionName::Quit && mode != Mode::Normal {
                continue;
            }
            out.push(Entry {
                keys: keys.join(" "),
                description: action.description_in(mode).to_string(),
                heading: false,
            });
        }
    }
    out
}

/// Key column width of `entries`.
fn key_width(entries: &[Entry]) -> usize {
    entries
        .iter()
        .filter(|e| !e.heading)
        .map(|e| width(&e.keys))
        .max()
        .unwrap_or(0)
}

/// (lines, column width needed to show every entry whole).
pub fn shape(entries: &[Entry]) -> (usize, usize) {
    let desc = entries
        .iter()
        .map(|e| {
            if e.heading {
                width(&e.keys)
            } else {
                width(&e.description)
            }
        })
        .max()
        .unwrap_or(0);
    (entries.len(), 1 + key_width(entries) + 1 + desc)
}

/// Columns, rows per column, rows visible, for `entries` lines of `col_w` in `inner`.
fn layout(inner: Rect, (entries, col_w): (usize, usize)) -> (usize, usize, usize) {
    let width = usize::from(inner.width);
    let height = usize::from(inner.height).max(1);
    let cols = ((width + GAP) / (col_w + GAP).max(1)).clamp(1, 4);
    let rows = entries.div_ceil(cols).max(1);
    // A line for "lines 1–13 of 42 · j/k scroll" when it does not all fit.
    let visible = if rows > height {
        height.saturating_sub(1).max(1)
    } else {
        rows
    };
    (cols, rows, visible)
}

pub fn max_scroll(state: &State) -> usize {
    let area = Rect::new(0, 0, state.size.0, state.size.1);
    let inner = Block::bordered().inner(area);
    let (_, rows, visible) = layout(inner, state.help_shape);
    rows.saturating_sub(visible)
}

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let state = ctx.state;
    let theme = ctx.theme;
    let rect = area;
    let block = Block::bordered()
        .title(Line::styled(
            " Help · esc closes ",
            theme.style(ThemeRole::Title),
        ))
        .border_style(theme.style(ThemeRole::Border))
        .style(theme.style(ThemeRole::Dialog));
    let inner = block.inner(rect);
    frame.render_widget(Clear, rect);
    frame.render_widget(block, rect);
    let entries = entries(ctx.keymap);
    let shape = shape(&entries);
    let (cols, rows, visible) = layout(inner, shape);
    let first = state.help_scroll.min(rows.saturating_sub(visible));
    let col_w = if cols == 1 {
        usize::from(inner.width)
    } else {
        (usize::from(inner.width) + GAP) / cols - GAP
    };
    let keys_w = key_width(&entries).min(col_w / 2);
    let desc_w = col_w.saturating_sub(keys_w + 2);
    for (c, chunk) in entries.chunks(rows).enumerate() {
        let lines: Vec<Line> = chunk
            .iter()
            .skip(first)
            .take(visible)
            .map(|e| {
                if e.heading {
                    Line::styled(fit(&e.keys, col_w), theme.style(ThemeRole::Header))
                } else {
                    let keys = fit(&e.keys, keys_w);
                    let pad = keys_w.saturating_sub(width(&keys));
                    Line::from(vec![
                        Span::styled(
                            format!(" {keys}{} ", " ".repeat(pad)),
                            theme.style(ThemeRole::Key),
                        ),
                        Span::styled(fit(&e.description, desc_w), theme.style(ThemeRole::Base)),
                    ])
                }
            })
            .collect();
        let x = inner.x + (c * (col_w + GAP)) as u16;
        let col = Rect {
            x,
            width: (col_w as u16).min(inner.right().saturating_sub(x)),
            height: visible as u16,
            ..inner
        };
        frame.render_widget(Paragraph::new(lines), col);
    }
    if let Some(hint) = scroll_hint(ctx, Mode::Normal, first, visible, rows) {
        let y = inner.y + visible as u16;
        if y < inner.bottom() {
            frame.render_widget(
                Paragraph::new(hint),
                Rect {
                    y,
                    height: 1,
                    ..inner
                },
            );
        }
    }
}
