//! Faults aimed at protocol steps: a crash lands at the step it names, at that instant,
//! and nothing the server was about to do after it happens.

mod common;

use zksim_scenarios::{AimAction, AimPoint, Fault, FaultPlan, PlannedFault, builtin};

/// The default scenario with only `faults` planned; the run's trace lines.
fn trace_of(faults: Vec<PlannedFault>, seed: u64) -> Vec<String> {
    let mut scenario = builtin("default").expect("default");
    scenario.safety_ms = 6_000;
    scenario.plan = Some(FaultPlan { faults });
    common::trace_of(&scenario, seed)
}

fn aimed(server: Option<u64>, at: AimPoint, message: &str) -> Fault {
    Fault::Aimed {
        server,
        leader: false,
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
    let start = restart_of(&lines[i..], &server);
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

/// The line where `server` starts again after its crash.
fn restart_of<'a>(lines: &'a [String], server: &str) -> &'a String {
    lines
        .iter()
        .find(|l| l.contains(&format!("{server} start")))
        .expect("restarted by restart_all")
}

/// The leader, whoever it is when armed, crashed as its next log fsync is to complete.
fn leader_crash_at_unsynced_log() -> Fault {
    Fault::Aimed {
        server: None,
        leader: true,
        action: AimAction::Crash,
        at: AimPoint::Unsynced,
        message: "log".to_string(),
    }
}

/// The zxid a trace line ends with (`... PROPOSAL 0x100000003`, `(... last zxid 0x...)`).
fn zxid_in(line: &str) -> i64 {
    let hex = line.rsplit("0x").next().expect("a zxid");
    let hex: String = hex.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    i64::from_str_radix(&hex, 16).expect("hex")
}

#[test]
fn a_leader_crashed_at_its_unsynced_log_loses_txns_it_proposed() {
    let lines = trace_of(
        vec![
            PlannedFault {
                at_ms: 2_000,
                fault: leader_crash_at_unsynced_log(),
            },
            PlannedFault {
                at_ms: 5_000,
                fault: Fault::RestartAll,
            },
        ],
        3,
    );
    let armed = lines
        .iter()
        .find(|l| l.contains("FAULT aimed "))
        .expect("armed");
    let (i, server) = crashed(&lines);
    assert!(armed.ends_with(&format!("at leader {server}")), "{armed}");
    // It had sent proposals its own disk never made durable.
    let proposed = lines[..i]
        .iter()
        .filter(|l| l.contains(&format!("{server} -> ")) && l.contains(" PROPOSAL "))
        .map(|l| zxid_in(l))
        .max()
        .expect("the leader proposed");
    let start = restart_of(&lines[i..], &server);
    assert!(
        zxid_in(start) < proposed,
        "durable up to {:#x}, proposed up to {proposed:#x}",
        zxid_in(start)
    );
}

#[test]
fn a_pair_at_a_synced_current_epoch_crashes_the_learner_and_its_leader() {
    let lines = trace_of(
        vec![
            PlannedFault {
                at_ms: 2_000,
                fault: Fault::Aimed {
                    server: None,
                    leader: false,
                    action: AimAction::CrashPair,
                    at: AimPoint::Synced,
                    message: "currentEpoch".to_string(),
                },
            },
            PlannedFault {
                at_ms: 2_001,
                fault: Fault::IsolateLeader,
            },
            PlannedFault {
                at_ms: 4_000,
                fault: Fault::HealNetwork,
            },
            PlannedFault {
                at_ms: 4_000,
                fault: Fault::RestartAllButLeader,
            },
            PlannedFault {
                at_ms: 5_000,
                fault: Fault::RestartAll,
            },
        ],
        3,
    );
    let crashes: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("FAULT aimed_crash"))
        .collect();
    assert_eq!(crashes.len(), 2, "{crashes:?}");
    let time = |l: &str| l.split_whitespace().next().map(str::to_string);
    assert_eq!(time(crashes[0]), time(crashes[1]), "at once");
    // The second is the leader that synced the first: the last to take LEADING.
    let leader = crashes[1].split_whitespace().last().expect("S<n>");
    let first = lines.iter().position(|l| l == crashes[0]).expect("found");
    let last_leading = lines[..first]
        .iter()
        .rfind(|l| l.contains(" LEADING "))
        .expect("a leader");
    assert!(
        last_leading.contains(&format!("{leader} LEADING")),
        "{last_leading}"
    );
    let stays = lines
        .iter()
        .find(|l| l.contains("FAULT restart_all_but_leader"))
        .expect("restart");
    assert!(stays.ends_with(&format!("{leader} stays down")), "{stays}");
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

