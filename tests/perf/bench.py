#!/usr/bin/env python3
"""Side-by-side forwarding benchmark: sluice-dp vs DPDK l3fwd (LPM, FIB) vs
testpmd io forward, on the same single worker lcore with the same traffic,
in one run. Writes docs/perf.md and docs/perf.png.

    python3 tests/perf/bench.py            # the whole comparison, the LB profiles and the table updates (~50 min)
    python3 tests/perf/bench.py --quick    # IPv4/IPv6 x 1k prefixes, no callgrind, tables of 10^5 (minutes)
    python3 tests/perf/bench.py --smoke --out /tmp/r.json --no-report   # 1 s per contender
    python3 tests/perf/bench.py --only tables   # only the table-update step, merged into docs/perf.json
    python3 tests/perf/bench.py --only lb       # only the load balancer profiles, merged likewise
    python3 tests/perf/bench.py --only rdma     # only the RDMA transport profiles, merged likewise
    python3 tests/perf/bench.py --only builds   # only the build variants (LTO, -march, static DPDK), merged likewise

Traffic: two net_null ports (RX hands out mbufs, TX frees them; no packet
ever leaves the process) plus the LD_PRELOAD shim libsluice_trafficgen.so,
which writes the profile's packets into every received mbuf, like a NIC's
DMA, and logs JSON lines of rates. Destinations of prefix i come from
tests/perf/trafficgen/profile.hpp; every contender gets the same routes.

Each contender runs alone: EAL `-l 0-1` (forwarding on lcore 1, the main
lcore idle or nearly), a unique --file-prefix, hugepages when enough are
free (else `--no-huge -m 2048`, recorded per run). One start per (family,
prefixes) serves every flow count: the shim moves to the next count every
warmup + seconds (l3fwd's LPM takes minutes to load 10^6 routes). Mpps =
median of the segment's one-second TX samples after the warm-up.

Instructions per packet: each contender under `valgrind --tool=callgrind`
for a fixed time; the forwarding thread's instructions divided by the
packets the shim wrote, with and without the shim's own share.

Table updates (tests/perf/tables_bench.py): route changes, reloads and a
full load on 10^6-route tables, timed by bench_tables, and forwarding while
10 000 route changes a second are applied, by bench_churn; results under
"tables" in the JSON.

Load balancer (tests/perf/lb_bench.py): VIP traffic (1 000 and 1 000 000
5-tuples to one VIP) in L2 DSR, IPIP and NAT mode with 10 and 1 000
backends against l3fwd LPM (and sluice) routing the same packets, callgrind
with the LB stage's share, the Maglev build time and backend changes to
publication at 1 000 VIPs; results under "lb" in the JSON.

RDMA transport (tests/perf/rdma_bench.py): two sluice processes joined by a
stand-in RDMA link against one process forwarding net_null to net_null, 64
and 1500-byte frames, callgrind with the transport's and the stand-in's
share, and the transport alone (bench_rdma_transport); results under "rdma".

Build variants (tests/perf/builds_bench.py): each contender that can be
rebuilt (sluice, l3fwd) built again with LTO, -march=x86-64-v3 and a static
DPDK link, instructions per packet under callgrind against its base build;
results under "builds", reported apart from the main comparison.
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

import builds_bench
import lb_bench
import rdma_bench
import tables_bench

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROFILE_HPP = os.path.join(ROOT, "tests/perf/trafficgen/profile.hpp")
L3FWD_BUILD = os.path.join(ROOT, "tests/perf/l3fwd_build.sh")
TESTPMD = "dpdk-testpmd"

# Benchmark addressing (documentation ranges only): port 0 198.18.0.1/24,
# 2001:db8:fffe::1/64; port 1 198.18.1.1/24, 2001:db8:fffe:1::1/64 (outside
# the IPv6 destinations, 2001:db8:0-f:...); every route goes via the static
# neighbor 198.18.1.2 / 2001:db8:fffe:1::2 on port 1.
GW4, GW6 = "198.18.1.2", "2001:db8:fffe:1::2"
GW_MAC = "02:00:00:00:01:02"

# "ours-swcsum" is sluice again with mbufs that carry no checksum verdict
# (a NIC without RX checksum offload): it verifies every IPv4 header in
# software. Every other run gets the verdict flags a NIC with offload sets,
# the configuration l3fwd is written for (it never checks in software).
CONTENDERS = ["ours", "ours-swcsum", "l3fwd-lpm", "l3fwd-fib", "testpmd"]
# The function each contender's forwarding lcore runs (callgrind: finds the thread).
LOOP_FN = {"ours": "worker_main", "ours-swcsum": "worker_main", "l3fwd-lpm": "lpm_main_loop",
           "l3fwd-fib": "fib_main_loop", "testpmd": "run_pkt_fwd_on_lcore"}

# Known limits (measured; see l3fwd_build.sh): l3fwd's FIB IPv6 (trie)
# reserves ~5 tbl8 groups per /64 route; the build copy allows ~104k routes.
LIMITS = {("l3fwd-fib", "v6"): 100000}
# IPv6 has no header checksum: the variant is the same as "ours" there.
SKIP = {("ours-swcsum", "v6")}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- addressing
def v4_scheme():
    """(base, prefix_len, shift) of IPv4 prefix i = base + (i << shift), read
    from the shim's profile.hpp so the routes always match the packets."""
    text = open(PROFILE_HPP).read()
    m = re.search(r"kV4PrefixBase\s*=\s*\((\d+)u << 24\)\s*\|\s*\((\d+)u << 16\)", text)
    base = (int(m.group(1)) << 24) | (int(m.group(2)) << 16)
    plen = int(re.search(r"kV4PrefixLen\s*=\s*(\d+)", text).group(1))
    shift = int(re.search(r"v4_prefix\(uint32_t i\)\s*\{\s*return kV4PrefixBase \+ \(i << (\d+)\)", text).group(1))
    return base, plen, shift


