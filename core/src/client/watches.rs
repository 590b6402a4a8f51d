//! `ClientWatches`: the watches a client session holds, as ZooKeeper 3.8's `ZKWatchManager`:
//! registered when a reply succeeds (`ZooKeeper.WatchRegistration`), consumed by the events
//! that fire them (`ZKWatchManager.materialize`), and re-registered after a reconnect
//! (`SetWatches2`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::request::{Request, WatcherType};
use crate::stat::Zxid;
use crate::watch::{EventType, WatcherMode};

/// The watch a request asks for, kept until its reply decides whether it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WatchRegistration {
    None,
    /// `ExistsWatchRegistration`.
    Exists(String),
    /// `DataWatchRegistration`.
    Data(String),
    /// `ChildWatchRegistration`.
    Child(String),
    /// `AddWatchRegistration`.
    Add(String, WatcherMode),
    /// `WatchDeregistration`.
    Remove(String, WatcherType),
}

impl WatchRegistration {
    pub(crate) fn of(request: &Request) -> WatchRegistration {
        match request {
            Request::Exists { path, watch: true } => WatchRegistration::Exists(path.clone()),
            Request::GetData { path, watch: true } => WatchRegistration::Data(path.clone()),
            Request::GetChildren { path, watch: true } => WatchRegistration::Child(path.clone()),
            Request::AddWatch { path, mode } => WatchRegistration::Add(path.clone(), *mode),
            Request::RemoveWatches { path, watcher_type } => {
                WatchRegistration::Remove(path.clone(), *watcher_type)
            }
            _ => WatchRegistration::None,
        }
    }
}

/// The five watch tables of `ZKWatchManager`, as sets of paths (one watcher per session).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientWatches {
    pub data: BTreeSet<String>,
    pub exist: BTreeSet<String>,
    pub child: BTreeSet<String>,
    pub persistent: BTreeSet<String>,
    pub persistent_recursive: BTreeSet<String>,
}

