//! The web app as a person meets it, in real browsers driven over WebDriver by fantoccini:
//! Debian's headless Chromium (through chromedriver), also emulating a phone, Debian's Firefox
//! ESR (through geckodriver), and Debian's WebKitGTK, Safari's engine (its MiniBrowser through
//! WebKitWebDriver, on an Xvfb screen of its own). The compiled app comes from `target/site`
//! (`scripts/build-site`, which `scripts/test` runs first); screenshots go to
//! `target/test-artifacts/browser/<browser>/`.

use super::{Running, wait_until};
use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Which browser, and at what size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Chromium in a 1280×900 window.
    Chromium,
    /// Chromium emulating a phone held upright: the screen in CSS pixels, three device pixels to
    /// each, touch, and a phone's user agent.
    Phone { width: u32, height: u32 },
    /// Firefox ESR in a 1280×900 window.
    Firefox,
    /// Firefox ESR without the OpenH264 plugin it decodes H.264 with (turned off, or never
    /// downloaded).
    FirefoxWithoutOpenH264,
    /// WebKitGTK's MiniBrowser in a 1280×900 window: Safari's engine, as Debian builds it
    /// (without WebRTC).
    WebKit,
}

impl Kind {
    /// A short name, for screenshot folders and benchmark rows.
    pub fn name(self) -> String {
        match self {
            Kind::Chromium => "chromium".into(),
            Kind::Phone { width, height } => format!("phone-{width}x{height}"),
            Kind::Firefox => "firefox".into(),
            Kind::FirefoxWithoutOpenH264 => "firefox-without-openh264".into(),
            Kind::WebKit => "webkit".into(),
        }
    }
}

/// The desktop window the desktop browsers get.
const WINDOW: (u32, u32) = (1280, 900);

/// Held while a browser test runs: two browsers and two systems at once on a 2-core machine make
/// each other's frame rates and timings fail.
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("probe/ sits in the workspace")
}

/// Where `scripts/build-site` put the app (WASM, JS, CSS); the server serves it from here.
pub fn site_root() -> PathBuf {
    let site = workspace().join("target/site");
    // A release build names its files by content (hash.txt lists them), a debug one plainly.
    assert!(
        site.join("hash.txt").exists() || site.join("pkg/mumu.wasm").exists(),
        "{} holds no built web app: run `scripts/build-site` (scripts/test builds it)",
        site.display()
    );
    site
}

/// Where `kind`'s screenshots are kept after the test.
pub fn artifacts_dir(kind: Kind) -> PathBuf {
    let dir = workspace()
        .join("target/test-artifacts/browser")
        .join(kind.name());
    std::fs::create_dir_all(&dir).expect("the artifacts directory can be made");
    dir
}

/// The program `variable` names, or `default`; `install` says where it comes from.
fn program(variable: &str, default: &str, install: &str) -> String {
    find_program(variable, default).unwrap_or_else(|path| {
        panic!("{path} is missing: install {install} (scripts/test does), or set {variable}")
    })
}

/// The program `variable` names, or `default`, if it is there (else its name, as `Err`).
fn find_program(variable: &str, default: &str) -> Result<String, String> {
    let path = std::env::var(variable).unwrap_or_else(|_| default.into());
    let found = Path::new(&path).exists()
        || Command::new("which")
            .arg(&path)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if found { Ok(path) } else { Err(path) }
}

