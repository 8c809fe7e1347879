//! Rendering tests on ratatui's TestBackend with a fixed clock: snapshots of the main screen
//! at 80x24 and 160x48, overlays, hostile text, and the no-colour theme.

use cockpit_testkit::common;
use cockpit_testkit::screen::{keymap, render as render_with, screen, text, theme};
use common::drill_state;
use oncall_cockpit::action::Action;
use oncall_cockpit::app::Screen;
use oncall_cockpit::config::theme::{Theme, ThemeRole};
use oncall_cockpit::domain::event::BackendEvent;
use oncall_cockpit::domain::{Incident, IncidentType, Sev};
use oncall_cockpit::state::{update, State};
use oncall_cockpit::ui::Ctx;
use ratatui::backend::CrosstermBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::{Terminal, TerminalOptions, Viewport};
use std::io::Write;
use std::sync::{Arc, Mutex};

#[test]
fn main_screen_80x24() {
    insta::assert_snapshot!(screen(&drill_state(15), 80, 24));
}

#[test]
fn main_screen_160x48() {
    insta::assert_snapshot!(screen(&drill_state(15), 160, 48));
}

#[test]
fn detail_pane_80x24() {
    let mut s = drill_state(15);
    update(&mut s, Action::ToggleDetail);
    insta::assert_snapshot!(screen(&s, 80, 24));
}

#[test]
fn help_overlay_80x24_lists_every_normal_binding() {
    let mut s = drill_state(15);
    update(&mut s, Action::Help);
    let out = screen(&s, 80, 24);
    // What does not fit at 80x24 is one page down (the app tells the state the help's shape
    // and how far it scrolls, as here).
    s.help_shape = oncall_cockpit::ui::help_shape(&keymap());
    update(&mut s, Action::Resize(80, 24));
    let limit = oncall_cockpit::ui::scroll_limit(&s);
    update(&mut s, Action::ScrollLimit(limit));
    update(&mut s, Action::PageDown);
    let rest = screen(&s, 80, 24);
    for needle in [
        "acknowledge",
        "kill switch",
        "prompt rollback",
        "runbook walkthrough",
        "page on-call",
        "samples: model outputs",
        "filter",
        "quit",
    ] {
        assert!(
            out.contains(needle) || rest.contains(needle),
            "help lacks {needle}:\n{out}\n{rest}"
        );
    }
    insta::assert_snapshot!(out);
}

#[test]
fn kill_switch_confirmation_80x24() {
    let mut s = drill_state(15);
    update(&mut s, Action::Top);
    update(&mut s, Action::KillSwitch);
    update(&mut s, Action::Down);
    update(&mut s, Action::Select);
    insta::assert_snapshot!(screen(&s, 80, 24));
}

#[test]
fn runbook_walkthrough_80x24() {
    let mut s = drill_state(15);
    assert!(common::select_where(&mut s, |i| {
        i.kind == IncidentType::CapabilityDrift
    }));
    update(&mut s, Action::Runbook);
    update(&mut s, Action::ConfirmAnswer);
    insta::assert_snapshot!(screen(&s, 80, 24));
}

#[test]
fn too_small_terminal_says_so() {
    let out = screen(&drill_state(15), 40, 10);
    assert!(out.contains("terminal too small"), "{out}");
    assert!(out.contains("40x10"), "{out}");
}

/// A backend hands us JSON; whatever escape sequences it holds must arrive as inert text.
fn hostile_incident(template: &Incident) -> Incident {
    let mut json = serde_json::to_value(template).expect("serialise");
    json["id"] = "pd:HOSTILE".into();
    json["title"] = "\u{1b}]52;c;cm0gLXJmIH4=\u{7}Refund bot \u{1b}[31mleaks\u{1b}[0m \u{1b}]0;pwned\u{1b}\\\u{202e}policy\u{1b}[2J\u{1b}[H".into();
    json["feature"] = "evil\u{1b}[5;5Hbot".into();
    json["timeline"][0]["text"] = "note \u{9b}31m\u{8}\u{7}here".into();
    serde_json::from_value(json).expect("deserialise")
}

