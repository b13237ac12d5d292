#!/usr/bin/env python3
"""Render docs/perf.json (written by tests/perf/bench.py) as docs/perf.md
and a bar chart.

    python3 tests/perf/report.py [--results FILE] [--markdown docs/perf.md] [--plot docs/perf.png]

Without --markdown the page goes to stdout.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CONTENDERS = ["ours", "ours-swcsum", "l3fwd-lpm", "l3fwd-fib", "testpmd"]
LABELS = {"ours": "sluice", "ours-swcsum": "sluice, sw checksum", "l3fwd-lpm": "l3fwd LPM", "l3fwd-fib": "l3fwd FIB",
          "testpmd": "testpmd io"}


def human(n):
    return {1: "1", 1000: "1k", 1000000: "1M"}.get(n, str(n))


RATIOS = {}  # (family, prefixes, flows, vs) -> median of per-round ratios


def load(path):
    data = json.load(open(path))
    rows = {}  # (family, prefixes, flows) -> contender -> record
    for r in data["results"]:
        rows.setdefault((r["family"], r["prefixes"], r["flows"]), {})[r["contender"]] = r
    for r in data.get("ratios") or []:
        RATIOS[(r["family"], r["prefixes"], r["flows"], r["vs"])] = r["median"]
    return data, rows


def ours_vs(rows, key, other):
    """sluice / other for one profile: the median of the per-round ratios
    (each pair measured minutes apart), else the ratio of the medians."""
    r = RATIOS.get(key + (other,))
    return r if r is not None else ratio(mpps(rows, key, "ours"), mpps(rows, key, other))


def ours_vs_best_l3fwd(rows, key):
    vals = [x for x in (ours_vs(rows, key, "l3fwd-lpm"), ours_vs(rows, key, "l3fwd-fib")) if x]
    return min(vals) if vals else None


def mpps(rows, key, c):
    return ((rows.get(key) or {}).get(c) or {}).get("mpps")


def fmt(x, nd=2):
    return "—" if x is None else f"{x:.{nd}f}"


def ratio(a, b):
    return a / b if a and b else None


def cell(rec):
    if rec is None:
        return "—"
    if rec.get("mpps") is not None:
        return f"{rec['mpps']:.2f}"
    return "n/a" if "skipped" in rec else "fail"


def present(rows):
    return [c for c in CONTENDERS if any(c in r for r in rows.values())]


# Routing targets against the faster l3fwd mode of each profile (issue 11):
# at least 1.0x everywhere, 1.2x where the profile allows it.
ROUTE_TARGET, ROUTE_STRETCH = 1.0, 1.2


def target_reached(r):
    if r is None:
        return "—"
    if r >= ROUTE_STRETCH:
        return "1.2x reached"
    if r >= ROUTE_TARGET:
        return "1.0x reached"
    return "not reached"


def throughput_table(rows):
    pres = present(rows)
    head = ["family", "prefixes", "flows"] + [LABELS[c] for c in pres]
    if "ours" in pres:
        head += ["sluice / best l3fwd", "target", "sluice / testpmd"]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    notes = []
    for key in sorted(rows):
        rec = rows[key]
        line = [key[0], human(key[1]), human(key[2])] + [cell(rec.get(c)) for c in pres]
        if "ours" in pres:
            line += [fmt(ours_vs_best_l3fwd(rows, key)), target_reached(ours_vs_best_l3fwd(rows, key)),
                     fmt(ours_vs(rows, key, "testpmd"))]
        out.append("| " + " | ".join(line) + " |")
        for c in pres:
            r = rec.get(c)
            if r and r.get("mpps") is None:
                why = r.get("skipped") or r.get("error", "?")
                notes.append(f"- {LABELS[c]}, {key[0]} {human(key[1])} prefixes, {human(key[2])} flows: {why}")
    if notes:
        out.append("\nNot measured (n/a: skipped at a known limit; fail: see the message):\n")
        out += sorted(set(notes))
    return "\n".join(out)


def scaling_table(rows):
    """How each contender's rate moves from the smallest to the largest
    prefix count (at each flow count) and flow count (at each prefix count)."""
    pres = present(rows)
    fams = sorted({k[0] for k in rows})
    pfx = sorted({k[1] for k in rows})
    flows = sorted({k[2] for k in rows})
    out = []
    if len(pfx) > 1:
        out.append(f"Rate at {human(pfx[-1])} prefixes relative to {human(pfx[0])} prefix(es), same flows "
                   "(1.00 = no change; below 1 = slower):\n")
        head = ["family", "flows"] + [LABELS[c] for c in pres]
        out += ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        for f in fams:
            for fl in flows:
                out.append("| " + " | ".join([f, human(fl)] + [
                    fmt(ratio(mpps(rows, (f, pfx[-1], fl), c), mpps(rows, (f, pfx[0], fl), c))) for c in pres]) + " |")
        out.append("")
    if len(flows) > 1:
        out.append(f"Rate at {human(flows[-1])} flows relative to {human(flows[0])} flow(s), same prefixes:\n")
        head = ["family", "prefixes"] + [LABELS[c] for c in pres]
        out += ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        for f in fams:
            for p in pfx:
                out.append("| " + " | ".join([f, human(p)] + [
                    fmt(ratio(mpps(rows, (f, p, flows[-1]), c), mpps(rows, (f, p, flows[0]), c))) for c in pres]) + " |")
    return "\n".join(out)


def targets(rows):
    """The figures issue 3 asks for, computed from the grid."""
    out = []
    v4 = [k for k in rows if k[0] == "v4"]
    r_l3 = [ours_vs(rows, k, "l3fwd-lpm") for k in v4]
    r_best = [ours_vs_best_l3fwd(rows, k) for k in v4]
    r_tp = [ours_vs(rows, k, "testpmd") for k in v4]
    r_sw = [ratio(mpps(rows, k, "ours-swcsum"), mpps(rows, k, "l3fwd-lpm")) for k in v4]
    for name, vals in (("sluice / l3fwd LPM, IPv4", r_l3), ("sluice / best l3fwd mode, IPv4", r_best),
                       ("sluice / testpmd io, IPv4", r_tp),
                       ("sluice with software checksum (no NIC verdict) / l3fwd LPM, IPv4", r_sw)):
        vals = [v for v in vals if v]
        if vals:
            out.append(f"- {name}: min {min(vals):.2f}, median {statistics.median(vals):.2f}, max {max(vals):.2f} "
                       f"over {len(vals)} profiles")
    v6 = [k for k in rows if k[0] == "v6"]
    r6 = [v for v in (ours_vs_best_l3fwd(rows, k) for k in v6) if v]
    if r6:
        out.append(f"- sluice / best l3fwd mode, IPv6: min {min(r6):.2f}, median {statistics.median(r6):.2f}, "
                   f"max {max(r6):.2f} over {len(r6)} profiles")
    # Per family: how many profiles reach the routing targets.
    for fam in ("v4", "v6"):
        vals = {k: ours_vs_best_l3fwd(rows, k) for k in rows if k[0] == fam}
        vals = {k: v for k, v in vals.items() if v}
        if vals:
            hit = sum(v >= ROUTE_TARGET for v in vals.values())
            stretch = sum(v >= ROUTE_STRETCH for v in vals.values())
            missed = ", ".join(f"{human(k[1])} prefixes x {human(k[2])} flows ({vals[k]:.2f})"
                               for k in sorted(vals) if vals[k] < ROUTE_TARGET)
            out.append(f"- {fam}: sluice / the faster of l3fwd LPM and FIB at least {ROUTE_TARGET:.1f} in {hit} of "
                       f"{len(vals)} profiles, at least {ROUTE_STRETCH:.1f} in {stretch} (targets: 1.0 everywhere, 1.2 "
                       f"where the profile allows)" + (f"; below 1.0: {missed}" if missed else ""))
    # Our worst drop across the grid, per family: from the best profile to the worst.
    for fam in sorted({k[0] for k in rows}):
        vals = {k: mpps(rows, k, "ours") for k in rows if k[0] == fam and mpps(rows, k, "ours")}
        if len(vals) > 1:
            hi = max(vals, key=vals.get)
            lo = min(vals, key=vals.get)
            drop = 1 - vals[lo] / vals[hi]
            out.append(f"- sluice {fam}, whole grid: {vals[lo]:.2f} Mpps at its slowest ({human(lo[1])} prefixes, "
                       f"{human(lo[2])} flows) vs {vals[hi]:.2f} at its fastest ({human(hi[1])}, {human(hi[2])}): "
                       f"a drop of {100 * drop:.1f}% (target: under 20%)")
    return "\n".join(out)


def callgrind_section(data):
    cg = data.get("callgrind") or []
    if not cg:
        return "Not run (`--no-callgrind`, `--quick` or `--smoke`)."
    out = ["| family | prefixes | flows | contender | instructions / packet | without the source | the source's share |",
           "|---|---|---|---|---|---|---|"]
    for r in cg:
        if "ipp" in r:
            out.append(f"| {r['family']} | {human(r['prefixes'])} | {human(r['flows'])} | {LABELS[r['contender']]} | "
                       f"{r['ipp']:.1f} | {r['ipp_without_source']:.1f} | {r['source_ipp']:.1f} |")
        else:
            out.append(f"| {r['family']} | {human(r['prefixes'])} | {human(r['flows'])} | {LABELS[r['contender']]} | "
                       f"fail: {r.get('error')} | | |")
    out += sim_table(data, cg)
    for r in cg:
        if r.get("breakdown"):
            out.append(f"\n{LABELS[r['contender']]}: the forwarding thread, {r['family']} {human(r['prefixes'])} "
                       f"prefixes {human(r['flows'])} flows, heaviest functions (self instructions per packet):\n")
            out.append("| function | object | instructions / packet |")
            out.append("|---|---|---|")
            for b in r["breakdown"]:
                fn = b["fn"].split(" [")[0]
                if not fn and "trafficgen" in b["obj"]:
                    fn = "rx_fill (the traffic source)"
                if fn.startswith("0x"):
                    fn += " (no symbol: a stripped DPDK library)"
                out.append(f"| `{fn[:60]}` | {b['obj']} | {b['ipp']:.1f} |")
    return "\n".join(out)


def sim_note(data, recs):
    """Where the miss counts come from, and the caches valgrind simulated."""
    caches = next((r["sim_caches"] for r in recs if r.get("sim_caches")), None)
    hw = (data.get("meta") or {}).get("hardware_counters")
    return ("Cache and branch misses from callgrind's simulation (`--cache-sim=yes --branch-sim=yes`, in the same "
            "runs as the instruction counts), per packet, the whole forwarding thread with the source: "
            + ("this machine exposes no hardware counters to `perf stat` (`/sys/bus/event_source/devices` has no "
               "`cpu`). " if hw is False else
               "`perf stat` is not run by the benchmark. " if hw else "")
            + "The simulated caches are " + ("; ".join(c.rstrip(".") for c in caches) if caches else "valgrind's")
            + " (the host's sizes as valgrind reads them); the branch predictor is valgrind's "
            "simple model, not this CPU's, so its misses rank code, they do not predict cycles.")


def sim_table(data, cg):
    rows = [r for r in cg if r.get("sim")]
    if not rows:
        return []
    out = ["\n" + sim_note(data, rows) + "\n",
           "| family | prefixes | flows | contender | loads | stores | L1 data misses | LL misses | "
           "branches | branch misses |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        x = r["sim"]
        out.append(f"| {r['family']} | {human(r['prefixes'])} | {human(r['flows'])} | {LABELS[r['contender']]} | "
                   f"{x['loads']:.1f} | {x['stores']:.1f} | {x['d1_misses']:.2f} | {x['ll_misses']:.3f} | "
                   f"{x['branches']:.1f} | {x['branch_misses']:.2f} |")
    return out


def gap_rows(rows, data):
    """The routing profiles below the 1.0x target, each with what explains it:
    the instruction ratio and simulated misses of the callgrind profile,
    whether the profile shares its regime (no more prefixes: tables in the
    caches), and how far two runs of ordered work disagreed in it."""
    cg = {(r["family"], r["contender"]): r for r in data.get("callgrind") or [] if "ipp" in r}
    out = []
    for key in sorted(rows):
        fam, n, fl = key
        best = ours_vs_best_l3fwd(rows, key)
        if best is None or best >= ROUTE_TARGET:
            continue
        vs = min((c for c in ("l3fwd-lpm", "l3fwd-fib") if ours_vs(rows, key, c) is not None),
                 key=lambda c: ours_vs(rows, key, c))
        per_round = next((r["per_round"] for r in data.get("ratios") or []
                          if (r["family"], r["prefixes"], r["flows"], r["vs"]) == key + (vs,)), [])
        o, t = cg.get((fam, "ours")), cg.get((fam, vs))
        pred = ratio(t["ipp"], o["ipp"]) if o and t else None
        miss = (f"{o['sim']['d1_misses']:.1f} / {t['sim']['d1_misses']:.1f}"
                if o and t and o.get("sim") and t.get("sim") else "—")
        sw = ratio(mpps(rows, key, "ours-swcsum"), mpps(rows, key, "ours"))
        cached = bool(o) and n <= o["prefixes"]
        out.append((fam, n, fl, vs, best, per_round, pred, miss, sw, cached))
    return out


def gap_section(rows, data):
    g = gap_rows(rows, data)
    if not g:
        return ""
    cgp = next((r for r in data.get("callgrind") or [] if "ipp" in r), None)
    where = f"{human(cgp['prefixes'])} prefixes x {human(cgp['flows'])} flows" if cgp else "?"
    out = ["Every profile below the 1.0x target, against the l3fwd mode it trails. *Instructions predict*: that "
           f"l3fwd's instructions per packet over sluice's, both with the source, from the callgrind profile "
           f"({where}); above 1.0 sluice does fewer. *L1 data misses*: simulated, per packet, sluice / that "
           "l3fwd, same runs. *Regime*: a profile with no more prefixes than the callgrind profile has every "
           "table in the caches, as the callgrind profile does, so its instructions are what its rate should "
           "follow; with more prefixes the tables leave the caches and the callgrind profile neither counts "
           "nor simulates the misses that decide the rate. *sw checksum / sluice*: the rate of sluice verifying "
           "the IPv4 checksum in software (strictly more work) over sluice's, same profile and run; above 1.0 "
           "the run's spread is larger than that work.\n",
           "| family | prefixes | flows | vs | sluice / it (median) | per round | instructions predict | "
           "L1 data misses | regime | sw checksum / sluice |", "|---|---|---|---|---|---|---|---|---|---|"]
    for fam, n, fl, vs, best, pr, pred, miss, sw, cached in g:
        out.append(f"| {fam} | {human(n)} | {human(fl)} | {LABELS[vs]} | {best:.2f} | "
                   f"{', '.join(f'{x:.2f}' for x in pr) or '—'} | {fmt(pred)} | {miss} | "
                   f"{'tables in the caches' if cached else 'tables beyond the caches'} | {fmt(sw)} |")
    return "\n".join(out)


def regime_text(cg):
    """What the simulated misses of the callgrind profiles say about what
    bounds the small-table loop, from the figures themselves."""
    sims = {k: r["sim"] for k, r in cg.items() if r.get("sim") and k[1] in ("ours", "l3fwd-lpm", "l3fwd-fib")}
    if not sims:
        return ("Misses were not simulated in this run, so what bounds the loop at small tables is not "
                "measured here.")
    ll = max(x["ll_misses"] for x in sims.values())
    fewest = all(sims[k]["d1_misses"] <= min(x["d1_misses"] for kk, x in sims.items() if kk[0] == k[0])
                 for k in sims if k[1] == "ours")
    text = (f"In the callgrind profiles the simulated LL misses are at most {ll:.3f} per packet for every "
            "contender" + (" and sluice has the fewest L1 data misses in each family" if fewest else "") + ": ")
    if ll < 0.05:
        text += ("the tables sit in the caches, so the instructions are what the code controls. Where the "
                 "measured ratio strays from what they predict, see the profiles below the target, after this "
                 "list.")
    else:
        text += "memory matters even in this profile; the rates then also depend on the misses."
    return text


def cycles_section(data, rows=None):
    """Where sluice's extra instructions go, from the callgrind runs."""
    cg = {(r["family"], r["contender"]): r for r in data.get("callgrind") or [] if "ipp" in r}
    out = []
    rows = rows or {}
    for fam in ("v4", "v6"):
        ours, lpm, tp = cg.get((fam, "ours")), cg.get((fam, "l3fwd-lpm")), cg.get((fam, "testpmd"))
        if not (ours and lpm and tp):
            continue
        io = tp["ipp_without_source"]
        out.append(f"- {fam}: without the source, testpmd's {io:.0f} instructions per packet are the I/O floor "
                   f"every contender pays (net_null RX and TX, mempool, `__tls_get_addr` for the per-lcore "
                   f"cache). On top of it l3fwd LPM spends {lpm['ipp_without_source'] - io:.0f} and sluice "
                   f"{ours['ipp_without_source'] - io:.0f}"
                   + (f" ({cg[(fam, 'ours-swcsum')]['ipp_without_source'] - io:.0f} when it verifies the checksum "
                      "in software)" if (fam, "ours-swcsum") in cg else "") + ".")
        fib = cg.get((fam, "l3fwd-fib"))
        ls = [x for x in (lpm, fib) if x]
        pred = min(x["ipp"] for x in ls) / ours["ipp"]
        key = (fam, ours["prefixes"], ours["flows"])
        meas = ours_vs_best_l3fwd(rows, key)
        sims = [(LABELS[c], cg[(fam, c)]["sim"]) for c in ("ours", "l3fwd-lpm", "l3fwd-fib")
                if (fam, c) in cg and cg[(fam, c)].get("sim")]
        out.append(f"  At {human(key[1])} prefixes x {human(key[2])} flows, with the source: sluice "
                   f"{ours['ipp']:.1f} instructions per packet, l3fwd LPM {lpm['ipp']:.1f}"
                   + (f", l3fwd FIB {fib['ipp']:.1f}" if fib else "")
                   + f"; the instructions predict {pred:.2f}x the faster l3fwd"
                   + (f", the rates measured {meas:.2f}x" if meas else "") + "."
                   + (" Simulated per packet (L1 data misses, LL misses, branch misses): "
                      + "; ".join(f"{lab} {x['d1_misses']:.2f}, {x['ll_misses']:.3f}, {x['branch_misses']:.2f}"
                                  for lab, x in sims) + "." if sims else ""))
    if not out:
        return "Needs the callgrind runs (the full command)."
    out.append("""
What sluice does per packet that l3fwd does not, and roughly what it costs
(instructions, from `callgrind_annotate --auto=yes` of the forwarding thread):
the destination MAC check (about 5), the IPv4 source and destination class
checks (3, one table load each), the checksum verdict or the software check
(3, or about 14 with the divisibility test), the MTU check (2-4), the
neighbor word and its validity bit (5), the TTL check before the rewrite,
the per-port TX lists and the drop and punt bookkeeping. REGIME

What was cut for this table (issue 11; before and after in the closing
note, all under callgrind at 1k prefixes and 1k flows):

- The FIB lookup is inline (`dataplane/tables/fib_direct.hpp`): sluice reads
  rte_fib's own DIR-24-8 and rte_fib6's trie tables in place, after checking
  their layout when each table is created, instead of calling
  `rte_fib_lookup_bulk` through a function pointer over gathered arrays.
  IPv4: about 8 instructions per packet against 20.6. The tbl24 line is
  prefetched while the burst is parsed, so 10^6 prefixes keep the
  small-table rate as the bulk call's own prefetch pass did.
- IPv6's trie walk costs about 7 instructions per level (five levels for a
  /64) with the group offset folded into the load's displacement, and the
  tbl24 index comes from one 32-bit load.
- TTL and checksum in one 32-bit add (RFC 1624 exact, the two corner values
  on the general path): 5 instructions instead of 10.
- A single next hop is decided by one compare of the FIB value's kind.
- The Ethernet header is the neighbor word stored whole, then the egress
  port's precomputed source MAC and EtherType as one 8-byte word over its
  flag bytes, as l3fwd keeps a header per port (IPv4 327.2 -> 323.3, IPv6
  342.3 -> 338.4 against copying the MAC from the interface table); the
  IPv4 lookup starts from the tbl24 entry's address kept when the packet
  was parsed.
- The worker names each burst's RX port (its queue's), so the port's MAC is
  looked up once a burst instead of each mbuf's port being tested (IPv4
  323.3 -> 320.3, IPv6 338.4 -> 335.6); debug builds verify that every
  mbuf says the same port.
- The destination MAC, EtherType and first IP byte are one SSE2 16-byte
  load, mask and compare against the port's template, built once a burst
  (IPv4 320.3 -> 318.6, IPv6 unchanged at 335.6; a scalar path where SSE2
  is missing). An earlier attempt at one compare had cost IPv6 3.8, an
  IPv6 packet paying the failed IPv4 compare before its own. It still does
  here, but its own compare now replaces the destination MAC, EtherType
  and version tests, and the count is unchanged.
- The FIB's answer is decided on the raw entry: one mask and compare tells
  a plain single next hop (its kind bits and the extended bit together)
  before anything is decoded (IPv4 318.6 -> 316.1, IPv6 unchanged; the
  IPv4 routes here are /30s, extended entries, so that count comes from
  the restructured decode of the extended branch, not from the plain
  test). The
  bases the lookup loop indexes (next hops, neighbor words, source words)
  are locals whose address never escapes: read through the burst's view of
  the tables, whose address the load balancer's stage takes, each was
  reloaded after every store to a packet's bytes, which may alias anything
  (316.1 -> 311.4, IPv6 335.6 -> 332.8). The header template's masks travel
  with it, the gather count is unsigned and the TX port a size_t (310.7,
  IPv6 330.0). The workers' next hops are 8-byte records whose index
  scales inside the load's address (308.8, IPv6 328.0), and an on-link
  next hop reads a neighbor word that is never valid, so one test covers
  on-link and unresolved (306.8, IPv6 327.0). A VIP's extended entry is
  tested for the VIP kind first, which keeps the load balancer's packets
  where they were (L2 DSR 662.2 -> 658.2 against testing it last).
- The per-port TX lists: the ports with packets to send are found once per
  burst instead of a test in every enqueue (IPv4 331.3 -> 329.9, IPv6
  345.4 -> 345.2), and a packet is queued through a per-port tail pointer
  (one load, one store, one add) instead of a count that took eight
  instructions to index the list (IPv4 -> 327.2, IPv6 -> 342.3). The end of
  the burst looks only at ports up to the highest present one.
- Tried and not kept: the same compare without the mask, the ignored
  bytes' bits set in its answer instead (IPv4 319.3); reusing the TTL word for the
  rewrite; re-reading the IPv4 destination instead of keeping it; the last
  TX list's tail kept in a register across the lookup loop (0.4 fewer, not
  worth the state); the parse and the lookup in one pass, not measured:
  prefetching a tbl24 line a few packets ahead would read a frame's bytes
  before its length is checked.

What stays: l3fwd LPM parses and looks up four packets at a time with SSE;
of RFC 1812 it checks only the header and total lengths (its default
DO_RFC_1812_CHECKS, l3fwd_common.h), decrements the TTL without testing it
and bumps the checksum by RFC 1141's increment; it writes a precomputed
Ethernet header and counts nothing; at 10^6 IPv4 prefixes it waits on memory (no prefetch),
which is where sluice is furthest ahead. l3fwd FIB uses the same rte_fib
tables as sluice through the bulk call.""")
    out[-1] = out[-1].replace("REGIME", regime_text(cg))
    gap = gap_section(rows, data)
    if gap:
        out += ["\n### Profiles below the routing target\n", gap]
    return "\n".join(out)


