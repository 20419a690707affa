//! TURN credentials in coturn's REST-API scheme (`use-auth-secret`): the username is
//! `expiry:subject` and the password is base64(HMAC-SHA1(shared secret, username)). coturn
//! recomputes the password from the username, so nothing is stored anywhere.

use crate::config::TurnSettings;
use crate::secrets::Secret;
use base64::Engine;
use hmac::{Hmac, Mac};
use mumu_shared::UnixMillis;
use mumu_shared::signaling::IceServer;
use sha1::Sha1;

/// The ICE servers to hand to peers, and how to mint their credentials.
#[derive(Clone, Debug)]
pub struct Turn {
    secret: Secret,
    turn_urls: Vec<String>,
    stun_urls: Vec<String>,
    ttl_secs: u64,
}

impl Turn {
    /// The shared secret, and the URLs (empty entries ignored) and credential lifetime of
    /// `settings`.
    pub fn new(secret: Secret, settings: &TurnSettings) -> Self {
        let (turn_urls, stun_urls, ttl_secs) = (
            &settings.turn_urls,
            &settings.stun_urls,
            settings.turn_ttl_secs,
        );
        let clean = |urls: &[String]| {
            urls.iter()
                .map(|u| u.trim().to_owned())
                .filter(|u| !u.is_empty())
                .collect::<Vec<_>>()
        };
        Self {
            secret,
            turn_urls: clean(turn_urls),
            stun_urls: clean(stun_urls),
            ttl_secs,
        }
    }

    /// How long minted TURN credentials last, in milliseconds; `None` without TURN servers.
    pub fn credentials_ttl_ms(&self) -> Option<u64> {
        (!self.turn_urls.is_empty()).then(|| self.ttl_secs.saturating_mul(1000))
    }

    /// The ICE servers for one peer of one session: STUN as configured, TURN with a credential
    /// for `subject` valid for the configured lifetime from `now`.
    pub fn ice_servers(&self, subject: &str, now: UnixMillis) -> Vec<IceServer> {
        let mut servers = Vec::new();
        if !self.stun_urls.is_empty() {
            servers.push(IceServer {
                urls: self.stun_urls.clone(),
                username: None,
                credential: None,
            });
        }
        if !self.turn_urls.is_empty() {
            let expiry = now / 1000 + self.ttl_secs as i64;
            let (username, credential) = credential(&self.secret, expiry, subject);
            servers.push(IceServer {
                urls: self.turn_urls.clone(),
                username: Some(username),
                credential: Some(credential),
            });
        }
        servers
    }
}

/// coturn's REST-API credential for `subject`, valid until `expiry` (Unix seconds).
pub fn credential(secret: &Secret, expiry: i64, subject: &str) -> (String, String) {
    let username = format!("{expiry}:{subject}");
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    let password = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    (username, password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_match_a_known_coturn_vector() {
        // Computed independently: python3 -c "import hmac,hashlib,base64;
        // print(base64.b64encode(hmac.new(b'north', b'1700000000:alice', hashlib.sha1).digest()))"
        let (user, pass) = credential(&Secret::new("north"), 1_700_000_000, "alice");
        assert_eq!(user, "1700000000:alice");
        assert_eq!(pass, PYTHON_VECTOR);
    }

    const PYTHON_VECTOR: &str = "Cd/49soE35ICqcJF/bCTn8Z4OyE=";

    fn settings(turn_urls: &[&str], stun_urls: &[&str], ttl: u64) -> TurnSettings {
        let mut settings = crate::config::Config::defaults().turn;
        settings.turn_urls = turn_urls.iter().map(|u| u.to_string()).collect();
        settings.stun_urls = stun_urls.iter().map(|u| u.to_string()).collect();
        settings.turn_ttl_secs = ttl;
        settings
    }

    #[test]
    fn ice_servers_carry_stun_plain_and_turn_with_an_expiring_credential() {
        let turn = Turn::new(
            Secret::new("north"),
            &settings(
                &["turn:turn.example.com:3478?transport=udp", " "],
                &["stun:stun.example.com:3478"],
                3600,
            ),
        );
        let servers = turn.ice_servers("session-1", 1_700_000_000_000);
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].username, None);
        assert_eq!(
            servers[1].urls,
            vec!["turn:turn.example.com:3478?transport=udp"]
        );
        assert_eq!(servers[1].username.as_deref(), Some("1700003600:session-1"));
        assert_eq!(turn.credentials_ttl_ms(), Some(3_600_000));
        let stun_only = Turn::new(Secret::new("x"), &settings(&[], &["stun:s"], 1));
        assert_eq!(stun_only.ice_servers("s", 0).len(), 1);
        assert_eq!(stun_only.credentials_ttl_ms(), None);
    }
}
