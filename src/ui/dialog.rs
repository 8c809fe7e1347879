//! Confirmation, list picker and text entry dialogs. Each is as tall as its content needs and
//! the screen allows: the warnings and the key hints are always drawn, and what does not fit
//! of a long text (a 100,000-character alert title) is scrolled to, never cut off silently.

use super::{centered, first_key, key_hints, scroll_hint, Ctx};
use crate::config::keymap::ActionName;
use crate::config::keymap::Mode;
use crate::config::theme::ThemeRole;
use crate::domain::text::{fit, width, wrap};
use crate::state::{Confirm, Picker, State, TextPurpose};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;
use ratatui_textarea::TextArea;
use std::ops::Range;

/// Widest a confirmation gets, borders included.
const CONFIRM_W: u16 = 68;
/// Lines of a confirmation's text shown at once; the rest scrolls.
const BODY_MAX: usize = 6;
/// Lines of the question shown above a runbook answer being typed.
const QUESTION_MAX: usize = 3;

fn boxed<'a>(title: &str, danger: bool, ctx: &Ctx) -> Block<'a> {
    let role = if danger {
        ThemeRole::DialogDanger
    } else {
        ThemeRole::Dialog
    };
    Block::bordered()
        .title(Line::styled(format!(" {title} "), ctx.theme.style(role)))
        .border_style(ctx.theme.style(role))
        .style(ctx.theme.style(ThemeRole::Dialog))
}

/// Where everything of a confirmation goes in a screen of `area`.
struct ConfirmGeometry {
    rect: Rect,
    /// Every wrapped line of the text: (which of `Confirm::lines`, byte range in it).
    body: Vec<(usize, Range<usize>)>,
    body_rows: usize,
    warnings: Vec<String>,
    /// Rows of the shadow table drawn (it is cut, never the warnings, on a short screen).
    shadow_rows: usize,
    text_w: usize,
}

impl ConfirmGeometry {
    fn new(area: Rect, c: &Confirm, state: &State) -> Self {
        let text_w = usize::from(CONFIRM_W.min(area.width).saturating_sub(2)).max(1);
        let shadow = super::shadow::height(state, c, text_w);
        let body: Vec<(usize, Range<usize>)> = c
            .lines
            .iter()
            .enumerate()
            .flat_map(|(i, l)| wrap(l, text_w).into_iter().map(move |r| (i, r)))
            .collect();
        let warnings: Vec<String> = c
            .warnings
            .iter()
            .flat_map(|w| wrap(w, text_w).into_iter().map(|r| w[r].to_string()))
            .collect();
        // Borders, the blank line and the hints are fixed; warnings come next; the text gets
        // what is left, at least one line.
        let fixed = 2 + 2 + warnings.len();
        // The comparison comes after the warnings and before the text, which keeps a line.
        let shadow_rows = shadow.min(usize::from(area.height).saturating_sub(fixed + 1));
        let fixed = fixed + shadow_rows;
        let room = usize::from(area.height).saturating_sub(fixed);
        let mut body_rows = body.len().min(BODY_MAX).min(room).max(1);
        if body.len() > body_rows {
            // One line says where the text is and how to scroll it.
            body_rows = body_rows.min(room.saturating_sub(1)).max(1);
        }
        let more = usize::from(body.len() > body_rows);
        let height = (fixed + body_rows + more) as u16;
        ConfirmGeometry {
            rect: centered(area, CONFIRM_W, height),
            body,
            body_rows,
            warnings,
            shadow_rows,
            text_w,
        }
    }

    fn max_scroll(&self) -> usize {
        self.body.len().saturating_sub(self.body_rows)
    }
}

pub fn confirm_max_scroll(state: &State, c: &Confirm, (w, h): (u16, u16)) -> usize {
    ConfirmGeometry::new(Rect::new(0, 0, w, h), c, state).max_scroll()
}