def micro_section(data):
    m = data.get("micro")
    if not m:
        return "Not run (`--no-micro`, `--quick` or `--smoke`)."
    if "error" in m:
        return "Failed: " + m["error"]
    out = ["| benchmark | ns per packet |", "|---|---|"]
    for r in m["rows"]:
        out.append(f"| `{r['name']}` | {r['ns_per_item']:.2f} |")
    return "\n".join(out)


def num(n):
    """1 000 000: thousands apart by a space, as the docs write them."""
    return f"{n:,}".replace(",", " ")


def msec(x):
    """bench_tables prints milliseconds to 0.1."""
    if x is None:
        return "—"
    return "< 0.1" if x < 0.05 else f"{x:,.1f}".replace(",", " ")


def plural(n, word):
    return f"{num(n)} {word}" + ("" if n == 1 else "s")


FAMILY = {"v4": "IPv4", "v6": "IPv6"}


def step_name(s, run):
    name = s["name"]
    if name.startswith("change "):
        return f"batch of {num(int(name.split()[1]))}"
    if name == "reload changed copy":
        return "reload of the changed copy"
    if name == "reload original":
        return "reload back to the first file"
    return name


def table_runs(t):
    return [r for r in t.get("runs") or [] if r.get("steps")]


def find_step(run, name):
    return next((s for s in run.get("steps", []) if s["name"] == name), None)