#[test]
fn escape_sequences_in_incident_text_render_as_plain_text() {
    let mut s = drill_state(15);
    let mut incidents = s.incidents.all.clone();
    let hostile = hostile_incident(&incidents[0]);
    assert_eq!(hostile.title.as_str(), "Refund bot leaks policy");
    assert_eq!(hostile.feature.as_str(), "evilbot");
    incidents.push(hostile);
    let at = s.now;
    update(
        &mut s,
        Action::Backend(BackendEvent::Incidents {
            source: "sim".into(),
            at,
            incidents,
        }),
    );
    assert!(common::select_where(&mut s, |i| i.id == "pd:HOSTILE"));
    update(&mut s, Action::ToggleDetail);
    let buf = render_with(&s, 160, 48, &theme("default"));
    for cell in buf.content() {
        assert!(
            !cell
                .symbol()
                .chars()
                .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
            "control character reached the screen: {:?}",
            cell.symbol()
        );
    }
    let out = text(&buf);
    assert!(out.contains("Refund bot leaks policy"), "{out}");
    assert!(out.contains("note here"), "{out}");
    assert!(!out.contains("52;c;"), "{out}");
    assert!(!out.contains("pwned"), "{out}");
}

#[test]
fn no_color_theme_paints_no_colour_at_all() {
    let mut s = drill_state(15);
    update(&mut s, Action::ToggleDetail);
    let buf = render_with(&s, 160, 48, &theme("no-color"));
    for cell in buf.content() {
        assert_eq!(cell.fg, Color::Reset, "{:?}", cell.symbol());
        assert_eq!(cell.bg, Color::Reset, "{:?}", cell.symbol());
    }
    // Without colour, SEV1 still stands out: its badge is reversed, and SEV3's is not.
    let badge = |n: char| {
        let row: Vec<&str> = (0..160).map(|x| buf[(x, 0)].symbol()).collect();
        let x = (0..156)
            .find(|&x| row[x..x + 4] == ["S", "E", "V", &n.to_string()[..]])
            .unwrap_or_else(|| panic!("no SEV{n} badge in the header: {}", row.concat()));
        buf[(x as u16, 0)].modifier
    };
    assert!(badge('1').contains(Modifier::REVERSED), "{:?}", badge('1'));
    assert!(!badge('3').contains(Modifier::REVERSED), "{:?}", badge('3'));
}

/// In every built-in theme the selected row is told apart from the rows around it, and a
/// breaching sparkline from one within its threshold.
#[test]
fn every_builtin_theme_marks_the_selection_and_breaches() {
    let s = drill_state(15);
    for name in Theme::builtin_names() {
        let t = theme(name);
        let buf = render_with(&s, 100, 30, &t);
        let look = |x: u16, y: u16| {
            let c = &buf[(x, y)];
            (c.fg, c.bg, c.modifier)
        };
        // Row 3 is the selected incident, row 4 the next one; column 20 is inside both.
        assert_ne!(
            look(20, 3),
            look(20, 4),
            "{name}: the selection does not show"
        );
        // Sparkline points come in two looks, the breach style among them.
        let breach = t.style(ThemeRole::SparklineBreach);
        let looks: std::collections::HashSet<_> = buf
            .content()
            .iter()
            .filter(|c| "▁▂▃▄▅▆▇█".contains(c.symbol()))
            .map(|c| (c.fg, c.modifier))
            .collect();
        assert!(
            looks.len() >= 2
                && looks.iter().any(|(fg, m)| {
                    breach.fg.is_none_or(|b| *fg == b) && m.contains(breach.add_modifier)
                }),
            "{name}: breaches look like the rest: {looks:?}"
        );
    }
}

