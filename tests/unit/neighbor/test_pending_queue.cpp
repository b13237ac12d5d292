#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <vector>

#include "dataplane/neighbor/pending_queue.hpp"

namespace sluice::nbr {
namespace {

std::vector<int> drain_all(PendingQueues<int>& q, uint32_t entry) {
    std::vector<int> out;
    const uint32_t n = q.drain(entry, [&](int v) { out.push_back(v); });
    EXPECT_EQ(n, out.size());
    return out;
}

TEST(PendingQueues, StartsEmptyAndReportsCapacity) {
    PendingQueues<int> q(4, 3);
    EXPECT_EQ(q.capacity(), 3u);
    for (uint32_t i = 0; i < 4; ++i) EXPECT_EQ(q.size(i), 0u);
    int calls = 0;
    EXPECT_EQ(q.drain(2, [&](int) { ++calls; }), 0u);
    EXPECT_EQ(calls, 0);
}

TEST(PendingQueues, DrainsOldestFirstAndEmpties) {
    PendingQueues<int> q(1, 4);
    for (int v : {10, 20, 30}) EXPECT_TRUE(q.push(0, v));
    EXPECT_EQ(q.size(0), 3u);
    EXPECT_EQ(drain_all(q, 0), (std::vector<int>{10, 20, 30}));
    EXPECT_EQ(q.size(0), 0u);
    EXPECT_TRUE(drain_all(q, 0).empty());
}

TEST(PendingQueues, RejectsPushWhenFullAndKeepsTheOldPackets) {
    PendingQueues<int> q(1, 2);
    EXPECT_TRUE(q.push(0, 1));
    EXPECT_TRUE(q.push(0, 2));
    EXPECT_FALSE(q.push(0, 3));  // caller counts neighbor_queue_full and frees it
    EXPECT_EQ(q.size(0), 2u);
    EXPECT_EQ(drain_all(q, 0), (std::vector<int>{1, 2}));
    EXPECT_TRUE(q.push(0, 4));  // room again after draining
}

TEST(PendingQueues, EntriesAreIndependent) {
    PendingQueues<int> q(3, 2);
    EXPECT_TRUE(q.push(0, 1));
    EXPECT_TRUE(q.push(0, 2));
    EXPECT_FALSE(q.push(0, 3));
    EXPECT_TRUE(q.push(2, 7));  // entry 0 full does not affect entry 2
    EXPECT_EQ(q.size(1), 0u);
    EXPECT_EQ(drain_all(q, 2), (std::vector<int>{7}));
    EXPECT_EQ(q.size(0), 2u);  // draining entry 2 left entry 0 alone
    EXPECT_EQ(drain_all(q, 0), (std::vector<int>{1, 2}));
    EXPECT_TRUE(drain_all(q, 1).empty());
}

TEST(PendingQueues, WrapsAroundTheRing) {
    PendingQueues<int> q(1, 3);
    EXPECT_TRUE(q.push(0, 1));
    EXPECT_TRUE(q.push(0, 2));
    EXPECT_EQ(drain_all(q, 0), (std::vector<int>{1, 2}));  // head now at slot 2
    for (int v : {3, 4, 5}) EXPECT_TRUE(q.push(0, v));      // slots 2, 0, 1
    EXPECT_FALSE(q.push(0, 6));
    EXPECT_EQ(drain_all(q, 0), (std::vector<int>{3, 4, 5}));
}

// Many rounds of pushes and drains on several entries against a std::deque
// model, so every head position and fill level is exercised.
TEST(PendingQueues, MatchesAFifoModelOverManyRounds) {
    constexpr uint32_t kEntries = 5, kCap = 4;
    PendingQueues<int> q(kEntries, kCap);
    std::vector<std::deque<int>> model(kEntries);
    uint32_t x = 12345;  // LCG: deterministic
    int next = 0;
    for (int step = 0; step < 20000; ++step) {
        x = x * 1103515245u + 12345u;
        const uint32_t entry = (x >> 8) % kEntries;
        if ((x >> 20) % 3 != 0) {
            const bool ok = q.push(entry, next);
            ASSERT_EQ(ok, model[entry].size() < kCap);
            if (ok) model[entry].push_back(next);
            ++next;
        } else {
            std::vector<int> got = drain_all(q, entry);
            ASSERT_EQ(got, std::vector<int>(model[entry].begin(), model[entry].end()));
            model[entry].clear();
        }
        ASSERT_EQ(q.size(entry), model[entry].size());
    }
}

TEST(PendingQueues, PushDuringDrainStaysQueued) {
    PendingQueues<int> q(1, 4);
    q.push(0, 1);
    q.push(0, 2);
    std::vector<int> seen;
    // A packet that fails to send may be requeued by the callback; drain must
    // not loop on it.
    const uint32_t n = q.drain(0, [&](int v) {
        seen.push_back(v);
        EXPECT_TRUE(q.push(0, v + 10));
    });
    EXPECT_EQ(n, 2u);
    EXPECT_EQ(seen, (std::vector<int>{1, 2}));
    EXPECT_EQ(drain_all(q, 0), (std::vector<int>{11, 12}));
}

TEST(PendingQueues, MoveOnlyValuesAreMovedOut) {
    PendingQueues<std::unique_ptr<int>> q(2, 2);
    EXPECT_TRUE(q.push(1, std::make_unique<int>(5)));
    EXPECT_TRUE(q.push(1, std::make_unique<int>(6)));
    std::vector<int> out;
    q.drain(1, [&](std::unique_ptr<int> p) { out.push_back(*p); });
    EXPECT_EQ(out, (std::vector<int>{5, 6}));
}

TEST(PendingQueues, ZeroCapacityRejectsEverything) {
    PendingQueues<int> q(2, 0);
    EXPECT_FALSE(q.push(0, 1));
    EXPECT_EQ(q.size(0), 0u);
    EXPECT_EQ(q.drain(0, [](int) {}), 0u);
}

}  // namespace
}  // namespace sluice::nbr
