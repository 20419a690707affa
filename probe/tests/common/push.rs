//! Web Push for the probe's tests: the deployment's VAPID keys, made by the real
//! `mumu-server vapid-keys`, and the local RFC 8030 push service of the server's tests, which
//! checks each push's VAPID token, decrypts it as the browser would, and records it.

#[path = "../../../server/tests/common/push_service.rs"]
pub mod push_service;

use super::binary;
use std::process::Command;

/// A VAPID pair from `mumu-server vapid-keys`: (private, public), base64url.
pub fn vapid_keys() -> (String, String) {
    let out = Command::new(binary("mumu-server"))
        .arg("vapid-keys")
        .output()
        .expect("mumu-server vapid-keys runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let value = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {text}"))
            .trim()
            .to_owned()
    };
    (
        value("MUMU_VAPID_PRIVATE_KEY="),
        value("# public key (served at /api/push/key): "),
    )
}

/// A server's variables for push with `private`, sending to the local push service (on
/// loopback, over http: allowed by name).
pub fn server_env(private: &str) -> Vec<(&'static str, String)> {
    vec![
        ("MUMU_VAPID_PRIVATE_KEY", private.to_owned()),
        ("MUMU_VAPID_SUBJECT", "mailto:ops@example.com".to_owned()),
        ("MUMU_PUSH_ALLOWED_HOSTS", "127.0.0.1".to_owned()),
    ]
}
