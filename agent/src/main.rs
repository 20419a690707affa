//! `mumu-agent`: the command line. Flags (and their `MUMU_*` environment variables) become an
//! [`AgentConfig`]; everything else lives in the library.

use anyhow::bail;
use clap::{Parser, Subcommand, ValueEnum};
use mumu_agent::agent::{self, AgentConfig};
use mumu_agent::identity::StateDir;
use mumu_agent::media::capture::{Encoder, Source, VideoSettings};
use std::path::PathBuf;
use std::time::Duration;

/// MuMu camera agent: streams this camera to its owner's browser, peer to peer.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// The MuMu server's base URL.
    #[arg(
        long,
        env = "MUMU_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    server: String,

    /// Where the device identity is kept (default: /var/lib/mumu-agent as root, else the XDG
    /// state directory).
    #[arg(long, env = "MUMU_STATE_DIR", global = true)]
    state_dir: Option<PathBuf>,

    /// Use the test picture (a moving ball and a clock) instead of a camera.
    #[arg(long, global = true)]
    simulate: bool,

    /// The test picture's videotestsrc pattern (ball, smpte, snow, ...).
    #[arg(long, env = "MUMU_TEST_PATTERN", default_value = "ball", global = true)]
    test_pattern: String,

    /// The video source.
    #[arg(
        long,
        env = "MUMU_SOURCE",
        value_enum,
        default_value = "auto",
        global = true
    )]
    source: SourceArg,

    /// Force an H.264 encoder (default: the best installed).
    #[arg(long, env = "MUMU_ENCODER", value_enum, global = true)]
    encoder: Option<EncoderArg>,

    /// Picture width.
    #[arg(long, env = "MUMU_WIDTH", default_value_t = 1280, global = true)]
    width: u32,

    /// Picture height.
    #[arg(long, env = "MUMU_HEIGHT", default_value_t = 720, global = true)]
    height: u32,

    /// Frames per second.
    #[arg(long, env = "MUMU_FPS", default_value_t = 30, global = true)]
    fps: u32,

    /// Target bitrate in kbit/s.
    #[arg(long, env = "MUMU_BITRATE_KBPS", default_value_t = 1500, global = true)]
    bitrate_kbps: u32,

    /// At most this many frames between keyframes (default: two seconds' worth).
    #[arg(long, env = "MUMU_KEY_INT", global = true)]
    key_int: Option<u32>,

    /// At most one keyframe request per this many milliseconds reaches the encoder.
    #[arg(
        long,
        env = "MUMU_KEYFRAME_MIN_INTERVAL_MS",
        default_value_t = 250,
        global = true
    )]
    keyframe_min_interval_ms: u64,

    /// At most this many viewers at once.
    #[arg(long, env = "MUMU_MAX_VIEWERS", default_value_t = 8, global = true)]
    max_viewers: usize,

    /// Stop capturing after this many seconds without viewers (0: never); the next watch
    /// starts it again.
    #[arg(long, env = "MUMU_IDLE_STOP_SECS", default_value_t = 60, global = true)]
    idle_stop_secs: u64,

    /// Seconds between status reports to the server.
    #[arg(
        long,
        env = "MUMU_STATUS_INTERVAL_SECS",
        default_value_t = 30,
        global = true
    )]
    status_interval_secs: u64,

    /// The name the device suggests for itself at enrolment (default: the hostname).
    #[arg(long, env = "MUMU_DEVICE_NAME", global = true)]
    name: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent (the default).
    Run,
    /// Forget this device's identity, enrol again and show a new pairing code.
    Pair,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SourceArg {
    /// The first source present.
    Auto,
    /// The test picture.
    Test,
    /// A USB webcam (not yet supported).
    V4l2,
    /// The Raspberry Pi camera module (not yet supported).
    Libcamera,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum EncoderArg {
    X264,
    Openh264,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    gstreamer::init()?;
    let config = config_from(cli)?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(agent::run(config))
}

fn config_from(cli: Cli) -> anyhow::Result<AgentConfig> {
    let source = match (cli.simulate, cli.source) {
        (true, _) | (false, SourceArg::Test | SourceArg::Auto) => Source::Test {
            pattern: cli.test_pattern.clone(),
        },
        (false, SourceArg::V4l2 | SourceArg::Libcamera) => {
            bail!("only the test source exists so far (--simulate)")
        }
    };
    if cli.width == 0 || cli.height == 0 || cli.fps == 0 {
        bail!("width, height and fps must be positive");
    }
    Ok(AgentConfig {
        server: cli.server,
        state_dir: cli.state_dir.unwrap_or_else(StateDir::default_location),
        name: cli.name,
        video: VideoSettings {
            source,
            encoder: cli.encoder.map(|e| match e {
                EncoderArg::X264 => Encoder::X264,
                EncoderArg::Openh264 => Encoder::OpenH264,
            }),
            width: cli.width,
            height: cli.height,
            framerate: cli.fps,
            bitrate_kbps: cli.bitrate_kbps,
            key_int: cli.key_int.unwrap_or(cli.fps * 2),
            keyframe_min_interval: Duration::from_millis(cli.keyframe_min_interval_ms),
        },
        max_viewers: cli.max_viewers,
        idle_stop: (cli.idle_stop_secs > 0).then(|| Duration::from_secs(cli.idle_stop_secs)),
        status_interval: Duration::from_secs(cli.status_interval_secs.max(1)),
        re_enroll: matches!(cli.command, Some(Command::Pair)),
    })
}