/// SEV badges (header and list) are drawn in the style their theme file gives `sev1`…`sev4`:
/// in every built-in theme, and in a user file that restyles one SEV.
#[test]
fn sev_badges_take_their_look_from_the_theme_file() {
    let s = drill_state(15);
    let mut themes: Vec<(String, Theme)> = Theme::builtin_names()
        .iter()
        .map(|n| (n.to_string(), theme(n)))
        .collect();
    let user = Theme::overlay(
        &theme("default"),
        "user.toml",
        "sev2 = { fg = \"#123456\", bg = \"#654321\", italic = true }\n",
    )
    .expect("valid overlay");
    themes.push(("user sev2".into(), user));
    for (name, t) in &themes {
        let (w, h) = (100u16, 30u16);
        let buf = render_with(&s, w, h, t);
        let mut seen = [0usize; 4];
        for y in 0..h {
            // The selected row's cells give way to the selection's colours.
            if y == 3 {
                continue;
            }
            let row: Vec<&str> = (0..w).map(|x| buf[(x, y)].symbol()).collect();
            for x in 0..w.saturating_sub(4) {
                let at = usize::from(x);
                let Some(n) = (row[at..at + 3] == ["S", "E", "V"])
                    .then(|| row[at + 3].parse::<usize>().ok())
                    .flatten()
                    .filter(|n| (1..=4).contains(n))
                else {
                    continue;
                };
                let want = t.style(ThemeRole::sev(Sev::from_number(n as u8).expect("1..=4")));
                let cell = &buf[(x, y)];
                if let Some(fg) = want.fg {
                    assert_eq!(cell.fg, fg, "{name}: SEV{n} at {x},{y}");
                }
                if let Some(bg) = want.bg {
                    assert_eq!(cell.bg, bg, "{name}: SEV{n} at {x},{y}");
                }
                assert!(
                    cell.modifier.contains(want.add_modifier),
                    "{name}: SEV{n} at {x},{y}: {:?} lacks {:?}",
                    cell.modifier,
                    want.add_modifier
                );
                seen[n - 1] += 1;
            }
        }
        assert!(seen[0] > 0 && seen[1] > 0, "{name}: badges seen {seen:?}");
    }
}

#[test]
fn without_a_metrics_source_the_signal_pane_says_how_to_add_one() {
    use oncall_cockpit::state::{SourceRole, SourceStatus};
    let mut s = State::new(common::origin(), "ana", "am");
    s.sources.list = vec![SourceStatus::new("am", SourceRole::Incidents, Some(10.0))];
    let out = screen(&s, 100, 30);
    assert!(
        out.contains("No metrics source: add a [[prometheus]]"),
        "{out}"
    );
    s.sources
        .list
        .push(SourceStatus::new("prom", SourceRole::Metrics, Some(10.0)));
    assert!(screen(&s, 100, 30).contains("waiting for the first metrics"));
}

/// What a terminal would receive: the bytes of the escape sequences ratatui writes.
#[derive(Clone, Default)]
struct Wire(Arc<Mutex<Vec<u8>>>);

