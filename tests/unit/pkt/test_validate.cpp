// validate_ipv4 / validate_ipv6: one table case per DropReason, each a valid
// packet with exactly one defect, plus the valid and padded packets.
// Header accessors.
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>

#include "dataplane/pkt/validate.hpp"
#include "tests/unit/pkt/helpers.hpp"

namespace sluice::pkt::test {
namespace {

using dp::DropReason;

// The packet under test and how many bytes of it the validator may read.
struct Frame {
    Bytes b;
    size_t avail;
};

struct ValidateCase {
    const char* description;
    std::function<Frame()> build;
    DropReason want;
};

// Failure messages name the case instead of dumping its bytes.
void PrintTo(const ValidateCase& c, std::ostream* os) { *os << c.description; }

// ---- IPv4 --------------------------------------------------------------------

Bytes good4() { return make_ipv4({.l4 = ports_l4(12345, 53)}); }

Frame whole(Bytes b) {
    size_t n = b.size();
    return {std::move(b), n};
}

// Applies `f` to a valid packet, then repairs the header checksum.
Frame mut4(const std::function<void(uint8_t*)>& f, Ip4Spec spec = {.l4 = ports_l4(12345, 53)}) {
    Bytes b = make_ipv4(spec);
    f(b.data());
    fix_ipv4_checksum(b.data());
    return whole(std::move(b));
}

Frame with_src4(const char* a) { return whole(make_ipv4({.src = a, .l4 = ports_l4(1, 2)})); }
Frame with_dst4(const char* a) { return whole(make_ipv4({.dst = a, .l4 = ports_l4(1, 2)})); }
Frame with_opts(Bytes o) { return whole(make_ipv4({.options = std::move(o), .l4 = ports_l4(1, 2)})); }

const ValidateCase kIpv4Cases[] = {
    {"valid UDP packet", [] { return whole(good4()); }, DropReason::none},
    {"valid, frame padded past total length (Ethernet minimum)",
     [] {
         Bytes b = good4();
         b.resize(46 + 14, 0);
         return whole(b);
     },
     DropReason::none},
    {"valid, avail one past total length", [] {
         Bytes b = good4();
         b.push_back(0xee);
         return whole(b);
     }, DropReason::none},
    {"valid, header only (total length 20)", [] { return whole(make_ipv4({})); }, DropReason::none},
    {"valid, NOP NOP EOL options (IHL 6)", [] { return with_opts({1, 1, 0, 0}); }, DropReason::none},
    {"valid, record route option", [] { return with_opts(hex("07 07 04 00 00 00 00 00")); }, DropReason::none},
    {"valid, router alert option", [] { return with_opts(hex("94 04 00 00")); }, DropReason::none},
    {"valid, bytes after EOL are not parsed", [] { return with_opts(hex("00 ff 00 00")); }, DropReason::none},
    {"valid, 40 bytes of options (IHL 15)", [] { return with_opts(Bytes(40, 1)); }, DropReason::none},
    {"valid, TTL 0 is not checked here",
     [] { return whole(make_ipv4({.ttl = 0, .l4 = ports_l4(1, 2)})); }, DropReason::none},
    {"valid, TTL 1 is not checked here",
     [] { return whole(make_ipv4({.ttl = 1, .l4 = ports_l4(1, 2)})); }, DropReason::none},
    {"valid, destination limited broadcast", [] { return with_dst4("255.255.255.255"); }, DropReason::none},
    {"valid, destination multicast", [] { return with_dst4("224.0.0.5"); }, DropReason::none},
    {"valid, non-first fragment", [] { return whole(make_ipv4({.frag = 0x00b9, .l4 = Bytes(16, 1)})); },
     DropReason::none},

    {"19 bytes available", [] {
         Bytes b = good4();
         return Frame{b, 19};
     }, DropReason::ipv4_truncated},
    {"empty frame", [] { return Frame{Bytes(1, 0x45), 0}; }, DropReason::ipv4_truncated},
    {"version 6 in an IPv4 frame", [] { return mut4([](uint8_t* ip) { ip[0] = 0x65; }); },
     DropReason::ipv4_bad_version},
    {"version 0", [] { return mut4([](uint8_t* ip) { ip[0] = 0x05; }); }, DropReason::ipv4_bad_version},
    {"IHL 4 (16 bytes)", [] { return mut4([](uint8_t* ip) { ip[0] = 0x44; }); }, DropReason::ipv4_bad_ihl},
    {"IHL 0", [] { return mut4([](uint8_t* ip) { ip[0] = 0x40; }); }, DropReason::ipv4_bad_ihl},
    {"IHL 15 beyond the 40 available bytes", [] {
         Bytes b = good4();  // checksum left as is: it cannot cover 60 bytes of a 40-byte frame
         b[0] = 0x4f;
         return whole(b);
     }, DropReason::ipv4_bad_ihl},
    {"total length 19, below IHL*4", [] { return mut4([](uint8_t* ip) { put16(ip + 2, 19); }); },
     DropReason::ipv4_bad_ihl},
    {"total length 20 below IHL*4 24",
     [] {
         return mut4([](uint8_t* ip) { put16(ip + 2, 20); }, {.options = {1, 1, 1, 1}, .l4 = ports_l4(1, 2)});
     },
     DropReason::ipv4_bad_ihl},
    {"total length one past the frame", [] { return mut4([](uint8_t* ip) { put16(ip + 2, 41); }); },
     DropReason::ipv4_bad_total_length},
    {"total length 65535 in a small frame", [] { return mut4([](uint8_t* ip) { put16(ip + 2, 0xffff); }); },
     DropReason::ipv4_bad_total_length},
    {"header checksum off by one", [] {
         Bytes b = good4();
         b[11] ^= 1;
         return whole(b);
     }, DropReason::ipv4_bad_checksum},
    {"header checksum zero", [] {
         Bytes b = good4();
         b[10] = b[11] = 0;
         return whole(b);
     }, DropReason::ipv4_bad_checksum},
    {"checksum covers options: option byte flipped after checksumming", [] {
         Frame f = with_opts({1, 1, 1, 1});
         f.b[21] = 0;
         return f;
     }, DropReason::ipv4_bad_checksum},
    {"option length 0", [] { return with_opts(hex("44 00 00 00")); }, DropReason::ipv4_bad_options},
    {"option length 1", [] { return with_opts(hex("44 01 00 00")); }, DropReason::ipv4_bad_options},
    {"option length past the header", [] { return with_opts(hex("44 08 05 00")); }, DropReason::ipv4_bad_options},
    {"option type without a length byte at the end", [] { return with_opts(hex("01 01 01 07")); },
     DropReason::ipv4_bad_options},
    {"malformed option after a source route", [] { return with_opts(hex("83 03 04 01 01 44 00 00")); },
     DropReason::ipv4_bad_options},
    {"loose source route (131)", [] { return with_opts(hex("83 07 04 c0 00 02 09 00")); },
     DropReason::ipv4_source_route},
    {"strict source route (137)", [] { return with_opts(hex("89 07 04 c0 00 02 09 00")); },
     DropReason::ipv4_source_route},
    {"source route after NOPs", [] { return with_opts(hex("01 01 83 03 04 00 00 00")); },
     DropReason::ipv4_source_route},
    {"source multicast 224.0.0.1", [] { return with_src4("224.0.0.1"); }, DropReason::ipv4_bad_source},
    {"source multicast 239.255.255.255", [] { return with_src4("239.255.255.255"); }, DropReason::ipv4_bad_source},
    {"source limited broadcast", [] { return with_src4("255.255.255.255"); }, DropReason::ipv4_bad_source},
    {"source loopback 127.0.0.1", [] { return with_src4("127.0.0.1"); }, DropReason::ipv4_bad_source},
    {"source loopback 127.255.0.9", [] { return with_src4("127.255.0.9"); }, DropReason::ipv4_bad_source},
    {"source 0.0.0.0", [] { return with_src4("0.0.0.0"); }, DropReason::ipv4_bad_source},
    {"source 0.1.2.3 (this network)", [] { return with_src4("0.1.2.3"); }, DropReason::ipv4_bad_source},
    {"source class E 240.0.0.1", [] { return with_src4("240.0.0.1"); }, DropReason::ipv4_bad_source},
    {"source class E 254.255.255.255", [] { return with_src4("254.255.255.255"); }, DropReason::ipv4_bad_source},
    {"destination 0.0.0.0", [] { return with_dst4("0.0.0.0"); }, DropReason::ipv4_bad_destination},
    {"destination 0.9.9.9", [] { return with_dst4("0.9.9.9"); }, DropReason::ipv4_bad_destination},
    {"destination loopback 127.0.0.1", [] { return with_dst4("127.0.0.1"); }, DropReason::ipv4_bad_destination},
    {"destination class E 240.0.0.1", [] { return with_dst4("240.0.0.1"); }, DropReason::ipv4_bad_destination},
    {"destination class E 255.255.255.254", [] { return with_dst4("255.255.255.254"); },
     DropReason::ipv4_bad_destination},
};

class ValidateIpv4 : public ::testing::TestWithParam<ValidateCase> {};

TEST_P(ValidateIpv4, Case) {
    const ValidateCase& c = GetParam();
    Frame f = c.build();
    EXPECT_EQ(name_of(validate_ipv4(f.b.data(), f.avail)), name_of(c.want)) << c.description;
}

INSTANTIATE_TEST_SUITE_P(Table, ValidateIpv4, ::testing::ValuesIn(kIpv4Cases),
                         [](const auto& info) { return case_name(info.param.description); });

TEST(ValidateIpv4Table, CoversEveryReason) {
    std::set<DropReason> seen;
    for (const auto& c : kIpv4Cases) seen.insert(c.want);
    for (DropReason r : {DropReason::none, DropReason::ipv4_truncated, DropReason::ipv4_bad_version,
                         DropReason::ipv4_bad_ihl, DropReason::ipv4_bad_total_length, DropReason::ipv4_bad_checksum,
                         DropReason::ipv4_bad_options, DropReason::ipv4_source_route, DropReason::ipv4_bad_source,
                         DropReason::ipv4_bad_destination})
        EXPECT_TRUE(seen.count(r)) << name_of(r);
}

TEST(ValidateIpv4Order, FirstFailureWins) {
    // Bad checksum and bad source: the checksum is checked first.
    Bytes b = make_ipv4({.src = "127.0.0.1", .l4 = ports_l4(1, 2)});
    b[10] ^= 0xff;
    EXPECT_EQ(validate_ipv4(b.data(), b.size()), DropReason::ipv4_bad_checksum);
    // Bad source and bad destination: source first.
    b = make_ipv4({.src = "0.0.0.0", .dst = "127.0.0.1"});
    EXPECT_EQ(validate_ipv4(b.data(), b.size()), DropReason::ipv4_bad_source);
}

TEST(ValidateIpv4Unaligned, AnyStartAddress) {
    Bytes g = good4();
    std::vector<uint8_t> buf(g.size() + 8);
    for (size_t off = 0; off < 8; ++off) {
        std::memcpy(buf.data() + off, g.data(), g.size());
        EXPECT_EQ(validate_ipv4(buf.data() + off, g.size()), DropReason::none) << off;
    }
}

// The NIC's checksum verdict (RX offload): `good` skips the software check,
// `bad` fails at the checksum step, so earlier failures still win.
TEST(ValidateIpv4RxCsum, GoodSkipsSoftwareCheck) {
    Bytes b = good4();
    b[10] ^= 0xff;  // wrong in software's eyes
    EXPECT_EQ(validate_ipv4(b.data(), b.size(), RxCsum::unknown), DropReason::ipv4_bad_checksum);
    EXPECT_EQ(validate_ipv4(b.data(), b.size(), RxCsum::good), DropReason::none);
}

TEST(ValidateIpv4RxCsum, BadFailsAtTheChecksumStep) {
    Bytes b = good4();
    EXPECT_EQ(validate_ipv4(b.data(), b.size(), RxCsum::bad), DropReason::ipv4_bad_checksum);
    Bytes t = good4();
    put16(t.data() + 2, uint16_t(t.size() + 1));  // total length beyond the frame: checked first
    EXPECT_EQ(validate_ipv4(t.data(), t.size(), RxCsum::bad), DropReason::ipv4_bad_total_length);
    Bytes s = make_ipv4({.src = "127.0.0.1"});  // a bad source is checked after the checksum
    EXPECT_EQ(validate_ipv4(s.data(), s.size(), RxCsum::bad), DropReason::ipv4_bad_checksum);
    EXPECT_EQ(validate_ipv4(s.data(), s.size(), RxCsum::good), DropReason::ipv4_bad_source);
}

// The first-octet table that short-cuts the address tests agrees with the
// RFC 1812 5.3.7 rules for every first octet, as source and as destination.
TEST(ValidateIpv4Addresses, EveryFirstOctet) {
    for (int o = 0; o < 256; ++o) {
        std::string a = std::to_string(o) + ".1.2.3";
        Bytes src = make_ipv4({.src = a.c_str()});
        bool bad_src = o == 0 || o == 127 || o >= 224;
        EXPECT_EQ(validate_ipv4(src.data(), src.size()),
                  bad_src ? DropReason::ipv4_bad_source : DropReason::none) << a;
        Bytes dst = make_ipv4({.dst = a.c_str()});
        bool bad_dst = o == 0 || o == 127 || o >= 240;  // 224/4 is the forwarder's (not routed)
        EXPECT_EQ(validate_ipv4(dst.data(), dst.size()),
                  bad_dst ? DropReason::ipv4_bad_destination : DropReason::none) << a;
    }
    Bytes bcast = make_ipv4({.dst = "255.255.255.255"});
    EXPECT_EQ(validate_ipv4(bcast.data(), bcast.size()), DropReason::none) << "limited broadcast is the caller's";
}

// ---- IPv6 --------------------------------------------------------------------

Bytes good6() { return make_ipv6({.payload = ports_l4(12345, 53)}); }
Frame with_src6(const char* a) { return whole(make_ipv6({.src = a, .payload = ports_l4(1, 2)})); }
Frame with_dst6(const char* a) { return whole(make_ipv6({.dst = a, .payload = ports_l4(1, 2)})); }

const ValidateCase kIpv6Cases[] = {
    {"valid UDP packet", [] { return whole(good6()); }, DropReason::none},
    {"valid, frame padded past payload length", [] {
         Bytes b = good6();
         b.resize(b.size() + 7, 0);
         return whole(b);
     }, DropReason::none},
    {"valid, zero payload length", [] { return whole(make_ipv6({.next_header = 59})); }, DropReason::none},
    {"valid, link-local source", [] { return with_src6("fe80::1"); }, DropReason::none},
    {"valid, multicast destination", [] { return with_dst6("ff02::1"); }, DropReason::none},
    {"valid, hop limit 0 is not checked here",
     [] { return whole(make_ipv6({.hop_limit = 0, .payload = ports_l4(1, 2)})); }, DropReason::none},
    {"valid, source ::2 is not loopback", [] { return with_src6("::2"); }, DropReason::none},
    {"valid, source ::1:0:0:0:1 is not loopback", [] { return with_src6("::1:0:0:0:1"); }, DropReason::none},
    {"valid, IPv4-mapped source", [] { return with_src6("::ffff:192.0.2.1"); }, DropReason::none},

    {"39 bytes available", [] {
         Bytes b = good6();
         return Frame{b, 39};
     }, DropReason::ipv6_truncated},
    {"version 4 in an IPv6 frame", [] {
         Bytes b = good6();
         b[0] = 0x45;
         return whole(b);
     }, DropReason::ipv6_bad_version},
    {"version 7", [] {
         Bytes b = good6();
         b[0] = 0x70;
         return whole(b);
     }, DropReason::ipv6_bad_version},
    {"payload length one past the frame", [] {
         Bytes b = good6();
         put16(b.data() + 4, uint16_t(b.size() - 40 + 1));
         return whole(b);
     }, DropReason::ipv6_bad_payload_length},
    {"payload length in a header-only frame", [] {
         Bytes b = good6();
         return Frame{b, 40};
     }, DropReason::ipv6_bad_payload_length},
    {"source multicast ff02::1", [] { return with_src6("ff02::1"); }, DropReason::ipv6_bad_source},
    {"source multicast ff0e::101", [] { return with_src6("ff0e::101"); }, DropReason::ipv6_bad_source},
    {"source loopback ::1", [] { return with_src6("::1"); }, DropReason::ipv6_bad_source},
    {"source unspecified ::", [] { return with_src6("::"); }, DropReason::ipv6_bad_source},
    {"destination unspecified ::", [] { return with_dst6("::"); }, DropReason::ipv6_bad_destination},
    {"destination loopback ::1", [] { return with_dst6("::1"); }, DropReason::ipv6_bad_destination},
};

class ValidateIpv6 : public ::testing::TestWithParam<ValidateCase> {};

TEST_P(ValidateIpv6, Case) {
    const ValidateCase& c = GetParam();
    Frame f = c.build();
    EXPECT_EQ(name_of(validate_ipv6(f.b.data(), f.avail)), name_of(c.want)) << c.description;
}

INSTANTIATE_TEST_SUITE_P(Table, ValidateIpv6, ::testing::ValuesIn(kIpv6Cases),
                         [](const auto& info) { return case_name(info.param.description); });

TEST(ValidateIpv6Table, CoversEveryReason) {
    std::set<DropReason> seen;
    for (const auto& c : kIpv6Cases) seen.insert(c.want);
    for (DropReason r : {DropReason::none, DropReason::ipv6_truncated, DropReason::ipv6_bad_version,
                         DropReason::ipv6_bad_payload_length, DropReason::ipv6_bad_source,
                         DropReason::ipv6_bad_destination})
        EXPECT_TRUE(seen.count(r)) << name_of(r);
}

TEST(ValidateIpv6, DadCandidateShape) {
    Bytes ns = make_ipv6({.src = "::", .dst = "ff02::1:ff00:2", .next_header = 58, .hop_limit = 255,
                          .payload = icmp6_msg(135, 0, 0, Bytes(16, 0))});
    EXPECT_EQ(validate_ipv6(ns.data(), ns.size()), DropReason::ipv6_bad_source);
    EXPECT_TRUE(ipv6_is_dad_candidate(ns.data(), ns.size()));
    Bytes echo = make_ipv6({.src = "::", .dst = "ff02::1:ff00:2", .next_header = 58,
                            .payload = icmp6_msg(128, 0, 0)});
    EXPECT_FALSE(ipv6_is_dad_candidate(echo.data(), echo.size())) << "not an NS";
    Bytes uni = make_ipv6({.src = "::", .dst = "2001:db8::2", .next_header = 58,
                           .payload = icmp6_msg(135, 0, 0, Bytes(16, 0))});
    EXPECT_FALSE(ipv6_is_dad_candidate(uni.data(), uni.size())) << "not to a solicited-node group";
    Bytes g = good6();
    EXPECT_FALSE(ipv6_is_dad_candidate(g.data(), g.size()));
    EXPECT_FALSE(ipv6_is_dad_candidate(ns.data(), 40)) << "needs the ICMPv6 type byte";
}

// ---- Accessors -----------------------------------------------------------------

TEST(Accessors, Ipv4) {
    Bytes b = make_ipv4({.src = "198.18.2.3", .dst = "192.0.2.200", .proto = 6, .ttl = 17, .tos = 0xb8,
                         .id = 0xbeef, .frag = 0x4000, .options = {1, 1, 1, 1}, .l4 = ports_l4(80, 443, 4)});
    const uint8_t* ip = b.data();
    EXPECT_EQ(ipv4_version(ip), 4);
    EXPECT_EQ(ipv4_header_length(ip), 24u);
    EXPECT_EQ(ipv4_total_length(ip), 24 + 12);
    EXPECT_EQ(ipv4_tos(ip), 0xb8);
    EXPECT_EQ(ipv4_id(ip), 0xbeef);
    EXPECT_EQ(ipv4_ttl(ip), 17);
    EXPECT_EQ(ipv4_proto(ip), 6);
    EXPECT_EQ(ipv4_src(ip), 0xc6120203u);
    EXPECT_EQ(ipv4_dst(ip), 0xc00002c8u);
    EXPECT_EQ(ipv4_src_bytes(ip), ip + 12);
    EXPECT_EQ(ipv4_dst_bytes(ip), ip + 16);
    EXPECT_EQ(ipv4_src_bytes(b.data()), b.data() + 12);
    EXPECT_TRUE(ipv4_df(ip));
    EXPECT_FALSE(ipv4_mf(ip));
    EXPECT_FALSE(ipv4_is_fragment(ip));
    EXPECT_FALSE(ipv4_is_fragment_nonfirst(ip));
}

TEST(Accessors, Ipv4Fragments) {
    struct {
        const char* what;
        uint16_t frag;
        bool df, mf, any, nonfirst;
    } cases[] = {
        {"unfragmented", 0x0000, false, false, false, false},
        {"DF only", 0x4000, true, false, false, false},
        {"first fragment (MF)", 0x2000, false, true, true, false},
        {"middle fragment", 0x2010, false, true, true, true},
        {"last fragment", 0x0010, false, false, true, true},
        {"max offset", 0x1fff, false, false, true, true},
        {"reserved bit is not a fragment", 0x8000, false, false, false, false},
    };
    for (const auto& c : cases) {
        Bytes b = make_ipv4({.frag = c.frag});
        EXPECT_EQ(ipv4_df(b.data()), c.df) << c.what;
        EXPECT_EQ(ipv4_mf(b.data()), c.mf) << c.what;
        EXPECT_EQ(ipv4_is_fragment(b.data()), c.any) << c.what;
        EXPECT_EQ(ipv4_is_fragment_nonfirst(b.data()), c.nonfirst) << c.what;
    }
}

TEST(Accessors, Ipv6) {
    Bytes b = make_ipv6({.next_header = 6, .hop_limit = 2, .payload = ports_l4(1, 2, 5)});
    b[0] = 0x6a;
    b[1] = 0xb1;
    b[2] = 0x23;
    b[3] = 0x45;
    uint8_t* ip = b.data();
    EXPECT_EQ(ipv6_version(ip), 6);
    EXPECT_EQ(ipv6_traffic_class(ip), 0xab);
    EXPECT_EQ(ipv6_flow_label(ip), 0x12345u);
    EXPECT_EQ(ipv6_payload_length(ip), 13);
    EXPECT_EQ(ipv6_next_header(ip), 6);
    EXPECT_EQ(ipv6_hop_limit(ip), 2);
    EXPECT_EQ(0, std::memcmp(ipv6_src(ip), ip6("2001:db8::1").data(), 16));
    EXPECT_EQ(0, std::memcmp(ipv6_dst(ip), ip6("2001:db8:1::7").data(), 16));
    ipv6_decrement_hop_limit(ip);
    EXPECT_EQ(ipv6_hop_limit(ip), 1);
    ipv6_decrement_hop_limit(ip);
    EXPECT_EQ(ipv6_hop_limit(ip), 0);
}

TEST(Accessors, Ipv6AddressClasses) {
    EXPECT_TRUE(ipv6_addr_is_unspecified(ip6("::").data()));
    EXPECT_FALSE(ipv6_addr_is_unspecified(ip6("::1").data()));
    EXPECT_TRUE(ipv6_addr_is_loopback(ip6("::1").data()));
    EXPECT_FALSE(ipv6_addr_is_loopback(ip6("1::1").data()));
    EXPECT_TRUE(ipv6_addr_is_multicast(ip6("ff05::2").data()));
    EXPECT_TRUE(ipv6_addr_is_link_local(ip6("fe80::1").data()));
    EXPECT_TRUE(ipv6_addr_is_link_local(ip6("febf::1").data()));
    EXPECT_FALSE(ipv6_addr_is_link_local(ip6("fec0::1").data()));
    EXPECT_TRUE(ipv6_addr_is_solicited_node(ip6("ff02::1:ff12:3456").data()));
    EXPECT_FALSE(ipv6_addr_is_solicited_node(ip6("ff02::1").data()));
    EXPECT_FALSE(ipv6_addr_is_solicited_node(ip6("ff05::1:ff12:3456").data()));
}

TEST(Ipv6Chain, WalksExtensionHeaders) {
    Bytes udp = ports_l4(7, 9);
    struct {
        const char* what;
        Bytes payload;
        uint8_t first;
        bool ok;
        uint8_t proto;
        size_t offset;
        bool fragmented, nonfirst;
    } cases[] = {
        {"no extension headers", udp, 17, true, 17, 40, false, false},
        {"hop-by-hop, routing, destination options",
         cat({ext_header(43), ext_header(60, 1), ext_header(17), udp}), 0, true, 17, 40 + 8 + 16 + 8, false, false},
        {"atomic fragment", cat({frag_header(17, 0, false), udp}), 44, true, 17, 48, false, false},
        {"first fragment", cat({frag_header(17, 0, true), udp}), 44, true, 17, 48, true, false},
        {"non-first fragment", cat({frag_header(17, 100, false), Bytes(16, 0)}), 44, true, 17, 48, true, true},
        {"AH (4-byte units)", cat({Bytes{17, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, udp}), 51, true, 17, 52, false,
         false},
        {"truncated extension header", Bytes{17}, 0, false, 0, 0, false, false},
        {"chain ends exactly at the payload end", ext_header(17), 0, true, 17, 48, false, false},
        {"fragment header truncated", Bytes(4, 0), 44, false, 0, 0, false, false},
        {"no next header", Bytes{}, 59, true, 59, 40, false, false},
    };
    for (const auto& c : cases) {
        Bytes p = make_ipv6({.next_header = c.first, .payload = c.payload});
        Ipv6Chain r = ipv6_walk_chain(p.data(), p.size());
        EXPECT_EQ(r.ok, c.ok) << c.what;
        if (!c.ok) continue;
        EXPECT_EQ(r.proto, c.proto) << c.what;
        EXPECT_EQ(r.offset, c.offset) << c.what;
        EXPECT_EQ(r.fragmented, c.fragmented) << c.what;
        EXPECT_EQ(r.nonfirst_fragment, c.nonfirst) << c.what;
    }
    // A header that ends past the available bytes fails the walk.
    Bytes p = make_ipv6({.next_header = 0, .payload = cat({ext_header(60, 2), ext_header(17)})});
    EXPECT_FALSE(ipv6_walk_chain(p.data(), p.size() - 10).ok);
}

TEST(Ipv6Chain, Bounded) {
    Bytes chain;
    for (int i = 0; i < 9; ++i) chain = cat({chain, ext_header(60)});
    chain[chain.size() - 8] = 17;
    Bytes p = make_ipv6({.next_header = 60, .payload = cat({chain, ports_l4(1, 2)})});
    EXPECT_FALSE(ipv6_walk_chain(p.data(), p.size()).ok) << "9 extension headers exceed the bound";
    Bytes eight;
    for (int i = 0; i < 8; ++i) eight = cat({eight, ext_header(i == 7 ? 17 : 60)});
    p = make_ipv6({.next_header = 60, .payload = cat({eight, ports_l4(1, 2)})});
    Ipv6Chain r = ipv6_walk_chain(p.data(), p.size());
    EXPECT_TRUE(r.ok);
    EXPECT_EQ(r.proto, 17);
}

}  // namespace
}  // namespace sluice::pkt::test
