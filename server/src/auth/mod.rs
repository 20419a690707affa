//! Accounts and logins: registration, login (rate-limited on failure), logout, and turning an
//! access token back into a user.

pub mod password;
pub mod token;

use crate::clock::SharedClock;
use crate::db::Db;
use crate::error::{Error, Result, is_unique_violation};
use crate::rate_limit::{KeyedLimiter, Rate};
use mumu_shared::api::{LoginRequest, RegisterRequest, User};
use mumu_shared::{UnixMillis, UserId, validate};
use std::net::IpAddr;
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

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    username: String,
    email: String,
    password_hash: String,
    created_at: i64,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: UserId(r.id),
            username: r.username,
            email: r.email,
            created_at: r.created_at,
        }
    }
}

/// The accounts service.
#[derive(Debug)]
pub struct Auth {
    db: Db,
    clock: SharedClock,
    keys: TokenKeys,
    session_ttl_ms: i64,
    failures_by_name: KeyedLimiter,
    failures_by_addr: KeyedLimiter,
    /// One permit per core: each hash holds 19 MiB for its duration, so a burst of logins
    /// queues here instead of multiplying memory (and starving the runtime's blocking pool).
    hashing: tokio::sync::Semaphore,
}

impl Auth {
    /// The service; `failures_per_min` bounds failed logins per username and per address.
    pub fn new(
        db: Db,
        clock: SharedClock,
        keys: TokenKeys,
        session_ttl_secs: u64,
        failures_per_min: u32,
    ) -> Self {
        Self {
            db,
            clock,
            keys,
            session_ttl_ms: session_ttl_secs as i64 * 1000,
            failures_by_name: KeyedLimiter::new(Rate::per_minute(failures_per_min)),
            // An address may hold many accounts (a household behind one NAT): allow more.
            failures_by_addr: KeyedLimiter::new(Rate::per_minute(
                failures_per_min.saturating_mul(5),
            )),
            hashing: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
        }
    }

    /// Creates an account and logs it in.
    pub async fn register(&self, req: RegisterRequest) -> Result<Login> {
        let username = req.username.trim().to_owned();
        let email = req.email.trim().to_owned();
        validate::username(&username).map_err(Error::validation)?;
        validate::email(&email).map_err(Error::validation)?;
        validate::password(&req.password).map_err(Error::validation)?;
        let password = req.password;
        let hash = self.hash_work(move || password::hash(&password)).await??;
        let id = uuid::Uuid::new_v4().to_string();
        let now = self.clock.now_ms();
        let inserted = sqlx::query(
            "INSERT INTO users (id, username, username_key, email, email_key, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(&username)
        .bind(username.to_lowercase())
        .bind(&email)
        .bind(email.to_lowercase())
        .bind(&hash)
        .bind(now)
        .execute(&self.db.pool)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                let taken = self.find_by_key(&username.to_lowercase()).await?.is_some();
                return Err(Error::conflict(if taken {
                    format!("the username {username:?} is taken")
                } else {
                    "an account with this email address already exists".to_owned()
                }));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(user_id = %id, %username, "account created");
        let user = User {
            id: UserId(id),
            username,
            email,
            created_at: now,
        };
        self.start_session(user).await
    }

    /// Logs in by username (or email) and password. Failures are counted per username and per
    /// address; past the limit even a right password is refused until the bucket refills.
    pub async fn login(&self, req: LoginRequest, addr: IpAddr) -> Result<Login> {
        let key = req.username.trim().to_lowercase();
        let addr_key = addr.to_string();
        let now = self.clock.now_ms();
        self.failures_by_name
            .check(&key, now)
            .and_then(|()| self.failures_by_addr.check(&addr_key, now))
            .map_err(|wait| Error::rate_limited("failed logins", wait))?;
        let row = self.find_by_key(&key).await?;
        let password = req.password;
        let stored = row.as_ref().map(|r| r.password_hash.clone());
        let ok = self
            .hash_work(move || password::verify(&password, stored.as_deref()))
            .await?;
        match row {
            Some(row) if ok => self.start_session(row.into()).await,
            _ => {
                self.failures_by_name.consume(&key, now);
                self.failures_by_addr.consume(&addr_key, now);
                tracing::info!(%addr, "failed login");
                Err(Error::unauthorized("wrong username or password"))
            }
        }
    }

    /// Ends a login: its token stops working at once.
    pub async fn logout(&self, session_id: &str) -> Result<()> {
        sqlx::query(
            "UPDATE auth_sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(self.clock.now_ms())
        .bind(session_id)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// The user an access token belongs to, if the token is valid and its login not ended.
    pub async fn authenticate(&self, token: &str) -> Result<AuthedUser> {
        let now = self.clock.now_ms();
        let claims = self.keys.verify(token, now).map_err(Error::unauthorized)?;
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT u.id, u.username, u.email, u.password_hash, u.created_at \
             FROM auth_sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND s.expires_at > $3",
        )
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

    async fn find_by_key(&self, key: &str) -> Result<Option<UserRow>> {
        Ok(sqlx::query_as(
            "SELECT id, username, email, password_hash, created_at FROM users \
             WHERE username_key = $1 OR email_key = $1",
        )
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
