//! The incident list: the row at the top is the one to act on.

use super::format::{age, countdown, fit};
use super::{first_key, pane, Ctx};
use crate::config::keymap::ActionName;
use crate::config::keymap::Mode;
use crate::config::theme::{Theme, ThemeRole};
use crate::domain::command::Command;
use crate::domain::{Incident, Status};
use crate::state::{ActionStatus, State, Verdict};
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

fn status_role(s: Status) -> ThemeRole {
    match s {
        Status::Triggered => ThemeRole::Triggered,
        Status::Acknowledged => ThemeRole::Acknowledged,
        Status::Resolved => ThemeRole::Resolved,
    }
}

/// An ack or resolve in flight shows on its row, so nobody presses it twice.
fn pending_on(state: &State, inc: &Incident) -> Option<&'static str> {
    state
        .actions
        .tracked
        .iter()
        .find_map(|a| match (&a.command, &a.status) {
            (Command::Incident { id, op, .. }, ActionStatus::Pending) if *id == inc.id => {
                Some(op.name())
            }
            _ => None,
        })
}

/// Recovered (open, but the signal is back within its threshold): still to resolve, no longer
/// burning. Its row is quiet, so what is still firing stands out.
fn recovered(inc: &Incident) -> bool {
    inc.is_open() && !inc.firing
}

/// Contained by a lever (the signal back inside its pre-incident band): quiet like recovered.
fn contained(state: &State, inc: &Incident) -> bool {
    state.incidents.contained.contains(&inc.id)
}

/// What the containment watch says on the row, in front of the title.
fn containment_mark(state: &State, inc: &Incident, theme: &Theme) -> Option<Span<'static>> {
    let w = state.containment.watch(&inc.id)?;
    let (text, role) = match w.verdict {
        Verdict::Containing => ("containing… · ", ThemeRole::Containing),
        Verdict::Contained { .. } => ("contained ✓ · ", ThemeRole::Contained),
        Verdict::NotContained { .. } => ("NOT CONTAINED · ", ThemeRole::NotContained),
    };
    Some(Span::styled(text, theme.style(role)))
}

fn respond_cell(inc: &Incident, state: &State, theme: &Theme) -> Span<'static> {
    match inc.seconds_left(state.now) {
        // An overdue deadline on a recovered or contained incident is not an emergency any
        // more.
        Some(s) if recovered(inc) || contained(state, inc) => {
            Span::styled(countdown(s), theme.style(ThemeRole::Muted))
        }
        Some(s) if s < 0 => Span::styled(countdown(s), theme.style(ThemeRole::Overdue)),
        Some(s) => Span::styled(countdown(s), theme.style(ThemeRole::Countdown)),
        None => Span::styled("—", theme.style(ThemeRole::Muted)),
    }
}

