#!/usr/bin/env python3
"""Record Apache ZooKeeper 3.8's real answers as `zksim tree replay` fixtures.

For every fixture this starts a fresh standalone ZooKeeper from Debian's `zookeeper`
package (extended types enabled, short container check interval), drives it over the
wire protocol with a small synchronous client written here (one TCP socket per session),
and writes NAME.ops.jsonl (the input) and NAME.expected.jsonl (what ZooKeeper answered),
in the format of docs/tree-replay.md.

Every sequence is recorded twice, on two fresh servers, and kept only when both
recordings are byte-identical. A sequence whose reply-header zxids show transactions the
sequence did not cause (for example a container reaped at an unexpected moment) is
retried, and dropped if that keeps happening.

Only the Python 3 standard library is used.
"""

import argparse
import base64
import concurrent.futures
import difflib
import hashlib
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_OUT = os.path.join(REPO, "core", "tests", "fixtures", "zk38")
ZK_JAR = "/usr/share/java/zookeeper.jar"
SERVER_MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"

CHECK_INTERVAL_MS = 500  # znode.container.checkIntervalMs
TICK_TIME = 2000

# ---------------------------------------------------------------------------
# Protocol constants (ZooDefs.OpCode, KeeperException.Code, Watcher.Event)

OP_CREATE = 1
OP_DELETE = 2
OP_EXISTS = 3
OP_GET_DATA = 4
OP_SET_DATA = 5
OP_GET_ACL = 6
OP_SET_ACL = 7
OP_GET_CHILDREN = 8
OP_SYNC = 9
OP_PING = 11
OP_GET_CHILDREN2 = 12
OP_CHECK = 13
OP_MULTI = 14
OP_CREATE2 = 15
OP_REMOVE_WATCHES = 18
OP_CREATE_CONTAINER = 19
OP_CREATE_TTL = 21
OP_MULTI_READ = 22
OP_AUTH = 100
OP_GET_EPHEMERALS = 103
OP_GET_ALL_CHILDREN_NUMBER = 104
OP_ADD_WATCH = 106
OP_CLOSE_SESSION = -11
OP_ERROR = -1

XID_NOTIFICATION = -1
XID_PING = -2
XID_AUTH = -4

ERR_NAMES = {
    0: "OK",
    -1: "SYSTEMERROR",
    -2: "RUNTIMEINCONSISTENCY",
    -3: "DATAINCONSISTENCY",
    -4: "CONNECTIONLOSS",
    -5: "MARSHALLINGERROR",
    -6: "UNIMPLEMENTED",
    -7: "OPERATIONTIMEOUT",
    -8: "BADARGUMENTS",
    -12: "UNKNOWNSESSION",
    -13: "NEWCONFIGNOQUORUM",
    -14: "RECONFIGINPROGRESS",
    -100: "APIERROR",
    -101: "NONODE",
    -102: "NOAUTH",
    -103: "BADVERSION",
    -108: "NOCHILDRENFOREPHEMERALS",
    -110: "NODEEXISTS",
    -111: "NOTEMPTY",
    -112: "SESSIONEXPIRED",
    -113: "INVALIDCALLBACK",
    -114: "INVALIDACL",
    -115: "AUTHFAILED",
    -118: "SESSIONMOVED",
    -119: "NOTREADONLY",
    -120: "EPHEMERALONLOCALSESSION",
    -121: "NOWATCHER",
    -122: "REQUESTTIMEOUT",
    -123: "RECONFIGDISABLED",
    -124: "SESSIONCLOSEDREQUIRESASLAUTH",
    -125: "QUOTAEXCEEDED",
    -127: "THROTTLEDOP",
}

EVENT_TYPES = {
    -1: "None",
    1: "NodeCreated",
    2: "NodeDeleted",
    3: "NodeDataChanged",
    4: "NodeChildrenChanged",
    5: "DataWatchRemoved",
    6: "ChildWatchRemoved",
    7: "PersistentWatchRemoved",
}
KEEPER_STATES = {-1: "Unknown", 0: "Disconnected", 3: "SyncConnected", 4: "AuthFailed",
                 5: "ConnectedReadOnly", 6: "SaslAuthenticated", -112: "Expired", 7: "Closed"}

CREATE_MODES = {
    "persistent": 0,
    "ephemeral": 1,
    "persistent_sequential": 2,
    "ephemeral_sequential": 3,
    "container": 4,
    "persistent_with_ttl": 5,
    "persistent_sequential_with_ttl": 6,
}
ADD_WATCH_MODES = {"persistent": 0, "persistent_recursive": 1}
WATCHER_TYPES = {"children": 1, "data": 2, "any": 3}
OPEN_ACL = [{"perms": 31, "scheme": "world", "id": "anyone"}]

# Key order of every printed object (docs/tree-replay.md).
OUT_ORDER = ["i", "s", "op", "err", "zxid", "timeout_ms", "path", "stat", "data", "children",
             "count", "paths", "acl", "results", "events"]
STAT_ORDER = ["czxid", "mzxid", "pzxid", "version", "cversion", "aversion", "ephemeralOwner",
              "dataLength", "numChildren"]
OP_FIELD_ORDER = ["op", "s", "timeout_ms", "path", "data", "acl", "mode", "ttl", "version",
                  "watch", "scheme", "auth", "type", "ops", "after_ms"]


class Retry(Exception):
    """A timing effect spoiled this recording; recording it again may succeed."""


class Invalid(Exception):
    """The sequence cannot be recorded deterministically; it must be dropped."""


# ---------------------------------------------------------------------------
# Jute encoding


class Writer:
    def __init__(self):
        self.b = bytearray()

    def int(self, v):
        self.b += struct.pack(">i", v)
        return self

    def long(self, v):
        self.b += struct.pack(">q", v)
        return self

    def bool(self, v):
        self.b += b"\x01" if v else b"\x00"
        return self

    def buffer(self, v):
        if v is None:
            return self.int(-1)
        self.int(len(v))
        self.b += v
        return self

    def string(self, v):
        return self.buffer(None if v is None else v.encode("utf-8"))

    def acl(self, acl):
        self.int(len(acl))
        for a in acl:
            self.int(a["perms"]).string(a["scheme"]).string(a["id"])
        return self

    def bytes(self):
        return bytes(self.b)


class Reader:
    def __init__(self, data):
        self.d = data
        self.p = 0

    def _take(self, n):
        if self.p + n > len(self.d):
            raise Invalid("short reply from the server")
        v = self.d[self.p:self.p + n]
        self.p += n
        return v

    def int(self):
        return struct.unpack(">i", self._take(4))[0]

    def long(self):
        return struct.unpack(">q", self._take(8))[0]

    def bool(self):
        return self._take(1) != b"\x00"

    def buffer(self):
        n = self.int()
        if n < 0:
            return None
        return bytes(self._take(n))

    def string(self):
        b = self.buffer()
        if b is None:
            return None
        # Jute writes each UTF-16 unit on its own (CESU-8): join surrogate pairs.
        s = b.decode("utf-8", errors="surrogatepass")
        return s.encode("utf-16-le", errors="surrogatepass").decode("utf-16-le", errors="surrogatepass")

    def strings(self):
        n = self.int()
        if n < 0:
            return None
        return [self.string() for _ in range(n)]

    def stat(self):
        czxid, mzxid, ctime, mtime = self.long(), self.long(), self.long(), self.long()
        version, cversion, aversion = self.int(), self.int(), self.int()
        owner, length, num, pzxid = self.long(), self.int(), self.int(), self.long()
        return {"czxid": czxid, "mzxid": mzxid, "pzxid": pzxid, "version": version,
                "cversion": cversion, "aversion": aversion, "ephemeralOwner": owner,
                "dataLength": length, "numChildren": num}

    def acl(self):
        n = self.int()
        out = []
        for _ in range(max(n, 0)):
            perms = self.int()
            scheme = self.string()
            ident = self.string()
            out.append({"perms": perms, "scheme": scheme, "id": ident})
        return out

    def multi_header(self):
        return self.int(), self.bool(), self.int()


# ---------------------------------------------------------------------------
# The server


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_environment():
    if not os.path.exists(ZK_JAR):
        sys.exit(f"record.py: {ZK_JAR} not found; install Debian's zookeeper package "
                 "(apt-get install zookeeper)")
    if shutil.which("java") is None:
        sys.exit("record.py: no java on PATH (Debian's zookeeper package depends on one)")


class Server:
    """A fresh standalone ZooKeeper in a temporary directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="zk-reference-")
        self.proc = None
        self.port = None
        for _ in range(5):
            self.port = free_port()
            if self._start():
                return
            self.stop(remove=False)
        self.stop()
        raise Retry("ZooKeeper did not start")

    def _start(self):
        data = os.path.join(self.dir, "data")
        os.makedirs(data, exist_ok=True)
        cfg = os.path.join(self.dir, "zoo.cfg")
        with open(cfg, "w") as f:
            f.write(f"tickTime={TICK_TIME}\n"
                    f"dataDir={data}\n"
                    f"clientPort={self.port}\n"
                    "clientPortAddress=127.0.0.1\n"
                    "admin.enableServer=false\n"
                    "maxClientCnxns=0\n"
                    "4lw.commands.whitelist=srvr\n")
        cmd = ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
               "-Dzookeeper.extendedTypesEnabled=true",
               f"-Dznode.container.checkIntervalMs={CHECK_INTERVAL_MS}",
               "-Dzookeeper.admin.enableServer=false",
               "-cp", ZK_JAR, SERVER_MAIN, cfg]
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if self._serving():
                return True
            time.sleep(0.05)
        return False

    def _serving(self):
        """The `srvr` four-letter word answers with the server's zxid once it serves."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(b"srvr")
                reply = b""
                while True:
                    c = s.recv(4096)
                    if not c:
                        break
                    reply += c
            return b"Zxid:" in reply
        except OSError:
            return False

    def stop(self, remove=True):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
            self.log.close()
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------
# One client session


class ServerClosed(Exception):
    pass


