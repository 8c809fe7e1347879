//! The `query_range` wire format: the grid a query is evaluated on, and decoding an
//! answer (or an error body) into series laid on that grid.

use crate::backend::http;
use crate::backend::BackendError;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The instants one query is evaluated at: `len` points `step_ms` apart, the last at
/// `end_ms()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Grid {
    pub(super) start_ms: i64,
    pub(super) step_ms: i64,
    pub(super) len: usize,
}

/// How far from a slot a returned timestamp may be and still be that slot's: the float
/// seconds of the wire carry milliseconds, and a millisecond either way is their rounding.
const ON_SLOT_MS: f64 = 1.0;

impl Grid {
    pub(super) fn ending_at(end_ms: i64, range_secs: u64, step_secs: u32) -> Grid {
        let steps = range_secs / u64::from(step_secs);
        let step_ms = i64::from(step_secs) * 1000;
        Grid {
            start_ms: end_ms - steps as i64 * step_ms,
            step_ms,
            len: steps as usize + 1,
        }
    }

    /// The grid a poll at `now_ms` asks for: it ends on the newest multiple of `align_secs`
    /// at least `lag_ms` before now. Engines with a response cache (VictoriaMetrics,
    /// Mimir's query-frontend) answer a query whose start and end are multiples of the step
    /// on exactly those instants; an unaligned one comes back shifted onto their own grid.
    /// `lag_ms` is the engine's latency offset: instants closer to now than that come back
    /// filled from the point before them, so they are not asked for.
    pub(super) fn aligned(
        now_ms: i64,
        lag_ms: i64,
        align_secs: u32,
        range_secs: u64,
        step_secs: u32,
    ) -> Grid {
        let align_ms = i64::from(align_secs.max(1)) * 1000;
        let end_ms = now_ms.saturating_sub(lag_ms).div_euclid(align_ms) * align_ms;
        Grid::ending_at(end_ms, range_secs, step_secs)
    }

    pub(super) fn end_ms(&self) -> i64 {
        self.start_ms + (self.len as i64 - 1) * self.step_ms
    }

    /// Which slot a returned timestamp (float seconds) is, if it is one: a point between
    /// two slots belongs to neither, and rounding it into the nearest would show a value
    /// under an instant it was not computed for.
    /// In floats throughout: a server can send any number as a timestamp, and integer
    /// arithmetic on one far off the grid overflows.
    fn index(&self, t_secs: f64) -> Option<usize> {
        let offset_ms = (t_secs * 1000.0).round() - self.start_ms as f64;
        let k = (offset_ms / self.step_ms as f64).round();
        let on_slot = (offset_ms - k * self.step_ms as f64).abs() <= ON_SLOT_MS;
        // NaN fails every comparison.
        (on_slot && k >= 0.0 && k < self.len as f64).then_some(k as usize)
    }

    /// The grid an answer is actually on. An engine that shifted the query onto its own
    /// instants (a response cache rounding an unaligned range) answers `phase` ms after our
    /// slots: its points keep their own times on a grid as long as ours, ending at its
    /// newest instant not after ours, instead of each being rounded into a neighbour's slot.
    fn shifted_to(&self, t_secs: f64) -> Grid {
        let offset_ms = (t_secs * 1000.0).round() - self.start_ms as f64;
        if !offset_ms.is_finite() {
            return *self;
        }
        let phase = offset_ms.rem_euclid(self.step_ms as f64);
        if phase <= ON_SLOT_MS || self.step_ms as f64 - phase <= ON_SLOT_MS {
            return *self;
        }
        Grid {
            start_ms: self.start_ms + phase as i64 - self.step_ms,
            ..*self
        }
    }
}

/// A timestamp parameter in seconds with millisecond precision, the resolution Prometheus
/// keeps.
pub(super) fn secs_param(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// One series of a query result, already laid on the answer's grid (NaN = no value).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Series {
    pub(super) labels: BTreeMap<String, String>,
    pub(super) points: Vec<f64>,
}

/// One query's answer laid on a grid: the query's own, or the one the engine shifted it to.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Answer {
    pub(super) series: Vec<Series>,
    /// The instant of the last slot.
    pub(super) end_ms: i64,
    /// Points on no slot of that grid, dropped.
    pub(super) off_grid: usize,
    /// How far the engine moved the grid back, in ms (0: answered on the query's grid).
    pub(super) shifted_ms: i64,
}

