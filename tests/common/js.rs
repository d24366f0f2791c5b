//! The JavaScript package `js/` (`@uraiden/client`) for the tests that run it with node: its
//! dependencies installed once per test binary (`npm ci` in `js/`, as `build.rs` does for the
//! root's toolchain), so `cargo test` works on a fresh clone.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
};

/// `js/`.
pub fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js")
}

/// `js/node_modules`, installed if it is not.
pub fn installed() -> &'static Path {
    static DONE: OnceLock<PathBuf> = OnceLock::new();
    DONE.get_or_init(|| {
        let modules = js_dir().join("node_modules");
        if !modules.join(".package-lock.json").exists() {
            let out = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(js_dir())
                .output()
                .expect("npm runs");
            assert_ok("npm ci in js/", &out);
        }
        modules
    })
}

/// Fails with `what`, the status and both outputs unless `out` succeeded.
pub fn assert_ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
