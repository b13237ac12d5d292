// parse_config / load_config_file: the YAML format, typing errors with field
// paths and line numbers, defaults, the example files, and robustness.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/load.hpp"
#include "tests/unit/config/helpers.hpp"

#ifndef SLUICE_SOURCE_ROOT
#error "SLUICE_SOURCE_ROOT must name the source tree (see tests/unit/config/meson.build)"
#endif

namespace sluice::config {
namespace {

using cfgtest::HasError;
using cfgtest::kFirstFreeLine;
using cfgtest::load;
using cfgtest::Loads;
using cfgtest::OnlyError;
using cfgtest::with_ports;

namespace fs = std::filesystem;

const fs::path kExamples = fs::path(SLUICE_SOURCE_ROOT) / "config" / "examples";

using cfgtest::ip;
using cfgtest::pfx;

// ---- example files --------------------------------------------------------

TEST(Examples, EveryExampleLoads) {
    size_t n = 0;
    for (const auto& entry : fs::directory_iterator(kExamples)) {
        if (entry.path().extension() != ".yaml" && entry.path().extension() != ".yml") continue;
        ++n;
        auto r = load_config_file(entry.path().string());
        EXPECT_TRUE(Loads(r)) << entry.path();
        if (r.ok()) {
            EXPECT_EQ(r.config().source, entry.path().string());
        }
    }
    EXPECT_GE(n, 3u) << "expected lab-tap, bare-metal and null-bench in " << kExamples;
}

LoadResult example(const char* name) { return load_config_file((kExamples / name).string()); }

TEST(Examples, LabTap) {
    auto r = example("lab-tap.yaml");
    ASSERT_TRUE(Loads(r));
    const Config& c = r.config();
    ASSERT_EQ(c.ports.size(), 2u);
    EXPECT_EQ(c.ports[0].device, "net_tap0,iface=sl0");
    EXPECT_EQ(c.ports[1].device, "net_tap1,iface=sl1");
    EXPECT_EQ(c.ports[0].addresses, (std::vector<Prefix>{pfx("198.18.1.1/24"), pfx("2001:db8:1::1/64")}));
    EXPECT_EQ(c.ports[1].addresses, (std::vector<Prefix>{pfx("198.18.2.1/24"), pfx("2001:db8:2::1/64")}));
    EXPECT_TRUE(c.workers.idle.enabled);
    ASSERT_EQ(c.routes.size(), 2u);
    EXPECT_EQ(c.routes[0].prefix, pfx("198.19.0.0/16"));
    EXPECT_EQ(c.routes[0].nexthops, (std::vector<NextHop>{{ip("198.18.2.2"), "p1"}}));
    EXPECT_EQ(c.routes[1].prefix, pfx("2001:db8:100::/48"));
    EXPECT_EQ(c.routes[1].nexthops, (std::vector<NextHop>{{ip("2001:db8:2::2"), "p1"}}));
}

TEST(Examples, BareMetal) {
    auto r = example("bare-metal.yaml");
    ASSERT_TRUE(Loads(r));
    const Config& c = r.config();
    ASSERT_EQ(c.ports.size(), 2u);
    EXPECT_EQ(c.ports[0].device, "0000:01:00.0");
    EXPECT_EQ(c.ports[1].device, "0000:01:00.1");
    for (const auto& p : c.ports) EXPECT_EQ(p.rx_queues, 4) << p.name;
    EXPECT_FALSE(c.workers.idle.enabled);
    bool ecmp_default = false;
    for (const auto& rt : c.routes)
        if (rt.prefix.len == 0 && rt.prefix.addr.is_v4()) ecmp_default = rt.nexthops.size() >= 2;
    EXPECT_TRUE(ecmp_default) << "no IPv4 ECMP default route";
    EXPECT_FALSE(c.neighbors.empty());
}

TEST(Examples, NullBench) {
    auto r = example("null-bench.yaml");
    ASSERT_TRUE(Loads(r));
    const Config& c = r.config();
    ASSERT_EQ(c.ports.size(), 2u);
    EXPECT_EQ(c.ports[0].device, "net_null0");
    EXPECT_EQ(c.ports[1].device, "net_null1");
    ASSERT_FALSE(c.routes.empty());
    // Every gateway has a static neighbor, so forwarding never waits on ARP/ND.
    for (const auto& rt : c.routes)
        for (const auto& h : rt.nexthops) {
            ASSERT_TRUE(h.via);
            bool found = false;
            for (const auto& n : c.neighbors) found |= n.address == *h.via && n.port == h.port;
            EXPECT_TRUE(found) << "no static neighbor for gateway " << to_string(*h.via);
        }
}

// Examples only use documentation/benchmark space: 198.18.0.0/15, 2001:db8::/32
// (plus link-local gateways and default routes).
TEST(Examples, UseOnlyTestAddresses) {
    const Prefix v4 = pfx("198.18.0.0/15"), v6 = pfx("2001:db8::/32"), ll = pfx("fe80::/10");
    auto allowed = [&](const IpAddr& a) { return contains(v4, a) || contains(v6, a) || contains(ll, a); };
    for (const auto& entry : fs::directory_iterator(kExamples)) {
        auto r = load_config_file(entry.path().string());
        ASSERT_TRUE(Loads(r)) << entry.path();
        const Config& c = r.config();
        for (const auto& p : c.ports)
            for (const auto& a : p.addresses) EXPECT_TRUE(allowed(a.addr)) << entry.path() << ": " << to_string(a);
        for (const auto& rt : c.routes) {
            if (rt.prefix.len > 0) {
                EXPECT_TRUE(allowed(rt.prefix.addr)) << entry.path() << ": " << to_string(rt.prefix);
            }
            for (const auto& h : rt.nexthops) {
                if (h.via) {
                    EXPECT_TRUE(allowed(*h.via)) << entry.path() << ": " << to_string(*h.via);
                }
            }
        }
        for (const auto& n : c.neighbors) EXPECT_TRUE(allowed(n.address)) << entry.path();
    }
}

// ---- the format -----------------------------------------------------------

TEST(Parse, DefaultsApplied) {
    auto r = load("ports:\n  - name: p0\n    device: net_null0\n");
    ASSERT_TRUE(Loads(r));
    const Config& c = r.config();
    EXPECT_EQ(c.source, "test.yaml");
    EXPECT_EQ(c.mbufs, 16383u);
    EXPECT_EQ(c.mbuf_cache, 256);
    EXPECT_EQ(c.workers.burst, 32);
    EXPECT_FALSE(c.workers.idle.enabled);
    EXPECT_EQ(c.workers.idle.pause_after, 64u);
    EXPECT_EQ(c.workers.idle.sleep_after, 1024u);
    EXPECT_EQ(c.workers.idle.sleep_us, 100u);
    EXPECT_EQ(c.neighbor.capacity, 4096u);
    EXPECT_EQ(c.neighbor.reachable_ms, 30000u);
    EXPECT_EQ(c.neighbor.retrans_ms, 1000u);
    EXPECT_EQ(c.neighbor.max_probes, 3u);
    EXPECT_EQ(c.neighbor.max_pending, 16u);
    EXPECT_EQ(c.neighbor.gc_ms, 60000u);
    EXPECT_EQ(c.icmp.rate_pps, 1000u);
    EXPECT_EQ(c.icmp.burst, 100u);
    ASSERT_EQ(c.ports.size(), 1u);
    const PortConfig& p = c.ports[0];
    EXPECT_EQ(p.name, "p0");
    EXPECT_EQ(p.device, "net_null0");
    EXPECT_EQ(p.rx_queues, 1);
    EXPECT_EQ(p.rx_desc, 1024);
    EXPECT_EQ(p.tx_desc, 1024);
    EXPECT_EQ(p.mtu, 1500);
    EXPECT_FALSE(p.mac);
    EXPECT_FALSE(p.promiscuous);
    EXPECT_TRUE(p.addresses.empty());
    EXPECT_TRUE(c.routes.empty());
    EXPECT_TRUE(c.neighbors.empty());
}

TEST(Parse, DefaultSourceName) {
    auto r = parse_config("ports: [{name: p0, device: net_null0}]");
    ASSERT_TRUE(Loads(r));
    EXPECT_EQ(r.config().source, "<string>");
    auto bad = parse_config("ports: 5");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.errors()[0].file, "<string>");
}

// The format as documented, every field set.
constexpr const char* kFull = R"(mbufs: 32767
mbuf_cache: 128
workers:
  burst: 64
  idle_backoff:
    enabled: true
    pause_after: 10
    sleep_after: 20
    sleep_us: 30
neighbor:
  capacity: 1024
  reachable_ms: 20000
  retrans_ms: 500
  max_probes: 5
  max_pending: 8
  gc_ms: 90000
icmp:
  rate_pps: 50
  burst: 10
ports:
  - name: p0
    device: "net_tap0,iface=sl0"
    rx_queues: 2
    rx_desc: 512
    tx_desc: 2048
    mtu: 9000
    mac: "02:00:00:00:00:01"
    promiscuous: true
    addresses: ["198.18.1.1/24", "2001:db8:1::1/64"]
  - name: p1
    device: net_tap1
    addresses: [198.18.2.1/24, 2001:db8:2::1/64]
routes:
  - prefix: 198.19.0.0/16
    via: 198.18.1.2
  - prefix: 2001:db8:99::/48
    via: [2001:db8:1::2, 2001:db8:2::2]
  - prefix: 198.18.50.0/24
    port: p1
  - prefix: 2001:db8:77::/64
    nexthops:
      - { via: "fe80::1", port: p0 }
  - prefix: 198.18.60.0/24
    via: 198.18.2.9
    port: p1
neighbors:
  - { address: 198.18.1.2, mac: "02:00:00:00:01:02", port: p0 }
  - address: fe80::2
    mac: "02:00:00:00:01:03"
    port: p1
)";

