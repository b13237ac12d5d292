// Route files (config/route_file.hpp): the line format, errors with the
// route file's name, line and column, and validation of file routes
// against the YAML (ports, gateways, duplicates).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "config/route_file.hpp"
#include "config/rules.hpp"
#include "tests/unit/config/helpers.hpp"

namespace sluice::config {
namespace {

using cfgtest::HasError;
using cfgtest::Loads;
using cfgtest::with_ports;

// A scratch directory with a config and its route files; removed after.
class RouteFiles : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/sluice-routefile-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override {
        for (const auto& f : files_) std::remove(f.c_str());
        rmdir(dir_.c_str());
    }
    std::string write(const std::string& name, const std::string& text) {
        std::string path = dir_ + "/" + name;
        std::ofstream(path) << text;
        files_.push_back(path);
        return path;
    }
    LoadResult load_with(const std::string& routes_text, const std::string& yaml_tail = "route_files: [r.txt]\n") {
        write("r.txt", routes_text);
        return load_config_file(write("c.yaml", with_ports(yaml_tail)));
    }
    std::string dir_;
    std::vector<std::string> files_;
};

TEST_F(RouteFiles, EveryLineFormLoads) {
    auto r = load_with(
        "# full-line comment\n"
        "\n"
        "198.19.0.0/16 via 198.18.1.2\n"
        "198.19.1.0/24 via 198.18.1.2 port p0   # trailing comment\n"
        "198.19.2.0/24 port p1\n"
        "198.19.3.0/24 via 198.18.1.2 via 198.18.2.2\n"
        "2001:db8:99::/48\tvia 2001:db8:1::2\n"
        "2001:db8:98::/48 via fe80::1 port p1\r\n");
    ASSERT_TRUE(Loads(r));
    const Config& c = r.config();
    ASSERT_EQ(c.routes.size(), 6u);
    EXPECT_EQ(to_string(c.routes[0].prefix), "198.19.0.0/16");
    EXPECT_EQ(c.routes[0].nexthops[0].port, "p0") << "gateway's port is filled in, as for YAML routes";
    EXPECT_FALSE(c.routes[2].nexthops[0].via.has_value());
    EXPECT_EQ(c.routes[2].nexthops[0].port, "p1");
    EXPECT_EQ(c.routes[3].nexthops.size(), 2u);
    EXPECT_EQ(c.routes[5].nexthops[0].port, "p1");
    EXPECT_EQ(c.routes[0].mark.line, 3);
    EXPECT_EQ(c.routes[0].mark.file, 1u);
    ASSERT_EQ(c.route_files.size(), 1u);
    EXPECT_EQ(c.route_files[0], dir_ + "/r.txt") << "relative to the config's directory";
}

TEST_F(RouteFiles, YamlAndFileRoutesCombine) {
    auto r = load_with("198.19.0.0/16 via 198.18.1.2\n",
                       "routes:\n  - { prefix: 198.20.0.0/16, via: 198.18.2.2 }\nroute_files: [r.txt]\n");
    ASSERT_TRUE(Loads(r));
    EXPECT_EQ(r.config().routes.size(), 2u);
}

TEST_F(RouteFiles, SyntaxErrorsNameFileLineAndColumn) {
    auto r = load_with(
        "198.19.0.0/16 via 198.18.1.2\n"
        "198.19.0.0/33 via 198.18.1.2\n"
        "198.19.4.0/24 via\n"
        "198.19.5.0/24 gateway 198.18.1.2\n"
        "198.19.6.0/24\n"
        "198.19.7.0/24 via 198.18.1.300\n");
    ASSERT_FALSE(r.ok());
    std::string f = dir_ + "/r.txt";
    auto has = [&](int line, int col, const std::string& text) {
        for (const auto& e : r.errors())
            if (e.file == f && e.line == line && e.column == col && e.field == "route_files[0]" &&
                e.message.find(text) != std::string::npos)
                return true;
        ADD_FAILURE() << "no error at " << line << ":" << col << " with \"" << text << "\"; got:\n" << r.error_text();
        return false;
    };
    has(2, 1, "expected a prefix");
    has(3, 15, "\"via\" needs a gateway address");
    has(4, 15, "expected \"via ADDRESS\" or \"port NAME\", got \"gateway\"");
    has(5, 1, "has no next hop");
    has(6, 19, "expected a gateway IPv4 or IPv6 address");
    EXPECT_EQ(r.errors().size(), 5u) << r.error_text();
}

TEST_F(RouteFiles, ValidationErrorsPointIntoTheFile) {
    auto r = load_with(
        "198.19.0.0/16 via 198.18.1.2\n"
        "198.19.0.0/16 via 198.18.2.2\n"   // duplicate
        "198.20.0.0/16 port p9\n"          // unknown port
        "198.21.0.0/16 via 198.99.0.1\n"); // gateway not on a connected subnet
    ASSERT_FALSE(r.ok());
    std::string f = dir_ + "/r.txt";
    int found = 0;
    for (const auto& e : r.errors()) {
        EXPECT_EQ(e.file, f) << e.to_string();
        EXPECT_EQ(e.field.rfind("route_files[0]", 0), 0u) << e.to_string();
        if (e.line == 2 && e.message.find("duplicate route for 198.19.0.0/16 (first at " + f + ":1)") != std::string::npos)
            ++found;
        if (e.line == 3 && e.message.find("p9") != std::string::npos) ++found;
        if (e.line == 4) ++found;
    }
    EXPECT_EQ(found, 3) << r.error_text();
}

TEST_F(RouteFiles, MissingFileIsAnError) {
    auto r = load_config_file(write("c.yaml", with_ports("route_files: [nope.txt]\n")));
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(HasError(r, "route_files[0]", 0, "cannot read route file: No such file or directory")) << r.error_text();
}

TEST_F(RouteFiles, NotAListOfStringsIsAnError) {
    auto r = cfgtest::load(with_ports("route_files: r.txt\n"));
    EXPECT_TRUE(HasError(r, "route_files", cfgtest::kFirstFreeLine, "a list of route file paths")) << r.error_text();
    auto e = cfgtest::load(with_ports("route_files: [\"\"]\n"));
    EXPECT_TRUE(HasError(e, "route_files[0]", cfgtest::kFirstFreeLine, "empty")) << e.error_text();
}

TEST(RouteText, StopsAfterTooManyErrors) {
    std::string text;
    for (int i = 0; i < 500; ++i) text += "junk\n";
    Config c;
    std::vector<ConfigError> errs;
    parse_route_text(text, "r.txt", 1, c, errs);
    EXPECT_EQ(errs.size(), 101u);
    EXPECT_NE(errs.back().message.find("too many errors"), std::string::npos);
}

TEST(RouteText, ALargeTableParses) {
    // 200 000 routes in the benchmark's shape: a smoke test of the fast path
    // (no timing asserted).
    std::string text;
    text.reserve(200000 * 40);
    for (uint32_t i = 0; i < 200000; ++i) {
        uint32_t a = (100u << 24) | (64u << 16) | (i << 2);
        text += std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
                std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255) + "/30 via 198.18.1.2\n";
    }
    Config c;
    std::vector<ConfigError> errs;
    parse_route_text(text, "r.txt", 1, c, errs);
    EXPECT_TRUE(errs.empty());
    ASSERT_EQ(c.routes.size(), 200000u);
    EXPECT_EQ(to_string(c.routes.back().prefix), "100.76.52.252/30");
}

