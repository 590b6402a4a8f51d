//! The recipe API (`zksim_sim::recipe_api`) as a user meets it: bad input is a clear error
//! before anything runs, a broken invariant names its seed, its name and message and the
//! command that replays it, a sweep's report does not depend on its number of jobs, and
//! the checker's verdicts on the run are reported beside the recipe's own.

use zksim_sim::recipe_api::{
    CreateMode, Cx, ErrorCode, Got, Invariant, Pace, Proposal, Recipe, Request, Scenario, Source,
    Sweep, SweepError, Zxid, ops,
};

/// Each client creates /x if need be, then writes it now and then, logging the zxids its
/// writes got.
struct Writer {
    pace: Pace,
    created: bool,
}

impl Recipe for Writer {
    type Shared = Vec<(u32, Zxid)>;

    const STREAM: &'static str = "test-writer";

    fn new(_scenario: &Scenario, _client: u32, pace: Pace) -> Writer {
        Writer {
            pace,
            created: false,
        }
    }

    fn pace(&self) -> &Pace {
        &self.pace
    }

    fn next(&mut self, _log: &mut Self::Shared, cx: &Cx) -> Proposal {
        if !self.created {
            return Proposal::one(ops::create("/x", "", CreateMode::Persistent));
        }
        Proposal::one(ops::set_data("/x", &cx.client.to_string(), -1))
    }

    fn on_reply(&mut self, log: &mut Self::Shared, cx: &Cx, request: &Request, got: &Got) {
        match (request, got) {
            (Request::Create { .. }, Got::Ok(_) | Got::Err(ErrorCode::NodeExists, _)) => {
                self.created = true;
            }
            (Request::SetData { .. }, Got::Ok(reply)) => log.push((cx.client, reply.zxid)),
            _ => {}
        }
        self.pace.after(cx, 50, 200);
    }
}

/// A short run: three servers, three clients, two seconds of faults.
fn short() -> Scenario {
    let mut s = zksim_scenarios::builtin("default").expect("built in");
    s.name = "short".to_string();
    s.clients = 3;
    s.safety_ms = 2_000;
    s
}

fn distinct_zxids() -> Invariant<Vec<(u32, Zxid)>> {
    Invariant::at_end("distinct-zxids", |log: &Vec<(u32, Zxid)>| {
        let mut zxids: Vec<Zxid> = log.iter().map(|(_, z)| *z).collect();
        zxids.sort_unstable();
        let before = zxids.len();
        zxids.dedup();
        if zxids.len() == before {
            Ok(())
        } else {
            Err(format!("{} writes share a zxid", before - zxids.len()))
        }
    })
}

#[test]
fn bad_input_is_an_error_before_anything_runs() {
    // An unknown name lists the built-ins; an empty range, no jobs, an invalid scenario
    // value and an unknown bug each say what is wrong.
    let unknown = Sweep::<Writer>::new("defualt").run().expect_err("unknown");
    assert!(matches!(unknown, SweepError::UnknownScenario { .. }));
    let message = unknown.to_string();
    assert!(message.contains("\"defualt\""), "{message}");
    assert!(message.contains("default, three"), "{message}");
    let empty = Sweep::<Writer>::new("default").seeds(5..5).run();
    assert_eq!(
        empty.expect_err("empty").to_string(),
        "the seed range 5..5 is empty: give at least one seed, such as 0..100"
    );
    let jobs = Sweep::<Writer>::new("default").jobs(0).run();
    assert!(matches!(jobs, Err(SweepError::NoJobs)));
    let mut invalid = short();
    invalid.servers = 0;
    let invalid = Sweep::<Writer>::new(invalid).run().expect_err("invalid");
    assert_eq!(
        invalid.to_string(),
        "scenario short: field `servers`: 0 servers; an ensemble has 1 to 9"
    );
    let bug = Sweep::<Writer>::new("default").bug("no-such-bug").run();
    assert!(matches!(bug, Err(SweepError::UnknownBug { .. })), "{bug:?}");
}

