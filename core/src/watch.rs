//! Server-side watches, as ZooKeeper 3.8's `WatchManager`: one-shot (standard) watches fire
//! once at their own path; persistent watches stay; persistent recursive watches also fire
//! for every descendant, for every event but `NodeChildrenChanged`.

use std::collections::{BTreeMap, BTreeSet};

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::acl::{self, Acl, Id};

use crate::path;

/// Who receives a watch's events: the session that set it.
pub type WatcherId = i64;

/// Watched paths with their modes.
pub type WatchList = Vec<(String, WatcherMode)>;

/// `Watcher.Event.EventType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// No node event (a change of connection state).
    None,
    /// The watched node was created (an exists watch).
    NodeCreated,
    /// The watched node was deleted.
    NodeDeleted,
    /// The watched node's data changed.
    NodeDataChanged,
    /// A child of the watched node was created or deleted.
    NodeChildrenChanged,
    /// A data watch was removed (removeWatches).
    DataWatchRemoved,
    /// A child watch was removed.
    ChildWatchRemoved,
    /// A persistent watch was removed.
    PersistentWatchRemoved,
}

impl EventType {
    /// The wire value.
    pub fn code(self) -> i32 {
        match self {
            EventType::None => -1,
            EventType::NodeCreated => 1,
            EventType::NodeDeleted => 2,
            EventType::NodeDataChanged => 3,
            EventType::NodeChildrenChanged => 4,
            EventType::DataWatchRemoved => 5,
            EventType::ChildWatchRemoved => 6,
            EventType::PersistentWatchRemoved => 7,
        }
    }

    /// The Java constant's name (`NodeDeleted`, ...).
    pub fn name(self) -> &'static str {
        match self {
            EventType::None => "None",
            EventType::NodeCreated => "NodeCreated",
            EventType::NodeDeleted => "NodeDeleted",
            EventType::NodeDataChanged => "NodeDataChanged",
            EventType::NodeChildrenChanged => "NodeChildrenChanged",
            EventType::DataWatchRemoved => "DataWatchRemoved",
            EventType::ChildWatchRemoved => "ChildWatchRemoved",
            EventType::PersistentWatchRemoved => "PersistentWatchRemoved",
        }
    }
}

/// A notification for one watcher. The state is always `SyncConnected` for server events.
/// `acl` is the ACL of the node the event is about (the parent's for NodeChildrenChanged):
/// the watcher must hold READ on it to receive the event (ZOOKEEPER-4799, CVE-2024-23944;
/// Debian's ZooKeeper 3.8.0 carries that fix). `None` means unconditional delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchEvent {
    pub watcher: WatcherId,
    pub event_type: EventType,
    pub path: String,
    pub acl: Option<Arc<Vec<Acl>>>,
}

impl WatchEvent {
    /// Whether a watcher with `auth` may receive this event.
    pub fn readable_by(&self, auth: &[Id]) -> bool {
        self.acl
            .as_ref()
            .is_none_or(|acl| acl::check_acl(acl, acl::PERM_READ, auth).is_ok())
    }
}

/// `WatcherMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum WatcherMode {
    /// A one-shot watch, set by a read.
    Standard,
    /// A watch on the node that stays until removed (addWatch).
    Persistent,
    /// A persistent watch on the node and every node under it.
    PersistentRecursive,
}

impl WatcherMode {
    /// Whether the watch stays after it fires.
    pub fn is_persistent(self) -> bool {
        self != WatcherMode::Standard
    }

    /// Whether it covers the node's descendants.
    pub fn is_recursive(self) -> bool {
        self == WatcherMode::PersistentRecursive
    }
}

/// One of the DataTree's two watch tables (data watches and child watches).
#[derive(Clone, Debug, Default)]
pub struct WatchManager {
    /// path -> watcher -> mode. A watcher has one mode per path: setting a standard watch
    /// where a persistent one was replaces it, as `WatcherModeManager.setWatcherMode` does.
    table: BTreeMap<String, BTreeMap<WatcherId, WatcherMode>>,
    recursive_count: usize,
}

impl WatchManager {
    pub fn add(&mut self, path: &str, watcher: WatcherId, mode: WatcherMode) {
        let old = self
            .table
            .entry(path.to_string())
            .or_default()
            .insert(watcher, mode);
        self.adjust_recursive(old, Some(mode));
    }

    fn adjust_recursive(&mut self, old: Option<WatcherMode>, new: Option<WatcherMode>) {
        let was = old.is_some_and(WatcherMode::is_recursive);
        let is = new.is_some_and(WatcherMode::is_recursive);
        if is && !was {
            self.recursive_count += 1;
        } else if was && !is {
            assert!(self.recursive_count > 0, "recursive watch count underflow");
            self.recursive_count -= 1;
        }
    }

