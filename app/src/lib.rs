//! MuMu's web app: Leptos pages rendered by mumu-server and hydrated in the browser (or rendered
//! in the browser alone by the trunk build). Accounts and devices go through the server's REST
//! API (`api`), presence and watching through the viewer socket (`signaling`); the video itself
//! comes straight from the camera over WebRTC (`watch`).

// Leptos views are deeply nested types; the dashboard card needs more than the default 128.
#![recursion_limit = "256"]

pub mod api;
pub mod auth;
pub mod components;
pub mod format;
pub mod pages;
pub mod return_to;
pub mod router;
pub mod signaling;
pub mod visibility;
pub mod watch;

mod app;
pub use app::{App, Stylesheet, shell};

#[cfg(test)]
mod browser_support;
#[cfg(test)]
mod size_budget;

/// The browser's entry point after the server's HTML has arrived: take it over.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
