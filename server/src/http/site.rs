//! The web app: pages rendered by `mumu-app` (Leptos, streamed SSR), each for the user its
//! cookie names, and the compiled app (WASM, JS, CSS) served from the site root.

use super::credential::Resolved;
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
    // No credential, or an ambiguous one: the page renders for a visitor.
    let token = request
        .extensions()
        .get::<Resolved>()
        .and_then(Resolved::credential)
        .cloned();
    let user = match token {
        Some(c) => state
            .auth
            .authenticate(c.token())
            .await
            .ok()
            .map(|u| u.user),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// cargo-leptos reads the workspace's Cargo.toml, a server started on its own Leptos.toml:
    /// both must describe the same site.
    #[test]
    fn leptos_toml_agrees_with_the_workspace_metadata() {
        let workspace = include_str!("../../../Cargo.toml");
        let cargo = leptos::config::get_config_from_str(workspace).unwrap();
        let own = leptos::config::get_config_from_str(BUILT_IN).unwrap();
        assert_eq!(cargo.output_name, own.output_name);
        assert_eq!(cargo.site_root, own.site_root);
        assert_eq!(cargo.site_pkg_dir, own.site_pkg_dir);
        assert_eq!(cargo.site_addr, own.site_addr);
        assert_eq!(cargo.reload_port, own.reload_port);
        assert_eq!(cargo.env, own.env);
        assert_eq!(
            &*own.output_name,
            env!("LEPTOS_OUTPUT_NAME"),
            ".cargo/config.toml"
        );
    }

    #[test]
    fn a_missing_file_falls_back_to_the_built_in_settings() {
        let options = options(Path::new("/nonexistent/Leptos.toml")).unwrap();
        assert_eq!(&*options.site_pkg_dir, "pkg");
    }
}
