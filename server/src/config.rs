//! The server's configuration: flags, each with an environment variable, and defaults that
//! run a single server on an embedded database. `.env.example` lists every variable.

use crate::secrets::Secret;
use clap::{Args, Parser, Subcommand, ValueEnum};
use mumu_shared::signaling::IceTransportPolicy;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// MuMu's server: accounts, pairing, presence, TURN credentials and WebRTC signaling.
#[derive(Debug, Parser)]
#[command(name = "mumu-server", version, about)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings.
    #[command(flatten)]
    pub config: Config,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Ask the server running with these settings whether it is ready (`/readyz` on its listen
    /// port): exit status 0 if so, 1 with the reason if not. For container health checks.
    CheckReady,
    /// Print a new VAPID key pair for Web Push, as lines for an environment file. Run it once
    /// per deployment: every server of it uses the same pair (`docs/events.md`).
    VapidKeys,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Every setting of the server, grouped by the part that uses it; each group is handed to its
/// service whole. Flags and variables keep flat names (`--listen`, `MUMU_LISTEN`).
#[derive(Clone, Debug, Args)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "MUMU_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The address people and devices use to reach this server (for links and cookie
    /// security); absent: `http://` and the listen address (`localhost` for `0.0.0.0`).
    #[arg(long, env = "MUMU_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// The web app's site settings (Leptos.toml); absent file: the settings built in. Where the
    /// compiled app lives is `site-root` there, or `LEPTOS_SITE_ROOT`, which wins.
    #[arg(long, env = "MUMU_SITE_CONFIG", default_value = "Leptos.toml")]
    pub site_config: PathBuf,

    /// Log format.
    #[arg(long, env = "MUMU_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Connections and the HTTP surface.
    #[command(flatten)]
    pub http: HttpSettings,

    /// The database, Redis and the data directory.
    #[command(flatten)]
    pub storage: StorageSettings,

    /// Accounts and logins.
    #[command(flatten)]
    pub auth: AuthSettings,

    /// Enrolment and pairing.
    #[command(flatten)]
    pub devices: DeviceSettings,

    /// Signaling sockets and watch sessions.
    #[command(flatten)]
    pub signaling: SignalingSettings,

    /// ICE servers and TURN credentials.
    #[command(flatten)]
    pub turn: TurnSettings,

    /// Motion events and their notifications.
    #[command(flatten)]
    pub events: EventSettings,
    /// Web Push notifications.
    #[command(flatten)]
    pub push: PushSettings,
}

/// Connections and the HTTP surface.
#[derive(Clone, Debug, Args)]
pub struct HttpSettings {
    /// How many reverse proxies stand in front of the server and append to `X-Forwarded-For`
    /// (`false`/0: none, use the peer address; `true`: 1). The client address is the entry that
    /// many places from the right: what the outermost trusted proxy saw.
    #[arg(long, env = "MUMU_TRUST_PROXY", default_value = "0", value_parser = proxy_hops)]
    pub trust_proxy: u8,

    /// Open connections the server holds at most (sockets included); more wait to be accepted.
    /// Keep it below the process's descriptor limit, which the server raises to its hard limit.
    #[arg(long, env = "MUMU_MAX_CONNECTIONS", default_value_t = 8192)]
    pub max_connections: usize,

    /// Seconds a client has to send a request's headers; slower connections are closed.
    #[arg(long, env = "MUMU_HTTP_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub http_header_timeout_secs: u64,

    /// Seconds a REST request (its body included) may take before it is answered 408.
    #[arg(long, env = "MUMU_HTTP_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub http_request_timeout_secs: u64,

    /// Bearer token that `/metrics` requires; absent: `/metrics` answers loopback clients only.
    #[arg(long, env = "MUMU_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,
}

/// Where data lives.
#[derive(Clone, Debug, Args)]
pub struct StorageSettings {
    /// Directory for the SQLite database and generated secrets.
    #[arg(long, env = "MUMU_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// `postgres://…` or `sqlite://…`; absent: `sqlite://<data-dir>/mumu.db`.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Largest number of database connections.
    #[arg(long, env = "MUMU_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,

