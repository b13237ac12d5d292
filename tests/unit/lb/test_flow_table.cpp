// The per-worker flow table (dataplane/lb/flow_table.hpp) and the new-flow
// rate guard. The flow hash is an argument, so the tests choose it: the low
// bits pick the bucket (a table of capacity C has C / 8 buckets of 8 ways),
// the high 16 bits the signature; equal hashes force a full key compare.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "dataplane/lb/flow_table.hpp"

namespace {

using sluice::lb::FlowClass;
using sluice::lb::FlowKey;
using sluice::lb::FlowTable;
using sluice::lb::FlowTimeouts;
using sluice::lb::FlowValue;
using sluice::lb::NewFlowGuard;

constexpr uint32_t kWays = 8;

// A TCP flow from client 198.18.(i>>8).(i&255), port 1024 + i, to the VIP
// 198.19.0.1:80. Distinct i, distinct keys (i < 2^16 for the port; the
// addresses keep larger i apart).
FlowKey key(uint32_t i) {
    FlowKey k;
    k.src = {198, 18, uint8_t(i >> 8), uint8_t(i)};
    k.src[4] = uint8_t(i >> 16);  // beyond IPv4's four bytes only to keep huge i distinct
    k.dst = {198, 19, 0, 1};
    k.sport = uint16_t(1024 + i);
    k.dport = 80;
    k.proto = 6;
    return k;
}

FlowValue val(uint32_t vip, uint32_t backend = 1) { return FlowValue{vip, vip + 100, backend, backend + 1000}; }

bool same(const FlowValue* a, const FlowValue& b) {
    return a != nullptr && a->vip == b.vip && a->vip_uid == b.vip_uid && a->backend == b.backend &&
           a->backend_uid == b.backend_uid;
}

// A hash that lands in `bucket` with signature `sig`.
uint32_t in_bucket(uint32_t bucket, uint16_t sig) { return (uint32_t(sig) << 16) | bucket; }

// A well-spread hash for key i (murmur3's finaliser).
uint32_t mix(uint32_t x) {
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
}

constexpr FlowTimeouts kLong{{1000000, 1000000, 1000000}};

TEST(FlowTable, CapacityRoundsUpToPowerOfTwoBuckets) {
    EXPECT_EQ(FlowTable(0).capacity(), 8u);
    EXPECT_EQ(FlowTable(1).capacity(), 8u);
    EXPECT_EQ(FlowTable(9).capacity(), 16u);
    EXPECT_EQ(FlowTable(1000).capacity(), 1024u);
    EXPECT_EQ(FlowTable(1024).capacity(), 1024u);
}

TEST(FlowTable, HitAndMiss) {
    FlowTable t(64);
    const uint32_t h = mix(1);
    EXPECT_EQ(t.find(key(1), h, 0, kLong), nullptr);
    FlowValue* p = t.insert(key(1), h, val(3, 7), FlowClass::tcp, 0, kLong);
    ASSERT_TRUE(same(p, val(3, 7)));
    EXPECT_TRUE(same(t.find(key(1), h, 5, kLong), val(3, 7)));
    EXPECT_EQ(t.find(key(2), h, 5, kLong), nullptr);        // same hash, other key
    EXPECT_EQ(t.find(key(1), h ^ 1, 5, kLong), nullptr);    // other bucket
    EXPECT_EQ(t.find(key(1), h ^ 0x10000, 5, kLong), nullptr);  // same bucket, other signature
    const auto s = t.stats();
    EXPECT_EQ(s.inserted, 1u);
    EXPECT_EQ(s.live, 1u);
    EXPECT_EQ(t.live(3), 1u);
    EXPECT_EQ(t.live(4), 0u);
    EXPECT_EQ(t.live(sluice::lb::kMaxVips), 0u);  // out of range reads 0
    t.prefetch(h);
    t.prefetch(0xffffffffu);
}

TEST(FlowTable, RebindMovesTheEntryAndItsBackendCount) {
    FlowTable t(64);
    FlowValue* p = t.insert(key(1), 5, val(1, 1), FlowClass::tcp, 0, kLong);
    EXPECT_EQ(t.live_backend(1), 1u);
    t.rebind(p, 42, 4242);  // a reschedule after its backend went down
    p = t.find(key(1), 5, 1, kLong);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->backend, 42u);
    EXPECT_EQ(p->backend_uid, 4242u);
    EXPECT_EQ(p->vip, 1u);
    EXPECT_EQ(t.live_backend(1), 0u);
    EXPECT_EQ(t.live_backend(42), 1u);
    EXPECT_EQ(t.live(1), 1u);
    EXPECT_TRUE(t.remove(key(1), 5));
    EXPECT_EQ(t.live_backend(42), 0u);
    EXPECT_EQ(t.live_backend(sluice::lb::kMaxBackendSlots), 0u);  // out of range reads 0
}

