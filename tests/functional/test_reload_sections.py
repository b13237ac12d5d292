"""Every config section either takes effect on reload or makes the reload
fail with a message naming the field (docs/config.md, "Reload"). One test
per section, each observing the effect from outside: ICMP errors stop and
start again (icmp), the number of ARP solicitations per resolution round
changes (neighbor), workers stop and start sleeping when idle (workers), a
new interface address answers and an old one stops (ports[].addresses),
static neighbors come and go (neighbors); restart-only fields are refused
by name and change nothing."""

from __future__ import annotations

import re

import lab

ROUTES = [{"prefix": "198.19.0.0/24", "via": "198.18.2.2"}]


def _reload_with(r: lab.Lab, *, expect: str = "applied", routes=None, neighbors=None, extra: str = "",
                 edit=None) -> str:
    text = lab.render_config(r.topo, routes=r.routes if routes is None else routes,
                             neighbors=r.neighbors if neighbors is None else neighbors, extra=extra,
                             control=r.control)
    if edit:
        text = edit(text)
    r.write_config(text)
    start = r.dp.line_count()
    r.reload(expect=expect, timeout=30)
    if expect == "rejected":
        # The errors follow the "rejected" line.
        r.dp.wait_line(r"^  \S", timeout=10, start=start)
    return "\n".join(r.dp.lines_since(start))


def _set_block(text: str, section: str, body: str) -> str:
    """Replaces a top-level YAML section written by render_config."""
    lines = text.splitlines()
    out, skip = [], False
    for ln in lines:
        if ln.startswith(section + ":"):
            out.append(section + ":")
            out.extend("  " + b for b in body.strip("\n").splitlines())
            skip = True
            continue
        if skip and ln.startswith("  "):
            continue
        skip = False
        out.append(ln)
    return "\n".join(out) + "\n"


def _ttl_probes(a: lab.Host, dst: str, n: int = 3) -> int:
    """TTL-1 pings: how many came back as time exceeded."""
    res = lab.ping(a, dst, count=n, interval=0.2, wait=1, ttl=1)
    return len(re.findall(r"Time to live exceeded|Time exceeded", res["out"]))


def test_icmp_section_reloads(router3):
    r = router3("ic", routes=ROUTES, hosts=2)
    a, b = r.hosts["a"], r.hosts["b"]
    assert lab.ping(a, b.v4, count=2)["loss"] == 0, r.describe()
    assert _ttl_probes(a, b.v4) == 3, "time exceeded before the reload" + r.describe()

    # rate_pps 0 means "send none" (docs/config.md): after the reload, TTL
    # expiry is still counted as a drop, but no error leaves.
    _reload_with(r, edit=lambda t: _set_block(t, "icmp", "rate_pps: 0\nburst: 200"))
    sent0 = r.tele("/sluice/icmp").get("v4_type11", 0)
    drop0 = r.drops().get("ipv4_ttl_exceeded", 0)
    assert _ttl_probes(a, b.v4) == 0, "rate_pps 0 still sends time exceeded" + r.describe()
    lab.wait_counter(r, "/sluice/drops", "ipv4_ttl_exceeded", lambda v: v >= drop0 + 3, timeout=10)
    assert r.tele("/sluice/icmp").get("v4_type11", 0) == sent0

    # And back.
    _reload_with(r)
    assert _ttl_probes(a, b.v4) == 3, "time exceeded after restoring the rate" + r.describe()


def _arp_requests_for(h: lab.Host, target: str, trigger) -> int:
    """ARP requests for `target` seen on h's link while `trigger` runs."""
    cap = h.ns.popen(["tcpdump", "-l", "-n", "-i", h.ifname, "--immediate-mode",
                      f"arp and arp[6:2] = 1 and arp dst host {target}"])
    try:
        lab.wait_until(lambda: "listening on" in cap.output(), timeout=10, what="tcpdump to start")
        trigger()
    finally:
        cap.stop(timeout=5)
    return len(re.findall(rf"Request who-has {re.escape(target)}", cap.output()))


