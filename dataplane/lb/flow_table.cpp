// The per-worker connection-tracking table (flow_table.hpp, which also holds
// the bucket layout and the lookup, inline for the stage). Here: allocation,
// insertion and replacement, removal, the sweep and the counts.
#include "dataplane/lb/flow_table.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <new>

namespace sluice::lb {

using namespace flow_detail;

namespace {

constexpr uint64_t kMaxCapacity = uint64_t(1) << 31;
// Nibble r of the order word is the way at recency rank r (0: most recently
// used, 7: least). Always a permutation of 0..7. A free way's rank means
// nothing: it is taken (and moved to the front) before any used way is
// replaced, so the ranks of the used ways are their LRU order.
constexpr uint32_t kInitialOrder = 0x76543210;
constexpr size_t kHugePage = size_t(2) << 20;

inline void set_class_bits(Meta& m, uint32_t way, uint32_t c) {
    m.cls = uint16_t((m.cls & ~(3u << (2 * way))) | (c << (2 * way)));
}

inline uint32_t class_index(FlowClass c) { return std::min<uint32_t>(uint32_t(c), 2); }

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

    uint32_t locate(const Bucket& b, const FlowKey& k, uint32_t hash) const { return flow_detail::locate(b, k, hash); }
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
    buckets_ = impl_->buckets;
    mask_ = impl_->mask;
}

FlowTable::~FlowTable() {
    // Bucket is trivially destructible.
    std::free(impl_->buckets);
}

uint32_t FlowTable::capacity() const { return (impl_->mask + 1) * kWays; }

void FlowTable::expire(Bucket& b, uint32_t way) {
    impl_->drop(b, way);
    add(impl_->expired, 1);
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
