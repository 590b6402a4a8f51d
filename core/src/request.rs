//! Client requests and the replies a server gives, independent of any wire encoding.

use serde::{Deserialize, Serialize};

use crate::acl::Acl;
use crate::error::ErrorCode;
use crate::stat::{Stat, Zxid};
use crate::watch::{EventType, WatcherMode};

/// `CreateMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CreateMode {
    /// A node that lives until it is deleted.
    Persistent,
    /// A node deleted when the session that created it ends.
    Ephemeral,
    /// A persistent node whose name gets the parent's next sequence number (`%010d`).
    PersistentSequential,
    /// An ephemeral node whose name gets the parent's next sequence number.
    EphemeralSequential,
    /// A node the server deletes once its last child is gone (ZooKeeper 3.6).
    Container,
    /// A node the server deletes once it has no children and was not changed for its TTL.
    PersistentWithTtl,
    /// A sequential node with a TTL.
    PersistentSequentialWithTtl,
}

impl CreateMode {
    /// Every mode.
    pub const ALL: [CreateMode; 7] = [
        CreateMode::Persistent,
        CreateMode::Ephemeral,
        CreateMode::PersistentSequential,
        CreateMode::EphemeralSequential,
        CreateMode::Container,
        CreateMode::PersistentWithTtl,
        CreateMode::PersistentSequentialWithTtl,
    ];

    /// Whether the name gets a sequence number.
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }

    /// Whether the node ends with its session.
    pub fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }

    /// Whether the node has a TTL.
    pub fn is_ttl(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl
        )
    }

    /// The snake_case name used in files (`persistent_sequential`, ...).
    pub fn name(self) -> &'static str {
        match self {
            CreateMode::Persistent => "persistent",
            CreateMode::Ephemeral => "ephemeral",
            CreateMode::PersistentSequential => "persistent_sequential",
            CreateMode::EphemeralSequential => "ephemeral_sequential",
            CreateMode::Container => "container",
            CreateMode::PersistentWithTtl => "persistent_with_ttl",
            CreateMode::PersistentSequentialWithTtl => "persistent_sequential_with_ttl",
        }
    }

    /// The mode of a snake_case name.
    pub fn from_name(name: &str) -> Option<CreateMode> {
        CreateMode::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// `WatcherType` of a removeWatches request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WatcherType {
    /// Child watches.
    Children,
    /// Data (and exists) watches.
    Data,
    /// Both.
    Any,
}

/// A client request. `Check` appears only inside `Multi`; `Multi` holds create, delete,
/// set_data and check; `MultiRead` holds get_data and get_children.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// `create2`, or `createContainer` for a container, or `createTTL` when `ttl` is set.
    Create {
        /// The node's path (for a sequential mode, the prefix of its name).
        path: String,
        /// Its data (`None`: null).
        data: Option<Vec<u8>>,
        /// Its ACL.
        acl: Vec<Acl>,
        /// Persistent, ephemeral, sequential, container or TTL.
        mode: CreateMode,
        /// The TTL in ms, for a TTL mode.
        ttl: Option<i64>,
    },
    /// `delete`.
    Delete {
        /// The node's path.
        path: String,
        /// The version it must have (-1: any).
        version: i32,
    },
    /// `exists`.
    Exists {
        /// The node's path.
        path: String,
        /// Set a watch (fires on its creation, deletion or data change).
        watch: bool,
    },
    /// `getData`.
    GetData {
        /// The node's path.
        path: String,
        /// Set a data watch (fires on its deletion or data change).
        watch: bool,
    },
    /// `setData`.
    SetData {
        /// The node's path.
        path: String,
        /// The new data (`None`: null).
        data: Option<Vec<u8>>,
        /// The version it must have (-1: any).
        version: i32,
    },
    /// `getChildren2`: children and the parent's stat.
    GetChildren {
        /// The parent's path.
        path: String,
        /// Set a child watch (fires when a child is created or deleted, or the node is).
        watch: bool,
    },
    /// `getAllChildrenNumber`.
    GetAllChildrenNumber {
        /// The node's path.
        path: String,
    },
    /// `getEphemerals`: the session's ephemerals under a prefix.
    GetEphemerals {
        /// The path prefix.
        prefix: String,
    },
    /// `getACL`.
    GetAcl {
        /// The node's path.
        path: String,
    },
    /// `setACL`.
    SetAcl {
        /// The node's path.
        path: String,
        /// The new ACL.
        acl: Vec<Acl>,
        /// The ACL version it must have (-1: any).
        version: i32,
    },
    /// `sync`: the server the session is connected to catches up with the leader first.
    Sync {
        /// The path (the sync covers the whole tree).
        path: String,
    },
    /// `check`, inside a multi: the node exists with the version (-1: any).
    Check {
        /// The node's path.
        path: String,
        /// The version it must have (-1: any).
        version: i32,
    },
    /// `multi`: creates, deletes, setDatas and checks that commit together or not at all.
    Multi(Vec<Request>),
    /// `multiRead`: getDatas and getChildrens, answered together.
    MultiRead(Vec<Request>),
    /// `addWatch`: a persistent (or persistent recursive) watch.
    AddWatch {
        /// The node's path.
        path: String,
        /// Persistent or persistent recursive.
        mode: WatcherMode,
    },
    /// `removeWatches`.
    RemoveWatches {
        /// The node's path.
        path: String,
        /// Which watches.
        watcher_type: WatcherType,
    },
    /// `SetWatches2`, sent after a reconnect: watches to re-register as of `relative_zxid`.
    SetWatches {
        /// The last zxid the client saw.
        relative_zxid: Zxid,
        /// Data watches.
        data: Vec<String>,
        /// Exists watches.
        exist: Vec<String>,
        /// Child watches.
        child: Vec<String>,
        /// Persistent watches.
        persistent: Vec<String>,
        /// Persistent recursive watches.
        persistent_recursive: Vec<String>,
    },
}

