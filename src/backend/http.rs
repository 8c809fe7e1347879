//! What every HTTP adapter shares: secrets that never print, auth, a client with a timeout,
//! and one mapping from transport failures to `BackendError`.

use super::BackendError;
use reqwest::{RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

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
fn check_private(path: &std::path::Path) -> Result<(), String> {
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
fn check_private(_path: &std::path::Path) -> Result<(), String> {
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

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Auth {
    #[default]
    None,
    Bearer(Secret),
    Basic {
        user: String,
        password: Secret,
    },
}

impl Auth {
    pub fn from_config(cfg: Option<&AuthConfig>) -> Result<Auth, String> {
        let Some(cfg) = cfg else {
            return Ok(Auth::None);
        };
        match (&cfg.bearer, &cfg.basic_user, &cfg.basic_password) {
            (Some(b), None, None) => Ok(Auth::Bearer(b.load()?)),
            (None, Some(user), Some(p)) => Ok(Auth::Basic {
                user: user.clone(),
                password: p.load()?,
            }),
            (None, None, None) => Ok(Auth::None),
            _ => Err("auth: use either `bearer` or `basic_user` + `basic_password`".into()),
        }
    }

    pub fn apply(&self, req: RequestBuilder) -> RequestBuilder {
        match self {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t.expose()),
            Auth::Basic { user, password } => req.basic_auth(user, Some(password.expose())),
        }
    }
}

pub fn client(timeout: Duration) -> Result<reqwest::Client, BackendError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("oncall-cockpit/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| BackendError::Unreachable(format!("HTTP client: {e}")))
}

/// Transport failures, without the URL's query string (it may carry a token in some setups).
pub fn transport_error(e: reqwest::Error, timeout: Duration) -> BackendError {
    if e.is_timeout() {
        BackendError::Timeout(timeout.as_secs().max(1))
    } else if e.is_connect() {
        BackendError::Unreachable(match e.url() {
            Some(u) => format!("{}://{}", u.scheme(), u.authority()),
            None => "connection failed".into(),
        })
    } else {
        BackendError::Unreachable(e.without_url().to_string())
    }
}

/// At most this much of an error body goes into a message: enough to read, not a page of HTML.
const BODY_EXCERPT: usize = 200;

pub fn excerpt(body: &str) -> String {
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > BODY_EXCERPT {
        let cut: String = flat.chars().take(BODY_EXCERPT).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

/// Sends, maps non-2xx to `Http` with a body excerpt, and decodes JSON to `T`.
pub async fn send_json<T: DeserializeOwned>(
    req: RequestBuilder,
    timeout: Duration,
) -> Result<T, BackendError> {
    let resp = send(req, timeout).await?;
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| transport_error(e, timeout))?;
    decode_json(&bytes)
}

/// A 2xx body as `T`; anything else is `Malformed`.
pub fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, BackendError> {
    serde_json::from_slice(body).map_err(|e| BackendError::Malformed(e.to_string()))
}

/// Sends and maps non-2xx responses to `Http` errors.
pub async fn send(req: RequestBuilder, timeout: Duration) -> Result<Response, BackendError> {
    let resp = req.send().await.map_err(|e| transport_error(e, timeout))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    Err(BackendError::Http {
        status: status.as_u16(),
        message: excerpt(&body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret("hunter2".into());
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let auth = Auth::Bearer(s);
        assert!(!format!("{auth:?}").contains("hunter2"));
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

    #[test]
    fn excerpts_are_short_and_flat() {
        assert_eq!(excerpt("a\n  b"), "a b");
        assert_eq!(excerpt(&"x".repeat(500)).chars().count(), BODY_EXCERPT + 1);
    }
}
