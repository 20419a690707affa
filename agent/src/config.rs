//! The agent's configuration, all three layers: flags (each with its `MUMU_*` variable), the
//! TOML file, and the built-in defaults, in that order of precedence ([`resolve`]).
//! `agent/agent.toml.example` documents every key (a test keeps it readable by this module).

use crate::agent::{AgentConfig, RecordingSettings};
use crate::identity::StateDir;
use crate::media::VideoSettings;
use crate::media::audio::AudioSource;
use crate::media::capture::{Encoder, Source};
pub use crate::media::source::SourceKind;
use crate::recording::Limits;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// Where the file is looked for when `--config` is not given.
pub const DEFAULT_PATH: &str = "/etc/mumu-agent/agent.toml";

/// The file could not be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// Reading failed (a missing file named by `--config` lands here).
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not TOML, an unknown key, or a value of the wrong type; the message names the line.
    #[error("bad configuration file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's description, with line and column.
        message: String,
    },
    /// A setting that cannot work, and why.
    #[error("{0}")]
    Invalid(String),
    /// The video source asked for is not there.
    #[error(transparent)]
    Source(#[from] crate::media::MediaError),
}

/// The settings a flag or its `MUMU_*` variable can give; each wins over the file.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Flags {
    /// The TOML configuration file [default: /etc/mumu-agent/agent.toml when it exists].
    #[arg(long, env = "MUMU_CONFIG", global = true)]
    pub config: Option<PathBuf>,

    /// The MuMu server's base URL [default: http://127.0.0.1:8080].
    #[arg(long, env = "MUMU_SERVER", global = true)]
    pub server: Option<String>,

    /// Where the device identity is kept [default: /var/lib/mumu-agent as root, else the XDG
    /// state directory].
    #[arg(long, env = "MUMU_STATE_DIR", global = true)]
    pub state_dir: Option<PathBuf>,

    /// A file touched each time the server answers; `mumu-agent health` reads its age (for
    /// container health checks) [default: none].
    #[arg(long, env = "MUMU_HEALTH_FILE", global = true)]
    pub health_file: Option<PathBuf>,

    /// Use the test picture (still colour bars and a clock) instead of a camera: --source test.
    #[arg(long, global = true)]
    pub simulate: bool,

    /// The video source [default: auto].
    #[arg(long, env = "MUMU_SOURCE", value_enum, global = true)]
    pub source: Option<SourceKind>,

    /// The V4L2 device (--source v4l2 or auto) [default: /dev/video0].
    #[arg(long, env = "MUMU_DEVICE", global = true)]
    pub device: Option<PathBuf>,

    /// The test picture's videotestsrc pattern (smpte75, ball, smpte, snow, ...) [default:
    /// smpte75, still bars; ball moves all the time].
    #[arg(long, env = "MUMU_TEST_PATTERN", global = true)]
    pub test_pattern: Option<String>,

    /// Force an H.264 encoder [default: the first installed of v4l2h264, x264, openh264].
    #[arg(long, env = "MUMU_ENCODER", value_enum, global = true)]
    pub encoder: Option<EncoderKind>,

    /// Picture width [default: 1280].
    #[arg(long, env = "MUMU_WIDTH", global = true)]
    pub width: Option<u32>,

    /// Picture height [default: 720].
    #[arg(long, env = "MUMU_HEIGHT", global = true)]
    pub height: Option<u32>,

    /// Frames per second [default: 30].
    #[arg(long, env = "MUMU_FPS", global = true)]
    pub fps: Option<u32>,

    /// Target bitrate in kbit/s [default: 1500].
    #[arg(long, env = "MUMU_BITRATE_KBPS", global = true)]
    pub bitrate_kbps: Option<u32>,

    /// At most this many frames between keyframes [default: two seconds' worth].
    #[arg(long, env = "MUMU_KEY_INT", global = true)]
    pub key_int: Option<u32>,

    /// At most one keyframe request per this many milliseconds reaches the encoder
    /// [default: 250].
    #[arg(long, env = "MUMU_KEYFRAME_MIN_INTERVAL_MS", global = true)]
    pub keyframe_min_interval_ms: Option<u64>,

    /// At most this many viewers at once [default: 8].
    #[arg(long, env = "MUMU_MAX_VIEWERS", global = true)]
    pub max_viewers: Option<usize>,

    /// Stop capturing after this many seconds without viewers (0: never); the next watch
    /// starts it again [default: 60].
    #[arg(long, env = "MUMU_IDLE_STOP_SECS", global = true)]
    pub idle_stop_secs: Option<u64>,

    /// Seconds between status reports to the server [default: 30].
    #[arg(long, env = "MUMU_STATUS_INTERVAL_SECS", global = true)]
    pub status_interval_secs: Option<u64>,

    /// The dashboard's address as people open it, for the pairing link, when the camera reaches
    /// the server by another (a container name, a LAN address) [default: the server's].
    #[arg(long, env = "MUMU_DASHBOARD_URL", global = true)]
    pub dashboard_url: Option<String>,

    /// The name the device suggests for itself at enrolment [default: the hostname].
    #[arg(long, env = "MUMU_DEVICE_NAME", global = true)]
    pub name: Option<String>,

    /// Record the camera into this directory (fragmented MP4 segments of about a minute, kept
    /// by retention); the camera then runs whether or not anyone watches [default: off].
    #[arg(long, env = "MUMU_RECORD_DIR", global = true)]
    pub record_dir: Option<PathBuf>,

    /// Keep at most this many GB (10^9 bytes) of recordings [default: fill the disk to 90 %,
    /// always leaving 1 GiB free].
    #[arg(long, env = "MUMU_RECORD_MAX_GB", global = true)]
    pub record_max_gb: Option<f64>,

    /// Delete recordings older than this many days [default: keep them while there is room].
    #[arg(long, env = "MUMU_RECORD_KEEP_DAYS", global = true)]
    pub record_keep_days: Option<f64>,

    /// Start a new segment at the first keyframe after this many seconds [default: 60].
    #[arg(long, env = "MUMU_RECORD_SEGMENT_SECS", global = true, hide = true)]
    pub record_segment_secs: Option<u64>,

    /// Detect motion and keep its events (with thumbnails) in the state directory's `events`
    /// folder; the camera then runs whether or not anyone watches [default: on when the
    /// simulator's motion is on or the stored motion settings have a zone].
    #[arg(long, env = "MUMU_MOTION", global = true)]
    pub motion: Option<bool>,

    /// The test picture only: an object crosses it every SECS seconds (2 to 3600), to see
    /// motion events [default: off].
    #[arg(
        long,
        env = "MUMU_SIMULATE_MOTION_EVERY",
        global = true,
        value_name = "SECS"
    )]
    pub simulate_motion_every: Option<u64>,

    /// Send sound with the picture: the microphone (the test picture: a 1 kHz beep at the start
    /// of every second of its clock), encoded once to Opus for every viewer; `--audio` alone
    /// means true [default: false].
    #[arg(
        long,
        env = "MUMU_AUDIO",
        global = true,
        num_args = 0..=1,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub audio: Option<bool>,

    /// The microphone: an ALSA device (hw:1,0, plughw:CARD=Device,DEV=0; `arecord -L`) or a
    /// PipeWire/PulseAudio source name (`pactl list short sources`) [default: the system's
    /// default input, through autoaudiosrc; the test picture: its beep].
    #[arg(long, env = "MUMU_AUDIO_DEVICE", global = true)]
    pub audio_device: Option<String>,
}

