"""sluicectl against a running control process and data plane
(docs/cli.md): route and backend changes shown by real traffic, --json on
every show command, config reload that keeps the old state on an error, and
the interactive prompt driven through a pseudo-terminal."""

from __future__ import annotations

import json
import subprocess

import pytest

from control_lab import CLI_BINARY, ControlEnv, started_env
from lab import ping, wait_until
from lb_lab import lb_names

EXTRA_NET = "198.18.200.0/24"
EXTRA_ADDR = "198.18.200.1"


@pytest.fixture(scope="module")
def env(request):
    return started_env(request, "l2_dsr", "cc")


def udp_names(env: ControlEnv, base: int, n: int = 300) -> list[str]:
    return lb_names(env.env, env.env.client.udp(env.env.flows(4, range(base, base + n)))["results"], f"{n} UDP flows")


def test_route_add_and_del_change_forwarding(env):
    b = env.env.backends["b"]
    b.run(["ip", "addr", "add", f"{EXTRA_ADDR}/32", "dev", "lo"])
    a = env.a
    assert ping(a, EXTRA_ADDR, count=1, wait=1)["received"] == 0, "reachable before the route exists"
    env.ctl("route", "add", EXTRA_NET, "via", b.v4)
    wait_until(lambda: ping(a, EXTRA_ADDR, count=1, wait=1)["received"] == 1, timeout=10,
               what=f"ping {EXTRA_ADDR} after `route add`" + env.describe())
    shown = env.ctl_json("show", "route", EXTRA_ADDR)
    assert EXTRA_NET in json.dumps(shown), f"show route {EXTRA_ADDR}: {shown}"
    env.ctl("route", "del", EXTRA_NET)
    wait_until(lambda: ping(a, EXTRA_ADDR, count=1, wait=1)["received"] == 0, timeout=10,
               what=f"{EXTRA_ADDR} unreachable after `route del`")
    routes = env.ctl_json("show", "routes")
    assert EXTRA_NET not in json.dumps(routes)


def test_drain_keeps_established_and_takes_no_new_flows(env):
    e = env.env
    conns = [[i, *f] for i, f in enumerate(e.flows(4, range(45000, 45030)))]
    opened = e.client.open(conns)
    owner = [r.get("n") for r in opened]
    assert "c" in owner, f"no connection landed on c: {owner}"
    env.ctl("backend", "drain", "web4", e.backends["c"].v4)
    wait_until(lambda: env.dp_states("c")[4] == "drain", timeout=10, what="c drained in the data plane")
    names = udp_names(env, 46000)
    assert "c" not in names, f"a drained backend got new flows: {sorted(set(names))}"
    again = e.client.request(list(range(len(conns))))
    assert [r.get("n") for r in again] == owner, f"established connections moved: {again}"
    backends = env.ctl_json("show", "backends", "web4")
    assert "drain" in json.dumps(backends), backends
    env.ctl("backend", "undrain", "web4", e.backends["c"].v4)
    wait_until(lambda: env.dp_states("c")[4] == "up", timeout=10, what="c up again")
    assert "c" in udp_names(env, 47000)
    e.client.close(list(range(len(conns))))


def test_backend_del_add_and_weight(env):
    e = env.env
    d4 = e.backends["d"].v4
    env.ctl("backend", "del", "web4", d4)
    wait_until(lambda: env.dp_states("d")[4] is None, timeout=10, what="d gone from web4")
    names = udp_names(env, 48000)
    assert set(names) == {"b", "c"}, sorted(set(names))
    env.ctl("backend", "add", "web4", d4)
    wait_until(lambda: env.dp_states("d")[4] == "up", timeout=10, what="d back in web4")
    env.ctl("backend", "set", "web4", e.backends["b"].v4, "weight", "3")

    def slots():
        return {k: int(v.get("slots", 0)) for k, v in e.backend_counters(4).items()}
    s = wait_until(lambda: (lambda x: x if x.get("b", 0) > 2 * x.get("c", 1) else None)(slots()), timeout=10,
                   what="b's Maglev share after weight 3")
    total = sum(s.values())
    assert abs(s["b"] / total - 0.6) < 0.02, s
    env.ctl("backend", "set", "web4", e.backends["b"].v4, "weight", "1")


