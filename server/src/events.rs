//! Motion events as the server keeps them: metadata a paired camera reports (`motion_event`),
//! never a picture. Stored by the server that holds the camera's socket, one row per event (its
//! start is its identity on the camera): the first message of an event makes the row, and says
//! so, which is what lets exactly one notification go out per event however many servers run;
//! the second (as it ends) completes it. Kept `MUMU_EVENT_RETENTION_DAYS`, listed newest first.

use crate::clock::SharedClock;
use crate::config::EventSettings;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::rate_limit::{BucketStore, KeyedLimiter, Rate};
use mumu_shared::api::Event;
use mumu_shared::signaling::MotionEvent;
use mumu_shared::{DeviceId, UnixMillis, UserId, validate};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A day, in milliseconds.
pub const DAY_MS: i64 = 24 * 3600 * 1000;

/// The events a list gives when the caller does not say.
pub const DEFAULT_PAGE: u32 = 50;

/// The most events one list gives.
pub const MAX_PAGE: u32 = 200;

/// What storing a camera's `motion_event` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The camera's name now.
    pub device_name: String,
    /// Whether this message made the event's row (its first): only then may it notify.
    pub new: bool,
}

/// The events service.
pub struct Events {
    db: Db,
    clock: SharedClock,
    retention_days: u32,
    per_device: KeyedLimiter,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Events")
    }
}

impl Events {
    /// The service; the per-camera limit counts in `store` (shared by every server with Redis).
    pub fn new(db: Db, clock: SharedClock, settings: &EventSettings, store: &BucketStore) -> Self {
        Self {
            db,
            clock,
            retention_days: settings.event_retention_days,
            per_device: KeyedLimiter::in_store(
                "motion_device",
                Rate::per_minute(settings.motion_events_per_min),
                store,
            ),
        }
    }

    /// The oldest start kept, as of `now`.
    pub fn oldest_kept(&self, now: UnixMillis) -> UnixMillis {
        now - i64::from(self.retention_days) * DAY_MS
    }

    /// Stores what a camera said of an event: refused when the camera sends too many, when it
    /// is not paired (nobody to show them to), or when a field is out of bounds.
    pub async fn record(&self, device_id: &DeviceId, event: &MotionEvent) -> Result<Recorded> {
        let now = self.clock.now_ms();
        if let Err(wait_ms) = self.per_device.take(device_id.as_str(), now).await {
            return Err(Error::rate_limited(
                "motion events from this camera",
                wait_ms.div_ceil(1000).max(1),
            ));
        }
        validate::motion_event(event, now, self.oldest_kept(now)).map_err(Error::validation)?;
        let camera: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT name, owner_id FROM devices WHERE id = $1")
                .bind(device_id.as_str())
                .fetch_optional(&self.db.pool)
                .await?;
        let device_name = match camera {
            Some((name, Some(_))) => name,
            _ => {
                return Err(Error::forbidden(
                    "this camera is not paired: nobody would see its events, so none are kept \
                     until someone claims it with its pairing code",
                ));
            }
        };
        let zones = serde_json::to_string(&event.zones).map_err(anyhow::Error::from)?;
        let inserted = sqlx::query(
            "INSERT INTO events (device_id, started_at, ended_at, zones, peak_score, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (device_id, started_at) DO NOTHING",
        )
        .bind(device_id.as_str())
        .bind(event.start)
        .bind(event.end)
        .bind(&zones)
        .bind(i64::from(event.peak_score))
        .bind(now)
        .execute(&self.db.pool)
        .await?;
        let new = inserted.rows_affected() == 1;
        if !new {
            // The event's end (or a repeat): what it says is later, so it wins; an end once
            // known stays, and the peak only grows.
            sqlx::query(
                "UPDATE events SET ended_at = COALESCE($1, ended_at), zones = $2, \
                 peak_score = CASE WHEN peak_score > $3 THEN peak_score ELSE $3 END \
                 WHERE device_id = $4 AND started_at = $5",
            )
            .bind(event.end)
            .bind(&zones)
            .bind(i64::from(event.peak_score))
            .bind(device_id.as_str())
            .bind(event.start)
            .execute(&self.db.pool)
            .await?;
        }
        Ok(Recorded { device_name, new })
    }

