//! The generic workload: each client draws its next request from the scenario's op mix over
//! a small key space, so clients collide, versions race and watches fire. It is one
//! [`Agent`]; it keeps no recipe-wide state and checks no invariant of its own (the
//! checker judges its history).

use rand::Rng;
use zksim_core::acl::Acl;
use zksim_core::client::Outcome;
use zksim_core::request::{CreateMode, Reply, Request, Response};
use zksim_scenarios::{Stream, Workload};

use crate::recipes::{Agent, Cx, Proposal};

/// One client's request generator.
pub struct Generator {
    rng: Stream,
    workload: Workload,
    client: u32,
    counter: u64,
    /// Sequential nodes this client created, oldest first: it deletes them again so the
    /// tree stays small.
    sequential: std::collections::VecDeque<String>,
    /// Draws for containers, TTL nodes and children, a stream of their own, so that a
    /// workload without them draws exactly as before they existed.
    extra: Stream,
}

impl Generator {
    pub fn new(rng: Stream, extra: Stream, workload: Workload, client: u32) -> Generator {
        Generator {
            rng,
            workload,
            client,
            counter: 0,
            sequential: std::collections::VecDeque::new(),
            extra,
        }
    }

    /// A key, or with `child_percent` a child of one (`/k3/c1`), so that containers gain
    /// and lose children.
    fn key_or_child(&mut self) -> String {
        let key = self.key();
        let w = &self.workload;
        if w.child_percent == 0 || self.extra.gen_range(0..100) >= w.child_percent {
            return key;
        }
        format!("{key}/c{}", self.extra.gen_range(0..3))
    }

    /// The mode of a persistent, non-sequential create: now and then a container or a TTL
    /// node (with the workload's TTL).
    fn persistent_mode(&mut self) -> (CreateMode, Option<i64>) {
        let w = &self.workload;
        if w.container_percent == 0 && w.ttl_percent == 0 {
            return (CreateMode::Persistent, None);
        }
        let draw = self.extra.gen_range(0..100);
        if draw < w.container_percent {
            (CreateMode::Container, None)
        } else if draw < w.container_percent + w.ttl_percent {
            (CreateMode::PersistentWithTtl, Some(w.ttl_ms))
        } else {
            (CreateMode::Persistent, None)
        }
    }

    fn key(&mut self) -> String {
        format!("/k{}", self.rng.gen_range(0..self.workload.keys))
    }

    fn data(&mut self) -> Option<Vec<u8>> {
        self.counter += 1;
        let len = self
            .rng
            .gen_range(0..=self.workload.value_bytes_max as usize);
        let tag = format!("c{}-{}", self.client, self.counter);
        let mut v = tag.into_bytes();
        v.resize(len.max(v.len()), b'.');
        Some(v)
    }

    fn percent(&mut self, p: u32) -> bool {
        self.rng.gen_range(0..100) < p
    }

    fn version(&mut self) -> i32 {
        if self.percent(70) {
            -1
        } else {
            self.rng.gen_range(0..4)
        }
    }

    fn create(&mut self) -> Request {
        let ephemeral = self.percent(self.workload.ephemeral_percent);
        let sequential = self.percent(self.workload.sequential_percent);
        let (mode, ttl) = match (ephemeral, sequential) {
            (true, true) => (CreateMode::EphemeralSequential, None),
            (true, false) => (CreateMode::Ephemeral, None),
            (false, true) => (CreateMode::PersistentSequential, None),
            (false, false) => self.persistent_mode(),
        };
        let path = if sequential {
            format!("/s{}-", self.rng.gen_range(0..3))
        } else {
            self.key_or_child()
        };
        Request::Create {
            path,
            data: self.data(),
            acl: Acl::open_unsafe(),
            mode,
            ttl,
        }
    }

    /// A created sequential node's name, to delete later.
    pub fn created(&mut self, path: &str) {
        self.sequential.push_back(path.to_string());
    }

    /// The next requests: usually one, two for a sync followed by a read.
    pub fn next(&mut self) -> Vec<Request> {
        if self.sequential.len() > 4 {
            let path = self.sequential.pop_front().expect("non-empty");
            return vec![Request::Delete { path, version: -1 }];
        }
        let m = self.workload.mix.clone();
        let total = m.total().max(1);
        let mut pick = self.rng.gen_range(0..total);
        let mut take = |w: u32| {
            if pick < w {
                true
            } else {
                pick -= w;
                false
            }
        };
        let watch = self.percent(self.workload.watch_percent);
        if take(m.create) {
            vec![self.create()]
        } else if take(m.delete) {
            let path = self.key_or_child();
            vec![Request::Delete {
                path,
                version: self.version(),
            }]
        } else if take(m.set_data) {
            let path = self.key();
            vec![Request::SetData {
                path,
                data: self.data(),
                version: self.version(),
            }]
        } else if take(m.get_data) {
            vec![Request::GetData {
                path: self.key(),
                watch,
            }]
        } else if take(m.exists) {
            vec![Request::Exists {
                path: self.key(),
                watch,
            }]
        } else if take(m.get_children) {
            vec![Request::GetChildren {
                path: "/".to_string(),
                watch,
            }]
        } else if take(m.multi) {
            let (a, b) = (self.key(), self.key());
            let version = self.version();
            let ops = vec![
                Request::Check { path: a, version },
                Request::SetData {
                    path: b.clone(),
                    data: self.data(),
                    version: -1,
                },
                Request::Create {
                    path: format!("{b}m"),
                    data: self.data(),
                    acl: Acl::open_unsafe(),
                    mode: CreateMode::Persistent,
                    ttl: None,
                },
            ];
            vec![Request::Multi(ops)]
        } else if take(m.sync_read) {
            sync_then_read(self.key(), watch)
        } else {
            let path = self.key();
            vec![
                Request::GetData {
                    path: path.clone(),
                    watch: false,
                },
                Request::SetData {
                    path,
                    data: self.data(),
                    version: self.version(),
                },
            ]
        }
    }
}

/// A sync, then a read of `path` that must see everything committed before the sync.
fn sync_then_read(path: String, watch: bool) -> Vec<Request> {
    vec![
        Request::Sync {
            path: "/".to_string(),
        },
        Request::GetData { path, watch },
    ]
}

impl Agent for Generator {
    type Shared = ();

    fn propose(&mut self, _shared: &mut (), cx: &Cx) -> Proposal {
        let (every, quiet) = (self.workload.quiet_every_ms, self.workload.quiet_ms);
        if every > 0 && cx.now_ms.rem_euclid(every as i64) >= (every - quiet) as i64 {
            // A quiet spell: no writes, fresh reads.
            return Proposal::Requests(sync_then_read(self.key(), false));
        }
        Proposal::Requests(self.next())
    }

    fn on_complete(&mut self, _shared: &mut (), _cx: &Cx, _request: &Request, outcome: &Outcome) {
        if let Outcome::Reply(Reply {
            response: Response::Create { path, .. },
            ..
        }) = outcome
        {
            if path.starts_with("/s") {
                self.created(path);
            }
        }
    }
}
