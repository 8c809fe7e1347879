//! The cockpit's own incident store, fed by its detectors. It behaves like a paging system:
//! one open incident per (feature, type), SEV only ever raised while open, a response
//! deadline per SEV, and ack / escalate / resolve / note with a timeline. Incidents stay open
//! after the signal recovers until a responder resolves them. The task of the source whose
//! signals the detectors judge owns the store (see `driver::run_detecting`): nothing else
//! reads or writes it, so it needs no lock.

use super::{BackendError, IncidentOp};
use crate::domain::{
    Detection, Incident, IncidentId, IncidentType, SafeText, Status, TimelineEntry,
};
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

#[derive(Debug, Default)]
pub struct IncidentStore {
    source: String,
    next: u64,
    incidents: Vec<Incident>,
}

fn entry(at: DateTime<Utc>, text: String) -> TimelineEntry {
    TimelineEntry {
        at,
        text: SafeText::new(&text),
    }
}

impl IncidentStore {
    pub fn new(source: &str) -> Self {
        IncidentStore {
            source: source.to_string(),
            next: 1,
            incidents: Vec::new(),
        }
    }

    pub fn incidents(&self) -> &[Incident] {
        &self.incidents
    }

    /// (feature, type) of every incident not yet resolved: the detectors keep those signals'
    /// baselines frozen until a responder says the incident is over.
    pub fn open_keys(&self) -> BTreeSet<(String, IncidentType)> {
        self.incidents
            .iter()
            .filter(|i| i.is_open())
            .map(|i| (i.feature.as_str().to_string(), i.kind))
            .collect()
    }

    fn open_index(&self, feature: &str, kind: IncidentType) -> Option<usize> {
        self.incidents
            .iter()
            .position(|i| i.is_open() && i.kind == kind && i.feature.as_str() == feature)
    }

    /// Folds one round of detections into the store.
    pub fn observe(&mut self, detections: &[Detection], now: DateTime<Utc>) {
        for d in detections {
            match self.open_index(&d.feature, d.kind) {
                Some(ix) => refresh(&mut self.incidents[ix], d, now),
                None => {
                    let id = format!("{}:INC-{}", self.source, self.next);
                    self.next += 1;
                    self.incidents.push(open(&self.source, id, d, now));
                }
            }
        }
        for inc in self
            .incidents
            .iter_mut()
            .filter(|i| i.is_open() && i.firing)
        {
            let still = detections
                .iter()
                .any(|d| d.kind == inc.kind && d.feature == inc.feature.as_str());
            if !still {
                inc.firing = false;
                inc.timeline.push(entry(
                    now,
                    "recovered: back inside the pre-incident band for the recovery hold"
                        .to_string(),
                ));
            }
        }
    }

    pub fn apply(
        &mut self,
        id: &str,
        op: &IncidentOp,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<String, BackendError> {
        let inc = self
            .incidents
            .iter_mut()
            .find(|i| i.id == id)
            .ok_or_else(|| BackendError::Rejected(format!("no incident {id}")))?;
        if let Some(why) = unsupported(op) {
            return Err(BackendError::Rejected(why.into()));
        }
        if inc.status == Status::Resolved
            && !matches!(op, IncidentOp::Note(_) | IncidentOp::Role { .. })
        {
            return Err(BackendError::Rejected(format!("{id} is already resolved")));
        }
        let msg = match op {
            IncidentOp::Ack => {
                if inc.status == Status::Acknowledged {
                    let by = inc
                        .acked_by
                        .as_ref()
                        .map(|s| s.as_str())
                        .unwrap_or("someone");
                    return Err(BackendError::Rejected(format!(
                        "{id} already acknowledged by {by}"
                    )));
                }
                inc.status = Status::Acknowledged;
                inc.acked_by = Some(SafeText::new(author));
                inc.acked_at = Some(now);
                format!("acknowledged by {author}")
            }
            IncidentOp::Escalate => {
                inc.escalation_level = inc.escalation_level.saturating_add(1);
                // The next level must acknowledge afresh, with a fresh deadline.
                inc.status = Status::Triggered;
                inc.acked_by = None;
                inc.acked_at = None;
                inc.respond_by = now + inc.sev.response_time();
                format!(
                    "escalated to level {} by {author}",
                    inc.escalation_level + 1
                )
            }
            IncidentOp::Resolve => {
                inc.status = Status::Resolved;
                format!("resolved by {author}")
            }
            IncidentOp::Note(text) => format!("note by {author}: {text}"),
            IncidentOp::StatusUpdate(text) => format!("status update by {author}: {text}"),
            IncidentOp::Role { role, name } => format!("{role}: {name} (set by {author})"),
            // Refused above.
            IncidentOp::RequestResponders { .. }
            | IncidentOp::Merge(_)
            | IncidentOp::Snooze(_)
            | IncidentOp::Reassign { .. } => String::new(),
        };
        inc.timeline.push(entry(now, msg.clone()));
        Ok(msg)
    }
}

/// What the cockpit's own incidents cannot do: they page nobody (the responder asks the
/// layer's owner directly, and the request goes on the timeline as a note), are grouped,
/// not merged, and are neither snoozed nor assigned to anyone.
pub fn unsupported(op: &IncidentOp) -> Option<&'static str> {
    match op {
        IncidentOp::RequestResponders { .. } => {
            Some("the cockpit's own detections page nobody; ask the owner directly")
        }
        IncidentOp::Merge(_) => Some("the cockpit's own incidents are grouped (z), not merged"),
        // The detector, not a person, decides when one of its incidents fires again.
        // Short: the footer holds one line of 80 columns with the operation's name before it.
        IncidentOp::Snooze(_) => Some("cockpit detections have no snooze; ack stops the countdown"),
        IncidentOp::Reassign { .. } => {
            Some("cockpit detections have no assignee; say who with :role")
        }
        _ => None,
    }
}

