//! `[cost]`: what the cost-burn clock of a cost incident measures against: a daily budget per
//! feature (USD) and the day's clock (a fixed offset from UTC). Built-in values in
//! defaults.toml.

use chrono::Offset as _;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostSettings {
    /// Feature → USD a day it may spend; the clock says when that runs out at the current burn.
    pub daily_budget_usd: BTreeMap<String, Budget>,
    /// Where the day starts and ends, as minutes east of UTC (-720 to 840).
    pub day_utc_offset_minutes: Offset,
}

/// A budget: a finite number of USD above zero, refused otherwise when the file is read.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(try_from = "f64")]
pub struct Budget(f64);

impl TryFrom<f64> for Budget {
    type Error = String;
    fn try_from(v: f64) -> Result<Self, String> {
        if v.is_finite() && v > 0.0 {
            Ok(Budget(v))
        } else {
            Err(format!(
                "a daily budget must be a positive number of USD, not {v}"
            ))
        }
    }
}

impl Budget {
    pub fn get(self) -> f64 {
        self.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Offset(chrono::FixedOffset);

impl TryFrom<i64> for Offset {
    type Error = String;
    fn try_from(m: i64) -> Result<Self, String> {
        (-720..=840)
            .contains(&m)
            .then(|| chrono::FixedOffset::east_opt((m * 60) as i32))
            .flatten()
            .map(Offset)
            .ok_or_else(|| format!("day_utc_offset_minutes must be -720 to 840, not {m}"))
    }
}

impl Offset {
    pub fn get(self) -> chrono::FixedOffset {
        self.0
    }
}

impl Default for CostSettings {
    /// The `[cost]` table of the built-in defaults.toml.
    fn default() -> Self {
        #[derive(Deserialize)]
        struct Defaults {
            cost: CostSettings,
        }
        toml::from_str::<Defaults>(include_str!("defaults.toml"))
            .ok()
            .map(|d| d.cost)
            .unwrap_or(CostSettings {
                daily_budget_usd: BTreeMap::new(),
                day_utc_offset_minutes: Offset(chrono::Utc.fix()),
            })
    }
}

impl CostSettings {
    pub fn budget(&self, feature: &str) -> Option<f64> {
        self.daily_budget_usd.get(feature).map(|b| b.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_day_is_utc_and_bad_values_are_refused() {
        let c = CostSettings::default();
        assert_eq!(c.day_utc_offset_minutes.get().local_minus_utc(), 0);
        assert!(Budget::try_from(0.0).is_err());
        assert!(Budget::try_from(f64::NAN).is_err());
        assert!(Offset::try_from(841).is_err());
        assert_eq!(
            Offset::try_from(-300).map(|o| o.get().local_minus_utc()),
            Ok(-18_000)
        );
    }
}
