// The neighbor timer wheel (dataplane/neighbor/timer_wheel.hpp): what fires
// and when, against a brute-force scan of every deadline (what the agent did
// before), and how much work a tick does (counted by the wheel, never timed).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <utility>
#include <vector>

#include "dataplane/neighbor/timer_wheel.hpp"
#include "tests/unit/neighbor/time_units.hpp"

namespace sluice::nbr {
namespace {

using test::kMs;
using test::kSec;

std::vector<uint32_t> expire(TimerWheel& w, uint64_t now) {
    std::vector<uint32_t> due;
    w.expire(now, due);
    return due;
}

// The reference: every armed id with deadline <= now, by (deadline, id).
struct BruteForce {
    std::map<uint32_t, uint64_t> armed;

    void schedule(uint32_t id, uint64_t d) {
        if (d == kNoDeadline)
            armed.erase(id);
        else
            armed[id] = d;
    }
    std::vector<uint32_t> expire(uint64_t now) {
        std::vector<std::pair<uint64_t, uint32_t>> due;
        for (auto it = armed.begin(); it != armed.end();) {
            if (it->second <= now) {
                due.emplace_back(it->second, it->first);
                it = armed.erase(it);
            } else {
                ++it;
            }
        }
        std::sort(due.begin(), due.end());
        std::vector<uint32_t> ids;
        for (auto& [d, id] : due) ids.push_back(id);
        return ids;
    }
};

TEST(TimerWheel, FiresInDeadlineOrderAtTheFirstTickAtOrAfterIt) {
    TimerWheel w(16);
    const uint64_t t0 = 5 * kSec;
    expire(w, t0);
    w.schedule(3, t0 + 30 * kMs);
    w.schedule(1, t0 + 10 * kMs);
    w.schedule(7, t0 + 10 * kMs);  // same deadline as 1: id order
    w.schedule(2, t0 + 20 * kMs + 1);
    w.schedule(9, t0 + 5 * kSec);
    EXPECT_EQ(w.size(), 5u);

    EXPECT_TRUE(expire(w, t0 + 10 * kMs - 1).empty());
    EXPECT_EQ(expire(w, t0 + 10 * kMs), (std::vector<uint32_t>{1, 7}));
    EXPECT_TRUE(expire(w, t0 + 20 * kMs).empty());  // 1 ns early: same tick, not yet due
    EXPECT_EQ(expire(w, t0 + 20 * kMs + 1), (std::vector<uint32_t>{2}));
    // A late tick returns everything due, earliest first.
    EXPECT_EQ(expire(w, t0 + 10 * kSec), (std::vector<uint32_t>{3, 9}));
    EXPECT_EQ(w.size(), 0u);
    EXPECT_FALSE(w.armed(3));
}

TEST(TimerWheel, RescheduleMovesTheDeadlineBothWays) {
    TimerWheel w(4);
    expire(w, kSec);
    w.schedule(0, kSec + 100 * kMs);
    w.schedule(0, kSec + 50 * kMs);  // earlier
    EXPECT_EQ(w.deadline(0), kSec + 50 * kMs);
    EXPECT_EQ(w.size(), 1u);
    EXPECT_EQ(expire(w, kSec + 50 * kMs), (std::vector<uint32_t>{0}));

    w.schedule(1, kSec + 60 * kMs);
    w.schedule(1, kSec + 10 * kSec);  // later, several levels up
    EXPECT_TRUE(expire(w, kSec + 60 * kMs).empty());
    EXPECT_TRUE(expire(w, kSec + 10 * kSec - 1).empty());
    EXPECT_EQ(expire(w, kSec + 10 * kSec), (std::vector<uint32_t>{1}));
}

TEST(TimerWheel, CancelDisarms) {
    TimerWheel w(8);
    w.schedule(5, 10 * kMs);
    w.schedule(6, 10 * kMs);
    w.cancel(5);
    w.cancel(5);  // twice: nothing
    w.cancel(4);  // never armed: nothing
    EXPECT_FALSE(w.armed(5));
    EXPECT_EQ(w.deadline(5), kNoDeadline);
    EXPECT_EQ(w.size(), 1u);
    EXPECT_EQ(expire(w, kSec), (std::vector<uint32_t>{6}));
    EXPECT_TRUE(expire(w, 100 * kSec).empty());
}

TEST(TimerWheel, NoDeadlineMeansNotArmed) {
    TimerWheel w(4);
    w.schedule(0, kNoDeadline);
    EXPECT_FALSE(w.armed(0));
    EXPECT_EQ(w.size(), 0u);
    w.schedule(1, 5 * kMs);
    w.schedule(1, kNoDeadline);  // an armed entry loses its deadline (Static, Failed held by a route)
    EXPECT_FALSE(w.armed(1));
    // The latest real deadline (fsm.cpp saturates to kNoDeadline - 1) still fires.
    w.schedule(2, kNoDeadline - 1);
    EXPECT_TRUE(expire(w, kNoDeadline - 2).empty());
    EXPECT_EQ(expire(w, kNoDeadline - 1), (std::vector<uint32_t>{2}));
    EXPECT_TRUE(expire(w, UINT64_MAX).empty());
}

TEST(TimerWheel, DeadlinesInThePastFireAtTheNextExpire) {
    TimerWheel w(8);
    expire(w, 100 * kSec);
    w.schedule(0, 0);                  // a new slot (nbr::Entry's default deadline)
    w.schedule(1, 3 * kSec);           // long past: another level's range
    w.schedule(2, 100 * kSec);         // exactly the last expire's time
    w.schedule(3, 100 * kSec + 1);     // after it, same tick
    EXPECT_EQ(expire(w, 100 * kSec), (std::vector<uint32_t>{0, 1, 2}));
    EXPECT_EQ(expire(w, 100 * kSec + 1), (std::vector<uint32_t>{3}));
}

TEST(TimerWheel, TimeJumpsAcrossEveryLevel) {
    TimerWheel w(16);
    BruteForce ref;
    const uint64_t deadlines[] = {kMs, 70 * kMs, 5 * kSec, 300 * kSec, 5 * 3600 * kSec, 20 * 86400 * kSec,
                                  uint64_t(1) << 55, uint64_t(1) << 62, kNoDeadline - 1};
    uint32_t id = 0;
    for (uint64_t d : deadlines) {
        w.schedule(id, d);
        ref.schedule(id, d);
        ++id;
    }
    // Jumps that land exactly on, just before and far past deadlines, and
    // one back in time (fires nothing new, moves nothing back).
    const uint64_t nows[] = {0, kMs - 1, 6 * 3600 * kSec, 6 * 3600 * kSec - 5, 30 * 86400 * kSec,
                             (uint64_t(1) << 62) - 1, uint64_t(1) << 62, UINT64_MAX};
    for (uint64_t now : nows) ASSERT_EQ(expire(w, now), ref.expire(now)) << "now=" << now;
    EXPECT_EQ(w.size(), 0u);
}

TEST(TimerWheel, ManyEntriesEachFireOnceAtTheRightTick) {
    constexpr uint32_t kCap = 1u << 20;
    constexpr uint32_t kN = 200'000;
    TimerWheel w(kCap);
    std::mt19937_64 rng(7);
    const uint64_t t0 = 1000 * kSec;
    expire(w, t0);
    std::vector<uint64_t> when(kCap, kNoDeadline);
    for (uint32_t i = 0; i < kN; ++i) {
        const uint32_t id = uint32_t(rng() % kCap);
        const uint64_t d = t0 + rng() % (40 * kSec);
        w.schedule(id, d);
        when[id] = d;
    }
    uint64_t armed = 0;
    for (uint64_t d : when) armed += d != kNoDeadline;
    EXPECT_EQ(w.size(), armed);

    uint64_t fired = 0;
    for (uint64_t now = t0; now <= t0 + 41 * kSec; now += 10 * kMs) {
        for (uint32_t id : expire(w, now)) {
            ASSERT_NE(when[id], kNoDeadline) << "fired twice or never armed: " << id;
            ASSERT_LE(when[id], now);
            ASSERT_GT(when[id] + 10 * kMs, now) << "fired late: " << id;
            when[id] = kNoDeadline;
            ++fired;
        }
    }
    EXPECT_EQ(fired, armed);
    EXPECT_EQ(w.size(), 0u);
}

// Random operations, as the agent issues them (reschedule on every event,
// cancel on delete, ticks of about 10 ms with occasional jumps), checked step
// by step against the brute-force scan.
TEST(TimerWheel, MatchesBruteForceUnderRandomOperations) {
    constexpr uint32_t kCap = 512;
    std::mt19937_64 rng(20240607);
    for (int round = 0; round < 20; ++round) {
        TimerWheel w(kCap);
        BruteForce ref;
        uint64_t now = rng() % (uint64_t(1) << (20 + round * 2));  // starting points across levels
        for (int step = 0; step < 20'000; ++step) {
            const uint64_t r = rng();
            const uint32_t id = uint32_t(r % kCap);
            switch ((r >> 16) % 8) {
            case 0:
            case 1:
            case 2: {
                uint64_t d;
                switch ((r >> 24) % 6) {
                case 0: d = now > 0 ? now - (r >> 32) % std::min<uint64_t>(now, 5 * kSec) : 0; break;  // past
                case 1: d = now + (r >> 32) % (2 * kMs); break;                                      // this tick or next
                case 2: d = now + (r >> 32) % (40 * kSec); break;                                    // FSM delays
                case 3: d = now + (r >> 32) % (uint64_t(1) << 40); break;                            // far
                case 4: d = kNoDeadline; break;
                default: d = UINT64_MAX - 1 - (r >> 40); break;                                      // near the end
                }
                w.schedule(id, d);
                ref.schedule(id, d);
                break;
            }
            case 3:
                w.cancel(id);
                ref.schedule(id, kNoDeadline);
                break;
            default: {
                switch ((r >> 24) % 10) {
                case 0: break;                                                 // same time again
                case 1: now += (r >> 32) % (uint64_t(1) << 36); break;         // a jump of up to a minute
                case 2: now -= std::min<uint64_t>(now, (r >> 32) % kSec); break;  // backwards
                default: now += 10 * kMs + (r >> 32) % kMs; break;             // the agent's tick
                }
                ASSERT_EQ(expire(w, now), ref.expire(now)) << "round " << round << " step " << step;
                ASSERT_EQ(w.size(), ref.armed.size());
            }
            }
            if (step % 1000 == 0) {
                for (uint32_t i = 0; i < kCap; ++i) {
                    auto it = ref.armed.find(i);
                    ASSERT_EQ(w.deadline(i), it == ref.armed.end() ? kNoDeadline : it->second);
                }
            }
        }
    }
}

// The agent's case: a table of 2^20 slots, 1000 neighbors with timers. The
// work of a tick, counted by the wheel, is the same whatever the capacity and
// bounded by the number of timers set, not by the number of ticks or slots.
TEST(TimerWheel, TickWorkFollowsDueEntriesNotCapacity) {
    constexpr uint32_t kActive = 1000;
    TimerWheel small(kActive), large(1u << 20);
    std::mt19937_64 rng(99);
    const uint64_t t0 = 3600 * kSec;
    std::vector<uint32_t> due_s, due_l;
    small.expire(t0, due_s);
    large.expire(t0, due_l);
    uint64_t schedules = 0, fired = 0, idle_ticks = 0, ticks = 0;
    for (uint32_t id = 0; id < kActive; ++id) {
        const uint64_t d = t0 + rng() % (30 * kSec);  // REACHABLE, random phase
        small.schedule(id, d);
        large.schedule(id, d);
        ++schedules;
    }
    for (uint64_t now = t0 + 10 * kMs; now < t0 + 120 * kSec; now += 10 * kMs, ++ticks) {
        due_s.clear();
        due_l.clear();
        const uint64_t before = large.stats().visited;
        small.expire(now, due_s);
        large.expire(now, due_l);
        ASSERT_EQ(due_s, due_l);
        if (large.stats().visited == before) ++idle_ticks;
        ASSERT_LE(large.stats().visited - before, uint64_t(kActive));
        // As the FSM does: a refresh probe 1 s later, then REACHABLE again.
        for (uint32_t id : due_l) {
            const uint64_t d = now + (rng() % 2 ? kSec : 30 * kSec);
            small.schedule(id, d);
            large.schedule(id, d);
            ++schedules;
            ++fired;
        }
    }
    EXPECT_EQ(small.stats().visited, large.stats().visited);
    EXPECT_EQ(small.stats().moved, large.stats().moved);
    EXPECT_EQ(large.stats().fired, fired);
    // Per timer set: at most one move per level, the tick that leaves its
    // level-0 bucket, and one look when it fires.
    EXPECT_LE(large.stats().visited, schedules * (TimerWheel::kLevels + 3));
    // A scan would have looked at 2^20 slots on each of the 11 999 ticks;
    // the wheel looked at a few entries per tick and at none on many.
    EXPECT_LT(large.stats().visited, ticks * 8);
    EXPECT_GT(idle_ticks, ticks / 4);
    std::printf("%lu ticks: %lu timers set, %lu fired, %lu entries visited, %lu idle ticks\n",
                (unsigned long)ticks, (unsigned long)schedules, (unsigned long)fired,
                (unsigned long)large.stats().visited, (unsigned long)idle_ticks);
}

}  // namespace
}  // namespace sluice::nbr
