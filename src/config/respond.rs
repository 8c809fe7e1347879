//! `[respond]`: how long each SEV may wait for an acknowledgement, in business hours and
//! outside them (acknowledge a SEV2 within 30 minutes in hours, 2 hours outside). The
//! business day is a fixed UTC offset, a set of weekdays and an opening and closing time: no
//! time zone database, so a zone with daylight saving time is configured by its offset of the
//! season (docs/incidents.md says why). The built-in values live in defaults.toml and equal
//! the SEV ladder's, in hours and out.

use crate::domain::Sev;
use chrono::{DateTime, Datelike, Duration, FixedOffset, Offset, Timelike, Utc, Weekday};
use serde::Deserialize;

/// The longest budget accepted: a week. Longer, and a countdown says nothing.
const MAX_MINUTES: u32 = 7 * 24 * 60;
/// UTC offsets run from −12:00 to +14:00.
const OFFSET_RANGE: std::ops::RangeInclusive<i32> = -12 * 60..=14 * 60;

/// Minutes per SEV.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerSev {
    pub sev1: u32,
    pub sev2: u32,
    pub sev3: u32,
    pub sev4: u32,
}

impl PerSev {
    fn get(&self, sev: Sev) -> u32 {
        match sev {
            Sev::Sev1 => self.sev1,
            Sev::Sev2 => self.sev2,
            Sev::Sev3 => self.sev3,
            Sev::Sev4 => self.sev4,
        }
    }