TEST(Parse, EveryFieldRead) {
    auto r = load(kFull);
    ASSERT_TRUE(Loads(r));
    const Config& c = r.config();
    EXPECT_EQ(c.mbufs, 32767u);
    EXPECT_EQ(c.mbuf_cache, 128);
    EXPECT_EQ(c.workers.burst, 64);
    EXPECT_TRUE(c.workers.idle.enabled);
    EXPECT_EQ(c.workers.idle.pause_after, 10u);
    EXPECT_EQ(c.workers.idle.sleep_after, 20u);
    EXPECT_EQ(c.workers.idle.sleep_us, 30u);
    EXPECT_EQ(c.neighbor.capacity, 1024u);
    EXPECT_EQ(c.neighbor.reachable_ms, 20000u);
    EXPECT_EQ(c.neighbor.retrans_ms, 500u);
    EXPECT_EQ(c.neighbor.max_probes, 5u);
    EXPECT_EQ(c.neighbor.max_pending, 8u);
    EXPECT_EQ(c.neighbor.gc_ms, 90000u);
    EXPECT_EQ(c.icmp.rate_pps, 50u);
    EXPECT_EQ(c.icmp.burst, 10u);

    ASSERT_EQ(c.ports.size(), 2u);
    const PortConfig& p = c.ports[0];
    EXPECT_EQ(p.name, "p0");
    EXPECT_EQ(p.device, "net_tap0,iface=sl0");
    EXPECT_EQ(p.rx_queues, 2);
    EXPECT_EQ(p.rx_desc, 512);
    EXPECT_EQ(p.tx_desc, 2048);
    EXPECT_EQ(p.mtu, 9000);
    ASSERT_TRUE(p.mac);
    EXPECT_EQ(*p.mac, (MacAddr{2, 0, 0, 0, 0, 1}));
    EXPECT_TRUE(p.promiscuous);
    EXPECT_EQ(p.addresses, (std::vector<Prefix>{pfx("198.18.1.1/24"), pfx("2001:db8:1::1/64")}));
    EXPECT_EQ(p.mark.line, 21);
    EXPECT_EQ(p.mark.column, 5);
    EXPECT_EQ(c.ports[1].mark.line, 30);

    ASSERT_EQ(c.routes.size(), 5u);
    EXPECT_EQ(c.routes[0].prefix, pfx("198.19.0.0/16"));
    EXPECT_EQ(c.routes[0].nexthops, (std::vector<NextHop>{{ip("198.18.1.2"), "p0"}}));
    EXPECT_EQ(c.routes[0].mark.line, 34);
    EXPECT_EQ(c.routes[1].nexthops,
              (std::vector<NextHop>{{ip("2001:db8:1::2"), "p0"}, {ip("2001:db8:2::2"), "p1"}}));
    EXPECT_EQ(c.routes[1].mark.line, 36);
    EXPECT_EQ(c.routes[2].nexthops, (std::vector<NextHop>{{std::nullopt, "p1"}}));
    EXPECT_EQ(c.routes[3].nexthops, (std::vector<NextHop>{{ip("fe80::1"), "p0"}}));
    EXPECT_EQ(c.routes[4].nexthops, (std::vector<NextHop>{{ip("198.18.2.9"), "p1"}}));

    ASSERT_EQ(c.neighbors.size(), 2u);
    EXPECT_EQ(c.neighbors[0].address, ip("198.18.1.2"));
    EXPECT_EQ(c.neighbors[0].mac, (MacAddr{2, 0, 0, 0, 1, 2}));
    EXPECT_EQ(c.neighbors[0].port, "p0");
    EXPECT_EQ(c.neighbors[0].mark.line, 47);
    EXPECT_EQ(c.neighbors[0].mark.column, 5);
    EXPECT_EQ(c.neighbors[1].address, ip("fe80::2"));
    EXPECT_EQ(c.neighbors[1].mark.line, 48);
}