def tables_targets(t):
    """The issue 7 figures, each named with the table it was measured on."""
    out = []
    for run in table_runs(t):
        where = f"{FAMILY[run['family']]} {num(run['routes'])} routes"
        full = find_step(run, "full load")
        if full:
            out.append(f"- Full load, file to published tables, {where}: {full['visible_ms'] / 1000:.2f} s, "
                       f"peak {num(round(full['peak_rss_mib']))} MiB (target: under 5 s at 10^6 routes)")
        # Both reloads run right after the full load, so each differs from
        # the running tables by exactly the copy's changes.
        rl = find_step(run, "reload changed copy")
        if rl:
            out.append(f"- Reload of a file in which {num(rl['changes'])} routes changed, {where}: "
                       f"{msec(rl['visible_ms'])} ms to publication (target: well under 1 s)")
    c = (t.get("churn") or {}).get("result")
    if c:
        loss = 1 - c["ratio_median"]
        out.append(f"- Forwarding while {num(round(c['rate_target']))} route changes a second are applied, "
                   f"IPv4 {num(c['routes'])} routes: {c['ratio_median']:.3f} of the rate without changes, "
                   + (f"a loss of {100 * loss:.1f}%" if loss > 0 else "no loss") + " (target: under 5%)")
        out.append(f"- Sampled packets sent to a stale or wrong next hop meanwhile: {num(c['stale'])} stale, "
                   f"{num(c['wrong'])} wrong of {num(c['samples_checked'])} checked (target: 0)")
    return "\n".join(out)


