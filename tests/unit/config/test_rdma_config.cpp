// The `rdma:` section (docs/config.md, "rdma"): every field read with its
// default, every typing error and every rule with its message and line,
// through parse_config; validate() on a Config built in code (model paths);
// and the normalisation that makes a peer a port for routes and static
// neighbors (gateway ports, `port: <peer>` next hops, injected neighbors).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/load.hpp"
#include "config/rdma.hpp"
#include "config/rules.hpp"
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
using cfgtest::mac;

// The two ports of helpers.hpp (p0: 198.18.1.1/24 and 2001:db8:1::1/64,
// p1: 198.18.2.1/24 and 2001:db8:2::1/64), then:
//   8  rdma:
//   9    peers:
//  10      - name: r0                (a peer's k-th field on line 10 + k)
//  11        listen: ...
//  12        addresses: ...
//  13        peer_addresses: ...
//  14        (an extra field of a test)
constexpr int kPeer = kFirstFreeLine + 2;  // 10
constexpr int kListen = kPeer + 1;         // 11
constexpr int kAddrs = kPeer + 2;          // 12
constexpr int kPeerAddrs = kPeer + 3;      // 13
constexpr int kExtra = kPeer + 4;          // 14

using Fields = std::vector<std::string>;

Fields base() {
    return {"name: r0", "listen: 127.0.0.1:18515", "addresses: [198.18.250.1/30, \"2001:db8:250::1/64\"]",
            "peer_addresses: [198.18.250.2, \"2001:db8:250::2\"]"};
}
Fields with(Fields f, const std::string& extra) {
    f.push_back(extra);
    return f;
}

std::string peers_yaml(const std::vector<Fields>& peers) {
    std::string s = "rdma:\n  peers:\n";
    for (const auto& p : peers)
        for (size_t i = 0; i < p.size(); ++i) s += (i == 0 ? "    - " : "      ") + p[i] + "\n";
    return s;
}
std::string doc(const std::vector<Fields>& peers, const std::string& after = "") {
    return with_ports(peers_yaml(peers) + after);
}
std::string one(const Fields& f, const std::string& after = "") { return doc({f}, after); }
// The base peer with one more field on line 14.
std::string extra(const std::string& field) { return one(with(base(), field)); }

// ---- fields and defaults -----------------------------------------------------

TEST(RdmaParse, EveryFieldRead) {
    auto r = load(one({"name: r0", "device: mlx5_0", "device_port: 2", "gid_index: 3", "connect: \"[2001:db8::9]:4791\"",
                       "addresses: [198.18.250.1/30, \"2001:db8:250::1/64\"]",
                       "peer_addresses: [198.18.250.2, \"2001:db8:250::2\"]", "mac: 02:00:00:00:fa:01", "mtu: 4000",
                       "send_queue: 1024", "recv_queue: 256", "inline_max: 0", "signal_every: 512", "worker: 7",
                       "required: true"}));
    ASSERT_TRUE(Loads(r));
    ASSERT_EQ(r.config().rdma_peers.size(), 1u);
    const RdmaPeerConfig& p = r.config().rdma_peers[0];
    EXPECT_EQ(p.name, "r0");
    EXPECT_EQ(p.device, "mlx5_0");
    EXPECT_EQ(p.device_port, 2);
    EXPECT_EQ(p.gid_index, 3);
    EXPECT_EQ(p.link_layer, "") << "a real device reports its own";
    EXPECT_EQ(p.listen, "");
    EXPECT_EQ(p.connect, "[2001:db8::9]:4791");
    EXPECT_EQ(p.addresses, (std::vector<Prefix>{pfx("198.18.250.1/30"), pfx("2001:db8:250::1/64")}));
    EXPECT_EQ(p.peer_addresses, (std::vector<IpAddr>{ip("198.18.250.2"), ip("2001:db8:250::2")}));
    EXPECT_EQ(p.mac, mac("02:00:00:00:fa:01"));
    EXPECT_EQ(link_mac(p), mac("02:00:00:00:fa:01"));
    EXPECT_EQ(p.mtu, 4000);
    EXPECT_EQ(p.send_queue, 1024u);
    EXPECT_EQ(p.recv_queue, 256u);
    EXPECT_EQ(p.inline_max, 0u);
    EXPECT_EQ(p.signal_every, 512u);
    EXPECT_EQ(p.worker, 7);
    EXPECT_TRUE(p.required);
    EXPECT_EQ(p.mark.line, kPeer);
}

TEST(RdmaParse, Defaults) {
    auto r = load(one(base()));
    ASSERT_TRUE(Loads(r));
    const RdmaPeerConfig& p = r.config().rdma_peers.at(0);
    EXPECT_EQ(p.device, "standin");
    EXPECT_EQ(p.device_port, 1);
    EXPECT_EQ(p.gid_index, -1);
    EXPECT_EQ(p.link_layer, "ethernet") << "filled in for the stand-in";
    EXPECT_EQ(p.listen, "127.0.0.1:18515");
    EXPECT_EQ(p.connect, "");
    EXPECT_EQ(p.mac, MacAddr{}) << "all-zero: derived from the name";
    EXPECT_EQ(link_mac(p), mac("02:07:b5:7b:e9:1f"));
    EXPECT_EQ(p.mtu, 1500);
    EXPECT_EQ(p.send_queue, 512u);
    EXPECT_EQ(p.recv_queue, 512u);
    EXPECT_EQ(p.inline_max, 128u);
    EXPECT_EQ(p.signal_every, 32u);
    EXPECT_EQ(p.worker, -1);
    EXPECT_FALSE(p.required);
}

