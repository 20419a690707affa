//! The database: one connection pool over sqlx's `Any` driver, so that the same queries serve
//! SQLite (the embedded default) and PostgreSQL. Queries stick to what both accept: `$n`
//! placeholders, TEXT and BIGINT columns, `ON CONFLICT`, `RETURNING`.

use anyhow::Context;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor, SqlSafeStr};
use std::time::Duration;

/// One set of migrations for both backends (the schema uses only what both accept), embedded:
/// `(version, description, SQL)` of each file in `server/migrations/`, in order, as sqlx's
/// `migrate!` would read them. Listed by hand because that macro costs every build a second
/// sqlx, with SQLite's C source, compiled for the host; a test keeps the list equal to the folder.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../migrations/0001_init.sql")),
    (
        2,
        "share recordings",
        include_str!("../migrations/0002_share_recordings.sql"),
    ),
    (
        3,
        "household",
        include_str!("../migrations/0003_household.sql"),
    ),
    (4, "events", include_str!("../migrations/0004_events.sql")),
    (
        5,
        "push subscriptions",
        include_str!("../migrations/0005_push_subscriptions.sql"),
    ),
    (
        6,
        "share talk",
        include_str!("../migrations/0006_share_talk.sql"),
    ),
];

/// The migrator over [`MIGRATIONS`]: the same versions, descriptions and checksums as
/// `migrate!` gives, so databases migrated by earlier builds are recognised.
fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                let no_tx = sql.starts_with("-- no-transaction");
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    no_tx,
                )
            })
            .collect(),
    )
}

/// Which database is behind the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend a URL names.
    pub fn of_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Self::Postgres)
        } else {
            anyhow::bail!(
                "DATABASE_URL must start with sqlite:// or postgres:// (got {:?})",
                redact_url(url)
            )
        }
    }
}

/// The pool and what is behind it.
#[derive(Clone, Debug)]
pub struct Db {
    /// The connection pool.
    pub pool: AnyPool,
    /// The backend.
    pub backend: Backend,
}

impl Db {
    /// Connects (creating the SQLite file and its directory if needed, readable by this
    /// user only: the file holds password hashes and device secret hashes).
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        install_default_drivers();
        let backend = Backend::of_url(url)?;
        if backend == Backend::Sqlite
            && let Some(file) = sqlite_path(url).filter(|p| !p.is_empty() && *p != ":memory:")
        {
            create_private_file(std::path::Path::new(file))?;
        }
        let options = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers work beside the writer; foreign keys make
                        // ON DELETE CASCADE real; busy_timeout waits instead of failing.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                    }
                    Ok(())
                })
            });
        let pool = options
            .connect(url)
            .await
            .with_context(|| format!("connecting to the database at {}", redact_url(url)))?;
        Ok(Self { pool, backend })
    }

    /// Applies the migrations this build carries that the database lacks.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        migrator()
            .run(&self.pool)
            .await
            .context("applying database migrations")?;
        Ok(())
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }
}

/// Creates `file` (and its directory, mode 0700) with mode 0600 if it does not exist. SQLite
/// gives its `-wal` and `-shm` files the database file's mode, so those are private too.
fn create_private_file(file: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating database directory {}", dir.display()))?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating the database file {}", file.display())),
    }
}

/// The file path in a `sqlite://path?options` URL.
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// A database URL with its password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What sqlx's own reader makes of `server/migrations/` is what the build embeds: the
    /// same versions, descriptions, kinds and checksums, none missing.
    #[test]
    fn the_embedded_migrations_are_the_folder() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let read = sqlx::migrate::resolve_blocking(&folder).unwrap();
        let embedded = migrator();
        let summary = |m: &Migration| {
            let kind = m.migration_type;
            (
                m.version,
                m.description.to_string(),
                kind,
                m.checksum.to_vec(),
                m.no_tx,
            )
        };
        let mut from_folder: Vec<_> = read.iter().map(|(m, _)| summary(m)).collect();
        from_folder.sort_by_key(|m| m.0);
        let listed: Vec<_> = embedded.migrations.iter().map(summary).collect();
        assert_eq!(
            listed, from_folder,
            "server/src/db.rs's MIGRATIONS must list every file of server/migrations/"
        );
    }

    #[test]
    fn passwords_in_database_urls_are_not_shown() {
        assert_eq!(
            redact_url("postgres://u:pw@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://data/mumu.db"), "sqlite://data/mumu.db");
    }

    #[test]
    fn the_backend_follows_the_url_scheme() {
        assert_eq!(Backend::of_url("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::of_url("postgresql://h/db").unwrap(),
            Backend::Postgres
        );
        assert!(Backend::of_url("mysql://h/db").is_err());
        assert_eq!(
            sqlite_path("sqlite://data/mumu.db?mode=rwc"),
            Some("data/mumu.db")
        );
    }
}
