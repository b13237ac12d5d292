// A full sync's parts (control/daemon/sync_parts.hpp): every route,
// neighbor and VIP exactly once, each part under the message limit and the
// route cap, the same output serially and on the TBB arena, and an item too
// large for any message refused.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <tbb/parallel_for.h>

#include <atomic>
#include <map>
#include <set>

#include "control/api/codec.hpp"
#include "control/daemon/cores.hpp"
#include "control/daemon/sync_parts.hpp"
#include "tests/unit/control/helpers.hpp"

#if defined(__SANITIZE_THREAD__)
#include <tbb/global_control.h>

namespace {
// libtbb is not instrumented (Debian's build): TSan sees the inline half of
// TBB's task tree handed between threads but not the library's own
// synchronisation, and reports races inside tbb::detail (as it would for
// librte_rcu, README "Tests"). Under TSan the whole test binary runs TBB
// with one thread, so our threads (link, CLI, checker) are checked and
// TBB's internals are not; the parallel paths run in the plain and ASan
// builds.
const tbb::global_control g_one_tbb_thread(tbb::global_control::max_allowed_parallelism, 1);
}  // namespace
#endif

namespace sluice::control {
namespace {

using test::ip;

// n routes: IPv4 /24s and IPv6 /48s alternately, some ECMP.
std::shared_ptr<const std::vector<config::Route>> make_routes(size_t n) {
    auto v = std::make_shared<std::vector<config::Route>>();
    v->reserve(n);
    for (size_t i = 0; i < n; ++i) {
        config::Route r;
        if (i % 2 == 0) {
            const uint32_t a = (10u << 24) | (uint32_t(i / 2) << 8);
            r.prefix = net::Prefix{net::IpAddr::from_v4_host(a), 24};
            r.nexthops.push_back(config::NextHop{ip("198.18.2.2"), ""});
            if (i % 10 == 0) r.nexthops.push_back(config::NextHop{ip("198.18.1.2"), "p0"});
        } else {
            net::IpAddr a = ip("2001:db8::");
            a.bytes[4] = uint8_t(i >> 16);
            a.bytes[5] = uint8_t(i >> 8);
            a.bytes[6] = uint8_t(i);
            r.prefix = net::Prefix{a, 56};
            r.nexthops.push_back(config::NextHop{ip("2001:db8:2::2"), "p1"});
        }
        v->push_back(std::move(r));
    }
    std::sort(v->begin(), v->end(), [](const auto& a, const auto& b) { return a.prefix < b.prefix; });
    return v;
}

SyncSnapshot make_snapshot(size_t n) {
    SyncSnapshot s;
    s.base_routes = make_routes(n);
    // The operator deleted two of the file's routes, replaced one and added one.
    s.route_overlay[(*s.base_routes)[5].prefix] = std::nullopt;
    s.route_overlay[(*s.base_routes)[n / 2].prefix] = std::nullopt;
    config::Route repl = (*s.base_routes)[7];
    repl.nexthops = {config::NextHop{ip(repl.prefix.addr.is_v4() ? "198.18.1.9" : "2001:db8:1::9"), "p0"}};
    s.route_overlay[repl.prefix] = repl;
    config::Route added;
    added.prefix = *net::parse_prefix("198.19.113.0/24");
    added.nexthops = {config::NextHop{ip("198.18.2.2"), "p1"}};
    s.route_overlay[added.prefix] = added;
    config::StaticNeighbor nb;
    nb.address = ip("198.18.2.2");
    nb.mac = *net::parse_mac("02:00:00:00:02:02");
    nb.port = "p1";
    s.neighbors = {nb, nb};
    s.neighbors[1].address = ip("198.18.2.3");
    for (int v = 0; v < 3; ++v) {
        api::Vip vip;
        vip.name = "v" + std::to_string(v);
        vip.key.address = ip("198.18.100.1");
        vip.key.port = uint16_t(80 + v);
        for (int b = 0; b < 100; ++b) {
            api::Backend be;
            be.address = net::IpAddr::from_v4_host((198u << 24) | (18u << 16) | (2u << 8) | uint32_t(b));
            vip.backends.push_back(be);
        }
        s.vips.push_back(vip);
    }
    return s;
}

struct Decoded {
    std::map<net::Prefix, config::Route> routes;
    size_t route_items = 0, neighbors = 0, vips = 0;
};

// Decodes every part with the channel's codec, checking the limits.
Decoded decode(const SyncParts& parts, const SyncLimits& lim) {
    Decoded d;
    for (size_t i = 0; i < parts.args.size(); ++i) {
        const std::string& a = parts.args[i];
        EXPECT_LE(a.size() + kPartEnvelope, lim.max_body) << "part " << i;
        auto j = channel::Json::parse(a, nullptr, false);
        EXPECT_FALSE(j.is_discarded()) << "part " << i << " is not JSON";
        EXPECT_EQ(j.size(), 1u) << "one kind per part";
        if (j.contains("routes")) {
            EXPECT_LE(j["routes"].size(), lim.max_routes);
            for (size_t k = 0; k < j["routes"].size(); ++k) {
                config::Route r;
                channel::FieldError fe;
                EXPECT_TRUE(channel::from_json(j["routes"][k], "routes", &r, &fe)) << fe.message;
                EXPECT_EQ(d.routes.count(r.prefix), 0u) << "route sent twice: " << net::to_string(r.prefix);
                d.routes[r.prefix] = r;
                ++d.route_items;
            }
        }
        if (j.contains("neighbors")) d.neighbors += j["neighbors"].size();
        if (j.contains("vips")) d.vips += j["vips"].size();
    }
    return d;
}

void expect_exactly_once(const SyncSnapshot& s, const Decoded& d) {
    std::map<net::Prefix, config::Route> want;
    for (const auto& r : *s.base_routes) want[r.prefix] = r;
    for (const auto& [p, r] : s.route_overlay) {
        if (r)
            want[p] = *r;
        else
            want.erase(p);
    }
    EXPECT_EQ(d.route_items, want.size());
    ASSERT_EQ(d.routes.size(), want.size());
    for (const auto& [p, r] : want) {
        auto it = d.routes.find(p);
        ASSERT_NE(it, d.routes.end()) << net::to_string(p);
        EXPECT_EQ(it->second.nexthops, r.nexthops) << net::to_string(p);
    }
    EXPECT_EQ(d.neighbors, s.neighbors.size());
    EXPECT_EQ(d.vips, s.vips.size());
}

TEST(SyncParts, EveryItemOnceUnderTheLimits) {
    const SyncSnapshot s = make_snapshot(120000);
    SyncLimits lim;
    lim.max_body = 16u << 20;
    lim.max_routes = 50000;
    const SyncParts p = encode_sync(s, lim, nullptr);
    ASSERT_TRUE(p.ok) << p.error;
    EXPECT_EQ(p.routes, s.route_count());
    // 120k routes at <= 50k per part: at least 3 route parts.
    size_t route_parts = 0;
    for (const auto& a : p.args) route_parts += a.rfind("{\"routes\"", 0) == 0;
    EXPECT_GE(route_parts, 3u);
    expect_exactly_once(s, decode(p, lim));
}

TEST(SyncParts, SmallMessagesCutByBytes) {
    const SyncSnapshot s = make_snapshot(20000);
    SyncLimits lim;
    lim.max_body = 64 * 1024;  // a few hundred routes per part
    lim.max_routes = 50000;
    lim.chunk = 1000;
    const SyncParts p = encode_sync(s, lim, nullptr);
    ASSERT_TRUE(p.ok) << p.error;
    EXPECT_GT(p.args.size(), 20u);
    expect_exactly_once(s, decode(p, lim));
}

TEST(SyncParts, ParallelEqualsSerial) {
    const SyncSnapshot s = make_snapshot(50000);
    SyncLimits lim;
    lim.max_body = 256 * 1024;
    lim.max_routes = 3000;
    lim.chunk = 512;
    ControlArena arena({});
    const SyncParts a = encode_sync(s, lim, nullptr);
    const SyncParts b = encode_sync(s, lim, &arena);
    ASSERT_TRUE(a.ok && b.ok);
    EXPECT_EQ(a.args, b.args);
    expect_exactly_once(s, decode(b, lim));
}

TEST(SyncParts, RouteWriterMatchesTheCodec) {
    std::vector<config::Route> routes;
    config::Route r;
    r.prefix = *net::parse_prefix("0.0.0.0/0");
    r.nexthops = {config::NextHop{ip("198.18.2.2"), ""}};
    routes.push_back(r);
    r.prefix = *net::parse_prefix("2001:db8:200::/48");
    r.nexthops = {config::NextHop{ip("fe80::2"), "uplink0"}, config::NextHop{ip("fe80::2"), "uplink1"}};
    routes.push_back(r);
    r.prefix = *net::parse_prefix("198.19.51.0/24");
    r.nexthops = {config::NextHop{std::nullopt, "p0"}};
    routes.push_back(r);
    r.nexthops = {config::NextHop{std::nullopt, "we\"ird\\po\nrt\x01"}, config::NextHop{ip("198.18.1.1"), "p\xc3\xa9"},
                  config::NextHop{ip("198.18.1.2"), "bad\xff"}};
    routes.push_back(r);
    const auto more = make_routes(200);  // kept: a range-for over *make_routes() would dangle
    for (const auto& x : *more) routes.push_back(x);
    for (const auto& x : routes) {
        std::string fast;
        append_route_json(fast, x);
        EXPECT_EQ(fast, dump_json(channel::to_json(x)));
    }
}

TEST(SyncParts, RouteCacheReusedUntilTheRoutesChange) {
    SyncSnapshot s = make_snapshot(30000);
    s.routes_version = 7;
    SyncLimits lim;
    lim.max_body = 256 * 1024;
    RouteCache cache;
    const SyncParts a = encode_sync(s, lim, nullptr, &cache);
    ASSERT_TRUE(a.ok && cache.valid);
    // Only the VIPs changed: the route parts come from the cache.
    s.vips.pop_back();
    const std::string marker = "{\"routes\":[]}";
    cache.parts[0] = marker;  // proves the next encode used the cache
    SyncParts b = encode_sync(s, lim, nullptr, &cache);
    ASSERT_TRUE(b.ok);
    EXPECT_EQ(b.args[0], marker);
    EXPECT_EQ(b.vips, 2u);
    // The routes changed (a new version): encoded again.
    s.routes_version = 8;
    s.route_overlay.erase(s.route_overlay.begin());
    b = encode_sync(s, lim, nullptr, &cache);
    ASSERT_TRUE(b.ok);
    EXPECT_NE(b.args[0], marker);
    expect_exactly_once(s, decode(b, lim));
}

TEST(SyncParts, EmptyStateIsNoParts) {
    SyncSnapshot s;
    const SyncParts p = encode_sync(s, SyncLimits{}, nullptr);
    ASSERT_TRUE(p.ok);
    EXPECT_TRUE(p.args.empty());  // sync_begin + sync_commit alone: the state is empty
}

TEST(SyncParts, ItemAboveTheLimitIsRefused) {
    SyncSnapshot s;
    api::Vip v;
    v.name = "big";
    v.key.address = ip("198.18.100.1");
    for (uint32_t b = 0; b < 4000; ++b) {
        api::Backend be;
        be.address = net::IpAddr::from_v4_host((10u << 24) | b);
        v.backends.push_back(be);
    }
    s.vips.push_back(v);
    SyncLimits lim;
    lim.max_body = 64 * 1024;  // a 4000-backend VIP is ~300 KB
    const SyncParts p = encode_sync(s, lim, nullptr);
    EXPECT_FALSE(p.ok);
    EXPECT_NE(p.error.find("control.max_message"), std::string::npos) << p.error;
}

TEST(SyncParts, ArenaPinsToCores) {
    // Pinned to CPU 0 (exists everywhere): TBB's threads entering the
    // arena run there only.
    cpu_set_t saved;
    pthread_getaffinity_np(pthread_self(), sizeof saved, &saved);
    ControlArena arena({0});
    EXPECT_EQ(arena.concurrency(), 1);
    std::atomic<int> wrong{0};
    arena.execute([&] {
        tbb::parallel_for(0, 64, [&](int) {
            cpu_set_t set;
            CPU_ZERO(&set);
            pthread_getaffinity_np(pthread_self(), sizeof set, &set);
            if (CPU_COUNT(&set) != 1 || !CPU_ISSET(0, &set)) ++wrong;
        });
    });
    EXPECT_EQ(wrong.load(), 0);
    // The calling thread entered the arena too: give the other tests their cores back.
    pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
}

}  // namespace
}  // namespace sluice::control
