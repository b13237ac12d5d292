"""sluicectl against the real data plane (docs/cli.md): show commands sent
straight to the data plane's socket (no control process runs), and
`capture`, which runs Debian's dpdk-dumpcap as a DPDK secondary process
against the data plane (which calls rte_pdump_init) and writes a pcapng
file, read back here with tshark.

The show tests use the shared two-host lab (conftest.router). A secondary
process maps the primary's memory, which --no-huge memory cannot be, so the
capture tests run their own lab on hugepages (channel_lab.HugepageLab).
Both labs: router ports a (198.18.1.1) and b (198.18.2.1), host a
198.18.1.2 behind port a, host b 198.18.2.2 behind port b. A ping from
host a to host b crosses port a inbound (the echo request) and outbound
(the reply), and port b the other way round."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import lab
from channel_lab import HugepageLab
from conftest import start_hugepage_lab

CLI = Path(os.environ.get("SLUICECTL", str(lab.REPO / "build" / "control" / "cli" / "sluicectl")))
DUMPCAP = Path("/usr/bin/dpdk-dumpcap")
# pcapng epb_flags direction (frame.packet_flags_direction in tshark).
INBOUND, OUTBOUND = 1, 2


def _cli():
    if not CLI.exists():
        pytest.fail(f"{CLI} not found (build it: ninja -C build control/cli/sluicectl)")


@pytest.fixture(scope="module")
def dp(router) -> lab.Lab:
    _cli()
    return router


@pytest.fixture(scope="module")
def hugelab(request, dp_binary) -> HugepageLab:
    """Skips unless the data plane can serve dpdk-dumpcap."""
    _cli()
    for tool in (str(DUMPCAP), "tshark"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed (apt install dpdk tshark)")
    libs = lab.run(["ldd", str(dp_binary)], timeout=10, check=False).stdout
    if "librte_pdump" not in libs:
        pytest.skip(f"{dp_binary} does not link librte_pdump (the data plane must call rte_pdump_init)")
    the_lab = start_hugepage_lab(request, "cc", dp_binary)
    warm = lab.ping(the_lab.hosts["a"], the_lab.hosts["b"].v4, count=2, interval=0.1)
    assert warm["received"] == 2, warm["out"]
    return the_lab


def ctl(router: lab.Lab, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    cmd = [str(CLI), "--dataplane", router.control["socket"], *args]
    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and cp.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited with {cp.returncode}:\n{cp.stdout}\n{cp.stderr}"
                             + router.describe())
    return cp


def test_show_goes_straight_to_the_dataplane(dp):
    status = json.loads(ctl(dp, "--json", "show", "status").stdout)
    assert status["file_prefix"] == dp.file_prefix, status
    assert status["ports"] == ["a", "b"], status
    ports = ctl(dp, "show", "ports").stdout.splitlines()
    assert ports[0].split()[:4] == ["NAME", "ID", "DRIVER", "LINK"], ports
    assert [line.split()[0] for line in ports[1:3]] == ["a", "b"], ports
    # The result of --json is exactly the reply's result: it parses, and
    # has every port.
    js = json.loads(ctl(dp, "--json", "show", "ports").stdout)
    assert [p["name"] for p in js["ports"]] == ["a", "b"], js
    drops = ctl(dp, "show", "drops", "--all").stdout
    assert drops.startswith("REASON") and "ipv4_no_route" in drops, drops


def test_changes_need_the_control_process(dp):
    cp = ctl(dp, "route", "add", "198.19.0.0/16", "via", "198.18.2.2", check=False)
    assert cp.returncode == 2, cp
    assert "changes go to the control process (sluice-control)" in cp.stderr, cp.stderr


def test_stats_view_refreshes_count_times(dp):
    cp = ctl(dp, "show", "ports", "stats", "--interval", "0.2", "--count", "2")
    frames = [line for line in cp.stdout.splitlines() if line.startswith("NAME")]
    assert len(frames) == 2, cp.stdout
    assert "\033" not in cp.stdout  # not a terminal: no screen codes


def test_missing_socket_is_status_3(dp, tmp_path):
    sock = tmp_path / "none.sock"
    cp = subprocess.run([str(CLI), "--dataplane", str(sock), "show", "ports"], capture_output=True, text=True,
                        timeout=30)
    assert cp.returncode == 3, cp
    assert f"no socket at {sock}" in cp.stderr, cp.stderr


def test_print_command_maps_the_port_to_its_dpdk_id(dp):
    out = ctl(dp, "capture", "b", "-w", "/tmp/x.pcapng", "-c", "5", "--print-command").stdout
    ids = {p["name"]: p["port_id"] for p in json.loads(ctl(dp, "--json", "show", "ports").stdout)["ports"]}
    assert out == f"{DUMPCAP} --file-prefix {dp.file_prefix} -i {ids['b']} -p -w /tmp/x.pcapng -c 5\n", out


def capture(router: lab.Lab, args: list[str], *, timeout: float = 60) -> tuple[lab.Proc, int | None]:
    """Runs `sluicectl capture ARGS` and pings host b from host a, one
    echo at a time, until the capture ends (it stops at its -c count): no
    fixed wait for dumpcap to attach."""
    proc = lab.Proc([str(CLI), "--dataplane", router.control["socket"], "capture", *args])
    a, b = router.hosts["a"], router.hosts["b"]
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout * 10)):
        if not proc.alive() or time.monotonic() > deadline:
            break
        a.run(["ping", "-c", "1", "-W", "1", b.v4], check=False, timeout=5)
    rc = proc.wait_exit(timeout=15)
    if rc is None:
        proc.stop()
    return proc, rc


def tshark(path: Path) -> list[dict]:
    fields = ["ip.src", "ip.dst", "icmp.type", "frame.packet_flags_direction", "frame.interface_name"]
    cmd = ["tshark", "-r", str(path), "-T", "fields", "-E", "separator=,"]
    for f in fields:
        cmd += ["-e", f]
    cp = lab.run(cmd, timeout=30)
    rows = []
    for line in cp.stdout.splitlines():
        v = line.split(",")
        rows.append({"src": v[0], "dst": v[1], "icmp": v[2],
                     "dir": int(v[3], 0) if v[3] else 0, "iface": v[4]})
    return rows


def test_capture_both_directions(hugelab, tmp_path):
    dp = hugelab
    f = tmp_path / "a.pcapng"
    proc, rc = capture(dp, ["a", "-w", str(f), "-c", "6", "--filter", "icmp"])
    assert rc == 0, proc.output() + dp.describe()
    rows = tshark(f)
    # dumpcap counts -c itself and stops at the end of the burst that
    # reached it: a few more packets are possible (docs/cli.md).
    assert len(rows) >= 6, rows
    n_in = sum(r["dir"] == INBOUND for r in rows)
    assert f"{len(rows)} packets ({n_in} received, {len(rows) - n_in} transmitted) in {f}" in proc.output(), \
        proc.output()
    a4, b4 = dp.hosts["a"].v4, dp.hosts["b"].v4
    # Port a receives the echo requests from host a and sends the replies.
    for r in rows:
        if r["dir"] == INBOUND:
            assert (r["src"], r["dst"], r["icmp"]) == (a4, b4, "8"), rows
        else:
            assert r["dir"] == OUTBOUND, rows
            assert (r["src"], r["dst"], r["icmp"]) == (b4, a4, "0"), rows
    assert n_in >= 3 and len(rows) - n_in >= 3, rows


def capture_requests(dp: lab.Lab, f: Path, port: str, flag: str, count: int, direction: int):
    """`capture PORT --rx|--tx -c COUNT` into f: exactly COUNT packets, each
    in that direction and an echo request from host a to host b."""
    proc, rc = capture(dp, [port, flag, "-w", str(f), "-c", str(count), "--filter", "icmp"])
    assert rc == 0, proc.output() + dp.describe()
    rows = tshark(f)
    assert len(rows) == count, rows
    a4, b4 = dp.hosts["a"].v4, dp.hosts["b"].v4
    assert all(r["dir"] == direction and (r["src"], r["dst"], r["icmp"]) == (a4, b4, "8") for r in rows), rows


def test_capture_received_only(hugelab, tmp_path):
    # Port a receives the echo requests from host a.
    capture_requests(hugelab, tmp_path / "a-rx.pcapng", "a", "--rx", 3, INBOUND)


def test_capture_transmitted_only_on_the_other_port(hugelab, tmp_path):
    # Port b sends the forwarded echo requests to host b.
    capture_requests(hugelab, tmp_path / "b-tx.pcapng", "b", "--tx", 2, OUTBOUND)


def test_capture_of_an_unknown_port_says_which_exist(dp, tmp_path):
    cp = ctl(dp, "capture", "z", "-w", str(tmp_path / "z.pcapng"), check=False)
    assert cp.returncode == 1, cp
    assert 'unknown port "z"; the data plane\'s ports: a, b' in cp.stderr, cp.stderr
