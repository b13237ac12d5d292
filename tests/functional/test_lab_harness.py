"""Self-test of the lab harness, independent of sluice-dp: dpdk-testpmd in io
mode is the "wire" between two net_tap ports moved into namespaces. Proves
that namespace moves, host configuration, scapy sends and the telemetry
client work, so a failure in the other tests points at the data plane."""

from __future__ import annotations

import shutil

import pytest

import lab


@pytest.fixture
def wire(request):
    if not shutil.which("dpdk-testpmd"):
        pytest.skip("dpdk-testpmd not installed")
    w = lab.Lab(tag="w", hosts=2, wire="testpmd")
    request.addfinalizer(w.close)
    try:
        w.start()
    except lab.LabError as e:
        pytest.fail(f"testpmd wire did not start: {e}{w.describe()}")
    # Both hosts on one segment across the wire: give b an address in a's subnet.
    w.hosts["b"].run(["ip", "addr", "add", "198.18.1.3/24", "dev", w.hosts["b"].ifname])
    return w


def test_wire_ping_scapy_and_telemetry(wire):
    a, b = wire.hosts["a"], wire.hosts["b"]
    r = lab.ping(a, "198.18.1.3", count=3, interval=0.2)
    assert r["loss"] == 0, r["out"] + wire.describe()

    before = b.ns.link_stats(b.ifname)["rx_packets"]
    sent = lab.send_malformed(a, "ipv4_bad_checksum", dmac=b.mac, dst4="198.18.1.3",
                              dst6=b.v6, count=7)
    assert sent["sent"] == 7

    def arrived():
        return b.ns.link_stats(b.ifname)["rx_packets"] - before >= 7

    lab.wait_until(arrived, timeout=5, what="scapy frames at b")

    t = wire.telemetry()
    assert "max_output_len" in t.info
    stats = wire.tele("/ethdev/stats", "0")
    assert stats["ipackets"] >= 10, stats
    assert "/ethdev/list" in wire.tele("/")


def test_namespaces_removed_after_close():
    if not shutil.which("dpdk-testpmd"):
        pytest.skip("dpdk-testpmd not installed")
    w = lab.Lab(tag="x", hosts=2, wire="testpmd")
    try:
        w.start()
        names = [h.name for h in w.hosts.values()]
        listed = lab.run(["ip", "netns", "list"]).stdout
        assert all(n in listed for n in names)
    finally:
        w.close()

    def left_over() -> list[str]:
        listed = lab.run(["ip", "netns", "list"]).stdout
        present = [n for n in names if n in listed]
        present += [p.tap for p in w.topo.ports
                    if lab.run(["ip", "link", "show", p.tap], check=False).returncode == 0]
        return present

    # close() deletes the namespaces and the taps go with testpmd, but the
    # kernel finishes tearing a namespace down after `ip netns delete` has
    # returned: wait (bounded) until nothing of ours is left.
    lab.wait_until(lambda: not left_over(), timeout=10,
                   what=f"namespaces {names} and taps {[p.tap for p in w.topo.ports]} removed",
                   describe=lambda: f"still present: {left_over()}")
