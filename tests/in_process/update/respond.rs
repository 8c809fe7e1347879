//! The acknowledge policy (`[respond]`): every incident's countdown runs on the budget of its
//! SEV in business hours or outside them, on the configured clock, from the start its source
//! gave it (the onset, or the escalation that restarted it).

use super::*;
use chrono::{DateTime, Duration, TimeZone, Utc};
use oncall_cockpit::config::respond::RespondPolicy;

/// Business hours 09:00-17:00, Monday to Friday, at `offset` minutes east of UTC; SEV2 30
/// minutes in hours and 2 hours outside.
fn policy(offset: i32) -> RespondPolicy {
    toml::from_str(&format!(
        "utc_offset_minutes = {offset}\nbusiness_days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\n\
         business_hours = \"09:00-17:00\"\n\
         in_hours_minutes = {{ sev1 = 15, sev2 = 30, sev3 = 240, sev4 = 1440 }}\n\
         outside_minutes = {{ sev1 = 15, sev2 = 120, sev3 = 720, sev4 = 2880 }}"
    ))
    .expect("valid policy")
}

fn utc(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    // December 2026: the 1st is a Tuesday, the 4th a Friday, the 6th a Sunday.
    Utc.with_ymd_and_hms(2026, 12, d, h, m, 0)
        .single()
        .expect("time")
}

/// A SEV2 from PagerDuty whose countdown started at `start`, as its source sets it: by the
/// SEV ladder (an hour).
fn sev2(start: DateTime<Utc>) -> Incident {
    let mut inc = incidents("pagerduty", 1, start).remove(0);
    inc.id = "pagerduty:P1".into();
    inc.sev = Sev::Sev2;
    inc.status = Status::Triggered;
    inc.triggered_at = start;
    inc.respond_by = start + Sev::Sev2.response_time();
    inc
}

/// The deadline the cockpit counts down to for a SEV2 whose countdown started at `start`.
fn deadline(offset: i32, start: DateTime<Utc>) -> DateTime<Utc> {
    let mut s = State::new(start, "ana", "test");
    s.respond = policy(offset);
    poll_from(&mut s, "pagerduty", vec![sev2(start)]);
    s.incidents.all[0].respond_by
}

#[test]
fn in_hours_a_sev2_has_thirty_minutes_and_outside_two_hours() {
    // UTC+1: 10:00 local on a Tuesday, and 22:00 local.
    assert_eq!(deadline(60, utc(1, 9, 0)), utc(1, 9, 30));
    assert_eq!(deadline(60, utc(1, 21, 0)), utc(1, 23, 0));
    // A Saturday morning is outside.
    assert_eq!(deadline(60, utc(5, 9, 0)), utc(5, 11, 0));
}

#[test]
fn the_boundaries_are_the_configured_clocks_not_utc() {
    // UTC+1: 07:59 UTC is 08:59 local (closed), 08:00 UTC is 09:00 local (open).
    assert_eq!(deadline(60, utc(1, 7, 59)), utc(1, 9, 59));
    assert_eq!(deadline(60, utc(1, 8, 0)), utc(1, 8, 30));
    // 15:59 UTC is 16:59 local (open); 16:00 UTC is 17:00 local (closed: closing excluded).
    assert_eq!(deadline(60, utc(1, 15, 59)), utc(1, 16, 29));
    assert_eq!(deadline(60, utc(1, 16, 0)), utc(1, 18, 0));
    // New York winter (UTC−5): Monday 13:59 UTC is 08:59 local, 14:00 UTC is 09:00.
    assert_eq!(deadline(-300, utc(7, 13, 59)), utc(7, 15, 59));
    assert_eq!(deadline(-300, utc(7, 14, 0)), utc(7, 14, 30));
    // The weekday is the local one: Sunday 23:30 UTC is Monday 09:30 at UTC+10 (open), and
    // Friday 23:30 UTC is Saturday 00:30 at UTC+1 (closed) though Friday in UTC.
    assert_eq!(deadline(600, utc(6, 23, 30)), utc(7, 0, 0));
    assert_eq!(deadline(60, utc(4, 23, 30)), utc(5, 1, 30));
}

#[test]
fn an_escalation_restarts_the_countdown_on_the_budget_of_its_own_start() {
    // Opened at night, escalated (and its countdown restarted by its source) at 10:00 local.
    let mut inc = sev2(utc(1, 1, 0));
    let restarted = utc(1, 9, 0);
    inc.respond_by = restarted + Sev::Sev2.response_time();
    let mut s = State::new(restarted, "ana", "test");
    s.respond = policy(60);
    poll_from(&mut s, "pagerduty", vec![inc]);
    assert_eq!(s.incidents.all[0].respond_by, utc(1, 9, 30));
}

#[test]
fn the_countdown_and_the_detail_say_which_budget_runs() {
    let start = utc(1, 21, 0);
    let mut s = State::new(start + Duration::minutes(10), "ana", "test");
    s.respond = policy(60);
    poll_from(&mut s, "pagerduty", vec![sev2(start)]);
    let inc = &s.incidents.all[0];
    assert_eq!(inc.seconds_left(s.now), Some(110 * 60));
    update(&mut s, Action::Describe);
    let screen = cockpit_testkit::screen::screen(&s, 80, 24);
    assert!(
        screen.contains("(SEV2 2h outside business hours)"),
        "{screen}"
    );
    // The built-in policy is the ladder: the countdown is the source's own.
    let mut plain = State::new(start, "ana", "test");
    poll_from(&mut plain, "pagerduty", vec![sev2(start)]);
    assert_eq!(
        plain.incidents.all[0].respond_by,
        start + Duration::hours(1)
    );
}
