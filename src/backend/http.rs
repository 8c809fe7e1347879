//! What every HTTP adapter shares: auth (from the secrets config/secret.rs reads), a client with a timeout,
//! replies read under a size cap, and one mapping from transport failures to `BackendError`.

use super::BackendError;
use crate::config::secret::{AuthConfig, Secret};
use crate::config::tls::TlsConfig;
use reqwest::{RequestBuilder, Response};
use serde::de::DeserializeOwned;
use std::time::Duration;

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
    /// What `from_config` would refuse in the config itself, without reading any secret.
    pub fn check(cfg: Option<&AuthConfig>) -> Result<(), String> {
        let Some(cfg) = cfg else {
            return Ok(());
        };
        match (&cfg.bearer, &cfg.basic_user, &cfg.basic_password) {
            (Some(b), None, None) => b.check().map_err(|e| format!("auth: bearer: {e}")),
            (None, Some(_), Some(p)) => p.check().map_err(|e| format!("auth: basic_password: {e}")),
            (None, None, None) => Ok(()),
            _ => Err("auth: use either `bearer` or `basic_user` + `basic_password`".into()),
        }
    }

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

/// An HTTP client for one source: its timeout, and its `tls` table (if any) on top of the
/// bundled roots and the host's trust store. The table's files are read and checked here, so
/// a wrong path fails at start with the setting's name.
///
/// With `tls.server_name`, requests to the source's url host are sent to that host's
/// address but name `server_name` (SNI, certificate check, `Host`), as curl's `--connect-to`
/// does: the way through a TLS passthrough proxy, a tunnel, or a bare address.
#[derive(Clone, Debug)]
pub struct Client {
    inner: reqwest::Client,
    rename: Option<Rename>,
}

/// Requests to `host` go to `host`'s address under `server_name`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rename {
    host: String,
    server_name: String,
}

impl Client {
    /// `url` is the source's url: the host `tls.server_name` stands in for.
    pub fn new(timeout: Duration, tls: Option<&TlsConfig>, url: &str) -> Result<Client, String> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("oncall-cockpit/", env!("CARGO_PKG_VERSION")));
        let mut rename = None;
        if let Some(tls_cfg) = tls {
            let tls = tls_cfg.load()?;
            if let Some(pem) = &tls.ca_pem {
                let certs = reqwest::Certificate::from_pem_bundle(pem)
                    .map_err(|e| format!("tls.ca_file: not a PEM certificate bundle ({e})"))?;
                for cert in certs {
                    builder = builder.add_root_certificate(cert);
                }
            }
            if let Some(pem) = &tls.identity_pem {
                let identity = reqwest::Identity::from_pem(pem).map_err(|e| {
                    format!("tls.client_cert / tls.client_key: not a certificate and its key ({e})")
                })?;
                builder = builder.identity(identity);
            }
            if let Some(server_name) = &tls_cfg.server_name {
                let host = reqwest::Url::parse(url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
                    .ok_or_else(|| {
                        format!("tls.server_name needs a url with a host, not {url:?}")
                    })?;
                let r = Rename {
                    host,
                    server_name: server_name.to_ascii_lowercase(),
                };
                builder = builder.dns_resolver(std::sync::Arc::new(r.clone()));
                rename = Some(r);
            }
        }
        let inner = builder.build().map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Client { inner, rename })
    }

    pub fn request(&self, method: reqwest::Method, url: impl AsRef<str>) -> RequestBuilder {
        let url = url.as_ref();
        match (&self.rename, reqwest::Url::parse(url)) {
            (Some(r), Ok(mut u))
                if u.host_str().map(str::to_ascii_lowercase) == Some(r.host.clone()) =>
            {
                // A valid DNS name (checked when the config was read) always sets.
                let _ = u.set_host(Some(&r.server_name));
                self.inner.request(method, u)
            }
            // An unparsable url is reqwest's to report, when the request is sent.
            _ => self.inner.request(method, url),
        }
    }

    pub fn get(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(reqwest::Method::GET, url)
    }

    pub fn post(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(reqwest::Method::POST, url)
    }
}

