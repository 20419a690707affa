//! The messages of a watch session's `history` data channel: the viewer asks the camera for its
//! recordings, and the camera answers and sends them, peer to peer. The server never sees any
//! of it: it only told the camera, at watch time, whether this viewer may (see
//! [`crate::signaling::Grants`]).
//!
//! The channel carries two kinds of message:
//! - **text**: one JSON envelope, exactly as on the signaling sockets ([`crate::decode`],
//!   [`crate::encode`]); [`ViewerToDevice`] one way, [`DeviceToViewer`] the other;
//! - **binary**: media bytes of a stream, a [`StreamId`] (4 bytes, big-endian) and then at most
//!   [`MAX_CHUNK_BYTES`] bytes (see [`chunk`], [`split_chunk`]). A playback's bytes are
//!   fragmented MP4 for Media Source Extensions, in order; an export's are the MP4 file.
//!
//! Times are wall-clock UTC ([`UnixMillis`]): the camera stamps every recorded frame with the
//! time it was captured.
//!
//! The same channel carries the camera's motion events: their list (`list_events`), an event's
//! thumbnail (`get_thumbnail`, sent as a stream of binary messages like an export's), and the
//! motion settings (`get_motion_settings`, `set_motion_settings`: zones, privacy masks,
//! sensitivity). Anyone who may watch may list events and see thumbnails; only a viewer granted
//! `configure` reads or changes the settings ([`crate::signaling::Grants`]).

use crate::UnixMillis;
use crate::events::{EventRecord, MotionSettings};
use crate::signaling::messages;
use serde::{Deserialize, Serialize};

/// The label of the data channel the camera opens in every watch session.
pub const CHANNEL_LABEL: &str = "history";

/// The largest binary message, stream id included: 16 KiB is what every WebRTC stack takes
/// without negotiating more (browsers, GStreamer's, webrtc-rs's).
pub const MAX_BINARY_BYTES: usize = 16 * 1024;

/// The most media bytes in one binary message, after its 4-byte stream id.
pub const MAX_CHUNK_BYTES: usize = MAX_BINARY_BYTES - 4;

/// The longest export, in milliseconds (one hour).
pub const MAX_EXPORT_MS: i64 = 60 * 60 * 1000;

/// The most spans one [`Recordings`] lists; more is marked `truncated` (ask for a shorter range).
pub const MAX_SPANS: usize = 2048;

/// The most streams (playbacks and exports) a session may have running at once.
pub const MAX_STREAMS: usize = 2;

/// The largest text message either side accepts on the channel, in bytes.
pub const MAX_TEXT_BYTES: usize = 256 * 1024;

/// The most events one [`Events`] lists; a `list_events` asking for more is refused.
pub const MAX_EVENTS_LISTED: u16 = 200;

/// How many events `list_events` lists when it does not say.
pub const DEFAULT_EVENTS_LISTED: u16 = 50;

/// The largest thumbnail the camera sends, in bytes (one at 320 px wide is 10–30 KB).
pub const MAX_THUMBNAIL_BYTES: u64 = 256 * 1024;

/// The MIME type of a thumbnail's bytes.
pub const THUMBNAIL_MIME: &str = "image/jpeg";

/// Names a playback, an export or a thumbnail within a session; chosen by the viewer.
pub type StreamId = u32;

messages! {
    /// What a viewer sends to the camera on the `history` data channel.
    pub enum ViewerToDevice {
        /// What is recorded between two times; answered by `recordings`.
        List(ListRecordings) = "list",
        /// Play from a time; answered by `playing`, then the stream's bytes.
        Play(Play) = "play",
        /// Send a playing stream on, up to a later time.
        More(More) = "more",
        /// Stop a playback or an export.
        Stop(StopStream) = "stop",
        /// An MP4 file of a stretch of the recording; answered by `exporting`, then its bytes.
        Export(Export) = "export",
        /// The motion events the camera keeps, newest first; answered by `events`.
        ListEvents(ListEvents) = "list_events",
        /// An event's thumbnail; answered by `thumbnail`, its bytes, then `stream_ended`.
        GetThumbnail(GetThumbnail) = "get_thumbnail",
        /// The motion settings in force; answered by `motion_settings` (needs `configure`).
        GetMotionSettings(GetMotionSettings) = "get_motion_settings",
        /// New motion settings, whole; answered by `motion_settings` once they are in force
        /// (needs `configure`).
        SetMotionSettings(SetMotionSettings) = "set_motion_settings",
    }
}

