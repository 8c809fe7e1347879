//! Who held a prompt registry's tag (Phoenix) or label (Langfuse) before. Neither serves a
//! record of where it was through its API, so the last-known-good prompt and "roll back the rollback" would be lost with the
//! cockpit's memory. Every move the cockpit makes, and every move it sees another hand make,
//! is appended to a file of its own (one JSON object per line, owner-only, fsynced, never
//! rewritten, like the audit log) and read back at the first poll after a restart.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

/// Read back at most this much of the file (its end); a tag moves a few times a day, so this
/// is years of history, and a file grown past it by accident cannot stall a start.
const READ_CAP: u64 = 4 << 20;
/// Moves kept per prompt: the last-known-good needs the last few.
const KEPT: usize = 100;

/// One move of the tag.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Move {
    pub at: DateTime<Utc>,
    pub prompt: String,
    pub tag: String,
    /// The version that held the tag before; `None` when none did.
    pub from: Option<String>,
    pub to: String,
    /// Who moved it: the cockpit's author for its own rollbacks, `seen` for a move found by
    /// a poll (someone deployed through the registry).
    pub by: String,
}

pub const SEEN: &str = "seen";

#[derive(Debug)]
pub struct TagHistory {
    path: PathBuf,
    tag: String,
    loaded: bool,
    moves: HashMap<String, Vec<Move>>,
    /// The holder each prompt's tag had at the last poll, to notice a move made elsewhere.
    seen: HashMap<String, String>,
}

impl TagHistory {
    pub fn new(path: PathBuf, tag: &str) -> TagHistory {
        TagHistory {
            path,
            tag: tag.to_string(),
            loaded: false,
            moves: HashMap::new(),
            seen: HashMap::new(),
        }
    }

    /// The tag was found on `current` by a poll of `source`: a move since the last poll (or
    /// since the history's last record) made by another hand is recorded as `seen`.
    pub fn notice(&mut self, source: &str, prompt: &str, current: &str, now: DateTime<Utc>) {
        let before = self
            .seen
            .get(prompt)
            .cloned()
            .or_else(|| self.holder(prompt).map(str::to_string));
        self.seen.insert(prompt.to_string(), current.to_string());
        let Some(before) = before.filter(|b| b != current) else {
            return;
        };
        let m = Move {
            at: now,
            prompt: prompt.to_string(),
            tag: self.tag.clone(),
            from: Some(before),
            to: current.to_string(),
            by: SEEN.into(),
        };
        if let Err(e) = self.record(m) {
            tracing::warn!(source, prompt, file = %self.path.display(), error = %e, "prompt tag move not recorded");
        }
    }

    /// `load`, a failure logged for `source` (the history then starts from what polls see).
    pub fn load_or_warn(&mut self, source: &str) {
        if let Err(e) = self.load() {
            tracing::warn!(source, file = %self.path.display(), error = %e, "prompt tag history not read");
        }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Reads the file once; a missing file is an empty history, unreadable lines are
    /// skipped (a crash mid-append leaves at most one).
    pub fn load(&mut self) -> io::Result<()> {
        if self.loaded {
            return Ok(());
        }
        let text = match read_tail(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let mut skipped = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<Move>(line) {
                Ok(m) if m.tag == self.tag => self.keep(m),
                Ok(_) => {}
                Err(_) => skipped += 1,
            }
        }
        if skipped > 0 {
            tracing::warn!(file = %self.path.display(), skipped, "unreadable prompt tag history lines skipped");
        }
        self.loaded = true;
        Ok(())
    }

    fn keep(&mut self, m: Move) {
        let list = self.moves.entry(m.prompt.clone()).or_default();
        list.push(m);
        if list.len() > KEPT {
            list.remove(0);
        }
    }

    /// The version the history last saw holding the tag.
    pub fn holder(&self, prompt: &str) -> Option<&str> {
        self.moves
            .get(prompt)
            .and_then(|l| l.last())
            .map(|m| m.to.as_str())
    }

    /// The cockpit moved the tag of `prompt` from `from` to `to` for `by`: recorded, and the
    /// next poll finding it there is no news. What a rollback's message must add when the
    /// file refused the record (the move itself happened; only its memory is at risk).
    pub fn rolled_back(
        &mut self,
        prompt: &str,
        from: Option<String>,
        to: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Option<String> {
        self.seen.insert(prompt.to_string(), to.to_string());
        let recorded = self.record(Move {
            at: now,
            prompt: prompt.to_string(),
            tag: self.tag.clone(),
            from,
            to: to.to_string(),
            by: by.to_string(),
        });
        recorded.err().map(|e| {
            format!(
                "; NOT recorded in {} ({e}): the last-known-good is lost at restart",
                self.path.display()
            )
        })
    }

    /// Appends `m` to the file, fsynced, and to the history; the history keeps it even when
    /// the file refuses it, so this session still knows.
    pub fn record(&mut self, m: Move) -> io::Result<()> {
        let written = append(&self.path, &m);
        self.keep(m);
        written
    }

    /// The last-known-good version and when the tag last moved, if the history ends with
    /// `current` holding it: the version that held the tag before the last version new to
    /// it arrived (a rollback to an older version is no deploy).
    pub fn lineage(&self, prompt: &str, current: &str) -> (Option<String>, Option<DateTime<Utc>>) {
        let Some(moves) = self.moves.get(prompt) else {
            return (None, None);
        };
        let mut held: Vec<&str> = Vec::new();
        for m in moves {
            if held.is_empty() {
                if let Some(f) = &m.from {
                    held.push(f);
                }
            }
            if held.last() != Some(&m.to.as_str()) {
                held.push(&m.to);
            }
        }
        if held.last() != Some(&current) {
            return (None, None);
        }
        let changed_at = moves.last().map(|m| m.at);
        let last_deploy = (1..held.len())
            .rev()
            .find(|&i| !held[..i].contains(&held[i]));
        (last_deploy.map(|i| held[i - 1].to_string()), changed_at)
    }
}

fn read_tail(path: &std::path::Path) -> io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(READ_CAP);
    f.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    f.take(READ_CAP).read_to_end(&mut bytes)?;
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if start > 0 {
        // Cut in the middle of a line: drop its end.
        text = text
            .split_once('\n')
            .map(|(_, rest)| rest.to_string())
            .unwrap_or_default();
    }
    Ok(text)
}

fn append(path: &std::path::Path, m: &Move) -> io::Result<()> {
    let mut line = serde_json::to_string(m).map_err(io::Error::other)?;
    line.push('\n');
    let mut f = crate::private::open_append(path)?;
    f.write_all(line.as_bytes())?;
    f.sync_data()
}

/// A registry's feature → prompt mapping (a feature's prompt has its name unless mapped),
/// and back.
#[derive(Debug)]
pub struct PromptNames {
    prompts: std::collections::BTreeMap<String, String>,
    features: HashMap<String, String>,
}

impl PromptNames {
    pub fn new(prompts: &std::collections::BTreeMap<String, String>) -> PromptNames {
        PromptNames {
            prompts: prompts.clone(),
            features: prompts
                .iter()
                .map(|(f, p)| (p.clone(), f.clone()))
                .collect(),
        }
    }

