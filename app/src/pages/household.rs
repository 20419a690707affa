//! The household's settings (`/household`): for its admin, invitations to make an account (a
//! link to copy, the open ones with their expiry, revoke) and the arming mode; for everyone,
//! their own quiet hours and webhook. A refusal is shown as the server words it.

use crate::auth::Auth;
use crate::components::confirm::{confirm, copy_text};
use crate::components::require_user::RequireUser;
use crate::components::show::Show;
use crate::format;
use crate::household_api;
use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use mumu_shared::api::{
    Arming, ArmingMode, HouseholdRole, Invitation, InvitationRequest, NewInvitation, QuietHours,
    Webhook, WebhookRequest,
};

#[component]
pub fn Household() -> impl IntoView {
    view! {
        <Title text="Household"/>
        <RequireUser>
            <HouseholdPage/>
        </RequireUser>
    }
}

/// A sentence for a form's outcome: success in green, the server's refusal in red.
fn outcome_view(
    outcome: RwSignal<Option<Result<String, String>>>,
    test: &'static str,
) -> impl IntoView {
    move || {
        outcome.get().map(|result| match result {
            Ok(text) => Either::Left(view! { <p class="success" role="status" data-test=format!("{test}-ok")>{text}</p> }),
            Err(text) => Either::Right(view! { <p class="error" role="alert" data-test=format!("{test}-error")>{text}</p> }),
        })
    }
}

#[component]
fn HouseholdPage() -> impl IntoView {
    let auth = Auth::get();
    let admin = move || {
        auth.user
            .with(|u| u.as_ref().is_some_and(|u| u.role == HouseholdRole::Admin))
    };
    view! {
        <h1>"Household"</h1>
        <Show when=admin>
            <Invitations/>
        </Show>
        <Show when=move || !admin()>
            <section class="card household">
                <h2>"Invitations"</h2>
                <p class="muted">"The household's admin (its first account) invites people to make an account here."</p>
            </section>
        </Show>
        <ArmingSection admin=Signal::derive(admin)/>
        <QuietHoursSection/>
        <WebhookSection/>
    }
}

/// How long an invitation lasts: the choices offered, in seconds.
const LIFETIMES: [(u64, &str); 3] = [
    (86_400, "1 day"),
    (7 * 86_400, "7 days"),
    (30 * 86_400, "30 days"),
];

fn is_open(invitation: &Invitation, now: i64) -> bool {
    invitation.used_at.is_none() && invitation.expires_at > now
}

