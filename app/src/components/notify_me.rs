//! "Notify me" for one camera: push notifications of its events to this browser, on and off,
//! and, where push cannot work, why (`crate::push`).

use crate::push;
use leptos::prelude::*;
use mumu_shared::DeviceId;

/// Where the button stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Not known yet (the page was just rendered, or this browser is being asked).
    Checking,
    Off,
    On,
    /// Asking the browser, its push service or the server.
    Busy,
    /// Push cannot work in this browser or on this page.
    Unavailable,
}

impl State {
    fn word(self) -> &'static str {
        match self {
            Self::Checking => "checking",
            Self::Off => "off",
            Self::On => "on",
            Self::Busy => "busy",
            Self::Unavailable => "unavailable",
        }
    }
}

#[component]
pub fn NotifyMe(device_id: DeviceId) -> impl IntoView {
    let state = RwSignal::new(State::Checking);
    let problem = RwSignal::new(None::<String>);
    let id = StoredValue::new(device_id.as_str().to_owned());

    // In the browser only (effects do not run on the server): what holds now.
    Effect::new(move |checked: Option<()>| {
        if checked.is_some() {
            return;
        }
        if let Err(why) = push::availability() {
            problem.set(Some(why.why().to_owned()));
            state.set(State::Unavailable);
            return;
        }
        leptos::task::spawn_local(async move {
            let on = push::is_on(&id.get_value()).await;
            state.set(if on { State::On } else { State::Off });
        });
    });

    let toggle = move |_| {
        let was = state.get_untracked();
        if !matches!(was, State::On | State::Off) {
            return;
        }
        // Before anything awaits: the browser asks only in answer to the click itself.
        let asked = (was == State::Off).then(push::ask_permission).flatten();
        state.set(State::Busy);
        problem.set(None);
        leptos::task::spawn_local(async move {
            let device = id.get_value();
            let done = if was == State::Off {
                push::turn_on(&device, asked).await
            } else {
                push::turn_off(&device).await
            };
            match done {
                Ok(()) => state.set(if was == State::Off {
                    State::On
                } else {
                    State::Off
                }),
                Err(why) => {
                    problem.set(Some(why));
                    // Blocked now: the button stays off until the person changes the setting.
                    let blocked = push::availability().is_err();
                    state.set(if blocked { State::Unavailable } else { was });
                }
            }
        });
    };

    view! {
        <div class="notify-me" data-notify=move || state.get().word()>
            <button
                type="button"
                aria-pressed=move || (state.get() == State::On).to_string()
                disabled=move || !matches!(state.get(), State::On | State::Off)
                title="Push notifications of this camera's motion events to this browser"
                on:click=toggle
            >{move || match state.get() {
                State::On => "Notifying: turn off",
                State::Busy => "Notify me…",
                _ => "Notify me",
            }}</button>
            <p class="error small" role="alert">{move || problem.get()}</p>
        </div>
    }
}
