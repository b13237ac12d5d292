// The inline NAT rewrite (dataplane/lb/nat_fast.hpp) against what it stands
// in for: nat_set_dst followed by ipv4_decrement_ttl (rewrite.hpp, whose own
// tests check it byte for byte against scapy). On generated packets, common
// and odd: where the fast path acts, the bytes must be the reference's;
// where it declines, the packet must be untouched.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <random>

#include "dataplane/lb/nat_fast.hpp"
#include "dataplane/lb/rewrite.hpp"
#include "dataplane/pkt/checksum.hpp"
#include "tests/unit/pkt/helpers.hpp"

// A namespace of its own: the sanitizer builds are unity builds, where this
// file and test_rewrite.cpp share one translation unit (and their anonymous
// namespaces).
namespace sluice::lb::nat_fast_test {
namespace {

using pkt::test::Bytes;
using pkt::test::to_hex;

// A port as the API takes it: network order, the packet's bytes.
uint16_t net16(uint16_t host) {
    const uint8_t b[2] = {uint8_t(host >> 8), uint8_t(host)};
    uint16_t v;
    std::memcpy(&v, b, 2);
    return v;
}

// Words whose ones' complement arithmetic is at its edges: +0, -0 and the
// carries next to them.
constexpr std::array<uint16_t, 6> kEdgeWords = {0x0000, 0xffff, 0xfffe, 0x0001, 0xfeff, 0x0100};

struct Gen {
    std::mt19937 rng{20261202};
    uint32_t pick(uint32_t n) { return uint32_t(rng() % n); }
    uint16_t word() { return pick(3) == 0 ? kEdgeWords[pick(kEdgeWords.size())] : uint16_t(rng()); }
    void put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

