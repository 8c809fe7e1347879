//! Confirmation, list picker and text entry dialogs.

use super::{centered, first_key, key_hints, View};
use crate::action::Action;
use crate::config::keymap::Mode;
use crate::config::theme::Role;
use crate::state::{Confirm, Picker, TextPurpose};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;
use tui_textarea::TextArea;

fn boxed<'a>(title: &str, danger: bool, view: &View) -> Block<'a> {
    let role = if danger {
        Role::DialogDanger
    } else {
        Role::Dialog
    };
    Block::bordered()
        .title(Line::styled(format!(" {title} "), view.theme.style(role)))
        .border_style(view.theme.style(role))
        .style(view.theme.style(Role::Dialog))
}

pub fn confirm(frame: &mut Frame, area: Rect, c: &Confirm, view: &View) {
    let rect = centered(area, 64, c.lines.len() as u16 + 5);
    frame.render_widget(Clear, rect);
    let block = boxed(&c.title, c.danger, view);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let mut lines: Vec<Line> = c.lines.iter().map(|l| Line::raw(l.clone())).collect();
    lines.push(Line::raw(""));
    // Only the explicit yes key confirms: enter alone must never fire a kill switch.
    lines.push(key_hints(
        view,
        Mode::Dialog,
        &[(Action::Confirm, "yes, do it"), (Action::Cancel, "cancel")],
    ));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

pub fn picker(frame: &mut Frame, area: Rect, p: &Picker, view: &View) {
    let rect = centered(area, 72, p.items.len() as u16 + 5);
    frame.render_widget(Clear, rect);
    let block = boxed(&p.title, false, view);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [list, foot] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    let label_w = p
        .items
        .iter()
        .map(|i| i.label.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    let lines: Vec<Line> = p
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let marker = if i == p.cursor { "▶ " } else { "  " };
            let line = Line::from(vec![
                Span::raw(marker),
                Span::styled(
                    format!("{:<label_w$}", item.label),
                    view.theme.style(Role::Base),
                ),
                Span::styled(item.detail.clone(), view.theme.style(Role::Muted)),
            ]);
            if i == p.cursor {
                line.style(view.theme.style(Role::Selected))
            } else {
                line
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), list);
    frame.render_widget(
        Paragraph::new(key_hints(
            view,
            Mode::Dialog,
            &[(Action::Select, "choose"), (Action::Cancel, "cancel")],
        )),
        foot,
    );
}

pub fn text(frame: &mut Frame, area: Rect, purpose: &TextPurpose, editor: &TextArea, view: &View) {
    let title = match purpose {
        TextPurpose::Filter => "Filter incidents".to_string(),
        TextPurpose::Note(id) => format!("Note on {id}"),
        TextPurpose::Answer { .. } => "Runbook answer".to_string(),
    };
    // The filter sits on the bottom rows so the list it narrows stays visible.
    let rect = match purpose {
        TextPurpose::Filter => Rect {
            y: area.bottom().saturating_sub(5),
            height: 3,
            ..area
        },
        _ => centered(area, 72, 5),
    };
    frame.render_widget(Clear, rect);
    let submit = first_key(view, Mode::Text, &Action::Submit);
    let cancel = first_key(view, Mode::Text, &Action::Cancel);
    let block = boxed(
        &format!("{title} · {submit} done · {cancel} cancel"),
        false,
        view,
    )
    .border_style(view.theme.style(Role::Filter));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    frame.render_widget(editor, inner);
}