// The file is read in blocks of 1 MiB: lines that cross a block boundary,
// a line longer than a block and a last line without a newline all come
// out as when the file was read whole.
TEST_F(RouteFiles, LargeFilesAcrossReadBlocks) {
    std::string text;
    const uint32_t n = 120000;  // about 3.4 MiB
    for (uint32_t i = 0; i < n; ++i) {
        if (i == 5000) text += "# " + std::string(3 << 20, 'x') + "\n";  // a 3 MiB comment line
        uint32_t a = (100u << 24) | (64u << 16) | (i << 2);
        text += std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
                std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255) + "/30 via 198.18." +
                std::to_string(1 + i % 2) + ".2";
        if (i + 1 < n) text += "\n";
    }
    auto r = load_with(text);
    ASSERT_TRUE(Loads(r));
    const auto& routes = r.config().routes;
    ASSERT_EQ(routes.size(), n);
    for (uint32_t i : {0u, 1u, 4999u, 5000u, 37000u, 90001u, n - 1}) {
        uint32_t a = (100u << 24) | (64u << 16) | (i << 2);
        EXPECT_EQ(routes[i].prefix.addr.v4_host(), a) << i;
        EXPECT_EQ(routes[i].mark.line, int(i < 5000 ? i + 1 : i + 2)) << i;
        ASSERT_EQ(routes[i].nexthops.size(), 1u);
        EXPECT_EQ(routes[i].nexthops[0].port, i % 2 ? "p1" : "p0") << "filled in per gateway, route " << i;
    }
}