#[component]
fn Invitations() -> impl IntoView {
    let list = RwSignal::new(None::<Result<Vec<Invitation>, String>>);
    let made = RwSignal::new(None::<NewInvitation>);
    let lifetime = RwSignal::new(LIFETIMES[1].0);
    let busy = RwSignal::new(false);
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let reload = move || {
        leptos::task::spawn_local(async move {
            list.set(Some(
                household_api::invitations()
                    .await
                    .map_err(|e| e.to_string()),
            ));
        });
    };
    // In the browser only (effects do not run on the server).
    Effect::new(move |_| reload());
    let make = move |_| {
        busy.set(true);
        outcome.set(None);
        let req = InvitationRequest {
            expires_in_secs: Some(lifetime.get_untracked()),
        };
        leptos::task::spawn_local(async move {
            match household_api::invite(&req).await {
                Ok(invitation) => {
                    made.set(Some(invitation));
                    reload();
                }
                Err(error) => outcome.set(Some(Err(error.to_string()))),
            }
            busy.set(false);
        });
    };
    let copy = move |_| {
        let Some(link) = made.with_untracked(|m| m.as_ref().map(|m| m.link.clone())) else {
            return;
        };
        outcome.set(Some(if copy_text(&link) {
            Ok("Link copied.".into())
        } else {
            Err("This browser gives no clipboard to this page: select the link and copy it.".into())
        }));
    };
    // Read only once the list is here, in the browser.
    let open = move || {
        list.with(|l| match l {
            Some(Ok(all)) => {
                let now = js_sys::Date::now() as i64;
                all.iter().filter(|i| is_open(i, now)).cloned().collect()
            }
            _ => Vec::new(),
        })
    };
    view! {
        <section class="card household invitations">
            <h2>"Invitations"</h2>
            <p class="muted small">"Nobody can make an account here without one. Each link works once and expires."</p>
            <div class="inline">
                <label for="invitation-lifetime">"Lasts"</label>
                <select id="invitation-lifetime" on:change=move |ev| {
                    if let Ok(secs) = event_target_value(&ev).parse() { lifetime.set(secs) }
                }>
                    {LIFETIMES.into_iter().map(|(secs, label)| view! {
                        <option value=secs.to_string() selected=secs == LIFETIMES[1].0>{label}</option>
                    }).collect_view()}
                </select>
                <button type="button" class="primary" data-test="make-invitation" on:click=make disabled=move || busy.get()>"Make an invitation link"</button>
            </div>
            {move || made.get().map(|m| view! {
                <div class="new-invitation">
                    <label for="invitation-link">"Send this link to the person you invite"</label>
                    <div class="inline">
                        <input id="invitation-link" readonly=true prop:value=m.link.clone()/>
                        <button type="button" on:click=copy>"Copy"</button>
                    </div>
                    <p class="hint">"Shown this once. It works once, for "{format::duration(((m.expires_at - js_sys::Date::now() as i64).max(0) / 1000) as u64)}"."</p>
                </div>
            })}
            {outcome_view(outcome, "invitation")}
            {move || match list.get() {
                Some(Err(why)) => Some(Either::Left(view! { <p class="error" role="alert">{why}</p> })),
                Some(Ok(_)) if open().is_empty() => Some(Either::Right(view! { <p class="muted small" data-test="no-open-invitations">"No invitation is waiting to be used."</p> })),
                _ => None,
            }}
            <ul class="open-invitations">
                <For
                    each=open
                    key=|i| i.id.clone()
                    children=move |i| view! { <InvitationRow invitation=i on_revoked=move || reload()/> }
                />
            </ul>
        </section>
    }
}

#[component]
fn InvitationRow(
    invitation: Invitation,
    on_revoked: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let problem = RwSignal::new(None::<String>);
    let now = js_sys::Date::now() as i64;
    let left = format::duration(((invitation.expires_at - now).max(0) / 1000) as u64);
    let made = format::ago(invitation.created_at, now);
    let id = invitation.id.clone();
    let revoke = move |_| {
        if !confirm("Revoke this invitation? Its link stops working at once.") {
            return;
        }
        let id = id.clone();
        leptos::task::spawn_local(async move {
            match household_api::revoke_invitation(&id).await {
                Ok(()) => on_revoked(),
                Err(error) => problem.set(Some(error.to_string())),
            }
        });
    };
    view! {
        <li class="invitation" data-invitation=invitation.id.clone()>
            <span>"Made by "{invitation.created_by.clone()}" "{made}", expires in "<strong>{left}</strong></span>
            <button type="button" class="danger" on:click=revoke>"Revoke"</button>
            <p class="error" role="alert">{move || problem.get()}</p>
        </li>
    }
}

fn mode_text(mode: ArmingMode) -> &'static str {
    match mode {
        ArmingMode::Home => "home",
        ArmingMode::Away => "away",
        ArmingMode::Off => "off",
    }
}

