#!/usr/bin/env python3
"""Record a zksim history (docs/history.md, format version 2) from a real ZooKeeper 3.8
ensemble, so that the checker can be held to what Apache ZooKeeper actually does.

What it does
------------
1. Starts three ZooKeeper 3.8 servers (Debian's `zookeeper` package, `QuorumPeerMain`)
   on loopback, each with its own ports and data directory in a temporary directory and a
   short tickTime, and waits until every one serves as leader or follower.
2. Runs a few client sessions, one thread each, with the wire-protocol code of record.py
   (Python's standard library only). A session holds one TCP connection at a time and
   pipelines up to three requests. Each draws a seeded random mix: create (persistent,
   ephemeral, sequential), delete and setData with versions, exists/getData/getChildren
   with and without watches, multi, sync followed by a read, setACL, pings when idle. Now
   and then it drops its connection (sometimes with requests in flight, whose outcome is
   then unknown) and reconnects to another server with the same session id and password
   and its last seen zxid; there it re-registers its outstanding watches with SetWatches
   (opcode 101, xid -8, relative zxid = the last reply zxid above 0 it saw), as
   ZooKeeper's Java client does (ClientCnxn.SendThread.primeConnection, and
   ZKWatchManager for which watches a client holds). Each session ends with closeSession.
   Beside them, one thread drives a writer session on the leader and a reader session on
   a follower: each write is followed at once by a read of the same node on the follower,
   which often has not applied it yet (a stale read), sometimes after a sync. And now and
   then a follower is paused (SIGSTOP, then SIGCONT within 0.4 s: less than syncLimit and
   the session timeout, as a long GC pause), recorded as `fault` events `pause`/`resume`.
   Every client-side event is stamped and appended to the history under one lock, an
   `invoke` before its bytes are sent and a `complete` after its reply was read, so the
   history's order and times respect real time.
3. Waits until the three servers report the same last zxid (the `srvr` four-letter word),
   stops them, and reads each server's transaction log (version-2/log.*; jute records
   with their Adler-32 checksums verified, the TxnDigest that follows a txn skipped) to
   write the ground truth: one `txn` event per zxid, in zksim's `Txn` JSON form
   (core/src/txn.rs), and one `replica` event per server listing the zxids its log holds.
   The servers must agree on every txn, with one exception that ZooKeeper 3.8 really
   produces and that changes nothing applied: a server may log a failed multi after
   applying it, with the sub-txns before the failing one retyped to `error` over their
   original bytes (see `reconcile`); the recorder keeps the form the other servers logged
   and prints a note. The servers' roles (`srvr`) are recorded as `role` events; the
   recording fails if the leader changes.

Closing sessions
----------------
ZooKeeper 3.8 logs a closeSession txn as a `CloseSessionTxn` that lists the paths it
deletes, in its hash-set order (`zookeeper.closeSessionTxn.enabled`, on by default): that
list is used as is. Had the log held an empty closeSession (the option off), the paths
would be the session's ephemerals at that zxid, as zksim's own prep computes them. Either
way the recorder replays the ground truth (`Replay`; a failed multi applies nothing) and
checks the list against the session's ephemerals, loudly.

Notification zxids
------------------
ZooKeeper's notifications carry zxid -1 on the wire; zksim's `watch` events need the zxid
of the txn that fired them. The recorder infers it after the run from the ground truth and
the client's own events, per connection:
* A watch is registered on a server's table (data: exists, getData; child: getChildren)
  by a read's reply, at the reply's zxid (the state the read saw); exists registers on
  NONODE too, getData and getChildren only on OK. A notification consumes the watches its
  type fires (NodeCreated and NodeDataChanged the data table, NodeChildrenChanged the
  child table, NodeDeleted both), and its zxid is the first txn after the registration
  that fires that table on that path (DataTree: create fires NodeCreated on the path and
  NodeChildrenChanged on the parent; delete, also of a closing session's ephemeral, fires
  NodeDeleted on the path and NodeChildrenChanged on the parent; setData fires
  NodeDataChanged). That txn's event type must be the notification's, and every consumed
  table must agree on it.
* A notification that arrives between a SetWatches and its reply, and that
  `DataTree.setWatches` fires at once on the state of that reply's zxid (a data watch on
  a node now gone or changed since the relative zxid, an exist watch on a node that now
  exists, a child watch on a node gone or whose children changed), gets the SetWatches
  reply's zxid: the state the server decided on. The watches SetWatches registers instead
  count from that zxid.
When no txn fits, or the types disagree, the recorder says so on stderr and exits with
status 1 unless --allow-unexplained is given: that is a bug in this recorder or a real
finding about ZooKeeper, never something to paper over.

Usage
-----
    python3 tools/zk-reference/history.py --seed 1 --out h.jsonl [--check]

`--check` runs `zksim check` on the result (building it with cargo). See
checker/tests/fixtures/zk38-history/README.md for the committed fixtures.
"""

import argparse
import bisect
import collections
import json
import os
import random
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import record as wire  # noqa: E402  (the wire protocol: jute Reader/Writer, opcodes)

QUORUM_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
SERVERS = [1, 2, 3]
TICK_TIME_MS = 250
SESSION_TIMEOUT_MS = 5000

OP_CREATE_SESSION = -10
OP_DELETE_CONTAINER = 20
OP_SET_WATCHES = 101
XID_SET_WATCHES = -8
RETYPED = "retyped sub-txn"  # marks a logged sub-txn typed error over its original body
TXNLOG_MAGIC = 0x5A4B4C47  # "ZKLG"
END_OF_RECORD = 0x42       # 'B'

# KeeperException.Code wire values -> zksim's ErrorCode names (core/src/error.rs).
ERROR_CODES = {
    0: "Ok", -1: "SystemError", -2: "RuntimeInconsistency", -3: "DataInconsistency",
    -4: "ConnectionLoss", -5: "MarshallingError", -6: "Unimplemented",
    -7: "OperationTimeout", -8: "BadArguments", -12: "UnknownSession",
    -13: "NewConfigNoQuorum", -14: "ReconfigInProgress", -100: "ApiError", -101: "NoNode",
    -102: "NoAuth", -103: "BadVersion", -108: "NoChildrenForEphemerals", -110: "NodeExists",
    -111: "NotEmpty", -112: "SessionExpired", -113: "InvalidCallback", -114: "InvalidAcl",
    -115: "AuthFailed", -118: "SessionMoved", -119: "NotReadOnly",
    -120: "EphemeralOnLocalSession", -121: "NoWatcher", -122: "RequestTimeout",
    -123: "ReconfigDisabled", -124: "SessionClosedRequireSaslAuth", -125: "QuotaExceeded",
    -127: "ThrottledOp",
}

# zksim's CreateMode names, in ZooKeeper's CreateMode wire order.
CREATE_MODES = ["Persistent", "Ephemeral", "PersistentSequential", "EphemeralSequential",
                "Container", "PersistentWithTtl", "PersistentSequentialWithTtl"]
CONTAINER_OWNER = -(1 << 63)
TTL_EXTENDED_MASK = -(1 << 56)  # 0xff00_0000_0000_0000 as a signed long
OPEN_ACL = [{"perms": 31, "scheme": "world", "id": "anyone"}]
IP_IDENTITY = [{"scheme": "ip", "id": "127.0.0.1"}]


