"""Counters add up (docs/architecture.md, "Counters"): after a mixed,
hostile load through the router and a wait for quiescence, one read of
/sluice/workers holds

  per worker:  rx = forwarded + punted + dropped
  the agent:   punted_in = handled + dropped + pending
               (the packets it built itself counted apart: originated,
               originated_dropped, originated_pending)

and the views agree with each other: what the workers punted is what the
agent took in, the workers' rx is the ports' rx_packets, every core's
dropped is the sum of its reasons and /sluice/drops is the sum of all."""

from __future__ import annotations

import json

import lab

# Sent with scapy from host a; every frame is built from a spec below. The
# addresses: router port a 198.18.1.1 / 2001:db8:1::1, host b behind port b.
SENDER = r'''
import sys, json
from scapy.all import (Ether, Dot1Q, ARP, IP, IPv6, ICMP, UDP, TCP, Raw, ICMPv6EchoRequest,
                       ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, sendp, conf)
conf.verb = 0
spec = json.loads(sys.argv[1])
iface, rmac, smac = spec["iface"], spec["rmac"], spec["smac"]
a4, a6, r4, r6, b4, b6 = spec["a4"], spec["a6"], spec["r4"], spec["r6"], spec["b4"], spec["b6"]
eth = Ether(dst=rmac, src=smac)
pay = Raw(b"sluice-counters" * 3)

def udp4(dst, src=a4, **ip):
    return eth / IP(src=src, dst=dst, **ip) / UDP(sport=40000, dport=33434) / pay

def udp6(dst, src=a6, **ip):
    return eth / IPv6(src=src, dst=dst, **ip) / UDP(sport=40000, dport=33434) / pay

def raw_edit(frame, edits, cut=None):
    b = bytearray(bytes(frame))
    for off, val in edits:
        b[off] = val
    return Raw(bytes(b[:cut] if cut else b))

KINDS = {
    # forwarded (and answered by b's kernel, closed UDP port: unreachable back to a)
    "udp4_to_b": lambda: udp4(b4),
    "udp6_to_b": lambda: udp6(b6),
    # transit errors: time exceeded, no route
    "ttl1_v4": lambda: udp4(b4, ttl=1),
    "ttl0_v4": lambda: udp4(b4, ttl=0),
    "hlim1_v6": lambda: udp6(b6, hlim=1),
    "noroute_v4": lambda: udp4("198.19.250.1"),
    "noroute_v6": lambda: udp6("2001:db8:ff::1"),
    # the ICMP error itself cannot be delivered: to an unresolvable on-link
    # source (queued, then neighbor_failed) and to a source without a route
    "ttl1_from_unresolvable": lambda: udp4(b4, src="198.18.1.99", ttl=1),
    "ttl1_from_unroutable": lambda: udp4(b4, src="198.19.0.5", ttl=1),
    # on-link destination nobody answers for: queued, overflow, then failed
    "unresolvable_v4": lambda: udp4("198.18.2.77"),
    "unresolvable_v6": lambda: udp6("2001:db8:2::77"),
    # to the router: echo (reply in place), UDP (port unreachable), TCP (unsupported),
    # echo with a bad checksum, echo from a source that cannot be resolved
    "echo_router_v4": lambda: eth / IP(src=a4, dst=r4) / ICMP(id=0x5c5c, seq=1) / pay,
    "echo_router_v6": lambda: eth / IPv6(src=a6, dst=r6) / ICMPv6EchoRequest(id=0x5c5c, seq=1) / pay,
    "udp_router_v4": lambda: udp4(r4),
    "udp_router_v6": lambda: udp6(r6),
    "tcp_router_v4": lambda: eth / IP(src=a4, dst=r4) / TCP(sport=40001, dport=22, flags="S"),
    "echo_bad_cksum_v4": lambda: eth / IP(src=a4, dst=r4) / ICMP(id=0x5c5c, seq=2, chksum=0x1234) / pay,
    "echo_router_from_unresolvable": lambda: eth / IP(src="198.18.1.98", dst=r4) / ICMP(id=0x5c5c, seq=3) / pay,
    # ARP and ND for addresses that are not the router's
    "arp_unknown": lambda: Ether(dst="ff:ff:ff:ff:ff:ff", src=smac) / ARP(
        op=1, hwsrc=smac, psrc=a4, pdst="198.18.1.77"),
    "ns_unknown": lambda: Ether(dst="33:33:ff:00:00:77", src=smac) / IPv6(
        src=a6, dst="ff02::1:ff00:77", hlim=255) / ICMPv6ND_NS(tgt="2001:db8:1::77") / ICMPv6NDOptSrcLLAddr(
        lladdr=smac),
    # malformed or unwanted at layer 2/3
    "bad_cksum_v4": lambda: raw_edit(udp4(b4), [(24, 0x5a), (25, 0xa5)]),
    "truncated_v4": lambda: raw_edit(udp4(b4), [], cut=14 + 12),
    "bad_total_length_v4": lambda: udp4(b4, len=1400),   # header checksum still right
    "bad_payload_length_v6": lambda: udp6(b6, plen=1400),
    "vlan_tagged": lambda: Ether(dst=rmac, src=smac) / Dot1Q(vlan=7) / IP(src=a4, dst=b4) / UDP() / pay,
    "unknown_ethertype": lambda: Ether(dst=rmac, src=smac, type=0x88b5) / pay,
    "not_our_mac": lambda: Ether(dst="02:5e:00:00:77:77", src=smac) / IP(src=a4, dst=b4) / UDP() / pay,
    "multicast_v4": lambda: Ether(dst="01:00:5e:00:00:05", src=smac) / IP(src=a4, dst="224.0.0.5") / UDP() / pay,
    "multicast_v6_site": lambda: Ether(dst="33:33:00:00:00:01", src=smac) / IPv6(src=a6, dst="ff05::1") / UDP() / pay,
}
frames = []
for kind, count in spec["load"]:
    f = KINDS[kind]()
    frames += [f] * count
sendp(frames, iface=iface, inter=0)
print(json.dumps({"sent": len(frames)}))
'''

