// Semantic validation: through parse_config (field paths as written, exact
// lines) and through validate() on a Config built in code (model paths,
// SourceMarks of the enclosing item).
#include <gtest/gtest.h>

#include <string>

#include "config/load.hpp"
#include "tests/unit/config/helpers.hpp"

namespace sluice::config {
namespace {

using cfgtest::HasError;
using cfgtest::kFirstFreeLine;
using cfgtest::load;
using cfgtest::Loads;
using cfgtest::OnlyError;
using cfgtest::with_ports;

using cfgtest::ip;
using cfgtest::pfx;

std::string port(const std::string& name, const std::string& device, const std::string& extra = "") {
    return "  - name: " + name + "\n    device: " + device + "\n" + extra;
}

// ---- ports ----------------------------------------------------------------

TEST(Ports, AtLeastOne) {
    EXPECT_TRUE(OnlyError(load("ports: []\n"), "ports", 1, "at least one port is required"));
    EXPECT_TRUE(OnlyError(load("mbufs: 4095\n"), "ports", 0, "at least one port is required"));
}

TEST(Ports, AtMost32) {
    std::string text = "ports:\n";
    for (int i = 0; i < 33; ++i) text += port("p" + std::to_string(i), "net_null" + std::to_string(i));
    EXPECT_TRUE(OnlyError(load(text), "ports", 0, "expected at most 32 ports, got 33"));
}

TEST(Ports, UniqueNames) {
    auto r = load("ports:\n" + port("p0", "d0") + port("p0", "d1"));
    EXPECT_TRUE(OnlyError(r, "ports[1].name", 4, "duplicate port name \"p0\" (first at ports[0], line 2)"));
}

TEST(Ports, NameSyntax) {
    for (const char* bad : {"P0", "port.0", "\"\"", "abcdefghijklmnop", "\"p 0\""}) {
        auto r = load("ports:\n" + port(bad, "d0"));
        EXPECT_TRUE(OnlyError(r, "ports[0].name", 2, "expected a name of 1..15 characters from a-z, 0-9, '_' and '-'"))
            << bad;
    }
    EXPECT_TRUE(Loads(load("ports:\n" + port("abcdefghijklmno", "d0") + port("a_b-9", "d1"))));
}

TEST(Ports, UniqueDevices) {
    auto r = load("ports:\n" + port("p0", "\"net_tap0,iface=a\"") + port("p1", "\"net_tap0,iface=b\""));
    EXPECT_TRUE(OnlyError(r, "ports[1].device", 5, "device \"net_tap0\" is already used by ports[0] (p0, line 2)"));
    auto r2 = load("ports:\n" + port("p0", "\"0000:01:00.0\"") + port("p1", "\"0000:01:00.0\""));
    EXPECT_TRUE(OnlyError(r2, "ports[1].device", 5, "already used by ports[0]"));
}

TEST(Ports, DeviceNotEmptyNoSpaces) {
    EXPECT_TRUE(OnlyError(load("ports:\n" + port("p0", "\"\"")), "ports[0].device", 3, "got an empty string"));
    EXPECT_TRUE(OnlyError(load("ports:\n" + port("p0", "\"net_tap0, iface=x\"")), "ports[0].device", 3,
                          "without spaces"));
}

TEST(Ports, Ranges) {
    struct Case {
        const char* field;
        const char* value;
        const char* message;
    } cases[] = {
        {"rx_queues", "0", "expected a whole number 1..64, got 0"},
        {"rx_queues", "65", "expected a whole number 1..64, got 65"},
        {"rx_desc", "1000", "expected a power of two 64..16384, got 1000"},
        {"rx_desc", "32", "expected a power of two 64..16384, got 32"},
        {"tx_desc", "32768", "expected a power of two 64..16384, got 32768"},
        {"mtu", "67", "expected a whole number 68..9600, got 67"},
        {"mtu", "9601", "expected a whole number 68..9600, got 9601"},
    };
    for (const auto& c : cases) {
        auto r = load("ports:\n" + port("p0", "d0", std::string("    ") + c.field + ": " + c.value + "\n"));
        EXPECT_TRUE(OnlyError(r, std::string("ports[0].") + c.field, 4, c.message)) << c.field << "=" << c.value;
    }
    auto ok = load("ports:\n" + port("p0", "d0", "    rx_queues: 64\n    rx_desc: 64\n    tx_desc: 16384\n    mtu: 68\n"));
    EXPECT_TRUE(Loads(ok));
}

TEST(Ports, Ipv6NeedsMtu1280) {
    auto r = load("ports:\n" + port("p0", "d0", "    mtu: 1279\n    addresses: [\"2001:db8:1::1/64\"]\n"));
    EXPECT_TRUE(OnlyError(r, "ports[0].mtu", 4, "a port with an IPv6 address needs mtu >= 1280 (RFC 8200), got 1279"));
    EXPECT_TRUE(Loads(load("ports:\n" + port("p0", "d0", "    mtu: 1279\n    addresses: [198.18.1.1/24]\n"))));
    EXPECT_TRUE(Loads(load("ports:\n" + port("p0", "d0", "    mtu: 1280\n    addresses: [\"2001:db8:1::1/64\"]\n"))));
}

TEST(Ports, MacMustBeUnicast) {
    auto r = load("ports:\n" + port("p0", "d0", "    mac: \"03:00:00:00:00:01\"\n"));
    EXPECT_TRUE(OnlyError(r, "ports[0].mac", 4, "expected a unicast MAC address (lowest bit of the first byte clear), "
                                                "got 03:00:00:00:00:01 (multicast)"));
    auto r2 = load("ports:\n" + port("p0", "d0", "    mac: \"00:00:00:00:00:00\"\n"));
    EXPECT_TRUE(OnlyError(r2, "ports[0].mac", 4, "(all zero)"));
    auto r3 = load("ports:\n" + port("p0", "d0", "    mac: \"02:00:00:00:00:01\"\n") +
                   port("p1", "d1", "    mac: \"02:00:00:00:00:01\"\n"));
    EXPECT_TRUE(OnlyError(r3, "ports[1].mac", 7, "is already used by ports[0] (p0)"));
}

// ---- interface addresses ----------------------------------------------------

TEST(InterfaceAddresses, PrefixLength) {
    auto r = load("ports:\n" + port("p0", "d0", "    addresses: [198.18.1.1/0, \"2001:db8::1/0\"]\n"));
    EXPECT_TRUE(HasError(r, "ports[0].addresses[0]", 4,
                         "expected a prefix length 1..32 for an IPv4 interface address, got 198.18.1.1/0"));
    EXPECT_TRUE(HasError(r, "ports[0].addresses[1]", 4, "expected a prefix length 1..128 for an IPv6 interface"));
    EXPECT_EQ(r.errors().size(), 2u);
    EXPECT_EQ(r.errors()[1].column, 31);
}

TEST(InterfaceAddresses, DuplicateAcrossPorts) {
    auto r = load("ports:\n" + port("p0", "d0", "    addresses: [198.18.1.1/24]\n") +
                  port("p1", "d1", "    addresses: [198.18.1.1/32]\n"));
    EXPECT_TRUE(OnlyError(r, "ports[1].addresses[0]", 7,
                          "address 198.18.1.1 is already configured at ports[0].addresses[0]"));
}

TEST(InterfaceAddresses, DuplicateOnSamePort) {
    auto r = load("ports:\n" + port("p0", "d0", "    addresses: [198.18.1.1/24, 198.18.1.1/25]\n"));
    EXPECT_TRUE(OnlyError(r, "ports[0].addresses[1]", 4, "already configured at ports[0].addresses[0]"));
}

TEST(InterfaceAddresses, OverlappingSubnetsAcrossPorts) {
    auto r = load("ports:\n" + port("p0", "d0", "    addresses: [198.18.1.1/24, \"2001:db8:1::1/64\"]\n") +
                  port("p1", "d1", "    addresses: [198.18.0.1/16, \"2001:db8:1:0:8000::1/65\"]\n"));
    EXPECT_TRUE(HasError(r, "ports[1].addresses[0]", 7,
                         "subnet 198.18.0.0/16 overlaps 198.18.1.0/24 of port p0 (ports[0].addresses[0]); "
                         "each port needs its own subnet"));
    EXPECT_TRUE(HasError(r, "ports[1].addresses[1]", 7, "overlaps 2001:db8:1::/64 of port p0"));
    EXPECT_EQ(r.errors().size(), 2u);
}

TEST(InterfaceAddresses, SameFamilyOnlyAndSamePortAllowed) {
    // Secondary addresses on one port may share a subnet; different
    // families never overlap.
    EXPECT_TRUE(Loads(load("ports:\n" + port("p0", "d0", "    addresses: [198.18.1.1/24, 198.18.1.2/25]\n"))));
    EXPECT_TRUE(Loads(load("ports:\n" + port("p0", "d0", "    addresses: [198.18.1.1/24]\n") +
                           port("p1", "d1", "    addresses: [198.18.2.1/24]\n"))));
}

TEST(InterfaceAddresses, MustBeUsableHostAddresses) {
    auto r = load("ports:\n" + port("p0", "d0",
                                    "    addresses: [198.18.1.0/24, 198.18.1.255/24, 224.0.0.1/4, \"fe80::1/64\", "
                                    "127.0.0.1/8, \"::1/128\"]\n"));
    EXPECT_TRUE(HasError(r, "ports[0].addresses[0]", 4,
                         "198.18.1.0 is the network address of 198.18.1.0/24; expected a host address such as "
                         "198.18.1.1/24"));
    EXPECT_TRUE(HasError(r, "ports[0].addresses[1]", 4, "is the broadcast address"));
    EXPECT_TRUE(HasError(r, "ports[0].addresses[2]", 4, "is a multicast address"));
    EXPECT_TRUE(HasError(r, "ports[0].addresses[3]", 4, "derived from the port's MAC"));
    EXPECT_TRUE(HasError(r, "ports[0].addresses[4]", 4, "loopback"));
    EXPECT_TRUE(HasError(r, "ports[0].addresses[5]", 4, "loopback"));
    EXPECT_EQ(r.errors().size(), 6u);
    // /31 and /32 have no network or broadcast address.
    EXPECT_TRUE(Loads(load("ports:\n" + port("p0", "d0", "    addresses: [198.18.1.0/31, 198.18.2.0/32]\n"))));
}

// ---- routes -----------------------------------------------------------------

TEST(Routes, HostBitsMustBeZero) {
    auto r = load(with_ports("routes:\n  - prefix: 198.19.1.0/16\n    via: 198.18.1.2\n"));
    EXPECT_TRUE(OnlyError(r, "routes[0].prefix", 9, "host bits are set in 198.19.1.0/16; did you mean 198.19.0.0/16?"));
    auto r6 = load(with_ports("routes:\n  - prefix: 2001:db8:99::1/48\n    via: 2001:db8:1::2\n"));
    EXPECT_TRUE(OnlyError(r6, "routes[0].prefix", 9, "did you mean 2001:db8:99::/48?"));
}

TEST(Routes, NoDuplicatePrefix) {
    auto r = load(with_ports("routes:\n"
                             "  - { prefix: 198.19.0.0/16, via: 198.18.1.2 }\n"
                             "  - { prefix: 198.19.0.0/24, via: 198.18.1.2 }\n"
                             "  - { prefix: 198.19.0.0/16, via: 198.18.2.2 }\n"));
    EXPECT_TRUE(OnlyError(r, "routes[2].prefix", 11, "duplicate route for 198.19.0.0/16 (first at routes[0], line 9)"));
}

TEST(Routes, DefaultRoutesBothFamilies) {
    EXPECT_TRUE(Loads(load(with_ports("routes:\n  - { prefix: 0.0.0.0/0, via: 198.18.1.2 }\n"
                                      "  - { prefix: \"::/0\", via: \"2001:db8:1::2\" }\n"))));
}

TEST(Routes, NexthopNeedsViaOrPort) {
    auto r = load(with_ports("routes:\n  - prefix: 198.19.0.0/16\n    nexthops:\n      - {}\n"));
    EXPECT_TRUE(OnlyError(r, "routes[0].nexthops[0]", 11, "a next hop needs via (a gateway address), port"));
}

TEST(Routes, RouteNeedsANexthop) {
    auto r = load(with_ports("routes:\n  - prefix: 198.19.0.0/16\n"));
    EXPECT_TRUE(OnlyError(r, "routes[0]", 9, "route has no next hop"));
    auto r2 = load(with_ports("routes:\n  - prefix: 198.19.0.0/16\n    nexthops: []\n"));
    EXPECT_TRUE(OnlyError(r2, "routes[0]", 9, "route has no next hop"));
}

TEST(Routes, PortMustExist) {
    auto r = load(with_ports("routes:\n"
                             "  - prefix: 198.19.0.0/16\n"
                             "    port: p9\n"
                             "  - prefix: 198.20.0.0/16\n"
                             "    nexthops:\n"
                             "      - { via: 198.18.1.2, port: p0 }\n"
                             "      - { via: 198.18.2.2, port: p7 }\n"));
    EXPECT_TRUE(HasError(r, "routes[0].port", 10, "unknown port \"p9\"; defined ports: p0, p1"));
    EXPECT_TRUE(HasError(r, "routes[1].nexthops[1].port", 14, "unknown port \"p7\""));
    EXPECT_EQ(r.errors().size(), 2u);
}

TEST(Routes, GatewayMustBeConnected) {
    auto r = load(with_ports("routes:\n  - prefix: 198.19.0.0/16\n    via: 198.18.9.9\n"));
    EXPECT_TRUE(OnlyError(r, "routes[0].via", 10,
                          "gateway 198.18.9.9 is not in any port's connected subnet (IPv4 subnets: 198.18.1.0/24 on "
                          "p0, 198.18.2.0/24 on p1); a gateway must be directly connected"));
    EXPECT_EQ(r.errors()[0].column, 10);
}

TEST(Routes, GatewayMustBeOnTheNamedPort) {
    auto r = load(with_ports("routes:\n  - prefix: 198.19.0.0/16\n    via: 198.18.2.2\n    port: p0\n"));
    EXPECT_TRUE(OnlyError(r, "routes[0].via", 10,
                          "gateway 198.18.2.2 is not in a connected subnet of port p0 (p0 has 198.18.1.0/24); "
                          "it is in 198.18.2.0/24 of port p1"));
}

TEST(Routes, GatewayFamilyMustMatchPrefix) {
    auto r = load(with_ports("routes:\n  - prefix: 198.19.0.0/16\n    via: [198.18.1.2, \"2001:db8:1::2\"]\n"));
    EXPECT_TRUE(OnlyError(r, "routes[0].via[1]", 10,
                          "gateway 2001:db8:1::2 is IPv6 but the route prefix 198.19.0.0/16 is IPv4"));
    EXPECT_EQ(r.errors()[0].column, 23);
}

TEST(Routes, GatewayIsNotOurOwnAddress) {
    auto r = load(with_ports("routes:\n  - prefix: 198.19.0.0/16\n    via: [198.18.2.2, 198.18.1.1]\n"));
    EXPECT_TRUE(OnlyError(r, "routes[0].via[1]", 10,
                          "gateway 198.18.1.1 is this router's own address (ports[0].addresses[0] on port p0)"));
}

TEST(Routes, GatewayIsNotBroadcastOrMulticast) {
    auto r = load(with_ports("routes:\n  - { prefix: 198.19.0.0/16, via: 198.18.1.255 }\n"
                             "  - { prefix: 198.20.0.0/16, via: 224.0.0.5 }\n"));
    EXPECT_TRUE(HasError(r, "routes[0].via", 9, "is the broadcast address of 198.18.1.0/24"));
    EXPECT_TRUE(HasError(r, "routes[1].via", 10, "is a multicast address"));
    EXPECT_EQ(r.errors().size(), 2u);
}

TEST(Routes, LinkLocalGatewayNeedsPort) {
    auto r = load(with_ports("routes:\n  - prefix: 2001:db8:77::/64\n    via: \"fe80::1\"\n"));
    EXPECT_TRUE(OnlyError(r, "routes[0].via", 10, "link-local gateway fe80::1 needs a port"));
    auto r2 = load(with_ports("routes:\n  - prefix: 2001:db8:77::/64\n    nexthops:\n      - via: \"fe80::1\"\n"));
    EXPECT_TRUE(OnlyError(r2, "routes[0].nexthops[0].via", 11, "needs a port"));
    auto ok = load(with_ports("routes:\n  - prefix: 2001:db8:77::/64\n    via: \"fe80::1\"\n    port: p1\n"));
    ASSERT_TRUE(Loads(ok));
    EXPECT_EQ(ok.config().routes[0].nexthops, (std::vector<NextHop>{{ip("fe80::1"), "p1"}}));
}

TEST(Routes, EcmpAtMost64) {
    auto group = [](int n) {
        std::string s = "routes:\n  - prefix: 198.19.0.0/16\n    via: [";
        for (int i = 0; i < n; ++i) s += (i ? ", 198.18.1." : "198.18.1.") + std::to_string(i + 2);
        return s + "]\n";
    };
    auto r = load(with_ports(group(65)));
    EXPECT_TRUE(OnlyError(r, "routes[0].via", 10, "expected at most 64 next hops in an ECMP group, got 65"));
    auto ok = load(with_ports(group(64)));
    ASSERT_TRUE(Loads(ok));
    EXPECT_EQ(ok.config().routes[0].nexthops.size(), 64u);
}

TEST(Routes, NoDuplicateMembers) {
    auto r = load(with_ports("routes:\n  - prefix: 198.19.0.0/16\n    via: [198.18.1.2, 198.18.2.2, 198.18.1.2]\n"));
    EXPECT_TRUE(OnlyError(r, "routes[0].via[2]", 10, "duplicate next hop 198.18.1.2 on port p0"));
    // The same gateway with and without its (derived) port is the same member.
    auto r2 = load(with_ports("routes:\n  - prefix: 198.19.0.0/16\n    nexthops:\n"
                              "      - { via: 198.18.1.2 }\n      - { via: 198.18.1.2, port: p0 }\n"));
    EXPECT_TRUE(OnlyError(r2, "routes[0].nexthops[1]", 12, "duplicate next hop 198.18.1.2 on port p0"));
    // A link-local gateway may appear once per port.
    EXPECT_TRUE(Loads(load(with_ports("routes:\n  - prefix: 2001:db8:77::/64\n    nexthops:\n"
                                      "      - { via: \"fe80::1\", port: p0 }\n"
                                      "      - { via: \"fe80::1\", port: p1 }\n"))));
}

TEST(Routes, OnLinkEcmpOverPorts) {
    auto r = load(with_ports("routes:\n  - prefix: 198.19.0.0/16\n    nexthops: [{ port: p0 }, { port: p1 }]\n"));
    ASSERT_TRUE(Loads(r));
    EXPECT_EQ(r.config().routes[0].nexthops, (std::vector<NextHop>{{std::nullopt, "p0"}, {std::nullopt, "p1"}}));
}

// ---- static neighbors ---------------------------------------------------------

TEST(StaticNeighbors, Valid) {
    auto r = load(with_ports("neighbors:\n"
                             "  - { address: 198.18.1.2, mac: \"02:00:00:00:01:02\", port: p0 }\n"
                             "  - { address: \"2001:db8:2::2\", mac: \"02:00:00:00:02:02\", port: p1 }\n"
                             "  - { address: \"fe80::2\", mac: \"02:00:00:00:02:02\", port: p1 }\n"));
    ASSERT_TRUE(Loads(r));
    ASSERT_EQ(r.config().neighbors.size(), 3u);
    EXPECT_EQ(r.config().neighbors[2].address, ip("fe80::2"));
    EXPECT_EQ(r.config().neighbors[2].mark.line, 11);
}

TEST(StaticNeighbors, PortMustExist) {
    auto r = load(with_ports("neighbors:\n  - { address: 198.18.1.2, mac: \"02:00:00:00:01:02\", port: p5 }\n"));
    EXPECT_TRUE(OnlyError(r, "neighbors[0].port", 9, "unknown port \"p5\"; defined ports: p0, p1"));
}

TEST(StaticNeighbors, AddressOnThatPortsSubnet) {
    auto r = load(with_ports("neighbors:\n  - address: 198.18.2.2\n    mac: \"02:00:00:00:01:02\"\n    port: p0\n"));
    EXPECT_TRUE(OnlyError(r, "neighbors[0].address", 9,
                          "198.18.2.2 is not in a connected subnet of port p0 (p0 has 198.18.1.0/24)"));
    EXPECT_EQ(r.errors()[0].column, 14);
}

TEST(StaticNeighbors, AddressNotOursNorBroadcast) {
    auto r = load(with_ports("neighbors:\n"
                             "  - { address: 198.18.1.1, mac: \"02:00:00:00:01:02\", port: p0 }\n"
                             "  - { address: 198.18.1.255, mac: \"02:00:00:00:01:02\", port: p0 }\n"));
    EXPECT_TRUE(HasError(r, "neighbors[0].address", 9, "is this router's own address"));
    EXPECT_TRUE(HasError(r, "neighbors[1].address", 10, "is the broadcast address of 198.18.1.0/24"));
    EXPECT_EQ(r.errors().size(), 2u);
}

TEST(StaticNeighbors, MacUnicastNotZero) {
    auto r = load(with_ports("neighbors:\n"
                             "  - { address: 198.18.1.2, mac: \"01:00:5e:00:00:01\", port: p0 }\n"
                             "  - { address: 198.18.1.3, mac: \"00:00:00:00:00:00\", port: p0 }\n"
                             "  - { address: 198.18.1.4, mac: \"ff:ff:ff:ff:ff:ff\", port: p0 }\n"));
    EXPECT_TRUE(HasError(r, "neighbors[0].mac", 9, "expected a unicast MAC address"));
    EXPECT_TRUE(HasError(r, "neighbors[1].mac", 10, "(all zero)"));
    EXPECT_TRUE(HasError(r, "neighbors[2].mac", 11, "(broadcast)"));
    EXPECT_EQ(r.errors().size(), 3u);
}

TEST(StaticNeighbors, NoDuplicatePortAddress) {
    auto r = load(with_ports("neighbors:\n"
                             "  - { address: \"fe80::2\", mac: \"02:00:00:00:01:02\", port: p0 }\n"
                             "  - { address: \"fe80::2\", mac: \"02:00:00:00:01:03\", port: p1 }\n"
                             "  - { address: \"fe80::2\", mac: \"02:00:00:00:01:04\", port: p0 }\n"));
    EXPECT_TRUE(OnlyError(r, "neighbors[2]", 11, "duplicate static neighbor fe80::2 on port p0 (first at neighbors[0], line 9)"));
}

// ---- global settings ------------------------------------------------------------

TEST(Globals, WorkerBurst) {
    EXPECT_TRUE(OnlyError(load(with_ports("workers:\n  burst: 0\n")), "workers.burst", 9,
                          "expected a whole number 1..256, got 0"));
    EXPECT_TRUE(OnlyError(load(with_ports("workers:\n  burst: 257\n")), "workers.burst", 9, "got 257"));
    EXPECT_TRUE(Loads(load(with_ports("workers:\n  burst: 256\n"))));
}

TEST(Globals, IdleBackoffOrder) {
    auto r = load(with_ports("workers:\n  idle_backoff:\n    pause_after: 100\n    sleep_after: 99\n"));
    EXPECT_TRUE(OnlyError(r, "workers.idle_backoff.sleep_after", 11,
                          "expected sleep_after >= pause_after (100), got 99"));
    // sleep_after left at its default (1024): reported at idle_backoff.
    auto r2 = load(with_ports("workers:\n  idle_backoff:\n    pause_after: 2000\n"));
    EXPECT_TRUE(OnlyError(r2, "workers.idle_backoff.sleep_after", 10, "(2000), got 1024"));
    EXPECT_TRUE(Loads(load(with_ports("workers:\n  idle_backoff: {pause_after: 5, sleep_after: 5}\n"))));
}

TEST(Globals, NeighborCapacity) {
    EXPECT_TRUE(OnlyError(load(with_ports("neighbor:\n  capacity: 15\n")), "neighbor.capacity", 9,
                          "expected a whole number 16..1048576, got 15"));
    EXPECT_TRUE(OnlyError(load(with_ports("neighbor:\n  capacity: 1048577\n")), "neighbor.capacity", 9, "got 1048577"));
    EXPECT_TRUE(Loads(load(with_ports("neighbor:\n  capacity: 16\n"))));
    EXPECT_TRUE(Loads(load(with_ports("neighbor:\n  capacity: 1048576\n"))));
}

TEST(Globals, NeighborTimersPositive) {
    auto r = load(with_ports("neighbor:\n  reachable_ms: 0\n  retrans_ms: 0\n  max_probes: 0\n"));
    EXPECT_TRUE(HasError(r, "neighbor.reachable_ms", 9, "expected a whole number >= 1, got 0"));
    EXPECT_TRUE(HasError(r, "neighbor.retrans_ms", 10));
    EXPECT_TRUE(HasError(r, "neighbor.max_probes", 11));
    EXPECT_EQ(r.errors().size(), 3u);
}

TEST(Globals, NeighborMaxPendingIsBounded) {
    // The queues are preallocated: a huge value must be an error, not an
    // allocation failure at start-up or reload.
    EXPECT_TRUE(OnlyError(load(with_ports("neighbor:\n  max_pending: 1025\n")), "neighbor.max_pending", 9,
                          "expected a whole number 0..1024, got 1025"));
    EXPECT_TRUE(OnlyError(load(with_ports("neighbor:\n  max_pending: 4294967295\n")), "neighbor.max_pending", 9,
                          "got 4294967295"));
    auto r = load(with_ports("neighbor:\n  capacity: 1048576\n  max_pending: 32\n"));
    EXPECT_TRUE(HasError(r, "neighbor.max_pending", 0, "queued-packet slots; expected at most 16777216"));
    EXPECT_TRUE(Loads(load(with_ports("neighbor:\n  capacity: 1048576\n  max_pending: 16\n"))));
    EXPECT_TRUE(Loads(load(with_ports("neighbor:\n  max_pending: 0\n"))));
}

TEST(Globals, IcmpBurst) {
    EXPECT_TRUE(OnlyError(load(with_ports("icmp:\n  burst: 0\n")), "icmp.burst", 9, "expected a whole number >= 1, got 0"));
    EXPECT_TRUE(Loads(load(with_ports("icmp:\n  burst: 1\n  rate_pps: 0\n"))));
}

TEST(Globals, Mbufs) {
    EXPECT_TRUE(OnlyError(load(with_ports("mbufs: 1022\n")), "mbufs", kFirstFreeLine,
                          "expected a whole number >= 1023, got 1022"));
    EXPECT_TRUE(Loads(load(with_ports("mbufs: 1023\n"))));
    EXPECT_TRUE(OnlyError(load(with_ports("mbuf_cache: 513\n")), "mbuf_cache", kFirstFreeLine,
                          "expected a whole number 0..512, got 513"));
}

// ---- all at once -------------------------------------------------------------------

TEST(MultipleErrors, SemanticErrorsAllReportedInOrder) {
    auto r = load(
        "workers:\n"                                  // 1
        "  burst: 300\n"                              // 2
        "ports:\n"                                    // 3
        "  - name: p0\n"                              // 4
        "    device: d0\n"                            // 5
        "    addresses: [198.18.1.1/24]\n"            // 6
        "  - name: p0\n"                              // 7
        "    device: d1\n"                            // 8
        "    mtu: 60\n"                               // 9
        "routes:\n"                                   // 10
        "  - prefix: 198.19.0.1/16\n"                 // 11
        "    via: 198.18.7.1\n"                       // 12
        "neighbors:\n"                                // 13
        "  - { address: 198.18.1.9, mac: \"01:00:00:00:00:01\", port: p0 }\n");  // 14
    ASSERT_FALSE(r.ok());
    struct Want {
        const char* field;
        int line;
    } want[] = {{"workers.burst", 2},   {"ports[1].name", 7},     {"ports[1].mtu", 9},
                {"routes[0].prefix", 11}, {"routes[0].via", 12}, {"neighbors[0].mac", 14}};
    ASSERT_EQ(r.errors().size(), std::size(want)) << r.error_text();
    for (size_t i = 0; i < std::size(want); ++i) {
        EXPECT_EQ(r.errors()[i].field, want[i].field) << i;
        EXPECT_EQ(r.errors()[i].line, want[i].line) << i;
    }
}

// ---- validate() on a Config built in code ----------------------------------------------

Config two_ports() {
    Config c;
    c.source = "built.yaml";
    PortConfig p0;
    p0.name = "p0";
    p0.device = "net_null0";
    p0.addresses = {pfx("198.18.1.1/24")};
    p0.mark = {3, 5};
    PortConfig p1 = p0;
    p1.name = "p1";
    p1.device = "net_null1";
    p1.addresses = {pfx("198.18.2.1/24")};
    p1.mark = {7, 5};
    c.ports = {p0, p1};
    return c;
}

TEST(ValidateModel, ValidConfigHasNoErrors) {
    Config c = two_ports();
    c.routes.push_back(Route{pfx("198.19.0.0/16"), {{ip("198.18.2.2"), ""}}, {12, 5}});
    c.neighbors.push_back(StaticNeighbor{ip("198.18.1.2"), {2, 0, 0, 0, 0, 2}, "p0", {20, 5}});
    auto errs = validate(c);
    EXPECT_TRUE(errs.empty()) << (errs.empty() ? "" : errs[0].to_string());
}

TEST(ValidateModel, UsesModelPathsAndMarks) {
    Config c = two_ports();
    c.ports[1].rx_queues = 0;
    c.routes.push_back(Route{pfx("198.19.0.0/16"), {{ip("198.18.1.2"), ""}, {ip("198.18.9.9"), ""}}, {12, 5}});
    auto errs = validate(c);
    ASSERT_EQ(errs.size(), 2u);
    EXPECT_EQ(errs[0].field, "ports[1].rx_queues");
    EXPECT_EQ(errs[0].line, 7);
    EXPECT_EQ(errs[0].column, 5);
    EXPECT_EQ(errs[0].file, "built.yaml");
    EXPECT_EQ(errs[1].field, "routes[0].nexthops[1].via");
    EXPECT_EQ(errs[1].line, 12);
}

TEST(ValidateModel, RangesWithoutYaml) {
    Config c = two_ports();
    c.workers.burst = 0;
    c.mbufs = 5;
    c.neighbor.capacity = 0;
    c.icmp.burst = 0;
    c.ports[0].rx_desc = 100;
    c.ports[0].mtu = 20000;
    c.ports[0].addresses.push_back(Prefix{ip("198.18.3.1"), 40});  // length out of range
    c.routes.push_back(Route{Prefix{ip("198.19.0.0"), 33}, {{std::nullopt, "p0"}}, {}});
    auto errs = validate(c);
    std::vector<std::string> fields;
    for (const auto& e : errs) fields.push_back(e.field);
    EXPECT_EQ(fields, (std::vector<std::string>{"mbufs", "workers.burst", "neighbor.capacity", "icmp.burst",
                                                "ports[0].rx_desc", "ports[0].mtu", "ports[0].addresses[1]",
                                                "routes[0].prefix"}));
}

TEST(ValidateModel, GatewayPortLeftEmptyIsValid) {
    // validate() accepts an omitted port (consumers get it filled in by
    // parse_config); a wrong explicit one is an error.
    Config c = two_ports();
    c.routes.push_back(Route{pfx("198.19.0.0/16"), {{ip("198.18.2.2"), "p0"}}, {12, 5}});
    auto errs = validate(c);
    ASSERT_EQ(errs.size(), 1u);
    EXPECT_EQ(errs[0].field, "routes[0].nexthops[0].via");
}

TEST(ValidateModel, ParsedConfigRevalidates) {
    auto r = load(with_ports("routes:\n  - { prefix: 198.19.0.0/16, via: [198.18.1.2, 198.18.2.2] }\n"));
    ASSERT_TRUE(Loads(r));
    EXPECT_TRUE(validate(r.config()).empty());
}

}  // namespace
}  // namespace sluice::config
