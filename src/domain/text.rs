//! Text that came from outside (incident titles, alert labels, notes, model output) is data,
//! never terminal control. `SafeText` can only be built by stripping everything a terminal
//! could interpret, so a value of this type is safe to hand to the renderer.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SafeText(String);

impl SafeText {
    pub fn new(raw: &str) -> Self {
        SafeText(sanitize(raw))
    }

    /// Like `new`, but line breaks survive as `\n`: model outputs, prompts and notes are
    /// read as the lines they were written in.
    pub fn lines(raw: &str) -> Self {
        SafeText(sanitize_lines(raw))
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
/// title read differently from what it is ("Trojan Source"), so they go too. With them go the
/// rest of Unicode's default-ignorable code points: terminals disagree about them, and a
/// disagreement about width leaves stale cells. Tag characters (U+E0000..) carry invisible
/// ASCII ("ASCII smuggling"); Hangul fillers (U+115F is two columns wide) draw nothing; variation
/// selectors turn `⚠` into `⚠️`, which ratatui counts two columns and tmux draws in one.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// Skin-tone modifiers: after an emoji, ratatui counts the pair as one two-column glyph while
/// terminals that draw code point by code point give it four columns.
fn is_emoji_modifier(c: char) -> bool {
    ('\u{1F3FB}'..='\u{1F3FF}').contains(&c)
}

/// True for what `sanitize` drops: a terminal would act on it, reorder text around it, or
/// draw it at a width other than the one the layout counted.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || is_invisible_format(c) || is_emoji_modifier(c)
}

/// Columns `s` takes on screen, as ratatui lays it out. For sanitised text this is also what a
/// terminal draws: `sanitize` leaves no grapheme whose width depends on who is counting.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// Whether ratatui (which measures a grapheme as a whole) and a terminal (which advances code
/// point by code point, like wcwidth) agree on how wide `grapheme` is.
pub fn same_width_everywhere(grapheme: &str) -> bool {
    let mut chars = grapheme.chars();
    match (chars.next(), chars.next()) {
        (None, _) | (Some(_), None) => true,
        _ => {
            let per_char: usize = grapheme
                .chars()
                .map(|c| UnicodeWidthChar::width(c).unwrap_or(0))
                .sum();
            per_char == UnicodeWidthStr::width(grapheme)
        }
    }
}

/// Single-line text for a cell of the screen or a table: `sanitize_lines` with every line break
/// turned into a space.
pub fn sanitize(raw: &str) -> String {
    clean(raw, false)
}

/// The one sanitiser for text that may span lines (notes, log records): like `sanitize`, but
/// line breaks survive as `\n` (CR LF and lone CR become `\n`).
pub fn sanitize_lines(raw: &str) -> String {
    clean(raw, true)
}

/// Drops C0/C1 controls (ESC, CSI, OSC introducers, BEL, backspace, CR…), invisible format and
/// default-ignorable characters, and makes every grapheme as wide for ratatui as for a terminal.
/// A whole escape sequence is removed, not just its ESC byte, so no `]52;c;…` residue of an OSC
/// 52 clipboard write shows up on screen. Tabs become spaces.
fn clean(raw: &str, keep_newlines: bool) -> String {
    // Most text is plain ASCII: nothing to strip and nothing to measure.
    if raw.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // 8-bit CSI / OSC / DCS / APC / PM / SOS introducers take a body like their 7-bit forms.
            '\u{9b}' => skip_csi_body(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{9f}' | '\u{9e}' | '\u{98}' => skip_string_body(&mut chars),
            '\r' if keep_newlines => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\n' | '\u{2028}' | '\u{2029}' if keep_newlines => out.push('\n'),
            '\n' | '\t' | '\r' | '\u{2028}' | '\u{2029}' => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            c if is_unsafe(c) => {}
            // Regional indicators: a pair is one flag for ratatui and two letters for most
            // terminals, and some draw each letter two columns wide. Their letters are what
            // they mean, in every terminal: 🇺🇸 reads "US".
            c @ '\u{1F1E6}'..='\u{1F1FF}' => {
                out.push(char::from(b'A' + (u32::from(c) - 0x1F1E6) as u8));
            }
            c => out.push(c),
        }
    }
    if out.is_ascii() {
        return out;
    }
    even_widths(out)
}

/// Replaces every grapheme that ratatui and terminals would draw at different widths (what is
/// left once variation selectors, joiners and modifiers are gone) with U+FFFD.
fn even_widths(text: String) -> String {
    if text.graphemes(true).all(same_width_everywhere) {
        return text;
    }
    text.graphemes(true)
        .map(|g| {
            if same_width_everywhere(g) {
                g
            } else {
                "\u{FFFD}"
            }
        })
        .collect()
}

/// Cuts `s` to at most `columns` terminal columns, ending with `…` when anything was cut, so a
/// long title never wraps a table row and a wide character is never split.
pub fn fit(s: &str, columns: usize) -> String {
    if width(s) <= columns {
        return s.to_string();
    }
    if columns == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for g in s.graphemes(true) {
        let w = width(g);
        if used + w > columns - 1 {
            break;
        }
        used += w;
        out.push_str(g);
    }
    out.push('…');
    out
}

