"""A small lab for functional tests and the demo.

It starts the real data plane (or, for the harness self-test, dpdk-testpmd)
on net_tap ports, moves the tap interfaces into network namespaces that it
creates, and configures kernel hosts there. Everything it creates carries a
per-run prefix (``slt<pid>``) and is removed by ``close()`` (tests call it
from fixture finalizers, the demo from ``finally``).

For the load balancer it also renders `vips:`/`lb:`, restarts the data
plane under running hosts (Lab.restart), reads /sluice/lb/* and runs
backends that say who answered and a client that drives fixed 5-tuples
(LbEnv, and the lb_check_* checks shared by the DSR and NAT tests).

Rules kept here so that tests cannot forget them:
- every subprocess has a timeout;
- every wait loop is bounded in iterations and in time;
- no fixed sleeps: a test waits for the condition itself (wait_until,
  wait_value, wait_counter, Proc.wait_line) and, before judging an exact
  counter value, for the data plane to be quiet (Lab.wait_quiescent);
- only 198.18.0.0/15 and 2001:db8::/32 are used, inside our namespaces.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BINARY = REPO / "build" / "dataplane" / "sluice-dp"
PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
RUN_PREFIX = f"slt{os.getpid() % 100000}"

_ALLOWED_NETS = [ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("2001:db8::/32")]


class LabError(RuntimeError):
    pass


def binary_path() -> Path:
    return Path(os.environ.get("SLUICE_DP", str(DEFAULT_BINARY)))


def check_lab_address(addr: str) -> str:
    """Refuses any address outside the documentation/benchmark ranges."""
    ip = ipaddress.ip_interface(addr).ip
    if not any(ip in net for net in _ALLOWED_NETS):
        raise LabError(f"address {addr} is outside 198.18.0.0/15 and 2001:db8::/32")
    return addr


# --------------------------------------------------------------------------
# processes


def run(cmd: list[str] | str, *, ns: str | None = None, timeout: float = 30,
        check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    """Runs a command (optionally inside a namespace) with a timeout."""
    if isinstance(cmd, str):
        cmd = shlex.split(cmd)
    if ns:
        cmd = ["ip", "netns", "exec", ns, *cmd]
    try:
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                            input=input, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"")
        out = out.decode(errors="replace") if isinstance(out, bytes) else out
        raise LabError(f"timeout after {timeout}s: {shlex.join(cmd)}\n{out}") from None
    if check and cp.returncode != 0:
        raise LabError(f"command failed ({cp.returncode}): {shlex.join(cmd)}\n"
                       f"stdout: {cp.stdout}\nstderr: {cp.stderr}")
    return cp


def _short(v: object, limit: int = 600) -> str:
    text = v if isinstance(v, str) else repr(v)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def wait_until(pred: Callable[[], object], *, timeout: float, interval: float = 0.1,
               what: str = "condition", describe: Callable[[], object] | None = None) -> object:
    """Polls pred until it returns a truthy value; bounded in time and count.

    On timeout raises LabError naming `what`, the last value pred returned
    (or the last exception it raised) and, when given, `describe()`: what
    was last seen, in the caller's words."""
    deadline = time.monotonic() + timeout
    tries = max(1, int(timeout / interval) + 1)
    last_exc: Exception | None = None
    last: object = None
    for _ in range(tries):
        try:
            v = pred()
            if v:
                return v
            last, last_exc = v, None
        except Exception as e:  # noqa: BLE001 - reported below
            last_exc = e
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    msg = f"timed out after {timeout}s waiting for {what}"
    msg += f" (last error: {last_exc})" if last_exc else f" (last result: {_short(last)})"
    if describe:
        try:
            msg += f"; last seen: {_short(describe(), 2000)}"
        except Exception as e:  # noqa: BLE001 - the timeout is the error to report
            msg += f"; describing what was seen failed: {e}"
    raise LabError(msg)


def wait_value(read: Callable[[], object], pred: Callable[[object], bool], *, timeout: float,
               interval: float = 0.1, what: str = "value") -> object:
    """Polls read() until pred(value) holds and returns that value.

    Bounded in time and count; on timeout the LabError names `what` and
    the last value read (or the last error), e.g.
    ``wait_value(lambda: lab.drops()["ipv4_no_route"], lambda v: v >= n0 + 3, ...)``."""
    seen: list = []

    def check():
        v = read()
        seen[:] = [v]
        return pred(v)

    wait_until(check, timeout=timeout, interval=interval, what=what,
               describe=(lambda: seen[0] if seen else "nothing read"))
    return seen[0]


def wait_stable(read: Callable[[], object], *, ready: Callable[[object], bool] | None = None,
                reads: int = 2, timeout: float = 10, interval: float = 0.1,
                what: str = "stable value",
                describe: Callable[[list], object] | None = None) -> object:
    """Quiescence: polls read() until `reads` consecutive values are equal
    (and ready(value) holds for them), and returns that value.

    This is how a test knows that no other thread is still moving a counter
    before it judges an exact value: first wait for the counter to reach
    what is expected, then for it to stop moving. Consecutive reads are
    `interval` apart; bounded in time and count, and on timeout the
    LabError names `what` and the last two values (or describe(last values))."""
    if reads < 2:
        raise ValueError("wait_stable needs at least two reads to compare")
    history: list = []

    def settled():
        v = read()
        history.append(v)
        del history[:-reads]
        if ready is not None and not ready(v):
            return False
        return len(history) == reads and all(h == v for h in history)

    def seen():
        if not history:
            return "nothing read"
        return describe(history[-2:]) if describe else history[-2:]

    wait_until(settled, timeout=timeout, interval=interval, what=what, describe=seen)
    return history[-1]