fn open(source: &str, id: IncidentId, d: &Detection, now: DateTime<Utc>) -> Incident {
    Incident {
        id,
        source: source.to_string(),
        kind: d.kind,
        feature: SafeText::new(&d.feature),
        sev: d.sev,
        title: SafeText::new(&format!("{}: {}", d.feature, d.summary)),
        status: Status::Triggered,
        triggered_at: now,
        respond_by: now + d.sev.response_time(),
        acked_by: None,
        acked_at: None,
        escalation_level: 0,
        firing: true,
        evidence: d.evidence.clone(),
        timeline: vec![entry(now, format!("{} detected: {}", d.sev, d.summary))],
        on_call: None,
        last_status_update: None,
        snoozed_until: None,
        assignees: Vec::new(),
    }
}

fn refresh(inc: &mut Incident, d: &Detection, now: DateTime<Utc>) {
    if !inc.firing {
        inc.firing = true;
        inc.timeline
            .push(entry(now, format!("firing again: {}", d.summary)));
    }
    if d.sev < inc.sev {
        inc.timeline.push(entry(
            now,
            format!("raised {} → {}: {}", inc.sev, d.sev, d.summary),
        ));
        inc.sev = d.sev;
        // A worse SEV can only shorten the time left to respond.
        inc.respond_by = inc.respond_by.min(now + d.sev.response_time());
        inc.title = SafeText::new(&format!("{}: {}", d.feature, d.summary));
    }
    inc.evidence = d.evidence.clone();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Sev, SignalKind};
    use chrono::{Duration, TimeZone};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn det(kind: IncidentType, sev: Sev) -> Detection {
        Detection {
            feature: "support-bot".into(),
            kind,
            sev,
            signal: SignalKind::CostPerMin,
            value: 4.0,
            baseline: 0.1,
            threshold: 0.3,
            summary: SafeText::new("cost 40x"),
            evidence: vec![],
            inside_since: None,
        }
    }

    #[test]
    fn one_open_incident_per_feature_and_type_and_sev_only_rises() {
        let mut s = IncidentStore::new("sim");
        s.observe(&[det(IncidentType::CostExplosion, Sev::Sev3)], t0());
        s.observe(
            &[det(IncidentType::CostExplosion, Sev::Sev2)],
            t0() + Duration::minutes(1),
        );
        s.observe(
            &[det(IncidentType::CostExplosion, Sev::Sev3)],
            t0() + Duration::minutes(2),
        );
        assert_eq!(s.incidents().len(), 1);
        let inc = &s.incidents()[0];
        assert_eq!(inc.sev, Sev::Sev2);
        // Deadline: SEV2's hour from the raise, earlier than SEV3's four hours from opening.
        assert_eq!(inc.respond_by, t0() + Duration::minutes(61));
    }

    #[test]
    fn recovery_keeps_incident_open_and_resolved_ones_reopen_as_new() {
        let mut s = IncidentStore::new("sim");
        let d = det(IncidentType::Errors, Sev::Sev3);
        s.observe(std::slice::from_ref(&d), t0());
        s.observe(&[], t0() + Duration::minutes(1));
        assert!(!s.incidents()[0].firing);
        assert!(s.incidents()[0].is_open());
        let id = s.incidents()[0].id.clone();
        s.apply(&id, &IncidentOp::Resolve, "ana", t0())
            .map(|_| ())
            .unwrap_or_default();
        s.observe(&[d], t0() + Duration::minutes(2));
        assert_eq!(s.incidents().len(), 2);
        assert_eq!(s.incidents()[1].id, "sim:INC-2");
    }

    #[test]
    fn ack_twice_is_a_visible_conflict_and_escalate_restarts_the_clock() {
        let mut s = IncidentStore::new("sim");
        s.observe(&[det(IncidentType::GuardrailBypass, Sev::Sev1)], t0());
        let id = s.incidents()[0].id.clone();
        assert!(s.apply(&id, &IncidentOp::Ack, "ana", t0()).is_ok());
        let err = s.apply(&id, &IncidentOp::Ack, "bo", t0());
        assert_eq!(
            err,
            Err(BackendError::Rejected(
                "sim:INC-1 already acknowledged by ana".into()
            ))
        );
        let later = t0() + Duration::minutes(20);
        assert!(s.apply(&id, &IncidentOp::Escalate, "ana", later).is_ok());
        let inc = &s.incidents()[0];
        assert_eq!(inc.status, Status::Triggered);
        assert_eq!(inc.escalation_level, 1);
        assert_eq!(inc.respond_by, later + Duration::minutes(15));
    }

    #[test]
    fn resolved_incident_accepts_notes_only() {
        let mut s = IncidentStore::new("sim");
        s.observe(&[det(IncidentType::Errors, Sev::Sev3)], t0());
        let id = s.incidents()[0].id.clone();
        assert!(s.apply(&id, &IncidentOp::Resolve, "ana", t0()).is_ok());
        assert!(s.apply(&id, &IncidentOp::Ack, "ana", t0()).is_err());
        assert!(s
            .apply(&id, &IncidentOp::Note("postmortem Tue".into()), "ana", t0())
            .is_ok());
        assert!(s.apply("sim:INC-9", &IncidentOp::Ack, "ana", t0()).is_err());
    }
}