/// Word-wraps `s` to `columns`, by terminal columns: the byte ranges of each line, so a 100,000
/// character title costs no copy. Words longer than a line are broken; line breaks in `s` are
/// kept.
pub fn wrap(s: &str, columns: usize) -> Vec<std::ops::Range<usize>> {
    let columns = columns.max(1);
    let mut lines = Vec::new();
    let mut offset = 0;
    for para in s.split('\n') {
        wrap_paragraph(para, offset, columns, &mut lines);
        offset += para.len() + 1;
    }
    lines
}

fn wrap_paragraph(p: &str, base: usize, columns: usize, lines: &mut Vec<std::ops::Range<usize>>) {
    // ASCII (nearly every title) is one column a byte. Otherwise code points are measured one
    // by one (ten times faster than segmenting graphemes, which a 100,000-character title
    // makes worth it): a zero-width mark never ends a line, so it stays with its base.
    if p.is_ascii() {
        wrap_units(
            p,
            p.bytes().enumerate().map(|(i, _)| (i, 1)),
            base,
            columns,
            lines,
        );
    } else {
        let units = p
            .char_indices()
            .map(|(i, c)| (i, UnicodeWidthChar::width(c).unwrap_or(0)));
        wrap_units(p, units, base, columns, lines);
    }
}

/// Greedy word wrap over `(byte index, columns)` units of `p`.
fn wrap_units(
    p: &str,
    units: impl Iterator<Item = (usize, usize)>,
    base: usize,
    columns: usize,
    lines: &mut Vec<std::ops::Range<usize>>,
) {
    let first = lines.len();
    let mut start = 0;
    let mut used = 0;
    // Just after the last space of the line so far: where it would best end.
    let mut space_end: Option<usize> = None;
    for (i, w) in units {
        if i > start && used + w > columns {
            let end = space_end.filter(|&b| b > start).unwrap_or(i);
            lines.push(base + start..base + start + p[start..end].trim_end().len());
            start = end;
            // A wrapped line does not start with the spaces it was broken at.
            while p[start..].starts_with(' ') {
                start += 1;
            }
            used = if start <= i { width(&p[start..i]) } else { 0 };
            space_end = None;
        }
        if i >= start {
            used += w;
            if p.as_bytes()[i] == b' ' {
                space_end = Some(i + 1);
            }
        }
    }
    if start < p.len() || lines.len() == first {
        lines.push(base + start..base + p.len());
    }
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
    #[test]
    fn what_ratatui_counts_is_what_terminals_draw() {
        // VS16 makes a one-column symbol two columns for ratatui only: it goes.
        assert_eq!(sanitize("\u{26a0}\u{fe0f} disk"), "\u{26a0} disk");
        assert_eq!(sanitize("\u{2764}\u{fe0f}"), "\u{2764}");
        // Skin tones and joiners: ratatui counts one glyph, terminals draw each code point.
        assert_eq!(sanitize("\u{1f44d}\u{1f3fd}"), "\u{1f44d}");
        assert_eq!(sanitize("\u{1f468}\u{200d}\u{1f469}"), "\u{1f468}\u{1f469}");
        // Invisible: tag characters (hidden ASCII), Hangul fillers, soft hyphen.
        assert_eq!(sanitize("ok\u{e0041}\u{e0042}\u{e007f}"), "ok");
        assert_eq!(sanitize("a\u{115f}b\u{3164}c\u{ad}d"), "abcd");
        // CJK and combining marks are drawn as counted and stay.
        assert_eq!(sanitize("日本語 e\u{301}"), "日本語 e\u{301}");
        assert_eq!(sanitize("flag \u{1f1fa}\u{1f1f8}"), "flag US");
        for s in [
            "\u{26a0}\u{fe0f}",
            "1\u{fe0f}\u{20e3}",
            "\u{1f1fa}\u{1f1f8}",
            "日本",
            "e\u{301}x",
        ] {
            let clean = sanitize(s);
            assert!(
                clean.graphemes(true).all(same_width_everywhere),
                "{s:?} → {clean:?}"
            );
        }
    }

    #[test]
    fn multi_line_text_keeps_its_line_breaks_and_nothing_else() {
        assert_eq!(sanitize_lines("a\r\nb\rc\n\u{1b}[2Jd\te"), "a\nb\nc\nd e");
        assert_eq!(sanitize_lines("x\u{1b}]52;c;ZXZpbA==\u{7}\ny"), "x\ny");
    }

    #[test]
    fn fit_cuts_by_columns_with_an_ellipsis() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
        // Four CJK characters are eight columns: three fit in seven, never half of one.
        assert_eq!(fit("日本語文字", 7), "日本語…");
        assert_eq!(fit("日本語文字", 6), "日本…");
        assert_eq!(width(&fit("日本語文字", 6)), 5);
        assert_eq!(fit("abc", 0), "");
    }

    #[test]
    fn wrap_breaks_at_spaces_by_columns() {
        let lines = |s: &str, w: usize| -> Vec<String> {
            wrap(s, w).into_iter().map(|r| s[r].to_string()).collect()
        };
        assert_eq!(lines("the quick brown fox", 10), ["the quick", "brown fox"]);
        assert_eq!(lines("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(lines("日本語文字", 4), ["日本", "語文", "字"]);
        assert_eq!(lines("one\ntwo three", 5), ["one", "two", "three"]);
        assert_eq!(lines("", 5), [""]);
        let long = "word ".repeat(20_000);
        let wrapped = wrap(&long, 76);
        assert!(wrapped.iter().all(|r| width(&long[r.clone()]) <= 76));
        // Fifteen five-column words make a 74-column line.
        assert_eq!(wrapped.len(), 20_000usize.div_ceil(15));
    }
}
