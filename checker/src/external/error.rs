//! Why an external history could not be read.

use std::path::PathBuf;

/// A problem in a history's text: which file, which line (1-based), what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {problem}")]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub problem: String,
}

impl ParseError {
    pub(crate) fn new(file: &str, line: usize, problem: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            line,
            problem: problem.into(),
        }
    }
}

/// Why `load` failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Parse(#[from] ParseError),
}
