//! A NAT lab in Linux network namespaces: the internet, two home routers and a LAN behind each,
//! with the real mumu-server, coturn, mumu-agent and viewers started inside.
//!
//! ```text
//!   ns a (camera) 10.1.0.2 ── 10.1.0.1 ns ra (router A) 203.0.113.2 ──┐
//!                                                                    br0 ns pub 203.0.113.1
//!   ns b (viewer) 10.2.0.2 ── 10.2.0.1 ns rb (router B) 203.0.113.3 ──┘  mumu-server :8080,
//!                                                                        coturn :3478
//! ```
//!
//! Each router NATs its LAN with iptables: `MASQUERADE` keeps a LAN port's mapping whatever the
//! destination (endpoint-independent, as most home routers do), `MASQUERADE --random-fully`
//! picks a new port for every destination (symmetric, as carrier-grade NATs do). 203.0.113.0/24
//! is a documentation range: "public" inside the lab, and outside coturn's denied ranges.
//!
//! Every address lives in namespaces the lab made. They, and every process started in them,
//! go when the lab drops; a lab left behind by an interrupted run is swept by the next one.

use super::{PASSWORD, Running, binary, stored_code, wait_until};
use mumu_probe::watch::Summary;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The public address of the server and of coturn.
pub const PUBLIC_IP: &str = "203.0.113.1";
/// The server's port.
pub const SERVER_PORT: u16 = 8080;
/// The TURN secret coturn and the server share (unless a test breaks it on purpose).
pub const TURN_SECRET: &str = "lab-turn-secret-shared-by-both";
const PREFIX: &str = "mumu-lab-";

/// How a router maps its LAN's ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nat {
    /// One public port per LAN port, whatever the destination (plain MASQUERADE).
    EndpointIndependent,
    /// A new public port for every destination (MASQUERADE --random-fully).
    Symmetric,
}

/// The namespaces of one lab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ns {
    /// The internet: the server, coturn, and a viewer "on the open internet".
    Public,
    /// Router A, in front of the camera.
    RouterA,
    /// The camera's LAN.
    Camera,
    /// Router B, in front of the viewer.
    RouterB,
    /// The viewer's LAN.
    Viewer,
}

impl Ns {
    fn suffix(self) -> &'static str {
        match self {
            Ns::Public => "pub",
            Ns::RouterA => "ra",
            Ns::Camera => "a",
            Ns::RouterB => "rb",
            Ns::Viewer => "b",
        }
    }
}

/// One lab: its namespaces, its processes, a directory for their files and logs.
pub struct Lab {
    name: String,
    pub dir: tempfile::TempDir,
    processes: Vec<(String, Running)>,
}

/// Why the lab cannot run here, or `None` when it can.
fn missing_prerequisite() -> Option<String> {
    if rustix::process::geteuid().as_raw() != 0 {
        return Some("network namespaces and iptables need root".into());
    }
    for (program, package) in [
        ("ip", "iproute2"),
        ("iptables", "iptables"),
        ("turnserver", "coturn"),
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Some(format!("`{program}` is missing (Debian package {package})"));
        }
    }
    None
}

