//! Driving the web console (`server/console/`) in a real browser: headless
//! Chromium from Debian's packages (`chromium`, `chromium-driver`,
//! `fonts-noto-cjk`), through a `chromedriver` the test starts on a free port
//! and a WebDriver client ([`fantoccini`]).
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use kam_tests::TestApp;
//! use kam_tests::browser::Browser;
//! let app = TestApp::spawn().await;
//! let Some(browser) = Browser::open(&app, "en").await? else {
//!     return Ok(()); // no Chromium here, and none required
//! };
//! browser.login("liu.yang", "kam-demo-2026").await?;
//! browser.goto("#/accounts").await?;
//! browser.wait_for("[data-testid=accounts-table]").await?;
//! browser.screenshot("accounts-en").await?;
//! # Ok(())
//! # }
//! ```
//!
//! Where Chromium or chromedriver is missing a test may skip, saying why,
//! unless `KAM_BROWSER_TESTS=required` (CI sets it, and installs the
//! packages first): then a missing browser fails it.
//!
//! Each [`Browser`] has a profile of its own (a temporary folder) and its own
//! chromedriver, in a process group of its own: dropping the browser kills
//! that group (chromedriver and the Chromium it started) and removes the
//! profile, whether the test passed or not.
//!
//! Waits poll the page (every 50 ms, up to [`WAIT_LIMIT`]) rather than sleep;
//! a wait that runs out saves a screenshot of the page (`failed-….png` in
//! [`screenshot_dir`]) and says what the page showed.

use crate::TestApp;
use anyhow::{Context, bail};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::error::ErrorStatus;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The environment variable that turns a missing browser into a failure
/// when set to `required`.
pub const BROWSER_TESTS_VAR: &str = "KAM_BROWSER_TESTS";

/// The environment variable naming the folder screenshots go to (else
/// `target/console-screenshots`).
pub const SCREENSHOT_DIR_VAR: &str = "KAM_SCREENSHOT_DIR";

/// How long a wait polls before it fails. Generous: the test binary runs
/// many servers side by side on few cores.
pub const WAIT_LIMIT: Duration = Duration::from_secs(30);

/// How often a wait looks again.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// How long chromedriver may take to listen.
const DRIVER_START_LIMIT: Duration = Duration::from_secs(20);

/// The window (and so the screenshot) size: a laptop's.
pub const WINDOW: (u32, u32) = (1280, 800);

/// A tablet held upright, for [`Browser::set_viewport`].
pub const TABLET: (u32, u32) = (768, 1024);

/// The Chromium and chromedriver programs found on this machine.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The browser.
    pub chromium: PathBuf,
    /// Its WebDriver server.
    pub chromedriver: PathBuf,
}

/// `name` on the `PATH`.
fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Chromium and chromedriver, if both are installed. When they are not,
/// prints why and answers `None`, or, with `KAM_BROWSER_TESTS=required`,
/// fails.
pub fn tools() -> anyhow::Result<Option<Tools>> {
    let chromium = program("chromium");
    let chromedriver = program("chromedriver");
    if let (Some(chromium), Some(chromedriver)) = (chromium.clone(), chromedriver.clone()) {
        return Ok(Some(Tools {
            chromium,
            chromedriver,
        }));
    }
    let missing = [
        chromium.is_none().then_some("chromium"),
        chromedriver.is_none().then_some("chromedriver"),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" and ");
    let verb = if chromium.is_none() && chromedriver.is_none() {
        "are"
    } else {
        "is"
    };
    anyhow::ensure!(
        std::env::var(BROWSER_TESTS_VAR).map_or(true, |value| value != "required"),
        "{missing} {verb} not installed, and {BROWSER_TESTS_VAR}=required says the browser tests must run \
         (apt-get install chromium chromium-driver fonts-noto-cjk)"
    );
    eprintln!(
        "skipped: {missing} {verb} not installed, so the console's browser test cannot run \
         (apt-get install chromium chromium-driver fonts-noto-cjk; \
         set {BROWSER_TESTS_VAR}=required to make this a failure)"
    );
    Ok(None)
}

/// Where screenshots go: `KAM_SCREENSHOT_DIR`, else
/// `<target dir>/console-screenshots`.
pub fn screenshot_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(SCREENSHOT_DIR_VAR).filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("console-screenshots")
}

/// A free port on 127.0.0.1 (free when asked; chromedriver takes it at once).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A chromedriver process, leading a process group of its own that the
/// browsers it starts join; dropping it kills the whole group.
struct Driver {
    child: Child,
}

