//! Themes: flat TOML files mapping a semantic role to a style (television-style).
//!
//! ```toml
//! border = "240"                                   # foreground only
//! sev1 = { fg = "white", bg = "red", bold = true } # full style
//! ```
//!
//! Renderers ask for a role, never for a colour, so a theme (including `no-color`) can change
//! every colour without touching UI code.

use super::error::{parse_document, value_kind, ConfigError, Raw};
use crate::domain::Sev;
use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::str::FromStr;
use toml::Spanned;

/// What a piece of the screen means; themes map each role to a style.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThemeRole {
    /// Ordinary text and the screen background.
    Base,
    Border,
    /// Pane titles.
    Title,
    /// Table column headers.
    Header,
    /// Secondary text: timestamps, hints, labels.
    Muted,
    /// The highlighted row.
    Selected,
    Sev1,
    Sev2,
    Sev3,
    Sev4,
    /// Incident status: nobody has acknowledged it yet.
    Triggered,
    Acknowledged,
    Resolved,
    /// The response-time countdown has run out.
    Overdue,
    /// The response-time countdown while time remains.
    Countdown,
    Ok,
    Warn,
    Error,
    /// Data that has not been refreshed recently (backend down or slow).
    Stale,
    Sparkline,
    /// Sparkline points beyond the detector threshold.
    SparklineBreach,
    /// The threshold line or value next to a signal.
    Threshold,
    /// Key names in the footer and help screen.
    Key,
    Dialog,
    /// Dialogs for irreversible or wide-impact actions (kill switch, rollback).
    DialogDanger,
    /// An action sent but not yet confirmed by the backend.
    Pending,
    /// The read-only indicator (no write credentials, or --read-only).
    ReadOnly,
    /// The filter input and the active-filter indicator.
    Filter,
    /// A lever landed and the cockpit is watching whether the signal comes back.
    Containing,
    /// The signal is back inside its pre-incident band after a lever: quiet, not urgent.
    Contained,
    /// Past the deadline after a lever and the signal is still out: the next lever is due.
    NotContained,
    /// A row marked for a bulk action, and the count of marks.
    Marked,
    /// A group's parent row marker and its members' indent: incidents of one cause.
    Group,
}

impl ThemeRole {
    /// Every role, in declaration order (`ThemeRole::ALL[r as usize] == r`).
    pub const ALL: [ThemeRole; 33] = [
        ThemeRole::Base,
        ThemeRole::Border,
        ThemeRole::Title,
        ThemeRole::Header,
        ThemeRole::Muted,
        ThemeRole::Selected,
        ThemeRole::Sev1,
        ThemeRole::Sev2,
        ThemeRole::Sev3,
        ThemeRole::Sev4,
        ThemeRole::Triggered,
        ThemeRole::Acknowledged,
        ThemeRole::Resolved,
        ThemeRole::Overdue,
        ThemeRole::Countdown,
        ThemeRole::Ok,
        ThemeRole::Warn,
        ThemeRole::Error,
        ThemeRole::Stale,
        ThemeRole::Sparkline,
        ThemeRole::SparklineBreach,
        ThemeRole::Threshold,
        ThemeRole::Key,
        ThemeRole::Dialog,
        ThemeRole::DialogDanger,
        ThemeRole::Pending,
        ThemeRole::ReadOnly,
        ThemeRole::Filter,
        ThemeRole::Containing,
        ThemeRole::Contained,
        ThemeRole::NotContained,
        ThemeRole::Marked,
        ThemeRole::Group,
    ];