    /// `WatchManager.triggerWatch`: collect the watchers of `path` (and, for recursive
    /// watches, of its ancestors), remove the one-shot ones that fired, and return the set
    /// that matched. Watchers in `suppress` match but receive no event.
    pub fn trigger(
        &mut self,
        path: &str,
        event_type: EventType,
        acl: Option<&Arc<Vec<Acl>>>,
        suppress: Option<&BTreeSet<WatcherId>>,
        events: &mut Vec<WatchEvent>,
    ) -> BTreeSet<WatcherId> {
        let mut matched = BTreeSet::new();
        if let Some(watchers) = self.table.get_mut(path) {
            watchers.retain(|watcher, mode| {
                if mode.is_recursive() {
                    if event_type != EventType::NodeChildrenChanged {
                        matched.insert(*watcher);
                    }
                    return true;
                }
                matched.insert(*watcher);
                mode.is_persistent()
            });
            if watchers.is_empty() {
                self.table.remove(path);
            }
        }
        if self.recursive_count > 0 && event_type != EventType::NodeChildrenChanged {
            // PathParentIterator: the path's ancestors up to and including "/".
            let mut ancestor = path;
            while ancestor != "/" {
                let Some((parent, _)) = path::split_last(ancestor) else {
                    break;
                };
                ancestor = path::watch_parent(parent);
                if let Some(watchers) = self.table.get(ancestor) {
                    matched.extend(
                        watchers
                            .iter()
                            .filter(|(_, m)| m.is_recursive())
                            .map(|(w, _)| *w),
                    );
                }
            }
        }
        for watcher in &matched {
            if !suppress.is_some_and(|s| s.contains(watcher)) {
                events.push(WatchEvent {
                    watcher: *watcher,
                    event_type,
                    path: path.to_string(),
                    acl: acl.cloned(),
                });
            }
        }
        matched
    }

    /// `WatchManager.removeWatcher(path, watcher)`: true when there was a watch to remove.
    pub fn remove(&mut self, path: &str, watcher: WatcherId) -> bool {
        let Some(watchers) = self.table.get_mut(path) else {
            return false;
        };
        let old = watchers.remove(&watcher);
        if watchers.is_empty() {
            self.table.remove(path);
        }
        self.adjust_recursive(old, None);
        old.is_some()
    }

    /// Drop every watch of a watcher (its connection closed or its session ended).
    pub fn remove_watcher(&mut self, watcher: WatcherId) {
        let paths: Vec<String> = self
            .table
            .iter()
            .filter(|(_, w)| w.contains_key(&watcher))
            .map(|(p, _)| p.clone())
            .collect();
        for path in paths {
            self.remove(&path, watcher);
        }
    }

    /// The paths a watcher watches, with their modes (for re-registration on reconnect).
    pub fn watches_of(&self, watcher: WatcherId) -> WatchList {
        self.table
            .iter()
            .filter_map(|(p, w)| w.get(&watcher).map(|m| (p.clone(), *m)))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.table.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fire(m: &mut WatchManager, path: &str, t: EventType) -> Vec<(WatcherId, String)> {
        let mut events = Vec::new();
        m.trigger(path, t, None, None, &mut events);
        events.into_iter().map(|e| (e.watcher, e.path)).collect()
    }

    #[test]
    fn standard_watches_fire_once() {
        // ZooKeeper programmer's guide: a watch is a one-time trigger.
        let mut m = WatchManager::default();
        m.add("/a", 1, WatcherMode::Standard);
        assert_eq!(
            fire(&mut m, "/a", EventType::NodeDataChanged),
            vec![(1, "/a".to_string())]
        );
        assert!(fire(&mut m, "/a", EventType::NodeDataChanged).is_empty());
    }

    #[test]
    fn persistent_watches_stay_and_recursive_ones_cover_descendants() {
        // ZOOKEEPER-1416: persistent and persistent recursive watches.
        let mut m = WatchManager::default();
        m.add("/a", 1, WatcherMode::Persistent);
        m.add("/a", 2, WatcherMode::PersistentRecursive);
        for _ in 0..2 {
            assert_eq!(fire(&mut m, "/a", EventType::NodeDataChanged).len(), 2);
        }
        assert_eq!(
            fire(&mut m, "/a/b/c", EventType::NodeCreated),
            vec![(2, "/a/b/c".to_string())]
        );
        // Recursive watches never deliver NodeChildrenChanged.
        assert_eq!(
            fire(&mut m, "/a", EventType::NodeChildrenChanged),
            vec![(1, "/a".to_string())]
        );
    }

    #[test]
    fn a_standard_watch_replaces_a_persistent_one() {
        // WatcherModeManager keeps one mode per (watcher, path); standard overwrites.
        let mut m = WatchManager::default();
        m.add("/a", 1, WatcherMode::PersistentRecursive);
        m.add("/a", 1, WatcherMode::Standard);
        assert!(fire(&mut m, "/a/b", EventType::NodeCreated).is_empty());
        assert_eq!(fire(&mut m, "/a", EventType::NodeCreated).len(), 1);
        assert!(m.is_empty());
    }

    #[test]
    fn remove_reports_whether_a_watch_existed() {
        let mut m = WatchManager::default();
        m.add("/a", 1, WatcherMode::Standard);
        assert!(!m.remove("/a", 2));
        assert!(m.remove("/a", 1));
        assert!(!m.remove("/a", 1));
    }
}
