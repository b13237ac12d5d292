"""The load balancer's part of the functional lab (lab.py is the harness):
backends that say who they are, a client process that drives many flows
with fixed source ports, an environment with one client and three backends
behind VIPs, and the checks the DSR and NAT tests share."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Iterable

from lab import (  # the harness
    Host,
    Lab,
    LabError,
    PYTHON,
    Proc,
    Topology,
    check_lab_address,
    ping,
    wait_stable,
    wait_value,
)


# --------------------------------------------------------------------------
# load balancer: backends that say who they are, a client that drives flows

LB_VIP4 = "198.18.100.1"      # inside 198.18.0.0/15, on no port's subnet
LB_VIP6 = "2001:db8:100::1"

# One process per backend: HTTP/1.1 servers (keep-alive, so a connection
# can live across a reload) answering every GET with who answered and what
# it saw, and UDP sockets answering every datagram likewise, with the TTL /
# hop limit it arrived with (IP_RECVTTL, IPV6_RECVHOPLIMIT): L2 DSR leaves
# the IP header untouched, NAT routes (decrements it).
LB_SERVER = r'''
import json, selectors, socket, socketserver, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
spec = json.loads(sys.argv[1])
NAME = spec["name"]
IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
IP_TTL = getattr(socket, "IP_TTL", 2)
IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = (json.dumps({"n": NAME, "p": list(self.connection.getpeername()[:2]),
                            "l": list(self.connection.getsockname()[:2]),
                            "path": self.path}) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024
    def server_bind(self):
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        # Not HTTPServer.server_bind: its getfqdn() may wait on DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = NAME, self.server_address[1]
    def handle_error(self, request, client_address):
        # A health checker resets its connection once it has the status
        # line (control/health/probe.cpp): not an error worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

class Server6(Server):
    address_family = socket.AF_INET6

for bind, port in spec["tcp"]:
    srv = (Server6 if ":" in bind else Server)((bind, port), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()

sel = selectors.DefaultSelector()
for bind, port in spec["udp"]:
    v6 = ":" in bind
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    if v6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
    else:
        s.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((bind, port))
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
print("lb-server ready", NAME, flush=True)
if not spec["udp"]:
    threading.Event().wait()
while True:
    for key, _ in sel.select():
        s = key.fileobj
        for _ in range(256):
            try:
                data, anc, _flags, peer = s.recvmsg(2048, socket.CMSG_SPACE(4))
            except BlockingIOError:
                break
            ttl = None
            for level, typ, cdata in anc:
                if (level, typ) in ((socket.IPPROTO_IP, IP_TTL), (socket.IPPROTO_IPV6, IPV6_HOPLIMIT)):
                    ttl = int.from_bytes(cdata[:4], sys.byteorder)
            reply = {"n": NAME, "p": list(peer[:2]), "l": list(s.getsockname()[:2]), "t": ttl,
                     "e": data[:64].decode(errors="replace")}
            try:
                s.sendto(json.dumps(reply).encode(), peer)
            except OSError as e:
                print("udp reply failed:", peer, e, flush=True)
'''

# The client: one process in the client namespace that takes JSON commands
# on stdin and answers each with one JSON line {"seq": n, ...}. Every flow
# is [src, sport, dst, dport] with an explicit source port, so that a test
# uses the same 5-tuples on every run (the flow hash is deterministic).
#   udp:     each flow one connected socket; send, wait for the answer,
#            resend the unanswered (bounded tries); {"results", "sent"}
#   tcp:     one HTTP GET per flow on its own connection (Connection: close,
#            the server closes first: no TIME_WAIT on the client, so the
#            source port can be used again); {"results"}
#   open:    keep-alive connections kept by id, one GET each; {"results"}
#   request: one more GET on each open connection; {"results"}
#   close:   closes open connections; {"closed"}
# A result is the server's JSON, or {"error": "..."}.
LB_CLIENT = r'''
import json, re, selectors, socket, sys, time
from concurrent.futures import ThreadPoolExecutor
conns = {}

def fam(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET

def err(e):
    return {"error": f"{type(e).__name__}: {e}"}

def udp(flows, tries=4, wait=1.0, batch=200, tag="u"):
    results = [None] * len(flows)
    sent = 0
    for b0 in range(0, len(flows), batch):
        idx = range(b0, min(b0 + batch, len(flows)))
        socks = {}
        sel = selectors.DefaultSelector()
        try:
            for i in idx:
                src, sport, dst, dport = flows[i]
                s = socket.socket(fam(dst), socket.SOCK_DGRAM)
                socks[i] = s
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((src, sport))
                s.connect((dst, dport))
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ, i)
            pending = set(idx)
            for attempt in range(tries):
                for i in sorted(pending):
                    try:
                        socks[i].send(f"{tag}:{flows[i][1]}:{attempt}".encode())
                        sent += 1
                    except OSError as e:
                        results[i] = err(e)
                deadline = time.monotonic() + wait
                while pending and time.monotonic() < deadline:
                    for key, _ in sel.select(max(0.0, deadline - time.monotonic())):
                        i = key.data
                        try:
                            data = key.fileobj.recv(4096)
                        except OSError as e:
                            results[i] = err(e)
                            continue
                        if i in pending:
                            results[i] = json.loads(data)
                            pending.discard(i)
                if not pending:
                    break
        finally:
            sel.close()
            for s in socks.values():
                s.close()
    return {"results": results, "sent": sent}

def get(s, path, close):
    hdr = "Connection: close\r\n" if close else ""
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: lb\r\n{hdr}\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed by the peer before the response headers")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise ConnectionError("status " + head.split(b"\r\n")[0].decode(errors="replace"))
    n = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
    while len(body) < n:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed by the peer inside the response body")
        body += chunk
    return json.loads(body[:n])

def connect(src, sport, dst, dport, timeout):
    s = socket.socket(fam(dst), socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.settimeout(timeout)
        s.bind((src, sport))
        s.connect((dst, dport))
    except BaseException:
        s.close()
        raise
    return s

def one(flow, timeout):
    src, sport, dst, dport = flow
    try:
        s = connect(src, sport, dst, dport, timeout)
    except OSError as e:
        return err(e)
    try:
        r = get(s, f"/one/{sport}", True)
        for _ in range(100):   # to the server's FIN: it closes first
            if not s.recv(4096):
                break
        return r
    except (OSError, ValueError, AttributeError) as e:
        return err(e)
    finally:
        s.close()

def tcp(flows, threads=16, timeout=5.0):
    with ThreadPoolExecutor(threads) as ex:
        return {"results": list(ex.map(lambda f: one(f, timeout), flows))}

def open_(conns_spec, timeout=5.0):
    out = []
    for cid, src, sport, dst, dport in conns_spec:
        try:
            s = connect(src, sport, dst, dport, timeout)
            conns[cid] = s
            out.append(get(s, f"/open/{cid}", False))
        except (OSError, ValueError, AttributeError) as e:
            out.append(err(e))
    return {"results": out}

def request(ids):
    out = []
    for cid in ids:
        try:
            out.append(get(conns[cid], f"/again/{cid}", False))
        except (OSError, ValueError, AttributeError, KeyError) as e:
            out.append(err(e))
    return {"results": out}

def close(ids):
    for cid in ids:
        s = conns.pop(cid, None)
        if s:
            s.close()
    return {"closed": len(ids)}

OPS = {"udp": udp, "tcp": tcp, "open": open_, "request": request, "close": close}
print(json.dumps({"seq": 0, "ready": True}), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    try:
        out = OPS[cmd["op"]](**cmd.get("args", {}))
    except Exception as e:
        out = {"exception": repr(e)}
    print(json.dumps({"seq": cmd["seq"], **out}), flush=True)
'''


def dsr_backend(host: Host, vips: Iterable[str]):
    """Makes a host an L2 DSR backend (docs/lb.md, as LVS-DR real servers):
    each VIP on its loopback, and it neither answers ARP for them
    (arp_ignore=1: only for addresses of the receiving interface) nor uses
    them as ARP source (arp_announce=2). "all" covers the interfaces a
    restart() recreates. Its default routes point at the router already, so
    its replies (from the VIP) go straight back to the client."""
    for key in ("net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2",
                f"net.ipv4.conf.{host.ifname}.arp_ignore=1",
                f"net.ipv4.conf.{host.ifname}.arp_announce=2"):
        host.run(["sysctl", "-qw", key])
    for vip in vips:
        check_lab_address(vip)
        if ":" in vip:
            host.run(["ip", "-6", "addr", "add", f"{vip}/128", "dev", "lo", "nodad"])
        else:
            host.run(["ip", "addr", "add", f"{vip}/32", "dev", "lo"])


def start_lb_server(host: Host, name: str, *, tcp: Iterable[tuple[str, int]] = (),
                    udp: Iterable[tuple[str, int]] = (), timeout: float = 15) -> Proc:
    """Starts LB_SERVER in a host: HTTP on each (bind, port) of `tcp`, UDP
    on each of `udp` (bind the address the replies must come from: the VIP
    for DSR, the backend's own for NAT). Returns once it listens."""
    spec = {"name": name, "tcp": [list(t) for t in tcp], "udp": [list(u) for u in udp]}
    p = host.ns.popen([PYTHON, "-c", LB_SERVER, json.dumps(spec)])
    try:
        p.wait_line(r"lb-server ready", timeout=timeout)
    except LabError as e:
        raise LabError(f"backend server {name} in {host.name}: {e}") from None
    return p


class LbClient:
    """LB_CLIENT running in a host; call() sends one command and waits for its answer."""

    def __init__(self, host: Host, *, timeout: float = 15):
        self.host = host
        self.proc = host.ns.popen([PYTHON, "-u", "-c", LB_CLIENT], keep_stdin=True)
        self.seq = 0
        self.proc.wait_line(r'^\{"seq": 0, "ready": true\}', timeout=timeout)

    def call(self, op: str, *, budget: float, **args) -> dict:
        """Sends one command; waits up to `budget` seconds for its answer."""
        self.seq += 1
        start = self.proc.line_count()
        assert self.proc.p.stdin is not None
        try:
            self.proc.p.stdin.write(json.dumps({"seq": self.seq, "op": op, "args": args}) + "\n")
            self.proc.p.stdin.flush()
        except OSError as e:
            raise LabError(f"lb client exited: {e}\n{self.proc.output()[-2000:]}") from None
        m = self.proc.wait_line(rf'^\{{"seq": {self.seq}[,}}]', timeout=budget, start=start)
        reply = json.loads(m.string)
        if "exception" in reply:
            raise LabError(f"lb client {op}: {reply['exception']}")
        return reply

    def udp(self, flows: list, *, tries: int = 4, wait: float = 1.0, batch: int = 200,
            tag: str = "u") -> dict:
        """{"results": [server reply or None or {"error"}], "sent": datagrams}."""
        budget = (len(flows) / max(1, batch) + 1) * (tries * wait + 2) + 10
        return self.call("udp", budget=budget, flows=flows, tries=tries, wait=wait,
                         batch=batch, tag=tag)

    def tcp(self, flows: list, *, threads: int = 16, timeout: float = 5.0) -> list:
        budget = len(flows) * timeout / threads + 2 * timeout + 30
        return self.call("tcp", budget=budget, flows=flows, threads=threads,
                         timeout=timeout)["results"]

    def open(self, conns: list, *, timeout: float = 5.0) -> list:
        """conns: [[id, src, sport, dst, dport]]; keep-alive connections, one GET each."""
        return self.call("open", budget=len(conns) * timeout + 10, conns_spec=conns,
                         timeout=timeout)["results"]

    def request(self, ids: list) -> list:
        return self.call("request", budget=len(ids) * 5 + 10, ids=ids)["results"]

    def close(self, ids: list):
        self.call("close", budget=10, ids=ids)

    def stop(self):
        self.proc.stop(timeout=5)


def lb_backend_key(address: str, port: int = 0) -> str:
    """The key of a backend in /sluice/lb/backends: "<address>_<port>", '.' and ':' as '_'."""
    return f"{address}_{port}".replace(".", "_").replace(":", "_")


def reply_name(r) -> str | None:
    """The backend that answered (a server reply), or None (no answer / error)."""
    return r.get("n") if isinstance(r, dict) else None


class LbEnv:
    """A load balancer lab: Lab(hosts=4), host a the client and b, c, d the
    backends, each running start_lb_server under its own key as name. Two
    VIPs, "web4" on LB_VIP4 and "web6" on LB_VIP6, protocol both, port
    `vip_port`, in `mode`, with b, c, d (their address of the VIP's family)
    as backends; NAT backends get `backend_port` when given (the servers
    listen there). For l2_dsr the backends hold the VIPs (dsr_backend).
    Call start(), and close() at the end (fixtures: addfinalizer)."""

    BACKENDS = ("b", "c", "d")

    def __init__(self, mode: str, *, tag: str, binary: Path | None = None, vip_port: int = 80,
                 backend_port: int | None = None, lb: dict | None = None, **lab_kw):
        self.mode = mode
        self.vip_port = vip_port
        self.backend_port = backend_port
        self.server_port = backend_port or vip_port
        topo = Topology(hosts=4, prefix="x")
        hosts = {p.key: p for p in topo.ports}
        vips = []
        for fam, vip in ((4, LB_VIP4), (6, LB_VIP6)):
            backends = []
            for k in self.BACKENDS:
                b = {"address": hosts[k].host_v4 if fam == 4 else hosts[k].host_v6}
                if backend_port:
                    b["port"] = backend_port
                backends.append(b)
            vips.append({"name": f"web{fam}", "address": vip, "protocol": "both",
                         "port": vip_port, "mode": mode, "backends": backends})
        self.lab = Lab(hosts=4, tag=tag, binary=binary, vips=vips, lb=lb, **lab_kw)
        self.client: LbClient | None = None
        self.servers: dict[str, Proc] = {}

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> "LbEnv":
        try:
            self.lab.start()
            self.a = self.lab.hosts["a"]
            self.backends = {k: self.lab.hosts[k] for k in self.BACKENDS}
            for k, h in self.backends.items():
                if self.mode == "l2_dsr":
                    dsr_backend(h, [LB_VIP4, LB_VIP6])
                    udp_binds = [(LB_VIP4, self.server_port), (LB_VIP6, self.server_port)]
                else:
                    udp_binds = [(h.v4, self.server_port), (h.v6, self.server_port)]
                tcp_binds = [("0.0.0.0", self.server_port), ("::", self.server_port)]
                self.servers[k] = start_lb_server(h, k, tcp=tcp_binds, udp=udp_binds)
            self.client = LbClient(self.a)
            self.warm_up()
        except BaseException:
            self.close()
            raise
        return self

    def warm_up(self):
        """The router resolves every host (a live network would have): pings
        both ways between the client and each backend, both families."""
        for h in self.backends.values():
            for src, dst in ((self.a, h.v4), (self.a, h.v6), (h, self.a.v4), (h, self.a.v6)):
                res = wait_value(lambda: ping(src, dst, count=1, wait=1),
                                 lambda r: r["received"] == 1, timeout=15,
                                 what=f"ping {src.name} -> {dst}")
                assert res["received"] == 1

    def close(self):
        if self.client:
            self.client.stop()
        self.lab.close()

    def describe(self) -> str:
        out = self.lab.describe()
        for k, p in self.servers.items():
            text = p.output().strip()
            if text or not p.alive():
                out += f"\n--- backend server {k} ({'running' if p.alive() else 'exited'}) ---\n"
                out += text[-1500:]
        if self.client and not self.client.proc.alive():
            out += f"\n--- lb client exited ---\n{self.client.proc.output()[-1500:]}"
        return out

    # -- flows ---------------------------------------------------------------

    def vip(self, fam: int) -> str:
        return LB_VIP4 if fam == 4 else LB_VIP6

    def vip_name(self, fam: int) -> str:
        return f"web{fam}"

    def flows(self, fam: int, sports: Iterable[int], dport: int | None = None) -> list[list]:
        """[[client address, sport, VIP, VIP port]] for each source port."""
        src = self.a.v4 if fam == 4 else self.a.v6
        return [[src, sp, self.vip(fam), dport or self.vip_port] for sp in sports]

    def backend_address(self, key: str, fam: int) -> str:
        h = self.backends[key]
        return h.v4 if fam == 4 else h.v6

    def key_of(self, address_text: str) -> str | None:
        """The backend key ("b") of an address, or of telemetry's "addr port" text."""
        if not address_text:
            return None
        addr = address_text.split()[0]
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return None
        for k, h in self.backends.items():
            if ip in (ipaddress.ip_address(h.v4), ipaddress.ip_address(h.v6)):
                return k
        return None

    def which(self, proto: str, flow: list) -> dict:
        src, sport, dst, dport = flow
        return self.lab.lb_which(proto, src, sport, dst, dport)

    def backend_counters(self, fam: int) -> dict[str, dict]:
        """/sluice/lb/backends of the family's VIP, keyed by backend key ("b")."""
        out = {}
        for entry in self.lab.lb_backends(self.vip_name(fam)).values():
            k = self.key_of(str(entry.get("address", "")))
            if k:
                out[k] = entry
        return out

    def set_backend(self, key: str, *, state: str | None = None, remove: bool = False,
                    fams: Iterable[int] = (4, 6)) -> re.Match:
        """Changes one backend in the config of the given families' VIPs
        (state, or removed) and reloads; returns the reload's line."""
        for fam in fams:
            vip = next(v for v in self.lab.vips if v["name"] == self.vip_name(fam))
            addr = self.backend_address(key, fam)
            if remove:
                vip["backends"] = [b for b in vip["backends"] if b["address"] != addr]
            else:
                for b in vip["backends"]:
                    if b["address"] == addr:
                        b["state"] = state
        self.lab.write_config()
        return self.lab.reload(expect="applied", timeout=20)


def spread_report(names: Iterable, keys: Iterable[str]) -> dict[str, int]:
    """How many flows each backend got; unanswered flows (None) and unknown
    names are counted under their own keys."""
    counts = {k: 0 for k in keys}
    for n in names:
        k = "unanswered" if n is None else n if n in counts else f"other:{n}"
        counts[k] = counts.get(k, 0) + 1
    return counts


# --------------------------------------------------------------------------
# load balancer checks shared by test_lb_dsr.py and test_lb_nat.py: each
# takes a started LbEnv, asserts what holds in every mode and returns what
# it saw, for the mode's own assertions.

def lb_names(env: LbEnv, results: list, what: str) -> list[str]:
    """The backend that answered each flow; fails naming the flows without one."""
    bad = [(i, r) for i, r in enumerate(results) if not reply_name(r)]
    if bad:
        raise AssertionError(f"{what}: {len(bad)} of {len(results)} flows got no answer, "
                             f"first: {bad[:5]}" + env.describe())
    return [r["n"] for r in results]


def lb_assert_even(env: LbEnv, names: list[str], what: str, *, keys: Iterable[str] = LbEnv.BACKENDS,
                   tolerance: float = 0.10) -> dict[str, int]:
    """Each backend in `keys` got within `tolerance` of an even share."""
    keys = list(keys)
    counts = spread_report(names, keys)
    even = len(names) / len(keys)
    off = {k: counts[k] for k in keys if abs(counts[k] - even) > tolerance * even}
    others = {k: v for k, v in counts.items() if k not in keys}
    assert not off and not others, \
        (f"{what}: {counts} for {len(names)} flows, even is {even:.0f} ± {tolerance * even:.0f}; "
         f"outside: {off}, elsewhere: {others}" + env.describe())
    return counts


def _delta(after: dict, before: dict, field: str) -> dict[str, int]:
    return {k: int(after[k][field]) - int(before.get(k, {}).get(field, 0)) for k in after}


def _lb_drops(env: LbEnv) -> dict[str, int]:
    return {k: v for k, v in env.lab.drops().items() if k.startswith("lb_") and v}


def lb_settle(env: LbEnv, fams: Iterable[int] = (4, 6)) -> dict:
    """Waits for the VIP counters to stop moving (quiescence, as
    Lab.wait_quiescent) and returns {fam: (vip entry, {key: backend entry})}."""
    fams = list(fams)

    def read():
        vips = env.lab.lb_vips()
        return {f: (vips[env.vip_name(f)], env.backend_counters(f)) for f in fams}
    return wait_stable(read, timeout=10, interval=0.2, what="load balancer counters at rest")


def lb_check_spread(env: LbEnv, fam: int, *, n_udp: int = 3000, n_tcp: int = 3000) -> dict:
    """Many UDP flows and TCP connections spread within 10% of even over
    the three backends, every one answered; the VIP's and the backends'
    new_flows count exactly the flows each backend got, and the backends'
    packets and bytes add up to the VIP's. Fixed source ports: the same
    flows on every run (with p = 1/3 the binomial sd is about 26 at 3000
    flows, against a tolerance of 100: 3.9 sd)."""
    before = lb_settle(env, [fam])[fam]
    udp_flows = env.flows(fam, range(20000, 20000 + n_udp))
    tcp_flows = env.flows(fam, range(30000, 30000 + n_tcp))
    udp = env.client.udp(udp_flows)
    udp_names = lb_names(env, udp["results"], f"IPv{fam} UDP flows")
    tcp = env.client.tcp(tcp_flows)
    tcp_names = lb_names(env, tcp, f"IPv{fam} TCP connections")
    udp_counts = lb_assert_even(env, udp_names, f"IPv{fam} UDP flows per backend")
    tcp_counts = lb_assert_even(env, tcp_names, f"IPv{fam} TCP connections per backend")

    vip_after, be_after = lb_settle(env, [fam])[fam]
    vip_before, be_before = before
    new_vip = int(vip_after["new_flows"]) - int(vip_before["new_flows"])
    new_be = _delta(be_after, be_before, "new_flows")
    want_be = {k: udp_counts[k] + tcp_counts[k] for k in env.BACKENDS}
    assert new_vip == n_udp + n_tcp and new_be == want_be, \
        (f"IPv{fam} new_flows: VIP +{new_vip} (flows {n_udp + n_tcp}), backends {new_be} "
         f"(answered {want_be})" + env.describe())
    for name in ("packets", "bytes", "new_flows"):
        total = sum(int(e[name]) for e in be_after.values())
        assert total == int(vip_after[name]), \
            f"IPv{fam} {name}: backends {be_after} add up to {total}, VIP {vip_after}"
    assert int(vip_after["packets"]) - int(vip_before["packets"]) >= n_udp + 3 * n_tcp, \
        f"IPv{fam} VIP packets {vip_before} -> {vip_after}"
    drops = _lb_drops(env)
    assert not drops, f"load balancer drops during clean traffic: {drops}" + env.describe()
    return {"udp": udp, "tcp": tcp, "udp_flows": udp_flows, "tcp_flows": tcp_flows,
            "udp_counts": udp_counts, "tcp_counts": tcp_counts,
            "vip": vip_after, "backends": be_after}


def _open_long(env: LbEnv, per_fam: int, base: int) -> dict[str, tuple[int, str]]:
    """Opens keep-alive connections to both VIPs; {id: (family, backend)}."""
    spec = []
    for fam in (4, 6):
        for i, flow in enumerate(env.flows(fam, range(base, base + per_fam))):
            spec.append([f"v{fam}-{i}", *flow])
    res = env.client.open(spec)
    names = lb_names(env, res, "long-lived TCP connections (opening)")
    return {s[0]: (int(s[0][1]), n) for s, n in zip(spec, names)}


def _check_long(env: LbEnv, conns: dict[str, tuple[int, str]], what: str):
    """One more request on each connection: answered by the same backend
    on the same connection (the server sees the same client port)."""
    ids = list(conns)
    res = env.client.request(ids)
    bad = [(cid, conns[cid][1], r) for cid, r in zip(ids, res)
           if reply_name(r) != conns[cid][1] or "/again/" not in r.get("path", "")]
    assert not bad, (f"{what}: {len(bad)} of {len(ids)} established connections broke or moved "
                     f"(id, backend before, reply): {bad[:6]}" + env.describe())


def _udp_round(env: LbEnv, flows_by_fam: dict[int, list], what: str) -> dict[int, list[str]]:
    return {fam: lb_names(env, env.client.udp(flows)["results"], f"{what} (IPv{fam})")
            for fam, flows in flows_by_fam.items()}


def lb_check_drain(env: LbEnv) -> dict:
    """Draining a backend by reload: its established TCP connections and
    UDP flows stay with it and keep working (no reset); new flows never go
    to it; its new_flows counter stops while the others count exactly the
    new flows they got."""
    conns = _open_long(env, 24, 40000)
    old_udp = {fam: env.flows(fam, range(21000, 21600)) for fam in (4, 6)}
    old_names = _udp_round(env, old_udp, "UDP flows before the drain")
    per = {k: sum(1 for f, n in conns.values() if n == k) for k in env.BACKENDS}
    drained = max(env.BACKENDS, key=lambda k: per[k])
    for fam in (4, 6):
        assert any(f == fam and n == drained for f, n in conns.values()), \
            f"no IPv{fam} long-lived connection on {drained}: {conns}"

    env.set_backend(drained, state="drain")
    at_drain = lb_settle(env)
    for fam in (4, 6):
        state = at_drain[fam][1][drained].get("state")
        assert state == "drain", f"IPv{fam} backend {drained} state {state!r}: {at_drain[fam][1]}"

    _check_long(env, conns, f"after draining {drained}")
    again = _udp_round(env, old_udp, "the same UDP flows after the drain")
    for fam in (4, 6):
        moved = [(f[1], a, b) for f, a, b in zip(old_udp[fam], old_names[fam], again[fam]) if a != b]
        assert not moved, f"IPv{fam} UDP flows moved by the drain (sport, before, after): {moved[:8]}"

    new_udp = {fam: env.flows(fam, range(23000, 23900)) for fam in (4, 6)}
    new_names = _udp_round(env, new_udp, "new UDP flows after the drain")
    new_tcp = {fam: lb_names(env, env.client.tcp(env.flows(fam, range(36000, 36300))),
                             f"new IPv{fam} TCP connections after the drain") for fam in (4, 6)}
    for fam in (4, 6):
        for what, names in (("UDP flows", new_names[fam]), ("TCP connections", new_tcp[fam])):
            counts = spread_report(names, env.BACKENDS)
            assert counts[drained] == 0 and all(counts[k] for k in env.BACKENDS if k != drained), \
                f"new IPv{fam} {what} after draining {drained}: {counts}" + env.describe()
    _check_long(env, conns, f"after new flows with {drained} drained")

    after = lb_settle(env)
    for fam in (4, 6):
        new = _delta(after[fam][1], at_drain[fam][1], "new_flows")
        want = {k: spread_report(new_names[fam] + new_tcp[fam], env.BACKENDS)[k] for k in env.BACKENDS}
        assert new == want, \
            (f"IPv{fam} new_flows since the drain {new}, flows answered {want} "
             f"({drained} drained)" + env.describe())
        pk = _delta(after[fam][1], at_drain[fam][1], "packets")
        assert pk[drained] > 0, f"IPv{fam}: no packets counted for drained {drained}: {pk}"
    env.client.close(list(conns))
    return {"drained": drained, "counters": after}


def lb_check_remove(env: LbEnv, removed: str = "d") -> dict:
    """Removing a backend by reload moves only its flows: every UDP flow of
    the other backends stays where it was, the removed backend's flows go
    to the others (on_backend_down: reschedule, the default), long-lived
    TCP connections to the others keep working with no reset. Also reports
    how many not yet started flows the Maglev table itself moved."""
    conns = _open_long(env, 24, 41000)
    for fam in (4, 6):
        on = {n for f, n in conns.values() if f == fam}
        assert on == set(env.BACKENDS), f"IPv{fam} long-lived connections only on {on}: {conns}"
    udp = {fam: env.flows(fam, range(24000, 24900)) for fam in (4, 6)}
    before = _udp_round(env, udp, "UDP flows before the removal")
    fresh = env.flows(4, range(50000, 51000))
    maglev_before = [env.key_of(env.which("udp", f)["maglev_backend"]) for f in fresh]

    env.set_backend(removed, remove=True)
    keep = {cid: v for cid, v in conns.items() if v[1] != removed}
    _check_long(env, keep, f"after removing {removed}")
    after = _udp_round(env, udp, "the same UDP flows after the removal")
    for fam in (4, 6):
        moved = [(f[1], a, b) for f, a, b in zip(udp[fam], before[fam], after[fam])
                 if a != removed and a != b]
        assert not moved, \
            (f"IPv{fam}: flows of backends other than {removed} moved (sport, before, after): "
             f"{moved[:8]} ({len(moved)} in all)" + env.describe())
        stuck = [(f[1], b) for f, a, b in zip(udp[fam], before[fam], after[fam])
                 if a == removed and b == removed]
        assert not stuck and removed in before[fam], \
            f"IPv{fam}: flows still answered by removed {removed}: {stuck[:8]}" + env.describe()
    maglev_after = [env.key_of(env.which("udp", f)["maglev_backend"]) for f in fresh]
    assert removed not in maglev_after, f"Maglev still gives {removed} after its removal"
    others_moved = sum(1 for a, b in zip(maglev_before, maglev_after) if a != removed and a != b)
    others = sum(1 for a in maglev_before if a != removed)
    assert others_moved <= 0.02 * others, \
        f"Maglev moved {others_moved} of {others} not yet started flows of the remaining backends"
    _check_long(env, keep, "after the removed backend's flows were resent")
    env.client.close(list(conns))
    return {"maglev_others_moved": others_moved, "maglev_others": others}


def lb_check_restart(env: LbEnv) -> dict:
    """Restarting the data plane on the same config sends every flow to
    the same backend as before, with nothing tracked: UDP flows, new TCP
    connections from the same ports, and established TCP connections (their
    next segment, not a SYN, is balanced by Maglev as Katran does) that keep
    working with no reset. /sluice/lb/which gives the same Maglev backend
    for every flow and shows nothing tracked right after the restart."""
    conns = _open_long(env, 24, 42000)
    udp = {fam: env.flows(fam, range(25000, 25900)) for fam in (4, 6)}
    tcp = {fam: env.flows(fam, range(37000, 37300)) for fam in (4, 6)}
    udp_before = _udp_round(env, udp, "UDP flows before the restart")
    tcp_before = {fam: lb_names(env, env.client.tcp(f), f"IPv{fam} TCP before the restart")
                  for fam, f in tcp.items()}
    sample = udp[4][:150] + udp[6][:150]
    which_before = [env.which("udp", f) for f in sample]
    assert all(w.get("tracked") == 1 for w in which_before), \
        f"flows not tracked before the restart: {[w for w in which_before if w.get('tracked') != 1][:4]}"

    env.lab.restart()
    which_after = [env.which("udp", f) for f in sample]
    tracked = [w for w in which_after if w.get("tracked") != 0]
    assert not tracked, f"flows still tracked after the restart: {tracked[:4]}" + env.describe()
    differ = [(f[1], b["maglev_backend"], a["maglev_backend"])
              for f, b, a in zip(sample, which_before, which_after)
              if a["maglev_backend"] != b["maglev_backend"]]
    assert not differ, f"Maglev backend differs after the restart (sport, before, after): {differ[:8]}"

    env.warm_up()
    _check_long(env, conns, "established connections after the restart")
    udp_after = _udp_round(env, udp, "the same UDP flows after the restart")
    tcp_after = {fam: lb_names(env, env.client.tcp(f), f"IPv{fam} TCP after the restart")
                 for fam, f in tcp.items()}
    for fam in (4, 6):
        for what, b, a, flows in (("UDP flows", udp_before[fam], udp_after[fam], udp[fam]),
                                  ("TCP connections", tcp_before[fam], tcp_after[fam], tcp[fam])):
            moved = [(f[1], x, y) for f, x, y in zip(flows, b, a) if x != y]
            assert not moved, (f"IPv{fam} {what} on another backend after the restart "
                               f"(sport, before, after): {moved[:8]} ({len(moved)} in all)"
                               + env.describe())
    env.client.close(list(conns))
    return {"udp": udp_after, "tcp": tcp_after}


def lb_check_which(env: LbEnv, fam: int) -> dict:
    """/sluice/lb/which predicts, without sending a packet, where each flow
    goes (nothing tracked yet: the Maglev backend); the packets then go
    exactly there and which shows them tracked to it. The per-VIP and
    per-backend counters add up: the VIP's packets are exactly the client's
    datagrams, new_flows per backend equal the flows it answered; packets,
    bytes, new_flows and tracked_flows of the backends sum to the VIP's."""
    udp = env.flows(fam, range(26000, 26600))
    tcp = env.flows(fam, range(38000, 38300))
    before = lb_settle(env, [fam])[fam]
    predicted = {}
    for proto, flows in (("udp", udp), ("tcp", tcp)):
        for f in flows:
            w = env.which(proto, f)
            assert w.get("vip") == env.vip_name(fam) and w.get("tracked") == 0 \
                and w.get("backend") == w.get("maglev_backend") and env.key_of(w["backend"]), \
                f"which {proto} {f} before any packet: {w}"
            predicted[(proto, f[1])] = env.key_of(w["backend"])
    quiet = lb_settle(env, [fam])[fam]
    assert quiet == before, f"which sent packets? counters {before} -> {quiet}"

    sent = env.client.udp(udp)
    udp_names = lb_names(env, sent["results"], f"IPv{fam} UDP flows")
    # The VIP counts what the client sent to it, nothing else: the replies
    # are not VIP traffic (DSR: they bypass the balancer; NAT: they are
    # routed and rewritten). Every datagram here is "u:<sport>:<try>",
    # 9 bytes: bytes count the frame (L2) or the IP packet (L3).
    vip_udp = lb_settle(env, [fam])[fam][0]
    pk = int(vip_udp["packets"]) - int(before[0]["packets"])
    by = int(vip_udp["bytes"]) - int(before[0]["bytes"])
    l3 = (20 if fam == 4 else 40) + 8 + 9
    assert pk == sent["sent"] and by in (sent["sent"] * (l3 + 14), sent["sent"] * l3), \
        (f"IPv{fam} VIP after {sent['sent']} datagrams of {l3} IP bytes: packets +{pk}, "
         f"bytes +{by}" + env.describe())
    tcp_names = lb_names(env, env.client.tcp(tcp), f"IPv{fam} TCP connections")
    wrong = [(p, f[1], predicted[(p, f[1])], n)
             for p, flows, names in (("udp", udp, udp_names), ("tcp", tcp, tcp_names))
             for f, n in zip(flows, names) if predicted[(p, f[1])] != n]
    assert not wrong, (f"IPv{fam}: packets went elsewhere than which said (proto, sport, which, "
                       f"answered by): {wrong[:8]} ({len(wrong)} in all)" + env.describe())
    for f, n in zip(udp, udp_names):
        w = env.which("udp", f)
        assert w.get("tracked") == 1 and env.key_of(w.get("tracked_backend", "")) == n \
            and env.key_of(w.get("backend", "")) == n, f"which udp {f} after its packets: {w}, answered by {n}"
    # Not a VIP: the client's own address.
    other = env.lab.lb_which("udp", env.backend_address("b", fam), 1, env.a.v4 if fam == 4
                             else env.a.v6, 80)
    assert other.get("vip") == "", f"which for a non-VIP destination: {other}"

    vip_after, be_after = lb_settle(env, [fam])[fam]
    vip_before, be_before = before
    counts = spread_report(udp_names + tcp_names, env.BACKENDS)
    new_be = _delta(be_after, be_before, "new_flows")
    assert new_be == {k: counts[k] for k in env.BACKENDS}, \
        f"IPv{fam} backends' new_flows +{new_be}, flows answered {counts}"
    assert int(vip_after["new_flows"]) - int(vip_before["new_flows"]) == len(udp) + len(tcp), \
        f"IPv{fam} VIP new_flows {vip_before['new_flows']} -> {vip_after['new_flows']}"
    for name in ("packets", "bytes", "new_flows", "tracked_flows"):
        total = sum(int(e[name]) for e in be_after.values())
        assert total == int(vip_after[name]), \
            f"IPv{fam} {name}: backends add up to {total}, VIP says {vip_after[name]}: {be_after}"
    assert int(vip_after["tracked_flows"]) >= len(udp), \
        f"IPv{fam}: {vip_after['tracked_flows']} tracked flows after {len(udp)} UDP flows"
    return {"udp_sent": sent["sent"], "n_udp": len(udp), "n_tcp": len(tcp),
            "before": before, "after": (vip_after, be_after)}


def lb_check_echo(env: LbEnv):
    """ICMP echo requests to either VIP are answered by the data plane
    itself (docs/lb.md: the VIP is an address of the balancer), whatever
    the backends hold: /sluice/icmp counts each echo reply it sent."""
    keys = {4: "v4_type0", 6: "v6_type129"}
    for fam in (4, 6):
        before = int(env.lab.tele("/sluice/icmp").get(keys[fam], 0))
        res = ping(env.a, env.vip(fam), count=5, interval=0.1)
        assert res["received"] == 5, f"ping {env.vip(fam)}: {res['out']}" + env.describe()
        sent = int(env.lab.tele("/sluice/icmp").get(keys[fam], 0)) - before
        assert sent == 5, f"/sluice/icmp {keys[fam]} +{sent} for 5 echo requests to {env.vip(fam)}"