/// chromedriver and the capabilities of a Chromium session of `kind`.
fn chromium(
    kind: Kind,
    port: u16,
    downloads: &Path,
    flags: &[String],
) -> (Driver, serde_json::Map<String, Value>) {
    let chromium = program("MUMU_CHROMIUM", "/usr/bin/chromium", "Debian's chromium");
    let chromedriver = program(
        "MUMU_CHROMEDRIVER",
        "/usr/bin/chromedriver",
        "Debian's chromium-driver",
    );
    let driver = Driver::spawn(
        Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let mut options = json!({
        "binary": chromium,
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            format!("--window-size={},{}", WINDOW.0, WINDOW.1),
            // Video starts without a click, as it does once a person has used the site.
            "--autoplay-policy=no-user-gesture-required",
        ],
        "prefs": {
            "download.default_directory": downloads,
            "download.prompt_for_download": false,
        },
    });
    let args = options["args"].as_array_mut().expect("the args");
    args.extend(flags.iter().map(|f| json!(f)));
    if let Kind::Phone { width, height } = kind {
        options["mobileEmulation"] = json!({
            "deviceMetrics": { "width": width, "height": height, "pixelRatio": 3.0, "touch": true },
            "userAgent": PHONE_USER_AGENT,
        });
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    capabilities.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    (driver, capabilities)
}

/// What an Android phone's Chrome says it is.
const PHONE_USER_AGENT: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
     (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36";

/// geckodriver, the capabilities of a Firefox session, and the file its console lines go to.
///
/// Firefox decodes WebRTC's H.264 with the OpenH264 plugin it normally downloads from Cisco;
/// with `h264`, `MUMU_FIREFOX_GMP` names the copy `scripts/firefox-openh264` built from
/// Debian's sources.
fn firefox(
    port: u16,
    downloads: &Path,
    scratch: &Path,
    h264: bool,
) -> (Driver, serde_json::Map<String, Value>, PathBuf) {
    let firefox = program(
        "MUMU_FIREFOX",
        "/usr/bin/firefox-esr",
        "Debian's firefox-esr",
    );
    let geckodriver = program(
        "MUMU_GECKODRIVER",
        "geckodriver",
        "geckodriver (`cargo install geckodriver`)",
    );
    // Firefox takes MOZ_GMP_PATH from geckodriver's environment (the capabilities' `env` did
    // not reach its plugin service).
    let mut gmp_path = None;
    if h264 {
        let gmp = std::env::var("MUMU_FIREFOX_GMP").unwrap_or_else(|_| {
            panic!(
                "MUMU_FIREFOX_GMP is not set: Firefox cannot decode H.264 without the OpenH264 \
                 plugin; scripts/firefox-openh264 builds it and prints the folder to set"
            )
        });
        assert!(
            Path::new(&gmp).join("libgmpopenh264.so").exists(),
            "{gmp} holds no libgmpopenh264.so (MUMU_FIREFOX_GMP; scripts/firefox-openh264 \
             builds it)"
        );
        gmp_path = Some(gmp);
    }
    let log = scratch.join("geckodriver.log");
    let output = std::fs::File::create(&log).unwrap();
    let mut command = Command::new(geckodriver);
    command
        .args(["--port", &port.to_string(), "--log", "warn"])
        .env("TMPDIR", scratch)
        .env_remove("MOZ_GMP_PATH")
        .stdout(output.try_clone().unwrap())
        .stderr(output);
    if let Some(gmp) = gmp_path {
        command.env("MOZ_GMP_PATH", gmp);
    }
    let driver = Driver::spawn(&mut command);
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "moz:firefoxOptions".into(),
        json!({
            "binary": firefox,
            "args": ["-headless"],
            "prefs": {
                // The page's console lines on Firefox's standard output, for
                // `Browser::console`; not the browser's own.
                "devtools.console.stdout.content": true,
                "devtools.console.stdout.chrome": false,
                // Video starts without a click, as it does once a person has used the site.
                "media.autoplay.default": 0,
                // Test machines have no sound device, without which Firefox's Web Audio never
                // runs: its own stand-in device (for its tests) plays in real time instead.
                "media.cubeb.force_mock_context": true,
                // The plugin is the local build; nothing is fetched from Cisco or Mozilla.
                "media.gmp-manager.updateEnabled": false,
                "media.gmp-gmpopenh264.autoupdate": false,
                "media.gmp-gmpopenh264.enabled": true,
                "browser.download.folderList": 2,
                "browser.download.dir": downloads,
                "browser.download.useDownloadDir": true,
                "browser.download.always_ask_before_handling_new_types": false,
                "browser.helperApps.neverAsk.saveToDisk": "image/png",
            },
        }),
    );
    (driver, capabilities, log)
}

/// WebKitGTK's MiniBrowser (the browser WebKitWebDriver drives on Linux): `MUMU_MINIBROWSER`, or
/// the one the distribution's WebKitGTK library installs beside itself (Debian's
/// `libwebkit2gtk-4.1-0`: `/usr/lib/<triplet>/webkit2gtk-4.1/MiniBrowser`; Fedora's under
/// `/usr/libexec`).
fn minibrowser() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("MUMU_MINIBROWSER") {
        return Some(path.into());
    }
    let mut homes = vec![PathBuf::from("/usr/libexec"), PathBuf::from("/usr/lib")];
    for lib in std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
    {
        homes.push(lib.path());
    }
    let mut found: Vec<PathBuf> = homes
        .iter()
        .flat_map(|home| std::fs::read_dir(home).into_iter().flatten().flatten())
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.starts_with("webkit2gtk-") || name.starts_with("webkitgtk-")
        })
        .map(|entry| entry.path().join("MiniBrowser"))
        .filter(|path| path.exists())
        .collect();
    // The newest API version when there are several (webkitgtk-6.0 after webkit2gtk-4.1).
    found.sort();
    found.pop()
}

