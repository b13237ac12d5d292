// Randomized: sequences of batches (route adds, replacements, deletions,
// secondary addresses) against a reference longest-prefix match, for IPv4
// and IPv6 (dense clusters, so the IPv6 helper prefixes are exercised at
// every byte level). Every batch publishes the other FIB copy, so both
// copies are checked. Fixed seeds; only 198.18.0.0/15 and 2001:db8::/32.
#include <random>

#include <gtest/gtest.h>

#include "dataplane/tables/fib_direct.hpp"
#include "tests/unit/tables/lab.hpp"

namespace sluice::test {
namespace {

using api::AddressUpdate;
using api::RouteUpdate;

struct Family {
    bool v6;
    std::vector<std::pair<std::vector<api::Nexthop>, Answer>> sets;  // request and the answer it must give
};

// The workers' inline lookup (tables/fib_direct.hpp) over the published
// root's FIB copy must give rte_fib's own answer, value for value. On this
// DPDK the layout check must pass: a failure would leave the workers on the
// slower bulk call without any test noticing.
void expect_direct_agrees(const dp::Root& r, const net::IpAddr& a) {
    const dp::FibDirect& d = a.is_v4() ? r.hot.fib4d : r.hot.fib6d;
    ASSERT_NE(d.tbl24, nullptr) << "rte_fib layout check failed: workers fall back to rte_fib_lookup_bulk";
    uint64_t want = a.is_v4() ? r.fib4->lookup(a.v4_host()) : r.fib6->lookup(a.bytes.data());
    uint64_t got = a.is_v4() ? dp::fib_direct_lookup(d, a.v4_host()) : dp::fib6_direct_lookup(d, a.bytes.data());
    ASSERT_EQ(got, want) << net::to_string(a);
}

Family family(bool v6) {
    Family f{v6, {}};
    auto a = [&](std::vector<api::Nexthop> hops, std::vector<dp::MemberKey> keys) {
        std::sort(keys.begin(), keys.end());
        f.sets.push_back({std::move(hops), Answer{keys.size() > 1 ? dp::NhKind::group : dp::NhKind::single, 0, keys}});
    };
    if (!v6) {
        a({via("198.18.0.2", "p0")}, {gw_member(0, "198.18.0.2")});
        a({via("198.18.1.2", "p1")}, {gw_member(1, "198.18.1.2")});
        a({via("198.18.0.3", "p0"), via("198.18.1.3", "p1")}, {gw_member(0, "198.18.0.3"), gw_member(1, "198.18.1.3")});
        a({onlink("p1")}, {onlink_member(1, false)});
    } else {
        a({via("2001:db8:0:1::2", "p0")}, {gw_member(0, "2001:db8:0:1::2")});
        a({via("2001:db8:0:2::2", "p1")}, {gw_member(1, "2001:db8:0:2::2")});
        a({via("fe80::5", "p1")}, {gw_member(1, "fe80::5")});
        a({via("2001:db8:0:1::3", "p0"), via("2001:db8:0:2::3", "p1")},
          {gw_member(0, "2001:db8:0:1::3"), gw_member(1, "2001:db8:0:2::3")});
    }
    return f;
}

// A prefix inside 198.19.0.0/16 (IPv4) or 2001:db8:8000::/33 (IPv6), drawn
// from a few clusters so that prefixes nest and share byte levels.
net::Prefix random_prefix(std::mt19937_64& rng, bool v6) {
    if (!v6) {
        static const uint8_t lens[] = {16, 17, 20, 22, 23, 24, 24, 24, 25, 26, 28, 30, 31, 32};
        uint8_t len = lens[rng() % sizeof lens];
        uint32_t a = (198u << 24) | (19u << 16) | (uint32_t(rng() % 4) << 8) | uint32_t(rng() % 256);
        if (rng() % 3 == 0) a = (198u << 24) | (19u << 16) | uint32_t(rng() & 0xffff);
        return net::network_of(net::Prefix{net::IpAddr::from_v4_host(a), len});
    }
    static const uint8_t lens[] = {33, 36, 40, 41, 44, 48, 48, 49, 56, 57, 60, 64, 64, 64, 65, 72, 96, 112, 127, 128};
    uint8_t len = lens[rng() % sizeof lens];
    net::IpAddr a = ip("2001:db8:8000::");
    // Clusters: a few /40s, a few /56s inside them, random low bits.
    a.bytes[4] = uint8_t(0x80 | (rng() % 2));
    a.bytes[5] = uint8_t(rng() % 3);
    a.bytes[6] = uint8_t(rng() % 2);
    a.bytes[7] = uint8_t(rng() % 4);
    for (int i = 8; i < 16; ++i) a.bytes[size_t(i)] = (rng() % 4 == 0) ? uint8_t(rng()) : 0;
    return net::network_of(net::Prefix{a, len});
}

// Addresses to probe: random ones in the same space, plus the first and
// last address of every prefix in the model (edges are where off-by-one
// range writes show).
std::vector<net::IpAddr> probes(std::mt19937_64& rng, bool v6, const Model& m, size_t n) {
    std::vector<net::IpAddr> out;
    for (size_t i = 0; i < n; ++i) {
        net::Prefix p = random_prefix(rng, v6);
        net::IpAddr a = p.addr;
        for (unsigned bit = p.len; bit < net::max_len(a); ++bit)
            if (rng() & 1) a.bytes[bit / 8] |= uint8_t(0x80 >> (bit % 8));
        out.push_back(a);
    }
    for (const auto& [key, ans] : m.entries) {
        if (key.second.is_v6() != v6) continue;
        out.push_back(key.second);
        net::IpAddr last = key.second;
        unsigned bits = net::max_len(last);
        for (unsigned bit = key.first; bit < bits; ++bit) last.bytes[bit / 8] |= uint8_t(0x80 >> (bit % 8));
        out.push_back(last);
    }
    return out;
}

void run(bool v6, uint64_t seed, int batches) {
    std::mt19937_64 rng(seed);
    TableLab lab;
    Family fam = family(v6);
    Model model;
    // Interfaces: p0 and p1, their subnets on-link, their addresses ours.
    api::Batch init;
    if (!v6) {
        init.addresses.push_back({AddressUpdate::Op::add, "p0", pfx("198.18.0.1/24")});
        init.addresses.push_back({AddressUpdate::Op::add, "p1", pfx("198.18.1.1/24")});
        model.set(pfx("198.18.0.0/24"), Answer{dp::NhKind::single, 0, {onlink_member(0, false)}});
        model.set(pfx("198.18.1.0/24"), Answer{dp::NhKind::single, 0, {onlink_member(1, false)}});
        model.set(pfx("198.18.0.1/32"), Answer{dp::NhKind::local, 0, {}});
        model.set(pfx("198.18.0.255/32"), Answer{dp::NhKind::local, 0, {}});
        model.set(pfx("198.18.1.1/32"), Answer{dp::NhKind::local, 1, {}});
        model.set(pfx("198.18.1.255/32"), Answer{dp::NhKind::local, 1, {}});
    } else {
        init.addresses.push_back({AddressUpdate::Op::add, "p0", pfx("2001:db8:0:1::1/64")});
        init.addresses.push_back({AddressUpdate::Op::add, "p1", pfx("2001:db8:0:2::1/64")});
        model.set(pfx("2001:db8:0:1::/64"), Answer{dp::NhKind::single, 0, {onlink_member(0, true)}});
        model.set(pfx("2001:db8:0:2::/64"), Answer{dp::NhKind::single, 0, {onlink_member(1, true)}});
        model.set(pfx("2001:db8:0:1::1/128"), Answer{dp::NhKind::local, 0, {}});
        model.set(pfx("2001:db8:0:2::1/128"), Answer{dp::NhKind::local, 1, {}});
    }
    ASSERT_TRUE(lab.apply(init).applied);
    const uint32_t interface_helpers = lab.root().helpers6;  // the IPv6 interface entries' own chains
    std::map<net::Prefix, int> routes;  // prefix -> set index
    for (int round = 0; round < batches; ++round) {
        api::Batch b;
        std::vector<uint32_t> idx;
        for (const auto& s : fam.sets) idx.push_back(add_set(b, s.first));
        std::set<net::Prefix> used;
        int n = 1 + int(rng() % (round % 10 == 9 ? 400 : 30));
        for (int i = 0; i < n; ++i) {
            if (!routes.empty() && rng() % 3 == 0) {
                auto it = routes.begin();
                std::advance(it, long(rng() % routes.size()));
                if (!used.insert(it->first).second) continue;
                b.routes.push_back({RouteUpdate::Op::del, it->first, 0});
                model.del(it->first);
                routes.erase(it);
                continue;
            }
            net::Prefix p = random_prefix(rng, v6);
            if (!used.insert(p).second) continue;
            int s = int(rng() % fam.sets.size());
            b.routes.push_back({RouteUpdate::Op::set, p, idx[size_t(s)]});
            routes[p] = s;
            model.set(p, fam.sets[size_t(s)].second);
        }
        auto r = lab.apply(b);
        ASSERT_TRUE(r.applied) << (r.errors.empty() ? "" : r.errors[0].what + ": " + r.errors[0].message);
        for (const auto& a : probes(rng, v6, model, 200)) {
            Answer want = model.lookup(a);
            Answer got = lookup(lab.root(), a);
            expect_direct_agrees(lab.root(), a);
            ASSERT_EQ(got, want) << "round " << round << " seed " << seed << ": " << net::to_string(a) << " answered "
                                 << describe(got) << ", expected " << describe(want);
        }
    }
    // Remove everything: every answer goes back to the interfaces' own
    // (IPv6 prefixes stay as tombstones answering their cover's value).
    api::Batch all;
    for (const auto& [p, s] : routes) all.routes.push_back({RouteUpdate::Op::del, p, 0});
    for (const auto& [p, s] : routes) model.del(p);
    ASSERT_TRUE(lab.apply(all).applied);
    for (const auto& a : probes(rng, v6, model, 500)) {
        ASSERT_EQ(lookup(lab.root(), a), model.lookup(a)) << net::to_string(a);
        expect_direct_agrees(lab.root(), a);
    }
    EXPECT_GE(lab.root().helpers6, interface_helpers);
    EXPECT_EQ(lab.builder->route_count(), 0u);
}

TEST(TableBuilderProperty, Ipv4MatchesLongestPrefixReference) {
    for (uint64_t seed : {1u, 2u, 3u}) run(false, seed, 60);
}

TEST(TableBuilderProperty, Ipv6WithHelpersMatchesLongestPrefixReference) {
    for (uint64_t seed : {11u, 12u, 13u}) run(true, seed, 60);
}

}  // namespace
}  // namespace sluice::test

