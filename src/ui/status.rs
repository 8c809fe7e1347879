//! Two footer lines: what just happened (or the main keys), and the health of every source.

use super::format::{age, fit};

/// Longest error text per source in the footer; the full text is in the log.
const ERROR_WIDTH: usize = 72;
use crate::action::Action;
use crate::config::keymap::Mode;
use crate::config::theme::{Role, Theme};
use crate::state::{FlashLevel, State};
use crate::ui::View;
use chrono::Duration;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// Most important first: on a narrow terminal the tail is dropped, but help always shows.
const HINTS: [(Action, &str); 10] = [
    (Action::Ack, "ack"),
    (Action::Escalate, "escalate"),
    (Action::Resolve, "resolve"),
    (Action::Note, "note"),
    (Action::Rollback, "rollback"),
    (Action::KillSwitch, "kill"),
    (Action::Runbook, "runbook"),
    (Action::Page, "page"),
    (Action::Filter, "filter"),
    (Action::Export, "export"),
];

/// The incident operation an action performs, for greying out what a source cannot do.
fn op_of(action: &Action) -> Option<&'static str> {
    match action {
        Action::Ack => Some("ack"),
        Action::Escalate => Some("escalate"),
        Action::Resolve => Some("resolve"),
        Action::Note => Some("note"),
        _ => None,
    }
}

fn hints<'a>(state: &State, view: &View, theme: &Theme, width: usize) -> Vec<Span<'a>> {
    let key = |a: &Action| view.keymap.keys_for(Mode::Normal, a).into_iter().next();
    let help = key(&Action::Help).map(|k| (k, "help"));
    let reserved = help
        .as_ref()
        .map_or(0, |(k, n)| k.chars().count() + n.len() + 1);
    let mut room = width.saturating_sub(reserved);
    let mut spans = Vec::new();
    for (action, name) in HINTS {
        let Some(k) = key(&action) else { continue };
        let need = k.chars().count() + name.len() + 3;
        if need > room {
            break;
        }
        room -= need;
        let unavailable = op_of(&action).is_some_and(|op| state.unsupported_reason(op).is_some());
        let key_role = if unavailable { Role::Muted } else { Role::Key };
        spans.push(Span::styled(k, theme.style(key_role)));
        spans.push(Span::styled(format!(" {name}  "), theme.style(Role::Muted)));
    }
    if let Some((k, name)) = help {
        spans.push(Span::styled(k, theme.style(Role::Key)));
        spans.push(Span::styled(format!(" {name}"), theme.style(Role::Muted)));
    }
    spans
}

/// One entry per source name (a source may play several roles), at its worst state, failing
/// sources first: with many sources on a narrow terminal the errors are what must show.
fn source_spans<'a>(state: &State, theme: &Theme) -> Vec<Span<'a>> {
    let mut names: Vec<&str> = Vec::new();
    for s in &state.sources {
        if !names.contains(&s.name.as_str()) {
            names.push(&s.name);
        }
    }
    let mut entries: Vec<(u8, Span<'a>)> = names
        .into_iter()
        .map(|name| {
            let roles: Vec<_> = state.sources.iter().filter(|s| s.name == name).collect();
            if let Some(f) = roles.iter().find(|s| s.failing()) {
                let err = f.last_error.as_ref().map(|(_, e)| e.as_str()).unwrap_or("");
                let data = match f.age_secs(state.now) {
                    Some(a) => format!(" · data {} old", age(Duration::seconds(a))),
                    None => String::new(),
                };
                let text = format!("✗ {name}: {}{data}", fit(err, ERROR_WIDTH));
                (0, Span::styled(text, theme.style(Role::Error)))
            } else if let Some(s) = roles.iter().find(|s| s.is_stale(state.now)) {
                let a = s
                    .age_secs(state.now)
                    .map(|a| age(Duration::seconds(a)))
                    .unwrap_or_else(|| "no data yet".into());
                (
                    1,
                    Span::styled(format!("◌ {name} STALE {a}"), theme.style(Role::Stale)),
                )
            } else {
                // Fresh data shows no age: a counter cycling 0s..9s between polls says nothing
                // a responder can act on, and redraws the screen every second. The age appears
                // with STALE, once it means something.
                (
                    2,
                    Span::styled(format!("● {name} ok"), theme.style(Role::Ok)),
                )
            }
        })
        .collect();
    entries.sort_by_key(|(rank, _)| *rank);
    let mut spans = Vec::new();
    for (_, span) in entries {
        spans.push(span);
        spans.push(Span::raw("  "));
    }
    let pending = state.pending_count();
    if pending > 0 {
        spans.push(Span::styled(
            format!("{pending} action(s) pending"),
            theme.style(Role::Pending),
        ));
    }
    spans
}

pub fn render(frame: &mut Frame, area: Rect, state: &State, view: &View) {
    let theme = view.theme;
    let first = match &state.flash {
        Some(f) => {
            let role = match f.level {
                FlashLevel::Info => Role::Ok,
                FlashLevel::Warn => Role::Warn,
                FlashLevel::Error => Role::Error,
            };
            Line::styled(format!(" {}", f.text), theme.style(role))
        }
        None => Line::from(hints(state, view, theme, area.width as usize)),
    };
    let second = Line::from(source_spans(state, theme));
    frame.render_widget(Paragraph::new(vec![first, second]), area);
}