TEST(Parse, GatewayPortIsFilledIn) {
    auto r = load(with_ports(
        "routes:\n"
        "  - { prefix: 198.19.0.0/16, via: 198.18.2.7 }\n"
        "  - { prefix: 2001:db8:5::/48, via: [2001:db8:1::7, 2001:db8:2::7] }\n"
        "  - { prefix: 198.19.0.0/24, nexthops: [{ via: 198.18.1.7 }, { port: p1 }] }\n"));
    ASSERT_TRUE(Loads(r));
    const auto& rs = r.config().routes;
    EXPECT_EQ(rs[0].nexthops, (std::vector<NextHop>{{ip("198.18.2.7"), "p1"}}));
    EXPECT_EQ(rs[1].nexthops, (std::vector<NextHop>{{ip("2001:db8:1::7"), "p0"}, {ip("2001:db8:2::7"), "p1"}}));
    EXPECT_EQ(rs[2].nexthops, (std::vector<NextHop>{{ip("198.18.1.7"), "p0"}, {std::nullopt, "p1"}}));
}

TEST(Parse, EmptySectionsMeanDefaults) {
    auto r = load(with_ports("workers:\nneighbor:\nicmp:\nroutes:\nneighbors:\n"));
    ASSERT_TRUE(Loads(r));
    EXPECT_EQ(r.config().workers.burst, 32);
    EXPECT_TRUE(r.config().routes.empty());
}

