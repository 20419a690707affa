//! A camera's sharing page (`/sharing?d=<id>`), for its owner and its admins: share it with
//! someone by their username or account email, as a viewer or an admin, with what they may do
//! (see recordings, get notifications, talk); everyone it is shared with, their role and
//! permissions changed in place; revoke, which ends their watch at once; and how the camera
//! notifies (its cooldown, whether it notifies while the household is armed Home). Every share
//! call of the REST API is here; a refusal is shown as the server words it.

use crate::components::confirm::confirm;
use crate::components::require_user::RequireUser;
use crate::format;
use crate::household_api;
use crate::router::{Link, Location};
use crate::signaling::Signaling;
use leptos::either::{Either, EitherOf3};
use leptos::prelude::*;
use leptos_meta::Title;
use mumu_shared::DeviceId;
use mumu_shared::api::{
    CameraNotifications, Share, ShareRequest, ShareRole, UpdateCameraNotifications,
    UpdateShareRequest,
};

#[component]
pub fn Sharing() -> impl IntoView {
    let location = Location::get();
    view! {
        <Title text="Sharing"/>
        <RequireUser>
            {move || match location.query("d").filter(|d| !d.trim().is_empty()) {
                Some(id) => Either::Left(view! { <CameraSharing device_id=DeviceId::from(id.trim())/> }),
                None => Either::Right(view! {
                    <section class="narrow">
                        <h1>"Sharing"</h1>
                        <p>"No camera chosen. "<Link href="/">"Pick one on your dashboard"</Link></p>
                    </section>
                }),
            }}
        </RequireUser>
    }
}

fn role_text(role: ShareRole) -> &'static str {
    match role {
        ShareRole::Viewer => "viewer",
        ShareRole::Admin => "admin",
    }
}

fn role_of(text: &str) -> ShareRole {
    if text == "admin" {
        ShareRole::Admin
    } else {
        ShareRole::Viewer
    }
}

/// The list with `share` in place of the one of the same person (or added), by username.
fn with_share(list: &mut Vec<Share>, share: Share) {
    match list.iter_mut().find(|s| s.username == share.username) {
        Some(known) => *known = share,
        None => list.push(share),
    }
    list.sort_by_key(|s| s.username.to_lowercase());
}

#[component]
fn CameraSharing(device_id: DeviceId) -> impl IntoView {
    let signaling = Signaling::get();
    let id = device_id.as_str().to_owned();
    let name = {
        let device_id = device_id.clone();
        move || {
            signaling
                .device(&device_id)
                .map(|d| d.name)
                .unwrap_or_else(|| "this camera".into())
        }
    };
    // None while loading; the server's refusal (not the owner or an admin, no such camera).
    let shares = RwSignal::new(None::<Result<Vec<Share>, String>>);
    // In the browser only (effects do not run on the server, which renders "Loading").
    Effect::new({
        let id = id.clone();
        move |_| {
            let id = id.clone();
            leptos::task::spawn_local(async move {
                shares.set(Some(
                    household_api::shares(&id)
                        .await
                        .map_err(|error| error.to_string()),
                ));
            });
        }
    });
    let list = move || {
        shares.with(|s| match s {
            Some(Ok(list)) => list.clone(),
            _ => Vec::new(),
        })
    };
    let changed = move |share: Share| {
        shares.update(|s| {
            if let Some(Ok(list)) = s {
                with_share(list, share);
            }
        });
    };
    let gone = move |username: String| {
        shares.update(|s| {
            if let Some(Ok(list)) = s {
                list.retain(|s| s.username != username);
            }
        });
    };

    view! {
        <section class="card sharing">
            <div class="page-head">
                <h1>"Sharing “"{name.clone()}"”"</h1>
                <Link href="/" attr:class="button">"Back to cameras"</Link>
            </div>
            {move || match shares.get() {
                None => EitherOf3::A(view! { <p class="muted" role="status">"Loading who can watch…"</p> }),
                Some(Err(why)) => EitherOf3::B(view! { <p class="error" role="alert" data-test="shares-error">{why}</p> }),
                Some(Ok(_)) => EitherOf3::C(()),
            }}
            <Invite device_id=id.clone() on_shared=changed/>
            <h2>"Who can watch"</h2>
            <p class="muted small" data-test="shares-empty" hidden=move || !list().is_empty() || !matches!(shares.get(), Some(Ok(_)))>
                "Nobody but you yet."
            </p>
            <ul class="shares">
                <For
                    each=list
                    key=|s| (s.username.clone(), s.role, s.recordings, s.notifications, s.talk)
                    children={
                        let (id, name) = (id.clone(), name.clone());
                        move |share| view! { <ShareRow device_id=id.clone() camera=name() share on_changed=changed on_revoked=gone/> }
                    }
                />
            </ul>
            <CameraNotifying device_id=id.clone()/>
        </section>
    }
}

