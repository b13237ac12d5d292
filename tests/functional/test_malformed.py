"""Malformed frames sent by a kernel host with scapy are dropped, counted
under the right reason (exactly once each), and forwarding goes on."""

from __future__ import annotations

import re
import signal
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

    # Every frame below is an ICMP echo with id 0x5e5e; none may reach b.
    cap = b.ns.popen(["tcpdump", "-l", "-n", "-Q", "in", "-i", b.ifname,
                      "(icmp and icmp[4:2] = 0x5e5e) or (icmp6 and ip6[44:2] = 0x5e5e)"])
    cap.wait_line(r"listening on", timeout=10)

    failures = []
    for kind, reason in CASES:
        before = router.drops()
        assert reason in before, f"/sluice/drops has no {reason}: {sorted(before)}"
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
        if not router.dp.alive():
            failures.append(f"data plane died after {kind}")
            break

    # Positive control: the same frames, well formed, are forwarded and captured.
    for kind in ("ipv4_good", "ipv6_good"):
        lab.send_malformed(a, kind, dmac=rmac, dst4=b.v4, dst6=b.v6, count=3)

    def captured():
        return [ln for ln in cap.output().splitlines() if re.match(r"^\d\d:\d\d:\d\d\.\d+ ", ln)]

    try:
        lab.wait_until(lambda: len(captured()) >= 6, timeout=5, what="6 good frames at b")
    except lab.LabError:
        pass
    time.sleep(0.5)
    cap.stop(sig=signal.SIGINT, timeout=5)
    got = captured()
    if len(got) != 6:
        failures.append(f"host b captured {len(got)} frames with id 0x5e5e, expected only the "
                        f"6 well-formed ones (3 IPv4 + 3 IPv6):\n" + "\n".join(got[:20]))
    assert not failures, "\n".join(failures) + router.describe()
    router.assert_alive()
    for dst in (b.v4, b.v6):
        r = lab.ping(a, dst, count=5, interval=0.1)
        assert r["loss"] == 0 and r["sent"] == 5, r["out"] + router.describe()