messages! {
    /// What the camera sends to a viewer on the `history` data channel.
    pub enum DeviceToViewer {
        /// What is recorded in the range asked for.
        Recordings(Recordings) = "recordings",
        /// A playback starts: how to read the bytes that follow.
        Playing(Playing) = "playing",
        /// An export starts: the file that follows.
        Exporting(Exporting) = "exporting",
        /// A stream is over, and why.
        StreamEnded(StreamEnded) = "stream_ended",
        /// The motion events asked for.
        Events(Events) = "events",
        /// A thumbnail starts: the JPEG file that follows.
        Thumbnail(Thumbnail) = "thumbnail",
        /// The motion settings in force (after a `set_motion_settings`, the new ones).
        MotionSettings(CurrentMotionSettings) = "motion_settings",
        /// A request was refused, and why.
        Refused(Refusal) = "refused",
    }
}

/// Payload of `list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRecordings {
    /// From this time (inclusive).
    pub from: UnixMillis,
    /// To this time (exclusive).
    pub to: UnixMillis,
}

/// A stretch of time recorded without a break.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// Capture time of its first frame.
    pub start: UnixMillis,
    /// Capture time of its last frame, plus that frame's duration.
    pub end: UnixMillis,
}

/// Payload of `recordings`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recordings {
    /// The range asked for.
    pub from: UnixMillis,
    /// The range asked for.
    pub to: UnixMillis,
    /// The recorded stretches that meet the range, oldest first, clipped to it; the time
    /// between two is a gap.
    pub spans: Vec<Span>,
    /// More spans met the range than [`MAX_SPANS`]: the newest are listed.
    #[serde(default)]
    pub truncated: bool,
    /// The oldest recorded time the camera still keeps, if any.
    pub oldest: Option<UnixMillis>,
    /// Whether the camera is recording now.
    pub recording: bool,
}

/// Payload of `play`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Play {
    /// The viewer's name for the stream.
    pub stream: StreamId,
    /// Where to start: the camera starts at the last keyframe at or before it.
    pub at: UnixMillis,
    /// Send up to this time, then wait for `more` (the viewer's buffer is the bound).
    pub until: UnixMillis,
}

/// Payload of `playing`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Playing {
    /// The stream.
    pub stream: StreamId,
    /// Capture time of the first frame sent (the keyframe at or before the time asked for).
    pub start: UnixMillis,
    /// The wall-clock time of media time zero in the bytes that follow: a frame at media time
    /// `t` seconds was captured at `origin + t × 1000`.
    pub origin: UnixMillis,
    /// The MIME type with codecs, for `MediaSource.isTypeSupported` and `addSourceBuffer`.
    pub mime: String,
}

/// Payload of `more`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct More {
    /// The stream.
    pub stream: StreamId,
    /// Send on up to this time.
    pub until: UnixMillis,
}

/// Payload of `stop`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopStream {
    /// The stream to stop.
    pub stream: StreamId,
}

/// Payload of `export`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    /// The viewer's name for the stream.
    pub stream: StreamId,
    /// From this time (the file starts at the keyframe at or before it).
    pub from: UnixMillis,
    /// To this time; at most [`MAX_EXPORT_MS`] after `from`.
    pub to: UnixMillis,
    /// Resume an export that broke off: send the file from this byte on. The same request
    /// always makes the same file, byte for byte, while its recording is kept.
    #[serde(default)]
    pub offset: u64,
}

/// Payload of `exporting`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exporting {
    /// The stream.
    pub stream: StreamId,
    /// Capture time of the file's first frame.
    pub start: UnixMillis,
    /// Capture time of the end of its last frame.
    pub end: UnixMillis,
    /// The whole file's size in bytes (those before `offset` are not sent again).
    pub bytes: u64,
    /// A name for the file, from the camera's name and the times.
    pub file_name: String,
}

/// Payload of `list_events`: the events that started in `[from, before)`, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEvents {
    /// Only events that started at or after this time (none: from the oldest kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<UnixMillis>,
    /// Only events that started before this time (none: up to the newest). To page back, send
    /// the `start` of the oldest event listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<UnixMillis>,
    /// At most this many, `1..=`[`MAX_EVENTS_LISTED`] (none: [`DEFAULT_EVENTS_LISTED`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u16>,
}