TEST(FlowTable, EqualHashesAreToldApartByTheKey) {
    FlowTable t(64);
    for (uint32_t i = 0; i < kWays; ++i) t.insert(key(i), 0x12340003u, val(i), FlowClass::tcp, 0, kLong);
    for (uint32_t i = 0; i < kWays; ++i) EXPECT_TRUE(same(t.find(key(i), 0x12340003u, 1, kLong), val(i))) << i;
    EXPECT_EQ(t.find(key(kWays), 0x12340003u, 1, kLong), nullptr);
    EXPECT_EQ(t.stats().evicted, 0u);
}

TEST(FlowTable, OverwriteReplacesValueAndMovesVipCount) {
    FlowTable t(64);
    const uint32_t h = mix(9);
    t.insert(key(9), h, val(1, 1), FlowClass::tcp, 0, kLong);
    FlowValue* p = t.insert(key(9), h, val(2, 5), FlowClass::udp, 10, kLong);
    EXPECT_TRUE(same(p, val(2, 5)));
    EXPECT_TRUE(same(t.find(key(9), h, 11, kLong), val(2, 5)));
    EXPECT_EQ(t.live(1), 0u);
    EXPECT_EQ(t.live(2), 1u);
    EXPECT_EQ(t.live_backend(1), 0u);
    EXPECT_EQ(t.live_backend(5), 1u);
    // Same VIP, other backend: the VIP's count stays, the backend's moves.
    t.insert(key(9), h, val(2, 6), FlowClass::tcp, 12, kLong);
    EXPECT_EQ(t.live(2), 1u);
    EXPECT_EQ(t.live_backend(5), 0u);
    EXPECT_EQ(t.live_backend(6), 1u);
    const auto s = t.stats();
    EXPECT_EQ(s.inserted, 1u);  // an overwrite is not a new entry
    EXPECT_EQ(s.live, 1u);
    EXPECT_EQ(s.evicted + s.expired + s.removed, 0u);
}

TEST(FlowTable, RemoveAndSetClass) {
    FlowTable t(64);
    const FlowTimeouts to{{1000, 100, 500}};
    t.insert(key(1), 1, val(1), FlowClass::tcp, 0, to);
    t.insert(key(2), 1, val(1), FlowClass::tcp, 0, to);
    EXPECT_EQ(t.live(1), 2u);
    EXPECT_TRUE(t.remove(key(1), 1));
    EXPECT_FALSE(t.remove(key(1), 1));
    EXPECT_EQ(t.find(key(1), 1, 1, to), nullptr);
    EXPECT_EQ(t.live(1), 1u);
    EXPECT_EQ(t.stats().removed, 1u);
    // A FIN: the closing timeout applies from now on; set_class does not refresh.
    t.set_class(key(2), 1, FlowClass::tcp_closing);
    t.set_class(key(3), 1, FlowClass::tcp_closing);  // absent: nothing happens
    EXPECT_EQ(t.find(key(2), 1, 101, to), nullptr);
    EXPECT_EQ(t.stats().expired, 1u);
    EXPECT_EQ(t.live(1), 0u);
    EXPECT_EQ(t.stats().live, 0u);
}

TEST(FlowTable, IdleTimeoutPerClass) {
    const FlowTimeouts to{{1000, 100, 500}};
    const FlowClass classes[] = {FlowClass::tcp, FlowClass::tcp_closing, FlowClass::udp};
    for (FlowClass c : classes) {
        SCOPED_TRACE(int(c));
        const uint32_t ms = to.ms[int(c)];
        FlowTable t(64);
        t.insert(key(1), 7, val(1), c, 0, to);
        // Idle exactly the timeout: alive, and refreshed.
        EXPECT_NE(t.find(key(1), 7, ms, to), nullptr);
        EXPECT_NE(t.find(key(1), 7, 2 * ms, to), nullptr);
        // One millisecond more: gone, counted once.
        EXPECT_EQ(t.find(key(1), 7, 3 * ms + 1, to), nullptr);
        EXPECT_EQ(t.find(key(1), 7, 3 * ms + 1, to), nullptr);
        EXPECT_EQ(t.stats().expired, 1u);
        EXPECT_EQ(t.stats().live, 0u);
        EXPECT_EQ(t.live(1), 0u);
    }
}