impl Wire {
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Over SSH and in tmux, a cockpit that rewrites an unchanged screen costs bandwidth and makes
/// its window look busy forever. Only a visible change may reach the terminal, and then only
/// the cells that changed.
#[test]
fn the_terminal_is_written_only_when_the_screen_changes() {
    let mut s = drill_state(15);
    let wire = Wire::default();
    let options = TerminalOptions {
        viewport: Viewport::Fixed(Rect::new(0, 0, 100, 30)),
    };
    let mut term =
        Terminal::with_options(CrosstermBackend::new(wire.clone()), options).expect("terminal");
    let (theme, keymap) = (theme("default"), keymap());
    let mut screen = Screen::default();
    let mut present = |s: &State| {
        screen
            .present(&mut term, &Ctx::new(s, &theme, &keymap))
            .expect("present")
    };

    assert!(present(&s), "the first frame is drawn");
    let full = wire.len();
    assert!(!present(&s), "an unchanged frame was drawn");
    assert_eq!(wire.len(), full, "an unchanged frame wrote bytes");

    // Drill polls are 10 s apart, so half a second on every countdown drops a second.
    let t0 = s.now;
    update(
        &mut s,
        Action::Tick(t0 + chrono::Duration::milliseconds(500)),
    );
    assert!(present(&s), "a countdown changed but nothing was drawn");
    let tick = wire.len() - full;
    assert!(
        tick > 0 && tick < full / 4,
        "a countdown tick wrote {tick} bytes; the full frame was {full}"
    );

    let before = wire.len();
    update(
        &mut s,
        Action::Tick(t0 + chrono::Duration::milliseconds(900)),
    );
    assert!(!present(&s), "a tick that changes no text was drawn");
    assert_eq!(
        wire.len(),
        before,
        "a tick that changes no text wrote bytes"
    );

    update(&mut s, Action::Down);
    assert!(present(&s), "moving the selection was not drawn");
}

/// A source past its cap on incidents (or its pages per poll) never looks like the whole
/// list: the incident list's title says how many are not shown, and clears when none are.
#[test]
fn incidents_not_shown_are_counted_in_the_list_title() {
    use oncall_cockpit::domain::event::NotShown;
    let mut s = drill_state(15);
    let title_row = |s: &State| {
        screen(s, 80, 24)
            .lines()
            .find(|l| l.contains("Incidents"))
            .unwrap_or_default()
            .to_string()
    };
    assert!(!title_row(&s).contains("not shown"), "{}", title_row(&s));
    let report = |count, more| {
        Action::Backend(BackendEvent::NotShown {
            source: common::SOURCE.into(),
            not_shown: NotShown { count, more },
        })
    };
    update(&mut s, report(4995, false));
    assert!(
        title_row(&s).contains("· +4995 not shown"),
        "{}",
        title_row(&s)
    );
    update(&mut s, report(100, true));
    assert!(
        title_row(&s).contains("· +100 and more not shown"),
        "{}",
        title_row(&s)
    );
    update(&mut s, report(0, false));
    assert!(!title_row(&s).contains("not shown"), "{}", title_row(&s));
}

/// Feeds the bytes a frame sends to the terminal into a vt100 parser (which, like tmux, gives
/// each code point its own width) and checks that every cell it draws holds what the frame
/// holds. A grapheme the layout counts at another width than the terminal draws it leaves
/// stale cells and shifts everything after it on the row.
fn assert_terminal_matches_frame(parser: &vt100::Parser, frame: &Buffer, what: &str) {
    let screen = parser.screen();
    let mut skip = 0;
    for y in 0..frame.area.height {
        for x in 0..frame.area.width {
            let want = frame[(x, y)].symbol();
            let cell = screen.cell(y, x).expect("cell in range");
            if skip > 0 {
                skip -= 1;
                assert!(
                    cell.is_wide_continuation() || cell.contents().is_empty(),
                    "{what}: ({x},{y}) should be covered by the wide character before it, \
                     terminal has {:?}",
                    cell.contents()
                );
                continue;
            }
            let got = cell.contents();
            let got = if got.is_empty() { " ".to_string() } else { got };
            assert_eq!(
                got, want,
                "{what}: cell ({x},{y}) — terminal draws {got:?}, frame holds {want:?}"
            );
            skip = oncall_cockpit::domain::text::width(want).saturating_sub(1);
        }
    }
}

/// Emoji presentation sequences (VS16), skin tones, joiners, CJK, tag characters and Hangul
/// fillers in titles — and in an incident id, which is shown verbatim and only passes the
/// frame's last scrub — reach a terminal exactly as the frame holds them, frame after frame.
#[test]
fn the_terminal_draws_what_the_frame_holds_for_emoji_and_cjk() {
    for (w, h) in [(80, 24), (160, 48)] {
        check_terminal_against_frames(w, h);
    }
}

fn check_terminal_against_frames(w: u16, h: u16) {
    let mut s = drill_state(15);
    let mut incidents = s.incidents.all.clone();
    let titles = [
        "\u{26a0}\u{fe0f} disk full \u{2764}\u{fe0f} on the \u{1f525} path",
        "日本語のタイトルは二列ずつ数えます、とても長い題名です",
        "ok\u{e0041}\u{e0042}\u{e007f}\u{115f}end \u{1f44d}\u{1f3fd} \u{1f468}\u{200d}\u{1f469}",
        "keycap 1\u{fe0f}\u{20e3} flag \u{1f1fa}\u{1f1f8} e\u{301}t\u{e9}",
    ];
    for (inc, title) in incidents.iter_mut().zip(titles) {
        let mut json = serde_json::to_value(&*inc).expect("serialise");
        json["title"] = title.into();
        *inc = serde_json::from_value(json).expect("deserialise");
    }
    incidents[0].id = "pd:\u{26a0}\u{fe0f}\u{e0041}日本".into();
    let at = s.now;
    update(
        &mut s,
        Action::Backend(BackendEvent::Incidents {
            source: "sim".into(),
            at,
            incidents,
        }),
    );
    update(&mut s, Action::Top);
    {
        let wire = Wire::default();
        let options = TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, w, h)),
        };
        let mut term =
            Terminal::with_options(CrosstermBackend::new(wire.clone()), options).expect("term");
        let (theme, keymap) = (theme("default"), keymap());
        let mut screen = Screen::default();
        let mut parser = vt100::Parser::new(h, w, 0);
        let mut fed = 0;
        let state = &mut s;
        // The first frame, then diffs: the selection moving, the detail pane, the full view.
        for (n, step) in [
            None,
            Some(Action::Down),
            Some(Action::Down),
            Some(Action::ToggleDetail),
            Some(Action::Top),
            Some(Action::Describe),
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(a) = step {
                update(state, a);
            }
            screen
                .present(&mut term, &Ctx::new(state, &theme, &keymap))
                .expect("present");
            let bytes = wire.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
            parser.process(&bytes[fed..]);
            fed = bytes.len();
            let frame = render_with(state, w, h, &theme);
            assert_terminal_matches_frame(&parser, &frame, &format!("{w}x{h} frame {n}"));
            let text = parser.screen().contents();
            assert!(
                !text.contains(['\u{fe0f}', '\u{e0041}', '\u{115f}']),
                "{text}"
            );
            if n == 0 {
                assert!(text.contains("\u{26a0} disk full \u{2764}"), "{text}");
                assert!(text.contains("日本語のタイ"), "{text}");
            }
        }
    }
}