def test_neighbor_section_reloads(router3):
    r = router3("nb", routes=ROUTES, hosts=2)
    a, b = r.hosts["a"], r.hosts["b"]
    ghost = "198.18.2.77"  # on b's subnet; nobody has it

    def round_of_probes(probes: int, retrans_ms: int):
        def go():
            # One packet starts a resolution round; it ends FAILED after
            # `probes` solicitations, retrans_ms apart.
            lab.ping(a, ghost, count=1, wait=1)
            lab.wait_until(lambda: r.tele("/sluice/neighbors") and any(
                e.get("address") == ghost and e.get("state") == "failed"
                for e in lab.find_entries(r.tele("/sluice/neighbors"), ghost)),
                timeout=10 + probes * retrans_ms / 1000, what=f"{ghost} to fail")
        return go

    nb = "reachable_ms: 30000\nretrans_ms: 200\nmax_probes: {p}\nmax_pending: 16\ngc_ms: 60000"
    _reload_with(r, extra="neighbor:\n  " + nb.format(p=2).replace("\n", "\n  "))
    n2 = _arp_requests_for(b, ghost, round_of_probes(2, 200))
    assert n2 == 2, f"max_probes 2: {n2} ARP requests" + r.describe()

    _reload_with(r, extra="neighbor:\n  " + nb.format(p=4).replace("\n", "\n  "))
    # The entry is FAILED; the next packet starts a new round with the new settings.
    n4 = _arp_requests_for(b, ghost, round_of_probes(4, 200))
    assert n4 == 4, f"max_probes 4 after reload: {n4} ARP requests" + r.describe()

    # capacity sizes the table: refused, by name, and nothing changes.
    v = r.config_version()
    out = _reload_with(r, expect="rejected", extra="neighbor:\n  capacity: 8192")
    assert "neighbor.capacity" in out and "restart" in out, out
    assert r.config_version() == v


def test_workers_section_reloads(router3):
    r = router3("wk", routes=ROUTES, hosts=2)
    a, b = r.hosts["a"], r.hosts["b"]

    def sleeps() -> int:
        return sum(int(c.get("sleeps", 0)) for name, c in r.tele("/sluice/workers").items()
                   if name.startswith("worker"))

    # The lab runs with idle back-off on: an idle worker sleeps.
    s0 = sleeps()
    lab.wait_until(lambda: sleeps() > s0 + 10, timeout=10, what="idle workers to sleep")

    # Back-off off: the worker busy-polls, the sleep count stops.
    _reload_with(r, edit=lambda t: _set_block(
        t, "workers", "burst: 8\nidle_backoff:\n  enabled: false"))
    s1 = lab.wait_stable(sleeps, reads=3, interval=0.3, timeout=10, what="sleeps to stop rising")
    assert lab.ping(a, b.v4, count=20, interval=0.02)["loss"] == 0, "forwarding with burst 8" + r.describe()
    assert sleeps() == s1

    # And on again.
    _reload_with(r)
    lab.wait_until(lambda: sleeps() > s1 + 10, timeout=10, what="workers to sleep again")


def test_addresses_and_static_neighbors_reload(router3):
    r = router3("ad", routes=ROUTES, hosts=2)
    a, b = r.hosts["a"], r.hosts["b"]
    extra_addr = "198.18.1.77"
    assert lab.ping(a, extra_addr, count=1, wait=1)["loss"] == 1

    # A secondary address on port a answers; a static neighbor appears.
    static = {"address": "198.18.2.66", "mac": "02:5e:00:00:66:66", "port": "b"}
    text = lab.render_config(r.topo, routes=ROUTES, neighbors=[static], control=r.control)
    text = text.replace('addresses: ["198.18.1.1/24"', f'addresses: ["198.18.1.1/24", "{extra_addr}/24"', 1)
    r.write_config(text)
    r.reload(expect="applied", timeout=30)
    assert lab.ping(a, extra_addr, count=3)["loss"] == 0, "new address does not answer" + r.describe()
    entries = lab.find_entries(r.tele("/sluice/neighbors"), static["address"])
    assert entries and entries[0].get("static") == 1 and entries[0].get("mac") == static["mac"], entries

    # Removing both: the address stops answering, the neighbor stops being static.
    r.write_config(lab.render_config(r.topo, routes=ROUTES, control=r.control))
    r.reload(expect="applied", timeout=30)
    assert lab.ping(a, extra_addr, count=2, wait=1)["received"] == 0, "old address still answers" + r.describe()
    entries = lab.find_entries(r.tele("/sluice/neighbors"), static["address"])
    assert not entries or entries[0].get("static") == 0, entries
    assert lab.ping(a, b.v4, count=3)["loss"] == 0, r.describe()


def test_restart_only_fields_are_refused_by_name(router3):
    r = router3("ro", routes=ROUTES, hosts=2)
    a, b = r.hosts["a"], r.hosts["b"]
    v = r.config_version()
    good = lab.render_config(r.topo, routes=ROUTES, control=r.control)
    cases = [
        ("mbufs", "mbufs: 8191\n" + good),
        ("mtu", good.replace("    mtu: 1500\n", "    mtu: 1400\n", 1)),
        ("rx_desc", good.replace("    mtu: 1500\n", "    mtu: 1500\n    rx_desc: 512\n", 1)),
    ]
    for field, text in cases:
        r.write_config(text)
        start = r.dp.line_count()
        r.reload(expect="rejected", timeout=30)
        r.dp.wait_line(re.escape(field), timeout=10, start=start)
        out = "\n".join(r.dp.lines_since(start))
        assert "restart" in out, out
        assert r.config_version() == v, f"{field}: version moved"
        assert lab.ping(a, b.v4, count=2)["loss"] == 0, r.describe()
