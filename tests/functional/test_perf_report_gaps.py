"""The benchmark's explanation of the routing gaps (issue 11: "explain any
remaining gap per profile with instructions per packet and cache misses"):
bench.py reads callgrind's simulated cache and branch misses from a
callgrind output file, and report.py renders them and lists every profile
below the 1.0x target with the figures that explain it. Made-up inputs; no
DPDK process or valgrind is started."""

from __future__ import annotations

import sys
from pathlib import Path

from perf_report_lib import render

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests/perf"))

import bench  # noqa: E402


def test_callgrind_events_become_misses_per_packet(tmp_path):
    # The header lines callgrind writes with --cache-sim=yes --branch-sim=yes.
    out = tmp_path / "cg-1.out-04"
    out.write_text("# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\n"
                   "desc: I1 cache: 32768 B, 64 B, 8-way associative\n"
                   "desc: D1 cache: 32768 B, 64 B, 8-way associative\n"
                   "desc: LL cache: 1048576 B, 64 B, 16-way associative\n"
                   "events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw Bc Bcm Bi Bim\n"
                   "fn=(1) sluice::dp::worker_main(void*)\n"
                   "summary: 3000 900 600 3 60 30 0 6 3 400 20 10 2\n")
    threads = bench.callgrind_totals(str(tmp_path / "cg-1.out"), "worker_main")
    assert len(threads) == 1 and threads[0]["ir"] == 3000 and threads[0]["loop"]
    assert threads[0]["caches"][2] == "LL cache: 1048576 B, 64 B, 16-way associative"
    pp = bench.per_packet_events(threads[0]["events"], 10)
    assert pp == {"loads": 90.0, "stores": 60.0, "d1_misses": 9.0, "ll_misses": 0.9, "i1_misses": 0.3,
                  "branches": 41.0, "branch_misses": 2.2}
    # Without the simulation there is nothing to report, not zeros.
    assert bench.per_packet_events({"Ir": 3000}, 10) is None
    assert bench.per_packet_events(threads[0]["events"], 0) is None


def fake(sim=True):
    def res(fam, n, fl, c, mpps):
        return {"family": fam, "prefixes": n, "flows": fl, "contender": c, "mpps": mpps}

    def cg(fam, c, ipp, d1):
        r = {"family": fam, "prefixes": 1000, "flows": 1000, "contender": c, "ipp": ipp,
             "ipp_without_source": ipp - 80, "source_ipp": 80.0}
        if sim:
            r["sim"] = {"loads": 90.0, "stores": 50.0, "d1_misses": d1, "ll_misses": 0.0, "i1_misses": 0.0,
                        "branches": 35.0, "branch_misses": 0.5}
            r["sim_caches"] = ["D1 cache: 32768 B, 64 B, 8-way associative"]
        return r

    results = [res("v4", 1000, 1, "ours", 30.0), res("v4", 1000, 1, "l3fwd-lpm", 40.0),
               res("v4", 1000, 1, "l3fwd-fib", 36.0), res("v4", 1000, 1, "ours-swcsum", 31.0),
               res("v4", 1000000, 1, "ours", 40.0), res("v4", 1000000, 1, "l3fwd-lpm", 20.0),
               res("v4", 1000000, 1, "l3fwd-fib", 33.0), res("v4", 1000000, 1, "ours-swcsum", 35.0)]
    ratios = [{"family": "v4", "prefixes": 1000, "flows": 1, "vs": "l3fwd-lpm", "per_round": [0.7, 0.75, 1.1],
               "median": 0.75},
              {"family": "v4", "prefixes": 1000, "flows": 1, "vs": "l3fwd-fib", "per_round": [0.8, 0.83, 0.9],
               "median": 0.83},
              {"family": "v4", "prefixes": 1000000, "flows": 1, "vs": "l3fwd-lpm", "per_round": [2.0],
               "median": 2.0},
              {"family": "v4", "prefixes": 1000000, "flows": 1, "vs": "l3fwd-fib", "per_round": [0.9],
               "median": 0.9}]
    return {"meta": {"command": "python3 tests/perf/bench.py", "rounds": 3, "seconds": 5, "warmup": 1,
                     "hardware_counters": False},
            "results": results, "ratios": ratios, "micro": None,
            "callgrind": [cg("v4", "ours", 320.0, 10.5), cg("v4", "l3fwd-lpm", 300.0, 13.5),
                          cg("v4", "l3fwd-fib", 322.0, 13.4), cg("v4", "testpmd", 206.0, 5.0)]}


def test_gaps_are_listed_with_what_explains_them(tmp_path):
    md = render(tmp_path, fake())
    assert "no hardware counters" in md
    assert "| v4 | 1k | 1k | sluice | 90.0 | 50.0 | 10.50 | 0.000 | 35.0 | 0.50 |" in md
    gap = md.split("### Profiles below the routing target", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in gap.splitlines() if line.startswith("| v4")]
    # Only the profiles below 1.0x, each against the l3fwd mode it trails
    # most (LPM at 1k, 0.75; FIB at 1M, 0.9); the instructions predict
    # 300 / 320 and 322 / 320. 1M prefixes are more than the callgrind
    # profile's 1k: beyond the caches.
    assert rows == ["| v4 | 1k | 1 | l3fwd LPM | 0.75 | 0.70, 0.75, 1.10 | 0.94 | 10.5 / 13.5 | tables in the caches | "
                    "1.03 |",
                    "| v4 | 1M | 1 | l3fwd FIB | 0.90 | 0.90 | 1.01 | 10.5 / 13.4 | tables beyond the caches | 0.88 |"]
    assert "the instructions predict 0.94x the faster l3fwd" in md
    assert "sluice has the fewest L1 data misses in each family" in md


def test_without_the_simulation_the_page_says_so(tmp_path):
    md = render(tmp_path, fake(sim=False))
    assert "L1 data misses | LL misses" not in md
    assert "Misses were not simulated in this run" in md
    gap = md.split("### Profiles below the routing target", 1)[1]
    assert "| v4 | 1k | 1 | l3fwd LPM | 0.75 | 0.70, 0.75, 1.10 | 0.94 | — | tables in the caches | 1.03 |" in gap
