// Peers sharing one receive queue, as the peers of one worker do: traffic
// on both at once, one torn down (by the link thread, on another thread)
// while the other carries on.
#include <gtest/gtest.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "drivers/rdma/standin/standin.hpp"
#include "tests/unit/rdma/transport/pair.hpp"
#include "tests/unit/rdma/transport/pools.hpp"

namespace sluice::test::rdma {
namespace {

// Two devices X and Y; on each one receive queue shared by two peers:
// X1 <-> Y1 and X2 <-> Y2.
class SharedRq : public ::testing::Test {
protected:
    void SetUp() override {
        baseline_ = rte_mempool_in_use_count(pool());
        static int n = 0;
        std::string fabric = "shr" + std::to_string(getpid()) + "_" + std::to_string(n++);
        for (int i = 0; i < 2; ++i) {
            standin::DeviceSpec s;
            s.name = fabric + (i ? "y" : "x");
            s.fabric = fabric;
            standin::add_device(s);
            Discovery d;
            std::string err;
            dev_[i] = Device::open(standin::ops(), s.name, 1, &d, &err);
            ASSERT_TRUE(dev_[i]) << err;
            ASSERT_TRUE(dev_[i]->register_pool(pool(), &err)) << err;
            rq_[i] = ReceiveQueue::create(*dev_[i], pool(), 2 * 64 + 16, 9018, &err);
            ASSERT_TRUE(rq_[i]) << err;
            for (int k = 0; k < 2; ++k) {
                PeerParams p;
                p.name = std::string(i ? "y" : "x") + std::to_string(k + 1);
                p.recv_credits = 64;
                p.send_queue = 64;
                peer_[i][k] = std::make_unique<Peer>(*dev_[i], *rq_[i], p);
            }
        }
        for (int k = 0; k < 2; ++k) connect(k);
    }
    void connect(int k) {
        EndpointInfo x, y;
        std::string err;
        ASSERT_TRUE(X(k).prepare(&x, &err)) << err;
        ASSERT_TRUE(Y(k).prepare(&y, &err)) << err;
        ASSERT_TRUE(X(k).connect(y, &err)) << err;
        ASSERT_TRUE(Y(k).connect(x, &err)) << err;
        X(k).activate();
        Y(k).activate();
    }
    void TearDown() override {
        for (auto& side : peer_)
            for (auto& p : side) p.reset();
        for (auto& r : rq_) r.reset();
        for (auto& d : dev_) d.reset();
        EXPECT_EQ(rte_mempool_in_use_count(pool()), baseline_) << "mbufs leaked";
    }
    Peer& X(int k) { return *peer_[0][k]; }
    Peer& Y(int k) { return *peer_[1][k]; }

    // Moves `total` frames X(k) -> Y(k) and Y(k) -> X(k), checking order;
    // polls only peers k. True when all arrived.
    static bool exchange(Peer& x, Peer& y, uint64_t total, uint32_t len, std::string* error) {
        uint64_t sent[2] = {0, 0}, got[2] = {0, 0};
        Peer* tx[2] = {&x, &y};
        Peer* rx[2] = {&y, &x};
        for (int round = 0; round < 200000 && (got[0] < total || got[1] < total); ++round) {
            for (int d = 0; d < 2; ++d) {
                rte_mbuf* f[32];
                uint16_t n = 0;
                while (n < 32 && sent[d] + n < total) {
                    f[n] = make_frame(pool(), len, sent[d] + n);
                    if (!f[n]) break;
                    ++n;
                }
                uint16_t k = tx[d]->tx_burst(f, n);
                sent[d] += k;
                rte_pktmbuf_free_bulk(f + k, n - k);
                tx[d]->poll();
            }
            for (int d = 0; d < 2; ++d) {
                rte_mbuf* r[64];
                uint16_t n = rx[d]->rx_burst(r, 64);
                for (uint16_t i = 0; i < n; ++i) {
                    std::string e = check_frame(r[i], len, got[d]++);
                    if (!e.empty() && error->empty()) *error = e;
                }
                rte_pktmbuf_free_bulk(r, n);
            }
        }
        return got[0] == total && got[1] == total;
    }

    unsigned baseline_ = 0;
    std::unique_ptr<Device> dev_[2];
    std::unique_ptr<ReceiveQueue> rq_[2];
    std::unique_ptr<Peer> peer_[2][2];
};

TEST_F(SharedRq, TwoPeersOnOneReceiveQueue) {
    std::string e1, e2;
    // Interleaved: both pairs' frames land in the same SRQs.
    for (int i = 0; i < 20; ++i) {
        ASSERT_TRUE(exchange(X(0), Y(0), 100, 1500, &e1));
        ASSERT_TRUE(exchange(X(1), Y(1), 100, 64, &e2));
    }
    EXPECT_EQ(e1 + e2, "");
    EXPECT_EQ(Y(0).counters().rx_packets.load() + Y(1).counters().rx_packets.load(), 4000u);
}

TEST_F(SharedRq, TearingOnePeerDownOnTheLinkThreadLeavesTheOtherRunning) {
    // X1 -> Y1 frames sit in Y1's receive CQ (taken from the shared queue):
    // rx_burst of one drains the wire into the CQ and returns one.
    rte_mbuf* f[20];
    for (int i = 0; i < 20; ++i) f[i] = make_frame(pool(), 1500, uint64_t(i));
    ASSERT_EQ(X(0).tx_burst(f, 20), 20);
    X(0).poll();
    rte_mbuf* one = nullptr;
    ASSERT_EQ(Y(0).rx_burst(&one, 1), 1);
    rte_pktmbuf_free(one);
    uint32_t posted_before = rq_[1]->posted();
    EXPECT_LT(posted_before, rq_[1]->size());

    // The worker keeps X2 <-> Y2 going on the shared queues. This thread
    // owns X1 and Y1 (the worker never touches them): it tears Y1 down
    // while it is up, with receives in its CQ, so their slots return
    // through the link ring while the worker refills the same queue; X1 is
    // given up through request_reset, acted on by the worker's poll.
    std::atomic<bool> stop{false};
    std::atomic<bool> ok{true};
    std::atomic<bool> x1_released{false};
    std::atomic<int> rounds{0};
    std::string error;
    std::thread worker([&] {
        while (!stop.load()) {
            if (!exchange(X(1), Y(1), 200, 700, &error)) ok = false;
            if (!x1_released.load() && X(0).state() == PeerState::up) {
                X(0).poll();
                if (X(0).state() != PeerState::up) x1_released = true;
            }
            rounds.fetch_add(1);
        }
    });
    Y(0).teardown();
    X(0).request_reset();
    // Both threads share lcore 0 (EAL pinned it): wait on the worker's
    // progress, bounded in time.
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!x1_released.load() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    EXPECT_TRUE(x1_released.load());
    // A few more rounds of the worker after the returns.
    int r0 = rounds.load();
    while (rounds.load() < r0 + 3 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    stop = true;
    worker.join();
    X(0).teardown();
    // The worker's next poll refills the queue, returned slots included.
    Y(1).poll();
    EXPECT_TRUE(ok.load()) << error;
    EXPECT_EQ(error, "");
    EXPECT_EQ(rq_[1]->posted(), rq_[1]->size()) << "every slot came back to the shared queue";
    EXPECT_EQ(Y(0).counters().rx_dropped.load(), 19u) << "received, never handed on";
    // And X1/Y1 connect again.
    connect(0);
    std::string e;
    ASSERT_TRUE(exchange(X(0), Y(0), 300, 1500, &e));
    EXPECT_EQ(e, "");
}

}  // namespace
}  // namespace sluice::test::rdma
