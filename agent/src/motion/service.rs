//! Motion detection joined to the capture: the owner's settings loaded and applied (masks to the
//! painter before the encoder, zones and sensitivity to the detector), the detector's branch
//! off the raw frames when detection is on, and [`MotionService::apply`], which the viewer
//! protocol calls when the owner draws new zones or masks.

use super::handle::MotionHandle;
use super::notices::MotionNotices;
use super::picture::GreyPicture;
use super::settings_file::{self, SettingsFileError};
use super::store::{EventStore, Retention, StoreError};
use super::watcher::{MotionCounters, SharedSettings, Watcher};
use crate::media::MediaError;
use crate::media::capture::Capture;
use crate::media::motion::{BranchCounters, FrameAnalyser, MotionBranch, RawFrame};
use mumu_shared::events::{EventRecord, MotionSettings, SettingsError};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use thiserror::Error;

/// Motion detection could not start, or settings could not be applied.
#[derive(Debug, Error)]
pub enum MotionError {
    /// The settings are out of bounds.
    #[error(transparent)]
    Invalid(#[from] SettingsError),
    /// The settings file could not be read or written.
    #[error(transparent)]
    Settings(#[from] SettingsFileError),
    /// The events directory could not be used.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The detector's branch could not be attached.
    #[error(transparent)]
    Media(#[from] MediaError),
}

/// The detector feeds on the branch's frames.
impl FrameAnalyser for Watcher {
    fn analyse(&mut self, frame: RawFrame) {
        let Some(picture) = GreyPicture::halved(&frame.luma, frame.width, frame.height) else {
            return;
        };
        self.picture(&picture, frame.captured_ms, || frame.jpeg());
    }

    fn finish(&mut self) {
        Watcher::finish(self);
    }
}

/// The motion counters as the health file writes them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MotionHealth {
    /// The detector's branch is in the pipeline.
    pub active: bool,
    /// An event is under way.
    pub in_event: bool,
    /// Pictures looked at.
    pub pictures: u64,
    /// Pictures dropped before the detector (it was behind).
    pub pictures_dropped: u64,
    /// Events started.
    pub events_started: u64,
    /// Events ended and recorded.
    pub events_recorded: u64,
    /// Thumbnails kept.
    pub thumbnails: u64,
    /// Thumbnails or records not made or not written.
    pub errors: u64,
}

impl MotionHealth {
    /// The counters as `name value` lines.
    pub fn lines(&self) -> String {
        [
            ("mumu_motion_active", u64::from(self.active)),
            ("mumu_motion_event_in_progress", u64::from(self.in_event)),
            ("mumu_motion_pictures_total", self.pictures),
            ("mumu_motion_pictures_dropped_total", self.pictures_dropped),
            ("mumu_motion_events_started_total", self.events_started),
            ("mumu_motion_events_total", self.events_recorded),
            ("mumu_motion_thumbnails_total", self.thumbnails),
            ("mumu_motion_errors_total", self.errors),
        ]
        .iter()
        .map(|(name, value)| format!("{name} {value}\n"))
        .collect()
    }
}

/// The motion settings in force, the masks on the capture, and the detector when it runs.
#[derive(Debug)]
pub struct MotionService {
    dir: PathBuf,
    capture: Capture,
    settings: Arc<SharedSettings>,
    store: Option<Arc<Mutex<EventStore>>>,
    counters: Arc<MotionCounters>,
    branch: Option<MotionBranch>,
    branch_counters: Arc<BranchCounters>,
    notices: Arc<MotionNotices>,
}

impl MotionService {
    /// Loads the owner's settings from `dir` (the defaults when there are none), paints their
    /// masks into `capture`'s frames, and with `detect` hangs the detector off it, keeping
    /// events in `dir`.
    pub fn start(
        capture: &Capture,
        dir: &Path,
        detect: bool,
        retention: Retention,
    ) -> Result<Self, MotionError> {
        let settings = settings_file::load(dir)?.unwrap_or_default();
        Self::start_with(capture, dir, settings, detect, retention)
    }

    /// [`MotionService::start`] with `settings` instead of the file's (they are not saved).
    pub fn start_with(
        capture: &Capture,
        dir: &Path,
        settings: MotionSettings,
        detect: bool,
        retention: Retention,
    ) -> Result<Self, MotionError> {
        settings.validate()?;
        capture.set_privacy_masks(&settings.masks);
        let shared = Arc::new(SharedSettings::new(settings));
        let counters = Arc::new(MotionCounters::default());
        let mut service = Self {
            dir: dir.to_owned(),
            capture: capture.clone(),
            settings: shared.clone(),
            store: None,
            counters: counters.clone(),
            branch: None,
            branch_counters: Arc::default(),
            notices: Arc::default(),
        };
        if detect {
            let store = EventStore::open(dir, retention, crate::now_ms())?;
            let store = Arc::new(Mutex::new(store));
            let watcher =
                Watcher::new(shared, store.clone(), counters).with_notices(service.notices.clone());
            let branch = MotionBranch::attach(capture, watcher)?;
            service.branch_counters = branch.counters();
            service.branch = Some(branch);
            service.store = Some(store);
        }
        Ok(service)
    }

    /// Whether a zone is configured in the settings kept in `dir` (detection's default).
    pub fn has_stored_zones(dir: &Path) -> bool {
        settings_file::load(dir).is_ok_and(|s| s.is_some_and(|s| !s.zones.is_empty()))
    }

    /// New settings from the owner: checked, kept on disk, and in force from the next frame
    /// (masks painted, zones and sensitivity used by the detector; an event under way ends).
    pub fn apply(&self, settings: MotionSettings) -> Result<(), MotionError> {
        self.handle().apply(settings)
    }

    /// The settings, events and thumbnails for the viewers' history channels.
    pub fn handle(&self) -> MotionHandle {
        MotionHandle {
            dir: self.dir.clone(),
            capture: self.capture.clone(),
            settings: self.settings.clone(),
            store: self.store.clone(),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> MotionSettings {
        MotionSettings::clone(&self.settings.get())
    }

    /// What the server is to be told of events, for the signaling connection to send.
    pub fn notices(&self) -> Arc<MotionNotices> {
        self.notices.clone()
    }

    /// Whether the detector runs.
    pub fn is_detecting(&self) -> bool {
        self.branch.as_ref().is_some_and(MotionBranch::is_attached)
    }

    /// The events kept, oldest first.
    pub fn events(&self) -> Vec<EventRecord> {
        self.store.as_ref().map_or_else(Vec::new, |store| {
            store
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .events()
                .cloned()
                .collect()
        })
    }

    /// A function that reads the counters, for the health file.
    pub fn health_probe(&self) -> impl Fn() -> MotionHealth + Send + 'static {
        let (counters, branch) = (self.counters.clone(), self.branch_counters.clone());
        let capture = self.capture.clone();
        let detecting = self.branch.is_some();
        move || MotionHealth {
            active: detecting && capture.count(crate::media::consumer::ConsumerKind::Detector) > 0,
            in_event: counters.in_event.load(Ordering::Relaxed) > 0,
            pictures: counters.pictures.load(Ordering::Relaxed),
            pictures_dropped: branch.dropped.load(Ordering::Relaxed),
            events_started: counters.events_started.load(Ordering::Relaxed),
            events_recorded: counters.events_recorded.load(Ordering::Relaxed),
            thumbnails: counters.thumbnails.load(Ordering::Relaxed),
            errors: counters.errors.load(Ordering::Relaxed),
        }
    }

    /// Stops the detector (an event under way is recorded); the masks stay painted.
    pub fn stop(mut self) {
        if let Some(branch) = self.branch.take() {
            branch.stop();
        }
    }
}
