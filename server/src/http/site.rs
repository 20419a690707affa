//! The web app: pages rendered by `mumu-app` (Leptos, streamed SSR), each for the user its
//! cookie names, and the compiled app (WASM, JS, CSS) served from the site root.
//!
//! A release build (`scripts/build-site --release`) names the app's files by their content
//! (`pkg/mumu.<hash>.wasm`, listed in the site root's `hash.txt`) and writes Brotli and gzip
//! copies beside them: those files never change, so browsers keep them for a year, and a new
//! release is a new name that the next page (never cached) points to. The same holds for the
//! split-off pages' chunks and their loader (`lazy:` lines of `hash.txt`), which the app fetches
//! itself when such a page opens.

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

/// The file in the site root that names the content-hashed files (`js: <hash>` lines, the
/// format leptos's `HydrationScripts` reads, and `lazy: <file name>` lines for the chunks).
const HASH_FILE: &str = "hash.txt";

/// How long a browser keeps a content-hashed file: a year, never asking again.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The site settings: `path` when it exists, the built-in ones otherwise; `LEPTOS_*` variables
/// win over both. A site built with hashed names is served under them.
pub fn options(path: &Path) -> Result<LeptosOptions, SiteConfigError> {
    let (text, source_name) = match std::fs::read_to_string(path) {
        Ok(text) => (text, path.display().to_string()),
        Err(_) => (BUILT_IN.to_owned(), "the built-in Leptos.toml".to_owned()),
    };
    let mut options = leptos::config::get_config_from_str(&text).map_err(|e| SiteConfigError {
        source_name,
        detail: e.to_string(),
    })?;
    if let Some(hashes) = Hashes::read(&options) {
        // Leptos looks for the hash file beside the running binary unless the path is absolute;
        // here it lives with the site it describes.
        options.hash_files = true;
        options.hash_file = hashes.file.to_string_lossy().into();
    }
    Ok(options)
}

/// The content hashes of a release build's files, when the site root has them and every file
/// they name is there (a stale `hash.txt` beside a development build is ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hashes {
    file: std::path::PathBuf,
    js: String,
    wasm: String,
    css: String,
    /// The chunks of the split-off pages and their loader, by file name in the package folder.
    lazy: Vec<String>,
}

impl Hashes {
    fn read(options: &LeptosOptions) -> Option<Self> {
        let root = std::path::absolute(&*options.site_root).ok()?;
        let file = root.join(HASH_FILE);
        let text = std::fs::read_to_string(&file).ok()?;
        let hash_of = |ext: &str| {
            text.lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.trim() == ext)
                .map(|(_, hash)| hash.trim().to_owned())
                .filter(|hash| !hash.is_empty())
        };
        let lazy = text
            .lines()
            .filter_map(|line| line.split_once(':'))
            .filter(|(key, _)| key.trim() == "lazy")
            .map(|(_, name)| name.trim().to_owned())
            .collect::<Vec<_>>();
        // A name is one file of the package folder, never a path out of it.
        if lazy
            .iter()
            .any(|name| name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.'))
        {
            return None;
        }
        let hashes = Self {
            js: hash_of("js")?,
            wasm: hash_of("wasm")?,
            css: hash_of("css")?,
            lazy,
            file,
        };
        let pkg = root.join(&*options.site_pkg_dir);
        let all_there = [
            ("js", &hashes.js),
            ("wasm", &hashes.wasm),
            ("css", &hashes.css),
        ]
        .iter()
        .all(|(ext, hash)| {
            pkg.join(format!("{}.{hash}.{ext}", options.output_name))
                .is_file()
        }) && hashes.lazy.iter().all(|name| pkg.join(name).is_file());
        all_there.then_some(hashes)
    }
}

/// The path of the app's file with extension `ext` (`wasm`, `js`, `css`), as the site serves it.
fn file_path(options: &LeptosOptions, ext: &str) -> String {
    let hash = Hashes::read(options).map(|h| match ext {
        "js" => h.js,
        "wasm" => h.wasm,
        _ => h.css,
    });
    let name = match hash {
        Some(hash) => format!("{}.{hash}.{ext}", options.output_name),
        None => format!("{}.{ext}", options.output_name),
    };
    format!("/{}/{name}", options.site_pkg_dir)
}

/// Whether the compiled app is where the settings say; without it pages render but stay inert.
pub fn is_built(options: &LeptosOptions) -> bool {
    let wasm = file_path(options, "wasm");
    Path::new(&*options.site_root)
        .join(wasm.trim_start_matches('/'))
        .is_file()
}

/// What the pages need to know of the compiled app, found once when the server starts.
#[derive(Debug)]
pub struct Site {
    pub options: LeptosOptions,
    /// The stylesheet's path (`/pkg/mumu.<hash>.css` in a release build).
    pub stylesheet: String,
    /// The paths of the content-hashed files, which are served as [`IMMUTABLE`].
    immutable: Vec<String>,
}