TEST(FlowTable, ClockWrapsAround) {
    const FlowTimeouts to{{1000, 100, 500}};
    FlowTable t(64);
    const uint32_t start = 0xffffff00u;
    t.insert(key(1), 3, val(1), FlowClass::tcp, start, to);
    EXPECT_NE(t.find(key(1), 3, 0x100u, to), nullptr);  // 512 ms later, across the wrap
    EXPECT_NE(t.find(key(1), 3, 0x100u + 1000, to), nullptr);
    EXPECT_EQ(t.find(key(1), 3, 0x100u + 2001, to), nullptr);

    // The sweep expires across the wrap on time too.
    t.insert(key(2), 3, val(1), FlowClass::udp, 0xffffff80u, to);
    EXPECT_EQ(t.sweep(t.capacity(), 0xffffff80u + 500, to), 0u);  // 0x174, wrapped
    EXPECT_EQ(t.sweep(t.capacity(), 0xffffff80u + 501, to), 1u);
}

TEST(FlowTable, AgesOfHalfTheClockOrMoreAreExpired) {
    // Timeouts beyond 2^31 - 1 ms are capped there: an age of 2^31 ms or
    // more (or a last-seen "in the future") never passes for a live entry.
    const FlowTimeouts huge{{0xffffffffu, 0xffffffffu, 0xffffffffu}};
    FlowTable t(64);
    t.insert(key(1), 3, val(1), FlowClass::tcp, 0, huge);
    EXPECT_NE(t.find(key(1), 3, 0x7fffffffu, huge), nullptr);  // age 2^31 - 1
    t.insert(key(2), 3, val(1), FlowClass::tcp, 0, huge);
    EXPECT_EQ(t.find(key(2), 3, 0x80000000u, huge), nullptr);  // age 2^31
    t.insert(key(3), 3, val(1), FlowClass::tcp, 1000, huge);
    EXPECT_EQ(t.find(key(3), 3, 999, huge), nullptr);  // seen "1 ms in the future"
    EXPECT_EQ(t.stats().expired, 2u);
}

TEST(FlowTable, FullBucketEvictsLeastRecentlyUsed) {
    FlowTable t(64);  // 8 buckets; every key here in bucket 5
    const uint32_t b = 5;
    for (uint32_t i = 0; i < kWays; ++i) t.insert(key(i), in_bucket(b, uint16_t(i)), val(1), FlowClass::tcp, i, kLong);
    // Recency now (most recent first): 7 6 5 4 3 2 1 0. Refresh 3, 0, 5:
    // 5 0 3 7 6 4 2 1, so the eviction order is 1 2 4 6 7 3 0 5.
    for (uint32_t i : {3u, 0u, 5u}) ASSERT_NE(t.find(key(i), in_bucket(b, uint16_t(i)), 10 + i, kLong), nullptr);
    const uint32_t order[] = {1, 2, 4, 6, 7, 3, 0, 5};
    for (uint32_t n = 0; n < kWays; ++n) {
        const uint32_t id = 100 + n;
        t.insert(key(id), in_bucket(b, uint16_t(id)), val(2), FlowClass::tcp, 20 + n, kLong);
        EXPECT_EQ(t.stats().evicted, n + 1);
        // A miss changes nothing, so this does not disturb the order.
        EXPECT_EQ(t.find(key(order[n]), in_bucket(b, uint16_t(order[n])), 20 + n, kLong), nullptr) << n;
    }
    for (uint32_t n = 0; n < kWays; ++n)
        EXPECT_NE(t.find(key(100 + n), in_bucket(b, uint16_t(100 + n)), 30, kLong), nullptr);
    EXPECT_EQ(t.live(1), 0u);
    EXPECT_EQ(t.live(2), kWays);
    EXPECT_EQ(t.stats().expired, 0u);
    // The other buckets were never touched.
    EXPECT_EQ(t.stats().live, kWays);
}