/// With many sources the footer line cannot hold them all: failures come first, the rest is
/// counted in `+N more · s sources`, and the sources view shows every one with its whole error
/// (the fix for a refused token file, "chmod 600", included). Rows from a failing source say
/// their data may be stale.
#[test]
fn every_source_is_reachable_and_a_failing_ones_rows_are_marked() {
    use oncall_cockpit::state::{SourceRole, SourceStatus};
    let mut s = drill_state(15);
    let now = s.now;
    let failing = |name: &str, role, err: &str| {
        let mut h = SourceStatus::new(name, role, Some(10.0));
        h.last_error = Some((now, err.to_string()));
        h
    };
    s.sources.list.extend([
        failing(
            "pagerduty-eu",
            SourceRole::Incidents,
            "token file /home/ana/.config/oncall-cockpit/pd-token is readable by group or others; \
             refusing it (run: chmod 600 /home/ana/.config/oncall-cockpit/pd-token)",
        ),
        failing(
            "prometheus-us",
            SourceRole::Metrics,
            "HTTP 503: overloaded, try later",
        ),
        SourceStatus::new("alertmanager", SourceRole::Incidents, Some(10.0)),
        SourceStatus::new("flagd", SourceRole::Flags, None),
        SourceStatus::new("unleash", SourceRole::Flags, None),
    ]);
    let out = screen(&s, 80, 24);
    let footer = out.lines().last().unwrap_or_default().to_string();
    assert!(footer.starts_with("✗ pagerduty-eu: token file"), "{footer}");
    assert!(footer.contains("more · s sources"), "{footer}");
    assert!(!out.contains("◌ STALE"), "the sim source is fine: {out}");

    update(&mut s, Action::Sources);
    let view = screen(&s, 80, 24);
    for name in [
        "pagerduty-eu",
        "prometheus-us",
        "alertmanager",
        "flagd",
        "unleash",
        "sim",
    ] {
        assert!(view.contains(name), "{name} missing:\n{view}");
    }
    assert!(
        view.contains("chmod 600"),
        "the fix is shown whole:\n{view}"
    );
    update(&mut s, Action::Back);

    // The drill's own source fails: its incidents' rows say their data may be stale.
    let at = s.now;
    update(
        &mut s,
        Action::Backend(BackendEvent::Failed {
            source: "sim".into(),
            at,
            error: "connection refused".into(),
        }),
    );
    let out = screen(&s, 100, 30);
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("│SEV") && !l.contains("TYPE"))
        .collect();
    assert!(!rows.is_empty(), "{out}");
    assert!(rows.iter().all(|r| r.contains("◌ STALE")), "{out}");
    update(&mut s, Action::ToggleDetail);
    assert!(
        screen(&s, 100, 30).contains("sim FAILING: connection refused"),
        "the detail says why"
    );
}

