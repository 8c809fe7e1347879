//! Every shipped theme and keymap loads, the built-in names match the files, and bad files fail
//! with a message that names the file, the line and the key.

use oncall_cockpit::config::error::ConfigError;
use oncall_cockpit::config::keymap::{Keymap, Mode};
use oncall_cockpit::config::theme::{Role, Theme};
use std::collections::BTreeSet;
use std::path::Path;

/// (label like "themes/default.toml", stem, contents) for every *.toml file in a repo directory,
/// read at test time so a newly added file is covered without touching this test.
fn toml_files(dir: &str) -> Vec<(String, String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            let stem = p.file_stem().expect("stem").to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).expect("read file");
            (format!("{dir}/{name}"), stem, text)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no files in {dir}/");
    files
}

#[test]
fn every_theme_file_parses() {
    for (label, _, text) in toml_files("themes") {
        if let Err(e) = Theme::parse(&label, &text) {
            panic!("{e}");
        }
    }
}

#[test]
fn every_keymap_file_parses_and_can_quit() {
    for (label, _, text) in toml_files("keymaps") {
        let km = Keymap::parse(&label, &text).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !km.keys_for(Mode::Normal, &oncall_cockpit::action::Action::Quit)
                .is_empty(),
            "{label}: no quit"
        );
    }
}

#[test]
fn builtin_themes_match_files() {
    let files = toml_files("themes");
    let stems: BTreeSet<&str> = files.iter().map(|(_, stem, _)| stem.as_str()).collect();
    let names: BTreeSet<&str> = Theme::builtin_names().iter().copied().collect();
    assert_eq!(stems, names, "themes/ and Theme::builtin_names() differ");
    for (label, stem, text) in &files {
        assert_eq!(Theme::builtin(stem), Some(text.as_str()), "{label}");
    }
}

#[test]
fn builtin_keymaps_match_files() {
    let files = toml_files("keymaps");
    let stems: BTreeSet<&str> = files.iter().map(|(_, stem, _)| stem.as_str()).collect();
    let names: BTreeSet<&str> = Keymap::builtin_names().iter().copied().collect();
    assert_eq!(stems, names, "keymaps/ and Keymap::builtin_names() differ");
    for (label, stem, text) in &files {
        assert_eq!(Keymap::builtin(stem), Some(text.as_str()), "{label}");
    }
}

#[test]
fn builtin_themes_overlay_onto_each_other() {
    // A user file is layered over a built-in; a full theme is also a valid overlay.
    let base = Theme::parse(
        "themes/default.toml",
        Theme::builtin("default").expect("default"),
    )
    .expect("default parses");
    let hc = Theme::builtin("high-contrast").expect("high-contrast");
    let over = Theme::overlay(&base, "themes/high-contrast.toml", hc).expect("overlay");
    let full = Theme::parse("themes/high-contrast.toml", hc).expect("parse");
    assert_eq!(over, full);
}

/// Assert the location of an error and that its Display names it.
fn assert_located(e: &ConfigError, file: &str, line: usize, key: &str) {
    assert_eq!(e.file, file, "{e}");
    assert_eq!(e.line, Some(line), "{e}");
    assert_eq!(e.key.as_deref(), Some(key), "{e}");
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("{file} line {line}, key `{key}`: ")),
        "{shown}"
    );
}

fn default_keymap() -> Keymap {
    Keymap::parse(
        "keymaps/default.toml",
        Keymap::builtin("default").expect("default"),
    )
    .expect("default parses")
}

fn default_theme() -> Theme {
    Theme::parse(
        "themes/default.toml",
        Theme::builtin("default").expect("default"),
    )
    .expect("default parses")
}

#[test]
fn theme_unknown_colour() {
    let text = "# mine\nborder = \"gray\"\n\nsev1 = \"redd\"\n";
    let e = Theme::overlay(&default_theme(), "themes/foo.toml", text).unwrap_err();
    assert_located(&e, "themes/foo.toml", 4, "sev1");
    assert_eq!(
        e.to_string(),
        "themes/foo.toml line 4, key `sev1`: unknown colour \"redd\" \
         (expected a name like \"red\", \"#rrggbb\" or 0-255)"
    );

    let text = "border = \"gray\"\nsev2 = { fg = \"white\",\n  bg = \"#12345\" }\n";
    let e = Theme::overlay(&default_theme(), "themes/foo.toml", text).unwrap_err();
    assert_located(&e, "themes/foo.toml", 3, "sev2.bg");
    assert!(e.message.contains("\"#12345\""), "{e}");

    let e = Theme::parse("themes/foo.toml", "base = \"256\"\n").unwrap_err();
    assert_located(&e, "themes/foo.toml", 1, "base");
}

