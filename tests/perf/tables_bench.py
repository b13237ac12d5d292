"""The table-update step of tests/perf/bench.py (issue 7): how long route
changes take to reach the workers on a full-size table, what memory they
need, and what they cost forwarding.

    python3 tests/perf/bench.py --only tables          # just this step, merged into docs/perf.json
    python3 tests/perf/bench.py --only tables --quick  # 10^5 routes, short churn

Two binaries of the release build do the measuring (sources and what they
print: tests/perf/micro/bench_tables.cpp and bench_churn.cpp); this module
generates their inputs, runs them and keeps their JSON:

- bench_tables, per table: a full load (file to published tables), batches
  of 1, 1 000 and 100 000 route changes, and a reload of a copy of the file
  in which 1 000 routes differ (and back again). Tables: IPv4 10^6 routes,
  IPv6 at the default-free zone's size (220 000) and at 10^6 when the
  machine has the memory (see V6_KIB_PER_ROUTE).
- bench_churn: one lcore forwarding over the IPv4 table while another
  applies 10 000 route changes a second; rates with and without changes and
  the count of sampled packets sent to a stale or wrong gateway.

Tables come from tests/perf/route_table.py (BGP-like prefix-length mix over
the whole unicast space, 5% ECMP routes), cached in the work directory under
a name made of the generator's arguments and a hash of the generator itself.
Configs use net_null ports only (nothing is ever sent).
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GENERATOR = os.path.join(HERE, "route_table.py")

GATEWAYS = {"v4": ["198.18.1.2", "198.18.1.3", "198.18.1.4", "198.18.1.5"],
            "v6": ["2001:db8:fffe:1::2", "2001:db8:fffe:1::3", "2001:db8:fffe:1::4", "2001:db8:fffe:1::5"]}
ECMP_SHARE = 0.05
# Of the changed copy's routes (route_table.py's defaults): deleted, added;
# the rest change next hop.
DELETE_SHARE, ADD_SHARE = 0.2, 0.2

# Per mode: tables (family, routes), change batches, routes changed in the
# reload copy, and the churn profile. 220 000 is about the IPv6 default-free
# table today ("BGP in 2024", APNIC Labs); 10^6 is what the issue asks.
MODES = {
    "full": {"tables": [("v4", 1000000), ("v6", 220000), ("v6", 1000000)], "changes": [1, 1000, 100000],
             "reload_changes": 1000, "churn": {"routes": 1000000, "rate": 10000, "seconds": 3, "rounds": 3}},
    "quick": {"tables": [("v4", 100000), ("v6", 100000)], "changes": [1, 1000, 10000],
              "reload_changes": 1000, "churn": {"routes": 100000, "rate": 10000, "seconds": 1, "rounds": 2}},
    "smoke": {"tables": [("v4", 10000), ("v6", 10000)], "changes": [1, 100],
              "reload_changes": 100, "churn": {"routes": 10000, "rate": 10000, "seconds": 1, "rounds": 1}},
}

# Peak resident memory to expect, for the check before a run (measured:
# about 8.5 GB for 10^6 sparse IPv6 routes in the two FIB copies, DPDK's
# trie spending 1 KiB per tbl8 group and a sparse /48 about three groups;
# IPv4's DIR-24-8 needs 2 x 64 MiB of tbl24 and little per route).
V6_KIB_PER_ROUTE = 9.0
V4_KIB_PER_ROUTE = 1.0
BASE_MIB = 512
HEADROOM_MIB = 1024
# The binaries give DPDK this much (--no-huge -m 12288).
EAL_MIB = 12288


def human(n):
    return f"{n:,}".replace(",", " ")


def expected_peak_mib(family, routes):
    per = V6_KIB_PER_ROUTE if family == "v6" else V4_KIB_PER_ROUTE
    return int(BASE_MIB + routes * per / 1024)


def mem_available_mib():
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def generator_hash():
    with open(GENERATOR, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:10]


class Tables:
    """Route files and configs for one (family, routes, reload changes)."""

    def __init__(self, workdir, family, routes, reload_changes):
        self.family, self.routes, self.reload_changes = family, routes, reload_changes
        key = f"{family}-{routes}-gw{len(GATEWAYS[family])}-ecmp{ECMP_SHARE}-chg{reload_changes}-{generator_hash()}"
        self.dir = os.path.join(workdir, "tables")
        self.routes_path = os.path.join(self.dir, key + ".txt")
        self.changed_path = os.path.join(self.dir, key + "-changed.txt")
        self.meta_path = os.path.join(self.dir, key + ".json")  # written last: the cache is complete
        self.cfg = os.path.join(self.dir, key + ".yaml")
        self.changed_cfg = os.path.join(self.dir, key + "-changed.yaml")

    def generate_cmd(self, routes_out, changed_out):
        return [sys.executable, GENERATOR, self.family, str(self.routes), routes_out,
                "--gateways", ",".join(GATEWAYS[self.family]), "--ecmp-share", str(ECMP_SHARE),
                "--changed-copy", changed_out, "--changes", str(self.reload_changes),
                "--delete-share", str(DELETE_SHARE), "--add-share", str(ADD_SHARE)]

    def ensure(self, log):
        """Generates the route files unless cached; returns their metadata."""
        os.makedirs(self.dir, exist_ok=True)
        try:
            if os.path.exists(self.routes_path) and os.path.exists(self.changed_path):
                return json.load(open(self.meta_path))
        except (OSError, ValueError):
            pass
        log(f"tables: generating {self.family} {human(self.routes)} routes (cached in {self.dir})")
        tmp_r, tmp_c = self.routes_path + ".tmp", self.changed_path + ".tmp"
        t0 = time.monotonic()
        p = subprocess.run(self.generate_cmd(tmp_r, tmp_c), capture_output=True, text=True, timeout=3600)
        if p.returncode != 0:
            raise RuntimeError(f"route_table.py failed: {p.stderr[-1000:]}")
        m = re.search(r"(\d+) next hops changed, (\d+) deleted, (\d+) added", p.stderr)
        meta = {"generate_seconds": round(time.monotonic() - t0, 1),
                "reload_copy": {"next_hop_changed": int(m.group(1)), "deleted": int(m.group(2)),
                                "added": int(m.group(3))} if m else None}
        os.replace(tmp_r, self.routes_path)
        os.replace(tmp_c, self.changed_path)
        with open(self.meta_path, "w") as f:
            json.dump(meta, f)
        return meta

    def write_configs(self):
        for cfg, routes in ((self.cfg, self.routes_path), (self.changed_cfg, self.changed_path)):
            write_config(cfg, self.family, os.path.basename(routes))


def write_config(path, family, routes_file):
    """Two net_null ports; the gateways sit on p1's subnet. Route files are
    relative to the config's directory."""
    v6 = family == "v6"
    a0 = '["198.18.0.1/24", "2001:db8:fffe::1/64"]' if v6 else '["198.18.0.1/24"]'
    a1 = '["198.18.1.1/24", "2001:db8:fffe:1::1/64"]' if v6 else '["198.18.1.1/24"]'
    with open(path, "w") as f:
        f.write("# Generated by tests/perf/tables_bench.py: a benchmark config for bench_tables and\n"
                "# bench_churn (net_null ports; nothing is ever sent).\n"
                "ports:\n"
                f"  - name: p0\n    device: net_null0\n    addresses: {a0}\n"
                f"  - name: p1\n    device: net_null1\n    addresses: {a1}\n"
                f'route_files: ["{routes_file}"]\n')


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def run_binary(cmd, timeout, log_path):
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        out, err, rc = p.stdout, p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err, rc = f"timed out after {timeout} s", None
    with open(log_path, "w") as f:
        f.write(" ".join(cmd) + "\n--- stdout\n" + out + "\n--- stderr\n" + err)
    return last_json(out), rc, err, round(time.monotonic() - t0, 1)


