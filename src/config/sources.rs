//! The `[[kind]]` tables of config.toml: several sources of each kind, every key an entry
//! leaves out taken from `[source_defaults.<kind>]`. Which kinds exist and what their keys
//! mean is not the config layer's to know: each kind of source (`backend/<kind>/config.rs`)
//! declares its table through a `Schema`, and the source registry (`backend/registry.rs`)
//! hands the list to whatever reads or checks a config.

use super::limits::Limit;
use super::secret::SecretSpec;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// One entry of a kind's table, read.
pub trait SourceConfig {
    fn name(&self) -> &str;
    /// Numbers the config check holds to their limits. Poll interval and timeout are not
    /// among them: they are refused while the file is read (see `timing`).
    fn limits(&self) -> Vec<(&'static Limit, f64)> {
        Vec::new()
    }
    /// What the adapter would refuse in this entry (URLs, flag names, matchers), without
    /// reading any secret.
    fn problems(&self) -> Vec<String>;
    /// The secrets the entry names, each with the key it is under (`token`, `auth.bearer`).
    fn secrets(&self) -> Vec<(String, &SecretSpec)> {
        Vec::new()
    }
    /// Its `tls` table, for HTTP sources that have one.
    fn tls(&self) -> Option<&crate::config::tls::TlsConfig> {
        None
    }
}

/// What the config layer needs of a kind of source: its table's name and how to read one
/// entry of it.
pub trait SourceSchema: Sync {
    /// `prometheus` for `[[prometheus]]` and `[source_defaults.prometheus]`.
    fn table(&self) -> &'static str;

    /// One entry, read through serde (the checker passes toml's spanned tables).
    fn read<'de>(
        &self,
        entry: toml::de::Deserializer<'de>,
    ) -> Result<Box<dyn SourceConfig>, toml::de::Error>;

    /// One entry of loaded settings, read.
    fn read_entry(&self, entry: &SourceEntry) -> Result<Box<dyn SourceConfig>, String>;
}

/// A kind's table, read as `T`.
pub struct Schema<T> {
    table: &'static str,
    config: PhantomData<fn() -> T>,
}

impl<T> Schema<T> {
    pub const fn new(table: &'static str) -> Self {
        Schema {
            table,
            config: PhantomData,
        }
    }
}

impl<T: DeserializeOwned> Schema<T> {
    /// Every entry of this kind in `sources`, read. Settings that loaded were checked whole,
    /// so an error here means the checker and the reader disagree; it is reported, not hidden.
    pub fn entries(&self, sources: &Sources) -> Result<Vec<T>, String> {
        sources
            .iter()
            .filter(|e| e.kind == self.table)
            .map(|e| self.parse(e))
            .collect()
    }

    pub fn parse(&self, entry: &SourceEntry) -> Result<T, String> {
        T::deserialize(toml::Value::Table(entry.table.clone()))
            .map_err(|e| format!("[[{}]] {:?}: {e}", self.table, entry.name))
    }
}

impl<T: SourceConfig + DeserializeOwned + 'static> SourceSchema for Schema<T> {
    fn table(&self) -> &'static str {
        self.table
    }

    fn read<'de>(
        &self,
        entry: toml::de::Deserializer<'de>,
    ) -> Result<Box<dyn SourceConfig>, toml::de::Error> {
        T::deserialize(entry).map(|c| Box::new(c) as Box<dyn SourceConfig>)
    }

    fn read_entry(&self, entry: &SourceEntry) -> Result<Box<dyn SourceConfig>, String> {
        self.parse(entry)
            .map(|c| Box::new(c) as Box<dyn SourceConfig>)
    }
}

/// One `[[kind]]` entry, filled from its kind's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceEntry {
    pub kind: &'static str,
    pub name: String,
    pub table: toml::Table,
}

/// Every configured source: kinds in the registry's order, each kind's entries in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sources(Vec<SourceEntry>);

impl Sources {
    /// Takes the tables of `kinds` out of the whole (defaults-filled) config table.
    pub fn take(table: &mut toml::Table, kinds: &[&dyn SourceSchema]) -> Sources {
        let mut entries = Vec::new();
        for kind in kinds {
            let Some(toml::Value::Array(items)) = table.remove(kind.table()) else {
                continue;
            };
            for item in items {
                if let toml::Value::Table(t) = item {
                    let name = t
                        .get("name")
                        .and_then(toml::Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    entries.push(SourceEntry {
                        kind: kind.table(),
                        name,
                        table: t,
                    });
                }
            }
        }
        Sources(entries)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &SourceEntry> {
        self.0.iter()
    }

    /// Every source as `kind "name"`.
    pub fn labels(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|e| format!("{} {:?}", e.kind, e.name))
            .collect()
    }

    /// Secrets that cannot be read on this machine right now (variable unset, file missing
    /// or readable by others). Not config errors: the machine that checks a config may not
    /// hold the secrets, and at start such a source shows failing with the reason while the
    /// rest runs.
    pub fn secret_problems(&self, kinds: &[&dyn SourceSchema]) -> Vec<String> {
        let mut problems = Vec::new();
        for entry in &self.0 {
            let Some(kind) = kinds.iter().find(|k| k.table() == entry.kind) else {
                continue;
            };
            let label = format!("{} {:?}", entry.kind, entry.name);
            match kind.read_entry(entry) {
                Ok(cfg) => {
                    problems.extend(cfg.secrets().into_iter().filter_map(|(key, spec)| {
                        spec.load().err().map(|e| format!("{label}: {key}: {e}"))
                    }));
                    if let Some(Err(e)) = cfg.tls().map(|t| t.load()) {
                        problems.push(format!("{label}: {e}"));
                    }
                }
                Err(e) => problems.push(e),
            }
        }
        problems
    }
}
