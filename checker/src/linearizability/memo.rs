//! The search's memory of configurations that have no linearizable continuation.
//!
//! Lowe's memo records every visited (linearized set, state) pair; a pair seen again is
//! pruned. This one records a configuration when the search has exhausted it, and prunes
//! more: it splits the linearized set into the operations with a known return and the
//! "free" ones (outcome unknown, so open until the end, and accepted by the model in every
//! state), and a configuration is pruned when a failed one has the same state, the same
//! known-return part and a subset of its free part. That is sound: if (C ∪ F, s) had a
//! continuation σ, then (C ∪ F', s) with F' ⊆ F would have σ followed by the operations of
//! F \ F' (their calls are past, they never return, and every state accepts them). With no
//! free operations this is exactly Lowe's memo.

use super::table::{IdTable, mix64};

const NO_MASK: u32 = u32::MAX;

pub(crate) struct Memo {
    /// Words of the known-return bitset.
    words: usize,
    /// Groups of failed configurations sharing (known-return set, state).
    index: IdTable,
    group_sets: Vec<u64>,
    group_states: Vec<u32>,
    /// First free-set mask of each group, as an index into `masks`.
    group_heads: Vec<u32>,
    /// The free-set masks of failed configurations, linked per group.
    masks: Vec<u64>,
    mask_links: Vec<u32>,
}

impl Memo {
    pub(crate) fn new(words: usize, capacity: usize) -> Self {
        Self {
            words,
            index: IdTable::with_capacity(capacity),
            group_sets: Vec::with_capacity(capacity * words),
            group_states: Vec::with_capacity(capacity),
            group_heads: Vec::with_capacity(capacity),
            masks: Vec::with_capacity(capacity),
            mask_links: Vec::with_capacity(capacity),
        }
    }

    /// How many failed configurations are recorded.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.masks.len()
    }

    #[inline]
    fn group_hash(closed_hash: u64, state: u32) -> u64 {
        closed_hash ^ mix64(u64::from(state) ^ 0x5851_f42d_4c95_7f2d)
    }

    #[inline]
    fn group(&self, closed: &[u64], hash: u64, state: u32) -> Option<u32> {
        let words = self.words;
        let (sets, states) = (&self.group_sets, &self.group_states);
        self.index.find(hash, |g| {
            let g = g as usize;
            states[g] == state && sets[g * words..(g + 1) * words] == *closed
        })
    }

    /// True when a recorded failure has this state and known-return set and a subset of
    /// `free`.
    #[inline]
    pub(crate) fn is_dominated(
        &self,
        closed: &[u64],
        closed_hash: u64,
        state: u32,
        free: u64,
    ) -> bool {
        debug_assert_eq!(closed.len(), self.words);
        let Some(group) = self.group(closed, Self::group_hash(closed_hash, state), state) else {
            return false;
        };
        let mut link = self.group_heads[group as usize];
        while link != NO_MASK {
            if self.masks[link as usize] & !free == 0 {
                return true;
            }
            link = self.mask_links[link as usize];
        }
        false
    }

    /// Records that the configuration has no linearizable continuation.
    pub(crate) fn record_failure(
        &mut self,
        closed: &[u64],
        closed_hash: u64,
        state: u32,
        free: u64,
    ) {
        debug_assert_eq!(closed.len(), self.words);
        let hash = Self::group_hash(closed_hash, state);
        let group = match self.group(closed, hash, state) {
            Some(group) => group,
            None => {
                let group = self.index.insert_new(hash);
                self.group_sets.extend_from_slice(closed);
                self.group_states.push(state);
                self.group_heads.push(NO_MASK);
                group
            }
        };
        self.drop_supersets(group, free);
        let mask = u32::try_from(self.masks.len()).expect("fewer than 2^32 failed configurations");
        self.masks.push(free);
        self.mask_links.push(self.group_heads[group as usize]);
        self.group_heads[group as usize] = mask;
    }

    /// Unlinks the group's masks that contain `free`: the new failure dominates them, so
    /// each group stays an antichain and `is_dominated` scans no redundant mask.
    fn drop_supersets(&mut self, group: u32, free: u64) {
        let mut prev = NO_MASK;
        let mut link = self.group_heads[group as usize];
        while link != NO_MASK {
            let next = self.mask_links[link as usize];
            if free & !self.masks[link as usize] == 0 {
                if prev == NO_MASK {
                    self.group_heads[group as usize] = next;
                } else {
                    self.mask_links[prev as usize] = next;
                }
            } else {
                prev = link;
            }
            link = next;
        }
    }
}

#[cfg(test)]
impl Memo {
    fn chain_len(&self, closed: &[u64], closed_hash: u64, state: u32) -> usize {
        let hash = Self::group_hash(closed_hash, state);
        let Some(group) = self.group(closed, hash, state) else {
            return 0;
        };
        let mut len = 0;
        let mut link = self.group_heads[group as usize];
        while link != NO_MASK {
            len += 1;
            link = self.mask_links[link as usize];
        }
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A failure prunes the same configuration and those with more free operations, not
    // those with fewer, another state, or another known-return set.
    #[test]
    fn failure_dominates_supersets_of_its_free_part() {
        let mut memo = Memo::new(1, 0);
        let closed = [0b101u64];
        memo.record_failure(&closed, 7, 3, 0b0110);
        assert!(memo.is_dominated(&closed, 7, 3, 0b0110));
        assert!(memo.is_dominated(&closed, 7, 3, 0b1110));
        assert!(!memo.is_dominated(&closed, 7, 3, 0b0100));
        assert!(!memo.is_dominated(&closed, 7, 4, 0b0110));
        assert!(!memo.is_dominated(&[0b111], 7, 3, 0b0110));
        memo.record_failure(&closed, 7, 3, 0b0001);
        assert!(memo.is_dominated(&closed, 7, 3, 0b0011));
        assert_eq!(memo.len(), 2);
        // A failure with a smaller free part replaces the larger ones it dominates.
        memo.record_failure(&closed, 7, 3, 0);
        assert!(memo.is_dominated(&closed, 7, 3, 0));
        assert_eq!(memo.chain_len(&closed, 7, 3), 1);
    }
}
