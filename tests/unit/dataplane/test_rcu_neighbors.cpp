// RCU reclamation and the shared neighbor table: nothing is freed or reused
// while a reader may still hold it.
#include <gtest/gtest.h>

#include <rte_lcore.h>

#include "dataplane/neighbor/table.hpp"
#include "dataplane/rcu/domain.hpp"
#include "dataplane/tables/fib_direct.hpp"
#include "dataplane/tables/nexthops.hpp"

namespace sluice::test {
namespace {

TEST(Rcu, RetiredObjectWaitsForEveryReader) {
    std::string err;
    auto d = dp::RcuDomain::create(2, &err);
    ASSERT_TRUE(d) << err;
    d->register_reader(0);
    d->register_reader(1);
    int freed = 0;
    d->retire([&] { ++freed; });
    EXPECT_EQ(d->reclaim(), 0u);
    d->quiescent(0);
    EXPECT_EQ(d->reclaim(), 0u) << "reader 1 has not passed a quiescent state";
    d->quiescent(1);
    EXPECT_EQ(d->reclaim(), 1u);
    EXPECT_EQ(freed, 1);
    d->offline(1);
    d->retire([&] { ++freed; });
    d->quiescent(0);
    EXPECT_EQ(d->reclaim(), 1u) << "offline readers do not hold grace periods";
    d->unregister_reader(0);
    d->unregister_reader(1);
}

TEST(Rcu, PublishedSwapsAndRetires) {
    std::string err;
    auto d = dp::RcuDomain::create(1, &err);
    d->register_reader(0);
    struct Obj {
        int v;
        int* deleted;
        ~Obj() { ++*deleted; }
    };
    int deleted = 0;
    dp::Published<Obj> p(*d);
    p.publish(std::make_unique<Obj>(Obj{1, &deleted}));
    deleted = 0;  // the temporary above
    const Obj* seen = p.get();
    p.publish(std::unique_ptr<Obj>(new Obj{2, &deleted}));
    EXPECT_EQ(seen->v, 1) << "old snapshot still readable before quiescence";
    EXPECT_EQ(deleted, 0);
    d->quiescent(0);
    d->reclaim();
    EXPECT_EQ(deleted, 1);
    EXPECT_EQ(p.get()->v, 2);
    d->unregister_reader(0);
}

TEST(NeighborTable, InsertLookupBulkAndMacWord) {
    std::string err;
    auto t = dp::NeighborTable::create(16, &err);
    ASSERT_TRUE(t) << err;
    uint8_t a[4] = {198, 18, 1, 2}, b[4] = {198, 18, 1, 3};
    auto ka = dp::NeighborKey::v4(0, a), kb = dp::NeighborKey::v4(0, b), kc = dp::NeighborKey::v4(1, a);
    uint32_t sa = t->insert(ka);
    ASSERT_NE(sa, dp::kNoNeighbor);
    EXPECT_EQ(t->insert(ka), sa) << "insert is idempotent";
    EXPECT_EQ(t->lookup(kb), dp::kNoNeighbor);
    EXPECT_EQ(t->lookup(kc), dp::kNoNeighbor) << "the port is part of the key";
    EXPECT_EQ(t->word(sa) & dp::kMacValid, 0u) << "new entries have no MAC";
    t->set_mac(sa, {1, 2, 3, 4, 5, 6});
    uint8_t mac[6];
    dp::mac_from_word(t->word(sa), mac);
    EXPECT_EQ(mac[0], 1);
    EXPECT_EQ(mac[5], 6);
    const dp::NeighborKey* keys[3] = {&ka, &kb, &kc};
    uint32_t slots[3];
    t->lookup_bulk(keys, 3, slots);
    EXPECT_EQ(slots[0], sa);
    EXPECT_EQ(slots[1], dp::kNoNeighbor);
    EXPECT_EQ(slots[2], dp::kNoNeighbor);
}

TEST(NeighborTable, RemovedSlotIsReusedOnlyAfterGrace) {
    std::string err;
    auto d = dp::RcuDomain::create(1, &err);
    auto t = dp::NeighborTable::create(16, &err);
    d->register_reader(0);
    std::vector<uint32_t> slots;
    for (uint8_t i = 0; i < 16; ++i) {
        uint8_t a[4] = {198, 18, 1, uint8_t(10 + i)};
        slots.push_back(t->insert(dp::NeighborKey::v4(0, a)));
        ASSERT_NE(slots.back(), dp::kNoNeighbor);
    }
    uint8_t extra[4] = {198, 18, 1, 200};
    EXPECT_EQ(t->insert(dp::NeighborKey::v4(0, extra)), dp::kNoNeighbor) << "full";
    t->remove(slots[3], *d);
    EXPECT_EQ(t->word(slots[3]), 0u) << "invalidated at once";
    EXPECT_EQ(t->insert(dp::NeighborKey::v4(0, extra)), dp::kNoNeighbor) << "slot not reused before grace";
    d->quiescent(0);
    d->reclaim();
    EXPECT_EQ(t->insert(dp::NeighborKey::v4(0, extra)), slots[3]);
    d->unregister_reader(0);
}

// The workers read a gateway's word as words()[slot + 1] and an on-link
// next hop's as words()[0] (NhHot::nbr1, forward.cpp): word 0 must never be
// valid, whatever the writer does to every real slot, and words()[slot + 1]
// must be word(slot).
TEST(NeighborTable, WordZeroIsNeverValidAndWordsAreShiftedByOne) {
    std::string err;
    auto d = dp::RcuDomain::create(1, &err);
    auto t = dp::NeighborTable::create(8, &err);
    ASSERT_TRUE(t && d) << err;
    d->register_reader(0);
    const std::atomic<uint64_t>* w = t->words();
    std::vector<uint32_t> slots;
    for (uint8_t i = 0; i < 8; ++i) {
        uint8_t a[4] = {198, 18, 1, uint8_t(10 + i)};
        slots.push_back(t->insert(dp::NeighborKey::v4(0, a)));
        ASSERT_NE(slots.back(), dp::kNoNeighbor);
        t->set_mac(slots.back(), {0xff, 0xff, 0xff, 0xff, 0xff, uint8_t(i)});
    }
    for (uint32_t s : slots) {
        EXPECT_EQ(w[s + 1].load(), t->word(s));
        EXPECT_NE(t->word(s) & dp::kMacValid, 0u);
    }
    EXPECT_EQ(w[0].load(), 0u);
    t->invalidate(slots[0]);
    t->remove(slots[7], *d);
    d->quiescent(0);
    d->reclaim();
    EXPECT_EQ(w[0].load(), 0u);
    EXPECT_EQ(w[slots[0] + 1].load(), 0u);
    EXPECT_EQ(dp::nh_hot(dp::NextHop{}).nbr1, 0u) << "on-link (kNoNeighbor) reads word 0";
    dp::NextHop gw;
    gw.neighbor = slots[3];
    EXPECT_EQ(w[dp::nh_hot(gw).nbr1].load(), t->word(slots[3]));
    d->unregister_reader(0);
}

// The worker decides "single next hop, not extended" on the raw FIB entry
// with one mask (fib_direct.hpp); every kind and both extended states.
TEST(FibEntry, SingleAndNotExtendedIsTheOnlyFastEntry) {
    for (uint8_t k = 0; k < 8; ++k)
        for (uint32_t idx : {0u, 1u, 77u, dp::kNhIndexMask}) {
            const uint32_t plain = dp::entry_of(dp::nh_encode(dp::NhKind(k), idx));
            EXPECT_EQ(dp::entry_is_single(plain), dp::NhKind(k) == dp::NhKind::single) << int(k) << " " << idx;
            EXPECT_FALSE(dp::entry_is_single(plain | 1u)) << "extended entries take the slow path";
            EXPECT_EQ(dp::entry_index(plain), idx);
            EXPECT_EQ(uint64_t(plain >> 1), dp::nh_encode(dp::NhKind(k), idx));
        }
}

}  // namespace
}  // namespace sluice::test
