//! Checks a user config.toml whole, before anything starts: every mistake at once, each with
//! its file, line and column, the table and entry (`[[alertmanager]] #2 "prod"`), the key, and
//! what was expected against what was found. `oncall-cockpit check-config` prints the same list
//! the cockpit prints when it refuses to start.
//!
//! The shape is checked key by key through the same serde types the cockpit runs on: each key
//! of the user's file is deserialised alone over the built-in defaults, so one wrong key never
//! hides the next, and the spans toml keeps point at the user's own text. Then come the
//! limits (poll floor, reply cap, …), unique source names, and what each adapter refuses in
//! its own config (URLs, flag names, matchers), without reading any secret.

use super::alerts::AlertSettings;
use super::containment::ContainmentSettings;
use super::cost::CostSettings;
use super::error::{column_of, line_of, ConfigError};
use super::grouping::GroupSettings;
use super::respond::RespondPolicy;
use super::samples::SampleSettings;
use super::shadow::ShadowSettings;
use super::sim::SimSettings;
use super::sources::{SourceConfig, SourceSchema};
use super::wording::{humanize, key_named_in, kind_of, missing_field, unknown};
use crate::detect::DetectConfig;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::borrow::Cow;
use std::ops::Range;
use toml::de::{DeTable, DeValue, Deserializer, ValueDeserializer};
use toml::Spanned;

/// Top-level keys that are not sources.
const SETTINGS_KEYS: [&str; 13] = [
    "theme",
    "keymap",
    "author",
    "sim",
    "alerts",
    "samples",
    "grouping",
    "detect",
    "containment",
    "cost",
    "shadow",
    "respond",
    "source_defaults",
];

type Table<'i> = DeTable<'i>;
type Value<'i> = Spanned<DeValue<'i>>;

/// Where a source's name was given, for the duplicate check.
struct Named {
    name: String,
    label: String,
    line: usize,
    span: Range<usize>,
}

struct Checker<'a> {
    file: &'a str,
    text: &'a str,
    defaults: Table<'static>,
    /// The kinds of source a config may name.
    kinds: &'a [&'a dyn SourceSchema],
    errors: Vec<ConfigError>,
}

