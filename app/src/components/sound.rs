//! A tile's sound: the camera's sound plays muted until the person asks for it (browsers play
//! sound only after a gesture), with an unmute button and a volume, and the choice is kept per
//! camera in this browser (`localStorage`). A camera that sends no sound says so.

use leptos::either::EitherOf3;
use leptos::html;
use leptos::prelude::*;
use mumu_shared::DeviceId;
use send_wrapper::SendWrapper;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::MediaStream;

/// What this browser remembers of a camera's sound.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoundChoice {
    /// The person turned the sound on.
    pub on: bool,
    /// 0 to 1.
    pub volume: f64,
}

impl Default for SoundChoice {
    /// Muted (what a page may do without a gesture), at full volume once turned on.
    fn default() -> Self {
        Self {
            on: false,
            volume: 1.0,
        }
    }
}

impl SoundChoice {
    /// As kept: `on 0.8`, `off 1`.
    pub fn to_stored(self) -> String {
        format!(
            "{} {}",
            if self.on { "on" } else { "off" },
            (self.volume * 100.0).round() / 100.0
        )
    }

    /// What [`SoundChoice::to_stored`] wrote; anything else (another version's, edited by
    /// hand, too long) is the default.
    pub fn from_stored(text: &str) -> Self {
        let parsed = (text.len() <= 16)
            .then(|| text.split_once(' '))
            .flatten()
            .and_then(|(on, volume)| {
                let on = match on {
                    "on" => true,
                    "off" => false,
                    _ => return None,
                };
                let volume: f64 = volume.parse().ok().filter(|v: &f64| v.is_finite())?;
                Some(Self {
                    on,
                    volume: volume.clamp(0.0, 1.0),
                })
            });
        parsed.unwrap_or_default()
    }
}

/// The key a camera's choice is kept under.
fn key(device_id: &DeviceId) -> String {
    format!("mumu.sound.{}", device_id.as_str())
}

/// `localStorage.<method>(args)`, or `None` where there is none (a private window that refuses
/// it, storage turned off). Read by name: the app's web-sys binds no `Storage`.
fn storage_call(method: &str, args: &[&str]) -> Option<JsValue> {
    let window = web_sys::window()?;
    let storage = js_sys::Reflect::get(&window, &"localStorage".into()).ok()?;
    if storage.is_null() || storage.is_undefined() {
        return None;
    }
    let function = js_sys::Reflect::get(&storage, &method.into())
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()?;
    let args: js_sys::Array = args.iter().map(|a| JsValue::from_str(a)).collect();
    function.apply(&storage, &args).ok()
}

fn load(device_id: &DeviceId) -> SoundChoice {
    storage_call("getItem", &[&key(device_id)])
        .and_then(|v| v.as_string())
        .map(|text| SoundChoice::from_stored(&text))
        .unwrap_or_default()
}

fn save(device_id: &DeviceId, choice: SoundChoice) {
    storage_call("setItem", &[&key(device_id), &choice.to_stored()]);
}

/// Whether the person has interacted with this page yet (`navigator.userActivation`; a
/// browser without it is taken at its word when it plays).
fn page_was_used() -> bool {
    let get = |target: &JsValue, name: &str| {
        js_sys::Reflect::get(target, &name.into())
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
    };
    let activation = web_sys::window()
        .and_then(|w| get(&w, "navigator"))
        .and_then(|n| get(&n, "userActivation"));
    match activation {
        Some(a) => get(&a, "hasBeenActive").is_some_and(|v| v.is_truthy()),
        None => true,
    }
}

