"""The benchmark harness works end to end (issue 3): tests/perf/bench.py
--smoke runs every contender for a second on net_null ports with the
trafficgen shim (l3fwd is built from the dpdk-doc sources on the way), and
the table-update step on 10^4-route tables (tests/perf/tables_bench.py);
report.py renders the results. No timing is asserted: only that every
contender forwarded traffic the source wrote, that every table step ran,
that no sampled packet went to a stale or wrong next hop while routes
changed (issue 7), that two data planes passed traffic over a stand-in RDMA
link (issue 10), and that the page has the tables. Benchmarks themselves
run outside the test suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The build whose sluice-dp the suite tests (SLUICE_DP=BUILD/dataplane/sluice-dp), else build/.
BUILD = Path(os.environ["SLUICE_DP"]).resolve().parents[1] if os.environ.get("SLUICE_DP") else REPO / "build"


def test_bench_smoke_every_contender_forwards(tmp_path):
    shim = BUILD / "tests/perf/trafficgen/libsluice_trafficgen.so"
    if not shim.exists():
        pytest.fail(f"{shim} missing: build with tests/lab/build.sh")
    out = tmp_path / "results.json"
    p = subprocess.run(
        [sys.executable, str(REPO / "tests/perf/bench.py"), "--smoke", "--no-huge", "--build", str(BUILD),
         "--no-build", "--no-deps", "--workdir", str(tmp_path / "work"), "--out", str(out), "--no-report"],
        capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    data = json.loads(out.read_text())
    got = {r["contender"]: r for r in data["results"]}
    assert set(got) == {"ours", "ours-swcsum", "l3fwd-lpm", "l3fwd-fib", "testpmd"}, got.keys()
    for name, rec in got.items():
        assert rec.get("mpps", 0) > 0, f"{name}: {rec.get('error')}\n{rec.get('log_tail', '')}"
        assert rec["memory"] == "no-huge"
    # Side-by-side ratios were computed from the same round.
    assert {r["vs"] for r in data["ratios"]} == {"l3fwd-lpm", "l3fwd-fib", "testpmd"}

    tables = data["tables"]
    assert "error" not in tables, tables["error"]
    for run in tables["runs"]:
        names = [s["name"] for s in run.get("steps", [])]
        assert names == ["full load", "reload changed copy", "reload original"] + [
            f"change {c}" for c in run["changes"]], f"{run['family']}: {run.get('error') or names}"
        assert run["loaded_routes"] == run["routes"]
        # Each reload differs from the running tables by exactly the copy's changes.
        assert run["steps"][1]["changes"] == run["reload_changes"], run["steps"][1]
        assert run["steps"][2]["changes"] == run["reload_changes"], run["steps"][2]
    churn = tables["churn"]
    assert churn.get("result"), churn.get("error")
    assert churn["result"]["samples_checked"] > 0, churn["result"]
    assert (churn["result"]["stale"], churn["result"]["wrong"]) == (0, 0), churn["result"]

    # The RDMA profiles (issue 10): the baseline and two nodes over a
    # stand-in link both delivered traffic at each frame size; the transport
    # alone ran.
    rdma = data["rdma"]
    assert [r["size"] for r in rdma["results"]] == [64, 1500], rdma
    for r in rdma["results"]:
        for what in ("baseline", "rdma"):
            assert (r[what].get("mpps") or 0) > 0, f"{r['size']} B {what}: {r[what]}"
        assert r["rdma"]["b_peer"].get("rx", 0) > 0, r["rdma"]
    assert all(x.get("mpps", 0) > 0 for x in rdma["alone"]["rows"]), rdma["alone"]

    page = tmp_path / "perf.md"
    r = subprocess.run([sys.executable, str(REPO / "tests/perf/report.py"), "--results", str(out),
                        "--markdown", str(page)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    text = page.read_text()
    assert "| v4 | 1 | 1 |" in text
    assert "sluice / best l3fwd" in text
    assert "## Table updates" in text and "| full load | 10 000 |" in text
    assert "| routes | changes / s |" in text
    assert "## RDMA transport" in text and "| 64 B |" in text
