//! A client session driven by hand, and the requests and effects its stories expect.

#![allow(dead_code)]

use zksim_core::client::{ClientConfig, ClientEffect, ClientSession, Outcome, SessionEvent};
use zksim_core::error::ErrorCode;
use zksim_core::proto::{ClientMessage, ConnectResponse, ServerMessage};
use zksim_core::request::{Reply, Request, Response};

pub const SESSION: i64 = 0x1000;
pub const PASSWORD: u64 = 77;

/// A client and the effects it produced since the last `take`.
pub struct Story {
    pub client: ClientSession,
    pub out: Vec<ClientEffect>,
}

impl Story {
    /// Three servers, starting at server 1, asking for a 3000 ms session.
    pub fn new() -> Story {
        let mut config = ClientConfig::new(3, 1, 3000);
        config.client_id = Some(7);
        Story {
            client: ClientSession::new(config),
            out: Vec::new(),
        }
    }

    pub fn take(&mut self) -> Vec<ClientEffect> {
        std::mem::take(&mut self.out)
    }

    pub fn start(&mut self, now: i64) {
        self.client.start(now, &mut self.out);
    }

    pub fn submit(&mut self, now: i64, request: Request) -> i32 {
        self.client.submit(now, request, &mut self.out)
    }

    pub fn message(&mut self, now: i64, message: ServerMessage) {
        self.client.on_message(now, message, &mut self.out);
    }

    pub fn reply(&mut self, now: i64, xid: i32, err: ErrorCode, zxid: i64) {
        let reply = Reply {
            err,
            zxid,
            response: Response::Empty,
            message: None,
        };
        self.message(now, ServerMessage::Reply { xid, reply });
    }

    pub fn accept(&mut self, now: i64, timeout_ms: i32) {
        let response = ConnectResponse {
            timeout_ms,
            session_id: SESSION,
            password: PASSWORD,
        };
        self.message(now, ServerMessage::Connected(response));
    }

    /// Transport up and session accepted, at `now`.
    pub fn establish(&mut self, now: i64) {
        self.client.on_connected(now, &mut self.out);
        self.accept(now, 3000);
    }

    /// A new client with an established session, effects taken.
    pub fn connected() -> Story {
        let mut story = Story::new();
        story.start(0);
        story.establish(0);
        story.take();
        story
    }

    pub fn disconnect(&mut self, now: i64) {
        self.client.on_disconnected(now, &mut self.out);
    }

    pub fn tick(&mut self, now: i64) {
        self.client.on_tick(now, &mut self.out);
    }
}

pub fn get(path: &str) -> Request {
    Request::GetData {
        path: path.to_string(),
        watch: false,
    }
}

pub fn watched(request: Request) -> Request {
    match request {
        Request::Exists { path, .. } => Request::Exists { path, watch: true },
        Request::GetData { path, .. } => Request::GetData { path, watch: true },
        Request::GetChildren { path, .. } => Request::GetChildren { path, watch: true },
        other => other,
    }
}

pub fn exists(path: &str) -> Request {
    Request::Exists {
        path: path.to_string(),
        watch: false,
    }
}

pub fn children(path: &str) -> Request {
    Request::GetChildren {
        path: path.to_string(),
        watch: false,
    }
}

pub fn sent(xid: i32, request: Request) -> ClientEffect {
    ClientEffect::Send(ClientMessage::Request { xid, request })
}

pub fn completed(xid: i32, outcome: Outcome) -> ClientEffect {
    ClientEffect::Completed { xid, outcome }
}

pub fn ok_reply(zxid: i64) -> Outcome {
    Outcome::Reply(Reply {
        err: ErrorCode::Ok,
        zxid,
        response: Response::Empty,
        message: None,
    })
}

pub fn session_connected() -> ClientEffect {
    ClientEffect::Session(SessionEvent::Connected {
        session_id: SESSION,
        timeout_ms: 3000,
    })
}

pub fn strings(paths: &[&str]) -> Vec<String> {
    paths.iter().map(|p| p.to_string()).collect()
}
