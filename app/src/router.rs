//! The app's router: which page an address shows, links that change the address without loading
//! the page again, back and forward, and the address's query.
//!
//! The app has seven pages and no nested routes, so a router of its own is one enum and a match:
//! the pages render through `EitherOf4` (the first load's three, and the others, which `lazy`
//! loads in chunks of their own), statically typed, where leptos_router erased every route
//! to `AnyView` and brought its matching machinery along (together about a fifth of the app's
//! WASM; see docs/browsers.md, "The app's size").

use leptos::prelude::*;

/// An address on this site: its path, and its query without the `?`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Address {
    path: String,
    query: String,
}

impl Address {
    /// `/path?query` as written in a link.
    fn parse(href: &str) -> Self {
        let href = href.split('#').next().unwrap_or_default();
        let (path, query) = href.split_once('?').unwrap_or((href, ""));
        Self {
            path: path.into(),
            query: query.into(),
        }
    }
}

/// The pages, by path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    Dashboard,
    Login,
    Register,
    Pair,
    Watch,
    Account,
    NotFound,
    Sharing,
    Household,
}

impl Page {
    /// Tells what is rendered from here on which page it is part of (see `Redirect`).
    pub fn provide(self) -> Self {
        provide_context(self);
        self
    }

    /// The page at `path` (a trailing slash is the same page).
    pub fn at(path: &str) -> Self {
        match path.strip_suffix('/').unwrap_or(path) {
            "" => Self::Dashboard,
            "/login" => Self::Login,
            "/register" => Self::Register,
            "/pair" => Self::Pair,
            "/watch" => Self::Watch,
            "/account" => Self::Account,
            "/sharing" => Self::Sharing,
            "/household" => Self::Household,
            _ => Self::NotFound,
        }
    }
}

/// Where the app is. Provided once, by the app (`Location::provide`).
#[derive(Clone, Copy, Debug)]
pub struct Location {
    address: RwSignal<Address>,
}

impl Location {
    /// Starts at the request's address (on the server) or the browser's, and in the browser
    /// follows clicks on this site's links and the back and forward buttons.
    pub fn provide() -> Self {
        let location = Self {
            address: RwSignal::new(initial_address()),
        };
        provide_context(location);
        #[cfg(not(feature = "ssr"))]
        location.follow_the_browser();
        location
    }

    /// The app's `Location`.
    pub fn get() -> Self {
        expect_context()
    }

    /// The page the address shows (tracked).
    pub fn page(self) -> Page {
        self.address.with(|a| Page::at(&a.path))
    }

    /// The value of `key` in the query, decoded (tracked).
    pub fn query(self, key: &str) -> Option<String> {
        self.address.with(|a| query_value(&a.query, key))
    }

    /// Path and query, as a link back here would have them (untracked).
    pub fn here(self) -> String {
        self.address.with_untracked(|a| {
            if a.query.is_empty() {
                a.path.clone()
            } else {
                format!("{}?{}", a.path, a.query)
            }
        })
    }

    /// Shows `href`, a path on this site, as a new entry in the browser's history. Call it
    /// anywhere, also after an `await` (a `Location` is `Copy`: take it in the component).
    pub fn navigate(self, href: &str) {
        self.show(href, false);
    }

    /// Shows `href` in place of this page in the history (a redirect).
    pub fn replace(self, href: &str) {
        self.show(href, true);
    }

    fn show(self, href: &str, replace: bool) {
        #[cfg(not(feature = "ssr"))]
        {
            let window = window();
            if let Ok(history) = window.history() {
                let state = wasm_bindgen::JsValue::NULL;
                let _ = if replace {
                    history.replace_state_with_url(&state, "", Some(href))
                } else {
                    history.push_state_with_url(&state, "", Some(href))
                };
            }
            window.scroll_to_with_x_and_y(0.0, 0.0);
        }
        #[cfg(feature = "ssr")]
        let _ = replace;
        self.address.set(Address::parse(href));
    }

    #[cfg(not(feature = "ssr"))]
    fn follow_the_browser(self) {
        // Listeners for the page's whole life: the app never unmounts.
        let _ = window_event_listener(leptos::ev::popstate, move |_| {
            self.address.set(browser_address());
        });
        let _ = window_event_listener(leptos::ev::click, move |ev| {
            if let Some(href) = local_link(&ev) {
                ev.prevent_default();
                self.navigate(&href);
            }
        });
    }
}

/// A link on this site, marked as the current page when it is (`aria-current`).
#[component]
pub fn Link<C: IntoView + 'static>(
    #[prop(into)] href: Signal<String>,
    children: TypedChildren<C>,
) -> impl IntoView {
    let location = Location::get();
    let current = move || {
        let here = href.with(|h| location.address.with(|a| a.path == Address::parse(h).path));
        here.then_some("page")
    };
    let children = children.into_inner();
    view! { <a href=href aria-current=current>{children()}</a> }
}