TEST(Parse, QuotedNumbersAndBooleanSpellings) {
    auto r = load("mbufs: \"4095\"\nports:\n  - {name: p0, device: d0, promiscuous: TRUE}\n"
                  "  - {name: p1, device: d1, promiscuous: False}\n");
    ASSERT_TRUE(Loads(r));
    EXPECT_EQ(r.config().mbufs, 4095u);
    EXPECT_TRUE(r.config().ports[0].promiscuous);
    EXPECT_FALSE(r.config().ports[1].promiscuous);
}

// ---- unknown and duplicate fields -----------------------------------------

TEST(UnknownField, TopLevelSuggestsSpelling) {
    auto r = load(with_ports("rouets: []\n"));
    EXPECT_TRUE(OnlyError(r, "rouets", kFirstFreeLine, "unknown field \"rouets\" (did you mean \"routes\"?)"));
    EXPECT_TRUE(HasError(r, "rouets", kFirstFreeLine,
                         "expected one of: mbufs, mbuf_cache, workers, neighbor, icmp, ports, routes, route_files, neighbors"));
}

TEST(UnknownField, InPortListsTheFields) {
    auto r = load("ports:\n  - name: p0\n    device: d0\n    rx_queue: 2\n");
    EXPECT_TRUE(OnlyError(r, "ports[0].rx_queue", 4,
                          "unknown field \"rx_queue\" (did you mean \"rx_queues\"?); expected one of: name, device, "
                          "rx_queues, rx_desc, tx_desc, mtu, mac, promiscuous, addresses"));
    EXPECT_EQ(r.errors()[0].column, 5);
}

TEST(UnknownField, NestedAndWithoutSuggestion) {
    auto r = load(with_ports("workers:\n  idle_backoff:\n    enable: true\n  colour: red\n"));
    EXPECT_TRUE(HasError(r, "workers.idle_backoff.enable", 10, "(did you mean \"enabled\"?)"));
    EXPECT_TRUE(HasError(r, "workers.colour", 11, "unknown field \"colour\"; expected one of: burst, idle_backoff"));
    EXPECT_EQ(r.errors().size(), 2u);
}

TEST(UnknownField, InRouteAndNeighbor) {
    auto r = load(with_ports("routes:\n  - { prefix: 198.19.0.0/16, gateway: 198.18.1.2 }\n"
                             "neighbors:\n  - { address: 198.18.1.2, mac: \"02:00:00:00:00:02\", port: p0, ttl: 5 }\n"));
    EXPECT_TRUE(HasError(r, "routes[0].gateway", 9, "expected one of: prefix, via, port, nexthops"));
    EXPECT_TRUE(HasError(r, "neighbors[0].ttl", 11, "expected one of: address, mac, port"));
}

