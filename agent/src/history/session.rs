//! One watch session's history channel: its grants, its requests, its streams.

use super::stream::{self, Source};
use super::{HIGH_WATER, History, LOW_WATER, Link, time};
use crate::media::channel::{ChannelHandler, DataChannel};
use crate::recording::{RecordingError, Store};
use mumu_shared::history::{
    DeviceToViewer, Export, Exporting, ListRecordings, MAX_EXPORT_MS, MAX_STREAMS, MAX_TEXT_BYTES,
    More, Play, Playing, Recordings, Refusal, RefusalCode, Span, StopStream, StreamEndReason,
    StreamEnded, StreamId, ViewerToDevice,
};
use mumu_shared::signaling::Grants;
use mumu_shared::{Envelope, SessionId, UnixMillis};
use std::collections::HashMap;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Duration;

/// Requests waiting for the session's thread; a viewer sending faster is refused (`busy`).
const INBOX: usize = 32;

/// The history side of one watch session. Dropping it (or [`HistorySession::close`]) stops its
/// streams.
pub struct HistorySession {
    shared: Arc<Shared>,
    /// What the data channel hears, while it is served.
    ears: Mutex<Option<Arc<Ears>>>,
}

impl std::fmt::Debug for HistorySession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistorySession")
            .field("session", &self.shared.session)
            .field("streams", &self.streams())
            .finish_non_exhaustive()
    }
}

pub(super) struct Shared {
    pub(super) session: SessionId,
    pub(super) history: History,
    link: Mutex<Option<Arc<dyn Link>>>,
    state: Mutex<State>,
    /// Woken when a stream may go on: room in the channel, `more`, `stop`, revocation, close.
    pub(super) wake: Condvar,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) grants: Grants,
    pub(super) closed: bool,
    pub(super) streams: HashMap<StreamId, Control>,
}

/// What the session tells one of its streams.
#[derive(Debug)]
pub(super) struct Control {
    /// Send up to this time (a playback).
    until: UnixMillis,
    /// End, and why (told to the viewer).
    end: Option<StreamEndReason>,
}

/// What a stream is to do next.
pub(super) enum Turn {
    /// Go on, sending up to this time.
    Go(UnixMillis),
    /// End; tell the viewer why, unless the session is over.
    End(Option<StreamEndReason>),
}

impl HistorySession {
    /// The history side of `session`, with what the server granted its viewer.
    pub fn new(session: SessionId, history: History, grants: Grants) -> Self {
        Self {
            shared: Arc::new(Shared {
                session,
                history,
                link: Mutex::new(None),
                state: Mutex::new(State {
                    grants,
                    ..State::default()
                }),
                wake: Condvar::new(),
            }),
            ears: Mutex::new(None),
        }
    }

    /// Serves `channel` (the session's `history` channel, just made): what it hears is handled
    /// on a thread of the session's own.
    pub fn serve(&self, channel: DataChannel) {
        let (inbox, requests) = std::sync::mpsc::sync_channel::<String>(INBOX);
        let ears = Arc::new(Ears {
            shared: self.shared.clone(),
            inbox,
        });
        let weak: Weak<dyn ChannelHandler> = Arc::downgrade(&ears) as Weak<dyn ChannelHandler>;
        channel.serve(weak, LOW_WATER);
        self.set_link(Arc::new(channel));
        *lock(&self.ears) = Some(ears);
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("history-{}", shared.session))
            .spawn(move || {
                while let Ok(text) = requests.recv() {
                    shared.handle_text(&text);
                }
            });
        if let Err(e) = spawned {
            tracing::error!(session = %self.shared.session, error = %e, "no thread for the history channel");
        }
    }

    /// Sends what this session says to `link` (the data channel; in a test, what records it).
    pub fn set_link(&self, link: Arc<dyn Link>) {
        *lock(&self.shared.link) = Some(link);
    }

    /// Handles one text message from the viewer, here and now (the session's thread does this
    /// for the channel); blocking reads of the store.
    pub fn handle_text(&self, text: &str) {
        self.shared.handle_text(text);
    }

    /// What the viewer may do from now on; withdrawing `recordings` ends its streams.
    pub fn set_grants(&self, grants: Grants) {
        let mut state = self.shared.state();
        let revoked = state.grants.recordings && !grants.recordings;
        state.grants = grants;
        if revoked {
            for control in state.streams.values_mut() {
                control.end.get_or_insert(StreamEndReason::Revoked);
            }
            tracing::info!(session = %self.shared.session, streams = state.streams.len(), "recordings no longer granted: streams ended");
        }
        drop(state);
        self.shared.wake.notify_all();
    }

    /// How many streams are running.
    pub fn streams(&self) -> usize {
        self.shared.state().streams.len()
    }

    /// The session is over: its streams stop (nothing more is sent), its thread ends.
    pub fn close(&self) {
        self.shared.state().closed = true;
        self.shared.wake.notify_all();
        lock(&self.ears).take();
        lock(&self.shared.link).take();
    }
}

