//! Mutating a fuzz input (a scenario with an explicit fault plan, and a seed) into another
//! valid one, for coverage-guided fuzzing (`zksim fuzz`).
//!
//! The operators are AFL's havoc stage on our inputs' structure, as the distributed-systems
//! fuzzers Mallory and DistFuzz mutate fault schedules rather than bytes: add a fault
//! (drawn as the plan generator draws one), remove one, move one in time, change how long
//! one lasts or which server it hits, splice two plans, draw a new seed (new timing, the
//! same faults), or tweak the workload. Several are stacked on one input (1, 2 or 4, as
//! havoc stacks powers of two). Every draw comes from the stream `mutate` of the
//! mutation's key, so a key and its inputs give the same mutant on any machine, and every
//! mutant passes `Scenario::validate`: an operator whose result does not is drawn again.

use rand::Rng;

use crate::fault::{AimAction, Fault, FaultPlan, PlannedFault};
use crate::rng::{Stream, stream};
use crate::scenario::{FaultRates, Scenario};

/// A mutated input: the scenario (its plan explicit), the seed, and what was changed, one
/// sentence per operator applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mutant {
    pub scenario: Scenario,
    pub seed: u64,
    pub mutations: Vec<String>,
}

/// A mutation operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    /// Add a fault drawn as the generator draws one, at a random time.
    AddFault,
    /// Remove one event; a fault's start goes with its heal.
    RemoveFault,
    /// Move a fault (and its heal) in time.
    MoveFault,
    /// Change how long a fault lasts.
    Duration,
    /// Change the server (or servers) a fault hits.
    Retarget,
    /// The plan before a time, then the other input's plan after it.
    Splice,
    /// A new seed: new timing, the same faults.
    Reseed,
    /// Clients, pipelining, server switches, think time or an operation's weight.
    Workload,
}

/// The operators with their relative weights.
const OPERATORS: [(Operator, u32); 8] = [
    (Operator::AddFault, 3),
    (Operator::RemoveFault, 2),
    (Operator::MoveFault, 3),
    (Operator::Duration, 2),
    (Operator::Retarget, 2),
    (Operator::Splice, 1),
    (Operator::Reseed, 2),
    (Operator::Workload, 2),
];

/// Draws of an operator before giving up on one step of the stack (an operator may not
/// apply, say a removal from an empty plan, or give an invalid scenario).
const ATTEMPTS: usize = 16;

/// The most clients, and the deepest pipeline, a mutation makes: what swarm draws at most.
/// The validator allows 200 and 64, but a heavier workload outgrows a run's memory budget
/// with no bug at all (a mutant with 15 clients of pipeline 16 and 512-byte values held
/// 768 MB after 17 s of simulated time): a failure of the budget, not of the service.
const CLIENTS_MAX: u32 = 16;
const PIPELINE_MAX: u32 = 8;

/// How far a fault moves in time, either way, unless it moves anywhere.
const MOVE_MS: u64 = 2_000;

/// Mutate `parent` (run with `seed`) into a valid mutant, drawing from the stream `mutate`
/// of `key`; `donor` is the other input of a splice (another corpus input). A parent
/// without a plan is taken with the plan its seed draws, made explicit.
///
/// Panics if `parent` is not valid: only valid inputs are mutated.
pub fn mutate(parent: &Scenario, seed: u64, donor: &Scenario, key: u64) -> Mutant {
    assert!(parent.validate().is_ok(), "mutate needs a valid parent");
    let mut rng = stream(key, "mutate");
    let mut current = parent.clone();
    if current.plan.is_none() {
        current.plan = Some(FaultPlan::generate(parent, seed));
    }
    let mut mutant = Mutant {
        scenario: current,
        seed,
        mutations: Vec::new(),
    };
    let stack = 1usize << rng.gen_range(0..3);
    for _ in 0..stack {
        step(&mut mutant, donor, &mut rng);
    }
    if mutant.mutations.is_empty() {
        // Nothing applied (a plan with nothing to move, a workload at its bounds): a new
        // seed always gives a valid, different input.
        let old = mutant.seed;
        mutant.seed = rng.r#gen();
        mutant
            .mutations
            .push(format!("reseed {old} to {}", mutant.seed));
    }
    assert!(mutant.scenario.validate().is_ok());
    assert!(mutant.scenario.plan.is_some());
    mutant
}

