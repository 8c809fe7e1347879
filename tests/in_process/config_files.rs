//! Every shipped theme and keymap loads, the built-in names match the files, and bad files fail
//! with a message that names the file, the line and the key.

use oncall_cockpit::backend::registry;
use oncall_cockpit::config::error::ConfigError;
use oncall_cockpit::config::keymap::{ActionName, Keymap, Mode};
use oncall_cockpit::config::theme::{Theme, ThemeRole};
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
            !km.keys_for(Mode::Normal, ActionName::Quit).is_empty(),
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
    assert_eq!(
        t.style(ThemeRole::Overdue),
        default_theme().style(ThemeRole::Overdue)
    );
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
    let ev = |c: char| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    let km = default_keymap();
    assert_eq!(km.action_for(Mode::Normal, &ev('a')), Some(ActionName::Ack));
    assert_eq!(
        km.action_for(Mode::Normal, &ev('K')),
        Some(ActionName::KillSwitch)
    );
    assert_eq!(
        km.action_for(Mode::Dialog, &ev('y')),
        Some(ActionName::Confirm)
    );
    assert_eq!(km.action_for(Mode::Text, &ev('q')), None);
    let vim = Keymap::parse("keymaps/vim.toml", Keymap::builtin("vim").expect("vim")).expect("vim");
    assert_eq!(
        vim.action_for(Mode::Normal, &ev('G')),
        Some(ActionName::Bottom)
    );
    assert_eq!(
        vim.action_for(Mode::Normal, &ev('g')),
        Some(ActionName::Top)
    );
    let ctrl_d = KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL);
    assert_eq!(
        vim.action_for(Mode::Normal, &ctrl_d),
        Some(ActionName::PageDown)
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
    let mut kinds = BTreeSet::new();
    for (i, block) in blocks.iter().enumerate() {
        let path = dir.join(format!("example-{i}.toml"));
        std::fs::write(&path, block).expect("write");
        let settings = load_settings(&path, true, &registry::schemas()).unwrap_or_else(|errors| {
            let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
            panic!("README example {i}:\n{}\n{block}", shown.join("\n"))
        });
        kinds.extend(settings.sources.iter().map(|e| e.kind));
    }
    let every: BTreeSet<&str> = registry::KINDS.iter().map(|k| k.schema().table()).collect();
    assert_eq!(kinds, every, "the examples show every kind of source");
}

// ---- config.toml: checked whole, every error located -------------------------------------

use oncall_cockpit::config::settings::settings_from;

/// (line, column, table, key, message) of every error in `text`, in file order.
fn config_errors(text: &str) -> Vec<(usize, usize, String, String, String)> {
    let errors = settings_from("config.toml", text, &registry::schemas()).expect_err("refused");
    errors
        .into_iter()
        .map(|e| {
            (
                e.line.expect("every config error has a line"),
                e.column.expect("and a column"),
                e.table.as_deref().unwrap_or("").to_string(),
                e.key.unwrap_or_default(),
                e.message,
            )
        })
        .collect()
}

/// Asserts the errors' (line, key) and that each message starts as given.
fn assert_errors(text: &str, expected: &[(usize, &str, &str)]) {
    let got = config_errors(text);
    let shown: Vec<String> = got
        .iter()
        .map(|(l, c, t, k, m)| format!("{l}:{c} {t} `{k}`: {m}"))
        .collect();
    assert_eq!(got.len(), expected.len(), "{text}\n{}", shown.join("\n"));
    for ((line, _, _, key, msg), (want_line, want_key, want_msg)) in got.iter().zip(expected) {
        assert_eq!(
            (*line, key.as_str()),
            (*want_line, *want_key),
            "{}",
            shown.join("\n")
        );
        assert!(
            msg.starts_with(want_msg),
            "{msg:?} should start {want_msg:?}"
        );
    }
}

