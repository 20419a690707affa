//! A form's submit button: disabled while the form is busy, and until the app has taken the
//! server's page over. Before that, a click would submit the form natively, with every field,
//! the password among them, in the address (the forms also say `method="post"`, so even then
//! nothing lands in a URL).

use leptos::prelude::*;

#[component]
pub fn Submit(
    /// The form is waiting for the server.
    busy: RwSignal<bool>,
    label: &'static str,
    /// What the button says while busy.
    busy_label: &'static str,
) -> impl IntoView {
    // Effects run in the browser only, once the page is the app's.
    let live = RwSignal::new(false);
    Effect::new(move |_| live.set(true));
    view! {
        <button type="submit" class="primary" disabled=move || busy.get() || !live.get()>
            {move || if busy.get() { busy_label } else { label }}
        </button>
    }
}
