//! A styled text dump of a ratatui buffer, for snapshots that lock in what text-only
//! snapshots cannot: colours, the selected row, breach styling, bold and reverse.
//!
//! Each row is written as runs of cells that look the same: `[fg=203 bold]███[/]`; cells in
//! the terminal's own look (no colour, no modifier) are plain text. Colours are written as
//! the theme files spell them (`252`, `red`, `#123456`), so a dump can be read against
//! themes/*.toml. A space shows no foreground, so a space that differs from its run only in
//! foreground, bold, dim or italic joins it: the dump stays as short as what is visible.

use ratatui::buffer::{Buffer, Cell};
use ratatui::style::{Color, Modifier};

/// How one cell looks, as far as the dump tells it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Look {
    fg: Color,
    bg: Color,
    modifier: Modifier,
}

impl Look {
    fn of(cell: &Cell) -> Self {
        Look {
            fg: cell.fg,
            bg: cell.bg,
            modifier: cell.modifier,
        }
    }

    /// What a space shows of its look: its background, and the modifiers that paint the
    /// whole cell.
    fn as_space(self) -> (Color, Modifier) {
        (
            self.bg,
            self.modifier & (Modifier::REVERSED | Modifier::UNDERLINED | Modifier::CROSSED_OUT),
        )
    }

    fn is_plain(self) -> bool {
        self.fg == Color::Reset && self.bg == Color::Reset && self.modifier.is_empty()
    }

    fn label(self) -> String {
        let mut parts = Vec::new();
        if self.fg != Color::Reset {
            parts.push(format!("fg={}", colour(self.fg)));
        }
        if self.bg != Color::Reset {
            parts.push(format!("bg={}", colour(self.bg)));
        }
        for (m, name) in [
            (Modifier::BOLD, "bold"),
            (Modifier::DIM, "dim"),
            (Modifier::ITALIC, "italic"),
            (Modifier::UNDERLINED, "underlined"),
            (Modifier::SLOW_BLINK, "blink"),
            (Modifier::RAPID_BLINK, "rapid-blink"),
            (Modifier::REVERSED, "reversed"),
            (Modifier::HIDDEN, "hidden"),
            (Modifier::CROSSED_OUT, "crossed-out"),
        ] {
            if self.modifier.contains(m) {
                parts.push(name.to_string());
            }
        }
        parts.join(" ")
    }
}

/// A colour as a theme file writes it.
fn colour(c: Color) -> String {
    match c {
        Color::Indexed(n) => n.to_string(),
        Color::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
        // Named colours: ratatui's own names ("LightRed") in the files' lower case.
        other => other.to_string().to_lowercase(),
    }
}

/// The rows `rows` of `buf`, one line each, as styled runs.
pub fn dump_rows(buf: &Buffer, rows: impl IntoIterator<Item = u16>) -> String {
    let mut out = String::new();
    for y in rows {
        let mut runs: Vec<(Look, String)> = Vec::new();
        for x in 0..buf.area.width {
            let cell = &buf[(buf.area.x + x, buf.area.y + y)];
            let look = Look::of(cell);
            let symbol = cell.symbol();
            match runs.last_mut() {
                Some((run, text)) if *run == look => text.push_str(symbol),
                Some((run, text)) if symbol == " " && run.as_space() == look.as_space() => {
                    text.push_str(symbol)
                }
                // A run of spaces takes the look of the text that follows it, when that is
                // all they differ in.
                Some((run, text))
                    if !text.is_empty()
                        && text.chars().all(|c| c == ' ')
                        && run.as_space() == look.as_space() =>
                {
                    *run = look;
                    text.push_str(symbol);
                }
                _ => runs.push((look, symbol.to_string())),
            }
        }
        for (look, text) in runs {
            if look.is_plain() {
                out.push_str(&text);
            } else {
                out.push_str(&format!("[{}]{text}[/]", look.label()));
            }
        }
        out.push('\n');
    }
    out
}

/// Every row of `buf`.
pub fn dump(buf: &Buffer) -> String {
    dump_rows(buf, 0..buf.area.height)
}
