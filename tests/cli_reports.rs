//! The commands that print reports, run as a user runs them: `uraiden demo` (the on-chain
//! lifecycle, shown in docs/contract.md) and `uraiden gas-report` (Markdown and JSON, shown in
//! docs/benchmarks.md), with what they print checked.

use std::process::Command;

fn uraiden(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_uraiden")).args(args).output().unwrap();
    assert!(out.status.success(), "uraiden {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The number on the line that starts with `label` (after trimming), or a panic naming it.
fn number_after(stdout: &str, label: &str) -> u64 {
    let line = stdout.lines().map(str::trim).find(|line| line.starts_with(label));
    let line = line.unwrap_or_else(|| panic!("no line {label:?} in:\n{stdout}"));
    line[label.len()..].trim().parse().unwrap_or_else(|_| panic!("no number on {line:?}"))
}

#[test]
fn demo_runs_both_lifecycles_and_ends_with_the_right_balances() {
    let out = uraiden(&["demo"]);
    // Channel 1: deposits 10 + 10 + 10, paid 15, closed cooperatively; channel 2: deposit 20,
    // paid 6, settled. The sender started with 100.
    let tail = out.split("balances at the end").nth(1).unwrap_or_else(|| panic!("no balances in:\n{out}"));
    assert_eq!(number_after(tail, "sender"), 100 - 15 - 6);
    assert_eq!(number_after(tail, "receiver"), 15 + 6);
    assert_eq!(number_after(tail, "channel contract"), 0);
    let steps: Vec<&str> = out.lines().filter(|line| line.trim_start().starts_with("block")).collect();
    assert_eq!(steps.len(), 10, "one line per transaction:\n{out}");
    for step in steps {
        let gas: u64 = step.rsplit("gas").next().unwrap().trim().parse().unwrap();
        assert!(gas > 21_000, "{step}");
    }
    assert_eq!(out.matches("verified by the contract").count(), 3, "{out}");
}

#[test]
fn gas_report_has_one_row_per_operation_in_both_formats() {
    const OPERATIONS: [&str; 9] = [
        "open, ERC20",
        "open, ERC223",
        "top-up, ERC20",
        "top-up, ERC223",
        "cooperative close",
        "receiver close",
        "uncooperative close",
        "settle",
        "verifyBalanceProof (call)",
    ];
    let markdown = uraiden(&["gas-report"]);
    let (warm, cold) = markdown.split_once("Cold").unwrap_or_else(|| panic!("no cold table:\n{markdown}"));
    for operation in OPERATIONS {
        let rows: Vec<&str> = warm.lines().filter(|l| l.starts_with(&format!("| {operation} |"))).collect();
        assert_eq!(rows.len(), 1, "{operation} in:\n{warm}");
        let cells: Vec<&str> = rows[0].split('|').map(str::trim).collect();
        let (total, execution): (i64, i64) = (cells[2].parse().unwrap(), cells[3].parse().unwrap());
        assert!(execution > 0 && execution <= total, "{}", rows[0]);
        assert!(["yes", "**no**"].contains(&cells[5]), "{}", rows[0]);
    }
    assert!(cold.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| operation")).count() >= 1, "{cold}");

    let json: serde_json::Value = serde_json::from_str(&uraiden(&["gas-report", "--json"])).unwrap();
    let rows = json["warm"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|row| row["operation"].as_str().unwrap()).collect();
    assert_eq!(names, OPERATIONS);
    for (row, line) in rows.iter().zip(OPERATIONS) {
        let md = warm.lines().find(|l| l.starts_with(&format!("| {line} |"))).unwrap();
        let total = row["total"].as_i64().unwrap();
        assert!(md.contains(&format!("| {total} |")), "the two formats disagree on {line}: {md} vs {row}");
    }
}
