// The gate that keeps telemetry callbacks (DPDK's threads) from reading the
// agent while main destroys it: real threads against open/close.
#include "dataplane/agent/callback_gate.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace sluice::dp {
namespace {

// Bounded wait for a condition another thread makes true.
template <class Pred>
bool wait_for(Pred pred, std::chrono::seconds limit = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::yield();
    }
    return true;
}

TEST(CallbackGate, RefusesUntilOpenedAndAfterClosed) {
    CallbackGate g;
    EXPECT_FALSE(g.enter());
    g.open();
    {
        auto p = g.enter();
        EXPECT_TRUE(p);
        auto q = g.enter();   // concurrent callbacks are fine
        EXPECT_TRUE(q);
    }
    g.close();   // nothing in flight: returns at once
    EXPECT_FALSE(g.enter());
    EXPECT_FALSE(g.is_open());
}

TEST(CallbackGate, CloseWaitsForAPassTakenWhileOpen) {
    CallbackGate g;
    g.open();
    std::optional<CallbackGate::Pass> held;
    held.emplace(g.enter());
    ASSERT_TRUE(*held);

    std::atomic<bool> closed{false};
    std::thread closer([&] {
        g.close();
        closed.store(true);
    });
    ASSERT_TRUE(wait_for([&] { return !g.is_open(); })) << "close() never shut the gate";
    EXPECT_FALSE(g.enter()) << "a callback arriving during close() must be refused";
    EXPECT_FALSE(closed.load()) << "close() returned while a callback was still inside";
    held.reset();   // the callback leaves
    closer.join();
    EXPECT_TRUE(closed.load());
}

// Readers hammer the gate and check, inside each pass, that the object it
// protects is still alive; main closes the gate, then "destroys" the object
// (marks it dead, keeping the memory so that a broken gate is reported rather
// than crashing). No reader may ever see it dead while holding a pass.
TEST(CallbackGate, NoReaderInsideAfterCloseReturns) {
    struct Resource {
        std::atomic<bool> alive{true};
        std::atomic<uint64_t> reads{0};
    };
    auto res = std::make_unique<Resource>();
    CallbackGate g;
    g.open();

    constexpr int kReaders = 4;
    constexpr uint64_t kWarmPasses = 2000;
    std::vector<std::atomic<uint64_t>> passes(kReaders);
    std::atomic<uint64_t> violations{0};
    std::vector<std::thread> readers;
    for (int i = 0; i < kReaders; ++i) {
        readers.emplace_back([&, i] {
            for (;;) {
                CallbackGate::Pass p = g.enter();
                if (!p) return;   // closed: the gate never reopens
                if (!res->alive.load()) violations.fetch_add(1);
                for (int k = 0; k < 50; ++k) res->reads.fetch_add(1, std::memory_order_relaxed);
                if (!res->alive.load()) violations.fetch_add(1);
                passes[i].fetch_add(1);
            }
        });
    }
    bool warmed = wait_for([&] {
        for (auto& n : passes)
            if (n.load() < kWarmPasses) return false;
        return true;
    });
    g.close();
    res->alive.store(false);
    for (auto& t : readers) t.join();
    ASSERT_TRUE(warmed) << "readers did not all get " << kWarmPasses << " passes";
    EXPECT_EQ(violations.load(), 0u) << "a reader was inside the gate after close() returned";
    EXPECT_FALSE(g.enter());
}

}  // namespace
}  // namespace sluice::dp