TEST(RdmaParse, AutoIsWrittenAsMinusOne) {
    auto r = load(one(with(with(base(), "gid_index: auto"), "worker: auto")));
    ASSERT_TRUE(Loads(r));
    EXPECT_EQ(r.config().rdma_peers[0].gid_index, -1);
    EXPECT_EQ(r.config().rdma_peers[0].worker, -1);
    auto top = load(one(with(with(base(), "gid_index: 255"), "worker: 63")));
    ASSERT_TRUE(Loads(top));
    EXPECT_EQ(top.config().rdma_peers[0].gid_index, 255);
    EXPECT_EQ(top.config().rdma_peers[0].worker, 63);
}

TEST(RdmaParse, AbsentOrEmptySectionHasNoPeers) {
    for (const char* text : {"", "rdma: {}\n", "rdma:\n", "rdma:\n  peers: []\n", "rdma:\n  peers:\n"}) {
        auto r = load(with_ports(text));
        ASSERT_TRUE(Loads(r)) << text;
        EXPECT_TRUE(r.config().rdma_peers.empty()) << text;
        EXPECT_TRUE(r.config().neighbors.empty()) << text;
    }
}

TEST(RdmaParse, LinkLayerOfTheStandIn) {
    auto r = load(extra("link_layer: infiniband"));
    ASSERT_TRUE(Loads(r));
    EXPECT_EQ(r.config().rdma_peers[0].link_layer, "infiniband");
    EXPECT_TRUE(OnlyError(load(extra("link_layer: roce")), "rdma.peers[0].link_layer", kExtra,
                          "expected ethernet or infiniband, got \"roce\""));
    EXPECT_TRUE(OnlyError(load(one(with(with(base(), "device: mlx5_0"), "link_layer: ethernet"))),
                          "rdma.peers[0].link_layer", kExtra + 1,
                          "only for device standin; device \"mlx5_0\" reports its own link layer (ibv_query_port)"));
}

// ---- typing errors -----------------------------------------------------------

TEST(RdmaParse, UnknownFieldsAreRejected) {
    auto r = load(with_ports("rdma:\n  peer: []\n"));
    EXPECT_TRUE(OnlyError(r, "rdma.peer", 9, "unknown field \"peer\" (did you mean \"peers\"?); expected one of: peers"));
    auto f = load(extra("listn: 127.0.0.1:1"));
    EXPECT_TRUE(OnlyError(f, "rdma.peers[0].listn", kExtra, "unknown field \"listn\" (did you mean \"listen\"?)"));
    auto top = load(with_ports("rdmaa: {}\n"));
    EXPECT_TRUE(OnlyError(top, "rdmaa", 8, "(did you mean \"rdma\"?)"));
}

TEST(RdmaParse, SectionShapes) {
    EXPECT_TRUE(OnlyError(load(with_ports("rdma: [1]\n")), "rdma", 8, "expected a map with peers, got a list"));
    EXPECT_TRUE(OnlyError(load(with_ports("rdma:\n  peers: {}\n")), "rdma.peers", 9,
                          "expected a list of RDMA peers (each item starting with \"- name:\"), got a map"));
    EXPECT_TRUE(OnlyError(load(with_ports("rdma:\n  peers: [r0]\n")), "rdma.peers[0]", 9,
                          "expected an RDMA peer (a map with name, listen or connect, addresses, peer_addresses, ...), "
                          "got \"r0\""));
}

TEST(RdmaParse, NameIsRequired) {
    auto r = load(one({"listen: 127.0.0.1:18515", "addresses: [198.18.250.1/30]", "peer_addresses: [198.18.250.2]"}));
    EXPECT_TRUE(OnlyError(r, "rdma.peers[0].name", kPeer, "required field \"name\" is missing"));
}

TEST(RdmaParse, NumberTypeErrors) {
    EXPECT_TRUE(OnlyError(load(extra("device_port: 256")), "rdma.peers[0].device_port", kExtra,
                          "expected a whole number 1..255, got \"256\" (too large)"));
    EXPECT_TRUE(OnlyError(load(extra("device_port: x")), "rdma.peers[0].device_port", kExtra,
                          "expected a whole number 1..255, got \"x\""));
    EXPECT_TRUE(OnlyError(load(extra("gid_index: -1")), "rdma.peers[0].gid_index", kExtra,
                          "expected \"auto\" or a whole number 0..255, got \"-1\" (negative)"));
    EXPECT_TRUE(OnlyError(load(extra("gid_index: automatic")), "rdma.peers[0].gid_index", kExtra,
                          "expected \"auto\" or a whole number 0..255, got \"automatic\""));
    EXPECT_TRUE(OnlyError(load(extra("worker: [1]")), "rdma.peers[0].worker", kExtra,
                          "expected \"auto\" or a worker index 0..63, got a list"));
    EXPECT_TRUE(OnlyError(load(extra("mtu: 70000")), "rdma.peers[0].mtu", kExtra,
                          "expected a whole number 68..9000, got \"70000\" (too large)"));
    EXPECT_TRUE(OnlyError(load(extra("send_queue: 0x200")), "rdma.peers[0].send_queue", kExtra,
                          "expected a power of two 64..8192, got \"0x200\""));
    EXPECT_TRUE(OnlyError(load(extra("required: yes")), "rdma.peers[0].required", kExtra,
                          "expected true or false, got \"yes\""));
}

