// Table-driven tests of the neighbor state machine (dataplane/neighbor/fsm.hpp).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dataplane/neighbor/fsm.hpp"

namespace sluice::nbr {
namespace {

constexpr uint64_t kS = 1'000'000'000;
constexpr Params kP{30 * kS, 1 * kS, 60 * kS, 3};
constexpr uint64_t kNow = 100 * kS;
constexpr uint64_t kLater = kNow + 5 * kS;  // a deadline not yet due
constexpr MacBytes kA{0x02, 0, 0, 0, 0, 0xaa};
constexpr MacBytes kB{0x02, 0, 0, 0, 0, 0xbb};
constexpr MacBytes kZero{};

enum class Ev { Resolve, Confirmed, Hint, Timer };

// An entry as the machine would hold it; states without a MAC get none.
Entry E(State s, MacBytes mac, uint64_t deadline, uint32_t probes = 0) {
    Entry e;
    e.state = s;
    e.mac_valid = mac != kZero;
    e.mac = mac;
    e.deadline_ns = deadline;
    e.probes = probes;
    return e;
}

struct Case {
    const char* what;
    Entry before;
    Ev ev;
    MacBytes mac;     // Confirmed / Hint only
    bool override_flag;
    uint32_t want_actions;
    Entry after;
};

const std::vector<Case>& cases() {
    static const std::vector<Case> c = {
        // ---- on_resolve ----
        {"new entry (default Failed): start resolution with one multicast solicitation",
         Entry{}, Ev::Resolve, {}, false, kSendMulticast, E(State::Incomplete, kZero, kNow + kP.retrans_ns, 1)},
        {"Failed entry waiting for gc: a new packet restarts resolution",
         E(State::Failed, kZero, kLater), Ev::Resolve, {}, false, kSendMulticast,
         E(State::Incomplete, kZero, kNow + kP.retrans_ns, 1)},
        {"Incomplete: the caller queues the packet, no extra solicitation",
         E(State::Incomplete, kZero, kLater, 2), Ev::Resolve, {}, false, kNone, E(State::Incomplete, kZero, kLater, 2)},
        {"Reachable has a usable MAC: resolve is a no-op",
         E(State::Reachable, kA, kLater), Ev::Resolve, {}, false, kNone, E(State::Reachable, kA, kLater)},
        {"Stale has a usable MAC: resolve is a no-op",
         E(State::Stale, kA, kLater), Ev::Resolve, {}, false, kNone, E(State::Stale, kA, kLater)},
        {"Probe has a usable MAC: resolve is a no-op",
         E(State::Probe, kA, kLater, 1), Ev::Resolve, {}, false, kNone, E(State::Probe, kA, kLater, 1)},
        {"Static ignores resolve",
         E(State::Static, kA, kNoDeadline), Ev::Resolve, {}, false, kNone, E(State::Static, kA, kNoDeadline)},

        // ---- on_timer, Incomplete (RFC 4861 7.2.2) ----
        {"Incomplete timer, 1 of 3 sent: retransmit multicast, rearm retrans",
         E(State::Incomplete, kZero, kNow, 1), Ev::Timer, {}, false, kSendMulticast,
         E(State::Incomplete, kZero, kNow + kP.retrans_ns, 2)},
        {"Incomplete timer, 2 of 3 sent: send the last multicast",
         E(State::Incomplete, kZero, kNow, 2), Ev::Timer, {}, false, kSendMulticast,
         E(State::Incomplete, kZero, kNow + kP.retrans_ns, 3)},
        {"Incomplete timer, all 3 unanswered: Failed, invalidate, drop the queue, gc deadline",
         E(State::Incomplete, kZero, kNow, 3), Ev::Timer, {}, false, kInvalidate | kDropPending,
         E(State::Failed, kZero, kNow + kP.gc_ns, 0)},
        {"Incomplete timer called before its deadline is ignored",
         E(State::Incomplete, kZero, kNow + 1, 1), Ev::Timer, {}, false, kNone, E(State::Incomplete, kZero, kNow + 1, 1)},

        // ---- on_confirmed (ARP reply to us / solicited NA, RFC 4861 7.2.5) ----
        {"Incomplete + answer: Reachable, publish and flush the queue",
         E(State::Incomplete, kZero, kLater, 2), Ev::Confirmed, kB, true, kPublish | kFlushPending,
         E(State::Reachable, kB, kNow + kP.reachable_ns)},
        {"Incomplete + answer without O flag: still recorded (nothing cached to protect)",
         E(State::Incomplete, kZero, kLater, 1), Ev::Confirmed, kB, false, kPublish | kFlushPending,
         E(State::Reachable, kB, kNow + kP.reachable_ns)},
        {"Failed + late answer: Reachable and publish; nothing queued to flush",
         E(State::Failed, kZero, kLater), Ev::Confirmed, kB, true, kPublish, E(State::Reachable, kB, kNow + kP.reachable_ns)},
        {"Reachable + same MAC: refresh reachable time, nothing to publish",
         E(State::Reachable, kA, kLater), Ev::Confirmed, kA, false, kNone, E(State::Reachable, kA, kNow + kP.reachable_ns)},
        {"Stale + same MAC: Reachable",
         E(State::Stale, kA, kLater), Ev::Confirmed, kA, false, kNone, E(State::Reachable, kA, kNow + kP.reachable_ns)},
        {"Probe + same MAC: Reachable, probe count reset",
         E(State::Probe, kA, kLater, 2), Ev::Confirmed, kA, true, kNone, E(State::Reachable, kA, kNow + kP.reachable_ns)},
        {"Reachable + different MAC with O flag: new MAC, Reachable, publish",
         E(State::Reachable, kA, kLater), Ev::Confirmed, kB, true, kPublish, E(State::Reachable, kB, kNow + kP.reachable_ns)},
        {"Stale + different MAC with O flag: new MAC, Reachable, publish",
         E(State::Stale, kA, kLater), Ev::Confirmed, kB, true, kPublish, E(State::Reachable, kB, kNow + kP.reachable_ns)},
        {"Probe + different MAC with O flag: new MAC, Reachable, publish",
         E(State::Probe, kA, kLater, 2), Ev::Confirmed, kB, true, kPublish, E(State::Reachable, kB, kNow + kP.reachable_ns)},
        {"Reachable + different MAC without O flag: Stale, MAC kept (7.2.5 a)",
         E(State::Reachable, kA, kLater), Ev::Confirmed, kB, false, kNone, E(State::Stale, kA, kNow + kP.retrans_ns)},
        {"Stale + different MAC without O flag: ignored (7.2.5 b)",
         E(State::Stale, kA, kLater), Ev::Confirmed, kB, false, kNone, E(State::Stale, kA, kLater)},
        {"Probe + different MAC without O flag: ignored (7.2.5 b)",
         E(State::Probe, kA, kLater, 2), Ev::Confirmed, kB, false, kNone, E(State::Probe, kA, kLater, 2)},
        {"Static + different MAC with O flag: ignored",
         E(State::Static, kA, kNoDeadline), Ev::Confirmed, kB, true, kNone, E(State::Static, kA, kNoDeadline)},

        // ---- on_hint (ARP request / NS with SLLA / unsolicited NA) ----
        {"Incomplete + hint: Stale with the MAC, publish and flush the queue",
         E(State::Incomplete, kZero, kLater, 1), Ev::Hint, kB, true, kPublish | kFlushPending,
         E(State::Stale, kB, kNow + kP.retrans_ns)},
        {"new entry + hint (RFC 826 merge / 7.2.3 create STALE): Stale, publish",
         Entry{}, Ev::Hint, kB, true, kPublish, E(State::Stale, kB, kNow + kP.retrans_ns)},
        {"Failed + hint without O flag: Stale, publish",
         E(State::Failed, kZero, kLater), Ev::Hint, kB, false, kPublish, E(State::Stale, kB, kNow + kP.retrans_ns)},
        {"Reachable + hint with a different MAC (override): Stale, new MAC, publish",
         E(State::Reachable, kA, kLater), Ev::Hint, kB, true, kPublish, E(State::Stale, kB, kNow + kP.retrans_ns)},
        {"Reachable + hint with the same MAC: no change at all",
         E(State::Reachable, kA, kLater), Ev::Hint, kA, true, kNone, E(State::Reachable, kA, kLater)},
        {"Reachable + unsolicited NA, different MAC, O clear: Stale, MAC kept",
         E(State::Reachable, kA, kLater), Ev::Hint, kB, false, kNone, E(State::Stale, kA, kNow + kP.retrans_ns)},
        {"Stale + hint with a different MAC (override): new MAC, publish, Stale rearmed",
         E(State::Stale, kA, kLater), Ev::Hint, kB, true, kPublish, E(State::Stale, kB, kNow + kP.retrans_ns)},
        {"Stale + hint with the same MAC: no change",
         E(State::Stale, kA, kLater), Ev::Hint, kA, false, kNone, E(State::Stale, kA, kLater)},
        {"Stale + unsolicited NA, different MAC, O clear: ignored",
         E(State::Stale, kA, kLater), Ev::Hint, kB, false, kNone, E(State::Stale, kA, kLater)},
        {"Probe + hint with a different MAC (override): Stale, new MAC, publish",
         E(State::Probe, kA, kLater, 2), Ev::Hint, kB, true, kPublish, E(State::Stale, kB, kNow + kP.retrans_ns)},
        {"Probe + hint with the same MAC: probing continues unchanged",
         E(State::Probe, kA, kLater, 2), Ev::Hint, kA, true, kNone, E(State::Probe, kA, kLater, 2)},
        {"Static + hint with a different MAC: ignored",
         E(State::Static, kA, kNoDeadline), Ev::Hint, kB, true, kNone, E(State::Static, kA, kNoDeadline)},

        // ---- on_timer, MAC-holding states (self-refresh, RFC 4861 7.3.3) ----
        {"Reachable expires: Probe, one unicast probe to the known MAC",
         E(State::Reachable, kA, kNow), Ev::Timer, {}, false, kSendUnicast, E(State::Probe, kA, kNow + kP.retrans_ns, 1)},
        {"Reachable timer before its deadline is ignored",
         E(State::Reachable, kA, kLater), Ev::Timer, {}, false, kNone, E(State::Reachable, kA, kLater)},
        {"Stale after one retrans: Probe, unicast probe",
         E(State::Stale, kA, kNow), Ev::Timer, {}, false, kSendUnicast, E(State::Probe, kA, kNow + kP.retrans_ns, 1)},
        {"Probe timer, 1 of 3 sent: another unicast probe",
         E(State::Probe, kA, kNow, 1), Ev::Timer, {}, false, kSendUnicast, E(State::Probe, kA, kNow + kP.retrans_ns, 2)},
        {"Probe timer, all 3 unanswered: Failed, withdraw the MAC, gc deadline",
         E(State::Probe, kA, kNow, 3), Ev::Timer, {}, false, kInvalidate, E(State::Failed, kZero, kNow + kP.gc_ns)},
        {"Failed after gc: offer deletion, no further deadline",
         E(State::Failed, kZero, kNow), Ev::Timer, {}, false, kDelete, E(State::Failed, kZero, kNoDeadline)},
        {"Failed kept by the caller (no deadline): timer does nothing",
         E(State::Failed, kZero, kNoDeadline), Ev::Timer, {}, false, kNone, E(State::Failed, kZero, kNoDeadline)},
        {"Static never times out",
         E(State::Static, kA, kNoDeadline), Ev::Timer, {}, false, kNone, E(State::Static, kA, kNoDeadline)},
    };
    return c;
}

uint32_t apply(const Fsm& f, Entry& e, Ev ev, const MacBytes& mac, bool o, uint64_t now) {
    switch (ev) {
    case Ev::Resolve: return f.on_resolve(e, now);
    case Ev::Confirmed: return f.on_confirmed(e, mac, o, now);
    case Ev::Hint: return f.on_hint(e, mac, o, now);
    case Ev::Timer: return f.on_timer(e, now);
    }
    return ~0u;
}

TEST(NeighborFsm, TransitionTable) {
    const Fsm f(kP);
    for (const Case& c : cases()) {
        SCOPED_TRACE(c.what);
        Entry e = c.before;
        EXPECT_EQ(apply(f, e, c.ev, c.mac, c.override_flag, kNow), c.want_actions);
        EXPECT_STREQ(to_string(e.state), to_string(c.after.state));
        EXPECT_EQ(e.mac, c.after.mac);
        EXPECT_EQ(e.mac_valid, c.after.mac_valid);
        EXPECT_EQ(e.deadline_ns, c.after.deadline_ns);
        EXPECT_EQ(e.probes, c.after.probes);
    }
}

TEST(NeighborFsm, MakeStatic) {
    const Fsm f(kP);
    Entry e = f.make_static(kA, kNow);
    EXPECT_EQ(e.state, State::Static);
    EXPECT_EQ(e.mac, kA);
    EXPECT_TRUE(e.mac_valid);
    EXPECT_EQ(e.deadline_ns, kNoDeadline);
    EXPECT_EQ(e.probes, 0u);
    EXPECT_EQ(e.last_change_ns, kNow);
}

TEST(NeighborFsm, StaticIgnoresEveryEventAtAnyTime) {
    const Fsm f(kP);
    const Entry s = f.make_static(kA, 7);
    for (Ev ev : {Ev::Resolve, Ev::Confirmed, Ev::Hint, Ev::Timer})
        for (bool o : {false, true})
            for (uint64_t t : {uint64_t(0), kNow, kNoDeadline}) {
                Entry e = s;
                EXPECT_EQ(apply(f, e, ev, kB, o, t), kNone);
                EXPECT_EQ(e.state, State::Static);
                EXPECT_EQ(e.mac, kA);
                EXPECT_TRUE(e.mac_valid);
                EXPECT_EQ(e.deadline_ns, kNoDeadline);
                EXPECT_EQ(e.last_change_ns, 7u);
            }
}

// The whole life of an ARP entry, driven as the agent would drive it.
TEST(NeighborFsm, ResolveRefreshAndFailTimeline) {
    const Fsm f(kP);
    Entry e;
    uint64_t t = kNow;
    int multicasts = 0;
    EXPECT_EQ(f.on_resolve(e, t), kSendMulticast);
    ++multicasts;
    while (e.state == State::Incomplete) {
        t = e.deadline_ns;
        uint32_t a = f.on_timer(e, t);
        if (a & kSendMulticast) ++multicasts;
        else EXPECT_EQ(a, kInvalidate | kDropPending);
    }
    // Exactly max_probes solicitations, the last one given retrans_ns to answer.
    EXPECT_EQ(multicasts, 3);
    EXPECT_EQ(t, kNow + 3 * kP.retrans_ns);
    EXPECT_EQ(e.state, State::Failed);

    // A packet retries; this time the reply comes after the second solicitation.
    t += kS / 2;
    EXPECT_EQ(f.on_resolve(e, t), kSendMulticast);
    t = e.deadline_ns;
    EXPECT_EQ(f.on_timer(e, t), kSendMulticast);
    EXPECT_EQ(f.on_confirmed(e, kA, true, t + 1), kPublish | kFlushPending);
    EXPECT_EQ(e.state, State::Reachable);

    // Reachable time passes: probe; the neighbor answers; Reachable again.
    t = e.deadline_ns;
    EXPECT_EQ(t, kNow + 3 * kP.retrans_ns + kS / 2 + kP.retrans_ns + 1 + kP.reachable_ns);
    EXPECT_EQ(f.on_timer(e, t), kSendUnicast);
    EXPECT_EQ(f.on_confirmed(e, kA, true, t + 10), kNone);
    EXPECT_EQ(e.state, State::Reachable);
    EXPECT_EQ(e.probes, 0u);

    // Next expiry: the neighbor is gone; 3 unicast probes then Failed, then delete.
    t = e.deadline_ns;
    int unicasts = 0;
    uint32_t a = 0;
    while ((a = f.on_timer(e, t)) == kSendUnicast) {
        ++unicasts;
        t = e.deadline_ns;
    }
    EXPECT_EQ(unicasts, 3);
    EXPECT_EQ(a, kInvalidate);
    EXPECT_FALSE(e.mac_valid);
    EXPECT_EQ(f.on_timer(e, e.deadline_ns), kDelete);
    EXPECT_EQ(e.deadline_ns, kNoDeadline);
}

TEST(NeighborFsm, ZeroMaxProbesStillSendsOneSolicitation) {
    const Fsm f(Params{30 * kS, kS, 60 * kS, 0});
    Entry e;
    EXPECT_EQ(f.on_resolve(e, kNow), kSendMulticast);
    EXPECT_EQ(f.on_timer(e, e.deadline_ns), kInvalidate | kDropPending);
    EXPECT_EQ(e.state, State::Failed);

    e = E(State::Reachable, kA, kNow);
    EXPECT_EQ(f.on_timer(e, kNow), kSendUnicast);
    EXPECT_EQ(f.on_timer(e, e.deadline_ns), kInvalidate);
    EXPECT_EQ(e.state, State::Failed);
}

TEST(NeighborFsm, LastChangeTracksStateAndMacOnly) {
    const Fsm f(kP);
    Entry e;
    f.on_resolve(e, 10);
    EXPECT_EQ(e.last_change_ns, 10u);
    f.on_timer(e, e.deadline_ns);  // retransmit: same state
    EXPECT_EQ(e.last_change_ns, 10u);
    f.on_confirmed(e, kA, true, 2 * kS);
    EXPECT_EQ(e.last_change_ns, 2 * kS);
    f.on_confirmed(e, kA, true, 3 * kS);  // refresh: no change
    EXPECT_EQ(e.last_change_ns, 2 * kS);
    f.on_confirmed(e, kB, true, 4 * kS);  // MAC change within Reachable
    EXPECT_EQ(e.last_change_ns, 4 * kS);
    EXPECT_EQ(e.mac, kB);
}

TEST(NeighborFsm, DeadlineSaturatesInsteadOfWrapping) {
    const Fsm f(Params{kNoDeadline, kNoDeadline, kNoDeadline, 3});
    Entry e;
    f.on_resolve(e, kNoDeadline - 5);
    EXPECT_EQ(e.deadline_ns, kNoDeadline - 1);
    f.on_confirmed(e, kA, true, kNoDeadline - 1);
    EXPECT_EQ(e.deadline_ns, kNoDeadline - 1);
    EXPECT_EQ(e.state, State::Reachable);

    const Fsm g(kP);
    Entry h;
    g.on_resolve(h, kNoDeadline);  // even "now" at the very end of time
    EXPECT_EQ(h.deadline_ns, kNoDeadline - 1);
}

TEST(NeighborFsm, StateNames) {
    EXPECT_STREQ(to_string(State::Incomplete), "incomplete");
    EXPECT_STREQ(to_string(State::Reachable), "reachable");
    EXPECT_STREQ(to_string(State::Stale), "stale");
    EXPECT_STREQ(to_string(State::Probe), "probe");
    EXPECT_STREQ(to_string(State::Failed), "failed");
    EXPECT_STREQ(to_string(State::Static), "static");
    EXPECT_STREQ(to_string(static_cast<State>(200)), "unknown");
}

}  // namespace
}  // namespace sluice::nbr

