//! Creating an account. The rules are the server's own (`mumu_shared::validate`), checked here
//! first so that mistakes show before anything is sent. An invitation link's code
//! (`?invite=`) goes with the request; without one, once the household has its first account,
//! the server's refusal (`invitation_required`) says to ask for one, and it is shown as is.

use crate::api;
use crate::auth::Auth;
use crate::components::field::Field;
use crate::components::show::ShowElse;
use crate::components::submit::Submit;
use crate::return_to;
use crate::router::{Link, Location, Redirect};
use leptos::prelude::*;
use leptos_meta::Title;
use mumu_shared::ErrorCode;
use mumu_shared::api::RegisterRequest;
use mumu_shared::validate;

#[component]
pub fn Register() -> impl IntoView {
    let auth = Auth::get();
    let location = Location::get();
    let next = return_to::use_next_path();
    let username = RwSignal::new(String::new());
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let tried = RwSignal::new(false);
    let failure = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    // Errors show once the person has tried to submit, then follow their typing.
    let check = move |value: RwSignal<String>, rule: fn(&str) -> Result<(), String>| {
        Signal::derive(move || {
            tried
                .get()
                .then(|| rule(value.get().trim()).err())
                .flatten()
        })
    };
    let username_error = check(username, validate::username);
    let email_error = check(email, validate::email);
    let password_error = Signal::derive(move || {
        tried
            .get()
            .then(|| validate::password(&password.get()).err())
            .flatten()
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        tried.set(true);
        if busy.get_untracked()
            || username_error.get_untracked().is_some()
            || email_error.get_untracked().is_some()
            || password_error.get_untracked().is_some()
        {
            return;
        }
        let req = RegisterRequest {
            username: username.get_untracked().trim().to_string(),
            email: email.get_untracked().trim().to_string(),
            password: password.get_untracked(),
            invitation: untrack(|| location.query("invite")),
        };
        busy.set(true);
        failure.set(None);
        leptos::task::spawn_local(async move {
            match api::register(&req).await {
                Ok(login) => {
                    auth.user.set(Some(login.user));
                    location.navigate(&next.get_untracked());
                }
                Err(error) if error.code() == ErrorCode::Conflict => failure.set(Some(format!(
                    "{error}. Pick another, or log in if this is your account."
                ))),
                Err(error) => failure.set(Some(error.to_string())),
            }
            busy.set(false);
        });
    };

    view! {
        <Title text="Create account"/>
        <ShowElse when=move || auth.user.with(Option::is_none) fallback=move || view! { <Redirect path=next.get_untracked()/> }>
            <section class="narrow card">
                <h1>"Create your account"</h1>
                <form method="post" on:submit=submit novalidate>
                    <Field id="username" label="Username" autocomplete="username" value=username error=username_error
                        hint="3 to 32 letters, digits, dots, dashes or underscores"/>
                    <Field id="email" label="Email" kind="email" autocomplete="email" value=email error=email_error/>
                    <Field id="password" label="Password" kind="password" autocomplete="new-password" value=password error=password_error
                        hint="At least 8 characters"/>
                    <p class="error" role="alert" data-test="form-error">{move || failure.get()}</p>
                    <Submit busy label="Create account" busy_label="Creating…"/>
                </form>
                <p>"Have an account? "<Link href=move || return_to::with_next("/login", &next.get())>"Log in"</Link></p>
            </section>
        </ShowElse>
    }
}