#[derive(Debug, Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Matrix>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Matrix {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<RawSeries>,
}

#[derive(Debug, Deserialize)]
struct RawSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// One `query_range` answer, HTTP status and body, to series laid on `grid` (or on the grid
/// the engine moved it to).
pub(super) fn decode_query_range(
    status: u16,
    body: &[u8],
    grid: Grid,
) -> Result<Answer, BackendError> {
    if !(200..300).contains(&status) {
        return Err(api_error(status, body));
    }
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| BackendError::Malformed(e.to_string()))?;
    on_grid(matrix(envelope)?, grid)
}

/// `errorType: error` from Prometheus's error JSON, else an excerpt of whatever came back
/// (a proxy's HTML page, say).
fn api_error(status: u16, body: &[u8]) -> BackendError {
    let message = match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope {
            error_type: Some(t),
            error: Some(e),
            ..
        }) => format!("{t}: {e}"),
        _ => http::excerpt(&String::from_utf8_lossy(body)),
    };
    BackendError::Http { status, message }
}

fn matrix(envelope: Envelope) -> Result<Vec<RawSeries>, BackendError> {
    if envelope.status != "success" {
        let detail = envelope.error.unwrap_or_default();
        return Err(BackendError::Malformed(format!(
            "status {:?} with HTTP 200: {detail}",
            envelope.status
        )));
    }
    match envelope.data {
        Some(m) if m.result_type == "matrix" => Ok(m.result),
        Some(m) => Err(BackendError::Malformed(format!(
            "expected a matrix, got {:?}",
            m.result_type
        ))),
        None => Err(BackendError::Malformed("success without data".into())),
    }
}

fn on_grid(raw: Vec<RawSeries>, asked: Grid) -> Result<Answer, BackendError> {
    // One engine evaluates one query on one set of instants: the first timestamp says which.
    let grid = raw
        .iter()
        .find_map(|r| r.values.first())
        .map_or(asked, |(t, _)| asked.shifted_to(*t));
    let mut off_grid = 0;
    let series = raw
        .into_iter()
        .map(|r| {
            let mut points = vec![f64::NAN; grid.len];
            for (t, v) in &r.values {
                let value = parse_value(v).ok_or_else(|| {
                    BackendError::Malformed(format!("value {v:?} is not a number"))
                })?;
                match grid.index(*t) {
                    Some(i) => points[i] = value,
                    None => off_grid += 1,
                }
            }
            Ok(Series {
                labels: r.metric,
                points,
            })
        })
        .collect::<Result<Vec<_>, BackendError>>()?;
    Ok(Answer {
        series,
        end_ms: grid.end_ms(),
        off_grid,
        shifted_ms: asked.end_ms() - grid.end_ms(),
    })
}

