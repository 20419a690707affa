//! The app's pages, one per route.

pub mod account;
pub mod dashboard;
pub mod household;
pub mod login;
pub mod not_found;
pub mod pair;
pub mod register;
pub mod sharing;
pub mod watch;