/// Apply one operator to `mutant`, drawn again (up to `ATTEMPTS` times) while it does
/// not apply, changes nothing, or gives an invalid scenario.
fn step(mutant: &mut Mutant, donor: &Scenario, rng: &mut Stream) {
    for _ in 0..ATTEMPTS {
        let op = pick_operator(rng);
        let mut scenario = mutant.scenario.clone();
        let mut seed = mutant.seed;
        let Some(what) = apply(op, &mut scenario, &mut seed, donor, rng) else {
            continue;
        };
        if (scenario == mutant.scenario && seed == mutant.seed) || scenario.validate().is_err() {
            continue;
        }
        mutant.scenario = scenario;
        mutant.seed = seed;
        mutant.mutations.push(what);
        return;
    }
}

fn pick_operator(rng: &mut Stream) -> Operator {
    let weights = OPERATORS.map(|(_, w)| u64::from(w));
    OPERATORS[pick_weighted(rng, &weights)].0
}

/// An index into `weights` drawn in proportion to its weight (fuzzing picks the corpus
/// input to mutate with it, by energy).
///
/// Panics if every weight is zero.
pub fn pick_weighted(rng: &mut Stream, weights: &[u64]) -> usize {
    let total: u64 = weights.iter().sum();
    assert!(total > 0, "weights that are all zero");
    let mut pick = rng.gen_range(0..total);
    for (i, w) in weights.iter().enumerate() {
        if pick < *w {
            return i;
        }
        pick -= w;
    }
    unreachable!("the pick is below the total weight")
}

/// Apply `op` to `s` (and `seed`); what it did, or `None` when it does not apply.
fn apply(
    op: Operator,
    s: &mut Scenario,
    seed: &mut u64,
    donor: &Scenario,
    rng: &mut Stream,
) -> Option<String> {
    match op {
        Operator::AddFault => add_fault(s, rng),
        Operator::RemoveFault => remove_fault(s, rng),
        Operator::MoveFault => move_fault(s, rng),
        Operator::Duration => change_duration(s, rng),
        Operator::Retarget => retarget(s, rng),
        Operator::Splice => splice(s, donor, rng),
        Operator::Reseed => {
            let old = *seed;
            *seed = rng.r#gen();
            Some(format!("reseed {old} to {seed}"))
        }
        Operator::Workload => tweak_workload(s, rng),
    }
}

fn faults(s: &mut Scenario) -> &mut Vec<PlannedFault> {
    &mut s.plan.get_or_insert_with(FaultPlan::default).faults
}

/// Insert `event` after every event at or before its time, keeping the plan in order.
fn insert_sorted(faults: &mut Vec<PlannedFault>, event: PlannedFault) {
    let at = faults.partition_point(|e| e.at_ms <= event.at_ms);
    faults.insert(at, event);
}

/// Add a fault at a random time, drawn by `FaultPlan::draw_one` with the servers the plan
/// has down then: by the scenario's weights, or one time in four by equal weights for
/// every kind, so that a kind the scenario switched off (swarm switches some off, aimed
/// faults among them) can still be tried in it.
fn add_fault(s: &mut Scenario, rng: &mut Stream) -> Option<String> {
    let at_ms = rng.gen_range(0..=s.safety_ms);
    let plan = s.plan.clone().unwrap_or_default();
    let (down, corrupted) = down_at(&plan, at_ms);
    let any_kind = rng.gen_bool(0.25);
    let events = if any_kind {
        let mut every = s.clone();
        every.faults = every_kind(&s.faults);
        FaultPlan::draw_one(&every, rng, at_ms, &down, corrupted)
    } else {
        FaultPlan::draw_one(s, rng, at_ms, &down, corrupted)
    };
    let what = format!("add {}", describe_with_heal(&events, 0));
    let faults = faults(s);
    for e in events {
        insert_sorted(faults, e);
    }
    Some(what)
}