namespace sluice::nbr {
namespace {

TEST(NeighborFsm, FirstWaiterRestartsAResolutionStartedAheadOfNeed) {
    const Fsm f(Params{30 * kS, kS, 60 * kS, 3});
    Entry e;
    // A gateway resolved proactively at start-up: two of three probes spent.
    ASSERT_EQ(f.on_resolve(e, kNow), kSendMulticast);
    ASSERT_EQ(f.on_timer(e, e.deadline_ns), kSendMulticast);
    ASSERT_EQ(e.probes, 2u);
    // The first packet to wait gets a full round: three solicitations before
    // its queue is dropped, not one.
    uint64_t t = e.deadline_ns - 1;
    EXPECT_EQ(f.on_first_waiter(e, t), kSendMulticast);
    EXPECT_EQ(e.state, State::Incomplete);
    EXPECT_EQ(e.probes, 1u);
    EXPECT_EQ(e.deadline_ns, t + kS);
    EXPECT_EQ(f.on_timer(e, e.deadline_ns), kSendMulticast);
    EXPECT_EQ(f.on_timer(e, e.deadline_ns), kSendMulticast);
    EXPECT_EQ(f.on_timer(e, e.deadline_ns), kInvalidate | kDropPending);
}

TEST(NeighborFsm, FirstWaiterActsLikeResolveOutsideIncomplete) {
    const Fsm f(kP);
    Entry failed;
    EXPECT_EQ(f.on_first_waiter(failed, kNow), kSendMulticast);
    EXPECT_EQ(failed.state, State::Incomplete);
    Entry reach = E(State::Reachable, kA, kLater);
    EXPECT_EQ(f.on_first_waiter(reach, kNow), kNone);
    EXPECT_EQ(reach.state, State::Reachable);
}

}  // namespace
}  // namespace sluice::nbr
