// A gate for callbacks that run on threads we do not own (DPDK's telemetry
// client threads) and read objects whose lifetime we do own. DPDK 22.11 cannot
// unregister a telemetry command, so a callback may start, or still be
// running, while main tears the agent down; close() returns only once no
// callback that found the gate open is still inside.
//
// Why seq_cst on both sides (a Dekker-style handshake): a callback does
//   (1) in_flight_ += 1    (2) load open_
// and close() does
//   (3) open_ = false      (4) load in_flight_ until it reads 0.
// All four are seq_cst, so they sit in one total order S consistent with each
// thread's program order. If (2) reads true, (2) precedes (3) in S (it would
// otherwise read (3)'s false), hence (1) < (2) < (3) < every load of (4), and
// each such load sees (1)'s increment or a later value: close() cannot see 0
// until that callback's decrement, which (being a release) makes everything
// the callback did happen before what follows close(). A callback that reads
// false touches nothing. With acquire/release alone (1) could be reordered
// after (2) and close() could miss a callback that is about to run.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

namespace sluice::dp {

class CallbackGate {
public:
    // Held by a callback while it reads what the gate protects; false if the
    // gate was closed (the callback must then touch nothing).
    class Pass {
    public:
        Pass(Pass&& o) noexcept : g_(o.g_) { o.g_ = nullptr; }
        Pass(const Pass&) = delete;
        Pass& operator=(const Pass&) = delete;
        Pass& operator=(Pass&&) = delete;
        ~Pass() {
            if (g_) g_->in_flight_.fetch_sub(1, std::memory_order_seq_cst);
        }
        explicit operator bool() const { return g_ != nullptr; }

    private:
        friend class CallbackGate;
        explicit Pass(CallbackGate* g) : g_(g) {}
        CallbackGate* g_;
    };

    [[nodiscard]] Pass enter() {
        in_flight_.fetch_add(1, std::memory_order_seq_cst);
        if (open_.load(std::memory_order_seq_cst)) return Pass(this);
        in_flight_.fetch_sub(1, std::memory_order_seq_cst);
        return Pass(nullptr);
    }

    void open() { open_.store(true, std::memory_order_seq_cst); }

    // Closes the gate and waits until every pass handed out while it was
    // open is released. Callbacks are short (they format counters), so this
    // polls; a callback arriving meanwhile is refused and leaves at once.
    void close() {
        open_.store(false, std::memory_order_seq_cst);
        while (in_flight_.load(std::memory_order_seq_cst) != 0)
            std::this_thread::sleep_for(std::chrono::microseconds(100));
    }

    bool is_open() const { return open_.load(std::memory_order_seq_cst); }

private:
    std::atomic<bool> open_{false};
    std::atomic<uint32_t> in_flight_{0};
};

}  // namespace sluice::dp
