//! The sources view: every source's status in full, with its role, the age of its data and
//! its whole last error (the footer has one line for all of them, and a refused token file's
//! "chmod 600" must not be what gets cut off).

use super::format::age;
use super::{first_key, scroll_hint, Ctx};
use crate::config::keymap::ActionName;
use crate::config::keymap::Mode;
use crate::config::theme::ThemeRole;
use crate::domain::text::wrap;
use crate::state::{SourceRole, SourceStatus, State};
use chrono::Duration;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

const INDENT: usize = 4;

fn role_name(r: SourceRole) -> &'static str {
    match r {
        SourceRole::Metrics => "metrics",
        SourceRole::Incidents => "incidents",
        SourceRole::Flags => "flags",
        SourceRole::Pager => "pager",
        SourceRole::Samples => "samples",
    }
}

/// Failing first, then stale, then healthy: the order the footer uses.
pub fn rank(s: &SourceStatus, state: &State) -> u8 {
    if s.failing() {
        0
    } else if s.is_stale(state.now) {
        1
    } else {
        2
    }
}

fn content<'a>(state: &State, ctx: Option<&Ctx>, width: usize) -> Vec<Line<'a>> {
    let style = |role: ThemeRole| ctx.map(|c| c.theme.style(role)).unwrap_or_default();
    let mut sorted: Vec<&SourceStatus> = state.sources.list.iter().collect();
    sorted.sort_by_key(|s| rank(s, state));
    let mut out = Vec::new();
    if sorted.is_empty() {
        out.push(Line::styled(
            "No sources configured.",
            style(ThemeRole::Muted),
        ));
    }
    for s in sorted {
        let data = match s.age_secs(state.now) {
            Some(a) => format!("last data {} ago", age(Duration::seconds(a))),
            None => "no data yet".into(),
        };
        let every = s
            .interval_secs
            .map(|i| format!(" · polled every {i}s"))
            .unwrap_or_default();
        let (mark, what, role) = match rank(s, state) {
            0 => ("✗", "FAILING", ThemeRole::Error),
            1 => ("◌", "STALE", ThemeRole::Stale),
            _ => ("●", "ok", ThemeRole::Ok),
        };
        out.push(Line::from(vec![
            Span::styled(format!("{mark} {} ", s.name), style(role)),
            Span::styled(
                format!("({}) {what} · {data}{every}", role_name(s.role)),
                style(ThemeRole::Base),
            ),
        ]));
        // Which engine computes the numbers, and what it does differently: wrapped whole,
        // like errors, since a cut note would hide the part that explains a disagreement.
        let about = s.engine.iter().map(|e| format!("engine: {e}"));
        for note in about.chain(s.notes.iter().cloned()) {
            for r in wrap(&note, width.saturating_sub(INDENT).max(1)) {
                out.push(Line::from(vec![
                    Span::raw(" ".repeat(INDENT)),
                    Span::styled(note[r].to_string(), style(ThemeRole::Muted)),
                ]));
            }
        }
        if let Some((at, err)) = &s.last_error {
            let label = if s.failing() { "error" } else { "last error" };
            let text = format!("{label} at {}: {err}", at.format("%H:%M:%S"));
            let err_style = if s.failing() {
                style(ThemeRole::Error)
            } else {
                style(ThemeRole::Muted)
            };
            for r in wrap(&text, width.saturating_sub(INDENT).max(1)) {
                out.push(Line::from(vec![
                    Span::raw(" ".repeat(INDENT)),
                    Span::styled(text[r].to_string(), err_style),
                ]));
            }
        }
    }
    out
}

fn body(area: Rect) -> Rect {
    let inner = Block::bordered().inner(area);
    Rect {
        height: inner.height.saturating_sub(1),
        ..inner
    }
}

pub fn max_scroll(state: &State) -> usize {
    let area = body(Rect::new(0, 0, state.size.0, state.size.1));
    content(state, None, usize::from(area.width))
        .len()
        .saturating_sub(usize::from(area.height))
}

pub fn render(frame: &mut Frame, area: Rect, scroll: usize, ctx: &Ctx) {
    let state = ctx.state;
    let theme = ctx.theme;
    let back = first_key(ctx, Mode::Normal, ActionName::Back);
    let block = Block::bordered()
        .title(Line::styled(
            format!(" Sources · {back} back "),
            theme.style(ThemeRole::Title),
        ))
        .border_style(theme.style(ThemeRole::Border))
        .style(theme.style(ThemeRole::Base));
    frame.render_widget(Clear, area);
    frame.render_widget(block, area);
    let text = body(area);
    let lines = content(state, Some(ctx), usize::from(text.width));
    let rows = usize::from(text.height);
    let first = scroll.min(lines.len().saturating_sub(rows));
    let total = lines.len();
    let shown: Vec<Line> = lines.into_iter().skip(first).take(rows).collect();
    frame.render_widget(Paragraph::new(shown), text);
    if let Some(hint) = scroll_hint(ctx, Mode::Normal, first, rows, total) {
        frame.render_widget(
            Paragraph::new(hint),
            Rect {
                y: text.bottom(),
                height: 1,
                ..text
            },
        );
    }
}
