//! Logging in.

use crate::api;
use crate::auth::Auth;
use crate::components::field::Field;
use crate::components::show::ShowElse;
use crate::components::submit::Submit;
use crate::return_to;
use crate::router::{Link, Location, Redirect};
use leptos::prelude::*;
use leptos_meta::Title;
use mumu_shared::api::LoginRequest;

#[component]
pub fn Login() -> impl IntoView {
    let auth = Auth::get();
    let location = Location::get();
    let next = return_to::use_next_path();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let failure = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let no_error = Signal::derive(|| None::<String>);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let req = LoginRequest {
            username: username.get_untracked().trim().to_string(),
            password: password.get_untracked(),
        };
        if req.username.is_empty() || req.password.is_empty() {
            failure.set(Some(
                "Enter your username (or email) and your password.".into(),
            ));
            return;
        }
        busy.set(true);
        failure.set(None);
        leptos::task::spawn_local(async move {
            match api::login(&req).await {
                Ok(login) => {
                    auth.user.set(Some(login.user));
                    location.navigate(&next.get_untracked());
                }
                Err(error) => failure.set(Some(error.to_string())),
            }
            busy.set(false);
        });
    };

    view! {
        <Title text="Log in"/>
        <ShowElse when=move || auth.user.with(Option::is_none) fallback=move || view! { <Redirect path=next.get_untracked()/> }>
            <section class="narrow card">
                <h1>"Log in"</h1>
                <form method="post" on:submit=submit novalidate>
                    <Field id="username" label="Username or email" autocomplete="username" value=username error=no_error/>
                    <Field id="password" label="Password" kind="password" autocomplete="current-password" value=password error=no_error/>
                    <p class="error" role="alert" data-test="form-error">{move || failure.get()}</p>
                    <Submit busy label="Log in" busy_label="Logging in…"/>
                </form>
                <p>"New here? "<Link href=move || return_to::with_next("/register", &next.get())>"Create an account"</Link></p>
            </section>
        </ShowElse>
    }
}