TEST(DuplicateField, IsAnError) {
    auto r = load("ports:\n  - name: p0\n    device: d0\n    mtu: 1500\n    mtu: 9000\n");
    EXPECT_TRUE(OnlyError(r, "ports[0].mtu", 5, "duplicate field \"mtu\" (first set on line 4)"));
}

// ---- wrong types ------------------------------------------------------------

TEST(WrongType, MapWhereListExpected) {
    auto r = load("ports:\n  name: p0\n  device: d0\n");
    EXPECT_TRUE(OnlyError(r, "ports", 2, "expected a list of ports (each item starting with \"- name:\"), got a map"));
}

TEST(WrongType, ScalarWhereListExpected) {
    auto r = load("ports:\n  - name: p0\n    device: d0\n    addresses: 198.18.1.1/24\n");
    EXPECT_TRUE(OnlyError(r, "ports[0].addresses", 4, "got \"198.18.1.1/24\""));
}

TEST(WrongType, ListWhereMapExpected) {
    auto r = load(with_ports("workers: [32]\n"));
    EXPECT_TRUE(OnlyError(r, "workers", kFirstFreeLine, "expected a map with burst and idle_backoff, got a list"));
}

TEST(WrongType, TextWhereNumberExpected) {
    auto r = load("ports:\n  - name: p0\n    device: d0\n    mtu: jumbo\n");
    EXPECT_TRUE(OnlyError(r, "ports[0].mtu", 4, "expected a whole number 68..9600, got \"jumbo\""));
    EXPECT_EQ(r.errors()[0].column, 10);
}

TEST(WrongType, NumbersMustBePlainDecimal) {
    for (const char* v : {"1500.0", "0x5dc", "1.5e3", "+1500", "1_500", "01500", "", "'   '"}) {
        auto r = load(std::string("ports:\n  - name: p0\n    device: d0\n    mtu: ") + v + "\n");
        EXPECT_TRUE(OnlyError(r, "ports[0].mtu", 4, "expected a whole number 68..9600, got")) << v;
    }
}

TEST(WrongType, Negative) {
    auto r = load(with_ports("workers:\n  burst: -1\n"));
    EXPECT_TRUE(OnlyError(r, "workers.burst", 9, "expected a whole number 1..256, got \"-1\" (negative)"));
}

TEST(WrongType, OverflowingUint16) {
    auto r = load("ports:\n  - name: p0\n    device: d0\n    rx_desc: 65536\n");
    EXPECT_TRUE(OnlyError(r, "ports[0].rx_desc", 4, "expected a power of two 64..16384, got \"65536\" (too large)"));
    // 65535 fits the type; the range check (validation) rejects it.
    auto r2 = load("ports:\n  - name: p0\n    device: d0\n    rx_desc: 65535\n");
    EXPECT_TRUE(OnlyError(r2, "ports[0].rx_desc", 4, "expected a power of two 64..16384, got 65535"));
}

TEST(WrongType, OverflowingUint32AndUint64) {
    auto r = load(with_ports("mbufs: 4294967296\nicmp:\n  rate_pps: 99999999999999999999999\n"));
    EXPECT_TRUE(HasError(r, "mbufs", 8, "(too large)"));
    EXPECT_TRUE(HasError(r, "icmp.rate_pps", 10, "(too large)"));
    EXPECT_EQ(r.errors().size(), 2u);
    EXPECT_TRUE(Loads(load(with_ports("mbufs: 4294967295\n"))));
}

TEST(WrongType, Booleans) {
    auto r = load("ports:\n  - name: p0\n    device: d0\n    promiscuous: yes\n");
    EXPECT_TRUE(OnlyError(r, "ports[0].promiscuous", 4, "expected true or false, got \"yes\""));
}

TEST(WrongType, ContainersWhereTextExpected) {
    auto r = load("ports:\n  - name: [p0]\n    device: {a: 1}\n");
    EXPECT_TRUE(HasError(r, "ports[0].name", 2, "expected a port name like p0, got a list"));
    EXPECT_TRUE(HasError(r, "ports[0].device", 3, "got a map"));
    EXPECT_EQ(r.errors().size(), 2u);
}

TEST(WrongType, EmptyValue) {
    auto r = load("ports:\n  - name: p0\n    device:\n");
    EXPECT_TRUE(OnlyError(r, "ports[0].device", 3, "got nothing"));
}

