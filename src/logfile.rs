//! The log file goes through the same sanitiser as the screen: backend error bodies are logged
//! as they came, and `tail -f cockpit.log` in a terminal would otherwise run whatever OSC 52
//! clipboard write, title change or screen clear a hostile server put in them.

use crate::domain::text::sanitize_lines;
use std::io::{self, Write};

/// A writer that strips every control and escape sequence from what passes through, keeping
/// line breaks. tracing writes each formatted event in one call, so a sequence is never split
/// between two writes.
pub struct SafeLog<W: Write>(pub W);

impl<W: Write> Write for SafeLog<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let mut clean = sanitize_lines(&text);
        if text.ends_with('\n') && !clean.ends_with('\n') {
            clean.push('\n');
        }
        self.0.write_all(clean.as_bytes())?;
        // All of `buf` was consumed, whatever its sanitised length.
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_never_reach_the_log() {
        let mut out = SafeLog(Vec::new());
        let line = "WARN poll failed: HTTP 500: \u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{1b}]0;pwned\u{1b}\\\u{1b}[2Jgone\n";
        write!(out, "{line}").expect("write");
        out.write_all(b"second\r\nline\n").expect("write");
        let text = String::from_utf8(out.0).expect("utf-8");
        assert_eq!(text, "WARN poll failed: HTTP 500: gone\nsecond\nline\n");
    }
}
