//! Errors from loading theme and keymap (and other config) files.
//!
//! A responder editing a keymap at 3 a.m. needs to know exactly where the mistake is, so every
//! error carries the file, the 1-based line (and column, for config.toml), the table entry and
//! the offending key whenever they can be known.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;
use toml::Spanned;

/// A problem in a configuration file, located as precisely as possible.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// How the file is shown to the user, e.g. `themes/default.toml` or a full path.
    pub file: String,
    /// 1-based line of the offending key or value.
    pub line: Option<usize>,
    /// 1-based column, in characters.
    pub column: Option<usize>,
    /// The table or entry the key is in, e.g. `[sim]` or `[[alertmanager]] #2 "prod"`.
    pub table: Option<Box<str>>,
    /// Dotted key path, e.g. `sev1`, `sev1.fg` or `normal.ack`.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&visible(&self.file))?;
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        if let Some(column) = self.column {
            write!(f, ", column {column}")?;
        }
        if let Some(table) = &self.table {
            write!(f, ", {}", visible(table))?;
        }
        if let Some(key) = &self.key {
            write!(f, ", key `{}`", visible(key))?;
        }
        write!(f, ": {}", visible(&self.message))
    }
}

/// The file's own text as an error quotes it: a quoted TOML key may hold an escape sequence
/// or a bidi override, which would act on the terminal that prints the error. Written out as
/// `\u{1b}` instead of dropped, so the responder sees which character to remove.
fn visible(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(crate::domain::text::is_unsafe) {
        return s.into();
    }
    s.chars()
        .map(|c| {
            if crate::domain::text::is_unsafe(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

impl ConfigError {
    /// A problem with the file as a whole (missing, unreadable).
    pub fn whole(file: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: file.to_string(),
            line: None,
            column: None,
            table: None,
            key: None,
            message: message.into(),
        }
    }

    /// An error at a byte span of `text` (as reported by `toml::Spanned`).
    pub fn at(
        file: &str,
        text: &str,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: file.to_string(),
            line: Some(line_of(text, span.start)),
            column: None,
            table: None,
            key: Some(key.into()),
            message: message.into(),
        }
    }

    /// A TOML syntax or shape error. toml only gives a byte span, so the line is computed from
    /// it and the key is recovered from the text of that line when it looks like `key = …` or
    /// a `[table]` header.
    pub fn from_toml(file: &str, text: &str, err: &toml::de::Error) -> ConfigError {
        let line = err.span().map(|span| line_of(text, span.start));
        let key = line.and_then(|line| key_on_line(text, line));
        // toml's messages can span several lines ("expected …"); one line reads better in a
        // status bar and in logs.
        let message = err
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        // Raw accepts every TOML type except date-times, which toml hands to serde as a map
        // with a private key that a spanned key cannot read; say what the user wrote instead.
        let message = if message.contains("$__toml_private_datetime") {
            "expected a string or a table, found a date-time".to_string()
        } else {
            format!("TOML syntax: {message}")
        };
        ConfigError {
            file: file.to_string(),
            line,
            column: None,
            table: None,
            key,
            message,
        }
    }
}

/// The 1-based column, in characters, of byte `offset` of `text`.
pub fn column_of(text: &str, offset: usize) -> usize {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let start = text[..end].rfind('\n').map_or(0, |i| i + 1);
    text[start..end].chars().count() + 1
}

/// The 1-based line containing byte `offset` of `text` (clamped to the end of the text).
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Best-effort dotted name of the key defined on a 1-based line: `table.name` for `name = …`
/// under a `[table]` header, `table` for the header itself. Used only to make syntax errors
/// easier to find, so it reads lines rather than parsing (the text does not parse).
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let raw = lines.get(line.checked_sub(1)?)?.trim();
    if let Some(header) = table_header(raw) {
        return Some(header);
    }
    let (name, _) = raw.split_once('=')?;
    let name = name.trim().trim_matches(|c| c == '"' || c == '\'');
    if name.is_empty() || name.starts_with('#') {
        return None;
    }
    let table = lines[..line - 1]
        .iter()
        .rev()
        .find_map(|l| table_header(l.trim()));
    Some(match table {
        Some(table) => format!("{table}.{name}"),
        None => name.to_string(),
    })
}

/// `normal` for a `[normal]` or `[[normal]]` line; `None` for anything else, including lines of
/// a multi-line array such as `["a", "b"],`.
fn table_header(line: &str) -> Option<String> {
    let inner = line.strip_prefix('[')?.trim_start_matches('[');
    let (name, rest) = inner.split_once(']')?;
    let rest = rest.trim_start_matches(']').trim();
    let name = name.trim();
    let keyish = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | '"' | '\'');
    (!name.is_empty() && name.chars().all(keyish) && (rest.is_empty() || rest.starts_with('#')))
        .then(|| name.to_string())
}