/// Why WebKitGTK cannot be driven here, if it cannot: WebKitWebDriver, Xvfb or MiniBrowser is
/// missing (`scripts/lib.sh`'s `ensure_webkit` installs them).
pub fn webkit_missing() -> Option<String> {
    let missing: Vec<String> = [
        find_program("MUMU_WEBKITWEBDRIVER", "WebKitWebDriver").err(),
        find_program("MUMU_XVFB", "Xvfb").err(),
        minibrowser()
            .filter(|path| path.exists())
            .is_none()
            .then(|| "MiniBrowser".into()),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "{} missing: install Debian's webkit2gtk-driver and xvfb (scripts/lib.sh's \
             ensure_webkit does)",
            missing.join(", ")
        )
    })
}

/// An X server of the test's own (Xvfb) for a browser that has no headless mode, on the first
/// free display: the process, and the display's name (`:99`).
fn xvfb() -> (Driver, String) {
    let xvfb = program("MUMU_XVFB", "Xvfb", "Debian's xvfb");
    let mut command = Command::new(xvfb);
    command
        // Xvfb picks a free display and writes its number to `-displayfd` once it accepts
        // clients.
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1920x1080x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut server = Driver::spawn(&mut command);
    let mut line = String::new();
    let stdout = server.0.0.stdout.as_mut().expect("Xvfb's standard output");
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("Xvfb says its display");
    let number = line.trim();
    assert!(
        !number.is_empty() && number.chars().all(|c| c.is_ascii_digit()),
        "Xvfb did not start (it said {line:?})"
    );
    let display = format!(":{number}");
    (server, display)
}

/// Xvfb, WebKitWebDriver on `display`, the capabilities of a MiniBrowser session, and the file
/// the driver's and the browser's output go to.
///
/// Debian builds WebKitGTK without WebRTC: the page has no `RTCPeerConnection`.
fn webkit(port: u16, scratch: &Path) -> (Driver, Driver, serde_json::Map<String, Value>) {
    let driver = program(
        "MUMU_WEBKITWEBDRIVER",
        "WebKitWebDriver",
        "Debian's webkit2gtk-driver",
    );
    let minibrowser = minibrowser().filter(|path| path.exists()).expect(
        "MiniBrowser is missing: install Debian's libwebkit2gtk-4.1-0, or set MUMU_MINIBROWSER",
    );
    let (display, name) = xvfb();
    let log = std::fs::File::create(scratch.join("webkitwebdriver.log")).unwrap();
    let driver = Driver::spawn(
        Command::new(driver)
            .arg(format!("--port={port}"))
            .env("DISPLAY", name)
            .env("GDK_BACKEND", "x11")
            .env_remove("WAYLAND_DISPLAY")
            .env("TMPDIR", scratch)
            .stdout(log.try_clone().unwrap())
            .stderr(log),
    );
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "webkitgtk:browserOptions".into(),
        json!({ "binary": minibrowser, "args": ["--automation"] }),
    );
    (display, driver, capabilities)
}

