// The VIP and lb parts of the config diff (dataplane/reload/config_diff.hpp):
// diff_vips() against a running VIP map (added, removed, changed, and
// reordered lists that are no change), the lb settings in diff_config(),
// lb.flow_table_size refused on reload, and a config with VIPs through the
// table builder as start-up and reload apply it.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "config/load.hpp"
#include "dataplane/reload/config_diff.hpp"
#include "tests/unit/dataplane/frames.hpp"
#include "tests/unit/dataplane/tables_env.hpp"

namespace sluice::test {
namespace {

using api::VipUpdate;

net::IpAddr ip(const char* s) { return *config::parse_ip(s); }
net::Prefix pfx(const char* s) { return *config::parse_prefix(s); }

config::VipConfig make_vip(const char* name, const char* address, uint16_t port,
                           std::vector<const char*> backends = {"198.18.2.10", "198.18.2.11", "198.18.2.12"}) {
    config::VipConfig v;
    v.name = name;
    v.key.address = ip(address);
    v.key.port = port;
    for (const char* b : backends) v.backends.push_back(api::Backend{ip(b)});
    return v;
}

std::map<api::VipKey, api::Vip> running_of(const std::vector<config::VipConfig>& vips) {
    std::map<api::VipKey, api::Vip> m;
    for (const auto& v : vips) m[v.key] = v;
    return m;
}

api::Batch diff(const std::vector<config::VipConfig>& next, const std::map<api::VipKey, api::Vip>& running) {
    api::Batch b;
    dp::diff_vips(next, running, b);
    return b;
}

TEST(VipDiff, NewVipsAreSet) {
    std::vector<config::VipConfig> file = {make_vip("web", "198.18.100.1", 80), make_vip("dns", "198.18.100.2", 53)};
    api::Batch b = diff(file, {});
    ASSERT_EQ(b.vips.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
        EXPECT_EQ(b.vips[i].op, VipUpdate::Op::set);
        EXPECT_EQ(b.vips[i].vip, static_cast<const api::Vip&>(file[i]));
    }
    EXPECT_FALSE(b.empty());
    EXPECT_EQ(b.size(), 2u);
}

TEST(VipDiff, SameVipsAreNoChange) {
    std::vector<config::VipConfig> file = {make_vip("web", "198.18.100.1", 80), make_vip("dns", "198.18.100.2", 53)};
    EXPECT_TRUE(diff(file, running_of(file)).empty());
    EXPECT_TRUE(diff({}, {}).empty());
}

TEST(VipDiff, ReorderedBackendsAndEncapSourcesAreNoChange) {
    auto v = make_vip("web", "198.18.100.1", 80);
    v.mode = api::LbMode::ipip;
    v.encap_source = {pfx("198.18.250.0/24"), pfx("2001:db8:250::/64")};
    v.backends.push_back(api::Backend{ip("2001:db8:7::1")});
    auto running = running_of({v});
    std::reverse(v.backends.begin(), v.backends.end());
    std::reverse(v.encap_source.begin(), v.encap_source.end());
    EXPECT_TRUE(diff({v}, running).empty());
    std::rotate(v.backends.begin(), v.backends.begin() + 1, v.backends.end());
    EXPECT_TRUE(diff({v}, running).empty());
}

TEST(VipDiff, EveryChangedFieldIsASet) {
    const auto base = make_vip("web", "198.18.100.1", 80);
    const auto running = running_of({base});
    struct Case {
        const char* what;
        void (*change)(config::VipConfig&);
    } cases[] = {
        {"name", [](config::VipConfig& v) { v.name = "www"; }},
        {"mode", [](config::VipConfig& v) { v.mode = api::LbMode::nat; }},
        {"table_size", [](config::VipConfig& v) { v.table_size = 251; }},
        {"hash", [](config::VipConfig& v) { v.hash = api::LbHash::addresses; }},
        {"on_backend_down", [](config::VipConfig& v) { v.on_down = api::DownRule::drop; }},
        {"encap_source", [](config::VipConfig& v) { v.encap_source = {pfx("198.18.250.0/24")}; }},
        {"gue_port", [](config::VipConfig& v) { v.gue_port = 6080; }},
        {"weight", [](config::VipConfig& v) { v.backends[1].weight = 2; }},
        {"weight 0", [](config::VipConfig& v) { v.backends[1].weight = 0; }},
        {"state", [](config::VipConfig& v) { v.backends[2].state = api::BackendState::drain; }},
        {"backend port", [](config::VipConfig& v) { v.backends[0].port = 8080; }},
        {"backend address", [](config::VipConfig& v) { v.backends[0].address = ip("198.18.2.20"); }},
        {"backend added", [](config::VipConfig& v) { v.backends.push_back(api::Backend{ip("198.18.2.13")}); }},
        {"backend removed", [](config::VipConfig& v) { v.backends.pop_back(); }},
    };
    for (const auto& c : cases) {
        auto v = base;
        c.change(v);
        api::Batch b = diff({v}, running);
        ASSERT_EQ(b.vips.size(), 1u) << c.what;
        EXPECT_EQ(b.vips[0].op, VipUpdate::Op::set) << c.what;
        EXPECT_EQ(b.vips[0].vip, static_cast<const api::Vip&>(v)) << c.what;
    }
}

TEST(VipDiff, VipsNoLongerInTheFileAreDeleted) {
    auto web = make_vip("web", "198.18.100.1", 80);
    auto dns = make_vip("dns", "198.18.100.2", 53);
    api::Batch b = diff({web}, running_of({web, dns}));
    ASSERT_EQ(b.vips.size(), 1u);
    EXPECT_EQ(b.vips[0].op, VipUpdate::Op::del);
    EXPECT_EQ(b.vips[0].vip.key, dns.key);
    EXPECT_EQ(b.vips[0].vip.name, "dns");
    api::Batch all = diff({}, running_of({web, dns}));
    EXPECT_EQ(all.vips.size(), 2u);
    for (const auto& u : all.vips) EXPECT_EQ(u.op, VipUpdate::Op::del);
}

TEST(VipDiff, AChangedKeyIsANewVipAndADeletedOne) {
    auto web = make_vip("web", "198.18.100.1", 80);
    auto moved = web;
    moved.key.port = 8080;
    auto udp = web;
    udp.key.proto = api::LbProto::udp;
    for (const auto& next : {moved, udp}) {
        api::Batch b = diff({next}, running_of({web}));
        ASSERT_EQ(b.vips.size(), 2u);
        EXPECT_EQ(b.vips[0].op, VipUpdate::Op::set);
        EXPECT_EQ(b.vips[0].vip.key, next.key);
        EXPECT_EQ(b.vips[1].op, VipUpdate::Op::del);
        EXPECT_EQ(b.vips[1].vip.key, web.key);
    }
}

TEST(VipDiff, OnlyTheChangedVipOfManyIsSet) {
    std::vector<config::VipConfig> file;
    for (uint16_t p = 1; p <= 100; ++p) file.push_back(make_vip(("v" + std::to_string(p)).c_str(), "198.18.100.1", p));
    auto running = running_of(file);
    file[41].backends[0].state = api::BackendState::down;
    std::reverse(file.begin(), file.end());  // the order of the VIPs does not matter either
    api::Batch b = diff(file, running);
    ASSERT_EQ(b.vips.size(), 1u);
    EXPECT_EQ(b.vips[0].vip.key.port, 42);
}

// ---- through diff_config and the table builder ------------------------------

config::Config lab_with_vips() {
    config::Config c = lab_config();
    c.vips = {make_vip("web", "198.18.100.1", 80), make_vip("dns", "198.18.100.2", 53)};
    c.vips[1].key.proto = api::LbProto::udp;
    return c;
}

TEST(VipDiff, LbSettingsAreSentWhenTheyDiffer) {
    TablesEnv env;
    config::Config c = lab_config();
    EXPECT_FALSE(dp::diff_config(c, *env.builder).lb) << "the defaults are what the builder starts with";
    c.lb.tcp_timeout_s = 600;
    c.lb.new_flow_rate = 0;
    api::Batch b = dp::diff_config(c, *env.builder);
    ASSERT_TRUE(b.lb);
    EXPECT_EQ(*b.lb, c.lb);
    ASSERT_EQ(env.load(c), "");
    EXPECT_EQ(env.builder->lb(), c.lb);
    EXPECT_FALSE(dp::diff_config(c, *env.builder).lb) << "applied: no change any more";
}

TEST(VipDiff, FlowTableSizeIsRestartOnly) {
    config::Config c = lab_config();
    c.source = "/etc/sluice.yaml";
    dp::FixedAtStart fixed = dp::FixedAtStart::of(c);
    EXPECT_EQ(fixed.lb_flow_table_size, c.lb.flow_table_size);
    EXPECT_TRUE(dp::restart_only_changes(c, fixed).empty());
    c.lb.tcp_timeout_s = 1;  // run-time settings are not restart-only
    EXPECT_TRUE(dp::restart_only_changes(c, fixed).empty());
    c.lb.flow_table_size = 2048;
    auto errs = dp::restart_only_changes(c, fixed);
    ASSERT_EQ(errs.size(), 1u);
    EXPECT_EQ(errs[0],
              "/etc/sluice.yaml: lb.flow_table_size: cannot change at run time (was 1048576, now 2048); restart to "
              "change it");
}

// The channel's socket, access group and message limit are fixed when the
// data plane starts; the control process's own fields are not its concern.
TEST(VipDiff, ControlChannelFieldsAreRestartOnly) {
    config::Config c = lab_config();
    c.source = "/etc/sluice.yaml";
    dp::FixedAtStart fixed = dp::FixedAtStart::of(c);
    c.control.metrics = "127.0.0.1:9999";
    c.control.cli_socket = "/run/other/control.sock";
    c.control.cores = {0};
    EXPECT_TRUE(dp::restart_only_changes(c, fixed).empty());
    c.control.socket = "/run/other/dataplane.sock";
    c.control.group = "sluice";
    c.control.max_message = 4096;
    auto errs = dp::restart_only_changes(c, fixed);
    ASSERT_EQ(errs.size(), 3u);
    EXPECT_EQ(errs[0],
              "/etc/sluice.yaml: control.socket: cannot change at run time (was \"/run/sluice/dataplane.sock\", now "
              "\"/run/other/dataplane.sock\"); restart to change it");
    EXPECT_NE(errs[1].find("control.group: cannot change at run time (was \"\", now \"sluice\")"), std::string::npos);
    EXPECT_NE(errs[2].find("control.max_message: cannot change at run time (was 16777216, now 4096)"),
              std::string::npos);
}

TEST(VipDiff, VipsReachTheBuilderAndAReloadDiffsAgainstThem) {
    TablesEnv env;
    config::Config c = lab_with_vips();
    EXPECT_TRUE(env.builder->vips().empty());
    api::Batch first = dp::diff_config(c, *env.builder);
    EXPECT_EQ(first.vips.size(), 2u) << "the start-up batch carries the VIPs";
    ASSERT_EQ(env.load(c), "");
    ASSERT_EQ(env.builder->vips().size(), 2u);
    EXPECT_TRUE(dp::diff_config(c, *env.builder).empty()) << "the same file again: nothing to do";

    std::reverse(c.vips[0].backends.begin(), c.vips[0].backends.end());
    EXPECT_TRUE(dp::diff_config(c, *env.builder).empty()) << "reordered backends: nothing to do";

    c.vips[0].backends[0].weight = 5;
    c.vips.pop_back();
    api::Batch b = dp::diff_config(c, *env.builder);
    ASSERT_EQ(b.vips.size(), 2u);
    EXPECT_EQ(b.vips[0].op, VipUpdate::Op::set);
    EXPECT_EQ(b.vips[1].op, VipUpdate::Op::del);
    EXPECT_TRUE(b.routes.empty() && b.addresses.empty() && b.neighbors.empty());
    ASSERT_EQ(env.load(c), "");
    ASSERT_EQ(env.builder->vips().size(), 1u);
    EXPECT_TRUE(dp::diff_config(c, *env.builder).empty());
}

}  // namespace
}  // namespace sluice::test
