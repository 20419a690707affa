//! The server benchmark: starts the real `mumu-server` (release build) as a child process and
//! measures, from this process over loopback:
//!
//! 1. idle sockets: RSS of the server before and after opening N device sockets and N viewer
//!    sockets (each authenticated with hello), reported per 1,000 sockets;
//! 2. signaling relay: P device/viewer pairs with an open session exchange offers, answers and
//!    ICE candidates at a fixed total rate, with the idle sockets still open; the one-way latency
//!    of each message (sent here, relayed by the server, received here) as p50/p99/max;
//! 3. the same relay between two servers sharing PostgreSQL and Redis (devices on one, viewers
//!    on the other: every message routed through Redis), beside the same on one of them;
//! 4. accounts: registrations and logins per second with C concurrent clients.
//!
//! `cargo bench -p mumu-server --bench server`. Sizes: `MUMU_BENCH_IDLE` (sockets of each kind,
//! default 9850), `MUMU_BENCH_RATE` (relay messages/s, default 10000), `MUMU_BENCH_SECS`
//! (relay duration, default 10). `DATABASE_URL` / `REDIS_URL` in the environment pass through
//! to the first server, to measure the scaled stack; `MUMU_SERVER_BIN` measures another build of
//! the server (an earlier commit's, for a before/after); part 3 uses `MUMU_TEST_POSTGRES_URL` and
//! `MUMU_TEST_REDIS_URL` (default: this machine's) and is skipped, saying why, without them.

// The probe's /proc reader: a file of std alone, included rather than depended on (the probe
// crate would build webrtc-rs into this benchmark). Not all of it is used here.
#[path = "../../probe/tests/common/proc.rs"]
#[allow(dead_code)]
mod proc;

use futures_util::{SinkExt, StreamExt};
use mumu_shared::api::{AuthResponse, EnrollResponse, LoginRequest, PairRequest, RegisterRequest};
use mumu_shared::signaling::*;
use mumu_shared::{Envelope, Message, PROTOCOL_VERSION, decode, encode};
use proc::Proc;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore};
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct ServerProcess {
    child: Child,
    base: String,
    ws: String,
    _dir: tempfile::TempDir,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    fn start() -> Self {
        Self::start_with(&[])
    }

    /// A server with `env` besides (or over) the benchmark's settings.
    fn start_with(env: &[(&str, String)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // `MUMU_SERVER_BIN` measures another build (an earlier commit's) with this benchmark.
        let binary = std::env::var("MUMU_SERVER_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_mumu-server").to_owned());
        let child = Command::new(binary)
            .env("MUMU_LISTEN", format!("127.0.0.1:{port}"))
            .env("MUMU_DATA_DIR", dir.path())
            .env("MUMU_ENROLL_PER_MIN", "0")
            .env("MUMU_HEARTBEAT_SECS", "3600")
            .env("MUMU_LOGIN_FAILURES_PER_MIN", "100000")
            // The benchmark is one address with thousands of sockets and accounts: lift the
            // per-address and per-user limits that would otherwise (rightly) stop it.
            .env("MUMU_LOGIN_FAILURES_PER_HOUR", "0")
            .env("MUMU_REGISTER_PER_HOUR", "0")
            // The benchmark makes hundreds of accounts; invitations are not what it measures.
            .env("MUMU_OPEN_REGISTRATION", "true")
            .env("MUMU_WATCHES_PER_MIN", "0")
            .env("MUMU_PAIR_ATTEMPTS_PER_MIN", "100000")
            .env("MUMU_MAX_SOCKETS_PER_USER", "1000000")
            .env("MUMU_MAX_CONNECTIONS", "1000000")
            .env("MUMU_REDIS_PREFIX", format!("mumubench{port}"))
            // Required with REDIS_URL (the scaled stack), harmless without.
            .env("JWT_SECRET", "benchmark-jwt-secret-0123456789")
            .env("TURN_SECRET", "benchmark-turn-secret-0123456789")
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .spawn()
            .expect("mumu-server starts");
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            ws: format!("ws://127.0.0.1:{port}"),
            _dir: dir,
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("mumu-server did not start listening");
    }

    /// The server's process, as /proc tells of it.
    fn process(&self) -> Proc {
        Proc(self.child.id())
    }
}

