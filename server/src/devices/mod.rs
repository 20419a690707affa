//! Devices, split by job: [`enrollment`] (identity and secret for a new agent, pairing codes),
//! [`pairing`] (claiming a device by its code), [`access`] (who may watch, and what owners do:
//! rename, remove, share; a camera's admins share too). This module holds the device row, listing and presence. Changes are
//! published as notices, so sockets hear of them on whichever server holds them.

use crate::clock::SharedClock;
use crate::config::DeviceSettings;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::presence::{DeviceNews, Notice, Presence, ViewerNews};
use crate::rate_limit::{KeyedLimiter, Rate};
use mumu_shared::api::{AccessRole, Device, DeviceStatus};
use mumu_shared::signaling::{DevicePresence, Grants};
use mumu_shared::{DeviceId, UnixMillis, UserId, validate};
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::sync::Arc;

/// A device's row.
#[derive(Clone, Debug)]
pub struct DeviceRow {
    /// Id.
    pub id: String,
    /// SHA-256 of the secret, hex.
    pub secret_hash: String,
    /// Name.
    pub name: String,
    /// Owner, once paired.
    pub owner_id: Option<String>,
    /// The owner's username, once paired (for the "shared by" mark).
    pub owner_name: Option<String>,
    /// Agent version reported.
    pub agent_version: Option<String>,
    /// Enrolment time.
    pub created_at: i64,
    /// Pairing time.
    pub paired_at: Option<i64>,
    /// Last connection or heartbeat recorded.
    pub last_seen: Option<i64>,
}

impl sqlx::FromRow<'_, AnyRow> for DeviceRow {
    fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            secret_hash: row.try_get("secret_hash")?,
            name: row.try_get("name")?,
            owner_id: row.try_get("owner_id")?,
            owner_name: row.try_get("owner_name")?,
            agent_version: row.try_get("agent_version")?,
            created_at: row.try_get("created_at")?,
            paired_at: row.try_get("paired_at")?,
            last_seen: row.try_get("last_seen")?,
        })
    }
}

/// The columns of [`DeviceRow`], from `devices d`; a macro so queries stay static strings.
macro_rules! device_columns {
    () => {
        "d.id, d.secret_hash, d.name, d.owner_id, \
         (SELECT username FROM users WHERE users.id = d.owner_id) AS owner_name, \
         d.agent_version, d.created_at, d.paired_at, d.last_seen"
    };
}

// After the macro: the jobs' modules use it.
mod access;
mod enrollment;
mod pairing;

/// A device row with the reader's role, as read; [`AccessibleRow::into_parts`] turns the role's
/// text into an [`AccessRole`] once, right after the read.
struct AccessibleRow {
    device: DeviceRow,
    role: String,
}

impl sqlx::FromRow<'_, AnyRow> for AccessibleRow {
    fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        Ok(Self {
            device: DeviceRow::from_row(row)?,
            role: row.try_get("role")?,
        })
    }
}

impl AccessibleRow {
    fn into_parts(self) -> (DeviceRow, AccessRole) {
        let role = role_of(&self.role);
        (self.device, role)
    }
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A share's permissions as its row holds them (an owner's row holds none: ownership is all).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct SharePermissions {
    recordings: bool,
    talk: bool,
}

/// What a session may do beyond live video: the owner sees recordings and talks always, a
/// person the device is shared with when the owner allowed it on their share; the owner and the
/// device's admins configure its motion detection (zones, privacy masks), a viewer share never.
fn grants_of(role: AccessRole, share: SharePermissions) -> Grants {
    let owner = role == AccessRole::Owner;
    Grants {
        recordings: owner || share.recordings,
        configure: matches!(role, AccessRole::Owner | AccessRole::Admin),
        talk: owner || share.talk,
    }
}

fn role_of(text: &str) -> AccessRole {
    match text {
        "owner" => AccessRole::Owner,
        "admin" => AccessRole::Admin,
        _ => AccessRole::Viewer,
    }
}

/// The devices service.
pub struct Devices {
    db: Db,
    clock: SharedClock,
    presence: Arc<Presence>,
    code_ttl_ms: i64,
    enrolments: KeyedLimiter,
    pair_attempts: KeyedLimiter,
    pair_attempts_by_addr: KeyedLimiter,
}

impl std::fmt::Debug for Devices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Devices")
    }
}