TEST(FlowTable, FullBucketTakesAnExpiredEntryBeforeTheLeastRecentlyUsed) {
    const FlowTimeouts to{{1000, 100, 100}};
    FlowTable t(64);
    const uint32_t b = 2;
    // A UDP flow first, then seven TCP flows; the UDP flow is then used
    // again, so the least recently used entry is TCP flow 0.
    t.insert(key(50), in_bucket(b, 50), val(3), FlowClass::udp, 0, to);
    for (uint32_t i = 0; i < 7; ++i) t.insert(key(i), in_bucket(b, uint16_t(i)), val(1), FlowClass::tcp, 1 + i, to);
    ASSERT_NE(t.find(key(50), in_bucket(b, 50), 50, to), nullptr);
    // At 200 the UDP flow has been idle 150 ms (> 100): it goes, not TCP 0.
    t.insert(key(60), in_bucket(b, 60), val(2), FlowClass::tcp, 200, to);
    EXPECT_EQ(t.stats().expired, 1u);
    EXPECT_EQ(t.stats().evicted, 0u);
    EXPECT_EQ(t.live(3), 0u);
    for (uint32_t i = 0; i < 7; ++i) EXPECT_NE(t.find(key(i), in_bucket(b, uint16_t(i)), 201, to), nullptr) << i;
    EXPECT_NE(t.find(key(60), in_bucket(b, 60), 201, to), nullptr);
    EXPECT_EQ(t.find(key(50), in_bucket(b, 50), 201, to), nullptr);
}

TEST(FlowTable, InsertOverAnExpiredEntryOfTheSameKeyCountsBoth) {
    const FlowTimeouts to{{1000, 100, 100}};
    FlowTable t(64);
    t.insert(key(1), 4, val(1), FlowClass::udp, 0, to);
    t.insert(key(1), 4, val(2), FlowClass::udp, 500, to);
    const auto s = t.stats();
    EXPECT_EQ(s.expired, 1u);
    EXPECT_EQ(s.inserted, 2u);
    EXPECT_EQ(s.live, 1u);
    EXPECT_EQ(t.live(1), 0u);
    EXPECT_EQ(t.live(2), 1u);
}

TEST(FlowTable, SweepExpiresIdleEntriesAcrossTheTableInBoundedCalls) {
    const FlowTimeouts to{{10000, 100, 100}};
    FlowTable t(1024);  // 128 buckets
    const uint32_t buckets = t.capacity() / kWays;
    // Four flows a bucket, no evictions: two UDP, two TCP.
    for (uint32_t bk = 0; bk < buckets; ++bk)
        for (uint32_t w = 0; w < 4; ++w) {
            const uint32_t id = bk * 4 + w;
            t.insert(key(id), in_bucket(bk, uint16_t(w)), val(w % 2), w < 2 ? FlowClass::udp : FlowClass::tcp, 0,
                     to);
        }
    EXPECT_EQ(t.live(0), 2 * buckets);
    EXPECT_EQ(t.sweep(buckets, 100, to), 0u);  // nothing idle long enough yet
    uint32_t expired = 0;
    for (uint32_t call = 0; call < buckets / 16; ++call) {
        const uint32_t n = t.sweep(16, 1000, to);
        EXPECT_LE(n, 16u * 2);
        expired += n;
    }
    EXPECT_EQ(expired, 2 * buckets);
    EXPECT_EQ(t.sweep(buckets, 1000, to), 0u);  // a full round finds nothing more
    EXPECT_EQ(t.stats().expired, 2 * buckets);
    EXPECT_EQ(t.stats().live, 2 * buckets);
    EXPECT_EQ(t.live(0) + t.live(1), 2 * buckets);
    for (uint32_t bk = 0; bk < buckets; ++bk)
        for (uint32_t w = 2; w < 4; ++w) EXPECT_NE(t.find(key(bk * 4 + w), in_bucket(bk, uint16_t(w)), 1000, to), nullptr);
    // A budget beyond the table visits each bucket once.
    EXPECT_EQ(t.sweep(0xffffffffu, 20000, to), 2 * buckets);
    EXPECT_EQ(t.stats().live, 0u);
    EXPECT_EQ(t.sweep(0, 20000, to), 0u);
}

// A reference model: per bucket, the entries in recency order (front: most
// recent), with the same rules written the plain way, and the per-VIP and
// per-backend counts.
class Model {
public:
    struct E {
        uint32_t id;
        FlowValue v;
        uint32_t cls;
        uint32_t last;
    };
    Model(uint32_t buckets) : b_(buckets) {}

    std::list<E>& bucket(uint32_t hash) { return b_[hash % b_.size()]; }

    static bool expired(const E& e, uint32_t now, const FlowTimeouts& t) {
        return uint32_t(now - e.last) > std::min<uint32_t>(t.ms[e.cls], 0x7fffffffu);
    }

