#include "dataplane/neighbor/timer_wheel.hpp"

#include <algorithm>
#include <bit>

namespace sluice::nbr {

namespace {

// Bits lo .. hi-1 set (0 <= lo <= hi <= 64).
uint64_t bit_range(unsigned lo, unsigned hi) {
    const uint64_t below_hi = hi >= 64 ? ~uint64_t(0) : (uint64_t(1) << hi) - 1;
    const uint64_t below_lo = lo >= 64 ? ~uint64_t(0) : (uint64_t(1) << lo) - 1;
    return below_hi & ~below_lo;
}

}  // namespace

TimerWheel::TimerWheel(uint32_t capacity)
    : deadline_(capacity, 0), next_(capacity, kNil), prev_(capacity, kNil), where_(capacity, kUnarmed) {
    head_.fill(kNil);
}

uint16_t TimerWheel::bucket_for(uint64_t deadline_ns) const {
    const uint64_t t = deadline_ns >> kTickShift;
    if (t <= tick_) return current_bucket();
    // The highest digit in which t differs from the current tick; t is
    // later, so its digit there is the larger one.
    const unsigned level = unsigned(63 - std::countl_zero(t ^ tick_)) / kLevelBits;
    return uint16_t(level * kBuckets + ((t >> (level * kLevelBits)) & (kBuckets - 1)));
}

void TimerWheel::link(uint32_t id, uint16_t bucket) {
    const uint32_t h = head_[bucket];
    next_[id] = h;
    prev_[id] = kNil;
    if (h != kNil) prev_[h] = id;
    head_[bucket] = id;
    where_[id] = bucket;
    occupied_[bucket / kBuckets] |= uint64_t(1) << (bucket % kBuckets);
}

void TimerWheel::unlink(uint32_t id) {
    const uint16_t bucket = where_[id];
    const uint32_t p = prev_[id], n = next_[id];
    if (p != kNil)
        next_[p] = n;
    else
        head_[bucket] = n;
    if (n != kNil) prev_[n] = p;
    if (head_[bucket] == kNil) occupied_[bucket / kBuckets] &= ~(uint64_t(1) << (bucket % kBuckets));
    where_[id] = kUnarmed;
}

void TimerWheel::schedule(uint32_t id, uint64_t deadline_ns) {
    if (deadline_ns == kNoDeadline) {
        cancel(id);
        return;
    }
    if (armed(id))
        unlink(id);
    else
        ++armed_;
    deadline_[id] = deadline_ns;
    link(id, bucket_for(deadline_ns));
}

void TimerWheel::cancel(uint32_t id) {
    if (!armed(id)) return;
    unlink(id);
    --armed_;
}

// Moves the current tick from tick_ to `tick` (later) and re-files every
// entry whose bucket is no longer valid relative to it. At level l an entry
// is valid while its digits above l equal the current tick's and its digit
// at l is larger (level 0: larger or equal, the current bucket). So when the
// digits above l are unchanged, only the buckets the tick's digit at l passed
// are re-filed; when they changed, the whole level is. Every re-filed entry
// lands at a lower level or in the current bucket.
void TimerWheel::advance(uint64_t tick) {
    std::array<uint32_t, kLevels * kBuckets> lists;
    unsigned n = 0;
    for (unsigned l = 0; l < kLevels; ++l) {
        const unsigned shift = l * kLevelBits;
        const unsigned above = shift + kLevelBits;  // <= 48 < 64
        uint64_t passed = ~uint64_t(0);
        if ((tick_ >> above) == (tick >> above)) {
            const unsigned from = unsigned(tick_ >> shift) & (kBuckets - 1);
            const unsigned to = unsigned(tick >> shift) & (kBuckets - 1);
            passed = l == 0 ? bit_range(from, to) : bit_range(from + 1, to + 1);
        }
        uint64_t take = occupied_[l] & passed;
        occupied_[l] &= ~take;
        while (take) {
            const unsigned b = unsigned(std::countr_zero(take));
            take &= take - 1;
            lists[n++] = head_[l * kBuckets + b];
            head_[l * kBuckets + b] = kNil;
        }
    }
    tick_ = tick;
    stats_.buckets += n;
    for (unsigned i = 0; i < n; ++i) {
        for (uint32_t id = lists[i]; id != kNil;) {
            const uint32_t next = next_[id];
            link(id, bucket_for(deadline_[id]));
            ++stats_.visited;
            ++stats_.moved;
            id = next;
        }
    }
}

void TimerWheel::expire(uint64_t now_ns, std::vector<uint32_t>& due) {
    const size_t first = due.size();
    const uint64_t tick = now_ns >> kTickShift;
    if (tick > tick_) advance(tick);
    // Everything with a tick up to the current one is here; within the
    // current tick only deadlines up to now_ns are due.
    const uint16_t current = current_bucket();
    if (head_[current] != kNil) ++stats_.buckets;
    for (uint32_t id = head_[current]; id != kNil;) {
        const uint32_t next = next_[id];
        ++stats_.visited;
        if (deadline_[id] <= now_ns) {
            unlink(id);
            --armed_;
            due.push_back(id);
            ++stats_.fired;
        }
        id = next;
    }
    std::sort(due.begin() + std::ptrdiff_t(first), due.end(), [this](uint32_t a, uint32_t b) {
        return deadline_[a] != deadline_[b] ? deadline_[a] < deadline_[b] : a < b;
    });
}

}  // namespace sluice::nbr
