//! Settings: the built-in defaults.toml overlaid with the user's config.toml, plus the theme
//! and keymap they name. A config.toml with any mistake is refused whole, with every error
//! located (see `check`): falling back to defaults would swap the systems a responder watches
//! for the simulated fleet. A bad theme or keymap file only changes how things look and which
//! keys do what, so it falls back to the built-in one and says which file, line and key.

use super::error::ConfigError;
use super::keymap::Keymap;
use super::sources::{SourceSchema, Sources};
use super::theme::{self, Theme};
use crate::detect::DetectConfig;
use serde::Deserialize;
use std::path::{Path, PathBuf};

const DEFAULTS: &str = include_str!("defaults.toml");

pub use super::sim::SimSettings;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub theme: String,
    pub keymap: String,
    /// Who the audit log and backends record as acting; defaults to $USER.
    #[serde(default)]
    pub author: Option<String>,
    pub sim: SimSettings,
    pub alerts: super::alerts::AlertSettings,
    pub samples: super::samples::SampleSettings,
    pub grouping: super::grouping::GroupSettings,
    pub detect: DetectConfig,
    pub containment: super::containment::ContainmentSettings,
    pub cost: super::cost::CostSettings,
    /// How the lever dialogs compare variants (`[shadow]`).
    pub shadow: super::shadow::ShadowSettings,
    /// How long each SEV may wait for an acknowledgement, in hours and out (`[respond]`).
    pub respond: super::respond::RespondPolicy,
    /// Per-kind defaults, already folded into `sources` by `fill_source_defaults`.
    #[serde(default)]
    pub source_defaults: toml::Table,
    /// The `[[kind]]` tables, taken out before the rest is read (see `settings_from`).
    #[serde(skip)]
    pub sources: Sources,
}

/// Where the cockpit reads configuration and writes its audit log and log file.
#[derive(Clone, Debug)]
pub struct Paths {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
}

impl Paths {
    pub fn discover(data_override: Option<PathBuf>, config_override: Option<&Path>) -> Paths {
        let dirs = directories::ProjectDirs::from("", "", "oncall-cockpit");
        let fallback = std::env::temp_dir().join("oncall-cockpit");
        let config_dir = match (config_override.and_then(Path::parent), &dirs) {
            (Some(p), _) => p.to_path_buf(),
            (None, Some(d)) => d.config_dir().to_path_buf(),
            (None, None) => fallback.clone(),
        };
        let data_dir = data_override
            .or_else(|| dirs.as_ref().map(|d| d.data_dir().to_path_buf()))
            .unwrap_or(fallback);
        Paths {
            config_dir,
            data_dir,
        }
    }

    pub fn audit_log(&self) -> PathBuf {
        self.data_dir.join("audit.jsonl")
    }

    pub fn log_file(&self) -> PathBuf {
        self.data_dir.join("cockpit.log")
    }
}

pub struct Loaded {
    pub settings: Settings,
    pub theme: Theme,
    pub keymap: Keymap,
    /// Theme and keymap files that were wrong and what was used instead; shown in the
    /// cockpit at start-up.
    pub warnings: Vec<String>,
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Gives every `[[prometheus]]` (etc.) entry the keys it does not set from
/// `[source_defaults.prometheus]`.
fn fill_source_defaults(table: &mut toml::Table) {
    let defaults = match table.get("source_defaults") {
        Some(toml::Value::Table(t)) => t.clone(),
        _ => return,
    };
    for (kind, kind_defaults) in defaults {
        let toml::Value::Table(kind_defaults) = kind_defaults else {
            continue;
        };
        if let Some(toml::Value::Array(entries)) = table.get_mut(&kind) {
            for entry in entries.iter_mut() {
                if let toml::Value::Table(t) = entry {
                    let mut filled = kind_defaults.clone();
                    merge(&mut filled, std::mem::take(t));
                    *t = filled;
                }
            }
        }
    }
}

fn builtin_settings() -> Result<(toml::Table, Settings), String> {
    let table: toml::Table =
        toml::from_str(DEFAULTS).map_err(|e| format!("built-in defaults.toml: {e}"))?;
    let settings = Settings::deserialize(toml::Value::Table(table.clone()))
        .map_err(|e| format!("built-in defaults.toml: {e}"))?;
    Ok((table, settings))
}

/// Reads the user's config file over the defaults. No file at the default place means the
/// defaults (the simulated fleet); an explicit `--config` that cannot be read, or any mistake
/// in the file, is every error found.
pub fn load_settings(
    user_file: &Path,
    explicit: bool,
    kinds: &[&dyn SourceSchema],
) -> Result<Settings, Vec<ConfigError>> {
    let label = user_file.display().to_string();
    let whole = |message: String| vec![ConfigError::whole(&label, message)];
    let text = match std::fs::read_to_string(user_file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return builtin_settings().map(|(_, s)| s).map_err(whole)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(whole(
                "no such file (a config named with --config must exist)".into(),
            ))
        }
        Err(e) => return Err(whole(format!("cannot read: {e}"))),
    };
    settings_from(&label, &text, kinds)
}