/// `rates` with every kind weighing 1.
fn every_kind(rates: &FaultRates) -> FaultRates {
    FaultRates {
        partition: 1,
        isolate_leader: 1,
        bridge: 1,
        one_way: 1,
        loss: 1,
        latency: 1,
        kill: 1,
        kill_leader: 1,
        kill_many: 1,
        pause: 1,
        clock: 1,
        disk_slow: 1,
        disk_corrupt: 1,
        torn_write: 1,
        pause_leader: 1,
        power_loss: 1,
        aimed: 1,
        slow_leader: 1,
        disk_slow_all: 1,
        rolling_restart: 1,
        cover_all_kinds: false,
        ..rates.clone()
    }
}

/// A fault's description, and its heal's time when `events` holds one after `i`.
fn describe_with_heal(events: &[PlannedFault], i: usize) -> String {
    let start = &events[i];
    match heal_of(events, i) {
        Some(j) => format!("{}, healed at {} ms", describe(start), events[j].at_ms),
        None => describe(start),
    }
}

/// The servers down at `at_ms` in `plan` (0 for one named only at run time, a leader), and
/// whether a disk was corrupted anywhere in it (the generator corrupts at most one).
/// An approximation of what the run will have down, as the generator's own bookkeeping is:
/// `restart_all` ends every crash, `resume_all` every pause.
fn down_at(plan: &FaultPlan, at_ms: u64) -> (Vec<u64>, bool) {
    // (server, crashed rather than paused)
    let mut down: Vec<(u64, bool)> = Vec::new();
    let servers_in = |f: &Fault| f.takes_down();
    for e in plan.faults.iter().take_while(|e| e.at_ms <= at_ms) {
        match &e.fault {
            Fault::Restart { server } => down.retain(|(s, crash)| !(*crash && s == server)),
            Fault::Resume { server } => down.retain(|(s, crash)| *crash || s != server),
            Fault::RestartAll => down.retain(|(_, crash)| !crash),
            Fault::ResumeAll => down.retain(|(_, crash)| *crash),
            Fault::KillLeader => down.push((0, true)),
            Fault::PauseLeader => down.push((0, false)),
            Fault::Aimed { server, action, .. } => {
                down.push((server.unwrap_or(0), *action == AimAction::Crash));
            }
            Fault::Pause { server } => down.push((*server, false)),
            // A follower named only at run time, back by itself `down_ms` later.
            Fault::LagFollower { down_ms, .. } => {
                if e.at_ms + down_ms > at_ms {
                    down.push((0, true));
                }
            }
            // A corrupted disk's server restarts at once.
            Fault::DiskCorrupt { .. } => {}
            f => down.extend(servers_in(f).into_iter().map(|s| (s, true))),
        }
    }
    let corrupted = plan
        .faults
        .iter()
        .any(|e| matches!(e.fault, Fault::DiskCorrupt { .. }));
    (down.into_iter().map(|(s, _)| s).collect(), corrupted)
}

/// Whether `heal` ends the fault `start`.
fn heals(start: &Fault, heal: &Fault) -> bool {
    match (start, heal) {
        (
            Fault::Partition { .. }
            | Fault::IsolateLeader
            | Fault::Bridge { .. }
            | Fault::OneWay { .. }
            | Fault::Loss { .. }
            | Fault::Latency { .. },
            Fault::HealNetwork,
        ) => true,
        (Fault::Kill { server } | Fault::TornWrite { server }, Fault::Restart { server: r }) => {
            server == r
        }
        (
            Fault::Kill { .. }
            | Fault::TornWrite { .. }
            | Fault::KillLeader
            | Fault::KillMany { .. }
            | Fault::Aimed {
                action: AimAction::Crash,
                ..
            },
            Fault::RestartAll,
        ) => true,
        (Fault::Pause { server }, Fault::Resume { server: r }) => server == r,
        (
            Fault::Pause { .. }
            | Fault::PauseLeader
            | Fault::Aimed {
                action: AimAction::Pause,
                ..
            },
            Fault::ResumeAll,
        ) => true,
        (
            Fault::Aimed {
                server: Some(server),
                action,
                ..
            },
            Fault::Restart { server: r } | Fault::Resume { server: r },
        ) => server == r && (*action == AimAction::Crash) == matches!(heal, Fault::Restart { .. }),
        (
            Fault::ClockRate { server, percent },
            Fault::ClockRate {
                server: r,
                percent: 100,
            },
        ) => server == r && *percent != 100,
        (Fault::DiskSlow { server, .. }, Fault::DiskNormal { server: r }) => server == r,
        _ => false,
    }
}

