// Covering "helper" prefixes for rte_fib6, kept right as routes come and go.
//
// DPDK 22.11's trie reserves tbl8 groups per added route from its depth up
// to its closest covering prefix already in the table: without a cover a
// /64 reserves (64 - 24) / 8 = 5 groups however many neighbours share the
// path, so a million /64s would need 5 GiB of groups while using a few
// thousand. Every installed prefix longer than /24 therefore gets a chain
// of helper prefixes one byte level apart (/25, /33, /41, ...), added
// before it (shortest first) and removed after it (longest first), so each
// prefix reserves at most one group and reservations stay symmetric.
//
// A helper must answer exactly what the table would answer without it: its
// value is that of the longest installed prefix covering it. So when the
// value at a prefix P changes, the helpers inside P that P covers most
// closely change with it; a helper inside a longer installed prefix is
// shielded by it and keeps its value.
//
// Nothing longer than /24 is ever deleted from rte_fib6. DPDK 22.11's trie
// computes a delete's reservation against the table with the prefix still
// in it, so the counter is never given back (the prefix covers itself, or
// is its own longest match): every delete of a /25+ prefix leaks its
// reservation, and churn ends in -ENOSPC with groups free (DPDK later
// fixed this; grout carries a patch). A prefix that goes - a route, or a
// helper no route needs any more - stays instead as an idle entry (a
// tombstone) with its cover's value, kept current like a helper's, and a
// route that comes back there reuses it without a new reservation.
// Tombstones go when the table is next rebuilt (rebuild(): a large batch,
// or too many of them, see idle()).
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "dataplane/tables/fib.hpp"
#include "dataplane/tables/route_map.hpp"

namespace sluice::dp {

class Fib6Helpers {
public:
    static constexpr unsigned kFirstLevel = 25;  // one bit past rte_fib6's 24-bit first table
    static constexpr unsigned kStep = 8;

    explicit Fib6Helpers(const RouteMap6& routes) : routes_(routes) {}

    // Call around a change of the installed value at k (routes_ already
    // holds the new value). `before`/`after` are the values before and
    // after (kNoRoute = not installed). Appends the FIB writes in an order
    // that keeps rte_fib6's reservations symmetric.
    void changed(const Key6& k, uint64_t before, uint64_t after, std::vector<FibOp>& ops);

    // Recomputes every helper from the installed routes (a full load).
    void rebuild();
    // Every FIB entry the table needs, for a full build: installed routes
    // and helpers, by length, helpers first within a length.
    std::vector<FibOp> full_ops() const;

    size_t size() const { return helpers_.size(); }
    // Entries no installed prefix needs (tombstones): a rebuild drops them.
    size_t idle() const { return idle_; }
    // Groups rte_fib6 may reserve: one per helper, plus one per installed
    // prefix whose length is a helper level (its own cover is a byte up).
    uint32_t tbl8_needed() const { return uint32_t(helpers_.size()) + level_routes_; }
    void count_level_route(const Key6& k, int delta) {
        if (k.len > kFirstLevel - 1 && (k.len - kFirstLevel) % kStep == 0) level_routes_ += uint32_t(delta);
    }

    // Test hook-free introspection: the helper value at k, or false.
    bool helper_value(const Key6& k, uint64_t* v) const;

private:
    struct Helper {
        uint32_t refs = 0;
        uint64_t value = kNoRoute;
    };
    uint64_t cover_of(const Key6& h) const { return routes_.cover(h, 0, h.len); }
    void update_inside(const Key6& p, std::vector<FibOp>& ops);

    const RouteMap6& routes_;
    std::map<Key6, Helper> helpers_;  // ordered by address, so those inside a prefix are one range
    size_t idle_ = 0;                 // entries with refs == 0
    uint32_t level_routes_ = 0;
};

}  // namespace sluice::dp