TEST_F(RouteFiles, ALongLineIsOneLine) {
    std::string blanks(2 << 20, ' ');
    auto r = load_with("198.19.0.0/16" + blanks + "via 198.18.1.2" + blanks + "\n198.19.1.0/24 via\n");
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(cfgtest::OnlyError(r, "route_files[0]", 2, "\"via\" needs a gateway address")) << r.error_text();
    EXPECT_EQ(r.errors()[0].column, 15);
}

TEST_F(RouteFiles, StopsAfterTooManyErrorsWhileReading) {
    std::string text;
    for (int i = 0; i < 150; ++i) text += "junk\n";
    for (int i = 0; i < 20000; ++i) text += "198.19.0.0/16 via 198.18.1.2\n";  // never looked at
    auto r = load_with(text);
    ASSERT_FALSE(r.ok());
    ASSERT_EQ(r.errors().size(), 101u);
    EXPECT_TRUE(HasError(r, "route_files[0]", 100, "too many errors; stopped reading this file at line 100"));
}

TEST_F(RouteFiles, DuplicatesAreFoundInAnyOrder) {
    // In order at first (no index needed), then out of order, then a
    // repeat of an early line and one of a line after the disorder.
    auto r = load_with(
        "198.19.1.0/24 via 198.18.1.2\n"
        "198.19.2.0/24 via 198.18.1.2\n"
        "198.19.3.0/24 via 198.18.1.2\n"
        "198.19.0.0/24 via 198.18.1.2\n"
        "0.0.0.0/0 via 198.18.1.2\n"
        "::/0 via 2001:db8:1::2\n"
        "198.19.2.0/24 via 198.18.2.2\n"
        "2001:DB8:99::/48 via 2001:db8:1::2\n"
        "198.19.0.0/24 port p1\n"
        "2001:db8:99:0::/48 via 2001:db8:2::2\n");
    ASSERT_FALSE(r.ok());
    std::string f = dir_ + "/r.txt";
    EXPECT_TRUE(HasError(r, "route_files[0].prefix", 7, "duplicate route for 198.19.2.0/24 (first at " + f + ":2)"))
        << r.error_text();
    EXPECT_TRUE(HasError(r, "route_files[0].prefix", 9, "duplicate route for 198.19.0.0/24 (first at " + f + ":4)"))
        << r.error_text();
    EXPECT_TRUE(HasError(r, "route_files[0].prefix", 10,
                         "duplicate route for 2001:db8:99::/48 (first at " + f + ":8)"))
        << r.error_text();
    EXPECT_EQ(r.errors().size(), 3u) << "0.0.0.0/0 and ::/0 are different routes:\n" << r.error_text();
}

