//! Reads and watches on the tree: getData, exists, getChildren, getAllChildrenNumber,
//! and adding, removing and re-registering watches.

use super::{DataTree, Znode};
use crate::error::ErrorCode;
use crate::stat::{Stat, Zxid};
use crate::watch::{EventType, WatchEvent, WatchList, WatcherId, WatcherMode};

impl DataTree {
    /// `getData`: data and stat; a watch is set only when the node exists.
    pub fn get_data(
        &mut self,
        path: &str,
        watcher: Option<WatcherId>,
    ) -> Result<(Option<Vec<u8>>, Stat), ErrorCode> {
        let node = self.get(path).ok_or(ErrorCode::NoNode)?;
        let result = (node.data.clone(), node.client_stat());
        if let Some(w) = watcher {
            self.data_watches.add(path, w, WatcherMode::Standard);
        }
        Ok(result)
    }

    /// `exists` (`statNode`): the watch is set whether or not the node exists.
    pub fn stat_node(&mut self, path: &str, watcher: Option<WatcherId>) -> Result<Stat, ErrorCode> {
        if let Some(w) = watcher {
            self.data_watches.add(path, w, WatcherMode::Standard);
        }
        self.get(path)
            .map(Znode::client_stat)
            .ok_or(ErrorCode::NoNode)
    }

    /// `getChildren`: the names (in path order) and the parent's stat.
    pub fn get_children(
        &mut self,
        path: &str,
        watcher: Option<WatcherId>,
    ) -> Result<(Vec<String>, Stat), ErrorCode> {
        let node = self.get(path).ok_or(ErrorCode::NoNode)?;
        let result = (node.children.iter().cloned().collect(), node.client_stat());
        if let Some(w) = watcher {
            self.child_watches.add(path, w, WatcherMode::Standard);
        }
        Ok(result)
    }

    /// `getAllChildrenNumber`: every descendant; for `/` every node but the root and its
    /// alias (which ZooKeeper counts as two map entries, so `/zookeeper` and its children
    /// are included).
    pub fn all_children_number(&self, path: &str) -> usize {
        if path == "/" {
            return self.nodes.len() - 1;
        }
        let prefix = format!("{path}/");
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .count()
    }

    /// `addWatch`: a persistent or persistent recursive watch, in both tables.
    pub fn add_watch(&mut self, path: &str, watcher: WatcherId, mode: WatcherMode) {
        self.data_watches.add(path, watcher, mode);
        self.child_watches.add(path, watcher, mode);
    }

    /// `removeWatches`: true when a watch of that kind was removed.
    pub fn remove_watch(
        &mut self,
        path: &str,
        watcher: WatcherId,
        data: bool,
        child: bool,
    ) -> bool {
        let removed_child = child && self.child_watches.remove(path, watcher);
        let removed_data = data && self.data_watches.remove(path, watcher);
        removed_child || removed_data
    }

    /// Forget every watch of a watcher (its connection is gone).
    pub fn remove_watcher(&mut self, watcher: WatcherId) {
        self.data_watches.remove_watcher(watcher);
        self.child_watches.remove_watcher(watcher);
    }

    /// `DataTree.setWatches`: re-register a reconnecting client's watches, or fire at once
    /// the events it missed since `relative_zxid`.
    #[allow(clippy::too_many_arguments)]
    pub fn set_watches(
        &mut self,
        relative_zxid: Zxid,
        data: &[String],
        exist: &[String],
        child: &[String],
        persistent: &[String],
        persistent_recursive: &[String],
        watcher: WatcherId,
        events: &mut Vec<WatchEvent>,
    ) {
        let mut fire = |event_type, path: &str| {
            events.push(WatchEvent {
                watcher,
                event_type,
                path: path.to_string(),
                acl: None,
            })
        };
        for path in data {
            match self.get(path) {
                None => fire(EventType::NodeDeleted, path),
                Some(n) if n.stat.mzxid > relative_zxid => fire(EventType::NodeDataChanged, path),
                Some(_) => self.data_watches.add(path, watcher, WatcherMode::Standard),
            }
        }
        for path in exist {
            match self.get(path) {
                Some(_) => fire(EventType::NodeCreated, path),
                None => self.data_watches.add(path, watcher, WatcherMode::Standard),
            }
        }
        for path in child {
            match self.get(path) {
                None => fire(EventType::NodeDeleted, path),
                Some(n) if n.stat.pzxid > relative_zxid => {
                    fire(EventType::NodeChildrenChanged, path)
                }
                Some(_) => self.child_watches.add(path, watcher, WatcherMode::Standard),
            }
        }
        for path in persistent {
            self.add_watch(path, watcher, WatcherMode::Persistent);
        }
        for path in persistent_recursive {
            self.add_watch(path, watcher, WatcherMode::PersistentRecursive);
        }
    }

    /// The watches a watcher holds, for tests and for reporting.
    pub fn watches_of(&self, watcher: WatcherId) -> (WatchList, WatchList) {
        (
            self.data_watches.watches_of(watcher),
            self.child_watches.watches_of(watcher),
        )
    }
}