impl Drop for HistorySession {
    fn drop(&mut self) {
        self.close();
    }
}

/// What the data channel hears, handed on at once.
struct Ears {
    shared: Arc<Shared>,
    inbox: SyncSender<String>,
}

impl ChannelHandler for Ears {
    fn on_text(&self, text: &str) {
        if text.len() > MAX_TEXT_BYTES {
            self.shared.refuse_too_long(text.len());
            return;
        }
        match self.inbox.try_send(text.to_owned()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.shared.refuse(
                None,
                None,
                RefusalCode::Busy,
                format!("more than {INBOX} requests are waiting; send fewer at once"),
                None,
            ),
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    fn on_binary(&self, bytes: &[u8]) {
        self.shared.refuse(
            None,
            None,
            RefusalCode::BadMessage,
            format!(
                "a viewer sends text messages on this channel, not binary ({} bytes)",
                bytes.len()
            ),
            None,
        );
    }

    fn on_room(&self) {
        // No lock: this runs under the channel's own, which a stream takes to read the
        // buffered amount; a missed wake-up is caught by the stream's timeout.
        self.shared.wake.notify_all();
    }

    fn on_closed(&self) {
        tracing::debug!(session = %self.shared.session, "history channel closed");
        self.shared.state().closed = true;
        self.shared.wake.notify_all();
    }
}

impl Shared {
    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub(super) fn link(&self) -> Option<Arc<dyn Link>> {
        lock(&self.link).clone()
    }

    /// Sends `message`; false if it could not go (the channel is gone).
    pub(super) fn send(&self, message: DeviceToViewer, request_id: Option<String>) -> bool {
        let Some(link) = self.link() else {
            return false;
        };
        let text =
            mumu_shared::encode(&Envelope::new(message, crate::now_ms()).reply_to(request_id));
        match link.send_text(&text) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(session = %self.session, error = %e, "history message not sent");
                false
            }
        }
    }

    /// Sends media bytes of `stream`; false if they could not go.
    pub(super) fn send_binary(&self, bytes: &[u8]) -> bool {
        self.link()
            .is_some_and(|link| link.send_binary(bytes).is_ok())
    }

    pub(super) fn refuse(
        &self,
        stream: Option<StreamId>,
        request_id: Option<String>,
        code: RefusalCode,
        message: String,
        nearest: Option<Span>,
    ) {
        tracing::debug!(session = %self.session, ?stream, ?code, %message, "history request refused");
        self.send(
            DeviceToViewer::Refused(Refusal {
                stream,
                code,
                message,
                nearest,
            }),
            request_id,
        );
    }

    fn refuse_too_long(&self, len: usize) {
        self.refuse(
            None,
            None,
            RefusalCode::BadMessage,
            format!("a message is at most {MAX_TEXT_BYTES} bytes; this one has {len}"),
            None,
        );
    }

    fn handle_text(self: &Arc<Self>, text: &str) {
        if text.len() > MAX_TEXT_BYTES {
            self.refuse_too_long(text.len());
            return;
        }
        let envelope = match mumu_shared::decode::<ViewerToDevice>(text) {
            Ok(envelope) => envelope,
            Err(e) => {
                self.refuse(None, None, RefusalCode::BadMessage, e.to_string(), None);
                return;
            }
        };
        let request_id = envelope.request_id;
        match envelope.message {
            ViewerToDevice::ListEvents(list) => self.list_events(list, request_id),
            ViewerToDevice::GetThumbnail(get) => self.thumbnail(get, request_id),
            ViewerToDevice::GetMotionSettings(_) => self.motion_settings(None, request_id),
            ViewerToDevice::SetMotionSettings(set) => {
                self.motion_settings(Some(set.settings), request_id);
            }
            recordings => self.recordings_request(recordings, request_id),
        }
    }

