//! The layering of `src/`, kept by CI rather than by memory.
//!
//! [`LAYERS`] is the one table of rules: the library's top-level modules from the bottom layer
//! to the top, each with its one job and the modules it may import. The tests read every `.rs`
//! file under `src/` (comments and string literals stripped first), resolve every `use` path and
//! every inline `crate::…`/`super::…` path to the module it names (following re-exports), and
//! fail, naming file:line and the edge, when
//! - a module imports one its row does not allow (an arrow up, or sideways where none is
//!   drawn: the sender never imports the paywall or the receiver);
//! - the top-level modules import each other in a circle;
//! - the files inside one top-level module's folder (`src/receiver/`, `src/paywall/`, …) import
//!   each other in a circle: a module's files are rooms, not one object in several files. A
//!   subfolder (`src/paywall/proxy/`) counts as one room; the folder's `mod.rs` is its facade
//!   and is left out: it declares and re-exports the others.
//!
//! `docs/architecture.md` draws the same layers; a test checks that its table says what
//! [`LAYERS`] says.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    path::{Path, PathBuf},
};

/// One top-level module of the library: its one job and what it may import.
struct Layer {
    module: &'static str,
    job: &'static str,
    may_import: &'static [&'static str],
}

/// The layers, from the bottom up. A module may import only the modules in its row (and
/// itself); everything a row names sits above it in this list.
const LAYERS: &[Layer] = &[
    Layer {
        module: "proof",
        job: "EIP-712 balance proofs and closing agreements: digests, signing, recovery",
        may_import: &[],
    },
    Layer {
        module: "channel",
        job: "the shared nouns: channel identity, on-chain info, status and the event-to-state transition",
        may_import: &["proof"],
    },
    Layer {
        module: "chain",
        job: "the synchronous Chain trait: the embedded revm chain and a JSON-RPC node behind it",
        may_import: &["proof", "channel"],
    },
    Layer {
        module: "contract",
        job: "the sol! bindings, calls, decoded events and reverts, a typed client over any Chain",
        may_import: &["proof", "channel", "chain"],
    },
    Layer {
        module: "model",
        job: "the reference model of the contract and its token: the specification",
        may_import: &["proof", "channel", "chain", "contract"],
    },
    Layer {
        module: "node",
        job: "the async node: blocks, logs, and the one way to send a transaction (TxSender)",
        may_import: &["proof", "channel", "chain", "contract"],
    },
    Layer {
        module: "protocol",
        job: "the wire vocabulary: RDN headers, x402 types, the payment, refusal reasons, API shapes",
        may_import: &["proof", "channel"],
    },
    Layer {
        module: "receiver",
        job: "the receiver's channel manager: follows the chain, stores payments, defends the money",
        may_import: &["proof", "channel", "chain", "contract", "node", "protocol"],
    },
    Layer {
        module: "paywall",
        job: "HTTP 402 payments as a tower layer, the management API, the proxy",
        may_import: &["proof", "channel", "chain", "contract", "node", "protocol", "receiver"],
    },
    Layer {
        module: "sender",
        job: "the sender's channel client and the HTTP client that pays by itself",
        may_import: &["proof", "channel", "chain", "contract", "node", "protocol"],
    },
    Layer {
        module: "gas",
        job: "gas per channel operation, warm and cold, against the goals",
        may_import: &["proof", "channel", "chain", "contract", "model"],
    },
    Layer {
        module: "cli",
        job: "the uraiden command line (the binary's, top of everything)",
        may_import: &[
            "proof", "channel", "chain", "contract", "model", "node", "protocol", "receiver", "paywall", "sender",
            "gas",
        ],
    },
];

/// `src/`, or the tree `ARCHITECTURE_SRC` names (to check another branch's sources, exported).
fn src_dir() -> PathBuf {
    match std::env::var_os("ARCHITECTURE_SRC") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
    }
}

