// The lab config (frames.cpp) through the table layer as a reload would
// apply it (config diff -> batch -> builder): what the FIBs answer for
// connected, local, gateway and ECMP prefixes, member order independence,
// the slow path's route() agreeing with the worker, a config reloaded with
// changes, and a full neighbor table.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "config/load.hpp"
#include "dataplane/reload/config_diff.hpp"
#include "tests/unit/dataplane/frames.hpp"
#include "tests/unit/dataplane/tables_env.hpp"

namespace sluice::test {
namespace {

using dp::NhKind;

uint64_t lookup(const dp::Root& r, const char* ip) {
    auto a = config::parse_ip(ip);
    return a->is_v4() ? r.fib4->lookup(a->v4_host()) : r.fib6->lookup(a->bytes.data());
}

std::unique_ptr<TablesEnv> loaded(const config::Config& c) {
    auto env = std::make_unique<TablesEnv>();
    EXPECT_EQ(env->load(c), "");
    return env;
}

TEST(ConfigTables, FibAnswersByKind) {
    auto env = loaded(lab_config());
    const dp::Root& r = env->root();
    const dp::Nexthops& t = *r.nexthops;
    EXPECT_EQ(dp::nh_kind(lookup(r, "198.18.1.1")), NhKind::local);
    EXPECT_EQ(dp::nh_kind(lookup(r, "198.18.1.255")), NhKind::local) << "subnet broadcast";
    EXPECT_EQ(dp::nh_kind(lookup(r, "2001:db8:2::1")), NhKind::local);
    EXPECT_EQ(dp::nh_kind(lookup(r, "198.20.0.1")), NhKind::none);
    EXPECT_EQ(dp::nh_kind(lookup(r, "2001:db8:ffff::1")), NhKind::none);

    uint64_t conn = lookup(r, "198.18.2.77");
    ASSERT_EQ(dp::nh_kind(conn), NhKind::single);
    EXPECT_EQ(t.nh[dp::nh_index(conn)].port, 1);
    EXPECT_EQ(t.nh[dp::nh_index(conn)].neighbor, dp::kNoNeighbor) << "on-link";

    uint64_t gw = lookup(r, "198.19.1.1");
    ASSERT_EQ(dp::nh_kind(gw), NhKind::single);
    EXPECT_NE(t.nh[dp::nh_index(gw)].neighbor, dp::kNoNeighbor) << "gateway has a neighbor slot";

    uint64_t lpm = lookup(r, "198.19.200.1");  // /17 beats /16
    ASSERT_EQ(dp::nh_kind(lpm), NhKind::group);
    EXPECT_EQ(t.groups[dp::nh_index(lpm)].count, 2u);

    uint64_t v6 = lookup(r, "2001:db8:100:5::1");
    ASSERT_EQ(dp::nh_kind(v6), NhKind::single);
    EXPECT_TRUE(t.nh[dp::nh_index(v6)].v6);
}

TEST(ConfigTables, RouteOfAPacketMatchesTheWorkersChoice) {
    auto env = loaded(lab_config());
    const dp::Root& root = env->root();
    Ip4Spec s;
    s.dst = "198.19.200.1";
    auto f = ipv4_udp(s);
    auto r = dp::route(root, f.data() + 14, uint32_t(f.size() - 14));
    ASSERT_EQ(r.kind, NhKind::group);
    ASSERT_NE(r.nh, nullptr);
    EXPECT_EQ(r.nh->port, 1);
    EXPECT_EQ(dp::route(root, f.data() + 14, uint32_t(f.size() - 14)).nh, r.nh) << "same flow, same member";
    s.dst = "198.18.1.1";
    f = ipv4_udp(s);
    EXPECT_EQ(dp::route(root, f.data() + 14, uint32_t(f.size() - 14)).kind, NhKind::local);
    EXPECT_EQ(dp::route(root, f.data() + 14, uint32_t(f.size() - 14)).nh, nullptr);
    Ip6Spec s6;
    s6.dst = "2001:db8:ffff::1";
    auto f6 = ipv6_udp(s6);
    EXPECT_EQ(dp::route(root, f6.data() + 14, uint32_t(f6.size() - 14)).kind, NhKind::none);
}

TEST(ConfigTables, GatewaysShareOneNexthop) {
    auto env = loaded(lab_config());
    const dp::Root& r = env->root();
    // 198.19.0.0/16 and the ECMP group both use 198.18.2.2.
    uint64_t single = lookup(r, "198.19.1.1");
    const auto& g = r.nexthops->groups[dp::nh_index(lookup(r, "198.19.200.1"))];
    std::vector<uint32_t> members(r.nexthops->members.begin() + g.first,
                                  r.nexthops->members.begin() + g.first + g.count);
    EXPECT_NE(std::find(members.begin(), members.end(), dp::nh_index(single)), members.end());
}

TEST(ConfigTables, EcmpMemberOrderDoesNotDependOnTheConfigOrder) {
    auto c1 = lab_config();
    auto c2 = lab_config();
    std::reverse(c2.routes[1].nexthops.begin(), c2.routes[1].nexthops.end());
    auto members = [](const dp::Root& r) {
        const auto& g = r.nexthops->groups[dp::nh_index(lookup(r, "198.19.200.1"))];
        std::vector<std::array<uint8_t, 16>> gws;
        for (uint32_t i = 0; i < g.count; ++i) gws.push_back(r.nexthops->nh[r.nexthops->members[g.first + i]].gateway);
        return gws;
    };
    auto e1 = loaded(c1);
    auto e2 = loaded(c2);
    EXPECT_EQ(members(e1->root()), members(e2->root()));
    // Reloading the reordered file over the first changes nothing.
    api::Batch b = dp::diff_config(c2, *e1->builder);
    EXPECT_TRUE(b.routes.empty()) << "same routes, other order: no update";
}

TEST(ConfigTables, ReloadAppliesOnlyTheDifferences) {
    auto env = loaded(lab_config());
    uint64_t gen = env->root().generation;
    auto c = lab_config();
    c.routes[0].prefix = *config::parse_prefix("198.21.0.0/16");  // moved
    api::Batch b = dp::diff_config(c, *env->builder);
    ASSERT_EQ(b.routes.size(), 2u) << "one set, one delete";
    EXPECT_TRUE(b.addresses.empty());
    auto old_root = env->published->get();
    ASSERT_EQ(env->load(c), "");
    EXPECT_EQ(env->root().generation, gen + 1);
    EXPECT_EQ(dp::nh_kind(lookup(env->root(), "198.21.1.1")), NhKind::single);
    EXPECT_EQ(dp::nh_kind(lookup(env->root(), "198.19.1.1")), NhKind::none);
    EXPECT_EQ(env->root().fib6, old_root->fib6) << "the IPv6 FIB was not touched";
    ASSERT_EQ(env->load(c), "");
    EXPECT_EQ(env->root().generation, gen + 2);
}

TEST(ConfigTables, FullNeighborTableIsAnError) {
    TablesEnv env(TablesEnv::two_ports(), 16);
    // Fill the table so no gateway gets a slot.
    for (uint32_t i = 0; env.nbrs->insert(dp::NeighborKey::v4(0, std::array<uint8_t, 4>{198, 18, 9, uint8_t(i)}.data())) !=
                         dp::kNoNeighbor;
         ++i) {
    }
    auto c = lab_config();
    c.neighbor.capacity = 16;
    std::string err = env.load(c);
    EXPECT_NE(err.find("neighbor table full"), std::string::npos) << err;
    EXPECT_EQ(env.published->get(), nullptr) << "nothing published";
}

TEST(ConfigTables, LinkLocalFromMacIsModifiedEui64) {
    // RFC 4291 appendix A: 02:00:5e:10:20:30 -> 0000:5eff:fe10:2030 (U/L bit flipped).
    auto ll = dp::link_local_from_mac({0x02, 0x00, 0x5e, 0x10, 0x20, 0x30});
    auto expect = config::parse_ip("fe80::5eff:fe10:2030");
    ASSERT_TRUE(expect);
    EXPECT_EQ(0, std::memcmp(ll.data(), expect->bytes.data(), 16));
}

}  // namespace
}  // namespace sluice::test
