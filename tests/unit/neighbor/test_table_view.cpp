// The telemetry view of the neighbor table (dataplane/neighbor/table_view.hpp):
// counts per family and state, bounded pages, and a reader thread that pages
// while the writer changes rows (run under TSan in CI to check the locking).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "dataplane/neighbor/table_view.hpp"

namespace sluice::nbr {
namespace {

ViewRow row(uint32_t slot, bool v6, State s, uint32_t pending = 0) {
    ViewRow r;
    r.port = uint16_t(slot % 3);
    r.v6 = v6;
    r.addr[0] = uint8_t(slot >> 24);
    r.addr[1] = uint8_t(slot >> 16);
    r.addr[2] = uint8_t(slot >> 8);
    r.addr[3] = uint8_t(slot);
    r.state = s;
    r.is_static = s == State::Static;
    r.mac_valid = s != State::Incomplete && s != State::Failed;
    r.pending = pending;
    return r;
}

uint32_t slot_of(const ViewRow& r) {
    return uint32_t(r.addr[0]) << 24 | uint32_t(r.addr[1]) << 16 | uint32_t(r.addr[2]) << 8 | r.addr[3];
}

TEST(TableView, CountsFollowSetAndErase) {
    TableView v(1024);
    EXPECT_EQ(v.summary().capacity, 1024u);
    EXPECT_EQ(v.summary().total, 0u);
    v.set(10, row(10, false, State::Failed));
    v.set(10, row(10, false, State::Incomplete, 2));  // same slot: updated, not added
    v.set(11, row(11, true, State::Reachable));
    v.set(12, row(12, true, State::Static));
    auto s = v.summary();
    EXPECT_EQ(s.total, 3u);
    EXPECT_EQ(s.by_state[0][size_t(State::Incomplete)], 1u);
    EXPECT_EQ(s.by_state[0][size_t(State::Failed)], 0u);
    EXPECT_EQ(s.by_state[1][size_t(State::Reachable)], 1u);
    EXPECT_EQ(s.by_state[1][size_t(State::Static)], 1u);

    v.erase(11);
    v.erase(11);   // twice: nothing
    v.erase(500);  // never set: nothing
    s = v.summary();
    EXPECT_EQ(s.total, 2u);
    EXPECT_EQ(s.by_state[1][size_t(State::Reachable)], 0u);
}

TEST(TableView, PagesCoverEveryRowOnceAndAreBounded) {
    TableView v(1u << 20);
    std::set<uint32_t> live;
    std::mt19937 rng(3);
    for (uint32_t i = 0; i < 1000; ++i) {
        const uint32_t slot = rng() % (1u << 20);
        v.set(slot, row(slot, slot & 1, State::Stale, slot % 5));
        live.insert(slot);
    }
    for (uint32_t i = 0; i < 300; ++i) {  // deletions move rows around
        auto it = live.begin();
        std::advance(it, rng() % live.size());
        v.erase(*it);
        live.erase(it);
    }
    constexpr uint32_t kPage = 64;
    std::set<uint32_t> seen;
    std::vector<ViewRow> out;
    uint32_t p = 0;
    for (;; ++p) {
        const ViewSummary s = v.page(p, kPage, out);
        EXPECT_EQ(s.total, live.size());
        ASSERT_LE(out.size(), kPage);
        if (out.empty()) break;
        for (const auto& r : out) {
            const uint32_t slot = slot_of(r);
            EXPECT_TRUE(live.count(slot)) << slot;
            EXPECT_TRUE(seen.insert(slot).second) << "twice: " << slot;
            EXPECT_EQ(r.pending, slot % 5);
        }
    }
    EXPECT_EQ(seen, live);
    EXPECT_EQ(p, (live.size() + kPage - 1) / kPage);
    v.page(UINT32_MAX, kPage, out);  // far past the end: empty, no overflow
    EXPECT_TRUE(out.empty());
}

// One writer (the agent) and one reader (a telemetry thread): every page the
// reader sees is internally consistent with the summary it came with.
TEST(TableView, ReaderPagesWhileTheWriterChangesRows) {
    constexpr uint32_t kCap = 4096;
    TableView v(kCap);
    std::atomic<bool> done{false};
    std::thread reader([&] {
        std::vector<ViewRow> out;
        uint64_t pages = 0;
        while (!done.load(std::memory_order_acquire) || pages < 100) {
            const ViewSummary s = v.page(uint32_t(pages % 4), 64, out);
            uint64_t sum = 0;
            for (const auto& fam : s.by_state)
                for (uint32_t c : fam) sum += c;
            ASSERT_EQ(sum, s.total);
            const uint64_t first = uint64_t(pages % 4) * 64;
            ASSERT_EQ(out.size(), s.total > first ? std::min<uint64_t>(64, s.total - first) : 0);
            for (const auto& r : out) ASSERT_LT(slot_of(r), kCap);
            ++pages;
        }
    });
    std::mt19937 rng(11);
    for (int i = 0; i < 200'000; ++i) {
        const uint32_t slot = rng() % kCap;
        if (rng() % 3 == 0)
            v.erase(slot);
        else
            v.set(slot, row(slot, slot & 1, State(rng() % kStateCount)));
    }
    done.store(true, std::memory_order_release);
    reader.join();
}

}  // namespace
}  // namespace sluice::nbr
