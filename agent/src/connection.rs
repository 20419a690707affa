//! One signaling connection, from `hello` to its end: heartbeats, status reports, motion
//! notices, and the session messages handed to [`Sessions`].
//!
//! How a connection ends decides what the agent does next, so the ending is typed: a lost
//! connection is retried (with backoff, by the caller); a refusal that retrying cannot fix
//! (wrong secret, device removed, replaced by another process) is fatal.

use crate::identity::Identity;
use crate::media::MediaEvent;
use crate::motion::notices::MotionNotices;
use crate::sessions::Sessions;
use crate::socket::{DeviceSocket, SocketError};
use crate::status;
use mumu_shared::signaling::{
    DeviceHello, DeviceHelloAck, DeviceToServer, EndReason, Heartbeat, ServerToDevice,
};
use mumu_shared::{ErrorBody, ErrorCode, PROTOCOL_VERSION};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::{mpsc, watch};

/// How long the server has to answer `hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Silence from the server for this many heartbeat intervals means the socket is dead.
const MISSED_HEARTBEATS: u32 = 3;

/// A connection that ended and should not be retried.
#[derive(Debug, Error)]
pub enum Fatal {
    /// The server does not accept this device's credentials.
    #[error("the server refused this device ({0}); run `mumu-agent pair` to enrol it again")]
    Refused(ErrorBody),
    /// Another agent with this identity connected; running both would fight forever.
    #[error("another agent with this device's identity connected to the server ({0})")]
    Replaced(ErrorBody),
    /// The capture pipeline failed.
    #[error("the capture pipeline failed: {0}")]
    Capture(String),
}

/// Why a connection ended.
#[derive(Debug)]
pub enum Ended {
    /// Lost, closed or never opened: try again.
    Lost(String),
    /// Do not try again.
    Fatal(Fatal),
    /// The agent is shutting down.
    Shutdown,
}

impl From<SocketError> for Ended {
    fn from(e: SocketError) -> Self {
        Self::Lost(e.to_string())
    }
}

/// What one connection needs from the agent.
pub struct Context {
    /// When the agent started (for the status report).
    pub started: Instant,
    /// How often to report status.
    pub status_interval: Duration,
    /// Becomes `true` when the agent should stop.
    pub shutdown: watch::Receiver<bool>,
    /// Told when the device gets paired on this connection.
    pub paired: Option<watch::Sender<bool>>,
    /// Touched whenever the server answers (`--health-file`).
    pub health_file: Option<std::path::PathBuf>,
    /// Motion events to tell the server of, when the detector runs.
    pub motion_notices: Option<Arc<MotionNotices>>,
}

/// Opens the socket and says hello; returns the socket and the server's `hello_ack`.
pub async fn open(url: &str, identity: &Identity) -> Result<(DeviceSocket, DeviceHelloAck), Ended> {
    let mut socket = DeviceSocket::connect(url).await?;
    socket
        .send(DeviceToServer::Hello(DeviceHello {
            protocol: PROTOCOL_VERSION,
            device_id: identity.device_id.clone(),
            device_secret: identity.device_secret.clone(),
            agent_version: Some(crate::AGENT_VERSION.to_owned()),
        }))
        .await?;
    let reply = tokio::time::timeout(HELLO_TIMEOUT, socket.recv())
        .await
        .map_err(|_| Ended::Lost("no hello_ack within 10 s".into()))??;
    match reply.message {
        ServerToDevice::HelloAck(ack) => Ok((socket, ack)),
        ServerToDevice::Error(error) => Err(refusal(error)),
        other => Err(Ended::Lost(format!(
            "expected hello_ack, got {:?}",
            mumu_shared::Message::kind(&other)
        ))),
    }
}

