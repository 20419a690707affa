//! Secrets: a wrapper that never prints its content, and the generate-once files that stand in
//! for `JWT_SECRET` / `TURN_SECRET` when they are not configured.

use anyhow::{Context, bail};
use base64::Engine;
use rand::RngCore;
use std::fmt;
use std::io::Write;
use std::path::Path;

/// A secret string. `Debug` and `Display` print `[redacted]`, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

/// `n` random bytes from the operating system, base64url without padding.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The configured secret, or the one kept in `dir/file_name`, or a new one written there with
/// mode 0600. A generated secret is logged as a warning: it is fine for one machine, but every
/// server behind one address must share it, so production sets it explicitly.
pub fn configured_or_generated(
    configured: Option<Secret>,
    dir: &Path,
    file_name: &str,
    env_name: &str,
) -> anyhow::Result<Secret> {
    if let Some(secret) = configured.filter(|s| !s.expose().is_empty()) {
        if secret.expose().len() < 16 {
            bail!("{env_name} is too short: use at least 16 characters (32 random bytes are best)");
        }
        return Ok(secret);
    }
    let path = dir.join(file_name);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(Secret::new(text.trim())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let secret = random_token(32);
    write_private(&path, &secret)?;
    tracing::warn!(
        path = %path.display(),
        "{env_name} is not set: generated one and kept it in the data directory; \
         set {env_name} explicitly when more than one server or a TURN server shares it"
    );
    Ok(Secret::new(secret))
}

/// Writes `content` to a new file readable by its owner only.
fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(content.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_in_debug_output() {
        let s = Secret::new("hunter2hunter2hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
    }

    #[test]
    fn a_generated_secret_is_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = configured_or_generated(None, dir.path(), "jwt_secret", "JWT_SECRET").unwrap();
        let again = configured_or_generated(None, dir.path(), "jwt_secret", "JWT_SECRET").unwrap();
        assert_eq!(first, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("jwt_secret"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_configured_secret_wins_and_must_not_be_short() {
        let dir = tempfile::tempdir().unwrap();
        let s =
            configured_or_generated(Some(Secret::new("0123456789abcdef")), dir.path(), "x", "X");
        assert_eq!(s.unwrap().expose(), "0123456789abcdef");
        let short = configured_or_generated(Some(Secret::new("short")), dir.path(), "x", "X");
        assert!(short.unwrap_err().to_string().contains("too short"));
        assert!(!dir.path().join("x").exists());
    }
}
