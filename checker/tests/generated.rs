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

// Each injected violation is caught, and named.
#[test]
fn injected_violations_are_caught() {
    use zksim_checker::generator::mutate::inject;
    use zksim_checker::props::Property;
    let base = generate(3, &GenConfig::new(1500));
    for property in Property::ALL {
        for nth in [0, 7, 19] {
            let mut events = base.clone();
            let what = inject(&mut events, property, nth).unwrap_or_else(|e| panic!("{e}"));
            let h = History::new(&events).expect("indexes");
            let report = check_all(&h, Options::default());
            let outcome = report.outcome(property);
            assert!(
                matches!(outcome.verdict, Verdict::Violated { .. }),
                "{property} not caught after {what}: {:?}\n{}",
                outcome.verdict,
                report_text(&events)
            );
        }
    }
}

// The search, which sets the zxid order aside, finds the writes of valid histories
// linearizable: the model agrees with the reference replay.
#[test]
fn search_accepts_generated_writes() {
    use zksim_checker::linearizability::Verdict as Lin;
    use zksim_checker::props::linearizable_writes::search;
    for seed in 0..8 {
        let events = generate(seed, &GenConfig::new(400));
        let h = History::new(&events).expect("indexes");
        let (result, _) = search(&h, None, 5_000_000);
        assert!(
            matches!(result.verdict, Lin::Linearizable),
            "seed {seed}: {:?}",
            result.verdict
        );
    }
}