@pytest.mark.parametrize("args", [
    ["show", "status"], ["show", "ports"], ["show", "routes"], ["show", "neighbors"], ["show", "vips"],
    ["show", "backends", "web4"], ["show", "drops"], ["show", "workers"], ["show", "health"],
    ["show", "which", "udp", "198.18.1.2", "5555", "198.18.100.1", "80"],
])
def test_show_json_parses(env, args):
    out = env.ctl_json(*args)
    assert isinstance(out, (dict, list)) and out, f"{args}: empty or scalar JSON result: {out!r}"
    text = env.ctl(*args).stdout
    assert text.strip(), f"{args}: empty human output"


def test_show_straight_from_the_dataplane(env):
    vips = env.ctl_json("show", "vips", dataplane=True)
    assert "web4" in json.dumps(vips)
    cp = env.ctl("backend", "drain", "web4", env.env.backends["c"].v4, dataplane=True, check=False)
    assert cp.returncode != 0 and cp.stderr.strip(), "a change through the data plane's socket was accepted"


def test_reload_rejects_bad_file_and_keeps_state(env):
    lab = env.lab
    good = lab.config_path.read_text()
    before = env.ctl_json("show", "backends", "web4")
    try:
        lab.config_path.write_text(good.replace("interval_ms: 200", "interval_ms: -5", 1))
        cp = env.ctl("reload", check=False)
        assert cp.returncode == 1, cp
        err = cp.stdout + cp.stderr
        assert str(lab.config_path) in err and "interval_ms" in err, err
        assert ":" in err.split(str(lab.config_path), 1)[1][:8], f"no line number: {err}"
    finally:
        lab.config_path.write_text(good)
    after = env.ctl_json("show", "backends", "web4")
    addresses = [b.get("address") for b in _rows(before)]
    assert len(addresses) == 3, f"show backends web4 before the reload: {before}"
    assert [b.get("address") for b in _rows(after)] == addresses, (before, after)
    env.ctl("reload")


def _rows(x):
    if isinstance(x, list):
        return x
    for k in ("backends", "rows"):
        if isinstance(x, dict) and isinstance(x.get(k), list):
            return x[k]
    return [v for v in x.values() if isinstance(v, dict)] if isinstance(x, dict) else []


def test_bad_arguments_get_clear_errors(env):
    for args in (["route", "add", "198.18.300.0/24", "via", "198.18.2.2"],
                 ["backend", "drain", "nosuchvip", "198.18.2.2"],
                 ["show", "which", "tcp", "x", "1", "198.18.100.1", "80"],
                 ["frobnicate"]):
        cp = env.ctl(*args, check=False)
        assert cp.returncode != 0, args
        assert cp.stderr.strip(), f"{args}: no message"


def test_interactive_prompt(env):
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(str(CLI_BINARY), ["--socket", env.lab.control["cli_socket"]], encoding="utf-8",
                          timeout=15, dimensions=(40, 160))
    try:
        child.expect_exact("sluice> ")
        # Tab completes: libedit redraws the line and writes only the
        # completed rest ("ow ", "ps") after moving the cursor.
        child.send("sh\t")
        child.expect_exact("ow ")
        child.send("vi\t")
        child.expect_exact("ps")
        child.send("\r")
        child.expect("web4")
        child.expect_exact("sluice> ")
        child.send("\x1b[A")          # history: the last line again
        child.send("\r")
        child.expect("web4")
        child.expect_exact("sluice> ")
        child.sendline("show drops stats")
        child.expect("drop")          # first frame
        child.expect("\x1b\\[")       # it redraws in place
        child.send("q")               # any key stops it
        child.expect_exact("sluice> ")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    except Exception:
        raise AssertionError(f"prompt session: {child.before!r}" + env.describe()) from None
    finally:
        child.close(force=True)


def test_cli_without_control_process_says_so(env, tmp_path):
    cp = subprocess.run([str(CLI_BINARY), "--socket", str(tmp_path / "none.sock"), "show", "vips"],
                        capture_output=True, text=True, timeout=10)
    assert cp.returncode == 3 and "none.sock" in cp.stderr, cp
