//! Key strings in keymap files ("ctrl-c", "shift-tab", "K") and key presses from the
//! terminal, normalised to one form so the two compare equal.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

const KEY_HINT: &str = "expected a single character, \"ctrl-x\", \"alt-x\", \"shift-tab\", \
     \"enter\", \"esc\", \"tab\", \"space\", \"backspace\", \"delete\", \"up\", \"down\", \"left\", \
     \"right\", \"pageup\", \"pagedown\", \"home\", \"end\" or \"f1\"..\"f12\"";

/// A key as bound: the code plus CONTROL/ALT (and SHIFT only for non-character keys, since a
/// character already carries its case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    /// Normalise a terminal event the same way key strings are normalised. Only presses count:
    /// with the kitty protocol terminals also report releases, which would fire actions twice.
    pub fn from_event(event: &KeyEvent) -> Option<Key> {
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
    pub fn parse(text: &str) -> Result<Key, String> {
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
    pub fn display(&self) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
