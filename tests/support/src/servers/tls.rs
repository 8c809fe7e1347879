//! Real Prometheus and Alertmanager serving TLS (`--web.config.file`, the exporter toolkit's
//! web config), from a private certificate authority made for the test run: what an
//! enterprise runs behind its internal CA, optionally with mutual TLS.

use super::{binary, free_port, temp_dir, ChildGuard};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A private CA and the certificates it signed, as PEM files in `dir`.
pub struct Pki {
    pub dir: PathBuf,
    pub ca: PathBuf,
    /// A second CA that signed nothing here: trusting it must not be enough.
    pub other_ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// The server certificate's names: 127.0.0.1 and this DNS name.
    pub server_name: &'static str,
}

fn ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("CA certificate");
    (params, key, cert.pem())
}

impl Pki {
    pub fn generate(name: &str) -> Pki {
        let dir = temp_dir(&format!("pki-{name}"));
        let write = |file: &str, pem: &str| {
            let path = dir.join(file);
            std::fs::write(&path, pem).expect("write PEM");
            // Keys are held to the same rule as token files: owner only.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            path
        };
        let (ca_params, ca_key, ca_pem) = ca("oncall-cockpit test CA");
        let (_, _, other_pem) = ca("some other CA");
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let server_name = "prometheus.internal.example";
        let mut server =
            CertificateParams::new(vec!["127.0.0.1".to_string(), server_name.to_string()])
                .expect("server params");
        server
            .distinguished_name
            .push(DnType::CommonName, server_name);
        let server_key = KeyPair::generate().expect("server key");
        let server_cert = server.signed_by(&server_key, &issuer).expect("server cert");
        let mut client = CertificateParams::new(Vec::<String>::new()).expect("client params");
        client
            .distinguished_name
            .push(DnType::CommonName, "oncall-cockpit");
        let client_key = KeyPair::generate().expect("client key");
        let client_cert = client.signed_by(&client_key, &issuer).expect("client cert");
        Pki {
            ca: write("ca.crt", &ca_pem),
            other_ca: write("other-ca.crt", &other_pem),
            server_cert: write("server.crt", &server_cert.pem()),
            server_key: write("server.key", &server_key.serialize_pem()),
            client_cert: write("client.crt", &client_cert.pem()),
            client_key: write("client.key", &client_key.serialize_pem()),
            server_name,
            dir,
        }
    }

    /// The exporter toolkit's web config: TLS with this PKI's server certificate, and client
    /// certificates signed by its CA required when `mutual`.
    fn web_config(&self, mutual: bool) -> String {
        let mut yml = format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            self.server_cert.display(),
            self.server_key.display()
        );
        if mutual {
            yml.push_str(&format!(
                "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
                self.ca.display()
            ));
        }
        yml
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A server speaking HTTPS on 127.0.0.1; stopped when dropped.
pub struct TlsServer {
    /// `https://127.0.0.1:<port>`
    pub url: String,
    pub port: u16,
    guard: ChildGuard,
    dir: PathBuf,
    log: PathBuf,
}

impl TlsServer {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.guard.0.kill();
        let _ = self.guard.0.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub enum Kind {
    Prometheus,
    Alertmanager,
}

/// Starts a real Prometheus or Alertmanager serving TLS from `pki` (mutual TLS when
/// `mutual`), and waits until its TLS listener completes handshakes.
pub fn start(kind: Kind, name: &str, pki: &Pki, mutual: bool) -> TlsServer {
    let dir = temp_dir(&format!("tls-{name}"));
    let web = dir.join("web.yml");
    std::fs::write(&web, pki.web_config(mutual)).expect("write web config");
    let port = free_port();
    let log = dir.join("server.log");
    let out = std::fs::File::create(&log).expect("log file");
    let err = out.try_clone().expect("log file");
    let prometheus = matches!(kind, Kind::Prometheus);
    let mut cmd = match kind {
        Kind::Prometheus => {
            let config = dir.join("prometheus.yml");
            std::fs::write(&config, "scrape_configs: []\n").expect("write prometheus.yml");
            let mut c = Command::new(binary(&["prometheus"], "prometheus"));
            c.arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ));
            c
        }
        Kind::Alertmanager => {
            let config = dir.join("alertmanager.yml");
            std::fs::write(
                &config,
                "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
            )
            .expect("write alertmanager.yml");
            let mut c = Command::new(binary(
                &["prometheus-alertmanager", "alertmanager"],
                "prometheus-alertmanager",
            ));
            c.arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.path={}", dir.join("data").display()))
                .arg("--cluster.listen-address=");
            c
        }
    };
    let child = cmd
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--web.config.file={}", web.display()))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("start server");
    let mut server = TlsServer {
        url: format!("https://127.0.0.1:{port}"),
        port,
        guard: ChildGuard(child),
        dir,
        log,
    };
    wait_listening(&mut server);
    if prometheus {
        // Listening is not ready: until its storage is up Prometheus answers queries 503.
        wait_logged(&mut server, "Server is ready to receive web requests");
    }
    server
}

/// Waits until the server's log holds `line`.
fn wait_logged(server: &mut TlsServer, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.log().contains(line) {
        if let Ok(Some(status)) = server.guard.0.try_wait() {
            panic!("server exited early ({status}):\n{}", server.log());
        }
        assert!(
            Instant::now() < deadline,
            "{} not ready after 30 s:\n{}",
            server.url,
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the port accepts connections (the TLS handshake itself is the test's).
fn wait_listening(server: &mut TlsServer) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = server.guard.0.try_wait() {
            panic!("server exited early ({status}):\n{}", server.log());
        }
        if std::net::TcpStream::connect(("127.0.0.1", server.port)).is_ok() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} not listening after 30 s:\n{}",
            server.url,
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
