// The checker's timer wheel: order, cancellation, timers past the span.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "control/health/timer_wheel.hpp"

using sluice::health::TimerWheel;
using sluice::health::WheelTimer;

TEST(TimerWheel, FiresInExpiryOrderThenScheduleOrder) {
    TimerWheel w(100, 64);
    std::vector<WheelTimer> t(6);
    const uint64_t at[] = {105, 103, 105, 101, 103, 110};
    for (size_t i = 0; i < t.size(); ++i) {
        t[i].cookie = i;
        w.schedule(t[i], at[i]);
    }
    EXPECT_EQ(w.size(), 6u);
    EXPECT_EQ(w.next_expiry(), 101u);
    std::vector<uint64_t> fired;
    w.advance(104, [&](WheelTimer& x) {
        EXPECT_FALSE(x.armed());
        fired.push_back(x.cookie);
    });
    EXPECT_EQ(fired, (std::vector<uint64_t>{3, 1, 4}));
    EXPECT_EQ(w.next_expiry(), 105u);
    w.advance(200, [&](WheelTimer& x) { fired.push_back(x.cookie); });
    EXPECT_EQ(fired, (std::vector<uint64_t>{3, 1, 4, 0, 2, 5}));
    EXPECT_EQ(w.size(), 0u);
    EXPECT_FALSE(w.next_expiry().has_value());
}

TEST(TimerWheel, CancelAndReschedule) {
    TimerWheel w(0, 16);
    WheelTimer a, b, c;
    a.cookie = 1;
    b.cookie = 2;
    c.cookie = 3;
    w.schedule(a, 5);
    w.schedule(b, 5);
    w.schedule(c, 7);
    w.cancel(b);
    w.cancel(b);  // twice: harmless
    EXPECT_FALSE(b.armed());
    w.schedule(c, 3);  // re-armed earlier
    EXPECT_EQ(w.size(), 2u);
    std::vector<uint64_t> fired;
    w.advance(10, [&](WheelTimer& x) { fired.push_back(x.cookie); });
    EXPECT_EQ(fired, (std::vector<uint64_t>{3, 1}));
}

TEST(TimerWheel, PastTicksAreDueAtTheNextTick) {
    TimerWheel w(50, 16);
    WheelTimer a;
    w.schedule(a, 10);
    EXPECT_EQ(a.expiry(), 51u);
    int n = 0;
    w.advance(50, [&](WheelTimer&) { ++n; });
    EXPECT_EQ(n, 0);
    w.advance(51, [&](WheelTimer&) { ++n; });
    EXPECT_EQ(n, 1);
}

TEST(TimerWheel, TimersBeyondTheSpanWaitForTheirRound) {
    TimerWheel w(0, 8);  // span 8 ticks
    WheelTimer far, near;
    far.cookie = 1;
    near.cookie = 2;
    w.schedule(far, 8 * 3 + 2);  // same slot as tick 2, three rounds later
    w.schedule(near, 2);
    std::vector<std::pair<uint64_t, uint64_t>> fired;  // (cookie, tick)
    for (uint64_t now = 1; now <= 40; ++now)
        w.advance(now, [&](WheelTimer& x) { fired.emplace_back(x.cookie, now); });
    ASSERT_EQ(fired.size(), 2u);
    EXPECT_EQ(fired[0], (std::pair<uint64_t, uint64_t>{2, 2}));
    EXPECT_EQ(fired[1], (std::pair<uint64_t, uint64_t>{1, 26}));
}

TEST(TimerWheel, NextExpiryBeyondTheSpanIsTheSpansEnd) {
    TimerWheel w(0, 8);
    WheelTimer far;
    w.schedule(far, 100);
    EXPECT_EQ(w.next_expiry(), 8u);  // wake then and ask again
    int n = 0;
    w.advance(99, [&](WheelTimer&) { ++n; });
    EXPECT_EQ(n, 0);
    EXPECT_EQ(w.next_expiry(), 100u);
    w.advance(100, [&](WheelTimer&) { ++n; });
    EXPECT_EQ(n, 1);
}

TEST(TimerWheel, CallbacksMayScheduleAndCancel) {
    TimerWheel w(0, 16);
    WheelTimer a, b, c;
    a.cookie = 1;
    b.cookie = 2;
    c.cookie = 3;
    w.schedule(a, 3);
    w.schedule(b, 3);
    w.schedule(c, 4);
    std::vector<std::pair<uint64_t, uint64_t>> fired;
    int a_count = 0;
    w.advance(20, [&](WheelTimer& x) {
        fired.emplace_back(x.cookie, w.now());
        if (x.cookie == 1) {
            w.cancel(b);  // due in this very tick: does not fire
            if (++a_count < 3) w.schedule(a, w.now() + 5);  // periodic
            w.schedule(c, w.now());  // "now" means the next tick
        }
    });
    const std::vector<std::pair<uint64_t, uint64_t>> want = {{1, 3}, {3, 4}, {1, 8}, {3, 9}, {1, 13}, {3, 14}};
    EXPECT_EQ(fired, want);
    EXPECT_EQ(w.size(), 0u);
}

TEST(TimerWheel, RandomScheduleMatchesASortedReference) {
    std::mt19937_64 rng(99);
    TimerWheel w(1000, 256);
    const size_t n = 5000;
    std::vector<std::unique_ptr<WheelTimer>> timers;
    std::multimap<uint64_t, uint64_t> ref;  // expiry -> cookie, insertion order within a key
    std::vector<bool> cancelled(n, false);
    for (size_t i = 0; i < n; ++i) {
        timers.push_back(std::make_unique<WheelTimer>());
        timers[i]->cookie = i;
    }
    std::vector<uint64_t> expiry(n);
    for (size_t i = 0; i < n; ++i) {
        expiry[i] = 1001 + rng() % 3000;  // up to ~12 rounds of the 256-slot span
        w.schedule(*timers[i], expiry[i]);
    }
    for (size_t i = 0; i < n; i += 7) {
        w.cancel(*timers[i]);
        cancelled[i] = true;
    }
    // Reference order: expiry, then the order they were scheduled.
    std::vector<size_t> idx;
    for (size_t i = 0; i < n; ++i)
        if (!cancelled[i]) idx.push_back(i);
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return expiry[a] < expiry[b]; });
    std::vector<uint64_t> fired;
    uint64_t now = 1000;
    while (w.size()) {
        now += 1 + rng() % 50;  // uneven steps, as the loop's wake-ups are
        w.advance(now, [&](WheelTimer& x) {
            EXPECT_LE(x.expiry(), now);
            EXPECT_EQ(x.expiry(), expiry[x.cookie]);
            fired.push_back(x.cookie);
        });
    }
    ASSERT_EQ(fired.size(), idx.size());
    for (size_t i = 0; i < idx.size(); ++i) ASSERT_EQ(fired[i], idx[i]) << i;
}
