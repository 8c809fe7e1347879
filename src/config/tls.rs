//! TLS as companies run it, per source: a private CA (`ca_file`) besides the host's trust
//! store and the bundled roots, and a client certificate for mutual TLS (`client_cert` +
//! `client_key`, the key held to the same owner-only rule as token files). There is no
//! setting to skip verification: a cockpit that trusts anything shows whatever an attacker
//! on the path wants shown.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The most of a PEM file read: a bundle of a few hundred CAs is well under it.
const MAX_PEM_BYTES: u64 = 1 << 20;

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the CA certificate(s) that signed the server's certificate.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM file of the cockpit's client certificate (mutual TLS), with `client_key`.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// PEM file of the client certificate's private key; must be readable by its owner only.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// The name the server's certificate is checked against, sent as SNI and `Host`, when
    /// the url names something else: an address, a tunnel's `localhost`, or a TLS
    /// passthrough proxy that routes by SNI. The connection still goes to the url's host.
    #[serde(default)]
    pub server_name: Option<String>,
}

/// The certificates and key, read and checked, for the HTTP client.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsMaterial {
    pub ca_pem: Option<Vec<u8>>,
    /// Certificate chain then private key, PEM.
    pub identity_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for TlsMaterial {
    // The key never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("ca", &self.ca_pem.is_some())
            .field("client_identity", &self.identity_pem.is_some())
            .finish()
    }
}

impl TlsConfig {
    /// Reads and checks the files the config names. Each error says which setting and
    /// which file.
    pub fn load(&self) -> Result<TlsMaterial, String> {
        if let Some(name) = &self.server_name {
            check_server_name(name)?;
        }
        let ca_pem = match &self.ca_file {
            Some(path) => Some(read_pem(path, "tls.ca_file", "CERTIFICATE")?),
            None => None,
        };
        let identity_pem = match (&self.client_cert, &self.client_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => {
                crate::config::secret::check_private(key)
                    .map_err(|e| format!("tls.client_key: {e}"))?;
                let mut pem = read_pem(cert, "tls.client_cert", "CERTIFICATE")?;
                pem.push(b'\n');
                pem.extend(read_pem(key, "tls.client_key", "PRIVATE KEY")?);
                Some(pem)
            }
            (Some(_), None) => return Err("tls: client_cert needs client_key".into()),
            (None, Some(_)) => return Err("tls: client_key needs client_cert".into()),
        };
        Ok(TlsMaterial {
            ca_pem,
            identity_pem,
        })
    }
}

/// A DNS name a certificate can carry: letters, digits, `-` and dots, no scheme or port.
fn check_server_name(name: &str) -> Result<(), String> {
    let labels_ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if labels_ok {
        Ok(())
    } else {
        Err(format!(
            "tls.server_name: {name:?} is not a DNS name (give the name alone, as the \
             certificate carries it: no scheme, port or path)"
        ))
    }
}

/// A PEM file holding at least one block whose label ends in `label` ("CERTIFICATE",
/// "PRIVATE KEY" for PKCS#8, RSA and EC keys alike).
fn read_pem(path: &Path, setting: &str, label: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .map_err(|e| format!("{setting}: cannot read {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{setting}: cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(format!(
            "{setting}: {} is over 1 MiB: not a PEM file",
            path.display()
        ));
    }
    let text = String::from_utf8_lossy(&bytes);
    let found = text
        .lines()
        .any(|l| l.starts_with("-----BEGIN ") && l.trim_end().ends_with(&format!("{label}-----")));
    if !found {
        return Err(format!(
            "{setting}: {} holds no PEM {label}",
            path.display()
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn file(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        p
    }

    #[test]
    fn each_mistake_names_its_setting() {
        let dir = std::env::temp_dir().join(format!("oc-tls-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let cert = file(
            &dir,
            "c.crt",
            "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
            0o644,
        );
        let key = file(
            &dir,
            "c.key",
            "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n",
            0o644,
        );
        let not_pem = file(&dir, "x.txt", "hello", 0o644);
        let load = |c: TlsConfig| c.load().err().unwrap_or_default();
        let err = load(TlsConfig {
            ca_file: Some(not_pem.clone()),
            ..Default::default()
        });
        assert!(
            err.starts_with("tls.ca_file:") && err.contains("no PEM CERTIFICATE"),
            "{err}"
        );
        let err = load(TlsConfig {
            client_cert: Some(cert.clone()),
            ..Default::default()
        });
        assert_eq!(err, "tls: client_cert needs client_key");
        let both = TlsConfig {
            client_cert: Some(cert.clone()),
            client_key: Some(key.clone()),
            ..Default::default()
        };
        let err = load(both.clone());
        assert!(
            err.starts_with("tls.client_key:") && err.contains("chmod 600"),
            "{err}"
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let m = both.load().expect("loads");
        assert!(m.identity_pem.is_some() && m.ca_pem.is_none());
        assert_eq!(
            format!("{m:?}"),
            "TlsMaterial { ca: false, client_identity: true }"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn server_name_is_a_bare_dns_name() {
        let with = |name: &str| {
            TlsConfig {
                server_name: Some(name.into()),
                ..Default::default()
            }
            .load()
        };
        assert!(with("prometheus.internal.example").is_ok());
        assert!(with("localhost").is_ok());
        for bad in [
            "",
            "https://prometheus.internal",
            "prometheus.internal:9090",
            "a..b",
            "-lead.example",
            "sp ace",
        ] {
            let err = with(bad).expect_err(bad);
            assert!(err.starts_with("tls.server_name:"), "{bad}: {err}");
        }
    }
}
