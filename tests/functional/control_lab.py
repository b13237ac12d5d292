"""The control process's part of the functional lab (lab.py is the harness,
lb_lab.py the load balancer's): an LbEnv whose VIPs carry health checks,
with sluice-control running in a management namespace joined to each
backend by a veth pair (its probes reach the backends without the data
plane, as a health checker on a management network does: a data plane
restart must not look like every backend failing), and sluicectl talking
to it over the lab's own sockets."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

from lab import REPO, LabError, Proc, run, wait_until
from lb_lab import LbEnv, start_lb_server

CONTROL_BINARY = REPO / "build" / "control" / "daemon" / "sluice-control"
CLI_BINARY = REPO / "build" / "control" / "cli" / "sluicectl"
METRICS = "127.0.0.1:9642"  # inside the management namespace: its own loopback

# Fast checks so that a test sees transitions in well under a second:
# down after fall x interval, up after rise x interval.
FAST_HEALTH = {"type": "http", "path": "/healthz", "interval_ms": 200, "timeout_ms": 100,
               "rise": 2, "fall": 2, "jitter_ms": 50}


def figures_path() -> Path:
    """Measured figures of the control tests (closing notes, docs/control.md)."""
    d = Path(os.environ.get("SLUICE_FIGURES_DIR", REPO / "test-results"))
    d.mkdir(parents=True, exist_ok=True)
    return d / "control-figures.json"


def record_figure(name: str, value) -> None:
    p = figures_path()
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError):
        data = {}
    data[name] = value
    p.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))
    return s[k]


def management_network(lab, backends: dict):
    """A namespace `mg` of `lab` with a veth pair to each backend host:
    198.19.<i>.0/30 and 2001:db8:f<i>::/64 on the pair, host routes to the
    backend's service addresses over it. Returns the Netns."""
    mgmt = lab.add_host_namespace("mg")
    for i, (k, h) in enumerate(backends.items(), start=1):
        ours, theirs = f"{lab.prefix}m{k}"[:15], f"{lab.prefix}n{k}"[:15]
        mgmt.run(["ip", "link", "add", ours, "type", "veth", "peer", "name", theirs])
        mgmt.run(["ip", "link", "set", theirs, "netns", h.ns.name])
        mgmt.run(["ip", "addr", "add", f"198.19.{i}.1/30", "dev", ours])
        mgmt.run(["ip", "-6", "addr", "add", f"2001:db8:f{i}::1/64", "dev", ours, "nodad"])
        mgmt.run(["ip", "link", "set", ours, "up"])
        h.ns.run(["ip", "addr", "add", f"198.19.{i}.2/30", "dev", theirs])
        h.ns.run(["ip", "-6", "addr", "add", f"2001:db8:f{i}::2/64", "dev", theirs, "nodad"])
        h.ns.run(["ip", "link", "set", theirs, "up"])
        mgmt.run(["ip", "route", "add", f"{h.v4}/32", "via", f"198.19.{i}.2"])
        mgmt.run(["ip", "-6", "route", "add", f"{h.v6}/128", "via", f"2001:db8:f{i}::2"])
    return mgmt


