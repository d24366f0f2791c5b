//! The README's first command: the whole system on a local chain, run as a user runs it.

use std::process::Command;

#[test]
fn the_main_job_buys_paid_requests_and_settles_every_token() {
    let output =
        Command::new(env!("CARGO_BIN_EXE_uraiden")).args(["--requests", "90", "--price", "2"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("bought 90 paid requests"), "{stdout}");
    assert!(stdout.contains("balance 180, 1 channel(s), deposit 240"), "opened with 80, topped up twice: {stdout}");
    assert!(stdout.contains("closed cooperatively at balance 180"), "{stdout}");
    let balances: Vec<&str> = stdout.lines().skip_while(|l| *l != "balances on chain").skip(1).collect();
    assert_eq!(balances, ["  sender     9820", "  receiver   180", "  contract   0"], "{stdout}");
}

#[test]
fn the_main_job_refuses_nonsense() {
    let output = Command::new(env!("CARGO_BIN_EXE_uraiden")).args(["--requests", "0"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--requests and --price must be at least 1"));
}