/// A recovered incident sits below the firing ones, quiet, and says what is left to do; its
/// overdue countdown is no longer drawn as an emergency.
#[test]
fn recovered_incidents_are_demoted_and_suggest_resolve() {
    let mut s = drill_state(15);
    let mut incidents = s.incidents.all.clone();
    let top = s.incidents.shown[0];
    incidents[top].firing = false;
    incidents[top].respond_by = s.now - chrono::Duration::minutes(5);
    let at = s.now;
    update(
        &mut s,
        Action::Backend(BackendEvent::Incidents {
            source: "sim".into(),
            at,
            incidents,
        }),
    );
    let buf = render_with(&s, 100, 30, &theme("default"));
    let out = text(&buf);
    let rows: Vec<(u16, &str)> = out
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("│SEV") && !l.contains("TYPE"))
        .map(|(y, l)| (y as u16, l))
        .collect();
    let (y, last) = rows.last().copied().expect("rows");
    assert!(last.contains("recovered — R to resolve"), "{out}");
    let overdue = theme("default").style(oncall_cockpit::config::theme::ThemeRole::Overdue);
    let loud = (0..buf.area.width).any(|x| buf[(x, y)].fg == overdue.fg.unwrap_or_default());
    assert!(
        !loud,
        "a recovered incident's countdown is not drawn overdue:\n{last}"
    );
}

/// In the high-contrast theme the selected row is black on bright yellow: every cell of it,
/// the countdown included, must be drawn in the selection's foreground (white on bright
/// yellow could not be read), except the SEV badge on its own background.
#[test]
fn high_contrast_selected_row_is_readable() {
    let s = drill_state(15);
    let hc = theme("high-contrast");
    let buf = render_with(&s, 100, 30, &hc);
    let out = text(&buf);
    let y = out
        .lines()
        .position(|l| l.contains("│SEV1"))
        .expect("the selected SEV1 row") as u16;
    let selected = hc.style(oncall_cockpit::config::theme::ThemeRole::Selected);
    for x in 6..99 {
        let cell = &buf[(x, y)];
        if cell.bg == selected.bg.unwrap_or_default() && cell.symbol() != " " {
            assert_eq!(
                cell.fg,
                selected.fg.unwrap_or_default(),
                "({x},{y}) {:?} is not in the selection's colour",
                cell.symbol()
            );
        }
    }
}

/// Every theme file under themes/, read from the directory so that a theme added there cannot
/// be left out of the styled snapshots.
fn theme_files() -> Vec<(String, Theme)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
    let mut out: Vec<(String, Theme)> = std::fs::read_dir(&dir)
        .expect("themes/")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            let name = p
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("theme file name")
                .to_string();
            let text = std::fs::read_to_string(&p).expect("theme file");
            let theme = Theme::parse(&name, &text).expect("valid theme");
            (name, theme)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 3, "themes/ holds {} files", out.len());
    out
}

/// Rows of `buf` whose text contains `needle`.
fn rows_with(buf: &Buffer, needle: &str) -> Vec<u16> {
    text(buf)
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(y, _)| y as u16)
        .collect()
}

/// The main screen, colours and modifiers included, in every theme: a theme that loses the
/// SEV1 badge's fill, the selection or the breach style changes its snapshot.
#[test]
fn styled_main_screen_80x24_in_every_theme() {
    let s = drill_state(15);
    for (name, t) in theme_files() {
        let dump = cockpit_testkit::styled::dump(&render_with(&s, 80, 24, &t));
        insta::assert_snapshot!(format!("styled_main_screen_80x24_{name}"), dump);
    }
}