impl reqwest::dns::Resolve for Rename {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = if name.as_str().eq_ignore_ascii_case(&self.server_name) {
            self.host.clone()
        } else {
            name.as_str().to_string()
        };
        Box::pin(async move {
            // The port is the url's: reqwest sets it on every address returned.
            let addrs = tokio::net::lookup_host((host.trim_matches(['[', ']']), 0)).await?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.collect::<Vec<_>>().into_iter());
            Ok(addrs)
        })
    }
}

/// What went wrong in a TLS handshake, in the words a responder can act on, with the
/// setting that fixes it; `None` when the failure was not TLS.
fn tls_failure(e: &reqwest::Error) -> Option<String> {
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        chain.push_str(&s.to_string());
        chain.push(' ');
        source = s.source();
    }
    let host = e
        .url()
        .and_then(|u| u.host_str())
        .unwrap_or("the server")
        .to_string();
    if chain.contains("UnknownIssuer") || chain.contains("unknown issuer") {
        Some(format!(
            "TLS: {host}'s certificate is signed by a CA this machine does not trust: name the \
             CA's certificate in `tls = {{ ca_file = \"…\" }}` or install it in the system store"
        ))
    } else if chain.contains("NotValidForName") || chain.contains("not valid for name") {
        Some(format!(
            "TLS: {host}'s certificate is not valid for the name {host}: use a url with a name \
             the certificate carries, or set `tls = {{ server_name = \"…\" }}` to one"
        ))
    } else if chain.contains("CertificateRequired")
        || chain.contains("certificate required")
        || chain.contains("BadCertificate")
        || chain.contains("bad certificate")
    {
        Some(format!(
            "TLS: {host} requires a client certificate it trusts: set `tls = {{ client_cert = \"…\", \
             client_key = \"…\" }}`"
        ))
    } else if chain.contains("invalid peer certificate") || chain.contains("HandshakeFailure") {
        Some(format!(
            "TLS handshake with {host} failed: {}",
            chain.trim()
        ))
    } else {
        None
    }
}

/// `url` as an http(s) base URL, or why not.
pub fn check_url(url: &str) -> Result<reqwest::Url, String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(u),
        Ok(u) => Err(format!("url {url:?} is {}://, not http(s)://", u.scheme())),
        Err(e) => Err(format!("url {url:?} is not an http(s) URL ({e})")),
    }
}