/// The text of a user config.toml over the built-in defaults, as `load_settings` reads it,
/// with every error on one line each.
pub fn parse_settings(text: &str, kinds: &[&dyn SourceSchema]) -> Result<Settings, String> {
    settings_from("config.toml", text, kinds).map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// Checks `text` whole, then builds the settings from it over the defaults. `kinds` are the
/// kinds of source a config may name (the source registry's list).
pub fn settings_from(
    label: &str,
    text: &str,
    kinds: &[&dyn SourceSchema],
) -> Result<Settings, Vec<ConfigError>> {
    super::check::check(label, text, DEFAULTS, kinds)?;
    let whole = |message: String| vec![ConfigError::whole(label, message)];
    let (mut table, _) = builtin_settings().map_err(whole)?;
    let user = toml::from_str::<toml::Table>(text).map_err(|e| whole(e.to_string()))?;
    merge(&mut table, user);
    fill_source_defaults(&mut table);
    let sources = Sources::take(&mut table, kinds);
    // The check above accepts only what deserialises; this cannot fail unless the two drift.
    let mut settings =
        Settings::deserialize(toml::Value::Table(table)).map_err(|e| whole(e.to_string()))?;
    settings.sources = sources;
    Ok(settings)
}

fn read_user(dir: &Path, sub: &str, name: &str) -> Option<(String, String)> {
    let path = dir.join(sub).join(format!("{name}.toml"));
    std::fs::read_to_string(&path)
        .ok()
        .map(|t| (path.display().to_string(), t))
}

/// What theme and keymap files share: built-ins by name, a full parse, and a user overlay.
trait Layered: Clone + Sized {
    const KIND: &'static str;
    const DIR: &'static str;
    fn builtin(name: &str) -> Option<&'static str>;
    fn builtin_names() -> &'static [&'static str];
    fn parse(label: &str, text: &str) -> Result<Self, ConfigError>;
    fn overlay(base: &Self, label: &str, text: &str) -> Result<Self, ConfigError>;
}

impl Layered for Theme {
    const KIND: &'static str = "theme";
    const DIR: &'static str = "themes";
    fn builtin(name: &str) -> Option<&'static str> {
        Theme::builtin(name)
    }
    fn builtin_names() -> &'static [&'static str] {
        Theme::builtin_names()
    }
    fn parse(label: &str, text: &str) -> Result<Self, ConfigError> {
        Theme::parse(label, text)
    }
    fn overlay(base: &Self, label: &str, text: &str) -> Result<Self, ConfigError> {
        Theme::overlay(base, label, text)
    }
}

impl Layered for Keymap {
    const KIND: &'static str = "keymap";
    const DIR: &'static str = "keymaps";
    fn builtin(name: &str) -> Option<&'static str> {
        Keymap::builtin(name)
    }
    fn builtin_names() -> &'static [&'static str] {
        Keymap::builtin_names()
    }
    fn parse(label: &str, text: &str) -> Result<Self, ConfigError> {
        Keymap::parse(label, text)
    }
    fn overlay(base: &Self, label: &str, text: &str) -> Result<Self, ConfigError> {
        Keymap::overlay(base, label, text)
    }
}

/// A user file `<config>/<dir>/NAME.toml` overlays the built-in of that name (or the default
/// for a new name), so it only needs what it changes. `None` only if the built-in default
/// itself is broken, which the config tests rule out.
fn load_layered<T: Layered>(
    config_dir: &Path,
    name: &str,
    warnings: &mut Vec<String>,
) -> Option<T> {
    let builtin = |n: &str| {
        T::builtin(n).and_then(|text| T::parse(&format!("{}/{n}.toml", T::DIR), text).ok())
    };
    let default = builtin("default")?;
    let base = builtin(name).unwrap_or_else(|| default.clone());
    Some(match read_user(config_dir, T::DIR, name) {
        Some((label, text)) => match T::overlay(&base, &label, &text) {
            Ok(t) => t,
            Err(e) => {
                warnings.push(format!("{e}; using built-in {}", T::KIND));
                base
            }
        },
        None => {
            if T::builtin(name).is_none() {
                warnings.push(format!(
                    "unknown {} \"{name}\" (built-in: {}); using default",
                    T::KIND,
                    T::builtin_names().join(", ")
                ));
            }
            base
        }
    })
}

pub fn load_theme(config_dir: &Path, name: &str, warnings: &mut Vec<String>) -> Option<Theme> {
    load_layered(config_dir, name, warnings)
}

pub fn load_keymap(config_dir: &Path, name: &str, warnings: &mut Vec<String>) -> Option<Keymap> {
    load_layered(config_dir, name, warnings)
}