/// One file, one mistake of every kind: all reported at once, in file order, each at its
/// line. The cockpit used to show the first one only, in a flash cut at the screen's width,
/// and start on the simulated fleet.
#[test]
fn every_mistake_is_reported_at_once_with_its_line() {
    let text = r#"theme = 7
[sim]
sped = 3
poll_secs = 0.000001
[[alertmanager]]
url = "http://am:9093"
poll_sec = 10
[[alertmanager]]
url = "http://am2:9093"
timeout_secs = "fast"
[[prometheus]]
name = "prod"
[[pagerduty]]
name = "prod"
token = { env = "PD_TOKEN" }
page_size = 500
[alertmanagr]
"#;
    assert_errors(
        text,
        &[
            (1, "theme", "expected a string, found integer `7`"),
            (3, "sped", "unknown key; did you mean `speed`?"),
            (4, "poll_secs", "expected 1 to 3600"),
            (7, "poll_sec", "unknown key; did you mean `poll_secs`?"),
            (
                8,
                "name",
                "name \"alertmanager\" is already used by [[alertmanager]] #1",
            ),
            (
                10,
                "timeout_secs",
                "expected a number, found string \"fast\"",
            ),
            (11, "url", "missing key `url`"),
            (13, "from", "missing key `from`"),
            (
                14,
                "name",
                "name \"prod\" is already used by [[prometheus]] #1 \"prod\" on line 12",
            ),
            (16, "page_size", "expected 1 to 100"),
            (
                17,
                "alertmanagr",
                "unknown top-level key; did you mean `alertmanager`?",
            ),
        ],
    );
    let got = config_errors(text);
    // The entry and the column say exactly where: the value of `timeout_secs`.
    assert_eq!(got[5].1, 16);
    assert_eq!(got[5].2, "[[alertmanager]] #2 \"alertmanager\"");
    assert!(
        got[4].4.contains("on line 5"),
        "both lines named: {}",
        got[4].4
    );
}

#[test]
fn syntax_errors_have_line_and_column() {
    let got = config_errors("[sim\nseed = 1\n");
    assert_eq!((got[0].0, got[0].1), (1, 5), "{got:?}");
    assert!(got[0].4.starts_with("TOML syntax"), "{got:?}");
    let got = config_errors("[[prometheus]]\nurl = http://x\n");
    assert_eq!(
        (got[0].0, got[0].1, got[0].3.as_str()),
        (2, 7, "prometheus.url")
    );
}

#[test]
fn nested_keys_and_source_tables_are_located() {
    assert_errors(
        "[[alertmanager]]\nurl = \"http://am\"\nauth = { bearr = { env = \"X\" } }\n",
        &[(3, "auth.bearr", "unknown key; did you mean `bearer`?")],
    );
    assert_eqx(
        &config_errors(
            "[[alertmanager]]\nurl = \"http://am\"\nauth = { bearr = { env = \"X\" } }\n",
        )[0],
        3,
        10,
    );
    assert_errors(
        "[alertmanager]\nurl = \"http://am\"\n",
        &[(
            1,
            "alertmanager",
            "expected [[alertmanager]] (a list of tables",
        )],
    );
    assert_errors(
        "[source_defaults.alertmanagr]\npoll_secs = 5.0\n[source_defaults.pagerduty]\npage_sise = 10\n",
        &[
            (1, "alertmanagr", "unknown kind of source; did you mean `alertmanager`?"),
            (4, "page_sise", "unknown key; did you mean `page_size`?"),
        ],
    );
    // A limit broken in [source_defaults] is reported where it is written.
    assert_errors(
        "[source_defaults.alertmanager]\npoll_secs = 0.5\n[[alertmanager]]\nurl = \"http://am\"\n",
        &[(2, "poll_secs", "expected 1 to 3600")],
    );
}

fn assert_eqx(e: &(usize, usize, String, String, String), line: usize, column: usize) {
    assert_eq!((e.0, e.1), (line, column), "{e:?}");
}

/// Every limit, below and above its range, in the kind that has it: refused, never clamped.
#[test]
fn limits_are_refused_not_clamped() {
    let cases = [
        (
            "alertmanager",
            "url = \"http://am\"",
            "poll_secs",
            ["0.999", "3601.0"],
        ),
        (
            "alertmanager",
            "url = \"http://am\"",
            "timeout_secs",
            ["0.1", "601.0"],
        ),
        (
            "alertmanager",
            "url = \"http://am\"",
            "max_reply_mib",
            ["0", "1025"],
        ),
        (
            "alertmanager",
            "url = \"http://am\"",
            "max_incidents",
            ["0", "100001"],
        ),
        (
            "alertmanager",
            "url = \"http://am\"",
            "answer_time_factor",
            ["0.5", "101.0"],
        ),
        (
            "pagerduty",
            "token = { env = \"T\" }\nfrom = \"a@b.c\"",
            "max_pages",
            ["0", "101"],
        ),
        (
            "pagerduty",
            "token = { env = \"T\" }\nfrom = \"a@b.c\"",
            "max_log_entries",
            ["0", "10001"],
        ),
        (
            "prometheus",
            "url = \"http://p\"",
            "poll_secs",
            ["nan", "inf"],
        ),
        (
            "flagd",
            "path = \"/tmp/f.json\"",
            "poll_secs",
            ["0.000001", "1e300"],
        ),
        (
            "unleash",
            "url = \"http://u\"\ntoken = { env = \"T\" }",
            "timeout_secs",
            ["-1.0", "0.0"],
        ),
    ];
    for (kind, required, key, values) in cases {
        for v in values {
            let text = format!("[[{kind}]]\n{required}\n{key} = {v}\n");
            let line = text.lines().count();
            assert_errors(&text, &[(line, key, "expected ")]);
            assert!(config_errors(&text)[0].4.contains(", found "), "{text}");
        }
    }
    assert_errors(
        "[sim]\npoll_secs = 0.2\n",
        &[(2, "poll_secs", "expected 1 to 3600")],
    );
}