class Session:
    def __init__(self, port, handle, timeout_ms):
        self.handle = handle
        self.events = []
        self.xid = 0
        self.sock = None
        last_error = None
        # The port may accept connections a moment before the server takes sessions.
        for _ in range(50):
            try:
                self._connect(port, timeout_ms)
                return
            except (ServerClosed, OSError) as e:
                last_error = e
                if self.sock is not None:
                    self.sock.close()
                    self.sock = None
                time.sleep(0.1)
        raise Retry(f"cannot open a session: {last_error}")

    def _connect(self, port, timeout_ms):
        # A short timeout for the handshake: a server that is still starting may
        # accept the connection and never answer it.
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        w = Writer().int(0).long(0).int(timeout_ms).long(0).buffer(b"\x00" * 16).bool(False)
        self._send(w.bytes())
        r = Reader(self._recv_frame())
        self.sock.settimeout(20)
        r.int()  # protocolVersion
        self.timeout = r.int()
        self.session_id = r.long()
        if self.timeout <= 0:
            raise ServerClosed("session refused")

    def _send(self, payload):
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def _recv_exact(self, n):
        chunks = []
        while n > 0:
            try:
                c = self.sock.recv(min(n, 1 << 20))
            except socket.timeout:
                raise ServerClosed("timed out waiting for the server")
            if not c:
                raise ServerClosed("the server closed the connection")
            chunks.append(c)
            n -= len(c)
        return b"".join(chunks)

    def _recv_frame(self):
        (n,) = struct.unpack(">i", self._recv_exact(4))
        return self._recv_exact(n)

    def send_request(self, xid, opcode, body=b""):
        self._send(Writer().int(xid).int(opcode).bytes() + body)

    def read_until(self, xid):
        """Read frames until the reply with `xid`; notifications are kept in self.events."""
        while True:
            r = Reader(self._recv_frame())
            rxid, zxid, err = r.int(), r.long(), r.int()
            if rxid == XID_NOTIFICATION:
                etype, state, path = r.int(), r.int(), r.string()
                self.events.append({"s": self.handle, "type": EVENT_TYPES.get(etype, str(etype)),
                                    "state": KEEPER_STATES.get(state, str(state)), "path": path})
                continue
            if rxid != xid:
                raise Invalid(f"session {self.handle}: reply xid {rxid} while waiting for {xid}")
            return zxid, err, r

    def request(self, opcode, body=b""):
        self.xid += 1
        self.send_request(self.xid, opcode, body)
        return self.read_until(self.xid)

    def close_socket(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


# ---------------------------------------------------------------------------
# Running operations


def b2s(data):
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(data).decode("ascii")}


def s2b(data):
    return None if data is None else data.encode("utf-8")


WRITE_OPS = {"create", "delete", "set_data", "set_acl", "multi", "close"}
READ_OPS = {"exists", "get_data", "get_children", "get_all_children_number", "get_ephemerals",
            "get_acl", "sync", "multi_read", "add_watch", "remove_watches"}


def create_request(op):
    mode = op.get("mode", "persistent")
    w = Writer().string(op["path"]).buffer(s2b(op.get("data", ""))).acl(op.get("acl", OPEN_ACL))
    w.int(CREATE_MODES[mode])
    if "ttl" in op:
        w.long(op["ttl"])
        return OP_CREATE_TTL, w.bytes()
    if mode == "container":
        return OP_CREATE_CONTAINER, w.bytes()
    return OP_CREATE2, w.bytes()


class Recorder:
    """Runs operations against one server and builds the result lines."""

    def __init__(self, server):
        self.server = server
        self.sessions = {}        # open sessions by handle
        self.owner_handles = {}   # session id -> handle
        self.last = 0             # the server's last processed zxid, as far as we know
        self.base = 0             # zxid just before the file's first txn
        self.first_checked = False

    def close(self):
        for s in self.sessions.values():
            s.close_socket()
        self.sessions = {}

    # -- helpers --

    def rel(self, z):
        return 0 if z == 0 else z - self.base

    def stat(self, st):
        out = dict(st)
        for k in ("czxid", "mzxid", "pzxid"):
            out[k] = self.rel(out[k])
        owner = out["ephemeralOwner"]
        if owner in self.owner_handles:
            out["ephemeralOwner"] = self.owner_handles[owner]
        return {k: out[k] for k in STAT_ORDER}

    def flush(self, handles):
        """Ping every given session and wait for the answers: every notification caused
        by earlier requests has then been received. Returns the zxids the pings carried."""
        for h in handles:
            self.sessions[h].send_request(XID_PING, OP_PING)
        zs = []
        for h in handles:
            z, err, _ = self.sessions[h].read_until(XID_PING)
            zs.append(z)
        return zs

    def take_events(self, extra=None, sort=False):
        sessions = dict(self.sessions)
        if extra is not None:
            sessions[extra.handle] = extra
        events = []
        for h in sorted(sessions):
            evs = sessions[h].events
            sessions[h].events = []
            if sort:
                evs = sorted(evs, key=lambda e: (e["path"], e["type"]))
            events.extend(evs)
        return events

    def expect(self, z, write, what):
        if write:
            if z != self.last + 1:
                raise Retry(f"{what}: reply zxid {z}, expected {self.last + 1}")
            self.last = z
        elif z != self.last:
            raise Retry(f"{what}: reply zxid {z}, expected {self.last}")

    # -- one operation --

    def execute(self, i, op):
        try:
            return self._execute(i, op)
        except ServerClosed as e:
            raise Invalid(f"op {i} {json.dumps(op)[:200]}: {e}")

    def _execute(self, i, op):
        kind = op["op"]
        if kind == "reap":
            return self.reap(i, op)
        h = op["s"]
        out = {"i": i, "s": h, "op": kind}
        closed = None
        if kind == "connect":
            if h in self.sessions:
                raise Invalid(f"op {i}: session {h} is already open")
            sess = Session(self.server.port, h, op.get("timeout_ms", 30000))
            self.sessions[h] = sess
            self.owner_handles[sess.session_id] = h
            out["err"] = "OK"
            out["timeout_ms"] = sess.timeout
            self.last += 1
            if not self.first_checked:
                zs = self.flush([h])
                if zs[0] != 1:
                    raise Retry(f"the first txn of a fresh server has zxid {zs[0]}, not 1")
                self.first_checked = True
        else:
            sess = self.sessions.get(h)
            if sess is None:
                raise Invalid(f"op {i}: session {h} is not open")
            what = f"op {i} ({kind})"
            if kind == "add_auth":
                body = Writer().int(0).string(op["scheme"]).buffer(op["auth"].encode("utf-8")).bytes()
                sess.send_request(XID_AUTH, OP_AUTH, body)
                z, err, r = sess.read_until(XID_AUTH)
                if z != 0:
                    raise Invalid(f"{what}: auth reply zxid {z}")
                out["err"] = ERR_NAMES.get(err, str(err))
                out["zxid"] = self.rel(z)
                if err != 0:
                    raise Invalid(f"{what}: auth failed; the server closes the connection")
            else:
                z, err, r = self.send_op(sess, op)
                self.expect(z, kind in WRITE_OPS, what)
                out["err"] = ERR_NAMES.get(err, str(err))
                out["zxid"] = self.rel(z)
                if err == 0 or kind == "multi":
                    self.parse_reply(kind, op, r, out, err)
                if kind == "close":
                    closed = sess
                    del self.sessions[h]
                    sess.close_socket()
        handles = sorted(self.sessions)
        for z in self.flush(handles):
            if z != self.last:
                raise Retry(f"op {i} ({kind}): ping zxid {z} after the op, expected {self.last}")
        out["events"] = self.take_events(extra=closed, sort=(kind == "close"))
        return out, 0

    def send_op(self, sess, op):
        kind = op["op"]
        path = op.get("path")
        if kind == "create":
            opcode, body = create_request(op)
        elif kind == "delete":
            opcode, body = OP_DELETE, Writer().string(path).int(op.get("version", -1)).bytes()
        elif kind == "exists":
            opcode, body = OP_EXISTS, Writer().string(path).bool(op.get("watch", False)).bytes()
        elif kind == "get_data":
            opcode, body = OP_GET_DATA, Writer().string(path).bool(op.get("watch", False)).bytes()
        elif kind == "set_data":
            opcode = OP_SET_DATA
            body = Writer().string(path).buffer(s2b(op["data"])).int(op.get("version", -1)).bytes()
        elif kind == "get_children":
            opcode = OP_GET_CHILDREN2
            body = Writer().string(path).bool(op.get("watch", False)).bytes()
        elif kind == "get_all_children_number":
            opcode, body = OP_GET_ALL_CHILDREN_NUMBER, Writer().string(path).bytes()
        elif kind == "get_ephemerals":
            opcode, body = OP_GET_EPHEMERALS, Writer().string(op.get("path", "/")).bytes()
        elif kind == "get_acl":
            opcode, body = OP_GET_ACL, Writer().string(path).bytes()
        elif kind == "set_acl":
            opcode = OP_SET_ACL
            body = Writer().string(path).acl(op["acl"]).int(op.get("version", -1)).bytes()
        elif kind == "sync":
            opcode, body = OP_SYNC, Writer().string(path).bytes()
        elif kind == "add_watch":
            opcode = OP_ADD_WATCH
            body = Writer().string(path).int(ADD_WATCH_MODES[op.get("mode", "persistent")]).bytes()
        elif kind == "remove_watches":
            opcode = OP_REMOVE_WATCHES
            body = Writer().string(path).int(WATCHER_TYPES[op.get("type", "any")]).bytes()
        elif kind == "close":
            opcode, body = OP_CLOSE_SESSION, b""
        elif kind == "multi":
            w = Writer()
            for sub in op["ops"]:
                sk = sub["op"]
                if sk == "create":
                    sub_opcode, sub_body = create_request(sub)
                elif sk == "delete":
                    sub_opcode = OP_DELETE
                    sub_body = Writer().string(sub["path"]).int(sub.get("version", -1)).bytes()
                elif sk == "set_data":
                    sub_opcode = OP_SET_DATA
                    sub_body = (Writer().string(sub["path"]).buffer(s2b(sub["data"]))
                                .int(sub.get("version", -1)).bytes())
                elif sk == "check":
                    sub_opcode = OP_CHECK
                    sub_body = Writer().string(sub["path"]).int(sub["version"]).bytes()
                else:
                    raise Invalid(f"unknown multi op {sk}")
                w.int(sub_opcode).bool(False).int(-1)
                w.b += sub_body
            w.int(-1).bool(True).int(-1)
            opcode, body = OP_MULTI, w.bytes()
        elif kind == "multi_read":
            w = Writer()
            for sub in op["ops"]:
                sk = sub["op"]
                if sk == "get_data":
                    w.int(OP_GET_DATA).bool(False).int(-1).string(sub["path"]).bool(False)
                elif sk == "get_children":
                    w.int(OP_GET_CHILDREN).bool(False).int(-1).string(sub["path"]).bool(False)
                else:
                    raise Invalid(f"unknown multi_read op {sk}")
            w.int(-1).bool(True).int(-1)
            opcode, body = OP_MULTI_READ, w.bytes()
        else:
            raise Invalid(f"unknown op {kind}")
        return sess.request(opcode, body)

    def parse_reply(self, kind, op, r, out, err):
        if kind == "create":
            out["path"] = r.string()
            out["stat"] = self.stat(r.stat())
        elif kind in ("exists", "set_data", "set_acl"):
            out["stat"] = self.stat(r.stat())
        elif kind == "get_data":
            data = r.buffer()
            out["stat"] = self.stat(r.stat())
            out["data"] = b2s(data)
        elif kind == "get_children":
            children = r.strings()
            out["stat"] = self.stat(r.stat())
            out["children"] = sorted(children)
        elif kind == "get_all_children_number":
            out["count"] = r.int()
        elif kind == "get_ephemerals":
            out["paths"] = sorted(r.strings())
        elif kind == "get_acl":
            out["acl"] = r.acl()
            out["stat"] = self.stat(r.stat())
        elif kind == "sync":
            out["path"] = r.string()
        elif kind in ("multi", "multi_read"):
            if r.p >= len(r.d):
                return
            results = []
            subs = op["ops"]
            while True:
                typ, done, e = r.multi_header()
                if done:
                    break
                sub = subs[len(results)] if len(results) < len(subs) else {"op": "?"}
                res = {"op": sub["op"]}
                if typ == OP_ERROR:
                    code = r.int()
                    res["err"] = ERR_NAMES.get(code, str(code))
                else:
                    res["err"] = "OK"
                    if typ == OP_CREATE2:
                        res["path"] = r.string()
                        res["stat"] = self.stat(r.stat())
                    elif typ == OP_CREATE:
                        res["path"] = r.string()
                    elif typ == OP_SET_DATA:
                        res["stat"] = self.stat(r.stat())
                    elif typ == OP_GET_DATA:
                        data = r.buffer()
                        res["stat"] = self.stat(r.stat())
                        res["data"] = b2s(data)
                    elif typ == OP_GET_CHILDREN:
                        res["children"] = sorted(r.strings())
                    elif typ in (OP_DELETE, OP_CHECK):
                        pass
                    else:
                        raise Invalid(f"unexpected multi result type {typ}")
                results.append(order(res))
            out["results"] = results

    # -- reaping --

    def reap(self, i, op):
        """Wait until ContainerManager has reached a fixed point: no txn for a while after
        at least a few check intervals. Sessions are pinged meanwhile so none expires."""
        if not self.sessions:
            raise Invalid(f"op {i}: reap needs an open session to watch the zxid")
        interval = CHECK_INTERVAL_MS / 1000.0
        start = time.monotonic()
        last_change = start
        z = self.last
        while True:
            time.sleep(0.1)
            now = time.monotonic()
            for zz in self.flush(sorted(self.sessions)):
                # Pings of different sessions may be answered out of order with a
                # reaping txn; a smaller zxid is just an older answer.
                if zz > z:
                    z = zz
                    last_change = now
            if now - start >= 2.5 * interval and now - last_change >= 1.8 * interval:
                break
        reaped = z - self.last
        self.last = z
        out = {"i": i, "op": "reap", "err": "OK", "events": self.take_events()}
        return out, reaped


