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
//! Action names are the serde names of [`ActionName`], defined here in the config layer: a
//! keymap maps keys to names, and the input layer turns a name into the `Action` it runs. The
//! reverse map (name → keys) feeds the help screen and footer hints, so what is shown is what
//! is bound.
//!
//! `names` holds the vocabulary, `key` the key strings, `file` the reading of one file; this
//! module merges files and answers lookups.

mod file;
mod key;
mod names;

pub use names::{ActionName, Mode};

use super::error::ConfigError;
use crossterm::event::KeyEvent;
use file::{read_file, KeymapFile};
use key::Key;
use std::collections::{BTreeMap, HashMap};

const BUILTINS: &[(&str, &str)] = &[
    ("default", include_str!("../../../keymaps/default.toml")),
    ("vim", include_str!("../../../keymaps/vim.toml")),
];

const BUILTIN_NAMES: &[&str] = &["default", "vim"];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ModeTable {
    /// Keys per action, in the order written in the file.
    by_action: BTreeMap<ActionName, Vec<Key>>,
    by_key: HashMap<Key, ActionName>,
}

/// Key bindings for every mode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keymap {
    modes: BTreeMap<Mode, ModeTable>,
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
            let from_file = |idx: ActionName| {
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
                                    other.name(),
                                    b.action.name(),
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
    pub fn action_for(&self, mode: Mode, key: &KeyEvent) -> Option<ActionName> {
        self.lookup(mode, &Key::from_event(key)?)
    }

    /// Display strings of every key that triggers `action` in `mode` (including Global keys not
    /// shadowed by the mode), in file order.
    pub fn keys_for(&self, mode: Mode, action: ActionName) -> Vec<String> {
        self.effective_keys(mode, action)
    }

    /// Every action with at least one key in `mode` (Global included, as for
    /// [`Keymap::keys_for`]), in [`ActionName::ALL`] order, for the help overlay.
    pub fn bindings(&self, mode: Mode) -> Vec<(ActionName, Vec<String>)> {
        ActionName::ALL
            .into_iter()
            .filter_map(|action| {
                let keys = self.effective_keys(mode, action);
                (!keys.is_empty()).then_some((action, keys))
            })
            .collect()
    }

    fn lookup(&self, mode: Mode, key: &Key) -> Option<ActionName> {
        let in_mode = self.modes.get(&mode).and_then(|t| t.by_key.get(key));
        let in_global = || {
            self.modes
                .get(&Mode::Global)
                .and_then(|t| t.by_key.get(key))
        };
        in_mode.or_else(in_global).copied()
    }

    fn effective_keys(&self, mode: Mode, action: ActionName) -> Vec<String> {
        let mut keys: Vec<Key> = Vec::new();
        for m in [mode, Mode::Global] {
            let Some(table) = self.modes.get(&m) else {
                continue;
            };
            for k in table.by_action.get(&action).into_iter().flatten() {
                if self.lookup(mode, k) == Some(action) && !keys.contains(k) {
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
        if !self.keys_for(Mode::Normal, ActionName::Quit).is_empty() {
            return Ok(());
        }
        let quit = ActionName::Quit;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyEventKind, KeyModifiers};

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    fn builtin(name: &str) -> Keymap {
        let text = Keymap::builtin(name).expect("builtin exists");
        Keymap::parse(&format!("keymaps/{name}.toml"), text).expect("builtin parses")
    }

    #[test]
    fn char_matching_ignores_shift() {
        let km = builtin("default");
        let shifted_r = key(KeyCode::Char('R'), KeyModifiers::SHIFT);
        assert_eq!(
            km.action_for(Mode::Normal, &shifted_r),
            Some(ActionName::Resolve)
        );
        let bare_r = key(KeyCode::Char('R'), KeyModifiers::NONE);
        assert_eq!(
            km.action_for(Mode::Normal, &bare_r),
            Some(ActionName::Resolve)
        );
        // Some protocols report the base key plus SHIFT.
        let lower_shift = key(KeyCode::Char('r'), KeyModifiers::SHIFT);
        assert_eq!(
            km.action_for(Mode::Normal, &lower_shift),
            Some(ActionName::Resolve)
        );
        let r = key(KeyCode::Char('r'), KeyModifiers::NONE);
        assert_eq!(km.action_for(Mode::Normal, &r), Some(ActionName::Runbook));
        let question = key(KeyCode::Char('?'), KeyModifiers::SHIFT);
        assert_eq!(
            km.action_for(Mode::Normal, &question),
            Some(ActionName::Help)
        );
    }

    #[test]
    fn ctrl_combos_and_global_fallback() {
        let km = builtin("default");
        let ctrl_c = key(KeyCode::Char('c'), KeyModifiers::CONTROL);
        for mode in Mode::ALL {
            assert_eq!(
                km.action_for(mode, &ctrl_c),
                Some(ActionName::Quit),
                "{mode:?}"
            );
        }
        // Plain 'c' is not ctrl-c.
        let c = key(KeyCode::Char('c'), KeyModifiers::NONE);
        assert_eq!(km.action_for(Mode::Normal, &c), None);
        assert_eq!(
            km.action_for(Mode::Runbook, &c),
            Some(ActionName::ConfirmAnswer)
        );
        // Mode tables win over global.
        let text =
            "[global]\nquit = \"ctrl-c\"\nhelp = \"f1\"\n[normal]\nquit = \"q\"\nfilter = \"f1\"\n";
        let km = Keymap::parse("k.toml", text).expect("valid");
        let f1 = key(KeyCode::F(1), KeyModifiers::NONE);
        assert_eq!(km.action_for(Mode::Normal, &f1), Some(ActionName::Filter));
        assert_eq!(km.action_for(Mode::Dialog, &f1), Some(ActionName::Help));
        assert_eq!(
            km.keys_for(Mode::Normal, ActionName::Help),
            Vec::<String>::new()
        );
        assert_eq!(km.keys_for(Mode::Dialog, ActionName::Help), vec!["f1"]);
    }

    #[test]
    fn only_presses_match() {
        let km = builtin("default");
        let mut ev = key(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(km.action_for(Mode::Normal, &ev), Some(ActionName::Quit));
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
            Some(ActionName::NextFeature)
        );
        let shift_tab = key(KeyCode::Tab, KeyModifiers::SHIFT);
        assert_eq!(
            km.action_for(Mode::Normal, &shift_tab),
            Some(ActionName::NextFeature)
        );
    }

    #[test]
    fn keys_for_and_bindings_for_help() {
        let km = builtin("default");
        assert_eq!(km.keys_for(Mode::Normal, ActionName::Up), vec!["↑", "k"]);
        assert_eq!(
            km.keys_for(Mode::Normal, ActionName::Quit),
            vec!["q", "ctrl-c"]
        );
        assert_eq!(
            km.keys_for(Mode::Dialog, ActionName::Cancel),
            vec!["n", "esc"]
        );
        let b = km.bindings(Mode::Normal);
        assert_eq!(b.first().map(|(a, _)| *a), Some(ActionName::Quit));
        let order: Vec<usize> = b.iter().map(|(a, _)| *a as usize).collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "bindable order");
        assert!(b.iter().all(|(a, _)| *a != ActionName::Confirm));
    }

    #[test]
    fn overlay_replaces_per_action() {
        let base = builtin("default");
        let km = Keymap::overlay(
            &base,
            "user.toml",
            // V and Y: keys the built-in keymap leaves free (A now asks responders in).
            "[normal]\nack = [\"V\", \"Y\"]\nretry = []\n",
        )
        .expect("valid overlay");
        let a = key(KeyCode::Char('a'), KeyModifiers::NONE);
        let x = key(KeyCode::Char('Y'), KeyModifiers::NONE);
        assert_eq!(km.action_for(Mode::Normal, &a), None);
        assert_eq!(km.action_for(Mode::Normal, &x), Some(ActionName::Ack));
        assert_eq!(
            km.keys_for(Mode::Normal, ActionName::Retry),
            Vec::<String>::new()
        );
        assert_eq!(km.keys_for(Mode::Normal, ActionName::Escalate), vec!["e"]);
        // Swapping two keys works when both actions are rebound.
        let km = Keymap::overlay(
            &base,
            "user.toml",
            "[normal]\nack = \"e\"\nescalate = \"a\"\n",
        )
        .expect("swap");
        assert_eq!(km.keys_for(Mode::Normal, ActionName::Ack), vec!["e"]);
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
