// Faults, injected through the stand-in: a peer that dies mid-burst, a
// queue pair error, a CQ overflow, a receive queue the pool cannot refill,
// registration failures, a failed post, a reset asked for while up. Every
// case ends with the pool's in-use count back at its baseline.
#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include "drivers/rdma/standin/standin.hpp"
#include "tests/unit/rdma/transport/hooks.hpp"
#include "tests/unit/rdma/transport/pair.hpp"
#include "tests/unit/rdma/transport/pools.hpp"

namespace sluice::test::rdma {
namespace {

class Faults : public ::testing::Test {
protected:
    void SetUp() override {
        hooks().clear();
        baseline_ = rte_mempool_in_use_count(pool());
        small_baseline_ = rte_mempool_in_use_count(small_pool());
    }
    void TearDown() override {
        pair_.reset();
        hooks().clear();
        EXPECT_EQ(rte_mempool_in_use_count(pool()), baseline_) << "mbufs leaked";
        EXPECT_EQ(rte_mempool_in_use_count(small_pool()), small_baseline_) << "mbufs leaked";
    }
    static PairOptions opts() {
        PairOptions o;
        o.a.name = "a";
        o.b.name = "b";
        o.a.recv_credits = o.b.recv_credits = 128;
        o.a.send_queue = o.b.send_queue = 128;
        o.rq_size = 256;
        o.ops = &hooked_standin();
        return o;
    }
    void open(const PairOptions& o = opts()) {
        std::string why;
        bool skip = false;
        pair_ = Pair::open(Fabric::standin, o, &why, &skip);
        ASSERT_TRUE(pair_) << why;
        std::string err;
        ASSERT_TRUE(pair_->connect(&err)) << err;
    }
    Peer& A() { return *pair_->a.peer; }
    Peer& B() { return *pair_->b.peer; }
    // Sends n frames of len from A (B does not poll); returns how many went.
    uint16_t send_burst(uint16_t n, uint32_t len, uint64_t first_seq = 0) {
        std::vector<rte_mbuf*> f;
        for (uint16_t i = 0; i < n; ++i) f.push_back(make_frame(pool(), len, first_seq + i));
        uint16_t k = A().tx_burst(f.data(), n);
        for (uint16_t i = k; i < n; ++i) rte_pktmbuf_free(f[i]);
        return k;
    }
    // Polls A until it leaves `up` (bounded).
    bool wait_a_failed(int rounds = 10000) {
        for (int i = 0; i < rounds && A().state() == PeerState::up; ++i) A().poll();
        return A().state() == PeerState::failed;
    }
    // Both peers through a fresh connection: some traffic each way.
    void traffic_works() {
        std::string err;
        ASSERT_TRUE(pair_->connect(&err)) << err;
        Stream ab{.total = 500, .len = 0}, ba{.total = 500, .len = 0};
        ASSERT_TRUE(run(*pair_, &ab, &ba, 100000)) << describe(*pair_, &ab, &ba);
        EXPECT_EQ(ab.error + ba.error, "");
        EXPECT_TRUE(settle(*pair_));
    }
    unsigned baseline_ = 0, small_baseline_ = 0;
    std::unique_ptr<Pair> pair_;
};

TEST_F(Faults, PeerDeathMidBurst) {
    open();
    ASSERT_EQ(send_burst(32, 1500), 32);
    uint32_t in_flight = A().in_flight();
    EXPECT_EQ(in_flight, 32u);
    uint64_t retry0 = standin::stats().retry_exceeded;
    standin::kill_device(pair_->b.dev->context());
    ASSERT_TRUE(wait_a_failed());
    EXPECT_EQ(A().counters().lost_in_flight.load(), in_flight);
    EXPECT_GE(A().counters().completion_errors.load(), 1u);
    EXPECT_EQ(A().in_flight(), 0u);
    EXPECT_GT(standin::stats().retry_exceeded, retry0);
    EXPECT_EQ(A().tx_burst(nullptr, 0), 0);
    A().teardown();
    EXPECT_EQ(A().counters().qp_resets.load(), 1u);
    // A new node takes B's place; A prepares a new queue pair.
    std::string err;
    ASSERT_TRUE(pair_->replace_b(&err)) << err;
    traffic_works();
    EXPECT_EQ(A().counters().lost_in_flight.load(), in_flight);
}

TEST_F(Faults, QueuePairError) {
    open();
    ASSERT_EQ(send_burst(20, 1500), 20);
    ASSERT_EQ(hooks().qps.size(), 2u);
    standin::inject_qp_error(hooks().qps[0]);  // A's
    ASSERT_TRUE(wait_a_failed());
    // Flushes only: nothing counted as a completion error.
    EXPECT_EQ(A().counters().completion_errors.load(), 0u);
    EXPECT_EQ(A().counters().lost_in_flight.load(), 20u);
    // B keeps what it had received; its own sends to A's dead QP fail.
    rte_mbuf* pkts[64];
    uint16_t n = B().rx_burst(pkts, 64);
    rte_pktmbuf_free_bulk(pkts, n);
    A().teardown();
    B().teardown();
    traffic_works();
}

TEST_F(Faults, ReceiveCqOverflowFailsThePeerCleanly) {
    PairOptions o = opts();
    o.b.recv_cq_size = 8;  // credits allow 128 messages: the CQ overflows
    open(o);
    uint64_t ovf0 = standin::stats().cq_overflows;
    ASSERT_EQ(send_burst(32, 1500), 32);
    rte_mbuf* pkts[64];
    uint16_t got = 0;
    for (int i = 0; i < 100 && B().state() == PeerState::up; ++i) {
        uint16_t n = B().rx_burst(pkts, 64);
        got += n;
        rte_pktmbuf_free_bulk(pkts, n);
        B().poll();
    }
    EXPECT_EQ(B().state(), PeerState::failed);
    EXPECT_GT(standin::stats().cq_overflows, ovf0);
    EXPECT_GE(B().counters().completion_errors.load(), 1u);
    EXPECT_LE(got, 8);
    // A loses what B never acknowledged.
    ASSERT_TRUE(wait_a_failed());
    // Those before the first failed WR were delivered (in order).
    EXPECT_GT(A().counters().lost_in_flight.load(), 0u);
    EXPECT_LE(A().counters().lost_in_flight.load(), 32u - got);
    A().teardown();
    B().teardown();
    // B comes back with a CQ of the default size.
    pair_->opts.b.recv_cq_size = 0;
    std::string err;
    ASSERT_TRUE(pair_->replace_b(&err)) << err;
    traffic_works();
}

TEST_F(Faults, ReceiveQueueExhaustionWithholdsCreditsWithoutLoss) {
    PairOptions o = opts();
    o.rx_pool = small_pool();  // 160 mbufs: 2 x 64 posted, 32 spare
    o.rq_size = 64;
    o.a.recv_credits = o.b.recv_credits = 64;
    open(o);
    uint64_t rnr0 = standin::stats().rnr_naks;
    // B keeps every frame it receives: its pool runs dry.
    Stream ab{.total = 400, .len = 1500, .burst = 32, .hold_rx = true};
    EXPECT_FALSE(run(*pair_, &ab, nullptr, 3000));
    uint64_t stuck_at = ab.received;
    EXPECT_LT(stuck_at, 400u);
    EXPECT_GE(stuck_at, 32u);
    EXPECT_GT(B().counters().rx_refill_failed.load(), 0u);
    EXPECT_GT(A().counters().credit_stalls.load(), 0u);
    EXPECT_EQ(standin::stats().rnr_naks, rnr0) << "credits were handed out for buffers not posted";
    EXPECT_EQ(A().state(), PeerState::up);
    // Nothing moves while the pool is empty.
    EXPECT_FALSE(run(*pair_, &ab, nullptr, 500));
    EXPECT_EQ(ab.received, stuck_at);
    // The mbufs come back: traffic resumes, nothing lost, nothing reordered.
    for (rte_mbuf* m : ab.held) rte_pktmbuf_free(m);
    ab.held.clear();
    ab.hold_rx = false;
    ASSERT_TRUE(run(*pair_, &ab, nullptr, 100000)) << describe(*pair_, &ab, nullptr);
    EXPECT_EQ(ab.error, "");
    EXPECT_EQ(standin::stats().rnr_naks, rnr0);
    EXPECT_TRUE(settle(*pair_));
    EXPECT_EQ(A().counters().lost_in_flight.load(), 0u);
}

TEST_F(Faults, RegistrationFailureAndAFrameFromAnUnregisteredPool) {
    open();
    std::string err;
    standin::fail_next_reg_mr(1);
    EXPECT_FALSE(pair_->a.dev->register_pool(other_pool(), &err));
    EXPECT_NE(err.find("ibv_reg_mr of mempool 'rdma_t_other'"), std::string::npos) << err;
    EXPECT_NE(err.find("Cannot allocate memory"), std::string::npos) << err;
    // Not inline (1500 > 128) and from no registered region: refused, counted.
    rte_mbuf* m = make_frame(other_pool(), 1500, 0);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(A().tx_burst(&m, 1), 0);
    EXPECT_EQ(A().counters().tx_refused.load(), 1u);
    EXPECT_EQ(A().counters().credit_stalls.load(), 0u);
    rte_pktmbuf_free(m);
    // Inline frames are copied at the post: their pool does not matter.
    m = make_frame(other_pool(), 100, 0);
    EXPECT_EQ(A().tx_burst(&m, 1), 1);
    Stream rx{.total = 1, .len = 100};
    rx.sent = 1;
    ASSERT_TRUE(run(*pair_, &rx, nullptr, 1000)) << describe(*pair_, &rx, nullptr);
    EXPECT_EQ(rx.error, "");
    EXPECT_EQ(rte_mempool_in_use_count(other_pool()), 0u);
    EXPECT_TRUE(settle(*pair_));
}

TEST_F(Faults, AFailedPostFailsThePeer) {
    open();
    hooks().fail_post_send = 1;
    EXPECT_EQ(send_burst(10, 1500), 10) << "taken: the transport frees them";
    EXPECT_EQ(A().state(), PeerState::failed);
    EXPECT_EQ(A().counters().completion_errors.load(), 1u);
    EXPECT_EQ(A().counters().lost_in_flight.load(), 10u);
    A().teardown();
    B().teardown();
    traffic_works();
}

TEST_F(Faults, ResetRequestedWhileUp) {
    open();
    ASSERT_EQ(send_burst(10, 1500), 10);
    A().request_reset();
    EXPECT_EQ(A().state(), PeerState::up) << "the owner acts at its next poll";
    A().poll();
    EXPECT_EQ(A().state(), PeerState::failed);
    EXPECT_EQ(A().counters().completion_errors.load(), 0u);
    EXPECT_EQ(A().counters().lost_in_flight.load(), 10u);
    // B sees A's queue pair gone when it sends.
    Stream ba{.total = 10, .len = 1500};
    run(*pair_, nullptr, &ba, 2000);
    for (int i = 0; i < 10000 && B().state() == PeerState::up; ++i) B().poll();
    EXPECT_EQ(B().state(), PeerState::failed);
    ba.free_all();
    A().teardown();
    B().teardown();
    EXPECT_EQ(A().counters().qp_resets.load(), 1u);
    traffic_works();
}

TEST_F(Faults, TeardownWithFramesInBothDirectionsLeaksNothing) {
    open();
    ASSERT_EQ(send_burst(50, 1500), 50);
    Stream ba{.total = 50, .len = 1500, .rx_enabled = true};
    // B sends too; nobody receives.
    std::vector<rte_mbuf*> f;
    for (int i = 0; i < 50; ++i) f.push_back(make_frame(pool(), 1500, uint64_t(i)));
    EXPECT_EQ(B().tx_burst(f.data(), 50), 50);
    A().teardown();
    B().teardown();
    EXPECT_EQ(A().counters().lost_in_flight.load(), 50u);
    EXPECT_EQ(B().counters().lost_in_flight.load(), 50u);
    (void)ba;
}

TEST_F(Faults, PrepareRefusesBadParameters) {
    PairOptions o = opts();
    o.a.recv_credits = 2;
    std::string why;
    bool skip = false;
    pair_ = Pair::open(Fabric::standin, o, &why, &skip);
    ASSERT_TRUE(pair_) << why;
    EndpointInfo info;
    std::string err;
    EXPECT_FALSE(A().prepare(&info, &err));
    EXPECT_EQ(err, "a: recv_credits 2: expected at least 4");
    EXPECT_EQ(A().state(), PeerState::down);
}

}  // namespace
}  // namespace sluice::test::rdma
