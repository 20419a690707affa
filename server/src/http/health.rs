//! `/healthz` (the process answers), `/readyz` (its dependencies answer) and `/metrics`.

use super::credential::bearer;
use super::error::ApiResult;
use super::extract::ClientAddr;
use crate::error::Error;
use crate::state::SharedState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use mumu_shared::api::{Health, HealthCheck};
use subtle::ConstantTimeEq;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        checks: Vec::new(),
    })
}

/// The database and presence backend answer.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, description = "a dependency is down", body = Health)))]
pub async fn readyz(State(state): State<SharedState>) -> (StatusCode, Json<Health>) {
    let database = match state.db.ping().await {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("unavailable: {e}"),
    };
    let presence = match state.presence.ping().await {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("unavailable: {e}"),
    };
    let ready = database == "ok" && presence == "ok";
    let checks = vec![
        HealthCheck {
            name: "database".into(),
            status: database,
        },
        HealthCheck {
            name: format!("presence ({})", state.presence.name()),
            status: presence,
        },
    ];
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Health {
            status: if ready { "ok" } else { "unavailable" }.into(),
            checks,
        }),
    )
}

/// Prometheus text exposition. With `MUMU_METRICS_TOKEN` set it needs that token as
/// `Authorization: Bearer`; without, it answers clients on this machine only (the figures say
/// how busy the server is, which is nobody else's business).
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain"),
    (status = 401, description = "the metrics token is missing or wrong", body = mumu_shared::ErrorResponse),
    (status = 403, description = "no token is configured and the client is not on this machine", body = mumu_shared::ErrorResponse)))]
pub async fn metrics(
    State(state): State<SharedState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    match &state.config.http.metrics_token {
        Some(token) => {
            let given = bearer(&headers).unwrap_or_default();
            if !bool::from(given.as_bytes().ct_eq(token.expose().as_bytes())) {
                return Err(Error::unauthorized(
                    "send the metrics token (MUMU_METRICS_TOKEN) as Authorization: Bearer",
                )
                .into());
            }
        }
        None if !addr.is_loopback() => {
            return Err(Error::forbidden(
                "metrics are served to this machine only; set MUMU_METRICS_TOKEN to scrape them from elsewhere",
            )
            .into());
        }
        None => {}
    }
    let mut text = state.metrics.render();
    text.push_str(&state.webhook_sender.stats().render());
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}
