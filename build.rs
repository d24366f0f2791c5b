//! Compiles `contracts/` with foundry-compilers at build time and writes one Foundry-style
//! artifact (`abi`, `bytecode`, `deployedBytecode`) per contract the crate binds to
//! `$OUT_DIR/<Name>.json`, where `alloy_sol_types::sol!` picks it up.
//!
//! Why at build time: the binary then carries the exact bytecode its bindings were generated
//! from (`uraiden deploy` needs no Solidity toolchain at run time), and an edit to a contract
//! rebuilds the crate, so the conformance suite always tests the contract in the tree.
//!
//! The compiler is `$SOLC` if set (a native solc), else `scripts/solc`, the solc-js wrapper; if
//! its npm packages are missing they are installed with `npm ci` first. Compiler settings
//! (optimizer, runs, EVM version, metadata hash, remappings) are read from `foundry.toml`, so forge and the
//! crate compile the same bytecode.

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
    str::FromStr,
};

use foundry_compilers::{
    ProjectBuilder, ProjectPathsConfig,
    artifacts::{BytecodeHash, EvmVersion, Remapping, Settings, SettingsMetadata},
    compilers::solc::{Solc, SolcCompiler, SolcLanguage, SolcSettings},
};

/// Contracts the crate binds to, as (source file under contracts/, contract name).
const CONTRACTS: &[&str] = &["RaidenMicroTransferChannels", "ERC223Token", "CallbackToken", "ReentrantReceiver"];

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for watched in ["contracts", "foundry.toml", "scripts/solc", "package-lock.json"] {
        println!("cargo:rerun-if-changed={watched}");
    }
    println!("cargo:rerun-if-env-changed=SOLC");

    if let Err(message) = build(&root, &out_dir) {
        panic!("\n\nuraiden: compiling contracts/ failed:\n{message}\n");
    }
}

fn build(root: &Path, out_dir: &Path) -> Result<(), String> {
    let config = FoundryConfig::read(&root.join("foundry.toml"))?;
    let solc_path = solc_command(root)?;
    let solc =
        Solc::new(&solc_path).map_err(|e| format!("{} does not answer as solc --version: {e}", solc_path.display()))?;

    let paths = ProjectPathsConfig::builder()
        .root(root)
        .sources(root.join("contracts"))
        .tests(root.join("contracts/test"))
        .artifacts(out_dir.join("forge-out"))
        .cache(out_dir.join("forge-cache/solidity-files-cache.json"))
        .build_infos(out_dir.join("forge-out/build-info"))
        .libs([root.join("node_modules")])
        .remappings(config.remappings()?)
        .build_with_root::<SolcLanguage>(root);

    let mut settings = Settings::default();
    settings.optimizer.enabled = Some(config.optimizer);
    settings.optimizer.runs = Some(config.optimizer_runs);
    settings.evm_version = Some(config.evm_version()?);
    settings.metadata = Some(SettingsMetadata::new(config.bytecode_hash()?, config.cbor_metadata));
    let project = ProjectBuilder::<SolcCompiler>::default()
        .paths(paths)
        .settings(SolcSettings { settings, ..Default::default() })
        .single_solc_jobs()
        .build(SolcCompiler::Specific(solc))
        .map_err(|e| format!("project: {e}"))?;

    let output = project.compile().map_err(|e| format!("{e}"))?;
    if output.has_compiler_errors() {
        return Err(format!("{output}"));
    }
    for name in CONTRACTS {
        let artifact = output.find_first(name).ok_or_else(|| format!("no artifact for contract {name}"))?;
        let json = serde_json::to_string(artifact).map_err(|e| format!("{name}: {e}"))?;
        fs::write(out_dir.join(format!("{name}.json")), json).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

/// The solc command: `$SOLC`, or the solc-js wrapper with its npm packages installed.
fn solc_command(root: &Path) -> Result<PathBuf, String> {
    if let Some(solc) = env::var_os("SOLC") {
        return Ok(PathBuf::from(solc));
    }
    if !root.join("node_modules/solc/package.json").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(root)
            .status()
            .map_err(|e| format!("running `npm ci` to install solc-js: {e} (is npm installed?)"))?;
        if !status.success() {
            return Err(format!("`npm ci` failed with {status}"));
        }
    }
    Ok(root.join("scripts/solc"))
}

/// The part of `foundry.toml` that decides the bytecode.
#[derive(serde::Deserialize)]
struct FoundryConfig {
    optimizer: bool,
    optimizer_runs: usize,
    evm_version: String,
    #[serde(default)]
    remappings: Vec<String>,
    bytecode_hash: String,
    cbor_metadata: bool,
}

impl FoundryConfig {
    fn read(path: &Path) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        struct File {
            profile: Profiles,
        }
        #[derive(serde::Deserialize)]
        struct Profiles {
            default: FoundryConfig,
        }
        let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file: File = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(file.profile.default)
    }

    fn evm_version(&self) -> Result<EvmVersion, String> {
        EvmVersion::from_str(&self.evm_version).map_err(|e| format!("foundry.toml evm_version: {e}"))
    }

    fn bytecode_hash(&self) -> Result<BytecodeHash, String> {
        BytecodeHash::from_str(&self.bytecode_hash).map_err(|e| format!("foundry.toml bytecode_hash: {e}"))
    }

    fn remappings(&self) -> Result<Vec<Remapping>, String> {
        self.remappings
            .iter()
            .map(|r| Remapping::from_str(r).map_err(|e| format!("foundry.toml remapping {r:?}: {e}")))
            .collect()
    }
}
