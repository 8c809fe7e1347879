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
use super::error::{column_of, line_of, ConfigError};
use super::settings::SimSettings;
use super::sources::{
    AlertmanagerConfig, FlagdConfig, HttpHookConfig, PagerDutyConfig, PagerDutyEventsConfig,
    PrometheusConfig, UnleashConfig,
};
use super::timing::Limit;
use crate::backend::alertmanager::Alertmanager;
use crate::backend::flagd::Flagd;
use crate::backend::hook::HttpHook;
use crate::backend::pagerduty::PagerDuty;
use crate::backend::pagerduty_events::PagerDutyEvents;
use crate::backend::prometheus::Prometheus;
use crate::backend::unleash::Unleash;
use crate::detect::DetectConfig;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::borrow::Cow;
use std::ops::Range;
use toml::de::{DeTable, DeValue, Deserializer, ValueDeserializer};
use toml::Spanned;

/// Every kind of source a config can name, as its `[[kind]]` table.
pub const SOURCE_KINDS: [&str; 7] = [
    "prometheus",
    "alertmanager",
    "pagerduty",
    "pagerduty_events",
    "flagd",
    "http_hook",
    "unleash",
];

/// Top-level keys that are not sources.
const SETTINGS_KEYS: [&str; 7] = [
    "theme",
    "keymap",
    "author",
    "sim",
    "alerts",
    "detect",
    "source_defaults",
];

const REPLY: Limit = Limit {
    key: "max_reply_mib",
    min: 1.0,
    max: 1024.0,
    why: "MiB per reply",
};
const INCIDENTS: Limit = Limit {
    key: "max_incidents",
    min: 1.0,
    max: 100_000.0,
    why: "incidents held per source",
};
const PACE: Limit = Limit {
    key: "answer_time_factor",
    min: 1.0,
    max: 100.0,
    why: "times the last answer time between poll starts",
};
const PAGES: Limit = Limit {
    key: "max_pages",
    min: 1.0,
    max: 100.0,
    why: "pages per poll",
};
const PAGE_SIZE: Limit = Limit {
    key: "page_size",
    min: 1.0,
    max: 100.0,
    why: "PagerDuty refuses pages larger than 100",
};

