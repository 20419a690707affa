//! A webhook delivery's signature: HMAC-SHA256, keyed with the webhook's secret, over
//! `<timestamp>.<body>` (the timestamp is the `X-MuMu-Timestamp` header, Unix seconds), sent as
//! `X-MuMu-Signature: sha256=<hex>`. Signing the timestamp with the body lets a receiver refuse
//! an old delivery replayed with a new date. `docs/events.md` shows how to check it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-mumu-signature";

/// The header carrying the time of signing, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "x-mumu-timestamp";

/// `sha256=<hex>` for `body` signed at `timestamp` (Unix seconds) with `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same value as `printf '1767224400.{}' | openssl dgst -sha256 -hmac secret`.
    #[test]
    fn the_signature_is_hmac_sha256_of_the_timestamp_a_dot_and_the_body() {
        assert_eq!(
            signature("secret", 1_767_224_400, b"{}"),
            "sha256=2ddca626347fa23478d5ad1980c5368fedc6c3936cc6bfc29f035db1d6ec4d3e"
        );
    }
}
