//! Faults a responder meets for real, end to end with the real binary in a PTY: the SSH
//! connection drops (SIGHUP, or the terminal simply disappears), an action's request fails
//! and has to be retried, and the cockpit is killed outright while the audit log is open.
//! The clean-exit basics for q / ctrl-c / SIGHUP / SIGTERM live in e2e_pty.rs.

use cockpit_testkit::{pty, servers};
use portable_pty::ExitStatus;
use pty::*;
use servers::pagerduty::{PdIncident, PdServer, TOKEN};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

/// CPU time, in clock ticks (1/100 s on Linux), a cockpit may use between losing its terminal
/// and exiting. Shutting down costs a few ticks; a thread spinning on a dead terminal burns
/// 100 per second, so a spin of even a quarter second fails this.
const EXIT_CPU_TICKS: u64 = 25;
/// The same without SIGHUP. crossterm's input reader (0.28, mio source) spins on a hung-up
/// terminal inside `event::read` and never returns, so the cockpit only learns of the loss
/// when its next frame (at most 1/TICKS_PER_SEC = 0.5 s away) fails to write: up to 50 ticks
/// of spin, bounded by that frame. More means the failed write did not end the session.
const EXIT_CPU_TICKS_WITHOUT_SIGHUP: u64 = 75;

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Waits for the process to exit after it lost its terminal, sampling its CPU time while it
/// is alive (an exited but unreaped process keeps its final times in /proc). Returns the exit
/// status and the CPU ticks used since `before`.
fn exit_and_cpu(c: &mut Cockpit, before: u64, what: &str) -> (ExitStatus, u64) {
    let deadline = Instant::now() + SIGNAL_EXIT;
    let mut last = before;
    loop {
        if let Some(now) = c.cpu_ticks() {
            last = now;
        }
        if let Some(status) = c.poll_exit() {
            return (status, last.saturating_sub(before));
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still running {SIGNAL_EXIT:?} after losing its terminal, having used {} \
             CPU ticks since",
            last.saturating_sub(before)
        );
        std::thread::sleep(POLL);
    }
}

/// The real SSH drop: sshd closes the master side, the kernel hangs up the terminal and
/// sends SIGHUP. The cockpit must exit promptly and cleanly, without a thread left spinning on
/// the dead terminal in the meantime.
#[test]
fn ssh_drop_exits_without_spinning() {
    let mut c = Cockpit::start("hangup", 100, 30, &[]);
    c.wait_for_trig_row();
    c.hang_up();
    // Counted from the hang-up: what ran before it is the cockpit's ordinary work, which a
    // slow machine makes dearer without anything spinning. An exited but unreaped process
    // still has its times in /proc.
    let before = c.cpu_ticks().expect("cpu time of the cockpit");
    let (status, used) = exit_and_cpu(&mut c, before, "after the hang-up");
    assert!(status.success(), "exit status {status:?} after the hang-up");
    assert!(
        used <= EXIT_CPU_TICKS,
        "used {used} CPU ticks between the hang-up and exiting: something spins"
    );
}

/// The terminal fails without any signal (the cockpit is not the terminal's session leader,
/// as under `setsid` or some supervisors): reads and writes on it fail. Waiting for input
/// that can never come must not keep it alive, nor spinning.
#[test]
fn terminal_gone_without_sighup_exits_without_spinning() {
    let mut launch = Launch::sim("gone", 100, 30, &[]);
    launch.controlling_tty = false;
    let mut c = Cockpit::launch(launch);
    c.wait_for_trig_row();
    c.hang_up();
    // Counted from the hang-up: what ran before it is the cockpit's ordinary work, which a
    // slow machine makes dearer without anything spinning. An exited but unreaped process
    // still has its times in /proc.
    let before = c.cpu_ticks().expect("cpu time of the cockpit");
    let (status, used) = exit_and_cpu(&mut c, before, "after the terminal went away");
    assert!(
        used <= EXIT_CPU_TICKS_WITHOUT_SIGHUP,
        "used {used} CPU ticks between losing the terminal and exiting: something spins"
    );
    // Nobody is left to read an error message: losing the terminal is an ordinary end.
    assert!(
        status.success(),
        "exit status {status:?} after the terminal went away; log:\n{}",
        std::fs::read_to_string(c.data_dir().join("cockpit.log")).unwrap_or_default()
    );
}

