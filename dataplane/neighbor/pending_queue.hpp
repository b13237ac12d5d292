// Bounded per-neighbor queues of packets waiting for address resolution
// (RFC 4861 7.2.2: "SHOULD retain a small queue of packets waiting for
// address resolution"; RFC 1122 2.3.2.2 for ARP). One flat array is allocated
// at start-up; push/drain never allocate, so the agent's slow path has a fixed
// memory footprint however many neighbors are resolving.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace sluice::nbr {

template <class T>
class PendingQueues {
public:
    PendingQueues(uint32_t entries, uint32_t per_entry_capacity)
        : cap_(per_entry_capacity),
          slots_(size_t(entries) * per_entry_capacity),
          head_(entries, 0),
          count_(entries, 0) {}

    // false = queue full; the caller counts neighbor_queue_full and frees v.
    bool push(uint32_t entry, T v) {
        assert(entry < count_.size());
        if (count_[entry] >= cap_) return false;
        uint32_t pos = head_[entry] + count_[entry];
        if (pos >= cap_) pos -= cap_;
        slots_[base(entry) + pos] = std::move(v);
        ++count_[entry];
        return true;
    }

    // Calls f(v) oldest first for the packets queued when drain starts, leaves
    // them removed, returns how many. f may push to the same entry: those
    // packets stay queued for the next drain (no unbounded loop).
    template <class F>
    uint32_t drain(uint32_t entry, F&& f) {
        assert(entry < count_.size());
        const uint32_t n = count_[entry];
        for (uint32_t i = 0; i < n; ++i) {
            T v = std::move(slots_[base(entry) + head_[entry]]);
            head_[entry] = head_[entry] + 1 == cap_ ? 0 : head_[entry] + 1;
            --count_[entry];
            f(std::move(v));
        }
        return n;
    }

    // Changes the per-entry capacity (a reload of neighbor.max_pending):
    // each entry keeps its oldest packets up to the new capacity, the rest
    // go to on_drop. Allocates once; the slow path's business.
    template <class F>
    void reshape(uint32_t per_entry_capacity, F&& on_drop) {
        if (per_entry_capacity == cap_) return;
        PendingQueues next(uint32_t(count_.size()), per_entry_capacity);
        for (uint32_t e = 0; e < count_.size(); ++e)
            drain(e, [&](T v) {
                if (next.size(e) < next.capacity())
                    next.push(e, std::move(v));
                else
                    on_drop(std::move(v));
            });
        *this = std::move(next);
    }

    uint32_t size(uint32_t entry) const {
        assert(entry < count_.size());
        return count_[entry];
    }
    uint32_t capacity() const { return cap_; }  // per entry

private:
    size_t base(uint32_t entry) const { return size_t(entry) * cap_; }

    uint32_t cap_;
    std::vector<T> slots_;         // entries x cap_, ring per entry
    std::vector<uint32_t> head_;   // index of the oldest packet in the ring
    std::vector<uint32_t> count_;
};

}  // namespace sluice::nbr