def step_label(name, t):
    """bench_tables names reload steps by config path; the report wants roles."""
    if name == "reload " + t.changed_cfg:
        return "reload changed copy"
    if name == "reload " + t.cfg:
        return "reload original"
    return name


def run(build_dir, workdir, mode, log, dry_run=False):
    """Runs the step; returns the record for perf.json's "tables" key."""
    plan = MODES[mode]
    exe_tables = os.path.join(build_dir, "tests/perf/bench_tables")
    exe_churn = os.path.join(build_dir, "tests/perf/bench_churn")
    rec = {"mode": mode, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "generator": "tests/perf/route_table.py", "ecmp_share": ECMP_SHARE, "gateways": GATEWAYS,
           "mem_available_mib": mem_available_mib(), "runs": [], "churn": None}
    logs = os.path.join(workdir, "tables-logs")
    os.makedirs(logs, exist_ok=True)
    if not dry_run:
        for exe in (exe_tables, exe_churn):
            if not os.path.exists(exe):
                rec["error"] = f"{exe} missing: build {build_dir}"
                return rec

    changes = ",".join(str(c) for c in plan["changes"])
    tables = {}
    for fam, n in plan["tables"]:
        run_rec = {"family": fam, "routes": n, "mix": "BGP-like", "changes": plan["changes"],
                   "reload_changes": plan["reload_changes"]}
        rec["runs"].append(run_rec)
        t = Tables(workdir, fam, n, plan["reload_changes"])
        cmd = [exe_tables, "--config", t.cfg, "--reload-config", t.changed_cfg, "--changes", changes]
        if dry_run:
            print(" ".join(t.generate_cmd(t.routes_path, t.changed_path)))
            print(" ".join(cmd))
            tables[(fam, n)] = t
            continue
        need = expected_peak_mib(fam, n)
        avail = mem_available_mib()
        run_rec["expected_peak_mib"] = need
        if need > EAL_MIB or (avail is not None and avail < need + HEADROOM_MIB):
            run_rec["skipped"] = (f"needs about {need} MiB at peak (plus {HEADROOM_MIB} MiB headroom); "
                                  f"MemAvailable was {avail} MiB" if need <= EAL_MIB else
                                  f"needs about {need} MiB, more than the binaries' EAL memory ({EAL_MIB} MiB)")
            log(f"tables: {fam} {human(n)} routes skipped: {run_rec['skipped']}")
            continue
        try:
            meta = t.ensure(log)
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
            run_rec["error"] = str(e)
            continue
        run_rec["reload_copy"] = meta.get("reload_copy")
        t.write_configs()
        tables[(fam, n)] = t
        log(f"tables: bench_tables {fam} {human(n)} routes, changes {changes}, reload copy")
        res, rc, err, wall = run_binary(cmd, 3600, os.path.join(logs, f"bench_tables-{fam}-{n}.log"))
        run_rec["wall_seconds"] = wall
        if rc != 0 or not res:
            run_rec["error"] = f"bench_tables exit {rc}: {err.strip()[-1500:]}"
            log(f"  ERROR {run_rec['error']}")
            continue
        steps = res.get("steps", [])
        for s in steps:
            s["name"] = step_label(s["name"], t)
        run_rec["loaded_routes"] = res.get("routes")
        run_rec["steps"] = steps
        for s in steps:
            log(f"  {s['name']:<20} {s['changes']:>8} changes {s['fib_ops']:>8} FIB writes "
                f"{s['visible_ms']:>9.1f} ms visible {s['done_ms']:>9.1f} ms done {s['peak_rss_mib']:>7.0f} MiB"
                + (" (rebuilt)" if s.get("rebuilt") else ""))

    c = dict(plan["churn"])
    rec["churn"] = c
    t = tables.get(("v4", c["routes"]))
    if t is None:
        c["error"] = f"no v4 table of {c['routes']} routes (its bench_tables run failed or was skipped)"
        return finish(rec)
    cmd = [exe_churn, "--config", t.cfg, "--rate", str(c["rate"]), "--seconds", str(c["seconds"]),
           "--rounds", str(c["rounds"])]
    if dry_run:
        print(" ".join(cmd))
        return finish(rec)
    log(f"tables: bench_churn v4 {human(c['routes'])} routes, {c['rate']} changes/s, "
        f"{c['rounds']} rounds of {c['seconds']} s quiet + {c['seconds']} s with changes")
    res, rc, err, wall = run_binary(cmd, 1800, os.path.join(logs, f"bench_churn-v4-{c['routes']}.log"))
    c["wall_seconds"] = wall
    c["returncode"] = rc
    if not res:
        c["error"] = f"bench_churn exit {rc}: {err.strip()[-1500:]}"
        log(f"  ERROR {c['error']}")
        return finish(rec)
    c["result"] = res
    if rc != 0:  # 3: stale or wrong samples (still a result)
        c["error"] = f"bench_churn exit {rc}" + (": stale or wrong next hops seen" if rc == 3 else "")
    log(f"  {res['mpps_quiet']:.2f} Mpps quiet, {res['mpps_churn']:.2f} with changes (ratio {res['ratio_median']:.3f}); "
        f"{res['changes']} changes; {res['samples_checked']} samples checked, {res['stale']} stale, "
        f"{res['wrong']} wrong")
    return finish(rec)


def finish(rec):
    rec["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return rec
