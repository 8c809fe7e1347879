//! Text that came from outside (incident titles, alert labels, notes, model output) is data,
//! never terminal control. `SafeText` can only be built by stripping everything a terminal
//! could interpret, so a value of this type is safe to hand to the renderer.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SafeText(String);

impl SafeText {
    pub fn new(raw: &str) -> Self {
        SafeText(sanitize(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SafeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for SafeText {
    fn from(s: &str) -> Self {
        SafeText::new(s)
    }
}

impl From<String> for SafeText {
    fn from(s: String) -> Self {
        SafeText::new(&s)
    }
}

impl<'de> Deserialize<'de> for SafeText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Ok(SafeText::new(&raw))
    }
}

/// Characters that reorder or hide text (bidi overrides, isolates, zero-width marks) can make a
/// title read differently from what it is ("Trojan Source"), so they go too.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{061C}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// True for what `sanitize` drops: a terminal would act on it or reorder text around it.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || is_invisible_format(c)
}

/// Drops C0/C1 controls (ESC, CSI, OSC introducers, BEL, backspace, CR…) and invisible format
/// characters. A whole escape sequence is removed, not just its ESC byte, so no `]52;c;…`
/// residue of an OSC 52 clipboard write shows up on screen. Newlines and tabs become spaces:
/// every caller renders single-line cells.
pub fn sanitize(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // 8-bit CSI / OSC / DCS / APC / PM / SOS introducers take a body like their 7-bit forms.
            '\u{9b}' => skip_csi_body(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{9f}' | '\u{9e}' | '\u{98}' => skip_string_body(&mut chars),
            '\n' | '\t' | '\r' => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            c if c.is_control() || is_invisible_format(c) => {}
            c => out.push(c),
        }
    }
    out
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

fn skip_escape(chars: &mut Chars<'_>) {
    match chars.next() {
        Some('[') => skip_csi_body(chars),
        Some(']') | Some('P') | Some('_') | Some('^') | Some('X') => skip_string_body(chars),
        // Two-character sequences (ESC c, ESC 7, ESC ( B …): the intermediate bytes 0x20-0x2F
        // are followed by one final byte.
        Some(c) if ('\u{20}'..='\u{2f}').contains(&c) => {
            chars.next();
        }
        _ => {}
    }
}

fn skip_csi_body(chars: &mut Chars<'_>) {
    // Parameters and intermediates are 0x20-0x3F; the final byte is 0x40-0x7E.
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) || !('\u{20}'..='\u{3f}').contains(&c) {
            break;
        }
    }
}

fn skip_string_body(chars: &mut Chars<'_>) {
    // OSC/DCS/APC bodies end at BEL, ST (ESC \) or the 8-bit ST.
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => break,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                break;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_csi_osc_and_bidi() {
        assert_eq!(sanitize("a\u{1b}[31mred\u{1b}[0m"), "ared");
        assert_eq!(sanitize("x\u{1b}]52;c;ZXZpbA==\u{7}y"), "xy");
        assert_eq!(sanitize("x\u{1b}]0;pwned\u{1b}\\y"), "xy");
        assert_eq!(sanitize("\u{202e}gnp.exe"), "gnp.exe");
        assert_eq!(sanitize("a\u{1b}[2J\u{1b}[H b"), "a b");
        assert_eq!(sanitize("line1\nline2\r\n"), "line1 line2 ");
        assert_eq!(sanitize("bell\u{7}back\u{8}"), "bellback");
        assert_eq!(sanitize("c1\u{9b}31mcsi"), "c1csi");
        assert_eq!(sanitize("ünïcode ✓ 日本"), "ünïcode ✓ 日本");
    }

    #[test]
    fn truncated_escape_at_end_is_dropped() {
        assert_eq!(sanitize("ok\u{1b}"), "ok");
        assert_eq!(sanitize("ok\u{1b}]52;c;"), "ok");
        assert_eq!(sanitize("ok\u{1b}[12"), "ok");
    }
}
