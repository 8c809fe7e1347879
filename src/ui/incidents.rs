//! The incident list: the row at the top is the one to act on.

use super::format::{age, countdown, fit};
use super::header::sev_role;
use super::pane;
use crate::backend::Command;
use crate::config::theme::{Role, Theme};
use crate::domain::{Incident, Status};
use crate::state::{ActionStatus, State};
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

fn status_role(s: Status) -> Role {
    match s {
        Status::Triggered => Role::Triggered,
        Status::Acknowledged => Role::Acknowledged,
        Status::Resolved => Role::Resolved,
    }
}

/// An ack or resolve in flight shows on its row, so nobody presses it twice.
fn pending_on(state: &State, inc: &Incident) -> Option<&'static str> {
    state
        .actions
        .iter()
        .find_map(|a| match (&a.command, &a.status) {
            (Command::Incident { id, op, .. }, ActionStatus::Pending) if *id == inc.id => {
                Some(op.name())
            }
            _ => None,
        })
}

fn respond_cell<'a>(inc: &Incident, state: &State, theme: &Theme) -> Cell<'a> {
    match inc.seconds_left(state.now) {
        Some(s) if s < 0 => Cell::from(Span::styled(countdown(s), theme.style(Role::Overdue))),
        Some(s) => Cell::from(Span::styled(countdown(s), theme.style(Role::Countdown))),
        None => Cell::from(Span::styled("—", theme.style(Role::Muted))),
    }
}

pub fn render(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let open: usize = state.open_by_sev.iter().sum();
    let mut title = format!(" Incidents {open} open ");
    // Past a source's cap on incidents or its pages per poll: never silently fewer.
    let hidden = state.not_shown();
    match (hidden.count, hidden.more) {
        (0, false) => {}
        (0, true) => title = format!("{title}· more not shown "),
        (n, false) => title = format!("{title}· +{n} not shown "),
        (n, true) => title = format!("{title}· +{n} and more not shown "),
    }
    if !state.filter.is_empty() {
        title = format!(
            "{title}· filter \"{}\" {} shown ",
            state.filter,
            state.view.len()
        );
    }
    let block = pane(title, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if state.view.is_empty() {
        let msg = if state.incidents.is_empty() {
            "No incidents. Watching the signals below."
        } else {
            "No incident matches the filter (esc clears it)."
        };
        frame.render_widget(
            Paragraph::new(Line::styled(msg, theme.style(Role::Muted))),
            inner,
        );
        return;
    }
    let rows_fit = inner.height.saturating_sub(1).max(1) as usize;
    // Page-wise scrolling: deterministic from the cursor alone, so rendering keeps no state.
    let first = (state.cursor / rows_fit) * rows_fit;
    let title_width = (inner.width as usize).saturating_sub(4 + 9 + 14 + 8 + 6 + 7 + 6);
    let rows = state
        .view
        .iter()
        .skip(first)
        .take(rows_fit)
        .enumerate()
        .filter_map(|(n, &ix)| state.incidents.get(ix).map(|inc| (first + n, inc)))
        .map(|(pos, inc)| {
            let status = match pending_on(state, inc) {
                Some(op) => Span::styled(format!("{op}…"), theme.style(Role::Pending)),
                None => Span::styled(inc.status.short(), theme.style(status_role(inc.status))),
            };
            let mut title = inc.title.to_string();
            if !inc.firing && inc.is_open() {
                title = format!("(recovered) {title}");
            }
            let row = Row::new(vec![
                Cell::from(Span::styled(
                    format!("{}", inc.sev),
                    theme.style(sev_role(inc.sev)),
                )),
                Cell::from(inc.kind.short()),
                Cell::from(fit(inc.feature.as_str(), 14)),
                Cell::from(status),
                Cell::from(age(state.now - inc.triggered_at)),
                respond_cell(inc, state, theme),
                Cell::from(fit(&title, title_width)),
            ]);
            let base = if inc.status == Status::Resolved {
                theme.style(Role::Muted)
            } else {
                theme.style(Role::Base)
            };
            if pos == state.cursor {
                row.style(base.patch(theme.style(Role::Selected)))
            } else {
                row.style(base)
            }
        });
    let header = Row::new([
        "SEV", "TYPE", "FEATURE", "STATUS", "AGE", "RESPOND", "TITLE",
    ])
    .style(theme.style(Role::Header));
    let widths = [
        Constraint::Length(4),
        Constraint::Length(9),
        Constraint::Length(14),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Min(10),
    ];
    frame.render_widget(Table::new(rows, widths).header(header), inner);
}
