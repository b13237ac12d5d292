#!/usr/bin/env python3
"""Deterministic BGP-like route tables in the route-file format (docs/config.md).

For benchmarks only: the parse benchmark (tests/perf/micro/bench_config_load)
and net_null data-plane benchmarks, where nothing leaves the process. Tests
that send packets use 198.18.0.0/15 and 2001:db8::/32 only, and this script
never emits a prefix that overlaps those (or any other special range below).

    route_table.py v4 1000000 /tmp/full4.txt --gateways 198.18.1.2,198.18.1.3
    route_table.py v6 1000000 /tmp/full6.txt --gateways 2001:db8:fffe:1::2 \\
        --ecmp-share 0.1 --ecmp-width 2
    # the same table, plus a copy in which 1 000 routes changed (next hop
    # changed, some deleted, some added), for reload-diff benchmarks:
    route_table.py v4 1000000 /tmp/a.txt --gateways 198.18.1.2,198.18.1.3 \\
        --changed-copy /tmp/b.txt --changes 1000

The same arguments always give the same files (fixed seed, only
random.getrandbits is used, so the output does not depend on the Python
version's sampling helpers). Lines are sorted by address, as a RIB dump is.

Prefix-length mix. IPv4, in routes per 1000 (rounded, shaped after public
measurements of the default-free table):
  - Geoff Huston, "BGP in 2024" (APNIC Labs, labs.apnic.net/?p=1950): the
    IPv4 table holds 950 000 - 1 000 000 entries, /24s are the most common
    size by far, /22s (the RIRs' final allocation size) come next;
  - DPDK app/test/test_lpm_perf.c, rule_count: per-length counts dumped from
    a real router's table (/24 about 56%, then /23, /22, /20, /19, /21;
    /8-/15 a few hundred each, /16 inflated by the old class-B space).
  The mix below keeps /24 at about 61%, puts /22 second as today's table
  does, keeps /16 at its modern ~1.5% and leaves out longer-than-/24 prefixes,
  which the default-free zone filters.
IPv6: /48 about 46% of entries ("BGP in 2024", above), then /32, /44, /40,
/36, /29; bgp.potaroo.net/v6/as1221 reports an average prefix length of
about 42.9, which this mix comes close to (about 42.2).
"""
import argparse
import ipaddress
import sys

SEED = 20240607

V4_MIX = {24: 600, 22: 120, 23: 85, 21: 50, 20: 45, 19: 35, 16: 15, 18: 14, 17: 9, 15: 2,
          14: 1.5, 13: 0.9, 12: 0.4, 11: 0.15, 10: 0.06, 9: 0.03, 8: 0.02}
V6_MIX = {48: 460, 32: 140, 44: 80, 40: 65, 36: 40, 29: 35, 46: 25, 47: 20, 45: 15, 42: 15,
          34: 12, 33: 12, 38: 12, 43: 10, 41: 8, 39: 8, 35: 8, 37: 6, 30: 6, 31: 5, 28: 5,
          24: 3, 20: 2, 19: 1, 16: 1}

# Unicast space to draw from, and ranges no route may overlap (special-use,
# RFC 6890, and the ranges the functional tests and benchmarks use).
V4_SPACE = (1 << 24, 224 << 24)  # 1.0.0.0 .. 223.255.255.255 (224/3 excluded)
# The IPv4 special-purpose ranges come from the standard library's copy of
# the IANA registry (the same table behind ipaddress's is_private/is_global)
# rather than a hand-written list, plus shared address space (RFC 6598) and
# 224/3; the test ranges (198.18.0.0/15) are among them.
V4_EXCLUDED = [str(n) for n in ipaddress._IPv4Constants._private_networks] + [
    str(ipaddress._IPv4Constants._public_network), "224.0.0.0/3"]
V6_SPACE = (1 << 125, 2 << 125)  # 2000::/3
V6_EXCLUDED = ["2001:db8::/32"]


