"""Kernel hosts reach each other through two data planes joined only by an
RDMA link on the software stand-in (docs/rdma.md; rdma_lab.RdmaPair): ping
both families, a TCP transfer checked end to end, a NAT VIP behind the far
side, a node killed and restarted under the link, and what happens when
the configured device does not exist."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

import lab
import lb_lab
import rdma_lab
from lab import ping, wait_until, wait_value


@pytest.fixture(scope="module")
def pair(request, dp_binary):
    p = rdma_lab.RdmaPair(tag="rp", binary=dp_binary)
    request.addfinalizer(p.close)
    try:
        p.start()
    except lab.LabError as e:
        pytest.fail(f"rdma pair did not start: {e}{p.describe()}", pytrace=False)
    return p


CLI = Path(os.environ.get("SLUICECTL", str(lab.REPO / "build" / "control" / "cli" / "sluicectl")))


def _counters(node) -> dict:
    return node.rdma_peer()


def test_sluicectl_show_rdma(pair):
    """The operator's view of the peer (docs/cli.md, "show rdma"): the same
    counters as /sluice/rdma, as a table and as JSON."""
    base = [str(CLI), "--dataplane", pair.a.control["socket"]]
    cp = subprocess.run(base + ["--json", "show", "rdma"], capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    rows = json.loads(cp.stdout)["rdma"]
    assert [r["name"] for r in rows] == ["r0"] and rows[0]["state"] == "up", rows
    tele = pair.a.rdma_peer()
    assert rows[0]["device"] == tele["device"] == "standin" and rows[0]["port_id"] == tele["port_id"]
    cp = subprocess.run(base + ["show", "rdma"], capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    header, first = cp.stdout.splitlines()[:2]
    assert header.split()[:4] == ["NAME", "STATE", "PHASE", "DEVICE"], cp.stdout
    assert first.split()[:4] == ["r0", "up", "up", "standin"], cp.stdout


@pytest.mark.parametrize("fam", [4, 6], ids=["ipv4", "ipv6"])
def test_ping_through_rdma(pair, fam):
    ha, hb = pair.a.hosts["a"], pair.b.hosts["a"]
    before_a, before_b = _counters(pair.a), _counters(pair.b)
    dst = hb.v4 if fam == 4 else hb.v6
    res = wait_value(lambda: ping(ha, dst, count=1, wait=1), lambda r: r["received"] == 1,
                     timeout=20, what=f"first ping {ha.name} -> {dst}")
    assert res["received"] == 1
    res = ping(ha, dst, count=20, interval=0.05)
    assert res["received"] == 20, f"{res['out']}{pair.describe()}"
    after_a, after_b = _counters(pair.a), _counters(pair.b)
    # Every echo went A -> B over the link and every reply B -> A.
    assert after_a["tx_packets"] - before_a["tx_packets"] >= 21
    assert after_b["rx_packets"] - before_b["rx_packets"] >= 21
    assert after_b["tx_packets"] - before_b["tx_packets"] >= 21
    assert after_a["rx_packets"] - before_a["rx_packets"] >= 21
    for c in (after_a, after_b):
        assert c["lost_in_flight"] == 0 and c["completion_errors"] == 0, c


def test_tcp_transfer_checksum(pair, tmp_path):
    """8 MiB over HTTP from B's host to A's host, both families: the bytes
    arrive intact (sha256) and no RNR or credit trouble shows."""
    ha, hb = pair.a.hosts["a"], pair.b.hosts["a"]
    srv_dir = tmp_path / "srv"
    srv_dir.mkdir()
    want = lab.make_blob(srv_dir / "blob.bin", 8 << 20, seed=10)
    servers = [lab.start_http_server(hb, "0.0.0.0", 8000, srv_dir),
               lab.start_http_server(hb, "::", 8001, srv_dir)]
    try:
        for url in (f"http://{hb.v4}:8000/blob.bin", f"http://[{hb.v6}]:8001/blob.bin"):
            out = tmp_path / "got.bin"
            cp = lab.curl(ha, url, out, timeout=120)
            assert cp.returncode == 0, f"curl {url}: {cp.stderr}{pair.describe()}"
            got = lab.sha256_file(out)
            assert got == want, f"{url}: sha256 {got} != {want}"
            out.unlink()
    finally:
        for s in servers:
            s.stop(timeout=5)
    a, b = _counters(pair.a), _counters(pair.b)
    assert b["tx_bytes"] > 2 * (8 << 20), b
    for c in (a, b):
        assert c["lost_in_flight"] == 0 and c["completion_errors"] == 0 and c["qp_resets"] == 0, c


def test_vip_behind_the_far_side(pair):
    """A NAT VIP on node B, reached from node A's host over the link: every
    connection answered, both backends used, `which` on B agrees."""
    hosts = {"b": pair.b.hosts["b"], "c": pair.b.hosts["c"]}
    servers = [lb_lab.start_lb_server(h, k, tcp=[("0.0.0.0", 8080), ("::", 8080)]) for k, h in hosts.items()]
    client = lb_lab.LbClient(pair.a.hosts["a"])
    try:
        for h in hosts.values():  # B resolves its backends (a live network would have)
            wait_value(lambda: ping(h, pair.a.hosts["a"].v4, count=1, wait=1), lambda r: r["received"] == 1,
                       timeout=20, what=f"ping from backend {h.name}")
        for fam, vip in ((4, rdma_lab.VIP4), (6, rdma_lab.VIP6)):
            src = pair.a.hosts["a"].v4 if fam == 4 else pair.a.hosts["a"].v6
            flows = [[src, sp, vip, 80] for sp in range(30000, 30200)]
            res = client.tcp(flows)
            names = [lb_lab.reply_name(r) for r in res]
            assert None not in names, f"IPv{fam}: unanswered {names.count(None)} of {len(names)}: " \
                                      f"{[r for r in res if lb_lab.reply_name(r) is None][:3]}{pair.describe()}"
            counts = {k: names.count(k) for k in hosts}
            assert min(counts.values()) >= 50, f"IPv{fam} spread {counts}"
            for f, name in list(zip(flows, names))[:20]:
                w = pair.b.tele("/sluice/lb/which", f"tcp,{f[0]},{f[1]},{f[2]},{f[3]}")
                want = hosts[name].v4 if fam == 4 else hosts[name].v6
                assert want in str(w), f"which {f} = {w}, answered by {name}"
    finally:
        client.stop()
        for s in servers:
            s.stop(timeout=5)


def test_peer_killed_and_restarted(request, dp_binary):
    """Node B SIGKILLed under traffic: A's queue pair is torn down and what
    was in flight is counted; B restarted: the link comes back by itself and
    packets flow again."""
    p = rdma_lab.RdmaPair(tag="rk", binary=dp_binary)
    request.addfinalizer(p.close)
    p.start()
    ha, hb = p.a.hosts["a"], p.b.hosts["a"]
    wait_value(lambda: ping(ha, hb.v4, count=1, wait=1), lambda r: r["received"] == 1, timeout=20,
               what="ping before the kill")
    flood = ha.ns.popen(["ping", "-n", "-i", "0.01", "-c", "3000", hb.v4])
    p.b.dp.send_signal(signal.SIGKILL)
    p.b.dp.wait_exit(timeout=10)
    wait_until(lambda: p.a.rdma_peer()["qp_resets"] >= 1, timeout=15, what="A's queue pair reset",
               describe=lambda: f"{p.a.rdma_peer()}\n{p.a.tail(20)}")
    peer = p.a.rdma_peer()
    assert peer["state"] != "up", peer
    flood.stop(timeout=5)
    # B again, on the same config: the link comes back without any help.
    p.b.start_dataplane()
    p.wait_up(timeout=30, connects=1)
    wait_until(lambda: p.a.rdma_peer()["connects"] >= 2, timeout=30, what="A's second connect")
    res = wait_value(lambda: ping(ha, hb.v4, count=1, wait=1), lambda r: r["received"] == 1, timeout=20,
                     what="ping after B restarted")
    assert res["received"] == 1
    res = ping(ha, hb.v6, count=10, interval=0.05)
    assert res["received"] == 10, res["out"]
    # Nothing leaked in A: its pool balance is checked at its exit.
    p.a.dp.stop(timeout=15)
    assert "mbufs leaked: 0" in p.a.output(), p.a.tail(30)


def test_missing_device_runs_without_the_peer(request, dp_binary):
    node = rdma_lab.RdmaNode(tag="rn", binary=dp_binary, subnets=[1], rdma=[rdma_lab.peer_spec(
        "r0", connect="127.0.0.1:9", ours=(rdma_lab.LINK_A4, rdma_lab.LINK_A6),
        theirs=(rdma_lab.LINK_B4, rdma_lab.LINK_B6), device="mlx5_0")],
        routes=[{"prefix": "198.18.0.0/16", "via": rdma_lab.LINK_B4}])
    request.addfinalizer(node.close)
    node.start()
    out = node.output()
    assert "no RDMA devices" in out and "r0" in out, node.tail(30)
    assert node.rdma_peer()["state"] == "no_device"
    # Routed to the missing peer: dropped and counted, the process runs on.
    h = node.hosts["a"]
    ping(h, "198.18.2.2", count=3, interval=0.05, wait=1)
    wait_until(lambda: node.tele("/sluice/drops")["rdma_peer_down"] >= 3, timeout=10,
               what="rdma_peer_down drops")
    node.assert_alive()


def test_required_missing_device_refuses_to_start(request, dp_binary):
    node = rdma_lab.RdmaNode(tag="rq", binary=dp_binary, subnets=[1], rdma=[rdma_lab.peer_spec(
        "r0", connect="127.0.0.1:9", ours=(rdma_lab.LINK_A4, rdma_lab.LINK_A6),
        theirs=(rdma_lab.LINK_B4, rdma_lab.LINK_B6), device="mlx5_0", required=True)])
    request.addfinalizer(node.close)
    with pytest.raises(lab.LabError):
        node.start(ready_timeout=20)
    rc = node.dp.wait_exit(timeout=10) if node.dp else None
    out = node.output()
    assert rc == 1, f"exit {rc}\n{out[-2000:]}"
    assert "rdma peer r0 (required): device mlx5_0: no RDMA devices" in out, out[-2000:]