/// The cooldowns offered, in seconds, with their words; a value set otherwise (through the
/// API) is shown as it is.
const COOLDOWNS: [(u32, &str); 6] = [
    (0, "none"),
    (30, "30 seconds"),
    (60, "1 minute"),
    (300, "5 minutes"),
    (900, "15 minutes"),
    (3600, "1 hour"),
];

/// How the camera notifies: after a notification, how long its next events stay quiet, and
/// whether it notifies while the household is armed Home.
#[component]
fn CameraNotifying(device_id: String) -> impl IntoView {
    let settings = RwSignal::new(None::<CameraNotifications>);
    let problem = RwSignal::new(None::<String>);
    Effect::new({
        let id = device_id.clone();
        move |_| {
            let id = id.clone();
            leptos::task::spawn_local(async move {
                match household_api::camera_notifications(&id).await {
                    Ok(now) => settings.set(Some(now)),
                    Err(error) => problem.set(Some(error.to_string())),
                }
            });
        }
    });
    let send = move |update: UpdateCameraNotifications| {
        let id = device_id.clone();
        problem.set(None);
        leptos::task::spawn_local(async move {
            match household_api::update_camera_notifications(&id, &update).await {
                Ok(now) => settings.set(Some(now)),
                Err(error) => {
                    problem.set(Some(error.to_string()));
                    // What the camera still has, shown again in the controls.
                    settings.update(|_| {});
                }
            }
        });
    };
    let cooldown = move || settings.with(|s| s.as_ref().map_or(60, |s| s.cooldown_secs));
    let options = move || {
        let now = cooldown();
        let mut offered: Vec<(u32, String)> = COOLDOWNS
            .iter()
            .map(|(secs, words)| (*secs, (*words).to_owned()))
            .collect();
        if !offered.iter().any(|(secs, _)| *secs == now) {
            offered.push((now, format!("{now} seconds")));
        }
        offered
            .into_iter()
            .map(|(secs, words)| {
                view! { <option value=secs.to_string() selected=secs == now>{words}</option> }
            })
            .collect_view()
    };
    let on_cooldown = {
        let send = send.clone();
        move |ev: leptos::ev::Event| {
            if let Ok(secs) = event_target_value(&ev).parse::<u32>() {
                send(UpdateCameraNotifications {
                    cooldown_secs: Some(secs),
                    ..UpdateCameraNotifications::default()
                });
            }
        }
    };
    let on_always = move |ev: leptos::ev::Event| {
        send(UpdateCameraNotifications {
            always: Some(event_target_checked(&ev)),
            ..UpdateCameraNotifications::default()
        });
    };
    view! {
        <h2>"Notifications"</h2>
        <div class="camera-notifying" data-test="camera-notifying" hidden=move || settings.with(Option::is_none)>
            <label for="cooldown">"After a notification, stay quiet for"</label>
            <select id="cooldown" on:change=on_cooldown>{options}</select>
            <label class="check">
                <input
                    type="checkbox"
                    id="notify-always"
                    prop:checked=move || settings.with(|s| s.as_ref().is_some_and(|s| s.always))
                    on:change=on_always
                />
                "Notify even while the household is armed Home"
            </label>
        </div>
        <p class="error" role="alert" data-test="camera-notifying-error">{move || problem.get()}</p>
    }
}

