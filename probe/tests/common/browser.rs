//! Debian's Chromium, headless, driven through chromedriver (WebDriver) by fantoccini: the web
//! app as a person meets it. The compiled app comes from `target/site` (`cargo leptos build`,
//! which `scripts/test` runs first); screenshots go to `target/test-artifacts/browser/`.

use super::{Running, wait_until};
use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("probe/ sits in the workspace")
}

/// Where `cargo leptos build` put the app (WASM, JS, CSS); the server serves it from here.
pub fn site_root() -> PathBuf {
    let site = workspace().join("target/site");
    assert!(
        site.join("pkg/mumu.wasm").exists(),
        "{} holds no built web app: run `cargo leptos build --frontend-only` (scripts/test does)",
        site.display()
    );
    site
}

/// Where screenshots are kept after the test.
pub fn artifacts_dir() -> PathBuf {
    let dir = workspace().join("target/test-artifacts/browser");
    std::fs::create_dir_all(&dir).expect("the artifacts directory can be made");
    dir
}

fn program(variable: &str, default: &str) -> String {
    let path = std::env::var(variable).unwrap_or_else(|_| default.into());
    assert!(
        Path::new(&path).exists(),
        "{path} is missing: install Debian's chromium and chromium-driver (scripts/test does), \
         or set {variable}"
    );
    path
}

/// One line of the browser's console.
#[derive(Debug, Clone)]
pub struct ConsoleLine {
    pub level: String,
    pub message: String,
}

/// chromedriver's log endpoint (not in the W3C standard, so fantoccini has no call for it).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

/// A headless Chromium; chromedriver and the browser stop when it drops.
pub struct Browser {
    pub client: Client,
    console: std::sync::Mutex<Vec<ConsoleLine>>,
    downloads: tempfile::TempDir,
    _driver: Running,
}