def ip4(a):
    return f"{a >> 24 & 255}.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}"


def prefixes(family, n):
    """The n destination prefixes as text."""
    if family == "v4":
        base, plen, shift = v4_scheme()
        for i in range(n):
            yield f"{ip4(base + (i << shift))}/{plen}"
    else:  # 2001:db8:(i>>16):(i&0xffff)::/64
        for i in range(n):
            yield f"2001:db8:{i >> 16:x}:{i & 0xffff:x}::/64"


def write_l3fwd_routes(path, family, n):
    with open(path, "w") as f:
        f.write("# benchmark routes (net_null only), all out of port 1\n")
        for p in prefixes(family, n):
            f.write(f"{p} 1\n")


def write_ours_routes(path, family, n):
    gw = GW4 if family == "v4" else GW6
    with open(path, "w") as f:
        f.write("# benchmark routes (net_null only)\n")
        for p in prefixes(family, n):
            f.write(f"{p} via {gw}\n")


def write_ours_config(path, routes_file):
    """Our YAML config: routes from a route file (as a full table would be)
    via the static neighbor on port 1, busy polling, burst 32."""
    with open(path, "w") as f:
        f.write(
            "# Generated by tests/perf/bench.py. net_null ports only: no packet\n"
            "# leaves the process; destinations exist only inside the sink.\n"
            "mbufs: 32767\nmbuf_cache: 512\n"
            "workers:\n  burst: 32\n  idle_backoff:\n    enabled: false\n"
            # Its own control socket: runs of several benchmarks at once
            # (or beside a lab) must not meet on /run/sluice.
            f"control:\n  socket: {os.path.splitext(os.path.abspath(path))[0]}.sock\n"
            "ports:\n"
            '  - name: n0\n    device: "net_null0"\n'
            '    addresses: ["198.18.0.1/24", "2001:db8:fffe::1/64"]\n'
            '  - name: n1\n    device: "net_null1"\n'
            '    addresses: ["198.18.1.1/24", "2001:db8:fffe:1::1/64"]\n'
            "neighbors:\n"
            f'  - {{ address: {GW4}, mac: "{GW_MAC}", port: n1 }}\n'
            f'  - {{ address: "{GW6}", mac: "{GW_MAC}", port: n1 }}\n'
            f'route_files: ["{routes_file}"]\n')


# ---------------------------------------------------------------- build
BENCH_TARGETS = ["dataplane/sluice-dp", "tests/perf/trafficgen/libsluice_trafficgen.so", "tests/perf/bench_stages",
                 "tests/perf/bench_tables", "tests/perf/bench_churn", "tests/perf/bench_config_load",
                 "tests/perf/bench_lb_update", "tests/unit/rdma/transport/bench_rdma_transport"]


