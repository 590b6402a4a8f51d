//! What the tests read off the network (the leader, replica agreement, digests, who
//! serves, the messages between two servers) and the steps and requests the stories share.

use std::collections::BTreeMap;

use zksim_core::proto::ConnId;
use zksim_core::request::{Reply, Request};
use zksim_core::stat::Zxid;
use zksim_core::zab::messages::PeerMessage;
use zksim_core::zab::{PeerState, ServerId};

use super::Net;

impl Net {
    // ----- views -----

    /// The server every up server agrees is leading, if there is one.
    pub fn leader(&self) -> Option<ServerId> {
        let leaders: Vec<ServerId> = self
            .nodes
            .iter()
            .filter(|(_, n)| {
                n.server
                    .as_ref()
                    .is_some_and(|s| s.state() == PeerState::Leading && s.is_serving())
            })
            .map(|(id, _)| *id)
            .collect();
        (leaders.len() == 1).then(|| leaders[0])
    }

    /// Run until a leader is established and every up server serves, or fail.
    pub fn settle(&mut self, within_ms: i64) -> ServerId {
        let deadline = self.now_ms + within_ms;
        while self.now_ms < deadline {
            self.run_for(50);
            let serving = self
                .nodes
                .values()
                .filter_map(|n| n.server.as_ref())
                .all(|s| s.is_serving());
            if let (Some(l), true) = (self.leader(), serving) {
                return l;
            }
        }
        let states: Vec<String> = self
            .nodes
            .iter()
            .map(|(id, n)| {
                format!(
                    "{id}:{:?}",
                    n.server.as_ref().map(|s| (s.state(), s.is_serving()))
                )
            })
            .collect();
        panic!(
            "no settled leader within {within_ms} ms: {}",
            states.join(" ")
        );
    }

    /// Zab's agreement over what the replicas applied so far (Zab.tla's
    /// PrefixConsistency, Integrity, PrimaryOrder and primary uniqueness), judged by the
    /// checker's replica agreement property on the ground truth.
    pub fn assert_replicas_agree(&self) {
        if let Err(e) = self.replicas_agree() {
            panic!("{e}");
        }
    }

    pub fn replicas_agree(&self) -> Result<(), String> {
        let config = &self.nodes.values().next().expect("a server").config;
        let (voters, observers) = (&config.voters, &config.observers);
        self.truth
            .agreement(voters, observers, &self.role_events)
            .map_err(|found| found.join("\n"))
    }

    pub fn digests(&self) -> BTreeMap<ServerId, (Zxid, u64)> {
        self.nodes
            .iter()
            .filter_map(|(id, n)| {
                n.server
                    .as_ref()
                    .map(|s| (*id, (s.last_committed_zxid(), s.tree().digest())))
            })
            .collect()
    }
}

// ----- helpers shared by the stories -----

impl Net {
    /// Open a raw session on `server` and wait until it is established.
    pub fn open_session(&mut self, server: ServerId) -> ConnId {
        let conn = self.connect(server, 0, 0, 0);
        assert!(
            self.run_until_true(2_000, |n| n.session_of(conn).is_some()),
            "no session on server {server}: {:?}",
            self.conns[&conn].inbox
        );
        conn
    }

    /// Create `paths` through `conn` (xids from `first_xid`) and require each acknowledged.
    pub fn create_all(&mut self, conn: ConnId, first_xid: i32, paths: &[String]) {
        for (i, p) in paths.iter().enumerate() {
            self.request(conn, first_xid + i as i32, create(p, "v"));
        }
        let last = first_xid + paths.len() as i32 - 1;
        assert!(
            self.run_until_true(3_000, |n| n.reply(conn, last).is_some()),
            "writes not acknowledged"
        );
        for x in first_xid..=last {
            assert_eq!(
                self.reply(conn, x).map(|r| r.err),
                Some(zksim_core::error::ErrorCode::Ok)
            );
        }
    }

    /// Every up server has the same (last zxid, digest).
    pub fn assert_converged(&self) {
        let digests = self.digests();
        let first = digests.values().next().expect("a server is up");
        assert!(
            digests.values().all(|d| d == first),
            "replicas differ: {digests:?}"
        );
    }

    /// Servers that serve clients now.
    pub fn serving(&self) -> Vec<ServerId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.server.as_ref().is_some_and(|s| s.is_serving()))
            .map(|(id, _)| *id)
            .collect()
    }

    /// The recorded messages from `from` to `to` at or after `since_ms`.
    pub fn messages_between(
        &self,
        from: ServerId,
        to: ServerId,
        since_ms: i64,
    ) -> Vec<&PeerMessage> {
        self.messages
            .iter()
            .filter(|(t, f, d, _)| *t >= since_ms && *f == from && *d == to)
            .map(|(_, _, _, m)| m)
            .collect()
    }
}

pub fn paths(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("/{prefix}{i}")).collect()
}

pub fn create(path: &str, data: &str) -> Request {
    Request::Create {
        path: path.to_string(),
        data: Some(data.as_bytes().to_vec()),
        acl: zksim_core::acl::Acl::open_unsafe(),
        mode: zksim_core::request::CreateMode::Persistent,
        ttl: None,
    }
}

pub fn ephemeral(path: &str) -> Request {
    Request::Create {
        path: path.to_string(),
        data: None,
        acl: zksim_core::acl::Acl::open_unsafe(),
        mode: zksim_core::request::CreateMode::Ephemeral,
        ttl: None,
    }
}

pub fn get_data(path: &str, watch: bool) -> Request {
    Request::GetData {
        path: path.to_string(),
        watch,
    }
}

pub fn set_data(path: &str, data: &str) -> Request {
    Request::SetData {
        path: path.to_string(),
        data: Some(data.as_bytes().to_vec()),
        version: -1,
    }
}

pub fn sync(path: &str) -> Request {
    Request::Sync {
        path: path.to_string(),
    }
}

/// The data a GetData reply carries.
pub fn data_of(reply: &Reply) -> Option<String> {
    match &reply.response {
        zksim_core::request::Response::GetData { data, .. } => data
            .as_ref()
            .map(|d| String::from_utf8_lossy(d).into_owned()),
        _ => None,
    }
}

impl Net {
    /// A write that `leader` logs but no follower receives (its PROPOSAL is lost): the
    /// leader's history gets a txn that is never committed. The loss stays in force.
    pub fn orphan_write(&mut self, leader: ServerId, path: &str) {
        let conn = self.open_session(leader);
        self.drop_filter = Some(Box::new(move |from, _, m| {
            from == leader && matches!(m, PeerMessage::Propose(_))
        }));
        self.request(conn, 1, create(path, "ghost"));
        let logged = self.run_until_true(500, |n| {
            n.server(leader).last_logged_zxid() > n.server(leader).last_committed_zxid()
        });
        assert!(logged, "the leader logged the orphan proposal");
        self.run_for(20);
    }
}