def _diff(a, b, path: str = "") -> dict:
    """{"ports.a.rx_packets": (old, new), ...}: the leaves that differ between two JSON values."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: dict = {}
        for k in sorted(set(a) | set(b), key=str):
            out.update(_diff(a.get(k), b.get(k), f"{path}.{k}" if path else str(k)))
        return out
    return {} if a == b else {path: (a, b)}


def json_path(obj, key):
    """Looks up `key` in a telemetry reply: a top-level key, a tuple/list
    path of keys (``("a", "rx_packets")``), or a function of the reply."""
    if callable(key):
        return key(obj)
    if isinstance(key, (tuple, list)):
        for k in key:
            obj = obj[k]
        return obj
    return obj[key]


def wait_counter(telemetry, path: str, key, predicate: Callable[[object], bool], *,
                 timeout: float = 10, interval: float = 0.1, params: str | None = None,
                 what: str | None = None):
    """Polls one value of a telemetry command until predicate(value) holds;
    returns the value.

    `telemetry` is a Lab (uses its reconnecting ``tele``) or a Telemetry;
    `path` the command (``"/sluice/drops"``); `key` as in json_path. A
    missing key counts as "not yet". On timeout the LabError names the
    command, the key and the last value read, e.g.
    ``wait_counter(lab, "/sluice/drops", "ipv4_no_route", lambda v: v >= n0 + 3)``."""
    if hasattr(telemetry, "tele"):
        def ask():
            return telemetry.tele(path, params)
    else:
        def ask():
            return telemetry.cmd(path, params)
    label = what or f"{path} {key!r} to satisfy the predicate"
    return wait_value(lambda: json_path(ask(), key), predicate, timeout=timeout,
                      interval=interval, what=label)


class Proc:
    """A background process whose merged stdout/stderr is collected by a thread."""

    def __init__(self, cmd: list[str], *, ns: str | None = None, log: Path | None = None,
                 echo: Callable[[str], None] | None = None, keep_stdin: bool = False):
        if ns:
            cmd = ["ip", "netns", "exec", ns, *cmd]
        self.cmd = cmd
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._cv = threading.Condition(self._lock)
        self._log = open(log, "w", buffering=1) if log else None
        self._echo = echo
        # keep_stdin: testpmd exits when its stdin closes, so hold a pipe open.
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  stdin=subprocess.PIPE if keep_stdin else subprocess.DEVNULL,
                                  text=True, bufsize=1, errors="replace",
                                  start_new_session=True)
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        assert self.p.stdout is not None
        for line in self.p.stdout:
            line = line.rstrip("\n")
            with self._cv:
                self.lines.append(line)
                self._cv.notify_all()
            if self._log:
                self._log.write(line + "\n")
            if self._echo:
                self._echo(line)
        with self._cv:
            self._cv.notify_all()

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def output(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def line_count(self) -> int:
        with self._lock:
            return len(self.lines)

    def wait_line(self, pattern: str, *, timeout: float, start: int = 0) -> re.Match:
        """Waits for a line matching the regex, looking at lines[start:]."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        idx = start
        with self._cv:
            while True:
                while idx < len(self.lines):
                    m = rx.search(self.lines[idx])
                    if m:
                        return m
                    idx += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LabError(f"timed out after {timeout}s waiting for /{pattern}/ "
                                   f"from {self.cmd[0]}; it printed since:\n"
                                   + self._tail_locked(start))
                if self.p.poll() is not None and not self._t.is_alive():
                    raise LabError(f"{self.cmd[0]} exited with {self.p.returncode} before "
                                   f"printing /{pattern}/; it printed since:\n"
                                   + self._tail_locked(start))
                self._cv.wait(min(left, 0.5))

    def _tail_locked(self, start: int, n: int = 40) -> str:
        lines = self.lines[start:]
        head = f"(... {len(lines) - n} lines before)\n" if len(lines) > n else ""
        return head + "\n".join(lines[-n:]) if lines else "(nothing)"

    def lines_since(self, start: int = 0) -> list[str]:
        """A copy of the lines collected from index `start` on."""
        with self._lock:
            return list(self.lines[start:])

    def count_lines(self, pattern: str, *, start: int = 0) -> int:
        """How many of lines[start:] match the regex (e.g. ping replies so far)."""
        rx = re.compile(pattern)
        return sum(1 for ln in self.lines_since(start) if rx.search(ln))

    def wait_exit(self, *, timeout: float) -> int | None:
        """Waits for the process to exit by itself and for its output to be
        collected; returns the exit code, or None if it is still running
        after `timeout` (the caller decides what that means)."""
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self._t.join(timeout=5)
        return self.p.returncode

    def send_signal(self, sig: int):
        if self.alive():
            os.kill(self.p.pid, sig)

    def stop(self, *, sig: int = signal.SIGTERM, timeout: float = 15) -> int | None:
        """Stops the process by its own pid: sig, then SIGKILL after timeout."""
        if self.p.poll() is None:
            try:
                os.kill(self.p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.p.pid, signal.SIGKILL)
                self.p.wait(timeout=10)
        if self.p.stdin:
            try:
                self.p.stdin.close()
            except OSError:
                pass
        self._t.join(timeout=5)
        if self._log:
            self._log.close()
            self._log = None
        return self.p.returncode


