//! `config`: a configuration changed through a ready znode, as in the ZooKeeper paper
//! (Hunt et al., ATC 2010), §2.3 "ZooKeeper guarantees": a new leader deletes `ready`,
//! changes the configuration znodes, and creates `ready` again; "if a process sees the ready
//! znode, it must also see all the configuration changes made by the new leader", because
//! of FIFO client order and because a client that watches `ready` is notified of its
//! deletion before it can read any state after it.
//!
//! Client 0 writes (pipelined, in order): delete /ready, set /cfg/a and /cfg/b to version
//! v, create /ready with data v. Every other client reads (pipelined): getData(/ready,
//! watch), getData(/cfg/a), getData(/cfg/b).
//!
//! Its invariant, `config-no-mixed-versions`, is judged by the checker from the run's
//! history (`zksim_checker::recipes::config`).

use zksim_core::error::ErrorCode;
use zksim_core::request::{CreateMode, Request};
use zksim_scenarios::Scenario;

use super::ops::{Got, create, delete, get_data, set_data};
use super::recipe::{Pace, Recipe};
use super::{Cx, Proposal};

const READY: &str = "/ready";
const CFG: &str = "/cfg";
const CFG_A: &str = "/cfg/a";
const CFG_B: &str = "/cfg/b";

pub struct ConfigAgent {
    pace: Pace,
    writer: bool,
    /// The writer: the setup batch is done; the version being written.
    setup_done: bool,
    version: u64,
    /// The writer: replies outstanding in the current batch and whether all were as hoped.
    batch_left: usize,
    batch_ok: bool,
}

impl ConfigAgent {
    fn writer_batch(&mut self) -> Vec<Request> {
        let v = self.version.to_string();
        let batch = if self.setup_done {
            vec![
                delete(READY, -1),
                set_data(CFG_A, &v, -1),
                set_data(CFG_B, &v, -1),
                create(READY, &v, CreateMode::Persistent),
            ]
        } else {
            vec![
                create(CFG, "", CreateMode::Persistent),
                create(CFG_A, "0", CreateMode::Persistent),
                create(CFG_B, "0", CreateMode::Persistent),
                create(READY, "0", CreateMode::Persistent),
            ]
        };
        self.batch_left = batch.len();
        self.batch_ok = true;
        batch
    }

    fn on_writer_reply(&mut self, cx: &Cx, request: &Request, g: &Got) {
        let fine = match (g, request) {
            (Got::Ok(_), _) => true,
            // The setup may have been done before (by an earlier attempt or session).
            (Got::Err(ErrorCode::NodeExists, _), Request::Create { .. }) => !self.setup_done,
            // An earlier attempt of this version may have deleted /ready already.
            (Got::Err(ErrorCode::NoNode, _), Request::Delete { .. }) => true,
            _ => false,
        };
        self.batch_ok &= fine;
        self.batch_left = self.batch_left.saturating_sub(1);
        if self.batch_left > 0 {
            return;
        }
        if !self.batch_ok {
            // Retry the same version: the batch is idempotent.
            return self.pace.after(cx, 10, 100);
        }
        if self.setup_done {
            self.version += 1;
        }
        self.setup_done = true;
        self.pace.after(cx, 20, 20 + self.pace.think_ms_max);
    }

    /// A reader's round ends with its /cfg/b reply: the next one after a pause.
    fn on_reader_reply(&mut self, cx: &Cx, request: &Request, g: &Got) {
        if request.path() != Some(CFG_B) {
            return;
        }
        match g {
            Got::Ok(_) => self.pace.think(cx),
            _ => self.pace.after(cx, 10, 100),
        }
    }
}

impl Recipe for ConfigAgent {
    type Shared = ();

    const STREAM: &'static str = "recipe-config";

    fn new(_scenario: &Scenario, client: u32, mut pace: Pace) -> ConfigAgent {
        pace.think_ms_max = pace.think_ms_max.max(1);
        ConfigAgent {
            pace,
            writer: client == 0,
            setup_done: false,
            version: 1,
            batch_left: 0,
            batch_ok: true,
        }
    }

    fn pace(&self) -> &Pace {
        &self.pace
    }

    fn next(&mut self, _shared: &mut (), _cx: &Cx) -> Proposal {
        if self.writer {
            return Proposal::Requests(self.writer_batch());
        }
        Proposal::Requests(vec![
            get_data(READY, true),
            get_data(CFG_A, false),
            get_data(CFG_B, false),
        ])
    }

    fn on_reply(&mut self, _shared: &mut (), cx: &Cx, request: &Request, g: &Got) {
        if self.writer {
            self.on_writer_reply(cx, request, g);
        } else {
            self.on_reader_reply(cx, request, g);
        }
    }
}
