// Connection tracking for the load balancer: one table per worker (never
// shared), fixed capacity allocated at start, no allocation, no lock, no
// exception afterwards. A tracked flow keeps its backend when the VIP's
// backends are added, removed or reweighted (Maglev alone would move a few
// of them); see docs/lb.md, "Connection tracking".
//
// Time is passed in (milliseconds of a monotonic clock, wrapping uint32), so
// the tests drive it. Ages are taken as (now - last_seen) in uint32, so the
// clock's wrap every 2^32 ms (49.7 days) is harmless. An age of 2^31 ms (24.8
// days) or more is treated as expired, whatever the timeout (timeouts are
// capped at 2^31 - 1 ms): that range is also what a timestamp "from the
// future" would give, and a stale entry must never pass for a live one. The
// sweep visits every bucket far more often than that, so a real entry never
// gets old enough for its age to alias.
//
// Layout (flow_detail below): buckets of 8 ways, indexed by the low bits of the
// flow hash; each bucket is one 64-byte line of metadata (16-bit signatures
// from the hash's high bits, last-seen times, classes, an exact LRU order)
// followed by the 8 keys and values (56 bytes each): 64 bytes an entry.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sluice::lb {

// The 5-tuple, as it arrives (client -> VIP). IPv4 addresses in the first
// four bytes, the rest zero. Ports 0 when the flow hash ignores them.
struct FlowKey {
    std::array<uint8_t, 16> src{};
    std::array<uint8_t, 16> dst{};
    uint16_t sport = 0;  // network order, as in the packet
    uint16_t dport = 0;
    uint8_t proto = 0;
    uint8_t v6 = 0;
    uint16_t pad = 0;    // always 0: keys compare bytewise
    friend bool operator==(const FlowKey&, const FlowKey&) = default;
};
static_assert(sizeof(FlowKey) == 40);

// Which idle timeout applies to an entry.
enum class FlowClass : uint8_t { tcp = 0, tcp_closing = 1, udp = 2 };

struct FlowTimeouts {
    uint32_t ms[3] = {300000, 10000, 30000};  // indexed by FlowClass
};

// What a tracked flow remembers: its VIP's slot and its backend's slot in
// the published tables, each with the never-reused id that was there when
// the flow was inserted (a slot reused by another VIP or backend is then
// told apart).
struct FlowValue {
    uint32_t vip = 0;
    uint32_t vip_uid = 0;
    uint32_t backend = 0;
    uint32_t backend_uid = 0;
};

struct FlowTableStats {
    uint64_t inserted = 0, evicted = 0, expired = 0, removed = 0;
    uint64_t live = 0;  // entries now
};

// Counters written only by the owning worker, read by telemetry (relaxed
// atomics: whole values, no RMW).
inline constexpr uint32_t kMaxVips = 4096;
inline constexpr uint32_t kMaxBackendSlots = 65536;  // FlowValue::backend bound, all VIPs together

