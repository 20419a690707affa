//! Devices: enrolment (identity and secret for a new agent), pairing codes, claiming a device by
//! its code, and what owners do with their devices (list, rename, remove). Changes are
//! published as notices, so sockets hear of them on whichever server holds them.

use crate::clock::SharedClock;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::presence::{DeviceNews, Notice, Presence, ViewerNews};
use crate::rate_limit::{KeyedLimiter, Rate, take_all};
use crate::secrets::random_token;
use mumu_shared::api::{
    AccessRole, Device, DeviceStatus, EnrollRequest, EnrollResponse, PairRequest, PairingCode,
    Share,
};
use mumu_shared::signaling::{DevicePresence, Paired};
use mumu_shared::{DeviceId, ErrorCode, UnixMillis, UserId, validate};
use rand::Rng;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// A device's row.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DeviceRow {
    /// Id.
    pub id: String,
    /// SHA-256 of the secret, hex.
    pub secret_hash: String,
    /// Name.
    pub name: String,
    /// Owner, once paired.
    pub owner_id: Option<String>,
    /// Agent version reported.
    pub agent_version: Option<String>,
    /// Enrolment time.
    pub created_at: i64,
    /// Pairing time.
    pub paired_at: Option<i64>,
    /// Last connection or heartbeat recorded.
    pub last_seen: Option<i64>,
}

/// The columns of [`DeviceRow`], from `devices d`; a macro so queries stay static strings.
macro_rules! device_columns {
    () => {
        "d.id, d.secret_hash, d.name, d.owner_id, d.agent_version, d.created_at, d.paired_at, d.last_seen"
    };
}

#[derive(sqlx::FromRow)]
struct AccessibleRow {
    #[sqlx(flatten)]
    device: DeviceRow,
    role: String,
}

