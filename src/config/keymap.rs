//! Keymaps: per-mode TOML tables mapping action names straight to keys (television-style).
//!
//! ```toml
//! [global]
//! quit = "ctrl-c"
//! [normal]
//! up = ["up", "k"]
//! ack = "a"
//! ```
//!
//! Action names are the serde names of [`Action`], so the file cannot drift from the code. The
//! reverse map (action → keys) feeds the help screen and footer hints, so what is shown is what
//! is bound.

use super::error::{parse_document, value_kind, ConfigError, Raw};
use crate::action::Action;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

/// Which key table is active. Keys are looked up in the mode's table first, then in Global.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Fallback for every mode; keep it to modifier keys so it never eats typed text.
    Global,
    /// The incident list and panes.
    Normal,
    /// Confirmation and list dialogs.
    Dialog,
    /// A text box has focus (filter, note, runbook answer).
    Text,
    /// The runbook walkthrough.
    Runbook,
}

impl Mode {
    pub const ALL: [Mode; 5] = [
        Mode::Global,
        Mode::Normal,
        Mode::Dialog,
        Mode::Text,
        Mode::Runbook,
    ];

    /// The table name used in keymap files.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Global => "global",
            Mode::Normal => "normal",
            Mode::Dialog => "dialog",
            Mode::Text => "text",
            Mode::Runbook => "runbook",
        }
    }

    fn from_name(name: &str) -> Option<Mode> {
        let de = serde::de::value::StrDeserializer::<serde::de::value::Error>::new(name);
        Mode::deserialize(de).ok()
    }
}

const BUILTINS: &[(&str, &str)] = &[
    ("default", include_str!("../../keymaps/default.toml")),
    ("vim", include_str!("../../keymaps/vim.toml")),
];

const BUILTIN_NAMES: &[&str] = &["default", "vim"];

const KEY_HINT: &str = "expected a single character, \"ctrl-x\", \"alt-x\", \"shift-tab\", \
     \"enter\", \"esc\", \"tab\", \"space\", \"backspace\", \"delete\", \"up\", \"down\", \"left\", \
     \"right\", \"pageup\", \"pagedown\", \"home\", \"end\" or \"f1\"..\"f12\"";

/// A key as bound: the code plus CONTROL/ALT (and SHIFT only for non-character keys, since a
/// character already carries its case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    code: KeyCode,
    mods: KeyModifiers,
}

