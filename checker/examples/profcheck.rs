//! Index and check one generated history many times, for a profiler:
//! `cargo run --release -p zksim-checker --example profcheck -- OPS ROUNDS`.
fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let events =
        zksim_checker::generator::generate(1, &zksim_checker::generator::GenConfig::new(args[0]));
    for _ in 0..args[1] {
        let h = zksim_checker::History::new(&events).expect("indexes");
        let report = zksim_checker::check_all(&h, zksim_checker::Options::default());
        assert!(report.holds());
    }
}