impl Request {
    /// Whether the request is a write that goes through the leader as a txn.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::Create { .. }
                | Request::Delete { .. }
                | Request::SetData { .. }
                | Request::SetAcl { .. }
                | Request::Check { .. }
                | Request::Multi(_)
        )
    }

    /// Roughly the heap bytes the request holds (paths, data, names, ACLs): what a record
    /// of it costs beyond its own size, for a run's budget of memory.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Request::Create {
                path, data, acl, ..
            } => string_bytes(path) + data_bytes(data) + acl_bytes(acl),
            Request::SetData { path, data, .. } => string_bytes(path) + data_bytes(data),
            Request::SetAcl { path, acl, .. } => string_bytes(path) + acl_bytes(acl),
            Request::Multi(ops) | Request::MultiRead(ops) => ops
                .iter()
                .map(|op| std::mem::size_of::<Request>() + op.heap_bytes())
                .sum(),
            Request::SetWatches {
                data,
                exist,
                child,
                persistent,
                persistent_recursive,
                ..
            } => [data, exist, child, persistent, persistent_recursive]
                .into_iter()
                .map(|paths| strings_bytes(paths))
                .sum(),
            other => other.path().map_or(0, string_bytes),
        }
    }

    /// The znode path a request names, if it names one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Request::Create { path, .. }
            | Request::Delete { path, .. }
            | Request::Exists { path, .. }
            | Request::GetData { path, .. }
            | Request::SetData { path, .. }
            | Request::GetChildren { path, .. }
            | Request::GetAllChildrenNumber { path }
            | Request::GetAcl { path }
            | Request::SetAcl { path, .. }
            | Request::Sync { path }
            | Request::Check { path, .. }
            | Request::AddWatch { path, .. }
            | Request::RemoveWatches { path, .. } => Some(path),
            Request::GetEphemerals { prefix } => Some(prefix),
            Request::Multi(_) | Request::MultiRead(_) | Request::SetWatches { .. } => None,
        }
    }
}

/// The body of a successful reply (or of a multi, whose header is OK even when it failed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// No body (delete, setACL's error, close, ...).
    Empty,
    /// `create2`'s: the node's name (with its sequence number) and stat.
    Create {
        /// The created node's path.
        path: String,
        /// Its stat.
        stat: Stat,
    },
    /// A stat (exists, setData, setACL).
    Stat(Stat),
    /// `getData`'s.
    GetData {
        /// The node's data.
        data: Option<Vec<u8>>,
        /// Its stat.
        stat: Stat,
    },
    /// `getChildren2`'s.
    GetChildren {
        /// The children's names (not paths), in no particular order.
        children: Vec<String>,
        /// The parent's stat.
        stat: Option<Stat>,
    },
    /// `getAllChildrenNumber`'s.
    Count(i32),
    /// `getEphemerals`'s.
    Paths(Vec<String>),
    /// `getACL`'s.
    GetAcl {
        /// The node's ACL.
        acl: Vec<Acl>,
        /// Its stat.
        stat: Stat,
    },
    /// `sync`'s.
    Sync {
        /// The path synced.
        path: String,
    },
    /// A multi's or multiRead's: one result per op.
    Multi(Vec<OpResult>),
}

