// The load balancer's packet rewrites (dataplane/lb/rewrite.hpp): byte for
// byte against packets built by scapy (fixtures/rewrite_fixtures.hpp, made by
// fixtures/gen_rewrite_fixtures.py), checksums verified from scratch, and
// every function on every truncation of every fixture (ASan builds catch a
// read past the buffer: each truncated copy is its own heap block).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <random>
#include <set>
#include <string>

#include "dataplane/lb/rewrite.hpp"
#include "dataplane/pkt/checksum.hpp"
#include "dataplane/pkt/ip.hpp"
#include "tests/unit/lb/fixtures/rewrite_fixtures.hpp"
#include "tests/unit/pkt/helpers.hpp"

namespace sluice::lb {
namespace {

using pkt::test::Bytes;
using pkt::test::get16;
using pkt::test::hex;
using pkt::test::ref_checksum;
using pkt::test::to_hex;

constexpr uint16_t kGuePort = 9886;  // the fixtures' GUE destination port

Bytes bytes(const fixtures::Blob& b) { return Bytes(b.data, b.data + b.size); }
Bytes prefix(const fixtures::Blob& b, size_t n) { return Bytes(b.data, b.data + n); }

// A port as the uint16_t the API takes: network order, the packet's bytes.
uint16_t port_of(const uint8_t p[2]) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}
uint16_t net16(uint16_t host) {
    const uint8_t b[2] = {uint8_t(host >> 8), uint8_t(host)};
    return port_of(b);
}

std::string key_str(const FlowKey& k) {
    const size_t n = k.v6 ? 16 : 4;
    return to_hex(k.src.data(), n) + " :" + std::to_string(get16(reinterpret_cast<const uint8_t*>(&k.sport))) +
           " -> " + to_hex(k.dst.data(), n) + " :" + std::to_string(get16(reinterpret_cast<const uint8_t*>(&k.dport))) +
           " proto " + std::to_string(k.proto) + (k.v6 ? " v6" : " v4");
}

// ---- checksums verified from scratch (RFC 1071 reference sum) ---------------------

uint16_t ref_sum_with(const Bytes& pseudo, const uint8_t* p, size_t n) {
    Bytes all = pseudo;
    all.insert(all.end(), p, p + n);
    return ref_checksum(all.data(), all.size());
}

Bytes pseudo4(const uint8_t* ip, uint8_t proto, size_t len) {
    Bytes ph(ip + 12, ip + 20);
    ph.insert(ph.end(), {0, proto, uint8_t(len >> 8), uint8_t(len)});
    return ph;
}

Bytes pseudo6(const uint8_t* ip, uint8_t nh, size_t len) {
    Bytes ph(ip + 8, ip + 40);
    ph.insert(ph.end(), {uint8_t(len >> 24), uint8_t(len >> 16), uint8_t(len >> 8), uint8_t(len), 0, 0, 0, nh});
    return ph;
}

// Every checksum a whole packet carries verifies: the IPv4 header's, and the
// L4 one of an unfragmented TCP, UDP (unless 0), ICMP or ICMPv6
// packet. Recurses into an encapsulated inner packet (IPIP, GUE).
void expect_checksums_ok(const uint8_t* ip, size_t len, const std::string& what) {
    SCOPED_TRACE(what);
    ASSERT_GE(len, 1u);
    uint8_t proto;
    size_t l4, end;
    bool whole;
    bool v6 = (ip[0] >> 4) == 6;
    if (!v6) {
        ASSERT_GE(len, 20u);
        size_t hl = size_t(ip[0] & 15) * 4;
        EXPECT_EQ(ref_checksum(ip, hl), 0) << "IPv4 header checksum";
        end = get16(ip + 2);
        ASSERT_LE(end, len);
        proto = ip[9];
        l4 = hl;
        whole = (get16(ip + 6) & 0x3fff) == 0;
    } else {
        end = 40 + get16(ip + 4);
        ASSERT_LE(end, len);
        pkt::Ipv6Chain c = pkt::ipv6_walk_chain(ip, end);
        ASSERT_TRUE(c.ok);
        proto = c.proto;
        l4 = c.offset;
        whole = !c.fragmented;
    }
    if (!whole) return;
    const uint8_t* m = ip + l4;
    const size_t n = end - l4;
    if (proto == 4 || proto == 41) return expect_checksums_ok(m, n, what + " / inner");
    if (proto == pkt::kProtoTcp || proto == pkt::kProtoUdp || (v6 && proto == pkt::kProtoIcmpv6)) {
        // UDP checksum 0: none over IPv4; over IPv6 only in the fixture that
        // checks that NAT leaves such a (non-conforming) packet as it is.
        if (!(proto == pkt::kProtoUdp && get16(m + 6) == 0)) {
            Bytes ph = v6 ? pseudo6(ip, proto, n) : pseudo4(ip, proto, n);
            EXPECT_EQ(ref_sum_with(ph, m, n), 0) << "L4 checksum, proto " << int(proto);
        }
        if (proto == pkt::kProtoUdp && n >= 8 + 20 && get16(m + 2) == kGuePort)
            expect_checksums_ok(m + 8, n - 8, what + " / GUE inner");
    } else if (proto == pkt::kProtoIcmp) {
        EXPECT_EQ(ref_checksum(m, n), 0) << "ICMP checksum";
    }
}

// ---- fixtures: byte for byte -----------------------------------------------------

bool nat(const fixtures::NatCase& c, uint8_t* ip, uint32_t avail) {
    return c.dst ? nat_set_dst(ip, avail, c.addr, port_of(c.port)) : nat_set_src(ip, avail, c.addr, port_of(c.port));
}

TEST(RewriteFixtures, NatMatchesScapy) {
    for (const auto& c : fixtures::kNatCases) {
        SCOPED_TRACE(std::string(c.name) + ": " + c.description);
        Bytes b = bytes(c.in);
        ASSERT_TRUE(nat(c, b.data(), uint32_t(b.size())));
        EXPECT_EQ(to_hex(b), to_hex(bytes(c.out)));
        expect_checksums_ok(b.data(), b.size(), c.name);
    }
}

uint32_t encap(const fixtures::EncapCase& c, uint8_t* out, uint32_t inner_len) {
    Outer o;
    o.v6 = c.outer_v6;
    std::memcpy(o.src, c.src, 16);
    std::memcpy(o.dst, c.dst, 16);
    return c.gue ? write_gue(out, o, inner_len, port_of(c.sport), port_of(c.dport), c.flow_label)
                 : write_ipip(out, o, inner_len, c.flow_label);
}

TEST(RewriteFixtures, EncapMatchesScapy) {
    for (const auto& c : fixtures::kEncapCases) {
        SCOPED_TRACE(std::string(c.name) + ": " + c.description);
        const uint32_t head = encap_overhead(c.outer_v6, c.gue);
        ASSERT_EQ(c.out.size, head + c.in.size);
        Bytes b(head, 0xee);  // stale bytes where the outer headers go
        b.insert(b.end(), c.in.data, c.in.data + c.in.size);
        ASSERT_EQ(encap(c, b.data(), uint32_t(c.in.size)), head);
        EXPECT_EQ(to_hex(b), to_hex(bytes(c.out)));
        expect_checksums_ok(b.data(), b.size(), c.name);
    }
}

FlowKey expected_flow(const fixtures::IcmpCase& c) {
    FlowKey k;
    std::memcpy(k.src.data(), c.client, c.v6 ? 16 : 4);
    std::memcpy(k.dst.data(), c.vip, c.v6 ? 16 : 4);
    k.sport = port_of(c.client_port);
    k.dport = port_of(c.vip_port);
    k.proto = c.proto;
    k.v6 = c.v6;
    return k;
}

TEST(RewriteFixtures, IcmpInnerFlow) {
    for (const auto& c : fixtures::kIcmpCases) {
        SCOPED_TRACE(std::string(c.name) + ": " + c.description);
        Bytes b = bytes(c.in);
        auto k = icmp_error_inner_flow(b.data(), uint32_t(b.size()));
        ASSERT_TRUE(k.has_value());
        EXPECT_EQ(key_str(*k), key_str(expected_flow(c)));
        EXPECT_TRUE(*k == expected_flow(c)) << "padding and unused address bytes zero";
        EXPECT_EQ(to_hex(b), to_hex(bytes(c.in))) << "read only";
    }
}

TEST(RewriteFixtures, IcmpNatToBackendMatchesScapy) {
    for (const auto& c : fixtures::kIcmpCases) {
        SCOPED_TRACE(std::string(c.name) + ": " + c.description);
        Bytes b = bytes(c.in);
        ASSERT_TRUE(nat_icmp_error_to_backend(b.data(), uint32_t(b.size()), c.backend, port_of(c.backend_port)));
        EXPECT_EQ(to_hex(b), to_hex(bytes(c.out)));
        expect_checksums_ok(b.data(), b.size(), c.name);
        // The quoted IPv4 header's checksum still verifies.
        if (!c.v6) {
            const uint8_t* q = b.data() + 20 + 8;
            EXPECT_EQ(ref_checksum(q, size_t(q[0] & 15) * 4), 0) << "quoted IPv4 header checksum";
        }
    }
}

// ---- every truncation ------------------------------------------------------------------

TEST(RewriteRobustness, NatEveryTruncation) {
    for (const auto& c : fixtures::kNatCases) {
        SCOPED_TRACE(c.name);
        bool ok_before = false;
        for (size_t n = 0; n <= c.in.size; ++n) {
            Bytes b = prefix(c.in, n);  // its own heap block: ASan sees any read past n
            bool ok = nat(c, b.data(), uint32_t(n));
            if (ok) {
                // Only what lies within n is rewritten, and exactly as scapy does.
                EXPECT_EQ(to_hex(b), to_hex(prefix(c.out, n))) << "n=" << n;
            } else {
                EXPECT_EQ(to_hex(b), to_hex(prefix(c.in, n))) << "refused, but changed: n=" << n;
                EXPECT_FALSE(ok_before) << "refused at n=" << n << " after accepting a shorter packet";
            }
            ok_before = ok_before || ok;
        }
        EXPECT_TRUE(ok_before);
    }
}

TEST(RewriteRobustness, EncapEveryInnerLength) {
    for (const auto& c : fixtures::kEncapCases) {
        SCOPED_TRACE(c.name);
        const uint32_t head = encap_overhead(c.outer_v6, c.gue);
        const size_t fixed = (c.in.data[0] >> 4) == 6 ? 40 : 20;
        for (size_t n = 0; n <= c.in.size; ++n) {
            Bytes b(head, 0xee);
            b.insert(b.end(), c.in.data, c.in.data + n);
            const uint32_t r = encap(c, b.data(), uint32_t(n));
            if (n < fixed) {
                EXPECT_EQ(r, 0u) << "inner of " << n << " bytes is no IP packet";
                EXPECT_EQ(b[0], 0xee) << "nothing written";
                continue;
            }
            ASSERT_EQ(r, head) << "n=" << n;
            if (c.outer_v6) {
                EXPECT_EQ(get16(b.data() + 4), head - 40 + n) << "payload length";
            } else {
                EXPECT_EQ(get16(b.data() + 2), head + n) << "total length";
                EXPECT_EQ(ref_checksum(b.data(), 20), 0);
            }
            if (c.gue) {
                const uint8_t* udp = b.data() + (c.outer_v6 ? 40 : 20);
                EXPECT_EQ(get16(udp + 4), 8 + n) << "UDP length";
                if (c.outer_v6) {
                    EXPECT_EQ(ref_sum_with(pseudo6(b.data(), 17, 8 + n), udp, 8 + n), 0) << "n=" << n;
                }
            }
        }
    }
}

TEST(RewriteRobustness, IcmpEveryTruncation) {
    for (const auto& c : fixtures::kIcmpCases) {
        SCOPED_TRACE(c.name);
        const FlowKey want = expected_flow(c);
        FlowKey want_no_ports = want;
        want_no_ports.sport = want_no_ports.dport = 0;
        int stage = 0;  // 0: nothing yet, 1: the flow without ports, 2: the whole flow
        for (size_t n = 0; n <= c.in.size; ++n) {
            Bytes b = prefix(c.in, n);
            auto k = icmp_error_inner_flow(b.data(), uint32_t(n));
            int now = !k ? 0 : *k == want ? 2 : *k == want_no_ports ? 1 : -1;
            ASSERT_NE(now, -1) << "n=" << n << ": " << key_str(*k);
            EXPECT_GE(now, stage) << "n=" << n;
            stage = now;
            bool ok = nat_icmp_error_to_backend(b.data(), uint32_t(n), c.backend, port_of(c.backend_port));
            EXPECT_EQ(ok, n == c.in.size) << "the whole message is needed: n=" << n;
            if (!ok) {
                EXPECT_EQ(to_hex(b), to_hex(prefix(c.in, n))) << "refused, but changed: n=" << n;
            }
        }
        EXPECT_EQ(stage, 2);
    }
}

// Random corruption of every fixture, at random lengths: nothing reads out
// of bounds (ASan), a refusal changes nothing. Deterministic seed, bounded.
TEST(RewriteRobustness, CorruptedInputs) {
    std::mt19937 rng(12345);
    auto run = [&](const fixtures::Blob& in, const uint8_t* addr) {
        for (int i = 0; i < 300; ++i) {
            Bytes b = bytes(in);
            const int flips = 1 + int(rng() % 4);
            for (int f = 0; f < flips; ++f) {
                // Mostly within the headers, where the parsers look.
                size_t at = rng() % std::min<size_t>(b.size(), (rng() & 1) ? 64 : b.size());
                b[at] = uint8_t(rng());
            }
            b.resize(rng() % (b.size() + 1));
            const Bytes orig = b;
            const uint16_t port = uint16_t(rng());
            Bytes t = b;
            if (!nat_set_dst(t.data(), uint32_t(t.size()), addr, port)) {
                EXPECT_EQ(t, orig);
            }
            t = b;
            if (!nat_set_src(t.data(), uint32_t(t.size()), addr, port)) {
                EXPECT_EQ(t, orig);
            }
            t = b;
            (void)icmp_error_inner_flow(t.data(), uint32_t(t.size()));
            EXPECT_EQ(t, orig);
            if (!nat_icmp_error_to_backend(t.data(), uint32_t(t.size()), addr, port)) {
                EXPECT_EQ(t, orig);
            }
            // Encapsulation in front of a corrupt inner (the caller never
            // passes one; still bounded by inner_len).
            for (bool v6 : {false, true}) {
                Outer o;
                o.v6 = v6;
                Bytes e(encap_overhead(v6, true), 0);
                e.insert(e.end(), b.begin(), b.end());
                (void)write_gue(e.data(), o, uint32_t(b.size()), 1, 2, 3);
                Bytes e2(encap_overhead(v6, false), 0);
                e2.insert(e2.end(), b.begin(), b.end());
                (void)write_ipip(e2.data(), o, uint32_t(b.size()), 3);
            }
        }
    };
    for (const auto& c : fixtures::kNatCases) run(c.in, c.addr);
    for (const auto& c : fixtures::kIcmpCases) run(c.in, c.backend);
    for (const auto& c : fixtures::kEncapCases) run(c.out, c.dst);
}

// ---- encapsulation details ---------------------------------------------------------------

TEST(EncapSource, Ipv4HostBitsFromHash) {
    const uint8_t p[4] = {198, 19, 0, 0};
    uint8_t out[4];
    encap_source(p, 16, false, 0xdeadbeef, out);
    EXPECT_EQ(to_hex(out, 4), "c6 13 be ef");
    encap_source(p, 24, false, 0xdeadbeef, out);
    EXPECT_EQ(to_hex(out, 4), "c6 13 00 ef");
    encap_source(p, 32, false, 0xdeadbeef, out);
    EXPECT_EQ(to_hex(out, 4), "c6 13 00 00") << "a /32 is the address itself";
    encap_source(p, 0, false, 0xdeadbeef, out);
    EXPECT_EQ(to_hex(out, 4), "de ad be ef");
    const uint8_t dirty[4] = {198, 19, 0x55, 0x55};
    encap_source(dirty, 23, false, 0, out);
    EXPECT_EQ(to_hex(out, 4), "c6 13 54 00") << "host bits come from the hash only";
}

TEST(EncapSource, Ipv6LowBitsFromHash) {
    const auto p = pkt::test::ip6("2001:db8:ff::");
    uint8_t out[16];
    encap_source(p.data(), 64, true, 0xdeadbeef, out);
    EXPECT_EQ(to_hex(out, 16), to_hex(pkt::test::ip6("2001:db8:ff::dead:beef").data(), 16))
        << "bits 64..95 keep the prefix's (zero), the low 32 take the hash";
    encap_source(p.data(), 112, true, 0xdeadbeef, out);
    EXPECT_EQ(to_hex(out, 16), to_hex(pkt::test::ip6("2001:db8:ff::beef").data(), 16));
    encap_source(p.data(), 100, true, 0xffffffff, out);
    EXPECT_EQ(to_hex(out, 16), to_hex(pkt::test::ip6("2001:db8:ff::fff:ffff").data(), 16));
    const auto q = pkt::test::ip6("2001:db8:ff::1:2");
    encap_source(q.data(), 128, true, 0xdeadbeef, out);
    EXPECT_EQ(to_hex(out, 16), to_hex(q.data(), 16)) << "a /128 is the address itself";
    const auto r = pkt::test::ip6("2001:db8:ff::1:0:0:0");
    encap_source(r.data(), 64, true, 7, out);
    EXPECT_EQ(to_hex(out, 16), to_hex(pkt::test::ip6("2001:db8:ff::1:0:0:7").data(), 16))
        << "bits between len and 96 stay the prefix's";
}

TEST(EncapGue, SourcePortRange) {
    std::set<uint16_t> seen;
    for (uint32_t i = 0; i < 100000; ++i) {
        const uint32_t h = i * 2654435761u;
        const uint16_t p = gue_source_port(h);
        const uint16_t v = get16(reinterpret_cast<const uint8_t*>(&p));
        ASSERT_GE(v, 32768);
        seen.insert(v);
    }
    EXPECT_GT(seen.size(), 30000u) << "spreads over the 32768 ports";
    // The high half of the hash counts too.
    EXPECT_NE(gue_source_port(0x00010000), gue_source_port(0));
    EXPECT_EQ(gue_source_port(0x12345678), gue_source_port(0x12345678)) << "deterministic";
}

TEST(EncapIpip, TooLongForTheOuterLength) {
    Bytes b(60 + 65535, 0);
    Outer o4, o6;
    o6.v6 = true;
    // IPv4 inner header at the right place for each variant.
    auto put_inner = [&](uint32_t head) {
        std::fill(b.begin(), b.end(), 0);
        b[head] = 0x45;
    };
    put_inner(20);
    EXPECT_EQ(write_ipip(b.data(), o4, 65535 - 20, 0), 20u) << "exactly 65535";
    EXPECT_EQ(write_ipip(b.data(), o4, 65535 - 19, 0), 0u);
    put_inner(28);
    EXPECT_EQ(write_gue(b.data(), o4, 65535 - 28, 1, 2, 0), 28u);
    EXPECT_EQ(write_gue(b.data(), o4, 65535 - 27, 1, 2, 0), 0u);
    put_inner(40);
    EXPECT_EQ(write_ipip(b.data(), o6, 65535, 0), 40u) << "payload length 65535";
    put_inner(48);
    EXPECT_EQ(write_gue(b.data(), o6, 65535 - 8, 1, 2, 0), 48u);
    EXPECT_EQ(write_gue(b.data(), o6, 65535 - 7, 1, 2, 0), 0u) << "no jumbograms";
}

TEST(EncapIpip, FlowLabelTwentyBits) {
    const auto& c = fixtures::kEncapCases[0];
    Bytes b(40, 0);
    b.insert(b.end(), c.in.data, c.in.data + c.in.size);
    Outer o;
    o.v6 = true;
    ASSERT_EQ(write_ipip(b.data(), o, uint32_t(c.in.size), 0xfff12345), 40u);
    EXPECT_EQ(pkt::load_be32(b.data()) & 0xfffff, 0x12345u);
    EXPECT_EQ(b[0] >> 4, 6) << "the label's high bits do not touch version or traffic class";
    EXPECT_EQ(pkt::ipv6_traffic_class(b.data()), c.in.data[1]) << "traffic class = inner TOS";
}

// ---- NAT details -----------------------------------------------------------------------------

const pkt::test::A4 kClient4 = pkt::test::ip4("198.18.0.10");
const pkt::test::A4 kVip4 = pkt::test::ip4("198.18.1.1");
const pkt::test::A4 kBackend4 = pkt::test::ip4("198.18.2.20");
const pkt::test::A16 kClient6 = pkt::test::ip6("2001:db8:1::10");
const pkt::test::A16 kVip6 = pkt::test::ip6("2001:db8:100::1");
const pkt::test::A16 kBackend6 = pkt::test::ip6("2001:db8:2::20");

TEST(NatSet, OtherProtocolAddressOnly) {
    // GRE (47): no checksum over the addresses; only the address and the
    // IPv4 header checksum change.
    Bytes b = pkt::test::make_ipv4({.src = "198.18.0.10", .dst = "198.18.1.1", .proto = 47,
                                    .l4 = hex("00 00 08 00 de ad be ef")});
    Bytes want = b;
    std::memcpy(want.data() + 16, kBackend4.data(), 4);
    pkt::ipv4_set_header_checksum(want.data());
    ASSERT_TRUE(nat_set_dst(b.data(), uint32_t(b.size()), kBackend4.data(), net16(8080)));
    EXPECT_EQ(to_hex(b), to_hex(want));
}

TEST(NatSet, Malformed) {
    Bytes good = pkt::test::make_ipv4({.src = "198.18.0.10", .dst = "198.18.1.1", .proto = 17,
                                       .l4 = pkt::test::ports_l4(40000, 53)});
    auto refused = [](Bytes b, const char* why) {
        const Bytes orig = b;
        EXPECT_FALSE(nat_set_dst(b.data(), uint32_t(b.size()), kBackend4.data(), net16(1))) << why;
        EXPECT_FALSE(nat_set_src(b.data(), uint32_t(b.size()), kBackend4.data(), net16(1))) << why;
        EXPECT_EQ(b, orig) << why;
    };
    Bytes b = good;
    b[0] = 0x44;
    refused(b, "IHL 4");
    b = good;
    b[0] = 0x55;
    refused(b, "version 5");
    b = good;
    pkt::test::put16(b.data() + 2, 19);
    refused(b, "total length shorter than the header");
    b = good;
    pkt::test::put16(b.data() + 2, 24);
    refused(b, "total length cuts the UDP header");
    // An IPv6 chain longer than the walk allows.
    Bytes ext;
    for (int i = 0; i < 9; ++i) {
        Bytes h = pkt::test::ext_header(i == 8 ? 17 : 60);
        ext.insert(ext.end(), h.begin(), h.end());
    }
    Bytes l4 = pkt::test::ports_l4(40000, 53);
    ext.insert(ext.end(), l4.begin(), l4.end());
    Bytes v6 = pkt::test::make_ipv6({.src = "2001:db8:1::10", .dst = "2001:db8:100::1", .next_header = 60,
                                     .payload = ext});
    const Bytes orig = v6;
    EXPECT_FALSE(nat_set_dst(v6.data(), uint32_t(v6.size()), kBackend6.data(), net16(1)));
    EXPECT_EQ(v6, orig);
}

TEST(NatSet, PaddingIsNotRewritten) {
    // A UDP datagram in a frame padded to the Ethernet minimum: the L4 update
    // is bounded by the total length, never by the frame.
    const auto& c = fixtures::kNatCases[3];  // v4_udp_dst_port
    ASSERT_STREQ(c.name, "v4_udp_dst_port");
    Bytes b = bytes(c.in);
    b.resize(b.size() + 20, 0xaa);
    ASSERT_TRUE(nat(c, b.data(), uint32_t(b.size())));
    Bytes want = bytes(c.out);
    want.resize(want.size() + 20, 0xaa);
    EXPECT_EQ(to_hex(b), to_hex(want));
}

// Random packets, random addresses and ports (within the test ranges): the
// incremental update always equals a full recomputation, including the
// 0x0000 / 0xFFFF corners. Deterministic seed, bounded.
TEST(NatSet, IncrementalEqualsRecomputed) {
    std::mt19937 rng(7);
    auto rand_bytes = [&](uint8_t* p, size_t n) {
        for (size_t i = 0; i < n; ++i) p[i] = uint8_t(rng());
    };
    for (int i = 0; i < 20000; ++i) {
        const bool v6 = i & 1;
        const bool tcp = (i >> 1) & 1;
        const bool dst = (i >> 2) & 1;
        const size_t l4len = (tcp ? 20 : 8) + rng() % 40;
        const size_t hl = v6 ? 40 : 20;
        Bytes b(hl + l4len);
        uint8_t* ip = b.data();
        uint8_t* m = ip + hl;
        rand_bytes(m, l4len);
        const uint8_t proto = tcp ? 6 : 17;
        if (tcp) m[12] = 0x50;
        else pkt::test::put16(m + 4, uint16_t(l4len));
        Bytes a_old(v6 ? 16 : 4), a_new(v6 ? 16 : 4), other(v6 ? 16 : 4);
        for (Bytes* a : {&a_old, &a_new, &other}) {
            rand_bytes(a->data(), a->size());
            if (v6) {
                (*a)[0] = 0x20, (*a)[1] = 0x01, (*a)[2] = 0x0d, (*a)[3] = 0xb8;
            } else {
                (*a)[0] = 198, (*a)[1] = uint8_t(18 + ((*a)[1] & 1));
            }
        }
        if (!v6) {
            ip[0] = 0x45;
            pkt::test::put16(ip + 2, uint16_t(b.size()));
            ip[8] = 64;
            ip[9] = proto;
            std::memcpy(ip + (dst ? 16 : 12), a_old.data(), 4);
            std::memcpy(ip + (dst ? 12 : 16), other.data(), 4);
            pkt::ipv4_set_header_checksum(ip);
        } else {
            ip[0] = 0x60;
            pkt::test::put16(ip + 4, uint16_t(l4len));
            ip[6] = proto;
            ip[7] = 64;
            std::memcpy(ip + (dst ? 24 : 8), a_old.data(), 16);
            std::memcpy(ip + (dst ? 8 : 24), other.data(), 16);
        }
        // A correct L4 checksum, computed from scratch; a UDP 0 sent as 0xFFFF.
        const size_t ck = tcp ? 16 : 6;
        auto fix = [&](Bytes& p) {
            uint8_t* l = p.data() + hl;
            pkt::test::put16(l + ck, 0);
            Bytes ph = v6 ? pseudo6(p.data(), proto, l4len) : pseudo4(p.data(), proto, l4len);
            uint16_t c = ref_sum_with(ph, l, l4len);
            if (!tcp && c == 0) c = 0xffff;
            pkt::test::put16(l + ck, c);
        };
        fix(b);
        const uint16_t port = (rng() & 3) ? uint16_t(rng()) : 0;
        Bytes want = b;
        std::memcpy(want.data() + (v6 ? (dst ? 24 : 8) : (dst ? 16 : 12)), a_new.data(), a_new.size());
        if (port) std::memcpy(want.data() + hl + (dst ? 2 : 0), &port, 2);
        if (!v6) pkt::ipv4_set_header_checksum(want.data());
        fix(want);
        // One time in four, force a corner: the first payload word chosen
        // so that the checksum of the input (or of the result) computes to
        // 0 (the data then sums to 0xFFFF: with the word 0 the checksum is
        // c, and ~c + c = 0xFFFF).
        const int corner = int(rng() % 8);
        const size_t wat = hl + (tcp ? 20 : 8);
        if (corner < 2 && b.size() >= wat + 2) {
            Bytes& target = corner == 0 ? b : want;
            pkt::test::put16(b.data() + wat, 0);
            pkt::test::put16(want.data() + wat, 0);
            fix(target);
            const uint16_t c = get16(target.data() + hl + ck);
            if (c != 0 && c != 0xffff) {
                pkt::test::put16(b.data() + wat, c);
                pkt::test::put16(want.data() + wat, c);
            }
            fix(b);
            fix(want);
            if (c != 0 && c != 0xffff) {
                EXPECT_EQ(get16(target.data() + hl + ck), tcp ? 0x0000 : 0xffff);
            }
        }
        ASSERT_TRUE(dst ? nat_set_dst(b.data(), uint32_t(b.size()), a_new.data(), port)
                        : nat_set_src(b.data(), uint32_t(b.size()), a_new.data(), port));
        ASSERT_EQ(to_hex(b), to_hex(want)) << "i=" << i;
    }
}

// IPv4 TCP and UDP take nat_set's fast plan and fixed-size sums
// (rewrite.cpp, nat_plan_v4_common, folded_sum_n): addresses and ports whose
// 16-bit words are 0x0000 or 0xFFFF (the sums' carry and zero corners) must
// give exactly what a full recomputation gives, as every other value does.
TEST(NatSet, Ipv4WordExtremesEqualRecomputed) {
    const uint8_t addrs[][4] = {{0, 0, 0, 0}, {255, 255, 255, 255}, {255, 255, 0, 0}, {0, 0, 255, 255}, {198, 18, 4, 10}};
    const uint16_t ports[] = {0, 0xffff, 0x0100, 80};
    for (int tcp = 0; tcp < 2; ++tcp)
        for (int dst = 0; dst < 2; ++dst)
            for (const auto& a_old : addrs)
                for (const auto& a_new : addrs)
                    for (uint16_t port_host : ports) {
                        const uint8_t proto = tcp ? 6 : 17;
                        const size_t l4len = tcp ? 20 : 12;
                        Bytes b(20 + l4len, 0);
                        uint8_t* ip = b.data();
                        ip[0] = 0x45;
                        pkt::test::put16(ip + 2, uint16_t(b.size()));
                        ip[8] = 64;
                        ip[9] = proto;
                        const uint8_t other[4] = {198, 18, 0, 7};
                        std::memcpy(ip + (dst ? 16 : 12), a_old, 4);
                        std::memcpy(ip + (dst ? 12 : 16), other, 4);
                        uint8_t* l = ip + 20;
                        pkt::test::put16(l, 0xffff);  // source port
                        pkt::test::put16(l + 2, 0);   // destination port
                        if (tcp) l[12] = 0x50;
                        else pkt::test::put16(l + 4, uint16_t(l4len));
                        const size_t ck = tcp ? 16 : 6;
                        auto fix = [&](Bytes& p) {
                            pkt::ipv4_set_header_checksum(p.data());
                            uint8_t* q = p.data() + 20;
                            pkt::test::put16(q + ck, 0);
                            uint16_t c = ref_sum_with(pseudo4(p.data(), proto, l4len), q, l4len);
                            if (!tcp && c == 0) c = 0xffff;
                            pkt::test::put16(q + ck, c);
                        };
                        fix(b);
                        uint16_t port;
                        uint8_t pb[2];
                        pkt::test::put16(pb, port_host);
                        std::memcpy(&port, pb, 2);
                        Bytes want = b;
                        std::memcpy(want.data() + (dst ? 16 : 12), a_new, 4);
                        if (port) std::memcpy(want.data() + 20 + (dst ? 2 : 0), &port, 2);
                        fix(want);
                        ASSERT_TRUE(dst ? nat_set_dst(b.data(), uint32_t(b.size()), a_new, port)
                                        : nat_set_src(b.data(), uint32_t(b.size()), a_new, port));
                        ASSERT_EQ(to_hex(b), to_hex(want));
                    }
}

// ---- ICMP errors -----------------------------------------------------------------------------

const fixtures::IcmpCase& icmp_case(const char* name) {
    for (const auto& c : fixtures::kIcmpCases)
        if (std::strcmp(c.name, name) == 0) return c;
    throw std::invalid_argument(name);
}

TEST(IcmpError, OnlyFragNeededAndPacketTooBig) {
    struct Change {
        const char* fixture;
        size_t at;  // offset of the ICMP type
        uint8_t type, code;
    };
    for (Change ch : {Change{"v4_tcp_rfc792_quote", 20, 3, 3}, Change{"v4_tcp_rfc792_quote", 20, 11, 0},
                      Change{"v4_tcp_rfc792_quote", 20, 3, 1}, Change{"v6_tcp_ptb", 40, 1, 4},
                      Change{"v6_tcp_ptb", 40, 3, 0}, Change{"v6_tcp_ptb", 40, 128, 0}}) {
        SCOPED_TRACE(std::string(ch.fixture) + " type " + std::to_string(ch.type) + " code " + std::to_string(ch.code));
        Bytes b = bytes(icmp_case(ch.fixture).in);
        b[ch.at] = ch.type;
        b[ch.at + 1] = ch.code;
        EXPECT_FALSE(icmp_error_inner_flow(b.data(), uint32_t(b.size())).has_value());
        const Bytes orig = b;
        EXPECT_FALSE(nat_icmp_error_to_backend(b.data(), uint32_t(b.size()), kBackend4.data(), net16(1)));
        EXPECT_EQ(b, orig);
    }
    // ICMPv6 packet too big with a non-zero code: the code is ignored (RFC 4443 3.2).
    Bytes b = bytes(icmp_case("v6_tcp_ptb").in);
    b[41] = 1;
    EXPECT_TRUE(icmp_error_inner_flow(b.data(), uint32_t(b.size())).has_value());
}

TEST(IcmpError, QuoteMustParse) {
    const auto& c = icmp_case("v4_tcp_rfc792_quote");
    auto expect_none = [](Bytes b, const char* why) {
        EXPECT_FALSE(icmp_error_inner_flow(b.data(), uint32_t(b.size())).has_value()) << why;
        const Bytes orig = b;
        EXPECT_FALSE(nat_icmp_error_to_backend(b.data(), uint32_t(b.size()), kBackend4.data(), net16(1))) << why;
        EXPECT_EQ(b, orig) << why;
    };
    Bytes b = bytes(c.in);
    b[28] = 0x65;
    expect_none(b, "quoted version 6 in ICMPv4");
    b = bytes(c.in);
    b[28] = 0x44;
    expect_none(b, "quoted IHL 4");
    b = bytes(c.in);
    b[28] = 0x4f;
    expect_none(b, "quoted IHL 15, past the quote");
    b = bytes(c.in);
    b[9] = 17;
    expect_none(b, "outer protocol UDP");
    b = bytes(c.in);
    pkt::test::put16(b.data() + 6, 0x0001);
    expect_none(b, "outer non-first fragment");
    // The quoted IPv6 chain cut by the end of the quote: the protocol is unknown.
    const auto& u = icmp_case("v6_udp_ext_quote");
    Bytes v = bytes(u.in);
    const size_t cut = 40 + 8 + 40 + 4;  // into the quoted destination options header
    v.resize(cut);
    pkt::test::put16(v.data() + 4, uint16_t(cut - 40));
    EXPECT_FALSE(icmp_error_inner_flow(v.data(), uint32_t(v.size())).has_value());
}

TEST(IcmpError, WrongChecksumIsNotRewritten) {
    // Recomputing the ICMP checksum would hide the corruption: refused. The
    // inner flow is still read (it only steers the error; the backend's
    // stack checks the checksum).
    for (const auto& c : fixtures::kIcmpCases) {
        SCOPED_TRACE(c.name);
        Bytes b = bytes(c.in);
        ASSERT_GT(c.in.size, 40u);
        b[c.in.size - 1] ^= 0x01;  // in the quote
        const Bytes orig = b;
        EXPECT_TRUE(icmp_error_inner_flow(b.data(), uint32_t(b.size())).has_value());
        EXPECT_FALSE(nat_icmp_error_to_backend(b.data(), uint32_t(b.size()), c.backend, port_of(c.backend_port)));
        EXPECT_EQ(b, orig);
    }
}

TEST(IcmpError, TrailingPaddingIgnored) {
    const auto& c = icmp_case("v4_tcp_rfc792_quote");
    Bytes b = bytes(c.in);
    b.resize(b.size() + 8, 0xaa);  // frame padding past the total length
    auto k = icmp_error_inner_flow(b.data(), uint32_t(b.size()));
    ASSERT_TRUE(k.has_value());
    EXPECT_TRUE(*k == expected_flow(c));
    ASSERT_TRUE(nat_icmp_error_to_backend(b.data(), uint32_t(b.size()), c.backend, port_of(c.backend_port)));
    Bytes want = bytes(c.out);
    want.resize(want.size() + 8, 0xaa);
    EXPECT_EQ(to_hex(b), to_hex(want));
}

}  // namespace
}  // namespace sluice::lb
