//! The agent's configuration file (TOML). Every key is also a flag and a `MUMU_*` variable;
//! a flag or variable wins over the file, the file over the built-in default.
//! `agent/agent.toml.example` documents every key (a test keeps it readable by this module).

use serde::Deserialize;
use std::path::{Path, PathBuf};
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
}

/// Which video source to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// The first one present: libcamera, then V4L2, then the test picture.
    Auto,
    /// The test picture.
    Test,
    /// A V4L2 device (USB webcam), raw or MJPEG.
    V4l2,
    /// The Raspberry Pi camera module through libcamera.
    Libcamera,
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

#[cfg(test)]
mod tests {
    use super::*;

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
                && config.status_interval_secs.is_some(),
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
    fn a_missing_explicit_file_is_an_error_that_names_it() {
        let error = FileConfig::load(Some(Path::new("/nonexistent/agent.toml"))).unwrap_err();
        assert!(error.to_string().contains("/nonexistent/agent.toml"));
    }
}
