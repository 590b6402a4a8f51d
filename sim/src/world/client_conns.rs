//! The connections between clients and servers: each ordered both ways, open until either
//! end closes it or its server dies.

use zksim_core::proto::{ClientMessage, ConnId, ServerMessage};
use zksim_core::zab::ServerId;

use super::draws::Site;
use super::{Addr, Item, World};

#[derive(Clone, Debug)]
pub(super) struct Conn {
    client: u32,
    pub(super) server: ServerId,
    pub(super) open: bool,
    last_to_server: u64,
    last_to_client: u64,
}

impl World {
    /// A client opens a connection to a server; it learns the outcome as ConnUp/ConnDown.
    pub fn client_connect(&mut self, client: u32, server: ServerId) -> ConnId {
        let conn = self.next_conn;
        self.next_conn += 1;
        let up = self.servers.get(&server).is_some_and(|s| s.alive);
        let at = self.now_ns() + self.client_latency_ns();
        self.conns.insert(
            conn,
            Conn {
                client,
                server,
                open: up,
                last_to_server: at,
                last_to_client: at,
            },
        );
        let item = if up {
            Item::ConnUp { conn }
        } else {
            Item::ConnDown { conn }
        };
        self.deliver(Addr::Clients, at, item);
        conn
    }

    /// The servers that serve clients now (alive, not paused, synced with a leader or
    /// leading), each with its open client connections, fewest first (then by id).
    pub fn serving_by_load(&self) -> Vec<(usize, ServerId)> {
        let mut load: Vec<(usize, ServerId)> = self
            .servers
            .iter()
            .filter(|(_, s)| s.alive && !s.paused && s.serving)
            .map(|(id, _)| {
                let open = self
                    .conns
                    .values()
                    .filter(|c| c.open && c.server == *id)
                    .count();
                (open, *id)
            })
            .collect();
        load.sort_unstable();
        load
    }

    pub fn conn_client(&self, conn: ConnId) -> Option<u32> {
        self.conns.get(&conn).map(|c| c.client)
    }

    pub fn client_send(&mut self, conn: ConnId, msg: ClientMessage) {
        self.stats.client_messages += 1;
        let at = self.now_ns() + self.client_latency_ns();
        let Some(c) = self.conns.get_mut(&conn).filter(|c| c.open) else {
            return;
        };
        let at = at.max(c.last_to_server + 1);
        c.last_to_server = at;
        let server = c.server;
        self.deliver(Addr::Server(server), at, Item::FromClient { conn, msg });
    }

    pub fn server_to_client(&mut self, conn: ConnId, msg: ServerMessage) {
        self.stats.client_messages += 1;
        let at = self.now_ns() + self.client_latency_ns();
        let Some(c) = self.conns.get_mut(&conn).filter(|c| c.open) else {
            return;
        };
        let at = at.max(c.last_to_client + 1);
        c.last_to_client = at;
        self.deliver(Addr::Clients, at, Item::ToClient { conn, msg });
        if self.draws.buggify(Site::ClientReset) {
            self.reset_conn(conn);
        }
    }

    /// The connection is reset after what it carries: both ends hear of it (BUGGIFY's
    /// client reset; the client reconnects with the last zxid it has seen).
    fn reset_conn(&mut self, conn: ConnId) {
        let to_client = self.now_ns() + self.client_latency_ns();
        let to_server = self.now_ns() + self.client_latency_ns();
        let Some(c) = self.conns.get_mut(&conn).filter(|c| c.open) else {
            return;
        };
        c.open = false;
        let (client, server) = (c.client, c.server);
        let to_client = to_client.max(c.last_to_client + 1);
        let to_server = to_server.max(c.last_to_server + 1);
        let kind = Site::ClientReset.fault_kind();
        self.fault(
            kind,
            format!("client {client} <-> S{server} connection reset"),
        );
        self.deliver(Addr::Clients, to_client, Item::ConnDown { conn });
        self.deliver(Addr::Server(server), to_server, Item::ClientGone { conn });
    }

    /// The server closed the connection: the client hears of it after what was sent.
    pub fn close_by_server(&mut self, conn: ConnId) {
        let at = self.now_ns() + self.client_latency_ns();
        let Some(c) = self.conns.get_mut(&conn).filter(|c| c.open) else {
            return;
        };
        c.open = false;
        let at = at.max(c.last_to_client + 1);
        self.deliver(Addr::Clients, at, Item::ConnDown { conn });
    }

    /// The client closed the connection: the server hears of it after what was sent.
    pub fn close_by_client(&mut self, conn: ConnId) {
        let at = self.now_ns() + self.client_latency_ns();
        let Some(c) = self.conns.get_mut(&conn).filter(|c| c.open) else {
            return;
        };
        c.open = false;
        let at = at.max(c.last_to_server + 1);
        let server = c.server;
        self.deliver(Addr::Server(server), at, Item::ClientGone { conn });
    }

    /// Whether a server may still process a connection's message.
    pub fn conn_open(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| c.open)
    }
}
