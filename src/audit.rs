//! Append-only audit log of every action: who did what, to what, and how it ended. One JSON
//! object per line, appended and fsynced before the writer reports success, never rewritten.

use crate::domain::text::{sanitize, sanitize_lines};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditRecord {
    /// When it happened, in real (wall-clock) UTC: the app stamps each record as it leaves
    /// `update`, so an outcome carries the moment the backend's answer arrived.
    pub at: DateTime<Utc>,
    /// During a drill (`--speed`), the simulated time it happened at, which the incident's own
    /// times are in. Absent outside drills, where the two are the same.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sim_at: Option<DateTime<Utc>>,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// requested, succeeded, failed, confirmed.
    pub outcome: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_id: Option<u64>,
}

impl AuditRecord {
    pub fn new(
        at: DateTime<Utc>,
        actor: &str,
        action: &str,
        target: &str,
        outcome: &str,
        detail: &str,
        action_id: Option<u64>,
    ) -> Self {
        // The log is read with `tail` and `grep` in a terminal: nothing in it may be a control
        // sequence, whoever wrote the id or the note. A note keeps its lines.
        AuditRecord {
            at,
            sim_at: None,
            actor: sanitize(actor),
            action: sanitize(action),
            target: sanitize(target),
            outcome: sanitize(outcome),
            detail: sanitize_lines(detail),
            action_id,
        }
    }

    /// Stamps the record with the real time `now`; during a drill the time it was given (the
    /// cockpit's simulated clock) moves to `sim_at`, precise to `sim_now`.
    pub fn stamp(&mut self, now: DateTime<Utc>, sim_now: Option<DateTime<Utc>>) {
        self.at = now;
        self.sim_at = sim_now;
    }
}

pub struct AuditLog {
    path: PathBuf,
    file: File,
}

impl AuditLog {
    pub fn open(path: &Path) -> io::Result<Self> {
        // Appending (crate::private opens with append) makes every write land at the end even if
        // another cockpit shares the file; it is created owner-only: it names who did what.
        let file = crate::private::open_append(path)?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn append(&mut self, record: &AuditRecord) -> io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
        line.push(b'\n');
        // One write call per record, so concurrent appenders never interleave within a line.
        self.file.write_all(&line)?;
        self.file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_no_control_sequences_and_notes_keep_their_lines() {
        let rec = AuditRecord::new(
            Utc::now(),
            "ana\u{1b}]0;pwned\u{7}",
            "note",
            "pd:P1\u{9b}2J\u{202e}",
            "requested",
            "first line\r\n\u{1b}[2Jsecond line",
            Some(1),
        );
        assert_eq!(rec.actor, "ana");
        assert_eq!(rec.target, "pd:P1", "the whole 8-bit CSI sequence goes");
        assert_eq!(rec.detail, "first line\nsecond line");
        let line = serde_json::to_string(&rec).expect("serialises");
        assert!(
            !line.contains(['\u{1b}', '\u{9b}', '\u{202e}', '\u{7}']),
            "{line}"
        );
    }

    #[test]
    fn appends_never_rewrite() {
        let dir = std::env::temp_dir().join(format!("oc-audit-{}", std::process::id()));
        let path = dir.join("audit.jsonl");
        let _ = std::fs::remove_file(&path);
        let rec = AuditRecord::new(
            Utc::now(),
            "ana",
            "ack",
            "sim:INC-1",
            "requested",
            "",
            Some(1),
        );
        for _ in 0..2 {
            let mut log = AuditLog::open(&path).expect("open");
            log.append(&rec).expect("append");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 2);
        assert!(text.lines().all(|l| l.contains("\"action\":\"ack\"")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