/// How long an expired or used code is remembered (to say so) before it is deleted.
const CODE_MEMORY_MS: i64 = 24 * 3600 * 1000;

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn role_of(text: &str) -> AccessRole {
    if text == "owner" {
        AccessRole::Owner
    } else {
        AccessRole::Viewer
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
        code_ttl_secs: u64,
        enroll_per_min: u32,
        pair_per_min: u32,
    ) -> Self {
        Self {
            db,
            clock,
            presence,
            code_ttl_ms: code_ttl_secs as i64 * 1000,
            enrolments: KeyedLimiter::new(Rate::per_minute(enroll_per_min)),
            pair_attempts: KeyedLimiter::new(Rate::per_minute(pair_per_min)),
            // Several accounts from one address share a wider allowance, so more accounts
            // do not mean more guesses.
            pair_attempts_by_addr: KeyedLimiter::new(Rate::per_minute(
                pair_per_min.saturating_mul(3),
            )),
        }
    }

    /// Gives a new agent its identity: an id, a secret (shown only now) and a pairing code.
    pub async fn enroll(&self, req: EnrollRequest, addr: IpAddr) -> Result<EnrollResponse> {
        let now = self.clock.now_ms();
        self.enrolments
            .take(&addr.to_string(), now)
            .map_err(|wait| Error::rate_limited("enrolments from this address", wait))?;
        let name = match req.name.as_deref() {
            Some(n) if !n.trim().is_empty() => {
                validate::device_name(n).map_err(Error::validation)?
            }
            _ => "Camera".to_owned(),
        };
        let agent_version: String = req.agent_version.chars().take(64).collect();
        let id = uuid::Uuid::new_v4().to_string();
        let secret = random_token(32);
        sqlx::query(
            "INSERT INTO devices (id, secret_hash, name, agent_version, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(sha256_hex(&secret))
        .bind(&name)
        .bind(&agent_version)
        .bind(now)
        .execute(&self.db.pool)
        .await?;
        let code = self.issue_code(&id, now).await?;
        tracing::info!(device_id = %id, %name, "device enrolled");
        Ok(EnrollResponse {
            device_id: DeviceId(id),
            device_secret: secret,
            pairing_code: code.pairing_code,
            expires_at: code.expires_at,
        })
    }

    /// The device whose id and secret these are.
    pub async fn verify_secret(&self, device_id: &DeviceId, secret: &str) -> Result<DeviceRow> {
        let row = self.row(device_id).await?;
        let matches = row.as_ref().is_some_and(|r| {
            bool::from(
                r.secret_hash
                    .as_bytes()
                    .ct_eq(sha256_hex(secret).as_bytes()),
            )
        });
        match row {
            Some(row) if matches => Ok(row),
            _ => Err(Error::unauthorized(
                "unknown device or wrong device secret (was the device removed? enrol again)",
            )),
        }
    }

    /// A fresh pairing code for an unpaired device, proven by its secret; older codes die.
    pub async fn new_code(&self, secret: &str, addr: IpAddr) -> Result<PairingCode> {
        let now = self.clock.now_ms();
        self.enrolments
            .take(&addr.to_string(), now)
            .map_err(|wait| Error::rate_limited("pairing code requests from this address", wait))?;
        let row: DeviceRow = sqlx::query_as(concat!(
            "SELECT ",
            device_columns!(),
            " FROM devices d WHERE d.secret_hash = $1"
        ))
        .bind(sha256_hex(secret))
        .fetch_optional(&self.db.pool)
        .await?
        .ok_or_else(|| {
            Error::unauthorized("unknown device secret (was the device removed? enrol again)")
        })?;
        if row.owner_id.is_some() {
            return Err(Error::conflict(
                "this device is already paired; its owner must remove it first",
            ));
        }
        sqlx::query("DELETE FROM pairing_codes WHERE device_id = $1")
            .bind(&row.id)
            .execute(&self.db.pool)
            .await?;
        self.issue_code(&row.id, now).await
    }

    async fn issue_code(&self, device_id: &str, now: UnixMillis) -> Result<PairingCode> {
        // Codes a day past expiry have said "expired" long enough: forget them.
        sqlx::query("DELETE FROM pairing_codes WHERE expires_at < $1")
            .bind(now - CODE_MEMORY_MS)
            .execute(&self.db.pool)
            .await?;
        let alphabet = validate::PAIRING_ALPHABET;
        // Regenerate on the (rare) clash with a live code.
        for _ in 0..5 {
            let code: String = {
                let mut rng = rand::rng();
                (0..validate::PAIRING_CODE_LEN)
                    .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
                    .collect()
            };
            let expires_at = now + self.code_ttl_ms;
            let inserted = sqlx::query(
                "INSERT INTO pairing_codes (code_hash, device_id, created_at, expires_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (code_hash) DO NOTHING",
            )
            .bind(sha256_hex(&code))
            .bind(device_id)
            .bind(now)
            .bind(expires_at)
            .execute(&self.db.pool)
            .await?;
            if inserted.rows_affected() == 1 {
                return Ok(PairingCode {
                    pairing_code: validate::display_pairing_code(&code),
                    expires_at,
                });
            }
        }
        Err(anyhow::anyhow!("could not find a free pairing code").into())
    }

    /// Gives the device whose code this is to `user`. Codes are single-use and expire; attempts
    /// are rate-limited per user and per address so codes cannot be guessed.
    pub async fn pair(
        &self,
        user: &UserId,
        username: &str,
        req: PairRequest,
        addr: IpAddr,
    ) -> Result<Device> {
        let now = self.clock.now_ms();
        let addr_key = addr.to_string();
        take_all(
            &[
                (&self.pair_attempts, user.as_str()),
                (&self.pair_attempts_by_addr, addr_key.as_str()),
            ],
            now,
        )
        .map_err(|(_, wait)| Error::rate_limited("pairing attempts", wait))?;
        let code = validate::pairing_code(&req.pairing_code)
            .map_err(|m| Error::client(ErrorCode::InvalidPairingCode, m))?;
        let name = req
            .name
            .as_deref()
            .map(validate::device_name)
            .transpose()
            .map_err(Error::validation)?;
        let hash = sha256_hex(&code);
        let found: Option<(String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT device_id, expires_at, used_at FROM pairing_codes WHERE code_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(&self.db.pool)
        .await?;
        let (device_id, expires_at, used_at) = found.ok_or_else(|| {
            Error::client(
                ErrorCode::InvalidPairingCode,
                "no camera is waiting with this code; check the code the camera shows",
            )
        })?;
        if used_at.is_some() {
            return Err(Error::client(
                ErrorCode::PairingCodeUsed,
                "this code has already been used; ask the camera for a new one",
            ));
        }
        if expires_at <= now {
            return Err(Error::client(
                ErrorCode::PairingCodeExpired,
                "this code has expired; the camera shows a new one when you restart pairing",
            ));
        }
        let mut tx = self.db.pool.begin().await?;
        let used = sqlx::query(
            "UPDATE pairing_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
        if used.rows_affected() != 1 {
            return Err(Error::client(
                ErrorCode::PairingCodeUsed,
                "this code has already been used; ask the camera for a new one",
            ));
        }
        let claimed = sqlx::query(
            "UPDATE devices SET owner_id = $1, paired_at = $2, name = COALESCE($3, name) WHERE id = $4 AND owner_id IS NULL",
        )
        .bind(user.as_str())
        .bind(now)
        .bind(name.as_deref())
        .bind(&device_id)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            return Err(Error::conflict(
                "this device is already paired with an account",
            ));
        }
        sqlx::query("INSERT INTO device_access (device_id, user_id, role, granted_at) VALUES ($1, $2, 'owner', $3)")
            .bind(&device_id)
            .bind(user.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;

        let device_id = DeviceId(device_id);
        let device = self.get(user, &device_id).await?;
        tracing::info!(%device_id, user_id = %user, "device paired");
        self.presence
            .publish(Notice::Device {
                device_id: device_id.clone(),
                news: DeviceNews::Paired(Paired {
                    owner: username.to_owned(),
                    name: device.name.clone(),
                }),
            })
            .await?;
        self.announce(vec![user.clone()], presence_of(&device))
            .await?;
        Ok(device)
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
        self.with_presence(rows).await
    }

    /// One device `user` may watch, with presence. Someone else's device and an unknown one
    /// are both `not_found`.
    pub async fn get(&self, user: &UserId, device_id: &DeviceId) -> Result<Device> {
        let role = self.role(user, device_id).await?;
        let row = self
            .row(device_id)
            .await?
            .ok_or_else(|| unknown(device_id))?;
        let mut list = self
            .with_presence(vec![AccessibleRow {
                device: row,
                role: role_text(role),
            }])
            .await?;
        Ok(list.remove(0))
    }

    /// The user's role for a device, or `not_found`: a device that is someone else's gets the
    /// same answer as one that does not exist, so device ids cannot be probed.
    pub async fn role(&self, user: &UserId, device_id: &DeviceId) -> Result<AccessRole> {
        let role: Option<(String,)> =
            sqlx::query_as("SELECT role FROM device_access WHERE device_id = $1 AND user_id = $2")
                .bind(device_id.as_str())
                .bind(user.as_str())
                .fetch_optional(&self.db.pool)
                .await?;
        match role {
            Some((role,)) => Ok(role_of(&role)),
            None => Err(unknown(device_id)),
        }
    }

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
        let device = self.get(user, device_id).await?;
        let users = self.access_users(device_id).await?;
        self.announce(users, presence_of(&device)).await?;
        // The device's socket caches its name for the presence it announces: reload it.
        self.presence
            .publish(Notice::Device {
                device_id: device_id.clone(),
                news: DeviceNews::AccessChanged,
            })
            .await?;
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
        self.presence
            .publish(Notice::Device {
                device_id: device_id.clone(),
                news: DeviceNews::Removed,
            })
            .await?;
        self.presence
            .publish(Notice::Viewers {
                users,
                news: ViewerNews::Removed(device_id.clone()),
            })
            .await?;
        Ok(())
    }

    /// Lets the person named `username` watch a device (owner only). Their dashboards hear of
    /// it at once.
    pub async fn share(
        &self,
        owner: &UserId,
        device_id: &DeviceId,
        username: &str,
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
            "INSERT INTO device_access (device_id, user_id, role, granted_at) VALUES ($1, $2, 'viewer', $3) \
             ON CONFLICT (device_id, user_id) DO NOTHING",
        )
        .bind(device_id.as_str())
        .bind(user_id.as_str())
        .bind(now)
        .execute(&self.db.pool)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(Error::conflict(format!(
                "{username} can already watch this device"
            )));
        }
        let device = self.get(&user_id, device_id).await?;
        self.announce(vec![user_id], presence_of(&device)).await?;
        self.presence
            .publish(Notice::Device {
                device_id: device_id.clone(),
                news: DeviceNews::AccessChanged,
            })
            .await?;
        Ok(Share {
            username,
            granted_at: now,
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
            return Err(Error::not_found(format!(
                "this device is not shared with {username}"
            )));
        }
        self.presence
            .publish(Notice::Viewers {
                users: vec![user_id],
                news: ViewerNews::Removed(device_id.clone()),
            })
            .await?;
        self.presence
            .publish(Notice::Device {
                device_id: device_id.clone(),
                news: DeviceNews::AccessChanged,
            })
            .await?;
        Ok(())
    }

    /// The people a device is shared with (owner only).
    pub async fn shares(&self, owner: &UserId, device_id: &DeviceId) -> Result<Vec<Share>> {
        self.require_owner(owner, device_id).await?;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT u.username, a.granted_at FROM device_access a JOIN users u ON u.id = a.user_id \
             WHERE a.device_id = $1 AND a.role = 'viewer' ORDER BY u.username",
        )
        .bind(device_id.as_str())
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(username, granted_at)| Share {
                username,
                granted_at,
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

    /// Everyone who may watch a device.
    pub async fn access_users(&self, device_id: &DeviceId) -> Result<Vec<UserId>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT user_id FROM device_access WHERE device_id = $1")
                .bind(device_id.as_str())
                .fetch_all(&self.db.pool)
                .await?;
        Ok(rows.into_iter().map(|(u,)| UserId(u)).collect())
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
            .bind(agent_version.map(|v| v.chars().take(64).collect::<String>()))
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

    async fn with_presence(&self, rows: Vec<AccessibleRow>) -> Result<Vec<Device>> {
        let ids: Vec<DeviceId> = rows.iter().map(|r| DeviceId(r.device.id.clone())).collect();
        let online = self.presence.lookup(&ids).await?;
        Ok(rows
            .into_iter()
            .zip(ids)
            .map(|(r, id)| {
                let status: Option<&Option<DeviceStatus>> = online.get(&id);
                Device {
                    is_online: status.is_some(),
                    status: status.cloned().flatten(),
                    id,
                    name: r.device.name,
                    role: role_of(&r.role),
                    last_seen: r.device.last_seen,
                    created_at: r.device.created_at,
                    paired_at: r.device.paired_at,
                    agent_version: r.device.agent_version,
                }
            })
            .collect())
    }
}

fn role_text(role: AccessRole) -> String {
    match role {
        AccessRole::Owner => "owner".into(),
        AccessRole::Viewer => "viewer".into(),
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
