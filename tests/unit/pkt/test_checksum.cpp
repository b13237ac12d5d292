// Internet checksum: known answers, odd lengths/alignments against the
// RFC 1071 reference, pseudo-header sums, and the RFC 1624 TTL update.
#include <gtest/gtest.h>

#include <random>

#include "dataplane/pkt/checksum.hpp"
#include "dataplane/pkt/ip.hpp"
#include "tests/unit/pkt/helpers.hpp"

namespace sluice::pkt::test {
namespace {

TEST(Checksum, Rfc1071Example) {
    // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
    Bytes b = hex("00 01 f2 03 f4 f5 f6 f7");
    uint32_t partial = csum_add(0, b.data(), b.size());
    EXPECT_EQ(uint16_t(~csum_fold(partial)), 0xddf2);
    EXPECT_EQ(csum_fold(partial), 0x220d);
}

TEST(Checksum, KnownIpv4Header) {
    // The widely quoted captured header (UDP, DF, TTL 64, length 0x73) with
    // its addresses moved to 198.18.0.1 -> 198.18.0.199; checksum 0xad8d
    // (computed independently with Python's RFC 1071 sum).
    Bytes h = hex("45 00 00 73 00 00 40 00 40 11 ad 8d c6 12 00 01 c6 12 00 c7");
    EXPECT_EQ(ipv4_header_checksum(h.data(), 20), 0) << "stored checksum verifies";
    EXPECT_TRUE(ipv4_header_checksum_ok(h.data()));
    h[10] = h[11] = 0;
    EXPECT_EQ(ipv4_header_checksum(h.data(), 20), 0xad8d);
    ipv4_set_header_checksum(h.data());
    EXPECT_EQ(get16(h.data() + 10), 0xad8d);
}

TEST(Checksum, KnownUdp4FromScapy) {
    // IP(src=192.0.2.1, dst=198.51.100.7, id=0x1234)/UDP(12345, 53)/"sluice-udp"
    Bytes p = hex("45 00 00 26 12 34 00 00 40 11 7c 57 c0 00 02 01 c6 33 64 07"
                  "30 39 00 35 00 12 04 ff 73 6c 75 69 63 65 2d 75 64 70");
    EXPECT_EQ(ipv4_header_checksum(p.data(), 20), 0);
    EXPECT_EQ(l4_checksum_v4(p.data() + 12, p.data() + 16, 17, p.data() + 20, p.size() - 20), 0);
    put16(p.data() + 26, 0);
    EXPECT_EQ(l4_checksum_v4(p.data() + 12, p.data() + 16, 17, p.data() + 20, p.size() - 20), 0x04ff);
}

TEST(Checksum, KnownIcmp6FromScapy) {
    // IPv6(2001:db8::1 -> 2001:db8::2)/ICMPv6EchoRequest(id=0x1234, seq=1, "ping")
    Bytes p = hex("60 00 00 00 00 0c 3a 40 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01"
                  "20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02 80 00 33 3e 12 34 00 01 70 69 6e 67");
    EXPECT_EQ(l4_checksum_v6(p.data() + 8, p.data() + 24, 58, p.data() + 40, 12), 0);
    put16(p.data() + 42, 0);
    EXPECT_EQ(l4_checksum_v6(p.data() + 8, p.data() + 24, 58, p.data() + 40, 12), 0x333e);
}

TEST(Checksum, KnownUdp6FromScapy) {
    Bytes p = hex("60 00 00 00 00 13 11 40 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01"
                  "20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 07 30 39 00 35 00 13 5f be"
                  "73 6c 75 69 63 65 2d 75 64 70 36");
    EXPECT_EQ(l4_checksum_v6(p.data() + 8, p.data() + 24, 17, p.data() + 40, 19), 0);
    put16(p.data() + 46, 0);
    EXPECT_EQ(l4_checksum_v6(p.data() + 8, p.data() + 24, 17, p.data() + 40, 19), 0x5fbe);
}

TEST(Checksum, EmptyAndZero) {
    EXPECT_EQ(csum_add(0, nullptr, 0), 0u);
    EXPECT_EQ(csum_fold(0), 0xffff);
    uint8_t z[7] = {};
    EXPECT_EQ(csum_fold(csum_add(0, z, sizeof z)), 0xffff);
    uint8_t ff[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    EXPECT_EQ(csum_fold(csum_add(0, ff, sizeof ff)), 0x0000);
}

TEST(Checksum, OddLengthsAndAlignmentsMatchReference) {
    std::mt19937 rng(1071);
    std::vector<uint8_t> buf(2048 + 16);
    for (auto& b : buf) b = uint8_t(rng());
    for (size_t off = 0; off < 8; ++off) {
        for (size_t len = 0; len <= 300; ++len) {
            const uint8_t* p = buf.data() + off;
            ASSERT_EQ(csum_fold(csum_add(0, p, len)), ref_checksum(p, len)) << "off " << off << " len " << len;
        }
        for (size_t len : {1499u, 1500u, 2047u, 2048u}) {
            const uint8_t* p = buf.data() + off;
            ASSERT_EQ(csum_fold(csum_add(0, p, len)), ref_checksum(p, len)) << "off " << off << " len " << len;
        }
    }
}

TEST(Checksum, AllOnesDataNeedsEndAroundCarry) {
    std::vector<uint8_t> b(4096, 0xff);
    b.back() = 0xfe;
    for (size_t len : {2u, 3u, 8u, 9u, 64u, 4095u, 4096u})
        EXPECT_EQ(csum_fold(csum_add(0, b.data(), len)), ref_checksum(b.data(), len)) << len;
}

TEST(Checksum, ChainedEvenChunksEqualOneShot) {
    std::mt19937 rng(7);
    std::vector<uint8_t> b(777);
    for (auto& x : b) x = uint8_t(rng());
    for (size_t split = 0; split <= b.size(); split += 2) {
        uint32_t s = csum_add(0, b.data(), split);
        s = csum_add(s, b.data() + split, b.size() - split);
        ASSERT_EQ(csum_fold(s), ref_checksum(b.data(), b.size())) << split;
    }
}

TEST(Checksum, LargeInputDoesNotOverflow) {
    std::vector<uint8_t> b(1 << 20, 0xff);
    EXPECT_EQ(csum_fold(csum_add(0, b.data(), b.size())), ref_checksum(b.data(), b.size()));
    uint32_t s = 0;
    for (int i = 0; i < 100000; ++i) s = csum_add16(s, 0xffff);
    EXPECT_EQ(csum_fold(s), 0);
}

TEST(Checksum, PseudoHeaderV4MatchesExplicitBytes) {
    std::mt19937 rng(768);
    for (int i = 0; i < 200; ++i) {
        uint8_t src[4], dst[4];
        for (auto& x : src) x = uint8_t(rng());
        for (auto& x : dst) x = uint8_t(rng());
        size_t len = rng() % 200;
        std::vector<uint8_t> l4(len);
        for (auto& x : l4) x = uint8_t(rng());
        uint8_t proto = uint8_t(rng());
        // RFC 768: src, dst, zero, protocol, length, then the data.
        Bytes ph(12);
        std::memcpy(ph.data(), src, 4);
        std::memcpy(ph.data() + 4, dst, 4);
        ph[9] = proto;
        put16(ph.data() + 10, uint16_t(len));
        ph.insert(ph.end(), l4.begin(), l4.end());
        ASSERT_EQ(l4_checksum_v4(src, dst, proto, l4.data(), len), ref_checksum(ph.data(), ph.size()));
    }
}

TEST(Checksum, PseudoHeaderV6MatchesExplicitBytes) {
    std::mt19937 rng(8200);
    for (int i = 0; i < 200; ++i) {
        uint8_t src[16], dst[16];
        for (auto& x : src) x = uint8_t(rng());
        for (auto& x : dst) x = uint8_t(rng());
        size_t len = rng() % 300;
        std::vector<uint8_t> l4(len);
        for (auto& x : l4) x = uint8_t(rng());
        uint8_t nh = uint8_t(rng());
        // RFC 8200 8.1: src, dst, 32-bit length, 3 zero bytes, next header.
        Bytes ph(40);
        std::memcpy(ph.data(), src, 16);
        std::memcpy(ph.data() + 16, dst, 16);
        store_be32(ph.data() + 32, uint32_t(len));
        ph[39] = nh;
        ph.insert(ph.end(), l4.begin(), l4.end());
        ASSERT_EQ(l4_checksum_v6(src, dst, nh, l4.data(), len), ref_checksum(ph.data(), ph.size()));
    }
}

// ---- RFC 1624 ---------------------------------------------------------------

TEST(IncrementalUpdate, Rfc1624Example) {
    // RFC 1624 section 4: m 0x5555 -> 0x3285 under HC 0xDD2F; recomputation
    // gives 0x0000, which eqn. 3 reproduces (eqn. 2 would give 0xFFFF).
    EXPECT_EQ(csum_update16(0xdd2f, 0x5555, 0x3285), 0x0000);
}

uint16_t recomputed(const Bytes& h) {
    Bytes c = h;
    c[10] = c[11] = 0;
    return ipv4_header_checksum(c.data(), c.size());
}

Bytes random_header(std::mt19937& rng) {
    size_t hl = 20 + 4 * (rng() % 11);
    Bytes h(hl);
    for (auto& x : h) x = uint8_t(rng());
    h[0] = uint8_t(0x40 | hl / 4);
    h[8] = uint8_t(1 + rng() % 255);  // TTL >= 1
    h[10] = h[11] = 0;
    store_be16(h.data() + 10, ipv4_header_checksum(h.data(), hl));
    return h;
}

TEST(IncrementalUpdate, DecrementTtlMatchesRecomputeOnRandomHeaders) {
    std::mt19937 rng(1624);
    for (int i = 0; i < 200000; ++i) {
        Bytes h = random_header(rng);
        uint8_t ttl = h[8];
        ipv4_decrement_ttl(h.data());
        ASSERT_EQ(h[8], uint8_t(ttl - 1));
        ASSERT_EQ(get16(h.data() + 10), recomputed(h)) << to_hex(h);
        ASSERT_EQ(ipv4_header_checksum(h.data(), h.size()), 0) << to_hex(h);
    }
}

TEST(IncrementalUpdate, DecrementTtlDownToZeroStepByStep) {
    std::mt19937 rng(42);
    Bytes h = random_header(rng);
    h[8] = 255;
    ipv4_set_header_checksum(h.data());
    while (h[8] > 0) {
        ipv4_decrement_ttl(h.data());
        ASSERT_EQ(get16(h.data() + 10), recomputed(h)) << "ttl " << int(h[8]);
    }
}

// Sets the id field so that the ones-complement sum of the header with the
// checksum zeroed equals `want` (1..0xFFFF), then stores the checksum.
Bytes header_with_sum(uint16_t want) {
    Bytes h = make_ipv4({});
    put16(h.data() + 4, 0);
    h[10] = h[11] = 0;
    uint16_t s = uint16_t(~ipv4_header_checksum(h.data(), 20));  // folded sum, id = 0
    // want = s + id (ones complement)  =>  id = want - s
    uint32_t id = (uint32_t(want) + 0xffff - s) % 0xffff;
    put16(h.data() + 4, uint16_t(id));
    EXPECT_EQ(uint16_t(~ipv4_header_checksum(h.data(), 20)) % 0xffff, want % 0xffff);
    ipv4_set_header_checksum(h.data());
    return h;
}

TEST(IncrementalUpdate, CornerResultIsZero) {
    // Header sum 0x0100 before: after TTL-1 the sum is 0xFFFF and the
    // checksum must come out 0x0000, not 0xFFFF.
    Bytes h = header_with_sum(0x0100);
    EXPECT_EQ(get16(h.data() + 10), 0xfeff);
    ipv4_decrement_ttl(h.data());
    EXPECT_EQ(get16(h.data() + 10), 0x0000);
    EXPECT_EQ(recomputed(h), 0x0000);
    EXPECT_EQ(ipv4_header_checksum(h.data(), 20), 0);
}

TEST(IncrementalUpdate, CornerChecksumWasZero) {
    // Header sum 0xFFFF: stored checksum 0x0000.
    Bytes h = header_with_sum(0xffff);
    EXPECT_EQ(get16(h.data() + 10), 0x0000);
    ipv4_decrement_ttl(h.data());
    EXPECT_EQ(get16(h.data() + 10), recomputed(h));
    EXPECT_EQ(ipv4_header_checksum(h.data(), 20), 0);
}

TEST(IncrementalUpdate, CornerChecksumStoredAsNegativeZero) {
    // Same header with the equivalent -0 representation 0xFFFF stored (it
    // also verifies); the update still yields the recomputed value.
    Bytes h = header_with_sum(0xffff);
    put16(h.data() + 10, 0xffff);
    ASSERT_EQ(ipv4_header_checksum(h.data(), 20), 0);
    ipv4_decrement_ttl(h.data());
    EXPECT_EQ(get16(h.data() + 10), recomputed(h));
    EXPECT_EQ(ipv4_header_checksum(h.data(), 20), 0);
}

TEST(IncrementalUpdate, UnalignedHeader) {
    alignas(8) uint8_t buf[64];
    Bytes h = make_ipv4({});
    for (size_t off = 1; off < 8; ++off) {
        std::memcpy(buf + off, h.data(), 20);
        ipv4_decrement_ttl(buf + off);
        Bytes got(buf + off, buf + off + 20);
        EXPECT_EQ(get16(got.data() + 10), recomputed(got));
    }
}

}  // namespace
}  // namespace sluice::pkt::test

namespace sluice::pkt {
namespace {

// The 20-byte fast path agrees with the generic RFC 1071 sum, valid or not.
TEST(Checksum, Header20FastPathAgreesWithGeneric) {
    std::mt19937 rng(7);
    for (int i = 0; i < 100000; ++i) {
        uint8_t h[20];
        for (auto& b : h) b = uint8_t(rng());
        h[0] = 0x45;
        if (i % 2) ipv4_set_header_checksum(h);
        EXPECT_EQ(ipv4_header20_checksum_ok(h), ipv4_header_checksum(h, 20) == 0) << "case " << i;
    }
    uint8_t zero[20] = {0x45};
    ipv4_set_header_checksum(zero);
    EXPECT_TRUE(ipv4_header20_checksum_ok(zero));
}

}  // namespace
}  // namespace sluice::pkt