/// An H.264 encoder to force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EncoderKind {
    /// The Raspberry Pi 4's hardware encoder (v4l2h264enc).
    V4l2h264,
    /// x264enc (software).
    X264,
    /// openh264enc (software).
    Openh264,
}

/// The file's keys; each is optional (see `agent/agent.toml.example`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The server's base URL.
    pub server: Option<String>,
    /// Where the identity is kept.
    pub state_dir: Option<PathBuf>,
    /// The dashboard's address for the pairing link.
    pub dashboard_url: Option<String>,
    /// The name suggested at enrolment.
    pub name: Option<String>,
    /// The video source.
    pub source: Option<SourceKind>,
    /// The V4L2 device.
    pub device: Option<PathBuf>,
    /// The test picture's pattern.
    pub test_pattern: Option<String>,
    /// A forced encoder.
    pub encoder: Option<EncoderKind>,
    /// Picture width.
    pub width: Option<u32>,
    /// Picture height.
    pub height: Option<u32>,
    /// Frames per second.
    pub fps: Option<u32>,
    /// Bitrate, kbit/s.
    pub bitrate_kbps: Option<u32>,
    /// Frames between keyframes.
    pub key_int: Option<u32>,
    /// Keyframe request throttle.
    pub keyframe_min_interval_ms: Option<u64>,
    /// Viewers at once.
    pub max_viewers: Option<usize>,
    /// Idle time before the pipeline stops (0: never).
    pub idle_stop_secs: Option<u64>,
    /// Status report interval.
    pub status_interval_secs: Option<u64>,
    /// Where to record (off when absent).
    pub record_dir: Option<PathBuf>,
    /// Recordings kept at most, GB.
    pub record_max_gb: Option<f64>,
    /// Recordings kept at most, days.
    pub record_keep_days: Option<f64>,
    /// Segment length, seconds.
    pub record_segment_secs: Option<u64>,
    /// Motion detection on or off.
    pub motion: Option<bool>,
    /// The simulator's crossing object, every this many seconds.
    pub simulate_motion_every: Option<u64>,
    /// Sound on or off.
    pub audio: Option<bool>,
    /// The microphone's ALSA or PipeWire/PulseAudio name.
    pub audio_device: Option<String>,
}