#[test]
fn theme_unknown_role() {
    let text = "border = \"gray\"\nsev5 = \"red\"\n";
    let e = Theme::parse("themes/bad.toml", text).unwrap_err();
    assert_located(&e, "themes/bad.toml", 2, "sev5");
    assert!(e.message.starts_with("unknown role \"sev5\""), "{e}");
    assert!(e.message.contains("sparkline_breach"), "lists roles: {e}");
}

#[test]
fn theme_unknown_style_key() {
    let text = "border = \"gray\"\nsev1 = { fg = \"red\", blink = true }\n";
    let e = Theme::overlay(&default_theme(), "themes/bad.toml", text).unwrap_err();
    assert_located(&e, "themes/bad.toml", 2, "sev1.blink");
}

#[test]
fn theme_missing_role() {
    let full = Theme::builtin("default").expect("default");
    let without: String = full
        .lines()
        .filter(|l| !l.starts_with("overdue"))
        .map(|l| format!("{l}\n"))
        .collect();
    let e = Theme::parse("themes/partial.toml", &without).unwrap_err();
    assert_eq!(e.file, "themes/partial.toml");
    assert_eq!(e.key.as_deref(), Some("overdue"));
    assert!(e.to_string().contains("missing role overdue"), "{e}");
    // The same file is fine as an overlay.
    let t = Theme::overlay(&default_theme(), "themes/partial.toml", &without).expect("overlay");
    assert_eq!(t.style(Role::Overdue), default_theme().style(Role::Overdue));
}

#[test]
fn theme_toml_syntax_error() {
    // An unclosed inline table: toml notices on the next line.
    let text = "border = \"gray\"\nsev1 = { fg = \"red\" \nsev2 = \"blue\"\n";
    let e = Theme::parse("themes/broken.toml", text).unwrap_err();
    assert_located(&e, "themes/broken.toml", 3, "sev2");

    let text = "border = \"gray\"\n\nsev1 = \"red\n";
    let e = Theme::parse("themes/broken.toml", text).unwrap_err();
    assert_located(&e, "themes/broken.toml", 3, "sev1");
    assert!(e.message.starts_with("TOML syntax"), "{e}");
}

#[test]
fn keymap_unknown_action() {
    let text = "[normal]\nquit = \"q\"\nackk = \"a\"\n";
    let e = Keymap::parse("keymaps/bad.toml", text).unwrap_err();
    assert_located(&e, "keymaps/bad.toml", 3, "normal.ackk");
    assert!(e.message.starts_with("unknown action \"ackk\""), "{e}");
    assert!(e.message.contains("kill_switch"), "lists actions: {e}");
}

#[test]
fn keymap_unknown_mode() {
    let text = "[normal]\nquit = \"q\"\n\n[insert]\nsubmit = \"enter\"\n";
    let e = Keymap::parse("keymaps/bad.toml", text).unwrap_err();
    assert_located(&e, "keymaps/bad.toml", 4, "insert");
    assert!(e.message.starts_with("unknown mode table [insert]"), "{e}");
}

#[test]
fn keymap_bad_key_string() {
    let text = "[normal]\nquit = \"q\"\nup = [\"up\", \"ctrl-kk\"]\n";
    let e = Keymap::parse("keymaps/bad.toml", text).unwrap_err();
    assert_located(&e, "keymaps/bad.toml", 3, "normal.up");
    assert!(e.message.starts_with("bad key \"ctrl-kk\""), "{e}");

    let text = "[global]\nquit = \"ctrl-c\"\n[runbook]\nback = \"escape-key\"\n";
    let e = Keymap::overlay(&default_keymap(), "user.toml", text).unwrap_err();
    assert_located(&e, "user.toml", 4, "runbook.back");
}

#[test]
fn keymap_duplicate_key_in_one_mode() {
    let text = "[normal]\nquit = \"q\"\nack = \"a\"\n# note\nescalate = [\"e\", \"a\"]\n";
    let e = Keymap::parse("keymaps/dup.toml", text).unwrap_err();
    assert_located(&e, "keymaps/dup.toml", 5, "normal.escalate");
    assert!(
        e.message
            .starts_with("key \"a\" is bound to both `ack` and `escalate` in [normal]"),
        "{e}"
    );
    // The same key in different modes, or twice for one action, is fine.
    let ok = "[normal]\nquit = [\"q\", \"q\"]\n[dialog]\ncancel = \"q\"\n";
    Keymap::parse("keymaps/ok.toml", ok).expect("no clash across modes");
}