/// Transport failures, without the URL's query string (it may carry a token in some setups).
pub fn transport_error(e: reqwest::Error, timeout: Duration) -> BackendError {
    if e.is_timeout() {
        BackendError::Timeout(timeout.as_secs().max(1))
    } else if let Some(why) = tls_failure(&e) {
        BackendError::Unreachable(why)
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

/// The most of one reply a source reads (`max_reply_mib`). A backend that answers with
/// gigabytes (a proxy loop, a runaway query, an attacker) costs the cockpit at most this much
/// memory: the body is read chunk by chunk and abandoned once it passes the cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyCap(u64);

impl ReplyCap {
    pub const fn mib(mib: u64) -> ReplyCap {
        ReplyCap(mib.saturating_mul(1 << 20))
    }

    pub const fn bytes(self) -> u64 {
        self.0
    }
}

/// How much of an error body is read: enough for the excerpt and a JSON error envelope.
const ERROR_BODY_CAP: u64 = 64 << 10;

/// The whole body, or `TooLarge` as soon as it is known to pass `cap`: at once when the
/// server announces its length, else when the bytes read so far pass it. Never holds more
/// than the cap, and preallocates only what the server announced within it.
pub async fn read_body(
    mut resp: Response,
    cap: ReplyCap,
    timeout: Duration,
) -> Result<Vec<u8>, BackendError> {
    let announced = resp.content_length();
    if let Some(len) = announced.filter(|&len| len > cap.bytes()) {
        return Err(BackendError::TooLarge {
            size: Some(len),
            cap: cap.bytes(),
        });
    }
    let mut body = Vec::with_capacity(announced.unwrap_or(0) as usize);
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| transport_error(e, timeout))?
    {
        if (body.len() + chunk.len()) as u64 > cap.bytes() {
            return Err(BackendError::TooLarge {
                size: None,
                cap: cap.bytes(),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The start of an error body, for a message: a failing backend's page of HTML (or endless
/// stream) is cut, not read whole.
pub async fn read_error_body(mut resp: Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = (ERROR_BODY_CAP as usize).saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() as u64 >= ERROR_BODY_CAP {
            break;
        }
    }
    body
}

/// Sends, maps non-2xx to `Http` with a body excerpt, and decodes JSON to `T`.
pub async fn send_json<T: DeserializeOwned>(
    req: RequestBuilder,
    timeout: Duration,
    cap: ReplyCap,
) -> Result<T, BackendError> {
    let resp = send(req, timeout).await?;
    let body = read_body(resp, cap, timeout).await?;
    decode_json(&body)
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
    let body = read_error_body(resp).await;
    Err(BackendError::Http {
        status: status.as_u16(),
        message: excerpt(&String::from_utf8_lossy(&body)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::dns::Resolve;

    fn renaming() -> Client {
        let tls = TlsConfig {
            server_name: Some("Prometheus.Internal.Example".into()),
            ..Default::default()
        };
        Client::new(
            Duration::from_secs(5),
            Some(&tls),
            "https://127.0.0.1:9443/prom",
        )
        .expect("client")
    }

    #[test]
    fn server_name_stands_in_for_the_url_host_only() {
        let client = renaming();
        let req = client
            .get("https://127.0.0.1:9443/prom/api/v1/query?x=1")
            .build()
            .expect("request");
        assert_eq!(
            req.url().as_str(),
            "https://prometheus.internal.example:9443/prom/api/v1/query?x=1",
            "the port, path and query stay; only the name changes"
        );
        let other = client.get("https://10.0.0.7/x").build().expect("request");
        assert_eq!(other.url().host_str(), Some("10.0.0.7"));
        let plain = Client::new(Duration::from_secs(5), None, "https://127.0.0.1:9443")
            .expect("client")
            .get("https://127.0.0.1:9443/x")
            .build()
            .expect("request");
        assert_eq!(plain.url().host_str(), Some("127.0.0.1"));
    }

    #[tokio::test]
    async fn server_name_resolves_to_the_url_host() {
        let rename = Rename {
            host: "127.0.0.1".into(),
            server_name: "prometheus.internal.example".into(),
        };
        let name = "prometheus.internal.example".parse().expect("name");
        let addrs: Vec<_> = rename.resolve(name).await.expect("resolves").collect();
        assert_eq!(addrs, vec!["127.0.0.1:0".parse().expect("addr")]);
        let v6 = Rename {
            host: "[::1]".into(),
            ..rename
        };
        let name = "prometheus.internal.example".parse().expect("name");
        let addrs: Vec<_> = v6.resolve(name).await.expect("resolves").collect();
        assert_eq!(addrs, vec!["[::1]:0".parse().expect("addr")]);
    }

    #[test]
    fn server_name_needs_a_url_with_a_host() {
        let tls = TlsConfig {
            server_name: Some("x.example".into()),
            ..Default::default()
        };
        let err =
            Client::new(Duration::from_secs(5), Some(&tls), "not a url").expect_err("no host");
        assert!(err.contains("tls.server_name"), "{err}");
    }

    #[test]
    fn excerpts_are_short_and_flat() {
        assert_eq!(excerpt("a\n  b"), "a b");
        assert_eq!(excerpt(&"x".repeat(500)).chars().count(), BODY_EXCERPT + 1);
    }
}
