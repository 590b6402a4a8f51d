//! Time generation, reading and checking of generated histories, stage by stage:
//! `cargo run --release -p zksim-checker --example timecheck -- OPS...`.
//! `parse` reads the text in memory (`history::parse`); `read` reads it back from a
//! temporary file (`history::read`, as `zksim check` does). A property that does not hold
//! is marked with `!`.
use std::time::Instant;

use zksim_checker::props::Verdict;
use zksim_checker::reference::{Half, Reference};
use zksim_checker::{History, Options, Property, history};

fn main() {
    for arg in std::env::args().skip(1) {
        let ops: usize = arg.parse().expect("an operation count");
        let start = Instant::now();
        let events =
            zksim_checker::generator::generate(1, &zksim_checker::generator::GenConfig::new(ops));
        let generated = start.elapsed();
        let text = history::to_jsonl(&events);
        let start = Instant::now();
        let parsed = history::parse(&text).expect("parses");
        let parse = start.elapsed();
        assert_eq!(parsed, events);
        drop(parsed);
        let path =
            std::env::temp_dir().join(format!("zksim-timecheck-{}.jsonl", std::process::id()));
        std::fs::write(&path, &text).expect("the history is written");
        let start = Instant::now();
        let file = std::fs::File::open(&path).expect("the history file opens");
        let read = history::read(file).expect("reads");
        let read_time = start.elapsed();
        let _ = std::fs::remove_file(&path);
        assert_eq!(read.len(), events.len());
        drop(read);
        let start = Instant::now();
        let h = History::new(&events).expect("indexes");
        let index = start.elapsed();
        let start = Instant::now();
        let r = Reference::run(&h);
        let reference = start.elapsed();
        let start = Instant::now();
        Reference::half(&h, Half::Writes);
        let writes = start.elapsed();
        let start = Instant::now();
        Reference::half(&h, Half::Reads);
        let reads = start.elapsed();
        let mut times = Vec::new();
        for p in Property::ALL {
            let start = Instant::now();
            let o = zksim_checker::props::check(p, &h, &r, Options::default());
            let mark = if matches!(o.verdict, Verdict::Holds) {
                ""
            } else {
                "!"
            };
            times.push(format!("{p}{mark} {:.0?}", start.elapsed()));
        }
        let start = Instant::now();
        zksim_checker::check_all(&h, Options::default());
        let all = start.elapsed();
        println!(
            "{ops} ops, {} events, {} MB: generate {generated:.2?}, parse {parse:.2?}, read {read_time:.2?}, index {index:.2?}, reference {reference:.2?} (halves alone: writes {writes:.2?}, reads {reads:.2?}), check_all {all:.2?}\n  {}",
            events.len(),
            text.len() / 1_000_000,
            times.join(", ")
        );
    }
}
