//! Any path the app does not know.

use crate::router::Link;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <section class="narrow">
            <h1>"Nothing here"</h1>
            <p>"This page does not exist. "<Link href="/">"Back to your cameras"</Link></p>
        </section>
    }
}
