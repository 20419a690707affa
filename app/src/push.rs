//! Web Push from the browser's side: whether this browser can be notified at all (and, if not,
//! why, in words a person can act on), "Notify me" on and off for a camera, and forgetting the
//! browser's subscription at logout. The service worker that shows the notifications is
//! `app/public/sw.js`; the server's side is `server/src/push/` (docs/events.md, "Push
//! notifications").
//!
//! Turning on, in order: the permission is asked inside the click (browsers refuse to ask
//! otherwise), the service worker registered, the server's VAPID key fetched, the browser
//! subscribed to its push service with it, the subscription given to the server, and the
//! camera added to it.

use crate::api::{self, ApiError, js_error_text};
use mumu_shared::push::{NotifyMe, PushKey, PushSubscription, PushSubscriptionRequest};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// How long the browser's push service may take to subscribe. A phone on a slow network takes
/// a few seconds; a browser that cannot reach its push service at all (Chromium offline: its
/// service is Google's) never answers, and the person deserves to be told.
const SUBSCRIBE_TIMEOUT_MS: i32 = 20_000;

/// Why this browser cannot be notified, when it cannot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unavailable {
    /// A page over plain http at an address other than localhost: no push without https.
    Insecure,
    /// No service workers, Push API or notifications (an iPhone's Safari outside a Home Screen
    /// web app, an old browser, a private window in some browsers).
    Unsupported,
    /// The person (or a policy) blocked notifications for this site.
    Blocked,
}

impl Unavailable {
    /// What to tell the person.
    pub fn why(self) -> &'static str {
        match self {
            Self::Insecure => {
                "Notifications need https: see docs/events.md. This page came over plain http, \
                 where browsers offer no push."
            }
            Self::Unsupported => {
                "This browser cannot receive push notifications. On an iPhone or iPad, add MuMu \
                 to the Home Screen and open it from there."
            }
            Self::Blocked => {
                "Notifications are blocked for this site: allow them in the browser's site \
                 settings, then try again."
            }
        }
    }
}

// The browser's objects are reached by name (`Reflect`), not through web-sys's typed bindings:
// the same calls, without the web-sys features that would rebuild the whole Leptos stack, and
// a missing API (no `Notification` in an iPhone's Safari tab) is an absent value, not a throw.

fn window() -> Option<web_sys::Window> {
    web_sys::window()
}

/// `target[name]`, if it is there.
fn get(target: &JsValue, name: &str) -> Option<JsValue> {
    js_sys::Reflect::get(target, &name.into())
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// `target[method](...args)`; an exception as its text.
fn call(target: &JsValue, method: &str, args: &[&JsValue]) -> Result<JsValue, String> {
    let function: js_sys::Function = get(target, method)
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| format!("this browser has no {method}"))?;
    let list: js_sys::Array = args.iter().copied().collect();
    function
        .apply(target, &list)
        .map_err(|e| js_error_text(&e, "the browser refused"))
}

/// What the promise `value` settles to.
async fn wait(value: JsValue) -> Result<JsValue, String> {
    let promise: js_sys::Promise = value
        .dyn_into()
        .map_err(|_| "the browser gave no promise".to_owned())?;
    JsFuture::from(promise)
        .await
        .map_err(|e| js_error_text(&e, "the browser refused"))
}

/// `target[method](...args)`, awaited; `None` for an answer of nothing.
async fn ask(target: &JsValue, method: &str, args: &[&JsValue]) -> Result<Option<JsValue>, String> {
    let value = wait(call(target, method, args)?).await?;
    Ok((!value.is_undefined() && !value.is_null()).then_some(value))
}

/// `Notification.permission`: "granted", "denied" or "default" ("" without notifications).
fn permission() -> String {
    window()
        .and_then(|w| get(&w, "Notification"))
        .and_then(|n| get(&n, "permission"))
        .and_then(|p| p.as_string())
        .unwrap_or_default()
}

/// `navigator.serviceWorker`.
fn workers() -> Option<JsValue> {
    let window: JsValue = window()?.into();
    get(&get(&window, "navigator")?, "serviceWorker")
}

