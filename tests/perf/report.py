#!/usr/bin/env python3
"""Render tests/perf/results.json (written by tests/perf/bench.py).

    python3 tests/perf/report.py [--results FILE] [PLOT.png]

Prints a markdown table to stdout: Mpps per contender and profile, our ratio
to the better l3fwd mode (LPM or FIB) and to testpmd io forward (the
ceiling: no lookup at all). With PLOT.png, also draws a grouped bar chart
(matplotlib).
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CONTENDERS = ["ours", "l3fwd-lpm", "l3fwd-fib", "testpmd"]
LABELS = {"ours": "sluice", "l3fwd-lpm": "l3fwd LPM", "l3fwd-fib": "l3fwd FIB", "testpmd": "testpmd io"}


def human(n):
    return {1: "1", 1000: "1k", 1000000: "1M"}.get(n, str(n))


def load(path):
    data = json.load(open(path))
    rows = {}  # (family, prefixes, flows) -> contender -> record
    for r in data["results"]:
        rows.setdefault((r["family"], r["prefixes"], r["flows"]), {})[r["contender"]] = r
    return data.get("meta", {}), rows


def cell(rec):
    if rec is None:
        return "—"
    if rec.get("mpps") is not None:
        return f"{rec['mpps']:.2f}"
    if "skipped" in rec:
        return "n/a¹"
    return "fail²"


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "—"


def table(meta, rows):
    out = []
    if meta:
        out.append(f"Mpps, median of {meta.get('seconds')} one-second samples after {meta.get('warmup')} s "
                   f"warm-up; one forwarding lcore; CPU: {meta.get('cpu', '?')}.")
        out.append(f"IPv4 destinations {meta.get('v4_scheme')}, IPv6 {meta.get('v6_scheme')} "
                   "(net_null only).\n")
    present = [c for c in CONTENDERS if any(c in r for r in rows.values())]
    head = ["family", "prefixes", "flows"] + [LABELS[c] for c in present]
    if "ours" in present:
        head += ["sluice / best l3fwd", "sluice / testpmd"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join("---" for _ in head) + "|")
    notes = []
    for key in sorted(rows, key=lambda k: (k[0], k[1], k[2])):
        rec = rows[key]
        line = [key[0], human(key[1]), human(key[2])] + [cell(rec.get(c)) for c in present]
        if "ours" in present:
            m = lambda c: (rec.get(c) or {}).get("mpps")
            best = max([x for x in (m("l3fwd-lpm"), m("l3fwd-fib")) if x] or [0])
            line += [ratio(m("ours"), best), ratio(m("ours"), m("testpmd"))]
        out.append("| " + " | ".join(line) + " |")
        for c in present:
            r = rec.get(c)
            if r and r.get("mpps") is None:
                notes.append(f"- {LABELS[c]} {key[0]} {human(key[1])} prefixes {human(key[2])} flows: "
                             + (r.get("skipped") or r.get("error", "?")))
    if notes:
        out.append("\n¹ skipped (known limit), ² failed:\n" + "\n".join(notes))
    return "\n".join(out)


def plot(rows, path):
    try:
        import matplotlib
    except ImportError:
        print("matplotlib missing: apt-get install -y python3-matplotlib", file=sys.stderr)
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted(rows, key=lambda k: (k[0], k[1], k[2]))
    present = [c for c in CONTENDERS if any(c in r for r in rows.values())]
    width = 0.8 / max(1, len(present))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(keys) + 2), 4.5))
    for j, c in enumerate(present):
        xs = [i + (j - (len(present) - 1) / 2) * width for i in range(len(keys))]
        ys = [((rows[k].get(c) or {}).get("mpps") or 0) for k in keys]
        ax.bar(xs, ys, width, label=LABELS[c])
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([f"{k[0]}\n{human(k[1])} pfx\n{human(k[2])} flows" for k in keys], fontsize=8)
    ax.set_ylabel("Mpps (one lcore)")
    ax.set_title("Forwarding rate, net_null + trafficgen shim")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--no-table", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("plot", nargs="?", help="PNG path for the bar chart")
    a = ap.parse_args()
    meta, rows = load(a.results)
    if not a.no_table:
        print(table(meta, rows))
    if a.plot:
        if "matplotlib" not in sys.modules:
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                # pyenv/venv interpreters may lack it while Debian's python3-matplotlib is there
                if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
                    sys.exit(subprocess.call(["/usr/bin/python3", os.path.abspath(__file__), "--no-table",
                                              "--results", a.results, a.plot]))
        if not plot(rows, a.plot):
            sys.exit(1)
        print(f"plot written to {a.plot}", file=sys.stderr)


if __name__ == "__main__":
    main()
