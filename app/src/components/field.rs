//! A labelled form field with its error, wired for screen readers.

use leptos::prelude::*;

/// An `<input>` bound to `value`, labelled, with `error` shown under it and announced.
#[component]
pub fn Field(
    /// The input's id (and the base of its error's id).
    id: &'static str,
    /// The visible label.
    label: &'static str,
    /// The input type: text, password, email.
    #[prop(default = "text")]
    kind: &'static str,
    /// The browser's autocomplete hint.
    #[prop(default = "off")]
    autocomplete: &'static str,
    /// A hint shown under the field.
    #[prop(optional)]
    hint: Option<&'static str>,
    value: RwSignal<String>,
    /// What is wrong with the value, if anything.
    #[prop(into)]
    error: Signal<Option<String>>,
    #[prop(default = true)] required: bool,
) -> impl IntoView {
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described = {
        let (error_id, hint_id) = (error_id.clone(), hint_id.clone());
        move || {
            let mut ids = Vec::new();
            if hint.is_some() {
                ids.push(hint_id.clone());
            }
            if error.with(Option::is_some) {
                ids.push(error_id.clone());
            }
            (!ids.is_empty()).then(|| ids.join(" "))
        }
    };
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input
                id=id
                name=id
                type=kind
                autocomplete=autocomplete
                required=required
                aria-invalid=move || error.with(Option::is_some).then_some("true")
                aria-describedby=described
                bind:value=value
            />
            {hint.map(|h| view! { <p class="hint" id=hint_id>{h}</p> })}
            <p class="error" id=error_id role="alert">{move || error.get()}</p>
        </div>
    }
}
