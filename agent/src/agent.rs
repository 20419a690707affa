//! The agent's life: get an identity, start the capture pipeline, and keep a signaling
//! connection up, reconnecting with backoff, until told to stop.
//!
//! Sessions never survive a reconnect: the server ends them when the socket drops, so the agent
//! releases their branches and starts from a clean slate on the new connection.

use crate::backoff::Backoff;
use crate::connection::{self, Context, Ended};
use crate::enrollment::{EnrollError, ServerApi, show_pairing_code};
use crate::history::History;
use crate::identity::{Identity, StateDir};
use crate::media::VideoSettings;
use crate::media::capture::Capture;
use crate::media::consumer::ConsumerKind;
use crate::media::recorder::{EncodedFrame, FrameWriter, Recorder};
use crate::motion::store::Retention;
use crate::motion::{MotionError, MotionService};
use crate::recording::{Frame, Limits, SegmentWriter, Store};
use crate::sessions::Sessions;
use anyhow::{Context as _, bail};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// A stored pairing code with less than this left is replaced before it is shown.
const CODE_MIN_LEFT_MS: i64 = 5_000;

/// Everything the agent is configured with.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The server's base URL (`http://host:port`).
    pub server: String,
    /// Where the identity is kept.
    pub state_dir: PathBuf,
    /// The dashboard's address for the pairing link (`None`: the server's).
    pub dashboard_url: Option<String>,
    /// The name the device suggests for itself at enrolment.
    pub name: Option<String>,
    /// Capture and encoding.
    pub video: VideoSettings,
    /// At most this many viewers at once.
    pub max_viewers: usize,
    /// Stop the capture pipeline after this long without any consumer (`None`: never).
    pub idle_stop: Option<Duration>,
    /// How often the status is reported.
    pub status_interval: Duration,
    /// Forget the stored identity and enrol again (`mumu-agent pair`).
    pub re_enroll: bool,
    /// Touched whenever the server answers, for `mumu-agent health`.
    pub health_file: Option<PathBuf>,
    /// Record the camera (`None`: off).
    pub recording: Option<RecordingSettings>,
    /// Detect motion (`None`: when the simulator's motion is on or a zone is stored).
    pub motion: Option<bool>,
}

/// Where motion events, their thumbnails and the motion settings are kept, in the state
/// directory.
pub fn events_dir(state_dir: &std::path::Path) -> PathBuf {
    state_dir.join("events")
}

/// Where and how much to record.
#[derive(Clone, Debug)]
pub struct RecordingSettings {
    /// The recordings directory.
    pub dir: PathBuf,
    /// What retention keeps, and the segments' length.
    pub limits: Limits,
}

/// Runs the agent until SIGINT/SIGTERM, or a failure retrying cannot fix.
pub async fn run(config: AgentConfig) -> anyhow::Result<()> {
    let started = Instant::now();
    let server = config.server.trim_end_matches('/').to_owned();
    // Made while enrolment and the pipeline start go on; the agent connects (and so shows
    // online) only once it is done, so no viewer arrives before it.
    let warm_up = tokio::task::spawn_blocking(crate::media::warm_up);
    let state = StateDir::new(config.state_dir.clone());
    let api = ServerApi::new(&server);
    let dashboard = config.dashboard_url.as_deref().map_or_else(
        || server.clone(),
        |url| url.trim_end_matches('/').to_owned(),
    );
    if config.re_enroll {
        state.forget()?;
    }
    let mut identity = ensure_identity(&state, &api, &server, config.name.clone()).await?;
    tracing::info!(device_id = %identity.device_id, state_dir = %state.path().display(), "identity ready");

    let (events_tx, mut events) = mpsc::unbounded_channel();
    // The capture's owner: it outlives connections, and stops its branches, then itself, when
    // the last handle (this one, or the session table's) goes.
    let capture = Capture::start(&config.video, events_tx.clone())
        .context("could not start the capture pipeline")?
        .with_idle_stop(config.idle_stop);
    let camera = config
        .name
        .clone()
        .or_else(hostname)
        .unwrap_or_else(|| "camera".into());
    let (recorder, history) = match &config.recording {
        Some(settings) => start_recording(&capture, settings, &camera).await,
        None => (None, None),
    };
    let motion = start_motion(&capture, &config).await;
    // Every session has the history channel: the recordings (or `not_recording`), the events
    // and thumbnails, and the owner's zones and masks (or `no_motion`) all travel on it.
    let history = history
        .unwrap_or_else(|| History::without_recordings(&camera))
        .with_motion(motion.as_ref().map(MotionService::handle));
    let history = Some(history);
    let mut sessions =
        Sessions::new(capture.clone(), events_tx, config.max_viewers).with_history(history);

    let (stop_tx, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stopping");
        let _ = stop_tx.send(true);
    });

    if let Err(e) = warm_up.await {
        tracing::warn!(error = %e, "preparing for the first viewer failed; it will wait instead");
    }
    let url = websocket_url(&server)?;
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let mut context = Context {
        started,
        status_interval: config.status_interval,
        shutdown: shutdown.clone(),
        paired: None,
        health_file: config.health_file.clone(),
        motion_notices: motion.as_ref().map(MotionService::notices),
    };
    // Returns from this block, not from `run`: the recorder stops below either way.
    let result: anyhow::Result<()> = async {
        loop {
            let ended = match connection::open(&url, &identity).await {
                Ok((socket, ack)) => {
                    backoff.reset();
                    tracing::info!(paired = ack.paired, "connected to {server}");
                    if let Some(path) = &context.health_file {
                        crate::health::mark(path);
                    }
                    let (paired_tx, paired_rx) = watch::channel(ack.paired);
                    let refresher = (!ack.paired).then(|| {
                        tokio::spawn(keep_pairing_code_fresh(
                            state.clone(),
                            api.clone(),
                            identity.clone(),
                            dashboard.clone(),
                            paired_rx,
                        ))
                    });
                    context.paired = Some(paired_tx);
                    let ended =
                        connection::serve(socket, &ack, &mut sessions, &mut events, &mut context)
                            .await;
                    if let Some(refresher) = refresher {
                        // The identity it kept current is on disk; read it back for the next round.
                        refresher.abort();
                        if let Ok(Some(stored)) = state.load() {
                            identity = stored;
                        }
                    }
                    sessions.release_all();
                    while events.try_recv().is_ok() {}
                    ended
                }
                Err(ended) => ended,
            };
            match ended {
                Ended::Shutdown => return Ok(()),
                Ended::Fatal(fatal) => bail!(fatal),
                Ended::Lost(reason) => tracing::warn!(%reason, "signaling connection lost"),
            }
            let delay = backoff.next_delay();
            tracing::info!(?delay, "reconnecting");
            let mut shutdown = shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => return Ok(()),
            }
        }
    }
    .await;
    // The event under way is recorded, and the segment being written finished, before the
    // capture stops.
    if let Some(motion) = motion {
        crate::health::report_motion(None);
        let _ = tokio::task::spawn_blocking(move || motion.stop()).await;
    }
    if let Some(recorder) = recorder {
        crate::health::report_recording(None);
        let _ = tokio::task::spawn_blocking(move || recorder.stop()).await;
    }
    result
}