/// Keeps the page's console errors and warnings, its uncaught errors and its
/// Content-Security-Policy violations in `window.mumuConsole`, and hands out (and forgets) those
/// kept so far. For WebKitGTK, whose WebDriver gives no console: what the page said before the
/// first call on each page load is not seen.
const RECORDED_CONSOLE: &str = "\
    const w = window; \
    if (!w.mumuConsole) { \
      w.mumuConsole = []; \
      const keep = (level, text) => w.mumuConsole.push({ level, message: String(text) }); \
      for (const [name, level] of [['error', 'SEVERE'], ['warn', 'WARNING']]) { \
        const original = console[name].bind(console); \
        console[name] = (...a) => { keep(level, a.map(String).join(' ')); original(...a); }; \
      } \
      w.addEventListener('error', e => keep('SEVERE', e.message)); \
      w.addEventListener('unhandledrejection', e => keep('SEVERE', e.reason)); \
      document.addEventListener('securitypolicyviolation', e => \
        keep('SEVERE', `Content Security Policy: ${e.violatedDirective} ${e.blockedURI}`)); \
    } \
    return w.mumuConsole.splice(0);";

/// One line of the browser's console.
#[derive(Debug, Clone)]
pub struct ConsoleLine {
    pub level: String,
    pub message: String,
}

/// The page's console lines Firefox wrote to `path` past byte `read`, with Chromium's level
/// names so that one check reads both. Firefox prints the page's arguments as values
/// (`console.error: "text" 42`) and its own modules' lines under their names
/// (`console.error: RSLoader: …`): those are the browser's business, not the app's.
fn firefox_console(path: &Path, read: &mut usize) -> Vec<ConsoleLine> {
    let text = std::fs::read(path).unwrap_or_default();
    let fresh = String::from_utf8_lossy(&text[(*read).min(text.len())..]).into_owned();
    *read = text.len();
    fresh
        .lines()
        .filter_map(|line| {
            let (method, said) = line.strip_prefix("console.")?.split_once(": ")?;
            let module = said
                .split_once(": ")
                .is_some_and(|(name, _)| !name.is_empty() && !name.contains([' ', '"']));
            if module {
                return None;
            }
            let level = match method {
                "error" | "assert" => "SEVERE",
                "warn" => "WARNING",
                _ => "INFO",
            };
            Some(ConsoleLine {
                level: level.into(),
                message: line.to_owned(),
            })
        })
        .collect()
}

/// A chromedriver command outside the W3C standard, so fantoccini has no call for it: a POST of
/// `body` to `session/<id>/<path>` (`se/log`, the browser's console; `goog/cdp/execute`, a
/// Chrome DevTools Protocol command).
#[derive(Debug)]
struct ChromedriverPost {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for ChromedriverPost {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// A WebDriver server (chromedriver, geckodriver) in a process group of its own: dropping it
/// kills the browser it started too, even when a failed test never closed the session.
struct Driver(Running);

impl Driver {
    fn spawn(command: &mut Command) -> Self {
        let child = command
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("{command:?} starts: {e}"));
        Self(Running(child))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.0.id())])
            .stderr(Stdio::null())
            .status();
    }
}

/// A headless browser; the driver and the browser stop when it drops.
pub struct Browser {
    pub client: Client,
    pub kind: Kind,
    console: std::sync::Mutex<Vec<ConsoleLine>>,
    /// Where Firefox's console lines land (geckodriver's output), and how much was read.
    firefox_log: Option<(PathBuf, std::sync::Mutex<usize>)>,
    downloads: tempfile::TempDir,
    _scratch: tempfile::TempDir,
    _driver: Driver,
    /// The X server of a browser without a headless mode (WebKitGTK), stopped after it.
    _display: Option<Driver>,
}

impl Browser {
    /// Chromium in a desktop window.
    pub async fn start() -> Self {
        Self::start_as(Kind::Chromium).await
    }

    pub async fn start_as(kind: Kind) -> Self {
        Self::start_with_flags(kind, &[]).await
    }

