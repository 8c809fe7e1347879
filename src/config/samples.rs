//! `[samples]`: how the samples view reads what the model said. The built-in values live in
//! defaults.toml.

use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleSettings {
    /// Phrases that make an output a refusal, matched without regard to case. A source that
    /// labels refusals itself keeps its labels; these find the ones it did not label.
    pub refusal_templates: Vec<String>,
    /// Samples asked for per window.
    pub per_window: PerWindow,
    /// The baseline window: this long, ending `baseline_gap_secs` before the incident's
    /// onset, so the last minutes before detection (already drifting) are not "before".
    pub baseline_secs: u32,
    pub baseline_gap_secs: u32,
}

impl Default for SampleSettings {
    /// The `[samples]` table of the built-in defaults.toml.
    fn default() -> Self {
        #[derive(Deserialize)]
        struct Defaults {
            samples: SampleSettings,
        }
        toml::from_str::<Defaults>(include_str!("defaults.toml"))
            .ok()
            .map(|d| d.samples)
            .unwrap_or(SampleSettings {
                refusal_templates: Vec::new(),
                per_window: PerWindow(200),
                baseline_secs: 3600,
                baseline_gap_secs: 300,
            })
    }
}

/// `per_window`: 1 to `MAX_SAMPLES_PER_WINDOW`, refused otherwise when the file is read.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(try_from = "i64")]
pub struct PerWindow(usize);

impl TryFrom<i64> for PerWindow {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, String> {
        let max = crate::domain::sample::MAX_SAMPLES_PER_WINDOW;
        match usize::try_from(n) {
            Ok(n) if (1..=max).contains(&n) => Ok(PerWindow(n)),
            _ => Err(format!("per_window must be 1 to {max}, not {n}")),
        }
    }
}

impl PerWindow {
    pub fn get(self) -> usize {
        self.0
    }
}

impl SampleSettings {
    /// The first refusal template `output` holds, by its index.
    pub fn refusal_template(&self, output: &str) -> Option<usize> {
        let lower = output.to_lowercase();
        self.refusal_templates
            .iter()
            .position(|t| !t.is_empty() && lower.contains(&t.to_lowercase()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_templates_match_common_refusals_and_not_answers() {
        let s = SampleSettings::default();
        assert!(s.refusal_templates.len() >= 3, "{s:?}");
        assert_eq!(s.per_window.get(), 200);
        assert!(PerWindow::try_from(0).is_err() && PerWindow::try_from(501).is_err());
        for refusal in [
            "I'm sorry, but I can't help with that.",
            "I'm not able to help with that request.",
            "I CAN'T ASSIST WITH THAT.",
        ] {
            assert!(s.refusal_template(refusal).is_some(), "{refusal}");
        }
        assert_eq!(
            s.refusal_template("Here's how to reset your password."),
            None
        );
    }
}
