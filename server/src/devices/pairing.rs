//! Pairing: a person claims a device by the code it shows.

use super::{Devices, presence_of, sha256_hex};
use crate::error::{Error, Result};
use crate::presence::DeviceNews;
use crate::rate_limit::take_all;
use mumu_shared::api::{Device, PairRequest};
use mumu_shared::signaling::Paired;
use mumu_shared::{DeviceId, ErrorCode, UserId, validate};
use std::net::IpAddr;

impl Devices {
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
        .await
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
        let paired = Paired {
            owner: username.to_owned(),
            name: device.name.clone(),
        };
        self.tell_device(&device_id, DeviceNews::Paired(paired))
            .await?;
        self.announce(vec![user.clone()], presence_of(&device))
            .await?;
        Ok(device)
    }
}
