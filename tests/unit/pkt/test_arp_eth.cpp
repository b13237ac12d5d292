// ARP (RFC 826) and Ethernet helpers.
#include <gtest/gtest.h>

#include "dataplane/pkt/arp.hpp"
#include "dataplane/pkt/eth.hpp"
#include "tests/unit/pkt/helpers.hpp"

namespace sluice::pkt::test {
namespace {


TEST(Eth, MacClasses) {
    EXPECT_TRUE(is_broadcast_mac(kBroadcastMac));
    EXPECT_TRUE(is_multicast_mac(kBroadcastMac)) << "broadcast has the group bit";
    EXPECT_TRUE(is_multicast_mac(MacBytes{0x33, 0x33, 0, 0, 0, 1}));
    EXPECT_TRUE(is_multicast_mac(MacBytes{0x01, 0x00, 0x5e, 0, 0, 5}));
    EXPECT_FALSE(is_multicast_mac(kMacA));
    EXPECT_FALSE(is_broadcast_mac(kMacA));
    EXPECT_FALSE(is_broadcast_mac(MacBytes{0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}));
    EXPECT_TRUE(is_zero_mac(MacBytes{}.data()));
    EXPECT_FALSE(is_zero_mac(kMacA.data()));
}

TEST(Eth, Constants) {
    EXPECT_EQ(kEtherTypeIpv4, 0x0800);
    EXPECT_EQ(kEtherTypeIpv6, 0x86DD);
    EXPECT_EQ(kEtherTypeArp, 0x0806);
    EXPECT_EQ(kEtherTypeVlan, 0x8100);
    EXPECT_EQ(kEthHdrLen, 14u);
    EXPECT_EQ(kEthTypeOff, 12u);
}

TEST(Eth, WriteHeader) {
    uint8_t f[15] = {};
    f[14] = 0x77;
    write_eth_header(f, kMacB, kMacA, kEtherTypeIpv6);
    EXPECT_EQ(to_hex(f, 15), "02 00 00 00 00 02 02 00 00 00 00 01 86 dd 77");
    EXPECT_EQ(eth_type(f), 0x86DD);
}

TEST(Eth, WriteHeaderSwapInPlace) {
    // Reply-in-place: dst = old src, src = old dst, both read from the frame.
    uint8_t f[14];
    write_eth_header(f, kMacA, kMacB, kEtherTypeIpv4);
    uint8_t* old_dst = f;
    uint8_t* old_src = f + 6;
    write_eth_header(f, old_src, old_dst, kEtherTypeIpv4);
    EXPECT_EQ(to_hex(f, 14), "02 00 00 00 00 02 02 00 00 00 00 01 08 00");
}

// Scapy: Ether(ff:.. <- 02::01)/ARP(who-has 192.0.2.2 tell 192.0.2.1), padded.
const char* kArpRequestFrame =
    "ff ff ff ff ff ff 02 00 00 00 00 01 08 06 00 01 08 00 06 04 00 01 02 00 00 00 00 01 c0 00 02 01"
    "00 00 00 00 00 00 c0 00 02 02 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00";

TEST(Arp, BuildRequestMatchesScapy) {
    ArpPacket a;
    a.op = 1;
    a.sha = kMacA;
    a.spa = 0xc0000201;
    a.tpa = 0xc0000202;
    uint8_t out[128];
    std::memset(out, 0xaa, sizeof out);
    ASSERT_EQ(build_arp_frame(out, sizeof out, kBroadcastMac, kMacA, a), 60u);
    EXPECT_EQ(to_hex(out, 60), to_hex(hex(kArpRequestFrame)));
    EXPECT_EQ(out[60], 0xaa);
}

TEST(Arp, ParseScapyRequest) {
    Bytes f = hex(kArpRequestFrame);
    auto a = parse_arp(f.data() + 14, f.size() - 14);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->op, 1);
    EXPECT_EQ(a->sha, kMacA);
    EXPECT_EQ(a->spa, 0xc0000201u);
    EXPECT_EQ(a->tha, MacBytes{});
    EXPECT_EQ(a->tpa, 0xc0000202u);
}

TEST(Arp, RoundTripReply) {
    ArpPacket a;
    a.op = 2;
    a.sha = kMacB;
    a.spa = 0x0a000001;
    a.tha = kMacA;
    a.tpa = 0x0a0000fe;
    uint8_t out[60];
    ASSERT_EQ(build_arp_frame(out, sizeof out, kMacA, kMacB, a), 60u);
    EXPECT_EQ(eth_type(out), kEtherTypeArp);
    EXPECT_EQ(0, std::memcmp(out, kMacA.data(), 6));
    EXPECT_EQ(0, std::memcmp(out + 6, kMacB.data(), 6));
    auto p = parse_arp(out + 14, 46);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->op, a.op);
    EXPECT_EQ(p->sha, a.sha);
    EXPECT_EQ(p->spa, a.spa);
    EXPECT_EQ(p->tha, a.tha);
    EXPECT_EQ(p->tpa, a.tpa);
    for (int i = 42; i < 60; ++i) EXPECT_EQ(out[i], 0) << "padding byte " << i;
}

TEST(Arp, ReplyBuiltOverTheRequest) {
    // The agent builds the reply in the request's own buffer.
    Bytes f = hex(kArpRequestFrame);
    auto req = parse_arp(f.data() + 14, f.size() - 14);
    ASSERT_TRUE(req);
    ArpPacket r;
    r.op = 2;
    r.sha = kMacB;
    r.spa = req->tpa;
    r.tha = req->sha;
    r.tpa = req->spa;
    ASSERT_EQ(build_arp_frame(f.data(), f.size(), req->sha, kMacB, r), 60u);
    auto p = parse_arp(f.data() + 14, 46);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->op, 2);
    EXPECT_EQ(p->tha, kMacA);
    EXPECT_EQ(p->tpa, 0xc0000201u);
    EXPECT_EQ(0, std::memcmp(f.data(), kMacA.data(), 6));
}

TEST(Arp, CapTooSmall) {
    uint8_t out[60];
    EXPECT_EQ(build_arp_frame(out, 59, kBroadcastMac, kMacA, ArpPacket{}), 0u);
}

TEST(Arp, Rejections) {
    Bytes good = hex(kArpRequestFrame);
    struct {
        const char* what;
        size_t off;
        uint8_t value;
    } cases[] = {
        {"htype 6 (IEEE 802)", 15, 6},         {"htype high byte", 14, 1},
        {"ptype 0x86dd", 16, 0x86},            {"ptype 0x0801", 17, 0x01},
        {"hlen 8", 18, 8},                     {"hlen 0", 18, 0},
        {"plen 16", 19, 16},                   {"plen 6", 19, 6},
        {"op 0", 21, 0},                       {"op 3 (RARP request)", 21, 3},
        {"op 0x0101", 20, 1},
    };
    for (const auto& c : cases) {
        Bytes f = good;
        f[c.off] = c.value;
        EXPECT_FALSE(parse_arp(f.data() + 14, f.size() - 14)) << c.what;
    }
    EXPECT_FALSE(parse_arp(good.data() + 14, 27)) << "27 bytes";
    EXPECT_TRUE(parse_arp(good.data() + 14, 28)) << "28 bytes, no padding";
}

}  // namespace
}  // namespace sluice::pkt::test
