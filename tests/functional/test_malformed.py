"""Malformed frames sent by a kernel host with scapy are dropped, counted
under the right reason (exactly once each), and forwarding goes on."""

from __future__ import annotations

import time

import lab

# (scapy frame kind in lab.SCAPY_SENDER, drop counter expected to rise)
CASES = [
    ("ipv4_bad_checksum", "ipv4_bad_checksum"),
    ("ipv4_truncated", "ipv4_truncated"),
    ("ipv4_bad_total_length", "ipv4_bad_total_length"),
    ("ipv4_ttl0", "ipv4_ttl_exceeded"),
    ("ipv4_ttl1", "ipv4_ttl_exceeded"),
    ("ipv6_bad_payload_length", "ipv6_bad_payload_length"),
    ("ipv6_hlim1", "ipv6_hop_limit_exceeded"),
]
COUNT = 5


def test_malformed_frames_dropped_and_counted(router):
    router.assert_alive()
    a, b = router.hosts["a"], router.hosts["b"]
    rmac = router.router_mac("a")
    assert lab.ping(a, b.v4, count=2)["loss"] == 0, router.describe()
    assert lab.ping(a, b.v6, count=2)["loss"] == 0, router.describe()

    failures = []
    for kind, reason in CASES:
        before = router.drops()
        assert reason in before, f"/sluice/drops has no {reason}: {sorted(before)}"
        b_rx0 = b.ns.link_stats(b.ifname)["rx_packets"]
        rep = lab.send_malformed(a, kind, dmac=rmac, dst4=b.v4, dst6=b.v6, count=COUNT)
        assert rep["sent"] == COUNT

        def risen():
            return router.drops()[reason] - before[reason] >= COUNT

        try:
            lab.wait_until(risen, timeout=5, what=f"{reason} += {COUNT}")
        except lab.LabError:
            pass
        time.sleep(0.3)  # let late increments land before judging "exactly"
        after = router.drops()
        delta = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
        if delta.get(reason, 0) != COUNT:
            failures.append(f"{kind} (frame {rep['len']} bytes, {rep['hex']}): expected "
                            f"{reason} += {COUNT}, counters changed by {delta}")
        # None of these may be forwarded to b (b's rx grows only by noise such as ND).
        b_rx = b.ns.link_stats(b.ifname)["rx_packets"] - b_rx0
        if b_rx >= COUNT:
            failures.append(f"{kind}: host b received {b_rx} packets while {COUNT} "
                            f"malformed frames were sent (forwarded?)")
        if not router.dp.alive():
            failures.append(f"data plane died after {kind}")
            break

    assert not failures, "\n".join(failures) + router.describe()
    router.assert_alive()
    for dst in (b.v4, b.v6):
        r = lab.ping(a, dst, count=5, interval=0.1)
        assert r["loss"] == 0 and r["sent"] == 5, r["out"] + router.describe()