/// Checks `text` (the file shown as `file`) over the built-in `defaults` text. `Ok` when
/// there is nothing to report; else every error, in file order.
pub fn check<'a>(
    file: &'a str,
    text: &'a str,
    defaults: &'static str,
    kinds: &'a [&'a dyn SourceSchema],
) -> Result<(), Vec<ConfigError>> {
    let defaults = match DeTable::parse(defaults) {
        Ok(t) => t.into_inner(),
        Err(e) => {
            return Err(vec![ConfigError::whole(
                "built-in defaults.toml",
                e.message(),
            )])
        }
    };
    let (root, syntax) = DeTable::parse_recoverable(text);
    let mut c = Checker {
        file,
        text,
        defaults,
        kinds,
        errors: Vec::new(),
    };
    if !syntax.is_empty() {
        // A file that does not parse says nothing reliable about its keys: the syntax errors
        // are the whole report.
        for e in &syntax {
            let mut err = ConfigError::from_toml(file, text, e);
            err.column = e.span().map(|s| column_of(text, s.start));
            c.errors.push(err);
        }
        return Err(c.finish());
    }
    c.document(root.get_ref());
    let errors = c.finish();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

impl<'a> Checker<'a> {
    fn finish(mut self) -> Vec<ConfigError> {
        self.errors.sort_by_key(|e| (e.line, e.column));
        self.errors.dedup();
        self.errors
    }

    fn push(
        &mut self,
        span: Range<usize>,
        table: Option<&str>,
        key: Option<&str>,
        message: impl Into<String>,
    ) {
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            line: Some(line_of(self.text, span.start)),
            column: Some(column_of(self.text, span.start)),
            table: table.map(Into::into),
            key: key.map(str::to_string),
            message: message.into(),
        });
    }

    /// A serde error raised for `key` (whose key span is `key_span`) in `table`.
    fn push_serde(
        &mut self,
        e: &toml::de::Error,
        key_span: Range<usize>,
        table: Option<&str>,
        key: &str,
    ) {
        let (key, message) = humanize(key, e.message());
        // toml points into the value for type errors, at the key for unknown keys; a span
        // outside the user's text (a default value) falls back to the key.
        let span = e
            .span()
            .filter(|s| s.end <= self.text.len() && s.start >= key_span.start)
            .unwrap_or(key_span);
        self.push(span, table, Some(&key), message);
    }

    fn document(&mut self, root: &Table<'a>) {
        let mut named = Vec::new();
        let user_defaults = match root.get("source_defaults") {
            Some(v) => match v.get_ref() {
                DeValue::Table(t) => Some(t.clone()),
                _ => None,
            },
            None => None,
        };
        for (key, value) in root.iter() {
            let k = key.get_ref().as_ref();
            match k {
                "theme" | "keymap" | "author" => {
                    if let Err(e) = String::deserialize(ValueDeserializer::from(value.clone())) {
                        self.push_serde(&e, key.span(), None, k);
                    }
                }
                "sim" => {
                    self.section::<SimSettings>(key, value, "[sim]", &["sim"]);
                }
                "alerts" => self.section::<AlertSettings>(key, value, "[alerts]", &["alerts"]),
                "samples" => self.section::<SampleSettings>(key, value, "[samples]", &["samples"]),
                "grouping" => {
                    self.section::<GroupSettings>(key, value, "[grouping]", &["grouping"])
                }
                "detect" => self.section::<DetectConfig>(key, value, "[detect]", &["detect"]),
                "cost" => self.section::<CostSettings>(key, value, "[cost]", &["cost"]),
                "shadow" => self.section::<ShadowSettings>(key, value, "[shadow]", &["shadow"]),
                "respond" => self.section::<RespondPolicy>(key, value, "[respond]", &["respond"]),
                "containment" => self.section::<ContainmentSettings>(
                    key,
                    value,
                    "[containment]",
                    &["containment"],
                ),
                "source_defaults" => self.source_defaults(key, value),
                kind if self.kind(kind).is_some() => {
                    let base = self.kind_defaults(kind, user_defaults.as_ref());
                    self.entries(kind, key, value, &base, user_defaults.as_ref(), &mut named);
                }
                other => {
                    let known: Vec<&str> = SETTINGS_KEYS
                        .iter()
                        .copied()
                        .chain(self.kinds.iter().map(|k| k.table()))
                        .collect();
                    self.push(
                        key.span(),
                        None,
                        Some(other),
                        unknown(other, &known, "top-level key"),
                    );
                }
            }
        }
        self.duplicates(&mut named);
        self.rota_sources(root, &named);
    }

    /// A rota shift for a source the file does not name would never match: a typo that
    /// leaves nobody on call on screen. With no sources configured, the fleet is "sim".
    fn rota_sources(&mut self, root: &Table<'a>, named: &[Named]) {
        let Some(DeValue::Table(alerts)) = root.get("alerts").map(|v| v.get_ref()) else {
            return;
        };
        let Some(DeValue::Array(shifts)) = alerts.get("rota").map(|v| v.get_ref()) else {
            return;
        };
        let known: Vec<&str> = if named.is_empty() {
            vec!["sim"]
        } else {
            named.iter().map(|n| n.name.as_str()).collect()
        };
        for shift in shifts.iter() {
            let DeValue::Table(shift) = shift.get_ref() else {
                continue;
            };
            let Some(DeValue::Array(sources)) = shift.get("sources").map(|v| v.get_ref()) else {
                continue;
            };
            for source in sources.iter() {
                let DeValue::String(name) = source.get_ref() else {
                    continue;
                };
                if !known.contains(&name.as_ref()) {
                    self.push(
                        source.span(),
                        Some("[[alerts.rota]]"),
                        Some("sources"),
                        format!(
                            "no source is named {name:?}; the sources are: {}",
                            known.join(", ")
                        ),
                    );
                }
            }
        }
    }

    fn kind(&self, table: &str) -> Option<&'a dyn SourceSchema> {
        self.kinds.iter().find(|k| k.table() == table).copied()
    }

    /// The built-in table at `path` (`["sim"]`, `["source_defaults", "flagd"]`).
    fn builtin(&self, path: &[&str]) -> Table<'static> {
        let mut t = &self.defaults;
        for p in path {
            match t.get(*p).map(|v| v.get_ref()) {
                Some(DeValue::Table(next)) => t = next,
                _ => return Table::new(),
            }
        }
        t.clone()
    }

    /// A table section like `[sim]`: each key alone over the built-in section.
    fn section<T: DeserializeOwned>(
        &mut self,
        key: &Spanned<Cow<'a, str>>,
        value: &Value<'a>,
        label: &str,
        path: &[&str],
    ) {
        let DeValue::Table(user) = value.get_ref() else {
            self.push(
                value.span(),
                None,
                Some(key.get_ref()),
                format!(
                    "expected a table {label}, found {}",
                    kind_of(value.get_ref())
                ),
            );
            return;
        };
        let base = self.builtin(path);
        self.keys_alone::<T>(&base, &[], user, value.span(), label);
    }

    /// Each key of `user` (the table at `at` inside a section) alone over the section's
    /// built-in `base`, descending into tables the defaults have too, so that two mistakes in
    /// one nested table (`[detect.caps]`) are both reported, each at its own key.
    fn keys_alone<T: DeserializeOwned>(
        &mut self,
        base: &Table<'a>,
        at: &[Spanned<Cow<'a, str>>],
        user: &Table<'a>,
        span: Range<usize>,
        label: &str,
    ) {
        for (k, v) in user.iter() {
            let mut inner: Vec<Spanned<Cow<'a, str>>> = at.to_vec();
            inner.push(k.clone());
            if let (DeValue::Table(nested), true) = (v.get_ref(), is_table_at(base, &inner)) {
                self.keys_alone::<T>(base, &inner, nested, span.clone(), label);
                continue;
            }
            if let Some(e) = one_key(base, at, k, v, span.clone(), read_as::<T>) {
                // Named by its path inside the section: `caps.cost_per_min_usd`.
                let path: Vec<&str> = inner.iter().map(|p| p.get_ref().as_ref()).collect();
                self.push_serde(&e, k.span(), Some(label), &path.join("."));
            }
        }
    }

    /// Built-in `[source_defaults.<kind>]`, overlaid with the user's own keys for the kind
    /// (only those that are valid: a wrong one is reported once, where it is written).
    fn kind_defaults(&self, kind: &str, user: Option<&Table<'a>>) -> Table<'a> {
        let mut base: Table<'a> = self.builtin(&["source_defaults", kind]);
        if let Some(DeValue::Table(over)) = user.and_then(|u| u.get(kind)).map(|v| v.get_ref()) {
            let builtin = base.clone();
            for (k, v) in over.iter() {
                if self.key_error(kind, &builtin, k, v, 0..0).is_none() {
                    base.insert(k.clone(), v.clone());
                }
            }
        }
        base
    }

    fn source_defaults(&mut self, key: &Spanned<Cow<'a, str>>, value: &Value<'a>) {
        let DeValue::Table(kinds) = value.get_ref() else {
            self.push(
                value.span(),
                None,
                Some(key.get_ref()),
                format!("expected a table, found {}", kind_of(value.get_ref())),
            );
            return;
        };
        for (kind_key, kind_value) in kinds.iter() {
            let kind = kind_key.get_ref().as_ref();
            let label = format!("[source_defaults.{kind}]");
            if self.kind(kind).is_none() {
                let known: Vec<&str> = self.kinds.iter().map(|k| k.table()).collect();
                self.push(
                    kind_key.span(),
                    Some("[source_defaults]"),
                    Some(kind),
                    unknown(kind, &known, "kind of source"),
                );
                continue;
            }
            let DeValue::Table(user) = kind_value.get_ref() else {
                self.push(
                    kind_value.span(),
                    Some("[source_defaults]"),
                    Some(kind),
                    format!("expected a table, found {}", kind_of(kind_value.get_ref())),
                );
                continue;
            };
            let base = self.builtin(&["source_defaults", kind]);
            for (k, v) in user.iter() {
                if let Some(e) = self.key_error(kind, &base, k, v, kind_value.span()) {
                    self.push_serde(&e, k.span(), Some(&label), k.get_ref());
                }
            }
        }
    }

    /// Every `[[kind]]` entry.
    fn entries(
        &mut self,
        kind: &str,
        key: &Spanned<Cow<'a, str>>,
        value: &Value<'a>,
        base: &Table<'a>,
        user_defaults: Option<&Table<'a>>,
        named: &mut Vec<Named>,
    ) {
        let DeValue::Array(items) = value.get_ref() else {
            self.push(
                key.span(),
                None,
                Some(kind),
                format!(
                    "expected [[{kind}]] (a list of tables: several can be configured), found {}",
                    kind_of(value.get_ref())
                ),
            );
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let DeValue::Table(entry) = item.get_ref() else {
                self.push(
                    item.span(),
                    None,
                    Some(kind),
                    format!(
                        "expected each {kind} entry to be a table, found {}",
                        kind_of(item.get_ref())
                    ),
                );
                continue;
            };
            let ctx = Entry {
                kind,
                index: i + 1,
                entry,
                span: item.span(),
                base,
                user_defaults: user_defaults.and_then(|u| u.get(kind)).and_then(|v| {
                    match v.get_ref() {
                        DeValue::Table(t) => Some(t),
                        _ => None,
                    }
                }),
            };
            if let Some(schema) = self.kind(kind) {
                self.entry(schema, &ctx, named);
            }
        }
    }

    fn entry(&mut self, schema: &dyn SourceSchema, ctx: &Entry<'_, 'a>, named: &mut Vec<Named>) {
        let header = ctx.span.clone();
        // Where a key's value comes from: the entry, else the user's source defaults, else
        // (built in) the entry's header.
        let at = |key: &str| -> Range<usize> {
            ctx.entry
                .get_key_value(key)
                .or_else(|| ctx.user_defaults.and_then(|d| d.get_key_value(key)))
                .map(|(k, _)| k.span())
                .unwrap_or_else(|| header.clone())
        };
        // The name first, so every message about this entry can carry it.
        let name = ctx
            .entry
            .get("name")
            .or_else(|| ctx.base.get("name"))
            .and_then(|v| String::deserialize(ValueDeserializer::from(v.clone())).ok());
        let label = match &name {
            Some(n) => format!("[[{}]] #{} {n:?}", ctx.kind, ctx.index),
            None => format!("[[{}]] #{}", ctx.kind, ctx.index),
        };
        if let Some(name) = name {
            let span = at("name");
            named.push(Named {
                name,
                label: label.clone(),
                line: line_of(self.text, span.start),
                span,
            });
        }
        // Each key alone; the ones that fit make up the entry checked below, so one wrong
        // key does not hide what is wrong with the others.
        let mut whole = ctx.base.clone();
        let mut wrong = Vec::new();
        for (k, v) in ctx.entry.iter() {
            match one_key(ctx.base, &[], k, v, header.clone(), |d| {
                schema.read(d).map(drop)
            }) {
                Some(e) => {
                    wrong.push(k.get_ref().to_string());
                    self.push_serde(&e, k.span(), Some(&label), k.get_ref());
                }
                None => {
                    whole.insert(k.clone(), v.clone());
                }
            }
        }
        let Some((cfg, complete)) = self.required(schema, whole, &header, &label) else {
            return;
        };
        let mut limits_ok = true;
        for (limit, value) in cfg.limits() {
            if let Some(msg) = limit.refuse(value) {
                limits_ok = false;
                self.push(at(limit.key), Some(&label), Some(limit.key), msg);
            }
        }
        // The adapter would trip over the stand-ins of missing keys and over numbers out of
        // range: only a complete entry within its limits goes to it.
        if !(limits_ok && complete) {
            return;
        }
        let keys: Vec<String> = ctx
            .entry
            .iter()
            .chain(ctx.base.iter())
            .map(|(k, _)| k.get_ref().to_string())
            .collect();
        for msg in cfg.problems() {
            let key = key_named_in(&msg, &keys);
            // A wrong key stood in for by its default can make the adapter complain about
            // that default; the key is already reported.
            if key.as_ref().is_some_and(|k| wrong.contains(k)) {
                continue;
            }
            let span = key.as_deref().map_or_else(|| header.clone(), at);
            self.push(span, Some(&label), key.as_deref(), msg);
        }
    }

    /// The whole entry, deserialised, and whether it was complete. Every missing required key
    /// is reported at the entry's header; serde names one missing key at a time, so each is
    /// given a stand-in (a string, or a table if a string is the wrong type) and the entry is
    /// tried again. `None` if it still does not deserialise.
    fn required(
        &mut self,
        schema: &dyn SourceSchema,
        mut whole: Table<'a>,
        header: &Range<usize>,
        label: &str,
    ) -> Option<(Box<dyn SourceConfig>, bool)> {
        let mut missing: Vec<String> = Vec::new();
        let mut table_tried = false;
        let stand_in = |v: DeValue<'a>| Spanned::new(header.clone(), v);
        let mut built = None;
        for _ in 0..16 {
            let err = match schema.read(Deserializer::from(Spanned::new(
                header.clone(),
                whole.clone(),
            ))) {
                Ok(cfg) => {
                    built = Some(cfg);
                    break;
                }
                Err(e) => e,
            };
            match (missing_field(err.message()), missing.last()) {
                (Some(field), _) if !missing.contains(&field) => {
                    let key = Spanned::new(0..0, Cow::Owned(field.clone()));
                    whole.insert(key, stand_in(DeValue::String(Cow::Borrowed(""))));
                    missing.push(field);
                    table_tried = false;
                }
                (None, Some(last)) if !table_tried => {
                    let key = Spanned::new(0..0, Cow::Owned(last.clone()));
                    whole.insert(key, stand_in(DeValue::Table(Table::new())));
                    table_tried = true;
                }
                _ if missing.is_empty() => {
                    self.push(header.clone(), Some(label), None, err.message().to_string());
                    return None;
                }
                _ => break,
            }
        }
        for field in &missing {
            self.push(
                header.clone(),
                Some(label),
                Some(field),
                format!("missing key `{field}`"),
            );
        }
        built.map(|cfg| (cfg, missing.is_empty()))
    }

    /// `key = value` alone over `base` in a `kind` entry; the error if it does not fit.
    fn key_error(
        &self,
        kind: &str,
        base: &Table<'a>,
        key: &Spanned<Cow<'a, str>>,
        value: &Value<'a>,
        span: Range<usize>,
    ) -> Option<toml::de::Error> {
        let schema = self.kind(kind)?;
        one_key(base, &[], key, value, span, |d| schema.read(d).map(drop))
    }

    fn duplicates(&mut self, named: &mut [Named]) {
        // Kinds come in key order; the later one in the file is the one to rename.
        named.sort_by_key(|n| n.span.start);
        for (i, later) in named.iter().enumerate() {
            if let Some(first) = named[..i].iter().find(|n| n.name == later.name) {
                self.push(
                    later.span.clone(),
                    Some(&later.label),
                    Some("name"),
                    format!(
                        "name {:?} is already used by {} on line {}: every source needs its own \
                         name, across all kinds (its incidents, health and commands go by it)",
                        later.name, first.label, first.line
                    ),
                );
            }
        }
    }
}

struct Entry<'e, 'a> {
    kind: &'e str,
    /// 1-based position among the `[[kind]]` tables.
    index: usize,
    entry: &'e Table<'a>,
    span: Range<usize>,
    /// Built-in and user source defaults for the kind.
    base: &'e Table<'a>,
    user_defaults: Option<&'e Table<'a>>,
}

fn read_as<T: DeserializeOwned>(d: Deserializer<'_>) -> Result<(), toml::de::Error> {
    T::deserialize(d).map(drop)
}

/// `key = value` alone over `base`, read by `read`; the error if it does not fit.
/// Whether the defaults hold a table at `path`.
fn is_table_at(base: &Table<'_>, path: &[Spanned<Cow<'_, str>>]) -> bool {
    let mut t = base;
    for p in path {
        match t.get(p.get_ref().as_ref()).map(|v| v.get_ref()) {
            Some(DeValue::Table(next)) => t = next,
            _ => return false,
        }
    }
    true
}