    void out(const E& e) {
        --live[e.v.vip];
        --live_backend[e.v.backend];
    }
    void in(const FlowValue& v) {
        ++live[v.vip];
        ++live_backend[v.backend];
    }

    void rebind(uint32_t id, uint32_t hash, uint32_t backend, uint32_t uid) {
        for (auto& e : bucket(hash))
            if (e.id == id) {
                --live_backend[e.v.backend];
                ++live_backend[backend];
                e.v.backend = backend;
                e.v.backend_uid = uid;
            }
    }

    const FlowValue* find(uint32_t id, uint32_t hash, uint32_t now, const FlowTimeouts& t) {
        auto& l = bucket(hash);
        for (auto it = l.begin(); it != l.end(); ++it) {
            if (it->id != id) continue;
            if (expired(*it, now, t)) {
                out(*it);
                l.erase(it);
                ++s_expired;
                return nullptr;
            }
            it->last = now;
            l.splice(l.begin(), l, it);
            return &l.front().v;
        }
        return nullptr;
    }

    void insert(uint32_t id, uint32_t hash, const FlowValue& v, uint32_t cls, uint32_t now, const FlowTimeouts& t) {
        auto& l = bucket(hash);
        for (auto it = l.begin(); it != l.end(); ++it) {
            if (it->id != id) continue;
            if (!expired(*it, now, t)) {
                out(*it);
                *it = E{id, v, cls, now};
                in(v);
                l.splice(l.begin(), l, it);
                return;
            }
            out(*it);
            l.erase(it);
            ++s_expired;
            break;
        }
        if (l.size() == kWays) {
            auto victim = l.end();
            for (auto it = l.end(); it != l.begin();) {
                --it;
                if (expired(*it, now, t)) {
                    victim = it;
                    break;
                }
            }
            if (victim != l.end()) {
                ++s_expired;
            } else {
                victim = std::prev(l.end());
                ++s_evicted;
            }
            out(*victim);
            l.erase(victim);
        }
        l.push_front(E{id, v, cls, now});
        in(v);
        ++s_inserted;
    }

    bool remove(uint32_t id, uint32_t hash) {
        auto& l = bucket(hash);
        for (auto it = l.begin(); it != l.end(); ++it)
            if (it->id == id) {
                out(*it);
                l.erase(it);
                ++s_removed;
                return true;
            }
        return false;
    }

    void set_class(uint32_t id, uint32_t hash, uint32_t cls) {
        for (auto& e : bucket(hash))
            if (e.id == id) e.cls = cls;
    }

    uint32_t sweep(uint32_t n, uint32_t now, const FlowTimeouts& t) {
        n = std::min<uint32_t>(n, uint32_t(b_.size()));
        uint32_t count = 0;
        for (uint32_t i = 0; i < n; ++i) {
            auto& l = b_[cursor_];
            cursor_ = (cursor_ + 1) % uint32_t(b_.size());
            for (auto it = l.begin(); it != l.end();) {
                if (expired(*it, now, t)) {
                    out(*it);
                    it = l.erase(it);
                    ++count;
                } else {
                    ++it;
                }
            }
        }
        s_expired += count;
        return count;
    }

    uint64_t total() const {
        uint64_t n = 0;
        for (const auto& l : b_) n += l.size();
        return n;
    }

    std::map<uint32_t, uint64_t> live;          // per VIP
    std::map<uint32_t, uint64_t> live_backend;  // per backend slot
    uint64_t s_inserted = 0, s_evicted = 0, s_expired = 0, s_removed = 0;

private:
    std::vector<std::list<E>> b_;
    uint32_t cursor_ = 0;
};

