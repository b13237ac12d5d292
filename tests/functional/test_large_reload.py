"""A large reload does not stall the slow path: while the data plane reads,
validates, diffs and builds a route table of a few hundred thousand routes
(on its table-builder thread), the router's own address keeps answering
pings, ARP for it is answered (the host forgets the router's MAC right
after the SIGHUP), and the reload then applies in full. Afterwards a
reload of the same file with a few routes changed applies only those."""

from __future__ import annotations

import re
import signal
import time

import lab

N6 = 300_000   # IPv6 /64s inside 2001:db8:8000::/33
N4 = 60_000    # IPv4 /32s inside 198.19.0.0/16


def _write_routes(path, *, moved: int = 0) -> None:
    """N6 + N4 routes via host b; the first `moved` IPv6 ones via host c."""
    with open(path, "w") as f:
        for i in range(N6):
            gw = "2001:db8:3::2" if i < moved else "2001:db8:2::2"
            f.write(f"2001:db8:{0x8000 + (i >> 16):x}:{i & 0xffff:x}::/64 via {gw}\n")
        for i in range(N4):
            f.write(f"198.19.{i >> 8}.{i & 0xff}/32 via 198.18.2.2\n")


def _stamps(p: lab.Proc) -> list[float]:
    """Arrival times (ping -D) of the echo replies so far."""
    return [float(m.group(1)) for m in re.finditer(r"^\[(\d+\.\d+)\] \d+ bytes from", p.output(), re.M)]


def test_slow_path_serves_during_a_large_reload(router3):
    r = router3("lg", hosts=3)
    a, b, c = r.hosts["a"], r.hosts["b"], r.hosts["c"]
    for h in (b, c):
        assert lab.ping(a, h.v6, count=1)["loss"] == 0, r.describe()
    routes = r.workdir / "big.routes"
    _write_routes(routes)
    text = lab.render_config(r.topo, control=r.control) + f"route_files: [{lab.yaml_str(str(routes))}]\n"

    # Pings to the router's own address every 20 ms for the whole reload.
    ping = a.ns.popen(["ping", "-4", "-n", "-D", "-i", "0.02", "-W", "2", a.gw4])
    try:
        lab.wait_until(lambda: len(_stamps(ping)) >= 5, timeout=10, what="pings to the router answered")
        r.write_config(text)
        start = r.dp.line_count()
        t_hup = time.time()
        r.dp.send_signal(signal.SIGHUP)
        # The host forgets the router's MAC: its next ping needs an ARP
        # answer from the agent, during the reload.
        a.run(["ip", "neigh", "flush", "dev", a.ifname])
        m = r.dp.wait_line(r"reload: (applied|rejected)", timeout=120, start=start)
        t_done = time.time()
        during = [t for t in _stamps(ping) if t_hup < t < t_done]
        lab.wait_until(lambda: len([t for t in _stamps(ping) if t > t_done]) >= 5, timeout=10,
                       what="pings answered after the reload")
    finally:
        ping.stop(sig=signal.SIGINT, timeout=5)
    out = ping.output()
    assert "applied" in m.group(1), "\n".join(r.dp.lines_since(start))
    sent = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    assert sent, out[-2000:]
    tx, rx = int(sent.group(1)), int(sent.group(2))
    # The reload took long enough to mean something, and the router kept
    # answering inside it: one reply per 20 ms, allowing a few for the ARP
    # round trip.
    window = t_done - t_hup
    assert len(during) >= 5, (f"{len(during)} replies while the reload ran ({window:.2f} s): "
                              f"the slow path stalled?\n{m.string}")
    assert tx - rx <= 1, f"lost {tx - rx} of {tx} pings to the router during the reload\n{out[-2000:]}"
    cfg = r.tele("/sluice/config")
    assert cfg["fib6_entries"] >= N6 and cfg["fib4_entries"] >= N4, cfg

    # Same file with 1 000 routes moved to c: only those change.
    _write_routes(routes, moved=1000)
    r.write_config(text)
    m2 = r.reload(expect="applied", timeout=120)
    assert re.search(r"\b1000 route changes\b", m2.string), m2.string
    c_rx0 = c.ns.link_stats(c.ifname)["rx_packets"]
    lab.ping(a, "2001:db8:8000:5::1", count=3, wait=1)  # a moved /64: forwarded to c (c does not own it)
    lab.wait_until(lambda: c.ns.link_stats(c.ifname)["rx_packets"] >= c_rx0 + 3, timeout=10,
                   what="host c to receive the traffic of a moved route")