    /// One camera's events that started before `before` (all when `None`), newest first, at
    /// most `limit`. The caller has checked that the reader may see the camera.
    pub async fn of_device(
        &self,
        device_id: &DeviceId,
        before: Option<UnixMillis>,
        limit: u32,
    ) -> Result<Vec<Event>> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT e.device_id, d.name, e.started_at, e.ended_at, e.zones, e.peak_score \
             FROM events e JOIN devices d ON d.id = e.device_id \
             WHERE e.device_id = $1 AND e.started_at < $2 \
             ORDER BY e.started_at DESC LIMIT $3",
        )
        .bind(device_id.as_str())
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(page(limit)))
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.into_iter().map(EventRow::into_event).collect())
    }

    /// The events of every camera `user` may see (their own and those shared with them) that
    /// started before `before`, newest first, at most `limit`.
    pub async fn of_user(
        &self,
        user: &UserId,
        before: Option<UnixMillis>,
        limit: u32,
    ) -> Result<Vec<Event>> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT e.device_id, d.name, e.started_at, e.ended_at, e.zones, e.peak_score \
             FROM device_access a JOIN events e ON e.device_id = a.device_id \
             JOIN devices d ON d.id = e.device_id \
             WHERE a.user_id = $1 AND e.started_at < $2 \
             ORDER BY e.started_at DESC, e.device_id LIMIT $3",
        )
        .bind(user.as_str())
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(page(limit)))
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.into_iter().map(EventRow::into_event).collect())
    }
}

/// A page's size: what was asked within `1..=MAX_PAGE`; the caller validated it.
fn page(limit: u32) -> u32 {
    limit.clamp(1, MAX_PAGE)
}

/// A list's `limit` as a caller gives it: absent is [`DEFAULT_PAGE`], out of `1..=MAX_PAGE` a
/// validation error.
pub fn page_size(limit: Option<u32>) -> Result<u32> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(Error::validation(format!(
            "limit must be 1 to {MAX_PAGE} (got {n})"
        ))),
    }
}

/// Forgets events that started before `before`; returns how many.
pub async fn sweep(db: &Db, before: UnixMillis) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM events WHERE started_at < $1")
        .bind(before)
        .execute(&db.pool)
        .await?
        .rows_affected())
}

struct EventRow {
    device_id: String,
    name: String,
    started_at: i64,
    ended_at: Option<i64>,
    zones: String,
    peak_score: i64,
}

impl sqlx::FromRow<'_, AnyRow> for EventRow {
    fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        Ok(Self {
            device_id: row.try_get(0)?,
            name: row.try_get(1)?,
            started_at: row.try_get(2)?,
            ended_at: row.try_get(3)?,
            zones: row.try_get(4)?,
            peak_score: row.try_get(5)?,
        })
    }
}

impl EventRow {
    fn into_event(self) -> Event {
        Event {
            device_id: DeviceId(self.device_id),
            device_name: self.name,
            start: self.started_at,
            end: self.ended_at,
            // Written by `record` from a validated list; a row that does not read is shown
            // without zones rather than failing the whole list.
            zones: serde_json::from_str(&self.zones).unwrap_or_default(),
            peak_score: u16::try_from(self.peak_score).unwrap_or(u16::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_fifty_unless_asked_and_never_more_than_two_hundred() {
        assert_eq!(page_size(None).unwrap(), DEFAULT_PAGE);
        assert_eq!(page_size(Some(200)).unwrap(), 200);
        let error = page_size(Some(201)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "validation: limit must be 1 to 200 (got 201)"
        );
        assert!(page_size(Some(0)).is_err());
    }
}