/// Payload of `events`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Events {
    /// The events asked for, newest first.
    pub events: Vec<EventRecord>,
    /// More events matched than the limit: the newest are listed.
    #[serde(default)]
    pub truncated: bool,
    /// Whether the camera looks for motion now.
    pub detecting: bool,
}

/// Payload of `get_thumbnail`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetThumbnail {
    /// The viewer's name for the stream of the thumbnail's bytes.
    pub stream: StreamId,
    /// The event's `start`.
    pub start: UnixMillis,
}

/// Payload of `thumbnail`: `bytes` bytes of JPEG follow as `stream`'s binary messages, then
/// `stream_ended` (`complete`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thumbnail {
    /// The stream.
    pub stream: StreamId,
    /// The event's `start`.
    pub start: UnixMillis,
    /// The file's size in bytes, at most [`MAX_THUMBNAIL_BYTES`].
    pub bytes: u64,
    /// [`THUMBNAIL_MIME`].
    pub mime: String,
}

/// Payload of `get_motion_settings`: nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetMotionSettings {}

/// Payload of `set_motion_settings`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetMotionSettings {
    /// The settings, whole: they replace the camera's (checked by
    /// [`MotionSettings::validate`]; a refusal names the zone or mask and the point).
    pub settings: MotionSettings,
}

/// Payload of `motion_settings`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentMotionSettings {
    /// The settings in force: the privacy masks are painted into every frame from now on.
    pub settings: MotionSettings,
    /// Whether the camera looks for motion now (masks apply either way).
    pub detecting: bool,
}

/// Payload of `stream_ended`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEnded {
    /// The stream.
    pub stream: StreamId,
    /// Why.
    pub reason: StreamEndReason,
    /// Detail for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Why a stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamEndReason {
    /// An export's last byte was sent.
    Complete,
    /// A playback reached the newest recorded frame: what follows is live.
    LiveEdge,
    /// The viewer sent `stop`.
    Stopped,
    /// The viewer's permission to see recordings was withdrawn.
    Revoked,
    /// The recording it read was deleted (retention) or could not be read.
    Failed,
    /// A reason this build does not know (sent by a newer peer).
    #[serde(other)]
    Other,
}

/// Payload of `refused`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The stream the refused request named, if it named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamId>,
    /// What kind of refusal.
    pub code: RefusalCode,
    /// What was wrong, for people: names the field when a field was.
    pub message: String,
    /// For `no_recording`: the recorded stretch nearest the time asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nearest: Option<Span>,
}

/// Why a request on the `history` channel was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCode {
    /// Not a message of this channel, or a field is wrong (the message names it).
    BadMessage,
    /// This viewer may not see this camera's recordings.
    NotPermitted,
    /// The camera does not record.
    NotRecording,
    /// Nothing is recorded at the time asked for (`nearest` says what is).
    NoRecording,
    /// An export longer than [`MAX_EXPORT_MS`], or a range that ends before it starts.
    BadRange,
    /// The session already runs [`MAX_STREAMS`] streams, or reuses a stream id in use.
    Busy,
    /// The camera could not read its recording (or its events, or keep its settings).
    Failed,
    /// Motion settings out of bounds (the message names the zone or mask and the point).
    InvalidSettings,
    /// No event kept starts at the time asked for, or it has no thumbnail.
    NoEvent,
    /// The camera's motion settings could not be loaded at start (see its log): no events,
    /// no settings until it restarts with a readable file.
    NoMotion,
    /// A code this build does not know (sent by a newer peer).
    #[serde(other)]
    Other,
}

/// A binary message: `stream`'s id, then `bytes` (at most [`MAX_CHUNK_BYTES`]).
pub fn chunk(stream: StreamId, bytes: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(4 + bytes.len());
    message.extend_from_slice(&stream.to_be_bytes());
    message.extend_from_slice(bytes);
    message
}

/// A binary message's stream and bytes; `None` if it is too short to hold a stream id.
pub fn split_chunk(message: &[u8]) -> Option<(StreamId, &[u8])> {
    let (id, bytes) = message.split_first_chunk::<4>()?;
    Some((StreamId::from_be_bytes(*id), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_names_its_stream() {
        let message = chunk(0x0102_0304, b"moof");
        assert_eq!(&message[..4], &[1, 2, 3, 4]);
        assert_eq!(split_chunk(&message), Some((0x0102_0304, &b"moof"[..])));
        assert_eq!(split_chunk(&[1, 2, 3]), None);
        assert_eq!(split_chunk(&[0, 0, 0, 7]), Some((7, &b""[..])));
    }
}