def ensure_build(build_dir, dry):
    """A release build (-O3, NDEBUG), as l3fwd is built (-O3)."""
    if dry:
        return
    if not os.path.exists(os.path.join(build_dir, "build.ninja")):
        log(f"configuring release build in {build_dir}")
        subprocess.run(["meson", "setup", build_dir, "-Dbuildtype=release", "-Db_ndebug=true"], cwd=ROOT,
                       check=True, stdout=subprocess.DEVNULL)
    log(f"building {build_dir}")
    # Only what the benchmark runs (the unit tests take longer to build than
    # the whole data plane and are not needed here).
    subprocess.run(["ninja", "-C", build_dir] + BENCH_TARGETS, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def ensure_l3fwd(workdir, maxroutes, dry):
    out = os.path.join(workdir, "l3fwd-build")
    binary = os.path.join(out, "l3fwd/build/l3fwd")
    stamp = os.path.join(out, "l3fwd/build/maxroutes")
    try:
        ok = os.path.exists(binary) and int(open(stamp).read()) >= maxroutes
    except (OSError, ValueError):
        ok = False
    if not ok and not dry:
        log(f"building l3fwd copy in {out} (MAXROUTES={maxroutes})")
        subprocess.run([L3FWD_BUILD, out, str(maxroutes)], check=True, timeout=600, stdout=subprocess.DEVNULL)
    return binary


def reserve_hugepages(pages):
    """Best effort; the runs fall back to --no-huge."""
    subprocess.run([os.path.join(ROOT, "tests/lab/hugepages.sh"), str(pages)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def hugepages_free_bytes():
    try:
        if not any(l.split()[1] == "/dev/hugepages" for l in open("/proc/mounts")):
            return 0
        info = dict(l.split(":", 1) for l in open("/proc/meminfo"))
        return int(info["HugePages_Free"].split()[0]) * int(info["Hugepagesize"].split()[0]) * 1024
    except (OSError, KeyError, IndexError, ValueError):
        return 0


def mem_args(force_nohuge):
    # l3fwd's FIB mode always builds its IPv6 table at the copy's full size
    # (512 MiB of tbl8 groups), whatever the profile.
    need = 1800 << 20
    if not force_nohuge and hugepages_free_bytes() >= need:
        return ["--huge-unlink", "-m", str(need >> 20)], "hugepages"
    return ["--no-huge", "-m", "2048"], "no-huge"


def command(contender, eal, cfg_path, ours_bin, l3fwd_bin):
    if contender in ("ours", "ours-swcsum"):
        return [ours_bin] + eal + ["--", "--config", cfg_path]
    if contender.startswith("l3fwd"):
        cmd = [l3fwd_bin] + eal + ["--", "-p", "0x3", "--config=(0,0,1),(1,0,1)", "-P", "--parse-ptype"]
        if contender == "l3fwd-fib":
            cmd.append("--lookup=fib")
        return cmd
    if contender == "testpmd":
        return [TESTPMD] + eal + ["--", "--forward-mode=io", "-a", "--nb-cores=1", "--rxq=1", "--txq=1",
                                  "--total-num-mbufs=32768", "--no-mlockall"]
    raise ValueError(contender)


def read_samples(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return out


def stop(proc, grace=20):
    """SIGINT the contender (all of them print and exit on it), SIGKILL its
    process group if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=grace)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def start(cmd, env, log_path):
    with open(log_path, "w") as lf:
        # stdin stays open (a pipe nobody writes): testpmd's prompt quits on EOF.
        return subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=lf, stderr=subprocess.STDOUT,
                                start_new_session=True)


def run_segments(cmd, env, tg_out, log_path, flows, seconds, warmup, load_timeout):
    """One start, one segment per flow count; returns {flows: result}."""
    if os.path.exists(tg_out):
        os.unlink(tg_out)
    t0 = time.monotonic()
    proc = start(cmd, env, log_path)
    err, load_s = None, None
    need = warmup + seconds
    try:
        while True:
            time.sleep(0.5)
            now = time.monotonic()
            if proc.poll() is not None:
                err = f"exited early with code {proc.returncode}"
                break
            samples = [s for s in read_samples(tg_out) if "t" in s]
            if load_s is None:
                if any(s["rx_pps"] > 0 for s in samples):
                    load_s = round(now - t0, 1)
                elif now - t0 > load_timeout:
                    err = f"no traffic after {load_timeout} s (still loading routes?)"
                    break
                continue
            last = [s for s in samples if s.get("seg") == len(flows) - 1]
            if len(last) >= need:
                break
            if now - t0 > load_s + need * len(flows) + 60:
                err = "too few samples"
                break
    finally:
        stop(proc)
    samples = [s for s in read_samples(tg_out) if "t" in s]
    out = {}
    for seg, fl in enumerate(flows):
        rec = {"load_seconds": load_s}
        seg_samples = [s for s in samples if s.get("seg") == seg and s["rx_pps"] > 0][warmup:warmup + seconds]
        if seg_samples:
            rec["tx_pps_samples"] = [s["tx_pps"] for s in seg_samples]
            rec["mpps"] = round(statistics.median(rec["tx_pps_samples"]) / 1e6, 3)
        else:
            rec["error"] = err or "no samples"
        if "error" in rec or err:
            rec.setdefault("error", err)
            try:
                rec["log_tail"] = open(log_path, errors="replace").read()[-1500:]
            except OSError:
                pass
        out[fl] = rec
    return out


# ---------------------------------------------------------------- callgrind
def callgrind_totals(prefix, loop_fn):
    """Per thread file: total Ir, inclusive Ir of the shim's rx_fill, and
    whether the thread ran the contender's forwarding loop `loop_fn`."""
    res = []
    d = os.path.dirname(prefix)
    base = os.path.basename(prefix)
    for name in sorted(os.listdir(d)):
        if not name.startswith(base + "-"):
            continue
        path = os.path.join(d, name)
        total = None
        with open(path, errors="replace") as f:
            text = f.read()
        m = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.M)
        if m:
            total = int(m.group(1))
        if not total:
            continue
        ann = subprocess.run(["callgrind_annotate", "--show=Ir", "--inclusive=yes", "--threshold=100", path],
                             capture_output=True, text=True).stdout
        fill = 0  # the function list's inclusive figures; inlined parts are listed apart, take the largest
        for line in ann.splitlines():
            m = re.match(r"^\s*([\d,]+) \(", line)
            if m and "rx_fill(" in line:
                fill = max(fill, int(m.group(1).replace(",", "")))
        events = {}  # every event the run recorded (the simulations' misses too), whole thread
        ev = re.search(r"^events:\s*(.*)$", text, re.M)
        sm = re.search(r"^(?:summary|totals):\s*(.*)$", text, re.M)
        if ev and sm:
            events = dict(zip(ev.group(1).split(), (int(x) for x in sm.group(1).split())))
        caches = re.findall(r"^desc: ((?:I1|D1|LL) cache: .*)$", text, re.M)
        res.append({"file": path, "ir": total, "fill_ir": fill, "loop": loop_fn in text, "events": events,
                    "caches": caches})
    return res


# callgrind's cache and branch simulation: what stands in for `perf stat`'s
# cache misses and branch misses where the machine has no hardware counters
# (this VM: /sys/bus/event_source/devices has no `cpu`). The simulated
# caches are the host's sizes as valgrind reads them (recorded per run);
# the branch predictor is valgrind's simple model, not the CPU's. The
# instruction counts are exact either way; the simulation only slows the
# run, which is bounded in seconds, not packets.
SIM_ARGS = ["--cache-sim=yes", "--branch-sim=yes"]


def per_packet_events(events, packets):
    """Misses per packet from a thread's event totals (None without the simulation)."""
    if not events or "D1mr" not in events or not packets:
        return None
    g = lambda *k: sum(events.get(x, 0) for x in k) / packets
    return {"loads": round(g("Dr"), 2), "stores": round(g("Dw"), 2),
            "d1_misses": round(g("D1mr", "D1mw"), 3), "ll_misses": round(g("DLmr", "DLmw"), 3),
            "i1_misses": round(g("I1mr"), 3), "branches": round(g("Bc", "Bi"), 2),
            "branch_misses": round(g("Bcm", "Bim"), 3)}


def hardware_counters():
    """Whether `perf stat` could count cycles and cache misses here."""
    return os.path.isdir("/sys/bus/event_source/devices/cpu")


def run_callgrind(contender, cmd, env, workdir, run_id, seconds, load_timeout, sim=False):
    """Instructions per packet of the forwarding thread, under callgrind;
    with `sim`, its simulated cache and branch misses per packet too."""
    prefix = os.path.join(workdir, f"cg-{run_id}.out")
    for name in os.listdir(workdir):
        if name.startswith(f"cg-{run_id}.out"):
            os.unlink(os.path.join(workdir, name))
    tg_out = env["SLUICE_TG_OUT"]
    if os.path.exists(tg_out):
        os.unlink(tg_out)
    vg = ["valgrind", "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={prefix}"] + \
        (SIM_ARGS if sim else [])
    log_path = os.path.join(workdir, f"cg-{run_id}-{contender}.log")
    t0 = time.monotonic()
    proc = start(vg + cmd, env, log_path)
    started = None
    err = None
    try:
        while True:
            time.sleep(1)
            if proc.poll() is not None:
                err = f"exited early with code {proc.returncode}"
                break
            now = time.monotonic()
            if started is None:
                if any(s.get("rx_pps", 0) > 0 for s in read_samples(tg_out)):
                    started = now
                elif now - t0 > load_timeout:
                    err = "no traffic under callgrind"
                    break
            elif now - started >= seconds:
                break
    finally:
        stop(proc, grace=120)
    finals = [s for s in read_samples(tg_out) if s.get("final")]
    if err or not finals:
        return {"error": err or "no final packet count", "log": log_path}
    packets = finals[-1]["filled"]
    threads = callgrind_totals(prefix, LOOP_FN[contender])
    if not threads or not packets:
        return {"error": "no callgrind output", "log": log_path}
    # The thread that ran the forwarding loop (the busiest of them, should
    # the name appear in more than one file).
    fwd = max(threads, key=lambda t: (t["loop"], t["ir"]))
    out = {"packets": packets, "ir": fwd["ir"], "thread_file": fwd["file"], "ipp": round(fwd["ir"] / packets, 1),
           "ipp_without_source": round((fwd["ir"] - fwd["fill_ir"]) / packets, 1),
           "source_ipp": round(fwd["fill_ir"] / packets, 1)}
    sim_pp = per_packet_events(fwd["events"], packets)
    if sim_pp:
        out["sim"] = sim_pp
        out["sim_caches"] = fwd["caches"]
    return out


def callgrind_breakdown(thread_file, packets, top=14):
    """The forwarding thread's heaviest functions (self cost), per packet."""
    ann = subprocess.run(["callgrind_annotate", "--show=Ir", "--threshold=99", thread_file], capture_output=True, text=True).stdout
    rows = []
    for line in ann.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)$", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        ir = int(m.group(1).replace(",", ""))
        where = m.group(2)
        fn = where.split(":", 1)[1] if ":" in where else where
        fn = fn.replace("(anonymous namespace)::", "")
        lam = "::{lambda" in fn  # a lambda is named after its function: tell them apart
        fn = re.sub(r"\(.*", "", fn).strip() + ("::{lambda}" if lam else "")
        lib = re.search(r"\[(.*)\]$", where)
        rows.append({"fn": fn, "obj": os.path.basename(lib.group(1)) if lib else "",
                     "ipp": round(ir / packets, 1)})
    return rows[:top]


# ---------------------------------------------------------------- micro
def run_micro(build_dir):
    exe = os.path.join(build_dir, "tests/perf/bench_stages")
    if not os.path.exists(exe):
        return {"error": f"{exe} missing (libbenchmark-dev not installed?)"}
    p = subprocess.run([exe, "--benchmark_format=json", "--benchmark_min_time=0.3"], capture_output=True, text=True,
                       timeout=900)
    try:
        data = json.loads(p.stdout)
    except ValueError:
        return {"error": "bench_stages printed no JSON: " + p.stderr[-500:]}
    rows = []
    for b in data.get("benchmarks", []):
        ips = b.get("items_per_second")
        if ips:
            rows.append({"name": b["name"], "ns_per_item": round(1e9 / ips, 2)})
    return {"rows": rows}


# ---------------------------------------------------------------- main
def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="v4,v6 x 1000 prefixes x 1,1000 flows; no callgrind; table updates on 10^5 routes")
    ap.add_argument("--smoke", action="store_true",
                    help="v4 x 1 prefix x 1 flow, 1 s each, no callgrind/micro; table updates on 10^4 routes")
    ap.add_argument("--seconds", type=int, default=5, help="measured seconds per profile (default 5)")
    ap.add_argument("--rounds", type=int, default=3, help="runs of every contender, interleaved (default 3)")
    ap.add_argument("--warmup", type=int, default=1, help="seconds skipped at each profile's start (default 1)")
    ap.add_argument("--contenders", default=",".join(CONTENDERS), help="subset of " + ",".join(CONTENDERS))
    ap.add_argument("--families", default=None, help="subset of v4,v6")
    ap.add_argument("--prefixes", default=None, help="prefix counts (default 1,1000,1000000)")
    ap.add_argument("--flows", default=None, help="flow counts (default 1,1000,1000000)")
    ap.add_argument("--callgrind", default=None,
                    help="profiles for instruction counts, FAMILY:PREFIXES:FLOWS,... (default v4:1000:1000,v6:1000:1000)")
    ap.add_argument("--callgrind-seconds", type=int, default=20, help="seconds of traffic under callgrind")
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--no-micro", action="store_true", help="skip the Google Benchmark stages")
    ap.add_argument("--no-tables", action="store_true", help="skip the table-update step (bench_tables, bench_churn)")
    ap.add_argument("--no-lb", action="store_true", help="skip the load balancer profiles")
    ap.add_argument("--no-callgrind-lb", action="store_true", help="load balancer profiles without callgrind")
    ap.add_argument("--callgrind-seconds-lb", type=int, default=15, help="seconds of VIP traffic under callgrind")
    ap.add_argument("--no-rdma", action="store_true", help="skip the RDMA transport profiles")
    ap.add_argument("--callgrind-seconds-rdma", type=int, default=15,
                    help="seconds of traffic with one RDMA node under callgrind")
    ap.add_argument("--no-builds", action="store_true", help="skip the build variants (LTO, -march, static DPDK)")
    ap.add_argument("--builds-variants", default=None, help="subset of " + ",".join(builds_bench.VARIANTS))
    ap.add_argument("--builds-contenders", default=None, help="subset of " + ",".join(builds_bench.CONTENDERS))
    ap.add_argument("--builds-skip", default=None,
                    help="CONTENDER:VARIANT,... not built or measured this time (recorded as skipped)")
    ap.add_argument("--builds-v4-only", action="store_true", help="build variants at IPv4 1k x 1k only (default: IPv4 and IPv6)")
    ap.add_argument("--callgrind-seconds-builds", type=int, default=10,
                    help="seconds of traffic under callgrind per build variant")
    ap.add_argument("--only", choices=["tables", "lb", "rdma", "builds"],
                    help="run only this step (with --quick/--smoke: their sizes) and merge its results into --out")
    ap.add_argument("--load-timeout", type=int, default=1500, help="max seconds from start to first traffic")
    ap.add_argument("--no-huge", action="store_true", help="always --no-huge -m 2048")
    ap.add_argument("--build", default=os.path.join(ROOT, "build-perf"), help="release build dir (made if missing)")
    ap.add_argument("--no-build", action="store_true", help="use --build as it is")
    ap.add_argument("--no-deps", action="store_true", help="skip tests/lab/install-deps.sh")
    ap.add_argument("--workdir", default="/tmp/sluice-perf", help="generated files, logs, l3fwd build")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs/perf.json"), help="raw results (docs/perf.json: the data behind docs/perf.md)")
    ap.add_argument("--no-report", action="store_true", help="do not write docs/perf.md and docs/perf.png")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    a = ap.parse_args()

    fams, pfx, flows = ["v4", "v6"], [1, 1000, 1000000], [1, 1000, 1000000]
    cg_profiles = [("v4", 1000, 1000), ("v6", 1000, 1000)]
    if a.quick:
        pfx, flows, a.no_callgrind = [1000], [1, 1000], True
    if a.smoke:
        fams, pfx, flows, a.seconds, a.warmup, a.rounds = ["v4"], [1], [1], 1, 1, 1
        a.no_callgrind = a.no_micro = True
    if a.families:
        fams = a.families.split(",")
    if a.prefixes:
        pfx = [int(x) for x in a.prefixes.split(",")]
    if a.flows:
        flows = [int(x) for x in a.flows.split(",")]
    if a.callgrind:
        cg_profiles = [(f, int(p), int(fl)) for f, p, fl in (x.split(":") for x in a.callgrind.split(","))]
    if a.no_callgrind:
        cg_profiles = []
    contenders = a.contenders.split(",")
    for c in contenders:
        if c not in CONTENDERS:
            sys.exit(f"unknown contender {c}")

    if not a.no_deps and not a.dry_run:
        # Idempotent: does nothing when every package is there (a fresh clone
        # on a fresh Debian 12 gets dpdk, dpdk-doc, valgrind, matplotlib, ...).
        subprocess.run([os.path.join(ROOT, "tests/lab/install-deps.sh")], check=True, stdout=subprocess.DEVNULL)
    command_line = " ".join(["python3", "tests/perf/bench.py"] + sys.argv[1:])
    if a.only == "builds":  # builds its own base (build-var-base): --build is not needed
        run_builds_only(a, command_line)
        return
    if not a.no_build:
        ensure_build(a.build, a.dry_run)
    tables_mode = "smoke" if a.smoke else "quick" if a.quick else "full"
    if a.quick or a.smoke:
        a.no_callgrind_lb = True
    if a.only == "tables":
        run_tables_only(a, tables_mode, command_line)
        return
    shim = os.path.join(a.build, "tests/perf/trafficgen/libsluice_trafficgen.so")
    ours_bin = os.path.join(a.build, "dataplane/sluice-dp")
    if not a.dry_run:
        for path in [shim] + ([ours_bin] if "ours" in contenders else []):
            if not os.path.exists(path):
                sys.exit(f"missing {path}: build with tests enabled (ninja -C {a.build})")
        if not a.no_huge:
            reserve_hugepages(1536)
    if a.only == "lb":
        run_lb_only(a, tables_mode, command_line, shim, ours_bin)
        return
    if a.only == "rdma":
        run_rdma_only(a, tables_mode, command_line, shim, ours_bin)
        return

    os.makedirs(a.workdir, exist_ok=True)
    l3fwd_bin = None
    if any(c.startswith("l3fwd") for c in contenders):
        l3fwd_bin = ensure_l3fwd(a.workdir, max(max(pfx + [p for _, p, _ in cg_profiles] or [1]), 1024), a.dry_run)

    meta = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seconds": a.seconds, "warmup": a.warmup,
            "eal_lcores": "0-1 (forwarding on lcore 1)", "cpu": cpu_model(), "cores": os.cpu_count(),
            "v4_scheme": "%s + (i << %d) /%d" % (ip4(v4_scheme()[0]), v4_scheme()[2], v4_scheme()[1]),
            "v6_scheme": "2001:db8:(i>>16):(i&0xffff)::/64", "build": os.path.relpath(a.build, ROOT),
            "hardware_counters": hardware_counters(),
            "command": command_line}
    meta["rounds"] = a.rounds
    doc = {"meta": meta, "results": [], "ratios": [], "callgrind": [], "micro": None}

    def save():
        if not a.dry_run:
            with open(a.out, "w") as f:
                json.dump(doc, f, indent=1)

    def files_for(fam, n):
        """Route files and our config for one (family, prefixes)."""
        other = "v6" if fam == "v4" else "v4"
        paths = {"cfg": os.path.join(a.workdir, f"ours-{fam}-{n}.yaml"),
                 "ours_routes": os.path.join(a.workdir, f"ours-routes-{fam}-{n}.txt"),
                 fam: os.path.join(a.workdir, f"routes-{fam}-{n}.txt"),
                 other: os.path.join(a.workdir, f"routes-{other}-1.txt")}
        if not a.dry_run:
            if "ours" in contenders:
                write_ours_routes(paths["ours_routes"], fam, n)
                write_ours_config(paths["cfg"], paths["ours_routes"])
            if l3fwd_bin:
                write_l3fwd_routes(paths[fam], fam, n)
                write_l3fwd_routes(paths[other], other, 1)
        return paths

    def env_for(c, fam, n, fl, tg_out, paths):
        env = dict(os.environ, LD_PRELOAD=shim, SLUICE_TG_PROFILE=fam, SLUICE_TG_PREFIXES=str(n),
                   SLUICE_TG_FLOWS=",".join(str(x) for x in fl), SLUICE_TG_SEGMENT=str(a.warmup + a.seconds),
                   SLUICE_TG_OUT=tg_out, SLUICE_TG_RX_CSUM="none" if c == "ours-swcsum" else "good")
        if c.startswith("l3fwd"):
            env.update(L3FWD_ROUTES4=paths["v4"], L3FWD_ROUTES6=paths["v6"])
        return env

    # Rounds: every contender once per round, in turn, so a drift of the
    # machine's speed hits all of them alike; a contender that takes over a
    # minute to load (l3fwd LPM at 10^6 routes) runs in the first round only.
    run_id = 0
    for fam in fams:
        for n in pfx:
            paths = files_for(fam, n)
            per = {c: [] for c in contenders}  # contender -> [ {flows: rec} per round ]
            slow_load = set()
            for rnd in range(a.rounds):
                for c in contenders:
                    lim = LIMITS.get((c, fam))
                    if (lim is not None and n > lim) or c in slow_load or (c, fam) in SKIP:
                        continue
                    run_id += 1
                    memargs, memmode = mem_args(a.no_huge)
                    eal = ["-l", "0-1", "--no-pci", "--vdev", "net_null0", "--vdev", "net_null1",
                           "--file-prefix", f"sluice-perf-{os.getpid()}-{run_id}"] + memargs
                    cmd = command(c, eal, paths["cfg"], ours_bin, l3fwd_bin)
                    tg_out = os.path.join(a.workdir, f"tg-{run_id}.jsonl")
                    env = env_for(c, fam, n, flows, tg_out, paths)
                    if a.dry_run:
                        print(" ".join(f"{k}={env[k]}" for k in sorted(env) if k.startswith(("SLUICE_TG", "L3FWD", "LD_PRE"))),
                              " ".join(cmd))
                        continue
                    log(f"round {rnd + 1}/{a.rounds}: {c} {fam} prefixes={n} flows={flows} ({memmode})")
                    res = run_segments(cmd, env, tg_out, os.path.join(a.workdir, f"run-{run_id}-{c}.log"), flows,
                                       a.seconds, a.warmup, a.load_timeout)
                    for fl in flows:
                        res[fl]["memory"] = memmode
                        log(f"  flows={fl}: {res[fl].get('mpps')} Mpps" +
                            (f" ERROR {res[fl]['error']}" if res[fl].get("error") else ""))
                    per[c].append(res)
                    if (res[flows[0]].get("load_seconds") or 0) > 60:
                        slow_load.add(c)
            for c in contenders:
                lim = LIMITS.get((c, fam))
                if (c, fam) in SKIP:
                    continue
                for fl in flows:
                    rec = {"family": fam, "prefixes": n, "flows": fl, "contender": c}
                    if lim is not None and n > lim:
                        rec["skipped"] = f"{n} routes exceed {c}'s limit ({lim})"
                    else:
                        rounds = [r[fl] for r in per[c]]
                        vals = [r["mpps"] for r in rounds if r.get("mpps")]
                        rec["rounds_mpps"] = vals
                        rec["load_seconds"] = max((r.get("load_seconds") or 0) for r in rounds) if rounds else None
                        rec["memory"] = rounds[0].get("memory") if rounds else None
                        if vals:
                            rec["mpps"] = round(statistics.median(vals), 3)
                        else:
                            rec["error"] = next((r.get("error") for r in rounds if r.get("error")), "no rounds")
                            rec["log_tail"] = next((r.get("log_tail") for r in rounds if r.get("log_tail")), "")
                    doc["results"].append(rec)
            # Ratios per round (each pair ran minutes apart at most), then their median.
            for fl in flows:
                for other in [c for c in contenders if not c.startswith("ours")]:
                    pairs = [(o[fl].get("mpps"), x[fl].get("mpps")) for o, x in zip(per.get("ours", []), per[other])]
                    rs = [u / v for u, v in pairs if u and v]
                    if rs:
                        doc.setdefault("ratios", []).append({"family": fam, "prefixes": n, "flows": fl, "vs": other,
                                                              "per_round": [round(x, 3) for x in rs],
                                                              "median": round(statistics.median(rs), 3)})
            save()

    for fam, n, fl in cg_profiles:
        paths = files_for(fam, n)
        for c in contenders:
            lim = LIMITS.get((c, fam))
            if (lim is not None and n > lim) or (c, fam) in SKIP:
                continue
            run_id += 1
            eal = ["-l", "0-1", "--no-pci", "--vdev", "net_null0", "--vdev", "net_null1",
                   "--file-prefix", f"sluice-cg-{os.getpid()}-{run_id}", "--no-huge", "-m", "2048"]
            cmd = command(c, eal, paths["cfg"], ours_bin, l3fwd_bin)
            tg_out = os.path.join(a.workdir, f"tg-cg-{run_id}.jsonl")
            env = env_for(c, fam, n, [fl], tg_out, paths)
            if a.dry_run:
                print("valgrind --tool=callgrind", " ".join(SIM_ARGS), " ".join(cmd))
                continue
            log(f"callgrind {c} {fam} prefixes={n} flows={fl}")
            rec = {"family": fam, "prefixes": n, "flows": fl, "contender": c}
            rec.update(run_callgrind(c, cmd, env, a.workdir, run_id, a.callgrind_seconds, a.load_timeout, sim=True))
            if c.startswith("ours") and "packets" in rec:
                rec["breakdown"] = callgrind_breakdown(rec["thread_file"], rec["packets"])
            doc["callgrind"].append(rec)
            log(f"  -> {rec.get('ipp')} instructions/packet ({rec.get('ipp_without_source')} without the source)"
                + (f" ERROR {rec['error']}" if "error" in rec else ""))
            save()

    if not a.no_micro and not a.dry_run:
        log("micro-benchmarks (bench_stages)")
        doc["micro"] = run_micro(a.build)
    if not a.no_lb and not a.dry_run:
        doc["lb"] = run_lb(a, tables_mode, command_line, shim, ours_bin, l3fwd_bin)
        save()
    if not a.no_rdma and not a.dry_run:
        doc["rdma"] = run_rdma(a, tables_mode, command_line, shim, ours_bin)
        save()
    if not a.no_tables:
        doc["tables"] = run_tables(a, tables_mode, command_line)
    if not a.no_builds and not a.smoke and not a.quick:
        doc["builds"] = run_builds(a, command_line, shim)
    meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    save()
    if a.dry_run:
        return
    log(f"wrote {a.out}")
    write_report(a)


