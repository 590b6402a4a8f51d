//! Splitting a history into independently checkable partitions (P-compositionality).
//!
//! Herlihy and Wing, "Linearizability" §3.3: a history is linearizable iff the subhistory
//! of every object is. Porcupine applies this per key; here an operation may name several
//! keys (a ZooKeeper `multi`), and then their partitions are joined with a union-find.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::history::Operation;
use super::model::Model;
use super::table::FastHasher;

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// The operations (indices into the history, in history order) of one partition and the
/// keys they touch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Partition {
    pub(crate) ops: Vec<usize>,
    pub(crate) keys: Vec<String>,
}

struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn add(&mut self) -> usize {
        self.parent.push(self.parent.len());
        self.parent.len() - 1
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            // Path halving keeps the trees shallow without recursion.
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.parent[a.max(b)] = a.min(b);
        }
    }
}

/// Partitions ordered by their first operation. An operation that names no key touches the
/// whole state, so if any does, the history is a single partition.
pub(crate) fn partition<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
) -> Vec<Partition> {
    let mut key_ids: FastMap<M::Key, usize> = FastMap::default();
    let mut key_names: Vec<String> = Vec::new();
    let mut sets = UnionFind { parent: Vec::new() };
    // The first key id of each operation, or None for an operation that names none.
    let mut first_key: Vec<Option<usize>> = Vec::with_capacity(ops.len());
    let mut keys = Vec::new();
    for op in ops {
        keys.clear();
        model.keys(&op.input, &mut keys);
        let mut first = None;
        for key in keys.drain(..) {
            let id = *key_ids.entry(key).or_insert_with_key(|key| {
                key_names.push(format!("{key:?}"));
                sets.add()
            });
            match first {
                None => first = Some(id),
                Some(f) => sets.union(f, id),
            }
        }
        first_key.push(first);
    }
    if first_key.iter().any(Option::is_none) {
        let mut names = key_names;
        names.sort();
        return vec![Partition {
            ops: (0..ops.len()).collect(),
            keys: names,
        }];
    }
    let mut by_root: FastMap<usize, usize> = FastMap::default();
    let mut partitions: Vec<Partition> = Vec::new();
    for (index, first) in first_key.iter().enumerate() {
        let root = sets.find(first.expect("every operation names a key here"));
        let slot = *by_root.entry(root).or_insert_with(|| {
            partitions.push(Partition {
                ops: Vec::new(),
                keys: Vec::new(),
            });
            partitions.len() - 1
        });
        partitions[slot].ops.push(index);
    }
    for (id, name) in key_names.into_iter().enumerate() {
        let root = sets.find(id);
        partitions[by_root[&root]].keys.push(name);
    }
    for partition in &mut partitions {
        partition.keys.sort();
    }
    partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Operations on sets of named cells; only `keys` matters here.
    struct Cells;

    impl Model for Cells {
        type State = ();
        type Input = Vec<&'static str>;
        type Output = ();
        type Key = &'static str;

        fn init(&self) {}

        fn step(&self, _: &(), _: &Self::Input, _: &(), next: &mut Vec<()>) {
            next.push(());
        }

        fn keys(&self, input: &Self::Input, keys: &mut Vec<&'static str>) {
            keys.extend(input.iter().copied());
        }
    }

    fn op(keys: &[&'static str], t: u64) -> Operation<Vec<&'static str>, ()> {
        Operation::completed(0, keys.to_vec(), (), t, t + 1)
    }

    // Single-key operations split by key; a two-key operation joins its keys' partitions.
    #[test]
    fn multi_key_operation_joins_partitions() {
        let ops = vec![
            op(&["a"], 0),
            op(&["b"], 1),
            op(&["c"], 2),
            op(&["b", "c"], 3),
        ];
        let parts = partition(&Cells, &ops);
        assert_eq!(parts.len(), 2);
        assert_eq!(
            parts[0],
            Partition {
                ops: vec![0],
                keys: vec!["\"a\"".into()]
            }
        );
        assert_eq!(parts[1].ops, vec![1, 2, 3]);
        assert_eq!(
            parts[1].keys,
            vec!["\"b\"".to_string(), "\"c\"".to_string()]
        );
    }

    // An operation that names no key touches everything: one partition.
    #[test]
    fn keyless_operation_joins_everything() {
        let ops = vec![op(&["a"], 0), op(&[], 1), op(&["b"], 2)];
        let parts = partition(&Cells, &ops);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].ops, vec![0, 1, 2]);
    }
}
