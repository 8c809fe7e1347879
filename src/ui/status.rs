//! Two footer lines: what just happened (or the main keys), and every source's status.

use super::format::{age, fit};

/// Narrowest a failing source's entry is cut to before it goes behind `+N more`.
const ERROR_MIN: usize = 24;
use crate::config::keymap::ActionName;
use crate::config::keymap::Mode;
use crate::config::theme::{Theme, ThemeRole};
use crate::state::{FlashLevel, Operation};
use crate::ui::{first_key, Ctx};
use chrono::Duration;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// Most important first: on a narrow terminal the tail is dropped, but help always shows.
const HINTS: [(ActionName, &str); 12] = [
    (ActionName::Ack, "ack"),
    (ActionName::Escalate, "escalate"),
    (ActionName::Resolve, "resolve"),
    (ActionName::Note, "note"),
    (ActionName::Rollback, "rollback"),
    (ActionName::KillSwitch, "kill"),
    (ActionName::Runbook, "runbook"),
    (ActionName::Page, "page"),
    (ActionName::Filter, "filter"),
    (ActionName::Describe, "describe"),
    (ActionName::Export, "export"),
    (ActionName::Sources, "sources"),
];

fn hints<'a>(ctx: &Ctx, theme: &Theme, width: usize) -> Vec<Span<'a>> {
    let state = ctx.state;
    let key = |a: ActionName| ctx.keymap.keys_for(Mode::Normal, a).into_iter().next();
    let help = key(ActionName::Help).map(|k| (k, "help"));
    let reserved = help
        .as_ref()
        .map_or(0, |(k, n)| k.chars().count() + n.len() + 1);
    let mut room = width.saturating_sub(reserved);
    let mut spans = Vec::new();
    // Marks change what the incident keys act on, so their count leads the line.
    let marked = state.incidents.marks.len();
    if marked > 0 {
        let text = format!("{marked} marked: keys act on all ");
        room = room.saturating_sub(text.chars().count() + 1);
        spans.push(Span::styled(text, theme.style(ThemeRole::Marked)));
        spans.push(Span::raw(" "));
    }
    for (action, name) in HINTS {
        let Some(k) = key(action) else { continue };
        let need = k.chars().count() + name.len() + 3;
        if need > room {
            break;
        }
        room -= need;
        let unavailable =
            Operation::of(action).is_some_and(|op| state.unsupported_reason(op).is_some());
        let key_role = if unavailable {
            ThemeRole::Muted
        } else {
            ThemeRole::Key
        };
        spans.push(Span::styled(k, theme.style(key_role)));
        spans.push(Span::styled(
            format!(" {name}  "),
            theme.style(ThemeRole::Muted),
        ));
    }
    if let Some((k, name)) = help {
        spans.push(Span::styled(k, theme.style(ThemeRole::Key)));
        spans.push(Span::styled(
            format!(" {name}"),
            theme.style(ThemeRole::Muted),
        ));
    }
    spans
}

