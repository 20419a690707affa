//! The bar at the top: where you are, who you are, and whether the live connection is up.

use crate::auth::Auth;
use crate::signaling::{Signaling, SocketStatus};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

#[component]
pub fn Nav() -> impl IntoView {
    let auth = Auth::get();
    let signaling = Signaling::get();
    let logout = move |_| {
        let navigate = use_navigate();
        leptos::task::spawn_local(async move {
            // Even if the server cannot be reached, this tab forgets the user.
            let _ = crate::api::logout().await;
            signaling.disconnect();
            auth.forget();
            navigate("/login", Default::default());
        });
    };
    let live = move || match signaling.status.get() {
        SocketStatus::Off => None,
        SocketStatus::Connecting => Some(("connecting", "Connecting…".to_string())),
        SocketStatus::Open => Some(("live", "Live".to_string())),
        SocketStatus::Reconnecting { in_s } => {
            Some(("reconnecting", format!("Reconnecting in {in_s} s…")))
        }
    };
    view! {
        <header class="topbar">
            <nav aria-label="Main">
                <A href="/" attr:class="brand">"MuMu"</A>
                <Show
                    when=move || auth.user.with(Option::is_some)
                    fallback=|| view! {
                        <ul class="links">
                            <li><A href="/login">"Log in"</A></li>
                            <li><A href="/register">"Create account"</A></li>
                        </ul>
                    }
                >
                    <ul class="links">
                        <li><A href="/">"Cameras"</A></li>
                        <li><A href="/pair">"Pair a camera"</A></li>
                    </ul>
                    <div class="me">
                        {move || live().map(|(class, text)| view! {
                            <span class=format!("socket {class}") role="status" data-socket=class>{text}</span>
                        })}
                        <A href="/account" attr:class="username" attr:title="Your account">{move || auth.user.with(|u| u.as_ref().map(|u| u.username.clone()))}</A>
                        <button type="button" class="link" on:click=logout>"Log out"</button>
                    </div>
                </Show>
            </nav>
        </header>
    }
}