/// SIGHUP while an ack is still waiting for a backend that hangs: the cockpit exits at once
/// rather than waiting on the request, restores the terminal, and the audit log says the ack
/// was requested without claiming an outcome nobody saw.
#[test]
fn sighup_while_an_action_hangs_exits_cleanly() {
    let rt = tokio_runtime();
    let server = rt.block_on(PdServer::start());
    server.add(PdIncident::new("PHANG01", 1, "support-bot refusals up"));
    let root = servers::temp_dir("faults-hang");
    // A request timeout longer than the test: the ack must still be in flight at SIGHUP.
    let section = pagerduty_section(&root, "pagerduty", &server.url, TOKEN)
        .replace("timeout_secs = 5.0", "timeout_secs = 600.0");
    let args = config_args(&root, &section);
    let mut c = Cockpit::launch(Launch::new("sighup_pending", 160, 40, args));
    c.wait_for_trig_row();
    c.select_top();
    // Every request from now on hangs longer than the whole test waits.
    server.lock().delay = Duration::from_secs(300);
    c.send(b"a");
    c.wait_screen("the ack pending on its row", TIMEOUT, |s| {
        table(s)?.rows.into_iter().find(|r| r.status == "ack…")
    });
    c.wait_audit("the ack requested", |r| {
        r.iter()
            .find(|r| r["action"] == "ack" && r["outcome"] == "requested")
            .cloned()
    });

    c.signal("-HUP");
    let status = c.wait_exit(SIGNAL_EXIT);
    assert!(
        status.success(),
        "exit status {status:?}\n{}",
        c.screen_dump()
    );
    assert_terminal_restored(&c.raw());
    let outcomes: Vec<_> = c
        .audit_records()
        .into_iter()
        .filter(|r| r["action"] == "ack")
        .map(|r| r["outcome"].clone())
        .collect();
    assert_eq!(outcomes, ["requested"], "audit ack records");
    assert!(server.lock().writes.is_empty(), "the hung ack was applied");
    let _ = std::fs::remove_dir_all(&root);
}

/// An ack whose request fails is shown as failed with the reason, is not taken for done,
/// and is audited as requested then failed. Once the backend is back, `t` sends it again
/// and it lands: on screen, in the audit log, and on the backend.
#[test]
fn failed_ack_is_visible_and_retry_lands_it() {
    let rt = tokio_runtime();
    let server = rt.block_on(PdServer::start());
    server.add(PdIncident::new("PFAIL01", 1, "support-bot refusals up"));
    let root = servers::temp_dir("faults-retry");
    let args = config_args(
        &root,
        &pagerduty_section(&root, "pagerduty", &server.url, TOKEN),
    );
    let mut c = Cockpit::launch(Launch::new("retry", 160, 40, args));
    c.wait_for_trig_row();
    let target = c.select_top();
    server.lock().fail_writes = true;

    c.send(b"a");
    let footer_line = c.wait_screen("the failed ack in the footer", TIMEOUT, |s| {
        let f = footer(s);
        f.contains("FAILED").then_some(f)
    });
    assert!(
        footer_line.contains("ack pagerduty:PFAIL01 FAILED")
            && footer_line.contains("500")
            && footer_line.contains("t: retry"),
        "the footer must name the action, the reason and the retry key: {footer_line}"
    );
    // Not acknowledged and no longer pending: the row tells the truth.
    let row = c.wait_screen("the row after the failure", TIMEOUT, |s| {
        table(s)?
            .rows
            .into_iter()
            .find(|r| r.same_incident(&target))
    });
    assert_eq!(row.status, "TRIG", "{row:?}\n{}", c.screen_dump());
    let (first_id, failure) = c.wait_audit("ack requested, then failed", |records| {
        let req = records
            .iter()
            .position(|r| r["action"] == "ack" && r["outcome"] == "requested")?;
        let id = &records[req]["action_id"];
        let failed = records
            .iter()
            .position(|r| r["action_id"] == *id && r["outcome"] == "failed")?;
        (failed > req).then(|| (id.clone(), records[failed].clone()))
    });
    assert!(
        failure["detail"]
            .as_str()
            .is_some_and(|d| d.contains("500")),
        "the failure record keeps the reason: {failure}"
    );
    assert!(
        !c.audit_records()
            .iter()
            .any(|r| r["action"] == "ack" && r["outcome"] == "succeeded"),
        "a failed ack was audited as succeeded"
    );
    {
        let s = server.lock();
        let inc = s.incidents.iter().find(|i| i.id == "PFAIL01");
        assert!(
            inc.is_some_and(|i| i.status == "triggered" && i.acks.is_empty()),
            "the backend changed on a failed write"
        );
    }

    server.lock().fail_writes = false;
    c.send(b"t");
    c.wait_screen("the retried ack done on screen", TIMEOUT, |s| {
        let acked = table(s)?
            .rows
            .into_iter()
            .any(|r| r.same_incident(&target) && r.status == "ACKED");
        (acked && footer(s).contains('✓')).then_some(())
    });
    let succeeded = c.wait_audit("a second ack requested and succeeded", |records| {
        let req = records.iter().position(|r| {
            r["action"] == "ack" && r["outcome"] == "requested" && r["action_id"] != first_id
        })?;
        let id = &records[req]["action_id"];
        let done = records
            .iter()
            .position(|r| r["action_id"] == *id && r["outcome"] == "succeeded")?;
        (done > req).then(|| records[done].clone())
    });
    assert_eq!(succeeded["target"], "pagerduty:PFAIL01", "{succeeded}");
    let inc = server.incident("PFAIL01");
    assert_eq!(inc.status, "acknowledged");
    assert_eq!(
        inc.acks
            .iter()
            .map(|(_, by)| by.as_str())
            .collect::<Vec<_>>(),
        ["Ana Lima"],
        "acknowledged once, by the configured user"
    );
    assert_eq!(server.lock().writes.len(), 1, "one accepted write");
    c.quit_cleanly_with(b"q");
    let _ = std::fs::remove_dir_all(&root);
}

