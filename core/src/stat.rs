//! Znode metadata: the persisted stat a node keeps, and the `Stat` a client sees.

use serde::{Deserialize, Serialize};

/// A zxid: `epoch << 32 | counter`, a signed 64-bit value as in ZooKeeper.
pub type Zxid = i64;
/// A session id, a signed 64-bit value as in ZooKeeper.
pub type SessionId = i64;

/// `EphemeralType.CONTAINER_EPHEMERAL_OWNER`.
pub const CONTAINER_EPHEMERAL_OWNER: i64 = i64::MIN;
/// `EphemeralType`'s extended mask: an owner with this high byte is a TTL node.
const EXTENDED_MASK: i64 = 0xff00_0000_0000_0000_u64 as i64;
const RESERVED_BITS_MASK: i64 = 0x00ff_ff00_0000_0000;
/// `EphemeralType.TTL.maxValue()`: the largest TTL, about 34 years of milliseconds.
pub const TTL_MAX_MS: i64 = !(EXTENDED_MASK | RESERVED_BITS_MASK);

/// What a node's stored `ephemeralOwner` says it is (`EphemeralType` with extended types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Persistent,
    Ephemeral(SessionId),
    Container,
    Ttl(i64),
}

impl NodeKind {
    pub fn from_owner(owner: i64) -> NodeKind {
        if owner & EXTENDED_MASK == EXTENDED_MASK {
            NodeKind::Ttl(owner & TTL_MAX_MS)
        } else if owner == CONTAINER_EPHEMERAL_OWNER {
            NodeKind::Container
        } else if owner == 0 {
            NodeKind::Persistent
        } else {
            NodeKind::Ephemeral(owner)
        }
    }

    pub fn owner(self) -> i64 {
        match self {
            NodeKind::Persistent => 0,
            NodeKind::Ephemeral(session) => session,
            NodeKind::Container => CONTAINER_EPHEMERAL_OWNER,
            NodeKind::Ttl(ttl) => {
                assert!(ttl > 0 && ttl <= TTL_MAX_MS, "ttl {ttl} out of range");
                EXTENDED_MASK | ttl
            }
        }
    }
}

/// `StatPersisted`: what a znode stores. `cversion` here counts child creations only;
/// clients see `2 * cversion - numChildren` (see [`StatPersisted::to_stat`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatPersisted {
    pub czxid: Zxid,
    pub mzxid: Zxid,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub pzxid: Zxid,
}

impl StatPersisted {
    /// `DataTree.createStat`.
    pub fn new_node(zxid: Zxid, time: i64, ephemeral_owner: i64) -> StatPersisted {
        StatPersisted {
            czxid: zxid,
            mzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner,
            pzxid: zxid,
        }
    }

    pub fn kind(&self) -> NodeKind {
        NodeKind::from_owner(self.ephemeral_owner)
    }

    /// `DataNode.copyStat`: the client's view. Containers and TTL nodes show owner 0, and
    /// cversion counts deletions too: every create has a matching delete except for the
    /// children still present.
    pub fn to_stat(&self, data_length: usize, num_children: usize) -> Stat {
        let num_children = i32::try_from(num_children).expect("child count fits in i32");
        let ephemeral_owner = match self.kind() {
            NodeKind::Ephemeral(session) => session,
            _ => 0,
        };
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: self.aversion,
            ephemeral_owner,
            data_length: i32::try_from(data_length).expect("data length fits in i32"),
            num_children,
            pzxid: self.pzxid,
        }
    }
}

/// The `Stat` structure a client receives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    /// The zxid of the txn that created the node.
    pub czxid: Zxid,
    /// The zxid of the txn that last changed its data.
    pub mzxid: Zxid,
    /// When it was created (the leader's clock, ms).
    pub ctime: i64,
    /// When its data last changed (ms).
    pub mtime: i64,
    /// How many times its data changed.
    pub version: i32,
    /// How many times its children changed.
    pub cversion: i32,
    /// How many times its ACL changed.
    pub aversion: i32,
    /// The session that owns it, for an ephemeral; 0 otherwise.
    pub ephemeral_owner: i64,
    /// Its data's length in bytes.
    pub data_length: i32,
    /// How many children it has.
    pub num_children: i32,
    /// The zxid of the txn that last changed its children.
    pub pzxid: Zxid,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_kinds_round_trip_through_the_owner_field() {
        for kind in [
            NodeKind::Persistent,
            NodeKind::Ephemeral(0x1234),
            NodeKind::Container,
            NodeKind::Ttl(1),
            NodeKind::Ttl(TTL_MAX_MS),
        ] {
            assert_eq!(NodeKind::from_owner(kind.owner()), kind);
        }
    }

    #[test]
    fn clients_see_cversion_with_deletes_and_no_special_owner() {
        // Three creates, one child left: 2 * 3 - 1 = 5 changes to the child list.
        let mut s = StatPersisted::new_node(7, 0, NodeKind::Ttl(50).owner());
        s.cversion = 3;
        let stat = s.to_stat(4, 1);
        assert_eq!(stat.cversion, 5);
        assert_eq!(stat.ephemeral_owner, 0);
        assert_eq!(stat.data_length, 4);
        let eph = StatPersisted::new_node(7, 0, 99).to_stat(0, 0);
        assert_eq!(eph.ephemeral_owner, 99);
    }
}