impl Browser {
    pub async fn start() -> Self {
        let chromium = program("MUMU_CHROMIUM", "/usr/bin/chromium");
        let chromedriver = program("MUMU_CHROMEDRIVER", "/usr/bin/chromedriver");
        let port = super::free_port();
        let driver = Running(
            Command::new(chromedriver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts"),
        );
        wait_until("chromedriver listening", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        })
        .await;
        let downloads = tempfile::tempdir().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,900",
                    // Video starts without a click, as it does once a person has used the site.
                    "--autoplay-policy=no-user-gesture-required",
                ],
                "prefs": {
                    "download.default_directory": downloads.path(),
                    "download.prompt_for_download": false,
                },
            }),
        );
        capabilities.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("chromedriver starts a Chromium session");
        Self {
            client,
            console: Default::default(),
            downloads,
            _driver: driver,
        }
    }

    /// A browser logged in as the owner (`owner`, the harness's password) at `base`.
    pub async fn logged_in_as_owner(base: &str) -> Self {
        let browser = Self::start().await;
        browser.goto(&format!("{base}/login")).await;
        browser.log_in("owner", super::PASSWORD).await;
        browser
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("the page opens");
    }

    /// Waits for the element `css` (the app renders and hydrates asynchronously).
    pub async fn find(&self, css: &str) -> Element {
        self.wait_for(Locator::Css(css)).await
    }

    async fn wait_for(&self, locator: Locator<'_>) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(locator)
            .await
            .unwrap_or_else(|e| panic!("{locator:?} on the page within 15 s: {e}"))
    }

    /// Replaces what the field `css` holds with `text`, typed as a person would.
    pub async fn fill(&self, css: &str, text: &str) {
        self.on_element(Locator::Css(css), async |field| {
            field.clear().await?;
            field.send_keys(text).await
        })
        .await;
    }

    /// Fills in the login form on the current page and submits it.
    pub async fn log_in(&self, username: &str, password: &str) {
        self.fill("#username", username).await;
        self.fill("#password", password).await;
        self.click("button[type=submit]").await;
    }

    pub async fn click(&self, css: &str) {
        self.on_element(Locator::Css(css), async |element| element.click().await)
            .await;
    }

    /// Goes to the dashboard inside the app (as a person does; leaving a watch page ends its
    /// watch), clicks Watch on the first online camera and returns the app's own click to first
    /// decoded frame, in ms.
    pub async fn watch_from_dashboard(&self) -> f64 {
        self.click("nav a[href='/']").await;
        self.click("li.device[data-online=true] a.button.primary")
            .await;
        let ms = self
            .wait_js(
                "the first frame",
                Duration::from_secs(20),
                "return document.querySelector('.tile')?.dataset.firstFrameMs ?? null",
            )
            .await;
        ms.as_str()
            .and_then(|ms| ms.parse().ok())
            .expect("the tile gives its first frame time in ms")
    }

    /// framesDecoded (from getStats, through each tile's `data-frames-decoded`) rises by at least
    /// half the camera's 30 fps over 3 s, on each of `tiles` connected tiles.
    pub async fn assert_frames_rise(&self, tiles: usize) {
        let script = format!(
            "const t = [...document.querySelectorAll('.tile')]; \
             return t.length === {tiles} \
                 && t.every(x => x.dataset.phase === 'connected' && x.dataset.framesDecoded) \
               ? t.map(x => Number(x.dataset.framesDecoded)) : null;"
        );
        let frames = |v: serde_json::Value| -> Vec<f64> {
            let all = v
                .as_array()
                .unwrap_or_else(|| panic!("not every tile is live: {v}"));
            all.iter().map(|n| n.as_f64().unwrap()).collect()
        };
        let before = self
            .wait_js(
                "every tile live, with getStats read",
                Duration::from_secs(20),
                &script,
            )
            .await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let after = self.js(&script, vec![]).await;
        for (b, a) in frames(before).iter().zip(frames(after)) {
            assert!(
                a - b >= 45.0,
                "a tile's framesDecoded went from {b} to {a} in 3 s"
            );
        }
    }

    /// Starts recording the first tile's phases (`data-phase`), for [`Self::live_again`].
    pub async fn record_phases(&self) {
        self.js(
            "window.mumuPhases = []; const t = document.querySelector('.tile'); \
             new MutationObserver(() => window.mumuPhases.push(t.dataset.phase)) \
               .observe(t, { attributes: true, attributeFilter: ['data-phase'] });",
            vec![],
        )
        .await;
    }

    /// Waits until the first tile, having left `connected` since [`Self::record_phases`], is
    /// connected again (`when` says after what); returns the phases it went through.
    pub async fn live_again(&self, when: &str, limit: Duration) -> String {
        let phases = self
            .wait_js(
                &format!("the watch live again {when}"),
                limit,
                "const p = window.mumuPhases; \
                 return p.some(x => x !== 'connected') \
                   && document.querySelector('.tile').dataset.phase === 'connected' ? p.join(' ') : null",
            )
            .await;
        phases.as_str().unwrap_or_default().to_owned()
    }

    /// Clicks the button that says `text`.
    pub async fn click_button(&self, text: &str) {
        self.click_text("button", text).await;
    }

    /// Clicks the `tag` element (a button, a link) that says `text`.
    pub async fn click_text(&self, tag: &str, text: &str) {
        let xpath = format!("//{tag}[normalize-space()='{text}']");
        self.on_element(Locator::XPath(&xpath), async |element| {
            element.click().await
        })
        .await;
    }

    /// Does `act` on the element `locator` finds, finding it again when the app re-rendered it
    /// between the finding and the acting (a "stale element").
    async fn on_element(
        &self,
        locator: Locator<'_>,
        act: impl AsyncFn(Element) -> Result<(), fantoccini::error::CmdError>,
    ) {
        let start = Instant::now();
        loop {
            match act(self.wait_for(locator).await).await {
                Ok(()) => return,
                Err(e)
                    if e.is_stale_element_reference()
                        && start.elapsed() < Duration::from_secs(10) =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("{locator:?}: {e}"),
            }
        }
    }

    /// The first file the browser finished downloading, waiting up to 10 s for one.
    pub async fn downloaded(&self) -> (String, Vec<u8>) {
        wait_until("a download", Duration::from_secs(10), || {
            std::fs::read_dir(self.downloads.path())
                .ok()?
                .flatten()
                .map(|entry| entry.path())
                // Chromium writes `.org.chromium.*` and `*.crdownload` first, then renames.
                .find(|path| {
                    let name = path.file_name().unwrap_or_default().to_string_lossy();
                    !name.starts_with('.') && !name.ends_with(".crdownload")
                })
                .and_then(|path| {
                    let name = path.file_name()?.to_string_lossy().into_owned();
                    Some((name, std::fs::read(&path).ok()?))
                })
        })
        .await
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns what it returns.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("the script ran: {e}\n{script}"))
    }

    /// Waits until `script` returns something other than null, false or undefined.
    pub async fn wait_js(&self, what: &str, limit: Duration, script: &str) -> Value {
        let start = Instant::now();
        loop {
            let value = self.js(script, vec![]).await;
            if !matches!(value, Value::Null | Value::Bool(false)) {
                return value;
            }
            if start.elapsed() >= limit {
                // What the page looked like goes with the failure, among the artifacts.
                let name: String = what
                    .chars()
                    .map(|c| if c.is_alphanumeric() { c } else { '-' })
                    .collect();
                let shot = self.screenshot(&format!("failed-{name}")).await;
                panic!(
                    "{what} within {limit:?} ({} kept); the page says:\n{}",
                    shot.display(),
                    self.page_text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The visible text of the page, for failure messages.
    pub async fn page_text(&self) -> String {
        self.js(
            "return document.body ? document.body.innerText : ''",
            vec![],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Saves a PNG of the window as `name`.png among the test artifacts.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
        let path = artifacts_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Everything the console printed so far (chromedriver hands each line out once).
    pub async fn console(&self) -> Vec<ConsoleLine> {
        let fresh = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("chromedriver hands out the browser's log");
        let mut all = self.console.lock().unwrap();
        for entry in fresh.as_array().into_iter().flatten() {
            all.push(ConsoleLine {
                level: entry["level"].as_str().unwrap_or_default().to_owned(),
                message: entry["message"].as_str().unwrap_or_default().to_owned(),
            });
        }
        all.clone()
    }

    /// The console lines so far, forgotten afterwards (for lines a step expects).
    pub async fn take_console(&self) -> Vec<ConsoleLine> {
        self.console().await;
        std::mem::take(&mut *self.console.lock().unwrap())
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
