//! The account: who you are, a new password, and logging out on every device. Changing the
//! password ends every other login (a lost phone stops watching); this browser stays in.

use crate::api;
use crate::auth::Auth;
use crate::components::field::Field;
use crate::components::require_user::RequireUser;
use crate::components::submit::Submit;
use crate::router::Location;
use crate::signaling::Signaling;
use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use mumu_shared::api::ChangePasswordRequest;
use mumu_shared::validate;

#[component]
pub fn Account() -> impl IntoView {
    view! {
        <Title text="Account"/>
        <RequireUser>
            <AccountPage/>
        </RequireUser>
    }
}

#[component]
fn AccountPage() -> impl IntoView {
    let auth = Auth::get();
    let location = Location::get();
    let signaling = Signaling::get();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let tried = RwSignal::new(false);
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let busy = RwSignal::new(false);
    let no_error = Signal::derive(|| None::<String>);
    let new_error = Signal::derive(move || {
        tried
            .get()
            .then(|| validate::password(&new.get()).err())
            .flatten()
    });

    let change = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        tried.set(true);
        if busy.get_untracked() || new_error.get_untracked().is_some() {
            return;
        }
        let req = ChangePasswordRequest {
            current_password: current.get_untracked(),
            new_password: new.get_untracked(),
        };
        busy.set(true);
        outcome.set(None);
        leptos::task::spawn_local(async move {
            match api::change_password(&req).await {
                Ok(()) => {
                    current.set(String::new());
                    new.set(String::new());
                    tried.set(false);
                    outcome.set(Some(Ok(
                        "Password changed. Every other browser and phone must log in again.".into(),
                    )));
                }
                Err(error) => outcome.set(Some(Err(error.to_string()))),
            }
            busy.set(false);
        });
    };

    let everywhere = move |_| {
        leptos::task::spawn_local(async move {
            match api::logout_everywhere().await {
                Ok(()) => {
                    signaling.disconnect();
                    auth.forget();
                    location.navigate("/login");
                }
                Err(error) => outcome.set(Some(Err(error.to_string()))),
            }
        });
    };

    view! {
        <section class="narrow card">
            <h1>"Your account"</h1>
            <dl class="facts">
                <dt>"Username"</dt>
                <dd data-test="account-username">{move || auth.user.with(|u| u.as_ref().map(|u| u.username.clone()))}</dd>
                <dt>"Email"</dt>
                <dd>{move || auth.user.with(|u| u.as_ref().map(|u| u.email.clone()))}</dd>
            </dl>
        </section>
        <section class="narrow card">
            <h2>"Change your password"</h2>
            <form method="post" on:submit=change novalidate>
                <Field id="current-password" label="Current password" kind="password" autocomplete="current-password" value=current error=no_error/>
                <Field id="new-password" label="New password" kind="password" autocomplete="new-password" value=new error=new_error
                    hint="At least 8 characters"/>
                {move || outcome.get().map(|result| match result {
                    Ok(text) => Either::Left(view! { <p class="success" role="status" data-test="form-ok">{text}</p> }),
                    Err(text) => Either::Right(view! { <p class="error" role="alert" data-test="form-error">{text}</p> }),
                })}
                <Submit busy label="Change password" busy_label="Changing…"/>
            </form>
        </section>
        <section class="narrow card">
            <h2>"Log out everywhere"</h2>
            <p>"Ends every login of this account: other browsers, phones and this one."</p>
            <button type="button" class="danger" data-test="logout-everywhere" on:click=everywhere>"Log out everywhere"</button>
        </section>
    }
}
