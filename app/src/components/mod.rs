//! Pieces of pages.

pub mod camera;
pub mod field;
pub mod nav;
pub mod notify_me;
pub mod require_user;
pub mod show;
pub mod submit;
pub mod timeline;
