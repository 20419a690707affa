//! Access tokens: HS256 JWTs naming the user and the login (`sid`), so a logout can revoke one
//! login. Expiry is checked against the service clock, not inside the JWT library.

use crate::secrets::Secret;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mumu_shared::UnixMillis;
use serde::{Deserialize, Serialize};

/// What a token says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The login (row in `auth_sessions`).
    pub sid: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
}

/// Signs and checks tokens with one key.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys([redacted])")
    }
}

impl TokenKeys {
    /// Keys from the JWT secret.
    pub fn new(secret: &Secret) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
        }
    }

    /// A signed token.
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &self.encoding,
        )?)
    }

    /// The claims of a token signed with this key that has not expired at `now`, or why not.
    pub fn verify(&self, token: &str, now: UnixMillis) -> Result<Claims, &'static str> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims = ["exp", "sub"].iter().map(|s| s.to_string()).collect();
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|_| "the access token is malformed or not signed by this server")?;
        if data.claims.exp * 1000 <= now {
            return Err("the access token has expired; log in again");
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: "u".into(),
            sid: "s".into(),
            iat: 0,
            exp,
        }
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let keys = TokenKeys::new(&Secret::new("0123456789abcdef0123"));
        let token = keys.sign(&claims(100)).unwrap();
        assert_eq!(keys.verify(&token, 99_999).unwrap(), claims(100));
        assert!(
            keys.verify(&token, 100_000)
                .unwrap_err()
                .contains("expired")
        );
    }

    #[test]
    fn a_token_from_another_key_or_tampered_is_refused() {
        let keys = TokenKeys::new(&Secret::new("0123456789abcdef0123"));
        let other = TokenKeys::new(&Secret::new("another-secret-of-length"));
        let token = other.sign(&claims(i64::MAX / 2000)).unwrap();
        assert!(keys.verify(&token, 0).is_err());
        assert!(keys.verify("not.a.token", 0).is_err());
    }
}