# --------------------------------------------------------------------------
# namespaces


class Netns:
    def __init__(self, name: str):
        self.name = name
        run(["ip", "netns", "add", name], timeout=10)
        self.run("ip link set lo up")
        # Deterministic hosts: no DAD delay, no router advertisements.
        for key in ("net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
                    "net.ipv6.conf.all.accept_ra=0", "net.ipv6.conf.default.accept_ra=0",
                    "net.ipv6.conf.all.forwarding=0"):
            self.run(["sysctl", "-qw", key], check=False)
        self.procs: list[Proc] = []

    def run(self, cmd, **kw) -> subprocess.CompletedProcess:
        return run(cmd, ns=self.name, **kw)

    def popen(self, cmd: list[str], **kw) -> Proc:
        p = Proc(cmd, ns=self.name, **kw)
        self.procs.append(p)
        return p

    def link_stats(self, ifname: str) -> dict:
        cp = self.run(["ip", "-s", "-j", "link", "show", "dev", ifname], timeout=10)
        st = json.loads(cp.stdout)[0]["stats64"]
        return {"rx_packets": st["rx"]["packets"], "tx_packets": st["tx"]["packets"],
                "rx_bytes": st["rx"]["bytes"], "tx_bytes": st["tx"]["bytes"]}

    def mac(self, ifname: str) -> str:
        cp = self.run(["ip", "-j", "link", "show", "dev", ifname], timeout=10)
        return json.loads(cp.stdout)[0]["address"].lower()

    def neigh_mac(self, addr: str, ifname: str) -> str | None:
        fam = "-6" if ":" in addr else "-4"
        cp = self.run(["ip", fam, "-j", "neigh", "show", addr, "dev", ifname], timeout=10,
                      check=False)
        try:
            for e in json.loads(cp.stdout or "[]"):
                if e.get("lladdr"):
                    return e["lladdr"].lower()
        except ValueError:
            pass
        return None

    def close(self):
        for p in self.procs:
            try:
                p.stop(timeout=5)
            except Exception:  # noqa: BLE001 - teardown goes on
                pass
        # Anything else still running in the namespace was started by us.
        cp = run(["ip", "netns", "pids", self.name], check=False, timeout=10)
        for pid in cp.stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        run(["ip", "netns", "delete", self.name], check=False, timeout=10)


def cleanup_stale(prefix: str = "slt") -> list[str]:
    """Deletes namespaces of earlier runs (``slt<pid>-...``) whose pid is gone."""
    removed = []
    cp = run(["ip", "netns", "list"], check=False, timeout=10)
    for line in cp.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(rf"^{prefix}(\d+)-", name)
        if not m:
            continue
        pid = int(m.group(1))
        if pid != os.getpid() % 100000 and not _pid_alive_like(pid):
            pids = run(["ip", "netns", "pids", name], check=False, timeout=10).stdout.split()
            for p in pids:
                try:
                    os.kill(int(p), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            run(["ip", "netns", "delete", name], check=False, timeout=10)
            removed.append(name)
    return removed


def _pid_alive_like(short_pid: int) -> bool:
    # The name holds pid % 100000: treat any live pid with that remainder as alive.
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) % 100000 == short_pid:
            return True
    return False


# --------------------------------------------------------------------------
# telemetry


class SocketClient:
    """A client of one connection in ``self.sock``: close() (an error while
    closing is of no interest) and ``with`` closes it."""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


class Telemetry(SocketClient):
    """Client for DPDK's telemetry v2 socket (SOCK_SEQPACKET, JSON)."""

    def __init__(self, file_prefix: str, runtime_dir: str = "/var/run/dpdk", timeout: float = 5):
        self.path = f"{runtime_dir}/{file_prefix}/dpdk_telemetry.v2"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.settimeout(timeout)
        self.sock.connect(self.path)
        info = json.loads(self.sock.recv(1024 * 16).decode())
        self.info = info
        self.max_len = int(info.get("max_output_len", 16384))

    def raw(self, command: str) -> dict:
        self.sock.send(command.encode())
        data = self.sock.recv(max(self.max_len, 16384) + 1024)
        if not data:
            raise LabError(f"telemetry socket closed on {command}")
        return json.loads(data.decode())

    def cmd(self, command: str, params: str | None = None):
        full = command if params is None else f"{command},{params}"
        reply = self.raw(full)
        # Reply is {"<command>": value}; DPDK uses the bare command as the key.
        if command in reply:
            return reply[command]
        if len(reply) == 1:
            return next(iter(reply.values()))
        return reply


def connect_telemetry(file_prefix: str, *, timeout: float = 15,
                      alive: Callable[[], bool] | None = None) -> Telemetry:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    for _ in range(int(timeout / 0.2) + 1):
        try:
            return Telemetry(file_prefix)
        except (OSError, ValueError) as e:
            last = e
        if alive and not alive():
            break
        if time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    raise LabError(f"cannot connect to telemetry of {file_prefix}: {last}")


# --------------------------------------------------------------------------
# the lab topology


