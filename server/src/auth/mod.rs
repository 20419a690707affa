//! Accounts and logins: registration (closed after the household's first account unless an
//! invitation comes with it, [`invitations`]), login (rate-limited on failure), logout, and
//! turning an access token back into a user.

pub mod invitations;
pub mod password;
pub mod token;

use crate::clock::SharedClock;
use crate::config::AuthSettings;
use crate::db::Db;
use crate::error::{Error, Result, is_unique_violation};
use crate::presence::{Logins, Notice, Presence, ViewerNews};
use crate::rate_limit::{KeyedLimiter, Rate, refund_all, take_all};
use mumu_shared::api::{HouseholdRole, LoginRequest, RegisterRequest, User};
use mumu_shared::{UnixMillis, UserId, validate};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::net::IpAddr;
use std::sync::Arc;
use token::{Claims, TokenKeys};

/// A login that was just made.
#[derive(Clone, Debug)]
pub struct Login {
    /// The signed access token.
    pub token: String,
    /// When it stops working.
    pub expires_at: UnixMillis,
    /// The account.
    pub user: User,
}

/// A request's authenticated user.
#[derive(Clone, Debug)]
pub struct AuthedUser {
    /// The account.
    pub user: User,
    /// The login the token belongs to.
    pub session_id: String,
}

impl AuthedUser {
    /// The user's id.
    pub fn id(&self) -> &UserId {
        &self.user.id
    }
}

struct UserRow {
    id: String,
    username: String,
    email: String,
    password_hash: String,
    created_at: i64,
    role: String,
}

impl sqlx::FromRow<'_, AnyRow> for UserRow {
    fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            username: row.try_get("username")?,
            email: row.try_get("email")?,
            password_hash: row.try_get("password_hash")?,
            created_at: row.try_get("created_at")?,
            role: row.try_get("role")?,
        })
    }
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: UserId(r.id),
            username: r.username,
            email: r.email,
            created_at: r.created_at,
            role: household_role(&r.role),
        }
    }
}

/// The role's text, read once; anything unexpected is the lesser role, never admin.
fn household_role(text: &str) -> HouseholdRole {
    if text == "admin" {
        HouseholdRole::Admin
    } else {
        HouseholdRole::Member
    }
}

/// The columns of [`UserRow`], from `users u`.
macro_rules! user_columns {
    () => {
        "u.id, u.username, u.email, u.password_hash, u.created_at, u.role"
    };
}

/// The accounts service.
#[derive(Debug)]
pub struct Auth {
    db: Db,
    clock: SharedClock,
    presence: Arc<Presence>,
    keys: TokenKeys,
    session_ttl_ms: i64,
    /// Login attempts by account and address: what one stranger gets. The owner, elsewhere,
    /// is not locked out by them.
    attempts_by_account_addr: KeyedLimiter,
    /// Login attempts by account from everywhere, per hour.
    attempts_by_account: KeyedLimiter,
    /// Login attempts by address, whatever the account (a household shares one address).
    attempts_by_addr: KeyedLimiter,
    /// Registrations by address.
    registrations: KeyedLimiter,
    /// Whether anyone may make an account (`MUMU_OPEN_REGISTRATION`).
    open_registration: bool,
    /// One permit per core: each hash holds 19 MiB for its duration, so a burst of logins
    /// queues here instead of multiplying memory (and starving the runtime's blocking pool).
    hashing: tokio::sync::Semaphore,
}

impl Auth {
    /// The service. Ended logins are announced on `presence`'s bus, so the sockets they
    /// opened close on every server.
    pub fn new(
        db: Db,
        clock: SharedClock,
        presence: Arc<Presence>,
        keys: TokenKeys,
        settings: &AuthSettings,
    ) -> Self {
        let per_min = settings.login_failures_per_min;
        let store = presence.bucket_store();
        let limiter = |name, rate| KeyedLimiter::in_store(name, rate, &store);
        Self {
            db,
            clock,
            presence,
            keys,
            session_ttl_ms: settings.session_ttl_secs as i64 * 1000,
            attempts_by_account_addr: limiter("login_account_addr", Rate::per_minute(per_min)),
            attempts_by_account: limiter(
                "login_account",
                Rate::per_hour(settings.login_failures_per_hour),
            ),
            // An address may hold many accounts (a household behind one NAT): allow more.
            attempts_by_addr: limiter("login_addr", Rate::per_minute(per_min.saturating_mul(5))),
            registrations: limiter("register_addr", Rate::per_hour(settings.register_per_hour)),
            open_registration: settings.open_registration,
            hashing: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
        }
    }

