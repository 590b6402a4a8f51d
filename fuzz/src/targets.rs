//! The fuzz targets: each feeds one input to one parser the way a `zksim` command does,
//! then feeds what parses to what the command does next (a history is indexed and judged,
//! a replay file is applied to a fresh standalone server, an external history is checked
//! for linearizability), and returns the input's features: the kind of error it met or the
//! verdicts it got. A panic, or an assertion of an oracle below, is a finding.

use std::fmt;
use std::str::FromStr;

use zksim_checker::external::{ExternalHistory, Format, edn};
use zksim_checker::history::{self, Event};
use zksim_checker::linearizability::{Budget, Verdict as LinVerdict};
use zksim_checker::props::{Options, Verdict};
use zksim_checker::{History, check_all, html, recipes, report};
use zksim_core::replay;
use zksim_scenarios::{FaultPlan, Scenario};

use crate::kinds::kind;

/// Search steps a judged history may spend confirming a linearizability violation: a
/// mutant with a suspect write order must still be judged in milliseconds.
const HISTORY_MAX_STEPS: u64 = 2_000;
/// Search steps an external history may spend.
const EXTERNAL_MAX_STEPS: u64 = 20_000;

/// A parser under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// Scenario files (`zksim run --scenario FILE`).
    Scenario,
    /// zksim histories (`zksim check FILE`).
    History,
    /// Tree replay files (`zksim tree replay FILE`).
    Replay,
    /// porcupine's Jepsen etcd logs (`zksim check --format porcupine-etcd`).
    Etcd,
    /// porcupine's key-value logs (`zksim check --format porcupine-kv`).
    Kv,
    /// Knossos's cas-register histories (`zksim check --format knossos-cas`).
    Knossos,
    /// The EDN reader the Knossos and key-value readers are built on.
    Edn,
}

impl Target {
    pub const ALL: [Target; 7] = [
        Target::Scenario,
        Target::History,
        Target::Replay,
        Target::Etcd,
        Target::Kv,
        Target::Knossos,
        Target::Edn,
    ];

    /// The name on the command line, and of the target's corpus folder.
    pub fn name(self) -> &'static str {
        match self {
            Target::Scenario => "scenario",
            Target::History => "history",
            Target::Replay => "replay",
            Target::Etcd => "etcd",
            Target::Kv => "kv",
            Target::Knossos => "knossos",
            Target::Edn => "edn",
        }
    }

    /// Whether inputs are JSON, so that JSON-aware mutations apply.
    pub fn json(self) -> bool {
        matches!(self, Target::Scenario | Target::History | Target::Replay)
    }

    /// Whether inputs are lists of lines.
    pub fn lines(self) -> bool {
        !matches!(self, Target::Scenario | Target::Edn)
    }

    /// Words to splice into inputs, beyond those harvested from the corpus.
    pub fn words(self) -> &'static [&'static str] {
        match self {
            Target::Scenario => &[
                "\"plan\"",
                "\"faults\"",
                "\"recipe\"",
                "\"at_ms\"",
                "\"kind\"",
                "\"liveness_hold_ms\"",
                "\"mean_interval_ms\"",
                "\"duration_ms\"",
                "\"cover_all_kinds\"",
            ],
            Target::History => &[
                "\"header\"",
                "\"recipe\"",
                "\"clients\"",
                "\"Multi\"",
                "\"Create\"",
                "\"Delete\"",
                "\"SetData\"",
                "\"closed\"",
                "\"expired\"",
                "\"lost\"",
                "\"timeout\"",
                "\"error\"",
                "\"txn\"",
                "\"replica\"",
            ],
            Target::Replay => &[
                "\"multi\"",
                "\"multi_read\"",
                "\"reap\"",
                "\"after_ms\"",
                "\"ttl\"",
                "\"container\"",
                "\"persistent_sequential_with_ttl\"",
                "\"add_watch\"",
                "\"remove_watches\"",
                "\"set_acl\"",
                "\"digest\"",
                "\"auth\"",
                "\"ip\"",
                "\"sasl\"",
            ],
            Target::Etcd | Target::Kv | Target::Knossos | Target::Edn => &[
                ":invoke",
                ":ok",
                ":fail",
                ":info",
                ":read",
                ":write",
                ":cas",
                ":get",
                ":put",
                ":append",
                ":timed-out",
                ":nemesis",
                "nil",
                "#_",
                "#{",
                "\\newline",
                "\t",
                "INFO  jepsen.util - ",
            ],
        }
    }

    /// Feed `input` to the target's parser and what follows it; the input's features.
    pub fn run(self, input: &[u8]) -> Vec<String> {
        // Every command but `check` reads its file whole as UTF-8 first.
        match (self, std::str::from_utf8(input)) {
            (Target::History, _) => run_history(input),
            (_, Err(_)) => vec!["not UTF-8".to_string()],
            (Target::Scenario, Ok(text)) => run_scenario(text),
            (Target::Replay, Ok(text)) => run_replay(text),
            (Target::Etcd, Ok(text)) => run_external(Format::PorcupineEtcd, text),
            (Target::Kv, Ok(text)) => run_external(Format::PorcupineKv, text),
            (Target::Knossos, Ok(text)) => run_external(Format::KnossosCas, text),
            (Target::Edn, Ok(text)) => run_edn(text),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Target {
    type Err = String;

    fn from_str(name: &str) -> Result<Target, String> {
        Target::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
                format!("unknown target {name:?}; known: {}", names.join(", "))
            })
    }
}

