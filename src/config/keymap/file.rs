//! Reading a keymap file: each mode table's `action = keys` entries, validated one by one
//! with the file, line and key of the first mistake. Merging is `Keymap::overlay`'s job.

use super::key::Key;
use super::names::{ActionName, Mode};
use crate::config::error::{parse_document, value_kind, ConfigError, Raw};
use std::collections::BTreeMap;
use std::ops::Range;

/// One `action = keys` line of a file, validated but not yet merged.
pub(super) struct FileBinding {
    pub mode: Mode,
    pub action: ActionName,
    /// Dotted path for messages, e.g. `normal.ack`.
    pub path: String,
    pub span: Range<usize>,
    pub keys: Vec<(Key, Range<usize>)>,
}

/// A keymap file after per-entry validation.
pub(super) struct KeymapFile {
    pub bindings: Vec<FileBinding>,
    /// Span of each `[mode]` header, to point at when the file lacks something.
    pub headers: BTreeMap<Mode, Range<usize>>,
}

/// Every `action = keys` entry of a file, each checked where it stands: mode table, action
/// name and key strings, with the location of the first mistake.
pub(super) fn read_file(file: &str, text: &str) -> Result<KeymapFile, ConfigError> {
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
            let action = ActionName::from_name(name.get_ref()).ok_or_else(|| {
                let known: Vec<String> = ActionName::ALL.iter().map(|a| a.name()).collect();
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