    /// The name used in theme files.
    pub fn name(self) -> &'static str {
        match self {
            ThemeRole::Base => "base",
            ThemeRole::Border => "border",
            ThemeRole::Title => "title",
            ThemeRole::Header => "header",
            ThemeRole::Muted => "muted",
            ThemeRole::Selected => "selected",
            ThemeRole::Sev1 => "sev1",
            ThemeRole::Sev2 => "sev2",
            ThemeRole::Sev3 => "sev3",
            ThemeRole::Sev4 => "sev4",
            ThemeRole::Triggered => "triggered",
            ThemeRole::Acknowledged => "acknowledged",
            ThemeRole::Resolved => "resolved",
            ThemeRole::Overdue => "overdue",
            ThemeRole::Countdown => "countdown",
            ThemeRole::Ok => "ok",
            ThemeRole::Warn => "warn",
            ThemeRole::Error => "error",
            ThemeRole::Stale => "stale",
            ThemeRole::Sparkline => "sparkline",
            ThemeRole::SparklineBreach => "sparkline_breach",
            ThemeRole::Threshold => "threshold",
            ThemeRole::Key => "key",
            ThemeRole::Dialog => "dialog",
            ThemeRole::DialogDanger => "dialog_danger",
            ThemeRole::Pending => "pending",
            ThemeRole::ReadOnly => "read_only",
            ThemeRole::Filter => "filter",
            ThemeRole::Containing => "containing",
            ThemeRole::Contained => "contained",
            ThemeRole::NotContained => "not_contained",
            ThemeRole::Marked => "marked",
            ThemeRole::Group => "group",
        }
    }

    /// The badge role of a SEV: each SEV's look comes from the theme file, never from a
    /// widget.
    pub fn sev(sev: Sev) -> ThemeRole {
        match sev {
            Sev::Sev1 => ThemeRole::Sev1,
            Sev::Sev2 => ThemeRole::Sev2,
            Sev::Sev3 => ThemeRole::Sev3,
            Sev::Sev4 => ThemeRole::Sev4,
        }
    }

    /// Look a role up by its file name, through serde so the names cannot drift from the enum.
    fn from_name(name: &str) -> Option<ThemeRole> {
        let de = serde::de::value::StrDeserializer::<serde::de::value::Error>::new(name);
        ThemeRole::deserialize(de).ok()
    }
}

const BUILTINS: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("no-color", include_str!("../../themes/no-color.toml")),
];

const BUILTIN_NAMES: &[&str] = &["default", "high-contrast", "no-color"];

const COLOUR_HINT: &str = "expected a name like \"red\", \"#rrggbb\" or 0-255";

/// A style for every role. Cheap to query: one array index per call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Theme {
    styles: [Style; ThemeRole::ALL.len()],
}

impl Theme {
    /// The style for `role`; called for every cell drawn, so it must stay trivial.
    pub fn style(&self, role: ThemeRole) -> Style {
        self.styles[role as usize]
    }

    /// Parse a complete theme: every role must be present, so a theme never silently falls back
    /// to unstyled text for something important like SEV1.
    pub fn parse(file_label: &str, text: &str) -> Result<Theme, ConfigError> {
        let entries = read_entries(file_label, text)?;
        let mut styles: [Option<Style>; ThemeRole::ALL.len()] = [None; ThemeRole::ALL.len()];
        for (role, style) in entries {
            styles[role as usize] = Some(style);
        }
        let missing: Vec<&str> = ThemeRole::ALL
            .iter()
            .filter(|r| styles[**r as usize].is_none())
            .map(|r| r.name())
            .collect();
        if let Some(first) = missing.first() {
            return Err(ConfigError {
                file: file_label.to_string(),
                line: None,
                column: None,
                table: None,
                key: Some((*first).to_string()),
                message: format!(
                    "missing role{} {} (a full theme must style every role; a user theme that \
                     only changes some roles is layered over a built-in one)",
                    if missing.len() == 1 { "" } else { "s" },
                    missing.join(", ")
                ),
            });
        }
        Ok(Theme {
            styles: styles.map(Option::unwrap_or_default),
        })
    }

    /// A user file that restyles some roles on top of `base`; each role it names replaces the
    /// base style for that role entirely (no field-by-field merge, so the file reads as what
    /// you get).
    pub fn overlay(base: &Theme, file_label: &str, text: &str) -> Result<Theme, ConfigError> {
        let mut theme = base.clone();
        for (role, style) in read_entries(file_label, text)? {
            theme.styles[role as usize] = style;
        }
        Ok(theme)
    }

    /// The embedded text of `themes/NAME.toml`, so the binary works without its data files.
    pub fn builtin(name: &str) -> Option<&'static str> {
        BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    /// Names accepted by [`Theme::builtin`].
    pub fn builtin_names() -> &'static [&'static str] {
        BUILTIN_NAMES
    }
}

