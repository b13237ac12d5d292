#include "control/health/timer_wheel.hpp"

namespace sluice::health {

TimerWheel::TimerWheel(uint64_t now, uint32_t slots) : cur_(now) {
    uint64_t n = 1;
    while (n < slots) n <<= 1;
    slots_ = std::vector<Head>(n);
    mask_ = n - 1;
    for (auto& h : slots_) h.node.prev_ = h.node.next_ = &h.node;
    due_.prev_ = due_.next_ = &due_;
}

void TimerWheel::link_tail(WheelTimer& head, WheelTimer& t) {
    t.prev_ = head.prev_;
    t.next_ = &head;
    head.prev_->next_ = &t;
    head.prev_ = &t;
}

void TimerWheel::unlink(WheelTimer& t) {
    t.prev_->next_ = t.next_;
    t.next_->prev_ = t.prev_;
    t.prev_ = t.next_ = nullptr;
}

void TimerWheel::schedule(WheelTimer& t, uint64_t tick) {
    if (t.armed()) {
        unlink(t);
        --size_;
    }
    if (tick <= cur_) tick = cur_ + 1;
    t.expiry_ = tick;
    link_tail(slots_[tick & mask_].node, t);
    ++size_;
}

void TimerWheel::cancel(WheelTimer& t) {
    if (!t.armed()) return;
    unlink(t);
    --size_;
}

std::optional<uint64_t> TimerWheel::next_expiry() const {
    if (size_ == 0) return std::nullopt;
    // Timers already moved to due_ are being fired by advance(): due now.
    if (due_.next_ != &due_) return cur_;
    const uint64_t span = mask_ + 1;
    for (uint64_t k = 1; k <= span; ++k) {
        const uint64_t tick = cur_ + k;
        const WheelTimer& head = slots_[tick & mask_].node;
        for (const WheelTimer* t = head.next_; t != &head; t = t->next_)
            if (t->expiry_ <= tick) return tick;
    }
    return cur_ + span;
}

}  // namespace sluice::health
