// Inline longest-prefix-match lookups over the tables of a DPDK 22.11
// rte_fib (DIR-24-8) and rte_fib6 (trie) with 4-byte next hops, read in
// place: no second copy of the tables, so the 10^6-route load time and the
// incremental updates (tables/fib_pair.hpp) are rte_fib's own.
//
// Why not rte_fib_lookup_bulk: it is a call through a function pointer per
// burst over gathered destination and answer arrays. Inline, one packet's
// lookup is two or three instructions in the loop that uses its answer, and
// the tbl24 line is prefetched while the burst is parsed. Measured under
// callgrind (docs/perf.md, IPv4 1k prefixes 1k flows): rte_fib_lookup_bulk
// 20.6 instructions per packet; see forward.cpp for what the inline one
// costs. rte_lpm's own inline lookup (rte_lpm_lookupx4) needs an rte_lpm,
// which takes minutes to load 10^6 routes (docs/perf.md), so sluice reads
// rte_fib's tables instead.
//
// The layouts are DPDK's internal ones (lib/fib/dir24_8.h, lib/fib/trie.h,
// unchanged across the 22.11 LTS releases). They are proven once per
// process on a throwaway table (fib_direct.cpp: probe routes looked up both
// ways), and every table Fib::create makes has its header compared with its
// configuration before it is trusted; a table that fails gets an empty
// FibDirect and the worker uses rte_fib's bulk lookup, as before.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "dataplane/tables/nexthops.hpp"

struct rte_fib;
struct rte_fib6;

namespace sluice::dp {

struct FibDirect {
    const uint32_t* tbl24 = nullptr;  // null: not verified, use rte_fib(6)_lookup_bulk
    const uint32_t* tbl8 = nullptr;
};

// The tables of a newly created, empty table (as Fib::create made it:
// 4-byte next hops, default next hop 0, `tbl8_groups` groups) when its
// header says so and this DPDK's layout is proven, else an empty FibDirect.
// Never writes to the table.
FibDirect fib_direct_probe(rte_fib* fib, uint32_t tbl8_groups);
FibDirect fib6_direct_probe(rte_fib6* fib, uint32_t tbl8_groups);

// An entry is (next hop << 1) | extended; extended: the rest of the answer
// is in the tbl8 group (entry >> 1), indexed by the next address byte.
[[gnu::always_inline]] inline uint64_t fib_direct_lookup(const FibDirect& d, uint32_t ip_host) {
    uint32_t e = d.tbl24[ip_host >> 8];
    if (e & 1) [[unlikely]]
        e = d.tbl8[size_t(e >> 1) * 256 + (ip_host & 0xff)];
    return e >> 1;
}

// The tbl24 index of an IPv6 address: its first three bytes, from one
// 32-bit load (3 instructions instead of 8 under callgrind).
inline uint32_t trie_tbl24_index(const uint8_t* a) {
    uint32_t w;
    std::memcpy(&w, a, 4);
    if constexpr (std::endian::native == std::endian::little) w = __builtin_bswap32(w);
    return w >> 8;
}

// A raw entry that is a single next hop and not extended, told by one mask
// and one compare: its kind bits (nexthops.hpp) sit one bit up, above the
// extended bit. The worker decides the common answer this way before
// decoding anything (forward.cpp).
inline constexpr uint32_t kEntryKindMask = (0x7u << (kNhIndexBits + 1)) | 1u;
inline constexpr uint32_t kEntrySingle = uint32_t(NhKind::single) << (kNhIndexBits + 1);
static_assert(kNhIndexBits + 1 + 3 <= 32, "a 4-byte entry holds the index, the kind and the extended bit");
inline constexpr bool entry_is_single(uint32_t e) { return (e & kEntryKindMask) == kEntrySingle; }
inline constexpr uint32_t entry_index(uint32_t e) { return (e >> 1) & kNhIndexMask; }
// A next hop value (rte_fib's bulk answer) as an entry that is not extended.
inline constexpr uint32_t entry_of(uint64_t nhv) { return uint32_t(nhv) << 1; }

// The IPv6 walk's leaf: a raw entry, never extended.
[[gnu::always_inline]] inline uint32_t fib6_direct_entry(const FibDirect& d, const uint8_t* a) {
    uint32_t e = d.tbl24[trie_tbl24_index(a)];
    // At most 13 levels below tbl24 (bytes 3..15): a /128's last group
    // holds plain entries, so the walk never reads past a[15] (as DPDK's
    // own rte_trie_lookup_bulk_4b, which has no bound either).
    // (e >> 1) * 256 == (e << 7) - 128 for an odd e: the -128 becomes the
    // load's displacement (7 instructions a level instead of 8 under
    // callgrind, five levels for a /64).
    const uint8_t* p = a + 3;
    while (e & 1) e = d.tbl8[(size_t(e) << 7) + *p++ - 128];
    return e;
}

[[gnu::always_inline]] inline uint64_t fib6_direct_lookup(const FibDirect& d, const uint8_t* a) {
    return fib6_direct_entry(d, a) >> 1;
}

// The tbl24 entry a lookup reads first, for a prefetch (a prefetch of any
// address is harmless, so an unverified table needs no test here).
inline const void* fib_direct_line(const FibDirect& d, uint32_t ip_host) {
    return reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(d.tbl24) + size_t(ip_host >> 8) * 4);
}
inline const void* fib6_direct_line(const FibDirect& d, const uint8_t* a) {
    return reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(d.tbl24) + size_t(trie_tbl24_index(a)) * 4);
}

}  // namespace sluice::dp