@dataclass
class Host:
    key: str                 # "a", "b", "c"
    ns: Netns
    ifname: str              # tap name (same in the root namespace and the host's)
    v4: str                  # "198.18.1.2"
    v6: str                  # "2001:db8:1::2"
    gw4: str                 # router address on this segment
    gw6: str
    mac: str = ""

    @property
    def name(self) -> str:
        return self.ns.name

    def run(self, cmd, **kw):
        return self.ns.run(cmd, **kw)


@dataclass
class PortSpec:
    key: str
    index: int
    tap: str
    router_v4: str
    router_v6: str
    host_v4: str
    host_v6: str
    plen4: int = 24
    plen6: int = 64


@dataclass
class Topology:
    """Router ports a, b, c, ... (up to six) on 198.18.<n>.0/24 and 2001:db8:<n>::/64."""
    hosts: int = 2
    prefix: str = RUN_PREFIX
    ports: list[PortSpec] = field(default_factory=list)

    def __post_init__(self):
        if not self.ports:
            for i in range(self.hosts):
                key = "abcdef"[i]
                n = i + 1
                self.ports.append(PortSpec(
                    key=key, index=i, tap=f"{self.prefix}{key}"[:15],
                    router_v4=f"198.18.{n}.1", router_v6=f"2001:db8:{n}::1",
                    host_v4=f"198.18.{n}.2", host_v6=f"2001:db8:{n}::2"))
        for p in self.ports:
            for a in (p.router_v4, p.router_v6, p.host_v4, p.host_v6):
                check_lab_address(a)


def yaml_str(s: str) -> str:
    return json.dumps(s)  # JSON strings are valid YAML double-quoted scalars


def _yaml_scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_yaml_scalar(x) for x in v) + "]"
    if isinstance(v, dict):  # a flow mapping: vips[].health
        return "{" + ", ".join(f"{k}: {_yaml_scalar(x)}" for k, x in v.items()) + "}"
    return yaml_str(str(v))


def render_lb(vips: Iterable[dict] = (), lb: dict | None = None) -> list[str]:
    """The `lb:` and `vips:` sections (docs/config.md) as YAML lines.

    `lb` is a dict of the section's fields; each VIP a dict with the YAML's
    field names (name, address, protocol, port, mode, ..., backends), each
    backend a dict (address, port, weight, state). Fields left out are left
    out of the file (the data plane's defaults apply)."""
    out: list[str] = []
    if lb:
        out.append("lb:")
        out += [f"  {k}: {_yaml_scalar(v)}" for k, v in lb.items()]
    vips = list(vips)
    if vips:
        out.append("vips:")
    for v in vips:
        lines = [f"{k}: {_yaml_scalar(val)}" for k, val in v.items() if k != "backends"]
        backends = v.get("backends")
        if backends is not None:
            lines.append("backends:" + ("" if backends else " []"))
            for b in backends:
                bl = [f"{k}: {_yaml_scalar(val)}" for k, val in b.items()]
                lines += ["  - " + bl[0]] + ["    " + x for x in bl[1:]]
        out += ["  - " + lines[0]] + ["    " + x for x in lines[1:]]
    return out


def render_config(topo: Topology, *, routes: Iterable[dict] = (), neighbors: Iterable[dict] = (),
                  idle_backoff: bool = True, extra: str = "", vips: Iterable[dict] = (),
                  lb: dict | None = None, control: dict | None = None) -> str:
    """YAML for the data plane (format: config/model.hpp, docs/config.md);
    `vips` and `lb` as in render_lb; `control` the `control:` section's
    fields (socket paths: every lab has its own, docs/control.md)."""
    out = [
        "# generated by tests/functional/lab.py",
        "workers:",
        "  burst: 32",
        "  idle_backoff:",
        f"    enabled: {'true' if idle_backoff else 'false'}",
        "    pause_after: 64",
        "    sleep_after: 512",
        "    sleep_us: 50",
        "icmp:",
        "  rate_pps: 1000",
        "  burst: 200",
        "ports:",
    ]
    # SLUICE_LAB_RX_QUEUES=N runs the lab with N RX queues per port (multi-queue path).
    rxq = int(os.environ.get("SLUICE_LAB_RX_QUEUES", "1"))
    for p in topo.ports:
        out += [
            f"  - name: {p.key}",
            f"    device: {yaml_str(f'net_tap{p.index},iface={p.tap}')}",
            f"    rx_queues: {rxq}",
            "    mtu: 1500",
            f"    addresses: [{yaml_str(f'{p.router_v4}/{p.plen4}')}, "
            f"{yaml_str(f'{p.router_v6}/{p.plen6}')}]",
        ]
    routes = list(routes)
    if routes:
        out.append("routes:")
        for r in routes:
            out.append(f"  - prefix: {yaml_str(r['prefix'])}")
            if "via" in r:
                v = r["via"]
                if isinstance(v, (list, tuple)):
                    out.append("    via: [" + ", ".join(yaml_str(x) for x in v) + "]")
                else:
                    out.append(f"    via: {yaml_str(v)}")
            if "port" in r:
                out.append(f"    port: {r['port']}")
    neighbors = list(neighbors)
    if neighbors:
        out.append("neighbors:")
        for n in neighbors:
            out += [f"  - address: {yaml_str(n['address'])}",
                    f"    mac: {yaml_str(n['mac'])}",
                    f"    port: {n['port']}"]
    out += render_lb(vips, lb)
    if control:
        out.append("control:")
        out += [f"  {k}: {_yaml_scalar(v)}" for k, v in control.items()]
    if extra:
        out.append(extra.rstrip("\n"))
    return "\n".join(out) + "\n"


