// Neighbor Discovery (RFC 4861): NS/NA building, parsing, and one failing
// case for every 7.1.1 / 7.1.2 validation rule.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "dataplane/pkt/nd.hpp"
#include "dataplane/pkt/validate.hpp"
#include "tests/unit/pkt/helpers.hpp"

namespace sluice::pkt::test {
namespace {


TEST(NdAddresses, SolicitedNodeKnownAnswer) {
    A16 t = ip6("2001:db8::1:2:3");
    uint8_t sn[16];
    solicited_node_multicast(t.data(), sn);
    EXPECT_EQ(to_hex(sn, 16), to_hex(ip6("ff02::1:ff02:3").data(), 16));
    EXPECT_TRUE(ipv6_addr_is_solicited_node(sn));
    EXPECT_EQ(ipv6_multicast_mac(sn), (MacBytes{0x33, 0x33, 0xff, 0x02, 0x00, 0x03}));
}

TEST(NdAddresses, MoreKnownAnswers) {
    uint8_t sn[16];
    A16 t = ip6("fe80::2aa:ff:fe28:9c5a");  // RFC 4291 style example
    solicited_node_multicast(t.data(), sn);
    EXPECT_EQ(to_hex(sn, 16), to_hex(ip6("ff02::1:ff28:9c5a").data(), 16));
    EXPECT_EQ(ipv6_multicast_mac(ip6("ff02::1").data()), (MacBytes{0x33, 0x33, 0, 0, 0, 1}));
    EXPECT_EQ(ipv6_multicast_mac(ip6("ff02::1:ff28:9c5a").data()), (MacBytes{0x33, 0x33, 0xff, 0x28, 0x9c, 0x5a}));
    // In place.
    solicited_node_multicast(t.data(), t.data());
    EXPECT_EQ(to_hex(t.data(), 16), to_hex(ip6("ff02::1:ff28:9c5a").data(), 16));
}

// Scapy: Ether(02::01 -> 33:33:ff:00:00:02)/IPv6(fe80::1 -> ff02::1:ff00:2, hlim 255)
//        /ICMPv6ND_NS(tgt 2001:db8::2)/ICMPv6NDOptSrcLLAddr(02:00:00:00:00:01)
const char* kNsFrame =
    "33 33 ff 00 00 02 02 00 00 00 00 01 86 dd 60 00 00 00 00 20 3a ff fe 80 00 00 00 00 00 00 00 00"
    "00 00 00 00 00 01 ff 02 00 00 00 00 00 00 00 00 00 01 ff 00 00 02 87 00 4b 5f 00 00 00 00 20 01"
    "0d b8 00 00 00 00 00 00 00 00 00 00 00 02 01 01 02 00 00 00 00 01";

// Scapy: Ether(02::01 -> 02::02)/IPv6(2001:db8::1 -> 2001:db8::2, hlim 255)
//        /ICMPv6ND_NA(R S O, tgt 2001:db8::1)/ICMPv6NDOptDstLLAddr(02:00:00:00:00:01)
const char* kNaFrame =
    "02 00 00 00 00 02 02 00 00 00 00 01 86 dd 60 00 00 00 00 20 3a ff 20 01 0d b8 00 00 00 00 00 00"
    "00 00 00 00 00 01 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02 88 00 0a 73 e0 00 00 00 20 01"
    "0d b8 00 00 00 00 00 00 00 00 00 00 00 01 02 01 02 00 00 00 00 01";

TEST(NdBuild, MulticastNsMatchesScapy) {
    uint8_t out[128];
    std::memset(out, 0xaa, sizeof out);
    size_t n = build_ns_frame(out, sizeof out, kMacA, ip6("fe80::1").data(), ip6("2001:db8::2").data(), std::nullopt);
    ASSERT_EQ(n, 86u);
    EXPECT_EQ(to_hex(out, n), to_hex(hex(kNsFrame)));
    EXPECT_EQ(out[n], 0xaa);
}

TEST(NdBuild, NaMatchesScapy) {
    uint8_t out[128];
    A16 us = ip6("2001:db8::1");
    size_t n = build_na_frame(out, sizeof out, kMacA, us.data(), kMacB, ip6("2001:db8::2").data(), us.data(), true,
                              true, true);
    ASSERT_EQ(n, 86u);
    EXPECT_EQ(to_hex(out, n), to_hex(hex(kNaFrame)));
}

TEST(NdBuild, MulticastNsRoundTrip) {
    uint8_t out[128];
    A16 target = ip6("2001:db8::1:2:3");
    size_t n = build_ns_frame(out, sizeof out, kMacA, ip6("2001:db8::ff").data(), target.data(), std::nullopt);
    ASSERT_EQ(n, kNdFrameLen);
    EXPECT_EQ(to_hex(out, 6), "33 33 ff 02 00 03") << "Ethernet dst";
    EXPECT_EQ(0, std::memcmp(out + 6, kMacA.data(), 6));
    EXPECT_EQ(eth_type(out), kEtherTypeIpv6);
    const uint8_t* ip = out + 14;
    EXPECT_EQ(ipv6_hop_limit(ip), 255);
    EXPECT_EQ(ipv6_next_header(ip), 58);
    EXPECT_EQ(ipv6_payload_length(ip), 32);
    EXPECT_EQ(to_hex(ip + 24, 16), to_hex(ip6("ff02::1:ff02:3").data(), 16));
    EXPECT_EQ(dp::name_of(validate_ipv6(ip, n - 14)), "none");
    auto m = parse_nd(ip, n - 14);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->type, 135);
    EXPECT_EQ(m->target, target);
    ASSERT_TRUE(m->lladdr);
    EXPECT_EQ(*m->lladdr, kMacA);
    EXPECT_FALSE(m->router || m->solicited || m->override_flag);
}

TEST(NdBuild, UnicastProbeNs) {
    uint8_t out[128];
    A16 target = ip6("2001:db8::7");
    size_t n = build_ns_frame(out, sizeof out, kMacA, ip6("2001:db8::1").data(), target.data(), kMacB);
    ASSERT_EQ(n, 86u);
    EXPECT_EQ(0, std::memcmp(out, kMacB.data(), 6)) << "Ethernet dst = the cached MAC";
    EXPECT_EQ(0, std::memcmp(out + 14 + 24, target.data(), 16)) << "IPv6 dst = target";
    auto m = parse_nd(out + 14, n - 14);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->target, target);
    EXPECT_EQ(m->lladdr, kMacA);
}