    /// `list`, `play`, `more`, `stop` and `export`: the `recordings` grant, and a camera that
    /// records.
    fn recordings_request(self: &Arc<Self>, message: ViewerToDevice, request_id: Option<String>) {
        let stream = match &message {
            ViewerToDevice::Play(Play { stream, .. })
            | ViewerToDevice::More(More { stream, .. })
            | ViewerToDevice::Stop(StopStream { stream })
            | ViewerToDevice::Export(Export { stream, .. }) => Some(*stream),
            _ => None,
        };
        if !self.state().grants.recordings {
            self.refuse(
                stream,
                request_id,
                RefusalCode::NotPermitted,
                "the owner has not allowed you to see this camera's recordings".into(),
                None,
            );
            return;
        }
        let Some(store) = self.history.store() else {
            self.refuse(
                stream,
                request_id,
                RefusalCode::NotRecording,
                "this camera does not record".into(),
                None,
            );
            return;
        };
        match message {
            ViewerToDevice::List(list) => self.list(store, list, request_id),
            ViewerToDevice::Play(play) => self.play(store, play, request_id),
            ViewerToDevice::Export(export) => self.export(store, export, request_id),
            ViewerToDevice::More(More { stream, until }) => {
                if let Some(control) = self.state().streams.get_mut(&stream) {
                    control.until = control.until.max(until);
                }
                self.wake.notify_all();
            }
            ViewerToDevice::Stop(StopStream { stream }) => {
                if let Some(control) = self.state().streams.get_mut(&stream) {
                    control.end.get_or_insert(StreamEndReason::Stopped);
                }
                self.wake.notify_all();
            }
            // Served by `handle_text` before this.
            ViewerToDevice::ListEvents(_)
            | ViewerToDevice::GetThumbnail(_)
            | ViewerToDevice::GetMotionSettings(_)
            | ViewerToDevice::SetMotionSettings(_) => {}
        }
    }

    fn list(
        &self,
        store: &Store,
        ListRecordings { from, to }: ListRecordings,
        request_id: Option<String>,
    ) {
        if to < from {
            self.refuse(
                None,
                request_id,
                RefusalCode::BadRange,
                format!(
                    "`to` ({}) is before `from` ({})",
                    time::iso(to),
                    time::iso(from)
                ),
                None,
            );
            return;
        }
        let (spans, truncated) = store.spans(from, to);
        let recordings = Recordings {
            from,
            to,
            spans,
            truncated,
            oldest: store.oldest(),
            recording: self.history.recording(),
        };
        self.send(DeviceToViewer::Recordings(recordings), request_id);
    }

    /// Refuses a new stream the session has no room for; true if refused.
    pub(super) fn refuse_if_busy(&self, stream: StreamId, request_id: &Option<String>) -> bool {
        let message = {
            let state = self.state();
            if state.streams.contains_key(&stream) {
                format!("stream {stream} is running already; stop it or use another `stream`")
            } else if state.streams.len() >= MAX_STREAMS {
                format!("at most {MAX_STREAMS} playbacks and exports run at once; stop one first")
            } else {
                return false;
            }
        };
        self.refuse(
            Some(stream),
            request_id.clone(),
            RefusalCode::Busy,
            message,
            None,
        );
        true
    }

    fn refuse_store_error(
        &self,
        stream: StreamId,
        request_id: Option<String>,
        error: RecordingError,
    ) {
        let (code, message, nearest) = match error {
            RecordingError::NoRecording { at, nearest } => {
                let message = match nearest {
                    Some(span) => format!(
                        "nothing is recorded at {}; the nearest recording is from {} to {}",
                        time::iso(at),
                        time::iso(span.start),
                        time::iso(span.end)
                    ),
                    None => format!(
                        "nothing is recorded at {}; there is no recording",
                        time::iso(at)
                    ),
                };
                (RefusalCode::NoRecording, message, nearest)
            }
            RecordingError::BadRange(message) => (RefusalCode::BadRange, message, None),
            other => {
                tracing::warn!(session = %self.session, error = %other, "could not read the recording");
                (RefusalCode::Failed, other.to_string(), None)
            }
        };
        self.refuse(Some(stream), request_id, code, message, nearest);
    }

    fn play(
        self: &Arc<Self>,
        store: &Store,
        Play { stream, at, until }: Play,
        request_id: Option<String>,
    ) {
        if self.refuse_if_busy(stream, &request_id) {
            return;
        }
        if until < at {
            self.refuse(
                Some(stream),
                request_id,
                RefusalCode::BadRange,
                format!(
                    "`until` ({}) is before `at` ({})",
                    time::iso(until),
                    time::iso(at)
                ),
                None,
            );
            return;
        }
        let playback = match store.playback(at) {
            Ok(playback) => playback,
            Err(e) => return self.refuse_store_error(stream, request_id, e),
        };
        let playing = Playing {
            stream,
            start: playback.start(),
            origin: playback.origin(),
            mime: playback.mime(),
        };
        self.start(
            stream,
            until,
            request_id,
            DeviceToViewer::Playing(playing),
            Source::Play(playback),
        );
    }

