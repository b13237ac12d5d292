#!/usr/bin/env python3
"""The health checker's CPU cost at 1 000 and 10 000 backends.

Runs control/health's `health-bench` driver (the Checker alone, one thread
pinned to one core) against `health-responder` (an epoll HTTP/TCP server on
another core) inside a throw-away network namespace `sluice-hb-<pid>` in
which all of 198.18.0.0/16 is local (`ip route add local 198.18.0.0/16 dev
lo`), so every backend has its own address: 198.18.0.1, 198.18.0.2, ...
For each check type (tcp, http) and each backend count it reports probes
done, failures, the checker thread's CPU seconds and % of one core over a
fixed window after warm-up, and probe latency p50/p99; prints a table and
writes JSON to --out.

Needs root (network namespaces) and the two binaries:
    ninja -C build control/health/health-bench control/health/health-responder
    sudo python3 tests/perf/health_bench.py --out /tmp/health_bench.json   (--build DIR: another build)

Note: on loopback the kernel runs both ends of each TCP handshake in the
connecting thread's softirq, so the checker's system time includes most of
the backend side's connection setup too: the figures are an upper bound for
a checker probing remote backends.
"""
import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def netns_exec(ns, cmd):
    return ["ip", "netns", "exec", ns] + cmd


def boost(proc, nice):
    """Gives proc's session (its own: start_new_session) the niceness `nice`.

    With sched_autogroup (on here) a process's nice value only ranks it
    within its session's group; groups share a CPU equally. On a box shared
    with other sessions' compiles and DPDK pollers the checker then gets a
    fraction of its core and falls behind, which measures the neighbours,
    not the checker. The group's own nice (/proc/PID/autogroup) fixes that
    for the bench's processes only, for the length of a case.
    """
    if not nice:
        return
    try:
        with open(f"/proc/{proc.pid}/autogroup", "w") as f:
            f.write(str(nice))
    except OSError:
        pass  # no autogroup support: plain nice still applies


def start_responder(ns, nice, args, responder):
    resp = subprocess.Popen(
        netns_exec(ns, nice + ["taskset", "-c", str(args.responder_cpu), responder, "--port", str(args.port)]),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    boost(resp, args.nice)
    line = resp.stdout.readline()
    if line.strip() != "ready":
        resp.kill()
        raise RuntimeError(f"responder did not start: {line!r} {resp.stderr.read()}")
    return resp


def stop_responder(resp):
    resp.terminate()
    try:
        resp.wait(timeout=10)
    except subprocess.TimeoutExpired:
        resp.kill()
        resp.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="meson build dir (relative to the repo root or absolute)")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--sizes", default="1000,10000", help="backend counts, comma separated")
    ap.add_argument("--types", default="tcp,http", help="check types, comma separated")
    ap.add_argument("--interval-ms", type=int, default=1000)
    ap.add_argument("--timeout-ms", type=int, default=500)
    ap.add_argument("--duration", type=int, default=20, help="measured seconds per case (after warm-up)")
    ap.add_argument("--checker-cpu", type=int, default=1)
    ap.add_argument("--responder-cpu", type=int, default=0)
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--nice", type=int, default=-10,
                    help="niceness of the checker and the responder, and of their sessions' scheduler "
                         "autogroups (the box is shared: without it their pinned cores are split with whatever "
                         "else runs there); 0: leave as is")
    args = ap.parse_args()

    build = args.build if os.path.isabs(args.build) else os.path.join(ROOT, args.build)
    bench = os.path.join(build, "control/health/health-bench")
    responder = os.path.join(build, "control/health/health-responder")
    for b in (bench, responder):
        if not os.access(b, os.X_OK):
            sys.exit(f"health_bench: {b} missing: ninja -C {args.build} control/health/health-bench "
                     "control/health/health-responder")
    if os.geteuid() != 0:
        sys.exit("health_bench: needs root (network namespace)")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    types = [t for t in args.types.split(",") if t]
    if max(sizes) > 65000:
        sys.exit("health_bench: at most 65000 backends (198.18.0.0/16)")

    # SIGTERM (a time limit, a CI kill) unwinds like Ctrl-C: the namespace
    # and the responder go in the `finally` below.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    ns = f"sluice-hb-{os.getpid()}"
    nice = ["nice", "-n", str(args.nice)] if args.nice else []
    resp = None
    results = []
    run(["ip", "netns", "add", ns])
    try:
        run(netns_exec(ns, ["ip", "link", "set", "lo", "up"]))
        run(netns_exec(ns, ["ip", "route", "add", "local", "198.18.0.0/16", "dev", "lo"]))
        for t in types:
            for n in sizes:
                # A fresh responder for each case: no case inherits another's
                # backlog or sockets.
                resp = start_responder(ns, nice, args, responder)
                cmd = [bench, "--type", t, "--targets", str(n), "--interval-ms", str(args.interval_ms),
                       "--timeout-ms", str(args.timeout_ms), "--duration-s", str(args.duration),
                       "--cpu", str(args.checker_cpu), "--port", str(args.port), "--base", "198.18.0.1",
                       "--path", "/health"]
                limit = args.duration + 3 * args.interval_ms / 1000 + 60
                print(f"health_bench: {t} x {n} ...", file=sys.stderr, flush=True)
                b = subprocess.Popen(netns_exec(ns, nice + cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True)
                boost(b, args.nice)
                try:
                    out, err = b.communicate(timeout=limit)
                except subprocess.TimeoutExpired:
                    b.kill()
                    b.communicate()
                    raise RuntimeError(f"health-bench {t} x {n} did not finish in {limit:.0f} s")
                if b.returncode != 0:
                    raise RuntimeError(f"health-bench {t} x {n} failed ({b.returncode}): {err.strip()}")
                r = json.loads(out.strip().splitlines()[-1])
                stop_responder(resp)
                resp = None
                results.append(r)
                time.sleep(1)
    finally:
        if resp is not None:
            stop_responder(resp)
        subprocess.run(["ip", "netns", "del", ns], check=False)

    hdr = ("type", "backends", "probes/s", "failures", "timeouts", "checker CPU s", "% of 1 core",
           "us CPU/probe", "p50 us", "p99 us", "runq wait s")
    rows = [(r["type"], r["targets"], f'{r["probes_per_s"]:.0f}', r["failures"], r["timeouts"], f'{r["cpu_s"]:.2f}',
             f'{r["cpu_pct_one_core"]:.1f}', f'{r["cpu_us_per_probe"]:.1f}', f'{r["latency_us_p50"]:.0f}',
             f'{r["latency_us_p99"]:.0f}', f'{r["runq_wait_s"]:.2f}') for r in results]
    widths = [max(len(str(x)) for x in col) for col in zip(hdr, *rows)]
    for row in [hdr] + rows:
        print("  ".join(str(x).rjust(w) for x, w in zip(row, widths)))
    doc = {
        "what": "health checker CPU (one thread) vs backend count, local responder in a netns",
        "command": " ".join([sys.executable] + sys.argv),
        "interval_ms": args.interval_ms,
        "window_s": args.duration,
        "nice": args.nice,
        "host": {"cpus": os.cpu_count(), "kernel": platform.release(), "loadavg_at_end": os.getloadavg()},
        "cases": results,
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        print(f"health_bench: wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
