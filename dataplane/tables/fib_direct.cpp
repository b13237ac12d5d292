#include "dataplane/tables/fib_direct.hpp"

#include <atomic>
#include <cstring>
#include <string>

#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_memory.h>

namespace sluice::dp {

namespace {

// The headers of DPDK 22.11's struct dir24_8_tbl (lib/fib/dir24_8.h) and
// struct rte_trie_tbl (lib/fib/trie.h); tbl24 follows each, cache-line
// aligned (__rte_cache_aligned), at offset 64.
struct Dir24_8Head {
    uint32_t number_tbl8s, rsvd_tbl8s, cur_tbl8s;
    int32_t nh_sz;  // enum rte_fib_dir24_8_nh_sz
    uint64_t def_nh;
    uint64_t* tbl8;
    uint64_t* tbl8_idxes;
};
struct TrieHead {
    uint32_t number_tbl8s, rsvd_tbl8s, cur_tbl8s;
    uint64_t def_nh;
    int32_t nh_sz;  // enum rte_fib_trie_nh_sz
    uint64_t* tbl8;
    uint32_t* tbl8_pool;
    uint32_t tbl8_pool_pos;
};
constexpr size_t kTbl24Offset = 64;
static_assert(sizeof(Dir24_8Head) <= kTbl24Offset && sizeof(TrieHead) <= kTbl24Offset);

template <class Head>
FibDirect view(const void* dp) {
    Head h;
    std::memcpy(&h, dp, sizeof h);
    return {reinterpret_cast<const uint32_t*>(static_cast<const uint8_t*>(dp) + kTbl24Offset),
            reinterpret_cast<const uint32_t*>(h.tbl8)};
}

// Distinct from anything the table builder writes (kinds stop at 4 << 24).
constexpr uint64_t kProbeA = 0x5a5a5a5;
constexpr uint64_t kProbeB = 0x6b6b6b6;

bool dir24_8_head_ok(const void* dp, uint32_t tbl8_groups) {
    Dir24_8Head h;
    std::memcpy(&h, dp, sizeof h);
    // dir24_8_create rounds the group count up to its bitmap's 64-bit slabs.
    return h.number_tbl8s == (tbl8_groups + 63) / 64 * 64 && h.rsvd_tbl8s == 0 && h.cur_tbl8s == 0 &&
           h.nh_sz == RTE_FIB_DIR24_8_4B && h.def_nh == 0 && h.tbl8 != nullptr;
}

bool trie_head_ok(const void* dp, uint32_t tbl8_groups) {
    TrieHead h;
    std::memcpy(&h, dp, sizeof h);
    return h.number_tbl8s == tbl8_groups && h.rsvd_tbl8s == 0 && h.cur_tbl8s == 0 && h.nh_sz == RTE_FIB6_TRIE_4B &&
           h.def_nh == 0 && h.tbl8 != nullptr;
}

std::string probe_name(const char* stem) {
    static std::atomic<uint32_t> n{0};
    return stem + std::to_string(n.fetch_add(1));
}

// The layout is the library's, not a table's: it is proven once per process
// on a throwaway table (routes added, looked up both ways, table freed), so
// the tables the builder uses are never written by the check. A real table
// then only has its header compared with its configuration. (Probing the
// real table would leave a trace: DPDK 22.11's trie does not give back the
// tbl8 reservation of a deleted prefix longer than /24, and the IPv6 helper
// prefixes' sizing counts on the reservations starting at zero.)
bool dir24_8_layout_proven() {
    static const bool ok = [] {
        rte_fib_conf c{};
        c.type = RTE_FIB_DIR24_8;
        c.default_nh = 0;
        c.max_routes = 16;
        c.dir24_8.nh_sz = RTE_FIB_DIR24_8_4B;
        c.dir24_8.num_tbl8 = 64;
        rte_fib* fib = rte_fib_create(probe_name("sl4probe").c_str(), SOCKET_ID_ANY, &c);
        if (!fib) return false;
        const void* dp = rte_fib_get_dp(fib);
        bool good = dp && dir24_8_head_ok(dp, 64);
        // 198.18.0.0/16 fills tbl24 entries; 198.18.7.9/32 inside it needs a
        // tbl8 group. Each address must give the same answer both ways.
        const uint32_t a16 = 0xC6120000u, a32 = 0xC6120709u;
        good = good && rte_fib_add(fib, a16, 16, kProbeA) == 0 && rte_fib_add(fib, a32, 32, kProbeB) == 0;
        if (good) {
            FibDirect d = view<Dir24_8Head>(dp);
            uint32_t probes[] = {a16, a32, a32 + 1, a32 - 1, 0xC612FFFFu, 0xC6130000u, 0x01020304u};
            uint64_t want[7];
            rte_fib_lookup_bulk(fib, probes, want, 7);
            good = want[1] == kProbeB && want[2] == kProbeA && want[6] == 0;
            for (unsigned i = 0; good && i < 7; ++i) good = fib_direct_lookup(d, probes[i]) == want[i];
        }
        rte_fib_free(fib);
        return good;
    }();
    return ok;
}

bool trie_layout_proven() {
    static const bool ok = [] {
        rte_fib6_conf c{};
        c.type = RTE_FIB6_TRIE;
        c.default_nh = 0;
        c.max_routes = 16;
        c.trie.nh_sz = RTE_FIB6_TRIE_4B;
        c.trie.num_tbl8 = 64;
        rte_fib6* fib = rte_fib6_create(probe_name("sl6probe").c_str(), SOCKET_ID_ANY, &c);
        if (!fib) return false;
        const void* dp = rte_fib6_get_dp(fib);
        bool good = dp && trie_head_ok(dp, 64);
        // 2001:db8::/32 (tbl24 and one level) and 2001:db8:1:2::/64 (five).
        uint8_t p32[16] = {0x20, 0x01, 0x0d, 0xb8};
        uint8_t p64[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2};
        good = good && rte_fib6_add(fib, p32, 32, kProbeA) == 0 && rte_fib6_add(fib, p64, 64, kProbeB) == 0;
        if (good) {
            FibDirect d = view<TrieHead>(dp);
            uint8_t probes[6][16] = {};
            std::memcpy(probes[0], p32, 16);
            std::memcpy(probes[1], p64, 16);
            std::memcpy(probes[2], p64, 16);
            probes[2][15] = 0x42;
            std::memcpy(probes[3], p64, 16);
            probes[3][7] = 3;
            std::memcpy(probes[4], p32, 4);
            probes[4][3] = 0xb9;  // 2001:db9::
            probes[5][0] = 0x30;  // 3000::
            uint64_t want[6];
            rte_fib6_lookup_bulk(fib, probes, want, 6);
            good = want[0] == kProbeA && want[1] == kProbeB && want[2] == kProbeB && want[3] == kProbeA &&
                   want[4] == 0 && want[5] == 0;
            for (unsigned i = 0; good && i < 6; ++i) good = fib6_direct_lookup(d, probes[i]) == want[i];
        }
        rte_fib6_free(fib);
        return good;
    }();
    return ok;
}

}  // namespace

FibDirect fib_direct_probe(rte_fib* fib, uint32_t tbl8_groups) {
    const void* dp = fib ? rte_fib_get_dp(fib) : nullptr;
    if (!dp || !dir24_8_head_ok(dp, tbl8_groups) || !dir24_8_layout_proven()) return {};
    return view<Dir24_8Head>(dp);
}

FibDirect fib6_direct_probe(rte_fib6* fib, uint32_t tbl8_groups) {
    const void* dp = fib ? rte_fib6_get_dp(fib) : nullptr;
    if (!dp || !trie_head_ok(dp, tbl8_groups) || !trie_layout_proven()) return {};
    return view<TrieHead>(dp);
}

}  // namespace sluice::dp