TEST(NdBuild, DadNsHasNoSlla) {
    uint8_t out[128];
    A16 target = ip6("2001:db8::7");
    size_t n = build_ns_frame(out, sizeof out, kMacA, ip6("::").data(), target.data(), std::nullopt);
    ASSERT_EQ(n, 78u);
    EXPECT_EQ(ipv6_payload_length(out + 14), 24);
    auto m = parse_nd(out + 14, n - 14);
    ASSERT_TRUE(m);
    EXPECT_FALSE(m->lladdr);
    EXPECT_TRUE(ipv6_is_dad_candidate(out + 14, n - 14));
}

TEST(NdBuild, NaRoundTripFlags) {
    for (int bits = 0; bits < 8; ++bits) {
        bool r = bits & 1, s = bits & 2, o = bits & 4;
        uint8_t out[128];
        A16 target = ip6("2001:db8::1");
        size_t n = build_na_frame(out, sizeof out, kMacB, target.data(), kMacA, ip6("2001:db8::9").data(),
                                  target.data(), r, s, o);
        ASSERT_EQ(n, 86u);
        EXPECT_EQ(0, std::memcmp(out, kMacA.data(), 6));
        EXPECT_EQ(0, std::memcmp(out + 6, kMacB.data(), 6));
        EXPECT_EQ(ipv6_hop_limit(out + 14), 255);
        auto m = parse_nd(out + 14, n - 14);
        ASSERT_TRUE(m) << bits;
        EXPECT_EQ(m->type, 136);
        EXPECT_EQ(m->target, target);
        EXPECT_EQ(m->lladdr, kMacB) << "TLLA";
        EXPECT_EQ(m->router, r);
        EXPECT_EQ(m->solicited, s);
        EXPECT_EQ(m->override_flag, o);
    }
}

TEST(NdBuild, UnsolicitedNaToAllNodes) {
    uint8_t out[128];
    A16 target = ip6("2001:db8::1");
    size_t n = build_na_frame(out, sizeof out, kMacB, target.data(), MacBytes{0x33, 0x33, 0, 0, 0, 1},
                              ip6("ff02::1").data(), target.data(), true, false, true);
    ASSERT_TRUE(parse_nd(out + 14, n - 14));
}

