//! The bar at the top: where you are, who you are, and whether the live connection is up.

use crate::auth::Auth;
use crate::components::show::ShowElse;
use crate::router::{Link, Location};
use crate::signaling::{Signaling, SocketStatus};
use leptos::prelude::*;

#[component]
pub fn Nav() -> impl IntoView {
    let auth = Auth::get();
    let location = Location::get();
    let signaling = Signaling::get();
    let logout = move |_| {
        leptos::task::spawn_local(async move {
            // The browser leaves its push service first: the server forgets the login's
            // subscriptions itself, but the browser's own would linger.
            crate::push::forget_browser_subscription().await;
            // Even if the server cannot be reached, this tab forgets the user.
            let _ = crate::api::logout().await;
            signaling.disconnect();
            auth.forget();
            location.navigate("/login");
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
                <Link href="/" attr:class="brand">"MuMu"</Link>
                <ShowElse
                    when=move || auth.user.with(Option::is_some)
                    fallback=|| view! {
                        <ul class="links">
                            <li><Link href="/login">"Log in"</Link></li>
                            <li><Link href="/register">"Create account"</Link></li>
                        </ul>
                    }
                >
                    <ul class="links">
                        <li><Link href="/">"Cameras"</Link></li>
                        <li><Link href="/pair">"Pair a camera"</Link></li>
                        <li><Link href="/household">"Household"</Link></li>
                    </ul>
                    <div class="me">
                        {move || live().map(|(class, text)| view! {
                            <span class=format!("socket {class}") role="status" data-socket=class>{text}</span>
                        })}
                        <Link href="/account" attr:class="username" attr:title="Your account">{move || auth.user.with(|u| u.as_ref().map(|u| u.username.clone()))}</Link>
                        <button type="button" class="link" on:click=logout>"Log out"</button>
                    </div>
                </ShowElse>
            </nav>
        </header>
    }
}