    /// A `kind` browser; Chromium gets `flags` besides its usual ones.
    pub async fn start_with_flags(kind: Kind, flags: &[String]) -> Self {
        let port = super::free_port();
        let downloads = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let mut display = None;
        let (driver, capabilities, firefox_log) = match kind {
            Kind::Firefox | Kind::FirefoxWithoutOpenH264 => {
                let h264 = kind == Kind::Firefox;
                let (driver, capabilities, log) =
                    firefox(port, downloads.path(), scratch.path(), h264);
                (driver, capabilities, Some((log, Default::default())))
            }
            Kind::WebKit => {
                let (x, driver, capabilities) = webkit(port, scratch.path());
                display = Some(x);
                (driver, capabilities, None)
            }
            Kind::Chromium | Kind::Phone { .. } => {
                let (driver, capabilities) = chromium(kind, port, downloads.path(), flags);
                (driver, capabilities, None)
            }
        };
        wait_until(
            "the WebDriver server listening",
            Duration::from_secs(10),
            || std::net::TcpStream::connect(("127.0.0.1", port)).ok(),
        )
        .await;
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| {
                panic!("the WebDriver server starts a {} session: {e}", kind.name())
            });
        if firefox_log.is_some() || kind == Kind::WebKit {
            client
                .set_window_size(WINDOW.0, WINDOW.1)
                .await
                .unwrap_or_else(|e| panic!("{}'s window takes the desktop size: {e}", kind.name()));
        }
        Self {
            client,
            kind,
            console: Default::default(),
            firefox_log,
            downloads,
            _scratch: scratch,
            _driver: driver,
            _display: display,
        }
    }

    /// A browser logged in as the owner (`owner`, the harness's password) at `base`.
    pub async fn logged_in_as_owner(base: &str) -> Self {
        Self::logged_in_as_owner_in(Kind::Chromium, base).await
    }

    /// A `kind` browser logged in as the owner at `base`.
    pub async fn logged_in_as_owner_in(kind: Kind, base: &str) -> Self {
        let browser = Self::start_as(kind).await;
        browser.goto(&format!("{base}/login")).await;
        browser.log_in("owner", super::PASSWORD).await;
        browser
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("the page opens");
        if self.kind == Kind::WebKit {
            // Its console is recorded by the page itself, from here on.
            self.console().await;
        }
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

    /// Clicks `css` once it is enabled (the app enables its forms' buttons once it has taken
    /// the server's page over).
    pub async fn click(&self, css: &str) {
        self.on_element(Locator::Css(css), async |element| {
            let start = Instant::now();
            while !element.is_enabled().await? && start.elapsed() < Duration::from_secs(15) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            element.click().await
        })
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

    /// Keeps every RTCPeerConnection the page makes from now on in `window.mumuPeers`, so a
    /// test can read the camera's offer or break a connection the way a sleeping phone does.
    pub async fn record_peers(&self) {
        self.js(
            "if (!window.mumuPeers) { \
               window.mumuPeers = []; \
               const Native = window.RTCPeerConnection; \
               window.RTCPeerConnection = class extends Native { \
                 constructor(...a) { super(...a); window.mumuPeers.push(this); } }; }",
            vec![],
        )
        .await;
    }

    /// What Safari on an iPhone needs to play the video, on every tile: a `<video>` that plays
    /// inline (not forced full screen), muted and by itself ([`Self::assert_videos_play_inline`]);
    /// and the camera's offer, as this browser received it, H.264 constrained baseline in
    /// packetization-mode 1 (what every browser, Safari's hardware decoder among them, accepts)
    /// and nothing else for video.
    pub async fn assert_safari_rules(&self) {
        self.assert_videos_play_inline().await;
        let offers = self
            .js(
                "return (window.mumuPeers || []).filter(p => p.remoteDescription) \
                   .map(p => p.remoteDescription.sdp)",
                vec![],
            )
            .await;
        let offers = offers.as_array().expect("a list of offers");
        assert!(
            !offers.is_empty(),
            "no camera offer recorded (record_peers first)"
        );
        for offer in offers {
            let sdp = offer.as_str().unwrap_or_default();
            let video_codecs: Vec<&str> = sdp
                .lines()
                .filter_map(|l| l.strip_prefix("a=rtpmap:"))
                .filter_map(|l| l.split_whitespace().nth(1))
                .filter(|codec| !codec.starts_with("rtx/"))
                .collect();
            assert_eq!(video_codecs, ["H264/90000"], "the offer's codecs:\n{sdp}");
            let fmtp = sdp
                .lines()
                .find(|l| l.starts_with("a=fmtp:"))
                .unwrap_or_else(|| panic!("no fmtp in the offer:\n{sdp}"));
            assert!(
                fmtp.contains("profile-level-id=42e01f") && fmtp.contains("packetization-mode=1"),
                "{fmtp}"
            );
        }
    }

    /// Every tile's `<video>` plays inline (an iPhone otherwise forces it full screen), muted
    /// and by itself, as attributes (what Safari reads when the element is made) and as
    /// properties (Firefox has no `playsInline`).
    pub async fn assert_videos_play_inline(&self) {
        let videos = self
            .js(
                "return [...document.querySelectorAll('.tile video')].map(v => ({ \
                   attributes: ['playsinline', 'autoplay', 'muted'].filter(a => v.hasAttribute(a)), \
                   properties: v.autoplay && v.muted && v.playsInline !== false }))",
                vec![],
            )
            .await;
        let videos = videos.as_array().expect("a list of videos");
        assert!(!videos.is_empty(), "no video on the page");
        for video in videos {
            assert_eq!(
                video["attributes"],
                json!(["playsinline", "autoplay", "muted"]),
                "{video}"
            );
            assert_eq!(video["properties"], json!(true), "{video}");
        }
    }

    /// Hides the page as a phone's lock or a background tab does (`document.hidden`, then the
    /// `visibilitychange` event), or shows it again.
    pub async fn set_hidden(&self, hidden: bool) {
        self.js(
            "const hidden = arguments[0]; \
             Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden }); \
             Object.defineProperty(document, 'visibilityState', { configurable: true, \
               get: () => hidden ? 'hidden' : 'visible' }); \
             document.dispatchEvent(new Event('visibilitychange'));",
            vec![json!(hidden)],
        )
        .await;
    }

    /// Turns the emulated phone so that its screen is `width`×`height` CSS pixels (landscape
    /// when wider than tall), as a person turning it does: the viewport and the orientation
    /// change together, and the page gets its resize.
    pub async fn rotate(&self, width: u32, height: u32) {
        assert!(
            matches!(self.kind, Kind::Phone { .. }),
            "only an emulated phone turns"
        );
        let (kind, angle) = if width > height {
            ("landscapePrimary", 90)
        } else {
            ("portraitPrimary", 0)
        };
        self.client
            .issue_cmd(ChromedriverPost {
                path: "goog/cdp/execute",
                body: json!({
                    "cmd": "Emulation.setDeviceMetricsOverride",
                    "params": {
                        "width": width, "height": height, "deviceScaleFactor": 3, "mobile": true,
                        "screenOrientation": { "type": kind, "angle": angle },
                    },
                }),
            })
            .await
            .expect("chromedriver turns the phone");
        self.wait_js(
            "the page laid out for the turned screen",
            Duration::from_secs(5),
            &format!("return window.innerWidth === {width}"),
        )
        .await;
    }

    /// A Chrome DevTools Protocol command (Chromium only): network emulation, the cache.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        assert!(
            matches!(self.kind, Kind::Chromium | Kind::Phone { .. }),
            "DevTools commands go to Chromium"
        );
        self.client
            .issue_cmd(ChromedriverPost {
                path: "goog/cdp/execute",
                body: json!({ "cmd": cmd, "params": params }),
            })
            .await
            .unwrap_or_else(|e| panic!("{cmd}: {e}"))
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
            let paths: Vec<_> = std::fs::read_dir(self.downloads.path())
                .ok()?
                .flatten()
                .map(|entry| entry.path())
                .collect();
            // Chromium writes `.org.chromium.*` and `*.crdownload` first, Firefox `*.part` (and
            // an empty file under the final name), then they rename: done when none is left.
            let name = |path: &PathBuf| {
                path.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            };
            let writing = |path: &PathBuf| {
                let name = name(path);
                name.starts_with('.') || name.ends_with(".crdownload") || name.ends_with(".part")
            };
            if paths.iter().any(writing) {
                return None;
            }
            let path = paths.first()?;
            let bytes = std::fs::read(path).ok().filter(|b| !b.is_empty())?;
            Some((name(path), bytes))
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

    /// From the dashboard, opens the first camera's watch page and waits for its recording's
    /// timeline, zoomed in until it shows ten minutes at most.
    pub async fn open_recordings(&self) {
        self.click("li.device a.button.primary").await;
        self.wait_js(
            "the recording's timeline",
            Duration::from_secs(20),
            "const r = document.querySelector('.history-records'); \
             return r && !r.hidden && document.querySelectorAll('.timeline .span').length > 0",
        )
        .await;
        self.zoom_timeline_within(10 * 60_000).await;
    }

    /// Zooms the recording's timeline in until it shows `ms` at most.
    pub async fn zoom_timeline_within(&self, ms: i64) {
        for _ in 0..8 {
            let (from, to, _) = self.timeline_range().await;
            if to - from <= ms {
                break;
            }
            self.click("button.zoom-in").await;
        }
    }

    /// When the recording shown on the timeline begins (its first span's left edge), in ms.
    pub async fn recorded_since(&self) -> i64 {
        let (from, to, _) = self.timeline_range().await;
        let left = self
            .js(
                "const s = document.querySelector('.timeline .span'); \
                 return s ? parseFloat(s.style.left) : null",
                vec![],
            )
            .await
            .as_f64()
            .expect("a recorded span on the timeline");
        from + ((to - from) as f64 * left / 100.0) as i64
    }

    /// `tries` of each: a click on the timeline 30–60 s back to its recorded picture, and a
    /// click on Live to the live one ([`Browser::click_to_picture`]), each sorted, in ms.
    pub async fn click_times(&self, tries: usize) -> (Vec<f64>, Vec<f64>) {
        let (mut seeks, mut lives) = (Vec::new(), Vec::new());
        for i in 0..tries {
            let back = 30_000 + (i as i64 * 3_000) % 30_000;
            seeks.push(
                self.click_to_picture(Some(mumu_probe::now_ms() - back))
                    .await,
            );
            lives.push(self.click_to_picture(None).await);
        }
        seeks.sort_by(f64::total_cmp);
        lives.sort_by(f64::total_cmp);
        (seeks, lives)
    }

    /// Clicks the timeline at `at` (ms, wall clock), or Live for `None`, and returns the ms from
    /// the click to the first frame of that picture presented (`requestVideoFrameCallback`):
    /// the playback `<video>` showing about that time, or the live `<video>` again.
    pub async fn click_to_picture(&self, at: Option<i64>) -> f64 {
        self.js(SEEK_PROBE, vec![json!(at.unwrap_or(0))]).await;
        match at {
            Some(at) => self.click_timeline_at(at).await,
            None => self.click("button.live").await,
        }
        self.wait_js(
            "the picture after the click",
            Duration::from_secs(15),
            "const w = window.__mumuSeek; return w.t1 !== null && w.t1 - w.t0",
        )
        .await
        .as_f64()
        .unwrap_or(f64::NAN)
    }

    /// The wall-clock range a recording's timeline shows (its `data-from`, `data-to`), and
    /// its width in pixels.
    pub async fn timeline_range(&self) -> (i64, i64, f64) {
        let got = self
            .js(
                "const t = document.querySelector('.timeline'); \
                 return [Number(t.dataset.from), Number(t.dataset.to), t.getBoundingClientRect().width]",
                vec![],
            )
            .await;
        let n = |i: usize| got[i].as_f64().unwrap_or(f64::NAN);
        (n(0) as i64, n(1) as i64, n(2))
    }

    /// Clicks the timeline where it shows the time `at`, as a person does (a real pointer).
    pub async fn click_timeline_at(&self, at: i64) {
        let (from, to, width) = self.timeline_range().await;
        assert!(
            from < at && at < to,
            "{at} is on the timeline ({from}..{to})"
        );
        let fraction = (at - from) as f64 / (to - from) as f64;
        let element = self.find(".timeline").await;
        let actions = MouseActions::new("mouse".into())
            .then(PointerAction::MoveToElement {
                element,
                duration: None,
                x: (fraction - 0.5) * width,
                y: 0.0,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            });
        self.client
            .perform_actions(actions)
            .await
            .expect("the pointer clicks the timeline");
    }

    /// Presses the pointer on the element `css` at the first of `points`, moves it through the
    /// others and releases it at the last, as a person drags (one point: a click). Points are
    /// fractions of the element's width and height from its top left corner.
    pub async fn pointer_on(&self, css: &str, points: &[(f64, f64)]) {
        let size = self
            .js(
                "const e = document.querySelector(arguments[0]); e.scrollIntoView({block: 'center'}); \
                 const r = e.getBoundingClientRect(); return [r.width, r.height]",
                vec![json!(css)],
            )
            .await;
        let (width, height) = (
            size[0].as_f64().unwrap_or_default(),
            size[1].as_f64().unwrap_or_default(),
        );
        let element = self.find(css).await;
        let at = |(x, y): (f64, f64)| PointerAction::MoveToElement {
            element: element.clone(),
            duration: None,
            x: (x - 0.5) * width,
            y: (y - 0.5) * height,
        };
        let (first, rest) = points.split_first().expect("a point to press at");
        let mut actions =
            MouseActions::new("mouse".into())
                .then(at(*first))
                .then(PointerAction::Down {
                    button: MOUSE_BUTTON_LEFT,
                });
        for point in rest {
            actions = actions.then(at(*point));
        }
        let actions = actions.then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
        self.client
            .perform_actions(actions)
            .await
            .unwrap_or_else(|e| panic!("the pointer on {css}: {e}"));
    }

    /// The time of the picture a recording camera's watch page shows (`.playback-time`'s
    /// `data-ms`), and whether it is live.
    pub async fn shown_time(&self) -> (i64, bool) {
        let got = self
            .js(
                "const p = document.querySelector('.playback-time'); \
                 return [Number(p.dataset.ms || 0), p.dataset.live === 'true']",
                vec![],
            )
            .await;
        (
            got[0].as_f64().unwrap_or_default() as i64,
            got[1].as_bool().unwrap_or_default(),
        )
    }

    /// Saves a PNG of the window as `name`.png among the test artifacts.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        if self.kind == Kind::WebKit {
            // WebKitGTK's screenshot is its last painted frame: let the page paint what it has.
            self.client
                .execute_async(
                    "const done = arguments[0]; \
                     requestAnimationFrame(() => requestAnimationFrame(() => done()))",
                    vec![],
                )
                .await
                .expect("the page paints");
        }
        let png = self.client.screenshot().await.expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
        let path = artifacts_dir(self.kind).join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Everything the console printed so far: from chromedriver's log (which hands each line
    /// out once), from the lines Firefox writes to geckodriver's output, or, in WebKitGTK, what
    /// the page recorded since [`Self::goto`] (`RECORDED_CONSOLE`).
    pub async fn console(&self) -> Vec<ConsoleLine> {
        let fresh = match &self.firefox_log {
            Some((path, read)) => firefox_console(path, &mut read.lock().unwrap()),
            None if self.kind == Kind::WebKit => {
                let lines = self.js(RECORDED_CONSOLE, vec![]).await;
                lines
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|line| ConsoleLine {
                        level: line["level"].as_str().unwrap_or_default().to_owned(),
                        message: line["message"].as_str().unwrap_or_default().to_owned(),
                    })
                    .collect()
            }
            None => {
                let log = self
                    .client
                    .issue_cmd(ChromedriverPost {
                        path: "se/log",
                        body: json!({"type": "browser"}),
                    })
                    .await
                    .expect("chromedriver hands out the browser's log");
                log.as_array()
                    .into_iter()
                    .flatten()
                    .map(|entry| ConsoleLine {
                        level: entry["level"].as_str().unwrap_or_default().to_owned(),
                        message: entry["message"].as_str().unwrap_or_default().to_owned(),
                    })
                    .collect()
            }
        };
        let mut all = self.console.lock().unwrap();
        all.extend(fresh);
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

/// Installed in the page before a click on a recording's timeline (`arguments[0]`: the time
/// clicked, ms) or on Live (`arguments[0]` is 0): the click's time, and the time the next frame
/// of the expected picture is presented.
const SEEK_PROBE: &str = "const target = arguments[0]; const toLive = target === 0;
    const w = window.__mumuSeek = { t0: null, t1: null };
    const el = document.querySelector(toLive ? 'button.live' : '.timeline');
    el.addEventListener(toLive ? 'click' : 'mouseup', () => {
      w.t0 = performance.now();
      const tile = document.querySelector('.tile');
      const check = () => {
        const p = document.querySelector('.playback-time');
        const v = document.querySelector(toLive ? '.tile video:not(.playback)' : 'video.playback');
        const there = toLive
          ? tile.dataset.mode === 'live' && p.dataset.live === 'true'
          : p.dataset.live !== 'true' && v.readyState >= 2 && !v.seeking
            && Math.abs(Number(p.dataset.ms) - target) < 1500;
        if (there) { v.requestVideoFrameCallback(() => { w.t1 = performance.now(); }); }
        else { requestAnimationFrame(check); }
      };
      requestAnimationFrame(check);
    }, { once: true, capture: true });
    return true;";