def die(msg):
    sys.exit(f"history.py: {msg}")


def warn(msg):
    print(f"history.py: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# The ensemble


class Ensemble:
    """Three ZooKeeper servers on loopback, in one temporary directory."""

    def __init__(self, keep=False):
        self.dir = tempfile.mkdtemp(prefix="zk-history-")
        self.keep = keep
        self.procs = {}
        self.logs = {}
        ports = self._distinct_ports(3 * len(SERVERS))
        self.client_port = {s: ports[3 * i] for i, s in enumerate(SERVERS)}
        self.peer_ports = {s: (ports[3 * i + 1], ports[3 * i + 2]) for i, s in enumerate(SERVERS)}

    @staticmethod
    def _distinct_ports(n):
        ports = set()
        while len(ports) < n:
            ports.add(wire.free_port())
        return sorted(ports)

    def data_dir(self, sid):
        return os.path.join(self.dir, f"server{sid}", "data")

    def _write_config(self, sid):
        data = self.data_dir(sid)
        os.makedirs(data, exist_ok=True)
        with open(os.path.join(data, "myid"), "w") as f:
            f.write(f"{sid}\n")
        lines = [f"tickTime={TICK_TIME_MS}", "initLimit=20", "syncLimit=10",
                 f"dataDir={data}", f"clientPort={self.client_port[sid]}",
                 "clientPortAddress=127.0.0.1", "admin.enableServer=false",
                 "maxClientCnxns=0", "4lw.commands.whitelist=srvr"]
        for s in SERVERS:
            quorum, election = self.peer_ports[s]
            lines.append(f"server.{s}=127.0.0.1:{quorum}:{election}")
        cfg = os.path.join(self.dir, f"server{sid}", "zoo.cfg")
        with open(cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        return cfg

    def start(self):
        for sid in SERVERS:
            cfg = self._write_config(sid)
            cmd = ["java", "-Xmx192m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                   "-Dzookeeper.extendedTypesEnabled=true",
                   "-Dzookeeper.admin.enableServer=false",
                   "-cp", wire.ZK_JAR, QUORUM_MAIN, cfg]
            self.logs[sid] = open(os.path.join(self.dir, f"server{sid}", "server.log"), "w")
            self.procs[sid] = subprocess.Popen(
                cmd, stdout=self.logs[sid], stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            for sid, p in self.procs.items():
                if p.poll() is not None:
                    die(f"server {sid} exited at start; see {self.dir}/server{sid}/server.log")
            modes = [self.srvr(s).get("Mode") for s in SERVERS]
            if all(m in ("leader", "follower") for m in modes):
                return
            time.sleep(0.2)
        die(f"the ensemble did not start serving within 90 s (logs in {self.dir})")

    def srvr(self, sid):
        """The `srvr` four-letter word's fields (Zxid, Mode, ...); {} if it does not answer."""
        try:
            with socket.create_connection(("127.0.0.1", self.client_port[sid]), timeout=2) as s:
                s.sendall(b"srvr")
                reply = b""
                while True:
                    c = s.recv(4096)
                    if not c:
                        break
                    reply += c
        except OSError:
            return {}
        fields = {}
        for line in reply.decode("utf-8", "replace").splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        return fields

    def wait_converged(self):
        """Wait until every server has applied the same last zxid, twice in a row."""
        deadline = time.monotonic() + 30
        previous = None
        while time.monotonic() < deadline:
            zxids = [self.srvr(s).get("Zxid") for s in SERVERS]
            if None not in zxids and len(set(zxids)) == 1 and zxids == previous:
                return int(zxids[0], 16)
            previous = zxids
            time.sleep(0.3)
        die(f"the servers did not converge on a last zxid: {previous}")

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for f in self.logs.values():
            f.close()
        self.procs = {}

    def roles(self):
        """(leader, epoch) as the servers report them through `srvr`."""
        info = {s: self.srvr(s) for s in SERVERS}
        leaders = [s for s, f in info.items() if f.get("Mode") == "leader"]
        if len(leaders) != 1 or any(f.get("Mode") not in ("leader", "follower")
                                    for f in info.values()):
            die(f"the servers' modes are {[f.get('Mode') for f in info.values()]}")
        return leaders[0], int(info[leaders[0]]["Zxid"], 16) >> 32

    def pause(self, sid, seconds):
        """Stop a server's process for a moment (as a long GC pause would) and resume it."""
        pid = self.procs[sid].pid
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.kill(pid, signal.SIGCONT)

    def remove(self):
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------
# The history being written


class Sink:
    """The client-side events, appended in the order they happen, with their times."""

    def __init__(self):
        self.lock = threading.Lock()
        self.t0 = time.monotonic_ns()
        self.events = []
        self.clients = 0

    def emit(self, event_type, /, **fields):
        with self.lock:
            t = (time.monotonic_ns() - self.t0) // 1000
            event = {"type": event_type, "t": t}
            event.update(fields)
            self.events.append(event)
            return event

    def new_client(self):
        with self.lock:
            self.clients += 1
            return self.clients - 1


# ---------------------------------------------------------------------------
# Requests in zksim's JSON form (core/src/request.rs) and their wire encoding


def data_json(b):
    return None if b is None else list(b)


def encode_create(c, in_multi):
    mode = CREATE_MODES.index(c["mode"])
    w = wire.Writer().string(c["path"]).buffer(None if c["data"] is None else bytes(c["data"]))
    w.acl(c["acl"]).int(mode)
    if c["ttl"] is not None:
        w.long(c["ttl"])
        return wire.OP_CREATE_TTL, w.bytes()
    if c["mode"] == "Container":
        return wire.OP_CREATE_CONTAINER, w.bytes()
    # Op.create inside a multi (the Java client's opcode); create2 on its own.
    return (wire.OP_CREATE if in_multi else wire.OP_CREATE2), w.bytes()


def encode_write(kind, v, in_multi):
    if kind == "Create":
        return encode_create(v, in_multi)
    w = wire.Writer().string(v["path"])
    if kind == "Delete":
        return wire.OP_DELETE, w.int(v["version"]).bytes()
    if kind == "SetData":
        data = None if v["data"] is None else bytes(v["data"])
        return wire.OP_SET_DATA, w.buffer(data).int(v["version"]).bytes()
    if kind == "Check":
        return wire.OP_CHECK, w.int(v["version"]).bytes()
    if kind == "SetAcl":
        return wire.OP_SET_ACL, w.acl(v["acl"]).int(v["version"]).bytes()
    raise ValueError(f"not a write: {kind}")


def encode(request):
    """(opcode, body) for a request in zksim's JSON form."""
    (kind, v), = request.items()
    if kind in ("Create", "Delete", "SetData", "SetAcl"):
        return encode_write(kind, v, in_multi=False)
    if kind in ("Exists", "GetData", "GetChildren"):
        opcode = {"Exists": wire.OP_EXISTS, "GetData": wire.OP_GET_DATA,
                  "GetChildren": wire.OP_GET_CHILDREN2}[kind]
        return opcode, wire.Writer().string(v["path"]).bool(v["watch"]).bytes()
    if kind == "Sync":
        return wire.OP_SYNC, wire.Writer().string(v["path"]).bytes()
    if kind == "Multi":
        w = wire.Writer()
        for sub in v:
            (sk, sv), = sub.items()
            opcode, body = encode_write(sk, sv, in_multi=True)
            w.int(opcode).bool(False).int(-1)
            w.b += body
        w.int(-1).bool(True).int(-1)
        return wire.OP_MULTI, w.bytes()
    if kind == "SetWatches":
        w = wire.Writer().long(v["relative_zxid"])
        for key in ("data", "exist", "child"):
            w.int(len(v[key]))
            for path in v[key]:
                w.string(path)
        return OP_SET_WATCHES, w.bytes()
    raise ValueError(f"unsupported request {kind}")


def read_stat(r):
    czxid, mzxid, ctime, mtime = r.long(), r.long(), r.long(), r.long()
    version, cversion, aversion = r.int(), r.int(), r.int()
    owner, length, num, pzxid = r.long(), r.int(), r.int(), r.long()
    return {"czxid": czxid, "mzxid": mzxid, "ctime": ctime, "mtime": mtime,
            "version": version, "cversion": cversion, "aversion": aversion,
            "ephemeral_owner": owner, "data_length": length, "num_children": num,
            "pzxid": pzxid}


def decode_multi(r):
    results = []
    while True:
        typ, done, _err = r.multi_header()
        if done:
            return results
        if typ == wire.OP_ERROR:
            results.append({"Error": ERROR_CODES[r.int()]})
        elif typ == wire.OP_CREATE:
            results.append({"Create": {"path": r.string(), "stat": None}})
        elif typ in (wire.OP_CREATE2, wire.OP_CREATE_CONTAINER, wire.OP_CREATE_TTL):
            results.append({"Create": {"path": r.string(), "stat": read_stat(r)}})
        elif typ == wire.OP_SET_DATA:
            results.append({"SetData": {"stat": read_stat(r)}})
        elif typ == wire.OP_DELETE:
            results.append("Delete")
        elif typ == wire.OP_CHECK:
            results.append("Check")
        else:
            raise ValueError(f"unexpected multi result type {typ}")


def decode(request, err, r):
    """The reply body of a request, in zksim's `Response` JSON form."""
    (kind, _), = request.items()
    if kind == "Multi" and r.p < len(r.d):
        return {"Multi": decode_multi(r)}
    if err != 0:
        return "Empty"
    if kind == "Create":
        return {"Create": {"path": r.string(), "stat": read_stat(r)}}
    if kind in ("Exists", "SetData", "SetAcl"):
        return {"Stat": read_stat(r)}
    if kind == "GetData":
        data = r.buffer()
        return {"GetData": {"data": data_json(data), "stat": read_stat(r)}}
    if kind == "GetChildren":
        # Children exactly as the server sent them: a HashSet's order, not sorted.
        children = r.strings()
        return {"GetChildren": {"children": children, "stat": read_stat(r)}}
    if kind == "Sync":
        return {"Sync": {"path": r.string()}}
    return "Empty"


# ---------------------------------------------------------------------------
# One client session


class Refused(Exception):
    """The server closed the connection: it refused the session (or went away)."""


class Client:
    """One ZooKeeper session, as ZooKeeper's Java client runs it: one connection at a
    time, requests pipelined, watches kept across reconnects and re-registered."""

    def __init__(self, sink, ensemble, rng, known=None):
        self.sink = sink
        self.known = known
        self.ensemble = ensemble
        self.rng = rng
        self.id = sink.new_client()
        self.session = 0
        self.passwd = b"\x00" * 16
        self.xid = 0
        self.last_zxid = 0
        # ZKWatchManager's tables: the watches the client holds, by path.
        self.watches = {"data": set(), "exist": set(), "child": set()}
        self.pending = collections.deque()  # (xid, request) in send order
        self.sock = None
        self.server = None
        self.ping_out = False

    # -- the connection --

    def connect(self, prefer=None):
        """Connect to a server other than the current one (any, at first), as the Java
        client does after a disconnect, `prefer` first if given; a server behind the
        session's zxid refuses."""
        others = [s for s in SERVERS if s != self.server]
        self.rng.shuffle(others)
        if prefer in others:
            others.remove(prefer)
            others.insert(0, prefer)
        for _ in range(20):
            for sid in others:
                try:
                    self._handshake(sid)
                except (Refused, OSError):
                    self._close_socket()
                    continue
                self._connected(sid)
                return
            time.sleep(0.2)
        die(f"client {self.id}: no server accepted session {self.session:#x}")

    def _handshake(self, sid):
        self.sock = socket.create_connection(("127.0.0.1", self.ensemble.client_port[sid]),
                                             timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        w = wire.Writer().int(0).long(self.last_zxid).int(SESSION_TIMEOUT_MS)
        w.long(self.session).buffer(self.passwd).bool(False)
        self._send(w.bytes())
        r = wire.Reader(self._frame())
        r.int()  # protocolVersion
        timeout = r.int()
        session = r.long()
        passwd = r.buffer()
        if timeout <= 0:
            die(f"client {self.id}: session {self.session:#x} expired on server {sid}")
        if self.session not in (0, session):
            die(f"client {self.id}: reconnect got session {session:#x}, not {self.session:#x}")
        self.session, self.passwd, self.timeout = session, passwd, timeout

    def _connected(self, sid):
        self.server = sid
        self.sink.emit("session", client=self.id, session=self.session,
                       event={"kind": "connected", "server": sid, "timeout_ms": self.timeout})
        self.sink.emit("auth", client=self.id, ids=IP_IDENTITY)
        if any(self.watches.values()):
            # ClientCnxn.primeConnection: outstanding watches, relative to lastZxid.
            request = {"SetWatches": {
                "relative_zxid": self.last_zxid,
                "data": sorted(self.watches["data"]),
                "exist": sorted(self.watches["exist"]),
                "child": sorted(self.watches["child"]),
                "persistent": [], "persistent_recursive": []}}
            self._invoke(XID_SET_WATCHES, request)
            self.drain()

    def drop(self):
        """Break the connection: requests in flight end with an unknown outcome."""
        self._close_socket()
        self.sink.emit("session", client=self.id, session=self.session,
                       event={"kind": "disconnected"})
        while self.pending:
            xid, _ = self.pending.popleft()
            self.sink.emit("complete", client=self.id, xid=xid,
                           outcome={"unknown": {"reason": "CONNECTIONLOSS"}})
        self.ping_out = False

    def _close_socket(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _send(self, payload):
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def _exact(self, n):
        chunks = []
        while n > 0:
            c = self.sock.recv(min(n, 1 << 20))
            if not c:
                raise Refused("the server closed the connection")
            chunks.append(c)
            n -= len(c)
        return b"".join(chunks)

    def _frame(self):
        (n,) = struct.unpack(">i", self._exact(4))
        return self._exact(n)

    # -- requests --

    def _invoke(self, xid, request):
        self.sink.emit("invoke", client=self.id, session=self.session, xid=xid, op=request)
        opcode, body = encode(request)
        self.pending.append((xid, request))
        self._send(wire.Writer().int(xid).int(opcode).bytes() + body)

    def send(self, request):
        self.xid += 1
        self._invoke(self.xid, request)

    def ping(self):
        self.ping_out = True
        self._send(wire.Writer().int(wire.XID_PING).int(wire.OP_PING).bytes())
        while self.ping_out:
            self.read_one()

    def drain(self):
        while self.pending:
            self.read_one()

    def close(self):
        """closeSession: its reply carries the closeSession txn's zxid."""
        self.xid += 1
        self.sink.emit("close", client=self.id, session=self.session, xid=self.xid)
        self.pending.append((self.xid, {"Close": None}))
        self._send(wire.Writer().int(self.xid).int(wire.OP_CLOSE_SESSION).bytes())
        self.drain()
        self._close_socket()
        self.sink.emit("session", client=self.id, session=self.session,
                       event={"kind": "closed"})

    def read_one(self):
        r = wire.Reader(self._frame())
        xid, zxid, err = r.int(), r.long(), r.int()
        if xid == wire.XID_NOTIFICATION:
            self._notified(r)
        elif xid == wire.XID_PING:
            self.ping_out = False
            self.sink.emit("ping", client=self.id, session=self.session)
        else:
            self._replied(xid, zxid, err, r)

    def _notified(self, r):
        etype, _state, path = r.int(), r.int(), r.string()
        event_type = wire.EVENT_TYPES[etype]
        # ZKWatchManager.materialize: which of the client's watches this event uses up.
        tables = {"NodeCreated": ("data", "exist"), "NodeDataChanged": ("data", "exist"),
                  "NodeChildrenChanged": ("child",),
                  "NodeDeleted": ("data", "exist", "child")}[event_type]
        for table in tables:
            self.watches[table].discard(path)
        # The zxid is inferred from the ground truth after the run (infer_watch_zxids).
        self.sink.emit("watch", client=self.id, session=self.session,
                       event_type=event_type, path=path, zxid=None)

    def _replied(self, xid, zxid, err, r):
        if not self.pending or self.pending[0][0] != xid:
            die(f"client {self.id}: reply xid {xid}, expected {list(self.pending)[:1]}")
        _, request = self.pending.popleft()
        if zxid > 0:
            self.last_zxid = zxid
        if "Close" in request:
            response = "Empty"
        else:
            response = decode(request, err, r)
            self._register(request, err)
            if self.known is not None:
                self.known.learn(request, response)
        self.sink.emit("complete", client=self.id, xid=xid, outcome={"reply": {
            "err": ERROR_CODES[err], "zxid": zxid, "response": response}})
        return response

    def _register(self, request, err):
        """ZKWatchManager's registrations: exists on OK (data) or NONODE (exist),
        getData and getChildren on OK."""
        (kind, v), = request.items()
        if kind not in ("Exists", "GetData", "GetChildren") or not v["watch"]:
            return
        if kind == "Exists" and err in (0, -101):
            self.watches["data" if err == 0 else "exist"].add(v["path"])
        elif err == 0:
            self.watches["child" if kind == "GetChildren" else "data"].add(v["path"])


# ---------------------------------------------------------------------------
# The workload

FIXED_PATHS = ["/app/a", "/app/b", "/app/c", "/app/a/x", "/app/a/y", "/app/b/x", "/app/c/z"]
SEQUENTIAL_PREFIXES = ["/app/q/n-", "/app/q/n-", "/app/a/s-"]
PARENTS = ["/app", "/app/a", "/app/b", "/app/q", "/app/q"]


class Knowledge:
    """What the clients learned from their replies: sequential names and versions, so
    that deletes and versioned writes often hit."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sequential = set()
        self.versions = {}

    def learn(self, request, response):
        (kind, v), = request.items()
        if not isinstance(response, dict):
            return
        with self.lock:
            if "Create" in response and "-" in response["Create"]["path"].rsplit("/", 1)[1]:
                self.sequential.add(response["Create"]["path"])
            if kind == "GetChildren" and "GetChildren" in response:
                for c in response["GetChildren"]["children"]:
                    if "-" in c:
                        self.sequential.add(v["path"].rstrip("/") + "/" + c)
            stat = (response.get("Stat") or response.get("GetData", {}).get("stat"))
            if stat is not None and isinstance(v, dict) and "path" in v:
                self.versions[v["path"]] = stat["version"]

    def some_sequential(self, rng):
        with self.lock:
            names = sorted(self.sequential)
        return rng.choice(names) if names else None

    def version(self, rng, path):
        r = rng.random()
        if r < 0.45:
            return -1
        if r < 0.85:
            with self.lock:
                return self.versions.get(path, 0)
        return rng.randrange(0, 4)


def random_data(rng):
    r = rng.random()
    if r < 0.04:
        return None
    if r < 0.15:
        return []
    n = rng.randrange(1, 9)
    return list(rng.choice(b"abcdefghijklmnop") for _ in range(n))


class Workload:
    def __init__(self, rng, known):
        self.rng = rng
        self.known = known

    def any_path(self):
        if self.rng.random() < 0.25:
            seq = self.known.some_sequential(self.rng)
            if seq is not None:
                return seq
        return self.rng.choice(FIXED_PATHS + ["/app", "/app/q"])

    def create(self):
        rng = self.rng
        if rng.random() < 0.45:
            path = rng.choice(SEQUENTIAL_PREFIXES)
            mode = "PersistentSequential" if rng.random() < 0.6 else "EphemeralSequential"
        else:
            path = rng.choice(FIXED_PATHS)
            mode = "Persistent" if rng.random() < 0.6 else "Ephemeral"
        return {"Create": {"path": path, "data": random_data(rng), "acl": OPEN_ACL,
                           "mode": mode, "ttl": None}}

    def delete(self):
        path = self.any_path()
        return {"Delete": {"path": path, "version": self.known.version(self.rng, path)}}

    def set_data(self):
        path = self.any_path()
        return {"SetData": {"path": path, "data": random_data(self.rng),
                            "version": self.known.version(self.rng, path)}}

    def check(self):
        path = self.any_path()
        return {"Check": {"path": path, "version": self.known.version(self.rng, path)}}

    def multi(self):
        makers = [self.create, self.delete, self.set_data, self.check]
        return {"Multi": [self.rng.choice(makers)() for _ in range(self.rng.randrange(1, 4))]}

    def read(self):
        rng = self.rng
        watch = rng.random() < 0.6
        r = rng.random()
        if r < 0.35:
            return {"GetChildren": {"path": rng.choice(PARENTS), "watch": watch}}
        kind = "Exists" if r < 0.65 else "GetData"
        return {kind: {"path": self.any_path(), "watch": watch}}

    def batch(self):
        """One to three requests sent back to back."""
        rng = self.rng
        r = rng.random()
        if r < 0.08:
            path = rng.choice(PARENTS + FIXED_PATHS)
            read = rng.choice(["GetData", "GetChildren"]) if path in PARENTS else "GetData"
            return [{"Sync": {"path": path}}, {read: {"path": path, "watch": rng.random() < 0.5}}]
        out = []
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            r = rng.random()
            if r < 0.45:
                out.append(self.read())
            elif r < 0.65:
                out.append(self.create())
            elif r < 0.75:
                out.append(self.delete())
            elif r < 0.87:
                out.append(self.set_data())
            elif r < 0.97:
                out.append(self.multi())
            else:
                path = self.any_path()
                out.append({"SetAcl": {"path": path, "acl": OPEN_ACL, "version": -1}})
        return out


def away(client):
    """Drop the connection and come back a little later on another server; meanwhile the
    other sessions change the tree, so the SetWatches on return may fire at once."""
    client.drop()
    time.sleep(client.rng.random() * 0.3)
    client.connect()


def run_session(client, workload, steps, drop_rate):
    rng = client.rng
    client.connect()
    for _ in range(steps):
        time.sleep(rng.random() * 0.015)
        r = rng.random()
        if r < drop_rate:
            away(client)
            continue
        if r < drop_rate + 0.06:
            time.sleep(rng.random() * 0.05)
            client.ping()
            continue
        for request in workload.batch():
            client.send(request)
        if rng.random() < drop_rate:
            # Requests in flight: their outcome is unknown, the ground truth settles it.
            away(client)
            continue
        client.drain()
    client.drain()
    client.close()


def session_thread(sink, ensemble, known, seed, index, rounds, steps, drop_rate, errors,
                   ready):
    try:
        ready.wait()
        for round_ in range(rounds):
            rng = random.Random(f"{seed}/{index}/{round_}")
            client = Client(sink, ensemble, rng, known)
            run_session(client, Workload(rng, known), steps, drop_rate)
    except BaseException as e:  # noqa: BLE001 - reported by the main thread
        errors.append((index, e))
        raise


def pair_thread(sink, ensemble, known, seed, leader, steps, errors, ready):
    """A writer on the leader and a reader on a follower, driven by one thread: each write
    is followed at once by a read of the same node on the follower, which has often not
    applied it yet (a stale read, legal in ZooKeeper); now and then the reader syncs
    first, and must then see it (design.md's stale-read-then-sync workload)."""
    try:
        ready.wait()
        rng = random.Random(f"{seed}/pair")
        writer = Client(sink, ensemble, rng, known)
        writer.connect(prefer=leader)
        reader = Client(sink, ensemble, rng, known)
        reader.connect(prefer=rng.choice([s for s in SERVERS if s != leader]))
        for _ in range(steps):
            time.sleep(rng.random() * 0.02)
            if rng.random() < 0.4:
                write = {"Create": {"path": "/app/q/n-", "data": random_data(rng),
                                    "acl": OPEN_ACL, "mode": "PersistentSequential",
                                    "ttl": None}}
                read = {"GetChildren": {"path": "/app/q", "watch": rng.random() < 0.3}}
            else:
                path = rng.choice(["/app", "/app/a", "/app/b", "/app/c"])
                write = {"SetData": {"path": path, "data": random_data(rng), "version": -1}}
                kind = rng.choice(["GetData", "Exists"])
                read = {kind: {"path": path, "watch": rng.random() < 0.3}}
            writer.send(write)
            writer.drain()
            if rng.random() < 0.2:
                reader.send({"Sync": {"path": next(iter(read.values()))["path"]}})
            reader.send(read)
            reader.drain()
        writer.close()
        reader.close()
    except BaseException as e:  # noqa: BLE001 - reported by the main thread
        errors.append(("pair", e))
        raise


def setup_tree(sink, ensemble, known, seed):
    """The parents every session works under, created by a short session of its own."""
    client = Client(sink, ensemble, random.Random(f"{seed}/setup"), known)
    client.connect()
    for path in ("/app", "/app/q"):
        client.send({"Create": {"path": path, "data": [], "acl": OPEN_ACL,
                                "mode": "Persistent", "ttl": None}})
        client.drain()
    client.close()


def pauser(sink, ensemble, leader, seed, pause_ms, done, errors):
    """Now and then pause a follower for up to `pause_ms`, well within syncLimit and the
    session timeout: the ensemble goes on without it, and once it resumes it may answer
    reads from its client connections before it has applied the commits it missed, so
    its clients read a state older than writes other clients saw acknowledged."""
    rng = random.Random(f"{seed}/pauser")
    followers = [s for s in SERVERS if s != leader]
    try:
        while not done.wait(0.1 + rng.random() * 0.3):
            sid = rng.choice(followers)
            sink.emit("fault", kind="pause", detail=f"S{sid}")
            ensemble.pause(sid, (0.3 + 0.7 * rng.random()) * pause_ms / 1000)
            sink.emit("fault", kind="resume", detail=f"S{sid}")
    except BaseException as e:  # noqa: BLE001 - reported by the main thread
        errors.append(("pauser", e))
        raise


def run_workload(ensemble, args):
    sink = Sink()
    leader, epoch = ensemble.roles()
    for sid in SERVERS:
        sink.emit("role", server=sid, state="Leading" if sid == leader else "Following",
                  epoch=epoch, leader=leader)
    known = Knowledge()
    setup_tree(sink, ensemble, known, args.seed)
    ready = threading.Event()
    errors = []
    threads = [threading.Thread(target=session_thread, daemon=True,
                                args=(sink, ensemble, known, args.seed, i, args.rounds,
                                      args.steps, args.drop_rate, errors, ready))
               for i in range(args.sessions)]
    if args.pair_steps > 0:
        threads.append(threading.Thread(
            target=pair_thread, daemon=True,
            args=(sink, ensemble, known, args.seed, leader, args.pair_steps, errors, ready)))
    done = threading.Event()
    pauses = threading.Thread(target=pauser, daemon=True,
                              args=(sink, ensemble, leader, args.seed, args.pause_ms, done,
                                    errors))
    for t in threads:
        t.start()
    ready.set()
    if args.pause_ms > 0:
        pauses.start()
    for t in threads:
        t.join()
    done.set()
    if args.pause_ms > 0:
        pauses.join()
    if errors:
        index, e = errors[0]
        die(f"thread {index} failed: {e!r}")
    if ensemble.roles() != (leader, epoch):
        die(f"the leadership changed during the run (was {leader} in epoch {epoch})")
    return sink.events, leader


# ---------------------------------------------------------------------------
# The ground truth: each server's transaction log


def parse_txn(typ, r, session):
    """One txn record of type `typ` in zksim's `Txn` JSON form (core/src/txn.rs)."""
    if typ in (wire.OP_CREATE, wire.OP_CREATE2, wire.OP_CREATE_CONTAINER, wire.OP_CREATE_TTL):
        path, data, acl = r.string(), data_json(r.buffer()), r.acl()
        if typ in (wire.OP_CREATE, wire.OP_CREATE2):
            ephemeral, parent_cversion = r.bool(), r.int()
            owner = session if ephemeral else 0
            kind = "Create" if typ == wire.OP_CREATE else "Create2"
        elif typ == wire.OP_CREATE_CONTAINER:
            parent_cversion, owner, kind = r.int(), CONTAINER_OWNER, "Container"
        else:
            parent_cversion = r.int()
            owner, kind = TTL_EXTENDED_MASK | r.long(), "Ttl"
        return {"Create": {"path": path, "data": data, "acl": acl, "ephemeral_owner": owner,
                           "parent_cversion": parent_cversion, "kind": kind}}
    if typ in (wire.OP_DELETE, OP_DELETE_CONTAINER):
        return {"Delete" if typ == wire.OP_DELETE else "DeleteContainer": {"path": r.string()}}
    if typ == wire.OP_SET_DATA:
        path, data, version = r.string(), data_json(r.buffer()), r.int()
        return {"SetData": {"path": path, "data": data, "version": version}}
    if typ == wire.OP_SET_ACL:
        path, acl, version = r.string(), r.acl(), r.int()
        return {"SetAcl": {"path": path, "acl": acl, "version": version}}
    if typ == wire.OP_CHECK:
        path, version = r.string(), r.int()
        return {"Check": {"path": path, "version": version}}
    if typ == wire.OP_ERROR:
        return {"Error": {"err": ERROR_CODES[r.int()]}}
    if typ == wire.OP_MULTI:
        subs = []
        for _ in range(r.int()):
            sub_type, body = r.int(), r.buffer()
            if sub_type == wire.OP_ERROR and len(body) != 4:
                # Typed error but not an ErrorTxn: a failed multi's sub-txn as
                # DataTree.processTxn retyped it in place (see ground_truth).
                subs.append({RETYPED: body.hex()})
            else:
                subs.append(parse_txn(sub_type, wire.Reader(body), session))
        return {"Multi": subs}
    if typ == OP_CREATE_SESSION:
        return {"CreateSession": {"timeout_ms": r.int()}}
    if typ == wire.OP_CLOSE_SESSION:
        # CloseSessionTxn (zookeeper.closeSessionTxn.enabled, on by default in 3.8).
        paths = r.strings() if r.p < len(r.d) else None
        return {"CloseSession": {"paths": paths}}
    die(f"txn type {typ} in the log is not one this recorder knows")


def read_txn_log(path):
    """FileTxnLog: a header (magic, version, dbid), then per txn its Adler-32 checksum, its
    length and bytes, and an end-of-record byte; preallocated zeros end the file."""
    with open(path, "rb") as f:
        data = f.read()
    magic, version, _dbid = struct.unpack_from(">iiq", data, 0)
    if magic != TXNLOG_MAGIC or version != 2:
        die(f"{path}: not a version 2 txn log")
    at, out = 16, []
    while at + 12 <= len(data):
        crc, n = struct.unpack_from(">qi", data, at)
        if n <= 0:
            break
        entry = data[at + 12:at + 12 + n]
        if len(entry) < n or at + 12 + n >= len(data):
            die(f"{path}: torn record at offset {at}")
        if zlib.adler32(entry) != crc or data[at + 12 + n] != END_OF_RECORD:
            die(f"{path}: bad checksum or end of record at offset {at}")
        at += 13 + n
        r = wire.Reader(entry)
        session, cxid, zxid, time_ms, typ = r.long(), r.int(), r.long(), r.long(), r.int()
        # What follows the txn is a TxnDigest (the tree's digest), not part of the txn.
        out.append({"type": "txn", "zxid": zxid, "session": session, "cxid": cxid,
                    "time": time_ms, "txn": parse_txn(typ, r, session)})
    return out


def server_log(ensemble, sid):
    """A server's logged txns in zxid order, from all its log files."""
    logs = os.path.join(ensemble.data_dir(sid), "version-2")
    names = sorted((n for n in os.listdir(logs) if n.startswith("log.")),
                   key=lambda n: int(n[4:], 16))
    txns = {}
    for name in names:
        for t in read_txn_log(os.path.join(logs, name)):
            if txns.setdefault(t["zxid"], t) != t:
                die(f"server {sid} logged two different txns at zxid {t['zxid']:#x}")
    return [txns[z] for z in sorted(txns)]


def is_retyped(t):
    return "Multi" in t["txn"] and any(RETYPED in sub for sub in t["txn"]["Multi"])


def retyped_matches(t, original):
    """Whether `t` is `original` with some sub-txns retyped, and nothing else changed."""
    (kind, subs), = t["txn"].items()
    if "Multi" not in original["txn"] or len(subs) != len(original["txn"]["Multi"]):
        return False
    same = {k: v for k, v in t.items() if k != "txn"} == \
        {k: v for k, v in original.items() if k != "txn"}
    return same and all(RETYPED in sub or sub == orig
                        for sub, orig in zip(subs, original["txn"]["Multi"]))


def reconcile(versions, leader):
    """The txn the servers logged at one zxid, from {server: txn}; and a note when a log
    holds a failed multi with sub-txns retyped to `error` over their original bodies.

    DataTree.processTxn applies a failed multi by setting each sub-txn's type to error in
    place (`subtxn.setType(OpCode.error)`), without touching its bytes, on the same request
    object that the server's SyncRequestProcessor appends to its log. A server whose ACK
    the quorum does not need (the leader or a follower) may receive the COMMIT, and apply
    the txn, before it has appended the proposal; its log then holds the retyped sub-txns.
    Applying either form changes nothing (the multi failed), so the servers agree on what
    they applied; the ground truth is the form the other servers logged, the one
    PrepRequestProcessor made."""
    plain = {sid: t for sid, t in versions.items() if not is_retyped(t)}
    if not plain:
        die(f"every log retyped the multi at zxid {next(iter(versions.values()))['zxid']:#x}")
    first = next(iter(plain.values()))
    if any(t != first for t in plain.values()):
        die(f"servers disagree on the txn at zxid {first['zxid']:#x}")
    notes = []
    for sid, t in versions.items():
        if sid in plain:
            continue
        if not retyped_matches(t, first):
            die(f"server {sid}'s txn at zxid {first['zxid']:#x} differs from the others'")
        role = "the leader" if sid == leader else "a follower"
        positions = [i for i, sub in enumerate(t["txn"]["Multi"]) if RETYPED in sub]
        notes.append(f"server {sid} ({role}) logged the failed multi at zxid "
                     f"{first['zxid']:#x} with sub-txn(s) {positions} typed error over their "
                     "original txn (applied before it was logged)")
    return first, notes


def ground_truth(ensemble, leader):
    """The union of the servers' logs (they must agree), what each one applied, and notes
    on logs that hold a txn in the form it was applied (see reconcile)."""
    versions, logs = collections.defaultdict(dict), {}
    for sid in SERVERS:
        logs[sid] = server_log(ensemble, sid)
        for t in logs[sid]:
            versions[t["zxid"]][sid] = t
    zxids = sorted(versions)
    truth, notes = [], []
    for z in zxids:
        t, n = reconcile(versions[z], leader)
        truth.append(t)
        notes.extend(n)
    replicas = []
    for sid in SERVERS:
        own = [t["zxid"] for t in logs[sid]]
        start = bisect.bisect_left(zxids, own[0]) if own else len(zxids)
        if own != zxids[start:]:
            warn(f"server {sid} logged {len(own)} txns that are not a suffix of the others'")
        # A log that starts later than the others' began from a snapshot at the txn before.
        base = zxids[start - 1] if start > 0 else 0
        replicas.append({"type": "replica", "server": sid,
                         "segments": [{"base": base, "zxids": own}]})
    return truth, replicas, notes


# ---------------------------------------------------------------------------
# Replaying the ground truth: node states over time, and the watch triggers of each txn


def parent_of(path):
    i = path.rfind("/")
    return "/" if i <= 0 else path[:i]


def is_session_owner(owner):
    top = 0xFF00000000000000
    return owner != 0 and owner != CONTAINER_OWNER and (owner & top) != top


class Replay:
    """Just enough of DataTree to follow existence, mzxid and pzxid per path, the
    sessions' ephemerals, and which watch table each txn fires on which path."""

    def __init__(self):
        self.nodes = {}
        self.changes = collections.defaultdict(list)   # path -> [(zxid, exists, mzxid, pzxid)]
        self.triggers = collections.defaultdict(list)  # (table, path) -> [(zxid, seq, event)]
        self.seq = 0
        self.problems = []
        for path in ("/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"):
            self.nodes[path] = {"mzxid": 0, "pzxid": 0, "owner": 0}
            self._changed(0, path)

    def _changed(self, zxid, path):
        node = self.nodes.get(path)
        state = (zxid, False, 0, 0) if node is None else (zxid, True, node["mzxid"], node["pzxid"])
        self.changes[path].append(state)

    def _fire(self, zxid, table, path, event):
        self.seq += 1
        self.triggers[(table, path)].append((zxid, self.seq, event))

    def apply(self, t):
        self._apply(t["zxid"], t["session"], t["txn"])

    def _apply(self, zxid, session, txn):
        (kind, v), = txn.items()
        if kind == "Multi":
            # A multi is all or nothing: the log keeps the sub-txns prepped before the
            # failing one, and DataTree.processTxn applies none of them.
            if not any("Error" in sub for sub in v):
                for sub in v:
                    self._apply(zxid, session, sub)
        elif kind == "Create":
            self._create(zxid, v["path"], v["ephemeral_owner"])
        elif kind in ("Delete", "DeleteContainer"):
            self._delete(zxid, v["path"])
        elif kind == "SetData":
            self.nodes[v["path"]]["mzxid"] = zxid
            self._changed(zxid, v["path"])
            self._fire(zxid, "data", v["path"], "NodeDataChanged")
        elif kind == "CloseSession":
            self._close_session(zxid, session, v)

    def _create(self, zxid, path, owner):
        self.nodes[path] = {"mzxid": zxid, "pzxid": zxid, "owner": owner}
        parent = parent_of(path)
        self.nodes[parent]["pzxid"] = zxid
        self._changed(zxid, path)
        self._changed(zxid, parent)
        self._fire(zxid, "data", path, "NodeCreated")
        self._fire(zxid, "child", parent, "NodeChildrenChanged")

    def _delete(self, zxid, path):
        del self.nodes[path]
        parent = parent_of(path)
        self.nodes[parent]["pzxid"] = max(zxid, self.nodes[parent]["pzxid"])
        self._changed(zxid, path)
        self._changed(zxid, parent)
        # DataTree.deleteNode: data and child watches on the node, then the parent's.
        self._fire(zxid, "data", path, "NodeDeleted")
        self._fire(zxid, "child", path, "NodeDeleted")
        self._fire(zxid, "child", parent, "NodeChildrenChanged")

    def ephemerals(self, session):
        return sorted(p for p, n in self.nodes.items() if n["owner"] == session
                      and is_session_owner(n["owner"]))

    def _close_session(self, zxid, session, v):
        own = self.ephemerals(session)
        if v["paths"] is None:
            # No CloseSessionTxn body: the session's ephemerals, as zksim's prep lists them.
            v["paths"] = own
        elif sorted(v["paths"]) != own:
            self.problems.append(
                f"closeSession of {session:#x} at zxid {zxid:#x} lists {sorted(v['paths'])}, "
                f"but the session's ephemerals are {own}")
        for path in v["paths"]:
            if path in self.nodes:
                self._delete(zxid, path)

    def state_at(self, path, zxid):
        """(exists, mzxid, pzxid) of `path` after every txn up to `zxid`."""
        states = self.changes.get(path, [])
        i = bisect.bisect_right(states, (zxid, True, float("inf"), float("inf")))
        if i == 0:
            return False, 0, 0
        return states[i - 1][1:]

    def first_trigger(self, table, path, after):
        """The first (zxid, seq, event) firing `table` on `path` after zxid `after`."""
        fired = self.triggers.get((table, path), [])
        i = bisect.bisect_right(fired, (after, float("inf"), ""))
        return fired[i] if i < len(fired) else None


# ---------------------------------------------------------------------------
# Inferring the zxid of each notification (see the module docstring)

FIRES = {"NodeCreated": ("data",), "NodeDataChanged": ("data",),
         "NodeChildrenChanged": ("child",), "NodeDeleted": ("data", "child")}


def explain(notice, regs, replay, problems):
    """An ordinary notification: the first txn after its watch's registration."""
    event, path = notice["event_type"], notice["path"]
    used = [(table, regs.pop((table, path))) for table in FIRES[event] if (table, path) in regs]
    if not used:
        problems.append(f"client {notice['client']} heard {event} on {path} at t={notice['t']} "
                        "with no watch registered on that connection")
        return
    fits = []
    for table, registered in used:
        trigger = replay.first_trigger(table, path, registered)
        if trigger is None or trigger[2] != event:
            problems.append(
                f"client {notice['client']} heard {event} on {path} at t={notice['t']}, but "
                f"the first txn after its {table} watch (registered at {registered:#x}) that "
                f"fires it is {trigger and (hex(trigger[0]), trigger[2])}")
        else:
            fits.append(trigger[0])
    if len(set(fits)) > 1:
        problems.append(f"client {notice['client']}'s {event} on {path} at t={notice['t']}: "
                        f"its watches point at different txns {sorted(map(hex, set(fits)))}")
    if fits:
        notice["zxid"] = min(fits)


def settle_set_watches(window, state_zxid, regs, replay, problems):
    """DataTree.setWatches on the state at `state_zxid`: fire at once, or register."""
    sw = window["request"]
    relative = sw["relative_zxid"]
    fired = []
    for path in sw["data"]:
        exists, mzxid, _ = replay.state_at(path, state_zxid)
        if not exists:
            fired.append(("NodeDeleted", path))
        elif mzxid > relative:
            fired.append(("NodeDataChanged", path))
        else:
            regs.setdefault(("data", path), state_zxid)
    for path in sw["exist"]:
        if replay.state_at(path, state_zxid)[0]:
            fired.append(("NodeCreated", path))
        else:
            regs.setdefault(("data", path), state_zxid)
    for path in sw["child"]:
        exists, _, pzxid = replay.state_at(path, state_zxid)
        if not exists:
            fired.append(("NodeDeleted", path))
        elif pzxid > relative:
            fired.append(("NodeChildrenChanged", path))
        else:
            regs.setdefault(("child", path), state_zxid)
    heard = 0
    for notice in window["notices"]:
        key = (notice["event_type"], notice["path"])
        if key in fired:
            fired.remove(key)
            notice["zxid"] = state_zxid
            heard += 1
        else:
            explain(notice, regs, replay, problems)
    for event, path in fired:
        problems.append(f"a SetWatches answered at {state_zxid:#x} should have fired {event} "
                        f"on {path} at once, and its client heard nothing")
    return heard


def infer_client(events, replay, problems):
    """Fill in the zxid of each of one client's notifications; returns how many a
    SetWatches fired at once."""
    fired_at_once = 0
    regs = {}        # (table, path) -> zxid the current connection's watch counts from
    requests = {}    # xid -> request, for the requests in flight
    window = None    # a SetWatches awaiting its reply, and the notifications meanwhile
    for e in events:
        kind = e["type"]
        if kind == "session" and e["event"]["kind"] == "connected":
            regs = {}
        elif kind == "invoke":
            requests[e["xid"]] = e["op"]
            if "SetWatches" in e["op"]:
                window = {"request": e["op"]["SetWatches"], "notices": []}
        elif kind == "watch":
            if window is not None:
                window["notices"].append(e)
            else:
                explain(e, regs, replay, problems)
        elif kind == "complete":
            request = requests.pop(e["xid"], None)
            reply = e["outcome"].get("reply")
            if request is not None and "SetWatches" in request:
                if reply is None:
                    problems.append(f"client {e['client']}: a SetWatches without a reply")
                else:
                    fired_at_once += settle_set_watches(window, reply["zxid"], regs, replay,
                                                        problems)
                window = None
            elif request is not None and reply is not None:
                register(request, reply, regs)
    return fired_at_once


def register(request, reply, regs):
    """The server's watch tables after a read's reply (DataTree.statNode, getData,
    getChildren): exists registers on OK and NONODE, the others on OK only."""
    (kind, v), = request.items()
    if kind not in ("Exists", "GetData", "GetChildren") or not v["watch"]:
        return
    ok = reply["err"] == "Ok" or (kind == "Exists" and reply["err"] == "NoNode")
    if ok:
        table = "child" if kind == "GetChildren" else "data"
        regs.setdefault((table, v["path"]), reply["zxid"])


def infer_watch_zxids(events, replay):
    """(problems, how many notifications a SetWatches fired at once)."""
    problems = []
    fired_at_once = 0
    by_client = collections.defaultdict(list)
    for e in events:
        if "client" in e:
            by_client[e["client"]].append(e)
    for client in sorted(by_client):
        fired_at_once += infer_client(by_client[client], replay, problems)
    for e in events:
        if e["type"] == "watch" and e["zxid"] is None:
            e["zxid"] = -1
    return problems, fired_at_once


# ---------------------------------------------------------------------------
# Putting it together


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def header(args):
    command = "python3 tools/zk-reference/history.py " + shlex.join(args.argv)
    return {"type": "header", "format": "zksim-history", "version": 2, "seed": args.seed,
            "scenario": "zookeeper-3.8 ensemble", "servers": SERVERS, "observers": [],
            "replay": command, "bugs": []}


def record_history(args):
    ensemble = Ensemble(keep=args.keep)
    try:
        ensemble.start()
        events, leader = run_workload(ensemble, args)
        last = ensemble.wait_converged()
    finally:
        ensemble.stop()
    truth, replicas, notes = ground_truth(ensemble, leader)
    if not truth or truth[-1]["zxid"] != last:
        die(f"the logs end before the servers' last zxid {last:#x}")
    ensemble.remove()
    replay = Replay()
    for t in truth:
        replay.apply(t)
    problems, fired_at_once = infer_watch_zxids(events, replay)
    lines = [header(args)] + events + truth + replicas
    return lines, replay.problems + problems, notes, fired_at_once


def children_of(event):
    """The children of a getChildren reply in a `complete` event, or None."""
    reply = event.get("outcome", {}).get("reply") or {}
    response = reply.get("response")
    if isinstance(response, dict) and "GetChildren" in response:
        return response["GetChildren"]["children"]
    return None


def stale_reads(lines):
    """Reads answered from a state older than a write some client had already seen
    acknowledged when the read was sent: what a lagging follower serves."""
    invoked, requests = {}, {}
    seen = stale = 0
    for e in lines:
        if e["type"] == "invoke":
            invoked[(e["client"], e["xid"])] = seen
            requests[(e["client"], e["xid"])] = e["op"]
        elif e["type"] == "complete" and "reply" in e["outcome"]:
            key = (e["client"], e["xid"])
            (kind, _), = requests.get(key, {"Close": None}).items()
            zxid = e["outcome"]["reply"]["zxid"]
            if kind in ("Exists", "GetData", "GetChildren") and zxid < invoked[key]:
                stale += 1
            elif kind in ("Create", "Delete", "SetData", "SetAcl", "Multi"):
                seen = max(seen, zxid)
    return stale


def summary(lines, fired_at_once):
    counts = collections.Counter(e["type"] for e in lines)
    unsorted = sum(1 for e in lines if (c := children_of(e)) is not None and c != sorted(c))
    set_watches = sum(1 for e in lines if e["type"] == "invoke" and e["xid"] == XID_SET_WATCHES)
    unknown = sum(1 for e in lines if e["type"] == "complete" and "unknown" in e["outcome"])
    return (f"{len(lines)} events ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}); "
            f"{unsorted} getChildren replies out of sorted order, {stale_reads(lines)} stale "
            f"reads, {set_watches} SetWatches firing {fired_at_once} notifications at once, "
            f"{unknown} unknown outcomes")


def check(path):
    """Judge the history with `zksim check` (built by cargo if need be)."""
    result = subprocess.run(["cargo", "run", "--release", "--quiet", "--", "check", path],
                            cwd=REPO, capture_output=True, text=True)
    print(result.stdout, end="")
    if result.returncode != 0:
        print(result.stderr, end="", file=sys.stderr)
    return result.returncode


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="the history file to write")
    p.add_argument("--seed", type=int, default=1, help="the workload's seed (default 1)")
    p.add_argument("--sessions", type=int, default=3, help="concurrent sessions (default 3)")
    p.add_argument("--rounds", type=int, default=2,
                   help="sessions each concurrent client opens in turn (default 2)")
    p.add_argument("--steps", type=int, default=40, help="steps per session (default 40)")
    p.add_argument("--drop-rate", type=float, default=0.05,
                   help="chance per step of dropping the connection (default 0.05)")
    p.add_argument("--pair-steps", type=int, default=40,
                   help="writes of the writer/reader pair, 0 for no pair (default 40)")
    p.add_argument("--pause-ms", type=int, default=400,
                   help="longest pause of a follower, 0 for none (default 400)")
    p.add_argument("--check", action="store_true", help="run `zksim check` on the result")
    p.add_argument("--keep", action="store_true", help="keep the servers' directory")
    p.add_argument("--allow-unexplained", action="store_true",
                   help="write the history even if a notification's zxid cannot be inferred")
    args = p.parse_args(argv)
    args.argv = [a for a in argv if a not in ("--check", "--keep")]
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    wire.check_environment()
    lines, problems, notes, fired_at_once = record_history(args)
    for note in notes:
        warn(f"note: {note}")
    for problem in problems:
        warn(f"UNEXPLAINED: {problem}")
    if problems and not args.allow_unexplained:
        die(f"{len(problems)} problems; nothing written (--allow-unexplained writes anyway)")
    with open(args.out, "w") as f:
        for line in lines:
            f.write(dumps(line) + "\n")
    print(f"{args.out}: {summary(lines, fired_at_once)}")
    if args.check:
        return check(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