def order(d):
    return {k: d[k] for k in OUT_ORDER if k in d}


def op_order(op):
    out = {k: op[k] for k in OP_FIELD_ORDER if k in op}
    if "ops" in out:
        out["ops"] = [op_order(sub) for sub in out["ops"]]
    return out


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------------------
# A model of the tree, just enough to know when a container or TTL node becomes
# eligible for reaping (so a `reap` can be placed right after that moment), updated
# from the server's own answers.

EXPIRING_TTL = 1          # "expires": eligible at the next check once it has no children
NEVER_TTL = 3600000       # "never within this file"


def parent_of(path):
    i = path.rfind("/")
    return "/" if i <= 0 else path[:i]


def digest_id(user_password):
    user = user_password.split(":", 1)[0]
    h = base64.b64encode(hashlib.sha1(user_password.encode("utf-8")).digest()).decode("ascii")
    return f"{user}:{h}"


class Node:
    def __init__(self, kind, ttl=None, owner=None, acl=None):
        self.kind = kind      # persistent, ephemeral, container, ttl, system
        self.ttl = ttl
        self.owner = owner
        self.used = False     # cversion > 0
        self.children = set()
        self.version = 0
        self.acl = acl or OPEN_ACL


class Model:
    def __init__(self):
        self.nodes = {"/": Node("system")}
        for p in ("/zookeeper", "/zookeeper/quota", "/zookeeper/config"):
            self.add(p, Node("system"))

    def add(self, path, node):
        self.nodes[path] = node
        if path != "/":
            par = self.nodes.get(parent_of(path))
            if par is not None:
                par.children.add(path)
                par.used = True

    def remove(self, path):
        self.nodes.pop(path, None)
        par = self.nodes.get(parent_of(path))
        if par is not None:
            par.children.discard(path)

    def expiring(self, node):
        return node.kind == "ttl" and node.ttl is not None and node.ttl < 1000

    def eligible(self):
        out = []
        for p, n in self.nodes.items():
            if n.children:
                continue
            if (n.kind == "container" and n.used) or self.expiring(n):
                out.append(p)
        return sorted(out)

    @staticmethod
    def kind_of(op):
        mode = op.get("mode", "persistent")
        if mode == "container":
            return "container"
        if mode.endswith("_with_ttl"):
            return "ttl"
        if mode.startswith("ephemeral"):
            return "ephemeral"
        return "persistent"

    def apply_create(self, op, s, path, stat):
        kind = self.kind_of(op)
        node = Node(kind, ttl=op.get("ttl"), owner=s if kind == "ephemeral" else None,
                    acl=op.get("acl"))
        node.version = stat["version"] if stat else 0
        self.add(path, node)

    def apply(self, op, out, reaped):
        """Update from an operation and the server's answer."""
        kind = op["op"]
        if kind == "reap":
            n = 0
            while True:
                e = self.eligible()
                if not e:
                    break
                if len(e) > 1:
                    raise Invalid(f"several nodes eligible for reaping at once: {e}")
                self.remove(e[0])
                n += 1
            if n != reaped:
                raise Invalid(f"reap deleted {reaped} nodes, the model expected {n}")
            return
        if kind == "close":
            for p in [p for p, n in self.nodes.items() if n.kind == "ephemeral" and n.owner == op["s"]]:
                self.remove(p)
            return
        if out.get("err") != "OK":
            return
        if kind == "create":
            self.apply_create(op, op["s"], out["path"], out["stat"])
        elif kind == "delete":
            self.remove(op["path"])
        elif kind == "set_data":
            if op["path"] in self.nodes:
                self.nodes[op["path"]].version = out["stat"]["version"]
        elif kind in ("get_data", "exists"):
            if op["path"] in self.nodes and "stat" in out:
                self.nodes[op["path"]].version = out["stat"]["version"]
        elif kind == "set_acl":
            if op["path"] in self.nodes:
                self.nodes[op["path"]].acl = op["acl"]
        elif kind == "multi":
            results = out.get("results", [])
            if not results or any(r["err"] != "OK" for r in results):
                return
            for sub, res in zip(op["ops"], results):
                if sub["op"] == "create":
                    self.apply_create(sub, op["s"], res["path"], res.get("stat"))
                elif sub["op"] == "delete":
                    self.remove(sub["path"])
                elif sub["op"] == "set_data":
                    if sub["path"] in self.nodes:
                        self.nodes[sub["path"]].version = res["stat"]["version"]

    def may_become_eligible(self, op):
        """Nodes that could be eligible for reaping if `op` succeeds (over-approximation)."""
        kind = op["op"]
        created = []   # (path or prefix, kind, ttl)
        deleted = set()
        subs = op["ops"] if kind == "multi" else [op]
        if kind == "close":
            deleted = {p for p, n in self.nodes.items() if n.kind == "ephemeral" and n.owner == op["s"]}
        for sub in subs:
            if sub["op"] == "create":
                created.append((sub["path"], self.kind_of(sub), sub.get("ttl")))
            elif sub["op"] == "delete":
                deleted.add(sub["path"])
        pot = set(self.eligible())
        parents = {parent_of(p) for p in deleted} | {parent_of(c[0]) for c in created}
        created_kinds = {c[0]: (c[1], c[2]) for c in created}
        for par in parents:
            if par in self.nodes:
                n = self.nodes[par]
                k, ttl = n.kind, n.ttl
                kids = set(n.children)
            elif par in created_kinds:
                k, ttl = created_kinds[par]
                kids = set()
            else:
                continue
            if not (k == "container" or (k == "ttl" and ttl is not None and 0 < ttl < 1000)):
                continue
            kids |= {c[0] for c in created if parent_of(c[0]) == par}
            kids -= deleted
            if not kids:
                pot.add(par)
        for path, k, ttl in created:
            if k == "ttl" and ttl is not None and 0 < ttl < 1000:
                if not any(parent_of(c[0]) == path for c in created):
                    pot.add(path)
        return pot


def validate_reaping(ops, outs):
    """Check that a recorded sequence never leaves a node eligible for reaping unless the
    next operation is a reap, and never has two eligible at once."""
    m = Model()
    reaped_counts = {}
    for idx, (op, (out, reaped)) in enumerate(zip(ops, outs)):
        m.apply(op, out, reaped)
        e = m.eligible()
        if len(e) > 1:
            raise Invalid(f"after op {idx}: several nodes eligible for reaping: {e}")
        if e and (idx + 1 >= len(ops) or ops[idx + 1]["op"] != "reap"):
            raise Invalid(f"after op {idx}: {e[0]} is eligible for reaping but no reap follows")
    return reaped_counts


# ---------------------------------------------------------------------------
# Recording a sequence


def record_once(ops, gen=None):
    """Record `ops` on a fresh server. With `gen`, ops are generated on the fly
    (gen.next_op()) and appended to `ops`. Returns (ops, [(out, reaped)])."""
    server = Server()
    rec = Recorder(server)
    outs = []
    try:
        i = 0
        while True:
            if gen is not None:
                op = gen.next_op()
                if op is None:
                    break
                ops.append(op)
            elif i >= len(ops):
                break
            op = ops[i]
            out, reaped = rec.execute(i, op)
            outs.append((order(out), reaped))
            if gen is not None:
                gen.observe(op, out, reaped)
            i += 1
    finally:
        rec.close()
        server.stop()
    return ops, outs


def record_with_retries(ops, gen_factory=None, tries=4, log=None):
    last = None
    for attempt in range(tries):
        try:
            if gen_factory is not None:
                gen = gen_factory()
                return record_once([], gen)
            return record_once(list(ops))
        except Retry as e:
            last = e
            if log:
                log(f"  retry ({e})")
    raise Invalid(f"gave up after {tries} tries: {last}")


def render(ops, outs, comment):
    ops_text = f"# {comment}\n" + "".join(dumps(op_order(op)) + "\n" for op in ops)
    exp_text = "".join(dumps(out) + "\n" for out, _ in outs)
    return ops_text, exp_text


