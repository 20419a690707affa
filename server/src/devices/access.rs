//! Who may watch a device, and what its owner does with it: rename, remove, share. A share is
//! a role (viewer, or admin: may manage the device's shares, never the owner's place) and
//! permissions (recordings, notifications, talk).

use super::{Devices, presence_of};
use crate::error::{Error, Result};
use crate::presence::{DeviceNews, Notice, ViewerNews};
use mumu_shared::api::{AccessRole, Device, Share, ShareRequest, ShareRole, UpdateShareRequest};
use mumu_shared::{DeviceId, UserId, validate};

/// A share's role as stored in `device_access.role`.
fn share_role_text(role: ShareRole) -> &'static str {
    match role {
        ShareRole::Viewer => "viewer",
        ShareRole::Admin => "admin",
    }
}

fn share_role_of(text: &str) -> ShareRole {
    if text == "admin" {
        ShareRole::Admin
    } else {
        ShareRole::Viewer
    }
}

impl Devices {
    async fn require_owner(&self, user: &UserId, device_id: &DeviceId) -> Result<()> {
        match self.role(user, device_id).await? {
            AccessRole::Owner => Ok(()),
            AccessRole::Viewer | AccessRole::Admin => Err(Error::forbidden(
                "only the device's owner may change or remove it",
            )),
        }
    }

