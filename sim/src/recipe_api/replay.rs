//! Replaying one seed of a user's recipe: the environment variables a sweep reads, the
//! command line that reruns a seed, and the files a replayed seed writes.

use std::path::{Path, PathBuf};

use zksim_checker::{History, Options, check_all};

use super::report::Broken;
use crate::RunReport;

/// Run only this seed, keeping its trace, and write its `trace.txt`, `history.jsonl`,
/// `report.txt` and `report.html` (into [`OUT_VAR`]'s directory).
pub const SEED_VAR: &str = "ZKSIM_SEED";

/// Replace the sweep's seed range (`A..B`, as Rust writes a range): a nightly job runs
/// more seeds than the tests do.
pub const SEEDS_VAR: &str = "ZKSIM_SEEDS";

/// Replace the sweep's scenario (a built-in name, `swarm` or a `.json` file): a nightly
/// job runs the same tests under more scenarios.
pub const SCENARIO_VAR: &str = "ZKSIM_SCENARIO";

/// How many seeds to run at once (threads).
pub const JOBS_VAR: &str = "ZKSIM_JOBS";

/// Where a replayed seed writes its files (default `zksim-replay/<test>-seed-<seed>` in
/// the test's package).
pub const OUT_VAR: &str = "ZKSIM_OUT";

/// The command that runs the current test again: `cargo test` of the test's package and
/// target, filtered to this test. Cargo names the package in `CARGO_PKG_NAME` when it runs
/// a test, the test binary is named after its target, and the test harness runs each test
/// on a thread named after it.
pub(super) fn this_test_command() -> String {
    let mut cmd = String::from("cargo test");
    if !cfg!(debug_assertions) {
        cmd.push_str(" --release");
    }
    let package = std::env::var("CARGO_PKG_NAME").ok();
    if let Some(p) = &package {
        cmd.push_str(&format!(" -p {p}"));
    }
    if let Some(target) = test_target() {
        let lib = package.as_deref().map(|p| p.replace('-', "_"));
        if lib.as_deref() == Some(target.as_str()) {
            cmd.push_str(" --lib");
        } else {
            cmd.push_str(&format!(" --test {target}"));
        }
    }
    if let Some(test) = test_name() {
        cmd.push_str(&format!(" -- {test} --exact --nocapture"));
    }
    cmd
}

/// The current test's name, if this is a test harness's thread.
pub(super) fn test_name() -> Option<String> {
    let thread = std::thread::current();
    let name = thread.name()?;
    (name != "main").then(|| name.to_string())
}

/// The test binary's target: its file name without cargo's `-<hash>`.
fn test_target() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let stem = exe.file_stem()?.to_str()?;
    let (target, hash) = stem.rsplit_once('-')?;
    hash.bytes()
        .all(|b| b.is_ascii_hexdigit())
        .then(|| target.to_string())
}

/// Where a replayed seed's files go (absolute, so that the path printed can be opened
/// from anywhere).
pub(super) fn out_dir(seed: u64) -> PathBuf {
    let dir = match std::env::var(OUT_VAR) {
        Ok(dir) => PathBuf::from(dir),
        Err(_) => {
            let test = test_name().unwrap_or_else(|| "run".to_string());
            let test = test.replace("::", "-");
            PathBuf::from("zksim-replay").join(format!("{test}-seed-{seed}"))
        }
    };
    std::env::current_dir().map_or(dir.clone(), |cwd| cwd.join(dir))
}

/// Write a replayed seed's `trace.txt`, `history.jsonl`, `report.txt` (what it broke, then
/// the checker's report) and `report.html` (the checker's page: a lane per session and
/// server) into `dir`. The history can be checked again with `zksim check`.
pub(super) fn write_files(
    dir: &Path,
    report: &RunReport,
    broken: &[Broken],
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut text = String::new();
    for b in broken {
        text.push_str(&format!("{b}\n"));
    }
    if broken.is_empty() {
        text.push_str("passed\n");
    }
    let mut html = None;
    if let Ok(history) = History::new(&report.history) {
        let verdict = check_all(&history, Options { max_steps: 10_000 });
        text.push('\n');
        text.push_str(&zksim_checker::report::render(
            &history,
            &verdict,
            None,
            "history.jsonl",
        ));
        html = Some(zksim_checker::html::render(
            &history,
            &verdict,
            None,
            "history.jsonl",
        ));
    }
    std::fs::write(dir.join("trace.txt"), report.trace_lines.join("\n") + "\n")?;
    let jsonl = zksim_checker::history::to_jsonl(&report.history);
    std::fs::write(dir.join("history.jsonl"), jsonl)?;
    std::fs::write(dir.join("report.txt"), text)?;
    if let Some(html) = html {
        std::fs::write(dir.join("report.html"), html)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_reruns_this_test() {
        // Run by the test harness: the thread is named after the test, and the binary
        // after the crate's library target.
        let cmd = this_test_command();
        assert!(cmd.starts_with("cargo test"), "{cmd}");
        assert!(
            cmd.ends_with(
                "-- recipe_api::replay::tests::the_command_reruns_this_test --exact --nocapture"
            ),
            "{cmd}"
        );
    }
}
