//! Histories recorded by other projects, with the models they were checked against:
//! porcupine's Jepsen etcd logs and key-value logs, and Knossos's register histories. Their
//! known verdicts hold the engine to account (see `docs/checker.md`).

mod builder;
pub mod edn;
mod error;
pub mod etcd;
mod fields;
pub mod knossos;
pub mod kv;
pub mod porcupine_kv;
pub mod register;
pub mod report;

use std::fmt;
use std::path::Path;

pub use builder::{Parsed, SourceLines};
pub use error::{LoadError, ParseError};
pub use kv::KeyValue;
pub use register::CasRegister;

use crate::linearizability::{self, Budget, CheckResult, Verdict};
use kv::{KvInput, KvOutput};
use register::{RegisterInput, RegisterOutput};

/// The external history formats `zksim check --format` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Jepsen etcd logs from porcupine's test data: a CAS register starting at nil.
    PorcupineEtcd,
    /// Porcupine's key-value logs: get/put/append on strings, per key.
    PorcupineKv,
    /// Knossos's register histories: a CAS register starting at 0.
    KnossosCas,
}

impl Format {
    pub const ALL: [Format; 3] = [
        Format::PorcupineEtcd,
        Format::PorcupineKv,
        Format::KnossosCas,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::PorcupineEtcd => "porcupine-etcd",
            Format::PorcupineKv => "porcupine-kv",
            Format::KnossosCas => "knossos-cas",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A parsed external history and the model it is checked against.
#[derive(Clone, Debug)]
pub enum ExternalHistory {
    Register {
        model: CasRegister,
        history: Parsed<RegisterInput, RegisterOutput>,
    },
    Kv {
        model: KeyValue,
        history: Parsed<KvInput, KvOutput>,
    },
}

impl ExternalHistory {
    /// Parses `text` in `format`; `file` names it in errors. A history with no operation
    /// to check (an empty file, only comments, only operations the format drops) is
    /// refused: it proves nothing, and a verdict of "linearizable" would say it did.
    pub fn parse(format: Format, text: &str, file: &str) -> Result<Self, ParseError> {
        let parsed = Self::parse_any(format, text, file)?;
        if parsed.is_empty() {
            let lines = text.lines().count().max(1);
            return Err(ParseError::new(
                file,
                lines,
                format!("no {format} operation in the history: there is nothing to check"),
            ));
        }
        Ok(parsed)
    }

    fn parse_any(format: Format, text: &str, file: &str) -> Result<Self, ParseError> {
        Ok(match format {
            Format::PorcupineEtcd => ExternalHistory::Register {
                model: CasRegister { initial: None },
                history: etcd::parse(text, file)?,
            },
            Format::PorcupineKv => ExternalHistory::Kv {
                model: KeyValue,
                history: porcupine_kv::parse(text, file)?,
            },
            Format::KnossosCas => ExternalHistory::Register {
                model: CasRegister {
                    initial: Some(knossos::INITIAL_VALUE),
                },
                history: knossos::parse(text, file)?,
            },
        })
    }

    /// Reads and parses the file at `path`.
    pub fn load(format: Format, path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self::parse(format, &text, &path.display().to_string())?)
    }

    pub fn len(&self) -> usize {
        match self {
            ExternalHistory::Register { history, .. } => history.ops.len(),
            ExternalHistory::Kv { history, .. } => history.ops.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn check(&self, budget: Budget) -> CheckResult {
        match self {
            ExternalHistory::Register { model, history } => {
                linearizability::check(model, &history.ops, budget)
            }
            ExternalHistory::Kv { model, history } => {
                linearizability::check(model, &history.ops, budget)
            }
        }
    }

    /// A readable account of a verdict's violation; empty for other verdicts.
    pub fn report(&self, verdict: &Verdict) -> String {
        let Verdict::Violation(violation) = verdict else {
            return String::new();
        };
        match self {
            ExternalHistory::Register { model, history } => {
                report::violation(model, history, violation)
            }
            ExternalHistory::Kv { model, history } => report::violation(model, history, violation),
        }
    }
}