TEST(FlowTable, MatchesReferenceModelUnderRandomOperations) {
    // Random finds (some followed by a rebind), inserts, overwrites,
    // removes, class changes and sweeps on a small table, so that evictions
    // and expiries are frequent; after each, every count must match.
    const FlowTimeouts to{{300, 50, 120}};
    constexpr uint32_t kVips = 6, kBackends = 50, kKeys = 160, kOps = 30000;
    for (uint32_t seed : {1u, 2u, 3u}) {
        SCOPED_TRACE(seed);
        std::mt19937 rng(seed);
        FlowTable t(64);  // 8 buckets: 160 keys keep them full and evicting
        Model m(8);
        // Key i's hash: spread, with a few deliberate full collisions.
        std::vector<uint32_t> hash(kKeys);
        for (uint32_t i = 0; i < kKeys; ++i) hash[i] = i % 10 == 0 ? 0xabcd0003u : mix(i * 7 + seed);
        uint32_t now = 0xffff0000u + seed;  // the run crosses the clock's wrap
        for (uint32_t op = 0; op < kOps; ++op) {
            const uint32_t id = rng() % kKeys;
            const uint32_t r = rng() % 100;
            now += rng() % 4;
            if (r < 40) {
                FlowValue* a = t.find(key(id), hash[id], now, to);
                const FlowValue* b = m.find(id, hash[id], now, to);
                ASSERT_EQ(a == nullptr, b == nullptr) << "op " << op;
                if (b) {
                    ASSERT_TRUE(same(a, *b));
                    if (rng() % 4 == 0) {  // the backend went down: a reschedule
                        const uint32_t be = rng() % kBackends;
                        t.rebind(a, be, be + 7);
                        m.rebind(id, hash[id], be, be + 7);
                    }
                }
            } else if (r < 75) {
                const FlowValue v = val(rng() % kVips, rng() % kBackends);
                const uint32_t cls = rng() % 3;
                const FlowValue* a = t.insert(key(id), hash[id], v, FlowClass(cls), now, to);
                m.insert(id, hash[id], v, cls, now, to);
                ASSERT_TRUE(same(a, v));
            } else if (r < 85) {
                ASSERT_EQ(t.remove(key(id), hash[id]), m.remove(id, hash[id])) << "op " << op;
            } else if (r < 92) {
                const uint32_t cls = rng() % 3;
                t.set_class(key(id), hash[id], FlowClass(cls));
                m.set_class(id, hash[id], cls);
            } else {
                const uint32_t n = rng() % 4;
                ASSERT_EQ(t.sweep(n, now, to), m.sweep(n, now, to)) << "op " << op;
            }
            const auto s = t.stats();
            ASSERT_EQ(s.live, m.total()) << "op " << op;
            ASSERT_EQ(s.inserted, m.s_inserted);
            ASSERT_EQ(s.evicted, m.s_evicted);
            ASSERT_EQ(s.expired, m.s_expired);
            ASSERT_EQ(s.removed, m.s_removed);
            for (uint32_t v = 0; v < kVips; ++v) ASSERT_EQ(t.live(v), m.live[v]) << "vip " << v << " op " << op;
            for (uint32_t be = 0; be < kBackends; ++be)
                ASSERT_EQ(t.live_backend(be), m.live_backend[be]) << "backend " << be << " op " << op;
        }
        EXPECT_GT(m.s_evicted, 100u);  // the run did exercise each path
        EXPECT_GT(m.s_expired, 100u);
        EXPECT_GT(m.s_removed, 100u);
    }
}

TEST(FlowTable, ValuesSurviveLongerTimeouts) {
    // The table holds no reference to the config: a reload that lengthens
    // the timeouts just passes the new ones, and entries stay as they were.
    const FlowTimeouts before{{1000, 100, 500}};
    const FlowTimeouts after{{5000, 1000, 3000}};
    FlowTable t(1024);
    for (uint32_t i = 0; i < 500; ++i) t.insert(key(i), mix(i), val(i % 4, i), FlowClass::udp, 0, before);
    const uint64_t live = t.stats().live;
    EXPECT_EQ(t.sweep(t.capacity(), 400, before), 0u);
    // 1 000 ms later: past the old UDP timeout, within the new one.
    EXPECT_EQ(t.sweep(t.capacity(), 1000, after), 0u);
    uint64_t found = 0;
    for (uint32_t i = 0; i < 500; ++i)
        if (const FlowValue* p = t.find(key(i), mix(i), 1000, after)) {
            EXPECT_TRUE(same(p, val(i % 4, i)));
            ++found;
        }
    EXPECT_EQ(found, live);
    EXPECT_EQ(t.stats().expired, 0u);
}

TEST(FlowTable, MillionEntries) {
    FlowTable t(1u << 20);
    ASSERT_EQ(t.capacity(), 1u << 20);
    const uint32_t n = 1u << 20;
    for (uint32_t i = 0; i < n; ++i) t.insert(key(i), mix(i), val(i % 7), FlowClass::tcp, 0, kLong);
    const auto s = t.stats();
    EXPECT_EQ(s.inserted, n);
    EXPECT_EQ(s.live + s.evicted, n);
    // Random hashes at a load of 1.0: bucket loads are about Poisson(8), so
    // E[min(X, 8)] / 8, about 86% of the ways, end up used.
    EXPECT_GT(s.live, n / 100 * 85);
    uint64_t per_vip = 0;
    for (uint32_t v = 0; v < 7; ++v) per_vip += t.live(v);
    EXPECT_EQ(per_vip, s.live);
}

