//! The document, the router and the frame around every page.

use crate::auth::{self, Auth};
use crate::components::camera::WatchClick;
use crate::components::nav::Nav;
use crate::lazy::{self, SplitPage};
use crate::pages::{dashboard::Dashboard, login::Login, not_found::NotFound};
use crate::router::{Location, Page};
use crate::signaling::Signaling;
use leptos::either::EitherOf4;
use leptos::prelude::*;
use leptos_meta::{Meta, MetaTags, Title, provide_meta_context};

/// Where the server serves the app's stylesheet (`/pkg/mumu.<hash>.css` in a release build),
/// given to [`shell`] as context; without it, the development build's `/pkg/mumu.css`.
#[derive(Debug, Clone)]
pub struct Stylesheet(pub String);

/// The whole HTML document, rendered on the server. `user` is who the request's cookie names, so
/// the first paint already shows the right page and the browser starts from the same state.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    security_headers(&options);
    let user_json = auth::ssr_user_json();
    let stylesheet = use_context::<Stylesheet>()
        .map(|s| s.0)
        .unwrap_or_else(|| format!("/{}/{}.css", options.site_pkg_dir, options.output_name));
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <meta name=auth::USER_META content=user_json/>
                <link rel="stylesheet" href=stylesheet/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                // Installable: "Add to Home Screen" gives MuMu's icon, opening the dashboard
                // without the browser's frame (iOS reads its own tags besides the manifest).
                <link rel="manifest" href="/manifest.webmanifest"/>
                <link rel="apple-touch-icon" href="/icons/apple-touch-icon.png"/>
                <meta name="theme-color" content="#1d4ed8"/>
                <meta name="apple-mobile-web-app-title" content="MuMu"/>
                <meta name="mobile-web-app-capable" content="yes"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The Content-Security-Policy (scripts only from here, plus the one inline hydration script that
/// carries this response's nonce) and the headers that keep the app out of other sites' frames.
#[cfg(feature = "ssr")]
fn security_headers(options: &LeptosOptions) {
    use http::{HeaderName, HeaderValue, header};
    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    let nonce = use_nonce()
        .map(|n| format!(" 'nonce-{n}'"))
        .unwrap_or_default();
    // `cargo leptos watch` reloads the page over its own socket; allow it in development only.
    let reload = match options.env {
        leptos::config::Env::DEV => format!(" ws://127.0.0.1:{}", options.reload_port),
        leptos::config::Env::PROD => String::new(),
    };
    let csp = format!(
        "default-src 'self'; script-src 'self'{nonce} 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'{reload}; \
         object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    );
    let set = |name: HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.insert_header(name, value);
        }
    };
    set(header::CONTENT_SECURITY_POLICY, &csp);
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::REFERRER_POLICY, "same-origin");
    set(header::CACHE_CONTROL, "no-store");
}

/// The app: the same on the server and in the browser.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let location = Location::provide();
    let auth = Auth::provide();
    let signaling = Signaling::provide();
    provide_context(WatchClick(RwSignal::new(None)));
    // Presence and watching need the socket while someone is logged in, and only then.
    Effect::new(move |_| {
        if auth.user.get().is_some() {
            signaling.connect();
        } else {
            signaling.disconnect();
        }
    });

    // A new page only when the path names another one: a page reads its query itself. The
    // first load's pages are here; the others come in chunks of their own (`lazy`).
    let page = Memo::new(move |_| location.page());
    let page_view = move || match page.get().provide() {
        page if lazy::is_split(page) => EitherOf4::A(view! { <SplitPage page=page/> }),
        Page::Dashboard => EitherOf4::B(view! { <Dashboard/> }),
        Page::Login => EitherOf4::C(view! { <Login/> }),
        _ => EitherOf4::D(view! { <NotFound/> }),
    };

    view! {
        <Title formatter=|page: String| if page.is_empty() { "MuMu".to_string() } else { format!("{page} · MuMu") }/>
        <Meta name="description" content="Watch your own cameras, peer to peer."/>
        <a class="skip" href="#main">"Skip to content"</a>
        <Nav/>
        <main id="main" tabindex="-1">{page_view}</main>
    }
}
