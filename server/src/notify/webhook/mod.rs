//! Webhooks: one per account, a URL and a secret, for people who use Home Assistant or their
//! own scripts. [`Webhooks`] keeps them (set, read, remove, through REST); [`sender`] posts the
//! notifications to them off the request path. Where a webhook may point is [`address`]'s
//! rule; how a delivery is signed, [`sign`]'s.

pub mod address;
pub mod sender;
pub mod sign;

use crate::clock::SharedClock;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::outbound::Guard;
use address::{check_url, resolve_checked};
use mumu_shared::UserId;
use mumu_shared::api::{Webhook, WebhookRequest};
use mumu_shared::validate::is_deceptive;
use rand::RngCore;

/// The shortest secret a person may choose.
pub const MIN_SECRET_CHARS: usize = 16;

/// The longest.
pub const MAX_SECRET_CHARS: usize = 128;

/// The accounts' webhooks, as stored.
#[derive(Debug)]
pub struct Webhooks {
    db: Db,
    clock: SharedClock,
    allowed: Guard,
}

impl Webhooks {
    /// The service; `allowed` are the hosts the operator lets webhooks reach in private networks.
    pub fn new(db: Db, clock: SharedClock, allowed: Guard) -> Self {
        Self { db, clock, allowed }
    }

    /// Sets `user`'s webhook, replacing any. The URL's host is resolved now, so that a private
    /// address is refused with a message now rather than failing every delivery later (each
    /// delivery checks again). Without a secret in the request, one is made and shown once.
    pub async fn set(&self, user: &UserId, req: &WebhookRequest) -> Result<Webhook> {
        let url =
            check_url(&req.url, &self.allowed).map_err(|e| Error::validation(e.to_string()))?;
        if let Some(url::Host::Domain(name)) = url.host() {
            resolve_checked(name, &self.allowed)
                .await
                .map_err(|e| Error::validation(e.to_string()))?;
        }
        let (secret, made) = match &req.secret {
            Some(secret) => (check_secret(secret)?, false),
            None => (new_secret(), true),
        };
        let now = self.clock.now_ms();
        sqlx::query(
            "INSERT INTO webhooks (user_id, url, secret, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id) DO UPDATE SET url = excluded.url, secret = excluded.secret, \
             created_at = excluded.created_at",
        )
        .bind(user.as_str())
        .bind(url.as_str())
        .bind(&secret)
        .bind(now)
        .execute(&self.db.pool)
        .await?;
        tracing::info!(user_id = %user, host = url.host_str().unwrap_or_default(), "webhook set");
        Ok(Webhook {
            url: url.to_string(),
            created_at: now,
            secret: made.then_some(secret),
        })
    }

    /// `user`'s webhook, without its secret.
    pub async fn get(&self, user: &UserId) -> Result<Webhook> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT url, created_at FROM webhooks WHERE user_id = $1")
                .bind(user.as_str())
                .fetch_optional(&self.db.pool)
                .await?;
        row.map(|(url, created_at)| Webhook {
            url,
            created_at,
            secret: None,
        })
        .ok_or_else(no_webhook)
    }

    /// Removes `user`'s webhook.
    pub async fn remove(&self, user: &UserId) -> Result<()> {
        let removed = sqlx::query("DELETE FROM webhooks WHERE user_id = $1")
            .bind(user.as_str())
            .execute(&self.db.pool)
            .await?;
        if removed.rows_affected() == 0 {
            return Err(no_webhook());
        }
        Ok(())
    }
}

fn no_webhook() -> Error {
    Error::not_found("you have no webhook; set one with PUT /api/webhook")
}

fn check_secret(secret: &str) -> Result<String> {
    let chars = secret.chars().count();
    if !(MIN_SECRET_CHARS..=MAX_SECRET_CHARS).contains(&chars) {
        return Err(Error::validation(format!(
            "the webhook secret must be {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} characters \
             (got {chars}); leave it out and the server makes one"
        )));
    }
    if secret.chars().any(|c| c.is_control() || is_deceptive(c)) {
        return Err(Error::validation(
            "the webhook secret must be printable text (no control or invisible characters)",
        ));
    }
    Ok(secret.to_owned())
}

/// 256 random bits, hex.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_printable_text_or_made_by_the_server() {
        assert!(check_secret("0123456789abcdef").is_ok());
        assert!(check_secret("short").is_err());
        assert!(check_secret(&"x".repeat(129)).is_err());
        assert!(check_secret("0123456789abcdef\n").is_err());
        let made = new_secret();
        assert_eq!(made.len(), 64);
        assert_ne!(made, new_secret());
    }
}
