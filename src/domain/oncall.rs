//! Who is on call for an incident, level by level, as its source's schedules say. Plain data:
//! the PagerDuty adapter fills it from `GET /oncalls`; sources without schedules leave it out
//! and the cockpit's rota (`[[alerts.rota]]`) answers for them.

use super::SafeText;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Names shown per level; the rest are counted ("+3 more").
pub const MAX_NAMES_PER_LEVEL: usize = 5;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnCallLevel {
    /// 1-based, as PagerDuty numbers escalation levels.
    pub level: u32,
    /// "Jane Doe (ML primary)": the person, and the schedule that puts them there.
    pub names: Vec<SafeText>,
    /// Names past `MAX_NAMES_PER_LEVEL`, counted rather than kept.
    pub more: usize,
    /// The people named, with their ids in the source: whom a reassignment can name.
    #[serde(default)]
    pub users: Vec<OnCallUser>,
}

/// A person on call, as the source knows them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnCallUser {
    /// The person alone ("Jane Doe"), without the schedule.
    pub name: SafeText,
    /// Their id in the source (a PagerDuty user id: letters and digits).
    pub id: String,
}

impl OnCallLevel {
    pub fn describe(&self) -> String {
        let mut s = self
            .names
            .iter()
            .map(SafeText::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        if self.more > 0 {
            s.push_str(&format!(" +{} more", self.more));
        }
        s
    }
}

/// The on-call of the incident's escalation policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnCall {
    /// The escalation policy's name.
    pub policy: SafeText,
    /// Levels with someone on call, lowest first. Empty until the first read answers.
    pub levels: Vec<OnCallLevel>,
    /// When the levels were read; `None` while never read.
    pub read_at: Option<DateTime<Utc>>,
    /// Why the last read failed, while the levels shown are older than it.
    pub error: Option<SafeText>,
}

impl OnCall {
    pub fn level(&self, level: u32) -> Option<&OnCallLevel> {
        self.levels.iter().find(|l| l.level == level)
    }
}
