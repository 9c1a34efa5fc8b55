//! The console's accessibility check: [axe-core](https://github.com/dequelabs/axe-core),
//! pinned in `tests/browser/package.json` and its lockfile, injected into
//! the page a [`Browser`] shows and run against the WCAG 2.0 and 2.1 rules
//! of levels A and AA ([`RULE_TAGS`]).
//!
//! ```no_run
//! # async fn example(browser: &kam_tests::browser::Browser) -> anyhow::Result<()> {
//! use kam_tests::axe::Axe;
//! let Some(axe) = Axe::load().await? else {
//!     return Ok(()); // no Node.js here, and none required
//! };
//! let violations = axe.check(browser, "accounts-en").await?;
//! anyhow::ensure!(violations.is_empty(), "{violations:?}");
//! # Ok(())
//! # }
//! ```
//!
//! [`Axe::load`] installs the locked package with `npm ci` (through
//! [`crate::node`]) when `tests/browser/node_modules` is missing or older
//! than the lockfile, so it needs Node.js 20+ and npm as the examples'
//! tests do: where they are missing it answers `None`, saying why, unless
//! `KAM_REQUIRE_NODE=1` (CI sets it), which makes that a failure.
//!
//! The script goes in through WebDriver's "execute script", which Chromium
//! runs outside the page's Content-Security-Policy (the console allows no
//! inline or injected script of its own, `default-src 'self'`); the check
//! makes sure it arrived before it runs it.

use crate::browser::Browser;
use crate::node::{install_dependencies, node_present};
use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::{Value, json};
use std::fmt;
use std::path::{Path, PathBuf};

/// The axe-core tags of the rules run: WCAG 2.0 and 2.1, levels A and AA.
pub const RULE_TAGS: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/// The folder of the package that pins axe-core: `tests/browser`.
pub fn package_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Answers the version of the axe the document holds, or null.
const VERSION: &str = "return window.axe ? window.axe.version : null;";

/// Runs axe on the whole document with the rules tagged `arguments[0]` and
/// answers each violation with the selectors of the elements it found.
const RUN: &str = "const done = arguments[arguments.length - 1]; \
    window.axe.run(document, { \
        runOnly: { type: 'tag', values: arguments[0] }, \
        resultTypes: ['violations'], \
      }) \
      .then((result) => done({ violations: result.violations.map((v) => ({ \
        id: v.id, impact: v.impact, help: v.help, \
        nodes: v.nodes.map((n) => ({ target: JSON.stringify(n.target), summary: n.failureSummary })), \
      })) })) \
      .catch((error) => done({ error: String(error && error.stack || error) }));";

/// One rule an element (or several) breaks, on one page.
#[derive(Debug, Clone, Deserialize)]
pub struct Violation {
    /// The axe rule (`color-contrast`, `label`, …).
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: Option<String>,
    /// What the rule asks, in a sentence.
    pub help: String,
    /// The elements that break it.
    pub nodes: Vec<ViolatingNode>,
    /// The page it was found on (the name given to [`Axe::check`]).
    #[serde(default)]
    pub page: String,
}

/// An element that breaks a rule.
#[derive(Debug, Clone, Deserialize)]
pub struct ViolatingNode {
    /// Its CSS selector, as axe writes it (a JSON list; more than one
    /// selector only inside frames or shadow roots).
    pub target: String,
    /// What axe says to fix.
    pub summary: Option<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{page}: {id} ({impact}): {help}",
            page = self.page,
            id = self.id,
            impact = self.impact.as_deref().unwrap_or("no impact given"),
            help = self.help
        )?;
        for node in &self.nodes {
            let summary = node.summary.as_deref().unwrap_or_default();
            writeln!(
                f,
                "    {}: {}",
                node.target,
                summary.replace('\n', " ").trim()
            )?;
        }
        Ok(())
    }
}

/// axe-core's script, read from the installed package.
pub struct Axe {
    source: String,
}

impl Axe {
    /// Installs the pinned axe-core when it is not installed as locked and
    /// reads its script. `None` when Node.js 20+ and npm are missing and
    /// not required (see [`node_present`]).
    pub async fn load() -> anyhow::Result<Option<Self>> {
        if !node_present("the accessibility check (axe-core)").await? {
            return Ok(None);
        }
        let dir = package_dir();
        install_dependencies(&dir).await?;
        let path = dir.join("node_modules/axe-core/axe.min.js");
        let source = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Some(Self { source }))
    }

    /// Runs the check on what `browser` shows now, injecting axe first when
    /// the document lacks it; answers the violations, each marked with `page`.
    pub async fn check(&self, browser: &Browser, page: &str) -> anyhow::Result<Vec<Violation>> {
        let mut version = browser.script(VERSION, vec![]).await?;
        if version.is_null() {
            // Sent as the script itself, not as a string for the page to hand
            // to `Function` or a `<script>` element: the page's CSP stops
            // those, not WebDriver's own scripts.
            let inject = format!("{}\n;{VERSION}", self.source);
            version = browser
                .client()
                .execute(&inject, vec![])
                .await
                .context("cannot inject axe-core into the page")?;
        }
        if !version.is_string() {
            bail!("axe-core did not arrive in the page (window.axe is {version})");
        }
        let answer = browser
            .script_async(RUN, vec![json!(RULE_TAGS)])
            .await
            .with_context(|| format!("axe-core did not finish on {page}"))?;
        if let Some(error) = answer.get("error").and_then(Value::as_str) {
            bail!("axe-core failed on {page}: {error}");
        }
        let mut violations: Vec<Violation> =
            serde_json::from_value(answer["violations"].clone())
                .with_context(|| format!("axe-core's answer on {page}: {answer}"))?;
        for violation in &mut violations {
            violation.page = page.to_owned();
        }
        Ok(violations)
    }
}
