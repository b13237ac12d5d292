"""Malformed frames sent by a kernel host with scapy are dropped, counted
under the right reason (exactly once each), and forwarding goes on."""

from __future__ import annotations

import re
import signal

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


def _frame_lines(cap: lab.Proc) -> list[str]:
    """tcpdump's one line per captured frame (they start with a timestamp)."""
    return [ln for ln in cap.lines_since() if re.match(r"^\d\d:\d\d:\d\d\.\d+ ", ln)]


def test_malformed_frames_dropped_and_counted(router):
    router.assert_alive()
    a, b = router.hosts["a"], router.hosts["b"]
    rmac = router.router_mac("a")
    assert lab.ping(a, b.v4, count=2)["loss"] == 0, router.describe()
    assert lab.ping(a, b.v6, count=2)["loss"] == 0, router.describe()

    # Every frame below is an ICMP echo request with id 0x5e5e; none may
    # reach b. The type is part of the kernel's filter so that b's own echo
    # replies (same id) are not counted in tcpdump's "received by filter";
    # --immediate-mode hands each frame to tcpdump as it arrives (the
    # default TPACKET_V3 ring holds frames back until its block fills).
    cap = b.ns.popen(["tcpdump", "--immediate-mode", "-l", "-n", "-Q", "in", "-i", b.ifname,
                      "(icmp and icmp[0] = 8 and icmp[4:2] = 0x5e5e) or "
                      "(icmp6 and ip6[40] = 128 and ip6[44:2] = 0x5e5e)"])
    cap.wait_line(r"listening on", timeout=10)

    failures = []
    for kind, reason in CASES:
        # Judge each kind against a quiet data plane, so nothing from the
        # previous kind (or the warm-up) lands in this one's delta.
        base = router.wait_quiescent(what=f"a quiet data plane before sending {kind}")
        before = base["drops"]
        assert reason in before, f"/sluice/drops has no {reason}: {sorted(before)}"
        rx0 = base["ports"]["a"]["rx_packets"]
        rep = lab.send_malformed(a, kind, dmac=rmac, dst4=b.v4, dst6=b.v6, count=COUNT)
        assert rep["sent"] == COUNT

        frame = f"{kind} (frame {rep['len']} bytes, {rep['hex']})"
        try:
            # The counter reaches COUNT (the worker, or the agent for punted
            # frames, counts it) ...
            lab.wait_counter(router, "/sluice/drops", reason,
                             lambda v, n0=before[reason]: v - n0 >= COUNT,
                             what=f"{reason} to rise by {COUNT} after {frame}")
            # ... and stays there once the data plane has taken in all COUNT
            # frames on port a and stopped counting.
            after = router.wait_quiescent(rx_at_least={"a": rx0 + COUNT},
                                          what=f"a quiet data plane after {kind}")["drops"]
        except lab.LabError as e:
            failures.append(f"{frame}: {e}")
            after = router.drops()
        delta = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
        if delta.get(reason, 0) != COUNT:
            failures.append(f"{frame}: expected {reason} += {COUNT}, counters changed by {delta}")
        if not router.dp.alive():
            failures.append(f"data plane died after {kind}")
            break

    # Positive control: the same frames, well formed, are forwarded and captured.
    base = router.wait_quiescent(what="a quiet data plane before the well-formed frames")
    rx0 = base["ports"]["a"]["rx_packets"]
    for kind in ("ipv4_good", "ipv6_good"):
        lab.send_malformed(a, kind, dmac=rmac, dst4=b.v4, dst6=b.v6, count=3)
    try:
        lab.wait_until(lambda: len(_frame_lines(cap)) >= 6, timeout=10,
                       what="the 6 well-formed frames (3 IPv4 + 3 IPv6) captured at b",
                       describe=lambda: _frame_lines(cap) or "no frame")
        # Every frame the router took in has been dealt with: nothing it
        # forwards later can still reach b's capture. The tap hands a frame
        # to the host's kernel (and tcpdump's socket) inside the router's
        # write, so what the router has counted as sent is already there.
        router.wait_quiescent(rx_at_least={"a": rx0 + 6},
                              what="a quiet data plane after the well-formed frames")
    except lab.LabError as e:
        failures.append(str(e))
    cap.stop(sig=signal.SIGINT, timeout=5)
    # tcpdump's summary: printed after its last frame line. "received by
    # filter" is what the kernel matched, so a frame matched but not yet
    # printed when tcpdump stopped would show as a difference.
    summary = "\n".join(cap.lines_since())
    m_cap = re.search(r"(\d+) packets? captured", summary)
    m_filt = re.search(r"(\d+) packets? received by filter", summary)
    got = _frame_lines(cap)
    if not m_cap or int(m_cap.group(1)) != len(got):
        failures.append(f"tcpdump's summary does not match the {len(got)} frame lines it "
                        f"printed:\n{summary[-2000:]}")
    if m_filt and int(m_filt.group(1)) != len(got):
        failures.append(f"tcpdump matched {m_filt.group(1)} frames but printed {len(got)}:\n"
                        + "\n".join(got[:20]))
    if len(got) != 6:
        failures.append(f"host b captured {len(got)} frames with id 0x5e5e, expected only the "
                        f"6 well-formed ones (3 IPv4 + 3 IPv6):\n" + "\n".join(got[:20]))
    assert not failures, "\n".join(failures) + router.describe()
    router.assert_alive()
    for dst in (b.v4, b.v6):
        r = lab.ping(a, dst, count=5, interval=0.1)
        assert r["loss"] == 0 and r["sent"] == 5, r["out"] + router.describe()
