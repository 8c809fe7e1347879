//! The signal pane: every AI signal of one feature, newest on the right, with its threshold.

use super::sparkline::ThresholdSparkline;
use super::{first_key, pane, Ctx};
use crate::config::keymap::ActionName;
use crate::config::keymap::Mode;
use crate::config::theme::ThemeRole;
use crate::domain::{Signal, SignalKind};
use crate::state::{SourceRole, State};
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
        let prompt = info.current_prompt.as_deref().unwrap_or("?");
        title.push_str(&format!("· {} · prompt {prompt} ", info.model));
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
    if rows.is_empty() || inner.height == 0 {
        return;
    }
    // Taller panes give each signal more rows, so the threshold line becomes visible.
    let per = (inner.height as usize / rows.len()).clamp(1, 4) as u16;
    let shown = (inner.height / per) as usize;
    let spark_w = inner.width.saturating_sub(LABEL + VALUE + THRESH + 2);
    for (n, sig) in rows.iter().take(shown).enumerate() {
        let y = inner.y + n as u16 * per;
        let breaching = state
            .signals
            .detections
            .iter()
            .any(|d| d.feature == feature && d.signal == sig.kind);
        let value_style = if stale {
            theme.style(ThemeRole::Stale)
        } else if breaching {
            theme.style(ThemeRole::SparklineBreach)
        } else {
            theme.style(ThemeRole::Base)
        };
        let value = sig
            .last()
            .map(|v| sig.kind.format(v))
            .unwrap_or_else(|| "—".into());
        let label = Line::from(vec![
            Span::styled(
                format!("{:<width$}", sig.kind.label(), width = LABEL as usize),
                theme.style(ThemeRole::Muted),
            ),
            Span::styled(
                format!("{value:>width$} ", width = VALUE as usize - 1),
                value_style,
            ),
        ]);
        frame.render_widget(
            Paragraph::new(label),
            Rect::new(inner.x, y, LABEL + VALUE, 1),
        );
        let spark_area = Rect::new(inner.x + LABEL + VALUE + 1, y, spark_w, per);
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
}
