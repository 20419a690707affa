//! The compose file's nginx as it ships (`docker/nginx/nginx.conf`, and with a certificate
//! `mumu-tls.conf`, which `docker/compose.tls.yaml` mounts), started by Debian's nginx in front
//! of one `mumu-server` on loopback: the container's paths and ports become the test's, nothing
//! else changes.

use super::cluster::program;
use super::{Running, Terminated, free_port, log, wait_until};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// nginx running; it stops when this drops.
pub struct ShippedNginx {
    /// Its plain http port (the container's 80).
    pub http: u16,
    /// Its https port (the container's 443), when started with a certificate.
    pub https: Option<u16>,
    _nginx: Terminated,
}

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .join("docker/nginx")
}

impl ShippedNginx {
    /// nginx in `dir` (its logs, its temporary files, its configuration), in front of the
    /// server on `server_port`; with `certs`, a folder holding `mumu.crt` and `mumu.key` (what
    /// `scripts/lan-cert` makes), https too.
    pub async fn start(dir: &Path, server_port: u16, certs: Option<&Path>) -> Self {
        // nginx's workers run as an unprivileged user when it starts as root: let them in
        // (to `dir`, and through the test's folder that holds it).
        std::fs::create_dir_all(dir).unwrap();
        for folder in [Some(dir), dir.parent()].into_iter().flatten() {
            let open = std::os::unix::fs::PermissionsExt::from_mode(0o755);
            std::fs::set_permissions(folder, open).unwrap();
        }
        let shipped = shipped();
        let (http, https) = (free_port(), certs.map(|_| free_port()));
        let tls_dir = dir.join("tls");
        std::fs::create_dir_all(&tls_dir).unwrap();
        if let (Some(certs), Some(port)) = (certs, https) {
            let tls = std::fs::read_to_string(shipped.join("mumu-tls.conf"))
                .unwrap()
                .replace("listen 443 ssl;", &format!("listen 127.0.0.1:{port} ssl;"))
                .replace("/etc/nginx/certs/", &format!("{}/", certs.display()))
                .replace("/etc/nginx/mumu/", &format!("{}/", shipped.display()));
            std::fs::write(tls_dir.join("mumu-tls.conf"), tls).unwrap();
        }
        let config = std::fs::read_to_string(shipped.join("nginx.conf"))
            .unwrap()
            .replace("/etc/nginx/mumu/tls/", &format!("{}/", tls_dir.display()))
            .replace("/etc/nginx/mumu/", &format!("{}/", shipped.display()))
            .replace(
                "server server:8080",
                &format!("server 127.0.0.1:{server_port}"),
            )
            .replace("listen 80;", &format!("listen 127.0.0.1:{http};"))
            .replace(
                "http {",
                &format!(
                    "http {{\n    access_log {d}/access.log;\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;",
                    d = dir.display()
                ),
            );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, config).unwrap();
        let nginx = program("MUMU_NGINX", "nginx");
        let pid = format!("pid {}/nginx.pid;", dir.display());
        let checked = Command::new(&nginx)
            .args(["-t", "-c"])
            .arg(&path)
            .arg("-e")
            .arg(dir.join("error.log"))
            .args(["-g", &pid])
            .output()
            .unwrap();
        assert!(
            checked.status.success(),
            "nginx -t: {}",
            String::from_utf8_lossy(&checked.stderr)
        );
        let running = Terminated(Running(
            Command::new(&nginx)
                .arg("-c")
                .arg(&path)
                .arg("-e")
                .arg(dir.join("error.log"))
                .args(["-g", &format!("daemon off; {pid}")])
                .stdout(Stdio::null())
                .stderr(log(dir, "nginx.log"))
                .spawn()
                .expect("nginx starts"),
        ));
        for port in std::iter::once(http).chain(https) {
            wait_until("nginx listening", Duration::from_secs(10), || {
                std::net::TcpStream::connect(("127.0.0.1", port)).ok()
            })
            .await;
        }
        Self {
            http,
            https,
            _nginx: running,
        }
    }
}

/// `scripts/lan-cert DIR NAMES...`, the documented way to make a LAN's CA and certificate.
pub fn lan_cert(dir: &Path, names: &[&str]) {
    let script = shipped().join("../../scripts/lan-cert");
    let out = Command::new(script)
        .arg(dir)
        .args(names)
        .output()
        .expect("scripts/lan-cert runs");
    assert!(
        out.status.success(),
        "scripts/lan-cert: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The SHA-256 of a certificate's public key (its SPKI), base64: what Chromium's
/// `--ignore-certificate-errors-spki-list` trusts, as a phone trusts an installed CA.
pub fn spki_sha256(cert: &Path) -> String {
    let script = format!(
        "openssl x509 -pubkey -noout -in '{}' | openssl pkey -pubin -outform der \
         | openssl dgst -sha256 -binary | base64",
        cert.display()
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
