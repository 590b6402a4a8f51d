//! Collects one invariant's findings, keeping the first few (they explain the failure; a
//! flood of the same finding does not) and counting them all, as `props::Findings` does
//! for the properties.

use super::{InvariantOutcome, RecipeFinding};
use crate::index::OpId;

/// Findings kept per invariant.
pub const FINDINGS_MAX: usize = 5;

#[derive(Debug)]
pub struct InvariantFindings {
    recipe: &'static str,
    invariant: &'static str,
    kept: Vec<RecipeFinding>,
    total: usize,
}

impl InvariantFindings {
    pub fn new(recipe: &'static str, invariant: &'static str) -> InvariantFindings {
        InvariantFindings {
            recipe,
            invariant,
            kept: Vec::new(),
            total: 0,
        }
    }

    pub fn add(&mut self, sentence: String, ops: Vec<OpId>, events: Vec<usize>) {
        assert!(
            !sentence.is_empty(),
            "{}: a finding says what",
            self.invariant
        );
        self.total += 1;
        if self.kept.len() < FINDINGS_MAX {
            self.kept.push(RecipeFinding {
                sentence,
                ops,
                events,
            });
        }
    }

    pub fn outcome(self) -> InvariantOutcome {
        assert!(self.kept.len() <= self.total);
        InvariantOutcome {
            recipe: self.recipe,
            invariant: self.invariant,
            findings: self.kept,
            total: self.total,
        }
    }
}