pub struct Overrides<'a> {
    pub theme: Option<&'a str>,
    pub keymap: Option<&'a str>,
    pub no_color_env: Option<&'a str>,
}

pub fn load(
    config_file: &Path,
    explicit: bool,
    config_dir: &Path,
    o: &Overrides,
    kinds: &[&dyn SourceSchema],
) -> Result<Loaded, Vec<ConfigError>> {
    let settings = load_settings(config_file, explicit, kinds)?;
    let mut warnings = Vec::new();
    let builtin_broken =
        |what: &str| vec![ConfigError::whole(&format!("built-in {what}"), "invalid")];
    // NO_COLOR wins over the configured theme, but not over one named on the command line.
    let theme_name = match (o.theme, theme::no_color_requested(o.no_color_env)) {
        (Some(t), _) => t.to_string(),
        (None, true) => "no-color".to_string(),
        (None, false) => settings.theme.clone(),
    };
    let theme = load_theme(config_dir, &theme_name, &mut warnings)
        .ok_or_else(|| builtin_broken("default theme"))?;
    let keymap_name = o
        .keymap
        .map(str::to_string)
        .unwrap_or_else(|| settings.keymap.clone());
    let keymap = load_keymap(config_dir, &keymap_name, &mut warnings)
        .ok_or_else(|| builtin_broken("default keymap"))?;
    Ok(Loaded {
        settings,
        theme,
        keymap,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("oc-settings-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let _ = std::fs::create_dir_all(&d);
        d
    }

    #[test]
    fn defaults_load_without_a_user_file() {
        let d = tmp("none");
        let s = load_settings(&d.join("config.toml"), false, &[]).expect("defaults");
        assert_eq!(s.theme, "default");
        assert_eq!(s.detect.error_ratio, 0.05);
    }

    #[test]
    fn user_file_overrides_one_key_and_keeps_the_rest() {
        let d = tmp("partial");
        let f = d.join("config.toml");
        std::fs::write(&f, "[detect]\nerror_ratio = 0.1\n").expect("write");
        let s = load_settings(&f, true, &[]).expect("load");
        assert_eq!(s.detect.error_ratio, 0.1);
        assert_eq!(s.detect.drift_js, 0.1);
    }

    #[test]
    fn a_features_own_cap_keeps_the_default_caps_and_bad_caps_are_located() {
        let d = tmp("caps");
        let f = d.join("config.toml");
        std::fs::write(
            &f,
            "[detect.caps.feature.\"triage-agent\"]\ncost_per_min_usd = 40.0\n",
        )
        .expect("write");
        let s = load_settings(&f, true, &[]).expect("load");
        let caps = s.detect.caps.resolve("triage-agent", None);
        assert_eq!(caps.cost_per_min.line, 40.0);
        assert_eq!(s.detect.caps.resolve("other", None).cost_per_min.line, 10.0);
        std::fs::write(
            &f,
            "[detect.caps]\ncost_per_min_usd = -1.0\n[detect.caps.feature.x]\nerror_ratio = 2.0\n",
        )
        .expect("write");
        let errors = load_settings(&f, true, &[]).expect_err("refused");
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert!(text.iter().any(|e| e.contains("above zero")), "{text:?}");
        assert!(
            text.iter().any(|e| e.contains("between 0 and 1")),
            "{text:?}"
        );
    }

    #[test]
    fn bad_user_file_is_refused_with_every_error_located() {
        let d = tmp("bad");
        let f = d.join("config.toml");
        std::fs::write(&f, "theme = \"default\"\n[sim]\nsped = 3\nseed = \"x\"\n").expect("write");
        let errors = load_settings(&f, true, &[]).expect_err("refused");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].line, Some(3));
        assert_eq!(errors[0].key.as_deref(), Some("sped"));
        assert_eq!(errors[1].line, Some(4));
        assert!(
            errors[1].to_string().contains("config.toml"),
            "{}",
            errors[1]
        );
    }

    #[test]
    fn a_missing_explicit_file_is_an_error_and_a_missing_default_one_is_not() {
        let d = tmp("missing");
        let f = d.join("nope.toml");
        assert!(load_settings(&f, false, &[]).is_ok());
        let errors = load_settings(&f, true, &[]).expect_err("refused");
        assert!(errors[0].message.contains("no such file"), "{errors:?}");
    }

    #[test]
    fn bad_user_theme_falls_back_with_a_message() {
        let d = tmp("theme");
        std::fs::create_dir_all(d.join("themes")).expect("mkdir");
        std::fs::write(d.join("themes/default.toml"), "sev1 = \"redd\"\n").expect("write");
        let mut w = Vec::new();
        let _ = load_theme(&d, "default", &mut w);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].contains("default.toml") && w[0].contains("sev1"),
            "{}",
            w[0]
        );
        let mut w = Vec::new();
        let _ = load_theme(&d, "nope", &mut w);
        assert!(w[0].contains("unknown theme \"nope\""), "{}", w[0]);
    }
}