#[test]
fn no_module_imports_one_its_layer_does_not_allow() {
    let crate_ = Crate::read(&src_dir());
    let failures = layer_violations(&crate_);
    assert!(failures.is_empty(), "imports against the layers (tests/architecture.rs LAYERS):\n{}", failures.join("\n"));
}

#[test]
fn no_circle_among_top_level_modules() {
    let crate_ = Crate::read(&src_dir());
    let failures = circles(&crate_, &[], 1);
    assert!(failures.is_empty(), "top-level modules import each other in a circle:\n{}", failures.join("\n"));
}

#[test]
fn no_circle_among_the_files_of_a_folder() {
    let crate_ = Crate::read(&src_dir());
    let mut failures = Vec::new();
    for folder in crate_.folders() {
        failures.extend(circles(&crate_, &folder, folder.len() + 1));
    }
    assert!(failures.is_empty(), "files of one folder import each other in a circle:\n{}", failures.join("\n"));
}

#[test]
fn every_module_has_a_row_and_every_row_points_down() {
    let crate_ = Crate::read(&src_dir());
    let rows: Vec<&str> = LAYERS.iter().map(|l| l.module).collect();
    for module in crate_.top_level() {
        assert!(rows.contains(&module.as_str()), "src/{module} is in no row of LAYERS: give it a layer");
    }
    for (i, layer) in LAYERS.iter().enumerate() {
        for below in layer.may_import {
            let at = rows.iter().position(|r| r == below);
            assert!(
                at.is_some_and(|at| at < i),
                "{} may import {below}, which is not below it in LAYERS",
                layer.module
            );
        }
    }
}

#[test]
fn docs_table_says_what_the_layers_say() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md");
    let doc = std::fs::read_to_string(&path).expect("docs/architecture.md");
    // Rows of the form `| `module` | job | `a`, `b` |`, the top layer first.
    let mut rows = Vec::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 3, "docs/architecture.md: a layer row has three cells: {line}");
        let imports: Vec<String> = cells[2]
            .split(',')
            .map(|s| s.trim().trim_matches('`').to_string())
            .filter(|s| !s.is_empty() && s != "nothing")
            .collect();
        rows.push((cells[0].trim_matches('`').to_string(), cells[1].to_string(), imports));
    }
    let expected: Vec<(String, String, Vec<String>)> = LAYERS
        .iter()
        .rev()
        .map(|l| (l.module.to_string(), l.job.to_string(), l.may_import.iter().map(|s| s.to_string()).collect()))
        .collect();
    assert_eq!(rows, expected, "docs/architecture.md's table (top layer first) differs from LAYERS");
}

/// Prints the module graph as it is (`cargo test --test architecture -- --ignored --nocapture`).
#[test]
#[ignore = "prints the graph; not a check"]
fn print_the_graph() {
    let crate_ = Crate::read(&src_dir());
    let mut edges: BTreeMap<(String, String), usize> = BTreeMap::new();
    for import in crate_.imports() {
        let (Some(from), Some(to)) = (import.from.first(), import.to.first()) else { continue };
        if from != to {
            *edges.entry((from.clone(), to.clone())).or_default() += 1;
        }
    }
    for ((from, to), count) in edges {
        println!("{from} -> {to} ({count} paths)");
    }
}