/// The permissions' boxes, the same in the invitation and in each row.
const PERMISSIONS: [(&str, &str); 3] = [
    ("recordings", "May see recordings"),
    ("notifications", "Gets notifications"),
    ("talk", "May talk"),
];

#[component]
fn Invite(
    device_id: String,
    on_shared: impl Fn(Share) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let who = RwSignal::new(String::new());
    let role = RwSignal::new(ShareRole::Viewer);
    let allowed = [
        RwSignal::new(false),
        RwSignal::new(true),
        RwSignal::new(false),
    ];
    let busy = RwSignal::new(false);
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let name = who.get_untracked().trim().to_owned();
        if busy.get_untracked() {
            return;
        }
        if name.is_empty() {
            outcome.set(Some(Err(
                "Type the person's username or the email address of their account.".into(),
            )));
            return;
        }
        let req = ShareRequest {
            username: name,
            role: role.get_untracked(),
            recordings: allowed[0].get_untracked(),
            notifications: allowed[1].get_untracked(),
            talk: allowed[2].get_untracked(),
        };
        busy.set(true);
        outcome.set(None);
        let id = device_id.clone();
        leptos::task::spawn_local(async move {
            match household_api::share(&id, &req).await {
                Ok(share) => {
                    outcome.set(Some(Ok(format!(
                        "{} can watch it now, as {}.",
                        share.username,
                        role_text(share.role)
                    ))));
                    who.set(String::new());
                    on_shared(share);
                }
                Err(error) => outcome.set(Some(Err(error.to_string()))),
            }
            busy.set(false);
        });
    };
    view! {
        <form class="invite-share" method="post" on:submit=submit novalidate>
            <h2>"Share with someone"</h2>
            <p class="muted small">"They need an account on this server: invite them from "<Link href="/household">"Household"</Link>" first."</p>
            <div class="field">
                <label for="share-with">"Username or email"</label>
                <input id="share-with" name="share-with" autocomplete="off" bind:value=who maxlength="254"/>
            </div>
            <div class="field">
                <label for="share-role">"Role"</label>
                <select id="share-role" on:change=move |ev| role.set(role_of(&event_target_value(&ev)))>
                    <option value="viewer" selected=true>"Viewer: watches"</option>
                    <option value="admin">"Admin: watches and manages who else may"</option>
                </select>
            </div>
            <fieldset class="permissions">
                <legend>"What they may do"</legend>
                {PERMISSIONS.into_iter().zip(allowed).map(|((key, label), value)| {
                    let id = format!("share-{key}");
                    let for_id = id.clone();
                    view! {
                        <label class="check" for=for_id>
                            <input type="checkbox" id=id prop:checked=move || value.get()
                                on:change=move |ev| value.set(event_target_checked(&ev))/>
                            {label}
                        </label>
                    }
                }).collect_view()}
            </fieldset>
            <button type="submit" class="primary" disabled=move || busy.get()>
                {move || if busy.get() { "Sharing…" } else { "Share" }}
            </button>
            {move || outcome.get().map(|result| match result {
                Ok(text) => Either::Left(view! { <p class="success" role="status" data-test="share-ok">{text}</p> }),
                Err(text) => Either::Right(view! { <p class="error" role="alert" data-test="share-error">{text}</p> }),
            })}
        </form>
    }
}

