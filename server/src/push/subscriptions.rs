//! The subscriptions: one per browser, owned by the login that made it, each with the cameras
//! it wants to hear of. What ends them lives in the schema where it can (a revoked share or a
//! removed camera deletes the camera's rows, a forgotten login its subscriptions), and the
//! query that finds who to notify reads only live logins that may still be notified.

use crate::clock::SharedClock;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::outbound::Guard;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mumu_shared::push::{PushSubscription, PushSubscriptionRequest};
use mumu_shared::{DeviceId, UserId};

/// Subscriptions one login may hold: one per browser is the norm; a few allow for a browser
/// that renewed its subscription before the old one was gone.
pub const MAX_PER_LOGIN: i64 = 4;
/// Subscriptions one account may hold across its logins (phones, laptops, browsers).
pub const MAX_PER_USER: i64 = 20;
/// Cameras one request may name.
pub const MAX_DEVICES_PER_REQUEST: usize = 100;
/// The longest endpoint accepted (push services' are a few hundred bytes).
pub const MAX_ENDPOINT_BYTES: usize = 1024;

/// A subscription as the sender needs it.
#[derive(Clone, Debug)]
pub struct Target {
    /// Its id.
    pub id: String,
    /// The push service's URL.
    pub endpoint: String,
    /// The browser's public key (uncompressed point).
    pub p256dh: p256::PublicKey,
    /// The browser's authentication secret.
    pub auth: [u8; 16],
    /// Whose it is.
    pub user_id: UserId,
}

/// The keys of a request, checked: a P-256 point the browser made and 16 bytes of secret.
fn parse_keys(p256dh: &str, auth: &str) -> Result<(p256::PublicKey, [u8; 16])> {
    let decode = |text: &str| URL_SAFE_NO_PAD.decode(text.trim().trim_end_matches('='));
    let point = decode(p256dh).map_err(|_| Error::validation("keys.p256dh is not base64url"))?;
    if point.len() != 65 || point[0] != 4 {
        return Err(Error::validation(format!(
            "keys.p256dh must be an uncompressed P-256 public key (65 bytes starting with 4); got {} bytes",
            point.len()
        )));
    }
    let key = p256::PublicKey::from_sec1_bytes(&point)
        .map_err(|_| Error::validation("keys.p256dh is not a point on the P-256 curve"))?;
    let secret = decode(auth).map_err(|_| Error::validation("keys.auth is not base64url"))?;
    let secret: [u8; 16] = secret.try_into().map_err(|bytes: Vec<u8>| {
        Error::validation(format!("keys.auth must be 16 bytes; got {}", bytes.len()))
    })?;
    Ok((key, secret))
}

/// The subscriptions table.
#[derive(Clone, Debug)]
pub struct Subscriptions {
    db: Db,
    clock: SharedClock,
    guard: Guard,
}

/// What a subscribe did.
#[derive(Debug)]
pub struct Subscribed {
    /// Whether a new row was made (else an existing one of this login was updated).
    pub created: bool,
    /// The subscription now.
    pub subscription: PushSubscription,
}

impl Subscriptions {
    /// The store; endpoints are checked with `guard`.
    pub fn new(db: Db, clock: SharedClock, guard: Guard) -> Self {
        Self { db, clock, guard }
    }

