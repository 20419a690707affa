//! `mumu-probe`: the command line for one watch. Prints a line per second and a summary (or
//! JSON with `--json`); exits non-zero when no decodable video arrived, or the session ended
//! before the time was up.

use clap::Parser;
use mumu_probe::watch::{WatchOptions, watch};
use std::process::ExitCode;
use std::time::Duration;

/// Headless MuMu viewer: watches a device and proves the H.264 arrives.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// The MuMu server's base URL.
    #[arg(long, env = "MUMU_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Username (or email).
    #[arg(long, short, env = "MUMU_USERNAME")]
    username: String,
    /// Password.
    #[arg(long, short, env = "MUMU_PASSWORD")]
    password: String,
    /// Register the account first (an existing one is fine).
    #[arg(long)]
    register: bool,
    /// The device to watch (default: the first online).
    #[arg(long)]
    device: Option<String>,
    /// Seconds to wait for a device to come online.
    #[arg(long, default_value_t = 10)]
    wait_secs: u64,
    /// Seconds of video to receive after the first frame.
    #[arg(long, short, default_value_t = 5.0)]
    duration: f64,
    /// Print the summary as one JSON line.
    #[arg(long)]
    json: bool,
    /// Milliseconds between ICE connectivity checks (webrtc-rs's default is 200; Firefox and
    /// libnice pace at 20; Chrome sends triggered checks at once).
    #[arg(long, default_value_t = 20)]
    ice_check_interval_ms: u64,
    /// Seconds the peer connection may take to connect before the probe says why it could not.
    #[arg(long, default_value_t = 10)]
    connect_timeout_secs: u64,
    /// Do not renew a relayed session before its TURN credentials expire.
    #[arg(long)]
    no_renew: bool,
    /// Minimum frames per second for success.
    #[arg(long, default_value_t = 1.0)]
    min_fps: f64,
    /// Decode the picture too and measure A/V sync: each beep of the simulator's sound against
    /// the frame where its clock shows the next second (costs an H.264 decoder's CPU).
    #[arg(long)]
    sync: bool,
    /// Refuse the camera's sound in the answer (its audio section with port 0).
    #[arg(long)]
    refuse_audio: bool,
    /// Ask for the camera's sound as PCMU in the answer, a codec it does not send.
    #[arg(long)]
    answer_pcmu: bool,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                "warn,mumu_probe=info,rtc_ice=error,rtc_dtls=error,webrtc::peer_connection::transport::tcp_transport=off".into()
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let options = WatchOptions {
        server: cli.server,
        username: cli.username,
        password: cli.password,
        register: cli.register,
        device: cli.device.map(Into::into),
        wait_for_device: Duration::from_secs(cli.wait_secs),
        duration: Duration::from_secs_f64(cli.duration.max(0.0)),
        per_second: !cli.json,
        ice_check_interval: Duration::from_millis(cli.ice_check_interval_ms.max(1)),
        connect_timeout: Duration::from_secs(cli.connect_timeout_secs.max(1)),
        renew: !cli.no_renew,
        history: None,
        video: None,
        sync: cli.sync,
        refuse_audio: cli.refuse_audio,
        answer_pcmu: cli.answer_pcmu,
    };
    match watch(&options).await {
        Ok(summary) => {
            if cli.json {
                match serde_json::to_string(&summary) {
                    Ok(line) => println!("{line}"),
                    Err(e) => eprintln!("summary: {e}"),
                }
            } else {
                println!("{summary:#?}");
            }
            if let Some(why) = &summary.ended_early {
                eprintln!("probe: {why}");
                ExitCode::FAILURE
            } else if summary.frames > 0
                && summary.first_frame_verified
                && summary.fps >= cli.min_fps
            {
                ExitCode::SUCCESS
            } else {
                eprintln!("probe: not enough decodable video");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("probe: {e}");
            ExitCode::FAILURE
        }
    }
}
