//! Whose each camera is, for the dashboard: a camera shared with you says who shared it, and a
//! camera you own or administer leads to its sharing page. Presence over the socket is the same
//! for everyone who may watch a camera; this is per person, so it comes from `GET /api/devices`,
//! read again whenever the set of cameras on the dashboard changes (one shared or unshared).

use crate::household_api;
use crate::router::Link;
use crate::signaling::Signaling;
use leptos::prelude::*;
use mumu_shared::DeviceId;
use mumu_shared::api::AccessRole;

/// One camera's role for this person and, when it is shared with them, its owner's username.
#[derive(Clone, Debug, PartialEq)]
struct Whose {
    id: DeviceId,
    role: AccessRole,
    shared_by: Option<String>,
}

/// The dashboard's knowledge of whose each camera is.
#[derive(Clone, Copy)]
pub struct Ownership(RwSignal<Vec<Whose>>);

impl Ownership {
    /// Provides it for the cards below, and keeps it in step with the cameras listed.
    pub fn follow() -> Self {
        let signaling = Signaling::get();
        let ownership = Self(RwSignal::new(Vec::new()));
        provide_context(ownership);
        let ids = Memo::new(move |_| {
            signaling.devices.with(|list| {
                let mut ids: Vec<String> = list
                    .iter()
                    .map(|d| d.device_id.as_str().to_owned())
                    .collect();
                ids.sort();
                ids
            })
        });
        Effect::new(move |_| {
            if ids.with(Vec::is_empty) {
                return;
            }
            leptos::task::spawn_local(async move {
                // Unreadable now: the marks stay as they were; the next change reads again.
                if let Ok(devices) = household_api::devices().await {
                    ownership.0.set(
                        devices
                            .into_iter()
                            .map(|d| Whose {
                                id: d.id,
                                role: d.role,
                                shared_by: d.shared_by,
                            })
                            .collect(),
                    );
                }
            });
        });
        ownership
    }

    fn of(self, id: &DeviceId) -> Option<Whose> {
        self.0
            .with(|list| list.iter().find(|w| &w.id == id).cloned())
    }
}

/// "Shared by <owner>" on a camera shared with this person; nothing on their own.
#[component]
pub fn SharedByMark(device_id: DeviceId) -> impl IntoView {
    let ownership = use_context::<Ownership>();
    let owner = move || {
        ownership
            .and_then(|o| o.of(&device_id))
            .and_then(|w| w.shared_by)
    };
    move || {
        owner().map(|owner| {
            let name = owner.clone();
            view! {
                <p class="shared-by small" data-test="shared-by" data-owner=owner>
                    "Shared by "<strong>{name}</strong>
                </p>
            }
        })
    }
}

/// A link to the camera's sharing page, for its owner and its admins.
#[component]
pub fn SharingLink(device_id: DeviceId) -> impl IntoView {
    let ownership = use_context::<Ownership>();
    let href = format!("/sharing?d={}", device_id.as_str());
    let manages = move || {
        ownership
            .and_then(|o| o.of(&device_id))
            .is_some_and(|w| matches!(w.role, AccessRole::Owner | AccessRole::Admin))
    };
    move || {
        manages().then(|| {
            view! { <Link href=href.clone() attr:class="button" attr:data-test="sharing-link">"Sharing"</Link> }
        })
    }
}
