//! Pieces of pages.

pub mod camera;
pub mod confirm;
pub mod field;
pub mod nav;
pub mod notify_me;
pub mod ownership;
pub mod require_user;
pub mod show;
pub mod sound;
pub mod submit;
pub mod timeline;
