#!/usr/bin/env python3
"""Live lab demo: sluice-dp routes between four kernel hosts in network
namespaces (software NICs: net_tap), with pings (IPv4 and IPv6), a
traceroute and HTTP transfers through it, and balances a VIP over three
HTTP backends (L2 DSR) whose health the control process (sluice-control)
checks over a management network: half way through one backend is drained
with the CLI (sluicectl), later another one's health endpoint dies and it
leaves the Maglev table until it answers again, while the data plane's
counters (read over DPDK telemetry) are shown once a second. Everything is
removed at the end, also on Ctrl-C or SIGTERM.

Usage: tests/lab/demo.py [--duration SECONDS] [--binary PATH]
(tests/lab/demo.sh installs dependencies and builds first.)

    hA 198.18.1.2 ──tap── port a ┐                ┌ port c ──tap── hC 198.18.3.2
    2001:db8:1::2               │  sluice-dp     │               2001:db8:3::2
    (client of VIP               ├── (DPDK) ──────┤               198.19.0.1, VIP (lo)
     198.18.100.1:80)            │                │
    hB 198.18.2.2 ──tap── port b ┘                └ port d ──tap── hD 198.18.4.2
    2001:db8:2::2, VIP (lo)                                        VIP (lo)

The VIP web (198.18.100.1, TCP port 80, mode l2_dsr) has hB, hC and hD as
backends; each runs an HTTP server that answers with its name, and a health
endpoint on port 8081 that sluice-control probes (HTTP, every 300 ms, down
after 2 failures, up after 2 successes). The demo succeeds only if the
requests spread over the three (each within 20% of an even share), after hC
is drained no new connection reaches it while connections opened before the
drain are still answered by it, and hD leaves the table within
interval x fall + 100 ms of its health endpoint dying and comes back.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functional"))

import lab  # noqa: E402

import lb_lab  # noqa: E402

import control_lab  # noqa: E402

SERVICE4 = "198.19.0.1"
ROUTES = [{"prefix": "198.19.0.0/24", "via": "198.18.3.2"}]
NEIGHBORS = [{"address": "198.18.2.99", "mac": "02:5e:00:00:99:99", "port": "b"}]
VIP = lb_lab.LB_VIP4
VIP_NAME = "web"
LB_BACKENDS = ("b", "c", "d")
DRAINED = "c"
HEALTH = {"type": "http", "port": 8081, "path": "/", "interval_ms": 300, "timeout_ms": 200,
          "rise": 2, "fall": 2, "jitter_ms": 100}
VIPS = [{"name": VIP_NAME, "address": VIP, "protocol": "tcp", "port": 80, "mode": "l2_dsr",
         "backends": [{"address": f"198.18.{2 + i}.2"} for i in range(len(LB_BACKENDS))],
         "health": HEALTH}]
UNHEALTHY = "d"     # its health endpoint dies at 70% of the run and returns at 85%
# Requests per batch, one batch about every LB_TICK seconds, each on a new
# connection from the next source port (the same ports, hence the same
# spread, on every run).
LB_BATCH = 20
LB_TICK = 0.5
LB_LONG = 24        # keep-alive connections opened at the start


class Stop(Exception):
    pass


def _on_term(signum, frame):
    raise Stop()


def fmt_n(v: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= div:
            return f"{v / div:.1f}{unit}"
    return f"{v:.0f}"


class View:
    def __init__(self, the_lab: lab.Lab, tty: bool, lbd: "LbDemo | None" = None):
        self.lab = the_lab
        self.tty = tty
        self.lbd = lbd
        self.prev: dict | None = None
        self.prev_t = 0.0

    def render(self, elapsed: float, duration: float, events: list[str]) -> str:
        ports = self.lab.ports()
        drops = self.lab.drops()
        workers = self.lab.tele("/sluice/workers")
        neigh = self.lab.tele("/sluice/neighbors")
        cfg = self.lab.tele("/sluice/config")
        icmp = self.lab.tele("/sluice/icmp")
        now = time.monotonic()
        dt = now - self.prev_t if self.prev else 0
        out = [f"sluice-dp live lab  t={elapsed:4.0f}s/{duration:.0f}s  "
               f"config v{cfg.get('version')} ({cfg.get('source')})", ""]
        out.append(f"{'port':<6}{'rx pkts':>12}{'tx pkts':>12}{'rx pps':>10}{'tx pps':>10}"
                   f"{'missed':>9}{'driver':>12}")
        for name, p in sorted(ports.items()):
            rxr = txr = 0.0
            if self.prev and dt > 0 and name in self.prev["ports"]:
                rxr = (p["rx_packets"] - self.prev["ports"][name]["rx_packets"]) / dt
                txr = (p["tx_packets"] - self.prev["ports"][name]["tx_packets"]) / dt
            out.append(f"{name:<6}{p.get('rx_packets', 0):>12}{p.get('tx_packets', 0):>12}"
                       f"{fmt_n(rxr):>10}{fmt_n(txr):>10}{p.get('rx_missed', 0):>9}"
                       f"{str(p.get('driver', '')):>12}")
        out.append("")
        out.append(f"{'core':<9}{'rx':>10}{'forwarded':>11}{'punted':>9}{'dropped':>9}"
                   f"{'idle polls':>12}{'sleeps':>10}")
        agent = None
        for name, w in sorted(workers.items()):
            if name == "agent" and isinstance(w, dict):
                agent = w
            elif isinstance(w, dict):
                out.append(f"{name:<9}{w.get('rx', 0):>10}{w.get('forwarded', 0):>11}"
                           f"{w.get('punted', 0):>9}{w.get('dropped', 0):>9}"
                           f"{fmt_n(w.get('idle_polls', 0)):>12}{fmt_n(w.get('sleeps', 0)):>10}")
        if agent:
            # The agent's own identity: punted_in = handled + dropped + pending.
            out.append(f"agent: punted in {agent.get('punted_in', 0)}, handled {agent.get('handled', 0)}, "
                       f"dropped {agent.get('dropped', 0)}, pending {agent.get('pending', 0)}; "
                       f"originated {agent.get('originated', 0)}")
        out.append("")
        nz = {k: v for k, v in drops.items() if v}
        out.append("drops by reason:" + ("" if nz else " (none)"))
        for k, v in sorted(nz.items(), key=lambda kv: -kv[1]):
            out.append(f"  {k:<28}{v:>10}")
        sent = {k: v for k, v in icmp.items() if v} if isinstance(icmp, dict) else {}
        out.append("icmp sent: " + (", ".join(f"{k}={v}" for k, v in sorted(sent.items()))
                                    or "(none)"))
        out.append("")
        # /sluice/neighbors is page 0 (of "pages") of the table plus counts
        # for all of it: integer keys are the summary, dict values the entries.
        if isinstance(neigh, dict):
            counts = ", ".join(f"{k}={v}" for k, v in sorted(neigh.items())
                               if k[:3] in ("v4_", "v6_") and isinstance(v, int) and v)
            out.append(f"neighbors: {neigh.get('total', '?')} of {neigh.get('capacity', '?')}"
                       + (f" ({counts})" if counts else "")
                       + (f", page 1 of {neigh['pages']} shown" if neigh.get("pages", 1) > 1 else ""))
        out.append(f"{'neighbor':<22}{'mac':<19}{'port':<6}{'state':<12}")
        entries = neigh.values() if isinstance(neigh, dict) else neigh
        for e in sorted((e for e in entries if isinstance(e, dict) and "address" in e),
                        key=lambda e: (e.get("port", ""), e.get("address", ""))):
            state = e.get("state", "")
            if e.get("static") and "static" not in str(state):
                state = f"{state} static".strip()
            out.append(f"{e.get('address', ''):<22}{e.get('mac', ''):<19}"
                       f"{e.get('port', ''):<6}{state:<12}")
        out.append("")
        out += lb_lines(self.lab, self.lbd)
        if events:
            out.append("")
            out.append("traffic:")
            out += [f"  {ev}" for ev in events[-6:]]
        self.prev = {"ports": ports}
        self.prev_t = now
        return "\n".join(out)

    def show(self, text: str):
        if self.tty:
            sys.stdout.write("\033[H\033[2J" + text + "\n")
        else:
            sys.stdout.write("\n" + "-" * 78 + "\n" + text + "\n")
        sys.stdout.flush()


def curl_loop(a: lab.Host, urls: list[str], want: str, workdir: Path, stop: threading.Event,
              events: list[str], results: list[bool]):
    i = 0
    while not stop.is_set() and i < 1000:
        url = urls[i % len(urls)]
        out = workdir / f"got{i % 2}.bin"
        if out.exists():
            out.unlink()
        t0 = time.monotonic()
        cp = lab.curl(a, url, out, timeout=30)
        dt = time.monotonic() - t0
        ok = cp.returncode == 0 and out.exists() and lab.sha256_file(out) == want
        results.append(ok)
        size = out.stat().st_size if out.exists() else 0
        events.append(f"curl {url}: {'OK sha256 match' if ok else 'FAILED ' + cp.stderr.strip()}"
                      f", {size / 1e6:.1f} MB in {dt:.2f}s")
        i += 1
        stop.wait(2.0)


class LbDemo:
    """The balancer's part. A client in hA makes HTTP requests to the VIP in
    batches, each on a new connection from the next source port, and keeps
    LB_LONG keep-alive connections open from the start (a request on each
    every 10 s keeps them tracked). drain() pauses the batches, drains
    DRAINED by a config reload and resumes; the client's counts are kept
    apart before and after it."""

    def __init__(self, the_lab: lab.Lab, events: list[str]):
        self.lab = the_lab
        self.events = events
        self.counts: dict[str, dict[str, int]] = {"before": {}, "after": {}}
        self.phase = "before"
        self.errors: list = []
        self.long: dict[str, str] = {}          # connection id -> backend that answered
        self.long_after: list | None = None     # replies on them after the drain
        self.long_broken: list = []
        self.stop = threading.Event()
        self.pause = threading.Event()
        self.paused = threading.Event()
        self.resume = threading.Event()
        self.client: lb_lab.LbClient | None = None
        self.servers: list[lab.Proc] = []
        self.at_drain: dict | None = None
        self.drain_line = ""

    def setup(self):
        a = self.lab.hosts["a"]
        for k in LB_BACKENDS:
            h = self.lab.hosts[k]
            lb_lab.dsr_backend(h, [VIP])
            self.servers.append(lb_lab.start_lb_server(h, f"h{k.upper()}", tcp=[("0.0.0.0", 80)]))
        # The router learns the backends' MACs before the first request.
        for k in LB_BACKENDS:
            lab.ping(a, self.lab.hosts[k].v4, count=1, wait=2)
        self.client = lb_lab.LbClient(a)
        res = self.client.open([[f"k{i}", a.v4, 50000 + i, VIP, 80] for i in range(LB_LONG)])
        self.long = {f"k{i}": lb_lab.reply_name(r) or f"error {r}" for i, r in enumerate(res)}

    def requests(self) -> int:
        return sum(self.counts["before"].values()) + sum(self.counts["after"].values())

    def run(self):
        a = self.lab.hosts["a"]
        # Source ports 20000..49999 in turn (the keep-alive connections use 50000 on).
        seq, last_keep = 0, time.monotonic()
        for _ in range(1_000_000):
            if self.stop.is_set():
                break
            if self.pause.is_set() and not self.resume.is_set():
                self.paused.set()
                self.resume.wait(1.0)
                continue
            t0 = time.monotonic()
            flows = [[a.v4, 20000 + (seq + i) % 30000, VIP, 80] for i in range(LB_BATCH)]
            seq += LB_BATCH
            try:
                res = self.client.tcp(flows, threads=4, timeout=5)
                # Periodically before the drain, once right after it (later
                # hD's health endpoint fails and its connections move).
                if (self.phase == "before" and t0 - last_keep >= 10) or \
                        (self.phase == "after" and self.long_after is None):
                    again = self.client.request(list(self.long))
                    last_keep = t0
                    bad = [(cid, self.long[cid], r) for cid, r in zip(self.long, again)
                           if lb_lab.reply_name(r) != self.long[cid]]
                    self.long_broken += bad
                    if self.phase == "after" and self.long_after is None:
                        self.long_after = again
            except lab.LabError as e:
                self.errors.append(str(e))
                self.events.append(f"lb client error: {e}")
                break
            counts = self.counts[self.phase]
            for r in res:
                name = lb_lab.reply_name(r)
                if name:
                    counts[name] = counts.get(name, 0) + 1
                else:
                    self.errors.append(r)
            self.stop.wait(max(0.0, LB_TICK - (time.monotonic() - t0)))

    def drain(self, backend_counters) -> bool:
        """Drains DRAINED with sluicectl between two batches; records its
        counters then."""
        self.pause.set()
        if not self.paused.wait(30):
            self.events.append("lb: the request loop did not pause for the drain")
            return False
        addr = self.lab.hosts[DRAINED].v4
        cp = sluicectl(self.lab, "backend", "drain", VIP_NAME, addr)
        self.drain_line = (cp.stdout + cp.stderr).strip()
        if cp.returncode != 0:
            self.events.append(f"lb: sluicectl backend drain failed: {self.drain_line}")
            self.resume.set()
            return False
        lab.wait_until(lambda: lb_backend_rows(self.lab).get(f"h{DRAINED.upper()}", {}).get("state") == "drain",
                       timeout=10, what="the drain in the data plane")
        self.at_drain = backend_counters()
        self.phase = "after"
        self.resume.set()
        self.events.append(f"lb: `sluicectl backend drain {VIP_NAME} {addr}`: h{DRAINED.upper()} drained")
        return True

    def close(self):
        self.stop.set()
        if self.client:
            self.client.stop()
        for p in self.servers:
            p.stop(timeout=5)


def sluicectl(the_lab: lab.Lab, *args: str):
    return lab.run([str(control_lab.CLI_BINARY), "--socket", the_lab.control["cli_socket"], *args],
                   check=False, timeout=30)


class HealthDemo:
    """The control process in a management namespace, each backend's health
    endpoint (an HTTP server on port 8081), and the episode in which hD's
    endpoint dies and returns."""

    def __init__(self, the_lab: lab.Lab, events: list[str], www: Path):
        self.lab = the_lab
        self.events = events
        self.www = www
        self.endpoints: dict[str, lab.Proc] = {}
        self.control: lab.Proc | None = None
        self.down_ms: float | None = None
        self.up_ms: float | None = None
        self.thread: threading.Thread | None = None
        self.stop = threading.Event()

    def setup(self):
        for k in LB_BACKENDS:
            self.endpoints[k] = lab.start_http_server(self.lab.hosts[k], "0.0.0.0", HEALTH["port"], self.www)
        mgmt = control_lab.management_network(self.lab, {k: self.lab.hosts[k] for k in LB_BACKENDS})
        self.control = mgmt.popen([str(control_lab.CONTROL_BINARY), "--config", str(self.lab.config_path)])
        self.control.wait_line(r"sluice-control: ready", timeout=30)
        lab.wait_until(lambda: self.lab.tele("/sluice/control").get("connected"), timeout=15,
                       what="the control process's session")

    def state(self) -> str | None:
        return lb_backend_rows(self.lab).get(f"h{UNHEALTHY.upper()}", {}).get("state")

    def _wait_state(self, want: str, timeout: float) -> float | None:
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end and not self.stop.is_set():
            if self.state() == want:
                return time.monotonic()
            time.sleep(0.01)
        return None

    def episode(self, back_at: float):
        """Kills hD's health endpoint, times its way out of the table,
        restarts the endpoint at monotonic time `back_at`, times its return."""
        h = self.lab.hosts[UNHEALTHY]
        p = self.endpoints[UNHEALTHY]
        p.stop(sig=signal.SIGKILL, timeout=5)
        t0 = time.monotonic()
        self.events.append(f"health: h{UNHEALTHY.upper()}'s health endpoint killed")
        t = self._wait_state("down", 10)
        if t is None:
            self.events.append(f"health: h{UNHEALTHY.upper()} never left the table")
            return
        self.down_ms = (t - t0) * 1000
        self.events.append(f"health: h{UNHEALTHY.upper()} down in the data plane {self.down_ms:.0f} ms later "
                           f"(bound {HEALTH['interval_ms'] * HEALTH['fall'] + 100} ms)")
        self.stop.wait(max(0.0, back_at - time.monotonic()))
        if self.stop.is_set():
            return
        self.endpoints[UNHEALTHY] = lab.start_http_server(h, "0.0.0.0", HEALTH["port"], self.www)
        t1 = time.monotonic()
        t = self._wait_state("up", 10)
        if t is not None:
            self.up_ms = (t - t1) * 1000
            self.events.append(f"health: h{UNHEALTHY.upper()} up again {self.up_ms:.0f} ms after its endpoint "
                               f"returned ({HEALTH['rise']} successes)")

    def start_episode(self, back_at: float):
        self.thread = threading.Thread(target=self.episode, args=(back_at,), daemon=True)
        self.thread.start()

    def verdict(self) -> list[str]:
        bound = HEALTH["interval_ms"] * HEALTH["fall"] + 100
        name = f"h{UNHEALTHY.upper()}"
        ok = self.down_ms is not None and self.down_ms <= bound
        out = [f"{'ok  ' if ok else 'FAIL'} health: {name} left the table "
               + (f"{self.down_ms:.0f} ms" if self.down_ms is not None else "never")
               + f" after its health endpoint died (bound interval x fall + 100 = {bound} ms)"]
        ok = self.up_ms is not None
        out.append(f"{'ok  ' if ok else 'FAIL'} health: {name} back "
                   + (f"{self.up_ms:.0f} ms" if ok else "never") + " after its endpoint returned")
        return out

    def close(self):
        self.stop.set()
        if self.thread:
            self.thread.join(timeout=15)
        if self.control:
            self.control.stop(timeout=10)
        for p in self.endpoints.values():
            p.stop(timeout=5)


def lb_backend_rows(the_lab: lab.Lab) -> dict[str, dict]:
    """/sluice/lb/backends of the VIP keyed by host name (hB, hC, hD)."""
    by_addr = {the_lab.hosts[k].v4: f"h{k.upper()}" for k in LB_BACKENDS}
    return {by_addr.get(str(e.get("address")), str(e.get("address"))): e
            for e in the_lab.lb_backends(VIP_NAME).values()}


def lb_lines(the_lab: lab.Lab, lbd: "LbDemo | None") -> list[str]:
    vips = the_lab.lb_vips()
    v = vips.get(VIP_NAME, {})
    out = [f"load balancer: VIP {VIP_NAME} {v.get('address', VIP)} {v.get('protocol', '')}/"
           f"{v.get('port', '')} {v.get('mode', '')}: packets {v.get('packets', 0)}, "
           f"new flows {v.get('new_flows', 0)}, tracked {v.get('tracked_flows', 0)}",
           f"  {'backend':<16}{'state':<7}{'slots':>7}{'packets':>10}{'new flows':>11}"
           f"{'tracked':>9}{'answered before/after drain':>30}"]
    for name, e in sorted(lb_backend_rows(the_lab).items()):
        before = lbd.counts["before"].get(name, 0) if lbd else 0
        after = lbd.counts["after"].get(name, 0) if lbd else 0
        out.append(f"  {name + ' ' + str(e.get('address', '')):<16}{str(e.get('state', '')):<7}"
                   f"{e.get('slots', 0):>7}{e.get('packets', 0):>10}{e.get('new_flows', 0):>11}"
                   f"{e.get('tracked_flows', 0):>9}{f'{before} / {after}':>30}")
    return out


def lb_verdict(the_lab: lab.Lab, lbd: LbDemo) -> list[str]:
    """The balancer's results; lines starting with "FAIL" fail the demo."""
    out = []
    before, after = lbd.counts["before"], lbd.counts["after"]
    names = [f"h{k.upper()}" for k in LB_BACKENDS]
    drained = f"h{DRAINED.upper()}"
    n = sum(before.values())
    even = n / len(names)
    spread_ok = n >= 100 and all(abs(before.get(k, 0) - even) <= 0.2 * even for k in names)
    out.append(f"{'ok  ' if spread_ok else 'FAIL'} spread before the drain: "
               + ", ".join(f"{k} {before.get(k, 0)}" for k in names)
               + f" of {n} requests (each within 20% of {even:.0f})")
    others = [k for k in names if k != drained]
    drain_ok = lbd.at_drain is not None and after.get(drained, 0) == 0 \
        and all(after.get(k, 0) > 0 for k in others)
    out.append(f"{'ok  ' if drain_ok else 'FAIL'} after draining {drained}: "
               + ", ".join(f"{k} {after.get(k, 0)}" for k in names) + " new requests")
    if lbd.at_drain is not None:
        end = lb_backend_rows(the_lab)
        nf0 = int(lbd.at_drain.get(drained, {}).get("new_flows", -1))
        nf1 = int(end.get(drained, {}).get("new_flows", -2))
        state = end.get(drained, {}).get("state")
        ok = nf0 == nf1 and state == "drain"
        out.append(f"{'ok  ' if ok else 'FAIL'} telemetry: {drained} state {state}, new flows "
                   f"{nf0} at the drain and {nf1} at the end")
    on_drained = [cid for cid, k in lbd.long.items() if k == drained]
    long_ok = bool(on_drained) and lbd.long_after is not None and not lbd.long_broken
    out.append(f"{'ok  ' if long_ok else 'FAIL'} {LB_LONG} keep-alive connections opened before the "
               f"drain ({len(on_drained)} on {drained}) still answered by the same backend after it"
               + (f"; broken: {lbd.long_broken[:3]}" if lbd.long_broken else ""))
    if lbd.errors:
        out.append(f"FAIL {len(lbd.errors)} requests failed, first: {lbd.errors[:3]}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=30, help="seconds to run (default 30)")
    ap.add_argument("--binary", type=Path, default=lab.binary_path())
    args = ap.parse_args()
    duration = max(5.0, min(args.duration, 3600.0))

    if os.geteuid() != 0:
        print("demo: needs root (network namespaces, tap devices)", file=sys.stderr)
        return 1
    if not args.binary.exists():
        print(f"demo: {args.binary} not found; run tests/lab/build.sh", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGHUP, _on_term)
    lab.cleanup_stale()

    the_lab = lab.Lab(tag="demo", hosts=4, routes=ROUTES, neighbors=NEIGHBORS, vips=VIPS,
                      binary=args.binary, stats_interval=1, keep_workdir=True)
    the_lab.control["metrics"] = control_lab.METRICS  # in the management namespace
    stop = threading.Event()
    events: list[str] = []
    curl_ok: list[bool] = []
    pings: list[tuple[str, lab.Proc]] = []
    cleanup_dirs: list[Path] = []
    lbd: LbDemo | None = None
    hd: HealthDemo | None = None
    rc = 0
    try:
        print(f"demo: starting {args.binary} on net_tap ports "
              f"(log: {the_lab.log_path})", flush=True)
        the_lab.start()
        a, b, c = the_lab.hosts["a"], the_lab.hosts["b"], the_lab.hosts["c"]
        c.run(["ip", "addr", "add", f"{SERVICE4}/32", "dev", "lo"])
        print(f"demo: data plane ready; hosts {a.name} {b.name} {c.name} "
              f"{the_lab.hosts['d'].name}", flush=True)
        lbd = LbDemo(the_lab, events)
        lbd.setup()
        print(f"demo: VIP {VIP}:80 (l2_dsr) served by hB, hC, hD; their HTTP servers answer "
              f"with their name", flush=True)
        hwww = Path(tempfile.mkdtemp(prefix=f"{lab.RUN_PREFIX}-health-"))
        cleanup_dirs.append(hwww)
        hd = HealthDemo(the_lab, events, hwww)
        hd.setup()
        print(f"demo: sluice-control checks hB, hC, hD (HTTP :{HEALTH['port']} every {HEALTH['interval_ms']} ms) "
              "over a management network and drives the data plane", flush=True)
        print("demo: `sluicectl show backends web`:\n" + sluicectl(the_lab, "show", "backends", VIP_NAME).stdout.rstrip(),
              flush=True)

        tr = a.run(["traceroute", "-n", "-q", "1", "-w", "2", "-m", "4", SERVICE4],
                   check=False, timeout=40)
        print("demo: traceroute from hA to 198.19.0.1 (routed via hC):\n"
              + tr.stdout.rstrip(), flush=True)
        tr6 = a.run(["traceroute", "-6", "-n", "-q", "1", "-w", "2", "-m", "4", b.v6],
                    check=False, timeout=40)
        print(tr6.stdout.rstrip(), flush=True)
        un = lab.ping(a, "198.19.255.1", count=2, interval=0.3)
        for ln in un["out"].splitlines():
            if "Unreachable" in ln or "unreachable" in ln:
                print(f"demo: no route -> {ln.strip()}", flush=True)
                break

        n = int(duration / 0.2)
        for host, dst in ((a, b.v4), (a, c.v6), (b, SERVICE4), (c, a.v6)):
            fam = "-6" if ":" in dst else "-4"
            p = host.ns.popen(["ping", fam, "-n", "-c", str(n), "-i", "0.2", "-W", "2", dst])
            pings.append((f"{host.name} -> {dst}", p))

        www = Path(tempfile.mkdtemp(prefix=f"{lab.RUN_PREFIX}-www-"))
        cleanup_dirs.append(www)
        want = lab.make_blob(www / "blob.bin", 4 * 1024 * 1024, seed=5)
        lab.start_http_server(b, b.v4, 8080, www)
        lab.start_http_server(b, b.v6, 8081, www)
        t = threading.Thread(target=curl_loop, daemon=True, args=(
            a, [f"http://{b.v4}:8080/blob.bin", f"http://[{b.v6}]:8081/blob.bin"], want, www,
            stop, events, curl_ok))
        t.start()
        lb_thread = threading.Thread(target=lbd.run, daemon=True)
        lb_thread.start()

        view = View(the_lab, sys.stdout.isatty(), lbd)
        t0 = time.monotonic()
        drained = False
        unhealthy = False
        for _ in range(int(duration) + 5):
            elapsed = time.monotonic() - t0
            if elapsed >= duration:
                break
            if not the_lab.dp.alive():
                print("demo: the data plane exited!" + the_lab.describe(), flush=True)
                rc = 1
                break
            # Half way, once enough requests were made to judge the spread.
            if not drained and elapsed >= duration / 2 and \
                    (lbd.requests() >= 300 or elapsed >= duration * 0.8):
                drained = True
                if not lbd.drain(lambda: lb_backend_rows(the_lab)):
                    rc = 1
            if drained and not unhealthy and elapsed >= duration * 0.7:
                unhealthy = True
                hd.start_episode(back_at=t0 + duration * 0.85)
            try:
                view.show(view.render(elapsed, duration, events))
            except (OSError, ValueError, lab.LabError) as e:
                print(f"demo: telemetry error: {e}", flush=True)
            time.sleep(max(0.0, 1.0 - (time.monotonic() - t0 - elapsed)))
        stop.set()
        lbd.stop.set()
        t.join(timeout=40)
        lb_thread.join(timeout=40)

        print("\ndemo: results", flush=True)
        for name, p in pings:
            p.send_signal(signal.SIGINT)  # ping prints its summary on SIGINT
            p.stop(sig=signal.SIGINT, timeout=5)
            summary = [ln for ln in p.output().splitlines() if "packets transmitted" in ln]
            text = summary[0] if summary else "(no summary)"
            print(f"  ping {name}: {text}")
            if not summary or " 0 received" in text:
                rc = 1
        good = sum(curl_ok)
        print(f"  curl transfers: {good}/{len(curl_ok)} complete with matching sha256")
        if not curl_ok or good != len(curl_ok):
            rc = 1
        print("\n".join("  " + ln for ln in lb_lines(the_lab, lbd)))
        if hd.thread:
            hd.thread.join(timeout=20)
        print("  `sluicectl show health`:\n" + "\n".join(
            "    " + ln for ln in sluicectl(the_lab, "show", "health").stdout.rstrip().splitlines()))
        for ln in lb_verdict(the_lab, lbd) + hd.verdict():
            print(f"  lb: {ln}")
            if ln.startswith("FAIL"):
                rc = 1
    except (KeyboardInterrupt, Stop):
        print("\ndemo: interrupted, cleaning up", flush=True)
        rc = 130
    except lab.LabError as e:
        print(f"demo: {e}{the_lab.describe()}", flush=True)
        rc = 1
    finally:
        stop.set()
        if lbd:
            lbd.close()
        if hd:
            hd.close()
        the_lab.close()
        for d in cleanup_dirs:
            shutil.rmtree(d, ignore_errors=True)
        if the_lab.dp:
            lines = the_lab.dp.output().splitlines()
            stops = [i for i, ln in enumerate(lines) if "sluice-dp: stopping" in ln]
            tail = lines[stops[-1]:] if stops else lines[-25:]
            print("\ndemo: data plane's last output (final counters):")
            print("\n".join(f"  {ln}" for ln in tail))
        print(f"demo: cleaned up namespaces and taps; log kept at {the_lab.log_path}")
    print("demo: OK" if rc == 0 else f"demo: FAILED (exit {rc})", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