def run_tables(a, mode, command_line):
    log(f"table updates ({mode}): bench_tables, bench_churn")
    rec = tables_bench.run(a.build, a.workdir, mode, log, dry_run=a.dry_run)
    rec["command"] = command_line
    return rec


def run_tables_only(a, mode, command_line):
    """The table step alone, merged into the results file if there is one
    (its forwarding results and meta stay as they were)."""
    os.makedirs(a.workdir, exist_ok=True)
    rec = run_tables(a, mode, command_line)
    if a.dry_run:
        return
    merge_step(a, command_line, "tables", rec, "table updates")


def read_results(a, command_line):
    """The results file as it is, or an empty one (a step run alone)."""
    if os.path.exists(a.out):
        with open(a.out) as f:
            return json.load(f)
    return {"meta": {"command": command_line, "cpu": cpu_model(), "cores": os.cpu_count(),
                     "build": os.path.relpath(a.build, ROOT)},
            "results": [], "ratios": [], "callgrind": [], "micro": None}


def merge_step(a, command_line, key, rec, what, doc=None):
    """Puts one step's results under `key` of the results file (the rest
    stays as it was) and renders the report again."""
    doc = doc or read_results(a, command_line)
    doc[key] = rec
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1)
    log(f"wrote {a.out} ({what} merged)")
    write_report(a)


