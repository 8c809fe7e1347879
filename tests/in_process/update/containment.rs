//! Containment verdicts through `update` alone: the detector's `inside_since` (or recovery)
//! after a lever contains; a lever undone or failed watches nothing; a contained incident
//! that leaves its band again is loud again.

use super::*;
use chrono::Duration;
use oncall_cockpit::domain::Detection;
use oncall_cockpit::state::Verdict;

const FEATURE: &str = "triage-agent";

/// Pulls a kill switch scope of the cost incident (`pick`: rows below "keep serving") and
/// answers it with `result`; returns the incident id and every effect of the answer.
fn lever(s: &mut State, pick: usize, result: Result<String, String>) -> (String, Vec<Effect>) {
    assert!(common::select_where(s, |i| {
        i.kind == IncidentType::CostExplosion && i.feature.as_str() == FEATURE
    }));
    let id = s.selected().map(|i| i.id.clone()).unwrap_or_default();
    update(s, Action::KillSwitch);
    for _ in 0..pick {
        update(s, Action::Down);
    }
    update(s, Action::Select);
    let fx = common::evidence_written(s, Action::Confirm);
    let action_id = fx
        .iter()
        .find_map(|e| match e {
            Effect::Send(r) => Some(r.action_id),
            _ => None,
        })
        .expect("sent");
    let fx = update(s, Action::CommandDone(CommandOutcome { action_id, result }));
    (id, fx)
}

/// The cost detection's `inside_since` as the detector would report it on the next poll.
fn poll(
    s: &mut State,
    inside: Option<chrono::DateTime<chrono::Utc>>,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<(String, String)> {
    let set = s.signals.merged.clone();
    let detections: Vec<Detection> = s
        .signals
        .detections
        .iter()
        .cloned()
        .map(|mut d| {
            if d.feature == FEATURE && d.kind == IncidentType::CostExplosion {
                d.inside_since = inside;
            }
            d
        })
        .collect();
    update(
        s,
        Action::Backend(BackendEvent::Signals {
            source: "sim".into(),
            at,
            set,
            detections,
        }),
    );
    audited(&update(s, Action::Tick(at)))
        .into_iter()
        .filter(|(a, _)| a == "containment")
        .collect()
}

#[test]
fn back_inside_after_the_lever_is_contained_and_quiet_and_a_relapse_is_loud_again() {
    let mut s = state();
    let (id, _) = lever(&mut s, 2, Ok("engaged".into()));
    assert_eq!(
        s.containment.watch(&id).map(|w| w.verdict.clone()),
        Some(Verdict::Containing)
    );
    let t0 = s.now;
    // Still out: nothing said before the deadline.
    assert!(poll(&mut s, None, t0 + Duration::minutes(2)).is_empty());
    let said = poll(
        &mut s,
        Some(t0 + Duration::minutes(3)),
        t0 + Duration::minutes(4),
    );
    assert_eq!(said, vec![("containment".into(), "contained".into())]);
    let w = s.containment.watch(&id).expect("watched");
    assert!(
        matches!(w.verdict, Verdict::Contained { at, .. } if at == t0 + Duration::minutes(3)),
        "contained when the detector judged it back inside: {:?}",
        w.verdict
    );
    assert!(s.incidents.contained.contains(&id));
    let first = s
        .incidents
        .shown
        .first()
        .map(|&i| s.incidents.all[i].id.clone());
    assert_ne!(
        first,
        Some(id.clone()),
        "a contained incident does not lead the list"
    );
    let line = w.line(s.now, &s);
    assert!(line.contains("3m after segment kill switch"), "{line}");
    // Said once, however many polls agree.
    assert!(poll(
        &mut s,
        Some(t0 + Duration::minutes(3)),
        t0 + Duration::minutes(5)
    )
    .is_empty());
    // Out again before it recovered: watched afresh, loud, and audited.
    let said = poll(&mut s, None, t0 + Duration::minutes(6));
    assert_eq!(said, vec![("containment".into(), "lost".into())]);
    assert!(!s.incidents.contained.contains(&id));
    assert_eq!(
        s.containment.watch(&id).map(|w| w.verdict.clone()),
        Some(Verdict::Containing)
    );
}

#[test]
fn a_released_switch_or_a_failed_lever_watches_nothing() {
    let mut s = state();
    let (id, _) = lever(&mut s, 2, Err("HTTP 500".into()));
    assert!(
        s.containment.watch(&id).is_none(),
        "a lever that failed contains nothing"
    );
    // The feature's kill switch engaged elsewhere, then released from here.
    let now = s.now;
    update(
        &mut s,
        Action::Backend(BackendEvent::Flags {
            source: "sim".into(),
            at: now,
            flags: vec![FeatureFlags {
                feature: FEATURE.into(),
                killed: vec!["enterprise".into()],
                segments: vec!["self-serve".into(), "enterprise".into()],
                ..FeatureFlags::default()
            }],
        }),
    );
    let (id, _) = lever(&mut s, 2, Ok("released".into()));
    assert!(
        s.containment.watch(&id).is_none(),
        "a release is no containment"
    );
}

#[test]
fn an_incident_that_recovers_after_the_lever_is_contained_whatever_its_source() {
    let mut s = state();
    let (id, _) = lever(&mut s, 1, Ok("engaged".into()));
    // No detection says where the signal is (an alert from another system): its recovery does.
    let mut incidents = s.incidents.all.clone();
    for i in incidents.iter_mut().filter(|i| i.id == id) {
        i.firing = false;
    }
    let at = s.now + Duration::minutes(7);
    update(
        &mut s,
        Action::Backend(BackendEvent::Incidents {
            source: "sim".into(),
            at,
            incidents,
        }),
    );
    let said: Vec<_> = audited(&update(&mut s, Action::Tick(at)))
        .into_iter()
        .filter(|(a, _)| a == "containment")
        .collect();
    assert_eq!(said, vec![("containment".into(), "contained".into())]);
}