/// What each adapter refuses in its own config is reported at the key, without reading any
/// secret (the machine that checks may not hold them).
#[test]
fn adapter_checks_are_located_at_their_key() {
    assert_errors(
        "[[alertmanager]]\nurl = \"ftp://am\"\n",
        &[(2, "url", "url \"ftp://am\" is ftp://, not http(s)://")],
    );
    assert_errors(
        "[[alertmanager]]\nurl = \"http://am\"\nfilter = ['team=', 'severity=~\"sev1\"', 'x']\n",
        &[
            (3, "filter", "filter \"team=\": expected a value"),
            (3, "filter", "filter \"x\": expected =, !=, =~ or !~"),
        ],
    );
    assert_errors(
        "[[alertmanager]]\nurl = \"http://am\"\nsilence_secs = 60\nrenew_before_secs = 60\n",
        &[(
            4,
            "renew_before_secs",
            "renew_before_secs must be less than silence_secs",
        )],
    );
    assert_errors(
        "[[pagerduty]]\ntoken = { env = \"T\", file = \"/t\" }\nfrom = \"a@b.c\"\n",
        &[(
            2,
            "token",
            "token: a secret takes `env` or `file`, not both",
        )],
    );
    assert_errors(
        "[[pagerduty]]\ntoken = { env = \"T\" }\nfrom = \"ana\"\nteam_ids = [\"PT1\"]\n",
        &[(3, "from", "`from` must be the email of a PagerDuty user")],
    );
    assert_errors(
        "[[pagerduty]]\ntoken = { env = \"T\" }\nfrom = \"a@b.c\"\nteam_ids = [\"PT 1\"]\n",
        &[(4, "team_ids", "team_ids: \"PT 1\" is not a PagerDuty id")],
    );
    assert_errors(
        "[[unleash]]\nurl = \"http://u\"\ntoken = { env = \"T\" }\nprompt_flag = \"{feature}.x\"\nkill_flag = \"{feature}.x\"\n",
        &[(4, "prompt_flag", "prompt_flag and kill_flag must differ")],
    );
    assert_errors(
        "[[flagd]]\npath = \"/tmp/f.json\"\nmodel_flag = \"model\"\nbudget_flag = \"{feature}.prompt\"\n",
        &[
            (3, "model_flag", "model_flag: flag key pattern \"model\" must contain"),
            (4, "budget_flag", "budget_flag \"{feature}.prompt\" is also prompt_flag"),
        ],
    );
    assert_errors(
        "[[http_hook]]\n[http_hook.levers.model]\nurl = \"http://h/{feature}\"\n[http_hook.variants.budget]\nf = [{ name = \"5k\", value = 5000 }]\n",
        &[
            (2, "levers", "levers.model: no variants declared"),
            (4, "variants", "variants.budget: declared, but there is no levers.budget request"),
        ],
    );
}