impl Site {
    pub fn new(options: LeptosOptions) -> Self {
        let immutable = match Hashes::read(&options) {
            Some(hashes) => ["js", "wasm", "css"]
                .iter()
                .map(|ext| file_path(&options, ext))
                .chain(
                    hashes
                        .lazy
                        .iter()
                        .map(|name| format!("/{}/{name}", options.site_pkg_dir)),
                )
                .collect(),
            None => Vec::new(),
        };
        Self {
            stylesheet: file_path(&options, "css"),
            options,
            immutable,
        }
    }

    /// Whether the file at `path` is named by its content, and so never changes.
    pub fn is_immutable(&self, path: &str) -> bool {
        self.immutable.iter().any(|p| p == path)
    }
}

/// The cache rule for the site's files: the content-hashed ones are kept for a year; every other
/// file (icons, the manifest) is asked for again each time (`no-cache`, answered 304 when
/// unchanged). Pages carry their own `no-store` (they hold the user's data and a nonce). Every
/// file may come compressed, so caches keep one copy per `Accept-Encoding`.
pub async fn cache_headers(
    State(site): State<Arc<Site>>,
    request: Request<Body>,
    next: axum::middleware::Next,
) -> Response {
    use axum::http::{HeaderValue, header};
    let immutable = site.is_immutable(request.uri().path());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if headers.contains_key(header::CACHE_CONTROL) {
        return response;
    }
    let policy = if immutable { IMMUTABLE } else { "no-cache" };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}

/// Renders the page for `request`'s path.
pub async fn page(
    State((state, site)): State<(SharedState, Arc<Site>)>,
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
    let stylesheet = mumu_app::Stylesheet(site.stylesheet.clone());
    let render = leptos_axum::render_app_to_stream_with_context(
        move || {
            provide_context(SessionUser(user.clone()));
            provide_context(stylesheet.clone());
            leptos::nonce::provide_nonce();
        },
        move || mumu_app::shell(site.options.clone()),
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

    /// A site laid out as `scripts/build-site` lays it out, in a temporary folder.
    fn site_with(files: &[(&str, &str)]) -> (tempfile::TempDir, LeptosOptions) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let mut options = options(Path::new("/nonexistent/Leptos.toml")).unwrap();
        options.site_root = dir.path().to_string_lossy().into();
        (dir, options)
    }

    #[test]
    fn a_release_site_is_served_under_its_hashed_names() {
        let (_dir, options) = site_with(&[
            (
                "hash.txt",
                "lazy: split_watch.dd44.wasm\njs: aa11\nwasm: bb22\ncss: cc33\n\
                 lazy: __wasm_split.aa11.js\n",
            ),
            ("pkg/mumu.aa11.js", ""),
            ("pkg/mumu.bb22.wasm", ""),
            ("pkg/mumu.cc33.css", ""),
            ("pkg/split_watch.dd44.wasm", ""),
            ("pkg/__wasm_split.aa11.js", ""),
        ]);
        let hashes = Hashes::read(&options).unwrap();
        assert_eq!((&*hashes.js, &*hashes.wasm), ("aa11", "bb22"));
        assert!(is_built(&options));
        let site = Site::new(options);
        assert_eq!(site.stylesheet, "/pkg/mumu.cc33.css");
        assert!(site.is_immutable("/pkg/mumu.bb22.wasm"));
        assert!(site.is_immutable("/pkg/split_watch.dd44.wasm"));
        assert!(site.is_immutable("/pkg/__wasm_split.aa11.js"));
        assert!(!site.is_immutable("/pkg/mumu.wasm"));
        assert!(!site.is_immutable("/favicon.svg"));
    }

    #[test]
    fn a_hash_file_naming_missing_files_is_ignored() {
        // A development build (plain names) over an older release build's hash.txt.
        let (_dir, options) = site_with(&[
            ("hash.txt", "js: aa11\nwasm: bb22\ncss: cc33\n"),
            ("pkg/mumu.js", ""),
            ("pkg/mumu.wasm", ""),
        ]);
        assert_eq!(Hashes::read(&options), None);
        assert!(is_built(&options));
        let site = Site::new(options);
        assert_eq!(site.stylesheet, "/pkg/mumu.css");
        assert!(!site.is_immutable("/pkg/mumu.wasm"));
    }

    #[test]
    fn a_hash_file_naming_a_missing_chunk_or_a_path_is_ignored() {
        let release = [
            ("pkg/mumu.aa11.js", ""),
            ("pkg/mumu.bb22.wasm", ""),
            ("pkg/mumu.cc33.css", ""),
            ("pkg/split_watch.dd44.wasm", ""),
        ];
        for lazy in ["split_pair.ee55.wasm", "../hash.txt", "/etc/passwd", ""] {
            let mut files = release.to_vec();
            let text = format!("js: aa11\nwasm: bb22\ncss: cc33\nlazy: {lazy}\n");
            files.push(("hash.txt", &text));
            let (_dir, options) = site_with(&files);
            assert_eq!(Hashes::read(&options), None, "lazy: {lazy}");
        }
    }

    #[test]
    fn a_missing_file_falls_back_to_the_built_in_settings() {
        let options = options(Path::new("/nonexistent/Leptos.toml")).unwrap();
        assert_eq!(&*options.site_pkg_dir, "pkg");
    }
}
