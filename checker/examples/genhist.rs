//! Write a generated history to stdout, optionally with one injected violation:
//! `cargo run --release -p zksim-checker --example genhist -- SEED OPS [PROPERTY [NTH]]`.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seed = args.first().map_or(0, |a| a.parse().expect("a seed"));
    let ops = args
        .get(1)
        .map_or(1000, |a| a.parse().expect("an operation count"));
    let config = zksim_checker::generator::GenConfig::new(ops);
    let mut events = zksim_checker::generator::generate(seed, &config);
    if let Some(name) = args.get(2) {
        let property = zksim_checker::Property::from_name(name).expect("a property name");
        let nth = args.get(3).map_or(0, |a| a.parse().expect("a number"));
        let what = zksim_checker::generator::mutate::inject(&mut events, property, nth)
            .expect("a place to inject");
        eprintln!("injected: {what}");
    }
    print!("{}", zksim_checker::history::to_jsonl(&events));
}
