//! The signal pane: every AI signal of one feature, newest on the right, with its threshold.

use super::format::value_age;
use super::sparkline::ThresholdSparkline;
use super::{first_key, pane, Ctx};
use crate::config::keymap::ActionName;
use crate::config::keymap::Mode;
use crate::config::theme::ThemeRole;
use crate::domain::{CoverageState, Freshness, Signal, SignalKind};
use crate::state::{SourceRole, State};
use chrono::{DateTime, Utc};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

const LABEL: u16 = 14;
const VALUE: u16 = 9;
const THRESH: u16 = 11;

fn signal_rows(state: &State, feature: &str) -> Vec<Signal> {
    SignalKind::ALL
        .iter()
        .filter_map(|k| {
            state
                .signals
                .merged
                .signals
                .iter()
                .find(|s| s.feature == feature && s.kind == *k)
                .cloned()
        })
        .collect()
}

/// What the feature's sources said about signals they cannot show as a number (unreliable,
/// not measured), in display order: drawn below the signals that have values.
fn note_rows(state: &State, feature: &str) -> Vec<(SignalKind, String)> {
    let coverage = &state.signals.merged.coverage;
    SignalKind::ALL
        .iter()
        .filter_map(|k| {
            coverage
                .iter()
                .find(|c| {
                    c.feature == feature
                        && c.kind == *k
                        && !matches!(c.state, CoverageState::Fallback(_))
                })
                .map(|c| (*k, c.text()))
        })
        .collect()
}

/// A signal read through a fallback is labelled as one (`≈TTFT p99`); the detail and the
/// evidence say what it measures.
fn label_of(state: &State, sig: &Signal) -> String {
    let fallback = state.signals.merged.coverage.iter().any(|c| {
        c.feature == sig.feature
            && c.kind == sig.kind
            && matches!(c.state, CoverageState::Fallback(_))
    });
    if fallback {
        format!("≈{}", sig.kind.label())
    } else {
        sig.kind.label().to_string()
    }
}

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let state = ctx.state;
    let theme = ctx.theme;
    let feature = state.shown_feature();
    let stale = state
        .sources
        .list
        .iter()
        .any(|s| s.role == SourceRole::Metrics && s.is_stale(state.now));
    let mut title = match &feature {
        Some(f) => format!(" Signals · {f} "),
        None => " Signals ".to_string(),
    };
    // Pinned with next_feature, the pane no longer follows the selection: said first, so a
    // narrow title never cuts it, with the key that lets it follow again.
    if state.signals.pinned.is_some() {
        title.push_str(&format!(
            "PINNED ({} unpins) ",
            first_key(ctx, Mode::Normal, ActionName::Back)
        ));
    }
    if let Some(info) = feature.as_ref().and_then(|f| state.feature_info(f)) {
        // A metrics source knows no prompt, and a feature without token series no model:
        // what is unknown is left out, not drawn as an empty field or a "?".
        if !info.model.is_empty() {
            title.push_str(&format!("· {} ", info.model));
        }
        if let Some(prompt) = info.current_prompt.as_deref() {
            title.push_str(&format!("· prompt {prompt} "));
        }
        if !info.killed.is_empty() {
            title.push_str(&format!("· KILLED {} ", info.killed.join(",")));
        }
    }
    if stale {
        title.push_str("· STALE ");
    }
    let block = pane(title, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(feature) = feature else {
        let has_metrics = state
            .sources
            .list
            .iter()
            .any(|s| s.role == SourceRole::Metrics);
        let msg = if has_metrics {
            "waiting for the first metrics…"
        } else {
            "No metrics source: add a [[prometheus]] section to config.toml (see README)."
        };
        frame.render_widget(
            Paragraph::new(Line::styled(msg, theme.style(ThemeRole::Muted))),
            inner,
        );
        return;
    };
    let rows = signal_rows(state, &feature);
    let notes = note_rows(state, &feature);
    if (rows.is_empty() && notes.is_empty()) || inner.height == 0 {
        return;
    }
    // Taller panes give each signal more rows, so the threshold line becomes visible.
    let per = (inner.height as usize / (rows.len() + notes.len())).clamp(1, 4) as u16;
    let shown = (inner.height / per) as usize;
    let poll = state.signals.merged.at.unwrap_or(state.now);
    let values: Vec<(String, bool)> = rows
        .iter()
        .map(|sig| value_text(sig, poll, state.now))
        .collect();
    // A value shown with its age needs a wider column; every row takes the same width so
    // the sparklines still share one time axis.
    let widest = values
        .iter()
        .take(shown)
        .map(|(v, _)| v.chars().count() as u16 + 1)
        .max()
        .unwrap_or(0);
    let value_w = VALUE.max(widest).min(inner.width / 3);
    let spark_w = inner.width.saturating_sub(LABEL + value_w + THRESH + 2);
    for (n, (sig, (value, current))) in rows.iter().zip(values).take(shown).enumerate() {
        let y = inner.y + n as u16 * per;
        let breaching = state
            .signals
            .detections
            .iter()
            .any(|d| d.feature == feature && d.signal == sig.kind);
        let value_style = if stale || !current {
            theme.style(ThemeRole::Stale)
        } else if breaching {
            theme.style(ThemeRole::SparklineBreach)
        } else {
            theme.style(ThemeRole::Base)
        };
        let label = Line::from(vec![
            Span::styled(
                format!("{:<width$}", label_of(state, sig), width = LABEL as usize),
                theme.style(ThemeRole::Muted),
            ),
            Span::styled(
                format!("{value:>width$} ", width = value_w as usize - 1),
                value_style,
            ),
        ]);
        frame.render_widget(
            Paragraph::new(label),
            Rect::new(inner.x, y, LABEL + value_w, 1),
        );
        let spark_area = Rect::new(inner.x + LABEL + value_w + 1, y, spark_w, per);
        frame.render_widget(
            ThresholdSparkline {
                points: &sig.points,
                bounds: sig.bounds.unwrap_or_default(),
                kind: sig.kind,
                theme,
            },
            spark_area,
        );
        let thr = sig.bounds.map(|b| b.label(sig.kind)).unwrap_or_default();
        let tx = inner.x + inner.width.saturating_sub(THRESH);
        frame.render_widget(
            Paragraph::new(Line::styled(
                format!(" {thr}"),
                theme.style(ThemeRole::Threshold),
            )),
            Rect::new(tx, y, THRESH, 1),
        );
    }
    let first_note = rows.len().min(shown);
    for (n, (kind, text)) in notes.iter().enumerate().take(shown - first_note) {
        let y = inner.y + (first_note + n) as u16 * per;
        let line = Line::from(vec![
            Span::styled(
                format!("{:<width$}", kind.label(), width = LABEL as usize),
                theme.style(ThemeRole::Muted),
            ),
            Span::styled(text.clone(), theme.style(ThemeRole::Stale)),
        ]);
        frame.render_widget(Paragraph::new(line), Rect::new(inner.x, y, inner.width, 1));
    }
}

/// The value column of one signal, and whether it is current: a value is shown as current
/// only when its newest point is within about a step of the poll; an older one carries its
/// age ("$2.98 · 1m37s ago", counted to now), and a window with no value at all says so.
fn value_text(sig: &Signal, poll: DateTime<Utc>, now: DateTime<Utc>) -> (String, bool) {
    match sig.freshness(poll) {
        Freshness::Current(v) => (sig.kind.format(v), true),
        Freshness::Old(n) => (
            format!(
                "{} · {} ago",
                sig.kind.format(n.value),
                value_age(now - n.at)
            ),
            false,
        ),
        Freshness::NoData => ("no data yet".into(), false),
    }
}
