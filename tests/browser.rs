//! The HTML report in a real browser: `zksim replay` writes report.html for a failing run,
//! headless Chromium loads it, and the page must run with no script error, list the
//! findings and outline the violating operations on its timeline. Chromium is Debian's
//! `chromium` package (`.ci/run` installs it); without it the test says so and passes,
//! unless `ZKSIM_REQUIRE_BROWSER` is set (as CI does), in which case it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{TempDir, stderr, stdout, zksim};

/// The Chromium binary: `ZKSIM_CHROMIUM`, else `chromium` on the path.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ZKSIM_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
}

/// What the browser made of a page: the DOM after its scripts ran, and its console errors.
struct Loaded {
    dom: String,
    errors: Vec<String>,
}

fn load(chromium: &Path, page: &Path) -> Loaded {
    let url = format!("file://{}", page.display());
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            &url,
        ])
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "chromium failed: {}", stderr(&out));
    // Chromium logs what the page's console printed as `...:CONSOLE:line] "message"`; an
    // exception no script caught reads "Uncaught ...".
    let errors = stderr(&out)
        .lines()
        .filter(|l| l.contains(":CONSOLE") && (l.contains("Uncaught") || l.contains("Error")))
        .map(str::to_string)
        .collect();
    Loaded {
        dom: stdout(&out),
        errors,
    }
}

fn replay(dir: &Path, args: &[&str]) -> PathBuf {
    let out_dir = dir.to_str().expect("a UTF-8 path");
    let mut all = vec!["replay", "--out", out_dir];
    all.extend_from_slice(args);
    let o = zksim(&all);
    assert!(
        o.status.code().is_some(),
        "zksim replay was killed: {}",
        stderr(&o)
    );
    let page = dir.join("report.html");
    assert!(page.is_file(), "no report.html: {}", stderr(&o));
    page
}

/// The number `label` precedes in the timeline's description.
fn described(dom: &str, label: &str) -> usize {
    const ATTRIBUTE: &str = "aria-label=\"";
    let at = dom
        .find("aria-label=\"timeline: ")
        .expect("the timeline is described");
    let rest = &dom[at + ATTRIBUTE.len()..];
    let text = &rest[..rest.find('"').expect("the attribute ends")];
    let before = &text[..text
        .find(label)
        .unwrap_or_else(|| panic!("{label} in {text}"))];
    before
        .split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count before {label} in {text}"))
}

#[test]
fn the_report_of_a_failing_run_renders_its_findings_in_chromium() {
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var_os("ZKSIM_REQUIRE_BROWSER").is_none(),
            "chromium not found, and ZKSIM_REQUIRE_BROWSER is set"
        );
        eprintln!("skipped: chromium not found (apt-get install chromium)");
        return;
    };
    let tmp = TempDir::new("browser");
    let failing = tmp.dir().join("failing");
    let page = replay(
        &failing,
        &[
            "--scenario",
            "default",
            "--seed",
            "1",
            "--bug",
            "watch-after-read",
        ],
    );
    let loaded = load(&chromium, &page);
    assert_eq!(loaded.errors, Vec::<String>::new(), "script errors");
    let dom = &loaded.dom;
    assert!(
        dom.contains("data-rendered=\"yes\""),
        "the script ran to its end"
    );
    assert!(dom.contains("zksim check: "), "the title is set");
    assert!(
        dom.contains("class=\"badge violated\""),
        "a violated property is badged"
    );
    let findings = dom.matches("class=\"finding").count();
    assert!(findings >= 1, "the findings are listed");
    assert!(dom.contains("watch-before-later-read"));
    // The first finding is selected at load: its operations are outlined on the timeline.
    assert!(described(dom, "operations drawn") > 0);
    assert!(
        described(dom, "outlined") > 0,
        "the violating operations are outlined"
    );

    // The same checks refuse a page whose script breaks part-way.
    let html = std::fs::read_to_string(&page).expect("the report");
    let broken = html.replacen(
        "document.body.dataset.rendered",
        "undefinedFunction(); document.body.dataset.rendered",
        1,
    );
    assert_ne!(broken, html);
    let broken_page = tmp.dir().join("broken.html");
    std::fs::write(&broken_page, broken).expect("write");
    let loaded = load(&chromium, &broken_page);
    assert!(
        loaded
            .errors
            .iter()
            .any(|e| e.contains("undefinedFunction")),
        "{:?}",
        loaded.errors
    );
    assert!(!loaded.dom.contains("data-rendered=\"yes\""));

    // A run that passes: no finding, nothing outlined.
    let page = replay(
        &tmp.dir().join("passing"),
        &["--scenario", "default", "--seed", "1"],
    );
    let loaded = load(&chromium, &page);
    assert_eq!(loaded.errors, Vec::<String>::new(), "script errors");
    assert!(loaded.dom.contains("data-rendered=\"yes\""));
    assert!(loaded.dom.contains("None: every property holds."));
    assert!(!loaded.dom.contains("class=\"badge violated\""));
    assert_eq!(described(&loaded.dom, "outlined"), 0);
}
