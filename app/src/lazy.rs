//! The pages whose code a release build splits off the app's WASM, each into a chunk of its
//! own that the browser fetches the first time the page is shown, so that the first load (the
//! dashboard, the login) carries only the code it runs (docs/browsers.md, "The app's size").
//!
//! With the `split` feature (what `scripts/build-site --release` builds) each page's view is a
//! split point of `wasm_split` (leptos re-exports it): the linker keeps its relocations, and
//! `wasm-split-cli` moves everything only that view reaches into `split_<page>.wasm` (code two
//! pages share into a `chunk_<n>.wasm`), behind a loader module it writes beside the glue.
//! Without the feature (debug builds, `cargo leptos watch`, trunk, the server) the same calls
//! render the page directly.
//!
//! A chunk's page is type-erased to an `AnyView` at the split point, the one place the app
//! erases a view: that is what keeps the page's rendering and hydration code out of the main
//! module.
//!
//! Hydration: the browser's entry point (`hydrate` in lib.rs) fetches the chunk of the page the
//! server rendered before it hydrates, so that the page hydrates at once, as the others do.
//! Moving to a page inside the app fetches its chunk then.

use crate::router::Page;
use leptos::either::EitherOf3;
use leptos::prelude::*;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Why a chunk did not arrive (without the split, nothing can fail).
#[cfg(feature = "split")]
type LoadError = leptos::wasm_split::SplitLoaderError;
#[cfg(not(feature = "split"))]
type LoadError = std::convert::Infallible;

/// A page in a chunk: `$load` fetches the chunk, `$view` renders the page once it is here.
macro_rules! split_page {
    ($chunk:ident, $load:ident, $view:ident, $page:expr) => {
        #[cfg(feature = "split")]
        #[leptos::wasm_split::wasm_split($chunk, wasm_split_path = ::leptos::wasm_split, preload($load), fallible)]
        pub fn $view() -> Result<AnyView, LoadError> {
            Ok($page.into_any())
        }

        #[cfg(not(feature = "split"))]
        pub async fn $load() -> Result<(), LoadError> {
            Ok(())
        }

        #[cfg(not(feature = "split"))]
        pub async fn $view() -> Result<AnyView, LoadError> {
            Ok($page.into_any())
        }
    };
}

/// The split points. The macro declares each as an import the splitter links to its chunk, an
/// FFI boundary (`extern "C"`, `no_mangle`): the one place the app allows unsafe code, which it
/// writes none of itself.
#[allow(unsafe_code)]
mod points {
    use super::LoadError;
    use crate::pages::{account::Account, pair::Pair, register::Register, watch::WatchPage};
    use crate::pages::{household::Household, sharing::Sharing};
    use leptos::prelude::*;

    split_page!(
        register,
        load_register,
        register_view,
        view! { <Register/> }
    );
    split_page!(pair, load_pair, pair_view, view! { <Pair/> });
    split_page!(watch, load_watch, watch_view, view! { <WatchPage/> });
    split_page!(account, load_account, account_view, view! { <Account/> });
    split_page!(sharing, load_sharing, sharing_view, view! { <Sharing/> });
    split_page!(
        household,
        load_household,
        household_view,
        view! { <Household/> }
    );
}
use points::*;

/// The pages that live in a chunk.
pub fn is_split(page: Page) -> bool {
    matches!(
        page,
        Page::Register | Page::Pair | Page::Watch | Page::Account | Page::Sharing | Page::Household
    )
}

thread_local! {
    /// The split pages whose chunk has arrived, one bit each.
    static LOADED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

fn bit(page: Page) -> u32 {
    1 << page as u8
}

/// Whether `page`'s code is here: always without the split (and so on the server).
pub fn is_loaded(page: Page) -> bool {
    !cfg!(feature = "split") || !is_split(page) || LOADED.with(|l| l.get() & bit(page) != 0)
}

/// Fetches `page`'s chunk (at once if it is here): whether it arrived. A failed fetch is
/// tried again the next time.
pub async fn load(page: Page) -> bool {
    let loaded = match page {
        Page::Register => load_register().await,
        Page::Pair => load_pair().await,
        Page::Watch => load_watch().await,
        Page::Account => load_account().await,
        Page::Sharing => load_sharing().await,
        Page::Household => load_household().await,
        _ => Ok(()),
    };
    if loaded.is_ok() {
        LOADED.with(|l| l.set(l.get() | bit(page)));
    }
    loaded.is_ok()
}

/// `future`'s output if it has one without waiting: a split function whose chunk is loaded
/// finishes on its first poll.
fn now<F: Future>(future: F) -> Option<F::Output> {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

/// `page`'s view, if its chunk is here.
fn view_of(page: Page) -> Option<AnyView> {
    let view = match page {
        Page::Register => now(register_view()),
        Page::Pair => now(pair_view()),
        Page::Watch => now(watch_view()),
        Page::Account => now(account_view()),
        Page::Sharing => now(sharing_view()),
        Page::Household => now(household_view()),
        _ => None,
    };
    view.and_then(Result::ok)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Loading,
    Shown,
    Failed,
}

/// How many more times a chunk that did not arrive is asked for, a second apart, before the
/// page says so: a phone's network (or a loaded machine) loses a fetch now and then.
const RETRIES: u32 = 2;

/// Fetches `page`'s chunk into `state`, again after a second while `retries` last.
fn load_or_retry(page: Page, state: RwSignal<State>, retries: u32) {
    leptos::task::spawn_local(async move {
        if load(page).await {
            state.set(State::Shown);
        } else if retries == 0 {
            state.set(State::Failed);
        } else {
            set_timeout(
                move || load_or_retry(page, state, retries - 1),
                std::time::Duration::from_secs(1),
            );
        }
    });
}

/// A page in a chunk: shown at once when its code is here (on the server, when hydrating, a
/// page seen before), else once its chunk has arrived.
#[component]
pub fn SplitPage(page: Page) -> impl IntoView {
    let state = RwSignal::new(if is_loaded(page) {
        State::Shown
    } else {
        State::Loading
    });
    if state.get_untracked() == State::Loading {
        load_or_retry(page, state, RETRIES);
    }
    move || match state.get() {
        State::Shown => EitherOf3::A(view_of(page)),
        State::Loading => EitherOf3::B(view! { <p class="muted" role="status">"Loading…"</p> }),
        State::Failed => EitherOf3::C(view! {
            <p class="error" role="alert">
                "This page could not be loaded. Check your connection, then reload the page."
            </p>
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without the split (the server, debug builds, trunk) every page is here at once, and the
    /// pages the first load does not carry are the rarely used ones.
    #[test]
    fn without_the_split_every_page_is_here() {
        for page in [
            Page::Dashboard,
            Page::Login,
            Page::Register,
            Page::Pair,
            Page::Watch,
            Page::Account,
            Page::Sharing,
            Page::Household,
            Page::NotFound,
        ] {
            assert!(is_loaded(page), "{page:?}");
            assert_eq!(now(load(page)), Some(true), "{page:?}");
        }
        assert!(!is_split(Page::Dashboard) && !is_split(Page::Login));
    }
}
