//! The events kept on the camera: `events.jsonl` (one [`EventRecord`] per line, appended and
//! synced, as the recordings' index is) and a JPEG thumbnail beside each, named by the event's
//! start (`<start ms>.jpg`). Bounded by count and age: the oldest go first, their thumbnails
//! with them, and the file is rewritten (temporary file, fsync, rename) when it has grown to
//! twice what it keeps. A torn last line after a power cut is skipped.

use mumu_shared::UnixMillis;
use mumu_shared::events::EventRecord;
use std::collections::VecDeque;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The events file, in the events directory.
pub const EVENTS_FILE: &str = "events.jsonl";

/// How many events, and how old, the camera keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// At most this many events.
    pub max_events: usize,
    /// None older than this, in milliseconds.
    pub max_age_ms: i64,
}

impl Default for Retention {
    /// 1,000 events (about 15 MB of thumbnails at most) for 30 days.
    fn default() -> Self {
        Self {
            max_events: 1_000,
            max_age_ms: 30 * 24 * 3_600_000,
        }
    }
}

/// The events directory could not be used.
#[derive(Debug, Error)]
#[error("{path}: {source}")]
pub struct StoreError {
    /// The file or directory.
    pub path: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError {
        path: path.to_owned(),
        source,
    }
}

/// The events on disk.
#[derive(Debug)]
pub struct EventStore {
    dir: PathBuf,
    retention: Retention,
    events: VecDeque<EventRecord>,
    /// Lines in the file (kept or not).
    lines: usize,
}

