//! Invitations: how a household grows once it has its first account. An admin makes one (a
//! random code, shown once, stored as its SHA-256); it works once, until it expires or an admin
//! revokes it. Using one is part of [`Auth::register`]'s transaction.

use super::{Auth, AuthedUser};
use crate::error::{Error, Result};
use mumu_shared::ErrorCode;
use mumu_shared::api::{HouseholdRole, Invitation, InvitationRequest, NewInvitation};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// How long an invitation lasts when the admin does not say.
pub const DEFAULT_TTL_SECS: u64 = 7 * 24 * 3600;
/// The shortest life an admin may give one.
pub const MIN_TTL_SECS: u64 = 300;
/// The longest: a code that lives for months is a standing key to the household.
pub const MAX_TTL_SECS: u64 = 30 * 24 * 3600;
/// Invitations not yet used that one household may hold at once.
pub const MAX_PENDING: i64 = 100;
/// A code is 32 hex digits (128 random bits); anything much longer is not one.
const MAX_CODE_LEN: usize = 64;

/// Registration is closed and no invitation came.
pub fn required() -> Error {
    Error::client(
        ErrorCode::InvitationRequired,
        "accounts on this server are made by invitation: ask the household's admin for an \
         invitation link",
    )
}

/// The invitation cannot be used. Unknown, expired, used and revoked codes all get this one
/// answer, so trying codes teaches nothing.
pub fn invalid() -> Error {
    Error::client(
        ErrorCode::InvitationInvalid,
        "this invitation cannot be used: it may have expired, been used or been revoked; ask \
         for a new one",
    )
}

/// The stored form of a code as typed (spaces around it and case do not matter).
pub fn code_hash(code: &str) -> Result<String> {
    let code = code.trim().to_ascii_lowercase();
    if code.len() > MAX_CODE_LEN {
        return Err(invalid());
    }
    Ok(Sha256::digest(code.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn require_admin(user: &AuthedUser) -> Result<()> {
    match user.user.role {
        HouseholdRole::Admin => Ok(()),
        HouseholdRole::Member => Err(Error::forbidden(
            "only the household's admin may invite people or see invitations",
        )),
    }
}

impl Auth {
    /// Whether an invitation with this hash exists, unused and unexpired (a quick look before
    /// a password is hashed; the registration's transaction decides).
    pub(super) async fn invitation_usable(&self, code_hash: &str) -> Result<bool> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM invitations WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(code_hash)
        .bind(self.clock.now_ms())
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Makes an invitation (admins only). `public_url` is where people reach the server, for
    /// the link.
    pub async fn invite(
        &self,
        admin: &AuthedUser,
        req: &InvitationRequest,
        public_url: &str,
    ) -> Result<NewInvitation> {
        require_admin(admin)?;
        let ttl = req.expires_in_secs.unwrap_or(DEFAULT_TTL_SECS);
        if !(MIN_TTL_SECS..=MAX_TTL_SECS).contains(&ttl) {
            return Err(Error::validation(format!(
                "expires_in_secs must be {MIN_TTL_SECS} to {MAX_TTL_SECS} (30 days); got {ttl}"
            )));
        }
        let now = self.clock.now_ms();
        let pending: (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM invitations WHERE used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .fetch_one(&self.db.pool)
        .await?;
        if pending.0 >= MAX_PENDING {
            return Err(Error::conflict(format!(
                "{MAX_PENDING} invitations are waiting to be used; revoke some first"
            )));
        }
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        let code: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let id = uuid::Uuid::new_v4().to_string();
        let expires_at = now + ttl as i64 * 1000;
        sqlx::query(
            "INSERT INTO invitations (id, code_hash, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(code_hash(&code)?)
        .bind(admin.id().as_str())
        .bind(now)
        .bind(expires_at)
        .execute(&self.db.pool)
        .await?;
        tracing::info!(invitation = %id, user_id = %admin.id(), expires_at, "invitation made");
        Ok(NewInvitation {
            link: format!(
                "{}/register?invite={code}",
                public_url.trim_end_matches('/')
            ),
            id,
            code,
            expires_at,
        })
    }

    /// Every invitation, newest first (admins only); never their codes.
    pub async fn invitations(&self, admin: &AuthedUser) -> Result<Vec<Invitation>> {
        require_admin(admin)?;
        type Row = (String, String, i64, i64, Option<i64>, Option<String>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT i.id, c.username, i.created_at, i.expires_at, i.used_at, u.username \
             FROM invitations i JOIN users c ON c.id = i.created_by \
             LEFT JOIN users u ON u.id = i.used_by \
             ORDER BY i.created_at DESC, i.id LIMIT 1000",
        )
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, created_by, created_at, expires_at, used_at, used_by)| Invitation {
                    id,
                    created_by,
                    created_at,
                    expires_at,
                    used_at,
                    used_by,
                },
            )
            .collect())
    }

    /// Revokes an invitation (admins only): its code stops working at once. A used one is
    /// forgotten; the account made with it stays.
    pub async fn revoke_invitation(&self, admin: &AuthedUser, id: &str) -> Result<()> {
        require_admin(admin)?;
        let deleted = sqlx::query("DELETE FROM invitations WHERE id = $1")
            .bind(id)
            .execute(&self.db.pool)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(Error::not_found(format!("no invitation {id:?}")));
        }
        tracing::info!(invitation = %id, user_id = %admin.id(), "invitation revoked");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stored_hashed_as_typed_and_overlong_ones_are_refused() {
        let hash = code_hash(" 5F0C9E2A7B1D4C3E8A6F2B9D0E1C7A34 ").unwrap();
        assert_eq!(hash, code_hash("5f0c9e2a7b1d4c3e8a6f2b9d0e1c7a34").unwrap());
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains("5f0c9e2a"));
        let refused = code_hash(&"a".repeat(65)).unwrap_err();
        assert_eq!(refused.code(), ErrorCode::InvitationInvalid);
    }
}