// The bucket layout and the lookup's helpers, in the header so that the
// hot calls (prefetch, prefetch_entry, find) inline into the stage: as
// calls into flow_table.cpp the three cost 114 instructions a packet under
// callgrind (IPIP, 1k flows), inline 86. Set-
// associative buckets of 8 ways, as in the cuckoo-free layouts of DPDK's
// rte_hash and VPP's bihash: a lookup reads the bucket's metadata line,
// compares 16-bit signatures (from hash bits the index does not use) for
// all ways at once, and compares the full 40-byte key only where a
// signature matches (a false match costs one key compare in 2^16 per
// occupied way). Everything the replacement and expiry decisions need
// (last-seen, class, LRU order) is in that same line, so a full bucket
// picks its victim, and the sweep expires entries, without reading keys.
namespace flow_detail {

inline constexpr uint32_t kWays = 8;
// Ages of 2^31 ms and more are expired whatever the timeout (see above).
inline constexpr uint32_t kMaxTimeout = 0x7fffffff;

struct Meta {
    uint16_t sig[kWays];   // hash >> 16 of each used way
    uint32_t last[kWays];  // last seen, ms
    uint32_t order;        // LRU order (flow_table.cpp, kInitialOrder)
    uint16_t cls;          // FlowClass of way w in bits 2w..2w+1
    uint8_t used;          // bit w: way w holds an entry
    uint8_t pad[9];
};
static_assert(sizeof(Meta) == 64);

struct Entry {
    FlowKey key;
    FlowValue value;
};
static_assert(sizeof(Entry) == 56);

// 512 bytes: 64 bytes an entry, metadata included.
struct alignas(64) Bucket {
    Meta meta;
    Entry e[kWays];
};
static_assert(sizeof(Bucket) == 512);

// Eight bytes of a key at byte offset `at`.
inline uint64_t key_word(const FlowKey& k, size_t at) {
    uint64_t v;
    std::memcpy(&v, reinterpret_cast<const uint8_t*>(&k) + at, 8);
    return v;
}

// Five 8-byte compares without a branch. Loaded word by word: copying both
// keys into arrays first made GCC bounce them through the stack (9
// instructions a lookup more under callgrind).
inline bool same_key(const FlowKey& a, const FlowKey& b) {
    return ((key_word(a, 0) ^ key_word(b, 0)) | (key_word(a, 8) ^ key_word(b, 8)) |
            (key_word(a, 16) ^ key_word(b, 16)) | (key_word(a, 24) ^ key_word(b, 24)) |
            (key_word(a, 32) ^ key_word(b, 32))) == 0;
}

// Bit w set where way w is used and its signature is `sig`.
inline uint32_t match_sig(const Meta& m, uint16_t sig) {
#if defined(__SSE2__)
    const __m128i v = _mm_load_si128(reinterpret_cast<const __m128i*>(m.sig));
    const __m128i eq = _mm_cmpeq_epi16(v, _mm_set1_epi16(int16_t(sig)));
    // Saturating pack turns each 0xffff/0 lane into one 0xff/0 byte.
    const uint32_t bits = uint32_t(_mm_movemask_epi8(_mm_packs_epi16(eq, _mm_setzero_si128())));
    return bits & m.used;
#else
    uint32_t bits = 0;
    for (uint32_t w = 0; w < kWays; ++w) bits |= uint32_t(m.sig[w] == sig) << w;
    return bits & m.used;
#endif
}

// The rank of `way`: the nibble of `order` equal to it, found without a
// loop (the zero-nibble test of "Bit Twiddling Hacks", "Determine if a word
// has a zero byte", on nibbles: the lowest flagged nibble is exact).
inline uint32_t rank_of(uint32_t order, uint32_t way) {
    const uint32_t x = order ^ (way * 0x11111111u);
    const uint32_t zero = (x - 0x11111111u) & ~x & 0x88888888u;
    return uint32_t(std::countr_zero(zero)) / 4;
}

inline uint32_t way_at(uint32_t order, uint32_t rank) { return (order >> (4 * rank)) & 0xf; }

// Moves `way` to rank 0; the ways ranked before it move one back.
inline uint32_t to_front(uint32_t order, uint32_t way) {
    const uint32_t r = rank_of(order, way);
    const uint64_t o = order;
    const uint64_t before = o & ((uint64_t(1) << (4 * r)) - 1);
    const uint64_t after = (o >> (4 * (r + 1))) << (4 * (r + 1));
    return uint32_t(after | (before << 4) | way);
}

inline uint32_t class_of(const Meta& m, uint32_t way) { return (m.cls >> (2 * way)) & 3u; }

inline bool is_expired(const Meta& m, uint32_t way, uint32_t now_ms, const FlowTimeouts& t) {
    const uint32_t timeout = std::min(t.ms[class_of(m, way)], kMaxTimeout);
    return uint32_t(now_ms - m.last[way]) > timeout;
}

// The way holding k, or kWays.
inline uint32_t locate(const Bucket& b, const FlowKey& k, uint32_t hash) {
    uint32_t m = match_sig(b.meta, uint16_t(hash >> 16));
    while (m != 0) {
        const uint32_t w = uint32_t(std::countr_zero(m));
        if (same_key(b.e[w].key, k)) return w;
        m &= m - 1;
    }
    return kWays;
}

}  // namespace flow_detail

class FlowTable {
public:
    // capacity: entries, rounded up to a power of two (at least one bucket of
    // 8, at most 2^31). Entries' FlowValue::vip must be < kMaxVips (an entry
    // with a larger one is kept but not counted per VIP). All memory is
    // allocated and touched here (transparent huge pages advised for large
    // tables); nothing after allocates, locks or throws.
    explicit FlowTable(uint32_t capacity);
    ~FlowTable();
    FlowTable(const FlowTable&) = delete;
    FlowTable& operator=(const FlowTable&) = delete;

    uint32_t capacity() const;

    // Brings the bucket for `hash` towards the cache (call for a burst's
    // packets before the lookups).
    void prefetch(uint32_t hash) const {
        // The metadata line only: it decides which way (if any) holds the
        // key, and whether the bucket's victim is needed. Prefetching all 8
        // lines of the bucket too was slower at 10^6 flows in bench_stages
        // (BM_FlowTable_FindHit): 8 times the memory traffic for one entry.
        __builtin_prefetch(&buckets_[hash & mask_], 1, 3);
    }
    // The second step, once prefetch()'s line has had time to arrive: brings
    // the entry whose signature matches towards the cache too, so that at
    // 10^6 flows a find waits on memory for neither line.
    void prefetch_entry(uint32_t hash) const {
        // An entry is 56 bytes and may straddle two lines: both are fetched.
        const flow_detail::Bucket& b = buckets_[hash & mask_];
        const uint32_t m = flow_detail::match_sig(b.meta, uint16_t(hash >> 16));
        if (m == 0) return;
        const char* e = reinterpret_cast<const char*>(&b.e[std::countr_zero(m)]);
        __builtin_prefetch(e, 1, 3);
        __builtin_prefetch(e + sizeof(flow_detail::Entry) - 1, 1, 3);
    }

