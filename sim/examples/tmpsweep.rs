fn main() {
    let name = std::env::args().nth(1).unwrap_or("default".into());
    let from: u64 = std::env::args().nth(2).map(|s| s.parse().unwrap()).unwrap_or(0);
    let to: u64 = std::env::args().nth(3).map(|s| s.parse().unwrap()).unwrap_or(50);
    let s = zksim_scenarios::builtin(&name).unwrap();
    let t = std::time::Instant::now();
    let mut fails = 0;
    for seed in from..to {
        let r = std::panic::catch_unwind(|| zksim_sim::run(&s, &zksim_sim::RunOptions { seed, ..Default::default() }));
        match r {
            Ok(r) => if r.liveness.is_err() || !r.clients.protocol_violations.is_empty() { fails += 1; println!("seed {seed}: {:?} {:?}", r.liveness, r.clients.protocol_violations); },
            Err(_) => { fails += 1; println!("seed {seed}: PANIC"); }
        }
    }
    println!("{} seeds, {fails} failures, {:.1} s", to - from, t.elapsed().as_secs_f64());
}