/// The selected row against the rows around it, and the breaching sparklines against the
/// calm ones, in every theme; in `no-color` they must stand out by modifiers alone.
#[test]
fn styled_selected_row_and_breaching_sparkline_in_every_theme() {
    let s = drill_state(15);
    for (name, t) in theme_files() {
        let buf = render_with(&s, 80, 24, &t);
        // The list's header, the selected incident (first) and the next one.
        let header = rows_with(&buf, "│SEV  TYPE")[0];
        let list = cockpit_testkit::styled::dump_rows(&buf, header..header + 3);
        let lines: Vec<&str> = list.lines().collect();
        let selected = t.style(ThemeRole::Selected);
        let marks = selected_marks(&selected);
        assert!(
            marks.iter().all(|m| lines[1].contains(m.as_str()))
                && !marks.iter().all(|m| lines[2].contains(m.as_str())),
            "{name}: the selected row is not told apart by {marks:?}:\n{list}"
        );
        insta::assert_snapshot!(format!("styled_selected_row_{name}"), list);

        // TTFT and TPOT breach their ceilings in the drill at minute 15; drift does not.
        let mut rows = rows_with(&buf, "TTFT p99");
        rows.extend(rows_with(&buf, "TPOT p99"));
        rows.extend(rows_with(&buf, "drift JS"));
        let spark = cockpit_testkit::styled::dump_rows(&buf, rows);
        let breach = format!("[{}]", look_label(&t.style(ThemeRole::SparklineBreach)));
        let spark_lines: Vec<&str> = spark.lines().collect();
        assert!(
            spark_lines[0].contains(&format!("{breach}█"))
                && spark_lines[1].contains(&format!("{breach}█"))
                && !spark_lines[2].contains(&breach),
            "{name}: breaches are not in the breach style {breach}:\n{spark}"
        );
        insta::assert_snapshot!(format!("styled_breaching_sparkline_{name}"), spark);

        if name == "no-color" {
            let all = cockpit_testkit::styled::dump(&buf);
            assert!(
                !all.contains("fg=") && !all.contains("bg="),
                "no-color paints a colour:\n{all}"
            );
            assert!(all.contains("[bold reversed]SEV1"), "{all}");
            assert!(lines[1].contains("reversed"), "{list}");
        }
    }
}

/// How the dump labels a theme style's look (for the breach style, which the sparkline draws
/// as it is).
fn look_label(style: &ratatui::style::Style) -> String {
    let mut buf = Buffer::empty(Rect::new(0, 0, 1, 1));
    buf.set_style(buf.area, *style);
    let dump = cockpit_testkit::styled::dump(&buf);
    dump.trim_end()
        .strip_prefix('[')
        .and_then(|d| d.split_once(']'))
        .map(|(label, _)| label.to_string())
        .unwrap_or_default()
}

/// What a selected row's dump must hold: the selection's background, else its modifiers.
fn selected_marks(style: &ratatui::style::Style) -> Vec<String> {
    let mut marks = Vec::new();
    if let Some(bg) = style.bg.filter(|c| *c != Color::Reset) {
        let label = look_label(&ratatui::style::Style::default().bg(bg));
        marks.push(label);
    }
    if style.add_modifier.contains(Modifier::REVERSED) {
        marks.push("reversed".into());
    }
    assert!(!marks.is_empty(), "the selection has no look: {style:?}");
    marks
}

/// Every overlay the cockpit opens, from the drill's screen: (what, the actions that open it).
fn overlays() -> Vec<(&'static str, Vec<Action>)> {
    vec![
        ("help", vec![Action::Help]),
        ("kill switch chooser", vec![Action::Top, Action::KillSwitch]),
        (
            "kill switch confirmation",
            vec![
                Action::Top,
                Action::KillSwitch,
                Action::Down,
                Action::Select,
            ],
        ),
        ("resolve confirmation", vec![Action::Top, Action::Resolve]),
        ("escalate confirmation", vec![Action::Top, Action::Escalate]),
        ("note", vec![Action::Top, Action::Note]),
        ("filter", vec![Action::Filter]),
        ("runbook", vec![Action::Top, Action::Runbook]),
        ("describe", vec![Action::Top, Action::Describe]),
        ("sources", vec![Action::Sources]),
    ]
}

/// The drill's screen at `w`x`h` with `steps` applied; with `other_beneath`, something else
/// is beneath the overlay: the other pane in the lower half, and every incident's title but
/// the top one's made of the box-drawing characters and letters that showed through before
/// (`┌┌`, `a└`).
fn opened(w: u16, h: u16, steps: &[Action], other_beneath: bool) -> State {
    let mut s = drill_state(15);
    update(&mut s, Action::Resize(w, h));
    if other_beneath {
        update(&mut s, Action::ToggleDetail);
        let top = s.incidents.shown[0];
        for (i, inc) in s.incidents.all.iter_mut().enumerate() {
            if i != top {
                inc.title = oncall_cockpit::domain::SafeText::new(&"┌└│─a┐┘".repeat(40));
            }
        }
    }
    for a in steps {
        update(&mut s, a.clone());
    }
    s
}

