//! Picture by picture: the detector's score, the event tracker's changes, and what becomes of
//! them: a notice for the server and a thumbnail as an event starts, a record, a log line and
//! a second notice as it ends. Plain Rust: the pictures come from the media side's branch, the
//! thumbnail from a function it hands over, and the notices go to a queue the connection reads.

use super::detector::Detector;
use super::notices::MotionNotices;
use super::picture::GreyPicture;
use super::store::EventStore;
use super::tracker::{Change, Ended, Tracker};
use mumu_shared::UnixMillis;
use mumu_shared::events::{EventRecord, MotionSettings};
use mumu_shared::signaling::MotionEvent;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What the detector counts, for the health file.
#[derive(Debug, Default)]
pub struct MotionCounters {
    /// Pictures looked at.
    pub pictures: AtomicU64,
    /// Events started.
    pub events_started: AtomicU64,
    /// Events ended and recorded.
    pub events_recorded: AtomicU64,
    /// Thumbnails kept.
    pub thumbnails: AtomicU64,
    /// Thumbnails or records that could not be made or written.
    pub errors: AtomicU64,
    /// 1 while an event is under way.
    pub in_event: AtomicU64,
}

/// The settings in force, shared with whoever changes them at runtime.
#[derive(Debug, Default)]
pub struct SharedSettings {
    version: AtomicU64,
    settings: Mutex<Arc<MotionSettings>>,
}

impl SharedSettings {
    /// Settings in force from now on (validated by the caller).
    pub fn new(settings: MotionSettings) -> Self {
        Self {
            version: AtomicU64::new(0),
            settings: Mutex::new(Arc::new(settings)),
        }
    }

    /// Replaces the settings.
    pub fn set(&self, settings: MotionSettings) {
        *self.settings.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(settings);
        self.version.fetch_add(1, Ordering::Release);
    }

