//! Forgetting what is no longer needed, so that rows created by time (or by a stranger with a
//! script) do not pile up without bound: cameras enrolled but never paired and long silent,
//! logins that ended, old watch history and old motion events. Every server sweeps; the deletes
//! are idempotent.

use crate::db::Db;
use crate::error::Result;
use crate::state::AppState;
use mumu_shared::UnixMillis;
use std::sync::Arc;
use std::time::Duration;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// How long each kind of row is kept.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// A never-paired device neither seen nor enrolled for this many days is forgotten (its
    /// agent must enrol again).
    pub unpaired_device_days: u32,
    /// An ended or expired login's row is kept this many days.
    pub ended_login_days: u32,
    /// Watch history is kept this many days.
    pub session_history_days: u32,
    /// Motion events are kept this many days (`MUMU_EVENT_RETENTION_DAYS`).
    pub event_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            unpaired_device_days: 30,
            ended_login_days: 1,
            session_history_days: 90,
            event_days: 30,
        }
    }
}

/// What one sweep deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Never-paired devices.
    pub devices: u64,
    /// Ended logins.
    pub logins: u64,
    /// Watch sessions.
    pub sessions: u64,
    /// Motion events.
    pub events: u64,
}

/// Deletes what `retention` no longer keeps, as of `now`.
pub async fn sweep(db: &Db, retention: Retention, now: UnixMillis) -> Result<Swept> {
    let before = |days: u32| now - i64::from(days) * DAY_MS;
    let devices = sqlx::query(
        "DELETE FROM devices WHERE owner_id IS NULL AND COALESCE(last_seen, created_at) < $1",
    )
    .bind(before(retention.unpaired_device_days))
    .execute(&db.pool)
    .await?
    .rows_affected();
    let logins = sqlx::query("DELETE FROM auth_sessions WHERE expires_at < $1 OR revoked_at < $1")
        .bind(before(retention.ended_login_days))
        .execute(&db.pool)
        .await?
        .rows_affected();
    let sessions =
        sqlx::query("DELETE FROM watch_sessions WHERE COALESCE(ended_at, started_at) < $1")
            .bind(before(retention.session_history_days))
            .execute(&db.pool)
            .await?
            .rows_affected();
    let events = crate::events::sweep(db, before(retention.event_days)).await?;
    Ok(Swept {
        devices,
        logins,
        sessions,
        events,
    })
}

/// Sweeps every hour (the first a minute after start), until the task is aborted.
pub fn spawn(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        let mut every = tokio::time::interval(Duration::from_secs(3600));
        loop {
            every.tick().await;
            let retention = Retention {
                event_days: state.config.events.event_retention_days,
                ..Retention::default()
            };
            match sweep(&state.db, retention, state.clock.now_ms()).await {
                Ok(swept) if swept != Swept::default() => {
                    tracing::info!(?swept, "forgot rows past their retention")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "the retention sweep failed"),
            }
        }
    })
}
