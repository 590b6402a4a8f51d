//! Time generation, parsing and checking of generated histories:
//! `cargo run --release -p zksim-checker --example timecheck -- OPS...`.
use std::time::Instant;

fn main() {
    for arg in std::env::args().skip(1) {
        let ops: usize = arg.parse().expect("an operation count");
        let start = Instant::now();
        let events =
            zksim_checker::generator::generate(1, &zksim_checker::generator::GenConfig::new(ops));
        let generated = start.elapsed();
        let text = zksim_checker::history::to_jsonl(&events);
        let start = Instant::now();
        let parsed = zksim_checker::history::parse(&text).expect("parses");
        let parse = start.elapsed();
        assert_eq!(parsed.len(), events.len());
        let start = Instant::now();
        let h = zksim_checker::History::new(&events).expect("indexes");
        let index = start.elapsed();
        let start = Instant::now();
        let r = zksim_checker::reference::Reference::run(&h);
        let reference = start.elapsed();
        let start = Instant::now();
        zksim_checker::reference::Reference::half(&h, zksim_checker::reference::Half::Writes);
        let writes = start.elapsed();
        let start = Instant::now();
        zksim_checker::reference::Reference::half(&h, zksim_checker::reference::Half::Reads);
        let reads = start.elapsed();
        let mut times = Vec::new();
        for p in zksim_checker::Property::ALL {
            let start = Instant::now();
            let o = zksim_checker::props::check(p, &h, &r, zksim_checker::Options::default());
            assert!(
                matches!(o.verdict, zksim_checker::props::Verdict::Holds),
                "{p}: {:?}",
                o.verdict
            );
            times.push(format!("{p} {:.0?}", start.elapsed()));
        }
        let start = Instant::now();
        let report = zksim_checker::check_all(&h, zksim_checker::Options::default());
        let all = start.elapsed();
        assert!(report.holds());
        println!(
            "{ops} ops, {} events, {} MB: generate {generated:.2?}, parse {parse:.2?}, index {index:.2?}, reference {reference:.2?} (halves alone: writes {writes:.2?}, reads {reads:.2?}), check_all {all:.2?}\n  {}",
            events.len(),
            text.len() / 1_000_000,
            times.join(", ")
        );
    }
}
