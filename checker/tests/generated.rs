//! Generated histories: every property holds on what the in-memory ensemble produces, for
//! many seeds, and the same seed gives the same history.

use zksim_checker::History;
use zksim_checker::generator::{GenConfig, generate};
use zksim_checker::history::{parse, to_jsonl};
use zksim_checker::props::{Options, Verdict, check_all};

fn report_text(events: &[zksim_checker::history::Event]) -> String {
    let h = History::new(events).expect("a generated history indexes");
    let report = check_all(&h, Options::default());
    let mut out = String::new();
    for o in &report.outcomes {
        match &o.verdict {
            Verdict::Holds => {}
            Verdict::Violated { findings, total } => {
                out.push_str(&format!("{} ({total}):\n", o.property));
                for f in findings {
                    out.push_str(&format!("  {}\n", f.sentence));
                }
            }
            Verdict::Unknown(why) => out.push_str(&format!("{}: unknown: {why}\n", o.property)),
        }
    }
    out
}

// Valid histories pass every property.
#[test]
fn generated_histories_hold() {
    for seed in 0..24 {
        let events = generate(seed, &GenConfig::new(1500));
        let problems = report_text(&events);
        assert!(problems.is_empty(), "seed {seed}:\n{problems}");
    }
}

// The generator is deterministic, and its output survives the JSON lines round trip.
#[test]
fn same_seed_same_history() {
    let a = generate(7, &GenConfig::new(500));
    let b = generate(7, &GenConfig::new(500));
    assert_eq!(a, b);
    let text = to_jsonl(&a);
    assert_eq!(parse(&text).expect("parses"), a);
}