/// Runs `program args` and fails the test, with what it printed, if it fails.
fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(
        output.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Removes the namespaces of labs whose test process is gone (a run interrupted before its
/// labs could drop), killing what still runs in them.
fn sweep_abandoned() {
    let Ok(list) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&list.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or_default();
        if !Path::new("/proc").join(pid).exists() {
            remove_namespace(name);
        }
    }
}

fn remove_namespace(name: &str) {
    if let Ok(pids) = Command::new("ip").args(["netns", "pids", name]).output() {
        for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
    }
    let _ = Command::new("ip").args(["netns", "del", name]).status();
}

impl Lab {
    /// Builds the lab with router A and router B doing `nat_a` and `nat_b`; `None` (after
    /// saying why) where this machine cannot build one. With `MUMU_NAT_LAB=required` (what
    /// `scripts/test` sets when it runs as root) a lab that cannot be built fails the test.
    pub fn create(nat_a: Nat, nat_b: Nat) -> Option<Lab> {
        if let Some(why) = missing_prerequisite() {
            assert!(
                std::env::var("MUMU_NAT_LAB").as_deref() != Ok("required"),
                "the NAT lab is required here, but {why}"
            );
            eprintln!("NAT lab skipped: {why}");
            return None;
        }
        sweep_abandoned();
        static LABS: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            LABS.fetch_add(1, Ordering::Relaxed)
        );
        let lab = Lab {
            name,
            dir: tempfile::tempdir().unwrap(),
            processes: Vec::new(),
        };
        lab.build(nat_a, nat_b);
        Some(lab)
    }

    /// The name of namespace `ns` of this lab.
    pub fn ns(&self, ns: Ns) -> String {
        format!("{}-{}", self.name, ns.suffix())
    }

    /// Runs `ip args` inside `ns`.
    fn ip(&self, ns: Ns, args: &str) {
        let ns = self.ns(ns);
        let mut all = vec!["-n", ns.as_str()];
        all.extend(args.split_whitespace());
        run("ip", &all);
    }

    /// Runs `program args` inside `ns`.
    pub fn exec(&self, ns: Ns, program: &str, args: &str) {
        let ns = self.ns(ns);
        let mut all = vec!["netns", "exec", ns.as_str(), program];
        all.extend(args.split_whitespace());
        run("ip", &all);
    }

    /// A veth pair with both ends made inside their namespaces: no name is ever taken in the
    /// host's.
    fn veth(&self, (a, a_ns): (&str, Ns), (b, b_ns): (&str, Ns)) {
        let (a_ns, b_ns) = (self.ns(a_ns), self.ns(b_ns));
        let args = [
            "link", "add", a, "netns", &a_ns, "type", "veth", "peer", "name", b,
        ];
        run("ip", &[&args[..], &["netns", &b_ns]].concat());
    }

    fn build(&self, nat_a: Nat, nat_b: Nat) {
        for ns in [Ns::Public, Ns::RouterA, Ns::Camera, Ns::RouterB, Ns::Viewer] {
            run("ip", &["netns", "add", &self.ns(ns)]);
            self.ip(ns, "link set lo up");
        }
        self.ip(Ns::Public, "link add br0 type bridge");
        self.ip(Ns::Public, &format!("addr add {PUBLIC_IP}/24 dev br0"));
        self.ip(Ns::Public, "link set br0 up");
        let routers = [
            (
                Ns::RouterA,
                Ns::Camera,
                "ra",
                "203.0.113.2",
                "10.1.0",
                nat_a,
            ),
            (
                Ns::RouterB,
                Ns::Viewer,
                "rb",
                "203.0.113.3",
                "10.2.0",
                nat_b,
            ),
        ];
        for (router, lan, port, wan_ip, subnet, nat) in routers {
            self.veth(("wan", router), (port, Ns::Public));
            self.ip(Ns::Public, &format!("link set {port} master br0 up"));
            self.ip(router, &format!("addr add {wan_ip}/24 dev wan"));
            self.ip(router, "link set wan up");
            self.veth(("lan", router), ("eth0", lan));
            self.ip(router, &format!("addr add {subnet}.1/24 dev lan"));
            self.ip(router, "link set lan up");
            self.ip(lan, &format!("addr add {subnet}.2/24 dev eth0"));
            self.ip(lan, "link set eth0 up");
            self.ip(lan, &format!("route add default via {subnet}.1"));
            self.exec(router, "sysctl", "-qw net.ipv4.ip_forward=1");
            let masquerade = match nat {
                Nat::EndpointIndependent => "-j MASQUERADE",
                Nat::Symmetric => "-j MASQUERADE --random-fully",
            };
            self.exec(
                router,
                "iptables",
                &format!("-t nat -A POSTROUTING -o wan {masquerade}"),
            );
            // A home router's firewall: unsolicited packets from outside are dropped, silently.
            // Dropped before conntrack confirms them, they leave no entry behind; an entry
            // for a peer's early ICE check would clash with the mapping our own check to that
            // peer needs, and MASQUERADE would then pick another port (hole punching fails).
            for chain in ["INPUT", "FORWARD"] {
                self.exec(
                    router,
                    "iptables",
                    &format!("-A {chain} -i wan -m conntrack --ctstate NEW -j DROP"),
                );
            }
        }
    }

    /// Router B lets its LAN out over TCP only: every UDP packet from the LAN is dropped (a
    /// hotel or office network that allows only web traffic).
    pub fn block_udp_from_viewer_lan(&self) {
        self.exec(Ns::RouterB, "iptables", "-A FORWARD -i lan -p udp -j DROP");
    }

    /// Starts `program` inside `ns` with its output in `<dir>/<log>.log`; it is killed when the
    /// lab drops.
    pub fn spawn(
        &mut self,
        ns: Ns,
        log: &str,
        program: &Path,
        args: &[String],
        env: &[(&str, &str)],
    ) {
        let file = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.path().join(format!("{log}.log")))
                .unwrap()
        };
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(ns)])
            .arg(program)
            .args(args)
            .envs(env.iter().copied())
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .stdin(Stdio::null())
            .stdout(file())
            .stderr(file())
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", program.display()));
        self.processes.push((log.to_owned(), Running(child)));
    }

    /// coturn in the public namespace, from the configuration MuMu ships, with `secret`.
    pub async fn start_coturn(&mut self, secret: &str) {
        let config = workspace().join("docker/coturn/turnserver.conf");
        let args = [
            "-c".to_owned(),
            config.display().to_string(),
            format!("--static-auth-secret={secret}"),
            format!("--listening-ip={PUBLIC_IP}"),
            format!("--relay-ip={PUBLIC_IP}"),
            format!("--pidfile={}", self.dir.path().join("coturn.pid").display()),
        ];
        // Counters on coturn's relay ports: what went through the relay, whatever a peer
        // reports as its selected pair.
        for rule in [
            "-A INPUT -p udp --dport 49152:65535",
            "-A OUTPUT -p udp --sport 49152:65535",
        ] {
            self.exec(Ns::Public, "iptables", rule);
        }
        self.spawn(Ns::Public, "coturn", Path::new("turnserver"), &args, &[]);
        let log = self.dir.path().join("coturn.log");
        wait_until("coturn listening", Duration::from_secs(10), || {
            std::fs::read_to_string(&log)
                .ok()
                .filter(|text| text.contains("Total General servers"))
        })
        .await;
    }

    /// mumu-server in the public namespace, handing out the lab's STUN and TURN (UDP and TCP),
    /// with `env` on top.
    pub async fn start_server(&mut self, env: &[(&str, &str)]) {
        let turn_urls =
            format!("turn:{PUBLIC_IP}:3478?transport=udp,turn:{PUBLIC_IP}:3478?transport=tcp");
        let stun_urls = format!("stun:{PUBLIC_IP}:3478");
        let mut all = vec![
            ("TURN_SECRET", TURN_SECRET),
            ("TURN_URLS", turn_urls.as_str()),
            ("STUN_URLS", stun_urls.as_str()),
            ("MUMU_ENROLL_PER_MIN", "0"),
            ("RUST_LOG", "info"),
        ];
        all.extend_from_slice(env);
        let args = [
            "--listen".to_owned(),
            format!("{PUBLIC_IP}:{SERVER_PORT}"),
            "--data-dir".to_owned(),
            self.dir.path().join("data").display().to_string(),
        ];
        // Counters on the server's port: what signaling (and the site) cost on the wire.
        for rule in [
            &format!("-A INPUT -p tcp --dport {SERVER_PORT}"),
            &format!("-A OUTPUT -p tcp --sport {SERVER_PORT}"),
        ] {
            self.exec(Ns::Public, "iptables", rule);
        }
        self.spawn(Ns::Public, "server", &binary("mumu-server"), &args, &all);
        let base = self.base();
        in_netns(&self.ns(Ns::Public), move || async move {
            for _ in 0..100 {
                if reqwest::get(format!("{base}/healthz")).await.is_ok() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("mumu-server answering at {base} within 10 s");
        })
        .await;
    }

    /// The server's address, as every namespace reaches it.
    pub fn base(&self) -> String {
        format!("http://{PUBLIC_IP}:{SERVER_PORT}")
    }

    /// The simulated camera behind router A, paired by `owner` (registered here).
    pub async fn start_paired_camera(&mut self) {
        self.start_paired_camera_with(&[]).await;
    }

    /// [`Lab::start_paired_camera`], with more flags for the agent.
    pub async fn start_paired_camera_with(&mut self, extra: &[&str]) {
        let state = self.dir.path().join("agent");
        let mut args = vec![
            "--simulate".to_owned(),
            "--server".to_owned(),
            self.base(),
            "--width".to_owned(),
            "640".to_owned(),
            "--height".to_owned(),
            "480".to_owned(),
            "--state-dir".to_owned(),
            state.display().to_string(),
        ];
        args.extend(super::moving_picture(extra).iter().map(|a| (*a).to_owned()));
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        self.spawn(Ns::Camera, "agent", &binary("mumu-agent"), &args, &[]);
        let code = wait_until(
            "the camera enrolled through router A",
            Duration::from_secs(30),
            || stored_code(&state),
        )
        .await;
        let base = self.base();
        in_netns(&self.ns(Ns::Public), move || async move {
            let auth = mumu_probe::rest::register(&base, "owner", "owner@example.com", PASSWORD)
                .await
                .expect("registered");
            let paired = reqwest::Client::new()
                .post(format!("{base}/api/devices/pair"))
                .bearer_auth(&auth.access_token)
                .json(&serde_json::json!({ "pairing_code": code, "name": "Behind router A" }))
                .send()
                .await
                .unwrap();
            assert_eq!(paired.status(), 201);
        })
        .await;
    }

    /// The lab's scratch directory (its processes' logs, the camera's state).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs the `mumu-probe` binary in `ns` as the owner, for `seconds` of video after the
    /// first frame: its summary, or what it said when it failed.
    pub fn probe(&self, ns: Ns, seconds: f64, extra: &[&str]) -> Result<Summary, String> {
        // `timeout`: a probe that hangs fails the test instead of holding the run.
        let limit = (seconds as u64 + 90).to_string();
        let output = Command::new("ip")
            .args(["netns", "exec", &self.ns(ns), "timeout", &limit])
            .arg(binary("mumu-probe"))
            .args([
                "--server",
                &self.base(),
                "-u",
                "owner",
                "-p",
                PASSWORD,
                "--json",
            ])
            .args(["--wait-secs", "30", "--duration", &seconds.to_string()])
            .args(extra)
            .env("RUST_LOG", "warn,mumu_probe=debug")
            .output()
            .expect("mumu-probe runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        std::fs::write(self.dir.path().join("probe.log"), stderr.as_bytes()).ok();
        let stdout = String::from_utf8_lossy(&output.stdout);
        match stdout.lines().find(|l| l.starts_with('{')) {
            Some(line) if output.status.success() => {
                Ok(serde_json::from_str(line).expect("the probe prints its summary as JSON"))
            }
            _ => Err(stderr
                .lines()
                .filter(|l| l.starts_with("probe:"))
                .collect::<Vec<_>>()
                .join("\n")),
        }
    }

    /// Bytes that went into and out of coturn's relay ports so far: media relayed between
    /// the peers (counted twice: in from one, out to the other) and their permission traffic.
    pub fn relayed_bytes(&self) -> u64 {
        self.counted_bytes("udp", "49152:65535")
    }

    /// Bytes into and out of mumu-server's port so far (TCP: requests, sockets, the site).
    pub fn server_bytes(&self) -> u64 {
        self.counted_bytes("tcp", &SERVER_PORT.to_string())
    }

    /// The sum of the public namespace's counters for `protocol` on `ports`.
    fn counted_bytes(&self, protocol: &str, ports: &str) -> u64 {
        let output = Command::new("ip")
            .args(["netns", "exec", &self.ns(Ns::Public)])
            .args(["iptables", "-nvxL"])
            .output()
            .expect("iptables lists its counters");
        // `pkts bytes [target] prot opt in out source destination <prot> dpt[s]:<ports>`
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|l| {
                let last = l.split_whitespace().last().unwrap_or_default();
                let counted = last.split_once(':').map(|(_, p)| p);
                l.split_whitespace().any(|f| f == protocol) && counted == Some(ports)
            })
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum()
    }

    /// coturn's CPU time so far (user + system), from /proc.
    pub fn coturn_cpu(&self) -> Duration {
        let pid = std::fs::read_to_string(self.dir.path().join("coturn.pid"))
            .expect("coturn wrote its pid file");
        let pid = pid.trim().parse().expect("a pid");
        Duration::from_secs_f64(super::proc::Proc(pid).cpu_seconds())
    }

    /// What `name` (`server`, `agent`, `coturn`, `probe`) logged so far.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for name in ["server", "agent", "coturn", "probe"] {
                let log = self.log(name);
                let lines: Vec<&str> = log.lines().collect();
                let tail = lines[lines.len().saturating_sub(25)..].join("\n");
                eprintln!("--- the last of the {name}'s log ---\n{tail}");
            }
        }
        // The processes first: a namespace with a process in it outlives `ip netns del`.
        self.processes.clear();
        for ns in [Ns::Viewer, Ns::RouterB, Ns::Camera, Ns::RouterA, Ns::Public] {
            remove_namespace(&self.ns(ns));
        }
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("probe/ sits in the workspace")
        .to_path_buf()
}

/// Runs the future `task` makes on a thread of its own inside network namespace `ns` (sockets
/// it opens, and processes it starts, are in that namespace), on a runtime of its own.
pub async fn in_netns<T, Task>(ns: &str, task: impl FnOnce() -> Task + Send + 'static) -> T
where
    T: Send + 'static,
    Task: Future<Output = T>,
{
    let path = PathBuf::from("/var/run/netns").join(ns);
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let file =
            std::fs::File::open(&path).unwrap_or_else(|e| panic!("{} opens: {e}", path.display()));
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&file),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .expect("this thread enters the namespace");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = tx.send(runtime.block_on(task()));
    });
    rx.await.expect("the task in the namespace finished")
}