#[test]
fn keymap_toml_syntax_error() {
    let text = "[normal]\nquit = \"q\"\nquit = \"x\"\n";
    let e = Keymap::parse("keymaps/broken.toml", text).unwrap_err();
    assert_located(&e, "keymaps/broken.toml", 3, "normal.quit");
    assert!(e.message.starts_with("TOML syntax"), "{e}");

    let text = "[normal]\nquit = \"q\"\nup = [\"k\" \"up\"]\n";
    let e = Keymap::parse("keymaps/broken.toml", text).unwrap_err();
    assert_located(&e, "keymaps/broken.toml", 3, "normal.up");
}

#[test]
fn keymap_missing_quit() {
    let text = "[global]\nhelp = \"f1\"\n\n[normal]\nup = \"k\"\n";
    let e = Keymap::parse("keymaps/trap.toml", text).unwrap_err();
    assert_located(&e, "keymaps/trap.toml", 4, "normal.quit");
    assert!(e.message.contains("never lock you in"), "{e}");

    // Quit bound only in another mode does not count.
    let text = "[dialog]\nquit = \"q\"\n";
    let e = Keymap::parse("keymaps/trap.toml", text).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("normal.quit"));

    // A global quit is enough.
    Keymap::parse("keymaps/ok.toml", "[global]\nquit = \"ctrl-q\"\n").expect("global quit");
}

#[test]
fn keymap_action_for_default_and_vim() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use oncall_cockpit::action::Action;
    let ev = |c: char| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    let km = default_keymap();
    assert_eq!(km.action_for(Mode::Normal, &ev('a')), Some(Action::Ack));
    assert_eq!(
        km.action_for(Mode::Normal, &ev('K')),
        Some(Action::KillSwitch)
    );
    assert_eq!(km.action_for(Mode::Dialog, &ev('y')), Some(Action::Confirm));
    assert_eq!(km.action_for(Mode::Text, &ev('q')), None);
    let vim = Keymap::parse("keymaps/vim.toml", Keymap::builtin("vim").expect("vim")).expect("vim");
    assert_eq!(vim.action_for(Mode::Normal, &ev('G')), Some(Action::Bottom));
    assert_eq!(vim.action_for(Mode::Normal, &ev('g')), Some(Action::Top));
    let ctrl_d = KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL);
    assert_eq!(
        vim.action_for(Mode::Normal, &ctrl_d),
        Some(Action::PageDown)
    );
}

#[test]
fn date_time_values_are_named() {
    let e = Theme::parse("themes/odd.toml", "\nsev1 = 1979-05-27\n").unwrap_err();
    assert_located(&e, "themes/odd.toml", 2, "sev1");
    assert_eq!(e.message, "expected a string or a table, found a date-time");
    let e = Keymap::parse("keymaps/odd.toml", "[normal]\nquit = 1979-05-27\n").unwrap_err();
    assert_located(&e, "keymaps/odd.toml", 2, "normal.quit");
}

/// Every `toml` example in the README is a config a reader may paste: it must load as is.
#[test]
fn readme_config_examples_load_without_warnings() {
    use oncall_cockpit::config::settings::load_settings;
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let blocks: Vec<&str> = readme
        .split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    assert!(blocks.len() >= 2, "README has its config examples");
    let dir = std::env::temp_dir().join(format!("cockpit-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut kinds = 0;
    for (i, block) in blocks.iter().enumerate() {
        let path = dir.join(format!("example-{i}.toml"));
        std::fs::write(&path, block).expect("write");
        let settings = load_settings(&path, true).unwrap_or_else(|errors| {
            let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
            panic!("README example {i}:\n{}\n{block}", shown.join("\n"))
        });
        let s = &settings.sources;
        kinds += [
            s.prometheus.len(),
            s.alertmanager.len(),
            s.pagerduty.len(),
            s.pagerduty_events.len(),
            s.flagd.len(),
            s.http_hook.len(),
            s.unleash.len(),
        ]
        .iter()
        .filter(|n| **n > 0)
        .count();
    }
    assert!(kinds >= 7, "the examples show every kind of source");
}
