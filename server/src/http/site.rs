//! The web app: pages rendered by `mumu-app` (Leptos, streamed SSR), each for the user its
//! cookie names, and the compiled app (WASM, JS, CSS) served from the site root.

use super::extract::token_of;
use crate::state::SharedState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use mumu_app::auth::SessionUser;
use std::path::Path;
use std::sync::Arc;

/// The settings built in: the repository's Leptos.toml, for a server started without one.
const BUILT_IN: &str = include_str!("../../../Leptos.toml");

/// Why the site settings could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the site settings in {source_name} are unusable: {detail}")]
pub struct SiteConfigError {
    source_name: String,
    detail: String,
}

/// The site settings: `path` when it exists, the built-in ones otherwise; `LEPTOS_*` variables
/// win over both.
pub fn options(path: &Path) -> Result<LeptosOptions, SiteConfigError> {
    let (text, source_name) = match std::fs::read_to_string(path) {
        Ok(text) => (text, path.display().to_string()),
        Err(_) => (BUILT_IN.to_owned(), "the built-in Leptos.toml".to_owned()),
    };
    leptos::config::get_config_from_str(&text).map_err(|e| SiteConfigError {
        source_name,
        detail: e.to_string(),
    })
}

/// Whether the compiled app is where the settings say; without it pages render but stay inert.
pub fn is_built(options: &LeptosOptions) -> bool {
    Path::new(&*options.site_root)
        .join(&*options.site_pkg_dir)
        .join(format!("{}.wasm", options.output_name))
        .is_file()
}

/// Renders the page for `request`'s path.
pub async fn page(
    State((state, options)): State<(SharedState, Arc<LeptosOptions>)>,
    request: Request<Body>,
) -> Response {
    let user = match token_of(request.headers()) {
        Some(token) => state.auth.authenticate(&token).await.ok().map(|u| u.user),
        None => None,
    };
    let render = leptos_axum::render_app_to_stream_with_context(
        move || {
            provide_context(SessionUser(user.clone()));
            leptos::nonce::provide_nonce();
        },
        move || mumu_app::shell((*options).clone()),
    );
    render(request).await.into_response()
}