#[component]
fn ArmingSection(admin: Signal<bool>) -> impl IntoView {
    let mode = RwSignal::new(None::<ArmingMode>);
    let outcome = RwSignal::new(None::<Result<String, String>>);
    Effect::new(move |_| {
        leptos::task::spawn_local(async move {
            match household_api::arming().await {
                Ok(arming) => mode.set(Some(arming.mode)),
                Err(error) => outcome.set(Some(Err(error.to_string()))),
            }
        });
    });
    let choose = move |chosen: ArmingMode| {
        let before = mode.get_untracked();
        mode.set(Some(chosen));
        outcome.set(None);
        leptos::task::spawn_local(async move {
            match household_api::set_arming(&Arming { mode: chosen }).await {
                Ok(arming) => {
                    mode.set(Some(arming.mode));
                    outcome.set(Some(Ok(format!("Armed: {}.", mode_text(arming.mode)))));
                }
                Err(error) => {
                    mode.set(before);
                    outcome.set(Some(Err(error.to_string())));
                }
            }
        });
    };
    let choices = [
        (ArmingMode::Away, "Away", "every camera's events notify"),
        (
            ArmingMode::Home,
            "Home",
            "only cameras set to notify always",
        ),
        (ArmingMode::Off, "Off", "no camera notifies"),
    ];
    view! {
        <section class="card household arming">
            <h2>"Arming"</h2>
            <fieldset class="permissions" data-mode=move || mode.get().map(mode_text)>
                <legend>"Which events notify the household"</legend>
                {choices.into_iter().map(|(value, label, what)| {
                    let id = format!("arming-{}", mode_text(value));
                    let for_id = id.clone();
                    view! {
                        <label class="check" for=for_id>
                            <input type="radio" name="arming" id=id value=mode_text(value)
                                prop:checked=move || mode.get() == Some(value)
                                disabled=move || !admin.get()
                                on:change=move |_| choose(value)/>
                            <strong>{label}</strong>": "{what}
                        </label>
                    }
                }).collect_view()}
            </fieldset>
            <Show when=move || !admin.get()>
                <p class="hint">"Only the household's admin changes this."</p>
            </Show>
            {outcome_view(outcome, "arming")}
        </section>
    }
}

/// The browser's offset from UTC now, in minutes east (`60` for UTC+1).
fn local_offset_minutes() -> i16 {
    -(js_sys::Date::new_0().get_timezone_offset() as i16)
}

fn offset_text(minutes: i16) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let m = minutes.unsigned_abs();
    if m.is_multiple_of(60) {
        format!("UTC{sign}{}", m / 60)
    } else {
        format!("UTC{sign}{}:{:02}", m / 60, m % 60)
    }
}

#[component]
fn QuietHoursSection() -> impl IntoView {
    let current = RwSignal::new(None::<QuietHours>);
    let start = RwSignal::new(String::from("22:00"));
    let end = RwSignal::new(String::from("07:00"));
    let outcome = RwSignal::new(None::<Result<String, String>>);
    // The browser's offset, known in the browser only.
    let offset = RwSignal::new(None::<i16>);
    Effect::new(move |_| {
        offset.set(Some(local_offset_minutes()));
        leptos::task::spawn_local(async move {
            match household_api::quiet_hours().await {
                Ok(Some(hours)) => {
                    start.set(hours.start.clone());
                    end.set(hours.end.clone());
                    current.set(Some(hours));
                }
                Ok(None) => {}
                Err(error) => outcome.set(Some(Err(error.to_string()))),
            }
        });
    });
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let hours = QuietHours {
            start: start.get_untracked(),
            end: end.get_untracked(),
            utc_offset_minutes: local_offset_minutes(),
        };
        outcome.set(None);
        leptos::task::spawn_local(async move {
            match household_api::set_quiet_hours(&hours).await {
                Ok(hours) => {
                    outcome.set(Some(Ok("Quiet hours saved.".into())));
                    current.set(Some(hours));
                }
                Err(error) => outcome.set(Some(Err(error.to_string()))),
            }
        });
    };
    let clear = move |_| {
        leptos::task::spawn_local(async move {
            match household_api::clear_quiet_hours().await {
                Ok(()) => {
                    current.set(None);
                    outcome.set(Some(Ok(
                        "No quiet hours: you are notified at any time.".into()
                    )));
                }
                Err(error) => outcome.set(Some(Err(error.to_string()))),
            }
        });
    };
    view! {
        <section class="card household quiet-hours">
            <h2>"Your quiet hours"</h2>
            <p class="muted small" data-test="quiet-hours-now">{move || match current.get() {
                Some(h) => format!("Not notified from {} to {} ({}).", h.start, h.end, offset_text(h.utc_offset_minutes)),
                None => "None: you are notified at any time.".to_string(),
            }}</p>
            <form class="inline" method="post" on:submit=save novalidate>
                <label for="quiet-start">"From"</label>
                <input id="quiet-start" type="time" bind:value=start required=true/>
                <label for="quiet-end">"to"</label>
                <input id="quiet-end" type="time" bind:value=end required=true/>
                <button type="submit" class="primary">"Save"</button>
                <Show when=move || current.with(Option::is_some)>
                    <button type="button" on:click=clear>"Clear"</button>
                </Show>
            </form>
            <p class="hint">"In this browser's time zone"{move || offset.get().map(|m| format!(" ({})", offset_text(m)))}"; after a change of daylight saving time, save again."</p>
            {outcome_view(outcome, "quiet-hours")}
        </section>
    }
}