    /// The prompt holding `feature`'s versions.
    pub fn prompt<'a>(&'a self, feature: &'a str) -> &'a str {
        self.prompts.get(feature).map_or(feature, String::as_str)
    }

    /// The feature `prompt` serves.
    pub fn feature<'a>(&'a self, prompt: &'a str) -> &'a str {
        self.features.get(prompt).map_or(prompt, String::as_str)
    }

    /// The prompts named in config.
    pub fn mapped(&self) -> impl Iterator<Item = &String> {
        self.prompts.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + min * 60, 0).expect("time")
    }

    fn mv(min: i64, from: Option<&str>, to: &str, by: &str) -> Move {
        Move {
            at: at(min),
            prompt: "support-bot".into(),
            tag: "production".into(),
            from: from.map(str::to_string),
            to: to.into(),
            by: by.into(),
        }
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("oc-tags-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn the_last_known_good_is_the_holder_before_the_last_new_version() {
        let mut h = TagHistory::new(dir("lineage").join("t.jsonl"), "production");
        assert_eq!(h.lineage("support-bot", "v1"), (None, None));
        h.keep(mv(0, Some("v1"), "v2", SEEN));
        assert_eq!(
            h.lineage("support-bot", "v2"),
            (Some("v1".into()), Some(at(0)))
        );
        // Someone else's move the history never saw: it says nothing rather than guess.
        assert_eq!(h.lineage("support-bot", "v3"), (None, None));
        h.keep(mv(5, Some("v2"), "v1", "ana"));
        assert_eq!(
            h.lineage("support-bot", "v1"),
            (Some("v1".into()), Some(at(5))),
            "a rollback is no deploy: v1 stays the last known good"
        );
        h.keep(mv(9, Some("v1"), "v2", "ana"));
        assert_eq!(
            h.lineage("support-bot", "v2"),
            (Some("v1".into()), Some(at(9)))
        );
        h.keep(mv(20, Some("v2"), "v3", SEEN));
        assert_eq!(
            h.lineage("support-bot", "v3"),
            (Some("v2".into()), Some(at(20)))
        );
        assert_eq!(h.lineage("other", "v3"), (None, None));
    }

    #[test]
    fn moves_survive_a_restart_in_an_owner_only_file_and_other_tags_stay_apart() {
        use std::os::unix::fs::PermissionsExt;
        let path = dir("restart").join("prompt-tags").join("phoenix.jsonl");
        let mut h = TagHistory::new(path.clone(), "production");
        h.load().expect("no file yet is an empty history");
        h.record(mv(0, Some("v1"), "v2", SEEN)).expect("record");
        h.record(mv(3, Some("v2"), "v1", "ana")).expect("record");
        let mut staging = mv(4, None, "v9", "ana");
        staging.tag = "staging".into();
        h.record(staging).expect("record");
        // A crash mid-line leaves a torn record: skipped, the rest read.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        f.write_all(b"{\"at\":\"2026-").expect("torn line");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let mut again = TagHistory::new(path, "production");
        again.load().expect("load");
        assert_eq!(again.holder("support-bot"), Some("v1"));
        assert_eq!(
            again.lineage("support-bot", "v1"),
            (Some("v1".into()), Some(at(3)))
        );
    }

    #[test]
    fn only_the_end_of_a_huge_file_is_read_and_a_cut_line_dropped() {
        let path = dir("huge").join("t.jsonl");
        let mut h = TagHistory::new(path.clone(), "production");
        let line = serde_json::to_string(&mv(0, Some("v1"), "v2", SEEN)).expect("json");
        let copies = (READ_CAP as usize / line.len()) + 50;
        let body = format!("{line}\n").repeat(copies);
        crate::private::open_append(&path)
            .and_then(|mut f| f.write_all(body.as_bytes()))
            .expect("write");
        h.record(mv(1, Some("v2"), "v3", "ana")).expect("record");
        let mut again = TagHistory::new(path, "production");
        again.load().expect("load");
        assert_eq!(again.holder("support-bot"), Some("v3"));
        assert_eq!(again.moves["support-bot"].len(), KEPT);
    }
}
