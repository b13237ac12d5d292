"""The build-variant step of the benchmark (issue 11): report.py renders the
"Build variants" section from a small made-up results file (measured,
skipped and failed variants), a results file without "builds" still renders,
and `bench.py --only builds --dry-run` prints its build and callgrind
commands without building or running anything. No DPDK process is started."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from perf_report_lib import render

REPO = Path(__file__).resolve().parents[2]


def fake_results(builds=True):
    doc = {"meta": {"command": "python3 tests/perf/bench.py", "rounds": 1, "seconds": 1, "warmup": 1},
           "results": [{"family": "v4", "prefixes": 1000, "flows": 1000, "contender": "ours", "mpps": 10.0}],
           "ratios": [], "callgrind": [], "micro": None}
    if builds:
        prof = {"family": "v4", "prefixes": 1000, "flows": 1000}
        base_bd = [{"fn": "__tls_get_addr", "obj": "ld-linux-x86-64.so.2", "ipp": 11.0},
                   {"fn": "sluice::dp::forward_burst", "obj": "sluice-dp", "ipp": 40.0}]
        static_bd = [{"fn": "sluice::dp::forward_burst", "obj": "sluice-dp-static-dpdk", "ipp": 40.0}]
        doc["builds"] = {
            "command": "python3 tests/perf/bench.py --only builds", "started": "2024-01-01T00:00:00",
            "seconds": 600, "callgrind_seconds": 10, "march": "x86-64-v3",
            "not_rebuildable": {"testpmd": "Debian's dpdk-testpmd binary (dpdk package): no sources to rebuild"},
            "builds": [{"contender": "ours", "variant": "base", "how": "shared DPDK, shim preloaded",
                        "build_seconds": 30.0},
                       {"contender": "ours", "variant": "static-dpdk", "how": "static DPDK, shim linked in",
                        "build_seconds": 20.0},
                       {"contender": "ours", "variant": "march-v3", "skipped": "this CPU does not support x86-64-v3"}],
            "callgrind": [
                dict(prof, contender="ours", variant="base", ipp=120.0, ipp_without_source=90.0, source_ipp=30.0,
                     breakdown=base_bd, watch={"__tls_get_addr": 11.0}),
                dict(prof, contender="ours", variant="static-dpdk", ipp=108.0, ipp_without_source=78.0,
                     source_ipp=30.0, breakdown=static_bd, delta_ipp=-12.0, delta_ipp_without_source=-12.0,
                     notable={"fn": "__tls_get_addr", "base_ipp": 11.0, "ipp": 0.0, "delta": -11.0},
                     watch={"__tls_get_addr": 0.0}, rate_ratio=1.08),
                dict(prof, contender="ours", variant="march-v3", skipped="this CPU does not support x86-64-v3"),
                dict(prof, contender="l3fwd-lpm", variant="lto", error="build failed: lto1: internal error"),
                dict(prof, family="v6", contender="ours", variant="base", ipp=130.0, ipp_without_source=100.0,
                     source_ipp=30.0, breakdown=base_bd, watch={"__tls_get_addr": 11.0}),
            ]}
    return doc


def section(text):
    start = text.index("## Build variants")
    end = text.index("\n## ", start + 3)
    return text[start:end]


def test_builds_section_renders_rows(tmp_path):
    s = section(render(tmp_path, fake_results()))
    assert "not mixed into the comparison" in s
    assert "| v4 1k x 1k | sluice | base (release, as compared above) | 120.0 | 90.0 | — | — | — | not measured |" in s
    assert ("| v4 1k x 1k | sluice | static DPDK | 108.0 | 78.0 | -12.0 | -12.0 | `__tls_get_addr` 11.0 → 0.0 | "
            "1.08 |") in s
    # Skipped and failed variants are rows with their reasons below the table.
    assert "| v4 1k x 1k | sluice | -march=x86-64-v3 | skipped |" in s
    assert "- sluice, -march=x86-64-v3: this CPU does not support x86-64-v3" in s
    assert "| v4 1k x 1k | l3fwd LPM | LTO | fail |" in s and "lto1: internal error" in s
    assert "testpmd io: no variant rows" in s
    assert "sluice static DPDK 0.0" in s  # the __tls_get_addr line, per profile
    assert "v4 1k x 1k: sluice base (release, as compared above) 11.0; sluice static DPDK 0.0" in s
    assert "v6 1k x 1k: sluice base (release, as compared above) 11.0." in s
    assert "| v6 1k x 1k | sluice | base (release, as compared above) | 130.0 | 100.0 |" in s


def test_report_without_builds_key(tmp_path):
    s = section(render(tmp_path, fake_results(builds=False)))
    assert "--only builds" in s and "Not run" in s


def test_builds_dry_run_prints_commands(tmp_path):
    p = subprocess.run([sys.executable, str(REPO / "tests/perf/bench.py"), "--only", "builds", "--dry-run",
                        "--no-deps", "--workdir", str(tmp_path / "work"), "--out", str(tmp_path / "perf.json")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "-Db_lto=true" in out and "-march=x86-64-v3" in out and "pkg-config --static" in out
    assert "L3FWD_LINK=static" in out and "-flto" in out
    assert "valgrind --tool=callgrind" in out
    # Nothing was built or written.
    assert not (tmp_path / "perf.json").exists()
    assert not (tmp_path / "work/builds/l3fwd-base").exists()
