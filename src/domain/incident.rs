use super::{SafeText, Sev};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Source-qualified so ids from two backends never collide ("sim:INC-12", "pagerduty:P1X2").
pub type IncidentId = String;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentType {
    CostExplosion,
    LatencyDegradation,
    Errors,
    GuardrailBypass,
    OverRefusal,
    CapabilityDrift,
    EvalRegression,
    RetrievalDegradation,
    /// From an external source whose labels name no known type.
    Other,
}

impl IncidentType {
    pub const ALL: [IncidentType; 9] = [
        IncidentType::CostExplosion,
        IncidentType::LatencyDegradation,
        IncidentType::Errors,
        IncidentType::GuardrailBypass,
        IncidentType::OverRefusal,
        IncidentType::CapabilityDrift,
        IncidentType::EvalRegression,
        IncidentType::RetrievalDegradation,
        IncidentType::Other,
    ];

    /// Short label for the incident list column.
    pub fn short(self) -> &'static str {
        match self {
            IncidentType::CostExplosion => "cost",
            IncidentType::LatencyDegradation => "latency",
            IncidentType::Errors => "errors",
            IncidentType::GuardrailBypass => "guardrail",
            IncidentType::OverRefusal => "refusals",
            IncidentType::CapabilityDrift => "drift",
            IncidentType::EvalRegression => "eval",
            IncidentType::RetrievalDegradation => "retrieval",
            IncidentType::Other => "other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            IncidentType::CostExplosion => "cost explosion",
            IncidentType::LatencyDegradation => "latency degradation",
            IncidentType::Errors => "errors",
            IncidentType::GuardrailBypass => "guardrail bypass",
            IncidentType::OverRefusal => "over-refusal",
            IncidentType::CapabilityDrift => "capability regression / drift",
            IncidentType::EvalRegression => "eval regression",
            IncidentType::RetrievalDegradation => "retrieval degradation",
            IncidentType::Other => "other",
        }
    }

    /// The first containment lever for this failure type (docs/incidents.md).
    pub fn containment(self) -> &'static str {
        match self {
            IncidentType::CapabilityDrift | IncidentType::EvalRegression => {
                "prompt rollback to last-known-good (p)"
            }
            IncidentType::GuardrailBypass => {
                "disable feature / fallback / conservative config: kill switch (K)"
            }
            IncidentType::OverRefusal => "prompt rollback (p) or conservative config",
            IncidentType::CostExplosion => "kill switch per feature or user segment (K)",
            IncidentType::LatencyDegradation => "faster model variant or cheaper retrieval path",
            IncidentType::Errors => "check provider status; fail over or kill switch (K)",
            IncidentType::RetrievalDegradation => "check index freshness; cheaper retrieval path",
            IncidentType::Other => "follow the alert's runbook",
        }
    }
}

impl fmt::Display for IncidentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Triggered,
    Acknowledged,
    Resolved,
}

impl Status {
    pub fn short(self) -> &'static str {
        match self {
            Status::Triggered => "TRIG",
            Status::Acknowledged => "ACKED",
            Status::Resolved => "RESOLVED",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub text: SafeText,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: IncidentId,
    /// Name of the configured source that owns this incident and executes its actions.
    pub source: String,
    pub kind: IncidentType,
    pub feature: SafeText,
    pub sev: Sev,
    pub title: SafeText,
    pub status: Status,
    pub triggered_at: DateTime<Utc>,
    /// Deadline to respond; the countdown shown on each incident. Meaningless once acknowledged.
    pub respond_by: DateTime<Utc>,
    pub acked_by: Option<SafeText>,
    pub acked_at: Option<DateTime<Utc>>,
    pub escalation_level: u8,
    /// False once the detector no longer sees the condition: "recovered, awaiting resolve".
    pub firing: bool,
    /// Why it was raised, in numbers ("cost $4.10/min = 42x trailing 1h avg $0.10/min").
    pub evidence: Vec<SafeText>,
    pub timeline: Vec<TimelineEntry>,
    /// Who is on call at each level of the incident's escalation policy, from a source that
    /// keeps schedules (PagerDuty); `None` for sources without them (see `[[alerts.rota]]`).
    #[serde(default)]
    pub on_call: Option<super::oncall::OnCall>,
    /// When the incident's own system last logged a status update, from wherever it was sent
    /// (PagerDuty's web UI included); `None` for sources that keep no such log.
    #[serde(default)]
    pub last_status_update: Option<DateTime<Utc>>,
    /// When an acknowledged incident returns to triggered and notifies again (a snooze, or
    /// the service's acknowledgement timeout), as its source reports it; `None` otherwise.
    #[serde(default)]
    pub snoozed_until: Option<DateTime<Utc>>,
    /// Who the source has the incident assigned to; empty for sources that assign nobody.
    #[serde(default)]
    pub assignees: Vec<SafeText>,
}

impl Incident {
    pub fn is_open(&self) -> bool {
        self.status != Status::Resolved
    }

    /// Where it sorts in the incident list, most urgent first: open before resolved, firing
    /// before recovered (open, but the signal is back within its threshold: resolving it is
    /// all that is left), worst SEV first, unacknowledged before acknowledged, then the
    /// nearest deadline. Packed into integers because lists of tens of thousands are sorted
    /// on every poll.
    pub fn urgency_rank(&self) -> (u8, i64, u32) {
        let status = match self.status {
            Status::Triggered => 0,
            Status::Acknowledged => 1,
            Status::Resolved => 2,
        };
        let recovered = self.is_open() && !self.firing;
        let class = u8::from(self.status == Status::Resolved) * 64
            + u8::from(recovered) * 32
            + self.sev.number() * 8;
        (
            class + status,
            self.respond_by.timestamp(),
            self.respond_by.timestamp_subsec_nanos(),
        )
    }

    /// Seconds left to respond; negative when overdue; None once acknowledged or resolved.
    pub fn seconds_left(&self, now: DateTime<Utc>) -> Option<i64> {
        match self.status {
            Status::Triggered => Some((self.respond_by - now).num_seconds()),
            _ => None,
        }
    }
}
