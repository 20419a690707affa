//! Pairing: the person types the code their camera printed, and the camera becomes theirs.

use crate::api;
use crate::components::field::Field;
use crate::components::require_user::RequireUser;
use crate::components::submit::Submit;
use crate::router::{Link, Location};
use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use mumu_shared::ErrorCode;
use mumu_shared::api::PairRequest;
use mumu_shared::validate;

/// The server's refusal in words that say what to do next.
fn explain(error: &api::ApiError) -> String {
    let advice = match error.code() {
        ErrorCode::InvalidPairingCode => {
            "Check the code on the camera's screen or log and type it again."
        }
        ErrorCode::PairingCodeExpired => {
            "Codes live 10 minutes. The camera prints a fresh one; use that."
        }
        ErrorCode::PairingCodeUsed => {
            "Each code works once. If the camera is not on your dashboard, run `mumu-agent pair` on it for a new code."
        }
        ErrorCode::Conflict => "This camera already has an owner.",
        ErrorCode::RateLimited => "Too many tries: wait a minute before the next.",
        _ => "",
    };
    format!("{error}. {advice}").trim().to_string()
}

#[component]
pub fn Pair() -> impl IntoView {
    view! {
        <Title text="Pair a camera"/>
        <RequireUser>
            <PairForm/>
        </RequireUser>
    }
}

#[component]
fn PairForm() -> impl IntoView {
    // The agent's QR code opens `/pair?code=…`: the code is typed in already.
    let location = Location::get();
    let from_link = untrack(|| location.query("code")).unwrap_or_default();
    let code = RwSignal::new(from_link);
    let name = RwSignal::new(String::new());
    let tried = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let code_error = Signal::derive(move || {
        tried
            .get()
            .then(|| validate::pairing_code(&code.get()).err())
            .flatten()
    });
    let name_error = Signal::derive(move || {
        let typed = name.get();
        (tried.get() && !typed.trim().is_empty())
            .then(|| validate::device_name(&typed).err())
            .flatten()
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        tried.set(true);
        if busy.get_untracked() || name_error.get_untracked().is_some() {
            return;
        }
        let Ok(pairing_code) = validate::pairing_code(&code.get_untracked()) else {
            return;
        };
        let typed_name = name.get_untracked().trim().to_string();
        let req = PairRequest {
            pairing_code,
            name: (!typed_name.is_empty()).then_some(typed_name),
        };
        busy.set(true);
        outcome.set(None);
        leptos::task::spawn_local(async move {
            match api::pair(&req).await {
                Ok(device) => {
                    outcome.set(Some(Ok(device.name)));
                    code.set(String::new());
                    name.set(String::new());
                    tried.set(false);
                }
                Err(error) => outcome.set(Some(Err(explain(&error)))),
            }
            busy.set(false);
        });
    };

    view! {
        <section class="narrow card">
            <h1>"Pair a camera"</h1>
            <p>"Start "<code>"mumu-agent"</code>" on the camera: it prints a pairing code (and a QR code) on its terminal and in its log. Type it here within 10 minutes."</p>
            <form method="post" on:submit=submit novalidate>
                // Letters and digits: a phone opens its letter keyboard, in capitals, with no
                // spelling correction; a code it received by message is offered to paste.
                <Field id="code" label="Pairing code" autocomplete="one-time-code" value=code error=code_error
                    inputmode="text" autocapitalize="characters"
                    hint="8 letters and digits, like ABCD-EFGH"/>
                <Field id="name" label="Name (optional)" value=name error=name_error required=false
                    hint="Front door, Garden… You can rename it later"/>
                <Submit busy label="Pair" busy_label="Pairing…"/>
            </form>
            {move || outcome.get().map(|result| match result {
                Ok(name) => Either::Left(view! {
                    <p class="success" role="status" data-test="pair-ok">
                        "Paired “"{name}"”. "<Link href="/">"See it on your dashboard"</Link>
                    </p>
                }),
                Err(why) => Either::Right(view! { <p class="error" role="alert" data-test="pair-error">{why}</p> }),
            })}
        </section>
    }
}
