"""Config reload on SIGHUP: a route change under load loses no packet and
moves the traffic; a broken config changes nothing and says why."""

from __future__ import annotations

import re
import signal
import tempfile
from pathlib import Path

import lab

SERVICE4 = "198.19.0.1"
SERVICE6 = "2001:db8:99::1"
# Pings per flood: at 10 ms, about 10 s, so the floods span the reload.
FLOOD = 1000
ROUTES_V1 = [
    {"prefix": "198.19.0.0/24", "via": "198.18.2.2"},
    {"prefix": "2001:db8:99::/64", "via": "2001:db8:2::2"},
]
ROUTES_V2 = [
    {"prefix": "198.19.0.0/24", "via": "198.18.3.2"},
    {"prefix": "2001:db8:99::/64", "via": "2001:db8:3::2"},
    # Unrelated additions: the snapshot changes for the TCP stream's FIB too.
    {"prefix": "198.19.128.0/24", "via": "198.18.2.2"},
    {"prefix": "2001:db8:98::/64", "via": "2001:db8:2::2"},
]


def _add_service(h: lab.Host):
    """The same service address on b and c (anycast-like), on lo."""
    h.run(["ip", "addr", "add", f"{SERVICE4}/32", "dev", "lo"])
    h.run(["ip", "-6", "addr", "add", f"{SERVICE6}/128", "dev", "lo", "nodad"])


def _ping_proc(h: lab.Host, dst: str, count: int, interval: float) -> lab.Proc:
    fam = "-6" if ":" in dst else "-4"
    return h.ns.popen(["ping", fam, "-n", "-c", str(count), "-i", str(interval), "-W", "2", dst])


def _ping_result(p: lab.Proc, timeout: float) -> tuple[int, int, str]:
    """Waits for a ping to finish; returns (sent, received, output). A ping
    still running after `timeout` is interrupted (it prints its summary on
    SIGINT) and the output says so."""
    rc = p.wait_exit(timeout=timeout)
    if rc is None:
        p.stop(sig=signal.SIGINT, timeout=5)
    p.stop(timeout=5)
    out = p.output()
    if rc is None:
        out += f"\n(ping still running after {timeout} s: interrupted)"
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    assert m, f"no ping summary:\n{out}"
    return int(m.group(1)), int(m.group(2)), out


def _replies(p: lab.Proc) -> int:
    return p.count_lines(r"bytes from .*icmp_seq=")


def _reload_version(m: re.Match) -> int:
    v = re.search(r"reload: applied config version (\d+)", m.string)
    assert v, f"no version in {m.string!r}"
    return int(v.group(1))


