//! One playback or export, on a thread of its own: the store's bytes to the viewer, in chunks,
//! as fast as the channel takes them and no faster.

use super::session::{Shared, Turn};
use crate::recording::{ExportFile, Playback};
use mumu_shared::history::{MAX_CHUNK_BYTES, StreamEndReason, StreamId, chunk};

/// What a stream reads.
pub(super) enum Source {
    /// Fragments from a time on, up to the viewer's `until`.
    Play(Playback),
    /// An MP4 file, from a byte on.
    Export {
        /// The file.
        file: ExportFile,
        /// The next byte to send.
        offset: u64,
    },
}

/// Sends `source` as `stream` until it is done, stopped, or the session is over.
pub(super) fn run(shared: &Shared, stream: StreamId, source: Source) {
    let (reason, message) = match source {
        Source::Play(playback) => play(shared, stream, playback),
        Source::Export { file, offset } => export(shared, stream, file, offset),
    };
    tracing::debug!(session = %shared.session, stream, ?reason, "history stream over");
    shared.ended(stream, reason, message);
}

type Outcome = (Option<StreamEndReason>, Option<String>);

fn play(shared: &Shared, stream: StreamId, mut playback: Playback) -> Outcome {
    let mut waiting_past = None;
    loop {
        let until = match shared.turn(stream, waiting_past) {
            Turn::Go(until) => until,
            Turn::End(reason) => return (reason, None),
        };
        match playback.next(until) {
            Ok(Some(bytes)) => {
                waiting_past = None;
                if !send(shared, stream, &bytes) {
                    return (None, None);
                }
            }
            Ok(None) if playback.at_live_edge() => return (Some(StreamEndReason::LiveEdge), None),
            // Sent up to `until`: wait for `more`.
            Ok(None) => waiting_past = Some(until),
            Err(e) => return (Some(StreamEndReason::Failed), Some(e.to_string())),
        }
    }
}

fn export(shared: &Shared, stream: StreamId, mut file: ExportFile, mut offset: u64) -> Outcome {
    loop {
        if let Turn::End(reason) = shared.turn(stream, None) {
            return (reason, None);
        }
        match file.read_at(offset, MAX_CHUNK_BYTES) {
            Ok(bytes) if bytes.is_empty() => return (Some(StreamEndReason::Complete), None),
            Ok(bytes) => {
                offset += bytes.len() as u64;
                if !send(shared, stream, &bytes) {
                    return (None, None);
                }
            }
            Err(e) => return (Some(StreamEndReason::Failed), Some(e.to_string())),
        }
    }
}

/// Sends `bytes` in chunks; false if the channel is gone.
fn send(shared: &Shared, stream: StreamId, bytes: &[u8]) -> bool {
    bytes
        .chunks(MAX_CHUNK_BYTES)
        .all(|piece| shared.send_binary(&chunk(stream, piece)))
}
