// A single-level hashed timer wheel (Varghese & Lauck, scheme 6) for the
// health checker: one slot per tick (the checker uses 1 ms ticks), timers
// intrusive in their owners (no allocation per schedule), O(1) schedule and
// cancel, and a walk of one slot per elapsed tick. A timer further away than
// the wheel's span waits in its slot for the later round (its absolute
// expiry is kept and compared), so any delay works; the checker's intervals
// are mostly below the 4 s span of the default 4096 slots.
//
// Order: timers fire in expiry order; timers of one tick fire in the order
// they were scheduled. A callback may schedule or cancel any timer,
// including ones due in the same advance().
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace sluice::health {

class TimerWheel;

struct WheelTimer {
    uint64_t cookie = 0;  // the owner's (the checker: slot and kind)
    uint64_t expiry() const { return expiry_; }
    bool armed() const { return next_ != nullptr; }

    WheelTimer() = default;
    // Intrusive links: a timer is neither copied nor moved while armed; its
    // owner cancels it before it goes away.
    WheelTimer(const WheelTimer&) = delete;
    WheelTimer& operator=(const WheelTimer&) = delete;

private:
    friend class TimerWheel;
    uint64_t expiry_ = 0;
    WheelTimer* prev_ = nullptr;
    WheelTimer* next_ = nullptr;  // nullptr: not armed
};

class TimerWheel {
public:
    // `now` is the current tick; slots is rounded up to a power of two.
    explicit TimerWheel(uint64_t now, uint32_t slots = 4096);
    TimerWheel(const TimerWheel&) = delete;
    TimerWheel& operator=(const TimerWheel&) = delete;

    // Arms t for `tick` (re-arms if already armed). A tick not after the
    // wheel's current one is due at the next tick: advance() never goes back.
    void schedule(WheelTimer& t, uint64_t tick);
    void cancel(WheelTimer& t);

    // Fires, through fire(WheelTimer&), every timer due at or before `now`,
    // tick by tick. The timer is disarmed before its callback runs.
    template <class F>
    size_t advance(uint64_t now, F&& fire);

    // The earliest tick at which a timer may be due: exact when one is
    // armed within the wheel's span, else the end of the span (the caller
    // wakes up then and asks again); nullopt when none is armed.
    std::optional<uint64_t> next_expiry() const;

    uint64_t now() const { return cur_; }
    size_t size() const { return size_; }

private:
    struct Head {
        WheelTimer node;  // sentinel of a circular list
    };
    void link_tail(WheelTimer& head, WheelTimer& t);
    static void unlink(WheelTimer& t);

    std::vector<Head> slots_;
    uint64_t mask_;
    uint64_t cur_;  // last tick processed
    size_t size_ = 0;
    WheelTimer due_;  // sentinel: timers of the tick being fired
};

template <class F>
size_t TimerWheel::advance(uint64_t now, F&& fire) {
    size_t fired = 0;
    if (size_ == 0) {
        if (now > cur_) cur_ = now;
        return 0;
    }
    while (cur_ < now) {
        ++cur_;
        WheelTimer& head = slots_[cur_ & mask_].node;
        // Move this tick's timers to due_ (in order) first: callbacks may
        // schedule into this very slot (a later round) or cancel a due
        // timer, which unlinks it from due_ like from any list.
        for (WheelTimer* t = head.next_; t != &head;) {
            WheelTimer* next = t->next_;
            if (t->expiry_ <= cur_) {
                unlink(*t);
                link_tail(due_, *t);
            }
            t = next;
        }
        while (due_.next_ != &due_) {
            WheelTimer* t = due_.next_;
            unlink(*t);
            --size_;
            ++fired;
            fire(*t);
        }
        if (size_ == 0) {
            cur_ = now;
            break;
        }
    }
    return fired;
}

}  // namespace sluice::health
