//! Several servers behind one address, as a deployment runs them: three `mumu-server`
//! processes on the machine's PostgreSQL (a schema of their own) and on a Redis this harness
//! starts itself on a free port (so a test can kill it and start it again), behind Debian's
//! nginx configured with the files shipped in `docker/nginx/`. Cameras, the probe and the
//! browser reach the servers only through nginx: at its balanced address, or at one of its
//! ports that leads to one server alone (so a test knows which server it talks to).

// The server's tests' helper, included by path: the probe does not depend on the server crate.
#[path = "../../../server/tests/common/postgres.rs"]
mod postgres;

use super::{
    PASSWORD, Running, Terminated, binary, free_port, log, pair, pairing_code, start_named_agent,
    wait_until,
};
use mumu_probe::watch::{Summary, WatchError, WatchOptions, open_socket, watch};
use mumu_shared::DeviceId;
use mumu_shared::api::AuthResponse;
use mumu_shared::signaling::ServerToViewer;
use postgres::fresh_postgres_schema;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many servers the cluster runs.
pub const SERVERS: usize = 3;

/// The running cluster; every process is killed when it drops.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    /// nginx, spreading connections over every server.
    pub base: String,
    /// nginx again, one port per server, each leading to that server alone.
    pinned: Vec<String>,
    ports: Vec<u16>,
    servers: Vec<Option<Running>>,
    env: Vec<(String, String)>,
    redis_port: u16,
    redis: Option<Running>,
    nginx: Terminated,
}

impl Cluster {
    /// Redis, three servers (with `server_env` besides the defaults) and nginx in front.
    pub async fn start(server_env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // nginx's workers run as an unprivileged user when it starts as root: let them in.
        let open = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(dir.path(), open).unwrap();
        let redis_port = free_port();
        let redis = start_redis(dir.path(), redis_port).await;
        let mut env: Vec<(String, String)> = [
            (
                "DATABASE_URL",
                fresh_postgres_schema("cluster", "the several-servers cluster").await,
            ),
            ("REDIS_URL", format!("redis://127.0.0.1:{redis_port}")),
            (
                "JWT_SECRET",
                "cluster-test-jwt-secret-0123456789abcdef".into(),
            ),
            (
                "TURN_SECRET",
                "cluster-test-turn-secret-0123456789abcdef".into(),
            ),
            // One proxy in front: each server takes the client's address from nginx.
            ("MUMU_TRUST_PROXY", "1".into()),
            ("MUMU_ENROLL_PER_MIN", "0".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(
            server_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let ports: Vec<u16> = (0..SERVERS).map(|_| free_port()).collect();
        let mut servers = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            servers.push(Some(start_server(dir.path(), i, *port, &env).await));
        }
        let (nginx, base, pinned) = start_nginx(dir.path(), &ports).await;
        Self {
            dir,
            base,
            pinned,
            ports,
            servers,
            env,
            redis_port,
            redis: Some(redis),
            nginx,
        }
    }

    /// nginx's port that leads to server `i` alone.
    pub fn pinned(&self, i: usize) -> &str {
        &self.pinned[i]
    }

    /// Server `i` itself, not through nginx (for `/metrics` and `/readyz`, which a
    /// deployment's monitoring reads from each server).
    pub fn direct(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i])
    }

    /// Kills server `i` with SIGKILL: no goodbye to anyone.
    pub fn kill(&mut self, i: usize) {
        // `Running` drops with `Child::kill`, which is SIGKILL.
        drop(self.servers[i].take());
    }

    /// Starts server `i` again, on its port, as a new process (a new server id).
    pub async fn restart(&mut self, i: usize) {
        self.kill(i);
        self.servers[i] = Some(start_server(self.dir.path(), i, self.ports[i], &self.env).await);
    }

    /// The process id of server `i`.
    pub fn pid(&self, i: usize) -> u32 {
        self.servers[i].as_ref().expect("server running").0.id()
    }

    /// Kills Redis with SIGKILL (it keeps nothing on disk: it comes back empty).
    pub fn kill_redis(&mut self) {
        drop(self.redis.take());
    }

    /// Starts Redis again on its port.
    pub async fn start_redis(&mut self) {
        self.redis = Some(start_redis(self.dir.path(), self.redis_port).await);
    }

