//! Random client requests over a small namespace, so that operations collide: a handful of
//! top-level nodes (`/k0`..), a parent for sequential children (`/q`), and multis over them.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use zksim_core::acl::{self, Acl};
use zksim_core::request::{CreateMode, Request, WatcherType};
use zksim_core::watch::WatcherMode;

/// The parent every sequential child goes under; created first.
pub const QUEUE: &str = "/q";

pub struct Workload {
    pub keys: usize,
}

impl Workload {
    fn key(&self, rng: &mut ChaCha8Rng) -> String {
        format!("/k{}", rng.gen_range(0..self.keys))
    }

    fn data(rng: &mut ChaCha8Rng) -> Option<Vec<u8>> {
        if rng.gen_ratio(1, 20) {
            return None;
        }
        let len = rng.gen_range(0..6);
        Some((0..len).map(|_| rng.gen_range(b'a'..=b'z')).collect())
    }

    fn version(rng: &mut ChaCha8Rng) -> i32 {
        if rng.gen_bool(0.7) {
            -1
        } else {
            rng.gen_range(0..4)
        }
    }

    pub fn create(&self, rng: &mut ChaCha8Rng) -> Request {
        let (path, mode) = match rng.gen_range(0..10) {
            0..=2 => (format!("{QUEUE}/n-"), CreateMode::PersistentSequential),
            3 => (format!("{QUEUE}/e-"), CreateMode::EphemeralSequential),
            4 | 5 => (self.key(rng), CreateMode::Ephemeral),
            6 => (format!("{}/c", self.key(rng)), CreateMode::Persistent),
            _ => (self.key(rng), CreateMode::Persistent),
        };
        Request::Create {
            path,
            data: Workload::data(rng),
            acl: Acl::open_unsafe(),
            mode,
            ttl: None,
        }
    }

    fn write(&self, rng: &mut ChaCha8Rng) -> Request {
        match rng.gen_range(0..20) {
            0..=6 => self.create(rng),
            7..=10 => Request::Delete {
                path: self.key(rng),
                version: Workload::version(rng),
            },
            11..=16 => Request::SetData {
                path: self.key(rng),
                data: Workload::data(rng),
                version: Workload::version(rng),
            },
            17 => Request::SetAcl {
                path: self.key(rng),
                acl: if rng.gen_bool(0.8) {
                    Acl::open_unsafe()
                } else {
                    vec![Acl::new(
                        acl::PERM_READ | acl::PERM_ADMIN,
                        "world",
                        "anyone",
                    )]
                },
                version: -1,
            },
            _ => self.multi(rng),
        }
    }

    fn multi(&self, rng: &mut ChaCha8Rng) -> Request {
        let n = rng.gen_range(1..=3);
        let ops = (0..n)
            .map(|_| match rng.gen_range(0..4) {
                0 => self.create(rng),
                1 => Request::Delete {
                    path: self.key(rng),
                    version: -1,
                },
                2 => Request::SetData {
                    path: self.key(rng),
                    data: Workload::data(rng),
                    version: Workload::version(rng),
                },
                _ => Request::Check {
                    path: self.key(rng),
                    version: Workload::version(rng),
                },
            })
            .collect();
        Request::Multi(ops)
    }

    fn read(&self, rng: &mut ChaCha8Rng) -> Request {
        let watch = rng.gen_bool(0.3);
        match rng.gen_range(0..20) {
            0..=5 => Request::GetData {
                path: self.key(rng),
                watch,
            },
            6..=10 => Request::Exists {
                path: self.key(rng),
                watch,
            },
            11..=13 => Request::GetChildren {
                path: if rng.gen_bool(0.5) {
                    QUEUE.to_string()
                } else {
                    "/".to_string()
                },
                watch,
            },
            14 => Request::GetAcl {
                path: self.key(rng),
            },
            15 => Request::GetEphemerals {
                prefix: "/".to_string(),
            },
            16 => Request::GetAllChildrenNumber {
                path: QUEUE.to_string(),
            },
            17 => Request::MultiRead(vec![
                Request::GetData {
                    path: self.key(rng),
                    watch: false,
                },
                Request::GetChildren {
                    path: QUEUE.to_string(),
                    watch: false,
                },
            ]),
            18 => Request::AddWatch {
                path: self.key(rng),
                mode: WatcherMode::Persistent,
            },
            _ => Request::RemoveWatches {
                path: self.key(rng),
                watcher_type: WatcherType::Any,
            },
        }
    }

    /// One request: about half writes, a few syncs. `oldest` is the queue's oldest child,
    /// which a consumer deletes now and then (so the queue stays short).
    pub fn request(&self, rng: &mut ChaCha8Rng, oldest: Option<&str>) -> Request {
        match rng.gen_range(0..100) {
            0..=5 if oldest.is_some() => Request::Delete {
                path: format!("{QUEUE}/{}", oldest.unwrap_or_default()),
                version: -1,
            },
            0..=44 => self.write(rng),
            45..=49 => Request::Sync {
                path: "/".to_string(),
            },
            _ => self.read(rng),
        }
    }
}