class Lab:
    """Data plane + namespaces. Use as a context manager or call close()."""

    def __init__(self, *, hosts: int = 2, routes: Iterable[dict] = (),
                 neighbors: Iterable[dict] = (), tag: str = "t", binary: Path | None = None,
                 wire: str = "sluice", stats_interval: int | None = None,
                 workdir: Path | None = None, echo: Callable[[str], None] | None = None,
                 keep_workdir: bool = False, vips: Iterable[dict] = (), lb: dict | None = None):
        self.tag = tag
        self.prefix = f"{RUN_PREFIX}{tag}"[:12]
        self.topo = Topology(hosts=hosts, prefix=self.prefix)
        self.routes = list(routes)
        self.neighbors = list(neighbors)
        # The load balancer's sections (render_lb): change them, then
        # write_config() and reload().
        self.vips = copy.deepcopy(list(vips))
        self.lb = dict(lb) if lb else None
        self.wire = wire
        self.binary = binary or binary_path()
        self.file_prefix = f"{RUN_PREFIX}-{tag}"
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"{RUN_PREFIX}-{tag}-"))
        self.config_path = self.workdir / "sluice.yaml"
        self.log_path = self.workdir / "dataplane.log"
        # The control channel's sockets live in the lab's own directory (the
        # defaults under /run/sluice belong to a real installation).
        self.control = {"socket": str(self.workdir / "dataplane.sock"),
                        "cli_socket": str(self.workdir / "control.sock")}
        self.stats_interval = stats_interval
        self.echo = echo
        # The config and log stay for inspection when asked (the demo) or
        # when SLUICE_KEEP_LABS is set; test failures carry the output anyway.
        self.keep_workdir = keep_workdir or bool(os.environ.get("SLUICE_KEEP_LABS"))
        self.dp: Proc | None = None
        self.hosts: dict[str, Host] = {}
        self._nss: list[Netns] = []
        self._tele: Telemetry | None = None
        self._old_dps: list[Proc] = []   # processes before restart()
        self._closed = False

    # -- lifecycle ---------------------------------------------------------

    def write_config(self, text: str | None = None, path: Path | None = None) -> Path:
        path = path or self.config_path
        if text is None:
            text = render_config(self.topo, routes=self.routes, neighbors=self.neighbors,
                                 vips=self.vips, lb=self.lb, control=self.control)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)  # atomic: a reload never reads half a file
        return path

    def eal_args(self) -> list[str]:
        args = ["-l", "0-1", "--no-huge", "-m", "1024", "--no-pci",
                "--file-prefix", self.file_prefix, "--log-level", "lib.eal:notice"]
        if self.wire == "testpmd":
            for p in self.topo.ports:
                args += ["--vdev", f"net_tap{p.index},iface={p.tap}"]
        return args

    def start(self, *, ready_timeout: float = 60) -> "Lab":
        try:
            self._start(ready_timeout)
        except BaseException:
            self.close()
            raise
        return self

    def _start(self, ready_timeout: float):
        if self.wire == "sluice":
            if not self.binary.exists():
                raise LabError(f"data plane binary not found: {self.binary} "
                               f"(build it with tests/lab/build.sh)")
            self.write_config()
            self.dp = Proc(self._dp_command(), log=self.log_path, echo=self.echo)
            self.dp.wait_line(r"sluice-dp: ready", timeout=ready_timeout)
        elif self.wire == "testpmd":
            # stdbuf: testpmd's stdout is block-buffered on a pipe.
            cmd = ["stdbuf", "-oL", "dpdk-testpmd", *self.eal_args(), "--",
                   "--forward-mode=io", "-a", "--total-num-mbufs=8192"]
            self.dp = Proc(cmd, log=self.log_path, echo=self.echo, keep_stdin=True)
            self.dp.wait_line(r"Press enter to exit|start packet forwarding", timeout=ready_timeout)
        else:
            raise LabError(f"unknown wire {self.wire}")

        for p in self.topo.ports:
            wait_until(lambda: run(["ip", "link", "show", "dev", p.tap], check=False,
                                   timeout=5).returncode == 0,
                       timeout=10, what=f"tap {p.tap}")
        for p in self.topo.ports:
            ns = Netns(f"{self.file_prefix}-h{p.key}")
            self._nss.append(ns)
            run(["ip", "link", "set", "dev", p.tap, "netns", ns.name], timeout=10)
            host = Host(key=p.key, ns=ns, ifname=p.tap, v4=p.host_v4, v6=p.host_v6,
                        gw4=p.router_v4, gw6=p.router_v6)
            self._configure_host(host, p)
            self.hosts[p.key] = host

    def _dp_command(self) -> list[str]:
        cmd = [str(self.binary), *self.eal_args(), "--", "--config", str(self.config_path)]
        if self.stats_interval:
            cmd += ["--stats-interval", str(self.stats_interval)]
        return cmd

    def restart(self, *, ready_timeout: float = 60, stop_timeout: float = 15) -> Proc:
        """Stops the data plane (SIGTERM) and starts a new process on the
        same config file, as an operator's restart does; returns the old
        process (its output stays readable).

        The hosts keep their namespaces, processes and sockets (servers,
        open TCP connections): only their tap devices die with the old
        process; the new process's taps are moved into the same namespaces
        and configured as before (same MACs, addresses and default routes).
        Everything the data plane tracked (flows, neighbors) starts empty."""
        old = self.stop_dataplane(stop_timeout=stop_timeout)
        self.start_dataplane(ready_timeout=ready_timeout)
        return old

    def stop_dataplane(self, *, stop_timeout: float = 15) -> Proc:
        """The first half of restart(): the data plane stopped, its taps gone."""
        if self.wire != "sluice" or not self.dp:
            raise LabError("restart() needs a started sluice lab")
        if self._tele:
            self._tele.close()
            self._tele = None
        old = self.dp
        rc = old.stop(timeout=stop_timeout)
        if old not in self._old_dps:
            self._old_dps.append(old)
        for p in self.topo.ports:
            h = self.hosts[p.key]
            wait_until(lambda: h.run(["ip", "link", "show", "dev", h.ifname], check=False,
                                     timeout=5).returncode != 0,
                       timeout=10, what=f"tap {p.tap} gone from {h.name} after the data plane "
                                        f"exited with {rc}")
        return old

    def start_dataplane(self, *, ready_timeout: float = 60) -> Proc:
        """The second half of restart(): a new process, its taps in the hosts."""
        log = self.log_path.with_name(f"dataplane.{len(self._old_dps)}.log")
        self.dp = Proc(self._dp_command(), log=log, echo=self.echo)
        self.dp.wait_line(r"sluice-dp: ready", timeout=ready_timeout)
        self.ready_at = time.monotonic()  # when "ready" was seen (convergence is measured from it)
        for p in self.topo.ports:
            wait_until(lambda: run(["ip", "link", "show", "dev", p.tap], check=False,
                                   timeout=5).returncode == 0,
                       timeout=10, what=f"tap {p.tap} after the restart")
            h = self.hosts[p.key]
            run(["ip", "link", "set", "dev", p.tap, "netns", h.ns.name], timeout=10)
            self._configure_host(h, p)
        return self.dp

    def _configure_host(self, h: Host, p: PortSpec):
        ns = h.ns
        # A host MAC of our own, distinct from the router port's (net_tap gives
        # the kernel side the port's MAC by default).
        h.mac = f"02:5e:00:00:{p.index + 1:02x}:02"
        ns.run(["sysctl", "-qw", f"net.ipv6.conf.{h.ifname}.accept_dad=0"], check=False)
        ns.run(["sysctl", "-qw", f"net.ipv6.conf.{h.ifname}.accept_ra=0"], check=False)
        ns.run(["ip", "link", "set", "dev", h.ifname, "address", h.mac])
        ns.run(["ip", "addr", "add", f"{h.v4}/{p.plen4}", "dev", h.ifname])
        ns.run(["ip", "-6", "addr", "add", f"{h.v6}/{p.plen6}", "dev", h.ifname, "nodad"])
        ns.run(["ip", "link", "set", "dev", h.ifname, "up"])
        if self.wire == "sluice":
            ns.run(["ip", "route", "add", "default", "via", h.gw4, "dev", h.ifname])
            ns.run(["ip", "-6", "route", "add", "default", "via", h.gw6, "dev", h.ifname])

    def close(self):
        if self._closed:
            return
        self._closed = True
        if self._tele:
            self._tele.close()
            self._tele = None
        if self.dp:
            try:
                self.dp.stop(timeout=15)
            except Exception:  # noqa: BLE001
                pass
        for ns in self._nss:
            ns.close()
        # Taps die with the process; make sure nothing of ours is left behind.
        for p in self.topo.ports:
            if run(["ip", "link", "show", "dev", p.tap], check=False, timeout=5).returncode == 0:
                run(["ip", "link", "delete", "dev", p.tap], check=False, timeout=5)
        run(["rm", "-rf", f"/var/run/dpdk/{self.file_prefix}"], check=False, timeout=10)
        if not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.close()

    # -- helpers -------------------------------------------------------------

    def add_host_namespace(self, name: str) -> Netns:
        ns = Netns(f"{self.file_prefix}-{name}")
        self._nss.append(ns)
        return ns

    def output(self) -> str:
        return self.dp.output() if self.dp else ""

    def tail(self, n: int = 200) -> str:
        lines = self.output().splitlines()
        return "\n".join(lines[-n:])

    def describe(self) -> str:
        """Text attached to assertion messages: process state and its output."""
        state = "not started"
        if self.dp:
            rc = self.dp.p.poll()
            state = "running" if rc is None else f"exited with {rc}"
        return (f"\n--- data plane ({state}), config {self.config_path}, "
                f"last lines of output ---\n{self.tail()}\n--- end ---")

    def assert_alive(self):
        if not self.dp or not self.dp.alive():
            raise AssertionError("data plane is not running" + self.describe())

    def telemetry(self) -> Telemetry:
        if self._tele is None:
            self._tele = connect_telemetry(self.file_prefix,
                                           alive=(self.dp.alive if self.dp else None))
        return self._tele

    def tele(self, command: str, params: str | None = None):
        try:
            return self.telemetry().cmd(command, params)
        except (OSError, ValueError):
            # One reconnect (the socket may have been closed by the server).
            if self._tele:
                self._tele.close()
            self._tele = None
            return self.telemetry().cmd(command, params)

    def drops(self) -> dict[str, int]:
        d = self.tele("/sluice/drops")
        if not isinstance(d, dict):
            raise AssertionError(f"/sluice/drops is not an object: {d!r}")
        return {k: int(v) for k, v in d.items() if isinstance(v, (int, float))}

    def ports(self) -> dict:
        return self.tele("/sluice/ports")

    def config_version(self):
        return self.tele("/sluice/config").get("version")

    # Per-core counters that move on an idle data plane (the poll loop's own
    # bookkeeping); left out when judging whether the data plane is quiet.
    VOLATILE_COUNTERS = frozenset({"polls", "idle_polls", "sleeps"})

    def counters(self) -> dict:
        """One read of every packet counter: {"drops", "ports", "workers",
        "icmp"} as telemetry gives them, without VOLATILE_COUNTERS. Two
        reads compare equal exactly when no packet was counted in between."""
        workers = self.tele("/sluice/workers")
        if isinstance(workers, dict):
            workers = {core: ({k: v for k, v in c.items() if k not in self.VOLATILE_COUNTERS}
                              if isinstance(c, dict) else c)
                       for core, c in workers.items()}
        return {"drops": self.drops(), "ports": self.ports(), "workers": workers,
                "icmp": self.tele("/sluice/icmp")}

    def wait_quiescent(self, *, rx_at_least: dict[str, int] | None = None, timeout: float = 10,
                       interval: float = 0.1, what: str = "a quiescent data plane") -> dict:
        """Waits until the data plane has taken in what was sent and is done
        with it; returns that counters() read.

        Quiescent means: for every port named in rx_at_least, /sluice/ports
        rx_packets is at least the given value (the frames a test sent have
        been received), and two consecutive counters() reads, `interval`
        apart, agree (no worker or agent is still counting). Background
        traffic of the kernel hosts (ND, about one frame a second) only
        delays this. Use it before judging an exact counter value, e.g.::

            lab.wait_counter(router, "/sluice/drops", reason, lambda v: v >= n0 + 5)
            after = router.wait_quiescent(rx_at_least={"a": rx0 + 5})
            assert after["drops"][reason] == n0 + 5
        """
        need = dict(rx_at_least or {})

        def received(c) -> bool:
            return all(int(c["ports"][port]["rx_packets"]) >= n for port, n in need.items())

        def seen(last: list) -> str:
            rx = {port: last[-1]["ports"].get(port, {}).get("rx_packets") for port in need}
            moved = _diff(last[0], last[-1]) if len(last) == 2 else {}
            return f"rx_packets {rx}, changed between the last two reads: {moved}"

        label = what + (f" (rx_packets at least {need})" if need else "")
        return wait_stable(self.counters, ready=received, timeout=timeout, interval=interval,
                           what=label, describe=seen)

    def reload(self, *, expect: str = "applied", timeout: float = 20) -> re.Match:
        assert self.dp
        start = self.dp.line_count()
        self.dp.send_signal(signal.SIGHUP)
        return self.dp.wait_line(rf"reload: {expect}", timeout=timeout, start=start)

    # -- load balancer telemetry (docs/lb.md) ---------------------------------

    def _paged(self, command: str, first_param: str | None = None) -> dict:
        """All pages of a paged telemetry command merged: the first page's
        summary keys and every page's entries (the dict values)."""
        first = self.tele(command, first_param)
        if not isinstance(first, dict):
            raise LabError(f"{command},{first_param}: not an object: {first!r}")
        merged = dict(first)
        pages = int(first.get("pages", 1) or 1)
        for page in range(1, min(pages, 10000)):
            params = str(page) if first_param is None else f"{first_param},{page}"
            more = self.tele(command, params)
            if not isinstance(more, dict):
                raise LabError(f"{command},{params}: not an object: {more!r}")
            merged.update({k: v for k, v in more.items() if isinstance(v, dict)})
        return merged

    def lb_vips(self) -> dict[str, dict]:
        """/sluice/lb/vips, every page: {vip name: {"address", "mode",
        "packets", "new_flows", ...}}."""
        return {k: v for k, v in self._paged("/sluice/lb/vips").items() if isinstance(v, dict)}

    def lb_backends(self, vip: str) -> dict[str, dict]:
        """/sluice/lb/backends,<vip>, every page: {"<address>_<port>":
        {"address", "port", "state", "packets", "new_flows", ...}}."""
        return {k: v for k, v in self._paged("/sluice/lb/backends", vip).items()
                if isinstance(v, dict)}

    def lb_which(self, proto: str, src: str, sport: int, dst: str, dport: int) -> dict:
        """/sluice/lb/which: where a packet of this 5-tuple would go now
        (VIP, Maglev slot and backend, tracked backend), without sending it."""
        r = self.tele("/sluice/lb/which", f"{proto},{src},{sport},{dst},{dport}")
        if not isinstance(r, dict):
            raise LabError(f"/sluice/lb/which,{proto},{src},{sport},{dst},{dport}: {r!r}")
        return r

    def router_mac(self, key: str = "a") -> str:
        h = self.hosts[key]
        mac = h.ns.neigh_mac(h.gw4, h.ifname)
        if not mac:
            h.run(["ping", "-c", "1", "-W", "2", h.gw4], check=False, timeout=10)
            mac = h.ns.neigh_mac(h.gw4, h.ifname)
        if not mac:
            raise AssertionError(f"host {h.name} did not learn the router's MAC" + self.describe())
        return mac


