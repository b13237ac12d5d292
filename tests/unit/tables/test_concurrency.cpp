// Real reader threads against the builder: publication, retirement and the
// two FIB copies being patched while readers look up. A batch is atomic:
// a reader that loads one root sees every route of a batch old or every
// route new, never a mix; it never sees a next-hop index the root's table
// lacks; retired roots and FIB copies are freed (run under ASan and TSan).
#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "tests/unit/tables/lab.hpp"

namespace sluice::test {
namespace {

using api::AddressUpdate;
using api::RouteUpdate;

constexpr int kRoutes = 64;

net::Prefix route_prefix(int i, bool v6) {
    if (!v6) return pfx("198.19." + std::to_string(i) + ".0/24");
    char buf[64];
    std::snprintf(buf, sizeof buf, "2001:db8:9:%x::/64", i);
    return pfx(buf);
}

api::Batch flip(bool to_b) {
    api::Batch b;
    uint32_t s4 = add_set(b, {via(to_b ? "198.18.1.2" : "198.18.0.2", to_b ? "p1" : "p0")});
    uint32_t s6 = add_set(b, {via(to_b ? "2001:db8:0:2::2" : "2001:db8:0:1::2", to_b ? "p1" : "p0")});
    for (int i = 0; i < kRoutes; ++i) {
        b.routes.push_back({RouteUpdate::Op::set, route_prefix(i, false), s4});
        b.routes.push_back({RouteUpdate::Op::set, route_prefix(i, true), s6});
    }
    return b;
}

TEST(TablesConcurrency, ReadersSeeWholeBatchesOnly) {
    TableLab lab;
    api::Batch init;
    init.addresses.push_back({AddressUpdate::Op::add, "p0", pfx("198.18.0.1/24")});
    init.addresses.push_back({AddressUpdate::Op::add, "p1", pfx("198.18.1.1/24")});
    init.addresses.push_back({AddressUpdate::Op::add, "p0", pfx("2001:db8:0:1::1/64")});
    init.addresses.push_back({AddressUpdate::Op::add, "p1", pfx("2001:db8:0:2::1/64")});
    ASSERT_TRUE(lab.apply(init).applied);
    ASSERT_TRUE(lab.apply(flip(false)).applied);

    std::atomic<bool> stop{false};
    std::atomic<uint64_t> loops{0}, mixed{0}, bad_index{0}, saw_a{0}, saw_b{0};
    auto reader = [&](uint32_t id) {
        lab.rcu->register_reader(id);
        uint32_t probes4[kRoutes];
        uint8_t probes6[kRoutes][16];
        for (int i = 0; i < kRoutes; ++i) {
            probes4[i] = route_prefix(i, false).addr.v4_host() | 7;
            auto p = route_prefix(i, true);
            std::memcpy(probes6[i], p.addr.bytes.data(), 16);
            probes6[i][15] = 7;
        }
        while (!stop.load(std::memory_order_relaxed)) {
            const dp::Root* r = lab.published->get();
            const dp::Nexthops& t = *r->nexthops;
            int ports[2] = {0, 0};
            for (int i = 0; i < kRoutes; ++i) {
                for (int fam = 0; fam < 2; ++fam) {
                    uint64_t v = fam == 0 ? r->fib4->lookup(probes4[i]) : r->fib6->lookup(probes6[i]);
                    uint32_t idx = dp::nh_index(v);
                    if (dp::nh_kind(v) != dp::NhKind::single || idx >= t.nh.size()) {
                        bad_index.fetch_add(1);
                        continue;
                    }
                    ports[t.nh[idx].port]++;
                }
            }
            if (ports[0] && ports[1]) mixed.fetch_add(1);
            (ports[0] ? saw_a : saw_b).fetch_add(1);
            loops.fetch_add(1);
            lab.rcu->quiescent(id);
        }
        lab.rcu->unregister_reader(id);
    };
    // A transient reader too, as the telemetry threads read.
    auto transient = [&] {
        while (!stop.load(std::memory_order_relaxed)) {
            dp::RcuDomain::ReadGuard g(*lab.rcu);
            const dp::Root* r = lab.published->get();
            if (r->ifaces->port[0].v4.empty()) bad_index.fetch_add(1);
        }
    };
    std::thread t1(reader, 0), t2(reader, 1), t3(transient);
    for (int i = 0; i < 120; ++i) {
        auto res = lab.apply(flip(i % 2 == 0));
        ASSERT_TRUE(res.applied);
        ASSERT_EQ(res.fib_ops, uint32_t(2 * kRoutes));
    }
    // Let the readers see the last state too.
    uint64_t seen = loops.load();
    while (loops.load() < seen + 10) std::this_thread::yield();
    stop = true;
    t1.join();
    t2.join();
    t3.join();
    EXPECT_EQ(mixed.load(), 0u) << "a reader saw part of a batch";
    EXPECT_EQ(bad_index.load(), 0u);
    EXPECT_GT(saw_a.load(), 0u);
    EXPECT_GT(saw_b.load(), 0u);
    lab.rcu->synchronize();
    lab.rcu->reclaim();
    EXPECT_EQ(lab.rcu->pending(), 0u) << "every retired root freed after a grace period";
    // Two copies per family, no more: old copies were reused, not leaked.
    auto st = lab.builder->stats();
    EXPECT_EQ(st.rebuilds, 1u) << "only the first load built copies";
}

}  // namespace
}  // namespace sluice::test