/// One person the camera is shared with: their role and permissions, each changed as soon as it
/// is clicked, and revoke.
#[component]
fn ShareRow(
    device_id: String,
    camera: String,
    share: Share,
    on_changed: impl Fn(Share) + Copy + Send + Sync + 'static,
    on_revoked: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let problem = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let username = share.username.clone();
    // Sends one change; on a refusal, says why and puts the control back (`undo`).
    let send = {
        let (id, username) = (device_id.clone(), username.clone());
        move |update: UpdateShareRequest, undo: Box<dyn FnOnce()>| {
            let (id, username) = (id.clone(), username.clone());
            busy.set(true);
            problem.set(None);
            leptos::task::spawn_local(async move {
                match household_api::update_share(&id, &username, &update).await {
                    Ok(share) => on_changed(share),
                    Err(error) => {
                        undo();
                        problem.set(Some(error.to_string()));
                    }
                }
                busy.set(false);
            });
        }
    };
    let values = [share.recordings, share.notifications, share.talk];
    let boxes = PERMISSIONS
        .into_iter()
        .zip(values)
        .map(|((key, label), on)| {
            let send = send.clone();
            let change = move |ev: leptos::ev::Event| {
                let checked = event_target_checked(&ev);
                let input: web_sys::HtmlInputElement = event_target(&ev);
                let mut update = UpdateShareRequest::default();
                match key {
                    "recordings" => update.recordings = Some(checked),
                    "notifications" => update.notifications = Some(checked),
                    _ => update.talk = Some(checked),
                }
                send(update, Box::new(move || input.set_checked(!checked)));
            };
            view! {
                <label class="check">
                    <input type="checkbox" data-permission=key prop:checked=on on:change=change disabled=move || busy.get()/>
                    {label}
                </label>
            }
        })
        .collect_view();
    let change_role = {
        let send = send.clone();
        let before = role_text(share.role);
        move |ev: leptos::ev::Event| {
            let update = UpdateShareRequest {
                role: Some(role_of(&event_target_value(&ev))),
                ..UpdateShareRequest::default()
            };
            let select = ev.target();
            send(
                update,
                Box::new(move || {
                    if let Some(select) = select {
                        let _ = js_sys::Reflect::set(&select, &"value".into(), &before.into());
                    }
                }),
            );
        }
    };
    let revoke = {
        let (id, username) = (device_id.clone(), username.clone());
        move |_| {
            if !confirm(&format!(
                "Stop sharing “{camera}” with {username}? If they are watching, their view ends at once."
            )) {
                return;
            }
            let (id, username) = (id.clone(), username.clone());
            busy.set(true);
            leptos::task::spawn_local(async move {
                match household_api::unshare(&id, &username).await {
                    Ok(()) => on_revoked(username),
                    Err(error) => {
                        problem.set(Some(error.to_string()));
                        busy.set(false);
                    }
                }
            });
        }
    };
    let since = format::ago(share.granted_at, js_sys::Date::now() as i64);
    let role_id = format!("role-{}", share.username);
    view! {
        <li class="share card" data-username=share.username.clone() data-role=role_text(share.role)>
            <div class="device-head">
                <h3>{share.username.clone()}</h3>
                <span class="muted small">"since "{since}</span>
            </div>
            <label for=role_id.clone() class="visually-hidden">"Role of "{share.username.clone()}</label>
            <select id=role_id class="role" on:change=change_role disabled=move || busy.get()>
                <option value="viewer" selected=share.role == ShareRole::Viewer>"Viewer"</option>
                <option value="admin" selected=share.role == ShareRole::Admin>"Admin"</option>
            </select>
            <div class="permissions">{boxes}</div>
            <p class="error" role="alert">{move || problem.get()}</p>
            <button type="button" class="danger revoke" on:click=revoke disabled=move || busy.get()>"Revoke"</button>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(name: &str, recordings: bool) -> Share {
        Share {
            username: name.into(),
            granted_at: 1,
            role: ShareRole::Viewer,
            recordings,
            notifications: true,
            talk: false,
        }
    }

    #[test]
    fn a_changed_share_takes_its_place_and_a_new_one_is_sorted_in() {
        let mut list = vec![share("bob", false), share("dave", false)];
        with_share(&mut list, share("bob", true));
        with_share(&mut list, share("Carol", false));
        let names: Vec<_> = list
            .iter()
            .map(|s| (s.username.as_str(), s.recordings))
            .collect();
        assert_eq!(names, [("bob", true), ("Carol", false), ("dave", false)]);
    }

    #[test]
    fn roles_read_back_as_written() {
        for role in [ShareRole::Viewer, ShareRole::Admin] {
            assert_eq!(role_of(role_text(role)), role);
        }
        assert_eq!(role_of("owner"), ShareRole::Viewer, "never more than asked");
    }
}