/// A config struct the checker knows: its limits and the checks its adapter makes.
trait Kind: DeserializeOwned {
    fn limits(&self) -> Vec<(&'static Limit, f64)>;
    /// The adapter's own refusals of this config, without secrets.
    fn adapter_check(&self) -> Vec<String>;
}

impl Kind for PrometheusConfig {
    fn limits(&self) -> Vec<(&'static Limit, f64)> {
        vec![
            (&REPLY, self.max_reply_mib as f64),
            (&PACE, self.answer_time_factor),
        ]
    }
    fn adapter_check(&self) -> Vec<String> {
        Prometheus::check(self).err().into_iter().collect()
    }
}

impl Kind for AlertmanagerConfig {
    fn limits(&self) -> Vec<(&'static Limit, f64)> {
        vec![
            (&REPLY, self.max_reply_mib as f64),
            (&PACE, self.answer_time_factor),
            (&INCIDENTS, self.max_incidents as f64),
        ]
    }
    fn adapter_check(&self) -> Vec<String> {
        // Each matcher on its own, so two bad ones are two errors.
        let mut problems: Vec<String> = self
            .filter
            .iter()
            .filter_map(|m| Alertmanager::check_filter(m).err())
            .collect();
        let rest = AlertmanagerConfig {
            filter: Vec::new(),
            ..self.clone()
        };
        problems.extend(Alertmanager::check(&rest).err());
        problems
    }
}

impl Kind for PagerDutyConfig {
    fn limits(&self) -> Vec<(&'static Limit, f64)> {
        vec![
            (&REPLY, self.max_reply_mib as f64),
            (&PACE, self.answer_time_factor),
            (&INCIDENTS, self.max_incidents as f64),
            (&PAGES, f64::from(self.max_pages)),
            (&PAGE_SIZE, f64::from(self.page_size)),
        ]
    }
    fn adapter_check(&self) -> Vec<String> {
        PagerDuty::check(self).err().into_iter().collect()
    }
}

impl Kind for PagerDutyEventsConfig {
    fn limits(&self) -> Vec<(&'static Limit, f64)> {
        vec![(&REPLY, self.max_reply_mib as f64)]
    }
    fn adapter_check(&self) -> Vec<String> {
        PagerDutyEvents::check(self).err().into_iter().collect()
    }
}

impl Kind for FlagdConfig {
    fn limits(&self) -> Vec<(&'static Limit, f64)> {
        vec![
            (&REPLY, self.max_reply_mib as f64),
            (&PACE, self.answer_time_factor),
        ]
    }
    fn adapter_check(&self) -> Vec<String> {
        Flagd::check(self).err().into_iter().collect()
    }
}

impl Kind for HttpHookConfig {
    fn limits(&self) -> Vec<(&'static Limit, f64)> {
        Vec::new()
    }
    fn adapter_check(&self) -> Vec<String> {
        HttpHook::check(self).err().into_iter().collect()
    }
}

impl Kind for UnleashConfig {
    fn limits(&self) -> Vec<(&'static Limit, f64)> {
        vec![
            (&REPLY, self.max_reply_mib as f64),
            (&PACE, self.answer_time_factor),
        ]
    }
    fn adapter_check(&self) -> Vec<String> {
        Unleash::check(self).err().into_iter().collect()
    }
}

/// Every source the settings name, as `kind "name"`, in file order per kind.
pub fn sources(settings: &super::settings::Settings) -> Vec<String> {
    let s = &settings.sources;
    let each = |kind: &str, names: Vec<&String>| {
        names
            .into_iter()
            .map(|n| format!("{kind} {n:?}"))
            .collect::<Vec<_>>()
    };
    [
        each("prometheus", s.prometheus.iter().map(|c| &c.name).collect()),
        each(
            "alertmanager",
            s.alertmanager.iter().map(|c| &c.name).collect(),
        ),
        each("pagerduty", s.pagerduty.iter().map(|c| &c.name).collect()),
        each(
            "pagerduty_events",
            s.pagerduty_events.iter().map(|c| &c.name).collect(),
        ),
        each("flagd", s.flagd.iter().map(|c| &c.name).collect()),
        each("http_hook", s.http_hook.iter().map(|c| &c.name).collect()),
        each("unleash", s.unleash.iter().map(|c| &c.name).collect()),
    ]
    .concat()
}

/// Secrets that cannot be read on this machine right now (variable unset, file missing or
/// readable by others). Not config errors: the machine that checks a config may not hold the
/// secrets, and at start such a source shows failing with the reason while the rest runs.
pub fn secret_problems(settings: &super::settings::Settings) -> Vec<String> {
    use super::secret::{AuthConfig, SecretSpec};
    let s = &settings.sources;
    fn auth(what: String, a: &Option<AuthConfig>) -> Vec<(String, &SecretSpec)> {
        let Some(a) = a else { return Vec::new() };
        a.bearer
            .iter()
            .map(|b| (format!("{what}: auth.bearer"), b))
            .chain(
                a.basic_password
                    .iter()
                    .map(|p| (format!("{what}: auth.basic_password"), p)),
            )
            .collect()
    }
    let mut specs: Vec<(String, &SecretSpec)> = Vec::new();
    for p in &s.prometheus {
        specs.extend(auth(format!("prometheus {:?}", p.name), &p.auth));
    }
    for a in &s.alertmanager {
        specs.extend(auth(format!("alertmanager {:?}", a.name), &a.auth));
    }
    for p in &s.pagerduty {
        specs.push((format!("pagerduty {:?}: token", p.name), &p.token));
    }
    for p in &s.pagerduty_events {
        specs.push((
            format!("pagerduty_events {:?}: routing_key", p.name),
            &p.routing_key,
        ));
    }
    for u in &s.unleash {
        specs.push((format!("unleash {:?}: token", u.name), &u.token));
    }
    for h in &s.http_hook {
        for (what, req) in [("rollback", &h.rollback), ("kill_switch", &h.kill_switch)] {
            for (header, spec) in req.iter().flat_map(|r| r.secret_headers.iter()) {
                specs.push((
                    format!("http_hook {:?}: {what}.secret_headers.{header}", h.name),
                    spec,
                ));
            }
        }
    }
    specs
        .into_iter()
        .filter_map(|(what, spec)| spec.load().err().map(|e| format!("{what}: {e}")))
        .collect()
}

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
    errors: Vec<ConfigError>,
}