/// `zksim run --scenario FILE`: the scenario is parsed and validated, its fault plan drawn
/// and its liveness hold computed as a run does before the simulation starts.
fn run_scenario(text: &str) -> Vec<String> {
    let scenario = match Scenario::from_json(text) {
        Ok(scenario) => scenario,
        Err(e) => return vec![kind("error", &e.to_string(), text.as_bytes())],
    };
    let mut features = vec!["valid".to_string()];
    let _ = scenario.liveness_hold_ms();
    for seed in [0, 1] {
        let plan = scenario
            .plan
            .clone()
            .unwrap_or_else(|| FaultPlan::generate(&scenario, seed));
        if let Err(e) = plan.validate(scenario.servers, scenario.observers, scenario.safety_ms) {
            features.push(kind("plan refused", &e, text.as_bytes()));
        }
        features.push(format!("faults {}", bucket(plan.faults.len())));
    }
    // What a shrunk case saves must read back as the same scenario.
    let again = Scenario::from_json(&scenario.to_json());
    assert_eq!(again.as_ref(), Ok(&scenario), "a valid scenario reads back");
    if let Some(recipe) = &scenario.recipe {
        features.push(format!("recipe {recipe}"));
    }
    features
}

/// `zksim check FILE`: the history is read from a stream, indexed, its recipe judged and
/// every property checked, and the report rendered as text and HTML.
fn run_history(input: &[u8]) -> Vec<String> {
    let read = history::read(input);
    match std::str::from_utf8(input) {
        Ok(text) => {
            let parsed = history::parse(text);
            // Reading a stream and parsing the whole text give the same events or error.
            assert_eq!(
                read.as_ref().map_err(ToString::to_string),
                parsed.as_ref().map_err(ToString::to_string),
                "history::read and history::parse agree"
            );
            if let Ok(events) = &parsed {
                same_as_general_path(text, events);
            }
        }
        Err(_) => assert!(read.is_err(), "text that is not UTF-8 is refused"),
    }
    let events = match read {
        Ok(events) => events,
        Err(e) => return vec![kind("read", &e.to_string(), input)],
    };
    let h = match History::new(&events) {
        Ok(h) => h,
        Err(e) => return vec![kind("index", &e.message, input)],
    };
    let mut features = Vec::new();
    let recipe = match recipes::check(&h) {
        Ok(recipe) => recipe,
        Err(e) => {
            features.push(kind("recipe", &e.to_string(), input));
            None
        }
    };
    if let Some(recipe) = &recipe {
        for outcome in recipe.violated() {
            features.push(format!("recipe violated {}", outcome.invariant));
        }
    }
    let options = Options {
        max_steps: HISTORY_MAX_STEPS,
    };
    let judged = check_all(&h, options);
    for outcome in &judged.outcomes {
        let verdict = match &outcome.verdict {
            Verdict::Holds => continue,
            Verdict::Violated { .. } => "violated",
            Verdict::Unknown(_) => "unknown",
        };
        features.push(format!("{} {verdict}", outcome.property.name()));
    }
    let _ = report::render(&h, &judged, recipe.as_ref(), "fuzz");
    let _ = html::render(&h, &judged, recipe.as_ref(), "fuzz");
    features.push(format!("events {}", bucket(events.len())));
    features
}

