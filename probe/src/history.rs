//! The viewer's end of a camera's `history` data channel: list what is recorded, play from a
//! time, export a stretch, list the motion events and fetch their thumbnails, read and change
//! the motion settings, as the web app does, over the peer connection (see
//! `mumu_shared::history`). The tests use it to check what arrives, byte for byte.

use bytes::BytesMut;
use mumu_shared::events::MotionSettings;
use mumu_shared::history::{
    CurrentMotionSettings, DeviceToViewer, Events, Export, Exporting, GetMotionSettings,
    GetThumbnail, ListEvents, ListRecordings, More, Play, Playing, Recordings, Refusal,
    SetMotionSettings, StopStream, StreamEndReason, StreamEnded, StreamId, Thumbnail,
    ViewerToDevice, split_chunk,
};
use mumu_shared::{Envelope, UnixMillis, decode, encode};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent};

/// What can go wrong talking to the camera's history.
#[derive(Debug, Error)]
pub enum HistoryError {
    /// The camera refused the request.
    #[error("refused ({:?}): {}", .0.code, .0.message)]
    Refused(Refusal),
    /// The channel closed.
    #[error("the history channel closed")]
    Closed,
    /// Nothing came in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Sending failed.
    #[error("sending on the history channel: {0}")]
    Send(String),
    /// The camera said something that makes no sense here.
    #[error("unexpected: {0}")]
    Unexpected(String),
}

/// What arrives on the channel.
#[derive(Clone, Debug)]
pub enum Incoming {
    /// A text message.
    Text(Envelope<DeviceToViewer>),
    /// A text the probe could not decode (kept for the tests to see).
    Garbled(String),
    /// Media bytes of a stream.
    Bytes(StreamId, bytes::Bytes),
}

/// An open `history` channel. Its events are read by a task of its own into a queue.
pub struct HistoryChannel {
    channel: Arc<dyn DataChannel>,
    incoming: mpsc::UnboundedReceiver<Incoming>,
    requests: u32,
}

impl std::fmt::Debug for HistoryChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryChannel")
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

/// How long to wait for a control answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

impl HistoryChannel {
    /// Starts reading `channel`.
    pub fn new(channel: Arc<dyn DataChannel>) -> Self {
        let (tx, incoming) = mpsc::unbounded_channel();
        let reader = channel.clone();
        tokio::spawn(async move {
            while let Some(event) = reader.poll().await {
                let DataChannelEvent::OnMessage(message) = event else {
                    if matches!(event, DataChannelEvent::OnClose) {
                        break;
                    }
                    continue;
                };
                let item = if message.is_string {
                    let text = String::from_utf8_lossy(&message.data).into_owned();
                    match decode::<DeviceToViewer>(&text) {
                        Ok(envelope) => Incoming::Text(envelope),
                        Err(_) => Incoming::Garbled(text),
                    }
                } else {
                    match split_chunk(&message.data) {
                        Some((stream, bytes)) => {
                            Incoming::Bytes(stream, bytes::Bytes::copy_from_slice(bytes))
                        }
                        None => Incoming::Garbled(format!("{} bytes", message.data.len())),
                    }
                };
                if tx.send(item).is_err() {
                    break;
                }
            }
        });
        Self {
            channel,
            incoming,
            requests: 0,
        }
    }

    /// Sends a message; returns its request id.
    pub async fn send(&mut self, message: ViewerToDevice) -> Result<String, HistoryError> {
        self.requests += 1;
        let id = format!("h-{}", self.requests);
        let text = encode(&Envelope::new(message, crate::now_ms()).reply_to(Some(id.clone())));
        self.send_text(&text).await?;
        Ok(id)
    }

    /// Sends any text, well-formed or not (the tests send bad ones).
    pub async fn send_text(&self, text: &str) -> Result<(), HistoryError> {
        self.channel
            .send_text(text)
            .await
            .map_err(|e| HistoryError::Send(e.to_string()))
    }

    /// Sends raw bytes as a binary message.
    pub async fn send_binary(&self, bytes: &[u8]) -> Result<(), HistoryError> {
        self.channel
            .send(BytesMut::from(bytes))
            .await
            .map_err(|e| HistoryError::Send(e.to_string()))
    }

    /// The next thing to arrive, within `limit`.
    pub async fn recv(&mut self, limit: Duration) -> Result<Incoming, HistoryError> {
        tokio::time::timeout(limit, self.incoming.recv())
            .await
            .map_err(|_| HistoryError::Timeout(limit))?
            .ok_or(HistoryError::Closed)
    }

