//! The source registry: every kind of source a config can name, in one list. The list is what
//! reads and checks the `[[kind]]` tables (through each kind's `SourceSchema`), what fills
//! them from `[source_defaults.<kind>]`, what starts the configured sources and what names
//! them in the banner. Adding a kind of backend is one folder (`backend/<kind>/`: its config,
//! wire types, client, and a `SourceKind`) and one line in `KINDS`.

use super::start::Start;
use crate::config::sources::{SourceEntry, SourceSchema};
use crate::domain::SourceRole;

/// One kind of source.
pub trait SourceKind: Sync {
    /// Its config table, and how to read and check one entry of it.
    fn schema(&self) -> &'static dyn SourceSchema;

    /// The parts its sources play, the first being what a source that cannot start is shown
    /// as.
    fn roles(&self) -> &'static [SourceRole];

    /// Builds the adapter for one entry and starts its task(s), registering each part the
    /// source plays. `Err` is why the adapter could not be built (bad URL, unreadable
    /// secret): the source then shows as failing, and the rest of the cockpit carries on.
    fn start(&self, entry: &SourceEntry, start: &mut Start<'_>) -> Result<(), String>;
}

/// Every kind, in the order the banner and the sources view list them.
pub const KINDS: [&dyn SourceKind; 9] = [
    &super::prometheus::Kind,
    &super::alertmanager::Kind,
    &super::pagerduty::Kind,
    &super::pagerduty_events::Kind,
    &super::flagd::Kind,
    &super::http_hook::Kind,
    &super::unleash::Kind,
    &super::phoenix::Kind,
    &super::langfuse::Kind,
];

/// The config tables of every kind, for reading and checking config.toml.
pub fn schemas() -> Vec<&'static dyn SourceSchema> {
    KINDS.iter().map(|k| k.schema()).collect()
}