    // An IPv4 packet, mostly one the fast path should take, with every field
    // it reads sometimes off the common case; checksums arbitrary (the
    // update must carry a wrong one along as the reference does).
    Bytes packet(uint32_t& avail) {
        const uint32_t l4_len = 8 + pick(40);
        Bytes b(20 + l4_len);
        for (auto& x : b) x = uint8_t(rng());
        b[0] = pick(8) == 0 ? std::array<uint8_t, 4>{0x46, 0x44, 0x55, 0x35}[pick(4)] : 0x45;
        const uint32_t protos = pick(10);
        b[9] = protos < 4 ? 6 : protos < 8 ? 17 : std::array<uint8_t, 4>{1, 132, 50, 58}[pick(4)];
        // Fragment field: mostly none or DF, sometimes a first fragment
        // (MF, offset 0), sometimes a later one.
        const uint32_t fr = pick(8);
        const uint16_t frag = fr < 5 ? (fr & 1 ? 0x4000 : 0) : fr == 5 ? 0x2000 : uint16_t(1 + pick(0x1fff));
        pkt::store_be16(b.data() + 6, frag);
        b[8] = uint8_t(2 + pick(254));
        uint32_t total = uint32_t(b.size());
        const uint32_t tl = pick(10);
        if (tl == 0) total = pick(total + 1);  // short, down to nothing
        if (tl == 1) total = total + pick(100);  // longer than what arrived
        pkt::store_be16(b.data() + 2, uint16_t(total));
        for (int at : {10, 16, 18}) put16(b.data() + at, word());
        put16(b.data() + 20 + 2, word());                         // destination port
        if (b[9] == 17) put16(b.data() + 26, pick(4) == 0 ? 0 : word());  // UDP: sometimes "no checksum"
        if (b[9] == 6 && b.size() >= 38) put16(b.data() + 36, word());
        // Sometimes cut short, into a block of its own size, so that a read
        // past `avail` is one past the allocation (ASan builds catch it).
        avail = pick(6) == 0 ? pick(uint32_t(b.size()) + 1) : uint32_t(b.size());
        return Bytes(b.begin(), b.begin() + avail);
    }
};

TEST(NatFast, EqualsNatSetDstThenTheTtlDecrementOrLeavesThePacketAlone) {
    Gen g;
    uint32_t taken = 0, declined_ok = 0, runs = 0;
    for (int i = 0; i < 200000; ++i) {
        uint32_t avail = 0;
        const Bytes in = g.packet(avail);
        std::array<uint8_t, 4> addr;
        for (int k = 0; k < 2; ++k) g.put16(addr.data() + 2 * k, g.word());
        const uint16_t port = g.pick(5) == 0 ? 0 : g.word();

        Bytes ref = in;
        const bool ref_ok = nat_set_dst(ref.data(), avail, addr.data(), port);
        if (ref_ok) pkt::ipv4_decrement_ttl(ref.data());
        Bytes fast = in;
        const bool fast_ok = nat_v4_dst_and_ttl(fast.data(), avail, addr.data(), port);
        ++runs;
        if (fast_ok) {
            ++taken;
            ASSERT_TRUE(ref_ok) << "the fast path took a packet nat_set_dst refuses: " << to_hex(in);
            ASSERT_EQ(to_hex(fast), to_hex(ref)) << "in " << to_hex(in) << " avail " << avail << " port " << port;
        } else {
            ASSERT_EQ(fast, in) << "declined but changed: " << to_hex(in);
            declined_ok += ref_ok;
        }
    }
    // Most generated packets are the common case: the comparison above must
    // have been made, not skipped.
    EXPECT_GT(taken, runs / 3);
    // What it declines and nat_set_dst accepts (options, other protocols,
    // later fragments) exists in the sample too: the fallback is exercised.
    EXPECT_GT(declined_ok, runs / 20);
}

// The common packets by name, checksums verified from scratch afterwards.
TEST(NatFast, TakesTcpAndUdpWithValidChecksumsAfter) {
    for (uint8_t proto : {uint8_t(6), uint8_t(17)}) {
        Bytes b(proto == 6 ? 40 : 28, 0);
        b[0] = 0x45;
        pkt::store_be16(b.data() + 2, uint16_t(b.size()));
        b[8] = 64;
        b[9] = proto;
        const uint8_t src[4] = {198, 18, 0, 1}, dst[4] = {198, 19, 0, 1}, backend[4] = {198, 18, 5, 7};
        std::memcpy(b.data() + 12, src, 4);
        std::memcpy(b.data() + 16, dst, 4);
        pkt::store_be16(b.data() + 20, 40000);
        pkt::store_be16(b.data() + 22, 80);
        if (proto == 17) pkt::store_be16(b.data() + 24, uint16_t(b.size() - 20));
        pkt::ipv4_set_header_checksum(b.data());
        const size_t csum_at = 20 + (proto == 6 ? 16 : 6);
        pkt::store_be16(b.data() + csum_at, pkt::l4_checksum_v4(b.data() + 12, b.data() + 16, proto, b.data() + 20, b.size() - 20));

        ASSERT_TRUE(nat_v4_dst_and_ttl(b.data(), uint32_t(b.size()), backend, net16(8080)));
        EXPECT_EQ(b[8], 63);
        EXPECT_EQ(0, std::memcmp(b.data() + 16, backend, 4));
        EXPECT_EQ(pkt::load_be16(b.data() + 22), 8080);
        EXPECT_EQ(pkt::ipv4_header_checksum(b.data(), 20), 0) << "header checksum verifies";
        const uint16_t stored = pkt::load_be16(b.data() + csum_at);
        pkt::store_be16(b.data() + csum_at, 0);
        uint16_t want = pkt::l4_checksum_v4(b.data() + 12, b.data() + 16, proto, b.data() + 20, b.size() - 20);
        if (proto == 17 && want == 0) want = 0xffff;
        EXPECT_EQ(stored, want) << "L4 checksum, protocol " << int(proto);
    }
}

}  // namespace
}  // namespace sluice::lb::nat_fast_test