TEST(WrongType, EmptyListItems) {
    auto r = load(with_ports("routes:\n  - prefix: 198.19.0.0/16\n    nexthops:\n      -\n  -\n"));
    EXPECT_TRUE(HasError(r, "routes[0].nexthops[0]", 11, "expected a next hop (a map with via and/or port), got nothing"));
    EXPECT_TRUE(HasError(r, "routes[1]", 12, "got nothing"));
    EXPECT_EQ(r.errors().size(), 2u);
}

TEST(WrongType, TopLevelNotAMap) {
    EXPECT_TRUE(OnlyError(load("- a\n- b\n"), "", 1, "expected a map of settings"));
    EXPECT_TRUE(OnlyError(load("hello\n"), "", 1, "expected a map of settings"));
}

// ---- addresses --------------------------------------------------------------

TEST(Addresses, BadPrefixSaysWhatWasExpected) {
    auto r = load(with_ports("routes:\n  - prefix: 198.18.0.0/33\n    via: 198.18.1.2\n"));
    EXPECT_TRUE(OnlyError(r, "routes[0].prefix", 9,
                          "expected an IPv4 or IPv6 prefix like 198.18.0.0/15, got \"198.18.0.0/33\" "
                          "(IPv4 prefix length must be 0..32)"));
    EXPECT_EQ(r.errors()[0].column, 13);
}

TEST(Addresses, PrefixReasons) {
    struct Case {
        const char* text;
        const char* reason;
    } cases[] = {
        {"198.19.0.0", "(missing \"/length\")"},
        {"198.19.0.0/", "(missing the length after \"/\")"},
        {"198.19.0.0/+8", "(the length must be a plain decimal number)"},
        {"198.19.0.0/08", "(the length has a leading zero)"},
        {"198.19.0/16", "(\"198.19.0\" is not an IPv4 or IPv6 address)"},
        {"2001:db8::/129", "(IPv6 prefix length must be 0..128)"},
        {"'198.19.0.0 /16'", "(contains spaces)"},
    };
    for (const auto& c : cases) {
        auto r = load(with_ports(std::string("routes:\n  - prefix: ") + c.text + "\n    port: p0\n"));
        EXPECT_TRUE(OnlyError(r, "routes[0].prefix", 9, c.reason)) << c.text;
    }
}

TEST(Addresses, InterfaceAddressNeedsLength) {
    auto r = load("ports:\n  - name: p0\n    device: d0\n    addresses: [198.18.1.1/24, 198.18.2.1]\n");
    EXPECT_TRUE(OnlyError(r, "ports[0].addresses[1]", 4, "got \"198.18.2.1\" (missing \"/length\")"));
    EXPECT_EQ(r.errors()[0].column, 32);
}

TEST(Addresses, BadGatewayAndMacText) {
    auto r = load(with_ports(
        "routes:\n  - { prefix: 198.19.0.0/16, via: [198.18.1.2, 198.18.1] }\n"
        "neighbors:\n  - { address: 198.18.1.3, mac: \"02:00:00:00:00\", port: p0 }\n"));
    EXPECT_TRUE(HasError(r, "routes[0].via[1]", 9, "expected an IPv4 or IPv6 address like 198.18.1.2 or "
                                                   "2001:db8:1::2, got \"198.18.1\""));
    EXPECT_TRUE(HasError(r, "neighbors[0].mac", 11, "expected a MAC address like 02:00:00:00:00:01, got \"02:00:00:00:00\""));
    EXPECT_EQ(r.errors().size(), 2u);
}

// ---- required fields and route shapes --------------------------------------

TEST(Required, PortNameAndDevice) {
    auto r = load("ports:\n  - mtu: 1500\n");
    EXPECT_TRUE(HasError(r, "ports[0].name", 2, "required field \"name\" is missing"));
    EXPECT_TRUE(HasError(r, "ports[0].device", 2, "required field \"device\" is missing"));
    EXPECT_EQ(r.errors().size(), 2u);
}

TEST(Required, RoutePrefixAndNeighborFields) {
    auto r = load(with_ports("routes:\n  - via: 198.18.1.2\nneighbors:\n  - port: p0\n"));
    EXPECT_TRUE(HasError(r, "routes[0].prefix", 9, "required field \"prefix\" is missing"));
    EXPECT_TRUE(HasError(r, "neighbors[0].address", 11));
    EXPECT_TRUE(HasError(r, "neighbors[0].mac", 11));
    EXPECT_EQ(r.errors().size(), 3u);
}