TEST(RdmaParse, AddressTypeErrors) {
    auto r = load(one({"name: r0", "listen: 127.0.0.1:18515", "addresses: [198.18.250.1]",
                       "peer_addresses: [198.18.250.2.7]"}));
    EXPECT_TRUE(HasError(r, "rdma.peers[0].addresses[0]", kAddrs, "got \"198.18.250.1\" (missing \"/length\")"));
    EXPECT_TRUE(HasError(r, "rdma.peers[0].peer_addresses[0]", kPeerAddrs,
                         "expected an IPv4 or IPv6 address like 198.18.1.2 or 2001:db8:1::2, got \"198.18.250.2.7\""));
    EXPECT_EQ(r.errors().size(), 2u);
    EXPECT_TRUE(OnlyError(load(extra("mac: 02:00:00:00:fa")), "rdma.peers[0].mac", kExtra,
                          "expected a MAC address like 02:00:00:00:00:01, got \"02:00:00:00:fa\""));
    EXPECT_TRUE(OnlyError(load(extra("mac: 00:00:00:00:00:00")), "rdma.peers[0].mac", kExtra,
                          "expected a unicast MAC address, got 00:00:00:00:00:00 (all zero)"));
}

// ---- ranges --------------------------------------------------------------------

TEST(RdmaValidate, RangesWithLineAndColumn) {
    auto r = load(extra("mtu: 67"));
    ASSERT_TRUE(OnlyError(r, "rdma.peers[0].mtu", kExtra, "expected a whole number 68..9000, got 67"));
    EXPECT_EQ(r.errors()[0].to_string(), "test.yaml:14:12: rdma.peers[0].mtu: expected a whole number 68..9000, got 67");
    EXPECT_TRUE(OnlyError(load(extra("mtu: 9001")), "rdma.peers[0].mtu", kExtra, "got 9001"));
    EXPECT_TRUE(OnlyError(load(extra("device_port: 0")), "rdma.peers[0].device_port", kExtra,
                          "expected a whole number 1..255, got 0"));
    EXPECT_TRUE(OnlyError(load(extra("gid_index: 256")), "rdma.peers[0].gid_index", kExtra,
                          "expected \"auto\" or a whole number 0..255, got 256"));
    EXPECT_TRUE(OnlyError(load(extra("worker: 64")), "rdma.peers[0].worker", kExtra,
                          "expected \"auto\" or a worker index 0..63, got 64"));
    EXPECT_TRUE(OnlyError(load(extra("inline_max: 257")), "rdma.peers[0].inline_max", kExtra,
                          "expected a whole number 0..256, got 257"));
    EXPECT_TRUE(Loads(load(extra("inline_max: 256"))));
}

TEST(RdmaValidate, QueuesArePowersOfTwo) {
    for (const char* bad : {"send_queue: 100", "send_queue: 32", "send_queue: 16384", "recv_queue: 0",
                            "recv_queue: 1000"}) {
        std::string key(bad, std::string_view(bad).find(':'));
        EXPECT_TRUE(OnlyError(load(extra(bad)), "rdma.peers[0]." + key, kExtra, "expected a power of two 64..8192"))
            << bad;
    }
    auto r = load(one(with(with(with(base(), "send_queue: 64"), "recv_queue: 8192"), "signal_every: 32")));
    ASSERT_TRUE(Loads(r));
    EXPECT_EQ(r.config().rdma_peers[0].recv_queue, 8192u);
}

TEST(RdmaValidate, SignalEveryIsAtMostHalfTheSendQueue) {
    EXPECT_TRUE(OnlyError(load(extra("signal_every: 0")), "rdma.peers[0].signal_every", kExtra,
                          "expected a whole number 1..256 (send_queue / 2), got 0"));
    EXPECT_TRUE(OnlyError(load(extra("signal_every: 257")), "rdma.peers[0].signal_every", kExtra,
                          "expected a whole number 1..256 (send_queue / 2), got 257"));
    EXPECT_TRUE(Loads(load(extra("signal_every: 256"))));
    EXPECT_TRUE(OnlyError(load(one(with(with(base(), "send_queue: 64"), "signal_every: 33"))),
                          "rdma.peers[0].signal_every", kExtra + 1, "expected a whole number 1..32 (send_queue / 2)"));
    // Only send_queue is reported when it is out of range itself.
    EXPECT_TRUE(OnlyError(load(one(with(with(base(), "send_queue: 100"), "signal_every: 90"))),
                          "rdma.peers[0].send_queue", kExtra, "expected a power of two 64..8192, got 100"));
}