async fn post<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: &impl serde::Serialize,
) -> T {
    let mut req = http.post(url).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    resp.json().await.unwrap()
}

async fn register(http: &reqwest::Client, base: &str, name: &str) -> AuthResponse {
    let body = RegisterRequest {
        username: name.into(),
        email: format!("{name}@example.com"),
        password: "correct horse battery".into(),
        invitation: None,
    };
    post(http, format!("{base}/api/auth/register"), None, &body).await
}

async fn enroll(http: &reqwest::Client, base: &str) -> EnrollResponse {
    post(
        http,
        format!("{base}/api/devices/enroll"),
        None,
        &mumu_shared::api::EnrollRequest {
            name: None,
            agent_version: "bench".into(),
        },
    )
    .await
}

async fn connect(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url)
        .await
        .expect("socket opens")
        .0
}

async fn send<M: Message>(socket: &mut Socket, message: M) {
    socket
        .send(Ws::Text(encode(&Envelope::new(message, 0)).into()))
        .await
        .unwrap();
}

async fn recv<M: Message>(socket: &mut Socket) -> M {
    loop {
        match socket.next().await.expect("open").expect("read") {
            Ws::Text(t) => return decode::<M>(&t).unwrap().message,
            _ => continue,
        }
    }
}

async fn device_online(ws: &str, device: &EnrollResponse) -> Socket {
    let mut s = connect(&format!("{ws}/ws/device")).await;
    let hello = DeviceHello {
        protocol: PROTOCOL_VERSION,
        device_id: device.device_id.clone(),
        device_secret: device.device_secret.clone(),
        agent_version: None,
    };
    send(&mut s, DeviceToServer::Hello(hello)).await;
    let ack: ServerToDevice = recv(&mut s).await;
    assert!(matches!(ack, ServerToDevice::HelloAck(_)), "{ack:?}");
    s
}

async fn viewer_online(ws: &str, token: &str) -> Socket {
    let mut s = connect(&format!("{ws}/ws/viewer")).await;
    send(
        &mut s,
        ViewerToServer::Hello(ViewerHello {
            protocol: PROTOCOL_VERSION,
            token: Some(token.into()),
        }),
    )
    .await;
    let ack: ServerToViewer = recv(&mut s).await;
    assert!(matches!(ack, ServerToViewer::HelloAck(_)), "{ack:?}");
    s
}

/// What one socket-holding process opens: the benchmark's idle sockets are held by a few
/// processes of their own (this same binary, `MUMU_BENCH_HOLDER` set), since one process may
/// hold at most 20,000 descriptors on the machine this runs on.
#[derive(serde::Serialize, serde::Deserialize)]
enum HolderJob {
    /// Device sockets, each through `hello` with its credentials.
    Devices {
        ws: String,
        devices: Vec<EnrollResponse>,
    },
    /// `count` viewer sockets, through `hello`, spread over the tokens.
    Viewers {
        ws: String,
        tokens: Vec<String>,
        count: usize,
    },
}

/// A socket-holding process: it says `ready` once every socket is through `hello`, and holds
/// them until its standard input closes.
struct Holder(Child);

