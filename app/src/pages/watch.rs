//! Watching: one camera, or several in a grid (`/watch?d=<id>,<id>`); one camera at one of its
//! events (`/watch?d=<id>&at=<start ms>`, where a notification leads).

use crate::components::camera::CameraTile;
use crate::components::require_user::RequireUser;
use crate::router::{Link, Location};
use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use mumu_shared::DeviceId;

/// The cameras named in the query, in order, without repeats.
pub fn devices_in(query: &str) -> Vec<DeviceId> {
    let mut ids: Vec<DeviceId> = Vec::new();
    for id in query.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !ids.iter().any(|known| known.as_str() == id) {
            ids.push(DeviceId::from(id));
        }
    }
    ids
}

#[component]
pub fn WatchPage() -> impl IntoView {
    let location = Location::get();
    let devices = move || devices_in(&location.query("d").unwrap_or_default());
    view! {
        <Title text="Watch"/>
        <RequireUser>
            {move || {
                let list = devices();
                let at = location.query("at").and_then(|at| at.parse().ok());
                if list.is_empty() {
                    return Either::Left(view! {
                        <section class="narrow">
                            <h1>"Watch"</h1>
                            <p>"No camera chosen. "<Link href="/">"Pick one on your dashboard"</Link></p>
                        </section>
                    });
                }
                let class = format!("grid tiles-{}", list.len().min(4));
                // One camera shows its recordings under it; a grid stays a wall of live video.
                let history = list.len() == 1;
                Either::Right(view! {
                    <h1 class="visually-hidden">"Watch"</h1>
                    <div class=class>
                        {list.into_iter().map(|id| view! { <CameraTile device_id=id history at/> }).collect_view()}
                    </div>
                })
            }}
        </RequireUser>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_lists_cameras_once_each() {
        let ids = devices_in(" a, b,,a ,c");
        let ids: Vec<&str> = ids.iter().map(DeviceId::as_str).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert!(devices_in("").is_empty());
    }
}