    fn check(&self, key: &str) -> Result<(), String> {
        for sev in Sev::ALL {
            let m = self.get(sev);
            if m == 0 || m > MAX_MINUTES {
                return Err(format!(
                    "{key}.sev{}: {m} minutes; a budget is 1 to {MAX_MINUTES} minutes (a week)",
                    sev.number()
                ));
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    utc_offset_minutes: i32,
    business_days: Vec<String>,
    business_hours: String,
    in_hours_minutes: PerSev,
    outside_minutes: PerSev,
}

/// The acknowledge policy, checked when the file is read.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "RawPolicy")]
pub struct RespondPolicy {
    offset: FixedOffset,
    /// Monday first.
    days: [bool; 7],
    /// Minutes after local midnight: open from `open` (inclusive) to `close` (exclusive).
    open: u32,
    close: u32,
    in_hours: PerSev,
    outside: PerSev,
}

fn weekday(name: &str) -> Option<Weekday> {
    match name.trim().to_ascii_lowercase().as_str() {
        "mon" | "monday" => Some(Weekday::Mon),
        "tue" | "tuesday" => Some(Weekday::Tue),
        "wed" | "wednesday" => Some(Weekday::Wed),
        "thu" | "thursday" => Some(Weekday::Thu),
        "fri" | "friday" => Some(Weekday::Fri),
        "sat" | "saturday" => Some(Weekday::Sat),
        "sun" | "sunday" => Some(Weekday::Sun),
        _ => None,
    }
}

/// "09:00" → minutes after midnight; "24:00" only as a closing time.
fn clock(s: &str, closing: bool) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let mins = h * 60 + m;
    (m < 60 && (mins < 24 * 60 || (closing && mins == 24 * 60))).then_some(mins)
}

impl TryFrom<RawPolicy> for RespondPolicy {
    type Error = String;
    fn try_from(r: RawPolicy) -> Result<Self, String> {
        if !OFFSET_RANGE.contains(&r.utc_offset_minutes) {
            return Err(format!(
                "utc_offset_minutes: {} is not a UTC offset (−720 to 840 minutes east of UTC)",
                r.utc_offset_minutes
            ));
        }
        let offset = FixedOffset::east_opt(r.utc_offset_minutes * 60)
            .ok_or_else(|| format!("utc_offset_minutes: {}", r.utc_offset_minutes))?;
        let mut days = [false; 7];
        for d in &r.business_days {
            let day = weekday(d).ok_or_else(|| {
                format!("business_days: {d:?} is not a weekday (mon, tue, … sun)")
            })?;
            days[day.num_days_from_monday() as usize] = true;
        }
        let bad_hours = || {
            format!(
                "business_hours: {:?} is not \"HH:MM-HH:MM\" with the opening before the closing \
                 (like \"09:00-17:30\")",
                r.business_hours
            )
        };
        let (open, close) = r.business_hours.split_once('-').ok_or_else(bad_hours)?;
        let open = clock(open, false).ok_or_else(bad_hours)?;
        let close = clock(close, true).ok_or_else(bad_hours)?;
        if open >= close {
            return Err(bad_hours());
        }
        r.in_hours_minutes.check("in_hours_minutes")?;
        r.outside_minutes.check("outside_minutes")?;
        Ok(RespondPolicy {
            offset,
            days,
            open,
            close,
            in_hours: r.in_hours_minutes,
            outside: r.outside_minutes,
        })
    }
}

impl Default for RespondPolicy {
    /// The `[respond]` table of the built-in defaults.toml: the SEV ladder, in hours and out.
    fn default() -> Self {
        #[derive(Deserialize)]
        struct Defaults {
            respond: RespondPolicy,
        }
        let ladder = PerSev {
            sev1: 15,
            sev2: 60,
            sev3: 240,
            sev4: 1440,
        };
        toml::from_str::<Defaults>(include_str!("defaults.toml"))
            .ok()
            .map(|d| d.respond)
            .unwrap_or(RespondPolicy {
                offset: Utc.fix(),
                days: [true, true, true, true, true, false, false],
                open: 9 * 60,
                close: 17 * 60,
                in_hours: ladder,
                outside: ladder,
            })
    }
}

impl RespondPolicy {
    /// Whether `at` falls in business hours, on the business day's own clock.
    pub fn in_hours(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.offset);
        let day = local.weekday().num_days_from_monday() as usize;
        let mins = local.hour() * 60 + local.minute();
        self.days[day] && self.open <= mins && mins < self.close
    }

    /// How long `sev` may wait for an acknowledgement when its countdown starts at `start`.
    pub fn budget(&self, sev: Sev, start: DateTime<Utc>) -> Duration {
        let table = if self.in_hours(start) {
            &self.in_hours
        } else {
            &self.outside
        };
        Duration::minutes(i64::from(table.get(sev)))
    }

    /// The deadline of a countdown a source set by the SEV ladder: its start (the onset, or
    /// the escalation that restarted it) is kept, its length becomes this policy's. Sources
    /// know when a countdown starts; how long it runs is the team's to say.
    pub fn deadline(&self, sev: Sev, ladder_deadline: DateTime<Utc>) -> DateTime<Utc> {
        let Some(start) = ladder_deadline.checked_sub_signed(sev.response_time()) else {
            return ladder_deadline;
        };
        start
            .checked_add_signed(self.budget(sev, start))
            .unwrap_or(ladder_deadline)
    }

    /// Which budget a countdown ending at `deadline` runs on, when the two differ for `sev`:
    /// "SEV2 30m in business hours", for the detail pane. `None` when they are the same.
    pub fn explain(&self, sev: Sev, deadline: DateTime<Utc>) -> Option<String> {
        let (inside, outside) = (self.in_hours.get(sev), self.outside.get(sev));
        if inside == outside {
            return None;
        }
        let started_in_hours = deadline
            .checked_sub_signed(Duration::minutes(i64::from(inside)))
            .is_some_and(|start| self.in_hours(start));
        let (mins, when) = if started_in_hours {
            (inside, "in business hours")
        } else {
            (outside, "outside business hours")
        };
        let budget = if mins % 60 == 0 {
            format!("{}h", mins / 60)
        } else {
            format!("{mins}m")
        };
        Some(format!("{sev} {budget} {when}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn policy(extra: &str) -> Result<RespondPolicy, String> {
        let text = format!(
            "utc_offset_minutes = 60\nbusiness_days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\n\
             business_hours = \"09:00-17:00\"\n\
             in_hours_minutes = {{ sev1 = 15, sev2 = 30, sev3 = 240, sev4 = 1440 }}\n\
             outside_minutes = {{ sev1 = 15, sev2 = 120, sev3 = 720, sev4 = 2880 }}\n{extra}"
        );
        toml::from_str::<RespondPolicy>(&text).map_err(|e| e.to_string())
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid")
    }

    #[test]
    fn business_hours_are_read_on_the_configured_clock() {
        let p = policy("").expect("valid");
        // Tuesday 2026-12-01, 08:00 UTC is 09:00 at UTC+1: open.
        assert!(p.in_hours(utc(2026, 12, 1, 8, 0)));
        assert!(!p.in_hours(utc(2026, 12, 1, 7, 59)));
        // 16:00 UTC is 17:00 local: closed (the closing minute is outside).
        assert!(!p.in_hours(utc(2026, 12, 1, 16, 0)));
        // Friday 23:30 UTC is Saturday 00:30 local.
        assert!(!p.in_hours(utc(2026, 12, 4, 23, 30)));
        // Sunday 23:30 UTC is Monday 00:30 local: a business day, before opening.
        assert!(!p.in_hours(utc(2026, 12, 6, 23, 30)));
    }

    #[test]
    fn the_start_of_the_countdown_decides_its_length() {
        let p = policy("").expect("valid");
        let ladder = |start: DateTime<Utc>| start + Sev::Sev2.response_time();
        let in_hours = utc(2026, 12, 1, 10, 0);
        assert_eq!(
            p.deadline(Sev::Sev2, ladder(in_hours)),
            in_hours + Duration::minutes(30)
        );
        let night = utc(2026, 12, 1, 22, 0);
        assert_eq!(
            p.deadline(Sev::Sev2, ladder(night)),
            night + Duration::minutes(120)
        );
    }

    #[test]
    fn every_mistake_is_named() {
        for (bad, says) in [
            ("utc_offset_minutes = 900", "utc_offset_minutes"),
            ("business_days = [\"mon\", \"funday\"]", "funday"),
            ("business_hours = \"17:00-09:00\"", "business_hours"),
            ("business_hours = \"9-17\"", "business_hours"),
            (
                "in_hours_minutes = { sev1 = 0, sev2 = 30, sev3 = 240, sev4 = 1440 }",
                "in_hours_minutes.sev1",
            ),
        ] {
            // The valid policy with the key's line replaced by the bad one.
            let key = bad.split(' ').next().unwrap_or_default();
            let base = "utc_offset_minutes = 60\nbusiness_days = [\"mon\"]\n\
                        business_hours = \"09:00-17:00\"\n\
                        in_hours_minutes = { sev1 = 15, sev2 = 30, sev3 = 240, sev4 = 1440 }\n\
                        outside_minutes = { sev1 = 15, sev2 = 120, sev3 = 720, sev4 = 2880 }";
            let doc: String = base
                .lines()
                .map(|l| if l.starts_with(key) { bad } else { l })
                .collect::<Vec<_>>()
                .join("\n");
            let err = toml::from_str::<RespondPolicy>(&doc)
                .expect_err(bad)
                .to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn the_builtin_policy_is_the_ladder() {
        let p = RespondPolicy::default();
        for sev in Sev::ALL {
            for h in [3, 12] {
                let start = utc(2026, 12, 1, h, 0);
                assert_eq!(p.budget(sev, start), sev.response_time(), "{sev:?} {h}h");
            }
        }
    }
}
