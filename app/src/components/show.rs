//! `<Show>` with both branches statically typed. Leptos's own takes its fallback as a `ViewFn`,
//! an `AnyView`, and every type made into an `AnyView` brings the app's WASM its own copy of
//! the rendering and hydration functions; the app uses no `AnyView` at all (docs/browsers.md,
//! "The app's size").

use leptos::either::Either;
use leptos::prelude::*;

/// `children` while `when` holds, nothing otherwise; built again only when `when` changes.
#[component(transparent)]
pub fn Show<W, C>(when: W, children: TypedChildrenFn<C>) -> impl IntoView
where
    W: Fn() -> bool + Send + Sync + 'static,
    C: IntoView + 'static,
{
    let when = Memo::new(move |_| when());
    let children = children.into_inner();
    move || when.get().then(|| children())
}

/// `children` while `when` holds, `fallback` otherwise; built again only when `when` changes.
#[component(transparent)]
pub fn ShowElse<W, C, F, V>(when: W, children: TypedChildrenFn<C>, fallback: F) -> impl IntoView
where
    W: Fn() -> bool + Send + Sync + 'static,
    C: IntoView + 'static,
    F: Fn() -> V + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let when = Memo::new(move |_| when());
    let children = children.into_inner();
    move || {
        if when.get() {
            Either::Left(children())
        } else {
            Either::Right(fallback())
        }
    }
}
