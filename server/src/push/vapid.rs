//! The deployment's VAPID key pair (RFC 8292): the browser subscribes with its public half,
//! and every push carries a JWT signed with the private half, so the push service accepts
//! pushes for that subscription from this deployment only. One pair for the whole deployment,
//! from the configuration: a pair per server would make every server's pushes but one's fail.

use crate::config::PushSettings;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mumu_shared::UnixMillis;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use rand::RngCore;
use serde::Serialize;
use url::Url;

/// How long a signed VAPID token is good for: RFC 8292 allows up to 24 hours; 12 is what
/// push services commonly ask for.
const TOKEN_LIFE_SECS: i64 = 12 * 3600;

/// What is wrong with the configured keys.
#[derive(Debug, thiserror::Error)]
pub enum VapidError {
    /// The private key is not base64url of a P-256 private scalar.
    #[error(
        "MUMU_VAPID_PRIVATE_KEY is not a VAPID private key ({0}); `mumu-server vapid-keys` makes one"
    )]
    BadKey(String),
    /// The key names a file that cannot be read.
    #[error("MUMU_VAPID_PRIVATE_KEY names the file {path}, which cannot be read: {error}")]
    File {
        /// The path given.
        path: String,
        /// Why not.
        error: std::io::Error,
    },
    /// A key without a subject, or a subject that is neither mailto: nor https:.
    #[error(
        "MUMU_VAPID_SUBJECT must be a mailto: address or an https: URL where push services can reach the \
         deployment's operator (got {0:?})"
    )]
    BadSubject(String),
    /// Signing failed (not expected with a key that parsed).
    #[error("signing a VAPID token: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// The key pair and the contact, ready to sign.
pub struct VapidKeys {
    signing: EncodingKey,
    public_key: String,
    subject: String,
}

impl std::fmt::Debug for VapidKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKeys")
            .field("public_key", &self.public_key)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    exp: i64,
    sub: &'a str,
}

impl VapidKeys {
    /// The keys the settings name; `None` when no private key is set (push is off).
    pub fn from_settings(settings: &PushSettings) -> Result<Option<Self>, VapidError> {
        let Some(configured) = settings
            .vapid_private_key
            .as_ref()
            .map(|s| s.expose().trim())
            .filter(|s| !s.is_empty())
        else {
            return Ok(None);
        };
        // base64url has no `/`: a value with one is a path.
        let private = if configured.contains('/') {
            std::fs::read_to_string(configured)
                .map_err(|error| VapidError::File {
                    path: configured.to_owned(),
                    error,
                })?
                .trim()
                .to_owned()
        } else {
            configured.to_owned()
        };
        let subject = settings.vapid_subject.as_deref().unwrap_or_default();
        Self::new(&private, subject).map(Some)
    }

    /// The keys from a base64url private scalar and a contact.
    pub fn new(private: &str, subject: &str) -> Result<Self, VapidError> {
        let subject = subject.trim();
        if !valid_subject(subject) {
            return Err(VapidError::BadSubject(subject.to_owned()));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(private.trim().trim_end_matches('='))
            .map_err(|e| VapidError::BadKey(format!("not base64url: {e}")))?;
        if bytes.len() != 32 {
            return Err(VapidError::BadKey(format!(
                "{} bytes, where a P-256 private key is 32",
                bytes.len()
            )));
        }
        let secret = p256::SecretKey::from_slice(&bytes)
            .map_err(|_| VapidError::BadKey("not a P-256 private key".into()))?;
        let der = secret
            .to_pkcs8_der()
            .map_err(|e| VapidError::BadKey(e.to_string()))?;
        let keys = Self {
            signing: EncodingKey::from_ec_der(der.as_bytes()),
            public_key: URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false)),
            subject: subject.to_owned(),
        };
        // Fail at start-up, not at the first event.
        keys.sign("https://push.example", 0)?;
        Ok(keys)
    }

    /// A new pair: (private, public), base64url, as the configuration and the browser take them.
    pub fn generate() -> (String, String) {
        loop {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            // Almost every 32 bytes are a valid scalar; the rare one that is not is redrawn.
            if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
                let public = secret.public_key().to_encoded_point(false);
                return (
                    URL_SAFE_NO_PAD.encode(bytes),
                    URL_SAFE_NO_PAD.encode(public),
                );
            }
        }
    }

    /// The public key: the uncompressed point, base64url (the browser's
    /// `applicationServerKey`).
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The `Authorization` header for a push to `endpoint` at `now`: a JWT for the endpoint's
    /// origin (RFC 6454's, port included when not the scheme's own), good for 12 hours, naming
    /// the contact, and the public key that checks it.
    pub fn authorization(&self, endpoint: &Url, now: UnixMillis) -> Result<String, VapidError> {
        let audience = endpoint.origin().ascii_serialization();
        let token = self.sign(&audience, now)?;
        Ok(format!("vapid t={token}, k={}", self.public_key))
    }

    fn sign(&self, audience: &str, now: UnixMillis) -> Result<String, VapidError> {
        let claims = Claims {
            aud: audience,
            exp: now / 1000 + TOKEN_LIFE_SECS,
            sub: &self.subject,
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::ES256),
            &claims,
            &self.signing,
        )?)
    }
}

fn valid_subject(subject: &str) -> bool {
    if let Some(address) = subject.strip_prefix("mailto:") {
        return address.contains('@') && !address.contains(char::is_whitespace);
    }
    subject.starts_with("https://") && Url::parse(subject).is_ok_and(|u| u.host().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_pair_is_taken_back_and_gives_its_public_half() {
        let (private, public) = VapidKeys::generate();
        let keys = VapidKeys::new(&private, "mailto:ops@example.com").unwrap();
        assert_eq!(keys.public_key(), public);
        assert_eq!(URL_SAFE_NO_PAD.decode(&public).unwrap().len(), 65);
    }

    #[test]
    fn bad_keys_and_subjects_are_refused_with_the_reason() {
        let (private, _) = VapidKeys::generate();
        let short = VapidKeys::new("AAAA", "mailto:a@b.c").unwrap_err();
        assert!(short.to_string().contains("3 bytes"), "{short}");
        let zero = VapidKeys::new(&URL_SAFE_NO_PAD.encode([0u8; 32]), "mailto:a@b.c");
        assert!(zero.is_err());
        for subject in ["", "ops@example.com", "http://example.com", "mailto:nobody"] {
            let e = VapidKeys::new(&private, subject).unwrap_err();
            assert!(matches!(e, VapidError::BadSubject(_)), "{subject}: {e}");
        }
        assert!(VapidKeys::new(&private, "https://cams.example.com/contact").is_ok());
    }

    #[test]
    fn the_audience_is_the_endpoints_origin_with_its_port() {
        let (private, _) = VapidKeys::generate();
        let keys = VapidKeys::new(&private, "mailto:a@b.c").unwrap();
        let header = keys
            .authorization(&Url::parse("http://127.0.0.1:9000/push/1").unwrap(), 0)
            .unwrap();
        let token = header
            .strip_prefix("vapid t=")
            .unwrap()
            .split(',')
            .next()
            .unwrap();
        let claims = token.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
        assert_eq!(claims["aud"], "http://127.0.0.1:9000");
        assert_eq!(claims["exp"], 12 * 3600);
        assert!(header.ends_with(&format!(", k={}", keys.public_key())));
    }
}