/// The HTTP hook and flagd examples of docs/levers.md are configs the cockpit loads.
#[test]
fn lever_doc_config_examples_load() {
    use oncall_cockpit::config::settings::load_settings;
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/levers.md"))
        .expect("docs/levers.md");
    let mine: String = doc
        .split("\n## ")
        .filter(|s| s.starts_with("flagd") || s.starts_with("HTTP hook"))
        .collect();
    let blocks: Vec<&str> = mine
        .split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    assert!(!blocks.is_empty(), "the HTTP hook section has its example");
    let dir = std::env::temp_dir().join(format!("cockpit-levers-doc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (i, block) in blocks.iter().enumerate() {
        let path = dir.join(format!("levers-{i}.toml"));
        std::fs::write(&path, block).expect("write");
        if let Err(errors) = load_settings(&path, true, &registry::schemas()) {
            let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
            panic!("docs/levers.md example {i}:\n{}\n{block}", shown.join("\n"));
        }
    }
}

/// Two sources with one name used to lose one silently: two [[alertmanager]] left at the
/// default name showed only the second's alerts, and a Prometheus and an Alertmanager both
/// named `prod` lost the detections. Names are unique across every kind.
#[test]
fn duplicate_names_are_refused_naming_both_lines() {
    assert_errors(
        "[[alertmanager]]\nurl = \"http://a\"\n\n[[alertmanager]]\nurl = \"http://b\"\n",
        &[(4, "name", "name \"alertmanager\" is already used by [[alertmanager]] #1 \"alertmanager\" on line 1")],
    );
    assert_errors(
        "[[alertmanager]]\nname = \"prod\"\nurl = \"http://a\"\n[[prometheus]]\nname = \"prod\"\nurl = \"http://p\"\n",
        &[(5, "name", "name \"prod\" is already used by [[alertmanager]] #1 \"prod\" on line 2")],
    );
    // Distinct names pass.
    assert!(settings_from(
        "config.toml",
        "[[alertmanager]]\nname = \"a\"\nurl = \"http://a\"\n[[alertmanager]]\nname = \"b\"\nurl = \"http://b\"\n",
        &registry::schemas()
    )
    .is_ok());
}

// ---- the binary: refuses to start, and check-config ---------------------------------------

fn cockpit(args: &[&str], home: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_oncall-cockpit"))
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env_remove("ONCALL_COCKPIT_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run oncall-cockpit")
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("oc-check-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

const BROKEN: &str = r#"[[alertmanager]]
url = "http://am.internal:9093"
poll_sec = 10

[[alertmanager]]
url = "http://am2.internal:9093"
"#;

/// A config that names real sources never falls back to the simulated fleet: every error on
/// stderr, exit status 1, and the terminal is never taken over (nothing on stdout).
#[test]
fn the_cockpit_refuses_to_start_on_a_broken_config() {
    let dir = scratch("refuse");
    let path = dir.join("config.toml");
    std::fs::write(&path, BROKEN).expect("write");
    let out = cockpit(&["--config", &path.to_string_lossy()], &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "the TUI started: {:?}", out.stdout);
    let file = path.display().to_string();
    for want in [
        format!("{file} line 3, column 1, [[alertmanager]] #1 \"alertmanager\", key `poll_sec`: unknown key; did you mean `poll_secs`?"),
        format!("{file} line 5, column 1, [[alertmanager]] #2 \"alertmanager\", key `name`: name \"alertmanager\" is already used by [[alertmanager]] #1 \"alertmanager\" on line 1"),
        format!("oncall-cockpit: not started: 2 errors in {file}"),
    ] {
        assert!(stderr.contains(&want), "missing {want:?} in:\n{stderr}");
    }
    // An explicit --config that does not exist is an error, not the simulated fleet.
    let missing = dir.join("nope.toml");
    let out = cockpit(&["--config", &missing.to_string_lossy()], &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no such file"), "{stderr}");
    assert!(out.stdout.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_config_passes_every_readme_example_and_fails_a_broken_one() {
    let dir = scratch("readme");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let blocks: Vec<&str> = readme
        .split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    assert!(blocks.len() >= 2, "README has its config examples");
    for (i, block) in blocks.iter().enumerate() {
        let path = dir.join(format!("example-{i}.toml"));
        std::fs::write(&path, block).expect("write");
        let out = cockpit(&["check-config", "--config", &path.to_string_lossy()], &dir);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(": OK: "),
            "README example {i}:\n{block}\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let broken = dir.join("broken.toml");
    std::fs::write(&broken, BROKEN).expect("write");
    // The flag works before and after the subcommand.
    for args in [
        ["check-config", "--config", &broken.to_string_lossy()],
        ["--config", &broken.to_string_lossy(), "check-config"],
    ] {
        let out = cockpit(&args, &dir);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("key `poll_sec`"), "{stderr}");
        assert!(stderr.contains("key `name`"), "{stderr}");
        assert!(
            stderr.contains(&format!("{}: 2 errors", broken.display())),
            "{stderr}"
        );
        assert!(out.stdout.is_empty());
    }
    // Nothing to check at the default place: said, and not a pass.
    let out = cockpit(&["check-config"], &dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no config file"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A rota entry is checked like every config: a wrong field at its line, and a shift for a
/// source the file does not name (a typo that would leave nobody on call on screen).
#[test]
fn rota_mistakes_are_located() {
    let text = r#"[[alertmanager]]
name = "am"
url = "http://am:9093"
[[alerts.rota]]
level = 1
name = "Jane Doe (ML)"
sources = ["amm"]
[[alerts.rota]]
level = 0
name = "Bo"
"#;
    let got = config_errors(text);
    let shown: Vec<String> = got
        .iter()
        .map(|(l, c, t, k, m)| format!("{l}:{c} {t} `{k}`: {m}"))
        .collect();
    assert!(
        shown.iter().any(|e| e.starts_with("7:")
            && e.contains("no source is named \"amm\"; the sources are: am")),
        "{shown:#?}"
    );
    assert!(
        shown.iter().any(|e| e.contains("`level` must be 1 to 20")),
        "{shown:#?}"
    );
    let good = "[[alerts.rota]]\nlevel = 1\nname = \"Jane\"\nsources = [\"sim\"]\nfrom = \"2026-12-01T09:00:00+01:00\"\n";
    let settings = settings_from("config.toml", good, &registry::schemas()).expect("valid rota");
    assert_eq!(settings.alerts.rota.len(), 1);
}

/// The owners `A` asks in and the status-update cadence are checked with the rest, before
/// anything starts: a layer that does not exist, an owner with two ids or a bad one, a SEV
/// that does not exist, each at its line.
#[test]
fn layer_owners_and_the_update_cadence_are_checked_up_front() {
    let got = config_errors(
        "[alerts]\nstatus_update_mins = { sev0 = 5 }\n\n[alerts.layers.retrieval]\nname = \"Dana\"\n",
    );
    let shown: Vec<String> = got
        .iter()
        .map(|(l, c, t, k, m)| format!("{l}:{c} {t} `{k}`: {m}"))
        .collect();
    assert_eq!(got.len(), 2, "{}", shown.join("\n"));
    assert_eq!(
        shown,
        [
            "2:24 [alerts] `status_update_mins.sev0`: unknown key; did you mean `sev1`? \
             (expected one of: sev1, sev2, sev3, sev4)",
            "4:16 [alerts] `layers.retrieval`: unknown key (expected one of: model, prompt, \
             data, infrastructure)",
        ]
    );
    for (owner, says) in [
        ("pagerduty_user = \"P-1\"", "not a PagerDuty id"),
        (
            "pagerduty_user = \"P1\"\npagerduty_escalation_policy = \"P2\"",
            "not both",
        ),
    ] {
        let got = config_errors(&format!(
            "[alerts.layers.model]\nname = \"Jane\"\n{owner}\n"
        ));
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].4.contains(says), "{owner}: {got:?}");
        assert_eq!(got[0].2, "[alerts]", "{got:?}");
    }
}

/// `[respond]` is checked with the rest of the file, before anything starts: every mistake in
/// it, at its line, beside a mistake elsewhere.
#[test]
fn respond_policy_mistakes_are_reported_whole_and_located() {
    let text = r#"[respond]
utc_offset_minutes = 60
business_days = ["mon", "tue", "funday"]
business_hours = "09:00-17:00"
in_hours_minutes = { sev1 = 15, sev2 = 30, sev3 = 240, sev4 = 1440 }
outside_minutes = { sev1 = 15, sev2 = 120, sev3 = 720, sev4 = 2880 }
[grouping]
window_secs = -1
"#;
    let got = config_errors(text);
    let shown: Vec<String> = got
        .iter()
        .map(|(l, _, t, k, m)| format!("{l} {t} `{k}`: {m}"))
        .collect();
    assert!(
        shown
            .iter()
            .any(|e| e.contains("[respond]") && e.contains("\"funday\" is not a weekday")),
        "{shown:#?}"
    );
    assert!(
        shown.iter().any(|e| e.contains("window_secs")),
        "the other table's mistake too: {shown:#?}"
    );
    let bad_hours = "[respond]\nbusiness_hours = \"17:00-09:00\"\n";
    let got = config_errors(bad_hours);
    assert!(
        got.iter()
            .any(|(l, _, _, _, m)| *l == 2 && m.contains("the opening before the closing")),
        "{got:#?}"
    );
    let good = "[respond]\nutc_offset_minutes = 60\nin_hours_minutes = { sev1 = 15, sev2 = 30, sev3 = 240, sev4 = 1440 }\noutside_minutes = { sev1 = 15, sev2 = 120, sev3 = 720, sev4 = 2880 }\n";
    // Keys left out keep the built-in values (Monday to Friday, 09:00-17:00).
    let settings = settings_from("config.toml", good, &registry::schemas()).expect("valid");
    let tuesday = |h| {
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 1, h, 0, 0)
            .single()
            .expect("time")
    };
    let sev2 = oncall_cockpit::domain::Sev::Sev2;
    assert_eq!(
        settings.respond.budget(sev2, tuesday(9)),
        chrono::Duration::minutes(30),
        "10:00 at UTC+1"
    );
    assert_eq!(
        settings.respond.budget(sev2, tuesday(21)),
        chrono::Duration::minutes(120),
        "22:00 at UTC+1"
    );
}