/// Whether push can work here, and if not why.
pub fn availability() -> Result<(), Unavailable> {
    let window = window().ok_or(Unavailable::Unsupported)?;
    if !window.is_secure_context() {
        return Err(Unavailable::Insecure);
    }
    if get(&window, "Notification").is_none()
        || get(&window, "PushManager").is_none()
        || workers().is_none()
    {
        return Err(Unavailable::Unsupported);
    }
    if permission() == "denied" {
        return Err(Unavailable::Blocked);
    }
    Ok(())
}

/// Asks for the permission when it was never given: call it inside the click, before anything
/// awaits (a browser asks only in answer to a person's gesture). The promise gives the answer.
pub fn ask_permission() -> Option<JsValue> {
    if permission() != "default" {
        return None;
    }
    let window: JsValue = window()?.into();
    call(&get(&window, "Notification")?, "requestPermission", &[]).ok()
}

/// This browser's registration of the app's service worker, if it has one.
async fn registration() -> Option<JsValue> {
    ask(&workers()?, "getRegistration", &[])
        .await
        .ok()
        .flatten()
}

/// This browser's push subscription, if it has one.
async fn browser_subscription() -> Option<JsValue> {
    let manager = get(&registration().await?, "pushManager")?;
    ask(&manager, "getSubscription", &[]).await.ok().flatten()
}

fn endpoint_of(subscription: &JsValue) -> String {
    get(subscription, "endpoint")
        .and_then(|e| e.as_string())
        .unwrap_or_default()
}

/// The server's subscription of this login that is this browser's, if any.
async fn servers_subscription(endpoint: &str) -> Result<Option<PushSubscription>, ApiError> {
    let mine: Vec<PushSubscription> =
        api::call("GET", "/api/push/subscriptions", api::NO_BODY).await?;
    Ok(mine.into_iter().find(|s| s.endpoint == endpoint))
}

/// Whether this browser is notified of `device` now (without asking anything of the person).
pub async fn is_on(device: &str) -> bool {
    if availability().is_err() || permission() != "granted" {
        return false;
    }
    let Some(subscription) = browser_subscription().await else {
        return false;
    };
    match servers_subscription(&endpoint_of(&subscription)).await {
        Ok(Some(known)) => known.devices.iter().any(|d| d.as_str() == device),
        _ => false,
    }
}

/// The bytes of a base64url text (the VAPID public key).
fn base64url(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut bits, mut held) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        bits = (bits << 6) | u32::from(value(c)?);
        held += 6;
        if held >= 8 {
            held -= 8;
            out.push((bits >> held) as u8);
        }
    }
    Some(out)
}

/// The key a subscription was made with (`options.applicationServerKey`).
fn key_of(subscription: &JsValue) -> Vec<u8> {
    get(subscription, "options")
        .and_then(|o| get(&o, "applicationServerKey"))
        .filter(JsValue::is_object)
        .map(|k| js_sys::Uint8Array::new(&k).to_vec())
        .unwrap_or_default()
}

/// A promise that resolves to `undefined` after `ms`.
fn timeout(ms: i32) -> js_sys::Promise {
    js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    })
}

/// A plain object with these members.
fn object(members: &[(&str, &JsValue)]) -> JsValue {
    let object = js_sys::Object::new();
    for (name, value) in members {
        let _ = js_sys::Reflect::set(&object, &(*name).into(), value);
    }
    object.into()
}

