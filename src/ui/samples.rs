//! The samples view: what the incident's model said, now and before. A list per window (side
//! by side when the screen is wide enough, one at a time otherwise), with the refusal
//! templates and the segment split above it; `enter` opens one sample whole, with the
//! parameters to reproduce it.

use super::{first_key, key_hints, scroll_hint, Ctx};
use crate::config::keymap::{ActionName, Mode};
use crate::config::theme::ThemeRole;
use crate::domain::sample::{Sample, Window};
use crate::domain::split::split;
use crate::domain::text::{fit, wrap};
use crate::domain::SignalKind;
use crate::state::samples::{reproduce, rows, template_counts, SamplesView};
use crate::state::State;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

/// From this width both windows show side by side.
const SIDE_BY_SIDE: u16 = 150;

fn window_name(w: Window) -> &'static str {
    match w {
        Window::Incident => "incident",
        Window::Baseline => "baseline",
    }
}

pub fn render(frame: &mut Frame, area: Rect, view: &SamplesView, ctx: &Ctx) {
    let theme = ctx.theme;
    frame.render_widget(Clear, area);
    let title = format!(
        " Samples · {} · {} ",
        view.feature,
        match view.open {
            Some(_) => "one sample",
            None => "what the model said",
        }
    );
    let block = Block::bordered()
        .title(Line::styled(title, theme.style(ThemeRole::Title)))
        .border_style(theme.style(ThemeRole::Border))
        .style(theme.style(ThemeRole::Base));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [body, footer] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    match view.open {
        Some(scroll) => {
            let key = first_key(ctx, Mode::Normal, ActionName::WriteSample);
            let lines: Vec<Line> = sample_lines(ctx.state, view, &key, usize::from(body.width))
                .into_iter()
                .map(|(text, role)| Line::styled(text, theme.style(role)))
                .collect();
            let rows_shown = usize::from(body.height);
            let first = scroll.min(lines.len().saturating_sub(rows_shown));
            let total = lines.len();
            let shown: Vec<Line> = lines.into_iter().skip(first).take(rows_shown).collect();
            frame.render_widget(Paragraph::new(shown), body);
            let hint =
                scroll_hint(ctx, Mode::Normal, first, rows_shown, total).unwrap_or_else(|| {
                    key_hints(
                        ctx,
                        Mode::Normal,
                        &[
                            (ActionName::Back, "list"),
                            (ActionName::WriteSample, "write to a file"),
                        ],
                    )
                });
            frame.render_widget(Paragraph::new(hint), footer);
        }
        None => {
            if area.width >= SIDE_BY_SIDE {
                let [left, right] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)])
                    .spacing(2)
                    .areas(body);
                list(frame, left, view, Window::Incident, ctx);
                list(frame, right, view, Window::Baseline, ctx);
            } else {
                list(frame, body, view, view.window, ctx);
            }
            let hints = key_hints(
                ctx,
                Mode::Normal,
                &[
                    (ActionName::SampleWindow, "window"),
                    (ActionName::SampleSort, "sort"),
                    (ActionName::Filter, "filter"),
                    (ActionName::ToggleDetail, "open"),
                    (ActionName::Back, "back"),
                ],
            );
            frame.render_widget(Paragraph::new(hints), footer);
        }
    }
}

/// What the view says instead of rows: still fetching, failed, none configured, none.
fn status_line(state: &State, view: &SamplesView, window: Window) -> Option<(String, ThemeRole)> {
    if state.sources.samples_source.is_none() {
        return Some((
            "no samples source configured: add a [[phoenix]] source (README, Real backends)".into(),
            ThemeRole::Warn,
        ));
    }
    match state.samples.get(&view.feature, window) {
        None if state.samples.is_pending(&view.feature, window) => {
            Some(("fetching…".into(), ThemeRole::Pending))
        }
        None => Some(("not fetched".into(), ThemeRole::Muted)),
        Some(f) => match &f.result {
            Err(e) => Some((format!("✗ {}: {e}", f.source), ThemeRole::Error)),
            Ok(list) if list.is_empty() => {
                Some(("no requests kept in this window".into(), ThemeRole::Muted))
            }
            // The rows shown may not hold the window's worst: said above them.
            Ok(_) => f.note.clone().map(|n| (n, ThemeRole::Warn)),
        },
    }
}

