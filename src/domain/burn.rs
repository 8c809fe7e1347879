//! The cost-burn clock of a cost incident: what it has cost since onset, how fast it burns
//! now, what that rate costs in the next hour and by the end of the day, and when a feature's
//! daily budget runs out at this rate. Pure arithmetic over the $/min series; the day is the
//! configured one (a fixed offset from UTC, UTC by default).

use chrono::{DateTime, Duration, FixedOffset, NaiveTime, Utc};

/// Minutes of the newest points the burn "now" is the mean of: one minute's point is noise.
pub const NOW_WINDOW_MINUTES: f64 = 5.0;

/// $/min points, oldest first, one per `step_secs`, the last at `end`; NaN for no data.
#[derive(Clone, Copy, Debug)]
pub struct Series<'a> {
    pub points: &'a [f64],
    pub step_secs: u32,
    pub end: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RunsOut {
    /// Today's spend is already past the budget.
    Spent,
    /// At this rate, at this instant (today).
    At(DateTime<Utc>),
    /// Not before the day ends at this rate (the budget is per day).
    NotToday,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BurnClock {
    /// USD since the incident's onset, as far as the series reaches back.
    pub since_onset: f64,
    /// USD per minute now: the mean of the newest `NOW_WINDOW_MINUTES`.
    pub per_min: f64,
    /// USD the next hour costs at that rate.
    pub next_hour: f64,
    /// USD today costs: spent so far today plus the rest of the day at that rate.
    pub by_end_of_day: f64,
    /// The series does not reach back to the onset: `since_onset` is a floor, not the whole.
    pub onset_partial: bool,
    /// Nor to the start of the day: `by_end_of_day` is a floor.
    pub day_partial: bool,
    /// With a daily budget: when it runs out at this rate.
    pub runs_out: Option<RunsOut>,
}

/// The start of the day `now` falls in, on the clock `offset` from UTC.
pub fn day_start(now: DateTime<Utc>, offset: FixedOffset) -> DateTime<Utc> {
    let local = now.with_timezone(&offset);
    local
        .date_naive()
        .and_time(NaiveTime::MIN)
        .and_local_timezone(offset)
        .single()
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(now)
}

/// The clock at `now` for an incident that opened at `onset`; `None` without any value.
pub fn clock(
    series: Series<'_>,
    onset: DateTime<Utc>,
    now: DateTime<Utc>,
    daily_budget: Option<f64>,
    offset: FixedOffset,
) -> Option<BurnClock> {
    let step = i64::from(series.step_secs.max(1));
    let step_min = step as f64 / 60.0;
    let n = series.points.len();
    let at = |i: usize| series.end - Duration::seconds((n - 1 - i) as i64 * step);
    // A point is the rate over the step that ends at its instant.
    let spent_since = |from: DateTime<Utc>| -> f64 {
        (0..n)
            .filter(|&i| at(i) > from && at(i) <= now)
            .map(|i| series.points[i])
            .filter(|v| v.is_finite())
            .sum::<f64>()
            * step_min
    };
    let recent: Vec<f64> = (0..n)
        .filter(|&i| at(i) <= now)
        .rev()
        .take(((NOW_WINDOW_MINUTES / step_min).ceil() as usize).max(1))
        .map(|i| series.points[i])
        .filter(|v| v.is_finite())
        .collect();
    if recent.is_empty() {
        return None;
    }
    let per_min = (recent.iter().sum::<f64>() / recent.len() as f64).max(0.0);
    let start = day_start(now, offset);
    let first = at(0) - Duration::seconds(step);
    let (onset_partial, day_partial) = (first > onset, first > start);
    let spent_today = spent_since(start);
    let day_left_min = ((start + Duration::days(1)) - now).num_seconds().max(0) as f64 / 60.0;
    let runs_out = daily_budget.map(|budget| {
        let left = budget - spent_today;
        if left <= 0.0 {
            RunsOut::Spent
        } else if per_min <= 0.0 || left / per_min >= day_left_min {
            RunsOut::NotToday
        } else {
            RunsOut::At(now + Duration::milliseconds((left / per_min * 60_000.0) as i64))
        }
    });
    Some(BurnClock {
        since_onset: spent_since(onset),
        per_min,
        next_hour: per_min * 60.0,
        by_end_of_day: spent_today + per_min * day_left_min,
        onset_partial,
        day_partial,
        runs_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0)
            .single()
            .expect("valid")
    }

    fn utc() -> FixedOffset {
        FixedOffset::east_opt(0).expect("valid")
    }

    /// `calm` minutes at $1/min, then `hot` minutes at `rate`, ending at `end`.
    fn minutes(calm: usize, hot: usize, rate: f64) -> Vec<f64> {
        let mut v = vec![1.0; calm];
        v.extend(std::iter::repeat_n(rate, hot));
        v
    }

    #[test]
    fn spend_since_onset_rate_and_projections() {
        let pts = minutes(60, 30, 20.0);
        let s = Series {
            points: &pts,
            step_secs: 60,
            end: t(12, 0),
        };
        let c = clock(s, t(11, 30), t(12, 0), None, utc()).expect("a clock");
        assert!((c.since_onset - 600.0).abs() < 1e-9, "{c:?}");
        assert!((c.per_min - 20.0).abs() < 1e-9);
        assert!((c.next_hour - 1200.0).abs() < 1e-9);
        // Today: 10:30-11:30 at $1 and 11:30-12:00 at $20 seen, the series starts at 10:30
        // (partial), then 12 hours at $20.
        assert!((c.by_end_of_day - (60.0 + 600.0 + 720.0 * 20.0)).abs() < 1e-6);
        assert!(c.day_partial && !c.onset_partial);
        assert_eq!(c.runs_out, None);
    }

    #[test]
    fn zero_burn_never_runs_out_and_projects_nothing_more() {
        let pts = minutes(30, 10, 0.0);
        let s = Series {
            points: &pts,
            step_secs: 60,
            end: t(0, 40),
        };
        let c = clock(s, t(0, 30), t(0, 40), Some(100.0), utc()).expect("a clock");
        assert_eq!(c.per_min, 0.0);
        assert_eq!(c.next_hour, 0.0);
        assert!((c.by_end_of_day - 30.0).abs() < 1e-9, "{c:?}");
        assert!(!c.day_partial, "the series reaches back to midnight");
        assert_eq!(c.runs_out, Some(RunsOut::NotToday));
    }

    #[test]
    fn a_budget_already_spent_says_so_and_one_left_says_when() {
        let pts = minutes(30, 30, 10.0);
        let s = Series {
            points: &pts,
            step_secs: 60,
            end: t(1, 0),
        };
        let spent = clock(s, t(0, 30), t(1, 0), Some(200.0), utc()).expect("a clock");
        // $30 then $300 today: past $200.
        assert_eq!(spent.runs_out, Some(RunsOut::Spent));
        let left = clock(s, t(0, 30), t(1, 0), Some(430.0), utc()).expect("a clock");
        // $100 left at $10/min: ten minutes.
        assert_eq!(left.runs_out, Some(RunsOut::At(t(1, 10))));
    }

    #[test]
    fn the_day_ends_on_the_configured_clock() {
        // 23:30 UTC is 01:30 the next day at UTC+2: that day has 22h30m left, UTC's 30m.
        let pts = minutes(0, 120, 1.0);
        let s = Series {
            points: &pts,
            step_secs: 60,
            end: t(23, 30),
        };
        let plus2 = FixedOffset::east_opt(2 * 3600).expect("valid");
        assert_eq!(
            day_start(t(23, 30), plus2),
            t(22, 0),
            "midnight at UTC+2 is 22:00 UTC"
        );
        let c = clock(s, t(23, 0), t(23, 30), Some(100.0), plus2).expect("a clock");
        // Since 22:00 UTC: 90 minutes at $1, then 22h30m at $1.
        assert!((c.by_end_of_day - (90.0 + 1350.0)).abs() < 1e-9, "{c:?}");
        assert_eq!(
            c.runs_out,
            Some(RunsOut::At(t(23, 30) + Duration::minutes(10)))
        );
        let u = clock(s, t(23, 0), t(23, 30), Some(1_000.0), utc()).expect("a clock");
        assert!((u.by_end_of_day - (120.0 + 30.0)).abs() < 1e-9, "{u:?}");
        // $1000 a day, $120 spent, 30 minutes left at $1/min: not today.
        assert_eq!(u.runs_out, Some(RunsOut::NotToday));
    }

    #[test]
    fn no_value_no_clock_and_gaps_are_not_spend() {
        let pts = [f64::NAN; 10];
        let s = Series {
            points: &pts,
            step_secs: 60,
            end: t(1, 0),
        };
        assert_eq!(clock(s, t(0, 55), t(1, 0), None, utc()), None);
        let pts = [2.0, f64::NAN, 2.0, f64::NAN, 2.0];
        let s = Series {
            points: &pts,
            step_secs: 60,
            end: t(1, 0),
        };
        let c = clock(s, t(0, 50), t(1, 0), None, utc()).expect("a clock");
        assert!((c.since_onset - 6.0).abs() < 1e-9, "{c:?}");
        assert!((c.per_min - 2.0).abs() < 1e-9);
    }
}
