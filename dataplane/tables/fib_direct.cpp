#include "dataplane/tables/fib_direct.hpp"

#include <cstring>

#include <rte_fib.h>
#include <rte_fib6.h>

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

}  // namespace

FibDirect fib_direct_probe(rte_fib* fib, uint32_t tbl8_groups) {
    const void* dp = fib ? rte_fib_get_dp(fib) : nullptr;
    if (!dp) return {};
    Dir24_8Head h;
    std::memcpy(&h, dp, sizeof h);
    // dir24_8_create rounds the group count up to its bitmap's 64-bit slabs.
    if (h.number_tbl8s != (tbl8_groups + 63) / 64 * 64 || h.rsvd_tbl8s != 0 || h.cur_tbl8s != 0 ||
        h.nh_sz != RTE_FIB_DIR24_8_4B ||
        h.def_nh != 0 || h.tbl8 == nullptr)
        return {};
    FibDirect d = view<Dir24_8Head>(dp);
    // 198.18.0.0/16 fills tbl24 entries; 198.18.7.9/32 inside it needs a
    // tbl8 group. Each address must give the same answer both ways.
    const uint32_t a16 = 0xC6120000u, a32 = 0xC6120709u;
    bool ok = rte_fib_add(fib, a16, 16, kProbeA) == 0 && rte_fib_add(fib, a32, 32, kProbeB) == 0;
    if (ok) {
        const uint32_t probes[] = {a16, a32, a32 + 1, a32 - 1, 0xC612FFFFu, 0xC6130000u, 0x01020304u};
        uint64_t want[7];
        rte_fib_lookup_bulk(fib, const_cast<uint32_t*>(probes), want, 7);
        ok = want[1] == kProbeB && want[2] == kProbeA && want[6] == 0;
        for (unsigned i = 0; ok && i < 7; ++i) ok = fib_direct_lookup(d, probes[i]) == want[i];
    }
    rte_fib_delete(fib, a32, 32);
    rte_fib_delete(fib, a16, 16);
    return ok ? d : FibDirect{};
}

FibDirect fib6_direct_probe(rte_fib6* fib, uint32_t tbl8_groups) {
    const void* dp = fib ? rte_fib6_get_dp(fib) : nullptr;
    if (!dp) return {};
    TrieHead h;
    std::memcpy(&h, dp, sizeof h);
    if (h.number_tbl8s != tbl8_groups || h.rsvd_tbl8s != 0 || h.cur_tbl8s != 0 || h.nh_sz != RTE_FIB6_TRIE_4B ||
        h.def_nh != 0 || h.tbl8 == nullptr)
        return {};
    FibDirect d = view<TrieHead>(dp);
    // 2001:db8::/32 (tbl24 and one level) and 2001:db8:1:2::/64 (five).
    uint8_t p32[16] = {0x20, 0x01, 0x0d, 0xb8};
    uint8_t p64[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2};
    bool ok = rte_fib6_add(fib, p32, 32, kProbeA) == 0 && rte_fib6_add(fib, p64, 64, kProbeB) == 0;
    if (ok) {
        uint8_t probes[6][16] = {};
        std::memcpy(probes[0], p32, 16);
        std::memcpy(probes[1], p64, 16);
        std::memcpy(probes[2], p64, 16);
        probes[2][15] = 0x42;
        std::memcpy(probes[3], p64, 16);
        probes[3][7] = 3;
        probes[4][0] = 0x20;
        probes[4][1] = 0x01;
        probes[4][2] = 0x0d;
        probes[4][3] = 0xb9;
        probes[5][0] = 0x30;
        uint64_t want[6];
        rte_fib6_lookup_bulk(fib, probes, want, 6);
        ok = want[0] == kProbeA && want[1] == kProbeB && want[2] == kProbeB && want[3] == kProbeA && want[4] == 0 &&
             want[5] == 0;
        for (unsigned i = 0; ok && i < 6; ++i) ok = fib6_direct_lookup(d, probes[i]) == want[i];
    }
    rte_fib6_delete(fib, p64, 64);
    rte_fib6_delete(fib, p32, 32);
    return ok ? d : FibDirect{};
}

}  // namespace sluice::dp