    // The live entry for k (hash: the flow hash of k), refreshed to `now`
    // (and moved to most recently used), or null. An entry idle for longer
    // than its class's timeout is expired on the way: removed, counted, and
    // not returned. The pointer is valid until the next insert or remove.
    FlowValue* find(const FlowKey& k, uint32_t hash, uint32_t now_ms, const FlowTimeouts& t) {
        using namespace flow_detail;
        Bucket& b = buckets_[hash & mask_];
        const uint32_t w = locate(b, k, hash);
        if (w == kWays) return nullptr;
        if (is_expired(b.meta, w, now_ms, t)) [[unlikely]] {
            expire(b, w);
            return nullptr;
        }
        b.meta.last[w] = now_ms;
        if (way_at(b.meta.order, 0) != w) b.meta.order = to_front(b.meta.order, w);
        return &b.e[w].value;
    }

    // Inserts (or overwrites) k. A full bucket gives up an expired entry
    // (counted as expired), else its least recently used one (counted as
    // evicted). Returns the entry, most recently used, last seen `now`.
    // Overwriting a live entry is not counted as inserted; overwriting an
    // expired one counts it expired, then inserted.
    FlowValue* insert(const FlowKey& k, uint32_t hash, const FlowValue& v, FlowClass c, uint32_t now_ms,
                      const FlowTimeouts& t);

    // Changes an entry's class (a FIN or RST seen: tcp_closing). Neither
    // refreshes nor expires it.
    void set_class(const FlowKey& k, uint32_t hash, FlowClass c);
    // Removes k if present (expired or not; counted as removed).
    bool remove(const FlowKey& k, uint32_t hash);

    // Expires idle entries in the next `buckets` buckets (a cursor walks the
    // table round after round), so that flows nobody sends to again leave
    // the table and the counts. The worker calls it once per poll loop with
    // a small budget. Returns the entries expired. A budget larger than the
    // table visits each bucket once.
    uint32_t sweep(uint32_t buckets, uint32_t now_ms, const FlowTimeouts& t);

    // Live entries per VIP slot (index < kMaxVips) and the totals; any
    // thread may read (relaxed).
    uint64_t live(uint32_t vip) const;
    // Live entries per backend slot (index < kMaxBackendSlots).
    uint64_t live_backend(uint32_t backend) const;
    // Moves a live entry (from find()) to another backend, keeping the
    // per-backend counts right: the way to change FlowValue::backend.
    void rebind(FlowValue* v, uint32_t backend, uint32_t backend_uid);
    FlowTableStats stats() const;

private:
    // find()'s rare branch: frees an idle way and counts it expired.
    void expire(flow_detail::Bucket& b, uint32_t way);

    struct Impl;
    std::unique_ptr<Impl> impl_;
    // The same bucket array and mask as impl_'s, for the inline lookups
    // (fixed at construction: the table is never resized).
    flow_detail::Bucket* buckets_ = nullptr;
    uint32_t mask_ = 0;
};

// The new-flow rate guard (Katran's "flood protection"): above `rate` new
// tracked flows per second (token bucket of depth `burst`), new flows are
// balanced by Maglev alone and not inserted, so a SYN flood cannot evict
// established flows. rate 0: no limit. The bucket starts full; burst 0 with a
// rate acts as 1 (a bucket that can hold no token would refuse everything).
// Exact integer refill as in dataplane/neighbor/token_bucket.hpp: credit in
// token-nanoseconds, so no rate loses anything to rounding. Owned by one
// worker, like the table.
class NewFlowGuard {
public:
    NewFlowGuard(uint32_t rate_per_s, uint32_t burst);
    // At run time (reload): keeps the current tokens, capped to the new
    // burst; from "no limit" the bucket starts full. The time since the last
    // allow() is credited at the new rate.
    void configure(uint32_t rate_per_s, uint32_t burst);
    bool allow(uint64_t now_ns);
    uint64_t refused() const { return refused_; }

private:
    static constexpr uint64_t kNsPerS = 1'000'000'000;
    uint32_t rate_ = 0, burst_ = 0;
    uint64_t tokens_ns_ = 0;  // credit in token-nanoseconds
    uint64_t last_ns_ = 0;
    uint64_t fill_ns_ = 0;    // time that fills an empty bucket; caps elapsed * rate
    bool started_ = false;
    uint64_t refused_ = 0;
};

}  // namespace sluice::lb
