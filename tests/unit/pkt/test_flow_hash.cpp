// ECMP flow hash: determinism, which fields count, fragments, and spread.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "dataplane/pkt/validate.hpp"
#include "tests/unit/pkt/helpers.hpp"

namespace sluice::pkt::test {
namespace {

uint32_t h4(const Bytes& b) { return flow_hash_v4(b.data(), b.size()); }
uint32_t h6(const Bytes& b) { return flow_hash_v6(b.data(), b.size()); }

TEST(FlowHash, PinnedValues) {
    // Every instance (and every release) must pick the same member for a
    // flow: these values may only change together with a deliberate,
    // documented change of the hash. (Cross-checked against an independent
    // Python model of the same Murmur3 steps.)
    Bytes u4 = make_ipv4({.src = "192.0.2.1", .dst = "198.51.100.7", .proto = 17, .l4 = ports_l4(12345, 53)});
    Bytes i4 = make_ipv4({.src = "192.0.2.1", .dst = "198.51.100.7", .proto = 1, .l4 = icmp4_msg(8, 0, 1)});
    Bytes u6 = make_ipv6({.src = "2001:db8::1", .dst = "2001:db8:1::7", .payload = ports_l4(12345, 53)});
    EXPECT_EQ(h4(u4), 0x410460bfu) << std::hex << h4(u4);
    EXPECT_EQ(h4(i4), 0xf77b1cbcu) << std::hex << h4(i4);
    EXPECT_EQ(h6(u6), 0x14ba2b08u) << std::hex << h6(u6);
}

TEST(FlowHash, DeterministicAndIgnoresNonTupleFields) {
    Bytes a = make_ipv4({.ttl = 64, .id = 1, .l4 = ports_l4(1000, 2000)});
    Bytes b = make_ipv4({.ttl = 3, .tos = 0x10, .id = 999, .frag = 0x4000, .l4 = ports_l4(1000, 2000, 100)});
    EXPECT_EQ(h4(a), h4(a));
    EXPECT_EQ(h4(a), h4(b)) << "TTL, TOS, id, DF, length and payload are not part of the tuple";
    Bytes padded = a;
    padded.resize(60, 0);
    EXPECT_EQ(h4(a), flow_hash_v4(padded.data(), padded.size())) << "Ethernet padding";
    Bytes opts = make_ipv4({.ttl = 9, .options = {1, 1, 1, 1}, .l4 = ports_l4(1000, 2000)});
    EXPECT_EQ(h4(a), h4(opts)) << "ports found after IP options";
}

TEST(FlowHash, EveryTupleFieldCounts) {
    Bytes base = make_ipv4({.l4 = ports_l4(1000, 2000)});
    EXPECT_NE(h4(base), h4(make_ipv4({.src = "192.0.2.2", .l4 = ports_l4(1000, 2000)})));
    EXPECT_NE(h4(base), h4(make_ipv4({.dst = "198.51.100.8", .l4 = ports_l4(1000, 2000)})));
    EXPECT_NE(h4(base), h4(make_ipv4({.proto = 6, .l4 = ports_l4(1000, 2000)})));
    EXPECT_NE(h4(base), h4(make_ipv4({.l4 = ports_l4(1001, 2000)})));
    EXPECT_NE(h4(base), h4(make_ipv4({.l4 = ports_l4(1000, 2001)})));
    EXPECT_NE(h4(make_ipv4({.l4 = ports_l4(1000, 2000)})), h4(make_ipv4({.l4 = ports_l4(2000, 1000)})))
        << "not symmetric: direction matters";
}

TEST(FlowHash, PortsOnlyForTcpUdpSctp) {
    for (uint8_t proto : {6, 17, 132}) {
        Bytes a = make_ipv4({.proto = proto, .l4 = ports_l4(1, 2)});
        Bytes b = make_ipv4({.proto = proto, .l4 = ports_l4(3, 4)});
        EXPECT_NE(h4(a), h4(b)) << int(proto);
    }
    for (uint8_t proto : {1, 47, 50}) {
        Bytes a = make_ipv4({.proto = proto, .l4 = ports_l4(1, 2)});
        Bytes b = make_ipv4({.proto = proto, .l4 = ports_l4(3, 4)});
        EXPECT_EQ(h4(a), h4(b)) << int(proto);
    }
}

TEST(FlowHash, FragmentsOfOneDatagramHashAlike) {
    Bytes first = make_ipv4({.frag = 0x2000, .l4 = ports_l4(1000, 2000)});
    Bytes middle = make_ipv4({.frag = 0x2003, .l4 = Bytes(24, 0x77)});
    Bytes last = make_ipv4({.frag = 0x0006, .l4 = Bytes(5, 0x55)});
    EXPECT_EQ(h4(first), h4(middle));
    EXPECT_EQ(h4(first), h4(last));
    Bytes other_ports = make_ipv4({.frag = 0x2000, .l4 = ports_l4(1, 2)});
    EXPECT_EQ(h4(first), h4(other_ports)) << "3-tuple for fragments";
}

TEST(FlowHash, TruncatedL4FallsBackTo3Tuple) {
    Bytes full = make_ipv4({.l4 = ports_l4(1, 2)});
    Bytes hdr_only = make_ipv4({});
    EXPECT_EQ(flow_hash_v4(full.data(), 23), h4(hdr_only)) << "ports cut by avail";
    Bytes short_total = full;
    put16(short_total.data() + 2, 22);
    EXPECT_EQ(h4(short_total), h4(hdr_only)) << "ports past total length";
    EXPECT_NE(h4(full), h4(hdr_only));
    // Garbage does not read out of bounds.
    EXPECT_EQ(flow_hash_v4(full.data(), 0), flow_hash_v4(full.data(), 19));
    Bytes bad_ihl = full;
    bad_ihl[0] = 0x4f;
    (void)flow_hash_v4(bad_ihl.data(), bad_ihl.size());
}

TEST(FlowHash, V6ExtensionHeadersAndFragments) {
    Bytes udp = ports_l4(1000, 2000);
    Bytes plain = make_ipv6({.payload = udp});
    Bytes behind = make_ipv6({.next_header = 0, .payload = cat({ext_header(60), ext_header(17), udp})});
    EXPECT_EQ(h6(plain), h6(behind)) << "same 5-tuple behind extension headers";
    Bytes atomic = make_ipv6({.next_header = 44, .payload = cat({frag_header(17, 0, false), udp})});
    EXPECT_EQ(h6(plain), h6(atomic)) << "atomic fragment is not a fragment";
    Bytes first = make_ipv6({.next_header = 44, .payload = cat({frag_header(17, 0, true), udp})});
    Bytes later = make_ipv6({.next_header = 44, .payload = cat({frag_header(17, 185, false), Bytes(64, 1)})});
    EXPECT_EQ(h6(first), h6(later)) << "all fragments of a datagram alike";
    EXPECT_NE(h6(first), h6(plain));
    Bytes other = make_ipv6({.payload = ports_l4(1000, 2001)});
    EXPECT_NE(h6(plain), h6(other));
    Bytes src2 = make_ipv6({.src = "2001:db8::2", .payload = udp});
    EXPECT_NE(h6(plain), h6(src2));
    Bytes padded = plain;
    padded.resize(plain.size() + 30, 0);
    EXPECT_EQ(h6(plain), h6(padded));
    Bytes icmp_a = make_ipv6({.next_header = 58, .payload = icmp6_msg(128, 0, 1)});
    Bytes icmp_b = make_ipv6({.next_header = 58, .payload = icmp6_msg(128, 0, 2)});
    EXPECT_EQ(h6(icmp_a), h6(icmp_b));
    // Broken chain: hashed as (src, dst, first next header), no crash.
    Bytes broken = make_ipv6({.next_header = 0, .payload = Bytes{17}});
    EXPECT_EQ(h6(broken), h6(broken));
    EXPECT_EQ(flow_hash_v6(plain.data(), 10), flow_hash_v6(plain.data(), 39));
}

// Chi-square statistic of `n` hashes into `buckets` buckets using the
// data plane's multiply-shift pick (ecmp_pick) and, separately, low bits.
double chi2(const std::vector<uint32_t>& hs, uint32_t buckets, bool multiply_shift) {
    std::vector<double> c(buckets, 0);
    for (uint32_t h : hs) c[multiply_shift ? uint32_t((uint64_t(h) * buckets) >> 32) : h % buckets] += 1;
    double e = double(hs.size()) / buckets, x = 0;
    for (double v : c) x += (v - e) * (v - e) / e;
    return x;
}

TEST(FlowHash, DistributionRandomTuples) {
    std::mt19937 rng(2992);
    std::vector<uint32_t> v4, v6;
    for (int i = 0; i < 100000; ++i) {
        Bytes p = make_ipv4({.l4 = ports_l4(uint16_t(rng()), uint16_t(rng()))});
        store_be32(p.data() + 12, rng());
        store_be32(p.data() + 16, rng());
        v4.push_back(h4(p));
        Bytes q = make_ipv6({.payload = ports_l4(uint16_t(rng()), uint16_t(rng()))});
        for (int k = 8; k < 40; k += 4) store_be32(q.data() + k, rng());
        v6.push_back(h6(q));
    }
    // 7 degrees of freedom: mean 7, p(chi2 > 40) ~ 1e-6.
    for (uint32_t n : {2u, 3u, 5u, 8u}) {
        EXPECT_LT(chi2(v4, n, true), 40.0) << n;
        EXPECT_LT(chi2(v4, n, false), 40.0) << n;
        EXPECT_LT(chi2(v6, n, true), 40.0) << n;
        EXPECT_LT(chi2(v6, n, false), 40.0) << n;
    }
}

TEST(FlowHash, DistributionSequentialTuples) {
    // Realistic, low-entropy traffic: one client, sequential source ports;
    // one /24 of clients to one server port.
    std::vector<uint32_t> ports, hosts, hosts6;
    for (uint32_t i = 0; i < 65536; ++i) ports.push_back(h4(make_ipv4({.l4 = ports_l4(uint16_t(i), 443)})));
    for (uint32_t i = 0; i < 256 * 64; ++i) {
        Bytes p = make_ipv4({.l4 = ports_l4(uint16_t(40000 + i / 256), 443)});
        p[15] = uint8_t(i);
        hosts.push_back(h4(p));
        Bytes q = make_ipv6({.payload = ports_l4(uint16_t(40000 + i / 256), 443)});
        q[23] = uint8_t(i);
        hosts6.push_back(h6(q));
    }
    for (uint32_t n : {2u, 3u, 4u, 8u}) {
        EXPECT_LT(chi2(ports, n, true), 40.0) << n;
        EXPECT_LT(chi2(hosts, n, true), 40.0) << n;
        EXPECT_LT(chi2(hosts6, n, true), 40.0) << n;
    }
}

}  // namespace
}  // namespace sluice::pkt::test