/// The first event after `i` that heals the fault starting at `i`.
fn heal_of(events: &[PlannedFault], i: usize) -> Option<usize> {
    let start = &events[i].fault;
    if start.is_heal() {
        return None;
    }
    (i + 1..events.len()).find(|&j| heals(start, &events[j].fault))
}

/// The indices of the events that start a fault.
fn starts(events: &[PlannedFault]) -> Vec<usize> {
    (0..events.len())
        .filter(|&i| !events[i].fault.is_heal())
        .collect()
}

/// `kill(server=2) at 1200 ms`.
fn describe(e: &PlannedFault) -> String {
    format!("{} at {} ms", name(&e.fault), e.at_ms)
}

/// `kill(server=2)`, `latency(extra_ms=40)`, `restart_all`: the plan's JSON in short.
fn name(f: &Fault) -> String {
    let value = serde_json::to_value(f).expect("faults serialize");
    let Some(fields) = value.as_object() else {
        return value.to_string();
    };
    let kind = fields
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or("fault");
    let args: Vec<String> = fields
        .iter()
        .filter(|(k, _)| *k != "kind")
        .map(|(k, v)| match v.as_str() {
            Some(text) => format!("{k}={text}"),
            None => format!("{k}={v}"),
        })
        .collect();
    if args.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}({})", args.join(", "))
    }
}

/// Remove one event: a heal alone (its fault then lasts to the end of the safety phase), or
/// a fault's start with its heal (the fault never happens).
fn remove_fault(s: &mut Scenario, rng: &mut Stream) -> Option<String> {
    let faults = faults(s);
    if faults.is_empty() {
        return None;
    }
    let i = rng.gen_range(0..faults.len());
    let heal = heal_of(faults, i);
    let what = match heal {
        Some(j) => {
            let healed_at = faults.remove(j).at_ms;
            format!("remove {}, healed at {healed_at} ms", describe(&faults[i]))
        }
        None => format!("remove {}", describe(&faults[i])),
    };
    faults.remove(i);
    Some(what)
}

/// Move a fault's start, and its heal with it, by up to `MOVE_MS` either way, or (one
/// time in four) anywhere in the safety phase.
fn move_fault(s: &mut Scenario, rng: &mut Stream) -> Option<String> {
    let safety_ms = s.safety_ms;
    let faults = faults(s);
    let starts = starts(faults);
    if starts.is_empty() {
        return None;
    }
    let i = starts[rng.gen_range(0..starts.len())];
    let old = faults[i].at_ms;
    let new = if rng.gen_bool(0.25) {
        rng.gen_range(0..=safety_ms)
    } else {
        (old + rng.gen_range(0..=2 * MOVE_MS))
            .saturating_sub(MOVE_MS)
            .min(safety_ms)
    };
    let heal = heal_of(faults, i).map(|j| {
        let lasts = faults[j].at_ms - old;
        (j, (new + lasts).min(safety_ms))
    });
    let what = format!("move {} to {new} ms", describe(&faults[i]));
    let mut start = faults[i].clone();
    start.at_ms = new;
    let healed = heal.map(|(j, at_ms)| {
        let mut h = faults.remove(j);
        h.at_ms = at_ms;
        h
    });
    faults.remove(i);
    insert_sorted(faults, start);
    if let Some(h) = healed {
        insert_sorted(faults, h);
    }
    Some(what)
}

/// Give a healed fault another duration: drawn from the scenario's `duration_ms`, or its
/// own scaled by a quarter, a half, two or four.
fn change_duration(s: &mut Scenario, rng: &mut Stream) -> Option<String> {
    let safety_ms = s.safety_ms;
    let [lo, hi] = s.faults.duration_ms;
    let faults = faults(s);
    let healed: Vec<(usize, usize)> = starts(faults)
        .into_iter()
        .filter_map(|i| heal_of(faults, i).map(|j| (i, j)))
        .collect();
    if healed.is_empty() {
        return None;
    }
    let (i, j) = healed[rng.gen_range(0..healed.len())];
    let at = faults[i].at_ms;
    let old = faults[j].at_ms - at;
    let lasts = if rng.gen_bool(0.5) {
        rng.gen_range(lo..=hi.max(lo))
    } else {
        let scaled = [old / 4, old / 2, old * 2, old * 4][rng.gen_range(0..4)];
        scaled.max(1)
    };
    let what = format!(
        "make {} last {lasts} ms (was {old} ms)",
        describe(&faults[i])
    );
    let mut heal = faults.remove(j);
    heal.at_ms = (at + lasts).min(safety_ms);
    insert_sorted(faults, heal);
    Some(what)
}

