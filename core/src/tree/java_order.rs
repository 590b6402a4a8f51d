//! Java `HashSet<String>` iteration order, reproduced.
//!
//! ZooKeeper keeps a session's ephemeral paths in a `java.util.HashSet`, and when the session
//! closes it deletes them in that set's iteration order (`PrepRequestProcessor` builds the
//! `CloseSessionTxn` from a clone of the set). The order is visible to clients as the order
//! of their watch notifications, so zksim reproduces it: the same hash function, table
//! growth and bucket splitting as OpenJDK 17's `HashMap`. It is a deterministic function of
//! the insertions and removals, so no hash-order randomness enters the core. (Bins that
//! OpenJDK would turn into trees, 8 or more colliding entries in a table of 64 or more,
//! keep list order here.)

const DEFAULT_CAPACITY: usize = 16;
const LOAD_FACTOR: f32 = 0.75;
const TREEIFY_THRESHOLD: usize = 8;
const MIN_TREEIFY_CAPACITY: usize = 64;

/// `String.hashCode()`: over UTF-16 code units.
pub fn string_hash_code(s: &str) -> i32 {
    let mut h: i32 = 0;
    for unit in s.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    h
}

/// `HashMap.hash`: the hash code with its high half folded into the low half.
pub fn spread(h: i32) -> u32 {
    let h = h as u32;
    h ^ (h >> 16)
}

fn java_hash(s: &str) -> u32 {
    spread(string_hash_code(s))
}