impl FileConfig {
    /// Reads `path`.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses TOML text; the error says what and where.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
    }

    /// The file named by `--config`, else the default one when it exists, else nothing.
    pub fn load(explicit: Option<&Path>) -> Result<(Self, Option<PathBuf>), ConfigError> {
        match explicit {
            Some(path) => Ok((Self::read(path)?, Some(path.to_owned()))),
            None if Path::new(DEFAULT_PATH).exists() => {
                let path = PathBuf::from(DEFAULT_PATH);
                Ok((Self::read(&path)?, Some(path)))
            }
            None => Ok((Self::default(), None)),
        }
    }
}

/// The settings in force: flags and variables over the file over the defaults.
pub fn resolve(cli: Flags, file: FileConfig, re_enroll: bool) -> Result<AgentConfig, ConfigError> {
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
        .unwrap_or_else(|| crate::media::source::DEFAULT_PATTERN.into());
    let source = Source::choose(kind, device, pattern)?;
    let audio_device = cli.audio_device.or(file.audio_device);
    let audio = if cli.audio.or(file.audio).unwrap_or(false) {
        let test_picture = matches!(source, Source::Test { .. });
        Some(AudioSource::choose(audio_device.as_deref(), test_picture)?)
    } else {
        None
    };
    let width = cli.width.or(file.width).unwrap_or(1280);
    let height = cli.height.or(file.height).unwrap_or(720);
    let fps = cli.fps.or(file.fps).unwrap_or(30);
    if width == 0 || height == 0 || fps == 0 {
        return Err(ConfigError::Invalid(format!(
            "width, height and fps must be positive (got {width}x{height} at {fps})"
        )));
    }
    let encoder = cli.encoder.or(file.encoder).map(|e| match e {
        EncoderKind::V4l2h264 => Encoder::V4l2H264,
        EncoderKind::X264 => Encoder::X264,
        EncoderKind::Openh264 => Encoder::OpenH264,
    });
    if let Some(forced) = encoder
        && !forced.is_installed()
    {
        return Err(ConfigError::Invalid(format!(
            "the encoder {} is not installed here (x264enc: gstreamer1.0-plugins-ugly; openh264enc: gstreamer1.0-plugins-bad; v4l2h264enc: a Raspberry Pi 4)",
            forced.element()
        )));
    }
    let idle_stop_secs = cli.idle_stop_secs.or(file.idle_stop_secs).unwrap_or(60);
    let simulated_motion = match cli.simulate_motion_every.or(file.simulate_motion_every) {
        None => None,
        Some(secs @ 2..=3600) => Some(Duration::from_secs(secs)),
        Some(secs) => {
            return Err(ConfigError::Invalid(format!(
                "simulate_motion_every must be between 2 and 3600 seconds (got {secs})"
            )));
        }
    };
    let recording = match cli.record_dir.or(file.record_dir) {
        None => None,
        Some(dir) => Some(RecordingSettings {
            dir,
            limits: Limits {
                max_bytes: positive("record_max_gb", cli.record_max_gb.or(file.record_max_gb))?
                    .map(|gb| (gb * 1e9) as u64),
                keep: positive(
                    "record_keep_days",
                    cli.record_keep_days.or(file.record_keep_days),
                )?
                .map(|days| Duration::from_secs_f64(days * 86_400.0)),
                segment: match cli.record_segment_secs.or(file.record_segment_secs) {
                    None => DEFAULT_SEGMENT,
                    Some(secs @ 1..=3600) => Duration::from_secs(secs),
                    Some(secs) => {
                        return Err(ConfigError::Invalid(format!(
                            "record_segment_secs must be between 1 and 3600 (got {secs})"
                        )));
                    }
                },
            },
        }),
    };
    Ok(AgentConfig {
        server: cli
            .server
            .or(file.server)
            .unwrap_or_else(|| "http://127.0.0.1:8080".into()),
        state_dir: cli
            .state_dir
            .or(file.state_dir)
            .unwrap_or_else(StateDir::default_location),
        dashboard_url: cli.dashboard_url.or(file.dashboard_url),
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
            simulated_motion,
            audio,
        },
        max_viewers: cli.max_viewers.or(file.max_viewers).unwrap_or(8),
        idle_stop: (idle_stop_secs > 0).then(|| Duration::from_secs(idle_stop_secs)),
        status_interval: Duration::from_secs(
            cli.status_interval_secs
                .or(file.status_interval_secs)
                .unwrap_or(30)
                .max(1),
        ),
        re_enroll,
        health_file: cli.health_file,
        recording,
        motion: cli.motion.or(file.motion),
    })
}

