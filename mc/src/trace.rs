//! Counterexamples as files, and their replay: the steps of a path, with the bounds and
//! knobs of the model that found it, as JSON. Replaying re-executes every step on the real
//! servers, checks each was possible, and reports each server's change.

use std::path::Path;

use serde::{Deserialize, Serialize};
use zksim_core::server::Bugs;

use crate::model::{Bounds, State, Step, ZabModel, node};
use crate::props;

/// The format's name, written first in every file.
pub const FORMAT: &str = "zksim-mc counterexample v1";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counterexample {
    pub format: String,
    pub bounds: Bounds,
    /// The bug knobs that were on, by name.
    pub bugs: Vec<String>,
    /// The safety property the last step breaks.
    pub property: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a counterexample file: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("{path}: unknown format {found:?} (expected {FORMAT:?})")]
    Format { path: String, found: String },
    #[error("unknown bug knob {0:?} (`zksim bugs` lists them)")]
    UnknownBug(String),
    #[error("bad bounds: {0}")]
    Bounds(String),
    #[error("step {n} ({step}) is not possible in the state the steps before it reach")]
    Impossible { n: usize, step: Step },
}

/// The knobs named, as a set; an unknown name is an error.
pub fn parse_bugs(names: &[String]) -> Result<Bugs, TraceError> {
    names.iter().try_fold(Bugs::default(), |bugs, name| {
        bugs.with(name)
            .ok_or_else(|| TraceError::UnknownBug(name.clone()))
    })
}

/// Bounds the model can run with.
pub fn validate(bounds: &Bounds) -> Result<(), TraceError> {
    if !(1..=7).contains(&bounds.servers) {
        return Err(TraceError::Bounds(format!(
            "{} servers: between 1 and 7 please (3 or 5 are the usual)",
            bounds.servers
        )));
    }
    if bounds.in_flight == 0 {
        return Err(TraceError::Bounds(
            "at least one message in flight per link".into(),
        ));
    }
    Ok(())
}

impl Counterexample {
    pub fn new(model: &ZabModel, property: &str, steps: Vec<Step>) -> Counterexample {
        Counterexample {
            format: FORMAT.to_string(),
            bounds: model.bounds,
            bugs: model.bugs.names().iter().map(|s| s.to_string()).collect(),
            property: property.to_string(),
            steps,
        }
    }

    pub fn load(path: &Path) -> Result<Counterexample, TraceError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TraceError::Read {
            path: shown.clone(),
            source,
        })?;
        let c: Counterexample =
            serde_json::from_str(&text).map_err(|source| TraceError::Parse {
                path: shown.clone(),
                source,
            })?;
        if c.format != FORMAT {
            return Err(TraceError::Format {
                path: shown,
                found: c.format,
            });
        }
        Ok(c)
    }

    pub fn save(&self, path: &Path) -> Result<(), TraceError> {
        let text = serde_json::to_string_pretty(self).expect("a counterexample serializes");
        std::fs::write(path, text + "\n").map_err(|source| TraceError::Write {
            path: path.display().to_string(),
            source,
        })
    }

    /// The model the counterexample was found in.
    pub fn model(&self) -> Result<ZabModel, TraceError> {
        validate(&self.bounds)?;
        Ok(ZabModel::new(self.bounds, parse_bugs(&self.bugs)?))
    }

    /// Re-execute the steps from the initial state.
    pub fn replay(&self) -> Result<Replay, TraceError> {
        let model = self.model()?;
        let mut state = model.initial();
        let mut lines = Vec::new();
        let initial = summaries(&model, &state);
        for (i, step) in self.steps.iter().enumerate() {
            let mut possible = Vec::new();
            model.steps(&state, &mut possible);
            if !possible.contains(step) {
                return Err(TraceError::Impossible {
                    n: i + 1,
                    step: *step,
                });
            }
            let before = summaries(&model, &state);
            let described = describe(&state, *step);
            state = model.after(&state, *step);
            let after = summaries(&model, &state);
            let changes = before
                .iter()
                .zip(&after)
                .filter(|(b, a)| b != a)
                .map(|(_, a)| a.clone())
                .collect();
            lines.push((described, changes));
        }
        Ok(Replay {
            initial,
            lines,
            violations: props::violations(&model, &state),
            breaches: state.breaches.clone(),
            state,
        })
    }
}

/// What a replay went through.
pub struct Replay {
    /// Each server as it started.
    pub initial: Vec<String>,
    /// Each step (a delivery with the kind of message delivered) with the servers it
    /// changed, as they are after it.
    pub lines: Vec<(String, Vec<String>)>,
    /// The safety properties the last state breaks.
    pub violations: Vec<(&'static str, String)>,
    /// What the servers reported breaching on purpose (bug knobs).
    pub breaches: Vec<String>,
    pub state: State,
}

/// A step as a person reads it: a delivery names the message it delivers.
pub fn describe(state: &State, step: Step) -> String {
    match step {
        Step::Deliver { from, to } => match state.links.get(&(from, to)).and_then(|q| q.front()) {
            Some(msg) => format!("{step} ({})", msg.kind()),
            None => step.to_string(),
        },
        _ => step.to_string(),
    }
}

/// One line per server: role, epochs, last zxid, committed zxid.
pub fn summaries(model: &ZabModel, state: &State) -> Vec<String> {
    model
        .ids()
        .map(|id| {
            let n = node(state, id);
            match &n.server {
                None => format!("S{id} down"),
                Some(s) => format!(
                    "S{id} {}{} epoch {} (accepted {}) last {:#x} committed {:#x}{}",
                    s.state().name(),
                    if s.is_serving() { "" } else { " (not serving)" },
                    s.current_epoch(),
                    s.accepted_epoch(),
                    s.last_logged_zxid(),
                    s.last_committed_zxid(),
                    if n.unsynced.is_empty() {
                        String::new()
                    } else {
                        format!(", {} unsynced", n.unsynced.len())
                    }
                ),
            }
        })
        .collect()
}