/// Every line of the audit log as JSON; fails on a line that is not complete JSON (a torn
/// write) and on a last line without its newline.
fn audit_lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    let text = std::str::from_utf8(bytes).expect("audit log is UTF-8");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "audit log ends mid-line: {text:?}"
    );
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("torn audit line {l:?}: {e}")))
        .collect()
}

/// Acks the top incident and waits until the audit log holds its outcome; returns the target.
fn ack_top_and_wait(c: &mut Cockpit) -> String {
    c.wait_for_trig_row();
    let before = c.audit_records().len();
    c.select_top();
    c.send(b"a");
    c.wait_audit("the ack's outcome", |records| {
        records[before.min(records.len())..]
            .iter()
            .find(|r| r["action"] == "ack" && r["outcome"] == "succeeded")
            .and_then(|r| r["target"].as_str().map(str::to_string))
    })
}

/// SIGKILL gives the cockpit no chance to flush or clean up: whatever it audited before is
/// there in full. The next run appends to the same file, never rewrites or replaces it.
#[test]
fn audit_log_survives_sigkill_and_is_only_appended() {
    let data = servers::temp_dir("faults-audit");
    let mut launch = Launch::sim("audit_kill", 100, 30, &[]);
    launch.data_dir = Some(data.clone());
    let mut c = Cockpit::launch(launch);
    let first = ack_top_and_wait(&mut c);
    c.signal("-KILL");
    let status = c.wait_exit(SIGNAL_EXIT);
    assert!(!status.success(), "SIGKILL exited with success: {status:?}");
    drop(c);

    let path = data.join("audit.jsonl");
    let before = std::fs::read(&path).expect("audit log after SIGKILL");
    let inode = std::fs::metadata(&path).expect("audit log metadata").ino();
    let records = audit_lines(&before);
    for outcome in ["requested", "succeeded"] {
        assert!(
            records
                .iter()
                .any(|r| r["action"] == "ack" && r["target"] == first && r["outcome"] == outcome),
            "ack {outcome} of {first} lost in the crash: {records:#?}"
        );
    }

    let mut launch = Launch::sim("audit_restart", 100, 30, &[]);
    launch.data_dir = Some(data.clone());
    let mut c = Cockpit::launch(launch);
    ack_top_and_wait(&mut c);
    c.quit_cleanly_with(b"q");
    drop(c);

    let after = std::fs::read(&path).expect("audit log after the restart");
    assert_eq!(
        std::fs::metadata(&path).expect("audit log metadata").ino(),
        inode,
        "the audit log was replaced by a new file"
    );
    assert!(
        after.len() > before.len() && after.starts_with(&before),
        "the restart rewrote the audit log instead of appending to it"
    );
    let added = audit_lines(&after[before.len()..]);
    assert!(
        added
            .iter()
            .any(|r| r["action"] == "ack" && r["outcome"] == "succeeded"),
        "the second run's ack is missing: {added:#?}"
    );
    let _ = std::fs::remove_dir_all(&data);
}