def test_reload_moves_route_without_loss(router3):
    r = router3("r", routes=ROUTES_V1)
    a, b, c = r.hosts["a"], r.hosts["b"], r.hosts["c"]
    _add_service(b)
    _add_service(c)
    # Warm up: the router resolves every host (as a live network would have).
    for h in (b, c):
        for dst in (h.v4, h.v6):
            assert lab.ping(a, dst, count=2)["loss"] == 0, r.describe()
    for dst in (SERVICE4, SERVICE6):
        assert lab.ping(a, dst, count=3)["loss"] == 0, r.describe()
    v0 = r.config_version()

    with tempfile.TemporaryDirectory(prefix=f"{lab.RUN_PREFIX}-www-") as d:
        www = Path(d)
        want = lab.make_blob(www / "stream.bin", 6 * 1024 * 1024, seed=3)
        server = lab.start_http_server(b, b.v4, 8090, www)
        out = www / "got.bin"
        # A TCP stream to b whose route does not change but whose FIB snapshot does;
        # rate-limited so that it spans the reload (about 15 s: a slow CI machine
        # took several seconds to get the floods going, and a 5 s stream had
        # ended by then).
        curl = a.ns.popen(["curl", "-sS", "--fail", "--max-time", "60", "--limit-rate", "400k",
                           "-o", str(out), f"http://{b.v4}:8090/stream.bin"])
        c_rx0 = c.ns.link_stats(c.ifname)["rx_packets"]
        p4 = _ping_proc(a, SERVICE4, FLOOD, 0.01)
        p6 = _ping_proc(a, SERVICE6, FLOOD, 0.01)

        # Reload once the traffic is under way: both floods answered by b
        # and the stream delivering data.
        def flowing() -> dict:
            return {"IPv4 replies": _replies(p4), "IPv6 replies": _replies(p6),
                    "stream bytes": out.stat().st_size if out.exists() else 0}

        try:
            lab.wait_value(flowing, lambda f: f["IPv4 replies"] >= 50 and f["IPv6 replies"] >= 50
                           and f["stream bytes"] >= 64 * 1024, timeout=20,
                           what="50 replies to each ping flood and 64 KiB of the TCP stream")
        except lab.LabError as e:
            raise AssertionError(f"{e}\ncurl: {curl.output()}" + r.describe()) from None

        r.routes = ROUTES_V2
        r.write_config()
        m = r.reload(expect="applied", timeout=20)
        reload_line = m.string
        # The reload must have happened under load, or this test proves nothing.
        under_load = {"IPv4 ping": p4.alive(), "IPv6 ping": p6.alive(), "TCP stream": curl.alive()}

        sent4, recv4, out4 = _ping_result(p4, 60)
        sent6, recv6, out6 = _ping_result(p6, 60)
        try:
            curl_rc = curl.wait_exit(timeout=60)
        finally:
            curl.stop(timeout=5)
            server.stop(timeout=5)
        got = lab.sha256_file(out) if out.exists() else "(no file)"

    assert str(r.config_path) in reload_line, reload_line
    assert all(under_load.values()), \
        f"traffic had finished before the reload was applied: running {under_load}" + r.describe()
    assert sent4 == FLOOD and recv4 == FLOOD, f"IPv4 ping lost {sent4 - recv4}:\n{out4}" + r.describe()
    assert sent6 == FLOOD and recv6 == FLOOD, f"IPv6 ping lost {sent6 - recv6}:\n{out6}" + r.describe()
    assert curl_rc == 0 and got == want, \
        f"TCP stream across reload: curl rc={curl_rc} (None: still running after 60 s) " \
        f"{curl.output()} sha256 {got}" + r.describe()
    # "applied" is printed once the new version is published.
    assert _reload_version(m) == v0 + 1, f"version {v0} before: {reload_line}"
    v1 = r.config_version()
    assert v1 == v0 + 1, f"/sluice/config version {v0} -> {v1}"

    # The flood reached c after the reload ...
    c_rx = c.ns.link_stats(c.ifname)["rx_packets"] - c_rx0
    assert c_rx >= 100, f"host c received only {c_rx} packets after the route moved" + r.describe()
    # ... and now all service traffic goes to c, none to b.
    b_rx0 = b.ns.link_stats(b.ifname)["rx_packets"]
    c_rx0 = c.ns.link_stats(c.ifname)["rx_packets"]
    for dst in (SERVICE4, SERVICE6):
        res = lab.ping(a, dst, count=20, interval=0.05)
        assert res["loss"] == 0, res["out"] + r.describe()
    b_rx = b.ns.link_stats(b.ifname)["rx_packets"] - b_rx0
    c_rx = c.ns.link_stats(c.ifname)["rx_packets"] - c_rx0
    assert c_rx >= 40 and b_rx < 10, f"after reload: b got {b_rx}, c got {c_rx}" + r.describe()


def test_broken_reload_changes_nothing(router3):
    r = router3("k", routes=ROUTES_V1)
    a, b = r.hosts["a"], r.hosts["b"]
    _add_service(b)
    assert lab.ping(a, SERVICE4, count=3)["loss"] == 0, r.describe()
    v0 = r.config_version()
    src0 = r.tele("/sluice/config").get("source")

    good = lab.render_config(r.topo, routes=ROUTES_V1, control=r.control)
    bad = good.replace('prefix: "198.19.0.0/24"', 'prefix: "198.19.300.0/24"')
    bad = bad.replace("    mtu: 1500\n", "    mtu: 1500\n    bogus_field: 7\n", 1)
    assert bad != good
    lines = bad.splitlines()
    bad_prefix_line = next(i + 1 for i, ln in enumerate(lines) if "198.19.300.0" in ln)
    bogus_line = next(i + 1 for i, ln in enumerate(lines) if "bogus_field" in ln)
    r.write_config(bad)

    start = r.dp.line_count()
    r.reload(expect="rejected", timeout=20)
    path = str(r.config_path)
    # The error lines follow the "rejected" line: wait for each of them.
    for line, why in ((bad_prefix_line, "bad prefix"), (bogus_line, "unknown field")):
        try:
            r.dp.wait_line(re.escape(f"{path}:{line}:"), timeout=10, start=start)
        except lab.LabError as e:
            raise AssertionError(f"no error naming {path}:{line} ({why}): {e}") from None
    text = "\n".join(r.dp.lines_since(start))
    assert re.search(rf"reload: rejected {re.escape(path)}", text), text
    assert f"{path}:{bad_prefix_line}" in text, \
        f"no error naming {path}:{bad_prefix_line} (bad prefix):\n{text}"
    assert f"{path}:{bogus_line}" in text, \
        f"no error naming {path}:{bogus_line} (unknown field):\n{text}"

    cfg = r.tele("/sluice/config")
    assert cfg.get("version") == v0 and cfg.get("source") == src0, cfg
    r.assert_alive()
    assert lab.ping(a, SERVICE4, count=5, interval=0.1)["loss"] == 0, r.describe()
    assert lab.ping(a, b.v6, count=3)["loss"] == 0, r.describe()

    # Fixing the file and reloading again works.
    r.write_config(good)
    m = r.reload(expect="applied", timeout=20)
    assert _reload_version(m) == v0 + 1, f"version {v0} before: {m.string}"
    assert r.config_version() == v0 + 1