impl EventStore {
    /// Opens (creating) the events in `dir`, applies retention as of `now` and compacts the
    /// file; thumbnails no event names are deleted.
    pub fn open(dir: &Path, retention: Retention, now: UnixMillis) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let path = dir.join(EVENTS_FILE);
        let mut events = VecDeque::new();
        match std::fs::read(&path) {
            Ok(text) => {
                for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    if let Ok(record) = serde_json::from_slice::<EventRecord>(line) {
                        events.push_back(record);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&path)(e)),
        }
        events.make_contiguous().sort_by_key(|e| e.start);
        let mut store = Self {
            dir: dir.to_owned(),
            retention,
            events,
            lines: 0,
        };
        store.expire(now);
        store.compact()?;
        store.remove_orphan_thumbnails();
        Ok(store)
    }

    /// The events kept, oldest first.
    pub fn events(&self) -> impl DoubleEndedIterator<Item = &EventRecord> {
        self.events.iter()
    }

    /// Where the thumbnail of the event that started at `start` is kept.
    pub fn thumbnail_path(&self, start: UnixMillis) -> PathBuf {
        self.dir.join(format!("{start}.jpg"))
    }

    /// Keeps `jpeg` as the thumbnail of the event starting at `start` (written whole, then
    /// renamed into place).
    pub fn save_thumbnail(&self, start: UnixMillis, jpeg: &[u8]) -> Result<(), StoreError> {
        let path = self.thumbnail_path(start);
        let partial = path.with_extension("jpg.partial");
        std::fs::write(&partial, jpeg).map_err(io_error(&partial))?;
        std::fs::rename(&partial, &path).map_err(io_error(&path))
    }

    /// Appends `record` (synced), then applies retention as of its end.
    pub fn append(&mut self, record: EventRecord) -> Result<(), StoreError> {
        let path = self.dir.join(EVENTS_FILE);
        let mut line = serde_json::to_vec(&record).map_err(|e| io_error(&path)(e.into()))?;
        line.push(b'\n');
        let mut file = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        file.write_all(&line).map_err(io_error(&path))?;
        file.sync_data().map_err(io_error(&path))?;
        self.lines += 1;
        let now = record.end;
        self.events.push_back(record);
        self.expire(now);
        if self.lines > 2 * self.retention.max_events.max(1) {
            self.compact()?;
        }
        Ok(())
    }

    /// Drops the events past the count or age, with their thumbnails.
    fn expire(&mut self, now: UnixMillis) {
        while let Some(oldest) = self.events.front() {
            let too_many = self.events.len() > self.retention.max_events;
            let too_old = now - oldest.end > self.retention.max_age_ms;
            if !too_many && !too_old {
                break;
            }
            let start = oldest.start;
            self.events.pop_front();
            let _ = std::fs::remove_file(self.thumbnail_path(start));
        }
    }

    /// Rewrites the file with the events kept.
    fn compact(&mut self) -> Result<(), StoreError> {
        let path = self.dir.join(EVENTS_FILE);
        let partial = path.with_extension("jsonl.partial");
        let mut text = Vec::new();
        for event in &self.events {
            serde_json::to_writer(&mut text, event).map_err(|e| io_error(&partial)(e.into()))?;
            text.push(b'\n');
        }
        let mut file = std::fs::File::create(&partial).map_err(io_error(&partial))?;
        file.write_all(&text).map_err(io_error(&partial))?;
        file.sync_all().map_err(io_error(&partial))?;
        std::fs::rename(&partial, &path).map_err(io_error(&path))?;
        self.lines = self.events.len();
        Ok(())
    }

    /// Thumbnails of events no longer kept (or never finished: the camera stopped mid-event
    /// without a chance to record it).
    fn remove_orphan_thumbnails(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".jpg")) else {
                continue;
            };
            let named = stem
                .parse::<UnixMillis>()
                .is_ok_and(|start| self.events.iter().any(|e| e.start == start));
            if !named {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(start: UnixMillis) -> EventRecord {
        EventRecord {
            start,
            end: start + 3_000,
            zones: vec!["door".into()],
            peak_score: 420,
            thumbnail: true,
        }
    }

    #[test]
    fn events_survive_a_restart_and_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = EventStore::open(dir.path(), Retention::default(), 0).unwrap();
        store.save_thumbnail(10_000, b"jpeg").unwrap();
        store.append(event(10_000)).unwrap();
        store.append(event(20_000)).unwrap();
        let mut file = std::fs::File::options()
            .append(true)
            .open(dir.path().join(EVENTS_FILE))
            .unwrap();
        file.write_all(b"{\"start\":300").unwrap();
        // An orphan: a thumbnail whose event never ended.
        std::fs::write(dir.path().join("30000.jpg"), b"jpeg").unwrap();
        let store = EventStore::open(dir.path(), Retention::default(), 25_000).unwrap();
        let starts: Vec<_> = store.events().map(|e| e.start).collect();
        assert_eq!(starts, [10_000, 20_000]);
        assert!(store.thumbnail_path(10_000).exists());
        assert!(!dir.path().join("30000.jpg").exists());
    }

    #[test]
    fn the_oldest_go_by_count_and_age_with_their_thumbnails() {
        let dir = tempfile::tempdir().unwrap();
        let retention = Retention {
            max_events: 3,
            max_age_ms: 100_000,
        };
        let mut store = EventStore::open(dir.path(), retention, 0).unwrap();
        for i in 1..=10 {
            let start = i * 10_000;
            store.save_thumbnail(start, b"jpeg").unwrap();
            store.append(event(start)).unwrap();
        }
        let starts: Vec<_> = store.events().map(|e| e.start).collect();
        assert_eq!(starts, [80_000, 90_000, 100_000]);
        assert!(!store.thumbnail_path(70_000).exists());
        let lines = std::fs::read_to_string(dir.path().join(EVENTS_FILE))
            .unwrap()
            .lines()
            .count();
        assert!(lines <= 2 * 3, "the file is compacted: {lines} lines");
        let later = EventStore::open(dir.path(), retention, 100_000 + 3_000 + 95_000).unwrap();
        let starts: Vec<_> = later.events().map(|e| e.start).collect();
        assert_eq!(starts, [100_000], "the others are older than 100 s");
        assert!(!later.thumbnail_path(90_000).exists());
    }
}