/// Hit another server: a fault on one server (and its heal) moves to another, an aimed
/// fault gets another server (or the first to reach its step), a one-way cut other ends,
/// a partition or a multiple kill one server more or less.
fn retarget(s: &mut Scenario, rng: &mut Stream) -> Option<String> {
    let all: Vec<u64> = s.server_ids().into_iter().chain(s.observer_ids()).collect();
    if all.len() < 2 {
        return None;
    }
    let faults = faults(s);
    let starts = starts(faults);
    if starts.is_empty() {
        return None;
    }
    let i = starts[rng.gen_range(0..starts.len())];
    let before = describe(&faults[i]);
    let heal = heal_of(faults, i);
    let other = |rng: &mut Stream, not: u64| {
        let rest: Vec<u64> = all.iter().copied().filter(|s| *s != not).collect();
        rest[rng.gen_range(0..rest.len())]
    };
    match &mut faults[i].fault {
        Fault::Kill { server }
        | Fault::Pause { server }
        | Fault::TornWrite { server }
        | Fault::DiskCorrupt { server }
        | Fault::ClockSkew { server, .. }
        | Fault::ClockJump { server, .. }
        | Fault::ClockRate { server, .. }
        | Fault::DiskSlow { server, .. } => {
            let old = *server;
            *server = other(rng, old);
            let new = *server;
            if let Some(j) = heal {
                retarget_heal(&mut faults[j].fault, old, new);
            }
        }
        Fault::Aimed { server, leader, .. } => {
            let choices: Vec<Option<u64>> = std::iter::once(None)
                .chain(all.iter().copied().map(Some))
                .filter(|c| c != server)
                .collect();
            *server = choices[rng.gen_range(0..choices.len())];
            // A named server or the first to get there, no longer the leader.
            *leader = false;
        }
        Fault::OneWay { from, to } => {
            *from = all[rng.gen_range(0..all.len())];
            *to = other(rng, *from);
        }
        Fault::Partition { side } => {
            let flip = all[rng.gen_range(0..all.len())];
            if let Some(k) = side.iter().position(|x| *x == flip) {
                side.remove(k);
            } else {
                side.push(flip);
                side.sort();
            }
            if side.is_empty() || side.len() == all.len() {
                return None;
            }
        }
        Fault::KillMany { servers } => {
            let out: Vec<u64> = all
                .iter()
                .copied()
                .filter(|s| !servers.contains(s))
                .collect();
            if out.is_empty() {
                return None;
            }
            let k = rng.gen_range(0..servers.len());
            servers[k] = out[rng.gen_range(0..out.len())];
            servers.sort();
        }
        _ => return None,
    }
    Some(format!("retarget {before} to {}", name(&faults[i].fault)))
}

/// A heal of server `old` heals `new` instead.
fn retarget_heal(heal: &mut Fault, old: u64, new: u64) {
    match heal {
        Fault::Restart { server }
        | Fault::Resume { server }
        | Fault::ClockRate { server, .. }
        | Fault::DiskNormal { server }
            if *server == old =>
        {
            *server = new;
        }
        _ => {}
    }
}

/// This plan before a time in the middle half of the safety phase, `donor`'s after it
/// (its events that can happen in this scenario: known servers, within the safety phase).
fn splice(s: &mut Scenario, donor: &Scenario, rng: &mut Stream) -> Option<String> {
    let theirs = donor.plan.clone().unwrap_or_default().faults;
    if s.plan.as_ref().is_some_and(|p| p.faults == theirs) {
        return None;
    }
    let cut = rng.gen_range(s.safety_ms / 4..=s.safety_ms * 3 / 4);
    let (servers, observers, safety_ms) = (s.servers, s.observers, s.safety_ms);
    let fits = |e: &PlannedFault| {
        FaultPlan {
            faults: vec![e.clone()],
        }
        .validate(servers, observers, safety_ms)
        .is_ok()
    };
    let faults = faults(s);
    faults.retain(|e| e.at_ms < cut);
    let ours = faults.len();
    faults.extend(theirs.into_iter().filter(|e| e.at_ms >= cut && fits(e)));
    Some(format!(
        "splice at {cut} ms: {ours} events of this plan before, {} of another input's after",
        faults.len() - ours
    ))
}

