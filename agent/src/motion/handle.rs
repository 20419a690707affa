//! What a viewer's `history` channel reaches of motion detection, from any thread: the settings
//! in force (read, and replaced through the one [`MotionHandle::apply`]), the events kept, and
//! their thumbnails read from the store's files, bounded. Made by
//! [`super::MotionService::handle`]; cloning shares it.

use super::service::MotionError;
use super::settings_file;
use super::store::EventStore;
use super::watcher::SharedSettings;
use crate::media::capture::Capture;
use crate::media::consumer::ConsumerKind;
use mumu_shared::UnixMillis;
use mumu_shared::events::{EventRecord, MotionSettings};
use mumu_shared::history::MAX_THUMBNAIL_BYTES;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use thiserror::Error;

/// One change of settings at a time: the file on disk and the settings in force end up the
/// same whichever of two racing viewers writes last (there is one motion service per camera).
static APPLYING: Mutex<()> = Mutex::new(());

/// Motion detection as the history channel uses it.
#[derive(Clone, Debug)]
pub struct MotionHandle {
    pub(super) dir: PathBuf,
    pub(super) capture: Capture,
    pub(super) settings: Arc<SharedSettings>,
    pub(super) store: Option<Arc<Mutex<EventStore>>>,
}

/// A thumbnail could not be sent.
#[derive(Debug, Error)]
pub enum ThumbnailError {
    /// No event kept starts then (or the camera keeps no events: detection is off).
    #[error("no event kept starts at {0}")]
    NoEvent(String),
    /// The event has no thumbnail (it could not be made).
    #[error("the event at {0} has no thumbnail")]
    NoThumbnail(String),
    /// The file is larger than a thumbnail is sent.
    #[error("the thumbnail is {0} bytes, more than {MAX_THUMBNAIL_BYTES}")]
    TooLarge(u64),
    /// The file could not be read (retention may just have removed it).
    #[error("the thumbnail could not be read: {0}")]
    Io(#[from] std::io::Error),
}

impl MotionHandle {
    /// The settings in force.
    pub fn settings(&self) -> MotionSettings {
        MotionSettings::clone(&self.settings.get())
    }

    /// New settings from the owner: checked, kept on disk, and in force from the next frame
    /// (masks painted, zones and sensitivity used by the detector; an event under way ends).
    pub fn apply(&self, settings: MotionSettings) -> Result<(), MotionError> {
        settings.validate()?;
        let _one_at_a_time = APPLYING.lock().unwrap_or_else(|e| e.into_inner());
        settings_file::save(&self.dir, &settings)?;
        self.capture.set_privacy_masks(&settings.masks);
        tracing::info!(
            zones = settings.zones.len(),
            masks = settings.masks.len(),
            sensitivity = settings.sensitivity,
            min_area = settings.min_area,
            "motion: new settings applied"
        );
        self.settings.set(settings);
        Ok(())
    }

    /// Whether the detector is in the pipeline now.
    pub fn is_detecting(&self) -> bool {
        self.store.is_some() && self.capture.count(ConsumerKind::Detector) > 0
    }

    /// The events that started in `[from, before)`, newest first, at most `limit`; and whether
    /// more matched.
    pub fn events(
        &self,
        from: Option<UnixMillis>,
        before: Option<UnixMillis>,
        limit: usize,
    ) -> (Vec<EventRecord>, bool) {
        let Some(store) = &self.store else {
            return (vec![], false);
        };
        let store = store.lock().unwrap_or_else(|e| e.into_inner());
        newest_first(store.events(), from, before, limit)
    }

    /// The JPEG thumbnail of the event that started at `start`, read whole (at most
    /// [`MAX_THUMBNAIL_BYTES`]).
    pub fn thumbnail(&self, start: UnixMillis) -> Result<Vec<u8>, ThumbnailError> {
        let when = crate::history::time::iso(start);
        let path = {
            let Some(store) = &self.store else {
                return Err(ThumbnailError::NoEvent(when));
            };
            let store = store.lock().unwrap_or_else(|e| e.into_inner());
            let event = store.events().rev().find(|e| e.start == start);
            match event {
                None => return Err(ThumbnailError::NoEvent(when)),
                Some(event) if !event.thumbnail => return Err(ThumbnailError::NoThumbnail(when)),
                Some(_) => store.thumbnail_path(start),
            }
        };
        // Read outside the store's lock: the detector appends under it.
        read_bounded(&path, MAX_THUMBNAIL_BYTES)
    }
}

/// The events of `oldest_first` that started in `[from, before)`, newest first, at most
/// `limit`; and whether more matched.
fn newest_first<'a>(
    oldest_first: impl DoubleEndedIterator<Item = &'a EventRecord>,
    from: Option<UnixMillis>,
    before: Option<UnixMillis>,
    limit: usize,
) -> (Vec<EventRecord>, bool) {
    let mut matching = oldest_first
        .rev()
        .filter(|e| from.is_none_or(|from| e.start >= from))
        .filter(|e| before.is_none_or(|before| e.start < before));
    let listed: Vec<EventRecord> = matching.by_ref().take(limit).cloned().collect();
    let truncated = matching.next().is_some();
    (listed, truncated)
}

/// The file at `path`, if it has at most `max` bytes (checked as it is read, too: it may grow).
fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, ThumbnailError> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    if size > max {
        return Err(ThumbnailError::TooLarge(size));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(ThumbnailError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(start: UnixMillis) -> EventRecord {
        EventRecord {
            start,
            end: start + 1_000,
            zones: vec![],
            peak_score: 100,
            thumbnail: true,
        }
    }

    #[test]
    fn events_are_listed_newest_first_a_page_at_a_time() {
        let events: Vec<EventRecord> = (1..=5).map(|i| event(i * 10_000)).collect();
        let starts = |(listed, truncated): (Vec<EventRecord>, bool)| {
            (
                listed.iter().map(|e| e.start).collect::<Vec<_>>(),
                truncated,
            )
        };
        assert_eq!(
            starts(newest_first(events.iter(), None, None, 2)),
            (vec![50_000, 40_000], true)
        );
        assert_eq!(
            starts(newest_first(events.iter(), None, Some(40_000), 2)),
            (vec![30_000, 20_000], true),
            "`before` the oldest listed: the next page"
        );
        assert_eq!(
            starts(newest_first(events.iter(), Some(20_000), Some(40_000), 5)),
            (vec![30_000, 20_000], false)
        );
        assert_eq!(
            starts(newest_first(events.iter(), Some(60_000), None, 5)),
            (vec![], false)
        );
    }

    #[test]
    fn a_thumbnail_larger_than_the_bound_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.jpg");
        std::fs::write(&path, vec![0xFF; 1_001]).unwrap();
        assert!(matches!(
            read_bounded(&path, 1_000),
            Err(ThumbnailError::TooLarge(1_001))
        ));
        assert_eq!(read_bounded(&path, 1_001).unwrap().len(), 1_001);
        assert!(matches!(
            read_bounded(&dir.path().join("2.jpg"), 1_000),
            Err(ThumbnailError::Io(_))
        ));
    }
}
