//! What shapes notifications, as stored: the household's arming mode (its admin sets it), each
//! account's quiet hours (its own), each camera's cooldown and `always` mark (its owner and
//! admins), and the context [`super::policy::decide`] reads for one camera. Who may change
//! what is checked by the caller against the device's access rules; the values are checked here.

use super::policy::{Camera, Person, QuietSpan, format_clock, parse_clock};
use crate::db::Db;
use crate::error::{Error, Result};
use mumu_shared::api::{
    ArmingMode, CameraNotifications, HouseholdRole, QuietHours, UpdateCameraNotifications,
};
use mumu_shared::{DeviceId, UnixMillis, UserId};

/// The longest cooldown a camera may have: a day.
pub const MAX_COOLDOWN_SECS: u32 = 86_400;

/// What the policy needs to decide for one camera.
#[derive(Clone, Debug)]
pub struct Context {
    /// The household's arming mode.
    pub arming: ArmingMode,
    /// The camera's settings and last notification.
    pub camera: Camera,
    /// Everyone who may see it.
    pub people: Vec<Person>,
}

fn arming_text(mode: ArmingMode) -> &'static str {
    match mode {
        ArmingMode::Away => "away",
        ArmingMode::Home => "home",
        ArmingMode::Off => "off",
    }
}

/// The mode's text, read once; anything unexpected notifies (as `away`) rather than going
/// silent without anyone having chosen it.
fn arming_of(text: &str) -> ArmingMode {
    match text {
        "home" => ArmingMode::Home,
        "off" => ArmingMode::Off,
        _ => ArmingMode::Away,
    }
}

/// The household's arming mode (`away` before anyone set it).
pub async fn arming(db: &Db) -> Result<ArmingMode> {
    let row: Option<(String,)> = sqlx::query_as("SELECT arming FROM household WHERE id = 1")
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map_or(ArmingMode::Away, |(text,)| arming_of(&text)))
}

/// Sets the household's arming mode (its admin only).
pub async fn set_arming(db: &Db, role: HouseholdRole, mode: ArmingMode) -> Result<ArmingMode> {
    if role != HouseholdRole::Admin {
        return Err(Error::forbidden(
            "only the household's admin may arm or disarm it",
        ));
    }
    sqlx::query("UPDATE household SET arming = $1 WHERE id = 1")
        .bind(arming_text(mode))
        .execute(&db.pool)
        .await?;
    tracing::info!(?mode, "household arming changed");
    Ok(mode)
}

/// An account's quiet hours, if set.
pub async fn quiet_hours(db: &Db, user: &UserId) -> Result<Option<QuietHours>> {
    let span = quiet_span(db, user).await?;
    Ok(span.map(|q| QuietHours {
        start: format_clock(q.start_min),
        end: format_clock(q.end_min),
        utc_offset_minutes: q.utc_offset_min,
    }))
}

async fn quiet_span(db: &Db, user: &UserId) -> Result<Option<QuietSpan>> {
    let row: Option<(Option<i64>, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT quiet_start_min, quiet_end_min, quiet_utc_offset_min FROM users WHERE id = $1",
    )
    .bind(user.as_str())
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.and_then(|(s, e, o)| span_of(s, e, o)))
}

fn span_of(start: Option<i64>, end: Option<i64>, offset: Option<i64>) -> Option<QuietSpan> {
    Some(QuietSpan {
        start_min: u16::try_from(start?).ok()?,
        end_min: u16::try_from(end?).ok()?,
        utc_offset_min: i16::try_from(offset?).ok()?,
    })
}

/// Checks quiet hours as a person sends them.
pub fn check_quiet_hours(quiet: &QuietHours) -> Result<QuietSpan> {
    let start = parse_clock(&quiet.start).map_err(|e| Error::validation(format!("start: {e}")))?;
    let end = parse_clock(&quiet.end).map_err(|e| Error::validation(format!("end: {e}")))?;
    if start == end {
        return Err(Error::validation(
            "start and end are the same time: quiet hours need a span (to be told nothing, arm \
             the household off or remove your webhook)",
        ));
    }
    if !(-720..=840).contains(&quiet.utc_offset_minutes) {
        return Err(Error::validation(format!(
            "utc_offset_minutes must be -720 to 840 (got {})",
            quiet.utc_offset_minutes
        )));
    }
    Ok(QuietSpan {
        start_min: start,
        end_min: end,
        utc_offset_min: quiet.utc_offset_minutes,
    })
}

/// Sets (or, with `None`, clears) an account's quiet hours.
pub async fn set_quiet_hours(
    db: &Db,
    user: &UserId,
    quiet: Option<&QuietHours>,
) -> Result<Option<QuietHours>> {
    let span = quiet.map(check_quiet_hours).transpose()?;
    sqlx::query(
        "UPDATE users SET quiet_start_min = $1, quiet_end_min = $2, quiet_utc_offset_min = $3 \
         WHERE id = $4",
    )
    .bind(span.map(|q| i64::from(q.start_min)))
    .bind(span.map(|q| i64::from(q.end_min)))
    .bind(span.map(|q| i64::from(q.utc_offset_min)))
    .bind(user.as_str())
    .execute(&db.pool)
    .await?;
    quiet_hours(db, user).await
}

