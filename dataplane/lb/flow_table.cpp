// The per-worker connection-tracking table (flow_table.hpp). Set-associative
// buckets of 8 ways, as in the cuckoo-free layouts of DPDK's rte_hash and
// VPP's bihash: a lookup reads the bucket's metadata line, compares 16-bit
// signatures (from hash bits the index does not use) for all ways at once,
// and compares the full 40-byte key only where a signature matches (a false
// match costs one key compare in 2^16 per occupied way). Everything the
// replacement and expiry decisions need (last-seen, class, LRU order) is in
// that same line, so a full bucket picks its victim, and the sweep expires
// entries, without reading the keys.
#include "dataplane/lb/flow_table.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sluice::lb {
namespace {

constexpr uint32_t kWays = 8;
constexpr uint64_t kMaxCapacity = uint64_t(1) << 31;
// Nibble r of the order word is the way at recency rank r (0: most recently
// used, 7: least). Always a permutation of 0..7. A free way's rank means
// nothing: it is taken (and moved to the front) before any used way is
// replaced, so the ranks of the used ways are their LRU order.
constexpr uint32_t kInitialOrder = 0x76543210;
// Ages of 2^31 ms and more are expired whatever the timeout (see the header).
constexpr uint32_t kMaxTimeout = 0x7fffffff;
constexpr size_t kHugePage = size_t(2) << 20;

struct Meta {
    uint16_t sig[kWays];   // hash >> 16 of each used way
    uint32_t last[kWays];  // last seen, ms
    uint32_t order;        // LRU order, see kInitialOrder
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

inline bool same_key(const FlowKey& a, const FlowKey& b) {
    uint64_t x[5], y[5];
    std::memcpy(x, &a, sizeof x);
    std::memcpy(y, &b, sizeof y);
    return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) == 0;
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

inline void set_class_bits(Meta& m, uint32_t way, uint32_t c) {
    m.cls = uint16_t((m.cls & ~(3u << (2 * way))) | (c << (2 * way)));
}

inline uint32_t class_index(FlowClass c) { return std::min<uint32_t>(uint32_t(c), 2); }

inline bool is_expired(const Meta& m, uint32_t way, uint32_t now_ms, const FlowTimeouts& t) {
    const uint32_t timeout = std::min(t.ms[class_of(m, way)], kMaxTimeout);
    return uint32_t(now_ms - m.last[way]) > timeout;
}

// Written by the owning worker only, read by any thread: a load and a store,
// no read-modify-write (no lock prefix on the packet path).
inline void add(std::atomic<uint64_t>& a, uint64_t d) {
    a.store(a.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
}
inline void sub(std::atomic<uint64_t>& a, uint64_t d) {
    a.store(a.load(std::memory_order_relaxed) - d, std::memory_order_relaxed);
}

}  // namespace

struct FlowTable::Impl {
    Bucket* buckets = nullptr;
    uint32_t mask = 0;  // buckets - 1
    uint32_t cursor = 0;

    alignas(64) std::atomic<uint64_t> inserted{0};
    std::atomic<uint64_t> evicted{0}, expired{0}, removed{0}, live{0};
    alignas(64) std::atomic<uint64_t> per_vip[kMaxVips] = {};
    alignas(64) std::atomic<uint64_t> per_backend[kMaxBackendSlots] = {};

    Bucket& bucket(uint32_t hash) const { return buckets[hash & mask]; }

    void count_in(uint32_t vip, uint32_t backend) {
        add(live, 1);
        if (vip < kMaxVips) add(per_vip[vip], 1);
        if (backend < kMaxBackendSlots) add(per_backend[backend], 1);
    }
    void count_out(uint32_t vip, uint32_t backend) {
        sub(live, 1);
        if (vip < kMaxVips) sub(per_vip[vip], 1);
        if (backend < kMaxBackendSlots) sub(per_backend[backend], 1);
    }

    // Frees a way; the caller counts why.
    void drop(Bucket& b, uint32_t way) {
        b.meta.used = uint8_t(b.meta.used & ~(1u << way));
        count_out(b.e[way].value.vip, b.e[way].value.backend);
    }