TEST(RouteShape, ViaAndNexthopsAreExclusive) {
    auto r = load(with_ports("routes:\n  - prefix: 198.19.0.0/16\n    via: 198.18.1.2\n"
                             "    nexthops: [{ via: 198.18.2.2 }]\n"));
    EXPECT_TRUE(OnlyError(r, "routes[0].nexthops", 11, "either via/port or a nexthops list, not both"));
}

TEST(RouteShape, ViaMustBeAddressOrList) {
    auto r = load(with_ports("routes:\n  - prefix: 198.19.0.0/16\n    via: { via: 198.18.1.2 }\n"
                             "  - prefix: 198.20.0.0/16\n    via: []\n"));
    EXPECT_TRUE(HasError(r, "routes[0].via", 10, "expected a gateway address or a list of them, got a map"));
    EXPECT_TRUE(HasError(r, "routes[1].via", 12, "expected at least one gateway address, got an empty list"));
    EXPECT_EQ(r.errors().size(), 2u);
}

// ---- several errors at once --------------------------------------------------

TEST(MultipleErrors, TypingErrorsAllReportedInOrder) {
    auto r = load(
        "mbufs: lots\n"                    // 1
        "ports:\n"                         // 2
        "  - name: p0\n"                   // 3
        "    device: d0\n"                 // 4
        "    mtu: big\n"                   // 5
        "    addresses: [198.18.1.1]\n"    // 6
        "routes:\n"                        // 7
        "  - prefix: 198.19.0.0/99\n"      // 8
        "    via: 198.18.1.2\n"            // 9
        "    wat: 1\n");                   // 10
    ASSERT_FALSE(r.ok());
    ASSERT_EQ(r.errors().size(), 5u) << r.error_text();
    const char* fields[] = {"mbufs", "ports[0].mtu", "ports[0].addresses[0]", "routes[0].prefix", "routes[0].wat"};
    int lines[] = {1, 5, 6, 8, 10};
    for (size_t i = 0; i < 5; ++i) {
        EXPECT_EQ(r.errors()[i].field, fields[i]);
        EXPECT_EQ(r.errors()[i].line, lines[i]);
        EXPECT_EQ(r.errors()[i].file, "test.yaml");
    }
}

