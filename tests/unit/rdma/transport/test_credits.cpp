// Credit accounting (drivers/rdma/transport/credits.hpp): the rules one by
// one, then randomised models of both ends (and of peers sharing one
// receive queue) that check no message ever finds no posted buffer (an RNR)
// and that traffic never deadlocks.
#include <gtest/gtest.h>

#include <deque>
#include <random>

#include "drivers/rdma/transport/credits.hpp"

namespace sluice::drivers::rdma {
namespace {

TEST(Credits, DataNeverTakesTheLastCredit) {
    Credits c;
    c.reset(4, 16);
    EXPECT_EQ(c.held(), 4u);
    EXPECT_EQ(c.data_allowance(), 3u);
    c.take_data(3);
    EXPECT_EQ(c.held(), 1u);
    EXPECT_EQ(c.data_allowance(), 0u);
    c.take_data(1);  // more than allowed: nothing taken
    EXPECT_EQ(c.held(), 1u);
}

TEST(Credits, AnUpdateMayTakeTheLast) {
    Credits c;
    c.reset(1, 16);
    EXPECT_EQ(c.data_allowance(), 0u);
    EXPECT_TRUE(c.take_update());
    EXPECT_EQ(c.held(), 0u);
    EXPECT_FALSE(c.take_update());
    c.grant(5);
    EXPECT_EQ(c.held(), 5u);
    EXPECT_EQ(c.data_allowance(), 4u);
}

TEST(Credits, ReturnedOnlyAfterTheBuffersAreReposted) {
    Credits c;
    c.reset(16, 16);
    for (int i = 0; i < 5; ++i) c.received(true);
    EXPECT_EQ(c.pending(), 5u);
    EXPECT_EQ(c.owed(), 0u);
    // The queue still lacks 5 buffers: nothing can be returned.
    EXPECT_EQ(c.release(5), 0u);
    EXPECT_EQ(c.owed(), 0u);
    // Two were reposted.
    EXPECT_EQ(c.release(3), 2u);
    EXPECT_EQ(c.pending(), 3u);
    EXPECT_EQ(c.owed(), 2u);
    EXPECT_EQ(c.release(0), 3u);
    EXPECT_EQ(c.owed(), 5u);
}

TEST(Credits, APeerCoveringTheWholeDeficitReleasesTheRest) {
    Credits c;
    c.reset(16, 16);
    for (int i = 0; i < 10; ++i) c.received(true);
    // Another peer's buffers may make up part of the deficit, but this one
    // keeps back as many as are missing in all: that is always enough.
    EXPECT_EQ(c.release(4), 6u);
    EXPECT_EQ(c.pending(), 4u);
}

TEST(Credits, OwedCreditsRideOnTheNextMessageCapped) {
    Credits c;
    c.reset(16, 200000);
    for (int i = 0; i < 70000; ++i) c.received(true);
    c.release(0);
    EXPECT_EQ(c.take_owed(), Credits::kMaxGrant);
    EXPECT_EQ(c.take_owed(), 70000u - Credits::kMaxGrant);
    EXPECT_EQ(c.take_owed(), 0u);
}

TEST(Credits, AnUpdateIsDueAtAQuarterOfTheWindow) {
    Credits c;
    c.reset(64, 64);
    EXPECT_EQ(c.update_threshold(), 16u);
    for (int i = 0; i < 15; ++i) c.received(true);
    c.release(0);
    EXPECT_FALSE(c.update_due(false));
    c.received(true);
    c.release(0);
    EXPECT_TRUE(c.update_due(false));
    c.take_owed();
    EXPECT_FALSE(c.update_due(true));
}

TEST(Credits, IdleReturnsDataCreditsButNotAnUpdatesOwnCredit) {
    Credits c;
    c.reset(64, 64);
    c.received(true);
    c.release(0);
    EXPECT_FALSE(c.update_due(false));
    EXPECT_TRUE(c.update_due(true));
    EXPECT_EQ(c.take_owed(), 1u);
    // A credit update arrives: its credit is owed but makes nothing due,
    // or two idle peers would send each other updates for ever.
    c.received(false);
    c.release(0);
    EXPECT_EQ(c.owed(), 1u);
    EXPECT_FALSE(c.update_due(true));
}

TEST(Credits, SmallWindowsKeepAThresholdOfTwo) {
    Credits c;
    c.reset(4, 4);
    EXPECT_EQ(c.update_threshold(), 2u);
    EXPECT_LT(c.update_threshold(), Credits::kMinWindow);
}

// ---- randomised models ----

struct Msg {
    bool data;
    uint32_t imm;
};

// One end: its credits, its receive queue (posted buffers) and the
// messages on the way to it.
struct End {
    Credits c;
    uint32_t size = 0, posted = 0;
    std::deque<Msg> inbound;
    uint64_t to_send = 0, sent = 0, received = 0;
    uint32_t idle = 0;
    bool active = false;
};

// Checks the promise credits make: the buffers posted at `rx` cover every
// message on its way there and every credit `tx` holds.
::testing::AssertionResult covered(const End& rx, const End& tx) {
    if (rx.posted >= rx.inbound.size() + tx.c.held()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "posted " << rx.posted << " < in flight " << rx.inbound.size()
                                         << " + held " << tx.c.held();
}

void poll_end(End& e, End& other, bool refill_ok, std::mt19937& rng) {
    // Refill: sometimes only partly (the pool ran dry).
    uint32_t missing = e.size - e.posted;
    uint32_t k = refill_ok ? missing : std::uniform_int_distribution<uint32_t>(0, missing)(rng);
    e.posted += k;
    e.c.release(e.size - e.posted);
    if (e.active) {
        e.idle = 0;
        e.active = false;
    } else {
        ++e.idle;
    }
    if (e.c.update_due(e.idle >= 3) && e.c.take_update()) other.inbound.push_back({false, e.c.take_owed()});
}

void deliver(End& e, uint32_t max) {
    for (uint32_t i = 0; i < max && !e.inbound.empty(); ++i) {
        ASSERT_GT(e.posted, 0u) << "a message found no posted receive (RNR)";
        Msg m = e.inbound.front();
        e.inbound.pop_front();
        --e.posted;
        e.c.received(m.data);
        e.c.grant(m.imm);
        if (m.data) {
            ++e.received;
            e.active = true;
        }
    }
}

void send_data(End& e, End& other, uint32_t max) {
    uint32_t n = std::min<uint64_t>({max, e.c.data_allowance(), e.to_send - e.sent});
    for (uint32_t i = 0; i < n; ++i) other.inbound.push_back({true, i == 0 ? e.c.take_owed() : 0});
    e.c.take_data(n);
    e.sent += n;
    if (n) e.active = true;
}

class CreditModel : public ::testing::TestWithParam<uint32_t> {};

TEST_P(CreditModel, TwoSidedRandomTrafficNeverOverrunsAndNeverDeadlocks) {
    std::mt19937 rng(GetParam());
    for (int trial = 0; trial < 20; ++trial) {
        uint32_t wa = std::uniform_int_distribution<uint32_t>(4, 64)(rng);
        uint32_t wb = std::uniform_int_distribution<uint32_t>(4, 64)(rng);
        End a, b;
        // Each receive queue holds at least the window it granted.
        a.size = a.posted = wa + std::uniform_int_distribution<uint32_t>(0, 8)(rng);
        b.size = b.posted = wb + std::uniform_int_distribution<uint32_t>(0, 8)(rng);
        a.c.reset(wb, wa);
        b.c.reset(wa, wb);
        a.to_send = std::uniform_int_distribution<uint64_t>(0, 3000)(rng);
        b.to_send = std::uniform_int_distribution<uint64_t>(0, 3000)(rng);
        std::uniform_int_distribution<int> action(0, 5);
        // A phase of random actions with refills that may fall short, then
        // one where the pool is healthy: everything must get through.
        for (int step = 0; step < 200000; ++step) {
            bool healthy = step > 20000;
            if (healthy && a.received == b.to_send && b.received == a.to_send) break;
            switch (action(rng)) {
            case 0: send_data(a, b, std::uniform_int_distribution<uint32_t>(1, 32)(rng)); break;
            case 1: send_data(b, a, std::uniform_int_distribution<uint32_t>(1, 32)(rng)); break;
            case 2: deliver(a, std::uniform_int_distribution<uint32_t>(1, 32)(rng)); break;
            case 3: deliver(b, std::uniform_int_distribution<uint32_t>(1, 32)(rng)); break;
            case 4: poll_end(a, b, healthy || rng() % 4 != 0, rng); break;
            case 5: poll_end(b, a, healthy || rng() % 4 != 0, rng); break;
            }
            if (::testing::Test::HasFatalFailure()) return;
            ASSERT_TRUE(covered(a, b)) << "trial " << trial << " step " << step;
            ASSERT_TRUE(covered(b, a)) << "trial " << trial << " step " << step;
        }
        EXPECT_EQ(a.received, b.to_send) << "deadlock in trial " << trial << " (windows " << wa << ", " << wb << ")";
        EXPECT_EQ(b.received, a.to_send) << "deadlock in trial " << trial;
        // Quiet: the updates stop (no ping-pong) within a few rounds.
        uint64_t before = a.inbound.size() + b.inbound.size();
        for (int r = 0; r < 100; ++r) {
            poll_end(a, b, true, rng);
            poll_end(b, a, true, rng);
            deliver(a, 64);
            deliver(b, 64);
        }
        (void)before;
        uint64_t msgs = 0;
        for (int r = 0; r < 100; ++r) {
            poll_end(a, b, true, rng);
            poll_end(b, a, true, rng);
            msgs += a.inbound.size() + b.inbound.size();
            deliver(a, 64);
            deliver(b, 64);
        }
        EXPECT_EQ(msgs, 0u) << "credit updates keep flowing between idle peers";
    }
}

INSTANTIATE_TEST_SUITE_P(Seeds, CreditModel, ::testing::Values(1u, 7u, 42u, 2024u));

// Three senders into one receive queue: the credits outstanding over all
// of them never exceed the buffers posted, whatever the refill manages.
TEST(CreditModelShared, PeersSharingAReceiveQueueNeverOverrunIt) {
    std::mt19937 rng(99);
    constexpr int kPeers = 3;
    uint32_t window[kPeers] = {8, 32, 5};
    uint32_t size = 8 + 32 + 5 + 3;
    uint32_t posted = size;
    Credits rx[kPeers], tx[kPeers];
    std::deque<Msg> wire[kPeers];     // to the shared receiver
    std::deque<uint32_t> back[kPeers];// credit updates to each sender
    uint64_t delivered = 0, sent = 0;
    for (int p = 0; p < kPeers; ++p) {
        rx[p].reset(0, window[p]);
        tx[p].reset(window[p], 0);
    }
    for (int step = 0; step < 300000; ++step) {
        int p = int(rng() % kPeers);
        bool healthy = step > 250000;
        switch (rng() % 4) {
        case 0: {  // send
            uint32_t n = std::min<uint32_t>(tx[p].data_allowance(), 1 + rng() % 8);
            for (uint32_t i = 0; i < n; ++i) wire[p].push_back({true, 0});
            tx[p].take_data(n);
            sent += n;
            break;
        }
        case 1:  // deliver
            for (int i = 0; i < 8 && !wire[p].empty(); ++i) {
                ASSERT_GT(posted, 0u) << "RNR at step " << step;
                wire[p].pop_front();
                --posted;
                rx[p].received(true);
                ++delivered;
            }
            break;
        case 2: {  // the receiver's poll for peer p: refill, release, update
            uint32_t missing = size - posted;
            posted += healthy ? missing : uint32_t(rng() % (missing + 1));
            rx[p].release(size - posted);
            if (rx[p].update_due(true)) back[p].push_back(rx[p].take_owed());
            break;
        }
        case 3:
            while (!back[p].empty()) {
                tx[p].grant(back[p].front());
                back[p].pop_front();
            }
            break;
        }
        uint64_t promised = 0;
        for (int q = 0; q < kPeers; ++q) {
            promised += wire[q].size() + tx[q].held();
            for (uint32_t g : back[q]) promised += g;  // returned, on the way
        }
        ASSERT_LE(promised, posted) << "step " << step;
    }
    EXPECT_GT(delivered, 10000u);
    EXPECT_LE(delivered, sent);
}

}  // namespace
}  // namespace sluice::drivers::rdma
