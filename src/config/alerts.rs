//! `[alerts]`: how the cockpit gets a responder's attention, and who each escalation level
//! reaches. Read with the rest of the settings; the built-in values live in defaults.toml.

use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// Ring the terminal bell when an incident becomes SEV1 (its row flashes either way).
    pub bell_on_sev1: bool,
    /// Who level 1, 2, … of the cockpit's own incidents reaches, for the escalate dialog.
    /// Incidents from PagerDuty or Alertmanager follow their own escalation policy.
    pub escalation_levels: Vec<String>,
}

impl Default for AlertSettings {
    /// The `[alerts]` table of the built-in defaults.toml.
    fn default() -> Self {
        #[derive(Deserialize)]
        struct Defaults {
            alerts: AlertSettings,
        }
        // Only [alerts] is read here; the other tables belong to other settings.
        toml::from_str::<Defaults>(include_str!("defaults.toml"))
            .ok()
            .map(|d| d.alerts)
            .unwrap_or(AlertSettings {
                bell_on_sev1: true,
                escalation_levels: Vec::new(),
            })
    }
}

impl AlertSettings {
    /// Who escalation level `level` (0-based) reaches, when the roster names it.
    pub fn level_name(&self, level: usize) -> Option<&str> {
        self.escalation_levels.get(level).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_defaults_name_a_roster_and_ring() {
        let a = AlertSettings::default();
        assert!(a.bell_on_sev1);
        assert!(a.escalation_levels.len() >= 2, "{a:?}");
        assert_eq!(a.level_name(99), None);
    }
}