impl Devices {
    /// The service.
    pub fn new(
        db: Db,
        clock: SharedClock,
        presence: Arc<Presence>,
        settings: &DeviceSettings,
    ) -> Self {
        let pair_per_min = settings.pair_attempts_per_min;
        let store = presence.bucket_store();
        let limiter = |name, rate| KeyedLimiter::in_store(name, rate, &store);
        Self {
            code_ttl_ms: settings.pairing_code_ttl_secs as i64 * 1000,
            enrolments: limiter("enrol_addr", Rate::per_minute(settings.enroll_per_min)),
            pair_attempts: limiter("pair_user", Rate::per_minute(pair_per_min)),
            // Several accounts from one address share a wider allowance, so more accounts
            // do not mean more guesses.
            pair_attempts_by_addr: limiter(
                "pair_addr",
                Rate::per_minute(pair_per_min.saturating_mul(3)),
            ),
            db,
            clock,
            presence,
        }
    }

    /// Every device `user` may watch, with presence.
    pub async fn list(&self, user: &UserId) -> Result<Vec<Device>> {
        let rows: Vec<AccessibleRow> = sqlx::query_as(concat!(
            "SELECT ",
            device_columns!(),
            ", a.role FROM device_access a JOIN devices d ON d.id = a.device_id \
             WHERE a.user_id = $1 ORDER BY d.name, d.id"
        ))
        .bind(user.as_str())
        .fetch_all(&self.db.pool)
        .await?;
        self.with_presence(rows.into_iter().map(AccessibleRow::into_parts).collect())
            .await
    }

    /// One device `user` may watch, with presence. Someone else's device and an unknown one
    /// are both `not_found`.
    pub async fn get(&self, user: &UserId, device_id: &DeviceId) -> Result<Device> {
        let role = self.role(user, device_id).await?;
        let row = self
            .row(device_id)
            .await?
            .ok_or_else(|| unknown(device_id))?;
        let mut list = self.with_presence(vec![(row, role)]).await?;
        Ok(list.remove(0))
    }

    /// The user's role for a device, or `not_found`: a device that is someone else's gets the
    /// same answer as one that does not exist, so device ids cannot be probed.
    pub async fn role(&self, user: &UserId, device_id: &DeviceId) -> Result<AccessRole> {
        Ok(self.access(user, device_id).await?.0)
    }

    /// The user's role for a device and what a session of theirs on it may do beyond live
    /// video, from their row of `device_access` (`not_found` as for [`Devices::role`]). The
    /// one place a watch's grants are decided: at watch time, and again when a share changes.
    pub async fn access(
        &self,
        user: &UserId,
        device_id: &DeviceId,
    ) -> Result<(AccessRole, Grants)> {
        let row: Option<(String, i64, i64)> = sqlx::query_as(
            "SELECT role, recordings, talk FROM device_access WHERE device_id = $1 AND user_id = $2",
        )
        .bind(device_id.as_str())
        .bind(user.as_str())
        .fetch_optional(&self.db.pool)
        .await?;
        match row {
            Some((role, recordings, talk)) => {
                let role = role_of(&role);
                let share = SharePermissions {
                    recordings: recordings != 0,
                    talk: talk != 0,
                };
                Ok((role, grants_of(role, share)))
            }
            None => Err(unknown(device_id)),
        }
    }

    /// Records that a device was heard from now (and its agent version, when given).
    pub async fn touch(
        &self,
        device_id: &DeviceId,
        agent_version: Option<&str>,
    ) -> Result<UnixMillis> {
        let now = self.clock.now_ms();
        sqlx::query("UPDATE devices SET last_seen = $1, agent_version = COALESCE($2, agent_version) WHERE id = $3")
            .bind(now)
            .bind(agent_version.map(|v| validate::clean_label(v, enrollment::MAX_AGENT_VERSION)))
            .bind(device_id.as_str())
            .execute(&self.db.pool)
            .await?;
        Ok(now)
    }

    /// The presence of every device `user` may watch, for a viewer's `hello_ack`.
    pub async fn presence_of_all(&self, user: &UserId) -> Result<Vec<DevicePresence>> {
        Ok(self
            .list(user)
            .await?
            .into_iter()
            .map(|d| presence_of(&d))
            .collect())
    }

    /// Tells `users` a device's name, online state, last seen and status.
    pub async fn announce(&self, users: Vec<UserId>, presence: DevicePresence) -> Result<()> {
        self.presence
            .publish(Notice::Viewers {
                users,
                news: ViewerNews::Presence(presence),
            })
            .await
    }

    /// Tells every server that `server` holds the device's socket now.
    pub async fn attached(&self, device_id: &DeviceId, server: &str) -> Result<()> {
        let server = server.to_owned();
        self.tell_device(device_id, DeviceNews::Attached { server })
            .await
    }