// Telemetry reads the counters from another thread while the worker writes
// them (TSan checks the relaxed atomics).
TEST(FlowTable, CountersReadableFromAnotherThread) {
    FlowTable t(4096);
    std::atomic<bool> done{false};
    std::atomic<uint64_t> reads{0};
    std::thread reader([&] {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!done.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < deadline) {
            const auto s = t.stats();
            EXPECT_LE(s.live, t.capacity());
            EXPECT_LE(t.live(1), t.capacity());
            reads.fetch_add(1, std::memory_order_relaxed);
        }
    });
    for (uint32_t i = 0; i < 20000; ++i) {
        t.insert(key(i), mix(i), val(1), FlowClass::udp, i, kLong);
        if (i % 3 == 0) t.remove(key(i / 2), mix(i / 2));
    }
    done.store(true, std::memory_order_release);
    reader.join();
    EXPECT_EQ(t.live(1), t.stats().live);
}

// A SYN flood against a table of established flows that keep sending. The
// table is sized with headroom (6 of 8 ways a bucket in use, a usual load
// for a set-associative table); the guard admits so few new flows that the
// admitted ones only recycle the free ways (established flows, refreshed
// every tick, are more recent than an admitted flood entry from an earlier
// tick). Without the guard the flood takes the buckets over.
struct FloodResult {
    uint64_t established_lost = 0;  // established packets that found no entry
    uint32_t established_found = 0;  // at the end
    uint64_t admitted = 0, refused = 0;
};

FloodResult syn_flood(uint32_t rate, uint32_t burst) {
    const FlowTimeouts to{{300000, 10000, 30000}};
    FlowTable t(1024);
    const uint32_t buckets = t.capacity() / kWays;
    constexpr uint32_t kPerBucket = 6, kTicks = 500, kSynPerTick = 200;  // 1 ms ticks: 200 000 SYN/s
    auto est_hash = [](uint32_t id) { return in_bucket(id / kPerBucket, uint16_t(id % kPerBucket)); };
    const uint32_t established = buckets * kPerBucket;
    for (uint32_t id = 0; id < established; ++id) t.insert(key(id), est_hash(id), val(1), FlowClass::tcp, 0, to);
    NewFlowGuard guard(rate, burst);
    FloodResult r;
    uint32_t syn = 100000;
    for (uint32_t tick = 1; tick <= kTicks; ++tick) {
        for (uint32_t id = 0; id < established; ++id)
            if (t.find(key(id), est_hash(id), tick, to) == nullptr) {
                ++r.established_lost;  // the stage would re-insert it, maybe on another backend
                t.insert(key(id), est_hash(id), val(1), FlowClass::tcp, tick, to);
            }
        for (uint32_t i = 0; i < kSynPerTick; ++i, ++syn) {
            const uint32_t h = mix(syn);
            if (t.find(key(syn), h, tick, to) != nullptr) continue;
            if (!guard.allow(uint64_t(tick) * 1000000)) continue;  // Maglev only
            t.insert(key(syn), h, val(2), FlowClass::tcp, tick, to);
            ++r.admitted;
        }
    }
    for (uint32_t id = 0; id < established; ++id)
        if (t.find(key(id), est_hash(id), kTicks + 1, to) != nullptr) ++r.established_found;
    r.refused = guard.refused();
    return r;
}

TEST(FlowTable, SynFloodDoesNotEvictEstablishedFlowsBehindTheGuard) {
    const FloodResult guarded = syn_flood(1000, 8);  // 1 000 new flows/s
    EXPECT_EQ(guarded.established_lost, 0u);
    EXPECT_EQ(guarded.established_found, 128u * 6);
    EXPECT_LE(guarded.admitted, 8u + 500u);
    EXPECT_GT(guarded.refused, 500u * 200u * 9 / 10);

    const FloodResult open = syn_flood(0, 0);  // no limit: the flood evicts
    EXPECT_EQ(open.refused, 0u);
    EXPECT_EQ(open.admitted, 500u * 200u);
    EXPECT_GT(open.established_lost, 1000u);
}

TEST(NewFlowGuard, StartsFullAllowsBurstThenRefuses) {
    NewFlowGuard g(10, 5);
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(g.allow(1000)) << i;
    EXPECT_FALSE(g.allow(1000));
    EXPECT_FALSE(g.allow(1000));
    EXPECT_EQ(g.refused(), 2u);
}