# --------------------------------------------------------------------------
# tools run in hosts


def ping(host: Host, dst: str, *, count: int = 5, interval: float = 0.2, wait: float = 2,
         ttl: int | None = None, timeout: float | None = None, extra: list[str] = ()) -> dict:
    """Runs ping in a host; returns {rc, out, sent, received, loss}."""
    cmd = ["ping", "-6" if ":" in dst else "-4", "-n", "-c", str(count), "-i", str(interval),
           "-W", str(wait)]
    if ttl is not None:
        cmd += ["-t", str(ttl)]
    cmd += [*extra, dst]
    timeout = timeout or (count * interval + wait + 15)
    cp = host.run(cmd, check=False, timeout=timeout)
    out = cp.stdout + cp.stderr
    m = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", out)
    sent, recv = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    return {"rc": cp.returncode, "out": out, "sent": sent, "received": recv,
            "loss": (sent - recv) if m else None}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def make_blob(path: Path, size: int, seed: int = 1) -> str:
    """A file of pseudo-random bytes (deterministic); returns its sha256."""
    import random
    rnd = random.Random(seed)
    path.write_bytes(rnd.randbytes(size))
    return sha256_file(path)


def start_http_server(host: Host, bind: str, port: int, directory: Path) -> Proc:
    p = host.ns.popen([PYTHON, "-m", "http.server", "--bind", bind, "--directory",
                       str(directory), str(port)])
    fam = "-6" if ":" in bind else "-4"

    def listening():
        cp = host.run(["ss", "-Hltn", fam, f"sport = :{port}"], check=False, timeout=5)
        return str(port) in cp.stdout

    wait_until(listening, timeout=10, what=f"http server on {bind}:{port} in {host.name}",
               describe=lambda: f"server {'running' if p.alive() else 'exited'}: {p.output()}")
    return p


