//! The fuzzer's random numbers: ChaCha8 (rand_chacha) from the seed, the generator every
//! seeded part of zksim uses, so that a run is a pure function of its seed and the corpus
//! it starts from.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Clone, Debug)]
pub struct Rng {
    state: ChaCha8Rng,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng {
            state: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state.next_u64()
    }

    /// A number in `0..n`; 0 when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let n = u64::try_from(n).expect("a usize fits in u64");
        usize::try_from(self.next_u64() % n).expect("below n, which is a usize")
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// A random element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        assert!(!items.is_empty(), "pick from an empty slice");
        &items[self.below(items.len())]
    }

    /// A length that is usually small and sometimes large: 1 to `max`, log-uniform.
    pub fn len_up_to(&mut self, max: usize) -> usize {
        let max = max.max(1);
        let bits = usize::BITS - max.leading_zeros();
        let cap = 1usize << self.below(usize::try_from(bits).expect("bits fit"));
        1 + self.below(cap.min(max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The same seed gives the same numbers, and bounds hold.
    #[test]
    fn seeded_and_bounded() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            let n = a.below(10);
            assert_eq!(n, b.below(10));
            assert!(n < 10);
            let len = a.len_up_to(100);
            assert_eq!(len, b.len_up_to(100));
            assert!((1..=100).contains(&len));
        }
        assert_eq!(a.below(0), 0);
    }
}