def run_lb(a, mode, command_line, shim, ours_bin, l3fwd_bin):
    log(f"load balancer profiles ({mode})")
    if not l3fwd_bin:
        l3fwd_bin = ensure_l3fwd(a.workdir, 1024, a.dry_run)
    rec = lb_bench.run(a, sys.modules[__name__], "quick" if mode == "quick" else mode, log, l3fwd_bin, ours_bin, shim)
    rec["command"] = command_line
    return rec


def run_lb_only(a, mode, command_line, shim, ours_bin):
    """The load balancer step alone, merged into the results file (its other
    results and meta stay as they were)."""
    os.makedirs(a.workdir, exist_ok=True)
    if a.dry_run:
        return
    rec = run_lb(a, mode, command_line, shim, ours_bin, None)
    doc = read_results(a, command_line) if os.path.exists(a.out) else None
    if a.no_callgrind_lb and not rec.get("callgrind") and doc and (doc.get("lb") or {}).get("callgrind"):
        # Instruction counts do not depend on the machine's load: keep the
        # previous run's, re-read from its callgrind files when still there.
        rec["callgrind"] = doc["lb"]["callgrind"]
        rec["callgrind_from"] = doc["lb"].get("started")
        for r in rec["callgrind"]:
            if r.get("thread_file") and os.path.exists(r["thread_file"]) and r.get("packets"):
                r["breakdown"] = callgrind_breakdown(r["thread_file"], r["packets"], top=16)
                r["lb"] = lb_bench.lb_breakdown(r["thread_file"], r["packets"])
    merge_step(a, command_line, "lb", rec, "load balancer", doc)