/// The scanner can fail: a planted up-import, a planted circle between two top-level modules
/// and one between two files of a folder are each found, with file and line.
#[test]
fn scanner_finds_planted_violations() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "pub mod proof;\npub mod chain;\npub mod contract;\npub mod sender;\npub mod receiver;\n");
    write("proof/mod.rs", "// use crate::sender; in a comment\npub fn f() { let _ = \"crate::sender::x\"; }\n");
    write("chain/mod.rs", "mod rpc;\npub use rpc::Rpc;\n");
    write("chain/rpc.rs", "use std::fmt;\n\nuse crate::{\n    proof,\n    contract::Revert,\n};\npub struct Rpc;\n");
    write("contract/mod.rs", "pub struct Revert;\nfn g() -> crate::chain::Rpc { crate::chain::Rpc }\n");
    write("sender/mod.rs", "mod http;\nfn h() { let _ = r#\"use crate::receiver;\"#; }\n");
    write(
        "sender/http.rs",
        "#[cfg(test)]\nmod tests {\n    use super::*;\n    fn t() { crate::receiver::Manager::new(); }\n}\n",
    );
    write("receiver/mod.rs", "mod manager;\nmod follower;\npub use manager::Manager;\n");
    write("receiver/manager.rs", "use super::follower::Follower;\npub struct Manager;\n");
    write("receiver/follower.rs", "use super::Manager;\npub struct Follower;\n");

    let crate_ = Crate::read(dir.path());
    let layers = layer_violations(&crate_);
    assert_eq!(
        layers,
        [
            "src/chain/rpc.rs:5: chain → contract (crate::contract::Revert); chain may import: proof, channel",
            "src/sender/http.rs:4: sender → receiver (crate::receiver::Manager::new); sender may import: proof, channel, chain, contract, node, protocol",
        ],
        "{layers:#?}"
    );
    let top = circles(&crate_, &[], 1);
    assert_eq!(top.len(), 1, "{top:#?}");
    assert!(top[0].contains("chain → contract at src/chain/rpc.rs:5"), "{top:#?}");
    assert!(top[0].contains("contract → chain at src/contract/mod.rs:2"), "{top:#?}");
    let receiver = circles(&crate_, &["receiver".to_string()], 2);
    assert_eq!(receiver.len(), 1, "{receiver:#?}");
    assert!(
        receiver[0].contains("receiver::follower → receiver::manager at src/receiver/follower.rs:1"),
        "{receiver:#?}"
    );
    assert!(
        receiver[0].contains("receiver::manager → receiver::follower at src/receiver/manager.rs:1"),
        "{receiver:#?}"
    );
}

/// Comments, strings, raw strings, chars and lifetimes are stripped, and line numbers kept.
#[test]
fn stripping_keeps_code_and_lines() {
    let text = "let a = 'x'; // crate::b\nfn f<'a>(s: &'a str) { /* crate::c\n */ let _ = b\"crate::d\\\"\"; r##\"crate::e\"##; '\\''; crate::g }";
    let stripped = strip(text);
    assert_eq!(stripped.lines().count(), 3);
    assert!(!stripped.contains("crate::b") && !stripped.contains("crate::c") && !stripped.contains("crate::d"));
    assert!(
        !stripped.contains("crate::e") && stripped.contains("crate::g") && stripped.contains("fn f<'a>(s: &'a str)")
    );
}

// ---------------------------------------------------------------------------------------------
// The rules applied to the scanned crate.
// ---------------------------------------------------------------------------------------------

/// Every import from one top-level module to another that its row does not allow.
fn layer_violations(crate_: &Crate) -> Vec<String> {
    let mut failures = Vec::new();
    for import in crate_.imports() {
        let (Some(from), Some(to)) = (import.from.first(), import.to.first()) else { continue };
        if from == to {
            continue;
        }
        let Some(layer) = LAYERS.iter().find(|l| l.module == from) else {
            failures.push(format!("{}:{}: {from} is in no row of LAYERS", import.file, import.line));
            continue;
        };
        if !layer.may_import.contains(&to.as_str()) {
            failures.push(format!(
                "{}:{}: {from} → {to} ({}); {from} may import: {}",
                import.file,
                import.line,
                import.written,
                if layer.may_import.is_empty() { "nothing".to_string() } else { layer.may_import.join(", ") }
            ));
        }
    }
    failures
}