def tables_run_table(run):
    head = "| step | changes | FIB writes | time to publication (ms) | time to done (ms) | peak RSS (MiB) |"
    out = [head, "|---|---|---|---|---|---|"]
    notes = []
    for s in run["steps"]:
        writes = num(s["fib_ops"])
        if s.get("rebuilt"):
            writes = "rebuilt" if not s["fib_ops"] else writes + ", rebuilt"
        out.append(f"| {step_name(s, run)} | {num(s['changes'])} | {writes} | {msec(s['visible_ms'])} | "
                   f"{msec(s['done_ms'])} | {num(round(s['peak_rss_mib']))} |")
        if s.get("read_ms") or s.get("diff_ms"):
            notes.append(f"{step_name(s, run)}: {msec(s['read_ms'])} ms reading and validating the file, "
                         f"{msec(s['diff_ms'])} ms diffing it against the running tables")
    if notes:
        out.append("\nOf the time to publication, " + "; ".join(notes) + ".")
    rc = run.get("reload_copy")
    if rc:
        out.append(f"The changed copy: {num(rc['next_hop_changed'])} routes with another next hop, "
                   f"{num(rc['deleted'])} deleted, {num(rc['added'])} added.")
    return "\n".join(out)


def churn_section(c):
    if not c:
        return "Not run."
    r = c.get("result")
    if not r:
        return f"Failed: {c.get('error', '?')}"
    out = ["| routes | changes / s | changes applied | Mpps quiet | Mpps with changes | ratio | "
           "samples checked | stale | wrong |",
           "|---|---|---|---|---|---|---|---|---|",
           f"| {num(r['routes'])} | {num(round(r['rate_target']))} | {num(r['changes'])} | {r['mpps_quiet']:.2f} | "
           f"{r['mpps_churn']:.2f} | {r['ratio_median']:.3f} | {num(r['samples_checked'])} | {num(r['stale'])} | "
           f"{num(r['wrong'])} |",
           "",
           f"The rates are of `forward_burst` alone on one lcore, over 8 192 packets held in memory (no ports; "
           f"each packet's MAC, TTL and checksum restored after its pass), so they compare with each other, not "
           f"with the rates above. "
           f"{plural(r['rounds'], 'round')} of {c.get('seconds', '?')} s without changes then "
           f"{c.get('seconds', '?')} s with "
           f"them; the Mpps columns are the medians over rounds, the ratio the median of the per-round ratios. "
           f"Changes came in {num(r['batches'])} batches of {num(round(r['rate_target'] / 100))} every 10 ms; the "
           f"slowest call to the table builder took {r['apply_ms_max']:.2f} ms. "
           f"Sampled packets not forwarded: {num(r['not_forwarded'])}."]
    if c.get("error"):
        out.append(f"\nThe run reported: {c['error']}.")
    return "\n".join(out)


def v6_memory_note(t):
    peaks = []
    for r in table_runs(t):
        full = find_step(r, "full load")
        if r["family"] == "v6" and full:
            peaks.append((r["routes"], full["peak_rss_mib"]))
    peaks.sort()
    out = [f"{num(n)} routes: {num(round(mib))} MiB at the full load's peak" for n, mib in peaks]
    if len(peaks) > 1 and peaks[-1][0] > peaks[0][0]:
        (n0, m0), (n1, m1) = peaks[0], peaks[-1]
        out.append(f"that is {(m1 - m0) * 1024 / (n1 - n0):.1f} KiB per route added between the two")
    for r in t.get("runs") or []:
        if r["family"] == "v6" and r.get("skipped"):
            out.append(f"{num(r['routes'])} routes: not run ({r['skipped']})")
    return "; ".join(out)


TABLES_PROSE = """\
**What the columns mean.** *Step*: "full load" reads and validates the
config file with its route file, diffs it against empty tables, builds the
FIBs and publishes them; "batch of N" is one update batch of N route changes
(routes drawn at random from the table, each moved to another next-hop set
of its family; the *changes* column counts the distinct routes) given to the
table builder, the same path a control-channel update takes; "reload of the
changed copy" is the real reload path on a copy of the route file in which
some routes differ (read, validate, diff against the running tables, apply
the differences as one batch), run right after the full load, so it changes
exactly the copy's differences; "reload back to the first file" undoes them. *Changes*: route updates in the
batch (for a reload, what the diff found). *FIB writes*: entries written
into the copy being published (`rte_fib_add`/`rte_fib6_add` or a delete; for
IPv6 including the helper prefixes that keep the trie's tbl8 reservations
small); the other copy gets the same writes afterwards (or is rebuilt too).
"Rebuilt" means the builder built that copy from its full state instead of
patching it: the first load, a batch that changes more than 4 096 routes and
over a quarter of the table, or a copy out of room. *Time to publication*:
from the start of the step (for a load or reload, from opening the file) to
the atomic store of the new root; from then on every worker forwards by the
new tables. *Time to done*: until the other copy has caught up (a grace
period, then the same writes replayed on it), that is until the builder is
ready for the next batch without waiting. *Peak RSS*: the process's
resident-memory high-water mark during the step (`VmHWM`, reset through
`/proc/self/clear_refs` before each step), so it includes both FIB copies
and the route state, not only what the step added.

**Two copies of each FIB.** DPDK 22.11's `rte_fib` and `rte_fib6` give a
reader running during an update no guarantee: deleting a route that empties
a tbl8 group rewrites the tbl24 entry, zeroes the group and returns it to
the free pool at once, so a lookup that read the old entry can find zeros
("no route") or, once the group is reused, another prefix's next hop;
RCU-deferred reclamation (`rte_fib_rcu_qsbr_add`) only came in DPDK 24.11.
So sluice never writes into a FIB a worker can see
(`dataplane/tables/fib.hpp`, `fib_pair.hpp`): it keeps two copies per
family, patches the unpublished one, publishes it inside a new root with one
atomic pointer store, and once an RCU grace period has passed (no worker can
still hold a root with the old copy) replays the same writes on the old
copy, which becomes the spare. Both copies see the same writes in the same
order, so they stay equal, and a batch becomes visible all at once. The
price is twice the FIB memory and every write done twice, the second time
off the publication path.

**How a stale or wrong next hop would be seen.** `bench_churn` moves 4 096
probe routes (/24s with nothing more specific inside) from gateway to
gateway, each gateway with its own MAC, while a worker lcore forwards
traffic to addresses inside them with the real `forward_burst`. For a sample
of the forwarded packets (one in 64) the worker records the generation of
the root it used, the probe route and the gateway the packet went to (read
back from the destination MAC it wrote). Afterwards every sample is checked
against the log of changes: its gateway must be the one the route had in
that generation. A packet sent to a gateway the route had earlier counts as
stale, to any other (one it never had, or only had later) as wrong. A copy
that missed a batch, a root published before its FIB was patched, or a
worker reading a copy while it is being patched all show up this way: with a
planted bug (the spare copy's catch-up skipped) the check counted 125 624
stale and 1 016 wrong samples out of 749 386.

**IPv6 memory.** A table drawn over the whole of 2000::/3, as the real
default-free zone is, is sparse: routes seldom share a trie path beyond
their first 24 to 32 bits, so each prefix longer than /24 needs tbl8 groups
of its own, about one per byte level beyond /24 (up to three for a /48, and
/48s are about half of the table), at 1 KiB each (256 four-byte entries), in
each of the two copies, with room to grow (a quarter more) reserved at every
build. Dense tables (many /64s under a few covers, as the forwarding
benchmark's) need far less per route.
"""


def tables_section(data):
    t = data.get("tables")
    if not t:
        return "Not run (`--no-tables`; `python3 tests/perf/bench.py --only tables` adds it)."
    if t.get("error"):
        return "Failed: " + t["error"]
    out = [f"Route changes on large tables (`bench_tables`) and forwarding while they happen (`bench_churn`), "
           f"release build, {t.get('mode', '?')} run (`{t.get('command', 'python3 tests/perf/bench.py')}`, "
           f"{t.get('started', '?')} to {t.get('finished', '?')}). Tables from `tests/perf/route_table.py`: "
           f"a BGP-like prefix-length mix (IPv4 about 60% /24, IPv6 about 46% /48) over the whole unicast space, "
           f"{100 * t.get('ecmp_share', 0):.0f}% of routes on two-way ECMP groups, four gateways per family.\n"]
    tg = tables_targets(t)
    if tg:
        out += [tg, ""]
    for run in t.get("runs") or []:
        out.append(f"### {FAMILY[run['family']]}, {num(run['routes'])} routes\n")
        if run.get("skipped"):
            out.append(f"Not run: {run['skipped']}.\n")
        elif run.get("error") or not run.get("steps"):
            out.append(f"Failed: {run.get('error', 'no steps')}\n")
        else:
            out += [tables_run_table(run), ""]
    out += ["### Forwarding while routes change\n", churn_section(t.get("churn")), ""]
    prose = TABLES_PROSE
    mem = v6_memory_note(t)
    if mem:
        prose = prose.rstrip("\n") + " Measured here: " + mem + ".\n"
    out.append(prose)
    return "\n".join(out)