TEST(NdBuild, BuiltOverTheRequestBuffer) {
    // The agent answers an NS in the NS's own mbuf, with target/our_ip/dst
    // arguments that may live in that buffer.
    Bytes f = hex(kNsFrame);
    f.resize(128);
    uint8_t* ip = f.data() + 14;
    auto ns = parse_nd(ip, 72);
    ASSERT_TRUE(ns);
    size_t n = build_na_frame(f.data(), f.size(), kMacB, ip + 40 + 8 /* target */, *ns->lladdr, ip + 8 /* src */,
                              ip + 40 + 8, true, true, true);
    ASSERT_EQ(n, 86u);
    auto na = parse_nd(f.data() + 14, n - 14);
    ASSERT_TRUE(na);
    EXPECT_EQ(na->target, ip6("2001:db8::2"));
    EXPECT_EQ(to_hex(f.data() + 14 + 8, 16), to_hex(ip6("2001:db8::2").data(), 16)) << "src = target";
    EXPECT_EQ(to_hex(f.data() + 14 + 24, 16), to_hex(ip6("fe80::1").data(), 16)) << "dst = NS source";
    EXPECT_EQ(0, std::memcmp(f.data(), kMacA.data(), 6));
}

TEST(NdBuild, CapTooSmall) {
    uint8_t out[128];
    A16 a = ip6("2001:db8::1");
    EXPECT_EQ(build_ns_frame(out, 85, kMacA, a.data(), a.data(), std::nullopt), 0u);
    EXPECT_EQ(build_ns_frame(out, 86, kMacA, a.data(), a.data(), std::nullopt), 86u);
    EXPECT_EQ(build_na_frame(out, 85, kMacA, a.data(), kMacB, a.data(), a.data(), false, false, false), 0u);
}

// ---- Validation table ---------------------------------------------------------

// An ND message inside an IPv6 packet (no Ethernet). `body` is everything
// after the 4-byte ICMPv6 header (flags/reserved, target, options).
struct NdSpec {
    const char* src = "fe80::1";
    const char* dst = "fe80::2";
    uint8_t type = 135;
    uint8_t code = 0;
    uint8_t hop_limit = 255;
    uint8_t flags = 0;
    const char* target = "2001:db8::2";
    Bytes options = hex("01 01 02 00 00 00 00 01");  // SLLA 02:00:00:00:00:01
};

Bytes make_nd(const NdSpec& s) {
    Bytes icmp(24, 0);
    icmp[0] = s.type;
    icmp[1] = s.code;
    icmp[4] = s.flags;
    A16 t = ip6(s.target);
    std::memcpy(icmp.data() + 8, t.data(), 16);
    icmp = cat({icmp, s.options});
    Bytes p = make_ipv6({.src = s.src, .dst = s.dst, .next_header = 58, .hop_limit = s.hop_limit, .payload = icmp});
    fix_icmp6_checksum(p);
    return p;
}

const Bytes kTlla = hex("02 01 02 00 00 00 00 02");

struct NdCase {
    const char* description;
    std::function<Bytes()> build;
    bool valid;
    size_t avail = 0;  // 0: whole packet
};

// Failure messages name the case instead of dumping its bytes.
void PrintTo(const NdCase& c, std::ostream* os) { *os << c.description; }