TEST(MultipleErrors, ErrorTextHasOneLinePerError) {
    auto r = load(with_ports("mbufs: 10\nworkers:\n  burst: 0\n"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error_text(),
              "test.yaml:8:8: mbufs: expected a whole number >= 1023, got 10\n"
              "test.yaml:10:10: workers.burst: expected a whole number 1..256, got 0");
}

// ---- YAML-level problems ---------------------------------------------------

TEST(Yaml, SyntaxErrorGivesLine) {
    auto r = load("ports:\n  - name: p0\n   device: x\n");
    ASSERT_FALSE(r.ok());
    ASSERT_EQ(r.errors().size(), 1u);
    EXPECT_EQ(r.errors()[0].line, 3);
    EXPECT_NE(r.errors()[0].message.find("YAML syntax error"), std::string::npos);

    auto r2 = load("mbufs: 4095\nworkers: burst: 3\n");
    EXPECT_TRUE(OnlyError(r2, "", 2, "YAML syntax error"));
}

TEST(Yaml, StrayCommaIsASyntaxError) {
    // yaml-cpp 0.7 would loop forever in LoadAll on these.
    EXPECT_TRUE(OnlyError(load(", x\n"), "", 1, "YAML syntax error: unexpected \",\""));
    EXPECT_TRUE(OnlyError(load("- a\n, b\n"), "", 2, "YAML syntax error: unexpected \",\""));
}

TEST(Yaml, OneDocumentOnly) {
    auto r = load(with_ports("---\nmbufs: 4095\n"));
    EXPECT_TRUE(OnlyError(r, "", kFirstFreeLine, "expected one YAML document"));
}

TEST(Yaml, EmptyInputNeedsPorts) {
    for (const char* text : {"", "# nothing\n", "---\n", "~\n"}) {
        auto r = load(text);
        EXPECT_TRUE(OnlyError(r, "ports", 0, "at least one port is required")) << '"' << text << '"';
    }
}

template <size_t N>
std::string with_nul(const char (&s)[N]) {
    return std::string(s, N - 1);
}

TEST(Yaml, HostileInputsNeverThrow) {
    const std::string deep = "ports: " + std::string(20000, '[') + std::string(20000, ']');
    const std::string inputs[] = {
        deep,
        "ports: &a [*a]\n",
        "ports: &a\n  - name: p0\n    device: d\n    addresses: *a\n",
        "{:",
        "[:",
        "? [a, b]\n: c\n",
        "ports:\n\t- name: p0\n",
        with_nul("\xff\xfe\x00\x01junk"),
        with_nul("ports: [{name: \"p\0\", device: d}]"),
        "ports: !!binary aGVsbG8=\n",
        "ports: [{name: p0, device: d, mtu: !!float 1e3}]\n",
        "&x [&y {*x: *y}]",
        "\"\\u0000\": 1",
    };
    for (const auto& in : inputs) {
        LoadResult r(Config{});
        EXPECT_NO_THROW(r = load(in));
        EXPECT_FALSE(r.ok()) << in.substr(0, 60);
        if (!r.ok()) {
            for (const auto& e : r.errors()) EXPECT_FALSE(e.message.empty());
        }
    }
}

TEST(Yaml, NestingTooDeep) {
    auto r = load("ports: " + std::string(20000, '[') + std::string(20000, ']'));
    EXPECT_TRUE(OnlyError(r, "", 1, "nested too deeply"));
}

TEST(Yaml, AliasBlowUpIsBounded) {
    // 1000 ports sharing one 1100-address list: over a million values.
    std::string items;
    for (int i = 0; i < 1100; ++i) items += "198.18.1.1/24, ";
    std::string text = "ports:\n  - {name: p0, device: d0, addresses: &x [" + items + "]}\n";
    for (int i = 1; i <= 1000; ++i) text += "  - {name: p" + std::to_string(i) + ", device: d, addresses: *x}\n";
    auto r = load(text);
    EXPECT_TRUE(HasError(r, "", 0, "configuration too large"));
}

TEST(Yaml, CommentsAnchorsAndFlowStyleWork) {
    auto r = load(
        "# lab\n"
        "ports:\n"
        "  - &port { name: p0, device: d0, mtu: 9000 }  # trailing comment\n"
        "  - { name: p1, device: d1, addresses: [\"198.18.2.1/24\"] }\n"
        "routes: [ { prefix: \"198.19.0.0/16\", via: \"198.18.2.2\" } ]\n");
    ASSERT_TRUE(Loads(r));
    EXPECT_EQ(r.config().ports[0].mtu, 9000);
    EXPECT_EQ(r.config().routes[0].nexthops[0].port, "p1");
}

// ---- files ---------------------------------------------------------------------

class TempDir : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/sluice-config-test.XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string write(const std::string& name, const std::string& text) {
        std::string path = (dir_ / name).string();
        std::ofstream(path) << text;
        return path;
    }
    fs::path dir_;
};

TEST_F(TempDir, MissingFile) {
    std::string path = (dir_ / "nope.yaml").string();
    auto r = load_config_file(path);
    ASSERT_FALSE(r.ok());
    ASSERT_EQ(r.errors().size(), 1u);
    const ConfigError& e = r.errors()[0];
    EXPECT_EQ(e.file, path);
    EXPECT_EQ(e.line, 0);
    EXPECT_NE(e.message.find(std::strerror(ENOENT)), std::string::npos) << e.message;
    EXPECT_EQ(e.to_string(), path + ": cannot open file: " + std::strerror(ENOENT));
}

TEST_F(TempDir, DirectoryIsNotAFile) {
    auto r = load_config_file(dir_.string());
    ASSERT_FALSE(r.ok());
    ASSERT_EQ(r.errors().size(), 1u);
    EXPECT_EQ(r.errors()[0].line, 0);
    EXPECT_NE(r.errors()[0].message.find(std::strerror(EISDIR)), std::string::npos) << r.errors()[0].message;
}

TEST_F(TempDir, FileErrorsNameThePath) {
    std::string good = write("good.yaml", "ports: [{name: p0, device: net_null0}]\n");
    auto r = load_config_file(good);
    ASSERT_TRUE(Loads(r));
    EXPECT_EQ(r.config().source, good);

    std::string bad = write("bad.yaml", "ports: [{name: p0, device: net_null0}]\nmbufs: 7\n");
    auto r2 = load_config_file(bad);
    ASSERT_FALSE(r2.ok());
    EXPECT_EQ(r2.error_text(), bad + ":2:8: mbufs: expected a whole number >= 1023, got 7");
}

}  // namespace
}  // namespace sluice::config