impl ClientWatches {
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.exist.is_empty()
            && self.child.is_empty()
            && self.persistent.is_empty()
            && self.persistent_recursive.is_empty()
    }

    /// `WatchRegistration.register(rc)` and `WatchDeregistration.unregister(rc)`, called in
    /// `ClientCnxn.finishPacket` with the reply's code.
    pub(crate) fn on_reply(&mut self, registration: &WatchRegistration, err: ErrorCode) {
        match registration {
            WatchRegistration::None => {}
            // ExistsWatchRegistration: a data watch when the node exists, an exist watch when
            // it does not (shouldAddWatch: OK or NONODE).
            WatchRegistration::Exists(path) => match err {
                ErrorCode::Ok => insert(&mut self.data, path),
                ErrorCode::NoNode => insert(&mut self.exist, path),
                _ => {}
            },
            WatchRegistration::Data(path) if err.is_ok() => insert(&mut self.data, path),
            WatchRegistration::Child(path) if err.is_ok() => insert(&mut self.child, path),
            WatchRegistration::Data(_) | WatchRegistration::Child(_) => {}
            // AddWatchRegistration.shouldAddWatch: OK or NONODE.
            WatchRegistration::Add(path, mode)
                if matches!(err, ErrorCode::Ok | ErrorCode::NoNode) =>
            {
                match mode {
                    WatcherMode::Persistent => insert(&mut self.persistent, path),
                    WatcherMode::PersistentRecursive => {
                        insert(&mut self.persistent_recursive, path)
                    }
                    // AddWatchMode has no standard mode; there is nothing to register.
                    WatcherMode::Standard => {}
                }
            }
            WatchRegistration::Add(..) => {}
            // ZKWatchManager.removeWatches: only when the server said OK.
            WatchRegistration::Remove(path, watcher_type) if err.is_ok() => {
                self.remove(path, *watcher_type)
            }
            WatchRegistration::Remove(..) => {}
        }
    }

    /// `ZKWatchManager.removeWatcher`: Children removes child watches; Data removes data and
    /// exist watches; Any removes all five kinds.
    fn remove(&mut self, path: &str, watcher_type: WatcherType) {
        if matches!(watcher_type, WatcherType::Children | WatcherType::Any) {
            self.child.remove(path);
        }
        if matches!(watcher_type, WatcherType::Data | WatcherType::Any) {
            self.data.remove(path);
            self.exist.remove(path);
        }
        if watcher_type == WatcherType::Any {
            self.persistent.remove(path);
            self.persistent_recursive.remove(path);
        }
    }

    /// `ZKWatchManager.materialize`: a notification consumes the one-shot watches it fires;
    /// persistent and persistent recursive watches stay.
    pub fn on_event(&mut self, event_type: EventType, path: &str) {
        match event_type {
            EventType::NodeDataChanged | EventType::NodeCreated => {
                self.data.remove(path);
                self.exist.remove(path);
            }
            EventType::NodeChildrenChanged => {
                self.child.remove(path);
            }
            EventType::NodeDeleted => {
                self.data.remove(path);
                self.exist.remove(path);
                self.child.remove(path);
            }
            EventType::None
            | EventType::DataWatchRemoved
            | EventType::ChildWatchRemoved
            | EventType::PersistentWatchRemoved => {}
        }
        if matches!(
            event_type,
            EventType::NodeDataChanged | EventType::NodeCreated | EventType::NodeDeleted
        ) {
            assert!(!self.data.contains(path));
            assert!(!self.exist.contains(path));
        }
    }

    /// `SetWatches2` as `SendThread.primeConnection` builds it: every watch, relative to the
    /// last zxid the client saw, so the server fires those whose node changed since.
    pub fn set_watches(&self, relative_zxid: Zxid) -> Request {
        assert!(
            !self.is_empty(),
            "SetWatches is only sent when watches exist"
        );
        Request::SetWatches {
            relative_zxid,
            data: self.data.iter().cloned().collect(),
            exist: self.exist.iter().cloned().collect(),
            child: self.child.iter().cloned().collect(),
            persistent: self.persistent.iter().cloned().collect(),
            persistent_recursive: self.persistent_recursive.iter().cloned().collect(),
        }
    }
}