    /// The settings now.
    pub fn get(&self) -> Arc<MotionSettings> {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

/// The detector, the tracker, and where events go.
#[derive(Debug)]
pub struct Watcher {
    settings: Arc<SharedSettings>,
    seen: u64,
    zone_names: Vec<String>,
    detector: Detector,
    tracker: Tracker,
    store: Arc<Mutex<EventStore>>,
    counters: Arc<MotionCounters>,
    /// Whether the event under way has a thumbnail.
    thumbnail: bool,
    /// What the server is told.
    notices: Arc<MotionNotices>,
}

impl Watcher {
    /// A watcher with the settings in `settings`, keeping events in `store`.
    pub fn new(
        settings: Arc<SharedSettings>,
        store: Arc<Mutex<EventStore>>,
        counters: Arc<MotionCounters>,
    ) -> Self {
        let seen = settings.version();
        let current = settings.get();
        Self {
            seen,
            zone_names: current.zones.iter().map(|z| z.name.clone()).collect(),
            tracker: Tracker::new(current.min_area),
            detector: Detector::new(MotionSettings::clone(&current)),
            settings,
            store,
            counters,
            thumbnail: false,
            notices: Arc::default(),
        }
    }

    /// Tells the server of events through `notices`.
    pub fn with_notices(mut self, notices: Arc<MotionNotices>) -> Self {
        self.notices = notices;
        self
    }

    fn zone_names(&self, zones: &[usize]) -> Vec<String> {
        zones
            .iter()
            .filter_map(|&z| self.zone_names.get(z).cloned())
            .collect()
    }

    /// Looks at the picture captured `at`; `thumbnail` makes a JPEG of it, if an event starts.
    pub fn picture(
        &mut self,
        picture: &GreyPicture,
        at: UnixMillis,
        thumbnail: impl FnOnce() -> Option<Vec<u8>>,
    ) {
        if self.settings.version() != self.seen {
            // The zones' meaning changes: the event under way ends with the old ones.
            self.finish();
            self.seen = self.settings.version();
            let current = self.settings.get();
            self.zone_names = current.zones.iter().map(|z| z.name.clone()).collect();
            self.tracker.set_min_area(current.min_area);
            self.detector.set_settings(MotionSettings::clone(&current));
        }
        self.counters.pictures.fetch_add(1, Ordering::Relaxed);
        let score = self.detector.score(picture);
        match self.tracker.observe(at, &score) {
            Some(Change::Started { start }) => self.started(start, thumbnail),
            Some(Change::Ended(ended)) => self.ended(ended),
            None => {}
        }
    }

    /// Ends the event under way (the detector stops, or its settings change).
    pub fn finish(&mut self) {
        if let Some(ended) = self.tracker.finish() {
            self.ended(ended);
        }
    }

    fn started(&mut self, start: UnixMillis, thumbnail: impl FnOnce() -> Option<Vec<u8>>) {
        self.counters.events_started.fetch_add(1, Ordering::Relaxed);
        self.counters.in_event.store(1, Ordering::Relaxed);
        tracing::info!(start, "motion: an event started");
        // First of all: a notification's delay starts here.
        if let Some(so_far) = self.tracker.ongoing() {
            self.notices.push(MotionEvent {
                start,
                end: None,
                zones: self.zone_names(&so_far.zones),
                peak_score: so_far.peak,
            });
        }
        self.thumbnail = false;
        let Some(jpeg) = thumbnail() else {
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        match store.save_thumbnail(start, &jpeg) {
            Ok(()) => {
                self.thumbnail = true;
                self.counters.thumbnails.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "motion: the thumbnail could not be kept");
            }
        }
    }

    fn ended(&mut self, ended: Ended) {
        self.counters.in_event.store(0, Ordering::Relaxed);
        let record = EventRecord {
            start: ended.start,
            end: ended.end,
            zones: self.zone_names(&ended.zones),
            peak_score: ended.peak,
            thumbnail: std::mem::take(&mut self.thumbnail),
        };
        self.notices.push(MotionEvent {
            start: record.start,
            end: Some(record.end),
            zones: record.zones.clone(),
            peak_score: record.peak_score,
        });
        tracing::info!(
            start = record.start,
            end = record.end,
            seconds = (record.end - record.start) as f64 / 1000.0,
            zones = ?record.zones,
            peak_score = record.peak_score,
            thumbnail = record.thumbnail,
            "motion event"
        );
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        match store.append(record) {
            Ok(()) => {
                self.counters
                    .events_recorded
                    .fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "motion: the event could not be recorded");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::store::Retention;
    use mumu_shared::events::{COORD_MAX, MotionZone, rectangle};

    const W: usize = 160;
    const H: usize = 90;

    /// A still scene of grey bars with a block crossing it from `from_ms` for 1.5 s.
    fn picture_at(at: i64, from_ms: i64) -> GreyPicture {
        let mut picture = GreyPicture::filled(W, H, 0);
        for i in 0..7 {
            picture.fill_rect((i * W / 7, 0), ((i + 1) * W / 7 + 1, H), 40 + 25 * i as u8);
        }
        let into = at - from_ms;
        if (0..1_500).contains(&into) {
            let x = (into as usize * (W + 18) / 1_500).saturating_sub(18);
            picture.fill_rect((x, 40), (x + 18, 58), 250);
        }
        picture
    }

    fn watch(settings: MotionSettings, seconds: i64) -> (Vec<EventRecord>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path(), Retention::default(), 0).unwrap();
        let store = Arc::new(Mutex::new(store));
        let mut watcher = Watcher::new(
            Arc::new(SharedSettings::new(settings)),
            store.clone(),
            Arc::default(),
        );
        for i in 0..seconds * 5 {
            let at = 1_000_000 + i * 200;
            watcher.picture(&picture_at(at, 1_000_000 + 5_000), at, || {
                Some(b"jpeg".to_vec())
            });
        }
        watcher.finish();
        let events = store.lock().unwrap().events().cloned().collect();
        (events, dir)
    }

    #[test]
    fn a_block_crossing_once_is_one_event_with_its_zone_and_thumbnail() {
        let settings = MotionSettings {
            zones: vec![MotionZone {
                name: "path".into(),
                points: rectangle(0, 3000, COORD_MAX, 7500),
            }],
            ..MotionSettings::default()
        };
        let (events, dir) = watch(settings, 15);
        assert_eq!(events.len(), 1, "{events:?}");
        let event = &events[0];
        assert_eq!(event.zones, ["path"]);
        assert!(
            event.start >= 1_005_000 && event.start < 1_005_800,
            "{event:?}"
        );
        assert!(
            event.end > event.start + 800 && event.end <= 1_006_600,
            "{event:?}"
        );
        assert!(event.peak_score >= 150, "{event:?}");
        assert!(event.thumbnail && dir.path().join(format!("{}.jpg", event.start)).exists());
    }

    #[test]
    fn a_zone_away_from_the_path_stays_quiet() {
        let settings = MotionSettings {
            zones: vec![MotionZone {
                name: "sky".into(),
                points: rectangle(0, 0, COORD_MAX, 3000),
            }],
            ..MotionSettings::default()
        };
        let (events, _dir) = watch(settings, 15);
        assert_eq!(events, []);
    }

    #[test]
    fn the_server_is_told_as_an_event_starts_and_again_as_it_ends() {
        let settings = MotionSettings {
            zones: vec![MotionZone {
                name: "path".into(),
                points: rectangle(0, 3000, COORD_MAX, 7500),
            }],
            ..MotionSettings::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path(), Retention::default(), 0).unwrap();
        let notices = Arc::new(MotionNotices::new());
        let mut watcher = Watcher::new(
            Arc::new(SharedSettings::new(settings)),
            Arc::new(Mutex::new(store)),
            Arc::default(),
        )
        .with_notices(notices.clone());
        let mut at = 1_000_000;
        while notices.is_empty() && at < 1_010_000 {
            watcher.picture(&picture_at(at, 1_005_000), at, || None);
            at += 200;
        }
        let started = notices.front().expect("a notice as the event started");
        assert_eq!(
            (started.end, started.zones.clone()),
            (None, vec!["path".to_owned()])
        );
        assert!(
            at - started.start <= 1_000,
            "told within the pictures that started it"
        );
        notices.sent(&started);
        while at < 1_015_000 {
            watcher.picture(&picture_at(at, 1_005_000), at, || None);
            at += 200;
        }
        let ended = notices.front().expect("a notice as it ended");
        assert_eq!(ended.start, started.start);
        assert!(
            ended.end.is_some_and(|end| end > started.start),
            "{ended:?}"
        );
        assert!(ended.peak_score >= started.peak_score);
        assert_eq!(notices.len(), 1);
    }
}
