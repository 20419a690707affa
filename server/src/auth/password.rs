//! Password hashing: argon2id with one of OWASP's equivalent parameter sets, 7 MiB and 5 passes
//! (the same defence as 19 MiB and 2 passes, with less memory held per login in progress: a
//! server that also runs on a Raspberry Pi keeps its footprint small). PHC strings carry the
//! parameters, so they can be raised later without invalidating old hashes.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::LazyLock;

/// Memory cost in KiB, passes, lanes: the figures the benchmark reports.
pub const PARAMS: (u32, u32, u32) = (7 * 1024, 5, 1);

fn hasher() -> Argon2<'static> {
    let (m, t, p) = PARAMS;
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(m, t, p, None).expect("valid argon2 parameters"),
    )
}

/// A hash of a password nobody has, verified against when the username is unknown so that a
/// failed login takes as long whether or not the account exists.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash("not a real password").expect("hashing works"));

/// Hashes a password (CPU-heavy: call from a blocking thread).
pub fn hash(password: &str) -> anyhow::Result<String> {
    hasher()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// Whether `password` matches `phc` (CPU-heavy: call from a blocking thread). `None` spends the
/// same time against a dummy hash and returns false.
pub fn verify(password: &str, phc: Option<&str>) -> bool {
    let phc = phc.unwrap_or(DUMMY_HASH.as_str());
    let Ok(parsed) = PasswordHash::new(phc) else {
        tracing::error!("a stored password hash is not a valid PHC string");
        return false;
    };
    hasher()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
        && phc != DUMMY_HASH.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_and_no_other() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"));
        assert!(verify("correct horse battery", Some(&h)));
        assert!(!verify("wrong horse battery", Some(&h)));
        assert!(!verify("anything", None));
    }
}