namespace sluice::test {
namespace {

// A table whose header does not say what it was created with is not read
// in place: the check gives nothing, and the table is left as it was.
TEST(FibDirect, HeaderMismatchIsNotTrusted) {
    std::string err;
    auto f4 = dp::Fib4::create({1024, 256}, &err);
    ASSERT_TRUE(f4) << err;
    ASSERT_NE(f4->direct().tbl24, nullptr);
    EXPECT_EQ(dp::fib_direct_probe(f4->raw(), 256 + 64).tbl24, nullptr);
    EXPECT_EQ(dp::fib_direct_probe(nullptr, 256).tbl24, nullptr);
    EXPECT_EQ(f4->lookup(0xC6120709u), 0u) << "the probe routes are gone";
    auto f6 = dp::Fib6::create({1024, 256}, &err);
    ASSERT_TRUE(f6) << err;
    ASSERT_NE(f6->direct().tbl24, nullptr);
    EXPECT_EQ(dp::fib6_direct_probe(f6->raw(), 255).tbl24, nullptr);
    const uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2};
    EXPECT_EQ(f6->lookup(a), 0u) << "the probe routes are gone";
    // The probe leaves the tables as it found them: the header's counts are
    // back to empty (tbl8 reservations included, which the IPv6 helper
    // prefixes' sizing relies on), so a second probe passes the same check.
    EXPECT_NE(dp::fib_direct_probe(f4->raw(), 256).tbl24, nullptr);
    EXPECT_NE(dp::fib6_direct_probe(f6->raw(), 256).tbl24, nullptr);
    // A probed table still takes routes.
    dp::FibOp op{net::Prefix{net::IpAddr::from_v4_host(0xC6120000u), 24}, 7, false};
    ASSERT_EQ(f4->apply(op), 0);
    EXPECT_EQ(dp::fib_direct_lookup(f4->direct(), 0xC6120005u), 7u);
}

}  // namespace
}  // namespace sluice::test
