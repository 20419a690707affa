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
    /// Which on-screen keyboard a phone opens (`inputmode`).
    #[prop(optional)]
    inputmode: Option<&'static str>,
    /// Whether a phone's keyboard starts in capitals (`autocapitalize`): "characters" for
    /// codes, which also turns spelling correction off.
    #[prop(optional)]
    autocapitalize: Option<&'static str>,
    /// A hint shown under the field.
    #[prop(optional)]
    hint: Option<&'static str>,
    value: RwSignal<String>,
    /// What is wrong with the value, if anything.
    #[prop(into)]
    error: Signal<Option<String>>,
    #[prop(default = true)] required: bool,
) -> impl IntoView {
    #[cfg(feature = "hydrate")]
    keep_early_input(id, value);
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
    // `autocorrect` (Safari's) has no typed attribute in Leptos: it is added by name.
    let input = view! {
        <input
            id=id
            name=id
            type=kind
            autocomplete=autocomplete
            inputmode=inputmode
            autocapitalize=autocapitalize
            spellcheck=autocapitalize.map(|_| "false")
            required=required
            aria-invalid=move || error.with(Option::is_some).then_some("true")
            aria-describedby=described
            bind:value=value
        />
    }
    .attr("autocorrect", autocapitalize.map(|_| "off"));
    view! {
        <div class="field">
            <label for=id>{label}</label>
            {input}
            {hint.map(|h| view! { <p class="hint" id=hint_id>{h}</p> })}
            <p class="error" id=error_id role="alert">{move || error.get()}</p>
        </div>
    }
}

/// What was typed into the server's page before the app took it over (on a slow phone, or by a
/// password manager filling it in) is kept: taking the page over sets each input from its
/// value, which would otherwise be empty.
#[cfg(feature = "hydrate")]
fn keep_early_input(id: &str, value: RwSignal<String>) {
    use wasm_bindgen::JsCast;
    let hydrating = Owner::current_shared_context().is_some_and(|sc| sc.during_hydration());
    if !hydrating || !value.with_untracked(String::is_empty) {
        return;
    }
    let typed = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok())
        .map(|input| input.value())
        .filter(|typed| !typed.is_empty());
    if let Some(typed) = typed {
        value.set(typed);
    }
}