/// Checks `text` (the file shown as `file`) over the built-in `defaults` text. `Ok` when
/// there is nothing to report; else every error, in file order.
pub fn check(file: &str, text: &str, defaults: &'static str) -> Result<(), Vec<ConfigError>> {
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
                "detect" => self.section::<DetectConfig>(key, value, "[detect]", &["detect"]),
                "source_defaults" => self.source_defaults(key, value),
                kind if SOURCE_KINDS.contains(&kind) => {
                    let base = self.kind_defaults(kind, user_defaults.as_ref());
                    self.entries(kind, key, value, &base, user_defaults.as_ref(), &mut named);
                }
                other => {
                    let known: Vec<&str> = SETTINGS_KEYS
                        .iter()
                        .chain(SOURCE_KINDS.iter())
                        .copied()
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
        for (k, v) in user.iter() {
            if let Some(e) = one_key::<T>(&base, k, v, value.span()) {
                self.push_serde(&e, k.span(), Some(label), k.get_ref());
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
                if one_key_of_kind(kind, &builtin, k, v, 0..0).is_none() {
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
            if !SOURCE_KINDS.contains(&kind) {
                self.push(
                    kind_key.span(),
                    Some("[source_defaults]"),
                    Some(kind),
                    unknown(kind, &SOURCE_KINDS, "kind of source"),
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
                if let Some(e) = one_key_of_kind(kind, &base, k, v, kind_value.span()) {
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
            match kind {
                "prometheus" => self.entry::<PrometheusConfig>(&ctx, named),
                "alertmanager" => self.entry::<AlertmanagerConfig>(&ctx, named),
                "pagerduty" => self.entry::<PagerDutyConfig>(&ctx, named),
                "pagerduty_events" => self.entry::<PagerDutyEventsConfig>(&ctx, named),
                "flagd" => self.entry::<FlagdConfig>(&ctx, named),
                "http_hook" => self.entry::<HttpHookConfig>(&ctx, named),
                _ => self.entry::<UnleashConfig>(&ctx, named),
            }
        }
    }

    fn entry<T: Kind>(&mut self, ctx: &Entry<'_, 'a>, named: &mut Vec<Named>) {
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
            match one_key::<T>(ctx.base, k, v, header.clone()) {
                Some(e) => {
                    wrong.push(k.get_ref().to_string());
                    self.push_serde(&e, k.span(), Some(&label), k.get_ref());
                }
                None => {
                    whole.insert(k.clone(), v.clone());
                }
            }
        }
        let Some((cfg, complete)) = self.required::<T>(whole, &header, &label) else {
            return;
        };
        let mut limits_ok = true;
        for (limit, value) in cfg.limits() {
            if let Some(msg) = limit.refuse(value) {
                limits_ok = false;
                self.push(at(limit.key), Some(&label), Some(limit.key), msg);
            }
        }
        // The adapter re-checks intervals in its own words, and would trip over the stand-ins
        // of missing keys: only a complete entry within its limits goes to it.
        if !(limits_ok && complete) {
            return;
        }
        let keys: Vec<String> = ctx
            .entry
            .iter()
            .chain(ctx.base.iter())
            .map(|(k, _)| k.get_ref().to_string())
            .collect();
        for msg in cfg.adapter_check() {
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
    fn required<T: Kind>(
        &mut self,
        mut whole: Table<'a>,
        header: &Range<usize>,
        label: &str,
    ) -> Option<(T, bool)> {
        let mut missing: Vec<String> = Vec::new();
        let mut table_tried = false;
        let stand_in = |v: DeValue<'a>| Spanned::new(header.clone(), v);
        let mut built = None;
        for _ in 0..16 {
            let err = match T::deserialize(Deserializer::from(Spanned::new(
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

/// `key = value` alone over `base`, deserialised as `T`; the error if it does not fit.
fn one_key<'a, T: DeserializeOwned>(
    base: &Table<'a>,
    key: &Spanned<Cow<'a, str>>,
    value: &Value<'a>,
    table_span: Range<usize>,
) -> Option<toml::de::Error> {
    let mut t = base.clone();
    t.insert(key.clone(), value.clone());
    let result = T::deserialize(Deserializer::from(Spanned::new(table_span, t)));
    match result {
        Ok(_) => None,
        // The base alone may lack a required key (a source's url): only errors about this
        // key count here; missing keys are reported for the whole entry.
        Err(e) if missing_field(e.message()).is_some() => None,
        Err(e) => Some(e),
    }
}

fn one_key_of_kind<'a>(
    kind: &str,
    base: &Table<'a>,
    key: &Spanned<Cow<'a, str>>,
    value: &Value<'a>,
    span: Range<usize>,
) -> Option<toml::de::Error> {
    match kind {
        "prometheus" => one_key::<PrometheusConfig>(base, key, value, span),
        "alertmanager" => one_key::<AlertmanagerConfig>(base, key, value, span),
        "pagerduty" => one_key::<PagerDutyConfig>(base, key, value, span),
        "pagerduty_events" => one_key::<PagerDutyEventsConfig>(base, key, value, span),
        "flagd" => one_key::<FlagdConfig>(base, key, value, span),
        "http_hook" => one_key::<HttpHookConfig>(base, key, value, span),
        _ => one_key::<UnleashConfig>(base, key, value, span),
    }
}

fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}

/// The first of `keys` that `msg` names as a word, e.g. `url` in "url \"x\" is not …".
fn key_named_in(msg: &str, keys: &[String]) -> Option<String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    keys.iter()
        .filter_map(|k| {
            msg.match_indices(k.as_str())
                .find(|(i, _)| {
                    let before = msg[..*i].chars().next_back();
                    let after = msg[i + k.len()..].chars().next();
                    !before.is_some_and(word) && !after.is_some_and(word)
                })
                .map(|(i, _)| (i, k))
        })
        .min_by_key(|(i, k)| (*i, std::cmp::Reverse(k.len())))
        .map(|(_, k)| k.clone())
}

fn kind_of(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

/// "unknown key; did you mean `poll_secs`? (expected one of: …)".
fn unknown(found: &str, known: &[&str], what: &str) -> String {
    let list = known.join(", ");
    match closest(found, known) {
        Some(near) => format!("unknown {what}; did you mean `{near}`? (expected one of: {list})"),
        None => format!("unknown {what} (expected one of: {list})"),
    }
}

/// The known name within two edits of `found`, if one is. Ties go to the name `found` is a
/// shortening of (a dropped letter is the commonest typo), then to the longest shared start.
fn closest<'k>(found: &str, known: &[&'k str]) -> Option<&'k str> {
    let shortening = |k: &str| {
        let mut rest = k.chars();
        found.chars().all(|c| rest.any(|r| r == c))
    };
    let shared = |k: &str| {
        found
            .chars()
            .zip(k.chars())
            .take_while(|(a, b)| a == b)
            .count()
    };
    known
        .iter()
        .map(|k| {
            let rank = (
                edit_distance(found, k),
                !shortening(k),
                std::cmp::Reverse(shared(k)),
            );
            (rank, *k)
        })
        .filter(|((d, ..), _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// serde's wording, as a responder reads it: "expected …, found …", keys rather than fields.
/// Returns the key the message is about (an unknown key names itself) and the message.
fn humanize(key: &str, msg: &str) -> (String, String) {
    let msg = msg.lines().next().unwrap_or(msg).trim();
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (found, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        // An unknown key inside a nested table (auth = { bearr = … }) names its path.
        let path = if found == key {
            key.to_string()
        } else {
            format!("{key}.{found}")
        };
        return (path, unknown(found, &known, "key"));
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        let (found, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        return (format!("{key}.{found}"), unknown(found, &known, "name"));
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            if let Some((found, expected)) = rest.split_once(", expected ") {
                return (
                    key.to_string(),
                    format!("expected {}, found {found}", type_name(expected)),
                );
            }
        }
    }
    if let Some(field) = missing_field(msg) {
        return (format!("{key}.{field}"), format!("missing key `{field}`"));
    }
    (key.to_string(), msg.to_string())
}

fn type_name(expected: &str) -> String {
    match expected {
        "f64" | "f32" => "a number".into(),
        "u64" | "u32" | "u16" | "u8" | "usize" => "a whole number, 0 or more".into(),
        "i64" | "i32" => "a whole number".into(),
        "a sequence" => "a list".into(),
        "a map" => "a table".into(),
        other if other.starts_with("struct ") => "a table".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_and_closest() {
        assert_eq!(edit_distance("poll_sec", "poll_secs"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(
            closest("poll_sec", &["url", "poll_secs"]),
            Some("poll_secs")
        );
        assert_eq!(closest("zzzzzz", &["url", "poll_secs"]), None);
        assert_eq!(closest("sped", &["seed", "speed"]), Some("speed"));
    }

    #[test]
    fn keys_named_in_adapter_messages() {
        let keys: Vec<String> = ["url", "renew_before_secs", "silence_secs"]
            .map(String::from)
            .into();
        assert_eq!(
            key_named_in("renew_before_secs must be less than silence_secs", &keys).as_deref(),
            Some("renew_before_secs")
        );
        assert_eq!(
            key_named_in("url \"ftp://x\" is ftp://, not http(s)://", &keys).as_deref(),
            Some("url")
        );
        assert_eq!(key_named_in("something else", &keys), None);
    }

    #[test]
    fn serde_wording_becomes_expected_found() {
        assert_eq!(
            humanize("poll_secs", "invalid type: string \"fast\", expected f64"),
            (
                "poll_secs".into(),
                "expected a number, found string \"fast\"".into()
            )
        );
        let (key, msg) = humanize(
            "poll_sec",
            "unknown field `poll_sec`, expected `url` or `poll_secs`",
        );
        assert_eq!(key, "poll_sec");
        assert!(
            msg.starts_with("unknown key; did you mean `poll_secs`?"),
            "{msg}"
        );
    }
}
