// Snapshot building: what the FIBs answer for connected, local, gateway and
// ECMP prefixes, member order independence, coexisting versions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "config/load.hpp"
#include "dataplane/fib/snapshot.hpp"
#include "tests/unit/dataplane/frames.hpp"

namespace sluice::test {
namespace {

using dp::NhKind;

struct Built {
    std::unique_ptr<dp::NeighborTable> nbrs;
    std::unique_ptr<dp::Snapshot> snap;
};

Built build(const config::Config& c, uint64_t version) {
    Built b;
    std::string err;
    b.nbrs = dp::NeighborTable::create(64, &err);
    auto r = dp::build_snapshot(std::make_shared<const config::Config>(c), lab_env(b.nbrs.get()), version);
    EXPECT_TRUE(r.snapshot) << r.error;
    b.snap = std::move(r.snapshot);
    return b;
}

uint64_t lookup(const dp::Snapshot& s, const char* ip) {
    auto a = config::parse_ip(ip);
    return a->is_v4() ? s.lookup4(a->v4_host()) : s.lookup6(a->bytes.data());
}

TEST(Snapshot, FibAnswersByKind) {
    auto b = build(lab_config(), 100);
    const dp::Snapshot& s = *b.snap;
    EXPECT_EQ(dp::nh_kind(lookup(s, "198.18.1.1")), NhKind::local);
    EXPECT_EQ(dp::nh_kind(lookup(s, "198.18.1.255")), NhKind::local) << "subnet broadcast";
    EXPECT_EQ(dp::nh_kind(lookup(s, "2001:db8:2::1")), NhKind::local);
    EXPECT_EQ(dp::nh_kind(lookup(s, "198.20.0.1")), NhKind::none);
    EXPECT_EQ(dp::nh_kind(lookup(s, "2001:db8:ffff::1")), NhKind::none);

    uint64_t conn = lookup(s, "198.18.2.77");
    ASSERT_EQ(dp::nh_kind(conn), NhKind::single);
    EXPECT_EQ(s.nexthops[dp::nh_index(conn)].port, 1);
    EXPECT_EQ(s.nexthops[dp::nh_index(conn)].neighbor, dp::kNoNeighbor) << "on-link";

    uint64_t gw = lookup(s, "198.19.1.1");
    ASSERT_EQ(dp::nh_kind(gw), NhKind::single);
    EXPECT_NE(s.nexthops[dp::nh_index(gw)].neighbor, dp::kNoNeighbor) << "gateway has a neighbor slot";

    uint64_t lpm = lookup(s, "198.19.200.1");  // /17 beats /16
    ASSERT_EQ(dp::nh_kind(lpm), NhKind::group);
    EXPECT_EQ(s.groups[dp::nh_index(lpm)].count, 2u);

    uint64_t v6 = lookup(s, "2001:db8:100:5::1");
    ASSERT_EQ(dp::nh_kind(v6), NhKind::single);
    EXPECT_TRUE(s.nexthops[dp::nh_index(v6)].v6);
}

TEST(Snapshot, RouteOfAPacketMatchesTheWorkersChoice) {
    auto b = build(lab_config(), 107);
    Ip4Spec s;
    s.dst = "198.19.200.1";
    auto f = ipv4_udp(s);
    auto r = b.snap->route(f.data() + 14, uint32_t(f.size() - 14));
    ASSERT_EQ(r.kind, NhKind::group);
    ASSERT_NE(r.nh, nullptr);
    EXPECT_EQ(r.nh->port, 1);
    EXPECT_EQ(b.snap->route(f.data() + 14, uint32_t(f.size() - 14)).nh, r.nh) << "same flow, same member";
    s.dst = "198.18.1.1";
    f = ipv4_udp(s);
    EXPECT_EQ(b.snap->route(f.data() + 14, uint32_t(f.size() - 14)).kind, NhKind::local);
    EXPECT_EQ(b.snap->route(f.data() + 14, uint32_t(f.size() - 14)).nh, nullptr);
    Ip6Spec s6;
    s6.dst = "2001:db8:ffff::1";
    auto f6 = ipv6_udp(s6);
    EXPECT_EQ(b.snap->route(f6.data() + 14, uint32_t(f6.size() - 14)).kind, NhKind::none);
}

TEST(Snapshot, GatewaysShareOneNexthop) {
    auto b = build(lab_config(), 101);
    // 198.19.0.0/16 and the ECMP group both use 198.18.2.2.
    uint64_t single = lookup(*b.snap, "198.19.1.1");
    const auto& g = b.snap->groups[dp::nh_index(lookup(*b.snap, "198.19.200.1"))];
    std::vector<uint32_t> members(b.snap->group_members.begin() + g.first,
                                  b.snap->group_members.begin() + g.first + g.count);
    EXPECT_NE(std::find(members.begin(), members.end(), dp::nh_index(single)), members.end());
}

TEST(Snapshot, EcmpMemberOrderDoesNotDependOnTheConfigOrder) {
    auto c1 = lab_config();
    auto c2 = lab_config();
    std::reverse(c2.routes[1].nexthops.begin(), c2.routes[1].nexthops.end());
    auto b1 = build(c1, 102);
    auto b2 = build(c2, 103);
    auto members = [](const dp::Snapshot& s) {
        const auto& g = s.groups[dp::nh_index(lookup(s, "198.19.200.1"))];
        std::vector<std::array<uint8_t, 16>> gws;
        for (uint32_t i = 0; i < g.count; ++i) gws.push_back(s.nexthops[s.group_members[g.first + i]].gateway);
        return gws;
    };
    EXPECT_EQ(members(*b1.snap), members(*b2.snap));
}

TEST(Snapshot, TwoVersionsCoexist) {
    auto b1 = build(lab_config(), 104);
    auto c = lab_config();
    c.routes[0].prefix = *config::parse_prefix("198.21.0.0/16");
    auto b2 = build(c, 105);
    EXPECT_EQ(dp::nh_kind(lookup(*b1.snap, "198.19.1.1")), NhKind::single);
    EXPECT_EQ(dp::nh_kind(lookup(*b2.snap, "198.21.1.1")), NhKind::single);
    EXPECT_EQ(dp::nh_kind(lookup(*b1.snap, "198.21.1.1")), NhKind::none);
}

TEST(Snapshot, FullNeighborTableIsAnError) {
    std::string err;
    auto nbrs = dp::NeighborTable::create(64, &err);
    auto env = lab_env(nbrs.get());
    env.gateway_slot = [](uint16_t, const config::IpAddr&) { return dp::kNoNeighbor; };
    auto r = dp::build_snapshot(std::make_shared<const config::Config>(lab_config()), env, 106);
    EXPECT_FALSE(r.snapshot);
    EXPECT_NE(r.error.find("neighbor table full"), std::string::npos) << r.error;
}

TEST(Snapshot, LinkLocalFromMacIsModifiedEui64) {
    // RFC 4291 appendix A: 02:00:5e:10:20:30 -> 0000:5eff:fe10:2030 (U/L bit flipped).
    auto ll = dp::link_local_from_mac({0x02, 0x00, 0x5e, 0x10, 0x20, 0x30});
    auto expect = config::parse_ip("fe80::5eff:fe10:2030");
    ASSERT_TRUE(expect);
    EXPECT_EQ(0, std::memcmp(ll.data(), expect->bytes.data(), 16)) << config::to_string([&] {
        config::IpAddr a;
        a.family = config::IpAddr::Family::V6;
        a.bytes = ll;
        return a;
    }());
}

}  // namespace
}  // namespace sluice::test
