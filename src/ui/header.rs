//! The header line: what the cockpit watches, read-only, open incidents per SEV, the clock.

use super::Ctx;
use crate::config::theme::ThemeRole;
use crate::domain::Sev;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let (state, theme) = (ctx.state, ctx.theme);
    let mut spans = vec![
        Span::styled(" oncall-cockpit ", theme.style(ThemeRole::Title)),
        Span::styled(format!("{} ", state.banner), theme.style(ThemeRole::Muted)),
    ];
    if state.read_only {
        spans.push(Span::styled(
            " READ-ONLY ",
            theme.style(ThemeRole::ReadOnly),
        ));
        spans.push(Span::raw(" "));
    }
    for (sev, n) in Sev::ALL.into_iter().zip(state.incidents.open_by_sev) {
        if n > 0 {
            spans.push(Span::styled(format!(" {sev} {n} "), ctx.sev(sev)));
            spans.push(Span::raw(" "));
        }
    }
    // Minutes, not seconds: the clock says the cockpit is alive and anchors the timeline's
    // times, and a seconds field would make an otherwise quiet screen redraw every second.
    // Countdowns and ages carry the second-level urgency where it matters.
    let clock = Span::styled(
        state.now.format("%H:%MZ ").to_string(),
        theme.style(ThemeRole::Muted),
    );
    let [left, right] =
        Layout::horizontal([Constraint::Min(10), Constraint::Length(10)]).areas(area);
    frame.render_widget(Paragraph::new(Line::from(spans)), left);
    frame.render_widget(
        Paragraph::new(Line::from(clock)).alignment(Alignment::Right),
        right,
    );
}