/// NO_COLOR (no-color.org): set to any non-empty value means no colour.
pub fn no_color_requested(env_value: Option<&str>) -> bool {
    env_value.is_some_and(|v| !v.is_empty())
}

/// Validate every `role = …` entry of a file, in file order.
fn read_entries(file: &str, text: &str) -> Result<Vec<(ThemeRole, Style)>, ConfigError> {
    let entries = parse_document::<Raw<toml::Value>>(file, text)?;
    let mut out = Vec::with_capacity(entries.len());
    for (name, value) in entries {
        let role = ThemeRole::from_name(name.get_ref()).ok_or_else(|| {
            let known: Vec<&str> = ThemeRole::ALL.iter().map(|r| r.name()).collect();
            ConfigError::at(
                file,
                text,
                name.span(),
                name.get_ref(),
                format!(
                    "unknown role \"{}\" (known roles: {})",
                    name.get_ref(),
                    known.join(", ")
                ),
            )
        })?;
        let style = read_style(file, text, name.get_ref(), &value)?;
        out.push((role, style));
    }
    Ok(out)
}

/// `"colour"` (foreground only) or `{ fg, bg, bold, reversed, underlined, dim, italic }`.
fn read_style(
    file: &str,
    text: &str,
    role: &str,
    value: &Spanned<Raw<toml::Value>>,
) -> Result<Style, ConfigError> {
    match value.get_ref() {
        Raw::Str(colour) => {
            let fg = parse_colour(colour)
                .ok_or_else(|| colour_error(file, text, value.span(), role, colour))?;
            Ok(Style::default().fg(fg))
        }
        Raw::Map(fields) => {
            let mut style = Style::default();
            for (field, v) in fields {
                let key = format!("{role}.{}", field.get_ref());
                let at = |msg: String| ConfigError::at(file, text, v.span(), key.clone(), msg);
                match field.get_ref().as_str() {
                    "fg" | "bg" => {
                        let toml::Value::String(s) = v.get_ref() else {
                            return Err(at(format!(
                                "expected a colour string, found {}",
                                value_kind(v.get_ref())
                            )));
                        };
                        let colour = parse_colour(s)
                            .ok_or_else(|| colour_error(file, text, v.span(), &key, s))?;
                        style = if field.get_ref() == "fg" {
                            style.fg(colour)
                        } else {
                            style.bg(colour)
                        };
                    }
                    name @ ("bold" | "reversed" | "underlined" | "dim" | "italic") => {
                        let toml::Value::Boolean(on) = v.get_ref() else {
                            return Err(at(format!(
                                "expected true or false, found {}",
                                value_kind(v.get_ref())
                            )));
                        };
                        let modifier = match name {
                            "bold" => Modifier::BOLD,
                            "reversed" => Modifier::REVERSED,
                            "underlined" => Modifier::UNDERLINED,
                            "dim" => Modifier::DIM,
                            _ => Modifier::ITALIC,
                        };
                        // `false` actively removes the modifier, so a role patched over another
                        // (a selected row over a bold SEV badge) can switch it off.
                        style = if *on {
                            style.add_modifier(modifier)
                        } else {
                            style.remove_modifier(modifier)
                        };
                    }
                    other => {
                        return Err(ConfigError::at(
                            file,
                            text,
                            field.span(),
                            key.clone(),
                            format!(
                                "unknown style key \"{other}\" (expected fg, bg, bold, \
                                 reversed, underlined, dim or italic)"
                            ),
                        ))
                    }
                }
            }
            Ok(style)
        }
        other => Err(ConfigError::at(
            file,
            text,
            value.span(),
            role,
            format!(
                "expected a colour string or a table like {{ fg = \"white\", bg = \"red\", \
                 bold = true }}, found {}",
                other.kind()
            ),
        )),
    }
}

fn colour_error(
    file: &str,
    text: &str,
    span: std::ops::Range<usize>,
    key: &str,
    colour: &str,
) -> ConfigError {
    ConfigError::at(
        file,
        text,
        span,
        key,
        format!("unknown colour \"{colour}\" ({COLOUR_HINT})"),
    )
}