/// One sub-result of a multi or multiRead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResult {
    /// A plain create inside a multi answers with its path only.
    Create {
        /// The created node's path.
        path: String,
        /// Its stat (a create2 inside a multi).
        stat: Option<Stat>,
    },
    /// A delete's.
    Delete,
    /// A setData's.
    SetData {
        /// The node's new stat.
        stat: Stat,
    },
    /// A check's.
    Check,
    /// A getData's, in a multiRead.
    GetData {
        /// The node's data.
        data: Option<Vec<u8>>,
        /// Its stat.
        stat: Stat,
    },
    /// A getChildren's, in a multiRead.
    GetChildren {
        /// The children's names.
        children: Vec<String>,
    },
    /// ZooKeeper's `ErrorResult`: in a failed multi, each op's code (the failing op's
    /// error; the others did not take effect either).
    Error(ErrorCode),
}

impl Response {
    /// Roughly the heap bytes the response holds (data, names, ACLs); see
    /// [`Request::heap_bytes`].
    pub fn heap_bytes(&self) -> usize {
        match self {
            Response::Empty | Response::Stat(_) | Response::Count(_) => 0,
            Response::Create { path, .. } | Response::Sync { path } => string_bytes(path),
            Response::GetData { data, .. } => data_bytes(data),
            Response::GetChildren { children, .. } | Response::Paths(children) => {
                strings_bytes(children)
            }
            Response::GetAcl { acl, .. } => acl_bytes(acl),
            Response::Multi(results) => results
                .iter()
                .map(|r| {
                    std::mem::size_of::<OpResult>()
                        + match r {
                            OpResult::Create { path, .. } => string_bytes(path),
                            OpResult::GetData { data, .. } => data_bytes(data),
                            OpResult::GetChildren { children } => strings_bytes(children),
                            _ => 0,
                        }
                })
                .sum(),
        }
    }
}

/// What the allocator keeps for one heap block beyond its bytes (a rough figure).
const BLOCK_OVERHEAD: usize = 16;

fn string_bytes(s: &str) -> usize {
    s.len() + BLOCK_OVERHEAD
}

fn strings_bytes(names: &[String]) -> usize {
    names
        .iter()
        .map(|n| std::mem::size_of::<String>() + string_bytes(n))
        .sum::<usize>()
        + BLOCK_OVERHEAD
}

fn data_bytes(data: &Option<Vec<u8>>) -> usize {
    data.as_ref().map_or(0, |d| d.len() + BLOCK_OVERHEAD)
}

fn acl_bytes(acl: &[Acl]) -> usize {
    acl.iter()
        .map(|a| std::mem::size_of::<Acl>() + string_bytes(&a.scheme) + string_bytes(&a.id))
        .sum::<usize>()
        + BLOCK_OVERHEAD
}

impl OpResult {
    /// The op's error code (`Ok` unless it is an `Error`).
    pub fn err(&self) -> ErrorCode {
        match self {
            OpResult::Error(e) => *e,
            _ => ErrorCode::Ok,
        }
    }
}

/// A server's reply: the reply header's error code and zxid, the body when there is one,
/// and, for an invalid argument, a sentence saying what is wrong (not on ZooKeeper's wire).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// The reply header's error code (`Ok` for a multi even when an op failed).
    pub err: ErrorCode,
    /// The reply header's zxid: a write's txn, or for a read the last zxid the server
    /// had applied when it answered.
    pub zxid: Zxid,
    /// The body.
    pub response: Response,
    /// For an invalid argument, what is wrong with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Reply {
    /// The reply to a read served at `zxid`: its response, or its error with no body.
    pub fn of_read(outcome: Result<Response, ErrorCode>, zxid: Zxid) -> Reply {
        let (err, response) = match outcome {
            Ok(response) => (ErrorCode::Ok, response),
            Err(err) => (err, Response::Empty),
        };
        Reply {
            err,
            zxid,
            response,
            message: None,
        }
    }
}

/// A watch notification as a client receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub event_type: EventType,
    pub path: String,
    /// The zxid of the txn that triggered it (ZooKeeper sends -1 on the wire; zksim keeps
    /// the real one so the checker can place the event).
    pub zxid: Zxid,
}