#[component]
fn WebhookSection() -> impl IntoView {
    let current = RwSignal::new(None::<Webhook>);
    let url = RwSignal::new(String::new());
    let secret = RwSignal::new(String::new());
    let shown_secret = RwSignal::new(None::<String>);
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let busy = RwSignal::new(false);
    Effect::new(move |_| {
        leptos::task::spawn_local(async move {
            match household_api::webhook().await {
                Ok(hook) => current.set(hook),
                Err(error) => outcome.set(Some(Err(error.to_string()))),
            }
        });
    });
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let typed = secret.get_untracked().trim().to_owned();
        let req = WebhookRequest {
            url: url.get_untracked().trim().to_owned(),
            secret: (!typed.is_empty()).then_some(typed),
        };
        busy.set(true);
        outcome.set(None);
        leptos::task::spawn_local(async move {
            match household_api::set_webhook(&req).await {
                Ok(mut hook) => {
                    shown_secret.set(hook.secret.take());
                    current.set(Some(hook));
                    url.set(String::new());
                    secret.set(String::new());
                    outcome.set(Some(Ok("Webhook saved.".into())));
                }
                Err(error) => outcome.set(Some(Err(error.to_string()))),
            }
            busy.set(false);
        });
    };
    let remove = move |_| {
        if !confirm("Remove the webhook? Nothing more is posted to it.") {
            return;
        }
        leptos::task::spawn_local(async move {
            match household_api::remove_webhook().await {
                Ok(()) => {
                    current.set(None);
                    shown_secret.set(None);
                    outcome.set(Some(Ok("Webhook removed.".into())));
                }
                Err(error) => outcome.set(Some(Err(error.to_string()))),
            }
        });
    };
    view! {
        <section class="card household webhook">
            <h2>"Your webhook"</h2>
            <p class="muted small">"Each notification is also posted to this address (for Home Assistant or your own scripts), signed with its secret. No picture is ever sent."</p>
            {move || current.get().map(|hook| view! {
                <p data-test="webhook-now">"Posting to "<code>{hook.url}</code>" "
                    <button type="button" class="danger" data-test="remove-webhook" on:click=remove>"Remove"</button>
                </p>
            })}
            {move || shown_secret.get().map(|s| view! {
                <div class="new-secret">
                    <label for="webhook-secret-shown">"Its secret: copy it now, it is not shown again"</label>
                    <input id="webhook-secret-shown" readonly=true prop:value=s/>
                </div>
            })}
            <form method="post" on:submit=save novalidate>
                <div class="field">
                    <label for="webhook-url">{move || if current.with(Option::is_some) { "New address" } else { "Address" }}</label>
                    <input id="webhook-url" type="url" bind:value=url maxlength="2048" placeholder="https://ha.example.com/api/webhook/…"/>
                </div>
                <div class="field">
                    <label for="webhook-secret">"Secret (optional)"</label>
                    <input id="webhook-secret" type="password" autocomplete="off" bind:value=secret maxlength="128"/>
                    <p class="hint">"16 to 128 characters; left empty, the server makes one and shows it once."</p>
                </div>
                <button type="submit" class="primary" disabled=move || busy.get()>"Save webhook"</button>
            </form>
            {outcome_view(outcome, "webhook")}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_read_as_people_write_them() {
        assert_eq!(offset_text(60), "UTC+1");
        assert_eq!(offset_text(-300), "UTC-5");
        assert_eq!(offset_text(330), "UTC+5:30");
        assert_eq!(offset_text(0), "UTC+0");
    }

    #[test]
    fn an_invitation_is_open_until_used_or_expired() {
        let invitation = Invitation {
            id: "i".into(),
            created_by: "alice".into(),
            created_at: 0,
            expires_at: 100,
            used_at: None,
            used_by: None,
        };
        assert!(is_open(&invitation, 50));
        assert!(!is_open(&invitation, 100));
        let used = Invitation {
            used_at: Some(10),
            ..invitation
        };
        assert!(!is_open(&used, 50));
    }
}
