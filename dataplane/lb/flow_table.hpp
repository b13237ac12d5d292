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
// Layout (flow_table.cpp): buckets of 8 ways, indexed by the low bits of the
// flow hash; each bucket is one 64-byte line of metadata (16-bit signatures
// from the hash's high bits, last-seen times, classes, an exact LRU order)
// followed by the 8 keys and values (56 bytes each): 64 bytes an entry.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

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
    void prefetch(uint32_t hash) const;
    // The second step, once prefetch()'s line has had time to arrive: brings
    // the entry whose signature matches towards the cache too, so that at
    // 10^6 flows a find waits on memory for neither line.
    void prefetch_entry(uint32_t hash) const;

    // The live entry for k (hash: the flow hash of k), refreshed to `now`
    // (and moved to most recently used), or null. An entry idle for longer
    // than its class's timeout is expired on the way: removed, counted, and
    // not returned. The pointer is valid until the next insert or remove.
    FlowValue* find(const FlowKey& k, uint32_t hash, uint32_t now_ms, const FlowTimeouts& t);

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
    struct Impl;
    std::unique_ptr<Impl> impl_;
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
