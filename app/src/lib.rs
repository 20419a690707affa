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
pub mod household_api;
pub mod lazy;
pub mod pages;
pub mod push;
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

/// The browser's entry point after the server's HTML has arrived: take it over. A page whose
/// code is in a chunk of its own (`lazy`) is taken over once the chunk is here: the view that
/// hydrates it must be the page itself, as the server rendered it.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    let path = leptos::prelude::window()
        .location()
        .pathname()
        .unwrap_or_default();
    let page = router::Page::at(&path);
    if lazy::is_loaded(page) {
        leptos::mount::hydrate_body(App);
        return;
    }
    wasm_bindgen_futures::spawn_local(async move {
        if lazy::load(page).await {
            leptos::mount::hydrate_body(App);
        } else {
            // The server's page stays, readable but inert; the chunk's loader logged why.
            leptos::logging::error!("the code of this page did not arrive: reload the page");
        }
    });
}