def run_rdma(a, mode, command_line, shim, ours_bin):
    log(f"RDMA transport profiles ({mode})")
    rec = rdma_bench.run(a, sys.modules[__name__], mode, log, ours_bin, shim)
    rec["command"] = command_line
    return rec


def run_rdma_only(a, mode, command_line, shim, ours_bin):
    """The RDMA step alone, merged into the results file (its other results
    and meta stay as they were)."""
    os.makedirs(a.workdir, exist_ok=True)
    if a.dry_run:
        return
    rec = run_rdma(a, mode, command_line, shim, ours_bin)
    merge_step(a, command_line, "rdma", rec, "RDMA")


def run_builds(a, command_line, shim):
    log("build variants (LTO, -march, static DPDK)")
    rec = builds_bench.run(a, sys.modules[__name__], log, ROOT, shim)
    rec["command"] = command_line
    return rec


def run_builds_only(a, command_line):
    """The build variants alone, merged into the results file (its other
    results and meta stay as they were)."""
    os.makedirs(a.workdir, exist_ok=True)
    rec = run_builds(a, command_line, os.path.join(a.build, "tests/perf/trafficgen/libsluice_trafficgen.so"))
    if a.dry_run:
        return
    merge_step(a, command_line, "builds", rec, "build variants")


def write_report(a):
    if not a.no_report:
        subprocess.run([sys.executable, os.path.join(ROOT, "tests/perf/report.py"), "--results", a.out,
                        "--markdown", os.path.join(ROOT, "docs/perf.md"), "--plot", os.path.join(ROOT, "docs/perf.png")],
                       check=True)


if __name__ == "__main__":
    main()