/// The server a `FAULT <kind> S<n>...` line names.
fn named_in(line: &str, kind: &str) -> String {
    line.split(&format!("FAULT {kind} "))
        .nth(1)
        .and_then(|rest| rest.split([' ', ':']).next())
        .unwrap_or_else(|| panic!("a server in {line}"))
        .to_string()
}

#[test]
fn a_lagging_follower_is_never_the_leader_and_comes_back_by_itself() {
    // Each server named in turn: whichever leads at 2 s, the one crashed is a follower.
    for named in 1..=3 {
        let lines = trace_of(
            vec![PlannedFault {
                at_ms: 2_000,
                fault: Fault::LagFollower {
                    server: named,
                    down_ms: 1_500,
                },
            }],
            5,
        );
        let i = lines
            .iter()
            .position(|l| l.contains("FAULT lag_follower "))
            .expect("a follower lagged");
        let lagging = named_in(&lines[i], "lag_follower");
        // The last role the crashed server took before the fault was FOLLOWING.
        let role = lines[..i]
            .iter()
            .rev()
            .find(|l| {
                l.contains(&format!(" {lagging} LEADING"))
                    || l.contains(&format!(" {lagging} FOLLOWING"))
            })
            .expect("it had a role");
        assert!(role.contains("FOLLOWING"), "{role}");
        // It restarts 1.5 s later, with nothing planned to restart it.
        let back = lines[i..]
            .iter()
            .find(|l| l.contains(&format!("FAULT restart {lagging}")))
            .expect("it comes back");
        let at = |l: &str| -> u64 {
            l.split_whitespace()
                .next()
                .expect("time")
                .parse()
                .expect("µs")
        };
        assert_eq!(at(back) - at(&lines[i]), 1_500_000, "{back}");
    }
}

#[test]
fn a_slow_leader_disk_slows_the_leader_alone() {
    let lines = trace_of(
        vec![
            PlannedFault {
                at_ms: 2_000,
                fault: Fault::LeaderDiskSlow { fsync_ms: 300 },
            },
            PlannedFault {
                at_ms: 4_000,
                fault: leader_crash_at_unsynced_log(),
            },
            PlannedFault {
                at_ms: 5_000,
                fault: Fault::RestartAll,
            },
        ],
        3,
    );
    let slowed = lines
        .iter()
        .find(|l| l.contains("FAULT leader_disk_slow "))
        .expect("slowed");
    let leader = named_in(slowed, "leader_disk_slow");
    assert!(slowed.ends_with("fsync takes 300 ms"), "{slowed}");
    // The leader then crashes in a 300 ms fsync that its followers outpace: its own disk
    // holds fewer txns at restart than a follower acknowledged before the crash.
    let (i, crashed_server) = crashed(&lines);
    assert_eq!(crashed_server, leader);
    let acked = lines[..i]
        .iter()
        .filter(|l| l.contains(" ACK ") && l.contains(&format!("-> {leader} ")))
        .map(|l| zxid_in(l))
        .max()
        .expect("followers ACKed");
    let start = restart_of(&lines[i..], &leader);
    assert!(
        zxid_in(start) < acked,
        "durable up to {:#x}, a follower ACKed {acked:#x}",
        zxid_in(start)
    );
}
