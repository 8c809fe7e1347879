//! The shadow table of a lever's confirmation: the target variant's figures beside the
//! current one's, each with its count, or what stands in their way (asking, failed, no
//! shadow traffic). Read from `State::shadow` each frame; the dialog reserves exactly the
//! rows `content` yields.

use super::{first_key, Ctx};
use crate::config::keymap::{ActionName, Mode};
use crate::config::theme::ThemeRole;
use crate::domain::shadow::{Figure, Measured, ShadowRequest, VariantFigures};
use crate::domain::text::fit;
use crate::state::{Compared, Confirm, State};
use ratatui::text::Line;

/// Columns of the figure names.
const LABEL_W: usize = 10;

/// "1.2k" for a count: the table has room for a figure and its count, not for digits.
pub fn count(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=99_999 => format!("{:.1}k", n as f64 / 1e3),
        100_000..=999_999 => format!("{}k", n / 1_000),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

fn cell(figure: Figure, r: Option<&Result<Measured, String>>) -> String {
    match r {
        Some(Ok(m)) => format!("{} ({})", figure.format(m.value), count(m.count)),
        _ => "no data".into(),
    }
}

fn variant_head(v: &VariantFigures) -> String {
    let how = if v.shadow { "shadow" } else { "live" };
    format!("{} {how} (n)", v.value)
}

/// Rows of the table as (style, text), each at most `width` columns. Pure in the state, so
/// the dialog's height and its scroll limit agree with what is drawn.
pub fn content(state: &State, c: &Confirm, width: usize, retry: &str) -> Vec<(ThemeRole, String)> {
    let Some(request) = &c.shadow else {
        return Vec::new();
    };
    let mut rows = vec![(ThemeRole::Header, title(request))];
    match state.shadow.of(request) {
        None => rows.push((
            ThemeRole::Muted,
            format!("not compared yet ({retry}: compare)"),
        )),
        Some(Compared::Asking { source, since }) => {
            let secs = (state.now - *since).num_seconds().max(0);
            rows.push((
                ThemeRole::Pending,
                format!("comparing… asked of {source} {secs}s ago ({retry}: ask again)"),
            ));
        }
        Some(Compared::Failed { error, .. }) => rows.push((
            ThemeRole::Error,
            format!("comparison FAILED: {error} ({retry}: ask again)"),
        )),
        Some(Compared::Answered { answer, .. }) => {
            let value_w = width.saturating_sub(LABEL_W) / 2;
            let row = |label: &str, a: &str, b: &str| {
                format!(
                    "{:<LABEL_W$}{:<value_w$}{}",
                    fit(label, LABEL_W - 1),
                    fit(a, value_w.saturating_sub(1)),
                    fit(b, value_w.saturating_sub(1)),
                )
            };
            rows.push((
                ThemeRole::Header,
                row(
                    "figure",
                    &variant_head(&answer.current),
                    &variant_head(&answer.target),
                ),
            ));
            for f in Figure::ALL {
                rows.push((
                    ThemeRole::Base,
                    row(
                        f.label(),
                        &cell(f, answer.current.get(f)),
                        &cell(f, answer.target.get(f)),
                    ),
                ));
            }
            if !answer.target.has_data() {
                rows.push((ThemeRole::Warn, request.no_target_data()));
            }
            if !answer.current.has_data() {
                rows.push((
                    ThemeRole::Warn,
                    format!(
                        "no series for {} in {} (label {})",
                        request.current,
                        request.window_words(),
                        request.label
                    ),
                ));
            }
            if let Some(note) = &answer.latency_note {
                rows.push((ThemeRole::Muted, format!("TTFT p95: {note}")));
            }
        }
    }
    rows.into_iter().map(|(r, t)| (r, fit(&t, width))).collect()
}

fn title(r: &ShadowRequest) -> String {
    format!(
        "{} {} {} vs {} · {}",
        r.feature,
        r.axis.noun(),
        r.current,
        r.target,
        r.window_words()
    )
}

/// Rows the table takes in a dialog `width` columns wide.
pub fn height(state: &State, c: &Confirm, width: usize) -> usize {
    content(state, c, width, "t").len()
}

pub fn lines(ctx: &Ctx, c: &Confirm, width: usize) -> Vec<Line<'static>> {
    let retry = first_key(ctx, Mode::Dialog, ActionName::Retry);
    content(ctx.state, c, width, &retry)
        .into_iter()
        .map(|(role, text)| Line::styled(text, ctx.theme.style(role)))
        .collect()
}
