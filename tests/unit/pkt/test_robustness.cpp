// Every parser taking a length must stay within it: each input is copied
// into a heap block of exactly that many bytes (so an AddressSanitizer build
// flags any over-read), over every prefix of valid packets and over random
// bytes.
#include <gtest/gtest.h>

#include <memory>
#include <random>

#include "dataplane/pkt/arp.hpp"
#include "dataplane/pkt/icmp.hpp"
#include "dataplane/pkt/nd.hpp"
#include "dataplane/pkt/validate.hpp"
#include "tests/unit/pkt/helpers.hpp"

namespace sluice::pkt::test {
namespace {

const uint8_t kOur4[4] = {203, 0, 113, 1};
const uint8_t kOur16[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

// Runs every length-taking entry point over exactly `len` bytes.
void exercise(const uint8_t* data, size_t len) {
    std::unique_ptr<uint8_t[]> p(new uint8_t[len ? len : 1]);
    if (len) std::memcpy(p.get(), data, len);
    uint8_t* b = p.get();
    (void)validate_ipv4(b, len);
    (void)validate_ipv6(b, len);
    (void)flow_hash_v4(b, len);
    (void)flow_hash_v6(b, len);
    (void)icmp4_error_allowed(b, len);
    (void)icmp6_error_allowed(b, len);
    (void)icmp6_error_allowed(b, len, 2, 0);
    (void)parse_nd(b, len);
    (void)parse_arp(b, len);
    (void)ipv6_is_dad_candidate(b, len);
    if (len >= 40) (void)ipv6_walk_chain(b, len);
    uint8_t out[1500];
    (void)build_icmp4_error(out, sizeof out, b, len, kOur4, 11, 0, 0);
    (void)build_icmp6_error(out, sizeof out, b, len, kOur16, 3, 0, 0);
    (void)icmp4_echo_reply_inplace(b, len);
    (void)icmp6_echo_reply_inplace(b, len, kOur16);
}

std::vector<Bytes> corpus() {
    std::vector<Bytes> v;
    v.push_back(make_ipv4({.options = hex("07 07 04 00 00 00 00 00 94 04 00 00"), .l4 = ports_l4(1, 2)}));
    v.push_back(make_ipv4({.proto = 1, .l4 = icmp4_msg(8, 0, 1, Bytes(20, 7))}));
    v.push_back(make_ipv4({.proto = 1, .l4 = icmp4_msg(3, 4, 1400, make_ipv4({.l4 = ports_l4(1, 2)}))}));
    v.push_back(make_ipv6({.next_header = 0,
                           .payload = cat({ext_header(43), ext_header(44, 1), frag_header(58, 0, true),
                                           icmp6_msg(128, 0, 1, Bytes(8, 1))})}));
    Bytes echo6 = make_ipv6({.next_header = 58, .payload = icmp6_msg(128, 0, 1, Bytes(8, 1))});
    fix_icmp6_checksum(echo6);
    v.push_back(echo6);
    Bytes ns = make_ipv6({.src = "fe80::1", .dst = "ff02::1:ff00:2", .next_header = 58, .hop_limit = 255,
                          .payload = cat({icmp6_msg(135, 0, 0, Bytes(16, 0x20)), hex("01 01 02 00 00 00 00 01")})});
    fix_icmp6_checksum(ns);
    v.push_back(ns);
    return v;
}

TEST(Robustness, EveryPrefixOfValidPackets) {
    for (const Bytes& pkt : corpus())
        for (size_t len = 0; len <= pkt.size(); ++len) exercise(pkt.data(), len);
}

TEST(Robustness, LengthFieldsLargerThanTheBuffer) {
    for (Bytes pkt : corpus()) {
        if ((pkt[0] >> 4) == 4) {
            put16(pkt.data() + 2, 0xffff);
            fix_ipv4_checksum(pkt.data());
        } else {
            put16(pkt.data() + 4, 0xffff);
        }
        for (size_t len = 0; len <= pkt.size(); ++len) exercise(pkt.data(), len);
    }
}

TEST(Robustness, RandomBytes) {
    std::mt19937 rng(4861);
    Bytes buf(200);
    for (int i = 0; i < 50000; ++i) {
        size_t len = rng() % buf.size();
        for (auto& x : buf) x = uint8_t(rng());
        // Bias towards plausible headers so the deeper paths run.
        switch (i % 4) {
        case 0:
            buf[0] = uint8_t(0x40 | (rng() % 16));
            break;
        case 1:
            buf[0] = 0x60;
            buf[6] = std::array<uint8_t, 6>{0, 43, 44, 60, 58, 17}[rng() % 6];
            break;
        case 2:
            buf[0] = 0x60;
            buf[6] = 58;
            buf[7] = 255;
            buf[40] = uint8_t(135 + rng() % 2);
            buf[41] = 0;
            break;
        default:
            break;
        }
        exercise(buf.data(), len);
    }
}

}  // namespace
}  // namespace sluice::pkt::test
