//! Write a generated history to stdout: `cargo run --example genhist -- SEED OPS`.
fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let seed = args.first().copied().unwrap_or(0);
    let ops = args.get(1).copied().unwrap_or(1000) as usize;
    let events =
        zksim_checker::generator::generate(seed, &zksim_checker::generator::GenConfig::new(ops));
    print!("{}", zksim_checker::history::to_jsonl(&events));
}
