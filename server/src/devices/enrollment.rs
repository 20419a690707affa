//! Enrolment: a new agent gets its identity (an id and a secret, shown once) and a pairing
//! code; an unpaired agent proves itself with its secret for a fresh code.

use super::{DeviceRow, Devices, sha256_hex};
use crate::error::{Error, Result};
use crate::secrets::random_token;
use mumu_shared::api::{EnrollRequest, EnrollResponse, PairingCode};
use mumu_shared::{DeviceId, UnixMillis, validate};
use rand::Rng;
use std::net::IpAddr;
use subtle::ConstantTimeEq;

/// The longest agent version kept (it is shown to the owner).
pub(super) const MAX_AGENT_VERSION: usize = 64;

/// How long an expired or used code is remembered (to say so) before it is deleted.
const CODE_MEMORY_MS: i64 = 24 * 3600 * 1000;

impl Devices {
    /// Gives a new agent its identity: an id, a secret (shown only now) and a pairing code.
    pub async fn enroll(&self, req: EnrollRequest, addr: IpAddr) -> Result<EnrollResponse> {
        let now = self.clock.now_ms();
        self.enrolments
            .take(&addr.to_string(), now)
            .await
            .map_err(|wait| Error::rate_limited("enrolments from this address", wait))?;
        let name = match req.name.as_deref() {
            Some(n) if !n.trim().is_empty() => {
                validate::device_name(n).map_err(Error::validation)?
            }
            _ => "Camera".to_owned(),
        };
        let agent_version = validate::clean_label(&req.agent_version, MAX_AGENT_VERSION);
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
            .await
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
}
