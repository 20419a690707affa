//! Whether anyone can see the page: phones lock and tabs go to the background. Watches pause
//! while hidden and the socket reconnects at once when the page is shown again (a phone that
//! slept may have lost both without telling).

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

/// Whether the page is hidden now (false outside a browser).
pub fn is_hidden() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_some_and(|d| d.hidden())
}

/// Calls its function with `is_hidden()` on every visibility change, until dropped.
pub struct VisibilityListener {
    callback: Closure<dyn FnMut()>,
}

impl VisibilityListener {
    pub fn new(on_change: impl Fn(bool) + 'static) -> Option<Self> {
        let document = web_sys::window()?.document()?;
        let callback = Closure::<dyn FnMut()>::new(move || on_change(is_hidden()));
        document
            .add_event_listener_with_callback("visibilitychange", callback.as_ref().unchecked_ref())
            .ok()?;
        Some(Self { callback })
    }
}

impl Drop for VisibilityListener {
    fn drop(&mut self) {
        if let Some(document) = web_sys::window().and_then(|w| w.document()) {
            let _ = document.remove_event_listener_with_callback(
                "visibilitychange",
                self.callback.as_ref().unchecked_ref(),
            );
        }
    }
}