impl Driver {
    /// Starts `chromedriver` on a free port and waits until it listens.
    async fn start(program: &Path) -> anyhow::Result<(Self, u16)> {
        let port = free_port()?;
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .arg("--silent")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let mut driver = Self { child };
        let deadline = Instant::now() + DRIVER_START_LIMIT;
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok((driver, port));
            }
            if let Some(status) = driver.child.try_wait()? {
                bail!("chromedriver exited at start ({status})");
            }
            if Instant::now() >= deadline {
                bail!("chromedriver did not listen on port {port} within {DRIVER_START_LIMIT:?}");
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group is the one this driver leads: its id is the driver's pid.
        let group = format!("-{}", self.child.id());
        Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok();
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// Numbers the screenshots of failed waits, so that none overwrites another.
static FAILURES: AtomicU32 = AtomicU32::new(0);

/// Headless Chromium on the console of one [`TestApp`].
pub struct Browser {
    client: Client,
    base: String,
    language: String,
    // Dropped in this order: the session's client, then the processes, then
    // the profile they wrote to.
    _driver: Driver,
    _profile: TempDir,
}

impl Browser {
    /// Starts Chromium (headless, 1280x800, `--lang=language`, a fresh
    /// profile) on the console of `app`, showing its page. `None` when the
    /// browser is not installed and not required (see [`tools`]).
    pub async fn open(app: &TestApp, language: &str) -> anyhow::Result<Option<Self>> {
        let Some(tools) = tools()? else {
            return Ok(None);
        };
        let profile = tempfile::Builder::new()
            .prefix("kam-chromium-")
            .tempdir()
            .context("cannot make a browser profile folder")?;
        let (driver, port) = Driver::start(&tools.chromedriver).await?;
        let (width, height) = WINDOW;
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": tools.chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={width},{height}"),
                    format!("--lang={language}"),
                ],
                "prefs": { "intl.accept_languages": language },
            },
        });
        let capabilities = match capabilities {
            Value::Object(map) => map,
            _ => bail!("the capabilities are not an object"),
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .context("cannot open a Chromium session through chromedriver")?;
        let browser = Self {
            client,
            base: app.address.clone(),
            language: language.to_owned(),
            _driver: driver,
            _profile: profile,
        };
        browser.goto("#/").await?;
        browser.set_viewport(WINDOW).await?;
        Ok(Some(browser))
    }

    /// Sizes the window so that the page itself (and so a screenshot) is
    /// `(width, height)` CSS pixels ([`WINDOW`] at the start, [`TABLET`]):
    /// the window is larger by whatever frame Chromium draws.
    pub async fn set_viewport(&self, (width, height): (u32, u32)) -> anyhow::Result<()> {
        for _ in 0..3 {
            let inner = self
                .script("return [window.innerWidth, window.innerHeight];", vec![])
                .await?;
            let (Some(inner_width), Some(inner_height)) = (inner[0].as_u64(), inner[1].as_u64())
            else {
                bail!("the page does not tell its size: {inner}");
            };
            if (inner_width, inner_height) == (u64::from(width), u64::from(height)) {
                return Ok(());
            }
            let (outer_width, outer_height) = self.client.get_window_size().await?;
            let frame_width = outer_width.saturating_sub(inner_width);
            let frame_height = outer_height.saturating_sub(inner_height);
            self.client
                .set_window_size(
                    u32::try_from(u64::from(width) + frame_width)?,
                    u32::try_from(u64::from(height) + frame_height)?,
                )
                .await
                .context("cannot size the window")?;
        }
        bail!("the page cannot be made {width}x{height}")
    }

    /// The WebDriver client, for what the helpers here do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The language the browser was started with (`zh-CN`, `en`).
    pub fn language(&self) -> &str {
        &self.language
    }

    /// Opens the console at `route` (`#/accounts?tier=key`; `#/` for home).
    pub async fn goto(&self, route: &str) -> anyhow::Result<()> {
        let url = format!("{}/{route}", self.base);
        self.client
            .goto(&url)
            .await
            .with_context(|| format!("cannot open {url}"))
    }

    /// Reloads the page (a new document: the console resumes its session
    /// from the cookie, or shows the login form).
    pub async fn reload(&self) -> anyhow::Result<()> {
        self.client
            .refresh()
            .await
            .context("cannot reload the page")
    }

    /// The current URL's fragment (`#/accounts`), or empty.
    pub async fn route(&self) -> anyhow::Result<String> {
        let url = self.client.current_url().await?;
        Ok(url.fragment().map(|f| format!("#{f}")).unwrap_or_default())
    }

    /// Logs in through the login form and waits for the console's header.
    pub async fn login(&self, username: &str, password: &str) -> anyhow::Result<()> {
        self.fill("input[name=username]", username).await?;
        self.fill("input[name=password]", password).await?;
        self.click("#login-submit").await?;
        self.wait_for("#logout")
            .await
            .with_context(|| format!("{username} did not get past the login form"))?;
        Ok(())
    }

    /// Logs out with the header's button and waits for the login form.
    pub async fn logout(&self) -> anyhow::Result<()> {
        self.click("#logout").await?;
        self.wait_for("#login-submit").await?;
        Ok(())
    }

    /// Runs `script` in the page (`arguments[i]` are `args`); answers what it returns.
    pub async fn script(&self, script: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        self.client
            .execute(script, args)
            .await
            .with_context(|| format!("the script failed: {script}"))
    }

    /// Runs `script` in the page, which calls its last argument with its answer.
    pub async fn script_async(&self, script: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        self.client
            .execute_async(script, args)
            .await
            .with_context(|| format!("the async script failed: {script}"))
    }

    /// Polls `script` until it returns something other than `null`,
    /// `undefined` or `false`, and answers that; `what` names it in the error.
    pub async fn wait_until(
        &self,
        what: &str,
        script: &str,
        args: Vec<Value>,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            match self.client.execute(script, args.clone()).await {
                Ok(Value::Null | Value::Bool(false)) => {}
                Ok(value) => return Ok(value),
                Err(err) if Instant::now() >= deadline => {
                    return Err(self.timed_out(what).await.context(err.to_string()));
                }
                Err(_) => {}
            }
            if Instant::now() >= deadline {
                return Err(self.timed_out(what).await);
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Waits for an element matching `css` and answers it.
    pub async fn wait_for(&self, css: &str) -> anyhow::Result<Element> {
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            match self.client.find(Locator::Css(css)).await {
                Ok(element) => return Ok(element),
                Err(err) if err.is_no_such_element() => {}
                Err(err) => return Err(err).with_context(|| format!("cannot look for {css}")),
            }
            if Instant::now() >= deadline {
                return Err(self.timed_out(&format!("an element {css}")).await);
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Waits until no element matches `css`.
    pub async fn wait_gone(&self, css: &str) -> anyhow::Result<()> {
        self.wait_until(
            &format!("no element {css}"),
            "return document.querySelector(arguments[0]) === null;",
            vec![json!(css)],
        )
        .await
        .map(drop)
    }

    /// Marks every element matching `css` now with `data-stale`, so that a
    /// wait for `css:not([data-stale])` finds only what the page renders
    /// after (a re-render replaces the marked elements).
    pub async fn mark_stale(&self, css: &str) -> anyhow::Result<()> {
        self.script(
            "document.querySelectorAll(arguments[0]).forEach((e) => e.setAttribute('data-stale', ''));",
            vec![json!(css)],
        )
        .await
        .map(drop)
    }

    /// Whether an element matches `css` now (no waiting).
    pub async fn exists(&self, css: &str) -> anyhow::Result<bool> {
        let found = self
            .script(
                "return document.querySelector(arguments[0]) !== null;",
                vec![json!(css)],
            )
            .await?;
        Ok(found == Value::Bool(true))
    }

    /// The attribute `name` of the first element matching `css` (waiting for it).
    pub async fn attr(&self, css: &str, name: &str) -> anyhow::Result<Option<String>> {
        self.wait_for(css).await?;
        let value = self
            .script(
                "const e = document.querySelector(arguments[0]); \
                 return e ? e.getAttribute(arguments[1]) : null;",
                vec![json!(css), json!(name)],
            )
            .await?;
        Ok(value.as_str().map(str::to_owned))
    }

    /// The text of the first element matching `css` (waiting for it), trimmed.
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        self.wait_for(css).await?;
        let value = self
            .script(
                "const e = document.querySelector(arguments[0]); \
                 return e ? e.textContent : null;",
                vec![json!(css)],
            )
            .await?;
        Ok(value.as_str().unwrap_or_default().trim().to_owned())
    }

    /// For every element matching `css` now: the attributes `names` (`null`
    /// where absent) and `text`, the element's text.
    pub async fn all(&self, css: &str, names: &[&str]) -> anyhow::Result<Vec<Value>> {
        let value = self
            .script(
                "return Array.from(document.querySelectorAll(arguments[0]), (e) => { \
                   const row = { text: e.textContent.trim() }; \
                   for (const name of arguments[1]) row[name] = e.getAttribute(name); \
                   return row; });",
                vec![json!(css), json!(names)],
            )
            .await?;
        Ok(value.as_array().cloned().unwrap_or_default())
    }

    /// Clicks the element matching `css` once it is there (again if the page
    /// re-rendered it meanwhile, or, scrolled to the middle of the window,
    /// while something such as a passing notice covers it).
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            let element = self.wait_for(css).await?;
            match element.click().await {
                Ok(()) => return Ok(()),
                Err(err) if Instant::now() >= deadline => {
                    return Err(err).with_context(|| format!("cannot click {css}"));
                }
                Err(err) if err.is_stale_element_reference() => {}
                Err(fantoccini::error::CmdError::Standard(err))
                    if err.error == ErrorStatus::ElementClickIntercepted =>
                {
                    self.script(
                        "const e = document.querySelector(arguments[0]); \
                         if (e) e.scrollIntoView({ block: 'center' });",
                        vec![json!(css)],
                    )
                    .await?;
                    tokio::time::sleep(POLL_EVERY).await;
                }
                Err(err) => return Err(err).with_context(|| format!("cannot click {css}")),
            }
        }
    }

    /// Types `value` into the field matching `css`, in place of what it held.
    pub async fn fill(&self, css: &str, value: &str) -> anyhow::Result<()> {
        for _ in 0..5 {
            let element = self.wait_for(css).await?;
            let typed = async {
                element.clear().await?;
                element.send_keys(value).await
            };
            match typed.await {
                Ok(()) => return Ok(()),
                Err(err) if err.is_stale_element_reference() => continue,
                Err(err) => return Err(err).with_context(|| format!("cannot type into {css}")),
            }
        }
        bail!("{css} kept being replaced while being typed into")
    }

    /// Chooses the option `value` of the select matching `css` (the page sees
    /// a `change` event, as from a person).
    pub async fn choose(&self, css: &str, value: &str) -> anyhow::Result<()> {
        for _ in 0..5 {
            let element = self.wait_for(css).await?;
            match element.select_by_value(value).await {
                Ok(()) => return Ok(()),
                Err(err) if err.is_stale_element_reference() => continue,
                Err(err) => {
                    return Err(err).with_context(|| format!("cannot choose {value} in {css}"));
                }
            }
        }
        bail!("{css} kept being replaced while being chosen from")
    }

    /// Presses `key` (`Key::Tab`, `Key::Right`) `times` times, as a person
    /// at the keyboard does: real key events, so focus moves as the browser
    /// moves it and `:focus-visible` applies.
    pub async fn press(&self, key: Key, times: usize) -> anyhow::Result<()> {
        let value = char::from(key);
        let mut keys = KeyActions::new("keyboard".to_owned());
        for _ in 0..times {
            keys = keys
                .then(KeyAction::Down { value })
                .then(KeyAction::Up { value });
        }
        self.client
            .perform_actions(keys)
            .await
            .with_context(|| format!("cannot press {key:?}"))?;
        self.client
            .release_actions()
            .await
            .context("cannot release the keyboard")
    }

    /// Saves a PNG of the window to `<screenshot dir>/<name>.png`; answers its path.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let png = self
            .client
            .screenshot()
            .await
            .context("cannot take a screenshot")?;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot make {}", dir.display()))?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// The error of a wait that ran out: what was awaited, where the page
    /// was, what it showed, and a screenshot of it.
    async fn timed_out(&self, what: &str) -> anyhow::Error {
        let route = self.route().await.unwrap_or_default();
        let shown = self
            .script(
                "const m = document.querySelector('main') || document.body; \
                 return m ? m.innerText.slice(0, 600) : '';",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let number = FAILURES.fetch_add(1, Ordering::Relaxed);
        let shot = self
            .screenshot(&format!("failed-{}-{number}", std::process::id()))
            .await
            .map(|path| path.display().to_string())
            .unwrap_or_else(|err| format!("no screenshot: {err:#}"));
        anyhow::anyhow!(
            "waited {WAIT_LIMIT:?} for {what} at {route:?}; the page showed:\n{shown}\n(screenshot: {shot})"
        )
    }
}