#[test]
fn a_broken_invariant_names_seed_invariant_and_replay() {
    // An invariant that cannot hold once two writes succeeded fails on the first seed,
    // with its name and message and the command that reruns this test on that seed.
    let report = Sweep::<Writer>::new(short())
        .seeds(3..6)
        .invariant(distinct_zxids())
        .invariant(Invariant::at_end(
            "at-most-one-write",
            |log: &Vec<_>| match log.len() {
                0 | 1 => Ok(()),
                n => Err(format!("{n} writes")),
            },
        ))
        .run()
        .expect("a valid sweep");
    assert_eq!(
        report.seeds_run,
        vec![3],
        "a sweep stops at its first failure"
    );
    let failure = report.expect_failure();
    assert_eq!(failure.seed, 3);
    assert_eq!(failure.scenario, "short");
    assert_eq!(failure.first().invariant, "at-most-one-write");
    assert_eq!(failure.first().source, Source::Recipe);
    assert!(failure.first().message.ends_with(" writes"));
    assert!(!failure.broke("distinct-zxids"), "{failure}");
    assert!(
        failure.replay.starts_with("ZKSIM_SEED=3 cargo test"),
        "{}",
        failure.replay
    );
    assert!(
        failure.replay.contains("-p zksim-sim --test recipe_api -- a_broken_invariant_names_seed_invariant_and_replay --exact"),
        "{}",
        failure.replay
    );
}

#[test]
fn an_each_step_invariant_names_the_client_and_time() {
    // Judged after every step, the invariant breaks at the step that made the second
    // write known, and says which client's step that was.
    let report = Sweep::<Writer>::new(short())
        .seeds(0..1)
        .invariant(Invariant::each_step("one-write", |log: &Vec<_>| {
            if log.len() < 2 {
                Ok(())
            } else {
                Err("a second write".to_string())
            }
        }))
        .run()
        .expect("a valid sweep");
    let failure = report.expect_failure();
    let message = &failure.first().message;
    assert!(message.starts_with("a second write (client "), "{message}");
    assert!(message.contains(" ms simulated)"), "{message}");
}

#[test]
fn the_report_does_not_depend_on_jobs() {
    // Seeds run on two threads give the same passes and failures as one at a time.
    let sweep = |jobs| {
        Sweep::<Writer>::new(short())
            .seeds(0..6)
            .jobs(jobs)
            .keep_going(true)
            .invariant(Invariant::at_end("few-writes", |log: &Vec<_>| {
                if log.len() < 30 {
                    Ok(())
                } else {
                    Err(format!("{} writes", log.len()))
                }
            }))
            .run()
            .expect("a valid sweep")
    };
    let (one, two) = (sweep(1), sweep(2));
    assert_eq!(one.seeds_run, (0..6).collect::<Vec<_>>());
    assert!(!one.failures.is_empty() && one.failures.len() < 6, "{one}");
    assert_eq!(one.seeds_run, two.seeds_run);
    assert_eq!(one.failures, two.failures);
}

#[test]
fn the_checkers_verdicts_are_reported_too() {
    // With a service that commits before a quorum acknowledged (a bug knob), the checker
    // reports a broken ZooKeeper guarantee even though the recipe's invariant holds.
    let report = Sweep::<Writer>::new("default")
        .seeds(0..10)
        .bug("commit-before-quorum")
        .invariant(distinct_zxids())
        .run()
        .expect("a valid sweep");
    let failure = report.expect_failure();
    assert!(!failure.broke("distinct-zxids"), "{failure}");
    assert!(
        failure.broken.iter().any(|b| b.source == Source::Checker),
        "{failure}"
    );
}

/// A client that panics when it is told its first write succeeded.
struct Panicker(Writer);

impl Recipe for Panicker {
    type Shared = ();

    const STREAM: &'static str = "test-panicker";

    fn new(scenario: &Scenario, client: u32, pace: Pace) -> Panicker {
        Panicker(Writer::new(scenario, client, pace))
    }

    fn pace(&self) -> &Pace {
        self.0.pace()
    }

    fn next(&mut self, _shared: &mut (), cx: &Cx) -> Proposal {
        self.0.next(&mut Vec::new(), cx)
    }

    fn on_reply(&mut self, _shared: &mut (), cx: &Cx, request: &Request, got: &Got) {
        let mut log = Vec::new();
        self.0.on_reply(&mut log, cx, request, got);
        assert!(log.is_empty(), "client {} wrote", cx.client);
    }
}

#[test]
fn a_panicking_recipe_fails_its_seed() {
    // A panic in the recipe's code is the seed's failure, with its message; the sweep
    // goes on to report it.
    let report = Sweep::<Panicker>::new(short())
        .seeds(0..1)
        .run()
        .expect("a valid sweep");
    let failure = report.expect_failure();
    assert_eq!(failure.first().invariant, "panic");
    assert_eq!(failure.first().source, Source::Run);
    assert!(
        failure.first().message.contains(" wrote"),
        "{}",
        failure.first().message
    );
}