impl Holder {
    fn start(job: &HolderJob) -> Self {
        let child = Command::new(std::env::current_exe().unwrap())
            .env("MUMU_BENCH_HOLDER", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the benchmark starts a copy of itself");
        let mut stdin = child.stdin.as_ref().unwrap();
        writeln!(stdin, "{}", serde_json::to_string(job).unwrap()).unwrap();
        Self(child)
    }

    /// Waits for `ready`.
    fn ready(&mut self) {
        let mut line = String::new();
        BufReader::new(self.0.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "a socket holder failed");
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

/// Starts a holder for each job, all at once; returns them when every socket is through
/// `hello`, and the seconds that took.
async fn hold(jobs: Vec<HolderJob>) -> (Vec<Holder>, f64) {
    let t = Instant::now();
    let holders = tokio::task::spawn_blocking(move || {
        let mut holders: Vec<Holder> = jobs.iter().map(Holder::start).collect();
        holders.iter_mut().for_each(Holder::ready);
        holders
    })
    .await
    .unwrap();
    (holders, t.elapsed().as_secs_f64())
}

/// The holder's side: reads its job, opens the sockets, says `ready`, waits for EOF.
async fn run_holder() {
    raise_fd_limit();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    let sockets = match serde_json::from_str::<HolderJob>(&line).unwrap() {
        HolderJob::Devices { ws, devices } => {
            let devices = Arc::new(devices);
            in_parallel(devices.len(), 64, |i| {
                let (ws, devices) = (ws.clone(), devices.clone());
                async move { device_online(&ws, &devices[i]).await }
            })
            .await
        }
        HolderJob::Viewers { ws, tokens, count } => {
            let tokens = Arc::new(tokens);
            in_parallel(count, 64, |i| {
                let (ws, tokens) = (ws.clone(), tokens.clone());
                async move { viewer_online(&ws, &tokens[i % tokens.len()]).await }
            })
            .await
        }
    };
    println!("ready");
    tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
        .await
        .unwrap()
        .unwrap();
    drop(sockets);
}

/// Runs `n` jobs, `parallel` at a time.
async fn in_parallel<T: Send + 'static, F>(
    n: usize,
    parallel: usize,
    job: impl Fn(usize) -> F,
) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
{
    let gate = Arc::new(Semaphore::new(parallel));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let permit = gate.clone().acquire_owned().await.unwrap();
        let fut = job(i);
        tasks.push(tokio::spawn(async move {
            let out = fut.await;
            drop(permit);
            out
        }));
    }
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// Where one end of the relayed sessions connects, and the prefix of the users it registers.
struct Side {
    base: String,
    ws: String,
    users: String,
}

/// Relays `rate` messages/s for `secs` s between devices on `device_side` and viewers on
/// `viewer_side` (one session per 100 messages/s, each end sending 50/s), and prints the
/// one-way latency of each kind of message under `title`, with the CPU `cpu` (seconds used so
/// far) counts meanwhile. Returns the p50 and p99 of all, in ms.
async fn relay(
    http: &reqwest::Client,
    device_side: &Side,
    viewer_side: &Side,
    rate: usize,
    secs: usize,
    title: &str,
    cpu: impl Fn() -> f64,
) -> (f64, f64) {
    let pairs = (rate / 100).max(1);
    let base = &device_side.base;
    let mut sessions = Vec::new();
    for i in 0..pairs {
        let user = register(http, base, &format!("{}{i}", viewer_side.users)).await;
        let device = enroll(http, base).await;
        let _: mumu_shared::api::Device = post(
            http,
            format!("{base}/api/devices/pair"),
            Some(&user.access_token),
            &PairRequest {
                pairing_code: device.pairing_code.clone(),
                name: None,
            },
        )
        .await;
        let mut cam = device_online(&device_side.ws, &device).await;
        let mut viewer = viewer_online(&viewer_side.ws, &user.access_token).await;
        send(
            &mut viewer,
            ViewerToServer::WatchRequest(ViewerWatchRequest::new(device.device_id.clone())),
        )
        .await;
        let session = loop {
            if let ServerToViewer::WatchReady(r) = recv(&mut viewer).await {
                break r.session_id;
            }
        };
        loop {
            if let ServerToDevice::WatchRequest(_) = recv(&mut cam).await {
                break;
            }
        }
        sessions.push((cam, viewer, session));
    }
    let origin = Instant::now();
    let stamp = move || origin.elapsed().as_nanos().to_string();
    let samples: Arc<Mutex<[Vec<f64>; 3]>> =
        Arc::new(Mutex::new([Vec::new(), Vec::new(), Vec::new()]));
    let cpu_before = cpu();
    let t = Instant::now();
    let deadline = Duration::from_secs(secs as u64);
    let mut tasks = Vec::new();
    let period = Duration::from_millis(20);
    for (i, (cam, viewer, session)) in sessions.into_iter().enumerate() {
        let (mut cam_tx, mut cam_rx) = cam.split();
        let (mut viewer_tx, mut viewer_rx) = viewer.split();
        let s = session.clone();
        // Each pair's ticks are offset from the others', so the messages come evenly spread
        // over the period, as independent sessions' would, not all in one burst.
        let first_tick = tokio::time::Instant::now() + period * i as u32 / pairs as u32;
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(first_tick, period);
            let mut n = 0u64;
            while origin.elapsed() < deadline {
                tick.tick().await;
                let now = stamp();
                let from_cam = if n.is_multiple_of(2) {
                    DeviceToServer::SignalOffer(SessionSdp {
                        session_id: s.clone(),
                        sdp: now.clone(),
                    })
                } else {
                    DeviceToServer::SignalIce(SessionIce {
                        session_id: s.clone(),
                        candidate: Some(IceCandidate {
                            candidate: now.clone(),
                            sdp_mid: Some("0".into()),
                            sdp_m_line_index: Some(0),
                        }),
                    })
                };
                let from_viewer = if n.is_multiple_of(2) {
                    ViewerToServer::SignalAnswer(SessionSdp {
                        session_id: s.clone(),
                        sdp: now.clone(),
                    })
                } else {
                    ViewerToServer::SignalIce(SessionIce {
                        session_id: s.clone(),
                        candidate: Some(IceCandidate {
                            candidate: now,
                            sdp_mid: Some("0".into()),
                            sdp_m_line_index: Some(0),
                        }),
                    })
                };
                cam_tx
                    .send(Ws::Text(encode(&Envelope::new(from_cam, 0)).into()))
                    .await
                    .unwrap();
                viewer_tx
                    .send(Ws::Text(encode(&Envelope::new(from_viewer, 0)).into()))
                    .await
                    .unwrap();
                n += 1;
            }
        }));
        let samples_v = samples.clone();
        tasks.push(tokio::spawn(async move {
            while let Ok(Some(Ok(Ws::Text(t)))) =
                tokio::time::timeout(Duration::from_secs(2), viewer_rx.next()).await
            {
                let received = origin.elapsed().as_nanos();
                let (kind, sent) = match decode::<ServerToViewer>(&t).unwrap().message {
                    ServerToViewer::SignalOffer(o) => (0, o.sdp),
                    ServerToViewer::SignalIce(i) => (2, i.candidate.unwrap().candidate),
                    _ => continue,
                };
                let ms = (received - sent.parse::<u128>().unwrap()) as f64 / 1e6;
                samples_v.lock().await[kind].push(ms);
            }
        }));
        let samples_d = samples.clone();
        tasks.push(tokio::spawn(async move {
            while let Ok(Some(Ok(Ws::Text(t)))) =
                tokio::time::timeout(Duration::from_secs(2), cam_rx.next()).await
            {
                let received = origin.elapsed().as_nanos();
                let (kind, sent) = match decode::<ServerToDevice>(&t).unwrap().message {
                    ServerToDevice::SignalAnswer(a) => (1, a.sdp),
                    ServerToDevice::SignalIce(i) => (2, i.candidate.unwrap().candidate),
                    _ => continue,
                };
                let ms = (received - sent.parse::<u128>().unwrap()) as f64 / 1e6;
                samples_d.lock().await[kind].push(ms);
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let cpu = cpu() - cpu_before;
    let mut samples = Arc::try_unwrap(samples).unwrap().into_inner();
    let total: usize = samples.iter().map(Vec::len).sum();
    println!(
        "\n## Signaling relay, {title} ({pairs} sessions, {} messages/s offered for {secs} s)",
        pairs * 100,
    );
    println!(
        "relayed {total} messages, {:.0}/s; server CPU {:.2} s/s",
        total as f64 / secs as f64,
        cpu / t.elapsed().as_secs_f64()
    );
    let mut all = Vec::new();
    for (i, name) in ["offer", "answer", "ice"].iter().enumerate() {
        samples[i].sort_by(f64::total_cmp);
        let s = &samples[i];
        all.extend_from_slice(s);
        println!(
            "{name:>6}: n={:>6} p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
            s.len(),
            percentile(s, 0.5),
            percentile(s, 0.99),
            s.last().copied().unwrap_or(f64::NAN)
        );
    }
    all.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&all, 0.5), percentile(&all, 0.99));
    println!(
        "   all: n={:>6} p50 {p50:.3} ms  p99 {p99:.3} ms (aim: p99 < 2 ms)",
        all.len(),
    );
    (p50, p99)
}

/// Settings for servers sharing the machine's PostgreSQL (a schema of their own) and Redis (a
/// prefix of their own): `MUMU_TEST_POSTGRES_URL` and `MUMU_TEST_REDIS_URL`, or the defaults.
async fn shared_stack() -> Result<Vec<(&'static str, String)>, String> {
    let postgres = std::env::var("MUMU_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let redis =
        std::env::var("MUMU_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let tag = format!("bench{}", std::process::id());
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&postgres)
        .await
        .map_err(|e| format!("PostgreSQL at {postgres}: {e}"))?;
    sqlx::Executor::execute(
        &mut conn,
        sqlx::AssertSqlSafe(format!("CREATE SCHEMA {tag}")),
    )
    .await
    .map_err(|e| format!("creating a schema: {e}"))?;
    let sep = if postgres.contains('?') { '&' } else { '?' };
    Ok(vec![
        (
            "DATABASE_URL",
            format!("{postgres}{sep}options=-c%20search_path%3D{tag}"),
        ),
        ("REDIS_URL", redis),
        ("MUMU_REDIS_PREFIX", tag),
    ])
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn raise_fd_limit() {
    // prlimit(1) on ourselves: the bench and the server it starts each hold ~2N sockets.
    let _ = Command::new("prlimit")
        .args([
            "--pid",
            &std::process::id().to_string(),
            "--nofile=262144:262144",
        ])
        // Where the hard limit cannot be raised (this machine's container), it says so; the
        // benchmark fits under 20,000 per process anyway.
        .stderr(Stdio::null())
        .status();
}

/// Processes holding each kind of idle socket.
const HOLDERS_PER_KIND: usize = 2;

#[tokio::main]
async fn main() {
    if std::env::var_os("MUMU_BENCH_HOLDER").is_some() {
        run_holder().await;
        return;
    }
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this too, without it: then a
    // small smoke run checks the benchmark still works, and no figures are claimed.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let size =
        |name: &str, full: usize, small: usize| env_usize(name, if smoke { small } else { full });
    raise_fd_limit();
    // 9,850 of each: the machine this runs on caps open files at 20,000 per process (a hard
    // limit prlimit cannot raise in its container), and the server holds one descriptor per
    // socket: these, the relay's 200 below, and its own few (listener, database, epoll). The
    // sockets' other ends are held by processes of their own (`HolderJob`).
    let idle = size("MUMU_BENCH_IDLE", 9_850, 50);
    let rate = size("MUMU_BENCH_RATE", 10_000, 200);
    let secs = size("MUMU_BENCH_SECS", 10, 1);
    let server = ServerProcess::start();
    let http = reqwest::Client::new();
    let base = server.base.clone();
    let ws = server.ws.clone();
    println!(
        "mumu-server benchmark ({} build, loopback, {} cores){}",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        if smoke {
            " -- smoke run under cargo test: sizes reduced, figures meaningless"
        } else {
            ""
        }
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    // 1. Idle sockets.
    let rss_start = server.process().status("VmRSS:") as u64;
    let t = Instant::now();
    let devices = in_parallel(idle, 16, |_| {
        let (http, base) = (http.clone(), base.clone());
        async move { enroll(&http, &base).await }
    })
    .await;
    let enrol_secs = t.elapsed().as_secs_f64();
    let rss_enrolled = server.process().status("VmRSS:") as u64;
    let viewer_users: Vec<AuthResponse> = in_parallel(10, 2, |i| {
        let (http, base) = (http.clone(), base.clone());
        async move { register(&http, &base, &format!("idleviewer{i}")).await }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = server.process().status("VmRSS:") as u64;
    let chunk = idle.div_ceil(HOLDERS_PER_KIND);
    let device_jobs = devices
        .chunks(chunk)
        .map(|devices| HolderJob::Devices {
            ws: ws.clone(),
            devices: devices.to_vec(),
        })
        .collect();
    let (device_sockets, device_secs) = hold(device_jobs).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_devices = server.process().status("VmRSS:") as u64;
    let tokens: Vec<String> = viewer_users
        .iter()
        .map(|u| u.access_token.clone())
        .collect();
    let viewer_jobs = (0..idle)
        .step_by(chunk)
        .map(|start| HolderJob::Viewers {
            ws: ws.clone(),
            tokens: tokens.clone(),
            count: chunk.min(idle - start),
        })
        .collect();
    let (viewer_sockets, viewer_secs) = hold(viewer_jobs).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_all = server.process().status("VmRSS:") as u64;
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!("\n## Idle sockets ({idle} devices + {idle} viewers, each after hello)");
    println!(
        "enrolled {idle} devices in {enrol_secs:.1} s; connected devices in {device_secs:.1} s, viewers in {viewer_secs:.1} s"
    );
    println!(
        "server RSS: at start {:.1} MiB, after enrolling {:.1} MiB, before sockets {:.1} MiB, with devices {:.1} MiB, with devices + viewers {:.1} MiB (peak {:.1} MiB)",
        mib(rss_start),
        mib(rss_enrolled),
        mib(rss_before),
        mib(rss_devices),
        mib(rss_all),
        mib(server.process().status("VmHWM:") as u64)
    );
    println!(
        "per 1,000 sockets: devices {:.2} MiB, viewers {:.2} MiB, all (growth since start) {:.2} MiB; \
         aim: {} sockets under 200 MB total RSS -> {}",
        mib(rss_devices.saturating_sub(rss_before)) * 1000.0 / idle as f64,
        mib(rss_all.saturating_sub(rss_devices)) * 1000.0 / idle as f64,
        mib(rss_all.saturating_sub(rss_start)) * 1000.0 / (2 * idle) as f64,
        2 * idle,
        if (rss_all as f64) * 1024.0 < 200e6 {
            "met"
        } else {
            "NOT met"
        }
    );

    // 2. Relay latency, with the idle sockets still open.
    let here = Side {
        base: base.clone(),
        ws: ws.clone(),
        users: "relay".into(),
    };
    let title = format!("one server, {} idle sockets open", 2 * idle);
    relay(&http, &here, &here, rate, secs, &title, || {
        server.process().cpu_seconds()
    })
    .await;
    drop(device_sockets);
    drop(viewer_sockets);

    // 3. The same relay between two servers that share PostgreSQL and Redis, beside the same
    // on one of them: what routing through Redis adds.
    match shared_stack().await {
        Ok(env) => {
            let (a, b) = (
                ServerProcess::start_with(&env),
                ServerProcess::start_with(&env),
            );
            let side = |s: &ServerProcess, users: &str| Side {
                base: s.base.clone(),
                ws: s.ws.clone(),
                users: users.into(),
            };
            let one = relay(
                &http,
                &side(&a, "onea"),
                &side(&a, "oneb"),
                rate,
                secs,
                "one server on PostgreSQL + Redis",
                || a.process().cpu_seconds(),
            )
            .await;
            let across = relay(
                &http,
                &side(&a, "crossa"),
                &side(&b, "crossb"),
                rate,
                secs,
                "devices on one server, viewers on another",
                || a.process().cpu_seconds() + b.process().cpu_seconds(),
            )
            .await;
            println!(
                "\n## Relay latency across servers vs on one ({rate} messages/s, PostgreSQL + Redis)"
            );
            println!("| | p50 | p99 |\n| --- | --- | --- |");
            println!("| one server | {:.3} ms | {:.3} ms |", one.0, one.1);
            println!(
                "| across two servers | {:.3} ms | {:.3} ms |",
                across.0, across.1
            );
        }
        Err(why) => println!("\n## Relay across servers: skipped ({why})"),
    }

    // 4. Accounts.
    let n = size("MUMU_BENCH_ACCOUNTS", 100, 4);
    let parallel = 4;
    let t = Instant::now();
    in_parallel(n, parallel, |i| {
        let (http, base) = (http.clone(), base.clone());
        async move { register(&http, &base, &format!("bench{i}")).await }
    })
    .await;
    let register_rate = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    in_parallel(n, parallel, |i| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let _: AuthResponse = post(
                &http,
                format!("{base}/api/auth/login"),
                None,
                &LoginRequest {
                    username: format!("bench{i}"),
                    password: "correct horse battery".into(),
                },
            )
            .await;
        }
    })
    .await;
    let login_rate = n as f64 / t.elapsed().as_secs_f64();
    let (m, t_cost, p) = mumu_server::auth::password::PARAMS;
    println!(
        "\n## Accounts ({n} each, {parallel} concurrent clients; argon2id m={m} KiB, t={t_cost}, p={p})"
    );
    println!("register: {register_rate:.1}/s   login: {login_rate:.1}/s");
}