    /// Tells the device's socket, on whichever server holds it.
    async fn tell_device(&self, device_id: &DeviceId, news: DeviceNews) -> Result<()> {
        self.presence
            .publish(Notice::Device {
                device_id: device_id.clone(),
                news,
            })
            .await
    }

    /// A device's row.
    pub async fn row(&self, device_id: &DeviceId) -> Result<Option<DeviceRow>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            device_columns!(),
            " FROM devices d WHERE d.id = $1"
        ))
        .bind(device_id.as_str())
        .fetch_optional(&self.db.pool)
        .await?)
    }

    async fn with_presence(&self, rows: Vec<(DeviceRow, AccessRole)>) -> Result<Vec<Device>> {
        let ids: Vec<DeviceId> = rows.iter().map(|(d, _)| DeviceId(d.id.clone())).collect();
        let online = self.presence.lookup(&ids).await?;
        Ok(rows
            .into_iter()
            .zip(ids)
            .map(|((row, role), id)| {
                let status: Option<&Option<DeviceStatus>> = online.get(&id);
                Device {
                    is_online: status.is_some(),
                    status: status.cloned().flatten(),
                    id,
                    name: row.name,
                    shared_by: row.owner_name.filter(|_| role != AccessRole::Owner),
                    role,
                    last_seen: row.last_seen,
                    created_at: row.created_at,
                    paired_at: row.paired_at,
                    agent_version: row.agent_version,
                }
            })
            .collect())
    }
}

fn unknown(device_id: &DeviceId) -> Error {
    Error::not_found(format!(
        "no device {device_id} among yours or those shared with you"
    ))
}

/// A device's presence as viewers see it.
pub fn presence_of(d: &Device) -> DevicePresence {
    DevicePresence {
        device_id: d.id.clone(),
        name: d.name.clone(),
        online: d.is_online,
        last_seen: d.last_seen,
        status: d.status.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_codes_are_stored_as_sha256_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_role_is_read_once_from_its_text() {
        assert_eq!(role_of("owner"), AccessRole::Owner);
        assert_eq!(role_of("viewer"), AccessRole::Viewer);
        assert_eq!(role_of("admin"), AccessRole::Admin);
        // Anything unexpected gets the lesser role, never ownership.
        assert_eq!(role_of("Owner"), AccessRole::Viewer);
    }

    const NONE: SharePermissions = SharePermissions {
        recordings: false,
        talk: false,
    };
    const ALL: SharePermissions = SharePermissions {
        recordings: true,
        talk: true,
    };

    #[test]
    fn owners_see_recordings_always_and_shares_only_when_allowed() {
        assert!(grants_of(AccessRole::Owner, NONE).recordings);
        assert!(!grants_of(AccessRole::Viewer, NONE).recordings);
        let recordings = SharePermissions {
            recordings: true,
            ..NONE
        };
        assert!(grants_of(AccessRole::Viewer, recordings).recordings);
        assert!(!grants_of(AccessRole::Viewer, recordings).talk);
    }

    #[test]
    fn owners_talk_always_and_shares_only_when_allowed() {
        assert!(grants_of(AccessRole::Owner, NONE).talk);
        assert!(!grants_of(AccessRole::Viewer, NONE).talk);
        assert!(
            !grants_of(AccessRole::Admin, NONE).talk,
            "an admin share talks only when marked"
        );
        let talk = SharePermissions { talk: true, ..NONE };
        assert!(grants_of(AccessRole::Viewer, talk).talk);
        assert!(!grants_of(AccessRole::Viewer, talk).recordings);
    }

    #[test]
    fn owners_and_admins_configure_motion_and_viewers_never() {
        assert!(grants_of(AccessRole::Owner, NONE).configure);
        assert!(grants_of(AccessRole::Admin, NONE).configure);
        assert!(!grants_of(AccessRole::Viewer, ALL).configure);
    }

    #[test]
    fn presence_carries_what_viewers_see() {
        let device = Device {
            id: DeviceId::from("d1"),
            name: "Porch".into(),
            role: AccessRole::Owner,
            shared_by: None,
            is_online: true,
            last_seen: Some(5),
            created_at: 1,
            paired_at: Some(2),
            agent_version: None,
            status: None,
        };
        let p = presence_of(&device);
        assert_eq!(
            (p.name.as_str(), p.online, p.last_seen),
            ("Porch", true, Some(5))
        );
    }
}
