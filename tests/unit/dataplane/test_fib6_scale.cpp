// The IPv6 helper prefixes (dataplane/tables/fib6_helpers.hpp) at scale, on
// real rte_fib6 tables built from a config through the table layer: a large
// /64 table fits a small tbl8 budget and answers like a reference LPM.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "config/load.hpp"
#include "tests/unit/dataplane/frames.hpp"
#include "tests/unit/dataplane/tables_env.hpp"

namespace sluice::test {
namespace {

using dp::NhKind;

// A routes-only config on the lab ports.
config::Config with_routes(std::vector<config::Route> extra) {
    config::Config c = lab_config();
    for (auto& r : extra) c.routes.push_back(std::move(r));
    return c;
}

config::Route route6(const std::array<uint8_t, 16>& a, uint8_t len, const char* gw) {
    config::Route r;
    r.prefix.addr.family = config::IpAddr::Family::V6;
    r.prefix.addr.bytes = a;
    r.prefix.len = len;
    r.nexthops = {config::NextHop{config::parse_ip(gw), "p1"}};
    return r;
}

TEST(FibPlanOnDpdk, LargeSlash64TableAnswersLikeAReferenceLpm) {
    // 200 000 /64s under 2001:db8:4000::/34, a covering /36 via another
    // gateway, and a sprinkle of /60s and /57s: every probe must get the
    // answer of a brute-force longest match over the real routes.
    std::vector<config::Route> extra;
    std::array<uint8_t, 16> base{0x20, 0x01, 0x0d, 0xb8, 0x40};
    extra.push_back(route6(base, 36, "2001:db8:2::3"));
    for (uint32_t i = 0; i < 200000; ++i) {
        auto a = base;
        a[5] = uint8_t(i >> 16);
        a[6] = uint8_t(i >> 8);
        a[7] = uint8_t(i);
        extra.push_back(route6(a, 64, "2001:db8:2::2"));
    }
    for (uint32_t i = 0; i < 64; ++i) {
        auto a = base;
        a[6] = uint8_t(i * 3);
        a[7] = 0x10;
        extra.push_back(route6(a, 60, "2001:db8:2::4"));
        auto b = base;
        b[6] = uint8_t(0x80 + i);
        b[7] = 0x80;
        extra.push_back(route6(b, 57, "2001:db8:2::5"));
    }
    config::Config c = with_routes(extra);
    TablesEnv env;
    ASSERT_EQ(env.load(c), "");
    const dp::Root& s = env.root();
    EXPECT_GE(s.routes6, 200000u + 129u) << "every real route is counted";
    EXPECT_LT(s.routes6, 200000u + 129u + 8u) << "helpers are not counted as routes";
    EXPECT_GT(s.helpers6, 0u);
    EXPECT_LT(s.helpers6, 5000u) << "one /57 helper per 128 /64s, a handful above";
    EXPECT_LT(s.fib6->capacity().tbl8, 2 * s.helpers6 + 1024) << "a small tbl8 budget held 200 000 /64s";

    // Reference: exact-match sets per length over the real v6 routes.
    std::map<uint8_t, std::map<std::array<uint8_t, 16>, std::string>> gw_of;
    for (const auto& rt : c.routes)
        if (!rt.prefix.addr.is_v4()) gw_of[rt.prefix.len][rt.prefix.addr.bytes] = config::to_string(*rt.nexthops[0].via);
    auto mask = [](std::array<uint8_t, 16> a, unsigned len) {
        for (unsigned bit = len; bit < 128; ++bit) a[bit / 8] = uint8_t(a[bit / 8] & ~(0x80u >> (bit % 8)));
        return a;
    };
    std::mt19937 rng(64);
    for (int probe = 0; probe < 20000; ++probe) {
        auto a = base;
        a[4] = uint8_t(0x40 + rng() % 8);  // inside and around the /36
        for (int k = 5; k < 16; ++k) a[k] = uint8_t(rng());
        if (probe % 2) a[5] = uint8_t(rng() % 4);  // mostly inside the /64 block
        std::string want = "none";
        for (int len = 128; len >= 0 && want == "none"; --len) {
            auto it = gw_of.find(uint8_t(len));
            if (it == gw_of.end()) continue;
            auto m = it->second.find(mask(a, unsigned(len)));
            if (m != it->second.end()) want = m->second;
        }
        uint64_t nh = s.fib6->lookup(a.data());
        std::string got = "none";
        if (dp::nh_kind(nh) == NhKind::single) {
            const auto& h = s.nexthops->nh[dp::nh_index(nh)];
            config::IpAddr g;
            g.family = config::IpAddr::Family::V6;
            g.bytes = h.gateway;
            got = config::to_string(g);
        }
        if (want.rfind("2001:db8:2::", 0) != 0 && want != "none") continue;  // lab_config's own routes
        ASSERT_EQ(got, want) << "probe " << probe;
    }
}

}  // namespace
}  // namespace sluice::test
