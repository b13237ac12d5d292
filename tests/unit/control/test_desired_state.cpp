// The desired state (control/daemon/desired_state.hpp): the effective
// backend state rules, the operator's changes and their validation, undo,
// the state file's round trip and atomic write, and reload clearing it.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "control/api/codec.hpp"
#include "control/daemon/desired_state.hpp"
#include "tests/unit/control/fake_dataplane.hpp"
#include "tests/unit/control/helpers.hpp"

namespace sluice::control {
namespace {

using api::BackendState;
using test::parse_or_die;
using test::test_yaml;

using test::ip;
using test::pfx;

config::Config cfg() { return parse_or_die(test_yaml("/tmp/x/dp.sock", "/tmp/x/cli.sock")); }

BackendState state_of(const DesiredState& ds, const char* vip, const char* addr, uint16_t port = 0) {
    auto b = ds.backend(BackendKey{vip, ip(addr), port});
    EXPECT_TRUE(b.has_value()) << vip << " " << addr;
    return b ? b->effective : BackendState::up;
}

TEST(EffectiveState, Rules) {
    using S = BackendState;
    // Health down wins over everything.
    EXPECT_EQ(effective_state(S::up, false, false), S::down);
    EXPECT_EQ(effective_state(S::up, true, false), S::down);
    EXPECT_EQ(effective_state(S::drain, false, false), S::down);
    // Else drain when the operator drains or the config says drain.
    EXPECT_EQ(effective_state(S::up, true, true), S::drain);
    EXPECT_EQ(effective_state(S::up, true, std::nullopt), S::drain);
    EXPECT_EQ(effective_state(S::drain, false, true), S::drain);
    EXPECT_EQ(effective_state(S::drain, false, std::nullopt), S::drain);
    // Else the configured state.
    EXPECT_EQ(effective_state(S::up, false, true), S::up);
    EXPECT_EQ(effective_state(S::up, false, std::nullopt), S::up);
    EXPECT_EQ(effective_state(S::down, false, true), S::down);
    EXPECT_EQ(effective_state(S::down, true, true), S::down);
}

TEST(DesiredState, FromConfig) {
    DesiredState ds;
    ds.load_config(cfg());
    EXPECT_EQ(ds.route_count(), 2u);
    EXPECT_EQ(ds.neighbor_count(), 1u);
    EXPECT_EQ(ds.vip_names(), (std::vector<std::string>{"web", "dns"}));
    EXPECT_EQ(state_of(ds, "web", "198.18.2.10"), BackendState::up);
    EXPECT_EQ(state_of(ds, "web", "198.18.2.12"), BackendState::drain);
    auto v = ds.effective_vip("web");
    ASSERT_TRUE(v);
    ASSERT_EQ(v->backends.size(), 3u);
    EXPECT_EQ(v->backends[1].weight, 2u);
}

TEST(DesiredState, HealthAndDrain) {
    DesiredState ds;
    ds.load_config(cfg());
    const BackendKey a{"web", ip("198.18.2.10"), 0};
    EXPECT_FALSE(ds.set_health(a, true));  // up on an up backend: no change
    EXPECT_TRUE(ds.set_health(a, false));
    EXPECT_EQ(state_of(ds, "web", "198.18.2.10"), BackendState::down);
    // The operator drains it while it is down: still down.
    auto o = ds.apply(BackendSet{a, std::nullopt, true});
    ASSERT_TRUE(o.ok);
    // The data plane's state stays down, but the admin state changed: it
    // must be persisted, so it is a change (the apply is a no-op there).
    EXPECT_TRUE(o.changed);
    EXPECT_EQ(state_of(ds, "web", "198.18.2.10"), BackendState::down);
    EXPECT_TRUE(ds.set_health(a, true));
    EXPECT_EQ(state_of(ds, "web", "198.18.2.10"), BackendState::drain);
    // admin up: back to the configured state.
    o = ds.apply(BackendSet{a, std::nullopt, false});
    ASSERT_TRUE(o.ok);
    EXPECT_TRUE(o.changed);
    EXPECT_EQ(o.vips, std::vector<std::string>{"web"});
    EXPECT_EQ(state_of(ds, "web", "198.18.2.10"), BackendState::up);
    // admin up does not override a configured drain.
    const BackendKey c{"web", ip("198.18.2.12"), 0};
    o = ds.apply(BackendSet{c, std::nullopt, false});
    ASSERT_TRUE(o.ok);
    EXPECT_FALSE(o.changed);
    EXPECT_EQ(state_of(ds, "web", "198.18.2.12"), BackendState::drain);
    // A VIP without health ignores health results it never gets; a backend
    // of it has no health.
    EXPECT_FALSE(ds.backend(BackendKey{"dns", ip("198.18.2.20"), 0})->checked);
    EXPECT_TRUE(ds.backend(a)->checked);
}

TEST(DesiredState, DrainIsAChangeWhenUp) {
    DesiredState ds;
    ds.load_config(cfg());
    const BackendKey a{"web", ip("198.18.2.10"), 0};
    auto o = ds.apply(BackendSet{a, std::nullopt, true});
    ASSERT_TRUE(o.ok);
    EXPECT_TRUE(o.changed);
    EXPECT_EQ(state_of(ds, "web", "198.18.2.10"), BackendState::drain);
    // Again: idempotent.
    o = ds.apply(BackendSet{a, std::nullopt, true});
    EXPECT_TRUE(o.ok);
    EXPECT_FALSE(o.changed);
}

TEST(DesiredState, BackendAddDelSetAndUndo) {
    DesiredState ds;
    ds.load_config(cfg());
    api::Backend nb;
    nb.address = ip("198.18.2.13");
    nb.weight = 5;
    auto o = ds.apply(BackendAdd{"web", nb});
    ASSERT_TRUE(o.ok);
    EXPECT_TRUE(o.changed);
    auto v = ds.effective_vip("web");
    ASSERT_EQ(v->backends.size(), 4u);
    EXPECT_EQ(v->backends[3].address, nb.address);
    EXPECT_EQ(v->backends[3].weight, 5u);
    EXPECT_TRUE(ds.backend(BackendKey{"web", nb.address, 0})->from_operator);
    // Adding the same again: no change.
    EXPECT_FALSE(ds.apply(BackendAdd{"web", nb}).changed);

    // Replace a configured backend (weight 2 -> 7).
    api::Backend rb;
    rb.address = ip("198.18.2.11");
    rb.weight = 7;
    o = ds.apply(BackendAdd{"web", rb});
    ASSERT_TRUE(o.changed);
    EXPECT_EQ(ds.backend(BackendKey{"web", rb.address, 0})->configured.weight, 7u);
    ds.undo(o.undo);
    EXPECT_EQ(ds.backend(BackendKey{"web", rb.address, 0})->configured.weight, 2u);

    // Weight through backend_set, then undo.
    const BackendKey a{"web", ip("198.18.2.10"), 0};
    o = ds.apply(BackendSet{a, 9u, std::nullopt});
    ASSERT_TRUE(o.changed);
    EXPECT_EQ(ds.effective_vip("web")->backends[0].weight, 9u);
    ds.undo(o.undo);
    EXPECT_EQ(ds.effective_vip("web")->backends[0].weight, 1u);

    // Delete a configured backend, then undo; delete an absent one.
    o = ds.apply(BackendDel{a});
    ASSERT_TRUE(o.changed);
    EXPECT_FALSE(ds.backend(a).has_value());
    EXPECT_EQ(ds.effective_vip("web")->backends.size(), 3u);
    ds.undo(o.undo);
    EXPECT_TRUE(ds.backend(a).has_value());
    o = ds.apply(BackendDel{BackendKey{"web", ip("198.18.2.99"), 0}});
    EXPECT_TRUE(o.ok);
    EXPECT_FALSE(o.changed);
    // Deleting the operator's own backend forgets it altogether.
    o = ds.apply(BackendDel{BackendKey{"web", nb.address, 0}});
    EXPECT_TRUE(o.changed);
    EXPECT_EQ(ds.overlay().backends.count(BackendKey{"web", nb.address, 0}), 0u);
}

TEST(DesiredState, BadRequests) {
    DesiredState ds;
    ds.load_config(cfg());
    api::Backend nb;
    nb.address = ip("198.18.2.13");
    auto o = ds.apply(BackendAdd{"nope", nb});
    EXPECT_FALSE(o.ok);
    EXPECT_EQ(o.error.code, channel::ErrorCode::bad_field);
    EXPECT_EQ(o.error.field, "args.vip");
    EXPECT_NE(o.error.message.find("web, dns"), std::string::npos) << o.error.message;

    o = ds.apply(BackendSet{BackendKey{"web", ip("198.18.2.99"), 0}, 3u, std::nullopt});
    EXPECT_FALSE(o.ok);
    EXPECT_EQ(o.error.field, "args.address");

    config::Route r;
    r.prefix = pfx("198.19.113.0/24");
    r.nexthops.push_back(config::NextHop{ip("198.18.2.2"), "p9"});
    o = ds.apply(RouteSet{r});
    EXPECT_FALSE(o.ok);
    EXPECT_EQ(o.error.field, "args.nexthops[0].port");
    r.nexthops[0] = config::NextHop{ip("2001:db8:2::2"), ""};
    o = ds.apply(RouteSet{r});
    EXPECT_FALSE(o.ok);
    EXPECT_EQ(o.error.field, "args.nexthops[0].via");
    r.prefix = pfx("2001:db8:300::/48");
    r.nexthops[0] = config::NextHop{ip("fe80::1"), ""};
    o = ds.apply(RouteSet{r});
    EXPECT_FALSE(o.ok);
    EXPECT_EQ(o.error.field, "args.nexthops[0].port");
    EXPECT_TRUE(ds.overlay().empty()) << "refused changes leave nothing behind";
}

TEST(DesiredState, Routes) {
    DesiredState ds;
    ds.load_config(cfg());
    config::Route r;
    r.prefix = pfx("198.19.113.0/24");
    r.nexthops.push_back(config::NextHop{ip("198.18.2.2"), "p1"});
    auto o = ds.apply(RouteSet{r});
    ASSERT_TRUE(o.ok);
    EXPECT_TRUE(o.changed);
    ASSERT_EQ(o.route_items.size(), 1u);
    EXPECT_EQ(o.route_items[0]["op"], "set");
    EXPECT_EQ(o.route_items[0]["prefix"], "198.19.113.0/24");
    EXPECT_EQ(ds.route_count(), 3u);
    EXPECT_FALSE(ds.apply(RouteSet{r}).changed) << "the same route again";

    // Delete a route of the file; the count drops, the undo brings it back.
    o = ds.apply(RouteDel{pfx("198.19.0.0/16")});
    ASSERT_TRUE(o.changed);
    EXPECT_EQ(o.route_items[0]["op"], "del");
    EXPECT_EQ(ds.route_count(), 2u);
    EXPECT_FALSE(ds.route(pfx("198.19.0.0/16")).has_value());
    ds.undo(o.undo);
    EXPECT_TRUE(ds.route(pfx("198.19.0.0/16")).has_value());
    EXPECT_EQ(ds.route_count(), 3u);
    // Deleting an absent route is no change.
    o = ds.apply(RouteDel{pfx("198.19.92.0/24")});
    EXPECT_TRUE(o.ok);
    EXPECT_FALSE(o.changed);
    // The operator's own route deleted: forgotten (no tombstone).
    o = ds.apply(RouteDel{r.prefix});
    EXPECT_TRUE(o.changed);
    EXPECT_EQ(ds.overlay().routes.count(r.prefix), 0u);

    auto snap = ds.snapshot();
    EXPECT_EQ(snap.route_count(), 2u);
}

TEST(DesiredState, HealthTargetsResolvePorts) {
    DesiredState ds;
    ds.load_config(cfg());
    api::Backend nb;
    nb.address = ip("198.18.2.13");
    nb.port = 8080;
    ASSERT_TRUE(ds.apply(BackendAdd{"web", nb}).ok);
    auto t = ds.health_targets();
    ASSERT_EQ(t.size(), 4u);     // web's backends only: dns has no health spec
    EXPECT_EQ(t[0].port, 80);    // the VIP's port
    EXPECT_EQ(t[3].port, 8080);  // the backend's port
    auto c = cfg();
    c.vips[0].health->port = 9000;
    ds.load_config(c);
    for (const auto& x : ds.health_targets()) EXPECT_EQ(x.port, 9000);  // health.port first
}

TEST(StateFile, PathNextToTheCliSocket) {
    EXPECT_EQ(state_file_path("/run/sluice/control.sock"), "/run/sluice/control-state.json");
    EXPECT_EQ(state_file_path("/control.sock"), "/control-state.json");
    EXPECT_EQ(state_file_path("control.sock"), "./control-state.json");
}

Overlay sample_overlay() {
    Overlay o;
    config::Route r;
    r.prefix = pfx("198.19.113.0/24");
    r.nexthops.push_back(config::NextHop{ip("198.18.2.2"), "p1"});
    o.routes[r.prefix] = r;
    o.routes[pfx("198.19.0.0/16")] = std::nullopt;
    BackendOverlay drained;
    drained.drained = true;
    drained.weight = 4;
    o.backends[BackendKey{"web", ip("198.18.2.10"), 0}] = drained;
    BackendOverlay added;
    api::Backend b;
    b.address = ip("2001:db8:2::30");
    b.port = 8080;
    b.weight = 3;
    added.added = b;
    o.backends[BackendKey{"web", b.address, 8080}] = added;
    BackendOverlay removed;
    removed.removed = true;
    o.backends[BackendKey{"web", ip("198.18.2.11"), 0}] = removed;
    return o;
}

TEST(StateFile, JsonRoundTrip) {
    const Overlay o = sample_overlay();
    Overlay back;
    std::string err;
    ASSERT_TRUE(overlay_from_json(overlay_to_json(o), "f", &back, &err)) << err;
    EXPECT_EQ(back.routes.size(), o.routes.size());
    for (const auto& [p, r] : o.routes) {
        ASSERT_TRUE(back.routes.count(p));
        EXPECT_EQ(back.routes[p].has_value(), r.has_value());
        if (r) {
            EXPECT_EQ(back.routes[p]->nexthops, r->nexthops);
        }
    }
    EXPECT_EQ(back.backends, o.backends);
}

TEST(StateFile, ErrorsNameFileAndField) {
    Overlay out;
    std::string err;
    channel::Json j = overlay_to_json(sample_overlay());
    j["routes"][0]["prefix"] = "198.19.113.0/33";
    EXPECT_FALSE(overlay_from_json(j, "/run/sluice/control-state.json", &out, &err));
    EXPECT_EQ(err.rfind("/run/sluice/control-state.json: routes[0].prefix: ", 0), 0u) << err;
    j = overlay_to_json(sample_overlay());
    j["backends"][0]["admin"] = "sideways";
    EXPECT_FALSE(overlay_from_json(j, "f", &out, &err));
    EXPECT_NE(err.find("backends[0].admin"), std::string::npos) << err;
    j["version"] = 7;
    EXPECT_FALSE(overlay_from_json(j, "f", &out, &err));
    EXPECT_NE(err.find("version"), std::string::npos) << err;
}

TEST(StateFile, AtomicSaveLoadAndRestart) {
    test::TempDir dir;
    const std::string path = state_file_path(dir.file("control.sock"));
    DesiredState ds;
    ds.load_config(cfg());
    ASSERT_TRUE(ds.apply(BackendSet{BackendKey{"web", ip("198.18.2.10"), 0}, 4u, true}).changed);
    config::Route r;
    r.prefix = pfx("198.19.113.0/24");
    r.nexthops.push_back(config::NextHop{ip("198.18.2.2"), "p1"});
    ASSERT_TRUE(ds.apply(RouteSet{r}).changed);
    std::string err;
    ASSERT_TRUE(save_state_file(path, ds.overlay(), &err)) << err;
    // Only the file itself: the temporary was renamed over it.
    size_t files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
        ++files;
        EXPECT_EQ(e.path().string(), path);
    }
    EXPECT_EQ(files, 1u);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    // A "restarted" control process: config, then the state file.
    DesiredState again;
    again.load_config(cfg());
    Overlay o;
    bool exists = false;
    ASSERT_TRUE(load_state_file(path, &o, &exists, &err)) << err;
    EXPECT_TRUE(exists);
    std::vector<std::string> dropped;
    again.set_overlay(o, &dropped);
    EXPECT_TRUE(dropped.empty());
    EXPECT_EQ(again.effective_vips(), ds.effective_vips());
    EXPECT_EQ(again.route_count(), 3u);
    EXPECT_EQ(again.backend(BackendKey{"web", ip("198.18.2.10"), 0})->effective, BackendState::drain);