    /// Creates an account and logs it in. Registrations are counted per address (each account
    /// multiplies every per-user limit, and each costs a password hash). The household's first
    /// account becomes its admin; after it, an account needs an invitation unless registration
    /// is open. The invitation is checked before anything else is said (a stranger learns
    /// neither which usernames nor which emails are taken), and it is consumed in the same
    /// transaction that makes the account: of two registrations with one code, one wins.
    pub async fn register(&self, req: RegisterRequest, addr: IpAddr) -> Result<Login> {
        let username = req.username.trim().to_owned();
        let email = req.email.trim().to_owned();
        validate::username(&username).map_err(Error::validation)?;
        validate::email(&email).map_err(Error::validation)?;
        validate::password(&req.password).map_err(Error::validation)?;
        let invitation = match req.invitation.as_deref().map(str::trim) {
            Some("") | None => None,
            Some(code) => Some(invitations::code_hash(code)?),
        };
        self.registrations
            .take(&addr.to_string(), self.clock.now_ms())
            .await
            .map_err(|wait| Error::rate_limited("new accounts from this address", wait))?;
        // Refused early, before the password is hashed, when it cannot succeed; the
        // transaction below decides for good.
        match &invitation {
            Some(hash) if !self.invitation_usable(hash).await? => {
                return Err(invitations::invalid());
            }
            None if !self.open_registration && self.household_founded().await? => {
                return Err(invitations::required());
            }
            _ => {}
        }
        let password = req.password;
        let hash = self.hash_work(move || password::hash(&password)).await??;
        let id = uuid::Uuid::new_v4().to_string();
        let now = self.clock.now_ms();
        let mut tx = self.db.pool.begin().await?;
        if let Some(code_hash) = &invitation {
            // First, so that SQLite takes its write lock here and PostgreSQL locks the row:
            // a second registration with the same code waits, then finds it used.
            let taken = sqlx::query(
                "UPDATE invitations SET used_at = $1 \
                 WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $1",
            )
            .bind(now)
            .bind(code_hash)
            .execute(&mut *tx)
            .await?;
            if taken.rows_affected() != 1 {
                return Err(invitations::invalid());
            }
        }
        let inserted = sqlx::query(
            "INSERT INTO users (id, username, username_key, email, email_key, password_hash, created_at, role) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'member')",
        )
        .bind(&id)
        .bind(&username)
        .bind(username.to_lowercase())
        .bind(&email)
        .bind(email.to_lowercase())
        .bind(&hash)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                // Dropping the transaction gives the invitation back.
                drop(tx);
                let taken = self.find_by_key(&username.to_lowercase()).await?.is_some();
                return Err(Error::conflict(if taken {
                    format!("the username {username:?} is taken")
                } else {
                    "an account with this email address already exists".to_owned()
                }));
            }
            Err(e) => return Err(e.into()),
        }
        // The household's one row says who came first: of two first registrations racing,
        // the database lets one write it, and the other waits and finds it written.
        let founded = sqlx::query(
            "INSERT INTO household (id, founder_id, created_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let first = founded.rows_affected() == 1;
        if !first && invitation.is_none() && !self.open_registration {
            // Another registration made the first account meanwhile.
            return Err(invitations::required());
        }
        let role = if first {
            sqlx::query("UPDATE users SET role = 'admin' WHERE id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            HouseholdRole::Admin
        } else {
            HouseholdRole::Member
        };
        if let Some(code_hash) = &invitation {
            sqlx::query("UPDATE invitations SET used_by = $1 WHERE code_hash = $2")
                .bind(&id)
                .bind(code_hash)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        tracing::info!(user_id = %id, %username, ?role, invited = invitation.is_some(), "account created");
        let user = User {
            id: UserId(id),
            username,
            email,
            created_at: now,
            role,
        };
        self.start_session(user).await
    }

    /// Whether the household has its first account.
    async fn household_founded(&self) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM household WHERE id = 1")
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Logs in by username (or email) and password. Every attempt is charged before the
    /// password is checked (so parallel guesses cannot outrun the count) and refunded when it
    /// succeeds: per account and address, per account from everywhere (a slower ceiling), and
    /// per address. A username and its email are one account.
    pub async fn login(&self, req: LoginRequest, addr: IpAddr) -> Result<Login> {
        let typed = req.username.trim().to_lowercase();
        let now = self.clock.now_ms();
        let row = self.find_by_key(&typed).await?;
        let account = row
            .as_ref()
            .map_or_else(|| format!("unknown:{typed}"), |r| r.id.clone());
        let addr_key = addr.to_string();
        let pair_key = format!("{account}|{addr_key}");
        let charges = [
            (&self.attempts_by_account_addr, pair_key.as_str()),
            (&self.attempts_by_account, account.as_str()),
            (&self.attempts_by_addr, addr_key.as_str()),
        ];
        take_all(&charges, now).await.map_err(|(which, wait)| {
            let what = match which {
                0 => "login attempts at this account from your address",
                1 => "login attempts at this account",
                _ => "login attempts from your address",
            };
            tracing::info!(%addr, what, "login refused by rate limit");
            Error::rate_limited(what, wait)
        })?;
        let password = req.password;
        let stored = row.as_ref().map(|r| r.password_hash.clone());
        let ok = self
            .hash_work(move || password::verify(&password, stored.as_deref()))
            .await?;
        match row {
            Some(row) if ok => {
                refund_all(&charges, now).await;
                self.start_session(row.into()).await
            }
            _ => {
                tracing::info!(%addr, "failed login");
                Err(Error::unauthorized("wrong username or password"))
            }
        }
    }

    /// Ends a login: its token stops working at once, and the sockets it opened close on
    /// every server.
    pub async fn logout(&self, user: &AuthedUser) -> Result<()> {
        sqlx::query(
            "UPDATE auth_sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(self.clock.now_ms())
        .bind(&user.session_id)
        .execute(&self.db.pool)
        .await?;
        self.end_push_subscriptions(user.id(), &Logins::One(user.session_id.clone()))
            .await?;
        self.announce_logout(user.id(), Logins::One(user.session_id.clone()))
            .await
    }

    /// Ends every login of a user ("log out everywhere"), closing all their sockets.
    pub async fn logout_everywhere(&self, user: &UserId) -> Result<()> {
        sqlx::query(
            "UPDATE auth_sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(self.clock.now_ms())
        .bind(user.as_str())
        .execute(&self.db.pool)
        .await?;
        self.end_push_subscriptions(user, &Logins::All).await?;
        tracing::info!(user_id = %user, "logged out everywhere");
        self.announce_logout(user, Logins::All).await
    }

    /// Changes a user's password after checking the current one (counted like a login), and
    /// ends every other login of theirs: whoever knew the old one is out, the caller stays in.
    pub async fn change_password(
        &self,
        user: &AuthedUser,
        current: String,
        new: String,
        addr: IpAddr,
    ) -> Result<()> {
        validate::password(&new).map_err(Error::validation)?;
        let now = self.clock.now_ms();
        let account = user.id().as_str();
        let addr_key = addr.to_string();
        let pair_key = format!("{account}|{addr_key}");
        let charges = [
            (&self.attempts_by_account_addr, pair_key.as_str()),
            (&self.attempts_by_account, account),
        ];
        take_all(&charges, now)
            .await
            .map_err(|(_, wait)| Error::rate_limited("password attempts", wait))?;
        let row = self
            .find_by_id(user.id())
            .await?
            .ok_or_else(|| Error::unauthorized("this account no longer exists"))?;
        let stored = row.password_hash.clone();
        let ok = self
            .hash_work(move || password::verify(&current, Some(&stored)))
            .await?;
        if !ok {
            return Err(Error::forbidden("the current password is wrong"));
        }
        refund_all(&charges, now).await;
        let hash = self.hash_work(move || password::hash(&new)).await??;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(&hash)
            .bind(user.id().as_str())
            .execute(&self.db.pool)
            .await?;
        sqlx::query(
            "UPDATE auth_sessions SET revoked_at = $1 \
             WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user.id().as_str())
        .bind(&user.session_id)
        .execute(&self.db.pool)
        .await?;
        self.end_push_subscriptions(user.id(), &Logins::AllBut(user.session_id.clone()))
            .await?;
        tracing::info!(user_id = %user.id(), "password changed; other logins ended");
        self.announce_logout(user.id(), Logins::AllBut(user.session_id.clone()))
            .await
    }

    /// A browser's push subscription belongs to its login: the login's end deletes it, so a
    /// logged-out browser hears of no camera (the subscriptions table is Web Push's, in
    /// `push::subscriptions`; its rows of a login ended any other way go when the sweep
    /// forgets the login, and are never sent to meanwhile).
    async fn end_push_subscriptions(&self, user: &UserId, logins: &Logins) -> Result<()> {
        let query = match logins {
            Logins::One(session) => {
                sqlx::query("DELETE FROM push_subscriptions WHERE user_id = $1 AND session_id = $2")
                    .bind(user.as_str())
                    .bind(session)
            }
            Logins::AllBut(session) => sqlx::query(
                "DELETE FROM push_subscriptions WHERE user_id = $1 AND session_id <> $2",
            )
            .bind(user.as_str())
            .bind(session),
            Logins::All => {
                sqlx::query("DELETE FROM push_subscriptions WHERE user_id = $1").bind(user.as_str())
            }
        };
        query.execute(&self.db.pool).await?;
        Ok(())
    }

    async fn announce_logout(&self, user: &UserId, logins: Logins) -> Result<()> {
        self.presence
            .publish(Notice::Viewers {
                users: vec![user.clone()],
                news: ViewerNews::LoggedOut(logins),
            })
            .await
    }

    /// The user an access token belongs to, if the token is valid and its login not ended.
    pub async fn authenticate(&self, token: &str) -> Result<AuthedUser> {
        let now = self.clock.now_ms();
        let claims = self.keys.verify(token, now).map_err(Error::unauthorized)?;
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " \
             FROM auth_sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND s.expires_at > $3"
        ))
        .bind(&claims.sid)
        .bind(&claims.sub)
        .bind(now)
        .fetch_optional(&self.db.pool)
        .await?;
        let row = row.ok_or_else(|| Error::unauthorized("this login has ended; log in again"))?;
        Ok(AuthedUser {
            user: row.into(),
            session_id: claims.sid,
        })
    }

    /// Runs argon2 work on a blocking thread, at most one job per core at a time.
    async fn hash_work<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let _permit = self.hashing.acquire().await.map_err(anyhow::Error::from)?;
        Ok(tokio::task::spawn_blocking(job)
            .await
            .map_err(anyhow::Error::from)?)
    }

    async fn find_by_id(&self, id: &UserId) -> Result<Option<UserRow>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.db.pool)
        .await?)
    }

    async fn find_by_key(&self, key: &str) -> Result<Option<UserRow>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.username_key = $1 OR u.email_key = $1"
        ))
        .bind(key)
        .fetch_optional(&self.db.pool)
        .await?)
    }

    async fn start_session(&self, user: User) -> Result<Login> {
        let now = self.clock.now_ms();
        let expires_at = now + self.session_ttl_ms;
        let sid = uuid::Uuid::new_v4().to_string();
        sqlx::query("INSERT INTO auth_sessions (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(&sid)
            .bind(user.id.as_str())
            .bind(now)
            .bind(expires_at)
            .execute(&self.db.pool)
            .await?;
        let claims = Claims {
            sub: user.id.0.clone(),
            sid,
            iat: now / 1000,
            exp: expires_at / 1000,
        };
        let token = self.keys.sign(&claims)?;
        Ok(Login {
            token,
            expires_at,
            user,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_household_role_is_read_once_from_its_text() {
        assert_eq!(household_role("admin"), HouseholdRole::Admin);
        assert_eq!(household_role("member"), HouseholdRole::Member);
        assert_eq!(household_role("Admin"), HouseholdRole::Member);
    }
}
