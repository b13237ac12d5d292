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

    fwd = _forwarded(router) - fwd0
    pa, pb = _port(router, "a"), _port(router, "b")
    # 10 echo requests a->b and 10 replies b->a at least (plus 6 for b->a).
    assert fwd >= 20, f"forwarded rose by {fwd}" + router.describe()
    assert pa["rx_packets"] - pa0["rx_packets"] >= 13, (pa0, pa)
    assert pb["tx_packets"] - pb0["tx_packets"] >= 13, (pb0, pb)
    assert pb["rx_packets"] - pb0["rx_packets"] >= 13, (pb0, pb)
    assert pa["tx_packets"] - pa0["tx_packets"] >= 13, (pa0, pa)


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

    drops = router.drops()
    assert drops["ipv4_ttl_exceeded"] - drops0["ipv4_ttl_exceeded"] >= 3, (drops0, drops)
    assert drops["ipv6_hop_limit_exceeded"] - drops0["ipv6_hop_limit_exceeded"] >= 3, \
        (drops0, drops)
    icmp = router.tele("/sluice/icmp")
    sent0 = sum(v for k, v in icmp0.items() if k != "rate_limited")
    sent = sum(v for k, v in icmp.items() if k != "rate_limited")
    assert sent - sent0 >= 6, f"/sluice/icmp before {icmp0} after {icmp}"


def test_no_route_unreachable_v4_v6(router):
    router.assert_alive()
    a = router.hosts["a"]
    drops0 = router.drops()

    r = lab.ping(a, "198.19.255.1", count=3, interval=0.3, wait=2)
    assert r["received"] == 0
    assert re.search(r"From 198\.18\.1\.1.*Destination Net Unreachable", r["out"]), \
        r["out"] + router.describe()
    r6 = lab.ping(a, "2001:db8:ffff::1", count=3, interval=0.3, wait=2)
    assert r6["received"] == 0
    assert re.search(r"From 2001:db8:1::1.*Destination unreachable", r6["out"], re.I), \
        r6["out"] + router.describe()

    drops = router.drops()
    assert drops["ipv4_no_route"] - drops0["ipv4_no_route"] == 3, (drops0, drops)
    assert drops["ipv6_no_route"] - drops0["ipv6_no_route"] == 3, (drops0, drops)


def test_neighbors_learned_and_static(router):
    router.assert_alive()
    a, b = router.hosts["a"], router.hosts["b"]
    for dst in (b.v4, b.v6):
        assert lab.ping(a, dst, count=2, interval=0.2)["loss"] == 0
    neigh = router.tele("/sluice/neighbors")

    def entry(addr):
        for e in lab.find_entries(neigh, addr):
            if isinstance(e, dict) and "mac" in e:
                return e
        return None

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
    drops = r.drops()
    assert drops["neighbor_failed"] == 0 and drops["neighbor_queue_full"] == 0, \
        {k: v for k, v in drops.items() if v}
    neigh = r.tele("/sluice/neighbors")
    for addr in (c.v4, c.v6):
        e = next((e for e in lab.find_entries(neigh, addr) if isinstance(e, dict) and "mac" in e),
                 None)
        assert e and e["mac"].lower() == c.mac, f"{addr}: {e} in {neigh}"
