//! The record of watch sessions (`watch_sessions`): who watched what, when, and how it ended.
//! The hub reports each start and end on one ordered channel; [`Sessions::record`] writes them.

use super::hub::Record;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::rate_limit::{BucketStore, KeyedLimiter, Rate};
use mumu_shared::{SessionId, UnixMillis, UserId};

/// Writes one record.
async fn write(db: &Db, record: Record) -> Result<()> {
    match record {
        Record::Started {
            session_id,
            device_id,
            user_id,
            at,
        } => {
            sqlx::query(
                "INSERT INTO watch_sessions (id, device_id, user_id, started_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(session_id.as_str())
            .bind(device_id.as_str())
            .bind(user_id.as_str())
            .bind(at)
            .execute(&db.pool)
            .await?;
        }
        Record::Ended { ended, at } => {
            sqlx::query(
                "UPDATE watch_sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL",
            )
            .bind(at)
            .bind(ended.reason.as_str())
            .bind(ended.session_id.as_str())
            .execute(&db.pool)
            .await?;
        }
        Record::Flush(done) => {
            let _ = done.send(());
        }
    }
    Ok(())
}

/// The session record.
#[derive(Debug)]
pub struct Sessions {
    db: Db,
    /// Watch requests per user: each one mints TURN credentials and wakes a camera.
    requests: KeyedLimiter,
}

impl Sessions {
    /// Over this database, allowing each user `watches_per_min` watch requests a minute,
    /// counted in `store`.
    pub fn new(db: Db, watches_per_min: u32, store: &BucketStore) -> Self {
        Self {
            db,
            requests: KeyedLimiter::in_store(
                "watch_user",
                Rate::per_minute(watches_per_min),
                store,
            ),
        }
    }

    /// Counts a watch request of `user`, or refuses it past the rate.
    pub async fn admit(&self, user: &UserId, now: UnixMillis) -> Result<()> {
        self.requests
            .take(user.as_str(), now)
            .await
            .map_err(|wait| Error::rate_limited("watch requests", wait))
    }

    /// Writes what the hub reports, in order, until the hub is gone. A failed write is logged
    /// and the rest go on.
    pub fn record(
        &self,
        mut records: tokio::sync::mpsc::Receiver<Record>,
    ) -> tokio::task::JoinHandle<()> {
        let db = self.db.clone();
        tokio::spawn(async move {
            while let Some(record) = records.recv().await {
                if let Err(e) = write(&db, record).await {
                    tracing::error!(error = %e, "could not record a watch session");
                }
            }
        })
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
