//! Who may watch a device, and what its owner does with it: rename, remove, share.

use super::{Devices, presence_of};
use crate::error::{Error, Result};
use crate::presence::{DeviceNews, Notice, ViewerNews};
use mumu_shared::api::{AccessRole, Device, Share, UpdateShareRequest};
use mumu_shared::{DeviceId, UserId, validate};

impl Devices {
    async fn require_owner(&self, user: &UserId, device_id: &DeviceId) -> Result<()> {
        match self.role(user, device_id).await? {
            AccessRole::Owner => Ok(()),
            AccessRole::Viewer => Err(Error::forbidden(
                "only the device's owner may change or remove it",
            )),
        }
    }

    /// Renames a device (owner only).
    pub async fn rename(&self, user: &UserId, device_id: &DeviceId, name: &str) -> Result<Device> {
        self.require_owner(user, device_id).await?;
        let name = validate::device_name(name).map_err(Error::validation)?;
        sqlx::query("UPDATE devices SET name = $1 WHERE id = $2")
            .bind(&name)
            .bind(device_id.as_str())
            .execute(&self.db.pool)
            .await?;
        // The device's socket caches its name for the presence it announces: it reloads it
        // first, so nobody hears the old name again once the new one has been announced.
        self.tell_device(device_id, DeviceNews::AccessChanged)
            .await?;
        let device = self.get(user, device_id).await?;
        let users = self.access_users(device_id).await?;
        self.announce(users, presence_of(&device)).await?;
        Ok(device)
    }

    /// Removes a device (owner only): its secret stops working, its socket is closed, its
    /// sessions end, and everyone who could watch it is told.
    pub async fn remove(&self, user: &UserId, device_id: &DeviceId) -> Result<()> {
        self.require_owner(user, device_id).await?;
        let users = self.access_users(device_id).await?;
        sqlx::query("DELETE FROM devices WHERE id = $1")
            .bind(device_id.as_str())
            .execute(&self.db.pool)
            .await?;
        tracing::info!(%device_id, user_id = %user, "device removed");
        self.tell_device(device_id, DeviceNews::Removed).await?;
        self.presence
            .publish(Notice::Viewers {
                users,
                news: ViewerNews::Removed(device_id.clone()),
            })
            .await?;
        Ok(())
    }