impl Key {
    /// Normalise a terminal event the same way key strings are normalised. Only presses count:
    /// with the kitty protocol terminals also report releases, which would fire actions twice.
    fn from_event(event: &KeyEvent) -> Option<Key> {
        if event.kind != KeyEventKind::Press {
            return None;
        }
        let mut mods = event.modifiers;
        let code = match event.code {
            // crossterm reports 'A' with SHIFT; some protocols report 'a' with SHIFT. Both mean
            // the character 'A', which is what the keymap names.
            KeyCode::Char(c) if mods.contains(KeyModifiers::SHIFT) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::Char(upper(c))
            }
            KeyCode::BackTab => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            KeyCode::Tab if mods.contains(KeyModifiers::SHIFT) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            code => code,
        };
        Some(Key { code, mods })
    }

    /// Parse a key string from a keymap file; the error is the message without location.
    fn parse(text: &str) -> Result<Key, String> {
        let bad = || format!("bad key \"{text}\" ({KEY_HINT})");
        let mut mods = KeyModifiers::NONE;
        let mut rest = text;
        // Strip modifier prefixes while something follows them, so "ctrl--" is ctrl + '-'
        // and a lone "-" is the minus key.
        while rest.chars().count() > 1 {
            let prefix = [
                ("ctrl-", KeyModifiers::CONTROL),
                ("control-", KeyModifiers::CONTROL),
                ("alt-", KeyModifiers::ALT),
                ("shift-", KeyModifiers::SHIFT),
            ]
            .into_iter()
            .find(|(p, _)| {
                rest.get(..p.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(p))
            });
            match prefix {
                Some((p, m)) => {
                    mods.insert(m);
                    rest = &rest[p.len()..];
                }
                None => break,
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (None, _) => return Err(bad()),
            (Some(c), None) => KeyCode::Char(c),
            _ => named_key(rest).ok_or_else(bad)?,
        };
        let code = match code {
            KeyCode::Char(c) if mods.contains(KeyModifiers::SHIFT) => {
                // "shift-a" can only mean 'A'; "shift-1" depends on the keyboard layout, so ask
                // for the character itself.
                if !c.is_alphabetic() {
                    return Err(format!(
                        "bad key \"{text}\" (write the shifted character itself, e.g. \"!\" \
                         rather than \"shift-1\")"
                    ));
                }
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::Char(upper(c))
            }
            KeyCode::Tab if mods.contains(KeyModifiers::SHIFT) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            KeyCode::BackTab => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            code => code,
        };
        Ok(Key { code, mods })
    }

    /// Short readable form for the help screen and footer.
    fn display(&self) -> String {
        let mut out = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            out.push_str("ctrl-");
        }
        if self.mods.contains(KeyModifiers::ALT) {
            out.push_str("alt-");
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            out.push_str("shift-");
        }
        match self.code {
            KeyCode::Char(' ') => out.push_str("space"),
            KeyCode::Char(c) => out.push(c),
            KeyCode::F(n) => out.push_str(&format!("f{n}")),
            code => out.push_str(match code {
                KeyCode::Enter => "enter",
                KeyCode::Esc => "esc",
                KeyCode::Tab => "tab",
                KeyCode::BackTab => "shift-tab",
                KeyCode::Backspace => "backspace",
                KeyCode::Delete => "del",
                KeyCode::Insert => "ins",
                KeyCode::Up => "↑",
                KeyCode::Down => "↓",
                KeyCode::Left => "←",
                KeyCode::Right => "→",
                KeyCode::PageUp => "pgup",
                KeyCode::PageDown => "pgdn",
                KeyCode::Home => "home",
                KeyCode::End => "end",
                // Never produced by Key::parse.
                _ => "?",
            }),
        }
        out
    }
}

fn upper(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        // Characters whose uppercase is several characters (ß) stay as typed.
        _ => c,
    }
}

fn named_key(name: &str) -> Option<KeyCode> {
    let lower = name.to_ascii_lowercase();
    Some(match lower.as_str() {
        "enter" | "return" => KeyCode::Enter,
        "esc" | "escape" => KeyCode::Esc,
        "tab" => KeyCode::Tab,
        "backtab" => KeyCode::BackTab,
        "space" => KeyCode::Char(' '),
        "backspace" => KeyCode::Backspace,
        "delete" | "del" => KeyCode::Delete,
        "insert" | "ins" => KeyCode::Insert,
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "pageup" | "pgup" => KeyCode::PageUp,
        "pagedown" | "pgdn" => KeyCode::PageDown,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        f => {
            let n: u8 = f.strip_prefix('f')?.parse().ok()?;
            if !(1..=12).contains(&n) {
                return None;
            }
            KeyCode::F(n)
        }
    })
}

/// Index of an action in [`Action::bindable`]; `Action` is not `Hash`/`Ord`, and the index also
/// gives the help screen its order for free.
type ActionIdx = usize;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ModeTable {
    /// Keys per action, in the order written in the file.
    by_action: BTreeMap<ActionIdx, Vec<Key>>,
    by_key: HashMap<Key, ActionIdx>,
}

/// Key bindings for every mode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keymap {
    modes: BTreeMap<Mode, ModeTable>,
}

/// One `action = keys` line of a file, validated but not yet merged.
struct FileBinding {
    mode: Mode,
    action: ActionIdx,
    /// Dotted path for messages, e.g. `normal.ack`.
    path: String,
    span: Range<usize>,
    keys: Vec<(Key, Range<usize>)>,
}