MODE_LABEL = {"l2_dsr": "L2 DSR", "ipip": "IPIP", "nat": "NAT", "gue": "GUE"}


def lb_index(lb):
    res = {(r["contender"], r.get("mode"), r.get("backends"), r["flows"]): r for r in lb.get("results") or []}
    rat = {(r["mode"], r["backends"], r["flows"], r["vs"]): r["median"] for r in lb.get("ratios") or []}
    return res, rat


def lb_targets(lb):
    res, rat = lb_index(lb)
    out = []
    flows = sorted({r["flows"] for r in lb.get("results") or []})
    lo = flows[0] if flows else 1000
    for vs, label, fls in (("l3fwd-lpm", "l3fwd LPM", flows), ("ours-routed", "sluice routing the same packets", [lo])):
        for fl in fls:
            vals = {(m, b): x for (m, b, f, v), x in rat.items() if v == vs and f == fl}
            if vals:
                worst = min(vals, key=vals.get)
                out.append(f"- LB / {label}, {human(fl)} flows: min {vals[worst]:.2f} "
                           f"({MODE_LABEL.get(worst[0], worst[0])}, {num(worst[1])} backends), median "
                           f"{statistics.median(vals.values()):.2f}, max {max(vals.values()):.2f} over {len(vals)} "
                           "profiles" + (" (target: at least 0.9)" if vs == "l3fwd-lpm" else ""))
    loss = {(m, b): 1 - x for (m, b, fl, v), x in rat.items() if v.startswith("flows ")}
    if loss:
        worst = max(loss, key=loss.get)
        out.append(f"- Rate lost from {human(lo)} to {human(flows[-1])} tracked flows: at most "
                   f"{100 * loss[worst]:.1f}% ({MODE_LABEL.get(worst[0], worst[0])}, {num(worst[1])} backends), median "
                   f"{100 * statistics.median(loss.values()):.1f}% (target: under 20%)")
    mg = next((r for r in (lb.get("maglev") or {}).get("rows", []) if r["name"].startswith("BM_MaglevBuild/65537/1000")),
              None)
    if mg:
        out.append(f"- Maglev table build, M = 65 537, N = 1 000: {mg['real_us'] / 1000:.3f} ms (target: under 1 ms; "
                   "the paper's 1.8 ms, NSDI 2016, 3.4)")
    up = lb.get("update") or {}
    st = {x["name"]: x for x in up.get("steps") or []}
    one = st.get("typed batch: one backend weight")
    rl = st.get("reload: one backend weight changed")
    if one:
        out.append(f"- One backend's weight changed at {num(up['vips'])} VIPs, update batch to published tables: "
                   f"{one['visible_ms']:.3f} ms median, {one['visible_ms_max']:.3f} ms max"
                   + (f"; through a config reload (read, diff, apply): {rl['visible_ms']:.1f} ms" if rl else ""))
    return "\n".join(out)


def lb_section(data):
    lb = data.get("lb")
    if not lb:
        return "Not run (`--no-lb`; `python3 tests/perf/bench.py --only lb` adds it)."
    if lb.get("error"):
        return "Failed: " + lb["error"]
    res, rat = lb_index(lb)
    flows = sorted({r["flows"] for r in lb.get("results") or []})
    cg = {(r["contender"], r.get("mode")): r for r in lb.get("callgrind") or [] if "ipp" in r}
    out = [f"VIP traffic: 64-byte UDP packets to one VIP ({lb.get('vip')}) from {' and '.join(num(f) for f in flows)} "
           f"distinct 5-tuples (source address and port), same harness as above (`{lb.get('command', '?')}`, "
           f"{lb.get('mode')} run, {lb.get('started', '?')} to {lb.get('finished', '?')}). Median over "
           f"{lb.get('rounds')} interleaved rounds of the median of {lb.get('seconds')} one-second samples after "
           f"{lb.get('warmup')} s of warm-up; ratios are medians of per-round ratios. Flow table "
           f"{num(lb.get('flow_table_size', 0))} entries per worker, no new-flow rate limit."
           + (f" The machine's load average (1 min) was {lb['loadavg_start']:.1f} when the rate runs began and "
              f"{lb['loadavg_rates_end']:.1f} when they ended (2 cores; above about 2 other work shared them, and "
              "rates, even ratios, are then not trustworthy; instruction counts are)."
              if lb.get("loadavg_start") is not None and lb.get("loadavg_rates_end") is not None else "") + "\n"]
    tg = lb_targets(lb)
    if tg:
        out += [tg, ""]
    head = ["mode", "backends"] + [f"Mpps {human(f)} flows" for f in flows] + [
        f"/ l3fwd LPM {human(f)}" for f in flows] + [f"/ sluice routed {human(flows[0])}",
                                                     f"loss {human(flows[0])} to {human(flows[-1])}",
                                                     f"tracked at {human(flows[-1])}", "instr. / packet",
                                                     "LB stage share"]
    out += ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for c, label in (("l3fwd-lpm", "l3fwd LPM (route to the VIP)"), ("ours-routed", "sluice routed (no VIP)")):
        ld = ratio(mpps_of(res.get((c, None, 0, flows[-1]))), mpps_of(res.get((c, None, 0, flows[0]))))
        r = cg.get((c, None))
        line = ([label, "—"] + [cell(res.get((c, None, 0, f))) for f in flows] + ["—" for _ in flows] + ["—"] +
                [f"{100 * (1 - ld):.1f}%" if ld else "—", "—", f"{r['ipp_without_source']:.0f}" if r else "—", "—"])
        out.append("| " + " | ".join(line) + " |")
    keys = sorted({(r["mode"], r["backends"]) for r in lb.get("results") or [] if r.get("mode")},
                  key=lambda k: (list(MODE_LABEL).index(k[0]) if k[0] in MODE_LABEL else 9, k[1]))
    notes = []
    for m, b in keys:
        line = [MODE_LABEL.get(m, m), num(b)] + [cell(res.get(("ours", m, b, f))) for f in flows]
        line += [fmt(rat.get((m, b, f, "l3fwd-lpm"))) for f in flows]
        line.append(fmt(rat.get((m, b, flows[0], "ours-routed"))))
        lr = rat.get((m, b, flows[-1], f"flows {flows[0]}"))
        line.append(f"{100 * (1 - lr):.1f}%" if lr else "—")
        tr = [t for t in (res.get(("ours", m, b, flows[-1])) or {}).get("tracked_flows") or [] if t is not None]
        line.append(num(max(tr)) if tr else "—")
        r = cg.get(("ours", m)) if b == min(k[1] for k in keys) else None
        lbs = (r or {}).get("lb") or {}
        if r:
            line.append(f"{r['ipp_without_source']:.0f}")
            line.append(f"{lbs['lb_burst_ipp']:.0f} ({100 * lbs['lb_burst_ipp'] / r['ipp_without_source']:.0f}%)"
                        if lbs.get("lb_burst_ipp") else "—")
        else:
            line += ["—", "—"]
        out.append("| " + " | ".join(line) + " |")
        for f in flows:
            rr = res.get(("ours", m, b, f)) or {}
            if rr.get("mpps") is None:
                notes.append(f"- {MODE_LABEL.get(m, m)}, {num(b)} backends, {human(f)} flows: {rr.get('error', '?')}")
    if notes:
        out += ["\nNot measured:\n"] + notes
    if lb.get("callgrind_from"):
        out.append(f"\nInstruction counts from the callgrind runs of the load balancer step started "
                   f"{lb['callgrind_from']} (they do not depend on the machine's load).")
    out.append("\n*Loss*: 1 - rate at the larger flow count / rate at the smaller, in the same start (the source "
               "moves from one to the other). *Tracked*: the VIP's `tracked_flows` from the telemetry "
               "(`/sluice/lb/vips`) at the end of the larger segment. Instructions per packet: callgrind, "
               f"{human(flows[0])} flows, the smallest backend count, without the source's own instructions; "
               "*LB stage share*: `lb_burst` inclusive (VIP match, flow hash, flow table, Maglev, rewrite, "
               "next hop) per packet.\n")
    for c, m in sorted(cg, key=lambda k: (k[0] != "ours", k[1] or "")):
        r = cg[(c, m)]
        lbs = r.get("lb")
        if not lbs or not m:
            continue
        out.append(f"**{MODE_LABEL.get(m, m)}** ({num(r['backends'])} backends, {human(r['flows'])} flows): "
                   f"{r['ipp']:.0f} instructions per packet, {r['ipp_without_source']:.0f} without the source; "
                   f"`forward_burst` inclusive {fmt(lbs.get('forward_burst_ipp'), 0)}, of which `lb_burst` "
                   f"{fmt(lbs.get('lb_burst_ipp'), 0)} and the on-link neighbor lookup "
                   f"(`NeighborTable::lookup_bulk`, only on a miss of the worker's per-backend neighbor cache) "
                   f"{fmt(lbs.get('neighbor_ipp'), 0)}."
                   + (lb_sim_text(r, cg.get(("l3fwd-lpm", None))) if r.get("sim") else "")
                   + " LB functions (per packet):\n")
        out += ["| function | self | inclusive |", "|---|---|---|"]
        for x in lbs.get("functions") or []:
            if x["incl_ipp"] >= 0.1 or x["self_ipp"] >= 0.1:
                out.append(f"| `{x['fn'][:70]}` | {x['self_ipp']:.1f} | {x['incl_ipp']:.1f} |")
        top = r.get("breakdown") or []
        if top:
            out.append("\nHeaviest functions of the thread (self, per packet): " + ", ".join(
                f"`{(b['fn'].split(' [')[0] or b['obj'])[:48]}` {b['ipp']:.1f}" for b in top[:10]) + ".\n")
    out.append(lb_cost_notes(lb, cg))
    mg = (lb.get("maglev") or {}).get("rows")
    if mg:
        out += ["### Maglev and the flow table alone (`bench_stages`)\n",
                "| benchmark | time per call (µs) | ns per slot / per find |", "|---|---|---|"]
        for r in mg:
            out.append(f"| `{r['name']}` | {r['real_us']:.1f} | {fmt(r.get('ns_per_item'))} |")
        out.append("\n`BM_MaglevBuild/M/N`: one whole table build (permutations, population, allocation) for "
                   "M slots and N equal-weight backends; the Maglev paper (NSDI 2016, 3.4) reports 1.8 ms at "
                   "M = 65 537, N = 1 000 and 22.9 ms at M = 655 373. `BM_FlowTable_FindHit/F/P`: one find among "
                   "F live flows, 32 a burst, P = 1 with the burst's buckets prefetched.\n")
    up = lb.get("update") or {}
    if up.get("steps"):
        out += [f"### Backend changes at {num(up['vips'])} VIPs (`bench_lb_update`)\n",
                f"{num(up['vips'])} VIPs of {num(up['backends'])} backends each, Maglev tables of "
                f"{num(up['table_size'])} slots, through the real table builder (release build):\n",
                "| step | repetitions | time to publication, median (ms) | max (ms) | of which read + diff (ms) | "
                "Maglev tables rebuilt | peak RSS (MiB) |",
                "|---|---|---|---|---|---|---|"]
        for x in up["steps"]:
            rd = x["read_ms"] + x["diff_ms"]
            out.append(f"| {x['name']} | {x['repeats']} | {x['visible_ms']:.3f} | {x['visible_ms_max']:.3f} | "
                       f"{rd:.1f} | {num(x['maglev_rebuilt'])} | {num(round(x['peak_rss_mib']))} |")
        out.append("\n*Typed batch*: one `VipUpdate` (the VIP with one backend's weight 1 <-> 2, or its state up "
                   "<-> drain) given to the table builder, as a control-channel update would; time from receipt to "
                   "the new root's publication (`BatchResult::visible_ns`). *Reload*: a copy of the config file "
                   "in which one backend's weight differs, read and validated, diffed against the running builder "
                   "(`dataplane/reload/config_diff.hpp`) and applied: the time counts all of it. *Full load*: "
                   "the whole file to published tables (every Maglev table built).\n")
    elif up.get("error"):
        out.append("bench_lb_update failed: " + up["error"])
    return "\n".join(out)


