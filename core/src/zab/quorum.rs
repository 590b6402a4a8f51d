//! Quorums: a strict majority of the voting members (`QuorumMaj`). Observers never count.

use std::collections::BTreeSet;

use super::ServerId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumVerifier {
    voters: BTreeSet<ServerId>,
}

impl QuorumVerifier {
    pub fn new(voters: impl IntoIterator<Item = ServerId>) -> QuorumVerifier {
        let voters: BTreeSet<ServerId> = voters.into_iter().collect();
        assert!(!voters.is_empty(), "an ensemble needs at least one voter");
        QuorumVerifier { voters }
    }

    pub fn is_voter(&self, id: ServerId) -> bool {
        self.voters.contains(&id)
    }

    pub fn voters(&self) -> &BTreeSet<ServerId> {
        &self.voters
    }

    /// `QuorumMaj.containsQuorum`: more than half of the voters are in `ids`.
    pub fn contains_quorum<'a>(&self, ids: impl IntoIterator<Item = &'a ServerId>) -> bool {
        let mut counted: Vec<ServerId> = ids
            .into_iter()
            .filter(|id| self.voters.contains(id))
            .copied()
            .collect();
        let count = counted.len();
        counted.sort_unstable();
        counted.dedup();
        // Each voter counts once: a voter named twice (a leader that counts its own ACK
        // and also finds itself among its learners) would make a minority look like a
        // quorum (QuorumMaj.containsQuorum takes a set).
        assert_eq!(
            counted.len(),
            count,
            "a voter counted twice toward a quorum of {:?}",
            self.voters
        );
        count * 2 > self.voters.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quorum_is_a_strict_majority_of_voters() {
        let q = QuorumVerifier::new([1, 2, 3, 4, 5]);
        assert!(!q.contains_quorum(&[1, 2]));
        assert!(q.contains_quorum(&[1, 2, 3]));
        // Non-voters (observers) do not count.
        assert!(!q.contains_quorum(&[1, 2, 9]));
        let even = QuorumVerifier::new([1, 2, 3, 4]);
        assert!(!even.contains_quorum(&[1, 2]));
    }
}