/// The kind whose table is `table`.
pub fn kind(table: &str) -> Option<&'static dyn SourceKind> {
    KINDS.iter().find(|k| k.schema().table() == table).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::settings::{load_settings, parse_settings, settings_from, Settings};
    use crate::config::sources::Sources;

    const DEFAULTS: &str = include_str!("../config/defaults.toml");

    fn tables() -> Vec<&'static str> {
        KINDS.iter().map(|k| k.schema().table()).collect()
    }

    fn parse(text: &str) -> Settings {
        parse_settings(text, &schemas()).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn every_kind_has_its_defaults_and_every_defaults_section_a_kind() {
        let defaults: toml::Table = toml::from_str(DEFAULTS).expect("defaults parse");
        let sections: Vec<&str> = defaults
            .get("source_defaults")
            .and_then(toml::Value::as_table)
            .map(|t| t.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut listed = tables();
        let mut found = sections.clone();
        listed.sort_unstable();
        found.sort_unstable();
        assert_eq!(
            listed, found,
            "[source_defaults.*] and the registry disagree"
        );
        let mut unique = listed.clone();
        unique.dedup();
        assert_eq!(unique, listed, "a table named twice in the registry");
        for kind in KINDS {
            assert!(
                !kind.roles().is_empty(),
                "{} plays no part",
                kind.schema().table()
            );
        }
    }

    #[test]
    fn every_kind_is_checked_through_the_list() {
        for table in tables() {
            let text = format!("[[{table}]]\nname = \"n\"\nno_such_key = 1\n");
            let errors = settings_from("config.toml", &text, &schemas()).expect_err(&text);
            let label = format!("[[{table}]] #1 \"n\"");
            assert!(
                errors
                    .iter()
                    .any(|e| e.table.as_deref() == Some(label.as_str())
                        && e.key.as_deref() == Some("no_such_key")),
                "{table}: {errors:?}"
            );
            // Without the list, the same table is not a source at all.
            let errors = settings_from("config.toml", &text, &[]).expect_err(&text);
            assert!(
                errors[0].message.contains("unknown top-level key"),
                "{errors:?}"
            );
        }
    }

    #[test]
    fn an_unknown_table_is_refused_naming_every_known_kind() {
        let errors = settings_from(
            "config.toml",
            "[[prometheus2]]\nurl = \"http://p\"\n",
            &schemas(),
        )
        .expect_err("refused");
        assert_eq!(errors.len(), 1, "{errors:?}");
        let msg = &errors[0].message;
        assert!(msg.contains("did you mean `prometheus`?"), "{msg}");
        for table in tables() {
            assert!(msg.contains(table), "{table} missing from: {msg}");
        }
        let errors = settings_from(
            "config.toml",
            "[source_defaults.graphite]\nurl = \"http://g\"\n",
            &schemas(),
        )
        .expect_err("refused");
        for table in tables() {
            assert!(errors[0].message.contains(table), "{errors:?}");
        }
    }

    #[test]
    fn the_banner_and_the_labels_name_every_kind_in_list_order() {
        let mut settings = parse("");
        let mut whole = toml::Table::new();
        for table in tables().into_iter().rev() {
            let entry: toml::Table =
                toml::from_str(&format!("name = \"{table}-1\"")).expect("toml");
            whole.insert(table.into(), toml::Value::Array(vec![entry.into()]));
        }
        settings.sources = Sources::take(&mut whole, &schemas());
        assert!(whole.is_empty(), "every kind's table taken: {whole:?}");
        let names: Vec<String> = tables().iter().map(|t| format!("{t}-1")).collect();
        assert_eq!(crate::wiring::banner(&settings), names.join(" + "));
        let labels: Vec<String> = tables().iter().map(|t| format!("{t} \"{t}-1\"")).collect();
        assert_eq!(settings.sources.labels(), labels);
    }

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("oc-registry-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let _ = std::fs::create_dir_all(&d);
        d
    }

    #[test]
    fn sources_take_missing_keys_from_source_defaults() {
        let d = tmp("sources");
        let f = d.join("config.toml");
        std::fs::write(
            &f,
            "[[prometheus]]\nurl = \"http://127.0.0.1:9090\"\n[[prometheus]]\nname = \"vllm\"\nurl = \"http://127.0.0.1:9091\"\npreset = \"vllm\"\n[[pagerduty]]\ntoken = { env = \"PD_TOKEN\" }\nfrom = \"ana@example.com\"\n",
        )
        .expect("write");
        let s = load_settings(&f, true, &schemas()).expect("load");
        let prometheus = super::super::prometheus::config::SCHEMA
            .entries(&s.sources)
            .expect("read");
        assert_eq!(prometheus.len(), 2);
        assert_eq!(prometheus[0].name, "prometheus");
        assert_eq!(prometheus[0].preset, "otel");
        assert_eq!(prometheus[1].preset, "vllm");
        assert_eq!(prometheus[1].step_secs, 60);
        let pagerduty = super::super::pagerduty::config::SCHEMA
            .entries(&s.sources)
            .expect("read");
        assert_eq!(pagerduty[0].url, "https://api.pagerduty.com");
        assert!(!s.sources.iter().any(|e| e.kind == "alertmanager"));
    }

    #[test]
    fn unleash_takes_missing_keys_from_source_defaults() {
        let d = tmp("unleash");
        let f = d.join("config.toml");
        std::fs::write(
            &f,
            "[[unleash]]\nurl = \"http://127.0.0.1:4242\"\ntoken = { env = \"UNLEASH_TOKEN\" }\nenvironment = \"staging\"\n",
        )
        .expect("write");
        let s = load_settings(&f, true, &schemas()).expect("load");
        let unleash = super::super::unleash::config::SCHEMA
            .entries(&s.sources)
            .expect("read");
        let u = &unleash[0];
        assert_eq!(u.name, "unleash");
        assert_eq!(u.environment, "staging");
        assert_eq!(u.project, "default");
        assert_eq!(u.prompt_flag, "{feature}.prompt");
        assert_eq!(u.kill_flag, "{feature}.kill-switch");
        assert_eq!(u.budget_flag, "{feature}.token-budget");
        assert_eq!(
            u.lever_flag(crate::domain::lever::Lever::Fallback),
            Some("{feature}.fallback")
        );
        assert_eq!(u.segment_field, "segment");
    }
}
