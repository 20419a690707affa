//! Who is logged in. The server renders each page for the user its cookie names and writes that
//! user into the page (`<meta name="mumu-user">`), so the browser starts from the same state the
//! server rendered and never needs to see the token (the cookie is HttpOnly). The trunk build has
//! no server rendering and asks `/api/auth/me` instead.

use leptos::prelude::*;
use mumu_shared::api::User;

/// The `<meta>` that carries the logged-in user from the server's HTML to the browser.
pub const USER_META: &str = "mumu-user";

/// What the server knows of the request being rendered: provided as context by mumu-server.
#[derive(Clone, Debug, Default)]
pub struct SessionUser(pub Option<User>);

/// The user as JSON for the `<meta>` (empty when nobody is logged in).
pub fn ssr_user_json() -> String {
    use_context::<SessionUser>()
        .and_then(|s| s.0)
        .and_then(|user| serde_json::to_string(&user).ok())
        .unwrap_or_default()
}

/// The logged-in user, shared by every page.
#[derive(Clone, Copy, Debug)]
pub struct Auth {
    /// The user, or `None` when logged out.
    pub user: RwSignal<Option<User>>,
    /// Whether `user` is known yet (false only in the trunk build until `/api/auth/me` answers).
    pub known: RwSignal<bool>,
}

impl Auth {
    /// Makes the app's `Auth` from what the server rendered, and provides it.
    pub fn provide() -> Self {
        let (user, known) = initial_user();
        let auth = Self {
            user: RwSignal::new(user),
            known: RwSignal::new(known),
        };
        if !known {
            leptos::task::spawn_local(async move {
                let user = crate::api::me().await.ok();
                auth.user.set(user);
                auth.known.set(true);
            });
        }
        provide_context(auth);
        auth
    }

    /// The app's `Auth`.
    pub fn get() -> Self {
        expect_context()
    }

    /// Forgets the user here (after logout, or when the server says the session is over).
    pub fn forget(self) {
        self.user.set(None);
    }
}

#[cfg(feature = "ssr")]
fn initial_user() -> (Option<User>, bool) {
    (use_context::<SessionUser>().and_then(|s| s.0), true)
}

/// In the browser: the server's `<meta>` when it rendered this page; unknown without one.
#[cfg(not(feature = "ssr"))]
fn initial_user() -> (Option<User>, bool) {
    let meta = web_sys::window().and_then(|w| w.document()).and_then(|d| {
        d.query_selector(&format!("meta[name=\"{USER_META}\"]"))
            .ok()
            .flatten()
    });
    match meta {
        Some(meta) => {
            let json = meta.get_attribute("content").unwrap_or_default();
            (serde_json::from_str(&json).ok(), true)
        }
        None => (None, false),
    }
}
