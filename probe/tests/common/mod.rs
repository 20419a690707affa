//! Starting the whole system from its real binaries: `mumu-server` on SQLite with in-process
//! presence, `mumu-agent` on the test picture, an owner who paired it over REST. The binaries
//! come from the same target directory as the tests (`cargo test --workspace --all-targets`
//! builds them); every process is killed when its handle drops.

#![allow(dead_code)]

pub mod bench;
pub mod browser;
pub mod cluster;
pub mod nat_lab;
pub mod proc;
pub mod push;
pub mod shipped_nginx;

use mumu_probe::watch::{Summary, WatchError, WatchOptions, watch};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "correct horse battery";

/// A child process killed when dropped.
pub struct Running(pub Child);

impl Running {
    /// Asks it to stop as systemd would (SIGTERM) and waits.
    pub fn terminate(mut self) {
        self.ask_to_stop();
    }

    fn ask_to_stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// A process whose own children outlive a SIGKILL of it, as nginx's workers do (holding its
/// sockets and whatever descriptors it inherited): dropped, it is asked to stop (SIGTERM), so it
/// takes them down, and waited for.
pub struct Terminated(pub Running);

impl Drop for Terminated {
    fn drop(&mut self) {
        self.0.ask_to_stop();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The simulator's bouncing ball unless `extra` names a picture: the suites' byte and rate
/// figures were set on it (the simulator's own default is a still picture, so that it makes no
/// motion events).
pub fn moving_picture<S: AsRef<str>>(extra: &[S]) -> &'static [&'static str] {
    if extra.iter().any(|a| a.as_ref() == "--test-pattern") {
        &[]
    } else {
        &["--test-pattern", "ball"]
    }
}

/// A free port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The target directory the tests were built in (`<target>/<profile>/deps/<test>`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows where it is");
    exe.ancestors()
        .nth(3)
        .expect("<target>/<profile>/deps/<test>")
        .to_owned()
}

/// A binary of this workspace, beside the test's own build output.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows where it is");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test --workspace --all-targets`",
        path.display()
    );
    path
}

pub async fn wait_until<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The running system.
pub struct System {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub base: String,
    pub server: Option<Running>,
    pub agent: Option<Running>,
    /// Flags the agent gets besides the defaults.
    pub agent_args: Vec<String>,
    /// Variables the server gets besides the defaults.
    pub server_env: Vec<(String, String)>,
}

impl System {
    /// Server, agent (640x480 test picture), and an owner `owner` who paired the agent.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// [`System::start`], with more flags for the agent.
    pub async fn start_with(agent_args: &[&str]) -> Self {
        Self::start_full(agent_args, &[], async |_| {}).await
    }

    /// [`System::start`], with more flags for the agent, more variables for the server, and a
    /// look at the system before the owner pairs the agent.
    pub async fn start_full(
        agent_args: &[&str],
        server_env: &[(&str, &str)],
        before_pairing: impl AsyncFnOnce(&Path),
    ) -> Self {
        let (system, code) = Self::start_unpaired(agent_args, server_env, before_pairing).await;
        let auth = mumu_probe::rest::register(&system.base, "owner", "owner@example.com", PASSWORD)
            .await
            .expect("registered");
        pair(&system.base, &auth.access_token, &code, "Simulator").await;
        system
    }

    /// Registers `username` with an invitation the owner (the first account) makes, as a
    /// household member joins; returns their login.
    pub async fn register_invited(&self, username: &str) -> mumu_shared::api::AuthResponse {
        let owner = mumu_probe::rest::login(&self.base, "owner", PASSWORD)
            .await
            .expect("the owner logs in");
        let invitation = mumu_probe::rest::invite(&self.base, &owner.access_token)
            .await
            .expect("the owner invites");
        let email = format!("{username}@example.com");
        mumu_probe::rest::register_invited(
            &self.base,
            username,
            &email,
            PASSWORD,
            Some(&invitation.code),
        )
        .await
        .expect("registered with the invitation")
    }

    /// Server and agent, nobody registered: the system and the pairing code the agent shows.
    pub async fn start_unpaired(
        agent_args: &[&str],
        server_env: &[(&str, &str)],
        before_pairing: impl AsyncFnOnce(&Path),
    ) -> (Self, String) {
        let agent_args: Vec<String> = agent_args.iter().map(|a| a.to_string()).collect();
        let server_env: Vec<(String, String)> = server_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let server = start_server(dir.path(), port, &server_env).await;
        let state = dir.path().join("agent");
        let agent = start_agent(dir.path(), &base, &agent_args);
        before_pairing(&state).await;
        let code = pairing_code(&state).await;
        let system = Self {
            dir,
            port,
            base,
            server: Some(server),
            agent: Some(agent),
            agent_args,
            server_env,
        };
        (system, code)
    }

    /// Watches the first online device for `seconds` after the first frame.
    pub async fn watch(&self, seconds: f64) -> Result<Summary, WatchError> {
        watch_at(&self.base, seconds).await
    }

    /// Watches, and fails the test with the agent's log if the watch fails.
    pub async fn watch_ok(&self, seconds: f64) -> Summary {
        self.watch(seconds).await.unwrap_or_else(|e| {
            panic!(
                "the watch failed: {e}\n--- agent log ---\n{}",
                self.agent_log()
            )
        })
    }

