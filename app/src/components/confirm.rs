//! The browser's own questions and clipboard, for the household's pages.

use wasm_bindgen::JsCast;

/// Asks `question` with the browser's OK / Cancel; `false` when it cannot ask.
pub fn confirm(question: &str) -> bool {
    web_sys::window()
        .and_then(|w| w.confirm_with_message(question).ok())
        .unwrap_or(false)
}

/// Puts `text` on the clipboard (`navigator.clipboard.writeText`); `false` where the browser
/// has no clipboard for this page (plain http on a LAN address): the text is on screen to
/// select by hand.
pub fn copy_text(text: &str) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let get = |target: &wasm_bindgen::JsValue, name: &str| {
        js_sys::Reflect::get(target, &name.into())
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
    };
    let Some(clipboard) = get(&window.into(), "navigator").and_then(|n| get(&n, "clipboard"))
    else {
        return false;
    };
    let Some(write) =
        get(&clipboard, "writeText").and_then(|f| f.dyn_into::<js_sys::Function>().ok())
    else {
        return false;
    };
    write.call1(&clipboard, &text.into()).is_ok()
}
