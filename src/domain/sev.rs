use chrono::Duration;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The AI-aware severity ladder. Lower number = worse; `Ord` sorts SEV1 first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Sev {
    #[serde(rename = "sev1")]
    Sev1,
    #[serde(rename = "sev2")]
    Sev2,
    #[serde(rename = "sev3")]
    Sev3,
    #[serde(rename = "sev4")]
    Sev4,
}

impl Sev {
    pub const ALL: [Sev; 4] = [Sev::Sev1, Sev::Sev2, Sev::Sev3, Sev::Sev4];

    /// Time the on-call has to respond (acknowledge) before the incident is overdue.
    pub fn response_time(self) -> Duration {
        match self {
            Sev::Sev1 => Duration::minutes(15),
            Sev::Sev2 => Duration::hours(1),
            Sev::Sev3 => Duration::hours(4),
            Sev::Sev4 => Duration::hours(24),
        }
    }

    pub fn number(self) -> u8 {
        match self {
            Sev::Sev1 => 1,
            Sev::Sev2 => 2,
            Sev::Sev3 => 3,
            Sev::Sev4 => 4,
        }
    }

    pub fn from_number(n: u8) -> Option<Sev> {
        match n {
            1 => Some(Sev::Sev1),
            2 => Some(Sev::Sev2),
            3 => Some(Sev::Sev3),
            4 => Some(Sev::Sev4),
            _ => None,
        }
    }
}

impl fmt::Display for Sev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SEV{}", self.number())
    }
}
