//! Pages for logged-in people only.

use crate::auth::Auth;
use leptos::prelude::*;
use leptos_router::components::Redirect;

/// Shows `children` to a logged-in user and sends anyone else to the login page.
#[component]
pub fn RequireUser(children: ChildrenFn) -> impl IntoView {
    let auth = Auth::get();
    move || {
        if !auth.known.get() {
            view! { <p class="muted" role="status">"Loading…"</p> }.into_any()
        } else if auth.user.with(Option::is_some) {
            children().into_any()
        } else {
            view! { <Redirect path="/login"/> }.into_any()
        }
    }
}