/// A backend answering with a gigabyte (it used to cost 3 to 6.4 GB of RSS, 2.2 GB of it kept
/// after the backend recovered): the cockpit stops reading at the source's cap, says so on
/// screen as that source's error, keeps polling and drawing, and its peak memory stays far
/// below the reply, measured from /proc. One source announces the length (refused before
/// reading), the other streams chunks without one (refused at the cap).
#[test]
fn a_gigabyte_reply_is_refused_at_the_cap_and_memory_stays_bounded() {
    const GIB: u64 = 1 << 30;
    /// The cap (8 MiB) with room for the cockpit itself and the allocator; a gigabyte read
    /// whole is over ten times this.
    const PEAK_KIB: u64 = 96 << 10;
    let chunked = servers::huge::start("/api/v2/alerts", GIB, false);
    let announced = servers::huge::start("/api/v2/alerts", GIB, true);
    let dir = std::env::temp_dir().join(format!("oc-gib-{}", std::process::id()));
    let args = config_args(
        &dir,
        &format!(
            r#"
[[alertmanager]]
name = "chunked"
url = "{}"
poll_secs = 1.0

[[alertmanager]]
name = "announced"
url = "{}"
poll_secs = 1.0
"#,
            chunked.url, announced.url
        ),
    );
    let mut c = Cockpit::launch(Launch::new("gib", 160, 30, args));
    c.wait_for("both sources refusing the reply", |s| {
        s.contains("reply too large (over the 8 MiB cap; not read further)")
            && s.contains("reply too large (1024 MiB > cap 8 MiB)")
    });
    // Several polls of each, every one refused at the cap.
    let deadline = Instant::now() + TIMEOUT;
    while chunked.replies.load(std::sync::atomic::Ordering::Relaxed) < 3 {
        assert!(Instant::now() < deadline, "the cockpit stopped polling");
        std::thread::sleep(POLL);
    }
    let peak = c.status_kib("VmHWM").expect("peak RSS from /proc");
    assert!(
        peak < PEAK_KIB,
        "peak RSS {peak} KiB for 1 GiB replies capped at 8 MiB"
    );
    let sent = chunked.sent.load(std::sync::atomic::Ordering::Relaxed);
    let polls = chunked.replies.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("1 GiB replies: peak RSS {peak} KiB; {sent} bytes sent in {polls} replies");
    assert!(
        sent / polls < GIB / 16,
        "{sent} bytes sent in {polls} replies: the cockpit read past its cap"
    );
    // Still responsive: the help opens, and the cockpit quits cleanly.
    c.send(b"?");
    c.wait_for("help", |s| s.contains("acknowledge"));
    c.quit_cleanly_with(KEY_CTRL_C);
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a source holds past its pages per poll and its cap on incidents is never silently
/// missing: 30 open incidents in PagerDuty, read 10 a page for at most 2 pages (10 left
/// unread, counted from PagerDuty's total) and 5 kept (the most urgent): the list shows 5 and
/// says 25 are not shown; the requests per poll stay at two.
#[test]
fn incidents_past_pages_and_cap_are_counted_on_screen() {
    let rt = tokio_runtime();
    let server = rt.block_on(PdServer::start());
    for n in 1..=30u64 {
        let mut inc = PdIncident::new(&format!("PCAP{n:03}"), n, &format!("incident {n}"));
        // Five of the first two pages are the most urgent: they are the ones kept.
        inc.priority = (16..=20).contains(&n).then(|| "P1".to_string());
        server.add(inc);
    }
    let root = servers::temp_dir("faults-cap");
    let section = pagerduty_section(&root, "pd", &server.url, TOKEN)
        + "page_size = 10\nmax_pages = 2\nmax_incidents = 5\n";
    let args = config_args(&root, &section);
    let mut c = Cockpit::launch(Launch::new("cap", 160, 40, args));
    c.wait_for("five shown, the rest counted", |s| {
        s.contains("Incidents 5 open · +25 not shown") && s.contains("SEV1 5")
    });
    // Never a third page: offsets 0 and 10 only, however many polls ran.
    let offsets: std::collections::BTreeSet<String> = server
        .lock()
        .list_queries
        .iter()
        .flat_map(|q| {
            q.iter()
                .filter(|(k, _)| k == "offset")
                .map(|(_, v)| v.clone())
        })
        .collect();
    assert_eq!(offsets, ["0".to_string(), "10".to_string()].into());
    c.quit_cleanly_with(b"q");
}