TEST(RdmaValidate, DeviceNames) {
    EXPECT_TRUE(Loads(load(extra("device: mlx5_0"))));
    EXPECT_TRUE(Loads(load(extra("device: irdma-ens1f0.2"))));
    EXPECT_TRUE(Loads(load(extra("device: " + std::string(63, 'a')))));
    for (const std::string& bad : std::vector<std::string>{"\"mlx5 0\"", "\"\"", "mlx5/0", std::string(64, 'a')}) {
        EXPECT_TRUE(OnlyError(load(extra("device: " + bad)), "rdma.peers[0].device", kExtra,
                              "expected an RDMA device name like mlx5_0 (letters, digits, '_', '-' and '.', at most 63 "
                              "characters) or \"standin\""))
            << bad;
    }
}

TEST(RdmaValidate, NameSyntax) {
    for (const char* bad : {"R0", "r.0", "abcdefghijklmnop"}) {
        Fields f = base();
        f[0] = std::string("name: ") + bad;
        EXPECT_TRUE(OnlyError(load(one(f)), "rdma.peers[0].name", kPeer,
                              "expected a name of 1..15 characters from a-z, 0-9, '_' and '-'"))
            << bad;
    }
}

TEST(RdmaValidate, NamesAreUniqueAmongPortsAndPeers) {
    Fields f = base();
    f[0] = "name: p1";
    EXPECT_TRUE(OnlyError(load(one(f)), "rdma.peers[0].name", kPeer,
                          "name \"p1\" is already used by ports[1]; a peer's name is a port name to routes and "
                          "neighbors"));
    Fields second = {"name: r0", "connect: 127.0.0.1:18516", "addresses: [198.18.251.1/30]",
                     "peer_addresses: [198.18.251.2]"};
    auto r = load(doc({base(), second}));
    EXPECT_TRUE(OnlyError(r, "rdma.peers[1].name", kPeer + 4, "name \"r0\" is already used by rdma.peers[0], line 10"));
}

// ---- listen / connect ------------------------------------------------------------

TEST(RdmaValidate, ExactlyOneOfListenAndConnect) {
    auto both = load(extra("connect: 127.0.0.1:18516"));
    EXPECT_TRUE(OnlyError(both, "rdma.peers[0].connect", kExtra,
                          "a peer has either listen (we wait for it) or connect (we reach it), not both"));
    auto neither =
        load(one({"name: r0", "addresses: [198.18.250.1/30]", "peer_addresses: [198.18.250.2]"}));
    EXPECT_TRUE(OnlyError(neither, "rdma.peers[0]", kPeer,
                          "a peer needs listen: \"IP:port\" (we wait for the peer's exchange there) or connect: "
                          "\"IP:port\" (we reach the peer there)"));
}

TEST(RdmaValidate, HostPortSyntax) {
    for (const char* ok : {"127.0.0.1:1", "\"[::1]:18515\"", "0.0.0.0:18515", "\"[::]:65535\"", "198.18.0.1:4791"}) {
        Fields f = base();
        f[1] = std::string("listen: ") + ok;
        EXPECT_TRUE(Loads(load(one(f)))) << ok;
    }
    for (const char* bad : {"127.0.0.1", "\"::1:18515\"", "127.0.0.1:0", "127.0.0.1:65536", "localhost:18515",
                            "\"[198.18.0.1]:80\"", "127.0.0.1:018515"}) {
        Fields f = base();
        f[1] = std::string("connect: ") + bad;
        EXPECT_TRUE(OnlyError(load(one(f)), "rdma.peers[0].connect", kListen,
                              "expected \"IP:port\" like 198.18.0.1:18515 or [2001:db8::1]:18515 (port 1..65535), got"))
            << bad;
    }
    Fields empty = base();
    empty[1] = "listen: \"\"";
    EXPECT_TRUE(OnlyError(load(one(empty)), "rdma.peers[0].listen", kListen, "got \"\""));
}

TEST(RdmaValidate, EndpointAddresses) {
    Fields f = base();
    f[1] = "connect: 0.0.0.0:18515";
    EXPECT_TRUE(OnlyError(load(one(f)), "rdma.peers[0].connect", kListen,
                          "connect address 0.0.0.0 is the unspecified address; expected the address where the peer "
                          "listens"));
    f[1] = "listen: 224.0.0.1:18515";
    EXPECT_TRUE(OnlyError(load(one(f)), "rdma.peers[0].listen", kListen,
                          "listen address 224.0.0.1 is a multicast address (224.0.0.0/4)"));
    f[1] = "connect: \"[::1]:18515\"";
    EXPECT_TRUE(Loads(load(one(f))));
}

TEST(RdmaValidate, TwoListenersCannotShareASocket) {
    Fields second = {"name: r1", "listen: 0.0.0.0:18515", "addresses: [198.18.251.1/30]",
                     "peer_addresses: [198.18.251.2]"};
    auto r = load(doc({base(), second}));
    EXPECT_TRUE(OnlyError(r, "rdma.peers[1].listen", kPeer + 5,
                          "listen 0.0.0.0:18515 collides with rdma.peers[0].listen (127.0.0.1:18515)"));
    second[1] = "listen: 127.0.0.1:18516";
    EXPECT_TRUE(Loads(load(doc({base(), second}))));
}

// ---- addresses ------------------------------------------------------------------