    /// A figure from server `i`'s `/metrics` (the first line that starts with `series`).
    pub async fn metric(&self, i: usize, series: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.direct(i)))
            .await
            .expect("metrics answer")
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{series} in server {i}'s metrics"))
    }

    /// Device sockets server `i` holds.
    pub async fn device_sockets(&self, i: usize) -> f64 {
        self.metric(i, "mumu_sockets{kind=\"device\"}").await
    }

    /// The server holding the one camera's socket, once exactly one does.
    pub async fn holder(&self) -> usize {
        for _ in 0..100 {
            let mut holders = Vec::new();
            for i in self.running() {
                if self.device_sockets(i).await > 0.0 {
                    holders.push(i);
                }
            }
            if let [one] = holders[..] {
                return one;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no single server holds the camera within 10 s");
    }

    /// The servers running now.
    pub fn running(&self) -> Vec<usize> {
        (0..SERVERS)
            .filter(|i| self.servers[*i].is_some())
            .collect()
    }

    /// `/readyz` of server `i`: its status code and body.
    pub async fn readyz(&self, i: usize) -> (u16, String) {
        let response = reqwest::get(format!("{}/readyz", self.direct(i)))
            .await
            .expect("readyz answers");
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Registers the owner (`owner`, the harness's password) through nginx.
    pub async fn register_owner(&self) -> AuthResponse {
        mumu_probe::rest::register(&self.base, "owner", "owner@example.com", PASSWORD)
            .await
            .expect("registered")
    }

    /// A camera (state directory and log named `name`) connecting through `via`, paired to
    /// the owner as `name`.
    pub async fn camera(&self, owner: &AuthResponse, name: &str, via: &str) -> Running {
        let agent = start_named_agent(self.dir.path(), name, via, &[]);
        let code = pairing_code(&self.dir.path().join(name)).await;
        pair(&self.base, &owner.access_token, &code, name).await;
        agent
    }

    /// The resident memory of nginx's master and workers, in MiB.
    pub fn nginx_rss_mib(&self) -> f64 {
        let master = self.nginx.0.0.id();
        let workers = std::fs::read_dir("/proc").into_iter().flatten().flatten();
        let children = workers.filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let parent: u32 = stat
                .rsplit(')')
                .next()?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            (parent == master).then_some(pid)
        });
        rss_mib(master) + children.map(rss_mib).sum::<f64>()
    }

    /// What server `i` logged.
    pub fn server_log(&self, i: usize) -> String {
        read(&self.dir.path().join(format!("server{i}.log")))
    }
}

impl Drop for Cluster {
    /// A failing test shows what each server, nginx and the cameras said last.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let Ok(entries) = std::fs::read_dir(self.dir.path()) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "log") {
                let text = read(&path);
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(25)..].join("\n");
                eprintln!("--- the last of {} ---\n{tail}", path.display());
            }
        }
    }
}

/// A process's resident memory, in MiB (NaN once it is gone).
pub fn rss_mib(pid: u32) -> f64 {
    super::proc::Proc(pid).status_mib("VmRSS:")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// `name` on this machine, or where `variable` says.
pub fn program(variable: &str, name: &str) -> PathBuf {
    if let Ok(path) = std::env::var(variable) {
        return path.into();
    }
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let path = Path::new(dir).join(name);
        if path.exists() {
            return path;
        }
    }
    panic!(
        "{name} is needed for the several-servers tests: `apt install {name}` (scripts/test does), or set {variable}"
    );
}

async fn start_redis(dir: &Path, port: u16) -> Running {
    let redis = Running(
        Command::new(program("MUMU_REDIS_SERVER", "redis-server"))
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(log(dir, "redis.log"))
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts"),
    );
    listening("Redis", port).await;
    redis
}

async fn listening(what: &str, port: u16) {
    wait_until(
        &format!("{what} listening on {port}"),
        Duration::from_secs(15),
        || std::net::TcpStream::connect(("127.0.0.1", port)).ok(),
    )
    .await;
}