pub fn confirm(frame: &mut Frame, area: Rect, c: &Confirm, ctx: &Ctx) {
    let g = ConfirmGeometry::new(area, c, ctx.state);
    frame.render_widget(Clear, g.rect);
    let block = boxed(&c.title, c.danger, ctx);
    let inner = block.inner(g.rect);
    frame.render_widget(block, g.rect);
    let first = c.scroll.min(g.max_scroll());
    let mut lines: Vec<Line> = g
        .body
        .iter()
        .skip(first)
        .take(g.body_rows)
        .map(|(i, r)| Line::raw(c.lines[*i][r.clone()].to_string()))
        .collect();
    if let Some(hint) = scroll_hint(ctx, Mode::Dialog, first, g.body_rows, g.body.len()) {
        lines.push(hint);
    }
    lines.extend(
        super::shadow::lines(ctx, c, g.text_w)
            .into_iter()
            .take(g.shadow_rows),
    );
    for w in &g.warnings {
        lines.push(Line::styled(w.clone(), ctx.theme.style(ThemeRole::Warn)));
    }
    lines.push(Line::raw(""));
    // Only the explicit yes key confirms: enter alone must never fire a kill switch.
    lines.push(key_hints(
        ctx,
        Mode::Dialog,
        &[
            (ActionName::Confirm, "yes, do it"),
            (ActionName::Cancel, "cancel"),
        ],
    ));
    frame.render_widget(Paragraph::new(lines), inner);
}

