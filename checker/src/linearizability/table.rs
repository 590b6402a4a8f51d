//! Open-addressing hash index from 64-bit hashes to dense `u32` ids, and the hash function
//! the search uses.
//!
//! The search keeps its memo, its interned states and its transition cache in flat vectors
//! indexed by id; this index maps a hash to the ids whose hash matches and lets the caller
//! decide equality, so no key is ever cloned into the table and a lookup allocates nothing.

use std::hash::{Hash, Hasher};

/// A slot holds `(tag << 32) | id`, where the tag is the hash's low 32 bits; the empty slot
/// has id `u32::MAX`, which is never handed out.
const EMPTY: u64 = u64::MAX;
const ID_MASK: u64 = 0xffff_ffff;
const MIN_BITS: u32 = 4;

pub(crate) struct IdTable {
    slots: Vec<u64>,
    /// The full hash of each id, kept so the table can grow without asking the caller.
    hashes: Vec<u64>,
    /// `64 - log2(slots.len())`: a hash's top bits pick its home slot.
    shift: u32,
}

impl IdTable {
    pub(crate) fn new() -> Self {
        Self::with_capacity(0)
    }

    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let mut bits = MIN_BITS;
        while (1usize << bits) < capacity.saturating_mul(2) {
            bits += 1;
        }
        Self {
            slots: vec![EMPTY; 1 << bits],
            hashes: Vec::with_capacity(capacity),
            shift: 64 - bits,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.hashes.len()
    }

    /// The id whose hash is `hash` and for which `eq` holds, if any.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let tag = hash & ID_MASK;
        let mut i = (hash >> self.shift) as usize;
        loop {
            let slot = self.slots[i];
            if slot == EMPTY {
                return None;
            }
            if slot >> 32 == tag {
                let id = (slot & ID_MASK) as u32;
                if eq(id) {
                    return Some(id);
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Registers a new id with `hash` and returns it. The caller has checked with `find` that
    /// no equal entry exists, and stores the entry at the returned id.
    #[inline]
    pub(crate) fn insert_new(&mut self, hash: u64) -> u32 {
        let id = u32::try_from(self.hashes.len()).expect("fewer than 2^32 - 1 entries");
        assert!(id != u32::MAX, "id table full");
        self.hashes.push(hash);
        if self.hashes.len() * 2 > self.slots.len() {
            self.grow();
        } else {
            self.place(hash, id);
        }
        id
    }

    fn place(&mut self, hash: u64, id: u32) {
        let mask = self.slots.len() - 1;
        let mut i = (hash >> self.shift) as usize;
        while self.slots[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.slots[i] = ((hash & ID_MASK) << 32) | u64::from(id);
    }

    fn grow(&mut self) {
        let bits = 64 - self.shift + 1;
        self.slots = vec![EMPTY; 1 << bits];
        self.shift = 64 - bits;
        for id in 0..self.hashes.len() {
            let hash = self.hashes[id];
            self.place(hash, id as u32);
        }
    }
}

/// Murmur3's 64-bit finaliser: every input bit affects every output bit, so both the top
/// bits (slot) and the low bits (tag) of the result are usable.
#[inline]
pub(crate) fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    x
}

/// The Zobrist key of bit `i`: fixed pseudo-random words (splitmix64), so that a set's hash
/// is the XOR of its members' keys and changes in O(1) when one member enters or leaves.
pub(crate) fn zobrist_key(i: usize) -> u64 {
    let mut z = (i as u64)
        .wrapping_add(1)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A fast, non-cryptographic hasher in the style of rustc's FxHasher, finished with
/// `mix64`. Model states are hashed with it once, when they are first interned.
#[derive(Default)]
pub struct FastHasher(u64);

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(
                chunk.try_into().expect("chunks of eight bytes"),
            ));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
        self.add(bytes.len() as u64);
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_i64(&mut self, n: i64) {
        self.add(n as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        mix64(self.0)
    }
}

pub(crate) fn hash_of<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut hasher = FastHasher::default();
    value.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The table finds what was inserted, across growth, and nothing else.
    #[test]
    fn finds_inserted_ids_across_growth() {
        let mut table = IdTable::new();
        let keys: Vec<u64> = (0..1000u64).map(|k| k * 7919).collect();
        for &k in &keys {
            let hash = mix64(k);
            assert!(table.find(hash, |id| keys[id as usize] == k).is_none());
            let id = table.insert_new(hash);
            assert_eq!(keys[id as usize], k);
        }
        assert_eq!(table.len(), 1000);
        for (i, &k) in keys.iter().enumerate() {
            assert_eq!(
                table.find(mix64(k), |id| keys[id as usize] == k),
                Some(i as u32)
            );
        }
        assert!(table.find(mix64(3), |id| keys[id as usize] == 3).is_none());
    }

    // Colliding hashes are told apart by the caller's equality.
    #[test]
    fn equal_hashes_are_disambiguated_by_eq() {
        let mut table = IdTable::new();
        let a = table.insert_new(42);
        let b = table.insert_new(42);
        assert_ne!(a, b);
        assert_eq!(table.find(42, |id| id == b), Some(b));
        assert_eq!(table.find(42, |id| id == a), Some(a));
    }
}