    /// Records a browser's subscription for a login, or updates the one with the same endpoint:
    /// its keys, and its cameras when the request names them. An endpoint another login held
    /// moves to this one (the browser is now logged in as this person), its cameras with it
    /// gone. Bounded per login and per account.
    pub async fn subscribe(
        &self,
        user: &UserId,
        session: &str,
        req: &PushSubscriptionRequest,
    ) -> Result<Subscribed> {
        let endpoint = req.endpoint.trim();
        if endpoint.len() > MAX_ENDPOINT_BYTES {
            return Err(Error::validation(format!(
                "endpoint is longer than {MAX_ENDPOINT_BYTES} bytes"
            )));
        }
        self.guard
            .check_url(endpoint)
            .map_err(|why| Error::validation(format!("endpoint: {why}")))?;
        parse_keys(&req.keys.p256dh, &req.keys.auth)?;
        if let Some(devices) = &req.devices {
            if devices.len() > MAX_DEVICES_PER_REQUEST {
                return Err(Error::validation(format!(
                    "devices: at most {MAX_DEVICES_PER_REQUEST} cameras in one request"
                )));
            }
            for device in devices {
                self.may_notify(user, device).await?;
            }
        }
        let now = self.clock.now_ms();
        let mut tx = self.db.pool.begin().await?;
        // First, so that SQLite takes its write lock here and PostgreSQL locks the account's
        // row: two subscribes of one account count one after the other.
        sqlx::query("UPDATE users SET role = role WHERE id = $1")
            .bind(user.as_str())
            .execute(&mut *tx)
            .await?;
        let existing: Option<(String, String)> =
            sqlx::query_as("SELECT id, session_id FROM push_subscriptions WHERE endpoint = $1")
                .bind(endpoint)
                .fetch_optional(&mut *tx)
                .await?;
        let (id, created) = match existing {
            Some((id, owner)) if owner == session => {
                sqlx::query("UPDATE push_subscriptions SET p256dh = $1, auth = $2 WHERE id = $3")
                    .bind(req.keys.p256dh.trim())
                    .bind(req.keys.auth.trim())
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                (id, false)
            }
            other => {
                if let Some((old, _)) = other {
                    sqlx::query("DELETE FROM push_subscriptions WHERE id = $1")
                        .bind(&old)
                        .execute(&mut *tx)
                        .await?;
                }
                let (per_login, per_user): (i64, i64) = sqlx::query_as(
                    "SELECT \
                       (SELECT COUNT(*) FROM push_subscriptions WHERE session_id = $1), \
                       (SELECT COUNT(*) FROM push_subscriptions WHERE user_id = $2)",
                )
                .bind(session)
                .bind(user.as_str())
                .fetch_one(&mut *tx)
                .await?;
                if per_login >= MAX_PER_LOGIN {
                    return Err(Error::conflict(format!(
                        "this login already holds {MAX_PER_LOGIN} push subscriptions; delete one \
                         (DELETE /api/push/subscriptions/{{id}}) first"
                    )));
                }
                if per_user >= MAX_PER_USER {
                    return Err(Error::conflict(format!(
                        "this account already holds {MAX_PER_USER} push subscriptions across its \
                         logins; delete one, or log out of a browser you no longer use"
                    )));
                }
                let id = uuid::Uuid::new_v4().to_string();
                sqlx::query(
                    "INSERT INTO push_subscriptions (id, session_id, user_id, endpoint, p256dh, auth, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&id)
                .bind(session)
                .bind(user.as_str())
                .bind(endpoint)
                .bind(req.keys.p256dh.trim())
                .bind(req.keys.auth.trim())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                (id, true)
            }
        };
        if let Some(devices) = &req.devices {
            sqlx::query("DELETE FROM push_subscription_devices WHERE subscription_id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            for device in devices {
                insert_device(&mut tx, &id, device, user).await?;
            }
        }
        tx.commit().await?;
        tracing::info!(user_id = %user, subscription = %id, created, "push subscription recorded");
        let subscription = self
            .of_login(session)
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| Error::not_found("the subscription was deleted meanwhile"))?;
        Ok(Subscribed {
            created,
            subscription,
        })
    }

    /// A login's subscriptions, each with its cameras.
    pub async fn of_login(&self, session: &str) -> Result<Vec<PushSubscription>> {
        let rows: Vec<(String, String, i64, Option<String>)> = sqlx::query_as(
            "SELECT s.id, s.endpoint, s.created_at, d.device_id \
             FROM push_subscriptions s \
             LEFT JOIN push_subscription_devices d ON d.subscription_id = s.id \
             WHERE s.session_id = $1 ORDER BY s.created_at, s.id, d.device_id",
        )
        .bind(session)
        .fetch_all(&self.db.pool)
        .await?;
        let mut out: Vec<PushSubscription> = Vec::new();
        for (id, endpoint, created_at, device) in rows {
            if out.last().is_none_or(|s| s.id != id) {
                out.push(PushSubscription {
                    id,
                    endpoint,
                    devices: Vec::new(),
                    created_at,
                });
            }
            if let (Some(device), Some(last)) = (device, out.last_mut()) {
                last.devices.push(DeviceId(device));
            }
        }
        Ok(out)
    }

    /// Deletes one of a login's subscriptions.
    pub async fn unsubscribe(&self, session: &str, id: &str) -> Result<()> {
        let deleted =
            sqlx::query("DELETE FROM push_subscriptions WHERE id = $1 AND session_id = $2")
                .bind(id)
                .bind(session)
                .execute(&self.db.pool)
                .await?;
        if deleted.rows_affected() == 0 {
            return Err(Error::not_found(format!(
                "this login has no push subscription {id:?}"
            )));
        }
        Ok(())
    }