// Next-hop checks are remembered per (gateway, port) only when they pass;
// every route with a failing next hop still gets its own error.
TEST_F(RouteFiles, EveryBadNextHopIsReportedDespiteTheCache) {
    auto r = load_with(
        "198.19.1.0/24 via 198.18.1.2\n"
        "198.19.2.0/24 via 198.18.1.2 port p1\n"
        "198.19.3.0/24 via 198.18.1.2\n"
        "198.19.4.0/24 via 198.18.1.2 port p1\n"
        "2001:db8:99::/48 via 198.18.1.2\n"
        "2001:db8:98::/48 via 198.18.1.2\n"
        "198.19.5.0/24 via 198.18.1.2 via 198.18.1.2 port p0\n"
        "198.19.6.0/24 port p0 port p0\n"
        "198.19.7.0/24 port p9\n"
        "198.19.8.0/24 port p9\n");
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(HasError(r, "route_files[0].nexthops[0].via", 2, "not in a connected subnet of port p1"));
    EXPECT_TRUE(HasError(r, "route_files[0].nexthops[0].via", 4, "not in a connected subnet of port p1"));
    EXPECT_TRUE(HasError(r, "route_files[0].nexthops[0].via", 5, "gateway 198.18.1.2 is IPv4 but the route prefix"));
    EXPECT_TRUE(HasError(r, "route_files[0].nexthops[0].via", 6, "gateway 198.18.1.2 is IPv4 but the route prefix"));
    EXPECT_TRUE(HasError(r, "route_files[0].nexthops[1]", 7, "duplicate next hop 198.18.1.2 on port p0 in this route"));
    EXPECT_TRUE(HasError(r, "route_files[0].nexthops[1]", 8, "duplicate on-link next hop on port p0 in this route"));
    EXPECT_TRUE(HasError(r, "route_files[0].nexthops[0].port", 9, "unknown port \"p9\""));
    EXPECT_TRUE(HasError(r, "route_files[0].nexthops[0].port", 10, "unknown port \"p9\""));
    EXPECT_EQ(r.errors().size(), 8u) << r.error_text();
}

TEST_F(RouteFiles, AFileLargerThanTheLimitIsRefusedWhole) {
    // Only checks the message's form: a real 256 MiB file is too slow for a
    // unit test, and a directory fails the same way (on the first read).
    std::string sub = dir_ + "/sub";
    ASSERT_EQ(mkdir(sub.c_str(), 0700), 0);
    auto r = load_with("", "route_files: [sub]\n");
    rmdir(sub.c_str());
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(HasError(r, "route_files[0]", 0, "cannot read route file: Is a directory")) << r.error_text();
    EXPECT_TRUE(r.errors().size() == 1u) << r.error_text();
}

// Validation fills in each gateway's port as it checks it; the result is
// what connected_port_for() says for every gateway, on ports with several
// subnets of both families.
TEST_F(RouteFiles, FilledPortsAreTheConnectedPorts) {
    const std::string ports =
        "ports:\n"
        "  - { name: a, device: net_tap0, addresses: [198.18.1.1/24, 198.18.4.1/22, \"2001:db8:1::1/64\"] }\n"
        "  - { name: b, device: net_tap1, addresses: [198.18.2.1/25, \"2001:db8:2::1/64\", \"2001:db8:3::1/48\"] }\n"
        "  - { name: c, device: net_tap2, addresses: [198.18.2.129/25] }\n"
        "route_files: [r.txt]\n";
    const char* gateways[] = {"198.18.1.2", "198.18.5.7", "198.18.2.2", "198.18.2.130", "198.18.2.126",
                              "198.18.4.200"};
    const char* gateways6[] = {"2001:db8:1::2", "2001:db8:2::9", "2001:db8:3:77::1"};
    std::string text;
    for (int i = 0; i < 3000; ++i) {
        text += "198.19." + std::to_string(i / 256) + "." + std::to_string(i % 256) + "/32 via " + gateways[i % 6];
        if (i % 7 == 0) text += std::string(" via ") + gateways[(i + 1) % 6];
        text += "\n2001:db8:99:" + std::to_string(i) + "::/64 via " + gateways6[i % 3] + "\n";
    }
    write("r.txt", text);
    auto r = load_config_file(write("c.yaml", ports));
    ASSERT_TRUE(Loads(r));
    size_t checked = 0;
    for (const auto& route : r.config().routes)
        for (const auto& h : route.nexthops) {
            ASSERT_TRUE(h.via);
            EXPECT_EQ(h.port, rules::connected_port_for(r.config(), *h.via)) << to_string(*h.via);
            ++checked;
        }
    EXPECT_EQ(checked, 6000u + 429u);
}

}  // namespace
}  // namespace sluice::config
