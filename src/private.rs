//! Files only their owner can read. The audit log names who pulled which kill switch, the log
//! and postmortems quote incident details and backend errors: on a bastion host shared by
//! many engineers, a file that follows a 022 umask is a leak. Everything the cockpit writes
//! goes through here, so its mode never depends on the umask it was started with.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Directories the cockpit writes into: owner only.
pub const DIR_MODE: u32 = 0o700;
/// Files the cockpit writes: owner read and write only.
pub const FILE_MODE: u32 = 0o600;

/// Characters of an id kept in a file or folder name; the rest become `_`.
const NAME_CHARS: usize = 80;

/// An id from outside (a PagerDuty id, an Alertmanager fingerprint, a span id) as one path
/// component: only letters, digits, `-` and `_`, so it can neither climb out of its folder
/// nor hide as a dot file, and short enough for any file system's name limit.
pub fn file_component(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(NAME_CHARS)
        .collect();
    if safe.is_empty() {
        "incident".to_string()
    } else {
        safe
    }
}

/// Creates `dir` (and any missing parent) as 0700. An existing directory is left as it is:
/// changing a directory the user chose is theirs to do; [`exposure`] reports it instead.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Opens `path` for appending, creating it 0600 (and its directory 0700) when missing.
pub fn open_append(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_dir(dir)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(FILE_MODE)
        .open(path)
}

/// What is wrong with the privacy of an existing `path`, with the command that fixes it;
/// `None` when it is private or does not exist. Group or others able to read or write it,
/// or another user owning it, are each a problem.
pub fn exposure(path: &Path) -> Option<String> {
    let meta = fs::symlink_metadata(path).ok()?;
    let mode = meta.permissions().mode() & 0o777;
    // SAFETY: getuid has no preconditions and cannot fail.
    let me = unsafe { libc::getuid() };
    if meta.uid() != me {
        return Some(format!(
            "{} belongs to another user (uid {}): anyone who controls it can read what the \
             cockpit writes; use a --data-dir of your own",
            path.display(),
            meta.uid()
        ));
    }
    let wanted = if meta.is_dir() { DIR_MODE } else { FILE_MODE };
    if mode & 0o077 == 0 {
        return None;
    }
    let who = match (mode & 0o070 != 0, mode & 0o007 != 0) {
        (true, true) => "its group and every user",
        (true, false) => "its group",
        _ => "every user",
    };
    Some(format!(
        "{} can be read or written by {who} on this machine (mode {mode:03o}): chmod {wanted:o} {}",
        path.display(),
        path.display()
    ))
}

/// The privacy problems of the data directory and what the cockpit keeps in it, for the
/// start-up warnings and `check-config`.
pub fn data_dir_exposure(data_dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = exposure(data_dir).into_iter().collect();
    let entries = ["audit.jsonl", "cockpit.log", "postmortems"];
    found.extend(entries.iter().filter_map(|e| exposure(&data_dir.join(e))));
    if let Ok(dir) = fs::read_dir(data_dir.join("postmortems")) {
        let mut exposed: Vec<String> = dir
            .flatten()
            .filter(|e| exposure(&e.path()).is_some())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if !exposed.is_empty() {
            exposed.sort();
            let n = exposed.len();
            found.push(format!(
                "{n} postmortem{} in {} readable by others ({}…): chmod 600 {}/*",
                if n == 1 { "" } else { "s" },
                data_dir.join("postmortems").display(),
                exposed[0],
                data_dir.join("postmortems").display()
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_one_safe_path_component() {
        assert_eq!(file_component("../../etc/passwd"), "______etc_passwd");
        assert_eq!(file_component(".."), "__");
        assert_eq!(file_component(""), "incident");
        assert_eq!(file_component("PD-Q1W2"), "PD-Q1W2");
        assert_eq!(file_component(&"x".repeat(200)).len(), 80);
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("oncall-private-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn new_dirs_and_files_are_owner_only() {
        let d = scratch("new");
        let f = d.join("a/b/audit.jsonl");
        drop(open_append(&f).expect("open"));
        assert_eq!(mode(&d), DIR_MODE);
        assert_eq!(mode(&d.join("a/b")), DIR_MODE);
        assert_eq!(mode(&f), FILE_MODE);
        assert_eq!(data_dir_exposure(&d.join("a/b")), Vec::<String>::new());
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn exposed_dir_and_file_are_reported_with_their_fix() {
        let d = scratch("exposed");
        create_dir(&d).expect("mkdir");
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).expect("chmod");
        let log = d.join("cockpit.log");
        fs::write(&log, "x").expect("write");
        fs::set_permissions(&log, fs::Permissions::from_mode(0o664)).expect("chmod");
        let found = data_dir_exposure(&d);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].contains("every user")
                && found[0].ends_with(&format!("chmod 700 {}", d.display()))
        );
        assert!(found[1].contains("its group and every user") && found[1].contains("mode 664"));
        assert!(found[1].ends_with(&format!("chmod 600 {}", log.display())));
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn missing_paths_are_not_problems() {
        assert_eq!(exposure(Path::new("/nonexistent/oncall-cockpit")), None);
    }
}
