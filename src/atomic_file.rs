//! Replacing a file so that a reader, or a crash, only ever sees the old or the new content:
//! write a temporary file beside it, fsync, rename over, fsync the directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The temporary name is fixed per target so a writer killed mid-way leaves one stale file
/// that the next write reuses, not a growing pile.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    path.with_file_name(format!(".{name}.cockpit-tmp"))
}

/// Replaces a shared file (a flag file the team's tools also write), keeping the mode of the
/// file it replaces: it may be group-writable on purpose.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let keep = fs::metadata(path).ok().map(|m| m.permissions());
    replace(path, bytes, keep)
}

/// Replaces or creates a file only its owner may read (a postmortem quotes incident details),
/// whatever the umask and whatever mode an older copy had.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(
        path,
        bytes,
        Some(fs::Permissions::from_mode(crate::private::FILE_MODE)),
    )
}

fn replace(path: &Path, bytes: &[u8], mode: Option<fs::Permissions>) -> io::Result<()> {
    let tmp = temp_path(path);
    // Created owner-only: the content must never be readable by others, even for the moment
    // before its final mode is set.
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(crate::private::FILE_MODE)
        .open(&tmp)?;
    if let Some(mode) = mode {
        file.set_permissions(mode)?;
    }
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)?;
    // The rename itself is only durable once the directory entry is.
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("cockpit-atomic-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("flags.json");
        write(&path, b"one").unwrap();
        write(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert!(!temp_path(&path).exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn shared_files_keep_their_mode_and_private_ones_become_owner_only() {
        let dir = std::env::temp_dir().join(format!("cockpit-atomic-mode-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let shared = dir.join("flags.json");
        fs::write(&shared, b"old").unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o664)).unwrap();
        write(&shared, b"new").unwrap();
        assert_eq!(
            fs::metadata(&shared).unwrap().permissions().mode() & 0o777,
            0o664
        );
        let private = dir.join("postmortem.md");
        fs::write(&private, b"old").unwrap();
        fs::set_permissions(&private, fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&private, b"new").unwrap();
        assert_eq!(
            fs::metadata(&private).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let fresh = dir.join("fresh.md");
        write_private(&fresh, b"x").unwrap();
        assert_eq!(
            fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
