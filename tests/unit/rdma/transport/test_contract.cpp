// The transport's contract, one suite over every fabric: the stand-in
// (RoCEv2 and InfiniBand addressing) always, real verbs when
// ibv_get_device_list finds a device (skipped with its reason otherwise).
#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include "drivers/rdma/standin/standin.hpp"
#include "drivers/rdma/verbs/ops.hpp"
#include "tests/unit/rdma/transport/pair.hpp"
#include "tests/unit/rdma/transport/pools.hpp"

namespace sluice::test::rdma {
namespace {

class Contract : public ::testing::TestWithParam<Fabric> {
protected:
    void SetUp() override {
        baseline_ = rte_mempool_in_use_count(pool());
        if (GetParam() == Fabric::verbs) {
            // Discovery as the data plane does it: no devices is a reason
            // to skip ("no RDMA devices (ibv_get_device_list: ...)").
            Discovery d;
            std::string err;
            auto probe = Device::open(real_verbs(), "", 1, &d, &err);
            if (d == Discovery::no_devices) GTEST_SKIP() << err;
        }
    }
    void TearDown() override {
        pair_.reset();
        EXPECT_EQ(rte_mempool_in_use_count(pool()), baseline_) << "mbufs leaked";
    }
    // Opens (skips when the fabric has no devices) and connects.
    void open(PairOptions o = small_opts()) {
        std::string why;
        bool skip = false;
        pair_ = Pair::open(GetParam(), o, &why, &skip);
        if (skip) GTEST_SKIP() << why;
        ASSERT_TRUE(pair_) << why;
        std::string err;
        ASSERT_TRUE(pair_->connect(&err)) << err;
        ASSERT_EQ(pair_->a.peer->state(), PeerState::up);
        ASSERT_EQ(pair_->b.peer->state(), PeerState::up);
    }
    static PairOptions small_opts() {
        PairOptions o;
        o.a.name = "a";
        o.b.name = "b";
        o.a.recv_credits = o.b.recv_credits = 256;
        o.a.send_queue = o.b.send_queue = 256;
        o.rq_size = 512;
        return o;
    }
    Peer& A() { return *pair_->a.peer; }
    Peer& B() { return *pair_->b.peer; }
    // Drain, check nothing is in flight, tear down.
    void finish() {
        EXPECT_TRUE(settle(*pair_));
        EXPECT_EQ(A().in_flight(), 0u);
        EXPECT_EQ(B().in_flight(), 0u);
        A().teardown();
        B().teardown();
        EXPECT_EQ(A().state(), PeerState::down);
        EXPECT_EQ(A().counters().lost_in_flight.load(), 0u);
        EXPECT_EQ(B().counters().lost_in_flight.load(), 0u);
    }
    unsigned baseline_ = 0;
    std::unique_ptr<Pair> pair_;
};

TEST_P(Contract, ConnectsBothWays) {
    open();
    const EndpointInfo& a = pair_->a.info;
    const EndpointInfo& b = pair_->b.info;
    EXPECT_NE(a.qpn, 0u);
    EXPECT_EQ(a.psn & ~0xFFFFFFu, 0u);
    EXPECT_NE(a.instance, b.instance);
    EXPECT_EQ(a.recv_credits, 256u);
    EXPECT_EQ(a.max_frame, 9018u);
    if (GetParam() == Fabric::standin_ib) {
        EXPECT_EQ(a.link_layer, LinkLayer::infiniband);
        EXPECT_NE(a.lid, 0);
    } else if (GetParam() == Fabric::standin) {
        EXPECT_EQ(a.link_layer, LinkLayer::ethernet);
    }
    EXPECT_EQ(A().credits(), 256u);
    EXPECT_EQ(B().credits(), 256u);
    Stream ab{.total = 1, .len = 64}, ba{.total = 1, .len = 64};
    EXPECT_TRUE(run(*pair_, &ab, &ba, 1000));
    EXPECT_EQ(ab.error, "");
    EXPECT_EQ(ba.error, "");
    finish();
    EXPECT_EQ(A().counters().qp_resets.load(), 1u);
}

TEST_P(Contract, BurstsArriveIntactAndInOrder) {
    open();
    for (uint32_t len : {64u, 1500u, 9000u}) {
        for (uint16_t burst : {1, 7, 32, 64}) {
            Stream ab{.total = uint64_t(burst) * 5, .len = len, .burst = burst};
            ASSERT_TRUE(run(*pair_, &ab, nullptr, 100000)) << describe(*pair_, &ab, nullptr) << len << "/" << burst << ": " << ab.received;
            ASSERT_EQ(ab.error, "") << len << "/" << burst;
        }
    }
    EXPECT_EQ(B().counters().rx_packets.load(), (1 + 7 + 32 + 64) * 5 * 3u);
    EXPECT_EQ(A().counters().tx_packets.load(), B().counters().rx_packets.load());
    EXPECT_EQ(B().counters().rx_bytes.load(), A().counters().tx_bytes.load());
    finish();
}

TEST_P(Contract, MixedLengthsBothWays) {
    open();
    Stream ab{.total = 3000, .len = 0, .burst = 32}, ba{.total = 3000, .len = 0, .burst = 17};
    ASSERT_TRUE(run(*pair_, &ab, &ba, 100000)) << describe(*pair_, &ab, &ba);
    EXPECT_EQ(ab.error, "");
    EXPECT_EQ(ba.error, "");
    finish();
}

TEST_P(Contract, SmallFramesGoInlineLargeOnesInPlace) {
    open();
    Stream small{.total = 100, .len = 128}, large{.total = 100, .len = 129};
    ASSERT_TRUE(run(*pair_, &small, nullptr, 10000)) << describe(*pair_, &small, nullptr);
    EXPECT_EQ(A().counters().inline_sends.load(), 100u);
    ASSERT_TRUE(run(*pair_, &large, nullptr, 10000)) << describe(*pair_, &large, nullptr);
    EXPECT_EQ(A().counters().inline_sends.load(), 100u) << "129 > inline_max";
    EXPECT_EQ(small.error + large.error, "");
    finish();
}

TEST_P(Contract, NeverInlineWhenInlineMaxIsZero) {
    PairOptions o = small_opts();
    o.a.inline_max = 0;
    open(o);
    Stream s{.total = 200, .len = 64};
    ASSERT_TRUE(run(*pair_, &s, nullptr, 10000)) << describe(*pair_, &s, nullptr);
    EXPECT_EQ(A().counters().inline_sends.load(), 0u);
    EXPECT_EQ(s.error, "");
    finish();
}

TEST_P(Contract, AReceiverThatDoesNotPollStallsTheSenderWithoutRnr) {
    open();
    uint64_t rnr0 = GetParam() == Fabric::verbs ? 0 : standin::stats().rnr_naks;
    Stream ab{.total = 2000, .len = 1500, .burst = 32, .rx_enabled = false};
    EXPECT_FALSE(run(*pair_, &ab, nullptr, 2000));
    // The window is 256: one credit stays in reserve.
    EXPECT_EQ(ab.sent, 255u);
    EXPECT_GT(A().counters().credit_stalls.load(), 0u);
    EXPECT_LE(A().credits(), 1u);
    if (GetParam() != Fabric::verbs) {
        EXPECT_EQ(standin::stats().rnr_naks, rnr0) << "a send met no posted receive";
    }
    // The receiver wakes up: everything arrives and the credits come back.
    ab.rx_enabled = true;
    ASSERT_TRUE(run(*pair_, &ab, nullptr, 100000)) << describe(*pair_, &ab, nullptr);
    EXPECT_EQ(ab.error, "");
    if (GetParam() != Fabric::verbs) {
        EXPECT_EQ(standin::stats().rnr_naks, rnr0);
    }
    finish();
}

TEST_P(Contract, CreditsComeBackByExplicitUpdatesOneWay) {
    open();
    Stream ab{.total = 5000, .len = 64, .burst = 32};
    ASSERT_TRUE(run(*pair_, &ab, nullptr, 100000)) << describe(*pair_, &ab, nullptr);
    // B sends no data: only updates can return A's credits.
    EXPECT_GT(B().counters().credit_updates_sent.load(), 0u);
    EXPECT_EQ(A().counters().credit_updates_received.load(), B().counters().credit_updates_sent.load());
    // Updates go at a quarter of the window, not per frame.
    EXPECT_LT(B().counters().credit_updates_sent.load(), 5000u / 32);
    EXPECT_TRUE(settle(*pair_));
    // Idle: everything owed was returned (one credit per update A sent is
    // left owed by design).
    EXPECT_GE(A().credits() + A().counters().credit_updates_sent.load(), 256u);
    finish();
}

TEST_P(Contract, CreditsRideOnDataBothWays) {
    open();
    Stream ab{.total = 20000, .len = 64, .burst = 32}, ba{.total = 20000, .len = 64, .burst = 32};
    ASSERT_TRUE(run(*pair_, &ab, &ba, 1000000)) << describe(*pair_, &ab, &ba);
    // Piggybacked on the data: few explicit updates either way.
    uint64_t updates = A().counters().credit_updates_sent.load() + B().counters().credit_updates_sent.load();
    EXPECT_LT(updates, 40000u / 64) << updates;
    finish();
}

TEST_P(Contract, AHundredThousandFramesEachWayInterleaved) {
    open();
    Stream ab{.total = 100000, .len = 256, .burst = 32}, ba{.total = 100000, .len = 200, .burst = 64};
    ASSERT_TRUE(run(*pair_, &ab, &ba, 10000000, std::chrono::seconds(200))) << describe(*pair_, &ab, &ba);
    EXPECT_EQ(ab.error, "");
    EXPECT_EQ(ba.error, "");
    EXPECT_EQ(A().counters().tx_packets.load(), 100000u);
    EXPECT_EQ(B().counters().rx_packets.load(), 100000u);
    EXPECT_EQ(B().counters().tx_packets.load(), 100000u);
    EXPECT_EQ(A().counters().rx_packets.load(), 100000u);
    // One post_send per list, at most one list per 64 frames plus updates.
    EXPECT_LT(A().counters().doorbells.load(), 100000u / 8);
    finish();
}

TEST_P(Contract, OneSignalledSendPerSignalEvery) {
    PairOptions o = small_opts();
    o.a.signal_every = 16;
    open(o);
    Stream ab{.total = 16000, .len = 1500, .burst = 32};
    ASSERT_TRUE(run(*pair_, &ab, nullptr, 1000000)) << describe(*pair_, &ab, nullptr);
    EXPECT_TRUE(settle(*pair_));
    uint64_t wrs = A().counters().tx_packets.load() + A().counters().credit_updates_sent.load();
    uint64_t sig = A().counters().signalled.load();
    EXPECT_GE(sig, wrs / 16);
    EXPECT_LE(sig, wrs / 16 + A().counters().credit_updates_sent.load() + 2) << "of " << wrs << " WRs";
    finish();
}

TEST_P(Contract, SendsOfAnIdlePeerComplete) {
    open();
    // 5 frames: fewer than signal_every, none signalled by count.
    Stream ab{.total = 5, .len = 1500};
    ASSERT_TRUE(run(*pair_, &ab, nullptr, 1000)) << describe(*pair_, &ab, nullptr);
    EXPECT_EQ(A().in_flight(), 5u);
    // Idle polls: a signalled (empty) message completes them.
    EXPECT_TRUE(settle(*pair_));
    EXPECT_EQ(A().in_flight(), 0u);
    EXPECT_GE(A().counters().signalled.load(), 1u);
    finish();
}

TEST_P(Contract, ASmallSendQueueStaysLive) {
    PairOptions o = small_opts();
    o.a.send_queue = 8;
    o.a.signal_every = 32;  // clamped to the queue: the WR filling it is signalled
    open(o);
    Stream ab{.total = 3000, .len = 1500, .burst = 32};
    ASSERT_TRUE(run(*pair_, &ab, nullptr, 100000)) << describe(*pair_, &ab, nullptr);
    EXPECT_EQ(ab.error, "");
    EXPECT_EQ(A().counters().credit_stalls.load(), 0u) << "slots, not credits, limited it";
    finish();
}

TEST_P(Contract, SmallWindowsStayLive) {
    PairOptions o = small_opts();
    o.a.recv_credits = o.b.recv_credits = 4;
    open(o);
    Stream ab{.total = 2000, .len = 100, .burst = 8}, ba{.total = 1000, .len = 3000, .burst = 3};
    ASSERT_TRUE(run(*pair_, &ab, &ba, 1000000)) << describe(*pair_, &ab, &ba);
    EXPECT_EQ(ab.error + ba.error, "");
    finish();
}

TEST_P(Contract, OversizedChainedAndEmptyFramesAreRefused) {
    open();
    rte_mbuf* f[4];
    f[0] = make_frame(pool(), 64, 0);   // good
    f[1] = make_frame(pool(), 0, 1);    // empty: would read as a credit update
    f[2] = make_frame(pool(), 1500, 2); // chained
    rte_mbuf* tail = make_frame(pool(), 10, 3);
    ASSERT_EQ(rte_pktmbuf_chain(f[2], tail), 0);
    f[3] = make_frame(pool(), 64, 1);   // good: frame 1 of the stream
    rte_mbuf* keep1 = f[1];
    rte_mbuf* keep2 = f[2];
    EXPECT_EQ(A().tx_burst(f, 4), 2);
    EXPECT_EQ(A().counters().tx_refused.load(), 2u);
    // The taken ones are at the front, the refused behind.
    EXPECT_TRUE((f[2] == keep1 && f[3] == keep2) || (f[2] == keep2 && f[3] == keep1));
    rte_pktmbuf_free(f[2]);
    rte_pktmbuf_free(f[3]);
    Stream rx{.total = 2, .len = 64};
    rx.sent = 2;
    ASSERT_TRUE(run(*pair_, &rx, nullptr, 1000)) << describe(*pair_, &rx, nullptr);
    EXPECT_EQ(rx.error, "");
    finish();
}

TEST_P(Contract, NothingMovesBeforeActivate) {
    std::string why;
    bool skip = false;
    pair_ = Pair::open(GetParam(), small_opts(), &why, &skip);
    if (skip) GTEST_SKIP() << why;
    ASSERT_TRUE(pair_) << why;
    rte_mbuf* m = make_frame(pool(), 64, 0);
    EXPECT_EQ(A().tx_burst(&m, 1), 0);
    std::string err;
    ASSERT_TRUE(A().prepare(&pair_->a.info, &err)) << err;
    EXPECT_EQ(A().state(), PeerState::connecting);
    EXPECT_EQ(A().tx_burst(&m, 1), 0);
    rte_pktmbuf_free(m);
    EXPECT_FALSE(B().connect(pair_->a.info, &err)) << "connect before prepare";
    EXPECT_NE(err.find("before prepare"), std::string::npos) << err;
}

TEST_P(Contract, MismatchedMaxFrameIsRefusedAtConnect) {
    PairOptions o = small_opts();
    o.b.max_frame = 1518;
    std::string why;
    bool skip = false;
    pair_ = Pair::open(GetParam(), o, &why, &skip);
    if (skip) GTEST_SKIP() << why;
    ASSERT_TRUE(pair_) << why;
    std::string err;
    ASSERT_TRUE(A().prepare(&pair_->a.info, &err)) << err;
    ASSERT_TRUE(B().prepare(&pair_->b.info, &err)) << err;
    EXPECT_FALSE(A().connect(pair_->b.info, &err));
    EXPECT_EQ(err, "a: the remote accepts frames up to 1518 bytes, we send up to 9018 (max_frame must match)");
    EXPECT_TRUE(B().connect(pair_->a.info, &err)) << "b sends 1518 at most: fits";
}

INSTANTIATE_TEST_SUITE_P(Fabrics, Contract, ::testing::Values(Fabric::standin, Fabric::standin_ib, Fabric::verbs),
                         [](const ::testing::TestParamInfo<Fabric>& i) { return std::string(fabric_name(i.param)); });

}  // namespace
}  // namespace sluice::test::rdma
