fn main() {
    let name = std::env::args().nth(1).unwrap_or("default".into());
    let seed: u64 = std::env::args().nth(2).map(|s| s.parse().unwrap()).unwrap_or(0);
    let s = zksim_scenarios::builtin(&name).unwrap();
    let r = zksim_sim::run(&s, &zksim_sim::RunOptions { seed, trace: zksim_sim::TraceMode::Keep, ..Default::default() });
    std::fs::write("/tmp/trace.txt", r.trace_lines.join("\n")).unwrap();
    std::fs::write("/tmp/history.jsonl", zksim_checker::history::to_jsonl(&r.history)).unwrap();
    println!("{:?}", r.liveness);
}
