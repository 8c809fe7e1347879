//! `[alerts]`: how the cockpit gets a responder's attention, and who each escalation level
//! reaches: a fixed roster of roles, and the rota (`[[alerts.rota]]`) of who is on call when,
//! for sources without schedules of their own. Read with the rest of the settings; the
//! built-in values live in defaults.toml.

use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// Ring the terminal bell when an incident becomes SEV1 (its row flashes either way).
    pub bell_on_sev1: bool,
    /// Who level 1, 2, … of the cockpit's own incidents reaches, for the escalate dialog.
    /// Incidents from PagerDuty or Alertmanager follow their own escalation policy.
    pub escalation_levels: Vec<String>,
    /// Who is on call at which level and when, for sources that keep no schedule (the
    /// cockpit's own detections, Alertmanager). PagerDuty incidents use PagerDuty's.
    #[serde(default)]
    pub rota: Vec<Shift>,
}

/// One `[[alerts.rota]]` entry: `name` is on call at `level` from `from` until `until` (RFC
/// 3339, with an offset; either left out: open-ended), for `sources` (none: every source
/// without a schedule).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "RawShift")]
pub struct Shift {
    pub level: u32,
    pub name: String,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub sources: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShift {
    level: u32,
    name: String,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    sources: Vec<String>,
}

/// Levels a rota names; PagerDuty's policies stop well before this.
const MAX_ROTA_LEVEL: u32 = 20;

impl TryFrom<RawShift> for Shift {
    type Error = String;
    fn try_from(r: RawShift) -> Result<Self, String> {
        let who = format!("rota entry {:?}", r.name);
        if r.name.trim().is_empty() {
            return Err("rota entry: `name` must name who is on call".into());
        }
        if !(1..=MAX_ROTA_LEVEL).contains(&r.level) {
            return Err(format!(
                "{who}: `level` must be 1 to {MAX_ROTA_LEVEL} (1 is the first responder), not {}",
                r.level
            ));
        }
        let time = |key: &str, v: &Option<String>| -> Result<Option<DateTime<Utc>>, String> {
            v.as_deref()
                .map(|t| {
                    DateTime::parse_from_rfc3339(t.trim())
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|e| {
                            format!(
                                "{who}: `{key}` {t:?} is not an RFC 3339 time with an offset \
                                 (like \"2026-12-01T09:00:00+01:00\"): {e}"
                            )
                        })
                })
                .transpose()
        };
        let from = time("from", &r.from)?;
        let until = time("until", &r.until)?;
        if let (Some(f), Some(u)) = (from, until) {
            if f >= u {
                return Err(format!("{who}: `from` must be before `until`"));
            }
        }
        if let Some(bad) = r.sources.iter().find(|s| s.trim().is_empty()) {
            return Err(format!("{who}: `sources` has an empty name {bad:?}"));
        }
        Ok(Shift {
            level: r.level,
            name: r.name.trim().to_string(),
            from,
            until,
            sources: r.sources,
        })
    }
}

impl Shift {
    fn covers(&self, source: &str, level: u32, now: DateTime<Utc>) -> bool {
        self.level == level
            && (self.sources.is_empty() || self.sources.iter().any(|s| s == source))
            && self.from.is_none_or(|f| f <= now)
            && self.until.is_none_or(|u| now < u)
    }
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
                rota: Vec::new(),
            })
    }
}

impl AlertSettings {
    /// Who escalation level `level` (0-based) reaches, when the roster names it.
    pub fn level_name(&self, level: usize) -> Option<&str> {
        self.escalation_levels.get(level).map(String::as_str)
    }

    /// Who the rota puts on call at `level` (1-based) for `source` at `now`, in file order.
    pub fn rota_names(&self, source: &str, level: u32, now: DateTime<Utc>) -> Vec<&str> {
        self.rota
            .iter()
            .filter(|s| s.covers(source, level, now))
            .map(|s| s.name.as_str())
            .collect()
    }

    /// The levels the rota names anyone at for `source` at `now`, lowest first.
    pub fn rota_levels(&self, source: &str, now: DateTime<Utc>) -> Vec<u32> {
        let mut levels: Vec<u32> = self
            .rota
            .iter()
            .filter(|s| s.covers(source, s.level, now))
            .map(|s| s.level)
            .collect();
        levels.sort_unstable();
        levels.dedup();
        levels
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
        assert!(a.rota.is_empty(), "the built-in rota names nobody");
    }

    fn rota(text: &str) -> Result<AlertSettings, String> {
        let base = "bell_on_sev1 = true\nescalation_levels = []\n";
        toml::from_str::<AlertSettings>(&format!("{base}{text}")).map_err(|e| e.to_string())
    }

    #[test]
    fn the_rota_names_who_is_on_call_by_source_level_and_time() {
        let a = rota(
            r#"
[[rota]]
level = 1
name = "Jane Doe (ML)"
from = "2026-12-01T09:00:00+01:00"
until = "2026-12-01T17:00:00+01:00"
[[rota]]
level = 1
name = "Night owl"
from = "2026-12-01T17:00:00+01:00"
[[rota]]
level = 2
name = "Bo Jensen"
sources = ["am"]
"#,
        )
        .expect("valid rota");
        let at = |t: &str| {
            DateTime::parse_from_rfc3339(t)
                .expect("time")
                .with_timezone(&Utc)
        };
        let day = at("2026-12-01T10:00:00Z");
        assert_eq!(a.rota_names("sim", 1, day), ["Jane Doe (ML)"]);
        // `until` is exclusive: at 17:00 the next shift has begun.
        assert_eq!(
            a.rota_names("sim", 1, at("2026-12-01T16:00:00Z")),
            ["Night owl"]
        );
        assert!(a
            .rota_names("sim", 1, at("2026-12-01T07:59:59Z"))
            .is_empty());
        assert!(
            a.rota_names("sim", 2, day).is_empty(),
            "level 2 is am's only"
        );
        assert_eq!(a.rota_names("am", 2, day), ["Bo Jensen"]);
        assert_eq!(a.rota_levels("am", day), [1, 2]);
        assert_eq!(a.rota_levels("sim", day), [1]);
    }

    #[test]
    fn a_wrong_rota_entry_is_refused_saying_what_to_fix() {
        for (entry, says) in [
            ("level = 0\nname = \"x\"", "`level` must be 1 to 20"),
            ("level = 1\nname = \" \"", "`name` must name who"),
            ("level = 1\nname = \"x\"\nfrom = \"9am\"", "not an RFC 3339 time"),
            (
                "level = 1\nname = \"x\"\nfrom = \"2026-12-02T00:00:00Z\"\nuntil = \"2026-12-01T00:00:00Z\"",
                "`from` must be before `until`",
            ),
            ("level = 1\nname = \"x\"\nsource = [\"am\"]", "unknown field `source`"),
        ] {
            let err = rota(&format!("[[rota]]\n{entry}\n")).expect_err(entry);
            assert!(err.contains(says), "{entry}: {err}");
        }
    }
}