class ControlEnv:
    """LbEnv (client a, backends b, c, d behind web4/web6) plus the control
    process. `health` is each VIP's `health:` section (None: none)."""

    def __init__(self, mode: str = "l2_dsr", *, tag: str, health: dict | None = FAST_HEALTH,
                 control_extra: dict | None = None, **kw):
        self.env = LbEnv(mode, tag=tag, **kw)
        self.lab = self.env.lab
        if health is not None:
            for v in self.lab.vips:
                v["health"] = dict(health)
        self.lab.control.update({"metrics": METRICS, **(control_extra or {})})
        self.health = health
        self.control: Proc | None = None
        self._old_controls: list[Proc] = []

    # -- lifecycle -----------------------------------------------------------

    def start(self, *, control: bool = True) -> "ControlEnv":
        for b in (CONTROL_BINARY, CLI_BINARY):
            if not b.exists():
                raise LabError(f"{b} not found (build with tests/lab/build.sh)")
        self.env.start()
        try:
            self._management_network()
            if control:
                self.start_control()
        except BaseException:
            self.close()
            raise
        return self

    @property
    def a(self):
        return self.env.a

    def _management_network(self):
        self.mgmt = management_network(self.lab, self.env.backends)

    def start_control(self, *, ready_timeout: float = 30) -> Proc:
        n = len(self._old_controls) + (1 if self.control else 0)
        log = self.lab.workdir / f"control.{n}.log"
        cmd = ["ip", "netns", "exec", self.mgmt.name, str(CONTROL_BINARY),
               "--config", str(self.lab.config_path), "--foreground"]
        self.control = Proc(cmd, log=log)
        self.control.wait_line(r"sluice-control: ready", timeout=ready_timeout)
        return self.control

    def kill_control(self, sig: int = signal.SIGKILL) -> Proc:
        assert self.control
        old = self.control
        if not old.alive():
            raise AssertionError(f"the control process exited with {old.p.poll()} before the test "
                                 "stopped it" + self.describe())
        # `ip netns exec` execs the program: the pid is sluice-control's own.
        os.kill(old.pid, sig)
        old.wait_exit(timeout=15)
        self._old_controls.append(old)
        self.control = None
        return old

    def close(self):
        if self.control:
            try:
                self.control.stop(timeout=10)
            except Exception:  # noqa: BLE001
                pass
        self.env.close()

    def describe(self) -> str:
        out = self.env.describe()
        for i, p in enumerate(self._old_controls + ([self.control] if self.control else [])):
            state = "running" if p.alive() else "exited"
            out += f"\n--- control process {i} ({state}) ---\n" + "\n".join(p.output().splitlines()[-60:])
        return out

    # -- backends --------------------------------------------------------------

    def kill_server(self, key: str) -> float:
        """SIGKILLs backend `key`'s server (HTTP and UDP); returns the
        monotonic time at which it was gone."""
        p = self.env.servers[key]
        os.kill(p.pid, signal.SIGKILL)
        p.wait_exit(timeout=10)
        return time.monotonic()

    def start_server(self, key: str) -> float:
        h = self.env.backends[key]
        port = self.env.server_port
        if self.env.mode == "l2_dsr":
            from lb_lab import LB_VIP4, LB_VIP6
            udp = [(LB_VIP4, port), (LB_VIP6, port)]
        else:
            udp = [(h.v4, port), (h.v6, port)]
        self.env.servers[key] = start_lb_server(h, key, tcp=[("0.0.0.0", port), ("::", port)], udp=udp)
        return time.monotonic()

    def dp_states(self, key: str) -> dict[int, str]:
        """The data plane's state of backend `key` in web4 and web6."""
        out = {}
        for fam in (4, 6):
            c = self.env.backend_counters(fam).get(key)
            out[fam] = c.get("state") if c else None
        return out

    def wait_dp_state(self, key: str, state: str, *, timeout: float, poll: float = 0.005) -> float:
        """Polls the data plane's telemetry until backend `key` has `state` in
        both VIPs; returns the monotonic time it was first seen."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.dp_states(key)
            if all(v == state for v in last.values()):
                return time.monotonic()
            time.sleep(poll)
        raise AssertionError(f"backend {key} not {state} in the data plane within {timeout} s "
                             f"(last {last})" + self.describe())

    # -- CLI -----------------------------------------------------------------

    def ctl(self, *args: str, json_out: bool = False, check: bool = True, dataplane: bool = False,
            timeout: float = 30) -> subprocess.CompletedProcess:
        sock = ["--dataplane", self.lab.control["socket"]] if dataplane else \
            ["--socket", self.lab.control["cli_socket"]]
        cmd = [str(CLI_BINARY), *sock, *(["--json"] if json_out else []), *args]
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and cp.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited with {cp.returncode}:\n{cp.stdout}\n{cp.stderr}"
                                 + self.describe())
        return cp

    def ctl_json(self, *args: str, **kw):
        cp = self.ctl(*args, json_out=True, **kw)
        try:
            return json.loads(cp.stdout)
        except ValueError as e:
            raise AssertionError(f"sluicectl --json {' '.join(args)} printed no JSON ({e}):\n{cp.stdout}")


# --------------------------------------------------------------------------
# a raw client of the control channel (docs/control-protocol.md), for tests
# that need the protocol itself rather than the CLI


class Channel:
    def __init__(self, path: str, *, timeout: float = 5, hello: bool = True):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.id = 0
        self.hello = self.call("hello", {"client": "pytest"}) if hello else None

    def send_raw(self, data: bytes):
        self.s.sendall(data)

    def send(self, obj) -> None:
        body = json.dumps(obj).encode()
        self.send_raw(struct.pack(">I", len(body)) + body)

    def recv(self) -> dict | None:
        """One reply, or None when the server closed."""
        head = self._read(4)
        if head is None:
            return None
        (n,) = struct.unpack(">I", head)
        body = self._read(n)
        if body is None:
            raise AssertionError("connection closed inside a reply")
        return json.loads(body)

    def _read(self, n: int) -> bytes | None:
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                return None if not buf else buf
            buf += chunk
        return buf

    def call(self, type_: str, args: dict | None = None) -> dict:
        self.id += 1
        self.send({"v": 1, "id": self.id, "type": type_, "args": args or {}})
        r = self.recv()
        if r is None:
            raise AssertionError(f"{type_}: connection closed without a reply")
        return r

    def closed(self, timeout: float = 5) -> bool:
        """True once the server has closed the connection (EOF)."""
        self.s.settimeout(timeout)
        try:
            return self.s.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.s.close()


def started_env(request, mode: str, tag: str, **kw) -> ControlEnv:
    """A started ControlEnv (closed by the fixture's finalizer) whose control
    process has synced and whose backends are all up in the data plane."""
    e = ControlEnv(mode, tag=tag, **kw)
    request.addfinalizer(e.close)
    e.start()
    wait_synced(e)
    for k in e.env.BACKENDS:
        e.wait_dp_state(k, "up", timeout=10)
    return e


def wait_synced(env: ControlEnv, *, timeout: float = 15) -> dict:
    """Waits until the data plane reports a connected control session that
    has synced; returns /sluice/control."""
    res = {}

    def ok():
        nonlocal res
        res = env.lab.tele("/sluice/control")
        return isinstance(res, dict) and res.get("connected") and int(res.get("generation", 0)) > 0

    wait_until(ok, timeout=timeout, what="a synced control session" + env.describe())
    return res


__all__ = ["ControlEnv", "Channel", "FAST_HEALTH", "record_figure", "percentile", "wait_synced", "started_env",
           "CONTROL_BINARY", "CLI_BINARY", "run"]