/// The circles among the modules inside `folder`, each module cut to `depth` segments (1: the
/// top-level modules; `folder.len() + 1`: the files and subfolders of `folder`). The folder's
/// own `mod.rs` is its facade and takes no part. One line per circle, naming its edges.
fn circles(crate_: &Crate, folder: &[String], depth: usize) -> Vec<String> {
    // Edge (from, to) -> the first place it is written.
    let mut edges: BTreeMap<(String, String), Place> = BTreeMap::new();
    for import in crate_.imports() {
        let inside = |m: &[String]| m.len() >= depth && m.starts_with(folder);
        if !inside(&import.from) || !inside(&import.to) {
            continue;
        }
        let (from, to) = (import.from[..depth].join("::"), import.to[..depth].join("::"));
        if from != to {
            edges.entry((from, to)).or_insert(Place { file: import.file.clone(), line: import.line });
        }
    }
    let mut out = Vec::new();
    for component in strongly_connected(&edges) {
        let inner: Vec<String> = edges
            .iter()
            .filter(|((a, b), _)| component.contains(a) && component.contains(b))
            .map(|((a, b), at)| format!("{a} → {b} at {at}"))
            .collect();
        let name = if folder.is_empty() { "src".to_string() } else { format!("src/{}", folder.join("/")) };
        out.push(format!(
            "{name}: {{{}}}: {}",
            component.iter().cloned().collect::<Vec<_>>().join(", "),
            inner.join("; ")
        ));
    }
    out
}

/// The strongly connected components of more than one node (Tarjan).
fn strongly_connected(edges: &BTreeMap<(String, String), Place>) -> Vec<BTreeSet<String>> {
    let nodes: BTreeSet<&String> = edges.keys().flat_map(|(a, b)| [a, b]).collect();
    let nodes: Vec<&String> = nodes.into_iter().collect();
    let index_of = |n: &String| nodes.iter().position(|m| *m == n).unwrap();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (a, b) in edges.keys() {
        next[index_of(a)].push(index_of(b));
    }
    struct Tarjan {
        next: Vec<Vec<usize>>,
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        counter: usize,
        found: Vec<Vec<usize>>,
    }
    impl Tarjan {
        fn visit(&mut self, v: usize) {
            self.index[v] = Some(self.counter);
            self.low[v] = self.counter;
            self.counter += 1;
            self.stack.push(v);
            self.on_stack[v] = true;
            for w in self.next[v].clone() {
                match self.index[w] {
                    None => {
                        self.visit(w);
                        self.low[v] = self.low[v].min(self.low[w]);
                    }
                    Some(i) if self.on_stack[w] => self.low[v] = self.low[v].min(i),
                    Some(_) => {}
                }
            }
            if Some(self.low[v]) == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    self.found.push(component);
                }
            }
        }
    }
    let n = nodes.len();
    let mut t = Tarjan {
        next,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        counter: 0,
        found: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            t.visit(v);
        }
    }
    t.found.into_iter().map(|c| c.into_iter().map(|i| nodes[i].clone()).collect()).collect()
}

// ---------------------------------------------------------------------------------------------
// The scanner: files to modules, source to paths, paths to modules.
// ---------------------------------------------------------------------------------------------

/// A file and line.
#[derive(Clone, Debug)]
struct Place {
    file: String,
    line: usize,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A path written in module `module` (of file `file`), absolute, not yet resolved.
#[derive(Debug)]
struct Written {
    file: String,
    line: usize,
    path: Vec<String>,
}

/// One import resolved: the module of the file that writes it, and the module it names.
#[derive(Debug)]
struct Import {
    file: String,
    line: usize,
    /// The file's module (inline modules such as `mod tests` count as their file's).
    from: Vec<String>,
    /// The module the path names, re-exports followed.
    to: Vec<String>,
    /// The path as written, made absolute.
    written: String,
}

/// The modules of a crate and the paths its files write.
#[derive(Debug, Default)]
struct Crate {
    /// Every module (from files and inline `mod x { }`), by path; `[]` is the crate root.
    modules: BTreeSet<Vec<String>>,
    /// The module of each file: `src/a/b.rs` is `[a, b]`, `src/a/mod.rs` is `[a]`.
    file_modules: BTreeMap<String, Vec<String>>,
    /// The names each module binds with `use` (re-exported or not): name -> absolute path.
    bindings: BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>>,
    written: Vec<Written>,
}

impl Crate {
    /// Reads every `.rs` file under `src` but `main.rs` (the binary, above everything).
    fn read(src: &Path) -> Crate {
        let mut files = Vec::new();
        collect_rs(src, &mut files);
        files.sort();
        let mut crate_ = Crate::default();
        for file in files {
            let relative = file.strip_prefix(src).unwrap();
            let parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if parts == ["main.rs"] {
                continue;
            }
            let mut module: Vec<String> = parts.iter().map(|p| p.trim_end_matches(".rs").to_string()).collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            let name = format!("src/{}", parts.join("/"));
            let text = std::fs::read_to_string(&file).unwrap();
            crate_.modules.insert(module.clone());
            crate_.file_modules.insert(name.clone(), module.clone());
            crate_.scan(&name, &module, &strip(&text));
        }
        crate_
    }

