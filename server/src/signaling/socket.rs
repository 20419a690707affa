//! The life of one signaling socket, the same for devices and viewers: frame limits, the
//! per-socket rate limit, decoding with errors that say what was wrong, the hello and
//! heartbeat deadlines, the write deadline, and the outbox the hub writes to. What each message
//! means is the [`Peer`]'s business.
//!
//! A peer that stops reading is cut off, two ways: every write has a deadline (so the loop's
//! other deadlines keep firing), and a queue that overflows closes the socket as a slow
//! consumer. Either way it costs at most one bounded queue while it lasts.

use super::hub::{Inbox, Out};
use crate::error::Error;
use crate::metrics::Metrics;
use crate::rate_limit::{Bucket, Rate};
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use mumu_shared::{
    Envelope, ErrorBody, ErrorCode, MAX_MESSAGE_BYTES, Message, PROTOCOL_VERSION, ProtocolError,
    decode, encode,
};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::time::{Instant, sleep_until};

/// What to do after a message.
#[derive(Debug)]
pub enum Step {
    /// Keep going.
    Continue,
    /// Send this error, then close the socket.
    Close(ErrorBody),
}

/// One side's protocol on a socket.
pub trait Peer: Send {
    /// What the peer sends.
    type In: Message + Send;
    /// What the server sends.
    type Out: Message + Send + Sync + 'static;

    /// Whether `hello` has been accepted.
    fn greeted(&self) -> bool;

    /// Handles one message. Replies go through `link`; an error is sent back as `error` with
    /// the message's `request_id`.
    fn on_message(
        &mut self,
        envelope: Envelope<Self::In>,
        link: &mut Link<'_, Self::Out>,
    ) -> impl Future<Output = Result<Step, Error>> + Send;

    /// Reloads cached state ([`Out::Refresh`]).
    fn on_refresh(&mut self) -> impl Future<Output = ()> + Send;

    /// Cleans up after the socket closed, whatever the reason.
    fn on_close(&mut self) -> impl Future<Output = ()> + Send;
}

/// The refusal of a `hello` speaking another protocol version, if it does.
pub fn unsupported_protocol(version: u32) -> Option<ErrorBody> {
    (version != PROTOCOL_VERSION).then(|| {
        ErrorBody::new(
            ErrorCode::UnsupportedProtocol,
            format!("protocol {version} is not supported; this server speaks {PROTOCOL_VERSION}"),
        )
    })
}

/// The refusal of a message sent before `hello`.
pub fn hello_required(message: &impl Message) -> Error {
    Error::client(
        ErrorCode::HelloRequired,
        format!("send hello before {}", message.kind()),
    )
}

/// The refusal of a second `hello`.
pub fn already_hello() -> Error {
    Error::client(
        ErrorCode::AlreadyHello,
        "hello was already accepted on this socket",
    )
}

/// Limits of a socket.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Time allowed between opening and `hello`.
    pub hello_timeout: Duration,
    /// Silence allowed after `hello` before the socket is closed.
    pub idle_timeout: Duration,
    /// Messages per second, with bursts.
    pub rate: Rate,
    /// Messages dropped by the rate limit, in a row, before the socket is closed.
    pub flood_close_after: u32,
    /// Longest a single write may wait for the peer to read; past it the socket is closed.
    pub write_timeout: Duration,
}

/// The socket, as handlers see it: a way to send.
pub struct Link<'a, M> {
    writer: Writer<'a>,
    clock: &'a dyn crate::clock::Clock,
    request_id: Option<String>,
    _m: std::marker::PhantomData<M>,
}

impl<M: Message> Link<'_, M> {
    /// Sends a reply to the message being handled (it carries that message's `request_id`).
    /// A reply that cannot be written in time marks the socket broken; the loop then closes it.
    pub async fn reply(&mut self, message: M) {
        let envelope =
            Envelope::new(message, self.clock.now_ms()).reply_to(self.request_id.clone());
        self.writer.send(&envelope).await;
    }
}

