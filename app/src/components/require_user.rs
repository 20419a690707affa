//! Pages for logged-in people only.

use crate::auth::Auth;
use crate::return_to;
use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_location;

/// Shows `children` to a logged-in user and sends anyone else to the login page, which brings
/// them back here afterwards.
#[component]
pub fn RequireUser(children: ChildrenFn) -> impl IntoView {
    let auth = Auth::get();
    let location = use_location();
    move || {
        if !auth.known.get() {
            view! { <p class="muted" role="status">"Loading…"</p> }.into_any()
        } else if auth.user.with(Option::is_some) {
            children().into_any()
        } else {
            let (path, search) = (
                location.pathname.get_untracked(),
                location.search.get_untracked(),
            );
            let here = if search.is_empty() {
                path
            } else {
                format!("{path}?{search}")
            };
            view! { <Redirect path=return_to::login_path(&here)/> }.into_any()
        }
    }
}
