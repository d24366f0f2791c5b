//! The README and the pages in `docs/` checked against the code. The README is a front page:
//! under 250 lines, the two commands as CI runs them, a link to every page in `docs/`; no page
//! links a file or a heading that does not exist. Each page that shows a program's output shows
//! what the program prints: the demo's block in `docs/contract.md`, the gas tables in
//! `docs/benchmarks.md` (`uraiden gas-report`), the proxy's configuration keys in
//! `docs/proxy.md` (what the configuration file accepts), the commands and options named in
//! `docs/receiver.md` and `docs/sender.md`; and a settle gets back the gas `docs/contract.md`
//! says. (`tests/main_job.rs` checks the README's main-job block.)

mod common;

use std::{path::Path, process::Command};

use common::*;
use uraiden::{
    chain::{Chain, EvmChain},
    contract::Call,
};

/// A file of the repository, by its path from the root (`README.md`, `docs/contract.md`).
fn page(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The first fenced block after `heading` in the page `name` (its language tag left out).
fn block_after(name: &str, heading: &str) -> String {
    let text = page(name);
    let rest = &text[text.find(heading).unwrap_or_else(|| panic!("no {heading:?} in {name}"))..];
    let fence = rest.find("\n```").unwrap_or_else(|| panic!("no fenced block after {heading:?} in {name}")) + 1;
    let start = fence + rest[fence..].find('\n').unwrap() + 1;
    let end = start + rest[start..].find("```\n").unwrap_or_else(|| panic!("no end of the block in {name}"));
    rest[start..end].to_owned()
}

/// The text of `name` between `from` and `to` (both excluded).
fn between<'a>(name: &str, text: &'a str, from: &str, to: &str) -> &'a str {
    let start = text.find(from).unwrap_or_else(|| panic!("no {from:?} in {name}")) + from.len();
    let end = start + text[start..].find(to).unwrap_or_else(|| panic!("no {to:?} after {from:?} in {name}"));
    &text[start..end]
}

/// What `uraiden args…` prints on stdout; it must succeed.
fn uraiden(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_uraiden")).args(args).output().unwrap();
    assert!(output.status.success(), "uraiden {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The Markdown pages in `docs/`, as `docs/NAME.md`, sorted.
fn doc_pages() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut pages: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    pages.sort();
    pages
}

/// The targets of the Markdown links `](target)` in `text` as (file, fragment), the file empty
/// for a fragment of the same page; links to other sites left out.
fn local_links_with_fragments(text: &str) -> Vec<(&str, Option<&str>)> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split_once(')').map(|(target, _)| target))
        .filter(|target| !target.contains("://"))
        .map(|target| match target.split_once('#') {
            Some((file, fragment)) => (file, Some(fragment)),
            None => (target, None),
        })
        .collect()
}

/// The files that `text` links to (fragments left out).
fn local_links(text: &str) -> Vec<&str> {
    local_links_with_fragments(text).into_iter().map(|(file, _)| file).filter(|file| !file.is_empty()).collect()
}

/// The anchors of a page's headings, as GitHub makes them: lower case, spaces to `-`,
/// punctuation but `-` and `_` dropped.
fn anchors(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| line.starts_with('#'))
        .map(|line| {
            line.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect()
}

#[test]
fn the_readme_is_a_front_page_that_links_every_page() {
    let readme = page("README.md");
    let lines = readme.lines().count();
    assert!(lines < 250, "README.md has {lines} lines; move the rest to a page in docs/");
    let links = local_links(&readme);
    for doc in doc_pages() {
        assert!(links.contains(&doc.as_str()), "README.md does not link {doc}");
    }
    // The two commands, exactly as CI runs them on a fresh machine.
    assert_eq!(
        block_after("README.md", "## Two commands"),
        "cargo run --release             # the main job: the whole system on a local chain\n\
         cargo test --release            # the whole test suite\n"
    );
}

#[test]
fn every_local_link_names_a_file_and_a_heading_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in std::iter::once("README.md".to_owned()).chain(doc_pages()) {
        let dir = root.join(&name).parent().unwrap().to_owned();
        let text = page(&name);
        for (target, fragment) in local_links_with_fragments(&text) {
            let path = if target.is_empty() { root.join(&name) } else { dir.join(target) };
            assert!(path.exists(), "{name} links {target}, which does not exist");
            if let Some(fragment) = fragment.filter(|_| path.extension().is_some_and(|e| e == "md")) {
                let linked = std::fs::read_to_string(&path).unwrap();
                assert!(
                    anchors(&linked).iter().any(|a| a == fragment),
                    "{name} links {target}#{fragment}: no such heading"
                );
            }
        }
    }
}

#[test]
fn the_demo_block_is_what_the_demo_prints() {
    assert_eq!(block_after("docs/contract.md", "## The on-chain lifecycle demo"), uraiden(&["demo"]));
}

/// `scripts/bench-report` writes `uraiden gas-report`'s tables between `#### Gas` and the next
/// heading; the embedded chain is deterministic, so they are what it prints today.
#[test]
fn the_gas_tables_are_what_the_gas_report_prints() {
    let name = "docs/benchmarks.md";
    let text = page(name);
    let tables = between(name, &text, "#### Gas\n", "\n#### ");
    assert_eq!(tables.trim(), uraiden(&["gas-report"]).trim(), "{name}'s gas tables differ from `uraiden gas-report`");
}