const NdCase kNdCases[] = {
    {"NS valid", [] { return make_nd({}); }, true},
    {"NS valid, no options", [] { return make_nd({.options = {}}); }, true},
    {"NS valid, to the solicited-node group", [] { return make_nd({.dst = "ff02::1:ff00:2"}); }, true},
    {"NS valid, unknown option ignored",
     [] { return make_nd({.options = hex("0e 02 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 01 02 00 00 00 00 01")}); },
     true},
    {"NS valid, frame padding after the payload", [] {
         Bytes b = make_nd({});
         b.resize(b.size() + 10, 0);
         return b;
     }, true},
    {"NS valid, DAD: unspecified source to solicited-node, no SLLA",
     [] { return make_nd({.src = "::", .dst = "ff02::1:ff00:2", .options = {}}); }, true},
    {"NS valid, DAD with a nonce option (RFC 7527)",
     [] { return make_nd({.src = "::", .dst = "ff02::1:ff00:2", .options = hex("0e 01 01 02 03 04 05 06")}); },
     true},
    {"NA valid, solicited unicast", [] { return make_nd({.type = 136, .flags = 0x60, .options = kTlla}); }, true},
    {"NA valid, unsolicited to all-nodes",
     [] { return make_nd({.dst = "ff02::1", .type = 136, .flags = 0xa0, .options = kTlla}); }, true},
    {"NA valid, no TLLA", [] { return make_nd({.type = 136, .flags = 0x40, .options = {}}); }, true},

    {"not ICMPv6 directly: hop-by-hop header first", [] {
         Bytes icmp = make_nd({});
         Bytes nd(icmp.begin() + 40, icmp.end());
         Bytes p = make_ipv6({.src = "fe80::1", .dst = "fe80::2", .next_header = 0, .hop_limit = 255,
                              .payload = cat({ext_header(58), nd})});
         fix_icmp6_checksum(p, 48);
         return p;
     }, false},
    {"hop limit 254 (forwarded by a router)", [] { return make_nd({.hop_limit = 254}); }, false},
    {"hop limit 1", [] { return make_nd({.hop_limit = 1}); }, false},
    {"ICMP code 1", [] { return make_nd({.code = 1}); }, false},
    {"NA ICMP code 1", [] { return make_nd({.type = 136, .code = 1, .options = kTlla}); }, false},
    {"ICMPv6 checksum wrong", [] {
         Bytes b = make_nd({});
         b[43] ^= 0x01;
         return b;
     }, false},
    {"ICMPv6 length 23", [] {
         Bytes b = make_nd({.options = {}});
         b.pop_back();
         put16(b.data() + 4, 23);
         fix_icmp6_checksum(b);
         return b;
     }, false},
    {"target multicast", [] { return make_nd({.target = "ff02::1"}); }, false},
    {"NA target multicast", [] { return make_nd({.type = 136, .target = "ff02::2", .options = kTlla}); }, false},
    {"option length 0", [] { return make_nd({.options = hex("01 00 02 00 00 00 00 01")}); }, false},
    {"option length beyond the packet", [] { return make_nd({.options = hex("01 02 02 00 00 00 00 01")}); }, false},
    {"option header cut (one byte left)", [] {
         Bytes b = make_nd({.options = {}});
         b.push_back(1);
         put16(b.data() + 4, 25);
         fix_icmp6_checksum(b);
         return b;
     }, false},
    {"NS from unspecified to a unicast address", [] { return make_nd({.src = "::", .options = {}}); }, false},
    {"NS from unspecified to all-nodes", [] { return make_nd({.src = "::", .dst = "ff02::1", .options = {}}); },
     false},
    {"NS from unspecified with an SLLA option", [] { return make_nd({.src = "::", .dst = "ff02::1:ff00:2"}); },
     false},
    {"NA to multicast with the Solicited flag",
     [] { return make_nd({.dst = "ff02::1", .type = 136, .flags = 0x40, .options = kTlla}); }, false},
    {"router advertisement (134) is not NS/NA", [] { return make_nd({.type = 134}); }, false},
    {"echo request is not NS/NA", [] { return make_nd({.type = 128}); }, false},
    {"payload length beyond the frame", [] { return make_nd({}); }, false, 71},
    {"fewer than 40 bytes", [] { return make_nd({}); }, false, 39},
    {"not IPv6", [] {
         Bytes b = make_nd({});
         b[0] = 0x40;
         return b;
     }, false},
};

class ParseNd : public ::testing::TestWithParam<NdCase> {};

TEST_P(ParseNd, Case) {
    const NdCase& c = GetParam();
    Bytes b = c.build();
    auto m = parse_nd(b.data(), c.avail ? c.avail : b.size());
    EXPECT_EQ(m.has_value(), c.valid) << c.description;
}

INSTANTIATE_TEST_SUITE_P(Table, ParseNd, ::testing::ValuesIn(kNdCases),
                         [](const auto& info) { return case_name(info.param.description); });

TEST(ParseNdFields, NsAndNaContents) {
    Bytes ns = make_nd({});
    auto m = parse_nd(ns.data(), ns.size());
    ASSERT_TRUE(m);
    EXPECT_EQ(m->type, 135);
    EXPECT_EQ(m->target, ip6("2001:db8::2"));
    EXPECT_EQ(m->lladdr, kMacA);

    // NS carrying a TLLA only: no SLLA reported.
    Bytes ns_tlla = make_nd({.options = kTlla});
    m = parse_nd(ns_tlla.data(), ns_tlla.size());
    ASSERT_TRUE(m);
    EXPECT_FALSE(m->lladdr);

    // NA: TLLA reported, SLLA ignored; first TLLA wins.
    Bytes na = make_nd({.type = 136, .flags = 0xe0, .options = cat({hex("01 01 0a 0a 0a 0a 0a 0a"), kTlla,
                                                                    hex("02 01 0b 0b 0b 0b 0b 0b")})});
    m = parse_nd(na.data(), na.size());
    ASSERT_TRUE(m);
    EXPECT_EQ(m->type, 136);
    EXPECT_EQ(m->lladdr, kMacB);
    EXPECT_TRUE(m->router && m->solicited && m->override_flag);

    // A link-layer option of another length (not Ethernet) is ignored.
    Bytes odd = make_nd({.options = hex("01 02 02 00 00 00 00 01 00 00 00 00 00 00 00 00")});
    m = parse_nd(odd.data(), odd.size());
    ASSERT_TRUE(m);
    EXPECT_FALSE(m->lladdr);
}

}  // namespace
}  // namespace sluice::pkt::test
