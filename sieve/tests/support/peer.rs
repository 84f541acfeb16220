//! Finding the real peers (Dovecot, Postfix, swaks, Python ...) that interop tests talk to.
//!
//! `testsupport/` holds the original; each published crate carries a copy in its own
//! `tests/support/`, so that its tests run from the unpacked package alone
//! (`.ci/package-check` fails when a copy differs). Include it from an integration test with
//! `#[path = "support/peer.rs"] mod peer;` (`../testsupport/peer.rs` from the root package).
//!
//! The rule: a test whose peer is missing **fails** when `CI=true` (CI installs every peer through
//! `.ci/run`), and elsewhere skips with a line naming the Debian package to install.

#![allow(dead_code)]

use std::path::PathBuf;

/// Directories searched besides `PATH`: Debian puts daemons and Postfix's tools in sbin.
const EXTRA_DIRS: &[&str] = &["/usr/sbin", "/usr/local/sbin", "/sbin"];

/// Whether this run is CI, where a missing peer is an error.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Finds `program`; `package` is the Debian package that provides it.
///
/// Returns `None` (after printing a skip line) when the program is missing outside CI, and
/// panics when it is missing under `CI=true`.
pub fn require(program: &str, package: &str) -> Option<PathBuf> {
    if let Some(path) = find(program) {
        return Some(path);
    }
    missing(&format!("program `{program}`"), package)
}

/// Requires a data file that a Debian package installs (a test corpus).
pub fn require_file(path: &std::path::Path, package: &str) -> Option<PathBuf> {
    if path.is_file() {
        return Some(path.to_owned());
    }
    missing(&format!("file `{}`", path.display()), package)
}

/// Finds a program without any skip or failure policy.
pub fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Requires a Python 3 module importable by `python3`; `package` names where it comes from.
pub fn require_python_module(module: &str, package: &str) -> Option<PathBuf> {
    let python = require("python3", "python3")?;
    let ok = std::process::Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Some(python)
    } else {
        missing(&format!("python module `{module}`"), package)
    }
}

fn missing(what: &str, package: &str) -> Option<PathBuf> {
    assert!(
        !in_ci(),
        "{what} is missing under CI=true: .ci/run must install the `{package}` package"
    );
    eprintln!("SKIP: {what} not found; install the `{package}` package to run this interop test");
    None
}