/// Sends the browser to `path` instead of this page: a 302 when the server renders it, a
/// replaced history entry in the browser.
#[component]
pub fn Redirect(#[prop(into)] path: String) -> impl IntoView {
    #[cfg(feature = "ssr")]
    leptos_axum::redirect(&path);
    #[cfg(not(feature = "ssr"))]
    {
        let location = Location::get();
        let from = use_context::<Page>();
        // Not while the page that asked is still rendering; and not at all if that page is
        // being left: after logging in or out, the page's own redirect comes too late and
        // reads an address that is no longer its own.
        queue_microtask(move || {
            if from.is_none_or(|from| from == untrack(|| location.page())) {
                location.replace(&path);
            }
        });
    }
}

#[cfg(feature = "ssr")]
fn initial_address() -> Address {
    use_context::<http::request::Parts>()
        .map(|parts| Address {
            path: parts.uri.path().into(),
            query: parts.uri.query().unwrap_or_default().into(),
        })
        .unwrap_or_default()
}

#[cfg(not(feature = "ssr"))]
fn initial_address() -> Address {
    browser_address()
}

#[cfg(not(feature = "ssr"))]
fn browser_address() -> Address {
    let location = window().location();
    let search = location.search().unwrap_or_default();
    Address {
        path: location.pathname().unwrap_or_default(),
        query: search.strip_prefix('?').unwrap_or(&search).into(),
    }
}

/// The path and query a click should show here, if it is a plain click on a link to another
/// page of this site. A modified click (new tab, download), a link with a target, one to
/// another origin, or one to a place in this page (`#main`) is the browser's to follow.
#[cfg(not(feature = "ssr"))]
fn local_link(ev: &web_sys::MouseEvent) -> Option<String> {
    use wasm_bindgen::JsCast;
    if ev.default_prevented()
        || ev.button() != 0
        || ev.meta_key()
        || ev.ctrl_key()
        || ev.shift_key()
        || ev.alt_key()
    {
        return None;
    }
    let target: web_sys::Element = ev.target()?.dyn_into().ok()?;
    let link: web_sys::HtmlAnchorElement = target.closest("a[href]").ok()??.dyn_into().ok()?;
    let here = window().location();
    let same_page =
        link.pathname() == here.pathname().ok()? && link.search() == here.search().ok()?;
    let elsewhere = link.origin() != here.origin().ok()?;
    let browsers =
        !matches!(link.target().as_str(), "" | "_self") || link.has_attribute("download");
    if elsewhere || browsers || (same_page && !link.hash().is_empty()) {
        return None;
    }
    Some(format!("{}{}", link.pathname(), link.search()))
}

/// The value of `key` in a query string (`a=1&b=x%20y`), decoded as a form would encode it.
fn query_value(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(name) == key).then(|| decode(value))
    })
}

/// Percent-decoding, with `+` as a space; a stray `%` stays as it is.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_has_its_page() {
        assert_eq!(Page::at("/"), Page::Dashboard);
        assert_eq!(Page::at(""), Page::Dashboard);
        assert_eq!(Page::at("/login"), Page::Login);
        assert_eq!(Page::at("/login/"), Page::Login);
        assert_eq!(Page::at("/watch"), Page::Watch);
        assert_eq!(Page::at("/pair"), Page::Pair);
        assert_eq!(Page::at("/sharing"), Page::Sharing);
        assert_eq!(Page::at("/household/"), Page::Household);
        assert_eq!(Page::at("/watch/x"), Page::NotFound);
        assert_eq!(Page::at("/Login"), Page::NotFound);
        assert_eq!(Page::at("//"), Page::NotFound);
    }

    #[test]
    fn query_values_are_decoded() {
        let query = "next=/pair%3Fcode%3DABCD-EFGH&d=a,b&name=a+b%20c&empty&bad=%G1%";
        assert_eq!(
            query_value(query, "next").as_deref(),
            Some("/pair?code=ABCD-EFGH")
        );
        assert_eq!(query_value(query, "d").as_deref(), Some("a,b"));
        assert_eq!(query_value(query, "name").as_deref(), Some("a b c"));
        assert_eq!(query_value(query, "empty").as_deref(), Some(""));
        assert_eq!(query_value(query, "bad").as_deref(), Some("%G1%"));
        assert_eq!(query_value(query, "missing"), None);
        assert_eq!(query_value("", "next"), None);
        assert_eq!(query_value("x=%E2%9C%93", "x").as_deref(), Some("✓"));
    }

    #[test]
    fn a_link_is_a_path_and_a_query() {
        let address = Address::parse("/watch?d=1,2#top");
        assert_eq!(address.path, "/watch");
        assert_eq!(address.query, "d=1,2");
        assert_eq!(Address::parse("/pair").query, "");
    }
}