    /// Lets the person named `username` watch a device (owner only), and see its recordings
    /// when `recordings`. Their dashboards hear of it at once.
    pub async fn share(
        &self,
        owner: &UserId,
        device_id: &DeviceId,
        username: &str,
        recordings: bool,
    ) -> Result<Share> {
        self.require_owner(owner, device_id).await?;
        let (user_id, username) = self.user_named(username).await?;
        if &user_id == owner {
            return Err(Error::validation(
                "you own this device already; share it with someone else",
            ));
        }
        let now = self.clock.now_ms();
        let inserted = sqlx::query(
            "INSERT INTO device_access (device_id, user_id, role, granted_at, recordings) \
             VALUES ($1, $2, 'viewer', $3, $4) ON CONFLICT (device_id, user_id) DO NOTHING",
        )
        .bind(device_id.as_str())
        .bind(user_id.as_str())
        .bind(now)
        .bind(i64::from(recordings))
        .execute(&self.db.pool)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(Error::conflict(format!(
                "{username} can already watch this device"
            )));
        }
        let device = self.get(&user_id, device_id).await?;
        self.announce(vec![user_id], presence_of(&device)).await?;
        self.tell_device(device_id, DeviceNews::AccessChanged)
            .await?;
        Ok(Share {
            username,
            granted_at: now,
            recordings,
        })
    }

    /// Sets what the person named `username` may do with a device shared with them beyond
    /// watching live (owner only). The sessions they have open on it hear the new grants at
    /// once, on whichever server holds the camera.
    pub async fn update_share(
        &self,
        owner: &UserId,
        device_id: &DeviceId,
        username: &str,
        update: &UpdateShareRequest,
    ) -> Result<Share> {
        self.require_owner(owner, device_id).await?;
        let (user_id, username) = self.user_named(username).await?;
        if &user_id == owner {
            return Err(Error::validation(
                "you own this device and always see its recordings; change a share instead",
            ));
        }
        let updated = sqlx::query(
            "UPDATE device_access SET recordings = $1 \
             WHERE device_id = $2 AND user_id = $3 AND role = 'viewer'",
        )
        .bind(i64::from(update.recordings))
        .bind(device_id.as_str())
        .bind(user_id.as_str())
        .execute(&self.db.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(not_shared(&username));
        }
        // What the sessions hear is read back, not taken from the request: of two owners'
        // edits racing, the one that reads last tells last what the row holds.
        let (_, grants) = self.access(&user_id, device_id).await?;
        tracing::info!(%device_id, user_id = %user_id, recordings = grants.recordings, "share changed");
        self.presence
            .publish(Notice::Viewers {
                users: vec![user_id.clone()],
                news: ViewerNews::Grants {
                    device_id: device_id.clone(),
                    grants,
                },
            })
            .await?;
        let granted_at: (i64,) = sqlx::query_as(
            "SELECT granted_at FROM device_access WHERE device_id = $1 AND user_id = $2",
        )
        .bind(device_id.as_str())
        .bind(user_id.as_str())
        .fetch_one(&self.db.pool)
        .await?;
        Ok(Share {
            username,
            granted_at: granted_at.0,
            recordings: grants.recordings,
        })
    }

    /// Stops sharing a device with `username` (owner only): their sessions on it end and it
    /// leaves their dashboards.
    pub async fn unshare(
        &self,
        owner: &UserId,
        device_id: &DeviceId,
        username: &str,
    ) -> Result<()> {
        self.require_owner(owner, device_id).await?;
        let (user_id, username) = self.user_named(username).await?;
        let removed = sqlx::query(
            "DELETE FROM device_access WHERE device_id = $1 AND user_id = $2 AND role = 'viewer'",
        )
        .bind(device_id.as_str())
        .bind(user_id.as_str())
        .execute(&self.db.pool)
        .await?;
        if removed.rows_affected() == 0 {
            return Err(not_shared(&username));
        }
        self.presence
            .publish(Notice::Viewers {
                users: vec![user_id],
                news: ViewerNews::Removed(device_id.clone()),
            })
            .await?;
        self.tell_device(device_id, DeviceNews::AccessChanged)
            .await?;
        Ok(())
    }

    /// The people a device is shared with (owner only).
    pub async fn shares(&self, owner: &UserId, device_id: &DeviceId) -> Result<Vec<Share>> {
        self.require_owner(owner, device_id).await?;
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT u.username, a.granted_at, a.recordings FROM device_access a \
             JOIN users u ON u.id = a.user_id \
             WHERE a.device_id = $1 AND a.role = 'viewer' ORDER BY u.username",
        )
        .bind(device_id.as_str())
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(username, granted_at, recordings)| Share {
                username,
                granted_at,
                recordings: recordings != 0,
            })
            .collect())
    }

    async fn user_named(&self, username: &str) -> Result<(UserId, String)> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT id, username FROM users WHERE username_key = $1")
                .bind(username.trim().to_lowercase())
                .fetch_optional(&self.db.pool)
                .await?;
        row.map(|(id, name)| (UserId(id), name)).ok_or_else(|| {
            Error::not_found(format!("nobody is registered as {:?}", username.trim()))
        })
    }

    /// A device's name and everyone who may watch it, read afresh; `None` once it is gone.
    pub async fn audience(&self, device_id: &DeviceId) -> Result<Option<(String, Vec<UserId>)>> {
        let Some(row) = self.row(device_id).await? else {
            return Ok(None);
        };
        Ok(Some((row.name, self.access_users(device_id).await?)))
    }

    /// Everyone who may watch a device.
    pub async fn access_users(&self, device_id: &DeviceId) -> Result<Vec<UserId>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT user_id FROM device_access WHERE device_id = $1")
                .bind(device_id.as_str())
                .fetch_all(&self.db.pool)
                .await?;
        Ok(rows.into_iter().map(|(u,)| UserId(u)).collect())
    }
}

fn not_shared(username: &str) -> Error {
    Error::not_found(format!("this device is not shared with {username}"))
}