def lb_sim_text(r, lpm):
    x = r["sim"]
    y = (lpm or {}).get("sim")
    return (f" Simulated per packet (callgrind's cache and branch model, with the source): {x['d1_misses']:.2f} L1 "
            f"data misses, {x['ll_misses']:.3f} LL misses, {x['branch_misses']:.2f} branch misses"
            + (f" (l3fwd LPM routing the same packets: {y['d1_misses']:.2f}, {y['ll_misses']:.3f}, "
               f"{y['branch_misses']:.2f})" if y else "") + ".")


def lb_cost_notes(lb, cg):
    """What the callgrind runs say the VIP path costs over sluice's routed
    path on the same packets, from the measured figures."""
    routed = cg.get(("ours-routed", None))
    out = []
    for m in ("l2_dsr", "ipip", "nat"):
        r = cg.get(("ours", m))
        lbs = (r or {}).get("lb") or {}
        if not (r and routed and lbs.get("lb_burst_ipp")):
            continue
        fns = {x["fn"].split("::")[-1]: x for x in lbs.get("functions") or []}
        own = fns.get("lb_burst", {}).get("self_ipp", 0)
        # Since issue 11 the flow hash, the flow table's find and most
        # rewrites are inline in lb_burst: what still runs out of line is
        # listed by name.
        rest = "; ".join(f"`{name}` {x.get('incl_ipp', 0):.0f}" for name, x in fns.items()
                         if name not in ("lb_burst", "sweep") and x.get("incl_ipp", 0) >= 1)
        out.append(f"- {MODE_LABEL[m]}: {r['ipp_without_source'] - routed['ipp_without_source']:.0f} instructions per "
                   f"packet more than sluice routing the same packets ({r['ipp_without_source']:.0f} vs "
                   f"{routed['ipp_without_source']:.0f}): `lb_burst` {lbs['lb_burst_ipp']:.0f} inclusive, {own:.0f} "
                   "in its own body (parse, VIP match, flow key and hash, flow table lookup, Maglev, counters, "
                   "next hop and the inline rewrites)" + (f"; out of line: {rest}" if rest else "") + "; and "
                   f"{fmt(lbs.get('neighbor_ipp'), 0)} in `rte_hash` lookups of on-link backends' neighbors "
                   f"(the worker caches each backend's neighbor slot, so only a backend's first packet, or "
                   f"the first after its neighbor entry changed, looks it up).")
    if not out:
        return ""
    return ("Where the VIP path's instructions go (callgrind, figures per packet):\n\n" + "\n".join(out) + "\n"
            + LB_CUTS)


LB_CUTS = """
What was cut in the VIP path (issue 11; callgrind, IPv4, 10 backends, 1k
flows, instructions per packet without the source, each step against the
one before it):

- The backend's next hop and the rewrite run in the pass that chooses the
  backend, with the inline FIB lookup, instead of a later pass over the
  burst that stored and reloaded each packet's hash, VIP and backend:
  L2 DSR 685.3 -> 668.0. The bulk lookup stays for tables that fail the
  inline lookup's layout check.
- A tracked flow's backend is checked with one load
  (`LbTables::keeps_flows`: the backend's uid while it is up or draining,
  0 otherwise), the full check only when that fails: L2 DSR 668.0 -> 665.2.
  Both together: IPIP 815.4 -> 810.2, NAT 838.8 -> 820.6.
- The rewrite stores the egress port's precomputed source MAC and
  EtherType word for the family the packet leaves in, as routing does:
  L2 DSR 664.1 -> 660.1, NAT 820.5 -> 813.5, IPIP unchanged (808.1); the
  burst's named RX port then L2 DSR 660.1 -> 657.2 (with NAT VIPs the
  parse still reads each mbuf's port: a fourth parse loop made every loop
  slower).
- NAT's common packet (IPv4 without options, TCP or UDP) is rewritten
  inline (`dataplane/lb/nat_fast.hpp`): the destination, the port and the
  TTL with one update of each checksum, where the out-of-line
  `nat_set_dst` (99 alone) and then the TTL decrement each updated the IP
  checksum: NAT 813.3 -> 768.6. With the routing parse's 16-byte header
  compare the other modes moved too: IPIP 805.2 -> 796.5, L2 DSR 657.2 ->
  658.5 (GCC laid `lb_burst` out differently: the DSR path's own code did
  not change).
- Tried and not kept: the client's IP length and family carried from the
  parse instead of read again (+1.9), the VIP slot and uid compared as one
  8-byte word (+3.0), the packets that pass the parse moved to the front so
  the later passes test nothing (+11.1), the protocol's bit from a 256-byte
  table instead of two compares (+8.9): each changed GCC's register
  allocation for the worse.
"""