/// Every line of a history that parsed reads as the same event through serde's general
/// path (the fast path in checker/src/history/line.rs must not read a line differently).
fn same_as_general_path(text: &str, events: &[Event]) {
    let lines = text.lines().filter(|l| !l.trim().is_empty());
    let mut count = 0;
    for (line, event) in lines.zip(events) {
        let general: Event = serde_json::from_str(line).expect("the general path reads the line");
        assert_eq!(&general, event, "fast and general path agree on {line}");
        count += 1;
    }
    assert_eq!(count, events.len(), "one event per non-blank line");
}

/// `zksim tree replay FILE`: the file is parsed and applied to a fresh standalone server.
fn run_replay(text: &str) -> Vec<String> {
    let rendered = match replay::replay_text(text) {
        Ok(rendered) => rendered,
        Err(e) => return vec![kind("error", &e.message, text.as_bytes())],
    };
    let mut features: Vec<String> = rendered
        .iter()
        .filter_map(|r| {
            let err = r.json.get("err")?.as_str()?;
            Some(format!("err {err}"))
        })
        .collect();
    for r in &rendered {
        let _ = serde_json::to_string(&r.json).expect("a result line serializes");
    }
    features.sort();
    features.dedup();
    features.push(format!("ops {}", bucket(rendered.len())));
    features
}

/// `zksim check --format F FILE`: the history is parsed and checked, and a violation
/// reported.
fn run_external(format: Format, text: &str) -> Vec<String> {
    let history = match ExternalHistory::parse(format, text, "fuzz") {
        Ok(history) => history,
        Err(e) => {
            assert_eq!(e.file, "fuzz", "the error names the file");
            let lines = text.lines().count().max(1);
            assert!(
                (1..=lines + 1).contains(&e.line),
                "the error's line {} is in the text of {lines} lines",
                e.line
            );
            return vec![kind("error", &e.problem, text.as_bytes())];
        }
    };
    let result = history.check(Budget::steps(EXTERNAL_MAX_STEPS));
    let _ = history.report(&result.verdict);
    let verdict = match &result.verdict {
        LinVerdict::Linearizable => "linearizable".to_string(),
        LinVerdict::Violation(_) => "violation".to_string(),
        LinVerdict::Unknown(reason) => kind("unknown", &reason.to_string(), text.as_bytes()),
    };
    vec![
        verdict,
        format!("operations {}", bucket(history.len())),
        format!("partitions {}", bucket(result.stats.partitions)),
    ]
}

/// The EDN reader: one form as `read_one` reads it, then every form as a stream.
fn run_edn(text: &str) -> Vec<String> {
    let mut features = vec![match edn::read_one(text) {
        Ok(form) => {
            // Shown as Jepsen's tools would print it.
            let _ = form.to_string();
            format!("form {}", edn_kind(&form))
        }
        Err(e) => kind("error", &e.problem, text.as_bytes()),
    }];
    let mut reader = edn::Reader::new(text);
    let mut forms = 0;
    loop {
        match reader.next_form() {
            Ok(Some(_)) => forms += 1,
            Ok(None) => break,
            Err(e) => {
                let lines = text.lines().count().max(1);
                assert!(
                    (1..=lines + 1).contains(&e.line),
                    "the error's line {} is in the text of {lines} lines",
                    e.line
                );
                break;
            }
        }
    }
    features.push(format!("forms {}", bucket(forms)));
    features
}

fn edn_kind(form: &edn::Edn) -> &'static str {
    use edn::Edn;
    match form {
        Edn::Nil => "nil",
        Edn::Bool(_) => "bool",
        Edn::Int(_) => "int",
        Edn::Float(_) => "float",
        Edn::Str(_) => "string",
        Edn::Char(_) => "char",
        Edn::Keyword(_) => "keyword",
        Edn::Symbol(_) => "symbol",
        Edn::List(_) => "list",
        Edn::Vector(_) => "vector",
        Edn::Set(_) => "set",
        Edn::Map(_) => "map",
        Edn::Tagged(..) => "tagged",
    }
}

/// A count as a power of two, so that features stay few.
fn bucket(n: usize) -> u32 {
    usize::BITS - n.leading_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Targets are named on the command line by their corpus folder's name.
    #[test]
    fn targets_parse_by_name() {
        assert_eq!(Target::from_str("kv"), Ok(Target::Kv));
        assert!(Target::from_str("nope").is_err());
    }
}
