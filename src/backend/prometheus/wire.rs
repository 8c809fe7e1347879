//! The `query_range` wire format: the grid a query is evaluated on, and decoding an
//! answer (or an error body) into series laid on that grid.

use crate::backend::http;
use crate::backend::BackendError;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The instants one query is evaluated at: `len` points `step_ms` apart, the last at the
/// poll's `now`, so every signal ends exactly where `SignalSet::at` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Grid {
    pub(super) start_ms: i64,
    pub(super) step_ms: i64,
    pub(super) len: usize,
}

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

    pub(super) fn end_ms(&self) -> i64 {
        self.start_ms + (self.len as i64 - 1) * self.step_ms
    }

    /// Which point a returned timestamp (float seconds) is. Prometheus answers exactly on
    /// the grid; rounding only absorbs the float representation of the seconds.
    /// In floats throughout: a server can send any number as a timestamp, and integer
    /// arithmetic on one far off the grid overflows.
    fn index(&self, t_secs: f64) -> Option<usize> {
        let offset_ms = (t_secs * 1000.0).round() - self.start_ms as f64;
        let k = (offset_ms / self.step_ms as f64).round();
        // NaN fails both comparisons.
        (k >= 0.0 && k < self.len as f64).then_some(k as usize)
    }
}

/// A timestamp parameter in seconds with millisecond precision, the resolution Prometheus
/// keeps.
pub(super) fn secs_param(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// One series of a query result, already laid on the query's grid (NaN = no value).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Series {
    pub(super) labels: BTreeMap<String, String>,
    pub(super) points: Vec<f64>,
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

/// One `query_range` answer, HTTP status and body, to series laid on `grid`.
pub(super) fn decode_query_range(
    status: u16,
    body: &[u8],
    grid: Grid,
) -> Result<Vec<Series>, BackendError> {
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

fn on_grid(raw: Vec<RawSeries>, grid: Grid) -> Result<Vec<Series>, BackendError> {
    raw.into_iter()
        .map(|r| {
            let mut points = vec![f64::NAN; grid.len];
            for (t, v) in &r.values {
                let value = parse_value(v).ok_or_else(|| {
                    BackendError::Malformed(format!("value {v:?} is not a number"))
                })?;
                if let Some(i) = grid.index(*t) {
                    points[i] = value;
                }
            }
            Ok(Series {
                labels: r.metric,
                points,
            })
        })
        .collect()
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
        assert_eq!(secs_param(1_000_000_500), "1000000.500");
        assert_eq!(secs_param(60_000), "60.000");
        // A range that is not a whole number of steps keeps the end at now.
        let g = Grid::ending_at(100_000, 90, 60);
        assert_eq!((g.start_ms, g.len), (40_000, 2));
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
