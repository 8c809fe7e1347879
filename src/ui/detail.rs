//! The selected incident in full: why it fired, what to do, what has happened since.

use super::format::{age, countdown};
use super::header::sev_role;
use super::pane;
use crate::config::theme::{Role, Theme};
use crate::domain::FeatureInfo;
use crate::state::State;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

pub fn render(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let Some(inc) = state.selected() else {
        let block = pane(" Detail ".into(), theme);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        frame.render_widget(
            Paragraph::new(Line::styled(
                "Select an incident.",
                theme.style(Role::Muted),
            )),
            inner,
        );
        return;
    };
    let block = pane(format!(" {} ", inc.id), theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let muted = theme.style(Role::Muted);
    let label = |s: &str| Span::styled(format!("{s:<10}"), muted);
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{}", inc.sev), theme.style(sev_role(inc.sev))),
            Span::raw(" "),
            Span::styled(inc.title.to_string(), theme.style(Role::Base)),
        ]),
        Line::from(vec![
            label("type"),
            Span::raw(format!("{} · {}", inc.kind.label(), inc.feature)),
        ]),
    ];
    let status = match (&inc.acked_by, inc.seconds_left(state.now)) {
        (Some(by), _) => format!("{} by {by}", inc.status.short()),
        (None, Some(s)) if s < 0 => {
            format!("{} · OVERDUE by {}", inc.status.short(), countdown(-s))
        }
        (None, Some(s)) => format!("{} · respond within {}", inc.status.short(), countdown(s)),
        (None, None) => inc.status.short().to_string(),
    };
    lines.push(Line::from(vec![label("status"), Span::raw(status)]));
    lines.push(Line::from(vec![
        label("opened"),
        Span::raw(format!(
            "{} ({} ago) · level {} · {}",
            inc.triggered_at.format("%H:%M:%S"),
            age(state.now - inc.triggered_at),
            inc.escalation_level + 1,
            if inc.firing {
                "firing"
            } else {
                "signal recovered"
            }
        )),
    ]));
    for e in &inc.evidence {
        lines.push(Line::from(vec![
            label("evidence"),
            Span::raw(e.to_string()),
        ]));
    }
    lines.push(Line::from(vec![
        label("contain"),
        Span::styled(inc.kind.containment(), theme.style(Role::Key)),
    ]));
    if let Some(info) = state.feature_info(inc.feature.as_str()) {
        lines.push(Line::from(vec![
            label("levers"),
            Span::raw(levers(info, state)),
        ]));
    }
    for ((source, op), why) in &state.unsupported {
        if *source == inc.source {
            lines.push(Line::from(vec![
                label("n/a"),
                Span::styled(format!("{op}: {why}"), muted),
            ]));
        }
    }
    if let Some(rb) = state.runbooks.get(&inc.id) {
        let (done, total) = rb.progress();
        lines.push(Line::from(vec![
            label("runbook"),
            Span::raw(format!("{done}/{total} answers confirmed")),
        ]));
    }
    lines.push(Line::styled("timeline", theme.style(Role::Header)));
    // Newest first: at 80x24 only the latest few entries fit.
    for t in inc.timeline.iter().rev() {
        lines.push(Line::from(vec![
            Span::styled(format!("{} ", t.at.format("%H:%M:%S")), muted),
            Span::raw(t.text.to_string()),
        ]));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

/// The feature's prompt version and kill switches as the flag system serves them, so the
/// responder sees what a rollback would change and whether a switch is already thrown.
fn levers(info: &FeatureInfo, state: &State) -> String {
    let mut out = format!(
        "prompt {}",
        info.current_prompt.as_deref().unwrap_or("unknown")
    );
    if let Some(t) = info.prompt_changed_at {
        let when = if state.now - t < chrono::Duration::hours(20) {
            t.format("%H:%M")
        } else {
            t.format("%b %d %H:%M")
        };
        out.push_str(&format!(" since {when} ({} ago)", age(state.now - t)));
    }
    if let Some(lkg) = &info.last_known_good_prompt {
        if Some(lkg) != info.current_prompt.as_ref() {
            out.push_str(&format!(" · last good {lkg}"));
        }
    }
    out.push_str(&match info.killed.as_slice() {
        [] => " · kill switch off".to_string(),
        k => format!(" · KILLED {}", k.join(",")),
    });
    if let Some(src) = &info.flag_source {
        out.push_str(&format!(" · {src}"));
    }
    out
}