async fn start_server(dir: &Path, i: usize, port: u16, env: &[(String, String)]) -> Running {
    let server = Running(
        Command::new(binary("mumu-server"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(dir.join(format!("server{i}")))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(log(dir, &format!("server{i}.log")))
            .stderr(log(dir, &format!("server{i}.log")))
            .spawn()
            .expect("mumu-server starts"),
    );
    listening("mumu-server", port).await;
    server
}

/// The repository's `docker/nginx/`, whose files every nginx here includes.
fn shipped_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .join("docker/nginx")
}

/// nginx with the shipped config: one balanced port, and one port per server. Returns it, the
/// balanced address, and the pinned ones.
async fn start_nginx(dir: &Path, ports: &[u16]) -> (Terminated, String, Vec<String>) {
    let shipped = shipped_config();
    let balanced = free_port();
    let pinned: Vec<u16> = ports.iter().map(|_| free_port()).collect();
    let servers = |ports: &[u16]| -> String {
        ports
            .iter()
            .map(|p| format!("        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n"))
            .collect()
    };
    let mut config = format!(
        "worker_processes 1;\n\
         pid {dir}/nginx.pid;\n\
         worker_rlimit_nofile 16384;\n\
         events {{ worker_connections 8192; }}\n\
         http {{\n\
         access_log {dir}/nginx-access.log;\n\
         client_body_temp_path {dir}/nginx-body;\n\
         proxy_temp_path {dir}/nginx-proxy;\n\
         include {shipped}/mumu-http.conf;\n\
         upstream mumu {{\n        least_conn;\n{all}    }}\n\
         server {{ listen 127.0.0.1:{balanced}; set $mumu_backend mumu; include {shipped}/mumu-locations.conf; }}\n",
        dir = dir.display(),
        shipped = shipped.display(),
        all = servers(ports),
    );
    for (i, (port, listen)) in ports.iter().zip(&pinned).enumerate() {
        config.push_str(&format!(
            "upstream mumu_{i} {{\n{one}    }}\n\
             server {{ listen 127.0.0.1:{listen}; set $mumu_backend mumu_{i}; include {shipped}/mumu-locations.conf; }}\n",
            one = servers(&[*port]),
            shipped = shipped.display(),
        ));
    }
    config.push_str("}\n");
    let path = dir.join("nginx.conf");
    std::fs::write(&path, config).unwrap();
    let nginx = Terminated(Running(
        Command::new(program("MUMU_NGINX", "nginx"))
            .arg("-c")
            .arg(&path)
            .arg("-e")
            .arg(dir.join("nginx-error.log"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(log(dir, "nginx-error.log"))
            .spawn()
            .expect("nginx starts"),
    ));
    listening("nginx", balanced).await;
    let url = |port: u16| format!("http://127.0.0.1:{port}");
    (nginx, url(balanced), pinned.into_iter().map(url).collect())
}

/// What a dashboard on a surviving server heard after a kill: when (ms after it), which camera
/// (by name), online or not.
pub type Heard = Arc<Mutex<Vec<(f64, String, bool)>>>;

/// One kill -9 of the server holding the camera, mid-watch, as a viewer on another server
/// lived it.
#[derive(Debug)]
pub struct Kill {
    /// The server killed.
    pub killed: usize,
    /// Kill to the camera's "online" on the dashboard of a third server.
    pub online_ms: f64,
    /// Kill to the viewer's session ending (and why).
    pub ended_ms: f64,
    pub ended: Option<String>,
    /// Kill to the first decoded frame of the watch the viewer starts again once told.
    pub video_ms: f64,
    /// Everything that dashboard hears, as long as this lives.
    pub heard: Heard,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for Kill {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl Cluster {
    /// The owner watches the camera from one server while another holds it; the holder is
    /// killed with SIGKILL; the camera reconnects through nginx, the viewer is told its watch
    /// ended, and watches again as the web app does. Times every step from the kill.
    pub async fn kill_mid_watch(&mut self) -> Kill {
        let killed = self.holder().await;
        let others: Vec<usize> = self
            .running()
            .into_iter()
            .filter(|i| *i != killed)
            .collect();
        let (viewer_at, dashboard_at) = (others[0], others[others.len() - 1]);
        let (mut dashboard, ack) = open_socket(self.pinned(dashboard_at), "owner", PASSWORD)
            .await
            .expect("a dashboard on a surviving server");
        let front = (ack.devices.iter().find(|d| d.name == "front"))
            .expect("the camera named front")
            .device_id
            .clone();
        let viewer_base = self.pinned(viewer_at).to_owned();
        let watch = tokio::spawn(watch_device(viewer_base.clone(), front.clone(), 600.0));
        wait_for_session(self, killed).await;
        tokio::time::sleep(Duration::from_secs(2)).await;

        let start = Instant::now();
        self.kill(killed);
        let since = move || start.elapsed().as_secs_f64() * 1000.0;
        let heard: Heard = Default::default();
        let listener = {
            let heard = heard.clone();
            tokio::spawn(async move {
                while let Ok(envelope) = dashboard.recv().await {
                    if let ServerToViewer::DevicePresence(p) = envelope.message {
                        heard.lock().unwrap().push((since(), p.name, p.online));
                    }
                }
            })
        };
        let summary = tokio::time::timeout(Duration::from_secs(60), watch)
            .await
            .expect("the watch ends within 60 s of the kill")
            .unwrap()
            .expect("the watch played until the kill");
        let ended_ms = since();
        let rewatch_at = since();
        let again = watch_device(viewer_base, front, 1.0)
            .await
            .expect("the camera is watched again through a surviving server");
        let video_ms = rewatch_at + again.first_frame_ms.expect("a first frame");
        let online_ms = wait_until(
            "the camera online again on the dashboard",
            Duration::from_secs(60),
            || {
                heard
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|(_, name, online)| name == "front" && *online)
                    .map(|(ms, _, _)| *ms)
            },
        )
        .await;
        Kill {
            killed,
            online_ms,
            ended_ms,
            ended: summary.ended_early,
            video_ms,
            heard,
            listener,
        }
    }
}

/// Waits until server `i` holds a session.
async fn wait_for_session(cluster: &Cluster, i: usize) {
    for _ in 0..200 {
        if cluster.metric(i, "mumu_sessions_active").await >= 1.0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no session on server {i} within 20 s");
}

/// Watches the owner's first online camera at `base` for `seconds` after the first frame.
pub async fn watch_at(base: String, seconds: f64) -> Result<Summary, WatchError> {
    super::watch_at(&base, seconds).await
}

/// Watches the owner's camera `device` at `base` for `seconds` after the first frame (waiting
/// for it to come online).
pub async fn watch_device(
    base: String,
    device: DeviceId,
    seconds: f64,
) -> Result<Summary, WatchError> {
    let mut options = WatchOptions::new(&base, "owner", PASSWORD, Duration::from_secs_f64(seconds));
    options.device = Some(device);
    watch(&options).await
}
