//! The `history` data channel's service: a viewer lists, plays and exports the camera's
//! recordings, lists its motion events and fetches their thumbnails, and (granted `configure`)
//! reads and changes its motion settings, over its own peer connection, never through the
//! server (see [`mumu_shared::history`] for the protocol). Every session of the agent has the
//! channel; a camera that does not record refuses `list`, `play` and `export` with
//! `not_recording`, one whose motion settings could not be loaded refuses the rest with
//! `no_motion`.
//!
//! - One [`HistorySession`] per watch session, made with the grants the server gave it at watch
//!   time and told when they change: without `recordings`, `list`, `play` and `export` are
//!   refused (`not_permitted`), and withdrawing it ends the session's streams (`revoked`).
//! - What the channel hears arrives on GStreamer's threads; it is handed to the session's own
//!   thread, which does the blocking reads of the store (never a GStreamer thread, never one of
//!   tokio's). Each playback or export is a thread of its own (at most
//!   [`mumu_shared::history::MAX_STREAMS`] per session) that sends its bytes as the link takes
//!   them: it waits while more than [`HIGH_WATER`] bytes are queued in the channel, so a slow
//!   or relayed link sets the pace and memory stays bounded.
//! - The session's end (the viewer left, or vanished) stops its streams.
//! - Events, thumbnails and settings are answered by the session's thread ([`events`]); a
//!   thumbnail (at most [`mumu_shared::history::MAX_THUMBNAIL_BYTES`]) is sent whole once the
//!   channel has room, so it counts against no stream limit.

mod events;
mod session;
mod stream;
pub mod time;

pub use session::HistorySession;

use crate::media::channel::DataChannel;
use crate::motion::MotionHandle;
use crate::recording::Store;
use std::fmt;
use std::sync::Arc;

/// At most this many bytes wait in a channel before a stream pauses.
pub const HIGH_WATER: u64 = 1024 * 1024;
/// A paused stream goes on once fewer than this many bytes wait.
pub const LOW_WATER: u64 = 256 * 1024;

/// Where a session's messages go: the data channel (or, in a test, anything that takes them).
pub trait Link: Send + Sync + 'static {
    /// Sends a text message without waiting.
    fn send_text(&self, text: &str) -> Result<(), String>;
    /// Sends a binary message without waiting.
    fn send_binary(&self, bytes: &[u8]) -> Result<(), String>;
    /// Bytes queued and not yet sent.
    fn buffered_amount(&self) -> u64;
}

impl Link for DataChannel {
    fn send_text(&self, text: &str) -> Result<(), String> {
        DataChannel::send_text(self, text).map_err(|e| e.to_string())
    }

    fn send_binary(&self, bytes: &[u8]) -> Result<(), String> {
        DataChannel::send_binary(self, bytes).map_err(|e| e.to_string())
    }

    fn buffered_amount(&self) -> u64 {
        DataChannel::buffered_amount(self)
    }
}

/// The camera's recordings and motion events as the history channel serves them. Cloning
/// shares it.
#[derive(Clone)]
pub struct History {
    store: Option<Store>,
    camera: Arc<str>,
    recording: Arc<dyn Fn() -> bool + Send + Sync>,
    motion: Option<MotionHandle>,
}

impl fmt::Debug for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("History")
            .field("dir", &self.store.as_ref().map(Store::dir))
            .field("camera", &self.camera)
            .field("motion", &self.motion.is_some())
            .finish_non_exhaustive()
    }
}

impl History {
    /// Serves `store`'s recordings; exports are named after `camera`; `recording` says whether
    /// the camera records now.
    pub fn new(
        store: Store,
        camera: &str,
        recording: impl Fn() -> bool + Send + Sync + 'static,
    ) -> Self {
        Self {
            store: Some(store),
            camera: camera.into(),
            recording: Arc::new(recording),
            motion: None,
        }
    }

    /// A camera that does not record: the channel serves its motion events and settings.
    pub fn without_recordings(camera: &str) -> Self {
        Self {
            store: None,
            camera: camera.into(),
            recording: Arc::new(|| false),
            motion: None,
        }
    }

    /// Serves `motion`'s events, thumbnails and settings too (`None`: they are refused,
    /// `no_motion`).
    pub fn with_motion(mut self, motion: Option<MotionHandle>) -> Self {
        self.motion = motion;
        self
    }

    /// The recordings, when the camera records.
    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// Motion detection's settings, events and thumbnails, when its settings could be loaded.
    pub fn motion(&self) -> Option<&MotionHandle> {
        self.motion.as_ref()
    }

    fn recording(&self) -> bool {
        (self.recording)()
    }

    /// The name of an export starting at `start`: the camera's name and the time (UTC).
    fn file_name(&self, start: mumu_shared::UnixMillis) -> String {
        let camera: String = self
            .camera
            .chars()
            .map(|c| {
                if c == '/' || c == '\\' || c.is_control() {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        format!("{camera} {}.mp4", time::file_stamp(start))
    }
}
