"""Packet capture with DPDK's own tools (docs/architecture.md, "Packet
capture"): the data plane calls rte_pdump_init(), so dpdk-dumpcap, started
as a secondary process with the data plane's --file-prefix, captures a
port's received and transmitted packets into a pcapng file while the data
plane forwards.

A secondary process maps the primary's memory, which --no-huge memory
cannot be: this data plane runs on hugepages (channel_lab.HugepageLab;
tests/lab/hugepages.sh reserves them when too few are free).

The test pings from host a to host b through the data plane with fixed
ICMP echo identifiers (IPv4 and IPv6), captures on port a (net_tap0), and
dissects the file with tshark: the echo requests entering port a and the
replies leaving it, with their addresses and identifiers, are there. The
data plane keeps forwarding after the capture ends and exits without a
leaked mbuf."""

from __future__ import annotations

import json
import re
import shutil

import pytest

import lab
from channel_lab import HugepageLab
from conftest import start_hugepage_lab

ECHO_ID4 = 0x5E51
ECHO_ID6 = 0x5E61


def _tools():
    for tool in ("dpdk-dumpcap", "tshark"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed (apt install dpdk tshark)")


@pytest.fixture
def hugelab(request, dp_binary) -> HugepageLab:
    _tools()
    return start_hugepage_lab(request, "pd", dp_binary)


def _dissect(path) -> list[dict]:
    fields = ["frame.interface_name", "frame.packet_flags_direction", "eth.src", "eth.dst", "ip.src", "ip.dst", "icmp.type", "icmp.ident",
              "ipv6.src", "ipv6.dst", "icmpv6.type", "icmpv6.echo.identifier"]
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "separator=|", "-E", "occurrence=f"]
    for f in fields:
        cmd += ["-e", f]
    cp = lab.run(cmd, timeout=60)
    rows = []
    for line in cp.stdout.splitlines():
        vals = line.split("|")
        rows.append(dict(zip(fields, vals + [""] * (len(fields) - len(vals)))))
    return rows


def test_dumpcap_captures_forwarded_echoes(hugelab, tmp_path):
    r = hugelab
    a, b = r.hosts["a"], r.hosts["b"]
    assert "packet capture (rte_pdump) unavailable" not in r.output(), r.tail(30)
    warm = lab.ping(a, b.v4, count=2, interval=0.1)
    assert warm["received"] == 2, warm["out"]

    out = tmp_path / "a.pcapng"
    want = 40
    # stdbuf: dumpcap's stdout is block-buffered on a pipe.
    dumpcap = lab.Proc(["stdbuf", "-oL", "dpdk-dumpcap", f"--file-prefix={r.file_prefix}", "-i", "net_tap0", "-p",
                        "-c", str(want), "-a", "duration:30", "-w", str(out)])
    try:
        dumpcap.wait_line(r"Capturing on", timeout=30)
        # Pings until the capture has its packets (it may start a moment
        # after saying so): one IPv4 and one IPv6 echo session, fixed ids.
        p4 = a.ns.popen(["ping", "-4", "-n", "-i", "0.05", "-e", str(ECHO_ID4), "-w", "40", b.v4])
        p6 = a.ns.popen(["ping", "-6", "-n", "-i", "0.05", "-e", str(ECHO_ID6), "-w", "40", b.v6])
        rc = dumpcap.wait_exit(timeout=45)
        p4.stop(sig=2, timeout=10)
        p6.stop(sig=2, timeout=10)
    finally:
        if dumpcap.alive():
            dumpcap.stop(sig=2, timeout=10)
    assert rc == 0, f"dpdk-dumpcap exited with {rc}:\n{dumpcap.output()}"
    assert out.exists() and out.stat().st_size > 0, dumpcap.output()
    # dumpcap stops at the end of the burst that reaches the count.
    m = re.search(r"received/dropped on interface 'net_tap0': (\d+)/(\d+)", dumpcap.output())
    assert m and int(m.group(1)) >= want and m.group(2) == "0", dumpcap.output()

    rows = _dissect(out)
    assert len(rows) >= want, (len(rows), rows[:5])
    # dumpcap names the interface by DPDK port id (port a is port 0).
    assert all(x["frame.interface_name"] == "dpdk:0" for x in rows), rows[:3]
    req4 = [x for x in rows if x["ip.src"] == a.v4 and x["ip.dst"] == b.v4 and x["icmp.type"] == "8"]
    rep4 = [x for x in rows if x["ip.src"] == b.v4 and x["ip.dst"] == a.v4 and x["icmp.type"] == "0"]
    req6 = [x for x in rows if x["ipv6.src"] == a.v6 and x["ipv6.dst"] == b.v6 and x["icmpv6.type"] == "128"]
    rep6 = [x for x in rows if x["ipv6.src"] == b.v6 and x["ipv6.dst"] == a.v6 and x["icmpv6.type"] == "129"]
    summary = json.dumps(rows[:12], indent=0)
    assert req4 and rep4, f"no IPv4 echo request/reply pair on port a:\n{summary}"
    assert req6 and rep6, f"no IPv6 echo request/reply pair on port a:\n{summary}"
    assert {int(x["icmp.ident"], 0) for x in req4 + rep4} == {ECHO_ID4}, summary
    assert {int(x["icmpv6.echo.identifier"], 0) for x in req6 + rep6} == {ECHO_ID6}, summary
    # Received on port a from host a's MAC; replies leave towards it from the router's.
    assert {x["eth.src"] for x in req4} == {a.mac}, summary
    assert {x["eth.dst"] for x in rep4} == {a.mac}, summary
    # pcapng's direction flag: requests were received on the port (RX
    # callback), replies transmitted (TX callback).
    assert {int(x["frame.packet_flags_direction"], 16) & 3 for x in req4 + req6} == {1}, summary
    assert {int(x["frame.packet_flags_direction"], 16) & 3 for x in rep4 + rep6} == {2}, summary

    # The capture is gone, the data plane forwards as before.
    r.assert_alive()
    after = lab.ping(a, b.v4, count=3, interval=0.1)
    assert after["received"] == 3, after["out"]
    rc = r.dp.stop(timeout=20)
    assert rc == 0, r.describe()
    assert "sluice-dp: mbufs leaked: 0" in r.output(), r.tail(40)


def test_dumpcap_lists_the_ports(hugelab):
    cp = lab.run(["dpdk-dumpcap", f"--file-prefix={hugelab.file_prefix}", "-D"], timeout=60, check=False)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "net_tap0" in cp.stdout and "net_tap1" in cp.stdout, cp.stdout
    hugelab.assert_alive()