fn list(frame: &mut Frame, area: Rect, view: &SamplesView, window: Window, ctx: &Ctx) {
    let state = ctx.state;
    let theme = ctx.theme;
    let width = usize::from(area.width);
    let (from, to) = view.range(window);
    let shown = rows(&state.samples, view, window);
    let all = state.samples.of(&view.feature, window).len();
    let mut lines = Vec::new();
    let counted = if view.filter.is_empty() {
        format!("{all}")
    } else {
        format!("{} of {all} matching {:?}", shown.len(), view.filter)
    };
    let marker = if window == view.window && area.width < SIDE_BY_SIDE {
        format!("[{}]", window_name(window))
    } else {
        window_name(window).to_string()
    };
    lines.push(Line::from(vec![
        Span::styled(marker, theme.style(ThemeRole::Header)),
        Span::styled(
            fit(
                &format!(
                    " {}–{} · {counted} · sort: {}",
                    from.format("%H:%M"),
                    to.format("%H:%M"),
                    view.sort.name()
                ),
                width.saturating_sub(10),
            ),
            theme.style(ThemeRole::Muted),
        ),
    ]));
    // Which refusal phrases the outputs hold, and how often, in this window.
    let templates = &state.samples.settings.refusal_templates;
    let counts = template_counts(&state.samples, &view.feature, window);
    let found: Vec<String> = templates
        .iter()
        .zip(&counts)
        .filter(|(_, n)| **n > 0)
        .map(|(t, n)| format!("\"{t}\" {n}"))
        .collect();
    lines.push(Line::styled(
        fit(
            &if found.is_empty() {
                "refusal templates: none matched".to_string()
            } else {
                format!("refusal templates: {}", found.join(" · "))
            },
            width,
        ),
        theme.style(ThemeRole::Muted),
    ));
    for text in split_lines(state, view, window) {
        lines.push(Line::styled(
            fit(&text, width),
            theme.style(ThemeRole::Muted),
        ));
    }
    if let Some((text, role)) = status_line(state, view, window) {
        lines.push(Line::styled(fit(&text, width), theme.style(role)));
    }
    let head = lines.len();
    let room = usize::from(area.height).saturating_sub(head);
    let selected = (window == view.window).then_some(view.selected);
    let first = selected.map_or(0, |s| s.saturating_sub(room.saturating_sub(1)));
    for (i, s) in shown.iter().enumerate().skip(first).take(room) {
        let style = if selected == Some(i) {
            theme.style(ThemeRole::Selected)
        } else {
            row_style(ctx, s)
        };
        lines.push(Line::styled(fit(&row(state, s), width), style));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// The most segments the view names, spender first: the scopes a kill switch would choose
/// between.
const SEGMENT_LINES: usize = 3;

/// Who the window's traffic comes from: a line per segment where signals split it by
/// segment, else the samples' counts on one line; then the users spending most tokens.
fn split_lines(state: &State, view: &SamplesView, window: Window) -> Vec<String> {
    let split = split(
        &state.signals.merged,
        state.samples.of(&view.feature, window),
        |s| state.samples.refused(s),
        &view.feature,
        view.range(window),
    );
    let mut lines = Vec::new();
    if split.measured {
        for r in split.rows.iter().take(SEGMENT_LINES) {
            lines.push(format!("segment {} · {}", r.segment, r.summary()));
        }
        if split.rows.len() > SEGMENT_LINES {
            lines.push(format!(
                "+{} more segments",
                split.rows.len() - SEGMENT_LINES
            ));
        }
    } else if !split.rows.is_empty() {
        let parts: Vec<String> = split
            .rows
            .iter()
            .map(|r| format!("{} {}", r.segment, r.summary()))
            .collect();
        lines.push(format!(
            "segments (samples, not split by metrics): {}",
            parts.join(" · ")
        ));
    }
    if !split.top_users.is_empty() {
        let users: Vec<String> = split
            .top_users
            .iter()
            .map(|(u, n)| format!("{u} {}", SignalKind::TokensPerMin.format(*n as f64)))
            .collect();
        lines.push(format!(
            "top users by tokens (samples): {}",
            users.join(" · ")
        ));
    }
    lines
}

fn row_style(ctx: &Ctx, s: &Sample) -> Style {
    let bad = s.error.is_some()
        || s.labels
            .iter()
            .any(|l| l.as_str() != "refused" && !l.as_str().is_empty());
    if bad {
        ctx.theme.style(ThemeRole::Warn)
    } else {
        ctx.theme.style(ThemeRole::Base)
    }
}

/// One row: time, segment, prompt, status, tokens, latency, eval, labels, start of output.
fn row(state: &State, s: &Sample) -> String {
    let status = match &s.error {
        Some(_) => "ERR",
        None if state.samples.refused(s) => "ref",
        None => "ok",
    };
    let tokens = s.input_tokens.unwrap_or(0) + s.output_tokens.unwrap_or(0);
    let tokens = if tokens >= 10_000 {
        format!("{}k", tokens / 1000)
    } else {
        tokens.to_string()
    };
    let mut labels: Vec<&str> = s
        .labels
        .iter()
        .map(|l| l.as_str())
        .filter(|l| *l != "refused")
        .collect();
    if labels.is_empty() && status == "ref" {
        labels.push("refused");
    }
    let output = s
        .error
        .as_ref()
        .map_or_else(|| s.output.as_str().replace('\n', " "), |e| e.to_string());
    format!(
        "{} {:<10} {:<4} {:<3} {:>5} {:>5} {:>4} {} {}",
        s.at.format("%H:%M:%S"),
        fit(s.segment.as_ref().map_or("-", |t| t.as_str()), 10),
        fit(s.prompt_version.as_ref().map_or("-", |t| t.as_str()), 4),
        status,
        tokens,
        s.latency_secs
            .map_or_else(|| "-".into(), |l| format!("{l:.1}s")),
        s.eval_score
            .map_or_else(|| "-".into(), |e| format!("{e:.2}")),
        if labels.is_empty() {
            String::new()
        } else {
            format!("[{}]", labels.join(","))
        },
        output
    )
}

/// The selected sample whole, as lines of `width`, each with the role it is drawn in.
fn sample_lines(
    state: &State,
    view: &SamplesView,
    write_key: &str,
    width: usize,
) -> Vec<(String, ThemeRole)> {
    let list = rows(&state.samples, view, view.window);
    let Some(s) = list.get(view.selected) else {
        return vec![(
            "the sample is no longer in the list".into(),
            ThemeRole::Muted,
        )];
    };
    let width = width.max(1);
    let mut out = Vec::new();
    let mut field = |name: &str, value: String| {
        out.push((fit(&format!("{name:<10}{value}"), width), ThemeRole::Base));
    };
    let opt = |v: Option<&crate::domain::SafeText>| v.map_or("-".to_string(), |t| t.to_string());
    field("id", s.id.to_string());
    field("time", s.at.format("%Y-%m-%d %H:%M:%S UTC").to_string());
    field(
        "who",
        format!("{} · {}", opt(s.segment.as_ref()), opt(s.user.as_ref())),
    );
    field(
        "served",
        format!(
            "{} · prompt {}",
            opt(s.model.as_ref()),
            opt(s.prompt_version.as_ref())
        ),
    );
    field(
        "result",
        match &s.error {
            Some(e) => format!("ERROR {e}"),
            None => format!(
                "{} in + {} out tokens · {} · {} · eval {}",
                s.input_tokens.map_or("?".into(), |v| v.to_string()),
                s.output_tokens.map_or("?".into(), |v| v.to_string()),
                s.cost.map_or("-".into(), |c| format!("${c:.4}")),
                s.latency_secs.map_or("-".into(), |l| format!("{l:.2}s")),
                s.eval_score.map_or("-".into(), |e| format!("{e:.2}")),
            ),
        },
    );
    let mut labels: Vec<String> = s.labels.iter().map(|l| l.to_string()).collect();
    if let Some(i) = state.samples.settings.refusal_template(s.output.as_str()) {
        labels.push(format!(
            "refusal template \"{}\"",
            state.samples.settings.refusal_templates[i]
        ));
    }
    field(
        "labels",
        if labels.is_empty() {
            "none".into()
        } else {
            labels.join(", ")
        },
    );
    let mut text_block = |title: &str, text: &str| {
        out.push((title.to_string(), ThemeRole::Title));
        for line in text.lines() {
            for r in wrap(line, width) {
                out.push((line[r].to_string(), ThemeRole::Base));
            }
        }
        if text.is_empty() {
            out.push(("(empty)".into(), ThemeRole::Muted));
        }
    };
    text_block("── input", s.input.as_str());
    text_block("── output", s.output.as_str());
    if !s.retrieved.is_empty() {
        out.push(("── retrieved".into(), ThemeRole::Title));
        for d in &s.retrieved {
            let hit = match d.hit {
                Some(true) => "hit ",
                Some(false) => "MISS",
                None => "?   ",
            };
            let score = d.score.map_or(String::new(), |v| format!(" score {v:.2}"));
            out.push((
                fit(&format!("{hit} {}{score}", d.id), width),
                ThemeRole::Base,
            ));
        }
    }
    out.push(("── reproduce".into(), ThemeRole::Title));
    let repro = reproduce(s);
    for r in wrap(&repro, width) {
        out.push((repro[r].to_string(), ThemeRole::Key));
    }
    out.push((
        fit(
            &format!("{write_key}: write this sample (and its reproduce line) to a file"),
            width,
        ),
        ThemeRole::Muted,
    ));
    out
}

/// How far the open sample can scroll at the current size.
pub fn max_scroll(state: &State, view: &SamplesView) -> usize {
    let (w, h) = state.size;
    let body_w = usize::from(w.saturating_sub(2));
    // Border, footer hints, and the status line left visible under the view.
    let body_h = usize::from(h.saturating_sub(4));
    sample_lines(state, view, "w", body_w)
        .len()
        .saturating_sub(body_h)
}