/// Prometheus sends sample values as strings, including "NaN", "+Inf" and "-Inf". The
/// cockpit has no use for infinities (a quantile past the last bucket, a ratio over zero):
/// every non-finite value is "no value", NaN.
fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" | "+Inf" | "-Inf" | "Inf" => Some(f64::NAN),
        _ => s
            .parse::<f64>()
            .ok()
            .map(|v| if v.is_finite() { v } else { f64::NAN }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_ends_at_now_and_maps_timestamps() {
        let g = Grid::ending_at(1_000_000_500, 7200, 60);
        assert_eq!(g.len, 121);
        assert_eq!(g.end_ms(), 1_000_000_500);
        assert_eq!(g.start_ms, 1_000_000_500 - 7_200_000);
        assert_eq!(g.index(992_800.5), Some(0));
        assert_eq!(g.index(1_000_000.5), Some(120));
        assert_eq!(g.index(1_000_060.5), None);
        assert_eq!(g.index(992_740.5), None);
        // Between two slots is neither's, however near the one it would round to.
        assert_eq!(g.index(1_000_000.502), None);
        assert_eq!(g.index(999_977.5), None);
        assert_eq!(g.index(1_000_000.500_6), Some(120));
        assert_eq!(secs_param(1_000_000_500), "1000000.500");
        assert_eq!(secs_param(60_000), "60.000");
        // A range that is not a whole number of steps keeps the end at now.
        let g = Grid::ending_at(100_000, 90, 60);
        assert_eq!((g.start_ms, g.len), (40_000, 2));
    }

    #[test]
    fn a_poll_asks_for_the_step_grid_its_engine_has_answered_by_then() {
        // 12:00:23.4 at one-minute steps: the grid ends at 12:00:00.
        let now = 1_800_000_023_400;
        let g = Grid::aligned(now, 0, 60, 7200, 60);
        assert_eq!(
            (g.end_ms(), g.start_ms, g.len),
            (1_800_000_000_000, 1_799_992_800_000, 121)
        );
        // With a 30 s latency offset, 12:00:00 is still being filled: 11:59:00.
        let g = Grid::aligned(now, 30_000, 60, 7200, 60);
        assert_eq!(g.end_ms(), 1_799_999_940_000);
        // Daily points end on the source's step, not at midnight.
        let g = Grid::aligned(now, 0, 60, 7 * 86_400, 86_400);
        assert_eq!((g.end_ms(), g.len), (1_800_000_000_000, 8));
        // Already on the grid stays there.
        assert_eq!(
            Grid::aligned(1_800_000_000_000, 0, 60, 120, 60).end_ms(),
            1_800_000_000_000
        );
    }

    fn body(series: &[(&str, &[(f64, &str)])]) -> Vec<u8> {
        let result: Vec<serde_json::Value> = series
            .iter()
            .map(|(job, values)| {
                let values: Vec<serde_json::Value> = values
                    .iter()
                    .map(|(t, v)| serde_json::json!([t, v]))
                    .collect();
                serde_json::json!({"metric": {"job": job}, "values": values})
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "status": "success",
            "data": {"resultType": "matrix", "result": result}
        }))
        .expect("json")
    }

    #[test]
    fn an_answer_shifted_off_the_grid_keeps_its_own_times() {
        // Asked for 11:57..12:00 at minute steps; the engine answered 23 s earlier on each
        // instant, without the newest: 11:56:37, 11:57:37, 11:58:37.
        let grid = Grid::ending_at(1_800_000_000_000, 180, 60);
        let b = body(&[(
            "a",
            &[
                (1_799_999_797.0, "1"),
                (1_799_999_857.0, "2"),
                (1_799_999_917.0, "3"),
            ],
        )]);
        let answer = decode_query_range(200, &b, grid).expect("decodes");
        // Its grid ends at 11:59:37, 23 s before ours; the newest slot there is empty and
        // nothing was rounded into 12:00.
        assert_eq!(answer.end_ms, 1_799_999_977_000);
        assert_eq!(answer.shifted_ms, 23_000);
        assert_eq!(answer.off_grid, 0);
        let p = &answer.series[0].points;
        assert_eq!(&p[..3], &[1.0, 2.0, 3.0]);
        assert!(p[3].is_nan());
    }

    #[test]
    fn points_between_slots_are_dropped_and_counted_never_rounded_in() {
        let grid = Grid::ending_at(1_800_000_000_000, 120, 60);
        let b = body(&[(
            "a",
            &[
                (1_799_999_880.0, "1"),
                (1_799_999_940.0, "2"),
                (1_799_999_970.0, "9"),
                (1_800_000_000.0, "3"),
            ],
        )]);
        let answer = decode_query_range(200, &b, grid).expect("decodes");
        assert_eq!(
            (answer.end_ms, answer.shifted_ms, answer.off_grid),
            (1_800_000_000_000, 0, 1)
        );
        assert_eq!(answer.series[0].points, vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn values_are_strings_and_non_finite_is_nan() {
        assert_eq!(parse_value("1.5"), Some(1.5));
        assert_eq!(parse_value("1e3"), Some(1000.0));
        assert!(parse_value("NaN").is_some_and(f64::is_nan));
        assert!(parse_value("+Inf").is_some_and(f64::is_nan));
        assert!(parse_value("-Inf").is_some_and(f64::is_nan));
        assert_eq!(parse_value("twelve"), None);
    }

    #[test]
    fn errors_carry_prometheus_error_type() {
        let body = br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        assert_eq!(
            api_error(400, body),
            BackendError::Http {
                status: 400,
                message: "bad_data: parse error".into()
            }
        );
        assert_eq!(
            api_error(502, b"<html>\n bad gateway</html>"),
            BackendError::Http {
                status: 502,
                message: "<html> bad gateway</html>".into()
            }
        );
    }
}
