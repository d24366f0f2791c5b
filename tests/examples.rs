//! The programs of `examples/` run to completion: each starts its own anvil, does what its
//! `//!` says, exits 0 and prints its last line.
//!
//! The binaries are the ones cargo builds beside this test (`target/<profile>/examples/`):
//! `cargo test --release` builds them; `cargo test --release --test examples` alone does not, so
//! run `cargo build --release --examples` first. A binary that is missing, or older than its
//! source or the library's, fails the test rather than running stale code.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::SystemTime,
};

/// Each example, and a line its output must hold.
const EXAMPLES: &[(&str, &str)] = &[
    ("paywalled_service", "GET /paid without payment -> 402 Payment Required"),
    ("paying_client", "paying client: done"),
    ("cash_out", "cash out: done, collected 30"),
];

#[test]
fn paywalled_service_runs() {
    run(EXAMPLES[0]);
}

#[test]
fn paying_client_runs() {
    run(EXAMPLES[1]);
}

#[test]
fn cash_out_runs() {
    run(EXAMPLES[2]);
}

/// Every file in `examples/` is listed in [`EXAMPLES`], so none goes untested.
#[test]
fn every_example_is_run() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.extension().is_some_and(|e| e == "rs") {
            assert!(EXAMPLES.iter().any(|(n, _)| *n == name), "examples/{name}.rs is not run by tests/examples.rs");
        }
    }
}

fn run((name, expected): (&str, &str)) {
    let binary = binary(name);
    let output = Command::new(&binary).output().unwrap_or_else(|e| panic!("running {}: {e}", binary.display()));
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "example {name} failed ({}):\n{stdout}\n{stderr}", output.status);
    assert!(stdout.lines().any(|l| l.contains(expected)), "example {name} did not print {expected:?}:\n{stdout}");
}

/// The example's binary beside this test's, checked to exist and to be newer than its source
/// and every file of the library.
fn binary(name: &str) -> PathBuf {
    // This test runs as target/<profile>/deps/examples-<hash>.
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let binary = profile.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let hint = "build the examples first: `cargo build --release --examples` (`cargo test --release` does it)";
    let built = modified(&binary).unwrap_or_else(|| panic!("{} is missing: {hint}", binary.display()));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = vec![root.join("examples").join(format!("{name}.rs"))];
    collect_rs(&root.join("src"), &mut sources);
    for source in sources {
        let changed = modified(&source).unwrap_or_else(|| panic!("{} is missing", source.display()));
        assert!(built >= changed, "{} is older than {}: {hint}", binary.display(), source.display());
    }
    binary
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}
