//! A sparkline that knows its detector threshold: points beyond it are drawn in the breach
//! style, and with two or more rows the threshold itself is drawn as a dotted line.

use crate::config::theme::{Theme, ThemeRole};
use crate::domain::{Bounds, SignalKind};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

const BARS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
const THRESHOLD: char = '┈';

pub struct ThresholdSparkline<'a> {
    pub points: &'a [f64],
    pub bounds: Bounds,
    pub kind: SignalKind,
    pub theme: &'a Theme,
}

/// Shrinks the series to `width` columns keeping the worst value of each group, so a
/// one-bucket spike never disappears in the downsampling.
fn downsample(points: &[f64], width: usize, upward: bool) -> Vec<f64> {
    if points.len() <= width || width == 0 {
        return points.to_vec();
    }
    let per = points.len() as f64 / width as f64;
    (0..width)
        .map(|i| {
            let from = (i as f64 * per) as usize;
            let to = (((i + 1) as f64 * per) as usize).clamp(from + 1, points.len());
            let group = points[from..to].iter().copied().filter(|v| v.is_finite());
            if upward {
                group.fold(f64::NAN, f64::max)
            } else {
                group.fold(f64::NAN, f64::min)
            }
        })
        .collect()
}

impl ThresholdSparkline<'_> {
    fn breach(&self, v: f64) -> bool {
        self.bounds.breached(v)
    }
}

impl Widget for ThresholdSparkline<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.width == 0 || area.height == 0 {
            return;
        }
        let width = area.width as usize;
        // Keep each group's worst value: its lowest for a floor, else its highest.
        let upward = !(self.bounds.high.is_none() && self.bounds.low.is_some());
        let pts = downsample(self.points, width, upward);
        let finite = pts.iter().copied().filter(|v| v.is_finite());
        let lines = [self.bounds.high, self.bounds.low].into_iter().flatten();
        let (mut lo, mut hi) = finite
            .chain(lines)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
        if !lo.is_finite() {
            return;
        }
        // Rates, ratios and latencies are never negative; anchoring at zero keeps bar heights
        // honest. Scores are compared by their range instead, or every bar looks full.
        if self.kind != SignalKind::EvalScore && self.kind != SignalKind::RetrievalHit {
            lo = lo.min(0.0);
        }
        if (hi - lo).abs() < f64::EPSILON {
            hi = lo + 1.0;
        }
        let rows = area.height as usize;
        let levels = (rows * 8) as f64;
        // With room for it, a ceiling gets the top row to itself: values up to it fill the
        // rows below, only a breach reaches into the top row, and the dotted line there never
        // shares a row with ordinary data (where it did, a bar and the line were
        // indistinguishable). Floors and single rows scale linearly.
        let ceiling = self.bounds.high.filter(|_| rows >= 2).filter(|h| *h > lo);
        let below = ((rows - 1) * 8) as f64;
        let scale = |v: f64| -> usize {
            let level = match ceiling {
                Some(h) if v <= h => (v - lo) / (h - lo) * below,
                Some(h) if hi > h => below + (v - h) / (hi - h) * 8.0,
                Some(_) => levels,
                None => (v - lo) / (hi - lo) * levels,
            };
            level.round().clamp(0.0, levels) as usize
        };
        // A value, however low, is drawn as at least the lowest block: a blank cell means no
        // data, and the worst minutes of a falling score must not look like a gap.
        let bar = |v: f64| if v.is_finite() { scale(v).max(1) } else { 0 };
        let offset = width.saturating_sub(pts.len());
        let normal = self.theme.style(ThemeRole::Sparkline);
        let breach = self.theme.style(ThemeRole::SparklineBreach);
        let thr_style = self.theme.style(ThemeRole::Threshold);
        let thr_rows: Vec<usize> = if rows >= 2 {
            let low = self
                .bounds
                .low
                .map(|t| (scale(t).min(rows * 8 - 1) / 8).min(rows - 2));
            let high = match ceiling {
                Some(_) => Some(rows - 1),
                None => self.bounds.high.map(|t| scale(t).min(rows * 8 - 1) / 8),
            };
            [high, low].into_iter().flatten().collect()
        } else {
            Vec::new()
        };
        for (i, v) in pts.iter().enumerate() {
            let x = area.x + (offset + i) as u16;
            let height = bar(*v);
            let style = if v.is_finite() && self.breach(*v) {
                breach
            } else {
                normal
            };
            for row in 0..rows {
                let y = area.y + (rows - 1 - row) as u16;
                let filled = height.saturating_sub(row * 8).min(8);
                let cell = &mut buf[(x, y)];
                if filled == 0 && thr_rows.contains(&row) {
                    cell.set_char(THRESHOLD).set_style(thr_style);
                } else {
                    cell.set_char(BARS[filled]).set_style(style);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsample_keeps_the_spike() {
        let mut pts = vec![1.0; 100];
        pts[57] = 50.0;
        let d = downsample(&pts, 10, true);
        assert_eq!(d.len(), 10);
        assert_eq!(d.iter().copied().fold(0.0, f64::max), 50.0);
        let d = downsample(&[1.0, f64::NAN, 0.2, 3.0], 2, false);
        assert_eq!(d, vec![1.0, 0.2]);
    }

    fn draw(points: &[f64], bounds: Bounds, kind: SignalKind, rows: u16) -> Vec<String> {
        let theme = crate::config::theme::Theme::parse(
            "default",
            crate::config::theme::Theme::builtin("default").expect("built-in"),
        )
        .expect("theme");
        let area = Rect::new(0, 0, points.len() as u16, rows);
        let mut buf = Buffer::empty(area);
        ThresholdSparkline {
            points,
            bounds,
            kind,
            theme: &theme,
        }
        .render(area, &mut buf);
        (0..rows)
            .map(|y| (0..area.width).map(|x| buf[(x, y)].symbol()).collect())
            .collect()
    }

    #[test]
    fn the_lowest_value_is_the_lowest_block_not_a_gap() {
        let eval = draw(
            &[0.9, 0.5, 0.2, f64::NAN, 0.9],
            Bounds {
                low: Some(0.8),
                high: None,
            },
            SignalKind::EvalScore,
            1,
        );
        assert_eq!(eval, ["█▃▁ █"], "only missing data is blank");
    }

    #[test]
    fn a_ceiling_owns_the_top_row_and_only_breaches_reach_it() {
        let rows = draw(
            &[1.0, 2.0, 3.9, 4.0, 8.0],
            Bounds {
                low: None,
                high: Some(4.0),
            },
            SignalKind::ErrorRatio,
            2,
        );
        assert_eq!(rows[0], "┈┈┈┈█", "the line alone, and the breach: {rows:?}");
        assert_eq!(rows[1], "▂▄███", "{rows:?}");
    }
}