class Rng:
    """Version-independent draws built on getrandbits alone."""

    def __init__(self, seed):
        import random
        self._r = random.Random(seed)

    def below(self, n):
        bits = n.bit_length()
        while True:
            v = self._r.getrandbits(bits)
            if v < n:
                return v

    def chance(self, p):
        return self._r.getrandbits(53) < int(p * (1 << 53))

    def weighted(self, cum):
        """Index into a cumulative integer weight list."""
        v = self.below(cum[-1])
        lo, hi = 0, len(cum) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if cum[mid] > v:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def sample(self, n, k):
        """k distinct indices of range(n) (partial Fisher-Yates)."""
        swapped = {}
        out = []
        for i in range(k):
            j = i + self.below(n - i)
            out.append(swapped.get(j, j))
            swapped[j] = swapped.get(i, i)
        return out


class Family:
    def __init__(self, name):
        self.bits = 32 if name == "v4" else 128
        self.mix = V4_MIX if name == "v4" else V6_MIX
        self.space = V4_SPACE if name == "v4" else V6_SPACE
        self.excluded = [ipaddress.ip_network(x) for x in (V4_EXCLUDED if name == "v4" else V6_EXCLUDED)]
        self.excluded = [(int(x.network_address), x.prefixlen) for x in self.excluded]
        # A prefix of /16 or longer overlaps an exclusion of /16 or shorter
        # exactly when its /16 lies in it (a set lookup); the few longer
        # exclusions (/24 and beyond) are compared one by one.
        self.bad16 = set()
        self.long = [(e, m) for e, m in self.excluded if m > 16] if self.bits == 32 else []
        if self.bits == 32:
            for net, ln in self.excluded:
                if ln <= 16:
                    for k in range(1 << (16 - ln)):
                        self.bad16.add((net >> 16) + k)

    def overlaps_excluded(self, net, ln):
        if self.bits == 32 and ln >= 16:
            return (net >> 16) in self.bad16 or self._overlaps(net, ln, self.long)
        return self._overlaps(net, ln, self.excluded)

    def _overlaps(self, net, ln, excluded):
        for e, m in excluded:
            shift = self.bits - min(ln, m)
            if (net >> shift) == (e >> shift):
                return True
        return False

    def counts(self, total):
        """Routes per length for `total` routes (largest remainder)."""
        wsum = sum(self.mix.values())
        exact = {ln: total * w / wsum for ln, w in self.mix.items()}
        out = {ln: int(v) for ln, v in exact.items()}
        rest = total - sum(out.values())
        for ln in sorted(exact, key=lambda x: (exact[x] - out[x], -x), reverse=True)[:rest]:
            out[ln] += 1
        return out

    def draw(self, rng, ln):
        shift = self.bits - ln
        lo = -(-self.space[0] >> shift)  # first aligned network in the space
        hi = self.space[1] >> shift
        return (lo + rng.below(hi - lo)) << shift

    def text(self, net, ln):
        if self.bits == 32:
            return f"{net >> 24}.{(net >> 16) & 255}.{(net >> 8) & 255}.{net & 255}/{ln}"
        return f"{ipaddress.IPv6Address(net).compressed}/{ln}"


def new_prefix(fam, rng, ln, seen):
    shift = fam.bits - ln
    capacity = (fam.space[1] >> shift) - (-(-fam.space[0] >> shift))
    for _ in range(1000):
        net = fam.draw(rng, ln)
        if (net, ln) not in seen and not fam.overlaps_excluded(net, ln):
            seen.add((net, ln))
            return net
    sys.exit(f"route_table.py: cannot place another /{ln} (space for about {capacity}); ask for fewer routes")


def pick_hops(rng, gateways, ecmp_share, width, avoid=None):
    while True:
        if len(gateways) > 1 and rng.chance(ecmp_share):
            idx = sorted(rng.sample(len(gateways), min(width, len(gateways))))
            hops = tuple(gateways[i] for i in idx)
        else:
            hops = (gateways[rng.below(len(gateways))],)
        if hops != avoid:
            return hops


def line(fam, net, ln, hops):
    return fam.text(net, ln) + "".join(" via " + g for g in hops) + "\n"