def rdma_section(data):
    r = data.get("rdma")
    if not r:
        return "Not run (`--no-rdma`; `python3 tests/perf/bench.py --only rdma` adds it)."
    if r.get("error"):
        return "Failed: " + r["error"]
    out = [f"Two sluice processes joined only by an RDMA peer on the software stand-in (docs/rdma.md), "
           f"against one process forwarding net_null to net_null, in the same rounds (`{r.get('command', '')}`, "
           f"{r.get('started', '?')}). IPv4 UDP, {num(r.get('prefixes', 0))} destinations, "
           f"{num(r.get('flows', 0))} flows, one route per node. Over RDMA, node A's worker (lcore 1) forwards "
           "every packet once and posts it to the peer; node B's worker (lcore 0) receives it from the peer and "
           "forwards it once more: each core does one forwarding pass and one side of the transport, so the "
           "delivered rate is the rate of one core doing both. Delivered = B's TX; median of the one-second "
           f"samples after {r.get('warmup')} s, median over rounds.", "",
           "| frame | net_null → net_null (Mpps) | over the RDMA link (Mpps) | ratio | offered by A (Mpps) | "
           "credit stalls (A) | QP resets | lost in flight |",
           "|---|---|---|---|---|---|---|---|"]
    for size in r.get("sizes") or []:
        rows = [x for x in r.get("results") or [] if x["size"] == size]
        if not rows:
            continue
        b = [x["baseline"].get("mpps") for x in rows if x["baseline"].get("mpps")]
        p = [x["rdma"].get("mpps") for x in rows if x["rdma"].get("mpps")]
        rat = [x["ratio"] for x in rows if x.get("ratio")]
        off = [x["rdma"].get("offered_mpps") for x in rows if x["rdma"].get("offered_mpps")]
        last = rows[-1]["rdma"]
        ap, bp = last.get("a_peer") or {}, last.get("b_peer") or {}
        med = lambda v: statistics.median(v) if v else None  # noqa: E731
        out.append(f"| {size} B | {fmt(med(b), 2)} | {fmt(med(p), 2)} | {fmt(med(rat), 2)} | {fmt(med(off), 2)} | "
                   f"{num(ap.get('credit_stalls', 0))} | {ap.get('qp_resets', '?')} / {bp.get('qp_resets', '?')} | "
                   f"{ap.get('lost_in_flight', '?')} / {bp.get('lost_in_flight', '?')} |")
    errs = [x for x in r.get("results") or [] if x["rdma"].get("error") or x["baseline"].get("error")]
    if errs:
        out.append("")
        out.append(f"{len(errs)} run(s) failed: " + "; ".join(
            (x["rdma"].get("error") or x["baseline"].get("error") or "") for x in errs[:3]))
    cg = [c for c in r.get("callgrind") or [] if "ipp" in c]
    if cg:
        out += ["", "Instructions per packet (callgrind, 64 B; each node under valgrind while the other runs "
                "natively; the shim's packet writing excluded). *Stand-in* is what an HCA does in hardware "
                "(the copies onto and off the shared-memory wire, completions); *transport* is "
                "drivers/rdma/transport and the data plane's peer glue; *forwarding* is the rest of the worker's "
                "loop:", "",
                "| node | per packet | forwarding | transport | stand-in | transport share (without the stand-in) |",
                "|---|---|---|---|---|---|"]
        for c in cg:
            own = c["ipp"] - c["standin_ipp"]
            share = c["transport_ipp"] / own if own else 0
            out.append(f"| {'A (forward, send)' if c['node'] == 'a' else 'B (receive, forward)'} | {c['ipp']:.0f} | "
                       f"{c['forwarding_ipp']:.0f} | {c['transport_ipp']:.0f} | {c['standin_ipp']:.0f} | "
                       f"{share * 100:.0f}% |")
    for c in r.get("callgrind") or []:
        if c.get("error"):
            out.append(f"\nCallgrind of node {c.get('node')}: {c['error']}")
    alone = (r.get("alone") or {}).get("rows") or []
    if alone:
        out += ["", "The transport alone (`bench_rdma_transport`: one thread posting bursts of 32 from one stand-in "
                "peer and receiving them on the other, credits and completions included):", "",
                "| frame | Mpps | ns per packet |", "|---|---|---|"]
        for x in alone:
            if x.get("error"):
                out.append(f"| {x.get('size')} | failed: {x['error'][:120]} | |")
            else:
                out.append(f"| {x.get('size')} B | {fmt(x.get('mpps'), 2)} | {fmt(x.get('ns_per_packet'), 1)} |")
    out += ["", "On hardware, `tests/perf/rdma_hw_bench.sh <device>` compares the transport with `ib_send_bw` "
            "on the same device (target: within 10% of its 64-byte message rate); this machine has no RDMA "
            "device."]
    return "\n".join(out)


BUILD_VARIANTS = ["base", "lto", "march-v3", "static-dpdk"]
BUILD_LABELS = {"base": "base (release, as compared above)", "lto": "LTO", "march-v3": "-march=x86-64-v3",
                "static-dpdk": "static DPDK"}


def signed(x, nd=1):
    return "—" if x is None else f"{x:+.{nd}f}"


def builds_section(data):
    """Build variants (issue 11): one row per (contender, variant), kept
    apart from the comparison above, which uses every contender's base build."""
    b = data.get("builds")
    if not b:
        return ("Not run (`--no-builds`, `--quick` or `--smoke`; `python3 tests/perf/bench.py --only builds` "
                "adds it).")
    if b.get("error"):
        return "Failed: " + b["error"]
    rows = b.get("callgrind") or []
    out = [f"Each contender that can be rebuilt, built again per variant and measured under callgrind "
           f"(`{b.get('command', '')}`, {b.get('started', '?')}, {b.get('seconds', '?')} s including the builds; "
           f"{b.get('callgrind_seconds', '?')} s of traffic each). **These rows are not mixed into the comparison "
           "above**, which uses the base build of every contender. Delta: instructions per packet against the "
           "same contender's base build in the same run (negative = fewer). *Notable function*: the one whose "
           "own instructions per packet moved most against the base build.", ""]
    out += ["| profile | contender | variant | instructions / packet | without the source | delta | "
            "delta without the source | notable function (base → variant) | rate vs base |",
            "|---|---|---|---|---|---|---|---|---|"]
    order = {v: i for i, v in enumerate(BUILD_VARIANTS)}
    corder = {c: i for i, c in enumerate(CONTENDERS)}
    notes = []
    for r in sorted(rows, key=lambda r: (r.get("family", ""), r.get("prefixes", 0), corder.get(r["contender"], 99),
                                         order.get(r["variant"], 99))):
        prof = f"{r.get('family', '?')} {human(r.get('prefixes', 0))} x {human(r.get('flows', 0))}"
        lab = LABELS.get(r["contender"], r["contender"])
        var = BUILD_LABELS.get(r["variant"], r["variant"])
        rate = r.get("rate_ratio")
        rate = fmt(rate) if rate is not None else "not measured"
        if "ipp" in r:
            n = r.get("notable")
            nb = f"`{n['fn'][:48]}` {n['base_ipp']:.1f} → {n['ipp']:.1f}" if n else "—"
            out.append(f"| {prof} | {lab} | {var} | {r['ipp']:.1f} | {r['ipp_without_source']:.1f} | "
                       f"{signed(r.get('delta_ipp'))} | {signed(r.get('delta_ipp_without_source'))} | {nb} | {rate} |")
        else:
            why = r.get("skipped") or r.get("error") or "?"
            state = "skipped" if r.get("skipped") else "fail"
            out.append(f"| {prof} | {lab} | {var} | {state} | | | | | |")
            notes.append(f"- {lab}, {var}: {why}")
    watch = [r for r in rows if r.get("watch") and r["watch"].get("__tls_get_addr") is not None]
    if watch:
        profiles = sorted({(r.get("family", ""), r.get("prefixes", 0), r.get("flows", 0)) for r in watch})
        parts = []
        for fam, pfx, fl in profiles:
            rs = [r for r in watch if (r.get("family", ""), r.get("prefixes", 0), r.get("flows", 0)) == (fam, pfx, fl)]
            parts.append(f"{fam} {human(pfx)} x {human(fl)}: " + "; ".join(
                f"{LABELS.get(r['contender'], r['contender'])} {BUILD_LABELS.get(r['variant'], r['variant'])} "
                f"{r['watch']['__tls_get_addr']:.1f}" for r in rs))
        out += ["", "`__tls_get_addr` (the shared DPDK libraries' thread-local lookups, e.g. the mempool's "
                "per-lcore cache when net_null frees mbufs) per packet, " + ". ".join(parts) + "."]
    if notes:
        out += ["", "Not measured:", ""] + notes
    builds = b.get("builds") or []
    how = sorted({(LABELS.get(x['contender'], x['contender']) if x['contender'] != 'l3fwd' else 'l3fwd',
                   BUILD_LABELS.get(x['variant'], x['variant']), x['how'], x.get('build_seconds'))
                  for x in builds if x.get("how")})
    if how:
        out += ["", "Builds: " + "; ".join(f"{c} {v}: {h} ({s} s)" for c, v, h, s in how) + "."]
    for c, why in (b.get("not_rebuildable") or {}).items():
        out += ["", f"{LABELS.get(c, c)}: no variant rows; {why}."]
    out += ["", f"How: sluice's variants are meson options on the release build (`-Db_lto=true`; "
            f"`-march={b.get('march', 'x86-64-v3')}` with DPDK's `-march=corei7` replaced in a copy of its .pc "
            "files; static DPDK: the base build's objects linked again with `pkg-config --static --libs libdpdk` in place of the shared librte_*.so), l3fwd's are `tests/perf/l3fwd_build.sh` with `L3FWD_EXTRA_CFLAGS` "
            "(`-flto`, `-march=...`) or `L3FWD_LINK=static`. The -march row runs only where the CPU has that "
            "level (probed at run time); the project's own build stays on the x86-64 baseline. A statically "
            "linked binary cannot take the traffic shim by `LD_PRELOAD`, so the static rows link the shim's "
            "object into the binary (`-Wl,--wrap=rte_eth_dev_start`): same code, its instructions excluded from "
            "\"without the source\" as everywhere. See tests/perf/builds_bench.py."]
    return "\n".join(out)


