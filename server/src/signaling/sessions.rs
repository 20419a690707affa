//! The record of watch sessions (`watch_sessions`): who watched what, when, and how it ended.

use super::hub::Ended;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::rate_limit::{KeyedLimiter, Rate};
use mumu_shared::{DeviceId, SessionId, UnixMillis, UserId};

/// The session record.
#[derive(Debug)]
pub struct Sessions {
    db: Db,
    /// Watch requests per user: each one mints TURN credentials and wakes a camera.
    requests: KeyedLimiter,
}

impl Sessions {
    /// Over this database, allowing each user `watches_per_min` watch requests a minute.
    pub fn new(db: Db, watches_per_min: u32) -> Self {
        Self {
            db,
            requests: KeyedLimiter::new(Rate::per_minute(watches_per_min)),
        }
    }

    /// Counts a watch request of `user`, or refuses it past the rate.
    pub fn admit(&self, user: &UserId, now: UnixMillis) -> Result<()> {
        self.requests
            .take(user.as_str(), now)
            .map_err(|wait| Error::rate_limited("watch requests", wait))
    }

    /// Records a session starting.
    pub async fn started(
        &self,
        id: &SessionId,
        device: &DeviceId,
        user: &UserId,
        now: UnixMillis,
    ) -> Result<()> {
        sqlx::query("INSERT INTO watch_sessions (id, device_id, user_id, started_at) VALUES ($1, $2, $3, $4)")
            .bind(id.as_str())
            .bind(device.as_str())
            .bind(user.as_str())
            .bind(now)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// Forgets a session that never opened (the device was offline or full).
    pub async fn discard(&self, id: &SessionId) -> Result<()> {
        sqlx::query("DELETE FROM watch_sessions WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// Records sessions ending, in the background: the socket that ended them goes on at once.
    pub fn record_ended(&self, ended: Vec<Ended>, now: UnixMillis) {
        if ended.is_empty() {
            return;
        }
        let pool = self.db.pool.clone();
        tokio::spawn(async move {
            for e in ended {
                let result = sqlx::query("UPDATE watch_sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL")
                    .bind(now)
                    .bind(e.reason.as_str())
                    .bind(e.session_id.as_str())
                    .execute(&pool)
                    .await;
                if let Err(err) = result {
                    tracing::error!(session_id = %e.session_id, error = %err, "could not record the end of a session");
                }
            }
        });
    }

    /// How a session ended, if it did (`None` while open or unknown).
    pub async fn end_reason(&self, id: &SessionId) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT end_reason FROM watch_sessions WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.db.pool)
                .await?;
        Ok(row.and_then(|(r,)| r))
    }
}