TEST(RdmaValidate, AtLeastOneAddress) {
    auto r = load(one({"name: r0", "listen: 127.0.0.1:18515"}));
    EXPECT_TRUE(OnlyError(r, "rdma.peers[0].addresses", kPeer, "at least one address is required"));
    auto empty = load(one({"name: r0", "listen: 127.0.0.1:18515", "addresses: []"}));
    EXPECT_TRUE(OnlyError(empty, "rdma.peers[0].addresses", kAddrs, "at least one address is required"));
}

TEST(RdmaValidate, SubnetMustNotOverlapAPortsOrAnotherPeers) {
    auto r = load(one({"name: r0", "listen: 127.0.0.1:18515", "addresses: [198.18.1.201/30]",
                       "peer_addresses: [198.18.1.202]"}));
    // The peer address inside the refused subnet gets no error of its own.
    EXPECT_TRUE(OnlyError(r, "rdma.peers[0].addresses[0]", kAddrs,
                         "subnet 198.18.1.200/30 overlaps 198.18.1.0/24 of port p0 (ports[0].addresses[0]); each port "
                         "and peer needs its own subnet"));
    Fields second = {"name: r1", "connect: 127.0.0.1:18516", "addresses: [198.18.250.5/24]",
                     "peer_addresses: [198.18.250.9]"};
    auto two = load(doc({base(), second}));
    EXPECT_TRUE(OnlyError(two, "rdma.peers[1].addresses[0]", kPeer + 6,
                         "subnet 198.18.250.0/24 overlaps 198.18.250.0/30 of peer r0 (rdma.peers[0].addresses[0])"));
}

TEST(RdmaValidate, AddressRulesOfAPort) {
    auto same = load(one({"name: r0", "listen: 127.0.0.1:18515", "addresses: [198.18.250.1/30, 198.18.250.1/30]",
                          "peer_addresses: [198.18.250.2]"}));
    EXPECT_TRUE(OnlyError(same, "rdma.peers[0].addresses[1]", kAddrs,
                          "address 198.18.250.1 is already configured at rdma.peers[0].addresses[0]"));
    auto ll = load(one({"name: r0", "listen: 127.0.0.1:18515", "addresses: [198.18.250.1/30, \"fe80::1/64\"]",
                        "peer_addresses: [198.18.250.2]"}));
    EXPECT_TRUE(OnlyError(ll, "rdma.peers[0].addresses[1]", kAddrs, "link-local address fe80::1/64"));
    auto edge = load(one({"name: r0", "listen: 127.0.0.1:18515", "addresses: [198.18.250.0/30]",
                          "peer_addresses: [198.18.250.2]"}));
    EXPECT_TRUE(OnlyError(edge, "rdma.peers[0].addresses[0]", kAddrs,
                          "198.18.250.0 is the network address of 198.18.250.0/30; expected a host address such as "
                          "198.18.250.1/30"));
    auto mc = load(one({"name: r0", "listen: 127.0.0.1:18515", "addresses: [224.0.0.1/30]"}));
    EXPECT_TRUE(HasError(mc, "rdma.peers[0].addresses[0]", kAddrs,
                         "address 224.0.0.1 is a multicast address (224.0.0.0/4); expected a unicast address"));
}

TEST(RdmaValidate, MtuOfAnIpv6Link) {
    EXPECT_TRUE(OnlyError(load(extra("mtu: 1279")), "rdma.peers[0].mtu", kExtra,
                          "a peer with an IPv6 address needs mtu >= 1280 (RFC 8200), got 1279"));
    auto v4 = load(one({"name: r0", "listen: 127.0.0.1:18515", "addresses: [198.18.250.1/30]",
                        "peer_addresses: [198.18.250.2]", "mtu: 576"}));
    EXPECT_TRUE(Loads(v4));
}

// ---- peer addresses --------------------------------------------------------------

TEST(RdmaValidate, PeerAddressInsideTheSubnet) {
    Fields f = base();
    f[3] = "peer_addresses: [198.18.1.2, \"2001:db8:250::2\"]";
    EXPECT_TRUE(OnlyError(load(one(f)), "rdma.peers[0].peer_addresses[0]", kPeerAddrs,
                          "peer address 198.18.1.2 is not in a subnet of peer r0 (r0 has 198.18.250.0/30); it is the "
                          "peer's end of the link"));
}

TEST(RdmaValidate, PeerAddressIsNotOurs) {
    Fields f = base();
    f[3] = "peer_addresses: [198.18.250.1, \"2001:db8:250::2\"]";
    EXPECT_TRUE(OnlyError(load(one(f)), "rdma.peers[0].peer_addresses[0]", kPeerAddrs,
                          "peer address 198.18.250.1 is this router's own address (rdma.peers[0].addresses[0])"));
    f[3] = "peer_addresses: [198.18.250.3, \"ff02::1\"]";
    auto r = load(one(f));
    EXPECT_TRUE(HasError(r, "rdma.peers[0].peer_addresses[0]", kPeerAddrs,
                         "peer address 198.18.250.3 is the broadcast address of 198.18.250.0/30"));
    EXPECT_TRUE(HasError(r, "rdma.peers[0].peer_addresses[1]", kPeerAddrs,
                         "peer address ff02::1 is a multicast address (ff00::/8); expected a unicast address"));
}