/// One entry per source name (a source may play several roles) at its worst state, failing
/// sources first, then stale ones, then every healthy one in a single `● a, b ok`. What does not
/// fit becomes `+N more · s sources`, which opens the view with every source and its whole
/// error, so no source is ever silently off screen.
fn source_spans<'a>(ctx: &Ctx, width: usize) -> Vec<Span<'a>> {
    let state = ctx.state;
    let theme = ctx.theme;
    let mut names: Vec<&str> = Vec::new();
    for s in &state.sources.list {
        if !names.contains(&s.name.as_str()) {
            names.push(&s.name);
        }
    }
    let mut ok = Vec::new();
    let mut troubled: Vec<(u8, String, ThemeRole)> = Vec::new();
    for name in names {
        let roles: Vec<_> = state
            .sources
            .list
            .iter()
            .filter(|s| s.name == name)
            .collect();
        if let Some(f) = roles.iter().find(|s| s.failing()) {
            let err = f.last_error.as_ref().map(|(_, e)| e.as_str()).unwrap_or("");
            let data = match f.age_secs(state.now) {
                Some(a) => format!(" · data {} old", age(Duration::seconds(a))),
                None => String::new(),
            };
            troubled.push((0, format!("✗ {name}: {err}{data}"), ThemeRole::Error));
        } else if let Some(s) = roles.iter().find(|s| s.is_stale(state.now)) {
            let a = s
                .age_secs(state.now)
                .map(|a| age(Duration::seconds(a)))
                .unwrap_or_else(|| "no data yet".into());
            troubled.push((1, format!("◌ {name} STALE {a}"), ThemeRole::Stale));
        } else {
            // Fresh data shows no age: a counter cycling 0s..9s between polls says nothing
            // a responder can act on, and redraws the screen every second. The age appears
            // with STALE, once it means something.
            ok.push(name);
        }
    }
    troubled.sort_by_key(|(rank, _, _)| *rank);
    let mut entries: Vec<(String, ThemeRole)> =
        troubled.into_iter().map(|(_, t, r)| (t, r)).collect();
    if !ok.is_empty() {
        entries.push((format!("● {} ok", ok.join(", ")), ThemeRole::Ok));
    }
    let mut spans = Vec::new();
    let mut room = width;
    let pending = state.actions.pending_count();
    if pending > 0 {
        let text = format!("{pending} action(s) pending  ");
        room = room.saturating_sub(width_of(&text));
        spans.push(Span::styled(text, theme.style(ThemeRole::Pending)));
    }
    let sources_key = first_key(ctx, Mode::Normal, ActionName::Sources);
    let total = entries.len();
    for (n, (text, role)) in entries.into_iter().enumerate() {
        let left = total - n - 1;
        // Room kept for "+N more · s sources" while entries remain after this one.
        let more = if left > 0 {
            width_of(&format!("+{left} more · {sources_key} sources")) + 2
        } else {
            0
        };
        let avail = room.saturating_sub(more);
        let text = if width_of(&text) <= avail {
            text
        } else if role == ThemeRole::Error && avail >= ERROR_MIN {
            // A failure shows as much as fits; its whole text is in the sources view.
            fit(&text, avail)
        } else {
            let hidden = total - n;
            spans.push(Span::styled(
                format!("+{hidden} more · "),
                theme.style(ThemeRole::Warn),
            ));
            spans.push(Span::styled(
                sources_key.clone(),
                theme.style(ThemeRole::Key),
            ));
            spans.push(Span::styled(" sources", theme.style(ThemeRole::Muted)));
            return spans;
        };
        room = room.saturating_sub(width_of(&text) + 2);
        spans.push(Span::styled(text, theme.style(role)));
        spans.push(Span::raw("  "));
    }
    spans
}

/// Cuts a message to `width` columns in the middle of its text, never its closing
/// parenthesis: "✗ ack sim:INC-4 FAILED: <a long error> (t: retry)" keeps the key that
/// retries, and the whole error is in the sources view and the log.
fn keep_tail(text: &str, width: usize) -> String {
    if width_of(text) <= width {
        return text.to_string();
    }
    match text.rfind(" (").filter(|_| text.ends_with(')')) {
        Some(at) if width_of(&text[at..]) + 8 < width => {
            let tail = &text[at..];
            format!("{}{tail}", fit(&text[..at], width - width_of(tail)))
        }
        _ => fit(text, width),
    }
}

fn width_of(s: &str) -> usize {
    crate::domain::text::width(s)
}

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let state = ctx.state;
    let theme = ctx.theme;
    let first = match &state.flash {
        Some(f) => {
            let role = match f.level {
                FlashLevel::Info => ThemeRole::Ok,
                FlashLevel::Warn => ThemeRole::Warn,
                FlashLevel::Error => ThemeRole::Error,
            };
            Line::styled(
                format!(
                    " {}",
                    keep_tail(&f.text, (area.width as usize).saturating_sub(1))
                ),
                theme.style(role),
            )
        }
        None => Line::from(hints(ctx, theme, area.width as usize)),
    };
    let second = Line::from(source_spans(ctx, area.width as usize));
    frame.render_widget(Paragraph::new(vec![first, second]), area);
}
