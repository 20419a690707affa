//! Pages for logged-in people only.

use crate::auth::Auth;
use crate::return_to;
use crate::router::{Location, Redirect};
use leptos::either::EitherOf3;
use leptos::prelude::*;

/// Shows `children` to a logged-in user and sends anyone else to the login page, which brings
/// them back here afterwards.
#[component]
pub fn RequireUser<C: IntoView + 'static>(children: TypedChildrenFn<C>) -> impl IntoView {
    let auth = Auth::get();
    let location = Location::get();
    let children = children.into_inner();
    // Built again when the answer changes, not whenever the user's details do.
    let known = Memo::new(move |_| auth.known.get().then(|| auth.user.with(Option::is_some)));
    move || match known.get() {
        None => EitherOf3::A(view! { <p class="muted" role="status">"Loading…"</p> }),
        Some(true) => EitherOf3::B(children()),
        Some(false) => EitherOf3::C(view! {
            <Redirect path=return_to::login_path(&location.here())/>
        }),
    }
}
