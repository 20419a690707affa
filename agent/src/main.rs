//! `mumu-agent`: the command line. Flags (and their `MUMU_*` environment variables) over the
//! TOML file over the defaults become an [`AgentConfig`]; everything else lives in the library.

use anyhow::bail;
use clap::{Parser, Subcommand};
use mumu_agent::agent::{self, AgentConfig};
use mumu_agent::config::{EncoderKind, FileConfig, SourceKind};
use mumu_agent::identity::StateDir;
use mumu_agent::media::capture::{Encoder, Source, VideoSettings};
use std::path::PathBuf;
use std::time::Duration;

/// MuMu camera agent: streams this camera to its owner's browser, peer to peer.
///
/// Settings come from flags, then MUMU_* variables, then the configuration file, then the
/// defaults shown.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// The TOML configuration file [default: /etc/mumu-agent/agent.toml when it exists].
    #[arg(long, env = "MUMU_CONFIG", global = true)]
    config: Option<PathBuf>,

    /// The MuMu server's base URL [default: http://127.0.0.1:8080].
    #[arg(long, env = "MUMU_SERVER", global = true)]
    server: Option<String>,

    /// Where the device identity is kept [default: /var/lib/mumu-agent as root, else the XDG
    /// state directory].
    #[arg(long, env = "MUMU_STATE_DIR", global = true)]
    state_dir: Option<PathBuf>,

    /// Use the test picture (a moving ball and a clock) instead of a camera: --source test.
    #[arg(long, global = true)]
    simulate: bool,

    /// The video source [default: auto].
    #[arg(long, env = "MUMU_SOURCE", value_enum, global = true)]
    source: Option<SourceKind>,

    /// The V4L2 device (--source v4l2 or auto) [default: /dev/video0].
    #[arg(long, env = "MUMU_DEVICE", global = true)]
    device: Option<PathBuf>,

    /// The test picture's videotestsrc pattern (ball, smpte, snow, ...) [default: ball].
    #[arg(long, env = "MUMU_TEST_PATTERN", global = true)]
    test_pattern: Option<String>,

    /// Force an H.264 encoder [default: the first installed of v4l2h264, x264, openh264].
    #[arg(long, env = "MUMU_ENCODER", value_enum, global = true)]
    encoder: Option<EncoderKind>,

    /// Picture width [default: 1280].
    #[arg(long, env = "MUMU_WIDTH", global = true)]
    width: Option<u32>,

    /// Picture height [default: 720].
    #[arg(long, env = "MUMU_HEIGHT", global = true)]
    height: Option<u32>,

    /// Frames per second [default: 30].
    #[arg(long, env = "MUMU_FPS", global = true)]
    fps: Option<u32>,

    /// Target bitrate in kbit/s [default: 1500].
    #[arg(long, env = "MUMU_BITRATE_KBPS", global = true)]
    bitrate_kbps: Option<u32>,

    /// At most this many frames between keyframes [default: two seconds' worth].
    #[arg(long, env = "MUMU_KEY_INT", global = true)]
    key_int: Option<u32>,

    /// At most one keyframe request per this many milliseconds reaches the encoder
    /// [default: 250].
    #[arg(long, env = "MUMU_KEYFRAME_MIN_INTERVAL_MS", global = true)]
    keyframe_min_interval_ms: Option<u64>,

    /// At most this many viewers at once [default: 8].
    #[arg(long, env = "MUMU_MAX_VIEWERS", global = true)]
    max_viewers: Option<usize>,

    /// Stop capturing after this many seconds without viewers (0: never); the next watch
    /// starts it again [default: 60].
    #[arg(long, env = "MUMU_IDLE_STOP_SECS", global = true)]
    idle_stop_secs: Option<u64>,

    /// Seconds between status reports to the server [default: 30].
    #[arg(long, env = "MUMU_STATUS_INTERVAL_SECS", global = true)]
    status_interval_secs: Option<u64>,

    /// The name the device suggests for itself at enrolment [default: the hostname].
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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let (file, path) = FileConfig::load(cli.config.as_deref())?;
    if let Some(path) = &path {
        tracing::info!(path = %path.display(), "configuration file read");
    }
    gstreamer::init()?;
    let config = config_from(cli, file)?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(agent::run(config))
}

