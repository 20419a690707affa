//! The server's REST API from the browser: `fetch` with the session cookie, JSON both ways, and
//! the server's `{"error": {code, message}}` turned into an [`ApiError`] that pages can show.

use mumu_shared::api::{
    AuthResponse, ChangePasswordRequest, Device, LoginRequest, PairRequest, RegisterRequest,
    UpdateDeviceRequest, User,
};
use mumu_shared::{ErrorBody, ErrorCode, ErrorResponse};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestCredentials, RequestInit, Response};

/// Why a call failed, in words fit to show.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// The HTTP status, or 0 when the server could not be reached.
    pub status: u16,
    /// The server's error (or one made up here for network failures).
    pub error: ErrorBody,
}

impl ApiError {
    fn network(detail: String) -> Self {
        Self {
            status: 0,
            error: ErrorBody::new(
                ErrorCode::Unavailable,
                format!("could not reach the server ({detail}); check your connection"),
            ),
        }
    }

    /// The stable error code.
    pub fn code(&self) -> ErrorCode {
        self.error.code
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.error.message)
    }
}

/// What a JavaScript exception says: an `Error`'s message, a thrown string, or `otherwise`.
pub fn js_error_text(value: &wasm_bindgen::JsValue, otherwise: &str) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| otherwise.to_owned())
}

/// Makes one request; `body` goes as JSON. Returns the response's JSON (or `()` for 204).
pub(crate) async fn call<T: DeserializeOwned>(
    method: &str,
    path: &str,
    body: Option<&impl Serialize>,
) -> Result<T, ApiError> {
    let init = RequestInit::new();
    init.set_method(method);
    // Same origin only: the cookie goes along, and the server checks the Origin header.
    init.set_credentials(RequestCredentials::SameOrigin);
    let headers =
        Headers::new().map_err(|e| ApiError::network(js_error_text(&e, "network error")))?;
    let _ = headers.set("accept", "application/json");
    if let Some(body) = body {
        let json = serde_json::to_string(body).map_err(|e| ApiError::network(e.to_string()))?;
        let _ = headers.set("content-type", "application/json");
        init.set_body(&json.into());
    }
    init.set_headers(&headers);
    let request = Request::new_with_str_and_init(path, &init)
        .map_err(|e| ApiError::network(js_error_text(&e, "network error")))?;
    let window = web_sys::window().ok_or_else(|| ApiError::network("no window".into()))?;
    let response: Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|e| ApiError::network(js_error_text(&e, "network error")))?
        .unchecked_into();
    let status = response.status();
    let text = match response.text() {
        Ok(promise) => JsFuture::from(promise)
            .await
            .ok()
            .and_then(|t| t.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    decode(status, &text)
}

/// Reads a response: the value on success, the server's error otherwise.
pub fn decode<T: DeserializeOwned>(status: u16, text: &str) -> Result<T, ApiError> {
    if (200..300).contains(&status) {
        let text = if text.is_empty() { "null" } else { text };
        return serde_json::from_str(text).map_err(|e| ApiError {
            status,
            error: ErrorBody::new(
                ErrorCode::Internal,
                format!("the server's answer could not be read: {e}"),
            ),
        });
    }
    let error = serde_json::from_str::<ErrorResponse>(text)
        .map(|r| r.error)
        .unwrap_or_else(|_| {
            ErrorBody::new(
                ErrorCode::Internal,
                format!("the server answered {status} without saying why"),
            )
        });
    Err(ApiError { status, error })
}

pub(crate) const NO_BODY: Option<&()> = None;

/// Creates an account (and logs it in: the server sets the cookie).
pub async fn register(req: &RegisterRequest) -> Result<AuthResponse, ApiError> {
    call("POST", "/api/auth/register", Some(req)).await
}

/// Logs in (the server sets the cookie).
pub async fn login(req: &LoginRequest) -> Result<AuthResponse, ApiError> {
    call("POST", "/api/auth/login", Some(req)).await
}

/// Ends this login everywhere it is used.
pub async fn logout() -> Result<(), ApiError> {
    call("POST", "/api/auth/logout", NO_BODY).await
}

/// Ends every login of this account, on every device.
pub async fn logout_everywhere() -> Result<(), ApiError> {
    call("POST", "/api/auth/logout-all", NO_BODY).await
}

/// Changes the password; every other login of the account ends.
pub async fn change_password(req: &ChangePasswordRequest) -> Result<(), ApiError> {
    call("POST", "/api/auth/password", Some(req)).await
}

/// The logged-in user.
pub async fn me() -> Result<User, ApiError> {
    call("GET", "/api/auth/me", NO_BODY).await
}

/// Claims a device by the code it shows.
pub async fn pair(req: &PairRequest) -> Result<Device, ApiError> {
    call("POST", "/api/devices/pair", Some(req)).await
}

/// Renames a device.
pub async fn rename(device_id: &str, name: &str) -> Result<Device, ApiError> {
    let req = UpdateDeviceRequest { name: name.into() };
    call("PATCH", &format!("/api/devices/{device_id}"), Some(&req)).await
}

/// Removes a device (an owner's), or gives back a shared one.
pub async fn remove(device_id: &str) -> Result<(), ApiError> {
    call("DELETE", &format!("/api/devices/{device_id}"), NO_BODY).await
}

/// A camera's motion events as the server keeps them (metadata only), newest first: at most
/// `limit`, started before `before` when paging back.
pub async fn device_events(
    device_id: &str,
    limit: u16,
    before: Option<mumu_shared::UnixMillis>,
) -> Result<Vec<mumu_shared::api::Event>, ApiError> {
    let before = before.map(|b| format!("&before={b}")).unwrap_or_default();
    let path = format!("/api/devices/{device_id}/events?limit={limit}{before}");
    call("GET", &path, NO_BODY).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_keep_their_code_and_message() {
        let err = decode::<()>(
            410,
            r#"{"error":{"code":"pairing_code_expired","message":"that code expired 2 minutes ago"}}"#,
        )
        .unwrap_err();
        assert_eq!(err.status, 410);
        assert_eq!(err.code(), ErrorCode::PairingCodeExpired);
        assert_eq!(err.to_string(), "that code expired 2 minutes ago");
    }

    #[test]
    fn an_error_without_a_body_still_says_something() {
        let err = decode::<()>(502, "<html>bad gateway</html>").unwrap_err();
        assert!(err.to_string().contains("502"));
    }

    #[test]
    fn no_content_is_unit() {
        decode::<()>(204, "").unwrap();
    }
}
