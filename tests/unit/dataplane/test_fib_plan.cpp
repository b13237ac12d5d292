// FIB sizing and the IPv6 helper prefixes (dataplane/fib/fib_plan.hpp): the
// plan itself (pure), and, on real rte_fib6 tables, that the helpers change
// no answer while a large /64 table fits in a small tbl8 budget.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <map>

#include "config/load.hpp"
#include "dataplane/fib/fib_plan.hpp"
#include "dataplane/fib/snapshot.hpp"
#include "tests/unit/dataplane/frames.hpp"

namespace sluice::test {
namespace {

using dp::FibEntry;
using dp::NhKind;

FibEntry entry(const char* prefix, uint64_t value = 1) { return FibEntry{*config::parse_prefix(prefix), value}; }

TEST(FibPlan, Ipv4CountsDistinctSlash24sOfLongPrefixes) {
    std::vector<FibEntry> v4 = {entry("198.19.0.0/16"), entry("198.19.1.0/30"), entry("198.19.1.4/30"),
                                entry("198.19.2.0/25"), entry("198.19.1.0/24")};
    EXPECT_EQ(dp::fib4_tbl8_needed(v4), 2u);
    EXPECT_EQ(dp::fib4_tbl8_needed({}), 0u);
}

TEST(FibPlan, HelpersCoverEachByteLevelOnce) {
    std::vector<FibEntry> v6 = {entry("2001:db8:0:1::/64", 7), entry("2001:db8:0:2::/64", 8),
                                entry("2001:db8::/32", 9), entry("2001:db8:0:100::/56", 10)};
    auto plan = dp::plan_fib6(v6);
    std::multiset<std::string> helpers;
    for (const auto& s : plan.steps)
        if (s.helper) helpers.insert(config::to_string(s.prefix));
    // The two /64s share one helper per level, /25 to /57; the /56 needs
    // /25../49 (shared); the /32 needs /25 (shared).
    std::multiset<std::string> want = {"2001:d80::/25", "2001:db8::/33", "2001:db8::/41", "2001:db8::/49",
                                       "2001:db8::/57"};
    EXPECT_EQ(helpers, want);
    EXPECT_EQ(plan.helpers, 5u);
    EXPECT_EQ(plan.steps.size(), 9u);
    // By length, helpers first within a length; real values kept.
    for (size_t i = 1; i < plan.steps.size(); ++i) {
        EXPECT_LE(plan.steps[i - 1].prefix.len, plan.steps[i].prefix.len);
        if (plan.steps[i - 1].prefix.len == plan.steps[i].prefix.len) {
            EXPECT_FALSE(!plan.steps[i - 1].helper && plan.steps[i].helper);
        }
    }
    // Only helpers (and routes of length 8k+1) reserve a group.
    EXPECT_EQ(plan.tbl8_needed, 5u);
}

TEST(FibPlan, DuplicatesKeepTheirOrder) {
    std::vector<FibEntry> v6 = {entry("2001:db8:1::/64", 1), entry("2001:db8:1::/64", 2)};
    auto plan = dp::plan_fib6(v6);
    std::vector<uint64_t> real;
    for (const auto& s : plan.steps)
        if (!s.helper) real.push_back(s.value);
    EXPECT_EQ(real, (std::vector<uint64_t>{1, 2})) << "the later entry must still be added last";
}

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
    std::string err;
    auto nbrs = dp::NeighborTable::create(64, &err);
    auto r = dp::build_snapshot(std::make_shared<const config::Config>(c), lab_env(nbrs.get()), 900);
    ASSERT_TRUE(r.snapshot) << r.error;
    const dp::Snapshot& s = *r.snapshot;
    EXPECT_GE(s.routes6, 200000u + 129u) << "every real route is counted";
    EXPECT_LT(s.routes6, 200000u + 129u + 8u) << "helpers are not counted as routes";
    EXPECT_GT(s.fib6_helpers, 0u);
    EXPECT_EQ(s.fib_tbl8_scale, 1u) << "the tbl8 estimate held";
    EXPECT_LT(s.fib6_helpers, 5000u) << "one /57 helper per 128 /64s, a handful above";

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
        uint64_t nh = s.lookup6(a.data());
        std::string got = "none";
        if (dp::nh_kind(nh) == NhKind::single) {
            const auto& h = s.nexthops[dp::nh_index(nh)];
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