    /// The next text message, skipping media bytes, within `limit`.
    pub async fn next_text(
        &mut self,
        limit: Duration,
    ) -> Result<Envelope<DeviceToViewer>, HistoryError> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left).await? {
                Incoming::Text(envelope) => return Ok(envelope),
                Incoming::Garbled(text) => return Err(HistoryError::Unexpected(text)),
                Incoming::Bytes(..) => {}
            }
        }
    }

    /// The answer to request `id` (a `refused` is an error).
    async fn answer(&mut self, id: &str) -> Result<DeviceToViewer, HistoryError> {
        loop {
            let envelope = self.next_text(ANSWER_WITHIN).await?;
            if envelope.request_id.as_deref() != Some(id) {
                continue;
            }
            return match envelope.message {
                DeviceToViewer::Refused(refusal) => Err(HistoryError::Refused(refusal)),
                other => Ok(other),
            };
        }
    }

    /// What is recorded in `[from, to)`.
    pub async fn list(
        &mut self,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<Recordings, HistoryError> {
        let id = self
            .send(ViewerToDevice::List(ListRecordings { from, to }))
            .await?;
        match self.answer(&id).await? {
            DeviceToViewer::Recordings(recordings) => Ok(recordings),
            other => Err(HistoryError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Starts playing from `at`, asking for `ahead` of it.
    pub async fn play(
        &mut self,
        stream: StreamId,
        at: UnixMillis,
        ahead: Duration,
    ) -> Result<Playing, HistoryError> {
        let until = at + millis(ahead);
        let id = self
            .send(ViewerToDevice::Play(Play { stream, at, until }))
            .await?;
        match self.answer(&id).await? {
            DeviceToViewer::Playing(playing) => Ok(playing),
            other => Err(HistoryError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Asks a playing stream to go on up to `until`.
    pub async fn more(&mut self, stream: StreamId, until: UnixMillis) -> Result<(), HistoryError> {
        self.send(ViewerToDevice::More(More { stream, until }))
            .await
            .map(drop)
    }

    /// Stops a stream.
    pub async fn stop(&mut self, stream: StreamId) -> Result<(), HistoryError> {
        self.send(ViewerToDevice::Stop(StopStream { stream }))
            .await
            .map(drop)
    }

    /// Collects `stream`'s bytes until `enough` says so, the stream ends, or nothing comes for
    /// `quiet`. Returns the bytes and how the stream ended, if it did.
    pub async fn collect(
        &mut self,
        stream: StreamId,
        quiet: Duration,
        mut enough: impl FnMut(&[u8]) -> bool,
    ) -> Result<(Vec<u8>, Option<StreamEnded>), HistoryError> {
        let mut bytes = Vec::new();
        loop {
            match self.recv(quiet).await {
                Ok(Incoming::Bytes(id, chunk)) if id == stream => {
                    bytes.extend_from_slice(&chunk);
                    if enough(&bytes) {
                        return Ok((bytes, None));
                    }
                }
                Ok(Incoming::Text(Envelope {
                    message: DeviceToViewer::StreamEnded(ended),
                    ..
                })) if ended.stream == stream => return Ok((bytes, Some(ended))),
                Ok(Incoming::Text(Envelope {
                    message: DeviceToViewer::Refused(refusal),
                    ..
                })) if refusal.stream == Some(stream) => {
                    return Err(HistoryError::Refused(refusal));
                }
                Ok(_) => {}
                Err(HistoryError::Timeout(_)) => return Ok((bytes, None)),
                Err(e) => return Err(e),
            }
        }
    }

    /// Exports `[from, to]` from byte `offset`: the file's description and its bytes.
    pub async fn export(
        &mut self,
        stream: StreamId,
        from: UnixMillis,
        to: UnixMillis,
        offset: u64,
    ) -> Result<(Exporting, Vec<u8>), HistoryError> {
        let id = self
            .send(ViewerToDevice::Export(Export {
                stream,
                from,
                to,
                offset,
            }))
            .await?;
        let exporting = match self.answer(&id).await? {
            DeviceToViewer::Exporting(exporting) => exporting,
            other => return Err(HistoryError::Unexpected(format!("{other:?}"))),
        };
        let (bytes, ended) = self
            .collect(stream, Duration::from_secs(20), |_| false)
            .await?;
        match ended {
            Some(StreamEnded {
                reason: StreamEndReason::Complete,
                ..
            }) => Ok((exporting, bytes)),
            other => Err(HistoryError::Unexpected(format!(
                "the export ended with {other:?} after {} bytes",
                bytes.len()
            ))),
        }
    }
}

impl HistoryChannel {
    /// The motion events that started in `[from, before)`, newest first, at most `limit`.
    pub async fn list_events(&mut self, list: ListEvents) -> Result<Events, HistoryError> {
        let id = self.send(ViewerToDevice::ListEvents(list)).await?;
        match self.answer(&id).await? {
            DeviceToViewer::Events(events) => Ok(events),
            other => Err(HistoryError::Unexpected(format!("{other:?}"))),
        }
    }

    /// The thumbnail of the event that started at `start`: its description and its bytes, all
    /// of them (fewer or more than announced is an error).
    pub async fn thumbnail(
        &mut self,
        stream: StreamId,
        start: UnixMillis,
    ) -> Result<(Thumbnail, Vec<u8>), HistoryError> {
        let id = self
            .send(ViewerToDevice::GetThumbnail(GetThumbnail { stream, start }))
            .await?;
        let thumbnail = match self.answer(&id).await? {
            DeviceToViewer::Thumbnail(thumbnail) => thumbnail,
            other => return Err(HistoryError::Unexpected(format!("{other:?}"))),
        };
        let (bytes, ended) = self
            .collect(stream, Duration::from_secs(10), |_| false)
            .await?;
        match ended {
            Some(StreamEnded {
                reason: StreamEndReason::Complete,
                ..
            }) if bytes.len() as u64 == thumbnail.bytes => Ok((thumbnail, bytes)),
            other => Err(HistoryError::Unexpected(format!(
                "the thumbnail ended with {other:?} after {} of {} bytes",
                bytes.len(),
                thumbnail.bytes
            ))),
        }
    }

    /// The motion settings in force.
    pub async fn motion_settings(&mut self) -> Result<CurrentMotionSettings, HistoryError> {
        let id = self
            .send(ViewerToDevice::GetMotionSettings(GetMotionSettings {}))
            .await?;
        self.settings_answer(&id).await
    }

    /// Replaces the motion settings; the camera answers with those in force.
    pub async fn set_motion_settings(
        &mut self,
        settings: MotionSettings,
    ) -> Result<CurrentMotionSettings, HistoryError> {
        let id = self
            .send(ViewerToDevice::SetMotionSettings(SetMotionSettings {
                settings,
            }))
            .await?;
        self.settings_answer(&id).await
    }

    async fn settings_answer(&mut self, id: &str) -> Result<CurrentMotionSettings, HistoryError> {
        match self.answer(id).await? {
            DeviceToViewer::MotionSettings(current) => Ok(current),
            other => Err(HistoryError::Unexpected(format!("{other:?}"))),
        }
    }
}

/// The width and height a JPEG file declares in its frame header (SOF0 to SOF15 but DHT, JPG
/// and DAC); `None` if `bytes` is not a JPEG file or has no frame header.
pub fn jpeg_size(bytes: &[u8]) -> Option<(u16, u16)> {
    if bytes.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut at = 2;
    loop {
        // Markers may be padded with 0xFF.
        while *bytes.get(at)? == 0xFF && *bytes.get(at + 1)? == 0xFF {
            at += 1;
        }
        if *bytes.get(at)? != 0xFF {
            return None;
        }
        let marker = *bytes.get(at + 1)?;
        let length = usize::from(u16::from_be_bytes([
            *bytes.get(at + 2)?,
            *bytes.get(at + 3)?,
        ]));
        let is_frame = (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_frame {
            let height = u16::from_be_bytes([*bytes.get(at + 5)?, *bytes.get(at + 6)?]);
            let width = u16::from_be_bytes([*bytes.get(at + 7)?, *bytes.get(at + 8)?]);
            return Some((width, height));
        }
        if marker == 0xDA || length < 2 {
            return None;
        }
        at += 2 + length;
    }
}

fn millis(duration: Duration) -> UnixMillis {
    UnixMillis::try_from(duration.as_millis()).unwrap_or(UnixMillis::MAX)
}

/// One fragment of a fragmented MP4 stream, as far as the tests need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentTime {
    /// `tfdt`'s base media decode time, in the track's timescale.
    pub decode_time: u64,
    /// Its sample count (`trun`).
    pub samples: u32,
}

/// The timescale (`mdhd`) and every fragment's time in fragmented MP4 `bytes` (an init segment
/// then fragments, as a playback sends them); stops at the first incomplete box.
pub fn fragment_times(bytes: &[u8]) -> (Option<u32>, Vec<FragmentTime>) {
    let mut timescale = None;
    let mut fragments = Vec::new();
    for (kind, body) in boxes(bytes) {
        match &kind {
            b"moov" => timescale = find(body, &[b"trak", b"mdia", b"mdhd"]).and_then(mdhd_scale),
            b"moof" => {
                let Some(traf) = find(body, &[b"traf"]) else {
                    continue;
                };
                let decode_time = find(traf, &[b"tfdt"]).and_then(tfdt_time).unwrap_or(0);
                let samples = find(traf, &[b"trun"])
                    .and_then(|t| t.get(4..8))
                    .map_or(0, |n| u32::from_be_bytes([n[0], n[1], n[2], n[3]]));
                fragments.push(FragmentTime {
                    decode_time,
                    samples,
                });
            }
            _ => {}
        }
    }
    (timescale, fragments)
}

/// The top-level boxes of `bytes`: (type, body), up to the first incomplete one.
fn boxes(bytes: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        let size = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let kind: [u8; 4] = rest.get(4..8)?.try_into().ok()?;
        let (header, size) = if size == 1 {
            let large = u64::from_be_bytes(rest.get(8..16)?.try_into().ok()?);
            (16, usize::try_from(large).ok()?)
        } else {
            (8, size)
        };
        if size < header || size > rest.len() {
            return None;
        }
        let body = &rest[header..size];
        rest = &rest[size..];
        Some((kind, body))
    })
}

/// The body of the box at `path` under `bytes`.
fn find<'a>(bytes: &'a [u8], path: &[&[u8; 4]]) -> Option<&'a [u8]> {
    let (first, rest) = path.split_first()?;
    let body = boxes(bytes).find(|(kind, _)| kind == *first)?.1;
    if rest.is_empty() {
        Some(body)
    } else {
        find(body, rest)
    }
}

fn mdhd_scale(body: &[u8]) -> Option<u32> {
    // version 1: 8-byte creation and modification times; version 0: 4-byte.
    let at = if body.first()? == &1 { 20 } else { 12 };
    Some(u32::from_be_bytes(body.get(at..at + 4)?.try_into().ok()?))
}

fn tfdt_time(body: &[u8]) -> Option<u64> {
    if body.first()? == &1 {
        Some(u64::from_be_bytes(body.get(4..12)?.try_into().ok()?))
    } else {
        Some(u64::from(u32::from_be_bytes(
            body.get(4..8)?.try_into().ok()?,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn jpeg_size_reads_the_frame_header_after_other_segments() {
        // SOI, an APP0 of 4 bytes, a DQT of 3, then SOF0: 8 bits, 240 high, 320 wide.
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 1, 2, 0xFF, 0xDB, 0, 3, 9, 0xFF, 0xC0, 0, 11, 8, 0, 240,
            1, 64, 1, 1, 0x11, 0,
        ];
        assert_eq!(jpeg_size(&jpeg), Some((320, 240)));
        assert_eq!(jpeg_size(b"GIF89a"), None);
        assert_eq!(jpeg_size(&jpeg[..16]), None, "cut short");
    }

    #[test]
    fn fragment_times_reads_the_timescale_and_each_fragments_decode_time() {
        let mut mdhd = vec![0u8; 24];
        mdhd[12..16].copy_from_slice(&90_000u32.to_be_bytes());
        let moov = mp4_box(
            b"moov",
            &mp4_box(b"trak", &mp4_box(b"mdia", &mp4_box(b"mdhd", &mdhd))),
        );
        let mut tfdt = vec![1, 0, 0, 0];
        tfdt.extend_from_slice(&(3 * 90_000u64).to_be_bytes());
        let mut trun = vec![0, 0, 0, 0];
        trun.extend_from_slice(&30u32.to_be_bytes());
        let traf = mp4_box(
            b"traf",
            &[mp4_box(b"tfdt", &tfdt), mp4_box(b"trun", &trun)].concat(),
        );
        let moof = mp4_box(b"moof", &traf);
        let mut stream = [moov, moof, mp4_box(b"mdat", b"xx")].concat();
        // An incomplete box at the end is not read.
        stream.extend_from_slice(&[0, 0, 1, 0, b'm', b'o']);
        let (scale, fragments) = fragment_times(&stream);
        assert_eq!(scale, Some(90_000));
        assert_eq!(
            fragments,
            vec![FragmentTime {
                decode_time: 270_000,
                samples: 30
            }]
        );
    }
}