    /// `redis://…` for presence and routing shared by several servers; absent: in-process.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key and channel (several deployments can share one Redis).
    #[arg(long, env = "MUMU_REDIS_PREFIX", default_value = "mumu")]
    pub redis_prefix: String,
}

/// Accounts and logins.
#[derive(Clone, Debug, Args)]
pub struct AuthSettings {
    /// Key that signs access tokens; absent: generated once into the data directory.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// Lifetime of a login, in seconds.
    #[arg(long, env = "MUMU_SESSION_TTL_SECS", default_value_t = 7 * 24 * 3600)]
    pub session_ttl_secs: u64,

    /// Login attempts per minute at one account from one address (five times that from one
    /// address across accounts). Successful ones give theirs back.
    #[arg(long, env = "MUMU_LOGIN_FAILURES_PER_MIN", default_value_t = 10)]
    pub login_failures_per_min: u32,

    /// Login attempts per hour at one account from all addresses together: the ceiling for a
    /// guesser with many addresses (0: no ceiling).
    #[arg(long, env = "MUMU_LOGIN_FAILURES_PER_HOUR", default_value_t = 100)]
    pub login_failures_per_hour: u32,

    /// Accounts created per hour from one address (0: no limit).
    #[arg(long, env = "MUMU_REGISTER_PER_HOUR", default_value_t = 10)]
    pub register_per_hour: u32,

    /// Whether anyone may make an account. Off: after the first account (the household's
    /// admin) accounts are made only with an invitation an admin made.
    #[arg(long, env = "MUMU_OPEN_REGISTRATION", default_value = "false", value_parser = on_off,
          action = clap::ArgAction::Set)]
    pub open_registration: bool,
}

/// Enrolment and pairing.
#[derive(Clone, Debug, Args)]
pub struct DeviceSettings {
    /// Lifetime of a pairing code, in seconds.
    #[arg(long, env = "MUMU_PAIRING_CODE_TTL_SECS", default_value_t = 600)]
    pub pairing_code_ttl_secs: u64,

    /// Pairing attempts per minute allowed for one user (three times that from one address
    /// across accounts).
    #[arg(long, env = "MUMU_PAIR_ATTEMPTS_PER_MIN", default_value_t = 10)]
    pub pair_attempts_per_min: u32,

    /// Enrolments and new pairing codes per minute allowed from one address (0: no limit).
    #[arg(long, env = "MUMU_ENROLL_PER_MIN", default_value_t = 30)]
    pub enroll_per_min: u32,
}

/// Signaling sockets and watch sessions.
#[derive(Clone, Debug, Args)]
pub struct SignalingSettings {
    /// Heartbeat interval asked of clients, in seconds; a socket silent for three is closed.
    #[arg(long, env = "MUMU_HEARTBEAT_SECS", default_value_t = 20)]
    pub heartbeat_secs: u64,

    /// Most viewers one device serves at once.
    #[arg(long, env = "MUMU_MAX_SESSIONS_PER_DEVICE", default_value_t = 8)]
    pub max_sessions_per_device: usize,

    /// Viewer sockets one user may hold open on one server.
    #[arg(long, env = "MUMU_MAX_SOCKETS_PER_USER", default_value_t = 16)]
    pub max_sockets_per_user: usize,

    /// Signaling messages per second one socket may send (bursts of twice that pass).
    #[arg(long, env = "MUMU_WS_MESSAGES_PER_SEC", default_value_t = 100)]
    pub ws_messages_per_sec: u32,

    /// Seconds one signaling write may wait for a peer that is not reading before its socket
    /// is closed.
    #[arg(long, env = "MUMU_WS_WRITE_TIMEOUT_SECS", default_value_t = 10)]
    pub ws_write_timeout_secs: u64,

    /// Watch requests per minute allowed for one user (each mints TURN credentials).
    #[arg(long, env = "MUMU_WATCHES_PER_MIN", default_value_t = 60)]
    pub watches_per_min: u32,
}

/// ICE servers handed to both peers, and TURN credentials.
#[derive(Clone, Debug, Args)]
pub struct TurnSettings {
    /// coturn's `static-auth-secret`; absent: generated once into the data directory.
    #[arg(long, env = "TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<Secret>,