/// Change one workload field: clients (up to `CLIENTS_MAX`), pipeline (up to
/// `PIPELINE_MAX`), switch_percent, think_ms_max or one operation's weight.
fn tweak_workload(s: &mut Scenario, rng: &mut Stream) -> Option<String> {
    let choose = |rng: &mut Stream, from: &[u64]| from[rng.gen_range(0..from.len())];
    let w = &mut s.workload;
    match rng.gen_range(0..5) {
        0 => {
            let old = s.clients;
            let delta = choose(rng, &[1, 2, 4]) as u32;
            s.clients = if rng.gen_bool(0.5) {
                old.saturating_sub(delta).max(1)
            } else {
                (old + delta).min(CLIENTS_MAX.max(old))
            };
            Some(format!("clients {old} to {}", s.clients))
        }
        1 => {
            let old = w.pipeline;
            w.pipeline = choose(rng, &[1, 2, 4, u64::from(PIPELINE_MAX)]) as u32;
            Some(format!("workload.pipeline {old} to {}", w.pipeline))
        }
        2 => {
            let old = w.switch_percent;
            w.switch_percent = choose(rng, &[0, 1, 5, 20, 50]) as u32;
            Some(format!(
                "workload.switch_percent {old} to {}",
                w.switch_percent
            ))
        }
        3 => {
            let old = w.think_ms_max;
            w.think_ms_max = choose(rng, &[0, 2, 20, 200, 2_000]);
            Some(format!("workload.think_ms_max {old} to {}", w.think_ms_max))
        }
        _ => {
            let mix = &mut w.mix;
            let weights = [
                &mut mix.create,
                &mut mix.delete,
                &mut mix.set_data,
                &mut mix.get_data,
                &mut mix.exists,
                &mut mix.get_children,
                &mut mix.multi,
                &mut mix.sync_read,
                &mut mix.check_set,
            ];
            let names = crate::scenario::OpMix::default().weights().map(|(n, _)| n);
            let k = rng.gen_range(0..weights.len());
            let new = rng.gen_range(0..=10);
            let old = std::mem::replace(weights[k], new);
            Some(format!("workload.mix.{} {old} to {new}", names[k]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::builtin;
    use crate::swarm::swarm;

    /// `s` with the plan of `seed` written out, as fuzz inputs are.
    fn explicit(mut s: Scenario, seed: u64) -> Scenario {
        s.plan = Some(FaultPlan::generate(&s, seed));
        s
    }

    // Every mutant is valid, over chains of mutations of varied scenarios (swarm's, every
    // built-in), and every operator gets applied.
    #[test]
    fn mutants_are_always_valid() {
        let mut inputs: Vec<(Scenario, u64)> =
            (0..40).map(|n| (explicit(swarm(n), n), n)).collect();
        for name in crate::scenario::builtin_names() {
            inputs.push((builtin(name).expect("built-in"), 7));
        }
        let mut applied = std::collections::BTreeSet::new();
        for (n, (start, seed)) in inputs.iter().enumerate() {
            let (mut s, mut seed) = (start.clone(), *seed);
            for depth in 0..25u64 {
                let donor = &inputs[(n + 1 + depth as usize) % inputs.len()].0;
                let m = mutate(&s, seed, donor, (n as u64) << 32 | depth);
                m.scenario
                    .validate()
                    .unwrap_or_else(|e| panic!("input {n} depth {depth}: {e}: {m:?}"));
                assert!(!m.mutations.is_empty());
                assert!(m.scenario.plan.is_some());
                // No heavier workload than the parent's or swarm's.
                assert!(m.scenario.clients <= s.clients.max(CLIENTS_MAX));
                assert!(m.scenario.workload.pipeline <= s.workload.pipeline.max(PIPELINE_MAX));
                for what in &m.mutations {
                    applied.insert(what.split([' ', '.']).next().unwrap_or("").to_string());
                }
                (s, seed) = (m.scenario, m.seed);
            }
        }
        let applied: Vec<&str> = applied.iter().map(String::as_str).collect();
        for op in [
            "add", "remove", "move", "make", "retarget", "splice", "reseed", "clients", "workload",
        ] {
            assert!(applied.contains(&op), "{op} never applied: {applied:?}");
        }
    }

    // The same parent, donor and key give the same mutant; other keys give others.
    #[test]
    fn mutation_is_deterministic() {
        let parent = explicit(builtin("default").expect("default"), 3);
        let donor = explicit(builtin("three").expect("three"), 4);
        let a = mutate(&parent, 3, &donor, 11);
        assert_eq!(a, mutate(&parent, 3, &donor, 11));
        let others: Vec<Mutant> = (12..20).map(|k| mutate(&parent, 3, &donor, k)).collect();
        assert!(others.iter().any(|m| m != &a));
        // A parent without a plan is mutated from the plan its seed draws.
        let drawn = mutate(&builtin("default").expect("default"), 3, &donor, 11);
        assert_eq!(drawn, a);
    }

    // Adding a fault adds its start (and heal) where it was drawn; removing a start
    // removes its heal; a move keeps a fault's duration.
    #[test]
    fn operators_keep_a_fault_with_its_heal() {
        let mut s = builtin("default").expect("default");
        s.plan = Some(FaultPlan {
            faults: vec![
                PlannedFault {
                    at_ms: 1_000,
                    fault: Fault::Kill { server: 2 },
                },
                PlannedFault {
                    at_ms: 3_000,
                    fault: Fault::Restart { server: 2 },
                },
            ],
        });
        let mut rng = stream(1, "test");
        let mut moved = s.clone();
        let what = move_fault(&mut moved, &mut rng).expect("a fault to move");
        let f = &moved.plan.as_ref().expect("plan").faults;
        assert!(
            what.starts_with("move kill(server=2) at 1000 ms to "),
            "{what}"
        );
        assert_eq!(f.len(), 2);
        assert!(matches!(f[0].fault, Fault::Kill { server: 2 }));
        if f[0].at_ms + 2_000 <= s.safety_ms {
            assert_eq!(f[1].at_ms - f[0].at_ms, 2_000, "{what}: {f:?}");
        }
        let mut removed = s.clone();
        // The first event drawn for removal is the kill or the restart.
        let what = remove_fault(&mut removed, &mut rng).expect("an event to remove");
        let left = removed.plan.as_ref().expect("plan").faults.len();
        if what.starts_with("remove kill") {
            assert_eq!(left, 0, "{what}");
        } else {
            assert_eq!(left, 1, "{what}");
        }
        let mut retargeted = s.clone();
        retarget(&mut retargeted, &mut rng).expect("a fault to retarget");
        let f = &retargeted.plan.as_ref().expect("plan").faults;
        match (&f[0].fault, &f[1].fault) {
            (Fault::Kill { server }, Fault::Restart { server: r }) => {
                assert_ne!(*server, 2);
                assert_eq!(server, r, "the restart follows the kill");
            }
            other => panic!("{other:?}"),
        }
        let before = s.plan.as_ref().expect("plan").faults.len();
        let mut added = s.clone();
        let what = add_fault(&mut added, &mut rng).expect("added");
        assert!(what.starts_with("add "));
        assert!(added.plan.as_ref().expect("plan").faults.len() > before);
    }

    // A splice keeps only the donor's events that can happen in this scenario: a donor of
    // 7 servers gives a 3-server plan no fault on servers 4 to 7.
    #[test]
    fn a_splice_drops_what_cannot_happen_here() {
        let mut s = builtin("default").expect("default");
        s.plan = Some(FaultPlan::default());
        let mut donor = builtin("default").expect("default");
        donor.servers = 7;
        donor.plan = Some(FaultPlan {
            faults: (0..40)
                .map(|k| PlannedFault {
                    at_ms: k * 500,
                    fault: Fault::Kill { server: 1 + k % 7 },
                })
                .collect(),
        });
        let mut rng = stream(2, "test");
        splice(&mut s, &donor, &mut rng).expect("spliced");
        s.validate().expect("valid");
        let f = &s.plan.as_ref().expect("plan").faults;
        assert!(!f.is_empty());
        assert!(
            f.iter()
                .all(|e| matches!(e.fault, Fault::Kill { server } if server <= 3))
        );
    }
}