def curl(host: Host, url: str, out: Path, *, timeout: float = 60,
         extra: list[str] = ()) -> subprocess.CompletedProcess:
    return host.run(["curl", "-g", "-sS", "--fail", "--max-time", str(int(timeout)),
                     "-o", str(out), *extra, url], check=False, timeout=timeout + 10)


SCAPY_SENDER = r'''
import sys, json
from scapy.all import Ether, IP, IPv6, ICMP, ICMPv6EchoRequest, UDP, Raw, sendp, conf
conf.verb = 0
spec = json.loads(sys.argv[1])
iface, dmac, smac, n = spec["iface"], spec["dmac"], spec["smac"], spec["count"]
src4, dst4, src6, dst6 = spec["src4"], spec["dst4"], spec["src6"], spec["dst6"]
kind = spec["kind"]
eth = Ether(dst=dmac, src=smac)
def good4(**kw):
    return IP(src=src4, dst=dst4, **kw) / ICMP(id=0x5e5e, seq=1) / Raw(b"sluice" * 8)
def good6(**kw):
    return IPv6(src=src6, dst=dst6, **kw) / ICMPv6EchoRequest(id=0x5e5e, seq=1) / Raw(b"sluice" * 8)
if kind == "ipv4_bad_checksum":
    raw = bytearray(bytes(eth / good4()))
    raw[14 + 10] ^= 0x5a                      # corrupt the header checksum
    raw[14 + 11] ^= 0xa5
    raw = bytes(raw)
elif kind == "ipv4_truncated":
    raw = bytes(eth / good4())[:14 + 12]      # cut inside the IPv4 header
elif kind == "ipv4_bad_total_length":
    raw = bytes(eth / good4(len=1400))        # header says 1400, the frame holds ~90
elif kind == "ipv4_ttl0":
    raw = bytes(eth / good4(ttl=0))
elif kind == "ipv4_ttl1":
    raw = bytes(eth / good4(ttl=1))
elif kind == "ipv6_bad_payload_length":
    raw = bytes(eth / good6(plen=1400))
elif kind == "ipv6_hlim1":
    raw = bytes(eth / good6(hlim=1))
elif kind == "ipv4_good":
    raw = bytes(eth / good4())
elif kind == "ipv6_good":
    raw = bytes(eth / good6())
else:
    raise SystemExit("unknown kind " + kind)
sendp(Raw(raw), iface=iface, count=n, inter=0.01)
print(json.dumps({"sent": n, "len": len(raw), "hex": raw[:64].hex()}))
'''


def send_malformed(host: Host, kind: str, *, dmac: str, dst4: str, dst6: str,
                   count: int = 5) -> dict:
    """Sends `count` frames of `kind` from the host with scapy; returns its report."""
    spec = {"iface": host.ifname, "dmac": dmac, "smac": host.mac, "count": count,
            "src4": host.v4, "dst4": dst4, "src6": host.v6, "dst6": dst6, "kind": kind}
    cp = host.run([PYTHON, "-c", SCAPY_SENDER, json.dumps(spec)], timeout=60)
    return json.loads(cp.stdout.strip().splitlines()[-1])


def find_entries(obj, needle: str) -> list:
    """Every dict/list inside obj (JSON) that holds `needle` as a key or string value."""
    found = []
    needle_l = needle.lower()

    def walk(o, parent_key=None):
        if isinstance(o, dict):
            for k, v in o.items():
                if str(k).lower() == needle_l:
                    found.append({k: v})
                if isinstance(v, str) and v.lower() == needle_l:
                    found.append(o)
                walk(v, k)
        elif isinstance(o, list):
            for v in o:
                if isinstance(v, str) and v.lower() == needle_l:
                    found.append(o)
                walk(v)

    walk(obj)
    return found