def record_sequence(name, comment, ops=None, gen_factory=None, log=None):
    """Record twice on fresh servers; returns (ops_text, expected_text, n_ops)."""
    ops1, outs1 = record_with_retries(ops, gen_factory, log=log)
    validate_reaping(ops1, outs1)
    _, outs2 = record_with_retries(ops1, log=log)
    t1 = render(ops1, outs1, comment)
    t2 = render(ops1, outs2, comment)
    if t1[1] != t2[1]:
        diff = "".join(difflib.unified_diff(t1[1].splitlines(True), t2[1].splitlines(True),
                                            "first", "second", n=0))
        raise Invalid(f"{name}: two recordings differ:\n{diff[:2000]}")
    return t1[0], t1[1], len(ops1)


# ---------------------------------------------------------------------------
# Random sequences

NAMES = ["a", "b", "c"]
USERS = ["alice:pw1", "bob:pw2", "carol"]
INVALID_PATHS = ["", "a", "a/b", "/a/", "//a", "/a//b", "/a/./b", "/a/../b", "/.", "/..",
                 "/a/.", "/a\u0000b", "/a\u0001", "/\u001f", "/\u007f", "/\u0085x",
                 "/\ue000", "/\ufff5", "/\U0001F600"]
SYSTEM_PATHS = ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"]


def small_text(rng):
    r = rng.random()
    if r < 0.04:
        return None
    if r < 0.10:
        return ""
    if r < 0.14:
        return rng.choice(["héllo wörld", "ключ", "数据", "tab\there", "line\nbreak", "q\"uote\\"])
    if r < 0.155:
        n = rng.randint(10000, 40000)
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))
    return rng.choice(["x", "y", "hello", "v1", "v2", "data", "0", "{}", "zk"]) + \
        ("" if rng.random() < 0.5 else str(rng.randint(0, 999)))


def random_acl(rng, for_set=False):
    r = rng.random()
    if r < (0.45 if for_set else 0.6):
        return None
    if r < 0.72:
        return [{"perms": rng.randint(0, 31), "scheme": "world", "id": "anyone"}]
    if r < 0.82:
        user = rng.choice(USERS)
        acl = [{"perms": rng.choice([31, 31, 1, 3, 7, 15, 16, 17]), "scheme": "digest",
                "id": digest_id(user)}]
        if rng.random() < 0.5:
            acl.append({"perms": rng.choice([1, 5, 1 | 8]), "scheme": "world", "id": "anyone"})
        return acl
    if r < 0.90:
        acl = [{"perms": rng.choice([31, 15, 17]), "scheme": "auth", "id": ""}]
        if rng.random() < 0.3:
            acl.append({"perms": 1, "scheme": "world", "id": "anyone"})
        return acl
    return rng.choice([
        [],
        [{"perms": 31, "scheme": "foo", "id": "bar"}],
        [{"perms": 31, "scheme": "digest", "id": "alice"}],
        [{"perms": 31, "scheme": "digest", "id": "a:b:c"}],
        [{"perms": 31, "scheme": "world", "id": "someone"}],
        [{"perms": 31, "scheme": "ip", "id": "1.2.3.4.5"}],
        [{"perms": 31, "scheme": "ip", "id": "10.0.0.0/33"}],
        [{"perms": 31, "scheme": "world", "id": "anyone"}, {"perms": 31, "scheme": "world", "id": "anyone"}],
        [{"perms": 1, "scheme": "world", "id": "anyone"}, {"perms": 31, "scheme": "digest", "id": "x"}],
        [{"perms": 31, "scheme": "digest", "id": "user:hash"}],
        [{"perms": 64, "scheme": "world", "id": "anyone"}],
        [{"perms": -1, "scheme": "world", "id": "anyone"}],
    ])


