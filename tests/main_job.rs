//! The README's first command: the whole system on a local chain, run as a user runs it, and
//! what it prints against the README's block.

use std::process::Command;

#[test]
fn the_main_job_buys_paid_requests_and_settles_every_token() {
    let output =
        Command::new(env!("CARGO_BIN_EXE_uraiden")).args(["--requests", "90", "--price", "2"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("bought 90 paid requests"), "{stdout}");
    assert!(stdout.contains("balance 180, 1 channel(s), deposit 240"), "opened with 80, topped up twice: {stdout}");
    // Then 90 more with a proof each (360), and 90 from one prepaid session of 100 (200): the 10
    // requests it did not use (20) are refunded at the cooperative close.
    assert!(stdout.contains("topped up by 360: deposit 600"), "{stdout}");
    assert!(stdout.contains("bought 90 more with prepaid sessions"), "{stdout}");
    assert!(stdout.contains("closed cooperatively at balance 540 (20 of unused prepaid requests refunded"), "{stdout}");
    let balances: Vec<&str> = stdout.lines().skip_while(|l| *l != "balances on chain").skip(1).collect();
    assert_eq!(balances, ["  sender     9460", "  receiver   540", "  contract   0"], "{stdout}");
}

#[test]
fn the_main_job_refuses_nonsense() {
    let output = Command::new(env!("CARGO_BIN_EXE_uraiden")).args(["--requests", "0"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--requests and --price must be at least 1"));
}

/// The README's block is what the main job prints with its defaults, line for line, but for
/// what varies from run to run: addresses and hashes, URLs (their ports), the time and the rate.
#[test]
fn the_readme_block_is_what_the_main_job_prints() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let rest = &readme[readme.find("### The main job").expect("no \"### The main job\" in README.md")..];
    let start = rest.find("```\n").expect("a fenced block") + 4;
    let block = &rest[start..start + rest[start..].find("```\n").expect("the block's end")];

    let output = Command::new(env!("CARGO_BIN_EXE_uraiden")).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let shown: Vec<String> = block.lines().map(steady).collect();
    let printed: Vec<String> = stdout.lines().map(steady).collect();
    assert_eq!(shown, printed, "README.md's main-job block (left) and what `uraiden` printed (right):\n{stdout}");
}

/// `line` with what varies between runs replaced: `0x…` words by `0x`, URLs by `URL`, and the
/// time, ratio and rate of "bought … in T s (… R requests/s)" by `T` and `R`.
fn steady(line: &str) -> String {
    let words: Vec<String> = line
        .split(' ')
        .map(|word| {
            let bare = word.trim_matches(|c: char| "(),".contains(c));
            if bare.starts_with("0x") {
                word.replace(bare, "0x")
            } else if bare.contains("://") {
                word.replace(bare, "URL")
            } else {
                word.to_owned()
            }
        })
        .collect();
    let line = words.join(" ");
    match (line.find(" in "), line.find(" requests/s)")) {
        (Some(at), Some(end)) if line.starts_with("bought ") => format!("{} in T s (R{}", &line[..at], &line[end..]),
        _ => line,
    }
}
