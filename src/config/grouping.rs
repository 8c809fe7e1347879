//! `[grouping]`: which incidents are one incident. A prompt change shows up as drift and as an
//! eval regression on the same feature; an agent loop as a cost explosion and as a refusal
//! ratio that halves. Incidents on one feature whose onsets fall within `window_secs` of the
//! group's first and whose types are linked here are drawn as one parent row. The built-in
//! values live in defaults.toml.

use crate::domain::IncidentType;
use serde::Deserialize;

/// The longest window accepted: a day. Beyond that, unrelated incidents of a busy feature
/// would fold into one row and hide each other.
pub const MAX_WINDOW_SECS: u32 = 86_400;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSettings {
    /// How long after a group's first onset a linked incident still joins it.
    pub window_secs: Window,
    /// Pairs of types that share causes; an incident joins a group when its type is linked
    /// to the type of a member. A type is linked to itself only when a pair says so.
    pub links: Vec<[IncidentType; 2]>,
}

impl GroupSettings {
    /// Nothing groups: every incident is its own row.
    pub fn off() -> Self {
        GroupSettings {
            window_secs: Window(0),
            links: Vec::new(),
        }
    }

    pub fn linked(&self, a: IncidentType, b: IncidentType) -> bool {
        self.links
            .iter()
            .any(|[x, y]| (*x == a && *y == b) || (*x == b && *y == a))
    }
}

impl Default for GroupSettings {
    /// The `[grouping]` table of the built-in defaults.toml.
    fn default() -> Self {
        #[derive(Deserialize)]
        struct Defaults {
            grouping: GroupSettings,
        }
        toml::from_str::<Defaults>(include_str!("defaults.toml"))
            .ok()
            .map(|d| d.grouping)
            .unwrap_or_else(GroupSettings::off)
    }
}

/// `window_secs`: 0 to `MAX_WINDOW_SECS`, refused otherwise when the file is read.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Window(u32);

impl TryFrom<i64> for Window {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, String> {
        match u32::try_from(n) {
            Ok(n) if n <= MAX_WINDOW_SECS => Ok(Window(n)),
            _ => Err(format!(
                "window_secs must be 0 to {MAX_WINDOW_SECS}, not {n}"
            )),
        }
    }
}

impl Window {
    pub fn secs(self) -> i64 {
        i64::from(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_links_join_a_prompt_change_and_an_agent_loop() {
        let g = GroupSettings::default();
        assert!(g.window_secs.secs() > 0, "{g:?}");
        assert!(g.linked(IncidentType::CapabilityDrift, IncidentType::EvalRegression));
        assert!(g.linked(IncidentType::EvalRegression, IncidentType::CapabilityDrift));
        assert!(g.linked(IncidentType::CostExplosion, IncidentType::GuardrailBypass));
        assert!(!g.linked(IncidentType::Errors, IncidentType::LatencyDegradation));
        assert!(!g.linked(IncidentType::CapabilityDrift, IncidentType::CapabilityDrift));
    }

    #[test]
    fn a_window_outside_its_range_is_refused() {
        assert!(Window::try_from(-1).is_err());
        assert!(Window::try_from(i64::from(MAX_WINDOW_SECS) + 1).is_err());
        assert_eq!(Window::try_from(900).map(Window::secs), Ok(900));
    }

    #[test]
    fn an_unknown_type_in_a_link_is_refused() {
        let bad = toml::from_str::<GroupSettings>(
            "window_secs = 60\nlinks = [[\"capability_drift\", \"vibes\"]]",
        );
        assert!(bad.is_err());
    }
}
