// ICMP / ICMPv6 errors and echo replies.
#include <gtest/gtest.h>

#include <string>

#include "dataplane/pkt/icmp.hpp"
#include "dataplane/pkt/validate.hpp"
#include "tests/unit/pkt/helpers.hpp"

namespace sluice::pkt::test {
namespace {

using dp::DropReason;

const A4 kOur4 = ip4("203.0.113.1");
const A16 kOur6 = ip6("2001:db8:ffff::1");

// Scapy cross-checked original: IP(192.0.2.1 -> 198.51.100.7, id 0x1234)/UDP(12345, 53)/"sluice-udp"
Bytes udp4_fixture() {
    return hex("45 00 00 26 12 34 00 00 40 11 7c 57 c0 00 02 01 c6 33 64 07"
               "30 39 00 35 00 12 04 ff 73 6c 75 69 63 65 2d 75 64 70");
}

// ---- ICMPv4 errors --------------------------------------------------------------

TEST(Icmp4Error, TimeExceededMatchesScapy) {
    Bytes orig = udp4_fixture();
    Bytes out(1500);
    size_t n = build_icmp4_error(out.data(), out.size(), orig.data(), orig.size(), kOur4.data(), 11, 0, 0);
    // IP(203.0.113.1 -> 192.0.2.1, tos 0xc0, ttl 64, id 0)/ICMP(type 11, code 0)/orig
    Bytes want = hex("45 c0 00 42 00 00 00 00 40 01 7b f8 cb 00 71 01 c0 00 02 01 0b 00 e1 5f 00 00 00 00"
                     "45 00 00 26 12 34 00 00 40 11 7c 57 c0 00 02 01 c6 33 64 07 30 39 00 35 00 12 04 ff"
                     "73 6c 75 69 63 65 2d 75 64 70");
    ASSERT_EQ(n, want.size());
    out.resize(n);
    EXPECT_EQ(to_hex(out), to_hex(want));
}

TEST(Icmp4Error, FragNeededMatchesScapy) {
    Bytes orig = udp4_fixture();
    Bytes out(1500);
    size_t n = build_icmp4_error(out.data(), out.size(), orig.data(), orig.size(), kOur4.data(), 3, 4, 1400);
    Bytes want = hex("45 c0 00 42 00 00 00 00 40 01 7b f8 cb 00 71 01 c0 00 02 01 03 04 e3 e3 00 00 05 78"
                     "45 00 00 26 12 34 00 00 40 11 7c 57 c0 00 02 01 c6 33 64 07 30 39 00 35 00 12 04 ff"
                     "73 6c 75 69 63 65 2d 75 64 70");
    ASSERT_EQ(n, want.size());
    out.resize(n);
    EXPECT_EQ(to_hex(out), to_hex(want));
}

// Checks every field of a built ICMPv4 error about `orig`.
void check_icmp4_error(const Bytes& out, size_t n, const Bytes& orig, size_t quoted, uint8_t type, uint8_t code,
                       uint32_t rest) {
    const uint8_t* ip = out.data();
    ASSERT_EQ(n, 28 + quoted);
    EXPECT_EQ(ip[0], 0x45) << "version 4, IHL 5";
    EXPECT_EQ(ip[1], 0xc0) << "precedence 6 (RFC 1812 4.3.2.5)";
    EXPECT_EQ(get16(ip + 2), n) << "total length";
    EXPECT_EQ(get16(ip + 4), 0) << "id";
    EXPECT_EQ(get16(ip + 6), 0) << "DF clear, not a fragment";
    EXPECT_EQ(ip[8], 64) << "TTL";
    EXPECT_EQ(ip[9], 1) << "protocol ICMP";
    EXPECT_EQ(ipv4_header_checksum(ip, 20), 0) << "IP checksum verifies";
    EXPECT_EQ(0, std::memcmp(ip + 12, kOur4.data(), 4)) << "src = ours";
    EXPECT_EQ(0, std::memcmp(ip + 16, orig.data() + 12, 4)) << "dst = original source";
    const uint8_t* icmp = ip + 20;
    EXPECT_EQ(icmp[0], type);
    EXPECT_EQ(icmp[1], code);
    EXPECT_EQ(load_be32(icmp + 4), rest);
    EXPECT_EQ(csum_fold(csum_add(0, icmp, n - 20)), 0) << "ICMP checksum verifies";
    EXPECT_EQ(0, std::memcmp(icmp + 8, orig.data(), quoted)) << "quote is the start of the original";
    EXPECT_EQ(validate_ipv4(ip, n), DropReason::none) << "the error itself is a valid packet";
}

TEST(Icmp4Error, FieldsSmallOriginal) {
    Bytes orig = make_ipv4({.l4 = ports_l4(5000, 33434, 100)});
    Bytes out(2048, 0xaa);
    size_t n = build_icmp4_error(out.data(), out.size(), orig.data(), orig.size(), kOur4.data(), 11, 0, 0);
    check_icmp4_error(out, n, orig, orig.size(), 11, 0, 0);
    EXPECT_EQ(out[n], 0xaa) << "nothing written past the returned length";
}

TEST(Icmp4Error, NextHopMtuInLow16Bits) {
    Bytes orig = make_ipv4({.frag = 0x4000, .l4 = ports_l4(1, 2, 1400)});
    Bytes out(2048);
    size_t n = build_icmp4_error(out.data(), out.size(), orig.data(), orig.size(), kOur4.data(), 3, 4, 1280);
    check_icmp4_error(out, n, orig, 548, 3, 4, 1280);
    EXPECT_EQ(get16(out.data() + 24), 0) << "unused";
    EXPECT_EQ(get16(out.data() + 26), 1280) << "next-hop MTU (RFC 1191)";
}

TEST(Icmp4Error, QuoteTruncatedAt576) {
    Bytes orig = make_ipv4({.l4 = ports_l4(1, 2, 1472)});  // 1500 bytes
    Bytes out(2048);
    size_t n = build_icmp4_error(out.data(), out.size(), orig.data(), orig.size(), kOur4.data(), 3, 0, 0);
    EXPECT_EQ(n, 576u);
    check_icmp4_error(out, n, orig, 576 - 28, 3, 0, 0);
    // Exactly fitting original.
    Bytes fit = make_ipv4({.l4 = ports_l4(1, 2, 548 - 28)});
    ASSERT_EQ(fit.size(), 548u);
    n = build_icmp4_error(out.data(), out.size(), fit.data(), fit.size(), kOur4.data(), 3, 0, 0);
    EXPECT_EQ(n, 576u);
    check_icmp4_error(out, n, fit, 548, 3, 0, 0);
}

TEST(Icmp4Error, PaddingIsNotQuoted) {
    Bytes orig = make_ipv4({.l4 = ports_l4(1, 2, 0)});  // 28 bytes
    Bytes frame = orig;
    frame.resize(46, 0xee);  // Ethernet minimum payload
    Bytes out(2048);
    size_t n = build_icmp4_error(out.data(), out.size(), frame.data(), frame.size(), kOur4.data(), 11, 0, 0);
    check_icmp4_error(out, n, orig, 28, 11, 0, 0);
}

TEST(Icmp4Error, OptionsAreQuoted) {
    Bytes orig = make_ipv4({.options = hex("94 04 00 00"), .l4 = ports_l4(1, 2)});
    Bytes out(2048);
    size_t n = build_icmp4_error(out.data(), out.size(), orig.data(), orig.size(), kOur4.data(), 11, 0, 0);
    check_icmp4_error(out, n, orig, orig.size(), 11, 0, 0);
}

TEST(Icmp4Error, CapTooSmall) {
    Bytes orig = make_ipv4({.l4 = ports_l4(1, 2, 100)});
    Bytes out(2048);
    size_t need = 28 + orig.size();
    EXPECT_EQ(build_icmp4_error(out.data(), need - 1, orig.data(), orig.size(), kOur4.data(), 11, 0, 0), 0u);
    EXPECT_EQ(build_icmp4_error(out.data(), need, orig.data(), orig.size(), kOur4.data(), 11, 0, 0), need);
    EXPECT_EQ(build_icmp4_error(out.data(), 0, orig.data(), orig.size(), kOur4.data(), 11, 0, 0), 0u);
    EXPECT_EQ(build_icmp4_error(out.data(), out.size(), orig.data(), 19, kOur4.data(), 11, 0, 0), 0u)
        << "no IPv4 header to quote";
}

struct AllowedCase {
    const char* description;
    Bytes pkt;
    size_t len;  // 0: whole packet
    bool want;
};

// Failure messages name the case instead of dumping its bytes.
void PrintTo(const AllowedCase& c, std::ostream* os) { *os << c.description; }

Bytes icmp4_pkt(uint8_t type, uint8_t code = 0, Bytes data = Bytes(8, 0x11)) {
    return make_ipv4({.proto = 1, .l4 = icmp4_msg(type, code, 0, data)});
}

std::vector<AllowedCase> icmp4_allowed_cases() {
    std::vector<AllowedCase> v = {
        {"UDP datagram", make_ipv4({.l4 = ports_l4(1, 2)}), 0, true},
        {"TCP segment", make_ipv4({.proto = 6, .l4 = ports_l4(1, 2)}), 0, true},
        {"ICMP echo request", icmp4_pkt(8), 0, true},
        {"ICMP echo reply", icmp4_pkt(0), 0, true},
        {"ICMP timestamp (13) is not an error", icmp4_pkt(13), 0, true},
        {"ICMP unknown type 42 is not an error", icmp4_pkt(42), 0, true},
        {"first fragment (MF, offset 0) of UDP", make_ipv4({.frag = 0x2000, .l4 = ports_l4(1, 2)}), 0, true},
        {"first fragment of an ICMP echo (checksum not checkable)",
         make_ipv4({.proto = 1, .frag = 0x2000, .l4 = Bytes{8, 0, 0xde, 0xad, 0, 1, 0, 1, 9, 9}}), 0, true},
        {"DF set", make_ipv4({.frag = 0x4000, .l4 = ports_l4(1, 2)}), 0, true},
        {"destination subnet-like 192.0.2.255 (not knowable here)", make_ipv4({.dst = "192.0.2.255"}), 0, true},
        {"frame padding after the datagram", [] {
             Bytes b = icmp4_pkt(8);
             b.resize(46, 0);
             return b;
         }(), 0, true},

        {"ICMP destination unreachable (3)", icmp4_pkt(3, 1), 0, false},
        {"ICMP source quench (4)", icmp4_pkt(4), 0, false},
        {"ICMP redirect (5)", icmp4_pkt(5, 1), 0, false},
        {"ICMP time exceeded (11)", icmp4_pkt(11), 0, false},
        {"ICMP parameter problem (12)", icmp4_pkt(12), 0, false},
        {"ICMP shorter than 8 bytes", make_ipv4({.proto = 1, .l4 = Bytes{8, 0, 0xf7, 0xff, 0, 0, 0}}), 0, false},
        {"ICMP with a bad checksum", [] {
             Bytes b = icmp4_pkt(8);
             b[22] ^= 0x55;
             return b;
         }(), 0, false},
        {"ICMP with total length below IHL", [] {
             Bytes b = icmp4_pkt(8);
             put16(b.data() + 2, 16);
             return b;
         }(), 0, false},
        {"non-first fragment", make_ipv4({.frag = 0x0010, .l4 = Bytes(16, 1)}), 0, false},
        {"non-first fragment with MF", make_ipv4({.frag = 0x2010, .l4 = Bytes(16, 1)}), 0, false},
        {"destination multicast 224.0.0.9", make_ipv4({.dst = "224.0.0.9", .l4 = ports_l4(520, 520)}), 0, false},
        {"destination multicast 239.1.2.3", make_ipv4({.dst = "239.1.2.3"}), 0, false},
        {"destination limited broadcast", make_ipv4({.dst = "255.255.255.255", .l4 = ports_l4(68, 67)}), 0, false},
        {"source 0.0.0.0", make_ipv4({.src = "0.0.0.0", .l4 = ports_l4(68, 67)}), 0, false},
        {"source 0.1.2.3", make_ipv4({.src = "0.1.2.3"}), 0, false},
        {"source loopback", make_ipv4({.src = "127.0.0.1"}), 0, false},
        {"source multicast", make_ipv4({.src = "224.1.1.1"}), 0, false},
        {"source class E", make_ipv4({.src = "240.0.0.1"}), 0, false},
        {"source limited broadcast", make_ipv4({.src = "255.255.255.255"}), 0, false},
        {"19 bytes", make_ipv4({.l4 = ports_l4(1, 2)}), 19, false},
        {"not IPv4", [] {
             Bytes b = make_ipv4({});
             b[0] = 0x65;
             return b;
         }(), 0, false},
        {"IHL beyond the packet", [] {
             Bytes b = make_ipv4({});
             b[0] = 0x46;
             return b;
         }(), 0, false},
    };
    return v;
}

class Icmp4Allowed : public ::testing::TestWithParam<AllowedCase> {};

TEST_P(Icmp4Allowed, Case) {
    const AllowedCase& c = GetParam();
    size_t len = c.len ? c.len : c.pkt.size();
    EXPECT_EQ(icmp4_error_allowed(c.pkt.data(), len), c.want) << c.description;
}

INSTANTIATE_TEST_SUITE_P(Table, Icmp4Allowed, ::testing::ValuesIn(icmp4_allowed_cases()),
                         [](const auto& info) { return case_name(info.param.description); });

// ---- ICMPv6 errors --------------------------------------------------------------

Bytes udp6_fixture() {
    return hex("60 00 00 00 00 13 11 40 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01"
               "20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 07 30 39 00 35 00 13 5f be"
               "73 6c 75 69 63 65 2d 75 64 70 36");
}

TEST(Icmp6Error, PacketTooBigMatchesScapy) {
    Bytes orig = udp6_fixture();
    Bytes out(2048);
    size_t n = build_icmp6_error(out.data(), out.size(), orig.data(), orig.size(), kOur6.data(), 2, 0, 1400);
    // IPv6(2001:db8:ffff::1 -> 2001:db8::1, hlim 64)/ICMPv6PacketTooBig(mtu=1400)/orig
    Bytes want = hex("60 00 00 00 00 43 3a 40 20 01 0d b8 ff ff 00 00 00 00 00 00 00 00 00 01"
                     "20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01 02 00 2b 67 00 00 05 78"
                     "60 00 00 00 00 13 11 40 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01"
                     "20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 07 30 39 00 35 00 13 5f be"
                     "73 6c 75 69 63 65 2d 75 64 70 36");
    ASSERT_EQ(n, want.size());
    out.resize(n);
    EXPECT_EQ(to_hex(out), to_hex(want));
}

void check_icmp6_error(const Bytes& out, size_t n, const Bytes& orig, size_t quoted, uint8_t type, uint8_t code,
                       uint32_t rest) {
    const uint8_t* ip = out.data();
    ASSERT_EQ(n, 48 + quoted);
    EXPECT_EQ(load_be32(ip), 0x60000000u) << "version 6, traffic class 0, flow label 0";
    EXPECT_EQ(get16(ip + 4), n - 40) << "payload length";
    EXPECT_EQ(ip[6], 58) << "next header ICMPv6";
    EXPECT_EQ(ip[7], 64) << "hop limit";
    EXPECT_EQ(0, std::memcmp(ip + 8, kOur6.data(), 16)) << "src = ours";
    EXPECT_EQ(0, std::memcmp(ip + 24, orig.data() + 8, 16)) << "dst = original source";
    const uint8_t* icmp = ip + 40;
    EXPECT_EQ(icmp[0], type);
    EXPECT_EQ(icmp[1], code);
    EXPECT_EQ(load_be32(icmp + 4), rest);
    EXPECT_EQ(l4_checksum_v6(ip + 8, ip + 24, 58, icmp, n - 40), 0) << "ICMPv6 checksum verifies";
    EXPECT_EQ(0, std::memcmp(icmp + 8, orig.data(), quoted));
    EXPECT_EQ(validate_ipv6(ip, n), DropReason::none);
}

TEST(Icmp6Error, FieldsSmallOriginal) {
    Bytes orig = make_ipv6({.payload = ports_l4(5000, 33434, 100)});
    Bytes out(2048, 0xaa);
    size_t n = build_icmp6_error(out.data(), out.size(), orig.data(), orig.size(), kOur6.data(), 3, 0, 0);
    check_icmp6_error(out, n, orig, orig.size(), 3, 0, 0);
    EXPECT_EQ(out[n], 0xaa);
}

TEST(Icmp6Error, QuoteTruncatedAt1280) {
    Bytes orig = make_ipv6({.payload = ports_l4(1, 2, 1452)});  // 1500 bytes
    Bytes out(2048);
    size_t n = build_icmp6_error(out.data(), out.size(), orig.data(), orig.size(), kOur6.data(), 2, 0, 1280);
    EXPECT_EQ(n, 1280u);
    check_icmp6_error(out, n, orig, 1280 - 48, 2, 0, 1280);
    EXPECT_EQ(load_be32(out.data() + 44), 1280u) << "MTU field";
}

TEST(Icmp6Error, PaddingIsNotQuotedAndCap) {
    Bytes orig = make_ipv6({.payload = ports_l4(1, 2, 0)});
    Bytes frame = orig;
    frame.resize(orig.size() + 12, 0xee);
    Bytes out(2048);
    size_t n = build_icmp6_error(out.data(), out.size(), frame.data(), frame.size(), kOur6.data(), 1, 4, 0);
    check_icmp6_error(out, n, orig, orig.size(), 1, 4, 0);
    EXPECT_EQ(build_icmp6_error(out.data(), n - 1, orig.data(), orig.size(), kOur6.data(), 1, 4, 0), 0u);
    EXPECT_EQ(build_icmp6_error(out.data(), n, orig.data(), orig.size(), kOur6.data(), 1, 4, 0), n);
    EXPECT_EQ(build_icmp6_error(out.data(), out.size(), orig.data(), 39, kOur6.data(), 1, 4, 0), 0u);
}

Bytes icmp6_pkt(uint8_t type, uint8_t code = 0, const char* dst = "2001:db8:1::7", const char* src = "2001:db8::1") {
    Bytes b = make_ipv6({.src = src, .dst = dst, .next_header = 58, .payload = icmp6_msg(type, code, 0, Bytes(8, 3))});
    fix_icmp6_checksum(b);
    return b;
}

// An ICMPv6 message behind extension headers `ext` (first header `first`).
Bytes icmp6_behind(uint8_t first, Bytes ext, uint8_t type) {
    Bytes b = make_ipv6({.next_header = first, .payload = cat({ext, icmp6_msg(type, 0, 0, Bytes(8, 3))})});
    fix_icmp6_checksum(b, 40 + ext.size());
    return b;
}

std::vector<AllowedCase> icmp6_allowed_cases() {
    return {
        {"UDP datagram", make_ipv6({.payload = ports_l4(1, 2)}), 0, true},
        {"ICMPv6 echo request", icmp6_pkt(128), 0, true},
        {"ICMPv6 echo reply", icmp6_pkt(129), 0, true},
        {"neighbor solicitation (informational)", icmp6_pkt(135), 0, true},
        {"UDP behind routing and destination options",
         make_ipv6({.next_header = 43, .payload = cat({ext_header(60), ext_header(17), ports_l4(1, 2)})}), 0, true},
        {"echo request behind hop-by-hop", icmp6_behind(0, ext_header(58), 128), 0, true},
        {"non-first fragment (upper layer not visible)",
         make_ipv6({.next_header = 44, .payload = cat({frag_header(58, 10, false), Bytes(16, 0)})}), 0, true},
        {"no next header", make_ipv6({.next_header = 59}), 0, true},
        {"padded frame", [] {
             Bytes b = icmp6_pkt(128);
             b.resize(b.size() + 6, 0);
             return b;
         }(), 0, true},

        {"ICMPv6 destination unreachable (1)", icmp6_pkt(1, 3), 0, false},
        {"ICMPv6 packet too big (2)", icmp6_pkt(2), 0, false},
        {"ICMPv6 time exceeded (3)", icmp6_pkt(3), 0, false},
        {"ICMPv6 parameter problem (4)", icmp6_pkt(4, 1), 0, false},
        {"ICMPv6 unassigned error type 100", icmp6_pkt(100), 0, false},
        {"ICMPv6 error behind hop-by-hop and destination options",
         icmp6_behind(0, cat({ext_header(60), ext_header(58)}), 3), 0, false},
        {"ICMPv6 error in an atomic fragment", icmp6_behind(44, frag_header(58, 0, false), 1), 0, false},
        {"ICMPv6 error in a first fragment", [] {
             Bytes b = icmp6_behind(44, frag_header(58, 0, true), 1);
             b[48 + 2] ^= 0xff;  // checksum not checkable: the type alone decides
             return b;
         }(), 0, false},
        {"ICMPv6 shorter than 8 bytes", [] {
             Bytes b = make_ipv6({.next_header = 58, .payload = Bytes{128, 0, 0, 0, 0, 0}});
             fix_icmp6_checksum(b);
             return b;
         }(), 0, false},
        {"ICMPv6 with a bad checksum", [] {
             Bytes b = icmp6_pkt(128);
             b[47] ^= 1;
             return b;
         }(), 0, false},
        {"truncated extension header chain",
         make_ipv6({.next_header = 0, .payload = Bytes{58}}), 0, false},
        {"nine extension headers", [] {
             Bytes chain;
             for (int i = 0; i < 9; ++i) chain = cat({chain, ext_header(i == 8 ? 17 : 60)});
             return make_ipv6({.next_header = 60, .payload = cat({chain, ports_l4(1, 2)})});
         }(), 0, false},
        {"multicast destination", make_ipv6({.dst = "ff02::1:2", .payload = ports_l4(546, 547)}), 0, false},
        {"multicast source", make_ipv6({.src = "ff02::1"}), 0, false},
        {"unspecified source", make_ipv6({.src = "::"}), 0, false},
        {"loopback source", make_ipv6({.src = "::1"}), 0, false},
        {"39 bytes", make_ipv6({.payload = ports_l4(1, 2)}), 39, false},
        {"not IPv6", [] {
             Bytes b = make_ipv6({});
             b[0] = 0x45;
             return b;
         }(), 0, false},
    };
}

class Icmp6Allowed : public ::testing::TestWithParam<AllowedCase> {};

TEST_P(Icmp6Allowed, Case) {
    const AllowedCase& c = GetParam();
    size_t len = c.len ? c.len : c.pkt.size();
    EXPECT_EQ(icmp6_error_allowed(c.pkt.data(), len), c.want) << c.description;
}

INSTANTIATE_TEST_SUITE_P(Table, Icmp6Allowed, ::testing::ValuesIn(icmp6_allowed_cases()),
                         [](const auto& info) { return case_name(info.param.description); });

TEST(Icmp6AllowedMulticast, ExceptionsByType) {
    // RFC 4443 2.4(e.3): Packet Too Big and Parameter Problem code 2 may be
    // sent about a packet to a multicast address; nothing else may.
    Bytes mc = make_ipv6({.dst = "ff0e::1234", .payload = ports_l4(1, 2)});
    EXPECT_FALSE(icmp6_error_allowed(mc.data(), mc.size()));
    EXPECT_TRUE(icmp6_error_allowed(mc.data(), mc.size(), 2, 0));
    EXPECT_TRUE(icmp6_error_allowed(mc.data(), mc.size(), 4, 2));
    EXPECT_FALSE(icmp6_error_allowed(mc.data(), mc.size(), 4, 1));
    EXPECT_FALSE(icmp6_error_allowed(mc.data(), mc.size(), 3, 0));
    EXPECT_FALSE(icmp6_error_allowed(mc.data(), mc.size(), 1, 0));
    // The exception does not lift the other rules.
    Bytes mc_err = icmp6_pkt(1, 0, "ff0e::1234");
    EXPECT_FALSE(icmp6_error_allowed(mc_err.data(), mc_err.size(), 2, 0));
    Bytes uni = make_ipv6({.payload = ports_l4(1, 2)});
    EXPECT_TRUE(icmp6_error_allowed(uni.data(), uni.size(), 3, 0));
}

// ---- Echo replies -----------------------------------------------------------------

TEST(Icmp4Echo, ReplyMatchesScapy) {
    Bytes req = hex("45 00 00 24 43 21 00 00 39 01 40 b5 c0 00 02 01 cb 00 71 01 08 00 65 f0 00 77 00 03"
                    "61 62 63 64 65 66 67 68");
    Bytes rep = hex("45 00 00 24 43 21 00 00 40 01 39 b5 cb 00 71 01 c0 00 02 01 00 00 6d f0 00 77 00 03"
                    "61 62 63 64 65 66 67 68");
    ASSERT_TRUE(icmp4_echo_reply_inplace(req.data(), req.size()));
    EXPECT_EQ(to_hex(req), to_hex(rep));
}

TEST(Icmp4Echo, ReplyFields) {
    Bytes data(56);
    for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i);
    Bytes req = make_ipv4({.src = "192.0.2.10", .dst = "198.51.100.1", .proto = 1, .ttl = 3, .id = 77,
                           .options = hex("94 04 00 00"), .l4 = icmp4_msg(8, 0, 0x12340005, data)});
    Bytes frame = req;
    frame.resize(req.size() + 10, 0xee);  // trailing bytes are left alone
    ASSERT_TRUE(icmp4_echo_reply_inplace(frame.data(), req.size()));
    const uint8_t* ip = frame.data();
    EXPECT_EQ(0, std::memcmp(ip + 12, ip4("198.51.100.1").data(), 4)) << "src = original dst";
    EXPECT_EQ(0, std::memcmp(ip + 16, ip4("192.0.2.10").data(), 4)) << "dst = original src";
    EXPECT_EQ(ip[8], 64) << "TTL";
    EXPECT_EQ(get16(ip + 2), req.size()) << "length unchanged";
    EXPECT_EQ(get16(ip + 4), 77) << "id kept";
    EXPECT_EQ(ipv4_header_checksum(ip, 24), 0);
    const uint8_t* icmp = ip + 24;
    EXPECT_EQ(icmp[0], 0) << "echo reply";
    EXPECT_EQ(icmp[1], 0);
    EXPECT_EQ(load_be32(icmp + 4), 0x12340005u) << "identifier and sequence kept";
    EXPECT_EQ(0, std::memcmp(icmp + 8, data.data(), data.size())) << "data kept";
    EXPECT_EQ(csum_fold(csum_add(0, icmp, req.size() - 24)), 0) << "ICMP checksum verifies";
    EXPECT_EQ(frame[req.size()], 0xee);
    EXPECT_EQ(validate_ipv4(ip, req.size()), DropReason::none);
}

TEST(Icmp4Echo, AllZeroReplyChecksumIsFfff) {
    // Type 8 code 0 id 0 seq 0, no data: the reply's words are all zero and
    // its checksum must be 0xFFFF (an incremental update would give 0x0000).
    Bytes req = make_ipv4({.proto = 1, .l4 = icmp4_msg(8, 0, 0)});
    ASSERT_TRUE(icmp4_echo_reply_inplace(req.data(), req.size()));
    EXPECT_EQ(get16(req.data() + 22), 0xffff);
    EXPECT_EQ(csum_fold(csum_add(0, req.data() + 20, 8)), 0);
}

TEST(Icmp4Echo, RejectedLeavesPacketUntouched) {
    struct {
        const char* what;
        Bytes pkt;
        size_t len;
    } cases[] = {
        {"echo reply, not a request", make_ipv4({.proto = 1, .l4 = icmp4_msg(0, 0, 1)}), 0},
        {"destination unreachable", make_ipv4({.proto = 1, .l4 = icmp4_msg(3, 1, 0)}), 0},
        {"bad ICMP checksum", [] {
             Bytes b = make_ipv4({.proto = 1, .l4 = icmp4_msg(8, 0, 1, Bytes(4, 1))});
             b[30] ^= 1;
             return b;
         }(), 0},
        {"bad IP checksum", [] {
             Bytes b = make_ipv4({.proto = 1, .l4 = icmp4_msg(8, 0, 1)});
             b[10] ^= 1;
             return b;
         }(), 0},
        {"UDP", make_ipv4({.l4 = ports_l4(8, 0)}), 0},
        {"first fragment", make_ipv4({.proto = 1, .frag = 0x2000, .l4 = icmp4_msg(8, 0, 1, Bytes(8, 0))}), 0},
        {"non-first fragment", make_ipv4({.proto = 1, .frag = 0x0001, .l4 = icmp4_msg(8, 0, 1)}), 0},
        {"ICMP shorter than 8 bytes", make_ipv4({.proto = 1, .l4 = Bytes{8, 0, 0xf7, 0xff}}), 0},
        {"len below total length", make_ipv4({.proto = 1, .l4 = icmp4_msg(8, 0, 1, Bytes(8, 1))}), 30},
        {"len below 20", make_ipv4({.proto = 1, .l4 = icmp4_msg(8, 0, 1)}), 12},
        {"not IPv4", [] {
             Bytes b = make_ipv4({.proto = 1, .l4 = icmp4_msg(8, 0, 1)});
             b[0] = 0x65;
             return b;
         }(), 0},
    };
    for (auto& c : cases) {
        Bytes before = c.pkt;
        EXPECT_FALSE(icmp4_echo_reply_inplace(c.pkt.data(), c.len ? c.len : c.pkt.size())) << c.what;
        EXPECT_EQ(c.pkt, before) << c.what;
    }
}

Bytes echo6_fixture() {
    return hex("60 00 00 00 00 0c 3a 40 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01"
               "20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02 80 00 33 3e 12 34 00 01 70 69 6e 67");
}

TEST(Icmp6Echo, ReplyMatchesScapy) {
    Bytes req = echo6_fixture();
    A16 our = ip6("2001:db8::2");
    ASSERT_TRUE(icmp6_echo_reply_inplace(req.data(), req.size(), our.data()));
    Bytes rep = hex("60 00 00 00 00 0c 3a 40 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02"
                    "20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01 81 00 32 3e 12 34 00 01 70 69 6e 67");
    EXPECT_EQ(to_hex(req), to_hex(rep));
}

TEST(Icmp6Echo, OurSrcMayPointIntoThePacket) {
    // Request to our unicast address: the caller passes the packet's own
    // destination field as our_src.
    Bytes req = echo6_fixture();
    ASSERT_TRUE(icmp6_echo_reply_inplace(req.data(), req.size(), req.data() + 24));
    EXPECT_EQ(0, std::memcmp(req.data() + 8, ip6("2001:db8::2").data(), 16));
    EXPECT_EQ(0, std::memcmp(req.data() + 24, ip6("2001:db8::1").data(), 16));
    EXPECT_EQ(l4_checksum_v6(req.data() + 8, req.data() + 24, 58, req.data() + 40, 12), 0);
}

TEST(Icmp6Echo, ReplyToMulticastRequest) {
    Bytes req = make_ipv6({.src = "fe80::99", .dst = "ff02::1", .next_header = 58, .hop_limit = 1,
                           .payload = icmp6_msg(128, 0, 0x00070001, Bytes(100, 0x5a))});
    fix_icmp6_checksum(req);
    A16 our = ip6("fe80::1");
    size_t len = req.size();
    req.resize(len + 4, 0xee);
    ASSERT_TRUE(icmp6_echo_reply_inplace(req.data(), len, our.data()));
    const uint8_t* ip = req.data();
    EXPECT_EQ(0, std::memcmp(ip + 8, our.data(), 16)) << "src = our_src";
    EXPECT_EQ(0, std::memcmp(ip + 24, ip6("fe80::99").data(), 16)) << "dst = original source";
    EXPECT_EQ(ip[7], 64) << "hop limit";
    EXPECT_EQ(ip[40], 129);
    EXPECT_EQ(ip[41], 0);
    EXPECT_EQ(load_be32(ip + 44), 0x00070001u);
    EXPECT_EQ(get16(ip + 4), len - 40);
    EXPECT_EQ(l4_checksum_v6(ip + 8, ip + 24, 58, ip + 40, len - 40), 0);
    EXPECT_EQ(req[len], 0xee);
    EXPECT_EQ(validate_ipv6(ip, len), DropReason::none);
}

TEST(Icmp6Echo, RejectedLeavesPacketUntouched) {
    A16 our = ip6("2001:db8::2");
    struct {
        const char* what;
        Bytes pkt;
        size_t len;
    } cases[] = {
        {"echo reply, not a request", icmp6_pkt(129), 0},
        {"NS", icmp6_pkt(135), 0},
        {"bad checksum", [] {
             Bytes b = echo6_fixture();
             b[51] ^= 1;
             return b;
         }(), 0},
        {"behind a hop-by-hop header", icmp6_behind(0, ext_header(58), 128), 0},
        {"UDP", make_ipv6({.payload = ports_l4(1, 2)}), 0},
        {"truncated: len below payload", echo6_fixture(), 50},
        {"ICMPv6 shorter than 8 bytes", [] {
             Bytes b = make_ipv6({.next_header = 58, .payload = Bytes{128, 0, 0, 0}});
             fix_icmp6_checksum(b);
             return b;
         }(), 0},
        {"multicast source", icmp6_pkt(128, 0, "2001:db8::2", "ff02::1"), 0},
        {"unspecified source", icmp6_pkt(128, 0, "2001:db8::2", "::"), 0},
        {"not IPv6", [] {
             Bytes b = echo6_fixture();
             b[0] = 0x40;
             return b;
         }(), 0},
    };
    for (auto& c : cases) {
        Bytes before = c.pkt;
        EXPECT_FALSE(icmp6_echo_reply_inplace(c.pkt.data(), c.len ? c.len : c.pkt.size(), our.data())) << c.what;
        EXPECT_EQ(c.pkt, before) << c.what;
    }
}

}  // namespace
}  // namespace sluice::pkt::test