    // The way holding k, or kWays.
    uint32_t locate(const Bucket& b, const FlowKey& k, uint32_t hash) const {
        uint32_t m = match_sig(b.meta, uint16_t(hash >> 16));
        while (m != 0) {
            const uint32_t w = uint32_t(std::countr_zero(m));
            if (same_key(b.e[w].key, k)) return w;
            m &= m - 1;
        }
        return kWays;
    }
};

FlowTable::FlowTable(uint32_t capacity) : impl_(std::make_unique<Impl>()) {
    const uint64_t entries = std::bit_ceil(std::clamp<uint64_t>(capacity, kWays, kMaxCapacity));
    const uint64_t nbuckets = entries / kWays;
    // Large tables on 2 MiB pages: a random lookup in 64 MiB on 4 KiB pages
    // misses the TLB almost every time. Only advice (THP "madvise" mode).
    const size_t bytes = size_t(nbuckets) * sizeof(Bucket);
    const size_t align = bytes >= kHugePage ? kHugePage : alignof(Bucket);
    const size_t alloc = (bytes + align - 1) & ~(align - 1);
    void* p = std::aligned_alloc(align, alloc);
    if (p == nullptr) throw std::bad_alloc();
    if (align == kHugePage) ::madvise(p, alloc, MADV_HUGEPAGE);
    impl_->buckets = static_cast<Bucket*>(p);
    // Touch every page now, so that no packet takes a page fault later.
    for (uint64_t i = 0; i < nbuckets; ++i) {
        Bucket* b = new (&impl_->buckets[i]) Bucket();
        b->meta.order = kInitialOrder;
    }
    impl_->mask = uint32_t(nbuckets - 1);
}

FlowTable::~FlowTable() {
    // Bucket is trivially destructible.
    std::free(impl_->buckets);
}

uint32_t FlowTable::capacity() const { return (impl_->mask + 1) * kWays; }

void FlowTable::prefetch(uint32_t hash) const {
    // The metadata line only: it decides which way (if any) holds the key,
    // and whether the bucket's victim is needed. Prefetching all 8 lines of
    // the bucket too was slower at 10^6 flows in bench_stages
    // (BM_FlowTable_FindHit): 8 times the memory traffic for one entry.
    const char* b = reinterpret_cast<const char*>(&impl_->bucket(hash));
    __builtin_prefetch(b, 1, 3);
}

void FlowTable::prefetch_entry(uint32_t hash) const {
    // An entry is 56 bytes and may straddle two lines: both are fetched.
    const Bucket& b = impl_->bucket(hash);
    const uint32_t m = match_sig(b.meta, uint16_t(hash >> 16));
    if (m == 0) return;
    const char* e = reinterpret_cast<const char*>(&b.e[std::countr_zero(m)]);
    __builtin_prefetch(e, 1, 3);
    __builtin_prefetch(e + sizeof(Entry) - 1, 1, 3);
}

FlowValue* FlowTable::find(const FlowKey& k, uint32_t hash, uint32_t now_ms, const FlowTimeouts& t) {
    Impl& im = *impl_;
    Bucket& b = im.bucket(hash);
    const uint32_t w = im.locate(b, k, hash);
    if (w == kWays) return nullptr;
    if (is_expired(b.meta, w, now_ms, t)) {
        im.drop(b, w);
        add(im.expired, 1);
        return nullptr;
    }
    b.meta.last[w] = now_ms;
    if (way_at(b.meta.order, 0) != w) b.meta.order = to_front(b.meta.order, w);
    return &b.e[w].value;
}

FlowValue* FlowTable::insert(const FlowKey& k, uint32_t hash, const FlowValue& v, FlowClass c, uint32_t now_ms,
                             const FlowTimeouts& t) {
    Impl& im = *impl_;
    Bucket& b = im.bucket(hash);
    Meta& m = b.meta;
    uint32_t w = im.locate(b, k, hash);
    if (w != kWays) {
        if (!is_expired(m, w, now_ms, t)) {  // overwrite in place
            if (b.e[w].value.vip != v.vip || b.e[w].value.backend != v.backend) {
                im.count_out(b.e[w].value.vip, b.e[w].value.backend);
                im.count_in(v.vip, v.backend);
            }
            b.e[w].value = v;
            set_class_bits(m, w, class_index(c));
            m.last[w] = now_ms;
            m.order = to_front(m.order, w);
            return &b.e[w].value;
        }
        im.drop(b, w);  // the old entry is gone; what follows is a new one
        add(im.expired, 1);
    }
    const uint32_t free_ways = ~uint32_t(m.used) & 0xffu;
    if (free_ways != 0) {
        w = uint32_t(std::countr_zero(free_ways));
    } else {
        // Full: the least recently used expired entry, else the least
        // recently used entry.
        w = kWays;
        for (uint32_t r = kWays; r-- > 0;) {
            const uint32_t cand = way_at(m.order, r);
            if (is_expired(m, cand, now_ms, t)) {
                w = cand;
                break;
            }
        }
        if (w != kWays) {
            add(im.expired, 1);
        } else {
            w = way_at(m.order, kWays - 1);
            add(im.evicted, 1);
        }
        im.drop(b, w);
    }
    b.e[w].key = k;
    b.e[w].value = v;
    m.sig[w] = uint16_t(hash >> 16);
    m.last[w] = now_ms;
    set_class_bits(m, w, class_index(c));
    m.used = uint8_t(m.used | (1u << w));
    m.order = to_front(m.order, w);
    add(im.inserted, 1);
    im.count_in(v.vip, v.backend);
    return &b.e[w].value;
}

void FlowTable::set_class(const FlowKey& k, uint32_t hash, FlowClass c) {
    Bucket& b = impl_->bucket(hash);
    const uint32_t w = impl_->locate(b, k, hash);
    if (w != kWays) set_class_bits(b.meta, w, class_index(c));
}

bool FlowTable::remove(const FlowKey& k, uint32_t hash) {
    Impl& im = *impl_;
    Bucket& b = im.bucket(hash);
    const uint32_t w = im.locate(b, k, hash);
    if (w == kWays) return false;
    im.drop(b, w);
    add(im.removed, 1);
    return true;
}

uint32_t FlowTable::sweep(uint32_t buckets, uint32_t now_ms, const FlowTimeouts& t) {
    Impl& im = *impl_;
    const uint32_t n = std::min(buckets, im.mask + 1);
    uint32_t expired = 0;
    for (uint32_t i = 0; i < n; ++i) {
        Bucket& b = im.buckets[im.cursor];
        im.cursor = (im.cursor + 1) & im.mask;
        uint32_t used = b.meta.used;
        while (used != 0) {
            const uint32_t w = uint32_t(std::countr_zero(used));
            used &= used - 1;
            if (is_expired(b.meta, w, now_ms, t)) {
                im.drop(b, w);
                ++expired;
            }
        }
    }
    if (expired != 0) add(im.expired, expired);
    return expired;
}

uint64_t FlowTable::live(uint32_t vip) const {
    return vip < kMaxVips ? impl_->per_vip[vip].load(std::memory_order_relaxed) : 0;
}

uint64_t FlowTable::live_backend(uint32_t backend) const {
    return backend < kMaxBackendSlots ? impl_->per_backend[backend].load(std::memory_order_relaxed) : 0;
}

void FlowTable::rebind(FlowValue* v, uint32_t backend, uint32_t backend_uid) {
    Impl& im = *impl_;
    if (v->backend < kMaxBackendSlots) sub(im.per_backend[v->backend], 1);
    if (backend < kMaxBackendSlots) add(im.per_backend[backend], 1);
    v->backend = backend;
    v->backend_uid = backend_uid;
}

FlowTableStats FlowTable::stats() const {
    const Impl& im = *impl_;
    FlowTableStats s;
    s.inserted = im.inserted.load(std::memory_order_relaxed);
    s.evicted = im.evicted.load(std::memory_order_relaxed);
    s.expired = im.expired.load(std::memory_order_relaxed);
    s.removed = im.removed.load(std::memory_order_relaxed);
    s.live = im.live.load(std::memory_order_relaxed);
    return s;
}

NewFlowGuard::NewFlowGuard(uint32_t rate_per_s, uint32_t burst) { configure(rate_per_s, burst); }

void NewFlowGuard::configure(uint32_t rate_per_s, uint32_t burst) {
    const bool was_unlimited = rate_ == 0;  // also at construction
    rate_ = rate_per_s;
    burst_ = std::max<uint32_t>(burst, 1);
    if (rate_ == 0) return;
    const uint64_t cap = uint64_t(burst_) * kNsPerS;
    // Capping the elapsed time at fill_ns_ keeps elapsed * rate below
    // cap + rate < 2^63: no overflow.
    fill_ns_ = (cap + rate_ - 1) / rate_;
    if (was_unlimited) {
        tokens_ns_ = cap;
        started_ = false;  // the next allow() starts the clock
    } else {
        tokens_ns_ = std::min(tokens_ns_, cap);
    }
}

bool NewFlowGuard::allow(uint64_t now_ns) {
    if (rate_ == 0) return true;
    const uint64_t cap = uint64_t(burst_) * kNsPerS;
    if (!started_) {  // no clock before the first call
        started_ = true;
        last_ns_ = now_ns;
    } else if (now_ns > last_ns_) {  // time standing still or going back credits nothing
        const uint64_t elapsed = now_ns - last_ns_;
        last_ns_ = now_ns;
        tokens_ns_ = elapsed >= fill_ns_ ? cap : std::min(cap, tokens_ns_ + elapsed * rate_);
    }
    if (tokens_ns_ >= kNsPerS) {
        tokens_ns_ -= kNsPerS;
        return true;
    }
    ++refused_;
    return false;
}

}  // namespace sluice::lb