/// Writes to the socket, each write within the deadline.
struct Writer<'a> {
    socket: &'a mut WebSocket,
    metrics: &'a Metrics,
    timeout: Duration,
    /// A write failed or timed out: the socket is no use any more.
    broken: bool,
}

impl Writer<'_> {
    async fn send<M: Message>(&mut self, envelope: &Envelope<M>) {
        if self.broken {
            return;
        }
        self.metrics.messages_out.fetch_add(1, Relaxed);
        let frame = WsMessage::Text(encode(envelope).into());
        match tokio::time::timeout(self.timeout, self.socket.send(frame)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "socket write failed");
                self.broken = true;
            }
            Err(_) => {
                tracing::info!(
                    timeout_ms = self.timeout.as_millis() as u64,
                    "socket write timed out: the peer is not reading; closing"
                );
                self.metrics.error(ErrorCode::SlowConsumer);
                self.broken = true;
            }
        }
    }

    async fn send_error<M: ErrorMessage>(
        &mut self,
        body: ErrorBody,
        request_id: Option<String>,
        clock: &dyn crate::clock::Clock,
    ) {
        self.metrics.error(body.code);
        let envelope = Envelope::new(M::error(body), clock.now_ms()).reply_to(request_id);
        self.send(&envelope).await;
    }
}

/// An `error` message in the direction's enum. Every server→client enum has one.
pub trait ErrorMessage: Message {
    /// Wraps an error.
    fn error(body: ErrorBody) -> Self;
}

impl ErrorMessage for mumu_shared::signaling::ServerToDevice {
    fn error(body: ErrorBody) -> Self {
        Self::Error(body)
    }
}

impl ErrorMessage for mumu_shared::signaling::ServerToViewer {
    fn error(body: ErrorBody) -> Self {
        Self::Error(body)
    }
}

fn protocol_error_body(e: &ProtocolError) -> ErrorBody {
    let code = match e {
        ProtocolError::UnknownType { .. } => ErrorCode::UnknownType,
        _ => ErrorCode::BadMessage,
    };
    ErrorBody::new(code, e.to_string())
}

