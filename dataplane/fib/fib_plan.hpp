// How a snapshot's routes go into rte_fib (DIR24_8) and rte_fib6 (TRIE):
// table sizes and, for IPv6, the insertion order. Pure: no EAL, unit-tested.
//
// Both DPDK FIBs allocate their tbl8 groups up front (num_tbl8), and the
// IPv6 trie *reserves* groups per added route from the route's depth down
// to its longest covering prefix already in the table: without a cover, a
// /64 reserves (64 - 24) / 8 = 5 groups even when its neighbours already
// built the path. A million /64s would reserve 5M groups (5 GiB at 4-byte
// next hops) while using a few thousand. We give every route above /24 a
// chain of covering "helper" prefixes at /25, /33, /41, ... (each one byte
// level apart), each carrying the next hop the table already gives its
// address, so lookups answer exactly as without them, and each prefix
// reserves at most one group. The table is then sized from the plan.
#pragma once

#include <cstdint>
#include <vector>

#include "config/model.hpp"

namespace sluice::dp {

struct FibEntry {
    config::Prefix prefix;  // network address (host bits clear)
    uint64_t value = 0;
};

// tbl8 groups DIR24_8 needs: one per distinct /24 holding a longer prefix.
uint32_t fib4_tbl8_needed(const std::vector<FibEntry>& v4);

struct Fib6Step {
    config::Prefix prefix;
    bool helper = false;  // value = the table's current answer for prefix.addr
    uint64_t value = 0;   // for real routes
};

struct Fib6Plan {
    std::vector<Fib6Step> steps;  // by prefix length; helpers before routes of a length
    uint32_t helpers = 0;
    uint32_t tbl8_needed = 0;     // upper bound on groups reserved by the steps in order
};

// Real entries keep their relative order within a prefix length, so a later
// duplicate still wins.
Fib6Plan plan_fib6(const std::vector<FibEntry>& v6);

}  // namespace sluice::dp