# (kind, count): one phase each, sent back to back (inter=0). The counts
# bound the test: about 800 frames in all.
PHASES = [
    [("udp4_to_b", 20), ("udp6_to_b", 20), ("echo_router_v4", 5), ("echo_router_v6", 5),
     ("udp_router_v4", 5), ("udp_router_v6", 5), ("tcp_router_v4", 3), ("echo_bad_cksum_v4", 3),
     ("arp_unknown", 5), ("ns_unknown", 5)],
    [("ttl1_v4", 5), ("ttl0_v4", 3), ("hlim1_v6", 5), ("noroute_v4", 5), ("noroute_v6", 5),
     ("ttl1_from_unresolvable", 3), ("ttl1_from_unroutable", 3), ("echo_router_from_unresolvable", 3)],
    [("bad_cksum_v4", 5), ("truncated_v4", 5), ("bad_total_length_v4", 5), ("bad_payload_length_v6", 5),
     ("vlan_tagged", 5), ("unknown_ethertype", 5), ("not_our_mac", 5), ("multicast_v4", 5),
     ("multicast_v6_site", 5)],
    # Past neighbor.max_pending (16 by default) for one unresolved neighbor:
    # the overflow is neighbor_queue_full, what was queued neighbor_failed
    # after max_probes solicitations (about 3 s).
    [("unresolvable_v4", 40), ("unresolvable_v6", 40)],
    # A burst through the router, and past the ICMP bucket (burst 200).
    [("udp4_to_b", 300), ("ttl1_v4", 250)],
]

WORKER_KEYS = ("rx", "forwarded", "punted", "dropped")
AGENT_KEYS = ("punted_in", "handled", "dropped", "pending", "originated", "originated_dropped",
              "originated_pending")


