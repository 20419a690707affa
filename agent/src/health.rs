//! A file the agent touches each time the server acknowledges it (the hello, every heartbeat),
//! and `mumu-agent health`, which reads its age: a container's health check that needs no port,
//! no curl and no shell. Off unless `--health-file` is given (an SD card is spared the writes).

use std::path::Path;
use std::time::{Duration, SystemTime};
use thiserror::Error;

/// Heartbeats come every 20 s: older than this, three went unanswered.
pub const MAX_AGE: Duration = Duration::from_secs(90);

/// Why the agent is not healthy.
#[derive(Debug, Error)]
pub enum Unhealthy {
    /// No file: the agent never reached the server (or is not told to write one).
    #[error("{path}: the agent has not reached its server yet ({source})")]
    NeverConnected {
        /// The health file.
        path: String,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The server has not answered for too long.
    #[error("the server last answered {} s ago (more than {} s)", .age.as_secs(), MAX_AGE.as_secs())]
    Stale {
        /// Since the last answer.
        age: Duration,
    },
}

/// Records that the server just answered.
pub fn mark(path: &Path) {
    let now = crate::now_ms();
    if let Err(e) = std::fs::write(path, format!("{now}\n")) {
        tracing::warn!(path = %path.display(), "cannot write the health file: {e}");
    }
}

/// How long ago the server last answered, if recently enough.
pub fn check(path: &Path) -> Result<Duration, Unhealthy> {
    let never = |source| Unhealthy::NeverConnected {
        path: path.display().to_string(),
        source,
    };
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(never)?;
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or_default();
    if age > MAX_AGE {
        return Err(Unhealthy::Stale { age });
    }
    Ok(age)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_after_a_mark_and_stale_when_old() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alive");
        let never = check(&path).unwrap_err();
        assert!(matches!(never, Unhealthy::NeverConnected { .. }), "{never}");
        mark(&path);
        assert!(check(&path).unwrap() < Duration::from_secs(5));
        let old = SystemTime::now() - MAX_AGE - Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let stale = check(&path).unwrap_err();
        assert!(
            stale.to_string().starts_with("the server last answered 9"),
            "{stale}"
        );
    }
}