/// A keymap file after per-entry validation.
struct KeymapFile {
    bindings: Vec<FileBinding>,
    /// Span of each `[mode]` header, to point at when the file lacks something.
    headers: BTreeMap<Mode, Range<usize>>,
}

impl Keymap {
    /// Parse a complete keymap.
    pub fn parse(file_label: &str, text: &str) -> Result<Keymap, ConfigError> {
        Keymap::overlay(&Keymap::default(), file_label, text)
    }

    /// A user file on top of `base`: the keys a file gives an action replace that action's keys
    /// in that mode (`ack = []` unbinds it); everything else keeps the base bindings.
    pub fn overlay(base: &Keymap, file_label: &str, text: &str) -> Result<Keymap, ConfigError> {
        let file = read_file(file_label, text)?;
        let mut modes = base.modes.clone();
        for b in &file.bindings {
            let table = modes.entry(b.mode).or_default();
            let mut keys: Vec<Key> = Vec::new();
            for (k, _) in &b.keys {
                if !keys.contains(k) {
                    keys.push(*k);
                }
            }
            table.by_action.insert(b.action, keys);
        }
        // Rebuild the key → action maps: base bindings that the file did not replace first,
        // then the file's in file order, so a clash is reported at the later line of the file.
        for (mode, table) in modes.iter_mut() {
            table.by_key.clear();
            let from_file = |idx: ActionIdx| {
                file.bindings
                    .iter()
                    .any(|b| b.mode == *mode && b.action == idx)
            };
            for (idx, keys) in &table.by_action {
                if from_file(*idx) {
                    continue;
                }
                for k in keys {
                    table.by_key.insert(*k, *idx);
                }
            }
            for b in file.bindings.iter().filter(|b| b.mode == *mode) {
                for (k, span) in &b.keys {
                    match table.by_key.get(k) {
                        Some(other) if *other != b.action => {
                            let bound_by_file = file
                                .bindings
                                .iter()
                                .any(|o| o.mode == *mode && o.action == *other);
                            return Err(ConfigError::at(
                                file_label,
                                text,
                                span.clone(),
                                b.path.clone(),
                                format!(
                                    "key \"{}\" is bound to both `{}` and `{}` in [{}]{}",
                                    k.display(),
                                    action_name(*other),
                                    action_name(b.action),
                                    mode.name(),
                                    if bound_by_file {
                                        ""
                                    } else {
                                        " (the other binding comes from the base keymap; \
                                         rebind that action too)"
                                    }
                                ),
                            ));
                        }
                        _ => {
                            table.by_key.insert(*k, b.action);
                        }
                    }
                }
            }
        }
        let keymap = Keymap { modes };
        keymap.check_quit(file_label, text, &file)?;
        Ok(keymap)
    }

