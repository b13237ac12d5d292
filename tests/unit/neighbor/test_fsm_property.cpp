// Property test: random (fixed-seed) event sequences from every state must
// keep the invariants the agent and the workers rely on.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "dataplane/neighbor/fsm.hpp"
#include "tests/unit/neighbor/time_units.hpp"

namespace sluice::nbr {
namespace {

using test::kMs;

// One entry in each state, reached the way the agent reaches it.
Entry start_in(const Fsm& f, State s, uint64_t now) {
    const MacBytes m{0x02, 0, 0, 0, 0, 1};
    Entry e;
    switch (s) {
    case State::Failed: break;
    case State::Static: return f.make_static(m, now);
    case State::Incomplete: f.on_resolve(e, now); break;
    case State::Reachable: f.on_resolve(e, now); f.on_confirmed(e, m, true, now); break;
    case State::Stale: f.on_hint(e, m, true, now); break;
    case State::Probe: f.on_hint(e, m, true, now); f.on_timer(e, e.deadline_ns); break;
    }
    EXPECT_EQ(e.state, s);
    return e;
}

TEST(NeighborFsmProperty, RandomEventSequencesKeepInvariants) {
    const Params params[] = {
        {30'000 * kMs, 1'000 * kMs, 60'000 * kMs, 3},
        {50 * kMs, 10 * kMs, 20 * kMs, 1},
        {5 * kMs, 5 * kMs, 5 * kMs, 0},
    };
    const MacBytes macs[] = {{0x02, 0, 0, 0, 0, 1}, {0x02, 0, 0, 0, 0, 2}, {0x02, 0, 0, 0, 0, 3}};
    std::mt19937_64 rng(20240601);  // fixed seed: same sequences every run
    uint64_t events = 0;

    for (const Params& p : params) {
        const Fsm f(p);
        const uint32_t max_probes = p.max_probes ? p.max_probes : 1;
        for (State s0 : {State::Incomplete, State::Reachable, State::Stale, State::Probe, State::Failed,
                         State::Static}) {
            for (int seq = 0; seq < 100; ++seq) {
                uint64_t now = 1'000 * kMs;
                Entry e = start_in(f, s0, now);
                for (int step = 0; step < 200; ++step, ++events) {
                    // Time moves forward: often exactly to the deadline (as the
                    // agent's timer wheel would), sometimes by a random amount.
                    const uint64_t r = rng();
                    if (r % 3 == 0 && e.deadline_ns != kNoDeadline && e.deadline_ns > now) now = e.deadline_ns;
                    else now += (r >> 8) % (2 * p.retrans_ns);
                    const MacBytes& mac = macs[(r >> 40) % 3];
                    const bool o = (r >> 50) & 1;

                    const Entry before = e;
                    const bool parked = before.state == State::Failed && before.deadline_ns == kNoDeadline;
                    uint32_t a = 0;
                    switch ((r >> 52) % 4) {
                    case 0: a = f.on_resolve(e, now); break;
                    case 1: a = f.on_confirmed(e, mac, o, now); break;
                    case 2: a = f.on_hint(e, mac, o, now); break;
                    case 3: a = f.on_timer(e, now); break;
                    }

                    SCOPED_TRACE("params#" + std::to_string(&p - params) + " from " + to_string(s0) + " seq " +
                                 std::to_string(seq) + " step " + std::to_string(step) + ": " +
                                 to_string(before.state) + " -> " + to_string(e.state) + " actions " +
                                 std::to_string(a));
                    // Workers never see a MAC for an entry that has none.
                    if (e.state == State::Failed || e.state == State::Incomplete) {
                        ASSERT_FALSE(e.mac_valid);
                        ASSERT_EQ(e.mac, MacBytes{});
                    } else {
                        ASSERT_TRUE(e.mac_valid);
                    }
                    const bool has_mac = e.mac_valid;
                    const bool left_incomplete = before.state == State::Incomplete && e.state != State::Incomplete;
                    ASSERT_TRUE(!(a & (kPublish | kSendUnicast | kFlushPending)) || has_mac);
                    ASSERT_TRUE(!(a & kInvalidate) || !has_mac);
                    ASSERT_FALSE((a & kFlushPending) && (a & kDropPending));
                    ASSERT_TRUE(!(a & kDropPending) || e.state == State::Failed);
                    // Packets queue only in Incomplete: leaving it must flush or
                    // drop them, and nothing else touches the queue.
                    ASSERT_TRUE(!left_incomplete || (a & (kFlushPending | kDropPending)));
                    ASSERT_TRUE(!(a & (kFlushPending | kDropPending)) || before.state == State::Incomplete);
                    // Static is frozen, and nothing becomes Static by protocol.
                    ASSERT_EQ(before.state == State::Static, e.state == State::Static);
                    if (before.state == State::Static) {
                        ASSERT_EQ(a, kNone);
                        ASSERT_EQ(e.mac, before.mac);
                        ASSERT_EQ(e.deadline_ns, kNoDeadline);
                    }
                    // Every live dynamic entry has a deadline; only the entry
                    // offered for deletion (and kept) has none.
                    if (e.state != State::Static && e.deadline_ns == kNoDeadline) {
                        ASSERT_TRUE((a & kDelete) || (parked && a == kNone && e.state == State::Failed));
                    }
                    if (e.deadline_ns != before.deadline_ns && e.deadline_ns != kNoDeadline) {
                        ASSERT_GT(e.deadline_ns, now);  // never armed in the past
                    }
                    ASSERT_TRUE(!(a & kDelete) || e.state == State::Failed);
                    ASSERT_LE(e.probes, max_probes);
                    ASSERT_LE(a, 127u);
                }
            }
        }
    }
    EXPECT_EQ(events, 3u * 6 * 100 * 200);
}

}  // namespace
}  // namespace sluice::nbr