    /// TURN URLs handed to both peers, comma separated (`turn:host:3478?transport=udp,…`).
    #[arg(long, env = "TURN_URLS", value_delimiter = ',')]
    pub turn_urls: Vec<String>,

    /// STUN URLs handed to both peers, comma separated.
    #[arg(long, env = "STUN_URLS", value_delimiter = ',')]
    pub stun_urls: Vec<String>,

    /// Lifetime of minted TURN credentials, in seconds: 10 to 3600. A relayed watch renews its
    /// session after three quarters of it, so a short life costs a renewal now and then, and
    /// bounds how long relaying outlives a revoked share, a logout or an ended session.
    #[arg(long, env = "TURN_CREDENTIAL_TTL_SECS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(10..=3600))]
    pub turn_ttl_secs: u64,

    /// `relay` makes both peers use TURN only.
    #[arg(
        long,
        env = "MUMU_ICE_TRANSPORT_POLICY",
        value_enum,
        default_value = "all"
    )]
    pub ice_transport_policy: PolicyArg,
}

/// Motion events the cameras report, and the notifications they send.
#[derive(Clone, Debug, Args)]
pub struct EventSettings {
    /// Days an event is kept (1 to 3650); older ones are forgotten by the hourly sweep.
    #[arg(long, env = "MUMU_EVENT_RETENTION_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub event_retention_days: u32,

    /// `motion_event` messages one camera may send a minute (in bursts of as many): a camera
    /// sends two per event, and a backlog after a reconnect.
    #[arg(long, env = "MUMU_MOTION_EVENTS_PER_MIN", default_value_t = 120,
          value_parser = clap::value_parser!(u32).range(1..=6000))]
    pub motion_events_per_min: u32,

    /// Hosts webhooks may reach although they are (or resolve to) private, loopback or
    /// link-local addresses, comma separated (`homeassistant.lan,192.168.1.20`).
    #[arg(long, env = "MUMU_WEBHOOK_ALLOWED_HOSTS", value_delimiter = ',')]
    pub webhook_allowed_hosts: Vec<String>,

    /// Milliseconds one webhook delivery attempt may take, connection included.
    #[arg(long, env = "MUMU_WEBHOOK_TIMEOUT_MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub webhook_timeout_ms: u64,

    /// Attempts per webhook delivery (a timeout, a refused connection, a 5xx or 429 is
    /// retried; another answer is final).
    #[arg(long, env = "MUMU_WEBHOOK_ATTEMPTS", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=10))]
    pub webhook_attempts: u32,

    /// Milliseconds before the first retry; each later one waits twice as long.
    #[arg(long, env = "MUMU_WEBHOOK_RETRY_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub webhook_retry_ms: u64,

    /// Webhook deliveries in flight at once; more wait in a bounded queue (and are dropped,
    /// with a warning, when it is full).
    #[arg(long, env = "MUMU_WEBHOOK_CONCURRENCY", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub webhook_concurrency: u32,
}

/// Web Push (RFC 8030, with VAPID and encrypted payloads): off unless a VAPID key is set.
#[derive(Clone, Debug, Args)]
pub struct PushSettings {
    /// The deployment's VAPID private key (the P-256 scalar, base64url, as `mumu-server
    /// vapid-keys` prints it), or the path of a file holding it (a value with a `/`). The same
    /// on every server of the deployment; absent: push notifications are off.
    #[arg(long, env = "MUMU_VAPID_PRIVATE_KEY", hide_env_values = true)]
    pub vapid_private_key: Option<Secret>,

    /// Who push services may contact about this deployment's pushes: `mailto:` an address, or
    /// an `https:` URL. Required with a VAPID key.
    #[arg(long, env = "MUMU_VAPID_SUBJECT")]
    pub vapid_subject: Option<String>,

    /// Hosts (names or addresses, comma separated) whose push endpoints may be plain http or
    /// resolve to private, loopback or link-local addresses: a push service of your own, or a
    /// test's. Others must be https on public addresses.
    #[arg(long, env = "MUMU_PUSH_ALLOWED_HOSTS", value_delimiter = ',')]
    pub push_allowed_hosts: Vec<String>,