/// Runs a socket until it closes, then lets the peer clean up.
pub async fn run<P>(
    mut socket: WebSocket,
    mut peer: P,
    mut inbox: Inbox<P::Out>,
    limits: Limits,
    metrics: Arc<Metrics>,
    clock: crate::clock::SharedClock,
) where
    P: Peer,
    P::Out: ErrorMessage,
{
    let opened = Instant::now();
    let mut last_heard = opened;
    let mut bucket = Bucket::full(limits.rate, clock.now_ms());
    let mut dropped_in_a_row = 0u32;
    let clock = &*clock;
    let mut writer = Writer {
        socket: &mut socket,
        metrics: &metrics,
        timeout: limits.write_timeout,
        broken: false,
    };

    let close_with: Option<ErrorBody> = loop {
        if writer.broken {
            break None;
        }
        let deadline = if peer.greeted() {
            last_heard + limits.idle_timeout
        } else {
            opened + limits.hello_timeout
        };
        tokio::select! {
            frame = writer.socket.recv() => {
                let text = match frame {
                    Some(Ok(WsMessage::Text(text))) => text,
                    Some(Ok(WsMessage::Binary(_))) => {
                        last_heard = Instant::now();
                        let body = ErrorBody::new(ErrorCode::BadMessage, "binary frames are not accepted; send JSON text");
                        writer.send_error::<P::Out>(body, None, clock).await;
                        continue;
                    }
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {
                        last_heard = Instant::now();
                        continue;
                    }
                    Some(Ok(WsMessage::Close(_))) | None => break None,
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "socket read failed");
                        break too_large_or_none(&e);
                    }
                };
                last_heard = Instant::now();
                metrics.messages_in.fetch_add(1, Relaxed);
                if text.len() > MAX_MESSAGE_BYTES {
                    let body = ErrorBody::new(
                        ErrorCode::MessageTooLarge,
                        format!("message of {} bytes refused; the limit is {MAX_MESSAGE_BYTES}", text.len()),
                    );
                    writer.send_error::<P::Out>(body, None, clock).await;
                    continue;
                }
                if let Err(wait_ms) = bucket.take(limits.rate, clock.now_ms()) {
                    dropped_in_a_row += 1;
                    if dropped_in_a_row > limits.flood_close_after {
                        break Some(ErrorBody::new(ErrorCode::RateLimited, "too many messages; this socket is closed"));
                    }
                    let body = ErrorBody::new(
                        ErrorCode::RateLimited,
                        format!("too many messages; this one was dropped; retry in {wait_ms} ms"),
                    );
                    writer.send_error::<P::Out>(body, None, clock).await;
                    continue;
                }
                dropped_in_a_row = 0;
                let envelope = match decode::<P::In>(&text) {
                    Ok(envelope) => envelope,
                    Err(e) => {
                        writer.send_error::<P::Out>(protocol_error_body(&e), None, clock).await;
                        continue;
                    }
                };
                let request_id = envelope.request_id.clone();
                let mut link = Link { writer, clock, request_id: request_id.clone(), _m: std::marker::PhantomData };
                // Boxed: the handler's future (database calls and all) is allocated while a
                // message is handled, not carried in every idle socket's task.
                let step = Box::pin(peer.on_message(envelope, &mut link)).await;
                writer = link.writer;
                match step {
                    Ok(Step::Continue) => {}
                    Ok(Step::Close(body)) => break Some(body),
                    Err(e) => {
                        writer.send_error::<P::Out>(e.to_body(), request_id, clock).await;
                    }
                }
            }
            out = inbox.rx.recv() => match out {
                Some(Out::Send(envelope)) => writer.send(&envelope).await,
                Some(Out::Close(body)) => break Some(*body),
                Some(Out::Refresh) => Box::pin(peer.on_refresh()).await,
                None => break None,
            },
            () = inbox.overflow.notified() => {
                break Some(ErrorBody::new(
                    ErrorCode::SlowConsumer,
                    "this connection fell too far behind reading what the server sent; closing (reconnect)",
                ));
            }
            () = sleep_until(deadline) => {
                break Some(if peer.greeted() {
                    ErrorBody::new(ErrorCode::HeartbeatTimeout, format!("nothing heard for {} s; closing", limits.idle_timeout.as_secs()))
                } else {
                    ErrorBody::new(ErrorCode::HelloRequired, format!("no hello within {} s; closing", limits.hello_timeout.as_secs()))
                });
            }
        }
    };

    if let Some(body) = close_with
        && !writer.broken
    {
        let code = close_code(body.code);
        let reason = body.message.chars().take(100).collect::<String>();
        writer.send_error::<P::Out>(body, None, clock).await;
        if !writer.broken {
            let close = WsMessage::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            }));
            let _ = tokio::time::timeout(limits.write_timeout, writer.socket.send(close)).await;
        }
    }
    // The connection goes now; the peer's clean-up may wait on the database.
    drop(socket);
    Box::pin(peer.on_close()).await;
}

/// A read error caused by a frame over the transport limit becomes `message_too_large`.
fn too_large_or_none(e: &axum::Error) -> Option<ErrorBody> {
    let text = e.to_string();
    (text.contains("too long") || text.contains("too big") || text.contains("Space limit"))
        .then(|| ErrorBody::new(ErrorCode::MessageTooLarge, format!("frame refused: {text}")))
}

/// The WebSocket close code for an error that closes the socket.
fn close_code(code: ErrorCode) -> u16 {
    match code {
        ErrorCode::MessageTooLarge => 1009,
        ErrorCode::Unavailable => 1001,
        ErrorCode::Internal => 1011,
        ErrorCode::Replaced | ErrorCode::HeartbeatTimeout => 1000,
        _ => 1008,
    }
}