class RandomGen:
    """Chooses each next operation from the tree as the server has reported it."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        rng = self.rng
        self.model = Model()
        self.n_ops = rng.randint(60, 150)
        self.max_sessions = rng.choice([3, 4, 4])
        self.count = 0
        self.next_handle = 1
        self.open = []
        self.closed_any = False
        self.force_reap = False
        self.watched = {}     # handle -> set of (path, kind) the generator asked for
        self.pending = []     # ops queued to run next

    # -- helpers --

    def existing(self, include_system=False):
        out = [p for p in self.model.nodes if include_system or
               (p != "/" and not p.startswith("/zookeeper"))]
        return sorted(out)

    def rand_path(self, rng, kind="any"):
        ex = self.existing()
        r = rng.random()
        if r < 0.02:
            return rng.choice(SYSTEM_PATHS + ["/zookeeper/x", "/zookeeper/quota/a"])
        if kind == "existing" and ex and r < 0.85:
            return rng.choice(ex)
        if kind == "any" and ex and r < 0.5:
            return rng.choice(ex)
        if r < 0.85 or kind == "child":
            bases = [p for p in ex if p.count("/") < 4] + ["/", "/"]
            base = rng.choice(bases)
            return (base if base.endswith("/") else base + "/") + rng.choice(NAMES)
        depth = rng.choice([1, 1, 2, 2, 3, 4])
        return "".join("/" + rng.choice(NAMES) for _ in range(depth))

    def version_for(self, rng, path):
        r = rng.random()
        if r < 0.55:
            return None
        cur = self.model.nodes[path].version if path in self.model.nodes else 0
        if r < 0.85:
            return cur
        return rng.choice([cur + 1, cur + 5, 7, -2])

    def create_op(self, rng, s=None, in_multi=False):
        path = self.rand_path(rng, "child")
        mode = rng.choices(list(CREATE_MODES), weights=[30, 14, 10, 8, 14, 8, 4])[0]
        op = {"op": "create"}
        if s is not None:
            op["s"] = s
        if mode.endswith("sequential") or mode.endswith("sequential_with_ttl"):
            if rng.random() < 0.5:
                path = path + rng.choice(["-", "_", ""])
            elif rng.random() < 0.3:
                path = parent_of(path).rstrip("/") + "/"
        op["path"] = path
        data = small_text(rng)
        if data != "" or rng.random() < 0.5:
            op["data"] = data
        acl = random_acl(rng)
        if acl is not None:
            op["acl"] = acl
        if mode != "persistent" or rng.random() < 0.1:
            op["mode"] = mode
        if mode.endswith("_with_ttl"):
            r = rng.random()
            if r < 0.70:
                op["ttl"] = NEVER_TTL
            elif r < 0.85:
                op["ttl"] = EXPIRING_TTL
            elif r < 0.97:
                op["ttl"] = rng.choice([0, -1, -1000, 1 << 40, (1 << 40) - 1, 1 << 62])
        elif rng.random() < 0.05:
            # (A negative ttl with a non-TTL mode passes ZooKeeper's checks and then
            # crashes the server while applying the txn, so it is never sent.)
            op["ttl"] = rng.choice([0, 5000])
        return op

    def delete_op(self, rng, s=None):
        path = self.rand_path(rng, "existing")
        op = {"op": "delete"}
        if s is not None:
            op["s"] = s
        op["path"] = path
        v = self.version_for(rng, path)
        if v is not None:
            op["version"] = v
        return op

    def set_data_op(self, rng, s=None):
        path = self.rand_path(rng, "existing")
        op = {"op": "set_data"}
        if s is not None:
            op["s"] = s
        op["path"] = path
        op["data"] = small_text(rng)
        v = self.version_for(rng, path)
        if v is not None:
            op["version"] = v
        return op

    def check_op(self, rng):
        path = self.rand_path(rng, "existing")
        v = self.version_for(rng, path)
        return {"op": "check", "path": path, "version": -1 if v is None else v}

    def multi_op(self, rng, s):
        subs = []
        for _ in range(rng.choice([0, 1, 2, 2, 3, 3, 4, 5])):
            k = rng.choices(["create", "delete", "set_data", "check"], weights=[4, 2, 2, 2])[0]
            if k == "create":
                sub = self.create_op(rng, in_multi=True)
                # Children of a node created earlier in the same multi.
                prev = [x["path"] for x in subs if x["op"] == "create"
                        and not x.get("mode", "").endswith("sequential")]
                if prev and rng.random() < 0.4:
                    sub["path"] = rng.choice(prev) + "/" + rng.choice(NAMES)
            elif k == "delete":
                sub = self.delete_op(rng)
            elif k == "set_data":
                sub = self.set_data_op(rng)
            else:
                sub = self.check_op(rng)
            if rng.random() < 0.03:
                sub["path"] = rng.choice(INVALID_PATHS)
            subs.append(sub)
        return {"op": "multi", "s": s, "ops": subs}

    def multi_read_op(self, rng, s):
        subs = []
        for _ in range(rng.choice([0, 1, 2, 3, 4])):
            k = rng.choice(["get_data", "get_children"])
            path = self.rand_path(rng, "existing") if rng.random() < 0.97 else rng.choice(INVALID_PATHS)
            subs.append({"op": k, "path": path})
        return {"op": "multi_read", "s": s, "ops": subs}

    def candidate(self, rng):
        s = rng.choice(self.open)
        kinds = ["create", "delete", "set_data", "get_data", "exists", "get_children", "multi",
                 "multi_read", "set_acl", "get_acl", "add_auth", "sync",
                 "get_all_children_number", "get_ephemerals", "add_watch", "remove_watches",
                 "invalid", "reap"]
        weights = [24, 9, 9, 8, 6, 6, 6, 3, 3, 3, 3, 1, 2, 2, 4, 4, 2, 0.4]
        k = rng.choices(kinds, weights=weights)[0]
        if k == "create":
            return self.create_op(rng, s)
        if k == "delete":
            return self.delete_op(rng, s)
        if k == "set_data":
            return self.set_data_op(rng, s)
        if k in ("get_data", "exists", "get_children"):
            op = {"op": k, "s": s, "path": self.rand_path(rng, "any" if k == "exists" else "existing")}
            if rng.random() < 0.6:
                op["watch"] = True
            return op
        if k == "multi":
            return self.multi_op(rng, s)
        if k == "multi_read":
            return self.multi_read_op(rng, s)
        if k == "set_acl":
            path = self.rand_path(rng, "existing")
            if path == "/":
                path = "/a"
            acl = random_acl(rng, for_set=True) or OPEN_ACL
            op = {"op": "set_acl", "s": s, "path": path, "acl": acl}
            v = rng.random()
            if v < 0.3:
                op["version"] = rng.choice([0, 1, 2])
            return op
        if k == "get_acl":
            return {"op": "get_acl", "s": s, "path": self.rand_path(rng, "existing")}
        if k == "add_auth":
            return {"op": "add_auth", "s": s, "scheme": "digest", "auth": rng.choice(USERS + ["alice:wrong"])}
        if k == "sync":
            return {"op": "sync", "s": s, "path": self.rand_path(rng, "any")}
        if k == "get_all_children_number":
            return {"op": "get_all_children_number", "s": s,
                    "path": rng.choice(["/", "/zookeeper"]) if rng.random() < 0.3 else self.rand_path(rng, "existing")}
        if k == "get_ephemerals":
            op = {"op": "get_ephemerals", "s": s}
            r = rng.random()
            if r < 0.3:
                return op
            if r < 0.4:
                op["path"] = rng.choice(["", " ", "/a", "a", "/b/", "/zookeeper"])
                return op
            p = self.rand_path(rng, "existing")
            op["path"] = p[:rng.randint(1, len(p))]
            return op
        if k == "add_watch":
            return {"op": "add_watch", "s": s, "path": self.rand_path(rng, "any") if rng.random() < 0.9 else "/",
                    "mode": rng.choice(["persistent", "persistent_recursive"])}
        if k == "remove_watches":
            mine = sorted(self.watched.get(s, ()))
            path = rng.choice(mine) if mine and rng.random() < 0.7 else self.rand_path(rng, "any")
            return {"op": "remove_watches", "s": s, "path": path,
                    "type": rng.choice(["any", "data", "children"])}
        if k == "invalid":
            path = rng.choice(INVALID_PATHS)
            kk = rng.choice(["create", "delete", "set_data", "get_data", "exists", "get_children",
                             "get_acl", "set_acl", "sync", "get_all_children_number", "add_watch",
                             "remove_watches"])
            op = {"op": kk, "s": s, "path": path}
            if kk == "set_data":
                op["data"] = "x"
            if kk == "set_acl":
                op["acl"] = OPEN_ACL
            if kk == "create" and rng.random() < 0.3:
                op["mode"] = rng.choice(["persistent_sequential", "ephemeral", "container"])
            return op
        return {"op": "reap"}

    def next_op(self):
        rng = self.rng
        if self.pending:
            return self.pending.pop(0)
        if self.force_reap:
            self.force_reap = False
            return {"op": "reap"}
        if self.count == 0:
            return self._connect(rng)
        if self.count >= self.n_ops:
            return None
        remaining = self.n_ops - self.count
        # Session management.
        if self.next_handle <= self.max_sessions and rng.random() < (0.12 if self.count < 20 else 0.02):
            return self._connect(rng)
        if len(self.open) >= 2 and (rng.random() < 0.015 or
                                    (not self.closed_any and remaining < self.n_ops * 0.2 and rng.random() < 0.2)):
            s = rng.choice(self.open)
            op = {"op": "close", "s": s}
            if len(self.model.may_become_eligible(op)) <= 1:
                return op
        for _ in range(60):
            op = self.candidate(rng)
            if op["op"] == "reap":
                return op
            if len(self.model.may_become_eligible(op)) <= 1:
                return op
        return {"op": "exists", "s": rng.choice(self.open), "path": "/"}

    def _connect(self, rng):
        h = self.next_handle
        op = {"op": "connect", "s": h}
        r = rng.random()
        if r < 0.15:
            op["timeout_ms"] = rng.choice([1000, 4000, 10000, 40000, 100000])
        return op

    def observe(self, op, out, reaped):
        kind = op["op"]
        self.count += 1
        if kind == "connect":
            self.open.append(op["s"])
            self.next_handle += 1
        elif kind == "close":
            self.open.remove(op["s"])
            self.closed_any = True
        if op.get("watch") or kind == "add_watch":
            self.watched.setdefault(op["s"], set()).add(op["path"])
        self.model.apply(op, out, reaped)
        e = self.model.eligible()
        if len(e) > 1:
            raise Invalid(f"op {self.count - 1} left several nodes eligible: {e}")
        if e:
            self.force_reap = True


# ---------------------------------------------------------------------------
# Focused sequences (deterministic, written out here)


def S(s, op, **kw):
    d = {"op": op, "s": s}
    d.update(kw)
    return d


def focused_sequences():
    seqs = {}
    A = digest_id("alice:pw1")
    B = digest_id("bob:pw2")

    # Sequential names: the suffix is the parent's cversion, which deletes do not bump.
    ops = [S(1, "connect"),
           S(1, "create", path="/s"),
           S(1, "create", path="/s/n-", mode="persistent_sequential"),
           S(1, "create", path="/s/n-", mode="persistent_sequential"),
           S(1, "create", path="/s/", mode="persistent_sequential"),
           S(1, "create", path="/s/e-", mode="ephemeral_sequential"),
           S(1, "delete", path="/s/n-0000000001"),
           S(1, "get_data", path="/s"),
           S(1, "create", path="/s/n-", mode="persistent_sequential"),
           S(1, "create", path="/s/plain"),
           S(1, "create", path="/s/n-0000000007"),
           S(1, "create", path="/s/n-", mode="persistent_sequential"),
           S(1, "create", path="/s/n-", mode="persistent_sequential"),
           S(1, "create", path="/s/t-", mode="persistent_sequential_with_ttl", ttl=NEVER_TTL),
           S(1, "create", path="/s/bad", mode="persistent_sequential"),
           S(1, "delete", path="/s/bad0000000009"),
           S(1, "create", path="/s/x", mode="persistent"),
           S(1, "create", path="/s/x", mode="persistent_sequential"),
           S(1, "create", path="/", mode="persistent_sequential"),
           S(1, "create", path="/r-", mode="persistent_sequential"),
           S(1, "create", path="/r-", mode="ephemeral_sequential"),
           S(1, "create", path="/nope/n-", mode="persistent_sequential"),
           S(1, "create", path="/s//", mode="persistent_sequential"),
           S(1, "multi", ops=[{"op": "create", "path": "/s/m-", "mode": "persistent_sequential"},
                              {"op": "create", "path": "/s/m-", "mode": "persistent_sequential"}]),
           S(1, "multi", ops=[{"op": "create", "path": "/s/f-", "mode": "persistent_sequential"},
                              {"op": "check", "path": "/s", "version": 3}]),
           S(1, "create", path="/s/f-", mode="persistent_sequential"),
           S(1, "get_children", path="/s"),
           S(1, "get_children", path="/"),
           S(1, "exists", path="/s"),
           S(1, "close")]
    seqs["seq_names"] = ops

    # ACLs, digest auth, NOAUTH for every checked operation, getACL redaction.
    ops = [S(1, "connect"), S(2, "connect"), S(3, "connect"),
           S(1, "create", path="/d", acl=[{"perms": 31, "scheme": "auth", "id": ""}]),
           S(1, "add_auth", scheme="digest", auth="alice:pw1"),
           S(1, "create", path="/d", data="secret", acl=[{"perms": 31, "scheme": "auth", "id": ""}]),
           S(1, "get_acl", path="/d"),
           S(2, "get_data", path="/d"),
           S(2, "get_acl", path="/d"),
           S(2, "exists", path="/d"),
           S(2, "get_children", path="/d"),
           S(2, "get_all_children_number", path="/d"),
           S(2, "set_data", path="/d", data="x"),
           S(2, "create", path="/d/c"),
           S(2, "set_acl", path="/d", acl=OPEN_ACL),
           S(2, "sync", path="/d"),
           S(2, "add_watch", path="/d", mode="persistent"),
           S(2, "multi_read", ops=[{"op": "get_data", "path": "/d"}, {"op": "get_children", "path": "/d"}]),
           S(2, "multi", ops=[{"op": "check", "path": "/d", "version": 0}]),
           S(2, "multi", ops=[{"op": "set_data", "path": "/d", "data": "y"}]),
           S(1, "create", path="/d/c", data="child"),
           S(2, "delete", path="/d/c"),
           S(2, "add_auth", scheme="digest", auth="alice:wrong"),
           S(2, "get_data", path="/d"),
           S(2, "add_auth", scheme="digest", auth="alice:pw1"),
           S(2, "get_data", path="/d"),
           S(2, "get_acl", path="/d"),
           S(1, "create", path="/mixed", acl=[{"perms": 1, "scheme": "world", "id": "anyone"},
                                               {"perms": 31, "scheme": "digest", "id": A},
                                               {"perms": 16, "scheme": "digest", "id": B}]),
           S(3, "get_acl", path="/mixed"),
           S(1, "get_acl", path="/mixed"),
           S(3, "get_data", path="/mixed"),
           S(3, "set_data", path="/mixed", data="z"),
           S(3, "add_auth", scheme="digest", auth="bob:pw2"),
           S(3, "get_acl", path="/mixed"),
           S(3, "set_data", path="/mixed", data="z"),
           S(3, "set_acl", path="/mixed", acl=[{"perms": 31, "scheme": "world", "id": "anyone"}], version=5),
           S(3, "set_acl", path="/mixed", acl=[{"perms": 3, "scheme": "world", "id": "anyone"},
                                               {"perms": 16, "scheme": "digest", "id": B}], version=0),
           S(3, "set_data", path="/mixed", data="z"),
           S(3, "get_acl", path="/mixed"),
           S(1, "add_auth", scheme="digest", auth="bob:pw2"),
           S(1, "add_auth", scheme="digest", auth="bob:pw2"),
           S(1, "add_auth", scheme="digest", auth="carol"),
           S(1, "create", path="/multi-auth", acl=[{"perms": 15, "scheme": "auth", "id": "ignored"}]),
           S(1, "get_acl", path="/multi-auth"),
           S(1, "create", path="/wr", acl=[{"perms": 1, "scheme": "world", "id": "anyone"}]),
           S(2, "create", path="/wr/x"),
           S(2, "delete", path="/wr"),
           S(2, "get_acl", path="/wr"),
           S(1, "create", path="/nocreate", acl=[{"perms": 31 & ~4, "scheme": "world", "id": "anyone"}]),
           S(1, "create", path="/nocreate/x"),
           S(1, "create", path="/nodelete", acl=[{"perms": 31 & ~8, "scheme": "world", "id": "anyone"}]),
           S(1, "create", path="/nodelete/x"),
           S(1, "delete", path="/nodelete/x"),
           S(1, "delete", path="/nodelete/missing"),
           S(1, "delete", path="/nodelete"),
           S(1, "create", path="/zero", acl=[{"perms": 0, "scheme": "world", "id": "anyone"}]),
           S(1, "get_data", path="/zero"),
           S(1, "exists", path="/zero"),
           S(1, "get_acl", path="/zero"),
           S(1, "set_acl", path="/zero", acl=OPEN_ACL),
           S(1, "delete", path="/zero"),
           S(1, "create", path="/bad", acl=[]),
           S(1, "create", path="/bad", acl=[{"perms": 31, "scheme": "foo", "id": "bar"}]),
           S(1, "create", path="/bad", acl=[{"perms": 31, "scheme": "digest", "id": "alice"}]),
           S(1, "create", path="/bad", acl=[{"perms": 31, "scheme": "digest", "id": "a:b:c"}]),
           S(1, "create", path="/bad", acl=[{"perms": 31, "scheme": "digest", "id": "a:"}]),
           S(1, "create", path="/bad", acl=[{"perms": 31, "scheme": "digest", "id": ":b"}]),
           S(1, "create", path="/bad", acl=[{"perms": 31, "scheme": "world", "id": "someone"}]),
           S(1, "create", path="/bad", acl=[{"perms": 31, "scheme": "ip", "id": "1.2.3.4.5"}]),
           S(1, "create", path="/bad", acl=[{"perms": 31, "scheme": "ip", "id": "10.0.0.0/33"}]),
           S(1, "create", path="/bad", acl=[{"perms": 31, "scheme": "super", "id": "x"}]),
           S(1, "get_acl", path="/bad"),
           S(1, "create", path="/perms64", acl=[{"perms": 64, "scheme": "world", "id": "anyone"}]),
           S(1, "get_acl", path="/perms64"),
           S(1, "get_data", path="/perms64"),
           S(1, "create", path="/perms-1", acl=[{"perms": -1, "scheme": "world", "id": "anyone"}]),
           S(1, "get_acl", path="/perms-1"),
           S(1, "get_data", path="/perms-1"),
           S(1, "create", path="/dup", acl=[{"perms": 31, "scheme": "world", "id": "anyone"},
                                             {"perms": 31, "scheme": "world", "id": "anyone"},
                                             {"perms": 1, "scheme": "world", "id": "anyone"}]),
           S(1, "get_acl", path="/dup"),
           S(1, "set_acl", path="/dup", acl=[]),
           S(1, "set_acl", path="/dup", acl=[{"perms": 31, "scheme": "auth", "id": ""}]),
           S(1, "get_acl", path="/dup"),
           S(3, "set_acl", path="/dup", acl=[{"perms": 31, "scheme": "auth", "id": ""}]),
           S(3, "get_acl", path="/dup"),
           S(1, "get_acl", path="/dup"),
           S(2, "create", path="/noauth-auth", acl=[{"perms": 31, "scheme": "auth", "id": ""}]),
           S(3, "create", path="/ipacl", acl=[{"perms": 31, "scheme": "ip", "id": "10.0.0.0/8"}]),
           S(3, "get_acl", path="/ipacl"),
           S(3, "get_data", path="/ipacl"),
           S(1, "multi", ops=[{"op": "create", "path": "/m", "acl": [{"perms": 31, "scheme": "auth", "id": ""}]},
                              {"op": "create", "path": "/m/x", "acl": [{"perms": 31, "scheme": "foo", "id": "x"}]}]),
           S(2, "multi", ops=[{"op": "create", "path": "/wr/y"}]),
           S(1, "close"), S(2, "close"), S(3, "close")]
    seqs["acl_digest"] = ops

    # Multi: failures at each position, checks, empty multi, creating parent and child, etc.
    ops = [S(1, "connect"), S(2, "connect"),
           S(2, "get_children", path="/", watch=True),
           S(1, "multi", ops=[]),
           S(1, "multi", ops=[{"op": "create", "path": "/m", "data": "1"},
                              {"op": "create", "path": "/m/a", "data": None},
                              {"op": "set_data", "path": "/m", "data": "2"},
                              {"op": "check", "path": "/m", "version": 1}]),
           S(2, "get_data", path="/m", watch=True),
           S(1, "multi", ops=[{"op": "create", "path": "/m/b"},
                              {"op": "create", "path": "/m/b"},
                              {"op": "delete", "path": "/m/a"}]),
           S(1, "multi", ops=[{"op": "check", "path": "/m", "version": 0},
                              {"op": "create", "path": "/m/c"}]),
           S(1, "multi", ops=[{"op": "create", "path": "/m/c"},
                              {"op": "set_data", "path": "/m", "data": "3"},
                              {"op": "check", "path": "/missing", "version": 0}]),
           S(1, "multi", ops=[{"op": "delete", "path": "/m"}]),
           S(1, "multi", ops=[{"op": "delete", "path": "/m/a", "version": 3}]),
           S(1, "multi", ops=[{"op": "check", "path": "/m", "version": -1},
                              {"op": "check", "path": "/m/a", "version": 0}]),
           S(1, "multi", ops=[{"op": "delete", "path": "/m/a"},
                              {"op": "create", "path": "/m/a", "data": "again"},
                              {"op": "set_data", "path": "/m/a", "data": "again2", "version": 0},
                              {"op": "check", "path": "/m/a", "version": 1}]),
           S(1, "get_data", path="/m/a"),
           S(1, "multi", ops=[{"op": "create", "path": "/e", "mode": "ephemeral"},
                              {"op": "create", "path": "/e/x"}]),
           S(1, "multi", ops=[{"op": "create", "path": "/bad/"}]),
           S(1, "multi", ops=[{"op": "create", "path": "/ok"},
                              {"op": "create", "path": "bad"}]),
           S(1, "multi", ops=[{"op": "set_data", "path": "/m", "data": "x", "version": 9},
                              {"op": "create", "path": "/never"}]),
           S(1, "multi", ops=[{"op": "create", "path": "/t", "mode": "persistent_with_ttl", "ttl": NEVER_TTL},
                              {"op": "create", "path": "/t/c", "mode": "container"},
                              {"op": "create", "path": "/t/c/s-", "mode": "persistent_sequential"},
                              {"op": "create", "path": "/t/c/e", "mode": "ephemeral"}]),
           S(1, "get_ephemerals"),
           S(1, "multi", ops=[{"op": "create", "path": "/x", "mode": "persistent_with_ttl"}]),
           S(1, "multi", ops=[{"op": "create", "path": "/x", "mode": "persistent", "ttl": 5}]),
           S(1, "multi", ops=[{"op": "delete", "path": "/t/c/e"},
                              {"op": "delete", "path": "/t/c/s-0000000000"},
                              {"op": "create", "path": "/t/c/again"}]),
           S(1, "multi", ops=[{"op": "set_data", "path": "/", "data": "root"},
                              {"op": "set_data", "path": "/", "data": "root2"}]),
           S(1, "get_data", path="/"),
           S(1, "multi", ops=[{"op": "delete", "path": "/zookeeper"}]),
           S(1, "multi", ops=[{"op": "delete", "path": "/m/a"},
                              {"op": "delete", "path": "/m/a"}]),
           S(1, "multi", ops=[{"op": "create", "path": "/m/seq-", "mode": "persistent_sequential"},
                              {"op": "delete", "path": "/m/seq-0000000004"}]),
           S(1, "get_children", path="/m"),
           S(2, "multi_read", ops=[]),
           S(2, "multi_read", ops=[{"op": "get_data", "path": "/m"},
                                   {"op": "get_children", "path": "/m"},
                                   {"op": "get_data", "path": "/missing"},
                                   {"op": "get_children", "path": "/missing"},
                                   {"op": "get_data", "path": "/m/a"},
                                   {"op": "get_data", "path": ""},
                                   {"op": "get_children", "path": "bad"},
                                   {"op": "get_data", "path": "/zookeeper/config"}]),
           S(2, "exists", path="/m/a", watch=True),
           S(1, "multi", ops=[{"op": "delete", "path": "/m/a"},
                              {"op": "create", "path": "/m/a", "mode": "ephemeral"},
                              {"op": "set_data", "path": "/m/a", "data": "e"}]),
           S(1, "close"), S(2, "close")]
    seqs["multi_errors"] = ops

    # Reaping of containers and TTL nodes, with cascades and watchers.
    ops = [S(1, "connect"), S(2, "connect"),
           S(1, "create", path="/c", mode="container"),
           S(2, "exists", path="/c", watch=True),
           S(2, "add_watch", path="/", mode="persistent_recursive"),
           {"op": "reap"},
           S(1, "exists", path="/c"),
           S(1, "create", path="/c/x"),
           S(2, "get_children", path="/c", watch=True),
           S(1, "delete", path="/c/x"),
           {"op": "reap"},
           S(1, "exists", path="/c"),
           S(1, "create", path="/c1", mode="container"),
           S(1, "create", path="/c1/c2", mode="container"),
           S(1, "create", path="/c1/c2/x", data="leaf"),
           S(2, "exists", path="/c1", watch=True),
           S(1, "delete", path="/c1/c2/x"),
           {"op": "reap", "after_ms": 60000},
           S(1, "exists", path="/c1"),
           S(1, "create", path="/t1", mode="persistent_with_ttl", ttl=EXPIRING_TTL),
           {"op": "reap"},
           S(1, "exists", path="/t1"),
           S(1, "create", path="/tn", mode="persistent_with_ttl", ttl=NEVER_TTL),
           S(1, "create", path="/tp", mode="persistent_with_ttl", ttl=NEVER_TTL),
           S(1, "create", path="/tp/k"),
           S(1, "delete", path="/tp/k"),
           {"op": "reap"},
           S(1, "exists", path="/tn"),
           S(1, "exists", path="/tp"),
           S(1, "multi", ops=[{"op": "create", "path": "/t2", "mode": "persistent_with_ttl", "ttl": EXPIRING_TTL},
                              {"op": "create", "path": "/t2/k"}]),
           S(1, "get_data", path="/t2"),
           {"op": "reap"},
           S(1, "delete", path="/t2/k"),
           {"op": "reap"},
           S(1, "exists", path="/t2"),
           S(1, "create", path="/c3", mode="container"),
           S(3, "connect"),
           S(3, "create", path="/c3/e", mode="ephemeral"),
           S(3, "create", path="/tq", mode="persistent_sequential_with_ttl", ttl=NEVER_TTL),
           S(3, "close"),
           {"op": "reap"},
           S(1, "exists", path="/c3"),
           S(1, "create", path="/c4", mode="container"),
           S(1, "create", path="/c4/t", mode="persistent_with_ttl", ttl=NEVER_TTL),
           S(1, "create", path="/c4/t/c", mode="container"),
           S(1, "create", path="/c4/t/c/x"),
           S(1, "delete", path="/c4/t/c/x"),
           {"op": "reap"},
           S(1, "get_children", path="/c4"),
           S(1, "create", path="/c5", mode="container"),
           S(1, "create", path="/c5/a"),
           S(1, "set_data", path="/c5", data="keep"),
           S(1, "multi", ops=[{"op": "delete", "path": "/c5/a"}, {"op": "create", "path": "/c5/b"}]),
           {"op": "reap"},
           S(1, "get_data", path="/c5"),
           S(1, "delete", path="/c5/b"),
           {"op": "reap"},
           S(1, "exists", path="/c5"),
           S(1, "get_children", path="/"),
           S(1, "close"), S(2, "close")]
    seqs["reaping"] = ops

    # Watches of every kind, by several sessions.
    ops = [S(1, "connect"), S(2, "connect"), S(3, "connect"),
           S(2, "exists", path="/w", watch=True),
           S(3, "exists", path="/w", watch=True),
           S(3, "get_data", path="/w", watch=True),
           S(1, "create", path="/w", data="0"),
           S(1, "set_data", path="/w", data="1"),
           S(2, "get_data", path="/w", watch=True),
           S(2, "exists", path="/w", watch=True),
           S(3, "get_children", path="/w", watch=True),
           S(1, "set_data", path="/w", data="2"),
           S(1, "create", path="/w/a"),
           S(1, "create", path="/w/a/b"),
           S(2, "add_watch", path="/w", mode="persistent"),
           S(3, "add_watch", path="/w", mode="persistent_recursive"),
           S(1, "create", path="/w/c"),
           S(1, "set_data", path="/w/a", data="x"),
           S(1, "create", path="/w/a/b/d"),
           S(1, "set_data", path="/w", data="3"),
           S(1, "get_data", path="/w", watch=True),
           S(1, "set_data", path="/w", data="4"),
           S(2, "remove_watches", path="/w", type="data"),
           S(1, "create", path="/w/e"),
           S(1, "set_data", path="/w", data="5"),
           S(2, "remove_watches", path="/w", type="children"),
           S(1, "create", path="/w/f"),
           S(2, "remove_watches", path="/w", type="any"),
           S(2, "add_watch", path="/w", mode="persistent"),
           S(2, "remove_watches", path="/w", type="any"),
           S(2, "remove_watches", path="/w", type="any"),
           S(3, "remove_watches", path="/w", type="children"),
           S(3, "remove_watches", path="/w", type="data"),
           S(3, "remove_watches", path="/w", type="any"),
           S(1, "create", path="/w/g"),
           S(2, "get_data", path="/w/a", watch=True),
           S(2, "get_children", path="/w/a", watch=True),
           S(2, "remove_watches", path="/w/a", type="data"),
           S(2, "remove_watches", path="/w/a", type="data"),
           S(2, "remove_watches", path="/w/a", type="children"),
           S(2, "exists", path="/w/nope", watch=True),
           S(2, "remove_watches", path="/w/nope", type="data"),
           S(2, "remove_watches", path="/w/nope", type="children"),
           S(2, "exists", path="/w/nope2", watch=True),
           S(2, "remove_watches", path="/w/nope2", type="any"),
           S(2, "remove_watches", path="/missing", type="any"),
           S(2, "get_data", path="/missing", watch=True),
           S(2, "get_children", path="/missing", watch=True),
           S(1, "create", path="/missing"),
           S(3, "get_data", path="/w/a/b", watch=True),
           S(3, "get_children", path="/w/a", watch=True),
           S(3, "exists", path="/w/a/b", watch=True),
           S(1, "delete", path="/w/a/b/d"),
           S(1, "delete", path="/w/a/b"),
           S(2, "add_watch", path="/", mode="persistent_recursive"),
           S(2, "add_watch", path="/", mode="persistent_recursive"),
           S(3, "add_watch", path="/w/g", mode="persistent"),
           S(1, "delete", path="/w/g"),
           S(1, "create", path="/w/g"),
           S(3, "get_data", path="/w/g", watch=True),
           S(3, "add_watch", path="/w/g", mode="persistent"),
           S(1, "set_data", path="/w/g", data="gg"),
           S(1, "set_data", path="/w/g", data="gg2"),
           S(3, "add_watch", path="/w/g", mode="persistent_recursive"),
           S(1, "set_data", path="/w/g", data="gg3"),
           S(3, "remove_watches", path="/w/g", type="data"),
           S(1, "set_data", path="/w/g", data="gg4"),
           S(3, "remove_watches", path="/w/g", type="any"),
           S(1, "set_data", path="/w/g", data="gg5"),
           S(1, "exists", path="/w/self", watch=True),
           S(1, "create", path="/w/self"),
           S(1, "get_children", path="/w", watch=True),
           S(2, "get_children", path="/w", watch=True),
           S(1, "multi", ops=[{"op": "create", "path": "/w/m1"},
                              {"op": "create", "path": "/w/m2"},
                              {"op": "set_data", "path": "/w/m1", "data": "x"},
                              {"op": "delete", "path": "/w/m2"}]),
           S(2, "exists", path="/w/m1", watch=True),
           S(1, "multi", ops=[{"op": "set_data", "path": "/w/m1", "data": "y"},
                              {"op": "create", "path": "/w/m1"}]),
           S(2, "add_watch", path="/w/m1", mode="persistent"),
           S(1, "set_acl", path="/w/m1", acl=[{"perms": 31, "scheme": "world", "id": "anyone"}]),
           S(1, "sync", path="/w"),
           S(2, "remove_watches", path="/", type="data"),
           S(2, "remove_watches", path="/", type="children"),
           S(3, "add_watch", path="/zookeeper", mode="persistent_recursive"),
           S(1, "set_data", path="/zookeeper", data="sys"),
           S(1, "close"), S(2, "close"), S(3, "close")]
    seqs["watch_kinds"] = ops

    # Closing a session deletes its ephemerals; other sessions' watches fire.
    ops = [S(1, "connect"), S(2, "connect"), S(3, "connect"),
           S(1, "create", path="/p"),
           S(1, "create", path="/p/e1", mode="ephemeral", data="one"),
           S(1, "create", path="/p/e2-", mode="ephemeral_sequential"),
           S(1, "create", path="/e3", mode="ephemeral"),
           S(1, "create", path="/p/e1/child"),
           S(1, "create", path="/p/e1/child", mode="ephemeral"),
           S(1, "create", path="/e3/x", mode="container"),
           S(1, "create", path="/e3/x", mode="persistent_with_ttl", ttl=NEVER_TTL),
           S(2, "create", path="/p/s2", mode="ephemeral"),
           S(1, "get_ephemerals"),
           S(1, "get_ephemerals", path="/p"),
           S(1, "get_ephemerals", path="/p/e"),
           S(1, "get_ephemerals", path="/p/e1"),
           S(1, "get_ephemerals", path="/e"),
           S(1, "get_ephemerals", path=""),
           S(1, "get_ephemerals", path=" "),
           S(1, "get_ephemerals", path=" /p"),
           S(1, "get_ephemerals", path="p"),
           S(1, "get_ephemerals", path="/nothing"),
           S(2, "get_ephemerals"),
           S(3, "get_ephemerals"),
           S(1, "exists", path="/p/e1"),
           S(2, "exists", path="/p/e1", watch=True),
           S(2, "get_data", path="/e3", watch=True),
           S(2, "get_children", path="/p", watch=True),
           S(3, "add_watch", path="/", mode="persistent_recursive"),
           S(3, "add_watch", path="/p", mode="persistent"),
           S(1, "exists", path="/p/gone", watch=True),
           S(1, "get_data", path="/e3", watch=True),
           S(1, "close"),
           S(2, "exists", path="/p/e1"),
           S(2, "get_children", path="/p"),
           S(2, "get_children", path="/"),
           S(2, "get_data", path="/p"),
           S(4, "connect"),
           S(4, "create", path="/p/e4", mode="ephemeral"),
           S(4, "create", path="/p/e5", mode="ephemeral", acl=[{"perms": 1, "scheme": "world", "id": "anyone"}]),
           S(2, "delete", path="/p/e5"),
           S(2, "delete", path="/p/e4"),
           S(4, "get_ephemerals"),
           S(4, "close"),
           S(2, "get_children", path="/p"),
           S(3, "close"),
           S(2, "get_ephemerals"),
           S(2, "close")]
    seqs["session_close"] = ops

    # Invalid paths with every operation.
    ops = [S(1, "connect"), S(2, "connect"),
           S(1, "create", path="/a"), S(1, "create", path="/a/b")]
    for p in INVALID_PATHS + ["/a/b/", "/zookeeper/"]:
        ops += [S(1, "create", path=p),
                S(1, "create", path=p, mode="persistent_sequential"),
                S(1, "delete", path=p),
                S(1, "set_data", path=p, data="x"),
                S(1, "exists", path=p),
                S(1, "get_data", path=p),
                S(1, "get_children", path=p),
                S(1, "get_acl", path=p),
                S(1, "set_acl", path=p, acl=OPEN_ACL),
                S(1, "sync", path=p),
                S(1, "get_all_children_number", path=p),
                S(1, "get_ephemerals", path=p),
                S(2, "add_watch", path=p, mode="persistent"),
                S(2, "remove_watches", path=p, type="any"),
                S(1, "multi", ops=[{"op": "check", "path": p, "version": -1}]),
                S(1, "multi_read", ops=[{"op": "get_data", "path": p}])]
    ops += [S(1, "create", path="/a/é"), S(1, "create", path="/a/with space"),
            S(1, "create", path="/a/.x"), S(1, "create", path="/a/x."),
            S(1, "create", path="/a/..."), S(1, "create", path="/a/\u00a0"),
            S(1, "create", path="/a/\u2028"), S(1, "get_children", path="/a"),
            S(1, "exists", path="/a\u0000b", watch=True),
            S(1, "create", path="/a\u0000b"),
            S(1, "close"), S(2, "close")]
    seqs["invalid_paths"] = ops

    # The system nodes: /, /zookeeper, /zookeeper/quota, /zookeeper/config.
    ops = [S(1, "connect"), S(2, "connect")]
    for p in SYSTEM_PATHS:
        ops += [S(1, "exists", path=p), S(1, "get_data", path=p), S(1, "get_children", path=p),
                S(1, "get_acl", path=p), S(1, "get_all_children_number", path=p)]
    ops += [S(2, "get_data", path="/zookeeper", watch=True),
            S(2, "get_children", path="/zookeeper", watch=True),
            S(1, "set_data", path="/zookeeper", data="z"),
            S(1, "set_data", path="/zookeeper/quota", data="q"),
            S(1, "set_data", path="/zookeeper/config", data="c"),
            S(1, "set_data", path="/", data="r"),
            S(1, "create", path="/zookeeper/x"),
            S(1, "create", path="/zookeeper/quota/x"),
            S(1, "create", path="/zookeeper/config/x"),
            S(1, "create", path="/zookeeper", data="again"),
            S(1, "create", path="/zookeeper-like"),
            S(1, "delete", path="/zookeeper/x"),
            S(1, "delete", path="/zookeeper/quota/x"),
            S(1, "delete", path="/zookeeper/config"),
            S(1, "delete", path="/zookeeper/quota"),
            S(1, "delete", path="/zookeeper"),
            S(1, "delete", path="/"),
            S(1, "delete", path="/zookeeper-like"),
            S(1, "set_acl", path="/zookeeper/quota", acl=[{"perms": 31, "scheme": "world", "id": "anyone"}]),
            S(1, "set_acl", path="/zookeeper/config", acl=[{"perms": 1, "scheme": "world", "id": "anyone"}]),
            S(1, "get_acl", path="/zookeeper/config"),
            S(1, "set_data", path="/zookeeper/config", data="c2"),
            S(1, "sync", path="/"), S(1, "sync", path="/zookeeper"), S(1, "sync", path="/missing"),
            S(1, "sync", path=""), S(1, "sync", path="bad"),
            S(1, "create", path="/zookeeper/e", mode="ephemeral"),
            S(1, "create", path="/zookeeper/c", mode="container"),
            S(1, "get_ephemerals", path="/zookeeper"),
            S(1, "get_all_children_number", path="/"),
            S(1, "get_all_children_number", path="/zookeeper"),
            S(1, "multi", ops=[{"op": "set_data", "path": "/zookeeper/config", "data": "m"},
                               {"op": "delete", "path": "/zookeeper/e"}]),
            S(1, "multi", ops=[{"op": "delete", "path": "/zookeeper/e"},
                               {"op": "delete", "path": "/zookeeper/c"}]),
            S(1, "get_children", path="/zookeeper"),
            S(1, "exists", path="/"), S(1, "exists", path="/zookeeper"),
            S(1, "get_data", path="/zookeeper/config"),
            S(1, "close"), S(2, "close")]
    seqs["system_nodes"] = ops

    # TTL arguments and TTL/container creation modes.
    ops = [S(1, "connect"), S(1, "create", path="/t")]
    n = 0
    for mode in ["persistent_with_ttl", "persistent_sequential_with_ttl"]:
        for ttl in [NEVER_TTL, 0, -1, -1000, (1 << 40) - 1, 1 << 40, 1 << 62, -(1 << 62)]:
            ops.append(S(1, "create", path=f"/t/n{n}", mode=mode, ttl=ttl))
            n += 1
        ops.append(S(1, "create", path=f"/t/n{n}", mode=mode))
        n += 1
    for mode in ["persistent", "ephemeral", "persistent_sequential", "ephemeral_sequential", "container"]:
        for ttl in [0, 1, 5000]:
            ops.append(S(1, "create", path=f"/t/m{n}", mode=mode, ttl=ttl))
            n += 1
    ops += [S(1, "get_children", path="/t"),
            S(1, "create", path="/t/x1", mode="persistent_with_ttl", ttl=EXPIRING_TTL, data="short"),
            {"op": "reap"},
            S(1, "exists", path="/t/x1"),
            S(1, "create", path="/t/x2-", mode="persistent_sequential_with_ttl", ttl=EXPIRING_TTL),
            {"op": "reap"},
            S(1, "get_children", path="/t"),
            S(1, "create", path="/t/ttlparent", mode="persistent_with_ttl", ttl=NEVER_TTL),
            S(1, "create", path="/t/ttlparent/e", mode="ephemeral"),
            S(1, "create", path="/t/ttlparent/t", mode="persistent_with_ttl", ttl=NEVER_TTL),
            S(1, "set_data", path="/t/ttlparent", data="x"),
            S(1, "get_data", path="/t/ttlparent"),
            S(1, "close")]
    seqs["ttl_args"] = ops

    # Negotiated session timeouts (tickTime 2000: between 4000 and 40000).
    ops = []
    for h, t in enumerate([30000, 0, 1, 3999, 4000, 4001, 39999, 40000, 40001, 2147483647, -1, -30000], start=1):
        ops.append(S(h, "connect", timeout_ms=t))
    ops.append(S(3, "create", path="/e", mode="ephemeral"))
    ops.append(S(12, "get_data", path="/e"))
    for h in range(1, 13):
        ops.append(S(h, "close"))
    seqs["connect_timeouts"] = ops

    # Data sizes, null data, empty data, non-ASCII data.
    big = "".join(chr(ord("a") + (i * 7) % 26) for i in range(100000))
    ops = [S(1, "connect"), S(2, "connect"),
           S(1, "create", path="/null", data=None),
           S(1, "create", path="/empty", data=""),
           S(1, "create", path="/default"),
           S(1, "create", path="/one", data="1"),
           S(1, "create", path="/utf8", data="ünïcødé ✓ 数据 🙂"),
           S(1, "create", path="/ctl", data="\u0000\u0001\u001f\u007f"),
           S(1, "create", path="/big", data=big),
           S(1, "get_data", path="/null"), S(1, "get_data", path="/empty"),
           S(1, "get_data", path="/default"), S(1, "get_data", path="/utf8"),
           S(1, "get_data", path="/ctl"), S(1, "exists", path="/big"),
           S(2, "get_data", path="/big", watch=True),
           S(1, "set_data", path="/big", data=big[:50000]),
           S(1, "set_data", path="/null", data="now"),
           S(1, "set_data", path="/empty", data=None),
           S(1, "get_data", path="/empty"), S(1, "get_data", path="/null"),
           S(1, "set_data", path="/one", data="", version=0),
           S(1, "set_data", path="/one", data="", version=0),
           S(1, "get_data", path="/one"),
           S(1, "multi_read", ops=[{"op": "get_data", "path": "/null"}, {"op": "get_data", "path": "/empty"},
                                   {"op": "get_data", "path": "/big"}]),
           S(1, "close"), S(2, "close")]
    seqs["data_sizes"] = ops
    return seqs


# ---------------------------------------------------------------------------
# Command line


def write_fixture(out_dir, name, ops_text, exp_text):
    with open(os.path.join(out_dir, f"{name}.ops.jsonl"), "w", encoding="utf-8") as f:
        f.write(ops_text)
    with open(os.path.join(out_dir, f"{name}.expected.jsonl"), "w", encoding="utf-8") as f:
        f.write(exp_text)


def load_ops(path):
    ops = []
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    comment = ""
    for line in lines:
        t = line.strip()
        if not t:
            continue
        if t.startswith("#"):
            if not comment:
                comment = t[1:].strip()
            continue
        ops.append(json.loads(t))
    return ops, comment


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def job_focused(name, ops):
    try:
        ops_text, exp_text, n = record_sequence(
            name, f"focused sequence {name} (tools/zk-reference/record.py)", ops=ops, log=log)
        return name, ops_text, exp_text, n, None
    except Invalid as e:
        return name, None, None, 0, str(e)


def job_random(seed):
    name = f"random_{seed:05d}"
    try:
        ops_text, exp_text, n = record_sequence(
            name, f"random sequence, seed {seed} (tools/zk-reference/record.py --seed)",
            gen_factory=lambda: RandomGen(seed), log=log)
        return name, ops_text, exp_text, n, None
    except Invalid as e:
        return name, None, None, 0, str(e)


def job_check(path):
    name = os.path.basename(path)[:-len(".ops.jsonl")]
    ops, _ = load_ops(path)
    exp_path = path[:-len(".ops.jsonl")] + ".expected.jsonl"
    with open(exp_path, encoding="utf-8") as f:
        expected = f.read()
    try:
        _, outs = record_with_retries(ops, log=log)
    except Invalid as e:
        return name, f"could not record: {e}"
    got = "".join(dumps(out) + "\n" for out, _ in outs)
    if got == expected:
        return name, None
    diff = "".join(difflib.unified_diff(expected.splitlines(True), got.splitlines(True),
                                        f"{name}.expected.jsonl", "ZooKeeper now", n=0))
    return name, diff[:5000]


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Record Apache ZooKeeper 3.8.0's answers as `zksim tree replay` fixtures "
                    "(docs/tree-replay.md). Needs Debian's zookeeper package and java.")
    p.add_argument("--out", default=DEFAULT_OUT, help="fixture directory (default: %(default)s)")
    p.add_argument("--files", type=int, default=60, help="number of random sequences (default: %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="first seed; a seed whose sequence cannot be "
                   "recorded deterministically is skipped for the next one (default: %(default)s)")
    p.add_argument("--jobs", type=int, default=3, help="servers run at once (default: %(default)s)")
    p.add_argument("--no-focused", action="store_true", help="skip the focused sequences")
    p.add_argument("--only", help="record only this focused sequence (or random_NNNNN)")
    p.add_argument("--check", action="store_true",
                   help="re-record every committed *.ops.jsonl in --out once and diff it against "
                        "its *.expected.jsonl; exit 1 on any difference")
    args = p.parse_args(argv)
    check_environment()
    os.makedirs(args.out, exist_ok=True)
    t0 = time.monotonic()

    if args.check:
        paths = sorted(os.path.join(args.out, f) for f in os.listdir(args.out) if f.endswith(".ops.jsonl"))
        if args.only:
            paths = [x for x in paths if os.path.basename(x).startswith(args.only + ".")]
        bad = 0
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as ex:
            for name, problem in ex.map(job_check, paths):
                if problem is None:
                    log(f"{name}: same")
                else:
                    bad += 1
                    log(f"{name}: DIFFERENT\n{problem}")
        log(f"{len(paths) - bad} same, {bad} different ({time.monotonic() - t0:.0f}s)")
        return 1 if bad else 0

    focused = focused_sequences()
    total_ops = 0
    files = 0
    failures = []
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as ex:
        if args.only and args.only.startswith("random_"):
            jobs = [ex.submit(job_random, int(args.only.split("_")[1]))]
        elif args.only:
            jobs = [ex.submit(job_focused, args.only, focused[args.only])]
        else:
            jobs = [] if args.no_focused else [ex.submit(job_focused, n, o) for n, o in focused.items()]
        for fut in jobs:
            name, ops_text, exp_text, n, err = fut.result()
            if err:
                failures.append((name, err))
                log(f"{name}: FAILED: {err}")
                continue
            write_fixture(args.out, name, ops_text, exp_text)
            total_ops += n
            files += 1
            log(f"{name}: {n} ops")
        if not args.only:
            seed = args.seed
            done = 0
            while done < args.files:
                need = args.files - done
                batch = [ex.submit(job_random, sd) for sd in range(seed, seed + need)]
                seed += need
                for fut in batch:
                    name, ops_text, exp_text, n, err = fut.result()
                    if err:
                        log(f"{name}: dropped: {err}")
                        continue
                    write_fixture(args.out, name, ops_text, exp_text)
                    total_ops += n
                    files += 1
                    done += 1
                    log(f"{name}: {n} ops")
    log(f"wrote {files} fixtures, {total_ops} operations, in {time.monotonic() - t0:.0f}s")
    if failures:
        for name, err in failures:
            log(f"FAILED {name}: {err}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
