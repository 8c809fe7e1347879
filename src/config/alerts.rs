//! `[alerts]`: how the cockpit gets a responder's attention, and who each escalation level
//! reaches: a fixed roster of roles, and the rota (`[[alerts.rota]]`) of who is on call when,
//! for sources without schedules of their own. Read with the rest of the settings; the
//! built-in values live in defaults.toml.

use crate::domain::responders::{Layer, ResponderTarget};
use crate::domain::Sev;
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
    /// Minutes between status updates, per SEV; a SEV left out keeps no cadence.
    #[serde(default)]
    pub status_update_mins: UpdateCadence,
    /// Who owns each layer, for asking the right person in.
    #[serde(default)]
    pub layers: LayerOwners,
}

/// `status_update_mins`: one optional cadence per SEV, so a typo (`sev0`) is refused.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateCadence {
    #[serde(default)]
    pub sev1: Option<Minutes>,
    #[serde(default)]
    pub sev2: Option<Minutes>,
    #[serde(default)]
    pub sev3: Option<Minutes>,
    #[serde(default)]
    pub sev4: Option<Minutes>,
}

/// A cadence of 1 minute to a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u32")]
pub struct Minutes(pub u32);

impl TryFrom<u32> for Minutes {
    type Error = String;
    fn try_from(m: u32) -> Result<Self, String> {
        if (1..=1440).contains(&m) {
            Ok(Minutes(m))
        } else {
            Err(format!(
                "a status update cadence is 1 to 1440 minutes, not {m}"
            ))
        }
    }
}

impl UpdateCadence {
    pub fn for_sev(&self, sev: Sev) -> Option<chrono::Duration> {
        let m = match sev {
            Sev::Sev1 => self.sev1,
            Sev::Sev2 => self.sev2,
            Sev::Sev3 => self.sev3,
            Sev::Sev4 => self.sev4,
        }?;
        Some(chrono::Duration::minutes(i64::from(m.0)))
    }
}

/// `[alerts.layers]`: the owner of each layer. Unknown layers are refused by name.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerOwners {
    #[serde(default)]
    pub model: Option<Owner>,
    #[serde(default)]
    pub prompt: Option<Owner>,
    #[serde(default)]
    pub data: Option<Owner>,
    #[serde(default)]
    pub infrastructure: Option<Owner>,
}

impl LayerOwners {
    pub fn owner(&self, layer: Layer) -> Option<&Owner> {
        match layer {
            Layer::Model => self.model.as_ref(),
            Layer::Prompt => self.prompt.as_ref(),
            Layer::Data => self.data.as_ref(),
            Layer::Infrastructure => self.infrastructure.as_ref(),
        }
    }
}

/// Who owns a layer: a name for the screen, and whom PagerDuty pages, if anyone.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "RawOwner")]
pub struct Owner {
    pub name: String,
    pub pagerduty: Option<ResponderTarget>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOwner {
    name: String,
    #[serde(default)]
    pagerduty_user: Option<String>,
    #[serde(default)]
    pagerduty_escalation_policy: Option<String>,
}

impl TryFrom<RawOwner> for Owner {
    type Error = String;
    fn try_from(r: RawOwner) -> Result<Self, String> {
        let name = r.name.trim().to_string();
        if name.is_empty() {
            return Err("a layer owner needs a `name` (who is asked in)".into());
        }
        let id = |key: &str, v: String| -> Result<String, String> {
            let v = v.trim().to_string();
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!(
                    "owner {name:?}: `{key}` {v:?} is not a PagerDuty id (letters and digits, \
                     like \"PABC123\")"
                ));
            }
            Ok(v)
        };
        let pagerduty = match (r.pagerduty_user, r.pagerduty_escalation_policy) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "owner {name:?}: give `pagerduty_user` or `pagerduty_escalation_policy`, \
                     not both"
                ))
            }
            (Some(u), None) => Some(ResponderTarget::User(id("pagerduty_user", u)?)),
            (None, Some(p)) => Some(ResponderTarget::EscalationPolicy(id(
                "pagerduty_escalation_policy",
                p,
            )?)),
            (None, None) => None,
        };
        Ok(Owner { name, pagerduty })
    }
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
                status_update_mins: UpdateCadence::default(),
                layers: LayerOwners::default(),
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
        assert_eq!(
            a.status_update_mins.for_sev(Sev::Sev1),
            Some(chrono::Duration::minutes(30))
        );
        assert_eq!(a.status_update_mins.for_sev(Sev::Sev4), None);
        assert_eq!(a.layers, LayerOwners::default(), "no owner is built in");
    }

    #[test]
    fn layer_owners_are_read_and_a_wrong_one_is_refused_saying_what_to_fix() {
        let a = rota(
            r#"
[layers.model]
name = "Jane Doe (ML)"
pagerduty_user = "PJANE01"
[layers.data]
name = "Data on-call"
pagerduty_escalation_policy = "PDATA01"
[layers.infrastructure]
name = "Sam (platform)"
"#,
        )
        .expect("valid owners");
        let model = a.layers.owner(Layer::Model).expect("model");
        assert_eq!(model.name, "Jane Doe (ML)");
        assert_eq!(
            model.pagerduty,
            Some(ResponderTarget::User("PJANE01".into()))
        );
        assert_eq!(
            a.layers
                .owner(Layer::Data)
                .and_then(|o| o.pagerduty.clone()),
            Some(ResponderTarget::EscalationPolicy("PDATA01".into()))
        );
        assert_eq!(
            a.layers
                .owner(Layer::Infrastructure)
                .map(|o| o.pagerduty.clone()),
            Some(None)
        );
        assert_eq!(a.layers.owner(Layer::Prompt), None);
        for (text, says) in [
            ("[layers.retrieval]\nname = \"x\"", "unknown field `retrieval`"),
            ("[layers.model]\nname = \" \"", "needs a `name`"),
            (
                "[layers.model]\nname = \"x\"\npagerduty_user = \"P/1\"",
                "not a PagerDuty id",
            ),
            (
                "[layers.model]\nname = \"x\"\npagerduty_user = \"P1\"\npagerduty_escalation_policy = \"P2\"",
                "not both",
            ),
            ("status_update_mins = { sev0 = 5 }", "unknown field `sev0`"),
            ("status_update_mins = { sev1 = 0 }", "1 to 1440 minutes"),
        ] {
            let err = rota(text).expect_err(text);
            assert!(err.contains(says), "{text}: {err}");
        }
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