    /// The top-level modules.
    fn top_level(&self) -> BTreeSet<String> {
        self.modules.iter().filter_map(|m| m.first().cloned()).collect()
    }

    /// Every folder of `src` that is a module (`src/receiver/`, `src/paywall/proxy/`, …).
    fn folders(&self) -> Vec<Vec<String>> {
        self.file_modules.iter().filter(|(file, _)| file.ends_with("/mod.rs")).map(|(_, m)| m.clone()).collect()
    }

    /// Every path written, resolved to the module it names; paths outside the crate are dropped.
    fn imports(&self) -> Vec<Import> {
        self.written
            .iter()
            .map(|w| Import {
                file: w.file.clone(),
                line: w.line,
                from: self.file_modules[&w.file].clone(),
                to: self.resolve(&w.path, 0),
                written: format!("crate::{}", w.path.join("::")),
            })
            .collect()
    }

    /// The module an absolute path names: its longest prefix that is a module, then through
    /// that module's `use` bindings when the next segment is a name it imports.
    fn resolve(&self, path: &[String], depth: usize) -> Vec<String> {
        let mut module: Vec<String> = Vec::new();
        for segment in path {
            let mut longer = module.clone();
            longer.push(segment.clone());
            if self.modules.contains(&longer) {
                module = longer;
                continue;
            }
            if depth < 16
                && let Some(target) = self.bindings.get(&module).and_then(|b| b.get(segment))
            {
                return self.resolve(target, depth + 1);
            }
            break;
        }
        module
    }