    fn export(self: &Arc<Self>, store: &Store, export: Export, request_id: Option<String>) {
        let Export {
            stream,
            from,
            to,
            offset,
        } = export;
        if self.refuse_if_busy(stream, &request_id) {
            return;
        }
        let bad_range = if to <= from {
            Some(format!(
                "`to` ({}) must be after `from` ({})",
                time::iso(to),
                time::iso(from)
            ))
        } else if to - from > MAX_EXPORT_MS {
            Some(format!(
                "an export is at most {} minutes; `to` is {} minutes after `from`",
                MAX_EXPORT_MS / 60_000,
                (to - from + 59_999) / 60_000
            ))
        } else {
            None
        };
        if let Some(message) = bad_range {
            self.refuse(
                Some(stream),
                request_id,
                RefusalCode::BadRange,
                message,
                None,
            );
            return;
        }
        let file = match store.export(from, to) {
            Ok(file) => file,
            Err(e) => return self.refuse_store_error(stream, request_id, e),
        };
        if offset > file.len() {
            self.refuse(
                Some(stream),
                request_id,
                RefusalCode::BadRange,
                format!(
                    "`offset` {offset} is past the end of the file ({} bytes)",
                    file.len()
                ),
                None,
            );
            return;
        }
        let exporting = Exporting {
            stream,
            start: file.start(),
            end: file.end(),
            bytes: file.len(),
            file_name: self.history.file_name(file.start()),
        };
        self.start(
            stream,
            to,
            request_id,
            DeviceToViewer::Exporting(exporting),
            Source::Export { file, offset },
        );
    }

    /// Says the stream starts, then sends its bytes from a thread of its own.
    fn start(
        self: &Arc<Self>,
        stream: StreamId,
        until: UnixMillis,
        request_id: Option<String>,
        announce: DeviceToViewer,
        source: Source,
    ) {
        self.state()
            .streams
            .insert(stream, Control { until, end: None });
        if !self.send(announce, request_id) {
            self.state().streams.remove(&stream);
            return;
        }
        let shared = self.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("history-stream-{stream}"))
            .spawn(move || stream::run(&shared, stream, source));
        if let Err(e) = spawned {
            self.state().streams.remove(&stream);
            self.send(
                DeviceToViewer::StreamEnded(StreamEnded {
                    stream,
                    reason: StreamEndReason::Failed,
                    message: Some(format!("no thread for the stream: {e}")),
                }),
                None,
            );
        }
    }

    /// Blocks until `stream` may send more: room in the channel and, for a playback, `until`
    /// past `sent_until` (the time its last `next` stopped at; `None`: no need to wait for
    /// `more`). Or until it must end.
    pub(super) fn turn(&self, stream: StreamId, sent_until: Option<UnixMillis>) -> Turn {
        loop {
            // Read without the state lock: see `Ears::on_room`.
            let room = self
                .link()
                .is_some_and(|link| link.buffered_amount() <= HIGH_WATER);
            let state = self.state();
            if state.closed {
                return Turn::End(None);
            }
            let Some(control) = state.streams.get(&stream) else {
                return Turn::End(None);
            };
            if let Some(reason) = control.end {
                return Turn::End(Some(reason));
            }
            let wanted = sent_until.is_none_or(|sent| control.until > sent);
            if room && wanted {
                return Turn::Go(control.until);
            }
            // The timeout catches a wake-up missed between the check and the wait.
            let _ = self
                .wake
                .wait_timeout(state, Duration::from_millis(200))
                .map_err(|e| e.into_inner());
        }
    }

    /// The stream is over: forget it, and tell the viewer why (unless the session is over).
    pub(super) fn ended(
        &self,
        stream: StreamId,
        reason: Option<StreamEndReason>,
        message: Option<String>,
    ) {
        let closed = {
            let mut state = self.state();
            state.streams.remove(&stream);
            state.closed
        };
        if let (Some(reason), false) = (reason, closed) {
            self.send(
                DeviceToViewer::StreamEnded(StreamEnded {
                    stream,
                    reason,
                    message,
                }),
                None,
            );
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data: a panic elsewhere while holding it leaves nothing half-done.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