    /// The embedded text of `keymaps/NAME.toml`.
    pub fn builtin(name: &str) -> Option<&'static str> {
        BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    /// Names accepted by [`Keymap::builtin`].
    pub fn builtin_names() -> &'static [&'static str] {
        BUILTIN_NAMES
    }

    /// The action a key press triggers in `mode`: the mode's table first, then Global.
    /// Releases and repeats never match.
    pub fn action_for(&self, mode: Mode, key: &KeyEvent) -> Option<Action> {
        let key = Key::from_event(key)?;
        let idx = self.lookup(mode, &key)?;
        Action::bindable().get(idx).cloned()
    }

    /// Display strings of every key that triggers `action` in `mode` (including Global keys not
    /// shadowed by the mode), in file order.
    pub fn keys_for(&self, mode: Mode, action: &Action) -> Vec<String> {
        match Action::bindable().iter().position(|a| a == action) {
            Some(idx) => self.effective_keys(mode, idx),
            None => Vec::new(),
        }
    }

    /// Every action with at least one key in `mode` (Global included, as for
    /// [`Keymap::keys_for`]), in [`Action::bindable`] order, for the help overlay.
    pub fn bindings(&self, mode: Mode) -> Vec<(Action, Vec<String>)> {
        Action::bindable()
            .iter()
            .enumerate()
            .filter_map(|(idx, action)| {
                let keys = self.effective_keys(mode, idx);
                (!keys.is_empty()).then(|| (action.clone(), keys))
            })
            .collect()
    }

    fn lookup(&self, mode: Mode, key: &Key) -> Option<ActionIdx> {
        let in_mode = self.modes.get(&mode).and_then(|t| t.by_key.get(key));
        let in_global = || {
            self.modes
                .get(&Mode::Global)
                .and_then(|t| t.by_key.get(key))
        };
        in_mode.or_else(in_global).copied()
    }

    fn effective_keys(&self, mode: Mode, idx: ActionIdx) -> Vec<String> {
        let mut keys: Vec<Key> = Vec::new();
        for m in [mode, Mode::Global] {
            let Some(table) = self.modes.get(&m) else {
                continue;
            };
            for k in table.by_action.get(&idx).into_iter().flatten() {
                if self.lookup(mode, k) == Some(idx) && !keys.contains(k) {
                    keys.push(*k);
                }
            }
        }
        keys.iter().map(Key::display).collect()
    }

    /// A keymap that cannot quit from Normal mode would lock the responder in; refuse it.
    fn check_quit(
        &self,
        file_label: &str,
        text: &str,
        file: &KeymapFile,
    ) -> Result<(), ConfigError> {
        if !self.keys_for(Mode::Normal, &Action::Quit).is_empty() {
            return Ok(());
        }
        let quit = quit_idx();
        // Point at whatever in this file took quit away, else at the [normal] header.
        let culprit = file
            .bindings
            .iter()
            .filter(|b| {
                (b.action == quit && matches!(b.mode, Mode::Normal | Mode::Global))
                    || (b.mode == Mode::Normal
                        && b.keys.iter().any(|(k, _)| {
                            self.modes.get(&Mode::Global).and_then(|t| t.by_key.get(k))
                                == Some(&quit)
                        }))
            })
            .max_by_key(|b| b.span.start)
            .map(|b| b.span.clone());
        let span = culprit.or_else(|| file.headers.get(&Mode::Normal).cloned());
        let message = "no key quits from normal mode; bind `quit` in [normal] or [global] \
                       (a keymap must never lock you in)"
            .to_string();
        Err(match span {
            Some(span) => ConfigError::at(file_label, text, span, "normal.quit", message),
            None => ConfigError {
                file: file_label.to_string(),
                line: None,
                column: None,
                table: None,
                key: Some("normal.quit".to_string()),
                message,
            },
        })
    }
}

fn quit_idx() -> ActionIdx {
    Action::bindable()
        .iter()
        .position(|a| *a == Action::Quit)
        .unwrap_or_default()
}

/// The file name of a bindable action, e.g. `kill_switch`.
fn action_name(idx: ActionIdx) -> String {
    Action::bindable()
        .get(idx)
        .and_then(|a| serde_json::to_value(a).ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("#{idx}"))
}

/// Look an action up by its file name through serde, so skipped (non-bindable) variants and
/// typos both fail.
fn action_from_name(name: &str) -> Option<ActionIdx> {
    let de = serde::de::value::StrDeserializer::<serde::de::value::Error>::new(name);
    let action = Action::deserialize(de).ok()?;
    Action::bindable().iter().position(|a| *a == action)
}

