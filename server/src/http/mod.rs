//! The HTTP surface: REST handlers and WebSocket upgrades adapt requests to the services; none
//! holds logic of its own.

pub mod auth;
pub mod credential;
pub mod devices;
pub mod error;
pub mod events;
pub mod extract;
pub mod health;
pub mod invitations;
pub mod notify;
pub mod origin;
pub mod push;
pub mod serve;
pub mod site;
pub mod ws;

use crate::state::SharedState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::routing::{any, delete, get, patch, post, put};
use leptos::config::LeptosOptions;
use std::sync::Arc;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

/// The largest REST request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The OpenAPI description of the REST surface.
#[derive(OpenApi)]
#[openapi(
    info(title = "MuMu API", description = "Accounts, devices and pairing, motion events and their notifications. Signaling runs over WebSocket: see docs/protocol.md."),
    paths(
        auth::register, auth::login, auth::logout, auth::logout_all, auth::change_password, auth::me,
        invitations::create, invitations::list, invitations::revoke,
        devices::enroll, devices::new_code, devices::pair, devices::list, devices::status, devices::rename, devices::remove,
        devices::shares, devices::share, devices::update_share, devices::unshare,
        events::list, events::of_device, events::camera, events::update_camera,
        notify::arming, notify::set_arming, notify::quiet_hours, notify::set_quiet_hours, notify::clear_quiet_hours,
        notify::webhook, notify::set_webhook, notify::remove_webhook,
        push::key, push::subscribe, push::list, push::unsubscribe, push::notify_on, push::notify_off,
        health::healthz, health::readyz, health::metrics,
    ),
    tags((name = "auth"), (name = "devices"), (name = "events"), (name = "push"), (name = "operations")),
    modifiers(&CommonResponses)
)]
pub struct ApiDoc;

/// Operations that answer without credentials; every other `/api/` operation can answer 401.
const PUBLIC: &[&str] = &[
    "/api/auth/register",
    "/api/auth/login",
    "/api/devices/enroll",
];

/// Adds to every operation the statuses that come from the layers around the handlers rather
/// than from the handler itself, so no operation's list can leave them out: 408 (the request
/// deadline), 500 and 503 (a fault, a dependency down), 400 and 413 where there is a body (not
/// JSON, the wrong shape, a field that fails validation, too large), and 401 where credentials
/// are needed (missing, wrong, expired, or a login that ended).
struct CommonResponses;

impl utoipa::Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Content, Ref, RefOr, Response};
        let error = |what: &str| {
            let mut response = Response::new(what);
            response.content.insert(
                "application/json".into(),
                RefOr::T(Content::new(Some(Ref::from_schema_name("ErrorResponse")))),
            );
            RefOr::T(response)
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let needs_login = path.starts_with("/api/") && !PUBLIC.contains(&path.as_str());
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.put,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                let has_body = operation.request_body.is_some();
                let mut common = vec![
                    ("408", "the request was not complete in time"),
                    ("500", "internal error (logged on the server)"),
                    ("503", "a service the server depends on is unavailable"),
                ];
                if has_body {
                    common.push((
                        "400",
                        "the body is not JSON, has the wrong shape, or a field fails validation",
                    ));
                    common.push(("413", "the body is larger than 16 KiB"));
                }
                if needs_login {
                    common.push(("401", "no credentials, or wrong, expired or ended ones"));
                }
                for (status, what) in common {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(what));
                }
            }
        }
    }
}

/// Every route, with the state; `site` says where the compiled web app is.
pub fn router(state: SharedState, site: LeptosOptions) -> Router {
    let api = Router::new()
        .route("/api/auth/register", post(auth::register))
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/logout", post(auth::logout))
        .route("/api/auth/logout-all", post(auth::logout_all))
        .route("/api/auth/password", post(auth::change_password))
        .route("/api/auth/me", get(auth::me))
        .route(
            "/api/invitations",
            get(invitations::list).post(invitations::create),
        )
        .route("/api/invitations/{id}", delete(invitations::revoke))
        .route("/api/devices/enroll", post(devices::enroll))
        .route("/api/pairing/generate", post(devices::new_code))
        .route("/api/devices/pair", post(devices::pair))
        .route("/api/devices", get(devices::list))
        .route("/api/devices/{id}/status", get(devices::status))
        .route(
            "/api/devices/{id}",
            patch(devices::rename).delete(devices::remove),
        )
        .route(
            "/api/devices/{id}/shares",
            get(devices::shares).post(devices::share),
        )
        .route(
            "/api/devices/{id}/shares/{username}",
            patch(devices::update_share).delete(devices::unshare),
        )
        .route("/api/events", get(events::list))
        .route("/api/devices/{id}/events", get(events::of_device))
        .route(
            "/api/devices/{id}/notifications",
            get(events::camera).patch(events::update_camera),
        )
        .route("/api/arming", get(notify::arming).put(notify::set_arming))
        .route(
            "/api/quiet-hours",
            get(notify::quiet_hours)
                .put(notify::set_quiet_hours)
                .delete(notify::clear_quiet_hours),
        )
        .route(
            "/api/webhook",
            get(notify::webhook)
                .put(notify::set_webhook)
                .delete(notify::remove_webhook),
        )
        .route("/api/push/key", get(push::key))
        .route(
            "/api/push/subscriptions",
            get(push::list).post(push::subscribe),
        )
        .route("/api/push/subscriptions/{id}", delete(push::unsubscribe))
        .route(
            "/api/devices/{id}/notify",
            put(push::notify_on).delete(push::notify_off),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/ws/device", get(ws::device))
        .route("/ws/viewer", get(ws::viewer))
        .route("/api/{*rest}", any(not_found))
        .route("/ws/{*rest}", any(not_found))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state.clone());
    // Everything else: a file of the compiled app when there is one, else a page of the app.
    let site = Arc::new(site::Site::new(site));
    let pages = get(site::page).with_state((state.clone(), site.clone()));
    let files = ServeDir::new(&*site.options.site_root)
        .precompressed_gzip()
        .precompressed_br()
        .append_index_html_on_directories(false)
        .fallback(pages);
    let files = Router::new()
        .fallback_service(files)
        .layer(axum::middleware::from_fn_with_state(
            site,
            site::cache_headers,
        ));
    Router::new()
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", ApiDoc::openapi()))
        .merge(api)
        .fallback_service(files)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_deadline,
        ))
        // Every request's credential is read here, once, for the API, the sockets and pages.
        .layer(axum::middleware::from_fn_with_state(
            state,
            credential::resolve_credential,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(TraceLayer::new_for_http())
}

/// Answers 408 when a request (reading its body included) takes longer than the configured
/// deadline: a client trickling a body holds a connection for seconds, not forever.
async fn request_deadline(
    axum::extract::State(state): axum::extract::State<SharedState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let seconds = state.config.http.http_request_timeout_secs.max(1);
    match tokio::time::timeout(std::time::Duration::from_secs(seconds), next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let body = mumu_shared::ErrorBody::new(
                mumu_shared::ErrorCode::BadMessage,
                format!(
                    "the request was not complete within {seconds} s; send it whole, and faster"
                ),
            );
            (
                axum::http::StatusCode::REQUEST_TIMEOUT,
                axum::Json(mumu_shared::ErrorResponse { error: body }),
            )
                .into_response()
        }
    }
}

async fn not_found(uri: axum::http::Uri) -> error::ApiError {
    error::ApiError(crate::error::Error::not_found(format!(
        "no route for {}",
        uri.path()
    )))
}