/// The rectangle an overlay draws on: the bounding box of the cells in the dialog's
/// background, in a theme where nothing else has it; the whole screen for the views that
/// take it all.
fn overlay_rect(buf: &Buffer, dialog_bg: Color) -> Option<Rect> {
    let mut found: Option<(u16, u16, u16, u16)> = None;
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            if buf[(x, y)].bg == dialog_bg {
                let (x0, y0, x1, y1) = found.unwrap_or((x, y, x, y));
                found = Some((x0.min(x), y0.min(y), x1.max(x), y1.max(y)));
            }
        }
    }
    found.map(|(x0, y0, x1, y1)| Rect::new(x0, y0, x1 - x0 + 1, y1 - y0 + 1))
}

/// Overlays clear what they draw on: whatever the screen beneath holds, every cell inside an
/// overlay's rectangle is the same, and none of its inner cells holds a line-drawing
/// character from a border beneath (the "┌┌" and "a└" seen at the edges of the help once).
#[test]
fn overlays_cover_everything_beneath_them() {
    let probe_bg = Color::Rgb(1, 2, 3);
    // Only the overlays' own background is this colour; the screen beneath gets another one
    // everywhere, so a cell left from beneath shows in either test below.
    let probe = Theme::overlay(
        &theme("default"),
        "probe.toml",
        "dialog = { fg = \"252\", bg = \"#010203\" }\nbase = { fg = \"252\", bg = \"#0a0b0c\" }\n",
    )
    .expect("valid overlay");
    for (w, h) in [(80u16, 24u16), (100, 30), (160, 48)] {
        for (what, steps) in overlays() {
            let s = opened(w, h, &steps, false);
            assert!(
                !matches!(s.overlay, oncall_cockpit::state::Overlay::None),
                "{what} did not open"
            );
            let over = render_with(&s, w, h, &probe);
            let other = render_with(&opened(w, h, &steps, true), w, h, &probe);
            let full = matches!(what, "help" | "describe" | "sources");
            let rect = if full {
                Rect::new(0, 0, w, h)
            } else {
                overlay_rect(&over, probe_bg)
                    .unwrap_or_else(|| panic!("{w}x{h} {what}: no overlay:\n{}", text(&over)))
            };
            assert!(
                rect.width >= 20 && rect.height >= 3,
                "{w}x{h} {what}: overlay found at {rect:?}:\n{}",
                text(&over)
            );
            for y in rect.top()..rect.bottom() {
                for x in rect.left()..rect.right() {
                    let (a, b) = (&over[(x, y)], &other[(x, y)]);
                    assert!(
                        a.symbol() == b.symbol() && a.fg == b.fg && a.bg == b.bg,
                        "{w}x{h} {what}: ({x},{y}) shows what is beneath: {:?} / {:?}\n{}\n{}",
                        a.symbol(),
                        b.symbol(),
                        text(&over),
                        text(&other)
                    );
                    let inner = x > rect.left()
                        && x + 1 < rect.right()
                        && y > rect.top()
                        && y + 1 < rect.bottom();
                    if inner {
                        assert!(
                            !a.symbol()
                                .chars()
                                .any(|c| ('\u{2500}'..='\u{257f}').contains(&c)),
                            "{w}x{h} {what}: border character {:?} inside the overlay at \
                             ({x},{y}):\n{}",
                            a.symbol(),
                            text(&over)
                        );
                    }
                }
            }
        }
    }
}

/// The list pages by the cursor, and its last page ends on the last row: a row sorted to the
/// bottom (recovered, contained) is shown with the rows above it, not alone on a page.
#[test]
fn the_last_page_of_the_list_is_full_not_one_row() {
    let mut s = drill_state(30);
    update(&mut s, Action::Resize(80, 24));
    let rows = s.incidents.rows.len();
    update(&mut s, Action::Bottom);
    assert_eq!(s.incidents.cursor, rows - 1);
    let text = screen(&s, 80, 24);
    let list: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.contains("Incidents"))
        .skip(2)
        .take_while(|l| !l.starts_with('└'))
        .collect();
    let shown = list.iter().filter(|l| l.contains("SEV")).count();
    assert!(
        rows > list.len(),
        "the drill fills more than a page: {rows}"
    );
    assert_eq!(
        shown,
        list.len(),
        "every line of the last page holds a row:\n{text}"
    );
}