/// The shape of a TOML value, with the spans of every key kept so that semantic errors (unknown
/// role, bad colour, unknown action…) can point at a line. Validation happens after
/// deserialising: an error raised inside serde would lose the key and our wording.
#[derive(Debug)]
pub(crate) enum Raw<V> {
    Str(String),
    Seq(Vec<Spanned<toml::Value>>),
    Map(Entries<V>),
    /// Anything else; the text names the TOML type for the error message.
    Other(&'static str),
}

impl<V> Raw<V> {
    /// "a string", "a list", … for "expected X, found Y" messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Raw::Str(_) => "a string",
            Raw::Seq(_) => "a list",
            Raw::Map(_) => "a table",
            Raw::Other(kind) => kind,
        }
    }
}

/// TOML type name of a plain value, for error messages.
pub(crate) fn value_kind(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date-time",
        toml::Value::Array(_) => "a list",
        toml::Value::Table(_) => "a table",
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Raw<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor(PhantomData))
    }
}

struct RawVisitor<V>(PhantomData<V>);

impl<'de, V: Deserialize<'de>> Visitor<'de> for RawVisitor<V> {
    type Value = Raw<V>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Raw::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Raw::Str(v))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Raw::Other("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Raw::Other("an integer"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Raw::Other("an integer"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Raw::Other("a float"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<toml::Value>>()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<Spanned<V>>()?;
            entries.push((key, value));
        }
        Ok(Raw::Map(entries))
    }
}

/// `key = value` pairs of a table, in file order, with spans.
pub(crate) type Entries<V> = Vec<(Spanned<String>, Spanned<V>)>;

/// Parse a whole file into its top-level entries, mapping syntax errors to [`ConfigError`].
pub(crate) fn parse_document<V>(file: &str, text: &str) -> Result<Entries<V>, ConfigError>
where
    V: for<'de> Deserialize<'de>,
{
    match toml::from_str::<Raw<V>>(text) {
        Ok(Raw::Map(entries)) => Ok(entries),
        // A TOML document is always a table; anything else means toml changed under us.
        Ok(other) => Err(ConfigError {
            file: file.to_string(),
            line: None,
            column: None,
            table: None,
            key: None,
            message: format!("expected a table of keys, found {}", other.kind()),
        }),
        Err(err) => Err(ConfigError::from_toml(file, text, &err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_and_key() {
        let e = ConfigError {
            file: "themes/foo.toml".into(),
            line: Some(12),
            column: None,
            table: None,
            key: Some("sev1".into()),
            message: "unknown colour \"redd\"".into(),
        };
        assert_eq!(
            e.to_string(),
            "themes/foo.toml line 12, key `sev1`: unknown colour \"redd\""
        );
    }

    #[test]
    fn line_of_counts_newlines_before_offset() {
        let text = "a = 1\nb = 2\nc = 3\n";
        assert_eq!(line_of(text, 0), 1);
        assert_eq!(line_of(text, 6), 2);
        assert_eq!(line_of(text, 12), 3);
        assert_eq!(line_of(text, 10_000), 4);
    }

    #[test]
    fn key_on_line_reads_assignments_and_headers() {
        let text = "top = 1\n[normal]\nquit = \"q\n\"ack\" = 'a'\n# c = d\n  [\"x\", \"y\"],\n";
        assert_eq!(key_on_line(text, 1).as_deref(), Some("top"));
        assert_eq!(key_on_line(text, 2).as_deref(), Some("normal"));
        assert_eq!(key_on_line(text, 3).as_deref(), Some("normal.quit"));
        assert_eq!(key_on_line(text, 4).as_deref(), Some("normal.ack"));
        assert_eq!(key_on_line(text, 5), None);
        assert_eq!(key_on_line(text, 6), None);
        assert_eq!(key_on_line(text, 60), None);
    }
}