/// `HashMap.tableSizeFor`: the smallest power of two at least `c` (and at least 1).
fn table_size_for(c: usize) -> usize {
    c.max(1).next_power_of_two()
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JavaHashSet {
    /// Empty until the first insertion, as `HashMap.table` is null.
    table: Vec<Vec<(u32, String)>>,
    size: usize,
    threshold: usize,
}

impl JavaHashSet {
    pub fn new() -> JavaHashSet {
        JavaHashSet::default()
    }

    /// `HashSet.clone()`: a new table sized for the current size, filled in this set's
    /// iteration order (`HashMap.putMapEntries`).
    pub fn java_clone(&self) -> JavaHashSet {
        let mut copy = JavaHashSet::new();
        if self.size > 0 {
            let ft = self.size as f32 / LOAD_FACTOR + 1.0;
            copy.threshold = table_size_for(ft as usize);
        }
        for path in self.iter() {
            copy.insert(path);
        }
        copy
    }

    pub fn len(&self) -> usize {
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    pub fn contains(&self, key: &str) -> bool {
        if self.table.is_empty() {
            return false;
        }
        let hash = java_hash(key);
        self.table[hash as usize & (self.table.len() - 1)]
            .iter()
            .any(|(_, k)| k == key)
    }

    /// `HashMap.putVal`: append to the bin, then grow when the size passes the threshold.
    pub fn insert(&mut self, key: &str) -> bool {
        if self.table.is_empty() {
            self.resize();
        }
        let hash = java_hash(key);
        let index = hash as usize & (self.table.len() - 1);
        let bin = &mut self.table[index];
        if bin.iter().any(|(_, k)| k == key) {
            return false;
        }
        bin.push((hash, key.to_string()));
        // treeifyBin on a small table resizes instead of building a tree.
        if bin.len() > TREEIFY_THRESHOLD && self.table.len() < MIN_TREEIFY_CAPACITY {
            self.resize();
        }
        self.size += 1;
        if self.size > self.threshold {
            self.resize();
        }
        true
    }

    pub fn remove(&mut self, key: &str) -> bool {
        if self.table.is_empty() {
            return false;
        }
        let index = java_hash(key) as usize & (self.table.len() - 1);
        let bin = &mut self.table[index];
        let Some(at) = bin.iter().position(|(_, k)| k == key) else {
            return false;
        };
        bin.remove(at);
        self.size -= 1;
        true
    }

    /// Iteration order: bins in index order, each bin in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.table.iter().flatten().map(|(_, k)| k.as_str())
    }

    /// `HashMap.resize`: double the table (or allocate it), splitting each bin into the
    /// entries that stay and those that move up by the old capacity, keeping their order.
    fn resize(&mut self) {
        let old_cap = self.table.len();
        let (new_cap, new_thr) = if old_cap > 0 {
            let thr = if old_cap >= DEFAULT_CAPACITY {
                self.threshold * 2
            } else {
                0
            };
            (old_cap * 2, thr)
        } else if self.threshold > 0 {
            (self.threshold, 0)
        } else {
            (
                DEFAULT_CAPACITY,
                (DEFAULT_CAPACITY as f32 * LOAD_FACTOR) as usize,
            )
        };
        self.threshold = if new_thr == 0 {
            (new_cap as f32 * LOAD_FACTOR) as usize
        } else {
            new_thr
        };
        let mut table: Vec<Vec<(u32, String)>> = vec![Vec::new(); new_cap];
        for (index, bin) in std::mem::take(&mut self.table).into_iter().enumerate() {
            for (hash, key) in bin {
                let to = if hash as usize & old_cap == 0 {
                    index
                } else {
                    index + old_cap
                };
                debug_assert_eq!(to, hash as usize & (new_cap - 1));
                table[to].push((hash, key));
            }
        }
        self.table = table;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_hash_matches_java() {
        // Values printed by OpenJDK 17's String.hashCode() (small enough that the spread
        // step leaves them unchanged).
        assert_eq!(java_hash("a"), 97);
        assert_eq!(java_hash("/zookeeper"), 954_481_661 ^ (954_481_661 >> 16));
        assert_eq!(java_hash("/é/ü"), 1_625_799 ^ (1_625_799 >> 16));
    }

    #[test]
    fn order_matches_openjdk_17() {
        // Golden order printed by OpenJDK 17: 20 inserts, 3 more, every third removed;
        // the clone iterates the same way.
        let mut set = JavaHashSet::new();
        for i in 0..20 {
            set.insert(&format!("/app/lock-{i}"));
        }
        for k in ["/x", "/é/ü", "/zookeeper"] {
            set.insert(k);
        }
        for i in (0..20).step_by(3) {
            set.remove(&format!("/app/lock-{i}"));
        }
        let expected = "/x,/app/lock-8,/app/lock-7,/app/lock-5,/app/lock-4,/app/lock-19,\
            /app/lock-2,/app/lock-1,/app/lock-14,/app/lock-17,/app/lock-16,/app/lock-11,\
            /app/lock-10,/zookeeper,/app/lock-13,/é/ü";
        assert_eq!(set.iter().collect::<Vec<_>>().join(","), expected);
        assert_eq!(
            set.java_clone().iter().collect::<Vec<_>>().join(","),
            expected
        );
    }

    #[test]
    fn iteration_is_by_bucket_then_insertion() {
        // "a", "b", "c" hash to slots 1, 2, 3 of a 16-slot table: bucket order wins over
        // insertion order.
        let mut set = JavaHashSet::new();
        for k in ["c", "b", "a"] {
            set.insert(k);
        }
        assert_eq!(set.iter().collect::<Vec<_>>(), vec!["a", "b", "c"]);
        assert!(set.remove("b"));
        assert!(!set.remove("b"));
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn growth_and_clone_keep_every_element_once() {
        // Past the threshold of 12 the table doubles; a clone holds the same elements.
        let mut set = JavaHashSet::new();
        for i in 0..100 {
            assert!(set.insert(&format!("/e{i}")));
        }
        assert_eq!(set.table.len(), 256);
        let clone = set.java_clone();
        assert_eq!(clone.len(), 100);
        let mut a: Vec<&str> = set.iter().collect();
        let mut b: Vec<&str> = clone.iter().collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
        assert!(clone.contains("/e42"));
    }
}