def _send(host: lab.Host, rmac: str, router_addrs: tuple[str, str], b: lab.Host, load) -> int:
    spec = {"iface": host.ifname, "rmac": rmac, "smac": host.mac, "a4": host.v4, "a6": host.v6,
            "r4": router_addrs[0], "r6": router_addrs[1], "b4": b.v4, "b6": b.v6, "load": load}
    cp = host.run([lab.PYTHON, "-c", SENDER, json.dumps(spec)], timeout=60)
    return int(json.loads(cp.stdout.strip().splitlines()[-1])["sent"])


def _reasons(core: dict, prefix: str) -> dict[str, int]:
    return {k[len(prefix):]: int(v) for k, v in core.items() if k.startswith(prefix)}


def _identity_failures(c: dict) -> list[str]:
    """Every identity of docs/architecture.md ("Counters") over one quiet read."""
    workers, ports, drops = c["workers"], c["ports"], c["drops"]
    out = []
    agent = workers.get("agent")
    if not isinstance(agent, dict):
        return [f"/sluice/workers has no agent entry: {workers}"]
    missing = [k for k in AGENT_KEYS if k not in agent]
    if missing:
        return [f"agent entry lacks {missing}: {agent}"]
    cores = {name: w for name, w in workers.items() if name != "agent" and isinstance(w, dict)}
    if not cores:
        return [f"/sluice/workers has no worker: {workers}"]
    for name, w in sorted(cores.items()):
        if any(k not in w for k in WORKER_KEYS):
            out.append(f"{name} lacks one of {WORKER_KEYS}: {w}")
            continue
        if w["rx"] != w["forwarded"] + w["punted"] + w["dropped"]:
            out.append(f"{name}: rx {w['rx']} != forwarded {w['forwarded']} + punted {w['punted']} "
                       f"+ dropped {w['dropped']} (off by "
                       f"{w['rx'] - w['forwarded'] - w['punted'] - w['dropped']}); {w}")
        if w["dropped"] != sum(_reasons(w, "drop_").values()):
            out.append(f"{name}: dropped {w['dropped']} != the sum of its reasons {_reasons(w, 'drop_')}")
    a = agent
    if a["punted_in"] != a["handled"] + a["dropped"] + a["pending"]:
        out.append(f"agent: punted_in {a['punted_in']} != handled {a['handled']} + dropped {a['dropped']} "
                   f"+ pending {a['pending']} (off by "
                   f"{a['punted_in'] - a['handled'] - a['dropped'] - a['pending']}); {a}")
    if a["dropped"] != sum(_reasons(a, "drop_").values()):
        out.append(f"agent: dropped {a['dropped']} != the sum of its reasons {_reasons(a, 'drop_')}")
    if a["originated_dropped"] != sum(_reasons(a, "originated_drop_").values()):
        out.append(f"agent: originated_dropped {a['originated_dropped']} != the sum of its reasons "
                   f"{_reasons(a, 'originated_drop_')}")
    # Quiet: nothing left on the punt rings, so what the workers enqueued
    # is what the agent took off them.
    punted = sum(w["punted"] for w in cores.values())
    if punted != a["punted_in"]:
        out.append(f"workers punted {punted} but the agent took in {a['punted_in']}")
    # The per-port view: the agent receives nothing from a port itself.
    if a["rx"] != 0:
        out.append(f"agent rx {a['rx']}, expected 0")
    rx_ports = sum(int(p["rx_packets"]) for p in ports.values())
    rx_workers = sum(w["rx"] for w in cores.values())
    if rx_ports != rx_workers:
        out.append(f"/sluice/ports rx_packets sum to {rx_ports}, the workers' rx to {rx_workers}")
    dropped_all = sum(w["dropped"] for w in cores.values()) + a["dropped"]
    if sum(drops.values()) != dropped_all:
        out.append(f"/sluice/drops sums to {sum(drops.values())}, the cores' dropped to {dropped_all}")
    return out