def write(path, fam, routes):
    with open(path, "w", encoding="ascii") as f:
        f.write(f"# {len(routes)} generated routes (tests/perf/route_table.py), benchmarks only\n")
        f.writelines(line(fam, net, ln, hops) for (net, ln), hops in sorted(routes.items()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("family", choices=["v4", "v6"])
    ap.add_argument("count", type=int, help="number of routes")
    ap.add_argument("output", help="route file to write")
    ap.add_argument("--gateways", required=True,
                    help="comma-separated gateway addresses of the family (in the config's connected subnets)")
    ap.add_argument("--ecmp-share", type=float, default=0.0,
                    help="fraction of routes with an ECMP group instead of one gateway (default 0)")
    ap.add_argument("--ecmp-width", type=int, default=2, help="gateways per ECMP group (default 2)")
    ap.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    ap.add_argument("--changed-copy", metavar="PATH", help="also write a copy with --changes routes changed")
    ap.add_argument("--changes", type=int, default=1000, help="routes changed in the copy (default 1000)")
    ap.add_argument("--delete-share", type=float, default=0.2, help="of the changes, fraction deleted (default 0.2)")
    ap.add_argument("--add-share", type=float, default=0.2,
                    help="of the changes, fraction added as new prefixes (default 0.2); the rest change next hop")
    ap.add_argument("--stats", action="store_true", help="print the prefix-length histogram to stderr")
    a = ap.parse_args()

    fam = Family(a.family)
    gateways = []
    for g in a.gateways.split(","):
        addr = ipaddress.ip_address(g.strip())
        if addr.max_prefixlen != fam.bits:
            ap.error(f"gateway {g} is not an IP{a.family} address")
        gateways.append(addr.compressed)
    if len(set(gateways)) != len(gateways):
        ap.error("duplicate gateway")
    if a.count < 0 or not 0 <= a.ecmp_share <= 1 or a.ecmp_width < 2:
        ap.error("need count >= 0, 0 <= --ecmp-share <= 1, --ecmp-width >= 2")

    rng = Rng(a.seed)
    seen = set()
    routes = {}
    for ln, n in sorted(fam.counts(a.count).items()):
        for _ in range(n):
            net = new_prefix(fam, rng, ln, seen)
            routes[(net, ln)] = pick_hops(rng, gateways, a.ecmp_share, a.ecmp_width)
    write(a.output, fam, routes)
    if a.stats:
        hist = fam.counts(a.count)
        print(" ".join(f"/{ln}:{hist[ln]}" for ln in sorted(hist) if hist[ln]), file=sys.stderr)

    if a.changed_copy:
        if len(gateways) < 2:
            ap.error("--changed-copy needs at least two gateways (a changed next hop needs another one)")
        k = min(a.changes, len(routes))
        n_del = round(k * a.delete_share)
        n_add = round(k * a.add_share)
        n_mod = k - n_del - n_add
        if n_mod < 0:
            ap.error("--delete-share + --add-share must not exceed 1")
        crng = Rng(a.seed + 1)
        keys = sorted(routes)
        picked = [keys[i] for i in crng.sample(len(keys), n_mod + n_del)]
        changed = dict(routes)
        for key in picked[:n_mod]:
            changed[key] = pick_hops(crng, gateways, a.ecmp_share, a.ecmp_width, avoid=routes[key])
        for key in picked[n_mod:]:
            del changed[key]
        lens = sorted(fam.mix)
        cum = []
        for ln in lens:
            cum.append((cum[-1] if cum else 0) + int(fam.mix[ln] * 100))
        for _ in range(n_add):
            ln = lens[crng.weighted(cum)]
            net = new_prefix(fam, crng, ln, seen)
            changed[(net, ln)] = pick_hops(crng, gateways, a.ecmp_share, a.ecmp_width)
        write(a.changed_copy, fam, changed)
        print(f"route_table.py: {a.changed_copy}: {n_mod} next hops changed, {n_del} deleted, {n_add} added",
              file=sys.stderr)


if __name__ == "__main__":
    main()