TEST(RdmaValidate, OnePeerAddressPerFamily) {
    Fields f = base();
    f[3] = "peer_addresses: [198.18.250.2, \"2001:db8:250::2\", 198.18.250.1]";
    EXPECT_TRUE(OnlyError(load(one(f)), "rdma.peers[0].peer_addresses[2]", kPeerAddrs,
                          "at most one peer address per family (a point-to-point link has one neighbor); "
                          "rdma.peers[0].peer_addresses[0] is already the IPv4 one"));
}

TEST(RdmaValidate, PeerAddressRequiredForEachFamilyWithAnAddress) {
    Fields f = base();
    f[3] = "peer_addresses: [198.18.250.2]";
    EXPECT_TRUE(OnlyError(load(one(f)), "rdma.peers[0].peer_addresses", kPeerAddrs,
                          "the peer's IPv6 address is required: r0 has 2001:db8:250::1/64, and routes out of the peer "
                          "go via the peer's address of their family"));
    auto none = load(one({"name: r0", "listen: 127.0.0.1:18515", "addresses: [198.18.250.1/30]"}));
    EXPECT_TRUE(OnlyError(none, "rdma.peers[0].peer_addresses", kPeer, "the peer's IPv4 address is required"));
}

// ---- MACs -------------------------------------------------------------------------

TEST(RdmaValidate, MacRules) {
    EXPECT_TRUE(OnlyError(load(extra("mac: 03:00:00:00:fa:01")), "rdma.peers[0].mac", kExtra,
                          "expected a unicast MAC address (lowest bit of the first byte clear), got 03:00:00:00:fa:01 "
                          "(multicast)"));
    auto with_port_mac = load(
        "ports:\n  - name: p0\n    device: net_tap0\n    mac: 02:00:00:00:fa:01\n    addresses: [198.18.1.1/24]\n" +
        peers_yaml({with(base(), "mac: 02:00:00:00:fa:01")}));
    EXPECT_TRUE(OnlyError(with_port_mac, "rdma.peers[0].mac", 12, "MAC 02:00:00:00:fa:01 is already used by ports[0] (p0)"));
    Fields second = {"name: r1", "connect: 127.0.0.1:18516", "addresses: [198.18.251.1/30]",
                     "peer_addresses: [198.18.251.2]", "mac: 02:07:b5:7b:e9:1f"};
    EXPECT_TRUE(OnlyError(load(doc({base(), second})), "rdma.peers[1].mac", kPeer + 8,
                          "MAC 02:07:b5:7b:e9:1f is already used by rdma.peers[0] (r0)"));
    // r0's derived MAC against an earlier peer that wrote it.
    Fields first = {"name: r1", "connect: 127.0.0.1:18516", "addresses: [198.18.251.1/30]",
                    "peer_addresses: [198.18.251.2]", "mac: 02:07:b5:7b:e9:1f"};
    EXPECT_TRUE(OnlyError(load(doc({first, base()})), "rdma.peers[1].mac", kPeer + 5,
                          "the MAC derived from the name, 02:07:b5:7b:e9:1f, is already used by rdma.peers[0] (r1); set "
                          "mac: explicitly"));
}

TEST(RdmaMacs, Derivations) {
    EXPECT_EQ(rdma_name_hash(""), 0xcbf29ce484222325ull);
    EXPECT_EQ(rdma_name_hash("r0"), 0x08dc8407b57be91full);
    EXPECT_EQ(derived_link_mac("r0"), mac("02:07:b5:7b:e9:1f"));
    EXPECT_EQ(derived_link_mac("r1"), mac("02:07:b5:7b:e7:6c"));
    EXPECT_EQ(peer_neighbor_mac("r0"), mac("02:00:5e:00:d0:bf"));
    EXPECT_EQ(peer_neighbor_mac("r1"), mac("02:00:5e:00:d9:cc"));
    EXPECT_EQ(peer_neighbor_mac("peer-east"), mac("02:00:5e:00:f2:64"));
}

TEST(RdmaValidate, AtMost32PortsAndPeersTogether) {
    std::vector<Fields> many;
    for (int i = 0; i < 31; ++i) {
        const std::string n = std::to_string(i);
        many.push_back({"name: r" + n, "listen: 127.0.0.1:" + std::to_string(20000 + i),
                        "addresses: [198.18." + std::to_string(100 + i) + ".1/30]",
                        "peer_addresses: [198.18." + std::to_string(100 + i) + ".2]"});
    }
    auto r = load(doc(many));
    EXPECT_TRUE(OnlyError(r, "rdma.peers", 0,
                          "expected at most 32 ports and RDMA peers together (a peer is a port to routes), got 2 ports "
                          "and 31 peers"));
    many.pop_back();
    EXPECT_TRUE(Loads(load(doc(many))));
}

// ---- routes and static neighbors through a peer ----------------------------------------

// The base peer (lines 8..13), then `after` from line 14.
constexpr int kAfter = kPeerAddrs + 1;  // 14

TEST(RdmaRoutes, GatewayInAPeerSubnetGetsThePeersName) {
    auto r = load(one(base(), "routes:\n"
                              "  - { prefix: 198.19.0.0/16, via: 198.18.250.2 }\n"
                              "  - { prefix: \"2001:db8:99::/48\", via: \"2001:db8:250::2\" }\n"
                              "  - { prefix: 198.20.0.0/16, via: 198.18.1.2 }\n"));
    ASSERT_TRUE(Loads(r));
    const auto& rs = r.config().routes;
    EXPECT_EQ(rs[0].nexthops.at(0).port, "r0");
    EXPECT_EQ(rs[1].nexthops.at(0).port, "r0");
    EXPECT_EQ(rs[2].nexthops.at(0).port, "p0");
    EXPECT_EQ(rules::connected_port_for(r.config(), ip("198.18.250.2")), "r0");
    EXPECT_EQ(rules::connected_port_for(r.config(), ip("2001:db8:250::7")), "r0");
}

