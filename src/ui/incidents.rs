//! The incident list: the row at the top is the one to act on.

use super::format::{age, countdown, fit};
use super::{first_key, pane, Ctx};
use crate::config::keymap::ActionName;
use crate::config::keymap::Mode;
use crate::config::theme::{Theme, ThemeRole};
use crate::domain::command::Command;
use crate::domain::Sev;
use crate::domain::{Incident, Status};
use crate::state::{ActionStatus, Row as ListRow, SortKey, State, Verdict};
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
        // Snoozed: quiet until then, when it triggers and its countdown starts again.
        None => match inc
            .snoozed_until
            .filter(|u| *u > state.now && inc.is_open())
        {
            Some(until) => Span::styled(
                format!("z {}", until.format("%H:%M")),
                theme.style(ThemeRole::Muted),
            ),
            None => Span::styled("—", theme.style(ThemeRole::Muted)),
        },
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum RowKind {
    Single,
    /// A group's parent row: one cause, several incidents.
    Parent,
    /// A member of an expanded group, under its parent.
    Member,
}

/// What one row of the list shows: an incident, or a group as one incident (its most urgent
/// member's title, the highest SEV, the earliest onset, the nearest deadline).
struct ShownRow<'a> {
    kind: RowKind,
    inc: &'a Incident,
    members: Vec<&'a Incident>,
    sev: Sev,
    onset: chrono::DateTime<chrono::Utc>,
    /// The member whose countdown the row shows.
    respond: &'a Incident,
    expanded: bool,
}

impl<'a> ShownRow<'a> {
    fn of(state: &'a State, row: ListRow) -> Option<ShownRow<'a>> {
        let list = &state.incidents;
        let single = |kind, ix: usize| {
            let inc = list.all.get(ix)?;
            Some(ShownRow {
                kind,
                inc,
                members: vec![inc],
                sev: inc.sev,
                onset: inc.triggered_at,
                respond: inc,
                expanded: false,
            })
        };
        match row {
            ListRow::Single(ix) => single(RowKind::Single, ix),
            ListRow::Member(ix) => single(RowKind::Member, ix),
            ListRow::Group(g) => {
                let members: Vec<&Incident> = list
                    .groups
                    .get(g)?
                    .iter()
                    .filter_map(|&i| list.all.get(i))
                    .collect();
                let inc = list.lead(g).and_then(|i| list.all.get(i))?;
                let sev = members.iter().map(|m| m.sev).min().unwrap_or(inc.sev);
                let onset = members
                    .iter()
                    .map(|m| m.triggered_at)
                    .min()
                    .unwrap_or(inc.triggered_at);
                let respond = members
                    .iter()
                    .copied()
                    .filter(|m| m.seconds_left(state.now).is_some())
                    .min_by_key(|m| m.respond_by)
                    .unwrap_or(inc);
                let expanded = list.group_key(g).is_some_and(|k| list.expanded.contains(k));
                Some(ShownRow {
                    kind: RowKind::Parent,
                    inc,
                    members,
                    sev,
                    onset,
                    respond,
                    expanded,
                })
            }
        }
    }

    /// "drift + eval": the types of a group, in onset order.
    fn types(&self) -> String {
        let mut kinds: Vec<&str> = Vec::new();
        for m in &self.members {
            if !kinds.contains(&m.kind.short()) {
                kinds.push(m.kind.short());
            }
        }
        kinds.join(" + ")
    }

    /// Every member's status when they agree, else how many are still triggered ("TRIG 1/2").
    fn status(&self, theme: &Theme) -> Span<'static> {
        let first = self.inc.status;
        if self.members.iter().all(|m| m.status == first) {
            return Span::styled(first.short(), theme.style(status_role(first)));
        }
        let trig = self
            .members
            .iter()
            .filter(|m| m.status == Status::Triggered)
            .count();
        let (text, status) = match trig {
            0 => (
                Status::Acknowledged.short().to_string(),
                Status::Acknowledged,
            ),
            n => (
                format!("{} {n}/{}", Status::Triggered.short(), self.members.len()),
                Status::Triggered,
            ),
        };
        Span::styled(text, theme.style(status_role(status)))
    }

    /// A parent row is marked when every member is.
    fn marked(&self, state: &State) -> bool {
        let marks = &state.incidents.marks;
        !marks.is_empty() && self.members.iter().all(|m| marks.contains(&m.id))
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
    if state.incidents.sort != SortKey::Sev {
        title = format!("{title}· by {} ", state.incidents.sort.name());
    }
    if !state.incidents.marks.is_empty() {
        title = format!("{title}· {} marked ", state.incidents.marks.len());
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
    // The last page ends on the last row rather than starting a page of its own: a contained
    // incident sorted to the bottom must not leave it alone on an empty pane.
    let first = ((state.incidents.cursor / rows_fit) * rows_fit)
        .min(state.incidents.rows.len().saturating_sub(rows_fit));
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
        .rows
        .iter()
        .skip(first)
        .take(rows_fit)
        .enumerate()
        .filter_map(|(n, row)| {
            let shown = ShownRow::of(state, *row)?;
            Some((first + n, shown))
        })
        .map(|(pos, shown)| {
            let inc = shown.inc;
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
            if shown.members.iter().any(|m| flashing == Some(&m.id)) {
                // A new SEV1 blinks in its badge's colours for a few seconds.
                row_style = row_style.patch(theme.style(ThemeRole::Sev1));
            }
            let cell = |span: Span<'static>| Cell::from(on_row(span, row_style, selected));
            let status = match shown.members.iter().find_map(|m| pending_on(state, m)) {
                Some(op) => Span::styled(format!("{op}…"), theme.style(ThemeRole::Pending)),
                None => shown.status(theme),
            };
            // Marks go before the title, where the eye reads: a bulk action's mark, data that
            // may be stale, a group's types, and a recovered incident's next step.
            let mut marks = Vec::new();
            if shown.marked(state) {
                marks.push(Span::styled("✓ ", theme.style(ThemeRole::Marked)));
            }
            if shown
                .members
                .iter()
                .any(|m| state.source_in_doubt(&m.source))
            {
                marks.push(Span::styled("◌ STALE ", theme.style(ThemeRole::Stale)));
            }
            if let Some(mark) = containment_mark(state, inc, theme).filter(|_| inc.firing) {
                marks.push(mark);
            }
            if shown.kind == RowKind::Parent {
                marks.push(Span::styled(
                    format!("{} · ", shown.types()),
                    theme.style(ThemeRole::Group),
                ));
            }
            if shown.members.iter().all(|m| recovered(m)) {
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
            let kind = match shown.kind {
                RowKind::Single => Line::from(inc.kind.short()),
                RowKind::Parent => {
                    let open = if shown.expanded { "▾" } else { "▸" };
                    Line::from(Span::styled(
                        format!("{open} ×{}", shown.members.len()),
                        theme.style(ThemeRole::Group),
                    ))
                }
                RowKind::Member => Line::from(vec![
                    Span::styled("└ ", theme.style(ThemeRole::Group)),
                    Span::raw(inc.kind.short()),
                ]),
            };
            Row::new(vec![
                Cell::from(Span::styled(format!("{}", shown.sev), ctx.sev(shown.sev))),
                Cell::from(kind),
                Cell::from(fit(inc.feature.as_str(), 14)),
                cell(status),
                Cell::from(age(state.now - shown.onset)),
                cell(respond_cell(shown.respond, state, theme)),
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