fn insert(set: &mut BTreeSet<String>, path: &str) {
    set.insert(path.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(w: &mut ClientWatches, request: Request, err: ErrorCode) {
        w.on_reply(&WatchRegistration::of(&request), err);
    }

    fn exists(path: &str) -> Request {
        Request::Exists {
            path: path.to_string(),
            watch: true,
        }
    }

    fn set(paths: &[&str]) -> BTreeSet<String> {
        paths.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn exists_registers_a_data_watch_or_an_exist_watch() {
        // ZooKeeper.ExistsWatchRegistration: data watch if OK, exist watch if NONODE.
        let mut w = ClientWatches::default();
        register(&mut w, exists("/a"), ErrorCode::Ok);
        register(&mut w, exists("/b"), ErrorCode::NoNode);
        register(&mut w, exists("/c"), ErrorCode::NoAuth);
        assert_eq!(w.data, set(&["/a"]));
        assert_eq!(w.exist, set(&["/b"]));
    }

    #[test]
    fn get_data_and_get_children_register_only_on_success() {
        // DataWatchRegistration and ChildWatchRegistration: shouldAddWatch is rc == OK.
        let mut w = ClientWatches::default();
        let get_data = |p: &str| Request::GetData {
            path: p.to_string(),
            watch: true,
        };
        let get_children = |p: &str| Request::GetChildren {
            path: p.to_string(),
            watch: true,
        };
        register(&mut w, get_data("/a"), ErrorCode::Ok);
        register(&mut w, get_data("/b"), ErrorCode::NoNode);
        register(&mut w, get_children("/c"), ErrorCode::Ok);
        register(&mut w, get_children("/d"), ErrorCode::NoNode);
        let unwatched = Request::GetData {
            path: "/e".to_string(),
            watch: false,
        };
        register(&mut w, unwatched, ErrorCode::Ok);
        assert_eq!(w.data, set(&["/a"]));
        assert_eq!(w.child, set(&["/c"]));
        assert!(w.exist.is_empty());
    }

    #[test]
    fn events_consume_standard_watches_as_materialize_does() {
        // ZKWatchManager.materialize: DataChanged/Created take data+exist, ChildrenChanged
        // takes child, Deleted takes all three; persistent watches stay.
        let mut w = ClientWatches::default();
        for kind in [&mut w.data, &mut w.exist, &mut w.child] {
            kind.extend(set(&["/a", "/b", "/c"]));
        }
        w.persistent.insert("/a".to_string());
        w.persistent_recursive.insert("/".to_string());
        w.on_event(EventType::NodeDataChanged, "/a");
        w.on_event(EventType::NodeChildrenChanged, "/b");
        w.on_event(EventType::NodeDeleted, "/c");
        assert_eq!(w.data, set(&["/b"]));
        assert_eq!(w.exist, set(&["/b"]));
        assert_eq!(w.child, set(&["/a"]));
        assert_eq!(w.persistent, set(&["/a"]));
        assert_eq!(w.persistent_recursive, set(&["/"]));
        w.on_event(EventType::NodeCreated, "/b");
        assert!(w.data.is_empty());
        assert!(w.exist.is_empty());
    }

    #[test]
    fn add_watch_and_remove_watches_follow_the_reply() {
        // AddWatchRegistration (OK or NONODE) and WatchDeregistration (OK only).
        let mut w = ClientWatches::default();
        let add = |p: &str, mode| Request::AddWatch {
            path: p.to_string(),
            mode,
        };
        let remove = |p: &str, watcher_type| Request::RemoveWatches {
            path: p.to_string(),
            watcher_type,
        };
        register(&mut w, add("/p", WatcherMode::Persistent), ErrorCode::Ok);
        register(
            &mut w,
            add("/r", WatcherMode::PersistentRecursive),
            ErrorCode::NoNode,
        );
        register(&mut w, exists("/p"), ErrorCode::Ok);
        register(&mut w, exists("/r"), ErrorCode::NoNode);
        w.child.insert("/p".to_string());
        // Data removes data and exist watches, not persistent ones.
        register(&mut w, remove("/p", WatcherType::Data), ErrorCode::Ok);
        assert!(w.data.is_empty());
        assert_eq!(w.child, set(&["/p"]));
        assert_eq!(w.persistent, set(&["/p"]));
        // A failed removal keeps everything.
        register(&mut w, remove("/r", WatcherType::Any), ErrorCode::NoWatcher);
        assert_eq!(w.exist, set(&["/r"]));
        register(&mut w, remove("/r", WatcherType::Any), ErrorCode::Ok);
        assert!(w.exist.is_empty());
        assert!(w.persistent_recursive.is_empty());
        register(&mut w, remove("/p", WatcherType::Children), ErrorCode::Ok);
        assert!(w.child.is_empty());
        assert_eq!(w.persistent, set(&["/p"]));
    }

    #[test]
    fn set_watches_lists_every_kind_in_path_order() {
        // SendThread.primeConnection sends all five lists with the last zxid seen.
        let mut w = ClientWatches::default();
        w.data.extend(set(&["/b", "/a"]));
        w.persistent_recursive.insert("/r".to_string());
        assert_eq!(
            w.set_watches(42),
            Request::SetWatches {
                relative_zxid: 42,
                data: vec!["/a".to_string(), "/b".to_string()],
                exist: vec![],
                child: vec![],
                persistent: vec![],
                persistent_recursive: vec!["/r".to_string()],
            }
        );
    }
}