    // Reload: the file is the desired state again and the state file goes.
    again.load_config(cfg());
    EXPECT_TRUE(again.overlay().empty());
    EXPECT_EQ(again.route_count(), 2u);
    EXPECT_EQ(again.backend(BackendKey{"web", ip("198.18.2.10"), 0})->effective, BackendState::up);
    ASSERT_TRUE(save_state_file(path, again.overlay(), &err)) << err;
    EXPECT_FALSE(std::filesystem::exists(path));
    ASSERT_TRUE(load_state_file(path, &o, &exists, &err));
    EXPECT_FALSE(exists);
    EXPECT_TRUE(o.empty());
}

TEST(StateFile, DamagedFileIsAnError) {
    test::TempDir dir;
    const std::string path = dir.file("control-state.json");
    test::write_file(path, "{\"version\": 1, \"routes\": [");
    Overlay o;
    bool exists = false;
    std::string err;
    EXPECT_FALSE(load_state_file(path, &o, &exists, &err));
    EXPECT_NE(err.find(path), std::string::npos) << err;
}

TEST(StateFile, EntriesForVipsNoLongerConfiguredAreDropped) {
    DesiredState ds;
    ds.load_config(cfg());
    Overlay o = sample_overlay();
    BackendOverlay x;
    x.drained = true;
    o.backends[BackendKey{"gone", ip("198.18.2.40"), 0}] = x;  // VIP gone
    o.backends[BackendKey{"web", ip("198.18.2.77"), 0}] = x;   // backend gone
    std::vector<std::string> dropped;
    ds.set_overlay(o, &dropped);
    EXPECT_EQ(dropped.size(), 2u);
    EXPECT_EQ(ds.overlay().backends.size(), 3u);
}

}  // namespace
}  // namespace sluice::control