TEST(RdmaRoutes, PortPeerWithoutViaGoesToThePeerAddressOfTheFamily) {
    auto r = load(one(base(), "routes:\n"
                              "  - { prefix: 198.19.0.0/16, port: r0 }\n"
                              "  - { prefix: \"2001:db8:99::/48\", port: r0 }\n"
                              "  - prefix: 198.21.0.0/16\n"
                              "    nexthops: [{ port: r0 }, { via: 198.18.1.2 }]\n"
                              "  - { prefix: 198.22.0.0/16, port: p1 }\n"));
    ASSERT_TRUE(Loads(r));
    const auto& rs = r.config().routes;
    EXPECT_EQ(rs[0].nexthops.at(0), (NextHop{ip("198.18.250.2"), "r0"}));
    EXPECT_EQ(rs[1].nexthops.at(0), (NextHop{ip("2001:db8:250::2"), "r0"}));
    EXPECT_EQ(rs[2].nexthops.at(0), (NextHop{ip("198.18.250.2"), "r0"}));
    EXPECT_EQ(rs[2].nexthops.at(1), (NextHop{ip("198.18.1.2"), "p0"}));
    EXPECT_EQ(rs[3].nexthops.at(0), (NextHop{std::nullopt, "p1"})) << "an on-link route on a port stays on-link";
}

TEST(RdmaRoutes, PortPeerWithoutViaForAFamilyThePeerLacks) {
    auto r = load(one({"name: r0", "listen: 127.0.0.1:18515", "addresses: [198.18.250.1/30]",
                       "peer_addresses: [198.18.250.2]"},
                      "routes:\n"
                      "  - { prefix: 198.19.0.0/16, port: r0 }\n"
                      "  - { prefix: \"2001:db8:99::/48\", port: r0 }\n"));
    EXPECT_TRUE(OnlyError(r, "routes[1].port", kAfter + 2,
                          "RDMA peer r0 has no IPv6 peer address, so 2001:db8:99::/48 cannot go through it"));
}

TEST(RdmaRoutes, GatewayChecksKnowPeers) {
    auto wrong_port = load(one(base(), "routes:\n  - { prefix: 198.19.0.0/16, via: 198.18.250.2, port: p0 }\n"));
    EXPECT_TRUE(OnlyError(wrong_port, "routes[0].via", kAfter + 1,
                          "gateway 198.18.250.2 is not in a connected subnet of port p0 (p0 has 198.18.1.0/24); it is "
                          "in 198.18.250.0/30 of port r0"));
    auto own = load(one(base(), "routes:\n  - { prefix: 198.19.0.0/16, via: 198.18.250.1 }\n"));
    EXPECT_TRUE(OnlyError(own, "routes[0].via", kAfter + 1,
                          "gateway 198.18.250.1 is this router's own address (rdma.peers[0].addresses[0] on RDMA peer "
                          "r0)"));
    auto unknown = load(one(base(), "routes:\n  - { prefix: 198.19.0.0/16, port: r9 }\n"));
    EXPECT_TRUE(OnlyError(unknown, "routes[0].port", kAfter + 1,
                          "unknown port \"r9\"; defined ports: p0, p1, r0 (RDMA peer)"));
    auto explicit_via = load(one(base(), "routes:\n  - { prefix: 198.19.0.0/16, via: 198.18.250.2, port: r0 }\n"));
    ASSERT_TRUE(Loads(explicit_via));
    EXPECT_EQ(explicit_via.config().routes[0].nexthops[0], (NextHop{ip("198.18.250.2"), "r0"}));
}

TEST(RdmaRoutes, PortPeerAndItsPeerAddressAreOneNextHop) {
    auto r = load(one(base(), "routes:\n"
                              "  - prefix: 198.19.0.0/16\n"
                              "    nexthops: [{ port: r0 }, { via: 198.18.250.2, port: r0 }]\n"));
    EXPECT_TRUE(OnlyError(r, "routes[0].nexthops[1]", kAfter + 2,
                          "duplicate next hop 198.18.250.2 on port r0 in this route"));
    auto v6 = load(one(base(), "routes:\n"
                               "  - prefix: 198.19.0.0/16\n"
                               "    nexthops: [{ port: r0 }, { via: 198.18.250.2 }]\n"));
    EXPECT_TRUE(HasError(v6, "routes[0].nexthops[1]", 0, "duplicate next hop 198.18.250.2 on port r0"));
}