/// Opens the recordings and hangs the recorder off the capture. A directory that cannot be
/// used leaves the camera live-only, and says why: recording must never keep it from streaming.
async fn start_recording(
    capture: &Capture,
    settings: &RecordingSettings,
    camera: &str,
) -> (Option<Recorder>, Option<History>) {
    let (dir, limits) = (settings.dir.clone(), settings.limits.clone());
    let opened = tokio::task::spawn_blocking(move || Store::open(&dir, limits)).await;
    let store = match opened {
        Ok(Ok(store)) => store,
        Ok(Err(e)) => {
            tracing::error!(dir = %settings.dir.display(), error = %e, "recording is off: the recordings directory cannot be used");
            return (None, None);
        }
        Err(e) => {
            tracing::error!(dir = %settings.dir.display(), error = %e, "recording is off: opening the recordings failed");
            return (None, None);
        }
    };
    let recorder = match Recorder::attach(capture, store.writer()) {
        Ok(recorder) => recorder,
        Err(e) => {
            tracing::error!(error = %e, "recording is off: the recorder could not attach");
            return (None, None);
        }
    };
    tracing::info!(dir = %settings.dir.display(), max_bytes = ?settings.limits.max_bytes, keep = ?settings.limits.keep, "recording");
    let watched = capture.clone();
    let history = History::new(store.clone(), camera, move || {
        watched.count(ConsumerKind::Recorder) > 0
    });
    let counted = capture.clone();
    let stats = recorder.counters();
    crate::health::report_recording(Some(Box::new(move || crate::health::RecordingHealth {
        recording: counted.count(ConsumerKind::Recorder) > 0,
        recorder: stats.snapshot(),
        store: store.stats(),
    })));
    (Some(recorder), Some(history))
}

/// Applies the stored motion settings (privacy masks first) and starts the detector when it is
/// on. Settings that cannot be read leave the camera without masks, and say why; detection that
/// cannot start leaves the camera streaming.
async fn start_motion(capture: &Capture, config: &AgentConfig) -> Option<MotionService> {
    let dir = events_dir(&config.state_dir);
    let simulated = config.video.simulated_motion.is_some();
    let capture = capture.clone();
    let explicit = config.motion;
    let started = tokio::task::spawn_blocking(move || {
        let detect = explicit.unwrap_or_else(|| simulated || MotionService::has_stored_zones(&dir));
        MotionService::start(&capture, &dir, detect, Retention::default())
            .map(|service| (service, dir, detect))
    })
    .await;
    match started {
        Ok(Ok((service, dir, detect))) => {
            let settings = service.settings();
            tracing::info!(
                detect,
                dir = %dir.display(),
                zones = settings.zones.len(),
                masks = settings.masks.len(),
                "motion settings applied"
            );
            if detect {
                crate::health::report_motion(Some(Box::new(service.health_probe())));
            }
            Some(service)
        }
        Ok(Err(e @ (MotionError::Settings(_) | MotionError::Invalid(_)))) => {
            tracing::error!(error = %e, "the motion settings cannot be used: no privacy mask applies and motion detection is off");
            None
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "motion detection is off (the privacy masks apply)");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "motion detection is off: starting it failed");
            None
        }
    }
}

