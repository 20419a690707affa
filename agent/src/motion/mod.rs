//! Motion detection on the camera, in plain Rust: a small grey picture a few times a second
//! ([`picture`]), compared with a slowly updated background ([`detector`]), scores turned into
//! events ([`tracker`]), events and their thumbnails kept on the camera ([`store`]), and the
//! owner's settings (zones, privacy masks, sensitivity) kept beside them ([`settings_file`]),
//! and what the server is told of each event ([`notices`]: metadata, never a picture).
//! [`service`] joins them to the capture: the detector's branch off the raw frames, and the
//! masks painted before the encoder; [`handle`] is what a viewer's history channel reaches of it
//! (settings, events, thumbnails). `docs/events.md` has the design for people.

pub mod detector;
pub mod handle;
pub mod notices;
pub mod picture;
pub mod service;
pub mod settings_file;
pub mod store;
pub mod tracker;
pub mod watcher;

pub use handle::MotionHandle;
pub use service::{MotionError, MotionService};