fn read_file(file: &str, text: &str) -> Result<KeymapFile, ConfigError> {
    let tables = parse_document::<Raw<Raw<toml::Value>>>(file, text)?;
    let mut out = KeymapFile {
        bindings: Vec::new(),
        headers: BTreeMap::new(),
    };
    for (mode_name, table) in tables {
        let mode = Mode::from_name(mode_name.get_ref()).ok_or_else(|| {
            let known: Vec<&str> = Mode::ALL.iter().map(|m| m.name()).collect();
            ConfigError::at(
                file,
                text,
                mode_name.span(),
                mode_name.get_ref(),
                format!(
                    "unknown mode table [{}] (expected one of: {})",
                    mode_name.get_ref(),
                    known.join(", ")
                ),
            )
        })?;
        out.headers.insert(mode, mode_name.span());
        let Raw::Map(entries) = table.get_ref() else {
            return Err(ConfigError::at(
                file,
                text,
                table.span(),
                mode.name(),
                format!(
                    "expected a table [{}] of `action = keys`, found {}",
                    mode.name(),
                    table.get_ref().kind()
                ),
            ));
        };
        for (name, value) in entries {
            let path = format!("{}.{}", mode.name(), name.get_ref());
            let action = action_from_name(name.get_ref()).ok_or_else(|| {
                let known: Vec<String> = (0..Action::bindable().len()).map(action_name).collect();
                ConfigError::at(
                    file,
                    text,
                    name.span(),
                    path.clone(),
                    format!(
                        "unknown action \"{}\" (known actions: {})",
                        name.get_ref(),
                        known.join(", ")
                    ),
                )
            })?;
            let err = |span: Range<usize>, msg: String| {
                ConfigError::at(file, text, span, path.clone(), msg)
            };
            let raw_keys: Vec<(String, Range<usize>)> = match value.get_ref() {
                Raw::Str(s) => vec![(s.clone(), value.span())],
                Raw::Seq(items) => items
                    .iter()
                    .map(|item| match item.get_ref() {
                        toml::Value::String(s) => Ok((s.clone(), item.span())),
                        other => Err(err(
                            item.span(),
                            format!("expected a key string, found {}", value_kind(other)),
                        )),
                    })
                    .collect::<Result<_, _>>()?,
                other => {
                    return Err(err(
                        value.span(),
                        format!(
                            "expected a key string or a list of key strings, found {}",
                            other.kind()
                        ),
                    ))
                }
            };
            let keys = raw_keys
                .into_iter()
                .map(|(s, span)| {
                    Key::parse(&s)
                        .map(|k| (k, span.clone()))
                        .map_err(|msg| err(span, msg))
                })
                .collect::<Result<Vec<_>, _>>()?;
            out.bindings.push(FileBinding {
                mode,
                action,
                path,
                span: name.span(),
                keys,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    fn builtin(name: &str) -> Keymap {
        let text = Keymap::builtin(name).expect("builtin exists");
        Keymap::parse(&format!("keymaps/{name}.toml"), text).expect("builtin parses")
    }

    #[test]
    fn parse_key_strings() {
        let k = |s: &str| Key::parse(s).expect(s);
        let none = KeyModifiers::NONE;
        assert_eq!(k("a").code, KeyCode::Char('a'));
        assert_eq!(
            k("A"),
            Key {
                code: KeyCode::Char('A'),
                mods: none
            }
        );
        assert_eq!(k("?").code, KeyCode::Char('?'));
        assert_eq!(k("-").code, KeyCode::Char('-'));
        assert_eq!(
            k("ctrl-c"),
            Key {
                code: KeyCode::Char('c'),
                mods: KeyModifiers::CONTROL
            }
        );
        assert_eq!(
            k("Ctrl-Alt-x"),
            Key {
                code: KeyCode::Char('x'),
                mods: KeyModifiers::CONTROL | KeyModifiers::ALT
            }
        );
        assert_eq!(
            k("ctrl--"),
            Key {
                code: KeyCode::Char('-'),
                mods: KeyModifiers::CONTROL
            }
        );
        assert_eq!(k("shift-a"), k("A"));
        assert_eq!(
            k("shift-tab"),
            Key {
                code: KeyCode::BackTab,
                mods: none
            }
        );
        assert_eq!(k("BackTab"), k("shift-tab"));
        assert_eq!(k("ENTER").code, KeyCode::Enter);
        assert_eq!(k("Esc").code, KeyCode::Esc);
        assert_eq!(k("space").code, KeyCode::Char(' '));
        assert_eq!(k("PageDown").code, KeyCode::PageDown);
        assert_eq!(k("f1").code, KeyCode::F(1));
        assert_eq!(k("F12").code, KeyCode::F(12));
        assert_eq!(
            k("shift-up"),
            Key {
                code: KeyCode::Up,
                mods: KeyModifiers::SHIFT
            }
        );
        for bad in [
            "", "ctrl-", "f13", "f0", "enterr", "ctrl-kk", "shift-1", "hyper-a",
        ] {
            assert!(Key::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn display_round_trips_through_parse() {
        for s in [
            "a",
            "K",
            "?",
            "ctrl-c",
            "alt-x",
            "shift-tab",
            "space",
            "enter",
            "f5",
        ] {
            let k = Key::parse(s).expect(s);
            assert_eq!(k.display(), s);
        }
        assert_eq!(Key::parse("up").map(|k| k.display()), Ok("↑".to_string()));
    }

    #[test]
    fn char_matching_ignores_shift() {
        let km = builtin("default");
        let shifted_r = key(KeyCode::Char('R'), KeyModifiers::SHIFT);
        assert_eq!(
            km.action_for(Mode::Normal, &shifted_r),
            Some(Action::Resolve)
        );
        let bare_r = key(KeyCode::Char('R'), KeyModifiers::NONE);
        assert_eq!(km.action_for(Mode::Normal, &bare_r), Some(Action::Resolve));
        // Some protocols report the base key plus SHIFT.
        let lower_shift = key(KeyCode::Char('r'), KeyModifiers::SHIFT);
        assert_eq!(
            km.action_for(Mode::Normal, &lower_shift),
            Some(Action::Resolve)
        );
        let r = key(KeyCode::Char('r'), KeyModifiers::NONE);
        assert_eq!(km.action_for(Mode::Normal, &r), Some(Action::Runbook));
        let question = key(KeyCode::Char('?'), KeyModifiers::SHIFT);
        assert_eq!(km.action_for(Mode::Normal, &question), Some(Action::Help));
    }

    #[test]
    fn ctrl_combos_and_global_fallback() {
        let km = builtin("default");
        let ctrl_c = key(KeyCode::Char('c'), KeyModifiers::CONTROL);
        for mode in Mode::ALL {
            assert_eq!(km.action_for(mode, &ctrl_c), Some(Action::Quit), "{mode:?}");
        }
        // Plain 'c' is not ctrl-c.
        let c = key(KeyCode::Char('c'), KeyModifiers::NONE);
        assert_eq!(km.action_for(Mode::Normal, &c), None);
        assert_eq!(
            km.action_for(Mode::Runbook, &c),
            Some(Action::ConfirmAnswer)
        );
        // Mode tables win over global.
        let text =
            "[global]\nquit = \"ctrl-c\"\nhelp = \"f1\"\n[normal]\nquit = \"q\"\nfilter = \"f1\"\n";
        let km = Keymap::parse("k.toml", text).expect("valid");
        let f1 = key(KeyCode::F(1), KeyModifiers::NONE);
        assert_eq!(km.action_for(Mode::Normal, &f1), Some(Action::Filter));
        assert_eq!(km.action_for(Mode::Dialog, &f1), Some(Action::Help));
        assert_eq!(
            km.keys_for(Mode::Normal, &Action::Help),
            Vec::<String>::new()
        );
        assert_eq!(km.keys_for(Mode::Dialog, &Action::Help), vec!["f1"]);
    }

    #[test]
    fn only_presses_match() {
        let km = builtin("default");
        let mut ev = key(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(km.action_for(Mode::Normal, &ev), Some(Action::Quit));
        ev.kind = KeyEventKind::Release;
        assert_eq!(km.action_for(Mode::Normal, &ev), None);
        ev.kind = KeyEventKind::Repeat;
        assert_eq!(km.action_for(Mode::Normal, &ev), None);
    }

    #[test]
    fn backtab_matches_shift_tab_binding() {
        let text = "[normal]\nquit = \"q\"\nnext_feature = \"shift-tab\"\n";
        let km = Keymap::parse("k.toml", text).expect("valid");
        let backtab = key(KeyCode::BackTab, KeyModifiers::SHIFT);
        assert_eq!(
            km.action_for(Mode::Normal, &backtab),
            Some(Action::NextFeature)
        );
        let shift_tab = key(KeyCode::Tab, KeyModifiers::SHIFT);
        assert_eq!(
            km.action_for(Mode::Normal, &shift_tab),
            Some(Action::NextFeature)
        );
    }

    #[test]
    fn keys_for_and_bindings_for_help() {
        let km = builtin("default");
        assert_eq!(km.keys_for(Mode::Normal, &Action::Up), vec!["↑", "k"]);
        assert_eq!(
            km.keys_for(Mode::Normal, &Action::Quit),
            vec!["q", "ctrl-c"]
        );
        assert_eq!(km.keys_for(Mode::Dialog, &Action::Cancel), vec!["n", "esc"]);
        let b = km.bindings(Mode::Normal);
        assert_eq!(b.first().map(|(a, _)| a.clone()), Some(Action::Quit));
        let order: Vec<usize> = b
            .iter()
            .filter_map(|(a, _)| Action::bindable().iter().position(|x| x == a))
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "bindable order");
        assert!(b.iter().all(|(a, _)| *a != Action::Confirm));
    }

    #[test]
    fn overlay_replaces_per_action() {
        let base = builtin("default");
        let km = Keymap::overlay(
            &base,
            "user.toml",
            "[normal]\nack = [\"A\", \"z\"]\nretry = []\n",
        )
        .expect("valid overlay");
        let a = key(KeyCode::Char('a'), KeyModifiers::NONE);
        let x = key(KeyCode::Char('z'), KeyModifiers::NONE);
        assert_eq!(km.action_for(Mode::Normal, &a), None);
        assert_eq!(km.action_for(Mode::Normal, &x), Some(Action::Ack));
        assert_eq!(
            km.keys_for(Mode::Normal, &Action::Retry),
            Vec::<String>::new()
        );
        assert_eq!(km.keys_for(Mode::Normal, &Action::Escalate), vec!["e"]);
        // Swapping two keys works when both actions are rebound.
        let km = Keymap::overlay(
            &base,
            "user.toml",
            "[normal]\nack = \"e\"\nescalate = \"a\"\n",
        )
        .expect("swap");
        assert_eq!(km.keys_for(Mode::Normal, &Action::Ack), vec!["e"]);
        // Taking a key that the base gives another action is an error, at the user's line.
        let e = Keymap::overlay(&base, "user.toml", "[normal]\n\nack = \"e\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("normal.ack")));
        assert!(e.message.contains("base keymap"), "{e}");
    }

    #[test]
    fn overlay_cannot_remove_quit() {
        let base = builtin("default");
        let e = Keymap::overlay(
            &base,
            "user.toml",
            "[global]\nquit = []\n[normal]\nquit = []\n",
        )
        .unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("normal.quit")));
        // Shadowing the global quit key is fine while normal still has its own quit key...
        Keymap::overlay(&base, "user.toml", "[normal]\nhelp = \"ctrl-c\"\n").expect("q remains");
        // ...but not once it has none.
        let e = Keymap::overlay(&base, "u.toml", "[normal]\nquit = []\nhelp = \"ctrl-c\"\n")
            .unwrap_err();
        assert_eq!(e.line, Some(3));
    }

    #[test]
    fn non_bindable_actions_are_unknown() {
        let e = Keymap::parse("k.toml", "[normal]\nquit = \"q\"\ntick = \"t\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("normal.tick")));
        assert!(e.message.contains("unknown action \"tick\""), "{e}");
    }

    #[test]
    fn wrong_value_types_are_located() {
        let e = Keymap::parse("k.toml", "[normal]\nquit = 3\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("normal.quit")));
        let e = Keymap::parse("k.toml", "[normal]\nquit = [\n  \"q\",\n  4,\n]\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("normal.quit")));
        let e = Keymap::parse("k.toml", "normal = 1\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(1), Some("normal")));
    }
}
