//! A PostgreSQL schema of a test's own, so that tests running at once never see each other's
//! rows.
//!
//! sqlx and std only: `probe/tests/common/cluster.rs` includes this file by path (`#[path]`),
//! since the probe does not depend on the server crate, and the server's tests must not depend
//! on the probe (which builds webrtc-rs).

/// A fresh schema in the test PostgreSQL database (`MUMU_TEST_POSTGRES_URL`, default this
/// machine's), as a `DATABASE_URL` that selects it. Its name starts with `prefix`. When
/// PostgreSQL cannot be reached it panics, saying that `needed_by` needs it.
pub async fn fresh_postgres_schema(prefix: &str, needed_by: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let base = std::env::var("MUMU_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    // Unique across the processes of one run (the pid) and across runs (the time).
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let schema = format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&base)
        .await
        .unwrap_or_else(|e| {
            panic!("{needed_by} needs PostgreSQL at {base} ({e}); set MUMU_TEST_POSTGRES_URL")
        });
    sqlx::Executor::execute(
        &mut conn,
        sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")),
    )
    .await
    .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}
