//! Append-only audit log of every action: who did what, to what, and how it ended. One JSON
//! object per line, appended and fsynced before the writer reports success, never rewritten.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditRecord {
    pub at: DateTime<Utc>,
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
        AuditRecord {
            at,
            actor: actor.to_string(),
            action: action.to_string(),
            target: target.to_string(),
            outcome: outcome.to_string(),
            detail: detail.to_string(),
            action_id,
        }
    }
}

pub struct AuditLog {
    path: PathBuf,
    file: File,
}

impl AuditLog {
    pub fn open(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // append(true) makes every write land at the end even if another cockpit shares the file.
        let file = OpenOptions::new().create(true).append(true).open(path)?;
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
