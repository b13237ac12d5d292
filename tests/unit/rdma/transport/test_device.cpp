// Device (discovery, port, GID table, pool registration) and ReceiveQueue
// (slots, refill, teardown) over the stand-in; discovery over real verbs.
#include <gtest/gtest.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include "drivers/rdma/standin/standin.hpp"
#include "drivers/rdma/transport/device.hpp"
#include "drivers/rdma/transport/receive_queue.hpp"
#include "tests/unit/rdma/transport/hooks.hpp"
#include "tests/unit/rdma/transport/pools.hpp"

namespace sluice::test::rdma {
namespace {

using namespace sluice::drivers::rdma;

std::string add_standin(LinkLayer ll) {
    static int n = 0;
    standin::DeviceSpec s;
    s.name = "dev" + std::to_string(getpid()) + "_" + std::to_string(n++);
    s.fabric = "f" + s.name;
    s.link_layer = ll;
    standin::add_device(s);
    return s.name;
}

TEST(Device, RealVerbsWithoutRdmaReadsAsNoDevices) {
    Discovery d = Discovery::found;
    std::string err;
    auto dev = Device::open(real_verbs(), "mlx5_0", 1, &d, &err);
    if (d != Discovery::no_devices) GTEST_SKIP() << "this machine has RDMA devices";
    EXPECT_EQ(dev, nullptr);
    // The kernel has no RDMA subsystem: ENOSYS.
    EXPECT_EQ(err.rfind("no RDMA devices (ibv_get_device_list: ", 0), 0u) << err;
}

TEST(Device, AnEmptyListIsNoDevices) {
    hooks().clear();
    hooks().empty_list = true;
    Discovery d = Discovery::found;
    std::string err;
    EXPECT_EQ(Device::open(hooked_standin(), "x", 1, &d, &err), nullptr);
    hooks().clear();
    EXPECT_EQ(d, Discovery::no_devices);
    EXPECT_EQ(err, "no RDMA devices (ibv_get_device_list: none found)");
}

TEST(Device, AnUnknownNameListsTheDevicesPresent) {
    std::string name = add_standin(LinkLayer::ethernet);
    Discovery d = Discovery::found;
    std::string err;
    EXPECT_EQ(Device::open(standin::ops(), "nope0", 1, &d, &err), nullptr);
    EXPECT_EQ(d, Discovery::not_found);
    EXPECT_NE(err.find("'nope0' not found"), std::string::npos) << err;
    EXPECT_NE(err.find(name), std::string::npos) << err;
}

TEST(Device, AFailedOpenSaysWhy) {
    std::string name = add_standin(LinkLayer::ethernet);
    hooks().clear();
    hooks().fail_open = true;
    Discovery d = Discovery::found;
    std::string err;
    EXPECT_EQ(Device::open(hooked_standin(), name, 1, &d, &err), nullptr);
    hooks().clear();
    EXPECT_EQ(d, Discovery::failed);
    EXPECT_EQ(err, "ibv_open_device(" + name + "): Permission denied");
}

TEST(Device, KeepsThePortAndItsGidTable) {
    std::string roce = add_standin(LinkLayer::ethernet);
    std::string ib = add_standin(LinkLayer::infiniband);
    Discovery d;
    std::string err;
    auto r = Device::open(standin::ops(), roce, 1, &d, &err);
    ASSERT_TRUE(r) << err;
    EXPECT_EQ(d, Discovery::found);
    EXPECT_EQ(r->link_layer(), LinkLayer::ethernet);
    EXPECT_EQ(r->active_mtu(), IBV_MTU_4096);
    EXPECT_EQ(r->lid(), 0);
    EXPECT_GE(r->gids().size(), 2u);
    bool v2 = false;
    for (const GidEntry& g : r->gids()) v2 = v2 || g.type == IBV_GID_TYPE_ROCE_V2;
    EXPECT_TRUE(v2);
    auto i = Device::open(standin::ops(), ib, 1, &d, &err);
    ASSERT_TRUE(i) << err;
    EXPECT_EQ(i->link_layer(), LinkLayer::infiniband);
    EXPECT_NE(i->lid(), 0);
    ASSERT_FALSE(i->gids().empty());
    EXPECT_EQ(i->gids()[0].index, 0u);
}

TEST(Device, RegistersThePoolAndFindsLkeys) {
    Discovery d;
    std::string err;
    auto dev = Device::open(standin::ops(), add_standin(LinkLayer::ethernet), 1, &d, &err);
    ASSERT_TRUE(dev) << err;
    ASSERT_TRUE(dev->register_pool(pool(), &err)) << err;
    ASSERT_FALSE(dev->regions().empty());
    rte_mbuf* m = rte_pktmbuf_alloc(pool());
    ASSERT_NE(m, nullptr);
    uint32_t lkey = 0;
    EXPECT_TRUE(dev->lkey_of(rte_pktmbuf_mtod(m, void*), 1500, &lkey));
    EXPECT_NE(lkey, 0u);
    const auto& last = dev->regions().back();
    EXPECT_FALSE(dev->lkey_of(reinterpret_cast<void*>(last.end - 10), 64, &lkey)) << "straddles the end";
    EXPECT_FALSE(dev->lkey_of(reinterpret_cast<void*>(dev->regions().front().start - 4096), 64, &lkey));
    rte_mbuf* o = rte_pktmbuf_alloc(other_pool());
    ASSERT_NE(o, nullptr);
    EXPECT_FALSE(dev->lkey_of(rte_pktmbuf_mtod(o, void*), 64, &lkey)) << "an unregistered pool";
    rte_pktmbuf_free(m);
    rte_pktmbuf_free(o);
}

TEST(Device, ARegistrationFailureNamesTheChunkAndTheError) {
    Discovery d;
    std::string err;
    auto dev = Device::open(standin::ops(), add_standin(LinkLayer::ethernet), 1, &d, &err);
    ASSERT_TRUE(dev) << err;
    standin::fail_next_reg_mr(1);
    EXPECT_FALSE(dev->register_pool(pool(), &err));
    EXPECT_NE(err.find("ibv_reg_mr of mempool 'rdma_t_pool' chunk 0"), std::string::npos) << err;
    EXPECT_NE(err.find("Cannot allocate memory"), std::string::npos) << err;
    EXPECT_FALSE(dev->register_pool(nullptr, &err));
}

class RqTest : public ::testing::Test {
protected:
    void SetUp() override {
        baseline = rte_mempool_in_use_count(pool());
        Discovery d;
        std::string err;
        dev = Device::open(standin::ops(), add_standin(LinkLayer::ethernet), 1, &d, &err);
        ASSERT_TRUE(dev) << err;
        ASSERT_TRUE(dev->register_pool(pool(), &err)) << err;
    }
    void TearDown() override {
        dev.reset();
        EXPECT_EQ(rte_mempool_in_use_count(pool()), baseline);
    }
    unsigned baseline = 0;
    std::unique_ptr<Device> dev;
};

TEST_F(RqTest, FillsTheQueueAndFreesEverythingAtDestruction) {
    std::string err;
    auto rq = ReceiveQueue::create(*dev, pool(), 100, 9018, &err);
    ASSERT_TRUE(rq) << err;
    EXPECT_EQ(rq->posted(), 100u);
    EXPECT_EQ(rq->deficit(), 0u);
    EXPECT_EQ(rq->buffer_len(), 9018u);
    EXPECT_EQ(rte_mempool_in_use_count(pool()), baseline + 100);
    rq.reset();
    EXPECT_EQ(rte_mempool_in_use_count(pool()), baseline);
}

TEST_F(RqTest, BuffersAreTheDataRoomAfterTheHeadroom) {
    std::string err;
    auto rq = ReceiveQueue::create(*dev, pool(), 8, 100000, &err);
    ASSERT_TRUE(rq) << err;
    EXPECT_EQ(rq->buffer_len(), uint32_t(kDataRoom - RTE_PKTMBUF_HEADROOM));
}

TEST_F(RqTest, TakesOnlyPostedSlots) {
    std::string err;
    auto rq = ReceiveQueue::create(*dev, pool(), 40, 1500, &err);
    ASSERT_TRUE(rq) << err;
    EXPECT_EQ(rq->take(4000), nullptr) << "out of range";
    rq->recycle(4000);
    rq->recycle_from_link(4000);
    EXPECT_EQ(rq->refill(), 0u);
    EXPECT_EQ(rq->posted(), 40u);
}

TEST_F(RqTest, ARefillShortOfMbufsCountsEachOnceAndCatchesUp) {
    // The pool holds only 10 free mbufs when the queue is created.
    std::vector<rte_mbuf*> hoard;
    for (rte_mbuf* m; (m = rte_pktmbuf_alloc(pool())) != nullptr;) hoard.push_back(m);
    ASSERT_GT(hoard.size(), 10u);
    for (int i = 0; i < 10; ++i) {
        rte_pktmbuf_free(hoard.back());
        hoard.pop_back();
    }
    std::string err;
    auto rq = ReceiveQueue::create(*dev, pool(), 16, 1500, &err);
    ASSERT_TRUE(rq) << err;
    EXPECT_EQ(rq->posted(), 10u);
    EXPECT_EQ(rq->deficit(), 6u);
    EXPECT_EQ(rq->refill(), 0u) << "the same six, counted at creation";
    for (rte_mbuf* m : hoard) rte_pktmbuf_free(m);
    EXPECT_EQ(rq->refill(), 0u);
    EXPECT_EQ(rq->deficit(), 0u);
    EXPECT_EQ(rq->posted(), 16u);
}

TEST_F(RqTest, BuffersOfAnUnregisteredPoolAreRefused) {
    std::string err;
    EXPECT_EQ(ReceiveQueue::create(*dev, other_pool(), 8, 1500, &err), nullptr);
    EXPECT_NE(err.find("ibv_post_srq_recv"), std::string::npos) << err;
    EXPECT_EQ(rte_mempool_in_use_count(other_pool()), 0u);
}

}  // namespace
}  // namespace sluice::test::rdma