/// Every key in `docs/proxy.md`'s table is one the configuration file accepts, and the reverse:
/// the file's parser names the keys it expects when it meets an unknown one.
#[test]
fn the_proxy_keys_are_the_keys_the_configuration_accepts() {
    let name = "docs/proxy.md";
    let text = page(name);
    let table = between(name, &text, "| key | meaning |", "\n\n");
    let mut documented: Vec<String> = Vec::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let cell = row.split('|').nth(1).unwrap().trim();
        // "`[chain] contract`, `deployment_block`" or "`[[route]] dir` / `upstream` / `echo`"
        let (section, keys) = cell.trim_start_matches('`').split_once(' ').unwrap();
        for key in keys.split([',', '/']).map(|k| k.trim().trim_matches('`')) {
            documented.push(format!("{section} {key}"));
        }
    }
    documented.sort();

    let mut accepted: Vec<String> = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let route = "[[route]]\npath = \"/x\"\nprice = 1\necho = true\n";
    for (section, file) in [
        ("[chain]", format!("[chain]\nno_such_key = 1\n{route}")),
        ("[receiver]", format!("[receiver]\nno_such_key = 1\n{route}")),
        ("[server]", format!("[server]\nno_such_key = 1\n{route}")),
        ("[[route]]", format!("{route}no_such_key = 1\n")),
    ] {
        let config = dir.path().join("proxy.toml");
        std::fs::write(&config, file).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_uraiden"))
            .args(["proxy", "--check", "--config"])
            .arg(&config)
            .env_remove("ETH_RPC_URL")
            .env_remove("PRIVATE_KEY")
            .env_remove("URAIDEN_ADMIN_TOKEN")
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        // serde: "expected `a`", "expected `a` or `b`", "expected one of `a`, `b`, `c`".
        let expected = stderr.split("expected ").nth(1).unwrap_or_else(|| panic!("{section}: {stderr}"));
        let expected = expected.lines().next().unwrap();
        for key in expected.split('`').skip(1).step_by(2) {
            accepted.push(format!("{section} {key}"));
        }
    }
    accepted.sort();
    assert_eq!(documented, accepted, "{name}'s key table (left) and the configuration file's keys (right)");
}

/// The receiver's commands that `docs/receiver.md` shows exist, with the options it gives them.
#[test]
fn the_receiver_commands_shown_are_the_receivers_commands() {
    let block = block_after("docs/receiver.md", "## Running a receiver");
    let mut shown = 0;
    for line in block.lines().filter(|l| l.starts_with("uraiden receiver ")) {
        let command: Vec<&str> = line.split('#').next().unwrap().split_whitespace().collect();
        let help = uraiden(&["receiver", command[2], "--help"]);
        for option in command.iter().filter(|word| word.starts_with("--")) {
            let option = option.trim_matches(['[', ']']);
            assert!(help.contains(option), "`{line}`: no {option} in `uraiden receiver {} --help`", command[2]);
        }
        shown += 1;
    }
    assert_eq!(shown, 5, "{block}");
}

/// The options of `uraiden get` that `docs/sender.md` lists are options of `uraiden get`.
#[test]
fn the_get_options_listed_are_the_get_commands_options() {
    let name = "docs/sender.md";
    let text = page(name);
    let list = between(name, &text, "`uraiden get URL` (curl-like: ", ") writes the body");
    let help = uraiden(&["get", "--help"]);
    let options: Vec<&str> = list
        .split('`')
        .filter(|word| word.starts_with('-'))
        .map(|word| word.split_whitespace().next().unwrap())
        .collect();
    assert!(options.len() >= 9, "{list}");
    for option in options {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(option) || l.contains(&format!(" {option} "))),
            "{name} lists {option}, which `uraiden get --help` does not show:\n{help}"
        );
    }
}

/// EIP-3529: clearing a slot that was non-zero when the transaction began refunds 4,800. A
/// settle clears two (the channel and its closing balance), so it gets back 9,600 of the 22,100
/// the close request paid to write the closing balance; a receiver's close clears one
/// (`docs/contract.md`, its gas section).
#[test]
fn settle_gets_back_4800_per_cleared_slot() {
    let mut f = Fixture::new(EvmChain::new());
    let (s, r) = (f.sender.address(), f.receiver.address());
    // Warm, as in the gas report: the contract (another channel's deposit) and the receiver
    // already hold tokens, so no payout below clears a token balance.
    f.open_erc223(50);
    f.c.transfer(&mut f.chain, f.deployer.address(), r, u256(5)).unwrap();

    let ch = f.open_erc223(10);
    let sig = f.pay(&ch, 4);
    f.c.close(&mut f.chain, s, r, ch.open_block, u192(4), sig).unwrap();
    f.chain.mine(u64::from(CHALLENGE_PERIOD) + 1).unwrap();
    let (_, data) = Call::Settle { receiver: r, open_block: ch.open_block }.encode(f.c.token, f.c.channels);
    let (outcome, before_refund) = f.chain.call_with_gas(s, f.c.channels, data).unwrap();
    assert!(outcome.is_success(), "{outcome:?}");
    let tx = f.c.settle(&mut f.chain, s, r, ch.open_block).unwrap();
    assert_eq!(before_refund - tx.gas_used, 2 * 4_800);

    let ch = f.open_erc223(10);
    let sig = f.pay(&ch, 4);
    let close = Call::Close { receiver: r, open_block: ch.open_block, balance: u192(4), balance_sig: sig.clone() };
    let (_, data) = close.encode(f.c.token, f.c.channels);
    let (outcome, before_refund) = f.chain.call_with_gas(r, f.c.channels, data).unwrap();
    assert!(outcome.is_success(), "{outcome:?}");
    let tx = f.c.close(&mut f.chain, r, r, ch.open_block, u192(4), sig).unwrap();
    assert_eq!(before_refund - tx.gas_used, 4_800);
}
