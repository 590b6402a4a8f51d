//! docs/tour.md runs: every `console` block's `$ zksim ...` command is run, and each line
//! the page shows of its output must appear in what the command printed, in the order
//! shown (`...` stands for lines left out).

mod common;

use common::{stderr, stdout, zksim};

/// One command of the tour and the output lines it shows.
struct Step {
    args: Vec<String>,
    shown: Vec<String>,
}

fn steps(page: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut lines = page.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "```console" {
            continue;
        }
        let command = lines.next().expect("a command after ```console");
        let args = command
            .strip_prefix("$ zksim ")
            .unwrap_or_else(|| panic!("a console block starts with `$ zksim`: {command}"))
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let shown = lines
            .by_ref()
            .take_while(|l| l.trim() != "```")
            .filter(|l| l.trim() != "...")
            .map(str::to_string)
            .collect();
        steps.push(Step { args, shown });
    }
    steps
}

/// The first shown line that `output` lacks, in order.
fn missing(output: &str, shown: &[String]) -> Option<String> {
    let mut rest = output.lines();
    for want in shown {
        if !rest.any(|l| l.trim_end() == want.trim_end()) {
            return Some(want.clone());
        }
    }
    None
}

#[test]
fn the_shown_lines_are_checked_in_order() {
    let out = "a\nb\nc\n".to_string();
    assert_eq!(missing(&out, &["a".into(), "c".into()]), None);
    assert_eq!(missing(&out, &["c".into(), "a".into()]), Some("a".into()));
    assert_eq!(missing(&out, &["d".into()]), Some("d".into()));
}

#[test]
fn every_command_of_the_tour_prints_what_the_page_shows() {
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/tour.md"))
        .expect("docs/tour.md");
    let steps = steps(&page);
    assert!(steps.len() >= 10, "the tour has {} commands", steps.len());
    for step in steps {
        assert!(!step.shown.is_empty(), "{:?} shows some output", step.args);
        let args: Vec<&str> = step.args.iter().map(String::as_str).collect();
        let o = zksim(&args);
        let output = format!("{}{}", stdout(&o), stderr(&o));
        if let Some(line) = missing(&output, &step.shown) {
            panic!(
                "`zksim {}` no longer prints, in this order, the line\n{line}\nIt printed:\n{output}",
                args.join(" ")
            );
        }
    }
}
