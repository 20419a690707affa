//! The device's identity: the id and secret it got at enrolment, kept in a private state file.
//!
//! The secret is the device's only proof of who it is, and the server shows it once. It lives in
//! `identity.json` in the state directory, written with mode 0600 (through a temporary file and
//! a rename, so a crash never leaves half a secret behind). The pairing code is kept beside it so
//! that a restart within the code's lifetime shows the same code again.

use mumu_shared::{DeviceId, UnixMillis};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use thiserror::Error;

const FILE_NAME: &str = "identity.json";

/// What the agent keeps between runs.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Identity {
    /// The server this identity belongs to (an identity is worthless on another server).
    pub server: String,
    /// The device's id.
    pub device_id: DeviceId,
    /// The device's secret.
    pub device_secret: String,
    /// The last pairing code the server gave, while the device was not paired yet.
    #[serde(default)]
    pub pairing_code: Option<String>,
    /// When that code stops working.
    #[serde(default)]
    pub pairing_code_expires_at: Option<UnixMillis>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("server", &self.server)
            .field("device_id", &self.device_id)
            .field("device_secret", &"<hidden>")
            .finish_non_exhaustive()
    }
}

/// Reading or writing the state file failed.
#[derive(Debug, Error)]
pub enum IdentityError {
    /// The file or its directory could not be read or written.
    #[error("state file {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The file exists but is not an identity.
    #[error("state file {path} is damaged: {source}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What the parser found.
        source: serde_json::Error,
    },
}

/// The state directory: its files and where it is by default.
#[derive(Clone, Debug)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// A state directory at `dir`, created (mode 0700) when first written.
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// `/var/lib/mumu-agent` for root (the systemd unit's `StateDirectory`), otherwise
    /// `$XDG_STATE_HOME/mumu-agent`, falling back to `~/.local/state/mumu-agent`.
    pub fn default_location() -> PathBuf {
        let is_root = fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        if is_root {
            return PathBuf::from("/var/lib/mumu-agent");
        }
        if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
            return PathBuf::from(state).join("mumu-agent");
        }
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
        home.join(".local/state/mumu-agent")
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn file(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// The stored identity, if there is one.
    pub fn load(&self) -> Result<Option<Identity>, IdentityError> {
        let path = self.file();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(IdentityError::Io { path, source }),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| IdentityError::Damaged { path, source })
    }

    /// Stores `identity`, readable by this user only.
    pub fn save(&self, identity: &Identity) -> Result<(), IdentityError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| IdentityError::Io { path, source }
        };
        fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700)).map_err(io(&self.dir))?;
        let path = self.file();
        let temp = self.dir.join(format!(".{FILE_NAME}.tmp"));
        let text =
            serde_json::to_string_pretty(identity).map_err(|source| IdentityError::Damaged {
                path: path.clone(),
                source,
            })?;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)
            .map_err(io(&temp))?;
        // The mode above applies only to a new file; make sure of it for a left-over one.
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io(&temp))?;
        file.write_all(text.as_bytes()).map_err(io(&temp))?;
        file.sync_all().map_err(io(&temp))?;
        fs::rename(&temp, &path).map_err(io(&path))
    }

    /// Forgets the identity (`mumu-agent pair` starts over).
    pub fn forget(&self) -> Result<(), IdentityError> {
        let path = self.file();
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(IdentityError::Io { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Identity {
        Identity {
            server: "http://127.0.0.1:8080".into(),
            device_id: "d-1".into(),
            device_secret: "s3cret".into(),
            pairing_code: Some("ABCD-EFGH".into()),
            pairing_code_expires_at: Some(1),
        }
    }

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "mumu-agent-test-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        dir.join("state")
    }

    #[test]
    fn a_saved_identity_loads_back_and_only_its_owner_can_read_it() {
        let state = StateDir::new(scratch());
        assert!(state.load().unwrap().is_none());
        state.save(&sample()).unwrap();
        assert_eq!(state.load().unwrap(), Some(sample()));
        let mode = fs::metadata(state.file()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = fs::metadata(state.path()).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        state.forget().unwrap();
        assert!(state.load().unwrap().is_none());
        let _ = fs::remove_dir_all(state.path().parent().unwrap());
    }

    #[test]
    fn the_secret_never_appears_in_debug_output() {
        assert!(!format!("{:?}", sample()).contains("s3cret"));
    }
}
