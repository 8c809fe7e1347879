//! `oncall-cockpit backtest --since 7d`: the same detection engine over a real Prometheus
//! range, walked a chunk at a time, listing the incidents it would have raised, by type,
//! feature and SEV, with counts per day: "how many pages would these thresholds have produced
//! last week?" before a team trusts them.
//!
//! Every incident is taken as resolved once it recovers (a backtest has no responder), so a
//! baseline is frozen only while its incident lasts. The first hour of the range only builds
//! the baselines: the detectors need half an hour of accepted history and the quarantine.

use crate::backend::prometheus::Prometheus;
use crate::detect::{ChangeKind, DetectConfig, Engine};
use crate::domain::{IncidentType, Sev};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Chunks of a day: well under Prometheus' 11,000 points a query at minute steps, and small
/// enough that a slow server answers within the source's timeout.
const CHUNK_SECS: i64 = 86_400;

/// One incident the detectors would have raised.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Raised {
    pub onset: DateTime<Utc>,
    pub recovered: Option<DateTime<Utc>>,
    pub feature: String,
    pub kind: IncidentType,
    /// The worst SEV it reached.
    pub sev: Sev,
}

#[derive(Clone, Debug, Serialize)]
pub struct Backtest {
    pub source: String,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub step_secs: u32,
    pub incidents: Vec<Raised>,
}

impl Backtest {
    /// Incidents per day (UTC) and SEV.
    pub fn per_day(&self) -> BTreeMap<String, BTreeMap<Sev, usize>> {
        let mut out: BTreeMap<String, BTreeMap<Sev, usize>> = BTreeMap::new();
        let last = self.until.date_naive();
        let mut day = self.from.date_naive();
        while day <= last {
            out.entry(day.to_string()).or_default();
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        for i in &self.incidents {
            *out.entry(i.onset.date_naive().to_string())
                .or_default()
                .entry(i.sev)
                .or_default() += 1;
        }
        out
    }
}

/// Walks `from..until` through `source` and the detectors. `progress` hears about each chunk
/// (a week at a minute's step is seven queries per signal).
pub async fn run(
    source: &mut Prometheus,
    name: &str,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    cfg: &DetectConfig,
    mut progress: impl FnMut(DateTime<Utc>),
) -> Result<Backtest, String> {
    if until <= from {
        return Err(format!("nothing to backtest: {from} is not before {until}"));
    }
    let mut engine = Engine::new(cfg.clone());
    let none = BTreeSet::new();
    let mut open: BTreeMap<(String, IncidentType), usize> = BTreeMap::new();
    let mut incidents: Vec<Raised> = Vec::new();
    let mut start = from;
    while start < until {
        let end = (start + Duration::seconds(CHUNK_SECS)).min(until);
        let range = u64::try_from((end - start).num_seconds()).unwrap_or(0);
        let set = source
            .fetch_range(end, range)
            .await
            .map_err(|e| format!("{name}: chunk ending {end}: {e}"))?;
        let eval = engine.ingest(&set, &none);
        for c in eval.changes {
            let key = (c.feature.clone(), c.kind);
            match c.what {
                ChangeKind::Opened(sev) => {
                    open.insert(key, incidents.len());
                    incidents.push(Raised {
                        onset: c.at,
                        recovered: None,
                        feature: c.feature,
                        kind: c.kind,
                        sev,
                    });
                }
                ChangeKind::Raised { to, .. } => {
                    if let Some(r) = open.get(&key).and_then(|i| incidents.get_mut(*i)) {
                        r.sev = r.sev.min(to);
                    }
                }
                ChangeKind::Recovered => {
                    if let Some(r) = open.remove(&key).and_then(|i| incidents.get_mut(i)) {
                        r.recovered = Some(c.at);
                    }
                }
            }
        }
        progress(end);
        start = end;
    }
    Ok(Backtest {
        source: name.to_string(),
        from,
        until,
        step_secs: source.step_secs(),
        incidents,
    })
}

/// "7d", "36h", "90m", "3600s" (or a bare number of seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 7d, 36h or 90m"))?;
    let secs = match unit {
        "d" => n.checked_mul(86_400),
        "h" => n.checked_mul(3600),
        "m" => n.checked_mul(60),
        "s" | "" => Some(n),
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?} (use d, h, m or s)"
            ))
        }
    }
    .filter(|s| *s > 0 && *s <= 90 * 86_400)
    .ok_or_else(|| format!("{text:?} must be between 1s and 90d"))?;
    Ok(Duration::seconds(secs))
}

fn fmt_lasted(r: &Raised, until: DateTime<Utc>) -> String {
    match r.recovered {
        Some(end) => {
            let m = (end - r.onset).num_minutes();
            if m >= 120 {
                format!("{}h{:02}m", m / 60, m % 60)
            } else {
                format!("{m}m")
            }
        }
        None => format!("still firing at {}", until.format("%m-%d %H:%MZ")),
    }
}

/// The report a team reads before trusting the thresholds.
pub fn render(b: &Backtest) -> String {
    let mut out = String::new();
    let count = |s: Sev| b.incidents.iter().filter(|i| i.sev == s).count();
    out.push_str(&format!(
        "backtest of {:?}: {} → {} at {}s steps\n",
        b.source,
        b.from.format("%Y-%m-%d %H:%MZ"),
        b.until.format("%Y-%m-%d %H:%MZ"),
        b.step_secs
    ));
    out.push_str(&format!(
        "would have raised {} incident(s): SEV1 {}, SEV2 {}, SEV3 {}, SEV4 {}\n\n",
        b.incidents.len(),
        count(Sev::Sev1),
        count(Sev::Sev2),
        count(Sev::Sev3),
        count(Sev::Sev4)
    ));
    out.push_str("day          SEV1 SEV2 SEV3 SEV4\n");
    for (day, by_sev) in b.per_day() {
        let n = |s: Sev| by_sev.get(&s).copied().unwrap_or(0);
        out.push_str(&format!(
            "{day}  {:>4} {:>4} {:>4} {:>4}\n",
            n(Sev::Sev1),
            n(Sev::Sev2),
            n(Sev::Sev3),
            n(Sev::Sev4)
        ));
    }
    if !b.incidents.is_empty() {
        out.push_str("\nonset              SEV   type                           feature\n");
        for i in &b.incidents {
            out.push_str(&format!(
                "{}  {}  {:<30} {}  ({})\n",
                i.onset.format("%Y-%m-%d %H:%MZ"),
                i.sev,
                i.kind.label(),
                crate::domain::SafeText::new(&i.feature).as_str(),
                fmt_lasted(i, b.until)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_refuse_nonsense() {
        assert_eq!(parse_duration("7d"), Ok(Duration::days(7)));
        assert_eq!(parse_duration("36h"), Ok(Duration::hours(36)));
        assert_eq!(parse_duration("90m"), Ok(Duration::minutes(90)));
        assert_eq!(parse_duration("3600"), Ok(Duration::hours(1)));
        assert!(parse_duration("0d").is_err());
        assert!(parse_duration("7w").is_err());
        assert!(parse_duration("91d").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
