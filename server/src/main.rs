//! `mumu-server`: run the server, apply migrations, check readiness, or make VAPID keys.

use clap::Parser;
use mumu_server::clock::SystemClock;
use mumu_server::config::{Cli, Command, LogFormat};
use mumu_server::{Server, db, readiness};
use std::sync::Arc;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of the system allocator: glibc keeps a heap arena per thread and hands
/// little back, so argon2's 19 MiB working sets and the database threads' churn would stay in
/// RSS for good; mimalloc returns freed pages and keeps an idle server small.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // A .env file beside the binary's working directory fills in unset variables (development).
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    init_logging(cli.config.log_format);
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            let db = db::Db::connect(&config.storage.database_url(), 1).await?;
            db.migrate().await?;
            println!(
                "migrations applied to {}",
                db::redact_url(&config.storage.database_url())
            );
            Ok(())
        }
        Command::VapidKeys => {
            let (private, public) = mumu_server::push::vapid::VapidKeys::generate();
            println!("# Web Push (VAPID) keys for this deployment: the same on every server.");
            println!(
                "# Keep the private key secret. Browsers subscribe with the public half: a new pair \
                 later ends every subscription."
            );
            println!("MUMU_VAPID_PRIVATE_KEY={private}");
            println!("MUMU_VAPID_SUBJECT=mailto:you@example.com");
            println!("# public key (served at /api/push/key): {public}");
            Ok(())
        }
        Command::CheckReady => {
            let body = readiness::check_ready(config.listen, Duration::from_secs(3))?;
            println!("{body}");
            Ok(())
        }
        Command::Serve => {
            let database = db::redact_url(&config.storage.database_url());
            let server = Server::bind(config, Arc::new(SystemClock)).await?;
            let state = server.state();
            let public_url = state.config.public_url(server.local_addr());
            tracing::info!(
                addr = %server.local_addr(),
                %database,
                presence = state.presence.name(),
                "mumu-server listening"
            );
            println!("MuMu server listening on http://{}", server.local_addr());
            println!("  open {public_url} (MUMU_PUBLIC_URL)");
            println!(
                "  database: {database}; presence: {}",
                state.presence.name()
            );
            println!("  API docs: {public_url}/api/docs");
            server.serve(shutdown_signal()).await
        }
    }
}

/// Libraries that log whole frames or headers at debug and trace (tokens, cookies, device
/// secrets) are held at info whatever `RUST_LOG` asks.
const QUIET: &[&str] = &[
    "tungstenite=info",
    "tokio_tungstenite=info",
    "hyper=info",
    "hyper_util=info",
    "h2=info",
];

fn init_logging(format: LogFormat) {
    let mut filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn,sqlx=warn"));
    for directive in QUIET {
        filter = filter.add_directive(directive.parse().expect("a valid directive"));
    }
    // Colours only for a person at a terminal: not in the journal, a file or a pipe.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