TEST(NewFlowGuard, RefillsAtTheRate) {
    NewFlowGuard g(10, 2);  // one token every 100 ms
    const uint64_t t0 = 5'000'000'000;
    EXPECT_TRUE(g.allow(t0));
    EXPECT_TRUE(g.allow(t0));
    EXPECT_FALSE(g.allow(t0));
    EXPECT_FALSE(g.allow(t0 + 99'999'999));
    EXPECT_TRUE(g.allow(t0 + 100'000'000));
    EXPECT_FALSE(g.allow(t0 + 100'000'000));
    // A long pause refills to the burst only.
    EXPECT_TRUE(g.allow(t0 + 60'000'000'000));
    EXPECT_TRUE(g.allow(t0 + 60'000'000'000));
    EXPECT_FALSE(g.allow(t0 + 60'000'000'000));
}

TEST(NewFlowGuard, ExactOverLongRunsAtRatesThatDoNotDivideASecond) {
    // Burst 2, emptied at once, so the bucket is never full again and no
    // credit is discarded: the fractions of a token must add up.
    NewFlowGuard g(3, 2);
    uint64_t allowed = g.allow(0);
    for (uint64_t ms = 0; ms <= 10000; ++ms) allowed += g.allow(ms * 1'000'000);  // every ms for 10 s
    EXPECT_EQ(allowed, 2u + 30u);  // the full bucket, then exactly 3 a second
    EXPECT_EQ(g.refused(), 10002u - allowed);
}

TEST(NewFlowGuard, TimeGoingBackCreditsNothing) {
    NewFlowGuard g(1000, 1);
    EXPECT_TRUE(g.allow(10'000'000));
    EXPECT_FALSE(g.allow(5'000'000));
    EXPECT_FALSE(g.allow(10'500'000));  // half a token since the last real time
    EXPECT_TRUE(g.allow(11'000'000));
}

TEST(NewFlowGuard, RateZeroIsNoLimit) {
    NewFlowGuard g(0, 0);
    for (int i = 0; i < 100000; ++i) ASSERT_TRUE(g.allow(7));
    EXPECT_EQ(g.refused(), 0u);
}

TEST(NewFlowGuard, BurstZeroActsAsOne) {
    NewFlowGuard g(1000, 0);
    EXPECT_TRUE(g.allow(0));
    EXPECT_FALSE(g.allow(0));
    EXPECT_TRUE(g.allow(1'000'000));
}

TEST(NewFlowGuard, LargestRateAndBurstDoNotOverflow) {
    NewFlowGuard g(0xffffffffu, 0xffffffffu);
    EXPECT_TRUE(g.allow(0));
    EXPECT_TRUE(g.allow(~uint64_t(0)));  // elapsed 2^64 - 1 ns: full, no wrap
    NewFlowGuard h(1, 0xffffffffu);
    EXPECT_TRUE(h.allow(0));
    EXPECT_TRUE(h.allow(~uint64_t(0) / 2));
}

TEST(NewFlowGuard, ReconfigureKeepsTokensCappedToTheNewBurst) {
    NewFlowGuard g(10, 10);
    const uint64_t t0 = 1'000'000'000;
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(g.allow(t0));  // 7 left
    g.configure(10, 5);                                     // capped to 5
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(g.allow(t0)) << i;
    EXPECT_FALSE(g.allow(t0));
    g.configure(10, 100);  // a deeper bucket does not fill it
    EXPECT_FALSE(g.allow(t0));
    // 10 s later it holds 100.
    uint32_t n = 0;
    while (n < 1000 && g.allow(t0 + 10'000'000'000)) ++n;
    EXPECT_EQ(n, 100u);
}

TEST(NewFlowGuard, ReconfigureChangesTheRate) {
    NewFlowGuard g(1, 1);
    EXPECT_TRUE(g.allow(0));
    EXPECT_FALSE(g.allow(0));
    g.configure(1000, 1);
    EXPECT_TRUE(g.allow(1'000'000));  // 1 ms at the new rate
    EXPECT_FALSE(g.allow(1'000'000));
    // To no limit and back: the bucket starts full at the new burst.
    g.configure(0, 1);
    for (int i = 0; i < 100; ++i) EXPECT_TRUE(g.allow(1'000'000));
    g.configure(1000, 3);
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(g.allow(2'000'000)) << i;
    EXPECT_FALSE(g.allow(2'000'000));
}

}  // namespace