    /// Stops the server with SIGTERM.
    pub fn stop_server(&mut self) {
        if let Some(server) = self.server.take() {
            server.terminate();
        }
    }

    /// Starts the server again on the same port and data.
    pub async fn restart_server(&mut self) {
        self.stop_server();
        self.server = Some(start_server(self.dir.path(), self.port, &self.server_env).await);
    }

    /// Stops the agent with SIGTERM and starts it again with the same identity.
    pub fn restart_agent(&mut self) {
        let new = start_agent(self.dir.path(), &self.base, &self.agent_args);
        self.stop_agent();
        self.agent = Some(new);
    }

    /// Another camera: an agent with its own identity (`name` is its state directory and log),
    /// not paired yet, and the code it shows.
    pub async fn start_another_agent(&self, name: &str) -> (Running, String) {
        let agent = start_named_agent(self.dir.path(), name, &self.base, &self.agent_args);
        (agent, pairing_code(&self.dir.path().join(name)).await)
    }

    /// Stops the agent with SIGTERM, as systemd would.
    pub fn stop_agent(&mut self) {
        if let Some(agent) = self.agent.take() {
            agent.terminate();
        }
    }

    /// The agent's process id.
    pub fn agent_pid(&self) -> u32 {
        self.agent.as_ref().expect("the agent is running").0.id()
    }

    /// What the agent logged, without colours.
    pub fn agent_log(&self) -> String {
        self.log("agent.log")
    }

    /// What the server logged (its log on stdout, then anything on stderr), without colours.
    pub fn server_log(&self) -> String {
        self.log("server.out") + &self.log("server.log")
    }

    fn log(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        let mut plain = String::with_capacity(text.len());
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                plain.push(c);
            }
        }
        plain
    }
}

impl Drop for System {
    /// A failing test shows what the server and the agent said last (their files go with it).
    fn drop(&mut self) {
        if std::thread::panicking() {
            for (name, log) in [("server", self.server_log()), ("agent", self.agent_log())] {
                let lines: Vec<&str> = log.lines().collect();
                let tail = lines[lines.len().saturating_sub(30)..].join("\n");
                eprintln!("--- the last of the {name}'s log ---\n{tail}");
            }
        }
    }
}

/// Watches the first online device of `owner` at `base` for `seconds` after the first frame.
pub async fn watch_at(base: &str, seconds: f64) -> Result<Summary, WatchError> {
    watch(&WatchOptions::new(
        base,
        "owner",
        PASSWORD,
        Duration::from_secs_f64(seconds),
    ))
    .await
}

/// Pairs the camera showing `code` to the user of `token` at `base`, as `name`.
pub async fn pair(base: &str, token: &str, code: &str, name: &str) {
    let paired = reqwest::Client::new()
        .post(format!("{base}/api/devices/pair"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "pairing_code": code, "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        paired.status(),
        201,
        "{}",
        paired.text().await.unwrap_or_default()
    );
}

/// The pairing code the agent keeps in its identity file in `state`, if it has one yet.
pub fn stored_code(state: &Path) -> Option<String> {
    let text = std::fs::read_to_string(state.join("identity.json")).ok()?;
    let identity: serde_json::Value = serde_json::from_str(&text).ok()?;
    identity["pairing_code"].as_str().map(str::to_owned)
}

/// Waits for the agent with state directory `state` to enrol, and returns its pairing code.
pub async fn pairing_code(state: &Path) -> String {
    wait_until(
        "the agent enrolled and showing a code",
        Duration::from_secs(20),
        || stored_code(state),
    )
    .await
}

pub fn log(dir: &Path, name: &str) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
        .unwrap()
}

/// The agent on the test picture (640x480 unless `extra` says otherwise), its identity in
/// `dir/agent`, its log in `dir/agent.log`.
fn start_agent(dir: &Path, base: &str, extra: &[String]) -> Running {
    start_named_agent(dir, "agent", base, extra)
}

/// An agent whose identity is in `dir/<name>` and whose log is `dir/<name>.log`.
pub fn start_named_agent(dir: &Path, name: &str, base: &str, extra: &[String]) -> Running {
    let size: &[&str] = if extra.iter().any(|a| a == "--width") {
        &[]
    } else {
        &["--width", "640", "--height", "480"]
    };
    // A benchmark can measure another build of the agent beside this one's.
    let agent =
        std::env::var_os("MUMU_AGENT_BIN").map_or_else(|| binary("mumu-agent"), PathBuf::from);
    Running(
        Command::new(agent)
            .args(["--simulate", "--server", base])
            .args(size)
            .args(moving_picture(extra))
            .arg("--state-dir")
            .arg(dir.join(name))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log(dir, &format!("{name}.out")))
            .stderr(log(dir, &format!("{name}.log")))
            .spawn()
            .expect("mumu-agent starts"),
    )
}

pub async fn start_server(dir: &Path, port: u16, env: &[(String, String)]) -> Running {
    let server = Running(
        Command::new(binary("mumu-server"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env("MUMU_ENROLL_PER_MIN", "0")
            // Later accounts come through invitations, as in a household (System::register_invited).
            .env("MUMU_OPEN_REGISTRATION", "false")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .stdout(log(dir, "server.out"))
            .stderr(log(dir, "server.log"))
            .spawn()
            .expect("mumu-server starts"),
    );
    wait_until("the server listening", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .await;
    server
}
