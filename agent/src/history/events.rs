//! Motion events, thumbnails and settings on the history channel, answered by the session's
//! thread. Listing events and fetching thumbnails needs no grant beyond watching; reading or
//! changing the settings needs `configure` (the owner and the camera's admins).

use super::session::Shared;
use super::{HIGH_WATER, time};
use crate::motion::handle::ThumbnailError;
use crate::motion::{MotionError, MotionHandle};
use mumu_shared::events::MotionSettings;
use mumu_shared::history::{
    CurrentMotionSettings, DEFAULT_EVENTS_LISTED, DeviceToViewer, Events, GetThumbnail, ListEvents,
    MAX_CHUNK_BYTES, MAX_EVENTS_LISTED, RefusalCode, StreamEndReason, StreamEnded, StreamId,
    THUMBNAIL_MIME, Thumbnail, chunk,
};
use std::time::{Duration, Instant};

/// How long a thumbnail waits for the channel to have room before it is refused (`busy`).
const ROOM_WITHIN: Duration = Duration::from_secs(10);

impl Shared {
    /// Motion detection, or a `no_motion` refusal.
    fn motion_or_refuse(
        &self,
        stream: Option<StreamId>,
        request_id: &Option<String>,
    ) -> Option<MotionHandle> {
        let motion = self.history.motion().cloned();
        if motion.is_none() {
            self.refuse(
                stream,
                request_id.clone(),
                RefusalCode::NoMotion,
                "this camera's motion settings could not be loaded when it started (its log says \
                 why): it keeps no events and takes no settings until it restarts with them"
                    .into(),
                None,
            );
        }
        motion
    }

    pub(super) fn list_events(&self, list: ListEvents, request_id: Option<String>) {
        let ListEvents {
            from,
            before,
            limit,
        } = list;
        let limit = limit.unwrap_or(DEFAULT_EVENTS_LISTED);
        if !(1..=MAX_EVENTS_LISTED).contains(&limit) {
            self.refuse(
                None,
                request_id,
                RefusalCode::BadMessage,
                format!("`limit` must be between 1 and {MAX_EVENTS_LISTED} (got {limit})"),
                None,
            );
            return;
        }
        if let (Some(from), Some(before)) = (from, before)
            && before < from
        {
            self.refuse(
                None,
                request_id,
                RefusalCode::BadRange,
                format!(
                    "`before` ({}) is before `from` ({})",
                    time::iso(before),
                    time::iso(from)
                ),
                None,
            );
            return;
        }
        let Some(motion) = self.motion_or_refuse(None, &request_id) else {
            return;
        };
        let (events, truncated) = motion.events(from, before, usize::from(limit));
        let detecting = motion.is_detecting();
        self.send(
            DeviceToViewer::Events(Events {
                events,
                truncated,
                detecting,
            }),
            request_id,
        );
    }

    /// Sends an event's thumbnail whole: `thumbnail`, its bytes, `stream_ended`.
    pub(super) fn thumbnail(&self, get: GetThumbnail, request_id: Option<String>) {
        let GetThumbnail { stream, start } = get;
        if self.state().streams.contains_key(&stream) {
            self.refuse(
                Some(stream),
                request_id,
                RefusalCode::Busy,
                format!("stream {stream} is running already; use another `stream`"),
                None,
            );
            return;
        }
        let Some(motion) = self.motion_or_refuse(Some(stream), &request_id) else {
            return;
        };
        let jpeg = match motion.thumbnail(start) {
            Ok(jpeg) => jpeg,
            Err(e @ (ThumbnailError::NoEvent(_) | ThumbnailError::NoThumbnail(_))) => {
                self.refuse(
                    Some(stream),
                    request_id,
                    RefusalCode::NoEvent,
                    e.to_string(),
                    None,
                );
                return;
            }
            Err(e) => {
                tracing::warn!(session = %self.session, error = %e, "could not read a thumbnail");
                self.refuse(
                    Some(stream),
                    request_id,
                    RefusalCode::Failed,
                    e.to_string(),
                    None,
                );
                return;
            }
        };
        if !self.wait_for_room(ROOM_WITHIN) {
            self.refuse(
                Some(stream),
                request_id,
                RefusalCode::Busy,
                format!(
                    "more than {HIGH_WATER} bytes waited to be sent for {} s; ask for fewer at once",
                    ROOM_WITHIN.as_secs()
                ),
                None,
            );
            return;
        }
        let announce = DeviceToViewer::Thumbnail(Thumbnail {
            stream,
            start,
            bytes: jpeg.len() as u64,
            mime: THUMBNAIL_MIME.into(),
        });
        if !self.send(announce, request_id) {
            return;
        }
        let sent = jpeg
            .chunks(MAX_CHUNK_BYTES)
            .all(|piece| self.send_binary(&chunk(stream, piece)));
        if sent {
            self.send(
                DeviceToViewer::StreamEnded(StreamEnded {
                    stream,
                    reason: StreamEndReason::Complete,
                    message: None,
                }),
                None,
            );
        }
    }

    /// Blocks until the channel has at most [`HIGH_WATER`] bytes waiting; false if it did not
    /// within `limit`, or the session is over.
    fn wait_for_room(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            // Read without the state lock: see `Ears::on_room`.
            let Some(link) = self.link() else {
                return false;
            };
            if link.buffered_amount() <= HIGH_WATER {
                return true;
            }
            let state = self.state();
            if state.closed || Instant::now() >= deadline {
                return false;
            }
            // The timeout catches a wake-up missed between the check and the wait.
            let _ = self
                .wake
                .wait_timeout(state, Duration::from_millis(200))
                .map_err(|e| e.into_inner());
        }
    }

    /// `get_motion_settings` (`new` is `None`) and `set_motion_settings`: answered with the
    /// settings in force.
    pub(super) fn motion_settings(&self, new: Option<MotionSettings>, request_id: Option<String>) {
        if !self.state().grants.configure {
            let what = if new.is_some() { "change" } else { "see" };
            self.refuse(
                None,
                request_id,
                RefusalCode::NotPermitted,
                format!(
                    "only the camera's owner and its admins may {what} its motion settings \
                     (zones, privacy masks, sensitivity)"
                ),
                None,
            );
            return;
        }
        let Some(motion) = self.motion_or_refuse(None, &request_id) else {
            return;
        };
        if let Some(settings) = new {
            match motion.apply(settings) {
                Ok(()) => {
                    tracing::info!(session = %self.session, "motion settings changed by the viewer")
                }
                Err(MotionError::Invalid(e)) => {
                    self.refuse(
                        None,
                        request_id,
                        RefusalCode::InvalidSettings,
                        e.to_string(),
                        None,
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(session = %self.session, error = %e, "motion settings not kept");
                    self.refuse(
                        None,
                        request_id,
                        RefusalCode::Failed,
                        format!("the settings could not be kept, nothing changed: {e}"),
                        None,
                    );
                    return;
                }
            }
        }
        self.send(
            DeviceToViewer::MotionSettings(CurrentMotionSettings {
                settings: motion.settings(),
                detecting: motion.is_detecting(),
            }),
            request_id,
        );
    }
}