/// Flags and variables over the file over the defaults.
fn config_from(cli: Cli, file: FileConfig) -> anyhow::Result<AgentConfig> {
    let kind = if cli.simulate {
        SourceKind::Test
    } else {
        cli.source.or(file.source).unwrap_or(SourceKind::Auto)
    };
    let device = cli
        .device
        .or(file.device)
        .unwrap_or_else(|| PathBuf::from("/dev/video0"));
    let pattern = cli
        .test_pattern
        .or(file.test_pattern)
        .unwrap_or_else(|| "ball".into());
    let source = Source::choose(kind, device, pattern)?;
    let width = cli.width.or(file.width).unwrap_or(1280);
    let height = cli.height.or(file.height).unwrap_or(720);
    let fps = cli.fps.or(file.fps).unwrap_or(30);
    if width == 0 || height == 0 || fps == 0 {
        bail!("width, height and fps must be positive (got {width}x{height} at {fps})");
    }
    let encoder = cli.encoder.or(file.encoder).map(|e| match e {
        EncoderKind::V4l2h264 => Encoder::V4l2H264,
        EncoderKind::X264 => Encoder::X264,
        EncoderKind::Openh264 => Encoder::OpenH264,
    });
    if let Some(forced) = encoder
        && !forced.is_installed()
    {
        bail!(
            "the encoder {} is not installed here (x264enc: gstreamer1.0-plugins-ugly; openh264enc: gstreamer1.0-plugins-bad; v4l2h264enc: a Raspberry Pi 4)",
            forced.element()
        );
    }
    let idle_stop_secs = cli.idle_stop_secs.or(file.idle_stop_secs).unwrap_or(60);
    Ok(AgentConfig {
        server: cli
            .server
            .or(file.server)
            .unwrap_or_else(|| "http://127.0.0.1:8080".into()),
        state_dir: cli
            .state_dir
            .or(file.state_dir)
            .unwrap_or_else(StateDir::default_location),
        name: cli.name.or(file.name),
        video: VideoSettings {
            source,
            encoder,
            width,
            height,
            framerate: fps,
            bitrate_kbps: cli.bitrate_kbps.or(file.bitrate_kbps).unwrap_or(1500),
            key_int: cli.key_int.or(file.key_int).unwrap_or(fps * 2),
            keyframe_min_interval: Duration::from_millis(
                cli.keyframe_min_interval_ms
                    .or(file.keyframe_min_interval_ms)
                    .unwrap_or(250),
            ),
        },
        max_viewers: cli.max_viewers.or(file.max_viewers).unwrap_or(8),
        idle_stop: (idle_stop_secs > 0).then(|| Duration::from_secs(idle_stop_secs)),
        status_interval: Duration::from_secs(
            cli.status_interval_secs
                .or(file.status_interval_secs)
                .unwrap_or(30)
                .max(1),
        ),
        re_enroll: matches!(cli.command, Some(Command::Pair)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str], file: &str) -> AgentConfig {
        gstreamer::init().expect("GStreamer initialises");
        let cli = Cli::try_parse_from(std::iter::once("mumu-agent").chain(args.iter().copied()))
            .expect("flags parse");
        config_from(cli, FileConfig::parse(file).expect("file parses")).expect("a configuration")
    }

    #[test]
    fn a_flag_wins_over_the_file_and_the_file_over_the_default() {
        let file = "server = \"http://file:1\"\nwidth = 640\nheight = 480\nidle_stop_secs = 0\nsource = \"test\"";
        let from_file = config(&[], file);
        assert_eq!(from_file.server, "http://file:1");
        assert_eq!((from_file.video.width, from_file.video.height), (640, 480));
        assert_eq!(from_file.video.framerate, 30, "the default");
        assert_eq!(from_file.idle_stop, None, "0 = never");
        let flagged = config(&["--server", "http://flag:2", "--width", "320"], file);
        assert_eq!(flagged.server, "http://flag:2");
        assert_eq!((flagged.video.width, flagged.video.height), (320, 480));
    }

    #[test]
    fn defaults_without_a_file() {
        let defaults = config(&["--simulate"], "");
        assert_eq!(defaults.server, "http://127.0.0.1:8080");
        assert_eq!((defaults.video.width, defaults.video.height), (1280, 720));
        assert_eq!(defaults.video.key_int, 60);
        assert_eq!(defaults.idle_stop, Some(Duration::from_secs(60)));
        assert_eq!(defaults.max_viewers, 8);
        assert_eq!(defaults.video.source, Source::test());
    }

    #[test]
    fn a_forced_encoder_that_is_not_installed_is_refused_before_anything_starts() {
        gstreamer::init().expect("GStreamer initialises");
        if Encoder::V4l2H264.is_installed() {
            return; // a Raspberry Pi 4: nothing to refuse
        }
        let cli = Cli::try_parse_from(["mumu-agent", "--simulate", "--encoder", "v4l2h264"])
            .expect("flags parse");
        let error = config_from(cli, FileConfig::default())
            .expect_err("not installed")
            .to_string();
        assert!(error.contains("v4l2h264enc is not installed"), "{error}");
    }
}