/// Serves the connection until it ends.
pub async fn serve(
    mut socket: DeviceSocket,
    ack: &DeviceHelloAck,
    sessions: &mut Sessions,
    media: &mut mpsc::UnboundedReceiver<MediaEvent>,
    context: &mut Context,
) -> Ended {
    let interval = Duration::from_millis(ack.heartbeat_interval_ms.max(1000));
    let mut heartbeat = tokio::time::interval(interval);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut status_timer = tokio::time::interval(context.status_interval);
    let mut last_heard = Instant::now();
    let notices = context.motion_notices.clone();
    // What the detector saw while the server was away goes first.
    if let Err(e) = send_notices(&mut socket, notices.as_deref()).await {
        return e.into();
    }

    let ended = loop {
        tokio::select! {
            _ = notice_queued(notices.as_deref()) => {
                if let Err(e) = send_notices(&mut socket, notices.as_deref()).await {
                    break e.into();
                }
            }
            incoming = socket.recv() => {
                let envelope = match incoming {
                    Ok(envelope) => envelope,
                    Err(e) => break e.into(),
                };
                last_heard = Instant::now();
                let replies = match envelope.message {
                    ServerToDevice::HeartbeatAck(_) => {
                        if let Some(path) = &context.health_file {
                            crate::health::mark(path);
                        }
                        vec![]
                    }
                    ServerToDevice::HelloAck(_) => {
                        tracing::warn!("a second hello_ack; ignored");
                        vec![]
                    }
                    ServerToDevice::Paired(paired) => {
                        tracing::info!(owner = %paired.owner, name = %paired.name, "paired: this camera now belongs to {}", paired.owner);
                        if let Some(flag) = &context.paired {
                            let _ = flag.send(true);
                        }
                        vec![]
                    }
                    ServerToDevice::Error(error) => match error.code {
                        ErrorCode::Replaced | ErrorCode::Unauthorized | ErrorCode::DeviceRemoved => {
                            break refusal(error);
                        }
                        ErrorCode::HeartbeatTimeout => break Ended::Lost(error.to_string()),
                        _ => {
                            tracing::warn!(%error, "the server refused a message");
                            vec![]
                        }
                    },
                    message => sessions.on_server_message(message),
                };
                if let Err(e) = send_all(&mut socket, replies).await {
                    break e.into();
                }
            }
            Some(event) = media.recv() => {
                let capture_failed = match &event {
                    MediaEvent::CaptureFailed { reason } => Some(reason.clone()),
                    _ => None,
                };
                let replies = sessions.on_media_event(event);
                let sent = send_all(&mut socket, replies).await;
                if let Some(reason) = capture_failed {
                    break Ended::Fatal(Fatal::Capture(reason));
                }
                if let Err(e) = sent {
                    break e.into();
                }
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > interval * MISSED_HEARTBEATS {
                    break Ended::Lost(format!("nothing heard from the server for {:?}", last_heard.elapsed()));
                }
                if let Err(e) = socket.send(DeviceToServer::Heartbeat(Heartbeat {})).await {
                    break e.into();
                }
            }
            _ = status_timer.tick() => {
                let capture = sessions.capture();
                let report = status::current(
                    context.started,
                    sessions.viewers(),
                    capture.source().describe(),
                    capture.encoder().element(),
                );
                if let Err(e) = socket.send(DeviceToServer::DevicePresence(report)).await {
                    break e.into();
                }
            }
            _ = idle_deadline(sessions.capture().idle_deadline()) => {
                sessions.capture().stop_if_idle(Instant::now());
            }
            _ = context.shutdown.changed() => {
                let goodbyes = sessions.end_all(EndReason::DeviceEnded, "the camera is shutting down");
                let _ = send_all(&mut socket, goodbyes).await;
                break Ended::Shutdown;
            }
        }
    };
    socket.close().await;
    ended
}

/// Returns when a motion notice is queued; never without a detector.
async fn notice_queued(notices: Option<&MotionNotices>) {
    match notices {
        Some(notices) => notices.queued().await,
        None => std::future::pending().await,
    }
}

/// Sends the motion notices waiting, oldest first; one that fails to go stays for the next
/// connection.
async fn send_notices(
    socket: &mut DeviceSocket,
    notices: Option<&MotionNotices>,
) -> Result<(), SocketError> {
    let Some(notices) = notices else {
        return Ok(());
    };
    while let Some(notice) = notices.front() {
        socket
            .send(DeviceToServer::MotionEvent(notice.clone()))
            .await?;
        notices.sent(&notice);
    }
    Ok(())
}

/// Sleeps until the pipeline is due to stop for want of consumers; forever when it is not.
async fn idle_deadline(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

async fn send_all(
    socket: &mut DeviceSocket,
    messages: Vec<DeviceToServer>,
) -> Result<(), SocketError> {
    for message in messages {
        socket.send(message).await?;
    }
    Ok(())
}

/// What an `error` from the server means for the connection.
fn refusal(error: ErrorBody) -> Ended {
    match error.code {
        ErrorCode::Unauthorized | ErrorCode::DeviceRemoved | ErrorCode::UnsupportedProtocol => {
            Ended::Fatal(Fatal::Refused(error))
        }
        ErrorCode::Replaced => Ended::Fatal(Fatal::Replaced(error)),
        _ => Ended::Lost(error.to_string()),
    }
}