/// The sound controls of the tile whose `<video>` is `video`, playing `stream`.
#[component]
pub fn SoundControls(
    device_id: DeviceId,
    video: NodeRef<html::Video>,
    stream: RwSignal<Option<SendWrapper<MediaStream>>>,
) -> impl IntoView {
    // Read once in the browser (an effect: the server's page, rendered without it, must
    // hydrate as it was).
    let choice = RwSignal::new(SoundChoice::default());
    // Sound may play: the page has had a gesture. A choice remembered as on waits for one.
    let allowed = RwSignal::new(false);
    let has_sound =
        Memo::new(move |_| stream.with(|s| s.as_ref().map(|s| s.get_audio_tracks().length() > 0)));
    let playing = move || choice.get().on && allowed.get() && has_sound.get() == Some(true);

    let stored = device_id.clone();
    Effect::new(move |_| {
        choice.set(load(&stored));
        if page_was_used() {
            allowed.set(true);
            return;
        }
        let pointer = window_event_listener(leptos::ev::pointerdown, move |_| allowed.set(true));
        let key = window_event_listener(leptos::ev::keydown, move |_| allowed.set(true));
        on_cleanup(move || {
            pointer.remove();
            key.remove();
        });
    });

    // The element follows the choice; a browser that still refuses to play sound gets the
    // picture back muted, and the sound waits for the next gesture.
    Effect::new(move |_| {
        let Some(element) = video.get() else { return };
        let on = playing();
        element.set_volume(choice.get().volume);
        if element.muted() != on {
            return;
        }
        element.set_muted(!on);
        if on && let Ok(promise) = element.play() {
            let element = SendWrapper::new(element);
            leptos::task::spawn_local(async move {
                // Only a refusal counts: a play interrupted by the stream arriving or changing
                // (`AbortError`) goes on by itself.
                let Err(error) = wasm_bindgen_futures::JsFuture::from(promise).await else {
                    return;
                };
                let name = js_sys::Reflect::get(&error, &"name".into()).ok();
                if name.and_then(|n| n.as_string()).as_deref() == Some("NotAllowedError") {
                    element.set_muted(true);
                    let _ = element.play();
                    allowed.set(false);
                }
            });
        }
    });

    let remember = move |new: SoundChoice| {
        choice.set(new);
        save(&device_id, new);
    };
    let remember_toggle = remember.clone();
    let toggle = move |_| {
        allowed.set(true);
        let now = choice.get_untracked();
        remember_toggle(SoundChoice {
            on: !playing(),
            ..now
        });
    };
    let set_volume = move |ev: leptos::ev::Event| {
        let Ok(volume) = event_target_value(&ev).parse::<f64>() else {
            return;
        };
        allowed.set(true);
        // Turning the volume up is asking to hear it.
        remember(SoundChoice {
            on: volume > 0.0,
            volume: volume.clamp(0.0, 1.0),
        });
    };

    move || match has_sound.get() {
        None => EitherOf3::A(()),
        Some(false) => EitherOf3::B(view! {
            <span class="sound none" data-sound="none" title="This camera sends no sound: its owner has not turned its microphone on">
                "No sound"
            </span>
        }),
        Some(true) => EitherOf3::C(view! {
            <span class="sound" data-sound=move || if playing() { "on" } else { "muted" }>
                <button
                    type="button"
                    class="mute"
                    title=move || if playing() { "Mute this camera" } else { "Hear this camera" }
                    on:click=toggle.clone()
                >{move || if playing() { "Mute" } else { "Unmute" }}</button>
                <input
                    type="range"
                    class="volume"
                    min="0"
                    max="1"
                    step="0.05"
                    aria-label="Volume"
                    prop:value=move || choice.get().volume.to_string()
                    on:input=set_volume.clone()
                />
            </span>
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_choice_is_kept_and_read_back() {
        for choice in [
            SoundChoice::default(),
            SoundChoice {
                on: true,
                volume: 0.35,
            },
            SoundChoice {
                on: false,
                volume: 0.0,
            },
        ] {
            assert_eq!(SoundChoice::from_stored(&choice.to_stored()), choice);
        }
        assert_eq!(
            SoundChoice {
                on: true,
                volume: 1.0
            }
            .to_stored(),
            "on 1"
        );
    }

    #[test]
    fn anything_else_kept_is_muted_at_full_volume() {
        let long = "on 1".repeat(10);
        for text in ["", "on", "yes 1", "on loud", "on NaN", "on inf", &long] {
            assert_eq!(
                SoundChoice::from_stored(text),
                SoundChoice::default(),
                "{text:?}"
            );
        }
        assert_eq!(SoundChoice::from_stored("on 7").volume, 1.0);
        assert_eq!(SoundChoice::from_stored("on -1").volume, 0.0);
    }
}
