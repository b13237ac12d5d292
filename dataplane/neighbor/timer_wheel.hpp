// Deadlines of the neighbor entries: a hierarchical timing wheel (Varghese
// and Lauck, "Hashed and Hierarchical Timing Wheels", SOSP 1987) keyed by a
// dense id (the neighbor slot). Pure: no clock, no DPDK; the caller passes
// the time.
//
// Why a wheel and not a deadline heap: every FSM event (an ARP reply, a
// solicitation, a refresh) gives the entry a new deadline (fsm.hpp), so the
// common operations are reschedule and cancel, and most timers are pushed
// back before they fire. Here both are O(1) (unlink from an intrusive list,
// link into another). A binary heap pays O(log n) per reschedule, or with
// lazy deletion grows by one stale record per event until those records
// reach the top. The expire step costs the entries that are due plus, at
// most once per level in an entry's life, moving it to a finer level; it
// never depends on the capacity (the slots that have no deadline cost
// nothing), and empty buckets are skipped with one bit test per level.
//
// Layout: kLevels levels of 64 buckets. Level 0 buckets are 2^20 ns (about
// 1 ms) apart, level l buckets 64^l times that; 8 levels cover every uint64
// deadline. A deadline at tick t (t = deadline >> 20) sits at the level of
// the highest 6-bit digit in which t differs from the wheel's current tick,
// in the bucket named by t's digit there, so an entry moves down a level only
// when the current tick reaches its digit. Entries whose tick is the current
// tick or earlier sit in the current level-0 bucket, which expire scans and
// fires exactly those with deadline <= now: the result equals a scan of every
// entry for deadline <= now (the unit tests check that against a brute-force
// scan), whatever the granularity.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "dataplane/neighbor/fsm.hpp"

namespace sluice::nbr {

class TimerWheel {
public:
    static constexpr unsigned kTickShift = 20;   // level-0 bucket width: 2^20 ns (~1.05 ms)
    static constexpr unsigned kLevelBits = 6;    // 64 buckets per level: one bit each in a uint64 mask
    static constexpr unsigned kBuckets = 1u << kLevelBits;
    static constexpr unsigned kLevels = (64 - kTickShift + kLevelBits - 1) / kLevelBits;

    // What expire has done so far (cumulative): the work measure the unit
    // tests and the benchmark read, since time is not to be asserted.
    struct Stats {
        uint64_t visited = 0;  // entries expire looked at (moved, fired, or checked and kept)
        uint64_t moved = 0;    // entries moved to a finer level
        uint64_t fired = 0;    // entries returned as due
        uint64_t buckets = 0;  // non-empty buckets expire emptied or scanned
    };

    // Ids are 0 .. capacity-1. Memory: 18 bytes per id.
    explicit TimerWheel(uint32_t capacity);

    uint32_t capacity() const { return uint32_t(deadline_.size()); }
    uint32_t size() const { return armed_; }  // ids with a deadline
    bool armed(uint32_t id) const { return where_[id] != kUnarmed; }
    uint64_t deadline(uint32_t id) const { return armed(id) ? deadline_[id] : kNoDeadline; }

    // (Re)arms id for deadline_ns; kNoDeadline cancels. A deadline at or
    // before the last expire's time is due at the next expire. O(1).
    void schedule(uint32_t id, uint64_t deadline_ns);
    // Disarms id; nothing if it is not armed. O(1).
    void cancel(uint32_t id);

    // Disarms every id whose deadline is <= now_ns and appends it to `due`,
    // ordered by (deadline, id). A now_ns earlier than a previous call's
    // (the agent's clock is monotonic; this is only defensive) fires what is
    // due at now_ns and leaves the wheel's position where it was.
    void expire(uint64_t now_ns, std::vector<uint32_t>& due);

    const Stats& stats() const { return stats_; }

private:
    static constexpr uint16_t kUnarmed = UINT16_MAX;
    static constexpr uint32_t kNil = UINT32_MAX;
    static_assert(kTickShift + kLevels * kLevelBits >= 64, "the levels must cover every deadline");
    static_assert(kLevels * kBuckets < kUnarmed, "bucket numbers fit in uint16_t");

    uint16_t bucket_for(uint64_t deadline_ns) const;
    uint16_t current_bucket() const { return uint16_t(tick_ & (kBuckets - 1)); }
    void link(uint32_t id, uint16_t bucket);
    void unlink(uint32_t id);
    void advance(uint64_t tick);

    std::vector<uint64_t> deadline_;
    std::vector<uint32_t> next_, prev_;
    std::vector<uint16_t> where_;                  // bucket (level * 64 + digit) or kUnarmed
    std::array<uint32_t, kLevels * kBuckets> head_;
    std::array<uint64_t, kLevels> occupied_{};     // bit b of level l: bucket l*64+b is non-empty
    uint64_t tick_ = 0;                            // current tick: the last expire's now_ns >> kTickShift
    uint32_t armed_ = 0;
    Stats stats_;
};

}  // namespace sluice::nbr