/// A camera's notification settings.
pub async fn camera(db: &Db, device_id: &DeviceId) -> Result<CameraNotifications> {
    let camera = camera_row(db, device_id).await?;
    Ok(CameraNotifications {
        cooldown_secs: (camera.cooldown_ms / 1000) as u32,
        always: camera.always,
    })
}

/// A camera's settings and last notification (a camera gone meanwhile: defaults that notify
/// nobody, since nobody may see it).
async fn camera_row(db: &Db, device_id: &DeviceId) -> Result<Camera> {
    let row: Option<(i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT notify_cooldown_secs, notify_always, last_notified_at FROM devices WHERE id = $1",
    )
    .bind(device_id.as_str())
    .fetch_optional(&db.pool)
    .await?;
    let Some((cooldown, always, last)) = row else {
        return Ok(Camera {
            always: false,
            cooldown_ms: 0,
            last_notified_at: None,
        });
    };
    Ok(Camera {
        always: always != 0,
        cooldown_ms: cooldown.clamp(0, i64::from(MAX_COOLDOWN_SECS)) * 1000,
        last_notified_at: last,
    })
}

/// Changes a camera's notification settings (the caller checked that the user manages it).
pub async fn update_camera(
    db: &Db,
    device_id: &DeviceId,
    update: &UpdateCameraNotifications,
) -> Result<CameraNotifications> {
    if update == &UpdateCameraNotifications::default() {
        return Err(Error::validation(
            "say what to change: cooldown_secs or always",
        ));
    }
    if let Some(secs) = update.cooldown_secs
        && secs > MAX_COOLDOWN_SECS
    {
        return Err(Error::validation(format!(
            "cooldown_secs must be 0 to {MAX_COOLDOWN_SECS} (got {secs})"
        )));
    }
    sqlx::query(
        "UPDATE devices SET notify_cooldown_secs = COALESCE($1, notify_cooldown_secs), \
         notify_always = COALESCE($2, notify_always) WHERE id = $3",
    )
    .bind(update.cooldown_secs.map(i64::from))
    .bind(update.always.map(i64::from))
    .bind(device_id.as_str())
    .execute(&db.pool)
    .await?;
    camera(db, device_id).await
}

/// Everything the policy reads for one camera, fresh from the database.
pub async fn context(db: &Db, device_id: &DeviceId) -> Result<Context> {
    let arming = arming(db).await?;
    let camera = camera_row(db, device_id).await?;
    type PersonRow = (String, String, i64, Option<i64>, Option<i64>, Option<i64>);
    let rows: Vec<PersonRow> = sqlx::query_as(
        "SELECT a.user_id, a.role, a.notifications, u.quiet_start_min, u.quiet_end_min, \
         u.quiet_utc_offset_min FROM device_access a JOIN users u ON u.id = a.user_id \
         WHERE a.device_id = $1 ORDER BY a.user_id",
    )
    .bind(device_id.as_str())
    .fetch_all(&db.pool)
    .await?;
    let people = rows
        .into_iter()
        .map(|(user, role, notifications, s, e, o)| Person {
            user: UserId(user),
            owner: role == "owner",
            share_notifies: notifications != 0,
            quiet: span_of(s, e, o),
        })
        .collect();
    Ok(Context {
        arming,
        camera,
        people,
    })
}

/// Starts the camera's cooldown at `now`, unless another notification did within it: returns
/// whether this one may go. The row decides, so two racing events notify once.
pub async fn claim_cooldown(db: &Db, device_id: &DeviceId, now: UnixMillis) -> Result<bool> {
    let claimed = sqlx::query(
        "UPDATE devices SET last_notified_at = $1 WHERE id = $2 AND \
         (last_notified_at IS NULL OR last_notified_at + notify_cooldown_secs * 1000 <= $1)",
    )
    .bind(now)
    .bind(device_id.as_str())
    .execute(&db.pool)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_are_checked_with_messages_that_name_the_field() {
        let quiet = |start: &str, end: &str, utc_offset_minutes| QuietHours {
            start: start.into(),
            end: end.into(),
            utc_offset_minutes,
        };
        assert!(check_quiet_hours(&quiet("22:00", "07:00", 60)).is_ok());
        let error = check_quiet_hours(&quiet("25:00", "07:00", 0)).unwrap_err();
        assert!(
            error.to_string().contains("start: a time of day"),
            "{error}"
        );
        assert!(check_quiet_hours(&quiet("07:00", "07:00", 0)).is_err());
        let error = check_quiet_hours(&quiet("22:00", "07:00", 900)).unwrap_err();
        assert!(error.to_string().contains("utc_offset_minutes"), "{error}");
    }

    #[test]
    fn an_unknown_arming_text_notifies() {
        for mode in [ArmingMode::Away, ArmingMode::Home, ArmingMode::Off] {
            assert_eq!(arming_of(arming_text(mode)), mode);
        }
        assert_eq!(arming_of("HOME"), ArmingMode::Away);
    }
}