    /// Seconds a push service keeps a notification for a browser that is offline (the `TTL`
    /// header; 0: deliver now or never).
    #[arg(long, env = "MUMU_PUSH_TTL_SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub push_ttl_secs: u64,

    /// Seconds one request to a push service may take.
    #[arg(long, env = "MUMU_PUSH_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=60))]
    pub push_timeout_secs: u64,
}

/// `MUMU_TRUST_PROXY`: a number of proxies, or `true`/`false` for 1/0.
fn proxy_hops(text: &str) -> Result<u8, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "no" | "off" => Ok(0),
        "true" | "yes" | "on" => Ok(1),
        n => n.parse().map_err(|_| {
            format!("expected a number of proxies (0-255), true or false; got {text:?}")
        }),
    }
}

/// A yes/no setting: `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`.
fn on_off(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "no" | "off" | "0" => Ok(false),
        "true" | "yes" | "on" | "1" => Ok(true),
        _ => Err(format!("expected true or false; got {text:?}")),
    }
}

/// The ICE transport policy as a flag value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PolicyArg {
    /// Any candidate.
    All,
    /// TURN relay only.
    Relay,
}

impl From<PolicyArg> for IceTransportPolicy {
    fn from(p: PolicyArg) -> Self {
        match p {
            PolicyArg::All => IceTransportPolicy::All,
            PolicyArg::Relay => IceTransportPolicy::Relay,
        }
    }
}

impl Config {
    /// The defaults, as if started with no flags and no environment; for tests and tools.
    pub fn defaults() -> Self {
        Cli::parse_from(["mumu-server"]).config
    }

    /// The public URL in force, for a server bound to `bound`.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        match self.public_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None if bound.ip().is_unspecified() => format!("http://localhost:{}", bound.port()),
            None => format!("http://{bound}"),
        }
    }

    /// Whether cookies must be `Secure` (the public URL is https).
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}

impl StorageSettings {
    /// The database URL in force.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.is_empty() => url.clone(),
            _ => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("mumu.db").display()
            ),
        }
    }
}

impl SignalingSettings {
    /// The heartbeat interval.
    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.heartbeat_secs.max(1))
    }

    /// The write deadline of signaling sockets.
    pub fn ws_write_timeout(&self) -> Duration {
        Duration::from_secs(self.ws_write_timeout_secs.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_defaults_to_the_bound_address() {
        let mut config = Config::defaults();
        config.public_url = None;
        assert_eq!(
            config.public_url("127.0.0.1:18080".parse().unwrap()),
            "http://127.0.0.1:18080"
        );
        assert_eq!(
            config.public_url("0.0.0.0:8080".parse().unwrap()),
            "http://localhost:8080"
        );
        assert!(!config.secure_cookies());
        config.public_url = Some("https://cams.example.com/".into());
        assert_eq!(
            config.public_url("0.0.0.0:8080".parse().unwrap()),
            "https://cams.example.com"
        );
        assert!(config.secure_cookies());
    }

    #[test]
    fn registration_is_closed_and_turn_credentials_short_unless_configured() {
        let config = Config::defaults();
        assert!(!config.auth.open_registration);
        assert_eq!(config.turn.turn_ttl_secs, 600);
        let open = Cli::try_parse_from(["mumu-server", "--open-registration", "yes"]).unwrap();
        assert!(open.config.auth.open_registration);
        assert!(Cli::try_parse_from(["mumu-server", "--open-registration", "maybe"]).is_err());
        // The bound holds: a day-long credential is refused, not cut silently.
        assert!(Cli::try_parse_from(["mumu-server", "--turn-ttl-secs", "86400"]).is_err());
        assert!(Cli::try_parse_from(["mumu-server", "--turn-ttl-secs", "5"]).is_err());
        let hour = Cli::try_parse_from(["mumu-server", "--turn-ttl-secs", "3600"]).unwrap();
        assert_eq!(hour.config.turn.turn_ttl_secs, 3600);
    }
}
