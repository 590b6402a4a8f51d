//! Fuzzing every parser zksim reads files with (docs/fuzzing.md): scenario files, zksim
//! histories, tree replay files, porcupine's etcd and key-value logs, Knossos's EDN
//! histories and the EDN reader under them. A hand-rolled mutational loop on the stable
//! toolchain: `targets` feeds inputs to the parsers, `mutate` makes new inputs from a
//! corpus, `kinds` turns error messages into features, `engine` runs the loop with panics caught, executions timed and the process's
//! memory watched. Seeds live in `fuzz/corpus/TARGET/`, inputs that once failed in
//! `fuzz/regressions/TARGET/`.

pub mod engine;
pub mod kinds;
pub mod mutate;
pub mod rng;
pub mod targets;

use std::path::{Path, PathBuf};

use zksim_checker::Property;
use zksim_checker::generator::mutate::inject;
use zksim_checker::generator::{GenConfig, generate};
use zksim_checker::history::to_jsonl;

pub use engine::{Config, Finding, FindingKind, Stats, execute, fuzz};
pub use targets::Target;

/// The fuzz crate's folder, where `corpus/` and `regressions/` are.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files of a folder in name order, or none when it does not exist.
pub fn files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

/// The saved inputs of a target under `root`: its corpus, then its regressions.
pub fn saved_inputs(root: &Path, target: Target) -> std::io::Result<Vec<PathBuf>> {
    let mut paths = files(&root.join("corpus").join(target.name()))?;
    paths.extend(files(&root.join("regressions").join(target.name()))?);
    Ok(paths)
}

/// A target's seeds: its saved inputs, and for histories generated ones from the checker's
/// generator: a few valid, and one with a violation of each property injected.
pub fn seeds(root: &Path, target: Target) -> std::io::Result<Vec<Vec<u8>>> {
    let mut seeds = Vec::new();
    for path in saved_inputs(root, target)? {
        seeds.push(std::fs::read(path)?);
    }
    if target == Target::History {
        for seed in 0..4 {
            seeds.push(to_jsonl(&generate(seed, &GenConfig::new(12))).into_bytes());
        }
        for (seed, property) in (100..).zip(Property::ALL) {
            let mut events = generate(seed, &GenConfig::new(16));
            if inject(&mut events, property, 0).is_ok() {
                seeds.push(to_jsonl(&events).into_bytes());
            }
        }
    }
    Ok(seeds)
}