    /// Records the module declarations, `use` bindings and paths of one (stripped) file.
    fn scan(&mut self, file: &str, file_module: &[String], text: &str) {
        let tokens = tokenize(text);
        // The inline modules open at this point: (name, brace depth inside it).
        let mut inline: Vec<(String, usize)> = Vec::new();
        let mut depth = 0usize;
        // Child modules per module, for paths that start with a child's name (`manager::X`).
        let mut children: BTreeMap<Vec<String>, BTreeSet<String>> = BTreeMap::new();
        let current = |inline: &[(String, usize)]| -> Vec<String> {
            let mut m = file_module.to_vec();
            m.extend(inline.iter().map(|(n, _)| n.clone()));
            m
        };
        // First pass: the modules this file declares.
        {
            let (mut inline, mut depth) = (Vec::<(String, usize)>::new(), 0usize);
            for i in 0..tokens.len() {
                match tokens[i].text.as_str() {
                    "{" => depth += 1,
                    "}" => {
                        depth -= 1;
                        if inline.last().is_some_and(|(_, d)| *d > depth) {
                            inline.pop();
                        }
                    }
                    "mod" if i + 2 < tokens.len() && is_ident(&tokens[i + 1].text) => {
                        let mut child = current(&inline);
                        child.push(tokens[i + 1].text.clone());
                        children.entry(current(&inline)).or_default().insert(tokens[i + 1].text.clone());
                        self.modules.insert(child);
                        if tokens[i + 2].text == "{" {
                            inline.push((tokens[i + 1].text.clone(), depth + 1));
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut i = 0;
        while i < tokens.len() {
            let token = tokens[i].text.as_str();
            match token {
                "{" => depth += 1,
                "}" => {
                    depth -= 1;
                    if inline.last().is_some_and(|(_, d)| *d > depth) {
                        inline.pop();
                    }
                }
                "mod" if i + 2 < tokens.len() && tokens[i + 2].text == "{" => {
                    inline.push((tokens[i + 1].text.clone(), depth + 1));
                    depth += 1;
                    i += 3;
                    continue;
                }
                "use" if i == 0 || tokens[i - 1].text != "::" => {
                    let end = (i..tokens.len()).find(|&j| tokens[j].text == ";").unwrap_or(tokens.len());
                    let module = current(&inline);
                    let mut trees = Vec::new();
                    use_tree(&tokens[i + 1..end], Vec::new(), &mut trees);
                    for (path, name, line) in trees {
                        let mine = children.get(&module).cloned().unwrap_or_default();
                        let Some(absolute) = absolute(&module, &path, &mine) else { continue };
                        if let Some(name) = name {
                            self.bindings.entry(module.clone()).or_default().insert(name, absolute.clone());
                        }
                        self.written.push(Written { file: file.to_string(), line, path: absolute });
                    }
                    i = end + 1;
                    continue;
                }
                _ if is_ident(token)
                    && tokens.get(i + 1).is_some_and(|t| t.text == "::")
                    && (i == 0 || tokens[i - 1].text != "::") =>
                {
                    // An inline path: `crate::a::b`, `super::x`, `child::y`.
                    let mut path = vec![token.to_string()];
                    let mut j = i + 1;
                    while j + 1 < tokens.len() && tokens[j].text == "::" && is_ident(&tokens[j + 1].text) {
                        path.push(tokens[j + 1].text.clone());
                        j += 2;
                    }
                    let module = current(&inline);
                    let mine = children.get(&module).cloned().unwrap_or_default();
                    if let Some(absolute) = absolute(&module, &path, &mine) {
                        let line = tokens[i].line;
                        self.written.push(Written { file: file.to_string(), line, path: absolute });
                    }
                    i = j;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

/// A path made absolute from module `module`, or `None` when it leaves the crate (`std::…`,
/// a local type's `Foo::new`).
fn absolute(module: &[String], path: &[String], children: &BTreeSet<String>) -> Option<Vec<String>> {
    let first = path.first()?;
    let mut base: Vec<String> = match first.as_str() {
        "crate" => Vec::new(),
        "self" => module.to_vec(),
        "super" => {
            let mut base = module.to_vec();
            let mut rest = path;
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            return Some(base);
        }
        name if children.contains(name) => {
            let mut base = module.to_vec();
            base.push(name.to_string());
            base.extend(path[1..].iter().cloned());
            return Some(base);
        }
        _ => return None,
    };
    base.extend(path[1..].iter().cloned());
    Some(base)
}

/// Expands a `use` tree (the tokens between `use` and `;`) into its paths, each with the name
/// it binds (`None` for a glob) and its line.
fn use_tree(tokens: &[Token], prefix: Vec<String>, out: &mut Vec<(Vec<String>, Option<String>, usize)>) {
    // Split at top-level commas.
    let mut level = 0;
    let mut start = 0;
    let mut parts = Vec::new();
    for (k, t) in tokens.iter().enumerate() {
        match t.text.as_str() {
            "{" => level += 1,
            "}" => level -= 1,
            "," if level == 0 => {
                parts.push(&tokens[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    parts.push(&tokens[start..]);
    for part in parts {
        let mut path = prefix.clone();
        let mut k = 0;
        let line = part.first().map(|t| t.line).unwrap_or(0);
        while k < part.len() {
            match part[k].text.as_str() {
                "::" => k += 1,
                "{" => {
                    let close = part.len() - 1 - part.iter().rev().position(|t| t.text == "}").unwrap();
                    use_tree(&part[k + 1..close], path.clone(), out);
                    break;
                }
                "*" => {
                    out.push((path.clone(), None, line));
                    break;
                }
                "as" => {
                    let alias = part.get(k + 1).map(|t| t.text.clone()).filter(|a| a != "_");
                    out.push((path.clone(), alias, line));
                    break;
                }
                "self" if k == 0 && !prefix.is_empty() => {
                    let alias =
                        part.get(2).filter(|_| part.get(1).is_some_and(|t| t.text == "as")).map(|t| t.text.clone());
                    let name = alias.or_else(|| path.last().cloned());
                    out.push((path.clone(), name, line));
                    break;
                }
                segment => {
                    path.push(segment.to_string());
                    k += 1;
                    if k == part.len() {
                        out.push((path.clone(), path.last().cloned(), line));
                    }
                }
            }
        }
    }
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

#[derive(Debug)]
struct Token {
    text: String,
    line: usize,
}

fn is_ident(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// Identifiers, `::` and single punctuation characters, with their 1-based line.
fn tokenize(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let (mut tokens, mut line, mut i) = (Vec::new(), 1, 0);
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let mut word: String = chars[start..i].iter().collect();
            // Raw identifiers: `r#type` is `type`.
            if word == "r" && chars.get(i) == Some(&'#') && chars.get(i + 1).is_some_and(|c| c.is_alphabetic()) {
                i += 1;
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                word = chars[start..i].iter().collect();
            }
            tokens.push(Token { text: word, line });
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push(Token { text: "::".into(), line });
            i += 2;
        } else {
            tokens.push(Token { text: c.to_string(), line });
            i += 1;
        }
    }
    tokens
}

/// The source with comments, string literals (plain, byte, C and raw) and char literals blanked
/// out; newlines are kept so line numbers stay true. Lifetimes (`'a`) are kept.
fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, s: &[char]| {
        out.extend(s.iter().map(|&c| if c == '\n' { '\n' } else { ' ' }));
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let prev_ident = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if c == '/' && next == Some('/') {
            let end = (i..chars.len()).find(|&j| chars[j] == '\n').unwrap_or(chars.len());
            blank(&mut out, &chars[i..end]);
            i = end;
        } else if c == '/' && next == Some('*') {
            let (mut level, mut j) = (1, i + 2);
            while j < chars.len() && level > 0 {
                if chars[j] == '/' && chars.get(j + 1) == Some(&'*') {
                    level += 1;
                    j += 2;
                } else if chars[j] == '*' && chars.get(j + 1) == Some(&'/') {
                    level -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &chars[i..j]);
            i = j;
        } else if !prev_ident && matches!(c, 'r' | 'b' | 'c') && raw_string_at(&chars, i).is_some() {
            let end = raw_string_at(&chars, i).unwrap();
            blank(&mut out, &chars[i..end]);
            i = end;
        } else if c == '"' || (!prev_ident && matches!(c, 'b' | 'c') && next == Some('"')) {
            let mut j = if c == '"' { i + 1 } else { i + 2 };
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(chars.len());
            blank(&mut out, &chars[i..end]);
            i = end;
        } else if c == '\'' || (!prev_ident && c == 'b' && next == Some('\'')) {
            // A char literal ('x', '\n', '\u{..}', b'x'), or a lifetime ('a), which is kept.
            let q = if c == '\'' { i } else { i + 1 };
            let end = if chars.get(q + 1) == Some(&'\\') {
                (q + 3..chars.len()).find(|&j| chars[j] == '\'').map(|j| j + 1)
            } else if chars.get(q + 2) == Some(&'\'') {
                Some(q + 3)
            } else {
                None
            };
            match end {
                Some(end) => {
                    blank(&mut out, &chars[i..end]);
                    i = end;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Where a raw string starting at `i` (`r"…"`, `r#"…"#`, `br##"…"##`, `cr"…"`) ends, if one does.
fn raw_string_at(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if matches!(chars[j], 'b' | 'c') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
    j += hashes;
    if chars.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < chars.len() {
        if chars[j] == '"' && chars[j + 1..].iter().take(hashes).filter(|&&c| c == '#').count() == hashes {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(chars.len())
}