    /// The owner, or someone the device was shared with as its admin (`not_found` for anyone
    /// else who cannot see it, `forbidden` for a viewer).
    pub async fn require_manager(&self, user: &UserId, device_id: &DeviceId) -> Result<()> {
        match self.role(user, device_id).await? {
            AccessRole::Owner | AccessRole::Admin => Ok(()),
            AccessRole::Viewer => Err(Error::forbidden(
                "only the device's owner and its admins may manage who can watch it and how it notifies",
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

    /// Lets the person named in `req` (username or email) watch a device, with the role and
    /// permissions it gives (owner or the device's admins). Their dashboards hear of it at once.
    pub async fn share(
        &self,
        manager: &UserId,
        device_id: &DeviceId,
        req: &ShareRequest,
    ) -> Result<Share> {
        self.require_manager(manager, device_id).await?;
        let (user_id, username) = self.person(&req.username).await?;
        if self.role(&user_id, device_id).await.ok() == Some(AccessRole::Owner) {
            return Err(Error::validation(
                "that is the device's owner; share it with someone else",
            ));
        }
        let now = self.clock.now_ms();
        let inserted = sqlx::query(
            "INSERT INTO device_access (device_id, user_id, role, granted_at, recordings, notifications, talk) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (device_id, user_id) DO NOTHING",
        )
        .bind(device_id.as_str())
        .bind(user_id.as_str())
        .bind(share_role_text(req.role))
        .bind(now)
        .bind(i64::from(req.recordings))
        .bind(i64::from(req.notifications))
        .bind(i64::from(req.talk))
        .execute(&self.db.pool)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(Error::conflict(format!(
                "{username} can already watch this device"
            )));
        }
        tracing::info!(%device_id, by = %manager, user_id = %user_id, role = ?req.role, "device shared");
        let device = self.get(&user_id, device_id).await?;
        self.announce(vec![user_id], presence_of(&device)).await?;
        self.tell_device(device_id, DeviceNews::AccessChanged)
            .await?;
        Ok(Share {
            username,
            granted_at: now,
            role: req.role,
            recordings: req.recordings,
            notifications: req.notifications,
            talk: req.talk,
        })
    }

    /// Changes what the person named `username` (or their email) may do with a device shared
    /// with them (owner or the device's admins; never the owner's own place). The sessions
    /// they have open on it hear the new grants at once, on whichever server holds the camera.
    pub async fn update_share(
        &self,
        manager: &UserId,
        device_id: &DeviceId,
        username: &str,
        update: &UpdateShareRequest,
    ) -> Result<Share> {
        self.require_manager(manager, device_id).await?;
        if update == &UpdateShareRequest::default() {
            return Err(Error::validation(
                "say what to change: recordings, notifications, talk or role",
            ));
        }
        let (user_id, username) = self.person(username).await?;
        if self.role(&user_id, device_id).await.ok() == Some(AccessRole::Owner) {
            return Err(Error::validation(
                "that is the device's owner, who always may do everything; change a share instead",
            ));
        }
        let updated = sqlx::query(
            "UPDATE device_access SET recordings = COALESCE($1, recordings), \
             notifications = COALESCE($2, notifications), role = COALESCE($3, role), \
             talk = COALESCE($6, talk) \
             WHERE device_id = $4 AND user_id = $5 AND role <> 'owner'",
        )
        .bind(update.recordings.map(i64::from))
        .bind(update.notifications.map(i64::from))
        .bind(update.role.map(share_role_text))
        .bind(device_id.as_str())
        .bind(user_id.as_str())
        .bind(update.talk.map(i64::from))
        .execute(&self.db.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(not_shared(&username));
        }
        // What the sessions hear is read back, not taken from the request: of two edits
        // racing, the one that reads last tells last what the row holds.
        let (_, grants) = self.access(&user_id, device_id).await?;
        tracing::info!(%device_id, by = %manager, user_id = %user_id, recordings = grants.recordings, configure = grants.configure, talk = grants.talk, "share changed");
        self.presence
            .publish(Notice::Viewers {
                users: vec![user_id.clone()],
                news: ViewerNews::Grants {
                    device_id: device_id.clone(),
                    grants,
                },
            })
            .await?;
        self.share_of(device_id, &user_id)
            .await?
            .ok_or_else(|| not_shared(&username))
    }

    /// Stops sharing a device with `username` (or their email; owner or the device's admins,
    /// never the owner's own place): their sessions on it end at once (live and playback ride
    /// the same session) and it leaves their dashboards. A watch they try to renew is refused,
    /// so no new relay credentials reach them.
    pub async fn unshare(
        &self,
        manager: &UserId,
        device_id: &DeviceId,
        username: &str,
    ) -> Result<()> {
        self.require_manager(manager, device_id).await?;
        let (user_id, username) = self.person(username).await?;
        let removed = sqlx::query(
            "DELETE FROM device_access WHERE device_id = $1 AND user_id = $2 AND role <> 'owner'",
        )
        .bind(device_id.as_str())
        .bind(user_id.as_str())
        .execute(&self.db.pool)
        .await?;
        if removed.rows_affected() == 0 {
            return Err(not_shared(&username));
        }
        tracing::info!(%device_id, by = %manager, user_id = %user_id, "share revoked");
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

    /// The people a device is shared with, with their roles and permissions (owner or the
    /// device's admins).
    pub async fn shares(&self, manager: &UserId, device_id: &DeviceId) -> Result<Vec<Share>> {
        self.require_manager(manager, device_id).await?;
        let rows: Vec<ShareRow> = sqlx::query_as(
            "SELECT u.username, a.granted_at, a.role, a.recordings, a.notifications, a.talk \
             FROM device_access a JOIN users u ON u.id = a.user_id \
             WHERE a.device_id = $1 AND a.role <> 'owner' ORDER BY u.username",
        )
        .bind(device_id.as_str())
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.into_iter().map(share_from_row).collect())
    }

    async fn share_of(&self, device_id: &DeviceId, user_id: &UserId) -> Result<Option<Share>> {
        let row: Option<ShareRow> = sqlx::query_as(
            "SELECT u.username, a.granted_at, a.role, a.recordings, a.notifications, a.talk \
             FROM device_access a JOIN users u ON u.id = a.user_id \
             WHERE a.device_id = $1 AND a.user_id = $2 AND a.role <> 'owner'",
        )
        .bind(device_id.as_str())
        .bind(user_id.as_str())
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(row.map(share_from_row))
    }

    /// The account a username or an email address names.
    async fn person(&self, name: &str) -> Result<(UserId, String)> {
        let key = name.trim().to_lowercase();
        if key.is_empty() || key.len() > 254 {
            return Err(Error::validation(
                "name the person by their username or their account's email address",
            ));
        }
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT id, username FROM users WHERE username_key = $1 OR email_key = $1",
        )
        .bind(&key)
        .fetch_optional(&self.db.pool)
        .await?;
        row.map(|(id, name)| (UserId(id), name)).ok_or_else(|| {
            Error::not_found(format!(
                "nobody is registered as {:?} (username or email)",
                name.trim()
            ))
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

/// username, granted_at, role, recordings, notifications, talk.
type ShareRow = (String, i64, String, i64, i64, i64);

fn share_from_row(
    (username, granted_at, role, recordings, notifications, talk): ShareRow,
) -> Share {
    Share {
        username,
        granted_at,
        role: share_role_of(&role),
        recordings: recordings != 0,
        notifications: notifications != 0,
        talk: talk != 0,
    }
}

fn not_shared(username: &str) -> Error {
    Error::not_found(format!("this device is not shared with {username}"))
}