/// A recording's segments are about this long unless told otherwise.
pub const DEFAULT_SEGMENT: Duration = Duration::from_secs(60);

/// `value` if it is a positive number; the error names `key`.
fn positive(key: &str, value: Option<f64>) -> Result<Option<f64>, ConfigError> {
    match value {
        Some(v) if !(v.is_finite() && v > 0.0) => Err(ConfigError::Invalid(format!(
            "{key} must be a positive number (got {v})"
        ))),
        v => Ok(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flags as the command line gives them.
    fn parse(args: &[&str]) -> Flags {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            flags: Flags,
        }
        let args = std::iter::once("mumu-agent").chain(args.iter().copied());
        <Cli as clap::Parser>::try_parse_from(args)
            .expect("flags parse")
            .flags
    }

    fn config(args: &[&str], file: &str) -> AgentConfig {
        gstreamer::init().expect("GStreamer initialises");
        let flags = parse(args);
        resolve(flags, FileConfig::parse(file).expect("file parses"), false)
            .expect("a configuration")
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
        assert_eq!(
            defaults.video.source,
            Source::Test {
                pattern: "smpte75".into()
            },
            "a still picture: the simulator shows no motion unless asked to"
        );
        assert_eq!(defaults.video.simulated_motion, None);
        assert_eq!(defaults.motion, None, "decided at start from the settings");
    }

    #[test]
    fn simulated_motion_and_detection_are_settings_like_the_others() {
        let on = config(
            &["--simulate", "--simulate-motion-every", "5"],
            "motion = false",
        );
        assert_eq!(on.video.simulated_motion, Some(Duration::from_secs(5)));
        assert_eq!(on.motion, Some(false));
        let file = config(
            &["--simulate", "--motion", "true"],
            "simulate_motion_every = 30",
        );
        assert_eq!(file.video.simulated_motion, Some(Duration::from_secs(30)));
        assert_eq!(file.motion, Some(true));
        gstreamer::init().expect("GStreamer initialises");
        let error = resolve(
            parse(&["--simulate", "--simulate-motion-every", "1"]),
            FileConfig::default(),
            false,
        )
        .expect_err("too often")
        .to_string();
        assert!(error.contains("simulate_motion_every"), "{error}");
    }

    #[test]
    fn sound_is_off_by_default_and_the_simulator_beeps_when_it_is_on() {
        assert_eq!(config(&["--simulate"], "").video.audio, None);
        assert_eq!(
            config(&["--simulate", "--audio"], "").video.audio,
            Some(AudioSource::Beep),
            "--audio alone means true"
        );
        assert_eq!(
            config(&["--simulate", "--audio", "false"], "audio = true")
                .video
                .audio,
            None,
            "the flag wins over the file"
        );
        let file = "audio = true\naudio_device = \"hw:1,0\"";
        assert_eq!(
            config(&["--simulate"], file).video.audio,
            Some(AudioSource::Alsa("hw:1,0".into()))
        );
        gstreamer::init().expect("GStreamer initialises");
        let error = resolve(
            parse(&["--simulate", "--audio", "--audio-device", "my mic"]),
            FileConfig::default(),
            false,
        )
        .expect_err("a name with a space")
        .to_string();
        assert!(error.contains("audio_device"), "{error}");
    }

    #[test]
    fn a_forced_encoder_that_is_not_installed_is_refused_before_anything_starts() {
        gstreamer::init().expect("GStreamer initialises");
        if Encoder::V4l2H264.is_installed() {
            return; // a Raspberry Pi 4: nothing to refuse
        }
        let flags = parse(&["--simulate", "--encoder", "v4l2h264"]);
        let error = resolve(flags, FileConfig::default(), false)
            .expect_err("not installed")
            .to_string();
        assert!(error.contains("v4l2h264enc is not installed"), "{error}");
    }

    #[test]
    fn the_example_file_sets_every_key() {
        let example = include_str!("../agent.toml.example");
        // Every key is in the example, commented out; uncommented it must parse to values.
        let uncommented: String = example
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|l| {
                        l.split_once(" = ").is_some_and(|(key, _)| {
                            key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                        })
                    })
                    .unwrap_or(l)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let config = FileConfig::parse(&uncommented).expect("the example parses");
        assert_eq!(config.server.as_deref(), Some("https://cams.example.org"));
        assert_eq!(config.source, Some(SourceKind::Auto));
        assert_eq!(config.encoder, Some(EncoderKind::V4l2h264));
        assert_eq!(
            config.record_dir.as_deref(),
            Some(Path::new("/var/lib/mumu-agent/recordings"))
        );
        assert!(
            config.state_dir.is_some()
                && config.name.is_some()
                && config.device.is_some()
                && config.test_pattern.is_some()
                && config.width.is_some()
                && config.height.is_some()
                && config.fps.is_some()
                && config.bitrate_kbps.is_some()
                && config.key_int.is_some()
                && config.keyframe_min_interval_ms.is_some()
                && config.max_viewers.is_some()
                && config.idle_stop_secs.is_some()
                && config.status_interval_secs.is_some()
                && config.record_max_gb.is_some()
                && config.record_keep_days.is_some()
                && config.motion.is_some()
                && config.simulate_motion_every.is_some()
                && config.audio.is_some()
                && config.audio_device.is_some(),
            "every key is documented: {config:?}"
        );
        assert_eq!(FileConfig::parse(example).unwrap(), FileConfig::default());
    }

    #[test]
    fn a_typo_or_a_wrong_type_is_refused_with_its_place() {
        let typo = FileConfig::parse("widht = 640").unwrap_err();
        assert!(typo.contains("widht") && typo.contains("line 1"), "{typo}");
        let wrong = FileConfig::parse("width = \"wide\"").unwrap_err();
        assert!(wrong.contains("width"), "{wrong}");
        let source = FileConfig::parse("source = \"webcam\"").unwrap_err();
        assert!(
            source.contains("webcam") && source.contains("v4l2"),
            "{source}"
        );
    }

    #[test]
    fn recording_is_off_by_default_and_on_with_a_directory() {
        assert!(config(&["--simulate"], "").recording.is_none());
        let file = "record_dir = \"/srv/rec\"\nrecord_keep_days = 7.0";
        let on = config(&["--simulate", "--record-max-gb", "1.5"], file)
            .recording
            .expect("on");
        assert_eq!(on.dir, Path::new("/srv/rec"));
        assert_eq!(on.limits.max_bytes, Some(1_500_000_000));
        assert_eq!(on.limits.keep, Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(on.limits.segment, DEFAULT_SEGMENT);
        let flagged = config(
            &[
                "--simulate",
                "--record-dir",
                "/a",
                "--record-segment-secs",
                "5",
            ],
            "",
        )
        .recording
        .expect("on");
        assert_eq!(
            flagged.limits.max_bytes, None,
            "the default: the disk's room"
        );
        assert_eq!(flagged.limits.segment, Duration::from_secs(5));
    }

    #[test]
    fn a_recording_limit_that_is_not_positive_is_refused_by_name() {
        gstreamer::init().expect("GStreamer initialises");
        for (args, key) in [
            (&["--record-max-gb", "0"][..], "record_max_gb"),
            (&["--record-keep-days=-1"][..], "record_keep_days"),
            (&["--record-segment-secs", "0"][..], "record_segment_secs"),
        ] {
            let mut all = vec!["--simulate", "--record-dir", "/r"];
            all.extend_from_slice(args);
            let error = resolve(parse(&all), FileConfig::default(), false)
                .expect_err("refused")
                .to_string();
            assert!(error.contains(key), "{error}");
        }
    }

    #[test]
    fn a_missing_explicit_file_is_an_error_that_names_it() {
        let error = FileConfig::load(Some(Path::new("/nonexistent/agent.toml"))).unwrap_err();
        assert!(error.to_string().contains("/nonexistent/agent.toml"));
    }
}