/// The recorder writes into the recording's segments.
impl FrameWriter for SegmentWriter {
    fn push(&mut self, frame: EncodedFrame) {
        let EncodedFrame {
            data,
            keyframe,
            pts,
            captured_us,
        } = frame;
        SegmentWriter::push(
            self,
            Frame {
                data,
                keyframe,
                pts,
                captured_us,
            },
        );
    }

    fn finish(&mut self) {
        SegmentWriter::finish(self);
    }
}

/// The stored identity, or a new one from the server.
async fn ensure_identity(
    state: &StateDir,
    api: &ServerApi,
    server: &str,
    name: Option<String>,
) -> anyhow::Result<Identity> {
    if let Some(identity) = state.load()? {
        if identity.server != server {
            bail!(
                "the identity in {} belongs to {}, not {server}; run `mumu-agent pair` to enrol with {server}",
                state.path().display(),
                identity.server
            );
        }
        return Ok(identity);
    }
    tracing::info!("no identity yet: enrolling with {server}");
    let enrolled = api
        .enroll(name.or_else(hostname))
        .await
        .context("enrolment failed")?;
    let identity = Identity {
        server: server.to_owned(),
        device_id: enrolled.device_id,
        device_secret: enrolled.device_secret,
        pairing_code: Some(enrolled.pairing_code),
        pairing_code_expires_at: Some(enrolled.expires_at),
    };
    state.save(&identity)?;
    Ok(identity)
}

/// While the device is unpaired: shows the pairing code (a fresh one if the stored one has
/// nearly run out), and each time it expires asks the server for a new one with the device
/// secret and shows that. Ends when `paired` turns true.
async fn keep_pairing_code_fresh(
    state: StateDir,
    api: ServerApi,
    mut identity: Identity,
    dashboard: String,
    mut paired: watch::Receiver<bool>,
) {
    let mut retry = Backoff::new(Duration::from_secs(2), Duration::from_secs(60));
    loop {
        let left = identity
            .pairing_code_expires_at
            .map_or(0, |at| at - crate::now_ms());
        if identity.pairing_code.is_none() || left <= CODE_MIN_LEFT_MS {
            match api.new_pairing_code(&identity.device_secret).await {
                Ok(code) => {
                    retry.reset();
                    identity.pairing_code = Some(code.pairing_code);
                    identity.pairing_code_expires_at = Some(code.expires_at);
                    if let Err(e) = state.save(&identity) {
                        tracing::warn!(error = %e, "could not store the new pairing code");
                    }
                }
                Err(EnrollError::Refused { status: 409, .. }) => return, // paired meanwhile
                Err(e) => {
                    tracing::warn!(error = %e, "could not get a pairing code; trying again");
                    tokio::select! {
                        _ = tokio::time::sleep(retry.next_delay()) => continue,
                        _ = paired.wait_for(|p| *p) => return,
                    }
                }
            }
        }
        if let (Some(code), Some(expires_at)) =
            (&identity.pairing_code, identity.pairing_code_expires_at)
        {
            tracing::info!(pairing_code = %code, "waiting to be paired");
            show_pairing_code(code, expires_at, &dashboard);
            // Replace it a little before it runs out (a fifth of its life, at most 30 s), so
            // the one on screen always works.
            let left = (expires_at - crate::now_ms()).max(0);
            let replace_in = left - (left / 5).min(30_000);
            let left = Duration::from_millis(u64::try_from(replace_in).unwrap_or(0))
                .max(Duration::from_secs(1));
            tokio::select! {
                _ = tokio::time::sleep(left) => {
                    tracing::info!("the pairing code is about to expire: getting a new one");
                    identity.pairing_code = None;
                }
                _ = paired.wait_for(|p| *p) => return,
            }
        }
    }
}

/// `ws://host/ws/device` for `http://host`, `wss://` for `https://`.
fn websocket_url(server: &str) -> anyhow::Result<String> {
    let rest = if let Some(rest) = server.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = server.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        bail!("the server URL must start with http:// or https://, not {server}");
    };
    Ok(format!("{rest}/ws/device"))
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_url_follows_the_server_scheme() {
        assert_eq!(
            websocket_url("http://127.0.0.1:8080").unwrap(),
            "ws://127.0.0.1:8080/ws/device"
        );
        assert_eq!(
            websocket_url("https://cams.example.org").unwrap(),
            "wss://cams.example.org/ws/device"
        );
        assert!(websocket_url("cams.example.org").is_err());
    }
}
