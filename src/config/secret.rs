//! Secrets and the auth that uses them, as config names them: an environment variable or an
//! owner-only file, never argv. Read only when a source starts; a `Secret` never prints.

use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;

/// A token or password. Debug and Display never show it, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where a secret comes from: an environment variable or a file only readable by its owner.
/// Never the command line, where `ps` shows it to everyone on the bastion.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    #[serde(default)]
    pub env: Option<String>,
    #[serde(default)]
    pub file: Option<PathBuf>,
}

impl SecretSpec {
    /// What is wrong with the spec itself, before reading anything: exactly one of `env` and
    /// `file`, so nobody wonders which one is used.
    pub fn check(&self) -> Result<(), String> {
        match (&self.env, &self.file) {
            (Some(_), None) | (None, Some(_)) => Ok(()),
            (None, None) => Err("a secret needs `env` or `file`".into()),
            (Some(_), Some(_)) => Err("a secret takes `env` or `file`, not both".into()),
        }
    }

    pub fn load(&self) -> Result<Secret, String> {
        if let Some(var) = &self.env {
            return match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => Ok(Secret(v.trim().to_string())),
                _ => Err(format!("environment variable {var} is not set")),
            };
        }
        let Some(path) = &self.file else {
            return Err("secret needs `env` or `file`".into());
        };
        check_private(path)?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let value = text.trim();
        if value.is_empty() {
            return Err(format!("{} is empty", path.display()));
        }
        Ok(Secret(value.to_string()))
    }
}

#[cfg(unix)]
pub(crate) fn check_private(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} is readable by others (mode {mode:o}); run chmod 600 on it",
            path.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn check_private(_path: &std::path::Path) -> Result<(), String> {
    Ok(())
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(default)]
    pub bearer: Option<SecretSpec>,
    #[serde(default)]
    pub basic_user: Option<String>,
    #[serde(default)]
    pub basic_password: Option<SecretSpec>,
}

/// The secrets an `auth` table names, each with where it is written.
pub fn auth_secrets(auth: Option<&AuthConfig>) -> Vec<(String, &SecretSpec)> {
    let Some(a) = auth else { return Vec::new() };
    a.bearer
        .iter()
        .map(|b| ("auth.bearer".to_string(), b))
        .chain(
            a.basic_password
                .iter()
                .map(|p| ("auth.basic_password".to_string(), p)),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret("hunter2".into());
        assert_eq!(format!("{s:?}"), "Secret(***)");
    }

    #[test]
    fn token_files_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("oc-secret-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("token");
        std::fs::write(&path, "abc\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let spec = SecretSpec {
            env: None,
            file: Some(path.clone()),
        };
        let err = spec.load().err().unwrap_or_default();
        assert!(err.contains("readable by others (mode 644)"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(
            spec.load().map(|s| s.expose().to_string()),
            Ok("abc".into())
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_env_is_named() {
        let spec = SecretSpec {
            env: Some("OC_TEST_SURELY_UNSET_VAR".into()),
            file: None,
        };
        assert_eq!(
            spec.load().err(),
            Some("environment variable OC_TEST_SURELY_UNSET_VAR is not set".into())
        );
    }
}
