//! k9s habits in a real terminal at 80x24: `space` marks rows and one confirmed `a` acks
//! every mark (each ack audited with its outcome); the `:` command line completes with tab,
//! recalls with up, sorts, says when it does not know a command, and `:q` quits cleanly.

use cockpit_testkit::pty;
use pty::*;

const KEY_TAB: &[u8] = b"\t";
const KEY_UP: &[u8] = b"\x1b[A";
const KEY_ENTER: &[u8] = b"\r";

/// "N marked" in the footer, as a number.
fn marked(screen: &vt100::Screen) -> Option<usize> {
    let f = footer(screen);
    let at = f.find(" marked")?;
    f[..at].split_whitespace().last()?.parse().ok()
}

#[test]
fn marks_and_one_confirmed_bulk_ack_at_80x24() {
    let mut c = Cockpit::start("habits_marks", 80, 24, &[]);
    c.wait_screen("two incident rows", TIMEOUT, |s| {
        let rows = table(s)?.rows;
        (rows.iter().filter(|r| r.status.starts_with("TRIG")).count() >= 2).then_some(())
    });
    c.select_top();
    c.send(b" ");
    c.send(b" ");
    // A parent row marks every member of its group, so two rows are two or more incidents.
    let n = c.wait_screen("the marks counted in the footer", TIMEOUT, |s| {
        marked(s).filter(|n| *n >= 2)
    });
    c.wait_for("the marks on their rows", |t| t.matches("✓ ").count() >= 2);
    c.send(b"a");
    c.wait_for("one confirmation for the set", |t| {
        t.contains(&format!("Acknowledge {n} incidents ({n} marked)"))
    });
    c.send(b"y");
    let targets = c.wait_audit("every marked incident acked", |records| {
        let mut ok: Vec<String> = records
            .iter()
            .filter(|r| r["action"] == "ack" && r["outcome"] == "succeeded")
            .filter_map(|r| r["target"].as_str().map(str::to_string))
            .collect();
        ok.sort();
        ok.dedup();
        (ok.len() == n).then_some(ok)
    });
    assert!(targets.iter().all(|t| t.starts_with("sim:")), "{targets:?}");
    c.wait_for("the set's tally", |t| t.contains(&format!("{n} ✓")));
    c.quit_cleanly_with(b"q");
}

#[test]
fn the_command_line_completes_recalls_sorts_and_quits_at_80x24() {
    let mut c = Cockpit::start("habits_command_line", 80, 24, &[]);
    c.wait_for_trig_row();
    c.send(b":");
    c.wait_for("the command line", |t| t.contains("complete"));
    c.send(b"sort a");
    c.send(KEY_TAB);
    c.wait_for("tab completing the sort key", |t| t.contains("sort age"));
    c.send(KEY_ENTER);
    c.wait_for("the list sorted by age", |t| t.contains("· by age"));
    c.send(b":frob");
    c.send(KEY_ENTER);
    c.wait_for("the unknown command said", |t| {
        t.contains("unknown command :frob")
    });
    c.send(b":");
    c.wait_for("the command line again", |t| t.contains("complete"));
    c.send(KEY_UP);
    c.wait_for("up recalling the last command", |t| {
        t.lines()
            .any(|l| l.contains("frob") && !l.contains("unknown"))
    });
    c.send(KEY_ESC);
    // Esc and the next key in one read would be alt-: to the terminal.
    c.wait_for("the command line closed", |t| !t.contains("complete"));
    c.send(b":q");
    c.send(KEY_ENTER);
    let status = c.wait_exit(TIMEOUT);
    assert!(status.success(), "{status:?}\n{}", c.screen_dump());
    assert_terminal_restored(&c.raw());
}
