// The control channel's desired-state diff (dataplane/channel/sync.hpp over
// reload/config_diff.hpp) against a real table builder: a sync of what runs
// is an empty batch; one changed, removed or added item is one request;
// reordered next hops and backends are no change; validation refuses what
// the config file's validator would, naming the request's items; apply's
// ops keep the request's numbering; a reload owned by the control process
// leaves routes, neighbors and VIPs alone.
#include <gtest/gtest.h>

#include <algorithm>

#include "config/load.hpp"
#include "dataplane/channel/sync.hpp"
#include "dataplane/reload/config_diff.hpp"
#include "tests/unit/dataplane/frames.hpp"
#include "tests/unit/dataplane/tables_env.hpp"

namespace sluice::test {
namespace {

using api::NeighborUpdate;
using api::RouteUpdate;
using api::VipUpdate;

net::IpAddr ip(const char* s) { return *config::parse_ip(s); }
net::Prefix pfx(const char* s) { return *config::parse_prefix(s); }

config::Config base_config() {
    config::Config c = lab_config();
    config::StaticNeighbor n;
    n.address = ip("198.18.2.50");
    n.mac = *net::parse_mac("02:00:00:00:00:50");
    n.port = "p1";
    c.neighbors = {n};
    config::VipConfig v;
    v.name = "web";
    v.key.address = ip("198.18.100.1");
    v.key.port = 80;
    for (const char* b : {"198.18.2.10", "198.18.2.11", "198.18.2.12"}) v.backends.push_back(api::Backend{ip(b)});
    c.vips = {v};
    return c;
}

dp::DesiredState desired_of(const config::Config& c) {
    dp::DesiredState d;
    d.routes = c.routes;
    d.neighbors = c.neighbors;
    d.vips = c.vips;
    return d;
}

struct Synced {
    TablesEnv env;
    config::Config cfg = base_config();
    Synced() { EXPECT_EQ(env.load(cfg), ""); }
    dp::Plan plan(dp::DesiredState& d) { return dp::plan_sync(d, env.ports, *env.builder); }
    dp::Plan plan(dp::DesiredState&& d) { return dp::plan_sync(d, env.ports, *env.builder); }
    // Plans and applies; returns the plan.
    dp::Plan commit(dp::DesiredState d) {
        dp::Plan p = dp::plan_sync(d, env.ports, *env.builder);
        EXPECT_TRUE(p.errors.empty());
        if (!p.batch.empty()) {
            auto r = env.builder->apply(p.batch);
            EXPECT_TRUE(r.applied) << (r.errors.empty() ? "" : r.errors[0].what + ": " + r.errors[0].message);
        }
        return p;
    }
};

TEST(SyncDiff, TheRunningStateIsAnEmptyBatch) {
    Synced s;
    dp::Plan p = s.plan(desired_of(s.cfg));
    EXPECT_TRUE(p.errors.empty());
    EXPECT_TRUE(p.batch.empty()) << p.batch.size();
}

TEST(SyncDiff, OneChangedRouteIsOneSet) {
    Synced s;
    dp::DesiredState d = desired_of(s.cfg);
    d.routes[0].nexthops[0].via = ip("198.18.2.3");
    dp::Plan p = s.plan(d);
    ASSERT_TRUE(p.errors.empty());
    ASSERT_EQ(p.batch.routes.size(), 1u);
    EXPECT_EQ(p.batch.routes[0].op, RouteUpdate::Op::set);
    EXPECT_EQ(p.batch.routes[0].prefix, pfx("198.19.0.0/16"));
    EXPECT_EQ(p.batch.size(), 1u);
}

TEST(SyncDiff, ARemovedRouteIsOneDelAndANewOneIsOneSet) {
    Synced s;
    dp::DesiredState d = desired_of(s.cfg);
    d.routes.erase(d.routes.begin() + 1);
    dp::Plan p = s.plan(d);
    ASSERT_EQ(p.batch.routes.size(), 1u);
    EXPECT_EQ(p.batch.routes[0].op, RouteUpdate::Op::del);
    EXPECT_EQ(p.batch.routes[0].prefix, pfx("198.19.128.0/17"));
    EXPECT_EQ(p.batch.size(), 1u);

    d = desired_of(s.cfg);
    config::Route r;
    r.prefix = pfx("198.19.20.0/24");
    r.nexthops = {config::NextHop{ip("198.18.1.2"), ""}};  // port left out: filled in from the subnet
    d.routes.push_back(r);
    p = s.plan(d);
    ASSERT_TRUE(p.errors.empty());
    ASSERT_EQ(p.batch.routes.size(), 1u);
    EXPECT_EQ(p.batch.routes[0].op, RouteUpdate::Op::set);
    ASSERT_LT(p.batch.routes[0].nexthops, p.batch.nexthop_sets.size());
    EXPECT_EQ(p.batch.nexthop_sets[p.batch.routes[0].nexthops][0].port, "p0");
    EXPECT_EQ(d.routes.back().nexthops[0].port, "p0") << "plan_sync fills the staged route's port";
}

TEST(SyncDiff, ReorderedNexthopsBackendsAndItemsAreNoChange) {
    Synced s;
    dp::DesiredState d = desired_of(s.cfg);
    std::reverse(d.routes[1].nexthops.begin(), d.routes[1].nexthops.end());
    std::reverse(d.routes.begin(), d.routes.end());
    std::reverse(d.vips[0].backends.begin(), d.vips[0].backends.end());
    for (auto& r : d.routes)
        for (auto& h : r.nexthops) h.port.clear();  // the same gateways, ports to be derived
    dp::Plan p = s.plan(d);
    EXPECT_TRUE(p.errors.empty());
    EXPECT_TRUE(p.batch.empty()) << p.batch.size();
}

TEST(SyncDiff, ABackendStateChangeIsOneVipSet) {
    Synced s;
    dp::DesiredState d = desired_of(s.cfg);
    d.vips[0].backends[1].state = api::BackendState::down;
    dp::Plan p = s.plan(d);
    ASSERT_TRUE(p.errors.empty());
    ASSERT_EQ(p.batch.vips.size(), 1u);
    EXPECT_EQ(p.batch.vips[0].op, VipUpdate::Op::set);
    EXPECT_EQ(p.batch.vips[0].vip.backends.size(), 3u);
    EXPECT_EQ(p.batch.size(), 1u);
    // Applied, the same desired state is no change any more.
    s.commit(d);
    EXPECT_TRUE(s.plan(d).batch.empty());
    // A VIP left out is deleted by key.
    d.vips.clear();
    p = s.plan(d);
    ASSERT_EQ(p.batch.vips.size(), 1u);
    EXPECT_EQ(p.batch.vips[0].op, VipUpdate::Op::del);
}

TEST(SyncDiff, ANeighborMacChangeIsOneSetAndARemovedOneIsCleared) {
    Synced s;
    dp::DesiredState d = desired_of(s.cfg);
    d.neighbors[0].mac = *net::parse_mac("02:00:00:00:00:51");
    dp::Plan p = s.plan(d);
    ASSERT_EQ(p.batch.neighbors.size(), 1u);
    EXPECT_EQ(p.batch.neighbors[0].op, NeighborUpdate::Op::set);
    EXPECT_EQ(p.batch.size(), 1u);
    d.neighbors.clear();
    p = s.plan(d);
    ASSERT_EQ(p.batch.neighbors.size(), 1u);
    EXPECT_EQ(p.batch.neighbors[0].op, NeighborUpdate::Op::clear);
    EXPECT_EQ(p.batch.neighbors[0].port, "p1");
}

TEST(SyncDiff, EmptyDesiredStateRemovesEverythingOfThoseKinds) {
    Synced s;
    dp::Plan p = s.commit(dp::DesiredState{});
    EXPECT_EQ(p.batch.routes.size(), 3u);
    EXPECT_EQ(p.batch.neighbors.size(), 1u);
    EXPECT_EQ(p.batch.vips.size(), 1u);
    EXPECT_TRUE(p.batch.addresses.empty()) << "addresses stay the file's";
    EXPECT_EQ(s.env.builder->route_count(), 0u);
    EXPECT_EQ(s.env.builder->addresses(0).size(), 2u);
    // And back: the whole state again.
    p = s.commit(desired_of(s.cfg));
    EXPECT_EQ(p.batch.routes.size(), 3u);
    EXPECT_TRUE(s.plan(desired_of(s.cfg)).batch.empty());
}

TEST(SyncDiff, ValidationNamesTheStagedItems) {
    Synced s;
    dp::DesiredState d = desired_of(s.cfg);
    config::Route bad;
    bad.prefix = pfx("198.19.21.0/24");
    bad.nexthops = {config::NextHop{ip("198.18.9.9"), ""}};  // on no connected subnet
    d.routes.push_back(bad);
    config::StaticNeighbor n;
    n.address = ip("198.18.1.77");
    n.mac = *net::parse_mac("02:00:00:00:00:77");
    n.port = "nope";
    d.neighbors.push_back(n);
    d.routes.push_back(d.routes[0]);  // a duplicate prefix
    dp::Plan p = s.plan(d);
    EXPECT_TRUE(p.batch.empty());
    std::vector<std::string> whats;
    for (const auto& e : p.errors) whats.push_back(e.what);
    EXPECT_NE(std::find(whats.begin(), whats.end(), "routes[3].nexthops[0].via"), whats.end()) << ::testing::PrintToString(whats);
    EXPECT_NE(std::find(whats.begin(), whats.end(), "neighbors[1].port"), whats.end()) << ::testing::PrintToString(whats);
    EXPECT_NE(std::find(whats.begin(), whats.end(), "routes[4].prefix"), whats.end()) << ::testing::PrintToString(whats);
}

TEST(SyncDiff, BuilderRefusalsAreRenamedToTheStagedItems) {
    api::Batch b;
    b.routes.push_back({RouteUpdate::Op::set, pfx("198.19.0.0/16"), 0});
    b.routes.push_back({RouteUpdate::Op::del, pfx("198.19.30.0/24"), 0});
    dp::DesiredState d;
    config::Route r;
    r.prefix = pfx("198.19.0.0/16");
    d.routes = {config::Route{}, r};
    auto items = dp::sync_errors({{"routes[0].nexthops", "x"}, {"routes[1]", "y"}, {"lb", "z"}}, b, d);
    ASSERT_EQ(items.size(), 3u);
    EXPECT_EQ(items[0].what, "routes[1].nexthops");
    EXPECT_EQ(items[1].what, "route 198.19.30.0/24 (running, removed by this sync)");
    EXPECT_EQ(items[2].what, "lb");
}

TEST(SyncApply, OpsKeepTheRequestsNumbering) {
    Synced s;
    channel::FieldError fe;
    dp::ApplyOps ops;
    channel::Json args = {
        {"generation", 9},
        {"routes",
         {{{"op", "set"}, {"prefix", "198.19.22.0/24"}, {"nexthops", {{{"via", "198.18.2.2"}}}}},
          {{"op", "del"}, {"prefix", "198.19.0.0/16"}},
          {{"op", "del"}, {"prefix", "198.19.99.0/24"}}}},
        {"neighbors", {{{"op", "clear"}, {"port", "p1"}, {"address", "198.18.2.50"}}}},
        {"vips",
         {{{"op", "del"}, {"address", "198.18.100.9"}, {"protocol", "tcp"}, {"port", 80}},
          {{"op", "del"}, {"address", "198.18.100.1"}, {"port", 80}}}}};
    ASSERT_TRUE(dp::decode_apply(args, &ops, &fe)) << fe.field << ": " << fe.message;
    EXPECT_EQ(ops.generation, 9u);
    dp::Plan p = dp::plan_apply(ops, s.env.ports, *s.env.builder);
    ASSERT_TRUE(p.errors.empty()) << p.errors[0].what << ": " << p.errors[0].message;
    ASSERT_EQ(p.batch.routes.size(), 3u);
    EXPECT_EQ(p.batch.routes[0].op, RouteUpdate::Op::set);
    EXPECT_EQ(p.batch.nexthop_sets[p.batch.routes[0].nexthops][0].port, "p1");
    EXPECT_EQ(p.batch.routes[2].op, RouteUpdate::Op::del) << "a del of an absent route is no change, kept";
    ASSERT_EQ(p.batch.vips.size(), 1u) << "the del of a VIP that is not there is left out";
    EXPECT_EQ(p.vip_request, std::vector<size_t>{1});
    auto r = s.env.builder->apply(p.batch);
    ASSERT_TRUE(r.applied) << r.errors[0].what << ": " << r.errors[0].message;
    EXPECT_TRUE(s.env.builder->vips().empty());
    EXPECT_TRUE(s.env.builder->static_neighbors().empty());
    // Repeated (a lost reply): nothing fails, nothing changes.
    dp::Plan again = dp::plan_apply(ops, s.env.ports, *s.env.builder);
    ASSERT_TRUE(again.errors.empty());
    auto r2 = s.env.builder->apply(again.batch);
    EXPECT_TRUE(r2.applied) << (r2.errors.empty() ? "" : r2.errors[0].what + ": " + r2.errors[0].message);
}

TEST(SyncApply, ValidationUsesTheRequestsIndexes) {
    Synced s;
    channel::FieldError fe;
    dp::ApplyOps ops;
    channel::Json args = {
        {"generation", 1},
        {"routes",
         {{{"op", "del"}, {"prefix", "198.19.0.0/16"}},
          {{"op", "set"}, {"prefix", "198.19.23.0/24"}, {"nexthops", {{{"via", "198.18.7.7"}}}}}}},
        {"vips",
         {{{"op", "set"},
           {"vip", {{"name", "web"}, {"address", "198.18.100.2"}, {"port", 80}, {"backends", channel::Json::array()}}}}}}};
    ASSERT_TRUE(dp::decode_apply(args, &ops, &fe)) << fe.field << ": " << fe.message;
    dp::Plan p = dp::plan_apply(ops, s.env.ports, *s.env.builder);
    std::vector<std::string> whats;
    for (const auto& e : p.errors) whats.push_back(e.what);
    EXPECT_NE(std::find(whats.begin(), whats.end(), "routes[1].nexthops[0].via"), whats.end())
        << ::testing::PrintToString(whats);
    bool vip_named = std::any_of(whats.begin(), whats.end(), [](const std::string& w) { return w.rfind("vips[", 0) == 0; });
    EXPECT_TRUE(vip_named) << "the duplicate VIP name" << ::testing::PrintToString(whats);
}

TEST(SyncApply, ReloadOwnedByControlKeepsRoutesNeighborsAndVips) {
    Synced s;
    config::Config file = s.cfg;
    file.routes.clear();
    file.neighbors.clear();
    file.vips.clear();
    file.ports[0].addresses.push_back(pfx("198.18.3.1/24"));
    file.icmp.rate_pps = 17;
    api::Batch b = dp::diff_config(file, *s.env.builder, dp::DiffScope::settings_and_addresses);
    EXPECT_TRUE(b.routes.empty() && b.neighbors.empty() && b.vips.empty());
    EXPECT_FALSE(b.addresses.empty());
    EXPECT_TRUE(b.icmp);
    api::Batch all = dp::diff_config(file, *s.env.builder);
    EXPECT_EQ(all.routes.size(), 3u);
    EXPECT_EQ(all.vips.size(), 1u);
}

TEST(SyncApply, DecodeErrorsNameTheField) {
    channel::FieldError fe;
    dp::DesiredState st;
    EXPECT_FALSE(dp::stage_part({{"routes", {{{"prefix", "198.18.0.1/24"}, {"nexthops", {{{"port", "p0"}}}}}}}}, &st, &fe));
    EXPECT_EQ(fe.field, "args.routes[0].prefix");
    EXPECT_FALSE(dp::stage_part({{"neighbors", "x"}}, &st, &fe));
    EXPECT_EQ(fe.field, "args.neighbors");
    EXPECT_FALSE(dp::stage_part({{"vips", {{{"name", "w"}, {"address", "198.18.100.1"}, {"backends", {{{"address", "198.18.2.4"}, {"weight", 99999}}}}}}}}, &st, &fe));
    EXPECT_EQ(fe.field, "args.vips[0].backends[0].weight");
    EXPECT_FALSE(dp::stage_part({{"bogus", 1}}, &st, &fe));
    EXPECT_EQ(fe.field, "args.bogus");
    dp::ApplyOps ops;
    EXPECT_FALSE(dp::decode_apply({{"generation", 1}, {"vips", {{{"op", "del"}, {"address", "198.18.100.1"}, {"protocol", "icmp"}}}}}, &ops, &fe));
    EXPECT_EQ(fe.field, "args.vips[0].protocol");
    EXPECT_FALSE(dp::decode_apply({{"generation", 1}, {"neighbors", {{{"op", "set"}, {"port", "p0"}, {"address", "198.18.1.5"}}}}}, &ops, &fe));
    EXPECT_EQ(fe.field, "args.neighbors[0].mac");
}

}  // namespace
}  // namespace sluice::test
