//! `mumu-agent`: the command line. `mumu_agent::config` turns flags (and their `MUMU_*`
//! environment variables), the TOML file and the defaults into the agent's settings; everything
//! else lives in the library.

use clap::{Parser, Subcommand};
use mumu_agent::agent;
use mumu_agent::config::{self, FileConfig, Flags};

/// MuMu camera agent: streams this camera to its owner's browser, peer to peer.
///
/// Settings come from flags, then MUMU_* variables, then the configuration file, then the
/// defaults shown.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    flags: Flags,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent (the default).
    Run,
    /// Forget this device's identity, enrol again and show a new pairing code.
    Pair,
    /// Exit 0 if the running agent heard from its server in the last 90 s (it must run with
    /// --health-file, read here too): a container health check.
    Health,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal: not in the journal or a file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if matches!(cli.command, Some(Command::Health)) {
        let path = cli.flags.health_file.ok_or_else(|| {
            anyhow::anyhow!("no health file: give --health-file or MUMU_HEALTH_FILE")
        })?;
        let age = mumu_agent::health::check(&path)?;
        println!("the server answered {} s ago", age.as_secs());
        return Ok(());
    }
    let (file, path) = FileConfig::load(cli.flags.config.as_deref())?;
    if let Some(path) = &path {
        tracing::info!(path = %path.display(), "configuration file read");
    }
    gstreamer::init()?;
    let re_enroll = matches!(cli.command, Some(Command::Pair));
    let config = config::resolve(cli.flags, file, re_enroll)?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(agent::run(config))
}