/// ratatui's colour names, "#rrggbb" and 0-255, plus "default" as a synonym for the terminal's
/// own colour ("reset").
fn parse_colour(s: &str) -> Option<Color> {
    let trimmed = s.trim();
    if trimmed.eq_ignore_ascii_case("default") {
        return Some(Color::Reset);
    }
    Color::from_str(trimmed).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin(name: &str) -> Theme {
        let text = Theme::builtin(name).expect("builtin exists");
        Theme::parse(&format!("themes/{name}.toml"), text).expect("builtin parses")
    }

    #[test]
    fn role_all_is_in_declaration_order_and_names_round_trip() {
        for (i, role) in ThemeRole::ALL.iter().enumerate() {
            assert_eq!(*role as usize, i);
            assert_eq!(ThemeRole::from_name(role.name()), Some(*role));
        }
    }

    #[test]
    fn builtins_parse() {
        for name in Theme::builtin_names() {
            builtin(name);
        }
        assert_eq!(Theme::builtin("nope"), None);
    }

    #[test]
    fn no_color_theme_uses_only_reset() {
        let theme = builtin("no-color");
        for role in ThemeRole::ALL {
            let s = theme.style(role);
            for colour in [s.fg, s.bg, s.underline_color] {
                assert!(
                    matches!(colour, None | Some(Color::Reset)),
                    "{} uses colour {colour:?}",
                    role.name()
                );
            }
        }
    }

    #[test]
    fn no_color_theme_keeps_key_distinctions() {
        let theme = builtin("no-color");
        let pairs = [
            (ThemeRole::Sev1, ThemeRole::Sev4),
            (ThemeRole::Sev1, ThemeRole::Sev2),
            (ThemeRole::Sev2, ThemeRole::Sev3),
            (ThemeRole::Sev3, ThemeRole::Sev4),
            (ThemeRole::Selected, ThemeRole::Base),
            (ThemeRole::SparklineBreach, ThemeRole::Sparkline),
            (ThemeRole::Overdue, ThemeRole::Countdown),
        ];
        for (a, b) in pairs {
            assert_ne!(
                theme.style(a),
                theme.style(b),
                "{} and {} look the same",
                a.name(),
                b.name()
            );
        }
    }

    #[test]
    fn string_and_table_forms() {
        let base = builtin("default");
        let t = Theme::overlay(
            &base,
            "user.toml",
            "sev1 = \"#ff0000\"\nsev2 = { fg = \"default\", bg = \"17\", bold = true, dim = false }\n",
        )
        .expect("valid overlay");
        assert_eq!(
            t.style(ThemeRole::Sev1),
            Style::default().fg(Color::Rgb(255, 0, 0))
        );
        assert_eq!(
            t.style(ThemeRole::Sev2),
            Style::default()
                .fg(Color::Reset)
                .bg(Color::Indexed(17))
                .add_modifier(Modifier::BOLD)
                .remove_modifier(Modifier::DIM)
        );
        assert_eq!(t.style(ThemeRole::Border), base.style(ThemeRole::Border));
    }

    #[test]
    fn bad_values_are_located() {
        let base = builtin("default");
        let e = Theme::overlay(&base, "u.toml", "\nsev1 = { bold = \"yes\" }\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("sev1.bold")));
        let e = Theme::overlay(&base, "u.toml", "sev1 = { fg = 3 }\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(1), Some("sev1.fg")));
        let e = Theme::overlay(&base, "u.toml", "\n\nsev1 = 3\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("sev1")));
        let e = Theme::overlay(&base, "u.toml", "sev1 = { fgg = \"red\" }\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(1), Some("sev1.fgg")));
    }

    #[test]
    fn missing_roles_are_listed() {
        let e = Theme::parse("t.toml", "base = \"reset\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("border"));
        assert!(e.message.contains("sev1"), "{e}");
    }

    #[test]
    fn no_color_env_semantics() {
        assert!(!no_color_requested(None));
        assert!(!no_color_requested(Some("")));
        assert!(no_color_requested(Some("1")));
        assert!(no_color_requested(Some("0")));
    }
}