/// The table at `path` inside `root`, which `is_table_at` said exists.
fn table_at<'r, 'a>(
    root: &'r mut Table<'a>,
    path: &[Spanned<Cow<'a, str>>],
) -> Option<&'r mut Table<'a>> {
    let mut t = root;
    for p in path {
        match t.get_mut(p.get_ref().as_ref()).map(|v| v.get_mut()) {
            Some(DeValue::Table(next)) => t = next,
            _ => return None,
        }
    }
    Some(t)
}

/// `key` alone over `base`, at `at` inside it: the error it causes, if any.
fn one_key<'a>(
    base: &Table<'a>,
    at: &[Spanned<Cow<'a, str>>],
    key: &Spanned<Cow<'a, str>>,
    value: &Value<'a>,
    table_span: Range<usize>,
    read: impl Fn(Deserializer<'a>) -> Result<(), toml::de::Error>,
) -> Option<toml::de::Error> {
    let mut t = base.clone();
    // `key` goes into the table at `at` (nested inside the section), which exists in `base`.
    table_at(&mut t, at)?.insert(key.clone(), value.clone());
    let result = read(Deserializer::from(Spanned::new(table_span, t)));
    match result {
        Ok(_) => None,
        // The base alone may lack a required key (a source's url): only errors about this
        // key count here; missing keys are reported for the whole entry.
        Err(e) if missing_field(e.message()).is_some() => None,
        Err(e) => Some(e),
    }
}