def mpps_of(rec):
    return (rec or {}).get("mpps")


METHOD = """\
## How it is measured

- **Traffic source.** Two `net_null` ports per contender (RX hands out
  mbufs, TX frees them; no packet leaves the process) and the shim
  `tests/perf/trafficgen/` (`libsluice_trafficgen.so`), preloaded with
  `LD_PRELOAD` into every contender. It wraps `rte_eth_dev_start` and puts an
  RX callback first on every queue that writes the next packet into each
  received mbuf, as a NIC's DMA would. Every contender runs the same source
  code on the same core, so it costs all of them the same. IPv4: 64-byte
  UDP frames (60 + FCS); IPv6: 78-byte UDP frames. Destinations are visited
  in a fixed shuffled order over the prefixes; flow *f* sets the source
  address and port. For IPv4 the source also sets the checksum verdict a
  NIC with RX checksum offload gives (`RTE_MBUF_F_RX_IP_CKSUM_GOOD`): l3fwd
  is written for such NICs and never checks the checksum in software;
  sluice uses the verdict when present. "sluice, sw checksum" is sluice
  with no verdict, verifying every header in software.
- **Contenders**, one at a time, EAL `-l 0-1`: the forwarding loop on lcore 1,
  same source, one RX queue per port.
  - sluice (`sluice-dp`, release build `-O3`): validation per RFC 1812 /
    RFC 8200, `rte_fib` DIR24_8 / `rte_fib6` trie bulk lookups, neighbor
    table, named drop counters, RCU quiescent state per loop, ICMP/ND on the
    main lcore. Routes come from a route file (`route_files:`).
  - DPDK 22.11 `l3fwd`, LPM (`rte_lpm`/`rte_lpm6`, SSE path) and FIB
    (`--lookup=fib`) modes, built at benchmark time from the `dpdk-doc`
    example sources by `tests/perf/l3fwd_build.sh` with `-O3`. The build copy
    only raises the route table limits, reads the same routes from files, and
    does not ask `net_null` for RX checksum offload; its forwarding code is
    stock. It skips what sluice does (checksum, address checks, neighbors,
    counters, ICMP), and `rte_lpm` takes minutes to load 10^6 routes.
  - `dpdk-testpmd --forward-mode=io`: no lookup at all, the I/O ceiling.
- **Rate.** One start per (family, prefixes); the source moves through the
  flow counts, each for warm-up + measured seconds. A contender's rate in a
  round is the median of its one-second TX samples after the warm-up; the
  contenders take turns, round after round, and the table shows the median
  over rounds. Ratios are the median of the per-round ratios (the two runs
  of a pair are at most minutes apart): this machine's speed drifts by up
  to 40% between minutes, so only ratios measured side by side mean
  anything. Hugepages when the machine has them (`tests/lab/hugepages.sh`),
  else `--no-huge`, the same for every contender; the table says which.
- **Instructions per packet** (repeatable where time is not): each contender
  under `valgrind --tool=callgrind --separate-threads=yes` for a fixed time;
  the forwarding thread's instructions divided by the packets the source
  wrote. "Without the source" subtracts the shim's own instructions. The
  routing and load balancer runs also simulate the caches and the branch
  predictor (`--cache-sim=yes --branch-sim=yes`): their misses per packet
  stand in for `perf stat`, which needs hardware counters this VM does not
  expose. They rank the contenders' memory behaviour on the simulated
  caches; they are not cycle counts.
"""


def page(data, rows, plot_name):
    meta = data.get("meta", {})
    parts = [
        "# Performance: sluice vs l3fwd vs testpmd\n",
        f"Generated by `{meta.get('command', 'python3 tests/perf/bench.py')}` "
        f"({meta.get('started', '?')} to {meta.get('finished', '?')}), on {meta.get('cpu', '?')} "
        f"with {meta.get('cores', '?')} cores. Do not edit by hand: run the command again.\n",
        "## Targets\n",
        targets(rows) or "(no sluice results)",
        "",
        f"## Mpps per core\n\nMedian over {meta.get('rounds', 1)} interleaved rounds of the median of "
        f"{meta.get('seconds')} one-second samples after {meta.get('warmup')} s of warm-up, forwarding on one "
        f"lcore; memory: {', '.join(sorted({str(r.get('memory')) for r in data['results'] if r.get('memory')})) or '?'}. "
        f"IPv4 destinations {meta.get('v4_scheme')}, IPv6 {meta.get('v6_scheme')}.\n",
        throughput_table(rows),
        "",
    ]
    if plot_name:
        parts += [f"![Mpps per contender and profile]({plot_name})\n"]
    parts += ["## How the rates move with prefixes and flows\n", scaling_table(rows), "",
              "## Instructions per packet (callgrind)\n", callgrind_section(data), "",
              "## Where the cycles go\n", cycles_section(data, rows), "",
              "## Stages alone (Google Benchmark, `bench_stages`)\n",
              "CPU time per packet (per destination for the lookups, 32 a call), same release build:\n",
              micro_section(data), "",
              "## Table updates\n", tables_section(data).rstrip("\n"), "",
              "## Load balancer\n", lb_section(data).rstrip("\n"), "",
              "## RDMA transport\n", rdma_section(data).rstrip("\n"), "",
              "## Build variants\n", builds_section(data).rstrip("\n"), "", METHOD]
    return "\n".join(parts) + "\n"


def plot(rows, path):
    try:
        import matplotlib
    except ImportError:
        if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
            return None  # caller re-runs under Debian's python3
        print("matplotlib missing: apt-get install -y python3-matplotlib", file=sys.stderr)
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fams = sorted({k[0] for k in rows})
    pres = present(rows)
    if not fams:
        print("no forwarding results: no plot", file=sys.stderr)
        return False
    fig, axes = plt.subplots(len(fams), 1, figsize=(11, 3.6 * len(fams)), squeeze=False)
    for ax, fam in zip(axes[:, 0], fams):
        keys = sorted(k for k in rows if k[0] == fam)
        width = 0.8 / max(1, len(pres))
        for j, c in enumerate(pres):
            xs = [i + (j - (len(pres) - 1) / 2) * width for i in range(len(keys))]
            ys = [mpps(rows, k, c) or 0 for k in keys]
            ax.bar(xs, ys, width, label=LABELS[c])
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels([f"{human(k[1])} pfx\n{human(k[2])} flows" for k in keys], fontsize=8)
        ax.set_ylabel("Mpps, one lcore")
        ax.set_title(f"{'IPv4 64 B' if fam == 'v4' else 'IPv6 78 B'}: forwarding rate (net_null + trafficgen shim)",
                     fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        top = max([mpps(rows, k, c) or 0 for k in keys for c in pres] + [1])
        ax.set_ylim(0, top * 1.22)  # room for the legend above the bars
        ax.legend(fontsize=8, ncol=len(pres), loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=os.path.join(os.path.dirname(os.path.dirname(HERE)), "docs/perf.json"))
    ap.add_argument("--markdown", help="write the page here (default: stdout)")
    ap.add_argument("--plot", help="PNG path for the bar chart")
    ap.add_argument("--plot-only", action="store_true", help=argparse.SUPPRESS)  # exit 0 only if the plot was written
    a = ap.parse_args()
    data, rows = load(a.results)
    plot_name = None
    if a.plot_only:
        sys.exit(0 if plot(rows, a.plot) else 1)
    if a.plot:
        ok = plot(rows, a.plot)
        if ok is None:  # this interpreter lacks matplotlib; Debian's python3 has it
            ok = subprocess.call(["/usr/bin/python3", os.path.abspath(__file__), "--results", a.results,
                                  "--plot", a.plot, "--plot-only"]) == 0
        if ok:
            plot_name = os.path.relpath(a.plot, os.path.dirname(os.path.abspath(a.markdown)) if a.markdown else ".")
            print(f"plot written to {a.plot}", file=sys.stderr)
    text = page(data, rows, plot_name)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text)
        print(f"page written to {a.markdown}", file=sys.stderr)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