    /// Turns "notify me" for a camera on or off on every subscription of a login; how many
    /// subscriptions that is.
    pub async fn set_notify(
        &self,
        user: &UserId,
        session: &str,
        device: &DeviceId,
        on: bool,
    ) -> Result<u32> {
        if on {
            self.may_notify(user, device).await?;
        } else {
            self.may_see(user, device).await?;
        }
        let ids: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM push_subscriptions WHERE session_id = $1")
                .bind(session)
                .fetch_all(&self.db.pool)
                .await?;
        if on && ids.is_empty() {
            return Err(Error::conflict(
                "this login has no push subscription: subscribe this browser first \
                 (POST /api/push/subscriptions with its PushSubscription)",
            ));
        }
        let mut tx = self.db.pool.begin().await?;
        for (id,) in &ids {
            if on {
                insert_device(&mut tx, id, device, user).await?;
            } else {
                sqlx::query(
                    "DELETE FROM push_subscription_devices WHERE subscription_id = $1 AND device_id = $2",
                )
                .bind(id)
                .bind(device.as_str())
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(ids.len() as u32)
    }

    /// The subscriptions to notify of an event on `device`: of live logins, whose person may
    /// still watch the camera and be notified of it, and (with `only`) among those people.
    /// A row whose stored keys no longer parse is skipped (and logged).
    pub async fn targets(&self, device: &DeviceId, only: Option<&[UserId]>) -> Result<Vec<Target>> {
        let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
            "SELECT s.id, s.endpoint, s.p256dh, s.auth, s.user_id \
             FROM push_subscription_devices d \
             JOIN push_subscriptions s ON s.id = d.subscription_id \
             JOIN auth_sessions l ON l.id = s.session_id \
             JOIN device_access a ON a.device_id = d.device_id AND a.user_id = d.user_id \
             WHERE d.device_id = $1 AND l.revoked_at IS NULL AND l.expires_at > $2 \
               AND a.notifications <> 0",
        )
        .bind(device.as_str())
        .bind(self.clock.now_ms())
        .fetch_all(&self.db.pool)
        .await?;
        let mut targets = Vec::with_capacity(rows.len());
        for (id, endpoint, p256dh, auth, user_id) in rows {
            let user_id = UserId(user_id);
            if only.is_some_and(|only| !only.contains(&user_id)) {
                continue;
            }
            match parse_keys(&p256dh, &auth) {
                Ok((p256dh, auth)) => targets.push(Target {
                    id,
                    endpoint,
                    p256dh,
                    auth,
                    user_id,
                }),
                Err(e) => {
                    tracing::warn!(subscription = %id, error = %e, "stored push keys do not parse")
                }
            }
        }
        Ok(targets)
    }

    /// Deletes a subscription the push service says is gone (404/410).
    pub async fn forget(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM push_subscriptions WHERE id = $1")
            .bind(id)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// Whether the person may watch the camera; the error says it is not theirs otherwise.
    async fn may_see(&self, user: &UserId, device: &DeviceId) -> Result<i64> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT notifications FROM device_access WHERE device_id = $1 AND user_id = $2",
        )
        .bind(device.as_str())
        .bind(user.as_str())
        .fetch_optional(&self.db.pool)
        .await?;
        row.map(|(n,)| n).ok_or_else(|| unknown_camera(device))
    }

    /// Whether the person may be notified of the camera's events.
    async fn may_notify(&self, user: &UserId, device: &DeviceId) -> Result<()> {
        if self.may_see(user, device).await? == 0 {
            return Err(Error::forbidden(format!(
                "the owner of camera {device} has turned notifications off for your share"
            )));
        }
        Ok(())
    }
}

fn unknown_camera(device: &DeviceId) -> Error {
    Error::not_found(format!("no camera {device} among the ones you may watch"))
}

/// Adds a camera to a subscription; the access row it hangs on must exist (a share revoked
/// meanwhile makes it an unknown camera).
async fn insert_device(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    subscription: &str,
    device: &DeviceId,
    user: &UserId,
) -> Result<()> {
    let inserted = sqlx::query(
        "INSERT INTO push_subscription_devices (subscription_id, device_id, user_id) \
         VALUES ($1, $2, $3) ON CONFLICT (subscription_id, device_id) DO NOTHING",
    )
    .bind(subscription)
    .bind(device.as_str())
    .bind(user.as_str())
    .execute(&mut **tx)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
            Err(unknown_camera(device))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn browser_keys() -> (String, String) {
        let secret = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
        let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
            &secret.public_key(),
            false,
        );
        (
            URL_SAFE_NO_PAD.encode(point),
            URL_SAFE_NO_PAD.encode([1u8; 16]),
        )
    }

    #[test]
    fn keys_must_be_a_curve_point_and_sixteen_bytes() {
        let (p256dh, auth) = browser_keys();
        assert!(parse_keys(&p256dh, &auth).is_ok());
        // Padding, as some clients send it, is fine.
        assert!(parse_keys(&format!("{p256dh}="), &format!("{auth}==")).is_ok());
        let message = |r: Result<_>| r.unwrap_err().to_body().message;
        assert!(message(parse_keys("AAAA", &auth)).contains("65 bytes"));
        let mut off_curve = URL_SAFE_NO_PAD.decode(&p256dh).unwrap();
        off_curve[64] ^= 1;
        assert!(message(parse_keys(&URL_SAFE_NO_PAD.encode(off_curve), &auth)).contains("curve"));
        assert!(message(parse_keys(&p256dh, "AAAA")).contains("16 bytes"));
        assert!(message(parse_keys("!!", &auth)).contains("base64url"));
    }
}