def _agent(c: dict) -> dict:
    return c["workers"]["agent"]


def test_counters_add_up_under_hostile_load(router):
    router.assert_alive()
    a, b = router.hosts["a"], router.hosts["b"]
    rmac = router.router_mac("a")

    # Kernel traffic: ping across (both families) and to the router.
    for dst in (b.v4, b.v6, a.gw4, a.gw6, b.gw4):
        r = lab.ping(a, dst, count=3, interval=0.1)
        assert r["sent"] == 3 and r["loss"] == 0, f"ping {dst}: {r['out']}" + router.describe()

    base = router.wait_quiescent(what="a quiet data plane before the load")
    assert not _identity_failures(base), "\n".join(_identity_failures(base)) + router.describe()

    sent = 0
    for load in PHASES:
        sent += _send(a, rmac, (a.gw4, a.gw6), b, load)
        router.assert_alive()
    assert sent == sum(n for load in PHASES for _, n in load)

    # Before anything is judged, the neighbors nobody answers for have run
    # out of solicitations (FAILED, their queues dropped as neighbor_failed)
    # and nothing waits in a pending queue.
    unresolvable = ["198.18.2.77", "2001:db8:2::77", "198.18.1.98", "198.18.1.99"]

    def all_failed():
        neigh = router.tele("/sluice/neighbors")
        states = {}
        for addr in unresolvable:
            e = next((x for x in lab.find_entries(neigh, addr) if isinstance(x, dict) and "state" in x), None)
            states[addr] = e and e["state"]
        agent = router.tele("/sluice/workers")["agent"]
        return states, agent["pending"], agent["originated_pending"]

    lab.wait_value(all_failed,
                   lambda v: all(st == "failed" for st in v[0].values()) and v[1] == 0 and v[2] == 0,
                   timeout=20, what="the unresolvable neighbors to fail and the pending queues to empty")
    # Traffic after the load, as a positive control.
    r = lab.ping(a, b.v4, count=3, interval=0.1)
    assert r["loss"] == 0, r["out"] + router.describe()
    after = router.wait_quiescent(timeout=20, what="a quiet data plane after the load")

    failures = _identity_failures(after)
    assert not failures, "\n".join(failures) + router.describe()

    # The load reached every kind of fate it was built for (increases, not
    # exact values: the kernel hosts add ARP/ND and ICMP of their own).
    d0, d1 = base["drops"], after["drops"]
    grew = {k: d1[k] - d0.get(k, 0) for k in d1 if d1[k] != d0.get(k, 0)}
    expect = ["ipv4_ttl_exceeded", "ipv6_hop_limit_exceeded", "ipv4_no_route", "ipv6_no_route",
              "ipv4_bad_checksum", "ipv4_truncated", "ipv4_bad_total_length", "ipv6_bad_payload_length",
              "l2_unknown_ethertype", "l2_not_for_us", "ipv6_multicast", "local_unsupported",
              "icmp_invalid", "arp_not_for_us", "nd_not_for_us", "neighbor_queue_full", "neighbor_failed"]
    missing = [k for k in expect if grew.get(k, 0) <= 0]
    assert not missing, f"drop reasons that did not rise: {missing}; rose: {grew}" + router.describe()
    a0, a1 = _agent(base), _agent(after)
    for k in ("punted_in", "handled", "dropped", "originated", "originated_dropped"):
        assert a1[k] > a0[k], f"agent {k} did not rise: {a0[k]} -> {a1[k]}; {a1}" + router.describe()
    for k in ("originated_drop_neighbor_failed", "originated_drop_ipv4_no_route"):
        assert a1.get(k, 0) > a0.get(k, 0), f"agent {k} did not rise; {a1}" + router.describe()
    router.assert_alive()
