"""Forwarding through the real data plane between two kernel hosts:
ping, TCP, time exceeded, unreachable, neighbors."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import lab
from conftest import STATIC_NEIGHBOR, STATIC_NEIGHBOR6


def _forwarded(router: lab.Lab) -> int:
    w = router.tele("/sluice/workers")
    return sum(int(v.get("forwarded", 0)) for v in w.values() if isinstance(v, dict))


def _port(router: lab.Lab, name: str) -> dict:
    ports = router.ports()
    assert name in ports, f"/sluice/ports has no port {name}: {ports}" + router.describe()
    return ports[name]


def _neighbor_entry(neigh, addr: str) -> dict | None:
    for e in lab.find_entries(neigh, addr):
        if isinstance(e, dict) and "mac" in e:
            return e
    return None


def _wait_neighbors(router: lab.Lab, want: list[tuple[str, str]], timeout: float = 10):
    """Waits until /sluice/neighbors lists every (address, mac) of `want`
    with that MAC; returns the table. The agent refreshes that view
    periodically, so an entry learned a moment ago may not be there yet."""
    seen: list = [None]

    def listed():
        seen[0] = router.tele("/sluice/neighbors")
        return all((e := _neighbor_entry(seen[0], addr)) and str(e["mac"]).lower() == mac
                   for addr, mac in want)

    try:
        lab.wait_until(listed, timeout=timeout, what=f"neighbors {want} in /sluice/neighbors",
                       describe=lambda: seen[0])
    except lab.LabError as e:
        raise AssertionError(f"{e}" + router.describe()) from None
    return seen[0]


def test_ping_across_router_v4_v6(router):
    router.assert_alive()
    a, b = router.hosts["a"], router.hosts["b"]
    fwd0 = _forwarded(router)
    pa0, pb0 = _port(router, "a"), _port(router, "b")

    for dst in (b.v4, b.v6):
        r = lab.ping(a, dst, count=5, interval=0.2, wait=2)
        assert r["sent"] == 5 and r["loss"] == 0, \
            f"ping {a.name} -> {dst}: {r['out']}" + router.describe()
    # And back the other way.
    r = lab.ping(b, a.v4, count=3)
    assert r["loss"] == 0 and r["sent"] == 3, r["out"] + router.describe()

    # 10 echo requests a->b and 10 replies b->a at least (plus 6 for b->a).
    # A worker counts a packet after handing it to the NIC, so the host may
    # see it first: wait for the counters rather than read them once.
    def grown() -> dict:
        pa, pb = _port(router, "a"), _port(router, "b")
        return {"forwarded": _forwarded(router) - fwd0,
                "a.rx": pa["rx_packets"] - pa0["rx_packets"],
                "b.tx": pb["tx_packets"] - pb0["tx_packets"],
                "b.rx": pb["rx_packets"] - pb0["rx_packets"],
                "a.tx": pa["tx_packets"] - pa0["tx_packets"]}

    try:
        lab.wait_value(grown, lambda g: g["forwarded"] >= 20 and
                       all(g[k] >= 13 for k in ("a.rx", "b.tx", "b.rx", "a.tx")),
                       timeout=10, what="forwarded += 20 and port a/b rx/tx += 13 each")
    except lab.LabError as e:
        raise AssertionError(f"{e}" + router.describe()) from None


def test_ping_router_addresses(router):
    router.assert_alive()
    a = router.hosts["a"]
    # The router's address on a's segment and its address on the far port.
    for dst in ("198.18.1.1", "2001:db8:1::1", "198.18.2.1", "2001:db8:2::1"):
        r = lab.ping(a, dst, count=3, interval=0.2, wait=2)
        assert r["sent"] == 3 and r["loss"] == 0, f"ping {dst}: {r['out']}" + router.describe()


def test_tcp_http_transfer_v4_v6(router):
    router.assert_alive()
    a, b = router.hosts["a"], router.hosts["b"]
    with tempfile.TemporaryDirectory(prefix=f"{lab.RUN_PREFIX}-www-") as d:
        www = Path(d)
        want = lab.make_blob(www / "blob.bin", 1024 * 1024 + 333, seed=7)
        servers = [lab.start_http_server(b, b.v4, 8080, www),
                   lab.start_http_server(b, b.v6, 8081, www)]
        try:
            for url in (f"http://{b.v4}:8080/blob.bin", f"http://[{b.v6}]:8081/blob.bin"):
                out = www / "got.bin"
                if out.exists():
                    out.unlink()
                cp = lab.curl(a, url, out, timeout=60)
                assert cp.returncode == 0, f"curl {url}: rc={cp.returncode} {cp.stderr}" \
                    + router.describe()
                got = lab.sha256_file(out)
                assert got == want, f"{url}: sha256 {got} != {want} " \
                    f"(size {out.stat().st_size})" + router.describe()
        finally:
            for s in servers:
                s.stop(timeout=5)


def test_time_exceeded_v4_v6(router):
    router.assert_alive()
    a, b = router.hosts["a"], router.hosts["b"]
    icmp0 = router.tele("/sluice/icmp")
    drops0 = router.drops()

    r = lab.ping(a, b.v4, count=2, interval=0.3, wait=2, ttl=1)
    assert re.search(r"From 198\.18\.1\.1.*Time to live exceeded", r["out"]), \
        r["out"] + router.describe()
    r = lab.ping(a, b.v6, count=2, interval=0.3, wait=2, ttl=1)
    assert re.search(r"From 2001:db8:1::1.*Time exceeded", r["out"], re.I), \
        r["out"] + router.describe()

    tr = a.run(["traceroute", "-n", "-q", "1", "-w", "2", "-m", "4", b.v4],
               check=False, timeout=40)
    hops = [ln.split() for ln in tr.stdout.splitlines()[1:] if ln.strip()]
    assert hops and hops[0][1] == "198.18.1.1", tr.stdout + tr.stderr + router.describe()
    assert any(h[1] == b.v4 for h in hops), tr.stdout + router.describe()

    tr6 = a.run(["traceroute", "-6", "-n", "-q", "1", "-w", "2", "-m", "4", b.v6],
                check=False, timeout=40)
    hops6 = [ln.split() for ln in tr6.stdout.splitlines()[1:] if ln.strip()]
    assert hops6 and hops6[0][1] == "2001:db8:1::1", tr6.stdout + tr6.stderr + router.describe()
    assert any(h[1] == b.v6 for h in hops6), tr6.stdout + router.describe()

    # The agent counts the drop after it has sent the ICMP error, so the
    # host can see the error first: wait for the counters.
    sent0 = sum(v for k, v in icmp0.items() if k != "rate_limited")

    def grown() -> dict:
        drops, icmp = router.drops(), router.tele("/sluice/icmp")
        return {"ipv4_ttl_exceeded": drops["ipv4_ttl_exceeded"] - drops0["ipv4_ttl_exceeded"],
                "ipv6_hop_limit_exceeded": drops["ipv6_hop_limit_exceeded"]
                - drops0["ipv6_hop_limit_exceeded"],
                "icmp sent": sum(v for k, v in icmp.items() if k != "rate_limited") - sent0,
                "/sluice/icmp": icmp}

    try:
        lab.wait_value(grown, lambda g: g["ipv4_ttl_exceeded"] >= 3 and
                       g["ipv6_hop_limit_exceeded"] >= 3 and g["icmp sent"] >= 6,
                       timeout=10, what=f"ipv4_ttl_exceeded and ipv6_hop_limit_exceeded += 3, "
                       f"ICMP errors sent += 6 (/sluice/icmp before {icmp0})")
    except lab.LabError as e:
        raise AssertionError(f"{e}" + router.describe()) from None


def test_no_route_unreachable_v4_v6(router):
    router.assert_alive()
    a = router.hosts["a"]
    base = router.wait_quiescent(what="a quiet data plane before the unreachable pings")
    drops0, rx0 = base["drops"], base["ports"]["a"]["rx_packets"]

    r = lab.ping(a, "198.19.255.1", count=3, interval=0.3, wait=2)
    assert r["received"] == 0
    assert re.search(r"From 198\.18\.1\.1.*Destination Net Unreachable", r["out"]), \
        r["out"] + router.describe()
    r6 = lab.ping(a, "2001:db8:ffff::1", count=3, interval=0.3, wait=2)
    assert r6["received"] == 0
    assert re.search(r"From 2001:db8:1::1.*Destination unreachable", r6["out"], re.I), \
        r6["out"] + router.describe()

    # Each packet is counted exactly once: the agent counts it after sending
    # the ICMP error, so wait until both counters reach 3, then until the
    # data plane has taken in the 6 echo requests and stopped counting, and
    # judge "exactly 3" on that quiet read.
    try:
        for reason in ("ipv4_no_route", "ipv6_no_route"):
            lab.wait_counter(router, "/sluice/drops", reason,
                             lambda v, n0=drops0[reason]: v - n0 >= 3,
                             what=f"{reason} += 3 (before: {drops0[reason]})")
        drops = router.wait_quiescent(rx_at_least={"a": rx0 + 6},
                                      what="a quiet data plane after the pings")["drops"]
    except lab.LabError as e:
        raise AssertionError(f"{e}" + router.describe()) from None
    assert drops["ipv4_no_route"] - drops0["ipv4_no_route"] == 3, (drops0, drops)
    assert drops["ipv6_no_route"] - drops0["ipv6_no_route"] == 3, (drops0, drops)


def test_neighbors_learned_and_static(router):
    router.assert_alive()
    a, b = router.hosts["a"], router.hosts["b"]
    for dst in (b.v4, b.v6):
        assert lab.ping(a, dst, count=2, interval=0.2)["loss"] == 0
    # The agent rebuilds its telemetry view of the table periodically, so a
    # neighbor learned just now may not be in it yet: wait for every entry.
    want = [(h.v4, h.mac) for h in (a, b)] + [(h.v6, h.mac) for h in (a, b)]
    neigh = _wait_neighbors(router, want)

    def entry(addr):
        return _neighbor_entry(neigh, addr)

    for h in (a, b):
        for addr in (h.v4, h.v6):
            e = entry(addr)
            assert e, f"{addr} not in /sluice/neighbors: {neigh}"
            assert e["mac"].lower() == h.mac, f"{addr}: {e} (host MAC {h.mac})"
            assert not e.get("static"), e
    for s in (STATIC_NEIGHBOR, STATIC_NEIGHBOR6):
        e = entry(s["address"])
        assert e, f"static {s['address']} not in /sluice/neighbors: {neigh}"
        assert e["mac"].lower() == s["mac"]
        assert e.get("static") in (1, True) or "static" in str(e.get("state", "")).lower(), e


def test_first_packets_to_unresolved_gateway(router3):
    """Packets to a gateway nobody has resolved yet wait for ARP/ND (bounded
    queue) and are delivered: none is lost, nothing counts as neighbor_failed."""
    r = router3("g", hosts=3, neighbors=[STATIC_NEIGHBOR],
                routes=[{"prefix": "198.19.0.0/24", "via": "198.18.3.2"},
                        {"prefix": "2001:db8:99::/64", "via": "2001:db8:3::2"}])
    a, c = r.hosts["a"], r.hosts["c"]
    c.run(["ip", "addr", "add", "198.19.0.1/32", "dev", "lo"])
    c.run(["ip", "-6", "addr", "add", "2001:db8:99::1/128", "dev", "lo", "nodad"])
    for dst in ("198.19.0.1", "2001:db8:99::1"):
        res = lab.ping(a, dst, count=3, interval=0.5, wait=3)
        assert res["sent"] == 3 and res["received"] == 3, res["out"] + r.describe()
    # Judged on a quiet data plane, so that no drop still being counted
    # for these pings is missed.
    try:
        drops = r.wait_quiescent(what="a quiet data plane after the pings")["drops"]
    except lab.LabError as e:
        raise AssertionError(f"{e}" + r.describe()) from None
    assert drops["neighbor_failed"] == 0 and drops["neighbor_queue_full"] == 0, \
        {k: v for k, v in drops.items() if v}
    neigh = _wait_neighbors(r, [(c.v4, c.mac), (c.v6, c.mac)])
    for addr in (c.v4, c.v6):
        e = _neighbor_entry(neigh, addr)
        assert e and e["mac"].lower() == c.mac, f"{addr}: {e} in {neigh}"
