//! Faults aimed at protocol steps: a crash lands at the step it names, at that instant,
//! and nothing the server was about to do after it happens.

use zksim_scenarios::{AimAction, AimPoint, Fault, FaultPlan, PlannedFault, builtin};
use zksim_sim::{RunOptions, TraceMode, run};

/// The default scenario with only `faults` planned; the run's trace lines.
fn trace_of(faults: Vec<PlannedFault>, seed: u64) -> Vec<String> {
    let mut scenario = builtin("default").expect("default");
    scenario.safety_ms = 6_000;
    scenario.plan = Some(FaultPlan { faults });
    scenario.validate().expect("a valid plan");
    let report = run(
        &scenario,
        &RunOptions {
            seed,
            trace: TraceMode::Keep,
            ..RunOptions::default()
        },
    );
    assert!(report.liveness.is_ok(), "{:?}", report.liveness);
    report.trace_lines
}

fn aimed(server: Option<u64>, at: AimPoint, message: &str) -> Fault {
    Fault::Aimed {
        server,
        action: AimAction::Crash,
        at,
        message: message.to_string(),
    }
}

/// The server an `aimed_crash` line names, and the line's index.
fn crashed(lines: &[String]) -> (usize, String) {
    let i = lines
        .iter()
        .position(|l| l.contains("FAULT aimed_crash"))
        .unwrap_or_else(|| panic!("the aim fired:\n{}", lines.join("\n")));
    let server = lines[i]
        .split_whitespace()
        .last()
        .expect("S<n>")
        .to_string();
    (i, server)
}

#[test]
fn a_crash_aimed_at_a_sent_proposal_comes_right_after_it() {
    let lines = trace_of(
        vec![
            PlannedFault {
                at_ms: 2_000,
                fault: aimed(None, AimPoint::Sent, "PROPOSAL"),
            },
            PlannedFault {
                at_ms: 5_000,
                fault: Fault::RestartAll,
            },
        ],
        3,
    );
    let (i, server) = crashed(&lines);
    // The leader's last act is the PROPOSAL's send: the line before the crash.
    assert!(
        lines[i - 1].contains(&format!("{server} -> ")) && lines[i - 1].contains("PROPOSAL"),
        "{}\n{}",
        lines[i - 1],
        lines[i]
    );
    // Nothing from it afterwards until it restarts.
    let restart = lines[i..]
        .iter()
        .position(|l| l.contains(&format!("{server} start")))
        .expect("restarted by restart_all");
    assert!(
        !lines[i + 1..i + restart]
            .iter()
            .any(|l| l.contains(&format!("{server} -> "))),
        "a crashed server sends nothing"
    );
}

#[test]
fn a_crash_aimed_at_a_held_ack_loses_the_ack_not_the_txn() {
    let lines = trace_of(
        vec![
            PlannedFault {
                at_ms: 2_000,
                fault: aimed(None, AimPoint::Held, "ACK"),
            },
            PlannedFault {
                at_ms: 5_000,
                fault: Fault::RestartAll,
            },
        ],
        4,
    );
    let (i, server) = crashed(&lines);
    // A follower: its last ACK before the crash went out earlier; the one its crash fsync
    // would have released never did. At restart its log has a txn past every ACK it sent.
    let start = lines[i..]
        .iter()
        .find(|l| l.contains(&format!("{server} start")))
        .expect("restarted by restart_all");
    let last_zxid = start
        .rsplit("last zxid ")
        .next()
        .and_then(|z| z.strip_suffix(')'))
        .map(|z| i64::from_str_radix(z.trim_start_matches("0x"), 16).expect("hex"))
        .expect("the restart names its last zxid");
    let acked: Vec<i64> = lines[..i]
        .iter()
        .filter(|l| l.contains(&format!("{server} -> ")) && l.contains(" ACK "))
        .filter_map(|l| {
            l.rsplit("0x")
                .next()
                .and_then(|z| i64::from_str_radix(z.split_whitespace().next()?, 16).ok())
        })
        .collect();
    assert!(
        !acked.is_empty(),
        "{server} ACKed proposals before its crash"
    );
    let last_acked = acked.iter().copied().max().expect("not empty");
    assert!(
        last_zxid > last_acked,
        "durable up to {last_zxid:#x}, ACKed up to {last_acked:#x}: the held ACK was lost"
    );
}

#[test]
fn an_aim_at_a_step_that_never_comes_does_nothing() {
    let faults = vec![
        PlannedFault {
            at_ms: 2_000,
            fault: aimed(None, AimPoint::Sent, "TRUNC"),
        },
        PlannedFault {
            at_ms: 5_000,
            fault: Fault::RestartAll,
        },
    ];
    let lines = trace_of(faults, 3);
    assert!(!lines.iter().any(|l| l.contains("aimed_crash")));
}

#[test]
fn an_aim_at_an_unknown_message_is_refused() {
    let mut scenario = builtin("default").expect("default");
    scenario.plan = Some(FaultPlan {
        faults: vec![PlannedFault {
            at_ms: 100,
            fault: aimed(None, AimPoint::Sent, "NEWLEADR"),
        }],
    });
    let e = scenario
        .validate()
        .expect_err("a misspelt kind")
        .to_string();
    assert!(e.contains("NEWLEADR") && e.contains("NEWLEADER"), "{e}");
}