pub fn picker(frame: &mut Frame, area: Rect, p: &Picker, ctx: &Ctx) {
    // As wide as its longest label and detail (a segment name is what is being chosen), within
    // the screen.
    let widest = p
        .items
        .iter()
        .map(|i| width(&i.label) + 2 + width(&i.detail))
        .max()
        .unwrap_or(0)
        .max(width(&p.title) + 4)
        + 6;
    let w = (widest.clamp(60, 120) as u16).min(area.width.saturating_sub(2));
    let rect = centered(area, w, p.items.len() as u16 + 3);
    frame.render_widget(Clear, rect);
    let block = boxed(&p.title, false, ctx);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [list, foot] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    let label_w = p.items.iter().map(|i| width(&i.label)).max().unwrap_or(0) + 2;
    // The label (a version, a segment) is what is chosen: it gets the room, the detail what is
    // left.
    let label_w = label_w.min(usize::from(list.width).saturating_sub(16).max(8));
    // The cursor's row always shows, however many scopes a flag system reports.
    let rows = usize::from(list.height).max(1);
    let first = p.cursor.saturating_sub(rows - 1);
    let lines: Vec<Line> = p
        .items
        .iter()
        .enumerate()
        .skip(first)
        .take(rows)
        .map(|(i, item)| {
            let marker = if i == p.cursor { "▶ " } else { "  " };
            let label = fit(&item.label, label_w.saturating_sub(2));
            let pad = label_w.saturating_sub(width(&label));
            let detail_w = usize::from(list.width).saturating_sub(label_w + 2);
            let line = Line::from(vec![
                Span::raw(marker),
                Span::styled(
                    format!("{label}{}", " ".repeat(pad)),
                    ctx.theme.style(ThemeRole::Base),
                ),
                Span::styled(
                    fit(&item.detail, detail_w),
                    ctx.theme.style(ThemeRole::Muted),
                ),
            ]);
            if i == p.cursor {
                line.style(ctx.theme.style(ThemeRole::Selected))
            } else {
                line
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), list);
    frame.render_widget(
        Paragraph::new(key_hints(
            ctx,
            Mode::Dialog,
            &[
                (ActionName::Down, "move"),
                (ActionName::Select, "choose"),
                (ActionName::Cancel, "cancel"),
            ],
        )),
        foot,
    );
}

pub fn text(
    frame: &mut Frame,
    area: Rect,
    purpose: &TextPurpose,
    question: Option<&str>,
    editor: &TextArea,
    ctx: &Ctx,
) {
    let theme = ctx.theme;
    let title = match purpose {
        TextPurpose::Filter => "Filter incidents".to_string(),
        TextPurpose::SamplesFilter(view) => format!("Filter samples of {}", view.feature),
        TextPurpose::Note(id) => format!("Note on {id}"),
        TextPurpose::NoteMany(ids) => format!("Note on {} incidents", ids.len()),
        TextPurpose::StatusUpdate(id) => format!("Status update on {id}, to its stakeholders"),
        TextPurpose::Command => ":".to_string(),
        TextPurpose::Answer { .. } => "Runbook answer".to_string(),
    };
    let inner_w = usize::from(area.width.min(72).saturating_sub(2)).max(1);
    // The question an answer is for stays in view above it: the editor never hides it.
    let question: Vec<String> = question
        .map(|q| {
            let wrapped = wrap(q, inner_w);
            let mut lines: Vec<String> = wrapped
                .iter()
                .take(QUESTION_MAX)
                .map(|r| q[r.clone()].to_string())
                .collect();
            if wrapped.len() > QUESTION_MAX {
                if let Some(last) = lines.last_mut() {
                    *last = fit(&format!("{last} …"), inner_w);
                }
            }
            lines
        })
        .unwrap_or_default();
    let editor_rows = match purpose {
        // A status update wraps (text_box::composer): as many rows as its wrapped lines, so
        // the responder reads all of it before sending, within what a 24-row terminal holds.
        TextPurpose::StatusUpdate(_) => editor
            .lines()
            .iter()
            .map(|l| {
                l.chars()
                    .count()
                    .div_ceil(inner_w.saturating_sub(1).max(1))
                    .max(1)
            })
            .sum::<usize>()
            .clamp(1, 14) as u16,
        _ => editor.lines().len().clamp(1, 6) as u16,
    };
    // The filter sits on the bottom rows so the list it narrows stays visible.
    let rect = match purpose {
        TextPurpose::Filter | TextPurpose::Command => Rect {
            y: area.bottom().saturating_sub(5),
            height: 3,
            ..area
        },
        _ => centered(area, 72, 2 + question.len() as u16 + editor_rows),
    };
    frame.render_widget(Clear, rect);
    let key = |a: ActionName| first_key(ctx, Mode::Text, a);
    let mut hints = format!(
        "{title} · {} done · {} cancel · {} clear",
        key(ActionName::Submit),
        key(ActionName::Cancel),
        key(ActionName::ClearText)
    );
    if matches!(purpose, TextPurpose::Command) {
        hints.push_str(&format!(
            " · {} complete · {}{} history",
            key(ActionName::Complete),
            key(ActionName::HistoryPrev),
            key(ActionName::HistoryNext)
        ));
    }
    if matches!(
        purpose,
        TextPurpose::Note(_) | TextPurpose::NoteMany(_) | TextPurpose::StatusUpdate(_)
    ) {
        hints.push_str(&format!(" · {} new line", key(ActionName::NewLine)));
    }
    let block = boxed(&hints, false, ctx).border_style(theme.style(ThemeRole::Filter));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [q_area, e_area] = Layout::vertical([
        Constraint::Length(question.len() as u16),
        Constraint::Min(1),
    ])
    .areas(inner);
    let q_lines: Vec<Line> = question
        .into_iter()
        .map(|l| Line::styled(l, theme.style(ThemeRole::Header)))
        .collect();
    frame.render_widget(Paragraph::new(q_lines), q_area);
    // The editor lives in the state without colours; they come from the theme here.
    let mut styled = editor.clone();
    styled.set_style(theme.style(ThemeRole::Dialog));
    styled.set_cursor_line_style(theme.style(ThemeRole::Dialog));
    styled.set_placeholder_style(theme.style(ThemeRole::Muted));
    styled.set_selection_style(theme.style(ThemeRole::Selected));
    frame.render_widget(&styled, e_area);
}