/// On the selected row a cell's own foreground gives way to the selection's, unless the cell
/// has its own background (the SEV badge): the high-contrast theme's white countdown on the
/// bright yellow selection could not be read.
fn on_row(span: Span<'static>, row: Style, selected: bool) -> Span<'static> {
    if selected && span.style.bg.is_none() {
        let style = span.style.patch(Style {
            fg: row.fg,
            ..Style::default()
        });
        span.style(style)
    } else {
        span
    }
}

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let state = ctx.state;
    let theme = ctx.theme;
    let open: usize = state.incidents.open_by_sev.iter().sum();
    let mut title = format!(" Incidents {open} open ");
    // Past a source's cap on incidents or its pages per poll: never silently fewer.
    let hidden = state.sources.not_shown();
    match (hidden.count, hidden.more) {
        (0, false) => {}
        (0, true) => title = format!("{title}· more not shown "),
        (n, false) => title = format!("{title}· +{n} not shown "),
        (n, true) => title = format!("{title}· +{n} and more not shown "),
    }
    if !state.incidents.filter.is_empty() {
        title = format!(
            "{title}· filter \"{}\" {} shown ",
            state.incidents.filter,
            state.incidents.shown.len()
        );
    }
    let block = pane(title, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if state.incidents.shown.is_empty() {
        let msg = if state.incidents.all.is_empty() {
            "No incidents. Watching the signals below."
        } else {
            "No incident matches the filter (esc clears it)."
        };
        frame.render_widget(
            Paragraph::new(Line::styled(msg, theme.style(ThemeRole::Muted))),
            inner,
        );
        return;
    }
    let rows_fit = inner.height.saturating_sub(1).max(1) as usize;
    // Page-wise scrolling: deterministic from the cursor alone, so rendering keeps no state.
    let first = (state.incidents.cursor / rows_fit) * rows_fit;
    let title_width = (inner.width as usize).saturating_sub(4 + 9 + 14 + 8 + 6 + 7 + 6);
    let resolve_key = first_key(ctx, Mode::Normal, ActionName::Resolve);
    let flashing = state
        .incidents
        .new_sev1
        .as_ref()
        .filter(|(_, at)| (state.ticks - at) % 2 == 0)
        .map(|(id, _)| id);
    let rows = state
        .incidents
        .shown
        .iter()
        .skip(first)
        .take(rows_fit)
        .enumerate()
        .filter_map(|(n, &ix)| state.incidents.all.get(ix).map(|inc| (first + n, inc)))
        .map(|(pos, inc)| {
            let selected = pos == state.incidents.cursor;
            let quiet = recovered(inc) || contained(state, inc);
            let base = if inc.status == Status::Resolved || quiet {
                theme.style(ThemeRole::Muted)
            } else {
                theme.style(ThemeRole::Base)
            };
            let mut row_style = if selected {
                base.patch(theme.style(ThemeRole::Selected))
            } else {
                base
            };
            if flashing == Some(&inc.id) {
                // A new SEV1 blinks in its badge's colours for a few seconds.
                row_style = row_style.patch(theme.style(ThemeRole::Sev1));
            }
            let cell = |span: Span<'static>| Cell::from(on_row(span, row_style, selected));
            let status = match pending_on(state, inc) {
                Some(op) => Span::styled(format!("{op}…"), theme.style(ThemeRole::Pending)),
                None => Span::styled(inc.status.short(), theme.style(status_role(inc.status))),
            };
            // Marks go before the title, where the eye reads: data that may be stale, and a
            // recovered incident's next step.
            let mut marks = Vec::new();
            if state.source_in_doubt(&inc.source) {
                marks.push(Span::styled("◌ STALE ", theme.style(ThemeRole::Stale)));
            }
            if let Some(mark) = containment_mark(state, inc, theme).filter(|_| inc.firing) {
                marks.push(mark);
            }
            if recovered(inc) {
                marks.push(Span::styled(
                    format!("recovered — {resolve_key} to resolve · "),
                    theme.style(ThemeRole::Muted),
                ));
            }
            let used: usize = marks.iter().map(|m| m.width()).sum();
            marks.push(Span::raw(fit(
                inc.title.as_str(),
                title_width.saturating_sub(used),
            )));
            let title = Line::from(
                marks
                    .into_iter()
                    .map(|m| on_row(m, row_style, selected))
                    .collect::<Vec<_>>(),
            );
            Row::new(vec![
                Cell::from(Span::styled(format!("{}", inc.sev), ctx.sev(inc.sev))),
                Cell::from(inc.kind.short()),
                Cell::from(fit(inc.feature.as_str(), 14)),
                cell(status),
                Cell::from(age(state.now - inc.triggered_at)),
                cell(respond_cell(inc, state, theme)),
                Cell::from(title),
            ])
            .style(row_style)
        });
    let header = Row::new([
        "SEV", "TYPE", "FEATURE", "STATUS", "AGE", "RESPOND", "TITLE",
    ])
    .style(theme.style(ThemeRole::Header));
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
