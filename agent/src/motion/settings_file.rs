//! The motion settings the owner gave the camera (zones, masks, sensitivity), kept in
//! `motion.json` in the events directory: read at start, replaced whole (temporary file, fsync,
//! rename) whenever new settings are applied.

use mumu_shared::events::{MotionSettings, SettingsError};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The settings file, in the events directory.
pub const SETTINGS_FILE: &str = "motion.json";

/// The largest settings file read: the most zones and masks with every point fit in a tenth.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// The settings could not be read or kept.
#[derive(Debug, Error)]
pub enum SettingsFileError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not JSON of the settings' shape, or too large.
    #[error("{path}: not motion settings: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// Settings out of bounds.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        source: SettingsError,
    },
}

/// The settings in `dir`, if the owner ever gave any.
pub fn load(dir: &Path) -> Result<Option<MotionSettings>, SettingsFileError> {
    let path = dir.join(SETTINGS_FILE);
    let io = |source| SettingsFileError::Io {
        path: path.clone(),
        source,
    };
    let size = match std::fs::metadata(&path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    if size > MAX_FILE_BYTES {
        return Err(SettingsFileError::Parse {
            path,
            message: format!("{size} bytes, more than {MAX_FILE_BYTES}"),
        });
    }
    let text = std::fs::read(&path).map_err(io)?;
    let settings: MotionSettings =
        serde_json::from_slice(&text).map_err(|e| SettingsFileError::Parse {
            path: path.clone(),
            message: e.to_string(),
        })?;
    settings
        .validate()
        .map_err(|source| SettingsFileError::Invalid {
            path: path.clone(),
            source,
        })?;
    Ok(Some(settings))
}

/// Keeps `settings` in `dir`, replacing what was there.
pub fn save(dir: &Path, settings: &MotionSettings) -> Result<(), SettingsFileError> {
    let path = dir.join(SETTINGS_FILE);
    let partial = path.with_extension("json.partial");
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| SettingsFileError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let text = serde_json::to_vec_pretty(settings).map_err(|e| io(&partial)(e.into()))?;
    let mut file = std::fs::File::create(&partial).map_err(io(&partial))?;
    file.write_all(&text).map_err(io(&partial))?;
    file.sync_all().map_err(io(&partial))?;
    std::fs::rename(&partial, &path).map_err(io(&path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mumu_shared::events::{MotionZone, rectangle};

    #[test]
    fn settings_are_kept_and_read_back_and_bad_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        let settings = MotionSettings {
            zones: vec![MotionZone {
                name: "door".into(),
                points: rectangle(0, 0, 5000, 5000),
            }],
            ..MotionSettings::default()
        };
        save(dir.path(), &settings).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(settings));
        std::fs::write(dir.path().join(SETTINGS_FILE), r#"{"sensitivity": 0}"#).unwrap();
        let error = load(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("sensitivity must be between 1 and 100"),
            "{error}"
        );
        std::fs::write(dir.path().join(SETTINGS_FILE), "zones").unwrap();
        assert!(matches!(
            load(dir.path()),
            Err(SettingsFileError::Parse { .. })
        ));
    }
}