TEST(RdmaNeighbors, PeerAddressesBecomeStaticNeighbors) {
    auto r = load(one(base()));
    ASSERT_TRUE(Loads(r));
    const auto& ns = r.config().neighbors;
    ASSERT_EQ(ns.size(), 2u);
    EXPECT_EQ(ns[0].address, ip("198.18.250.2"));
    EXPECT_EQ(ns[0].mac, mac("02:00:5e:00:d0:bf"));
    EXPECT_EQ(ns[0].port, "r0");
    EXPECT_EQ(ns[0].mark.line, kPeer);
    EXPECT_EQ(ns[1].address, ip("2001:db8:250::2"));
    EXPECT_EQ(ns[1].mac, mac("02:00:5e:00:d0:bf"));
    EXPECT_EQ(ns[1].port, "r0");
    // What parse_config returned still validates (a reload re-checks it).
    EXPECT_TRUE(validate(r.config()).empty());
}

TEST(RdmaNeighbors, AWrittenNeighborIsKept) {
    auto r = load(one(base(), "neighbors:\n"
                              "  - { address: 198.18.250.2, mac: 02:00:00:00:aa:01, port: r0 }\n"
                              "  - { address: \"2001:db8:250::7\", mac: 02:00:00:00:aa:02, port: r0 }\n"
                              "  - { address: 198.18.1.9, mac: 02:00:00:00:aa:03, port: p0 }\n"));
    ASSERT_TRUE(Loads(r));
    const auto& ns = r.config().neighbors;
    ASSERT_EQ(ns.size(), 4u) << "three written, one added (2001:db8:250::2)";
    EXPECT_EQ(ns[0].mac, mac("02:00:00:00:aa:01")) << "theirs kept";
    EXPECT_EQ(ns[3].address, ip("2001:db8:250::2"));
    EXPECT_EQ(ns[3].mac, peer_neighbor_mac("r0"));
    EXPECT_EQ(ns[3].port, "r0");
    for (const auto& n : ns) EXPECT_FALSE(n.address == ip("198.18.250.2") && n.mac == peer_neighbor_mac("r0"));
}

TEST(RdmaNeighbors, WrittenNeighborOnAPeerFollowsTheRules) {
    auto r = load(one(base(), "neighbors:\n  - { address: 198.18.1.9, mac: 02:00:00:00:aa:01, port: r0 }\n"));
    EXPECT_TRUE(OnlyError(r, "neighbors[0].address", kAfter + 1,
                          "198.18.1.9 is not in a connected subnet of port r0 (r0 has 198.18.250.0/30)"));
}

// ---- validate() on a Config built in code -------------------------------------------

Config code_config() {
    Config c;
    PortConfig p;
    p.name = "p0";
    p.device = "net_null0";
    p.addresses = {pfx("198.18.1.1/24")};
    c.ports.push_back(p);
    RdmaPeerConfig r;
    r.name = "r0";
    r.connect = "198.18.0.9:18515";
    r.addresses = {pfx("198.18.250.1/30")};
    r.peer_addresses = {ip("198.18.250.2")};
    c.rdma_peers.push_back(r);
    return c;
}

TEST(RdmaValidateInCode, ModelPaths) {
    Config c = code_config();
    EXPECT_TRUE(validate(c).empty()) << "link_layer empty and mac zero are fine in code";
    c.rdma_peers[0].gid_index = 300;
    c.rdma_peers[0].worker = -2;
    c.rdma_peers[0].listen = "127.0.0.1:1";
    c.rdma_peers[0].peer_addresses.push_back(ip("2001:db8::1"));
    auto errs = validate(c);
    EXPECT_TRUE(HasError(errs, "rdma.peers[0].gid_index", 0, "expected \"auto\" or a whole number 0..255, got 300"));
    EXPECT_TRUE(HasError(errs, "rdma.peers[0].worker", 0, "expected \"auto\" or a worker index 0..63, got -2"));
    EXPECT_TRUE(HasError(errs, "rdma.peers[0].connect", 0, "not both"));
    EXPECT_TRUE(HasError(errs, "rdma.peers[0].peer_addresses[1]", 0,
                         "peer address 2001:db8::1 is not in a subnet of peer r0 (r0 has no IPv6 address)"));
    EXPECT_EQ(errs.size(), 4u);
    EXPECT_EQ(errs[0].file, "<config>");
}

TEST(RdmaValidateInCode, ValidateAcceptsPeerPortsAndEmptyGatewayPorts) {
    Config c = code_config();
    Route r;
    r.prefix = pfx("198.19.0.0/16");
    r.nexthops = {NextHop{ip("198.18.1.2"), ""}, NextHop{std::nullopt, "r0"}};
    c.routes.push_back(r);
    EXPECT_TRUE(validate(c).empty());
    c.rdma_peers[0].name = "p0";
    auto errs = validate(c);
    EXPECT_TRUE(HasError(errs, "rdma.peers[0].name", 0, "name \"p0\" is already used by ports[0]"));
}

TEST(RdmaReloadFields, ChangedFieldsAreNamed) {
    RdmaPeerConfig a, b;
    a.name = b.name = "r0";
    EXPECT_TRUE(changed_rdma_fields(a, b).empty());
    b.mark.line = 99;
    EXPECT_TRUE(changed_rdma_fields(a, b).empty()) << "where it was written is no change";
    b.mtu = 9000;
    b.listen = "127.0.0.1:1";
    b.peer_addresses = {ip("198.18.250.2")};
    EXPECT_EQ(changed_rdma_fields(a, b), (std::vector<std::string_view>{"listen", "peer_addresses", "mtu"}));
}

}  // namespace
}  // namespace sluice::config
