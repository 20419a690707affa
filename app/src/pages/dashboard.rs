//! The dashboard: every camera the user may watch, online or offline as it happens (pushed over
//! the viewer socket), when it was last seen, what it is doing; rename, remove, watch.

use crate::api;
use crate::components::camera::{WatchClick, now_ms};
use crate::components::ownership::{Ownership, SharedByMark, SharingLink};
use crate::components::require_user::RequireUser;
use crate::components::show::{Show, ShowElse};
use crate::format;
use crate::router::Link;
use crate::signaling::Signaling;
use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use mumu_shared::signaling::DevicePresence;
use mumu_shared::validate;
use std::time::Duration;

#[component]
pub fn Dashboard() -> impl IntoView {
    view! {
        <Title text="Cameras"/>
        <RequireUser>
            <DeviceList/>
        </RequireUser>
    }
}

#[component]
fn DeviceList() -> impl IntoView {
    let signaling = Signaling::get();
    Ownership::follow();
    // "Last seen" moves on by itself.
    let now = RwSignal::new(0.0_f64);
    Effect::new(move |_| {
        now.set(js_sys::Date::now());
        let ticker = set_interval_with_handle(
            move || now.set(js_sys::Date::now()),
            Duration::from_secs(20),
        );
        if let Ok(ticker) = ticker {
            on_cleanup(move || ticker.clear());
        }
    });
    let online_ids = move || {
        signaling.devices.with(|list| {
            list.iter()
                .filter(|d| d.online)
                .map(|d| d.device_id.as_str().to_string())
                .collect::<Vec<_>>()
        })
    };
    view! {
        <section>
            <div class="page-head">
                <h1>"Your cameras"</h1>
                <div class="actions">
                    <Show when=move || { online_ids().len() > 1 }>
                        <Link href=move || format!("/watch?d={}", online_ids().join(",")) attr:class="button">"Watch all online"</Link>
                    </Show>
                    <Link href="/pair" attr:class="button primary">"Pair a camera"</Link>
                </div>
            </div>
            <ShowElse
                when=move || signaling.loaded.get()
                fallback=|| view! { <p class="muted" role="status">"Loading your cameras…"</p> }
            >
                <ShowElse
                    when=move || signaling.devices.with(|d| !d.is_empty())
                    fallback=|| view! {
                        <div class="empty card">
                            <p>"No cameras yet."</p>
                            <p>"Start "<code>"mumu-agent"</code>" on a Raspberry Pi (or "<code>"mumu-agent --simulate"</code>" anywhere), then "<Link href="/pair">"pair it with the code it prints"</Link>"."</p>
                        </div>
                    }
                >
                    <ul class="devices" aria-live="polite">
                        <For
                            each=move || signaling.devices.get()
                            key=|d| (d.device_id.clone(), d.name.clone(), d.online, d.last_seen, d.status.as_ref().map(|s| (s.viewers, s.uptime_s / 60)))
                            children=move |device| view! { <DeviceCard device now/> }
                        />
                    </ul>
                </ShowElse>
            </ShowElse>
        </section>
    }
}

#[component]
fn DeviceCard(device: DevicePresence, now: RwSignal<f64>) -> impl IntoView {
    let click = use_context::<WatchClick>();
    let id = device.device_id.as_str().to_string();
    let renaming = RwSignal::new(false);
    let new_name = RwSignal::new(device.name.clone());
    let problem = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    let last_seen = device.last_seen;
    let seen = move || match (device.online, last_seen) {
        (true, _) => "Online now".to_string(),
        (false, Some(at)) if now.get() > 0.0 => {
            format!("Last seen {}", format::ago(at, now.get() as i64))
        }
        (false, Some(_)) => "Offline".to_string(),
        (false, None) => "Never connected".to_string(),
    };
    let status = device.status.clone().map(|s| {
        let mut parts = vec![
            match s.viewers {
                1 => "1 viewer".to_string(),
                n => format!("{n} viewers"),
            },
            format!("up {}", format::duration(s.uptime_s)),
        ];
        parts.extend(s.source.map(|v| format!("source {v}")));
        parts.extend(s.encoder.map(|v| format!("encoder {v}")));
        parts.extend(
            s.cpu_temp_c
                .map(|t| format!("{} °C", format::fixed(f64::from(t), 0))),
        );
        parts.join(" · ")
    });

    let rename = {
        let id = id.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let name = match validate::device_name(&new_name.get_untracked()) {
                Ok(name) => name,
                Err(why) => {
                    problem.set(Some(why));
                    return;
                }
            };
            busy.set(true);
            let id = id.clone();
            leptos::task::spawn_local(async move {
                // The new name comes back over the socket as presence.
                match api::rename(&id, &name).await {
                    Ok(_) => {
                        problem.set(None);
                        renaming.set(false);
                    }
                    Err(error) => problem.set(Some(error.to_string())),
                }
                busy.set(false);
            });
        }
    };
    let remove = {
        let (id, name) = (id.clone(), device.name.clone());
        move |_| {
            let sure = web_sys::window()
                .and_then(|w| {
                    w.confirm_with_message(&format!(
                        "Remove “{name}”? The camera stops working with this account until it is paired again."
                    ))
                    .ok()
                })
                .unwrap_or(false);
            if !sure {
                return;
            }
            busy.set(true);
            let id = id.clone();
            leptos::task::spawn_local(async move {
                // Success shows as `device_removed` over the socket.
                if let Err(error) = api::remove(&id).await {
                    problem.set(Some(error.to_string()));
                }
                busy.set(false);
            });
        }
    };
    let watch_href = format!("/watch?d={id}");
    let heading_id = format!("device-{id}");
    let input_id = format!("rename-{id}");

    view! {
        <li class="device card" data-device=id.clone() data-online=device.online.to_string() aria-labelledby=heading_id.clone()>
            <div class="device-head">
                <h2 id=heading_id.clone()>{device.name.clone()}</h2>
                <span class=if device.online { "badge online" } else { "badge offline" }>
                    {if device.online { "Online" } else { "Offline" }}
                </span>
            </div>
            <p class="muted">{seen}</p>
            <SharedByMark device_id=device.device_id.clone()/>
            {status.map(|s| view! { <p class="muted small">{s}</p> })}
            <Show when=move || renaming.get()>
                <form class="inline" on:submit=rename.clone()>
                    <label for=input_id.clone() class="visually-hidden">"New name"</label>
                    <input id=input_id.clone() bind:value=new_name required=true maxlength="64"/>
                    <button type="submit" class="primary" disabled=move || busy.get()>"Save"</button>
                    <button type="button" on:click=move |_| renaming.set(false)>"Cancel"</button>
                </form>
            </Show>
            <p class="error" role="alert">{move || problem.get()}</p>
            <div class="controls">
                {if device.online {
                    Either::Left(view! {
                        <Link href=watch_href attr:class="button primary" on:click=move |_| {
                            if let Some(c) = click { c.0.set(Some(now_ms())); }
                        }>"Watch"</Link>
                    })
                } else {
                    Either::Right(view! { <span class="button disabled" aria-disabled="true">"Watch"</span> })
                }}
                <SharingLink device_id=device.device_id.clone()/>
                <button type="button" on:click=move |_| renaming.set(true) disabled=move || busy.get()>"Rename"</button>
                <button type="button" class="danger" on:click=remove disabled=move || busy.get()>"Remove"</button>
            </div>
        </li>
    }
}