/// The browser subscribed to its push service with the server's key: the existing
/// subscription when it was made with that key, else a new one.
async fn subscribe(registration: &JsValue, key: &[u8]) -> Result<JsValue, String> {
    let manager = get(registration, "pushManager").ok_or(Unavailable::Unsupported.why())?;
    if let Some(existing) = ask(&manager, "getSubscription", &[]).await? {
        if key_of(&existing) == key {
            return Ok(existing);
        }
        // Made with another deployment's key (a new pair): its pushes would be refused.
        let _ = ask(&existing, "unsubscribe", &[]).await;
    }
    let options = object(&[
        ("userVisibleOnly", &JsValue::TRUE),
        (
            "applicationServerKey",
            &js_sys::Uint8Array::from(key).into(),
        ),
    ]);
    let asked: js_sys::Promise = call(&manager, "subscribe", &[&options])?
        .dyn_into()
        .map_err(|_| "the browser gave no promise".to_owned())?;
    let either = js_sys::Promise::race(&js_sys::Array::of2(&asked, &timeout(SUBSCRIBE_TIMEOUT_MS)));
    match JsFuture::from(either).await {
        Ok(value) if value.is_undefined() => Err(format!(
            "The browser's push service did not answer within {} s. Notifications need this \
             browser to reach its push service on the internet (Google's for Chrome and \
             Android, Mozilla's for Firefox, Apple's for Safari); see docs/events.md.",
            SUBSCRIBE_TIMEOUT_MS / 1000
        )),
        Ok(value) => Ok(value),
        Err(e) => Err(format!(
            "The browser could not subscribe to its push service: {}",
            js_error_text(&e, "no reason given")
        )),
    }
}

/// Turns "Notify me" on for `device`; `asked` is the permission prompt [`ask_permission`]
/// opened inside the click. The error says what to do.
pub async fn turn_on(device: &str, asked: Option<JsValue>) -> Result<(), String> {
    availability().map_err(|u| u.why().to_owned())?;
    if let Some(asked) = asked {
        wait(asked).await?;
    }
    match permission().as_str() {
        "granted" => {}
        "denied" => return Err(Unavailable::Blocked.why().to_owned()),
        _ => {
            return Err("Notifications were not allowed: press “Notify me” and allow them.".into());
        }
    }
    let key: PushKey = api::call("GET", "/api/push/key", api::NO_BODY)
        .await
        .map_err(|e| e.to_string())?;
    let key = base64url(&key.public_key).ok_or("the server's push key is not base64url")?;
    let workers = workers().ok_or(Unavailable::Unsupported.why())?;
    let scope = object(&[("scope", &JsValue::from_str("/"))]);
    ask(
        &workers,
        "register",
        &[&JsValue::from_str("/sw.js"), &scope],
    )
    .await?;
    let registration = wait(get(&workers, "ready").ok_or("no service worker")?).await?;
    let subscription = subscribe(&registration, &key).await?;
    let json = js_sys::JSON::stringify(&subscription)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or("the browser's subscription could not be read")?;
    let mut request: PushSubscriptionRequest =
        serde_json::from_str(&json).map_err(|e| format!("the browser's subscription: {e}"))?;
    request.devices = None;
    let _: PushSubscription = api::call("POST", "/api/push/subscriptions", Some(&request))
        .await
        .map_err(|e| e.to_string())?;
    let _: NotifyMe = api::call(
        "PUT",
        &format!("/api/devices/{device}/notify"),
        api::NO_BODY,
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// Turns "Notify me" off for `device` (this browser's other cameras stay on).
pub async fn turn_off(device: &str) -> Result<(), String> {
    let _: NotifyMe = api::call(
        "DELETE",
        &format!("/api/devices/{device}/notify"),
        api::NO_BODY,
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// At logout: the browser leaves its push service too (the server forgets the login's
/// subscriptions itself), so nothing is left to push to. Quick when there is nothing.
pub async fn forget_browser_subscription() {
    if permission() != "granted" {
        return;
    }
    if let Some(subscription) = browser_subscription().await {
        let _ = ask(&subscription, "unsubscribe", &[]).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_decodes_a_vapid_key() {
        assert_eq!(base64url("AQID").unwrap(), [1, 2, 3]);
        assert_eq!(base64url("_-8").unwrap(), [0xff, 0xef]);
        assert_eq!(base64url("AA==").unwrap(), [0]);
        assert!(base64url("a b").is_none());
        let key = "BOYcYhvNiE2QwFBIr7-r3H8gaG3ZMxNiuz5q0rTMn9nqcz-0gK6RRCt0kDhwwYuRPPR-vS6gx_zVaTaV3PUvJSw";
        let bytes = base64url(key).unwrap();
        assert_eq!((bytes.len(), bytes[0]), (65, 4));
    }
}
