// The exchange message (drivers/rdma/connect/oob_message.hpp): round trips,
// every malformed input we can enumerate, and the forward-compatibility
// rule (a longer message from a later sender decodes).
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "drivers/rdma/connect/oob_message.hpp"

namespace {

using namespace sluice::drivers::rdma;
using Bytes = std::vector<uint8_t>;

EndpointInfo sample() {
    EndpointInfo e;
    e.link_layer = LinkLayer::ethernet;
    e.active_mtu = 5;
    e.lid = 0;
    e.gid = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 1, 1};
    e.gid_index = 3;
    e.qpn = 0x000123;
    e.psn = 0xABCDEF;
    e.recv_credits = 512;
    e.max_frame = 2048;
    e.instance = 0x0102030405060708ull;
    e.mac = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x01};
    e.name = "rdma0-a_1";
    return e;
}

// Rewrites the trailing CRC so a deliberately bad field reaches the checks.
void fix_crc(Bytes& m) {
    const uint32_t c = crc32c(m.data(), m.size() - 4);
    for (int i = 0; i < 4; ++i) m[m.size() - 4 + i] = static_cast<uint8_t>(c >> (24 - 8 * i));
}

std::string decode_err(const Bytes& m) {
    std::string err;
    const auto r = decode(m.data(), m.size(), &err);
    EXPECT_FALSE(r.has_value());
    return err;
}

// The message for `e` with its CRC made right even when a field is invalid.
Bytes raw(const EndpointInfo& e) {
    Bytes m = encode(e);
    fix_crc(m);
    return m;
}

TEST(Crc32c, KnownVectors) {
    const char* s = "123456789";
    EXPECT_EQ(crc32c(reinterpret_cast<const uint8_t*>(s), 9), 0xE3069283u);
    EXPECT_EQ(crc32c(nullptr, 0), 0u);
    // RFC 3720 B.4: 32 bytes of zeros.
    const std::array<uint8_t, 32> zeros{};
    EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
    // Continuation equals one pass.
    EXPECT_EQ(crc32c(reinterpret_cast<const uint8_t*>(s) + 4, 5, crc32c(reinterpret_cast<const uint8_t*>(s), 4)),
              0xE3069283u);
}

TEST(OobMessage, LayoutAndSize) {
    const Bytes m = encode(sample());
    ASSERT_EQ(m.size(), kOobV1Size);
    EXPECT_EQ(std::memcmp(m.data(), "SLRD", 4), 0);
    EXPECT_EQ(m[4], 0);
    EXPECT_EQ(m[5], kOobVersion);
    EXPECT_EQ(m[6], 0);
    EXPECT_EQ(m[7], kOobV1Size);
    EXPECT_EQ(m[8], 2);  // link layer
    EXPECT_EQ(m[29], 0x00);  // qpn big-endian
    EXPECT_EQ(m[31], 0x01);
    EXPECT_EQ(m[32], 0x23);
    EXPECT_EQ(message_size(m.data(), m.size()), kOobV1Size);
    EXPECT_EQ(message_size(m.data(), kOobHeaderSize), kOobV1Size);
    EXPECT_EQ(message_size(m.data(), kOobHeaderSize - 1), 0u);
    EXPECT_EQ(message_size(nullptr, 100), 0u);
}

TEST(OobMessage, RoundTripSample) {
    const EndpointInfo e = sample();
    const Bytes m = encode(e);
    std::string err;
    const auto d = decode(m.data(), m.size(), &err);
    ASSERT_TRUE(d.has_value()) << err;
    EXPECT_EQ(*d, e);
}

TEST(OobMessage, RoundTripInfiniBandEdges) {
    EndpointInfo e = sample();
    e.link_layer = LinkLayer::infiniband;
    e.lid = 0xBFFF;
    e.gid = {};  // IB without a GID is fine (used only when routed)
    e.qpn = 0xFFFFFF;
    e.psn = 0;
    e.recv_credits = kOobMaxCredits;
    e.max_frame = kOobMaxFrame;
    e.name = "abcdefghijklmno";  // 15
    const Bytes m = encode(e);
    std::string err;
    const auto d = decode(m.data(), m.size(), &err);
    ASSERT_TRUE(d.has_value()) << err;
    EXPECT_EQ(*d, e);
}

TEST(OobMessage, RoundTripRandom) {
    std::mt19937_64 rng(20240610);
    const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789_-";
    for (int i = 0; i < 1000; ++i) {
        EndpointInfo e;
        e.link_layer = (rng() & 1) ? LinkLayer::infiniband : LinkLayer::ethernet;
        e.active_mtu = static_cast<uint8_t>(1 + rng() % 5);
        e.lid = e.link_layer == LinkLayer::infiniband ? static_cast<uint16_t>(1 + rng() % 0xBFFF)
                                                      : static_cast<uint16_t>(rng());
        for (auto& b : e.gid) b = static_cast<uint8_t>(rng());
        e.gid[15] |= 1;  // never all-zero
        e.gid_index = static_cast<uint8_t>(rng());
        e.qpn = static_cast<uint32_t>(1 + rng() % 0xFFFFFF);
        e.psn = static_cast<uint32_t>(rng() & 0xFFFFFF);
        e.recv_credits = static_cast<uint32_t>(1 + rng() % kOobMaxCredits);
        e.max_frame = static_cast<uint32_t>(kOobMinFrame + rng() % (kOobMaxFrame - kOobMinFrame + 1));
        e.instance = rng();
        for (auto& b : e.mac) b = static_cast<uint8_t>(rng());
        const size_t len = 1 + rng() % kOobMaxName;
        for (size_t k = 0; k < len; ++k) e.name += alphabet[rng() % (sizeof alphabet - 1)];
        ASSERT_TRUE(check_endpoint(e, nullptr)) << i;
        const Bytes m = encode(e);
        std::string err;
        const auto d = decode(m.data(), m.size(), &err);
        ASSERT_TRUE(d.has_value()) << i << ": " << err;
        ASSERT_EQ(*d, e) << i;
    }
}

TEST(OobMessage, EveryTruncationFails) {
    const Bytes m = encode(sample());
    for (size_t n = 0; n < m.size(); ++n) {
        std::string err;
        EXPECT_FALSE(decode(m.data(), n, &err).has_value()) << n;
        EXPECT_NE(err.find("length"), std::string::npos) << n << ": " << err;
    }
    std::string err;
    EXPECT_FALSE(decode(nullptr, 0, &err).has_value());
}

TEST(OobMessage, EveryBitFlipFails) {
    const Bytes good = encode(sample());
    for (size_t i = 0; i < good.size(); ++i) {
        for (int bit = 0; bit < 8; ++bit) {
            Bytes m = good;
            m[i] ^= static_cast<uint8_t>(1u << bit);
            std::string err;
            EXPECT_FALSE(decode(m.data(), m.size(), &err).has_value()) << i << "/" << bit;
            EXPECT_FALSE(err.empty());
            // Past the header only the CRC can tell.
            if (i >= kOobHeaderSize) {
                EXPECT_NE(err.find("CRC"), std::string::npos) << i << ": " << err;
            }
        }
    }
}

TEST(OobMessage, EveryByteReplacedFails) {
    const Bytes good = encode(sample());
    for (size_t i = 0; i < good.size(); ++i) {
        Bytes m = good;
        m[i] = static_cast<uint8_t>(~m[i]);
        EXPECT_FALSE(decode(m.data(), m.size(), nullptr).has_value()) << i;
    }
}

TEST(OobMessage, BadMagic) {
    Bytes m = encode(sample());
    m[0] = 'X';
    fix_crc(m);
    EXPECT_NE(decode_err(m).find("magic"), std::string::npos);
}

TEST(OobMessage, UnsupportedVersions) {
    for (uint16_t v : {uint16_t{0}, uint16_t{2}, uint16_t{0xFFFF}}) {
        Bytes m = encode(sample());
        m[4] = static_cast<uint8_t>(v >> 8);
        m[5] = static_cast<uint8_t>(v);
        fix_crc(m);
        EXPECT_EQ(decode_err(m), "version " + std::to_string(v) + " not supported, this build speaks 1");
    }
}

TEST(OobMessage, LengthTooSmall) {
    Bytes m = encode(sample());
    m[7] = static_cast<uint8_t>(kOobV1Size - 1);
    const std::string err = decode_err(m);
    EXPECT_NE(err.find("length 78: expected at least 79"), std::string::npos) << err;
}

TEST(OobMessage, LengthLongerThanBuffer) {
    Bytes m = encode(sample());
    m[7] = static_cast<uint8_t>(kOobV1Size + 1);
    const std::string err = decode_err(m);
    EXPECT_NE(err.find("length 80 but 79 bytes"), std::string::npos) << err;
}

TEST(OobMessage, BufferLongerThanLength) {
    Bytes m = encode(sample());
    m.push_back(0);
    const std::string err = decode_err(m);
    EXPECT_NE(err.find("length 79 but 80 bytes"), std::string::npos) << err;
}

TEST(OobMessage, LengthTooLarge) {
    Bytes m = encode(sample());
    m[6] = 0xFF;
    m[7] = 0xFF;
    EXPECT_NE(decode_err(m).find("length 65535"), std::string::npos);
}

// A later sender appended fields (still version 1): a v1 reader takes the
// fields it knows and skips the rest; the CRC covers the extra bytes.
TEST(OobMessage, ExtraTrailingFieldsAccepted) {
    const EndpointInfo e = sample();
    for (size_t extra : {size_t{1}, size_t{5}, size_t{100}, kOobMaxSize - kOobV1Size}) {
        Bytes m = encode(e);
        m.insert(m.end() - 4, extra, 0xA5);
        const size_t len = m.size();
        m[6] = static_cast<uint8_t>(len >> 8);
        m[7] = static_cast<uint8_t>(len);
        fix_crc(m);
        EXPECT_EQ(message_size(m.data(), m.size()), len);
        std::string err;
        const auto d = decode(m.data(), m.size(), &err);
        ASSERT_TRUE(d.has_value()) << extra << ": " << err;
        EXPECT_EQ(*d, e);
        // Corrupting an extra byte is still caught.
        m[kOobV1Size - 4] ^= 1;
        EXPECT_FALSE(decode(m.data(), m.size(), nullptr).has_value());
    }
}

TEST(OobMessage, FieldLinkLayer) {
    for (uint8_t ll : {uint8_t{0}, uint8_t{3}, uint8_t{255}}) {
        Bytes m = encode(sample());
        m[8] = ll;
        fix_crc(m);
        EXPECT_NE(decode_err(m).find("link_layer " + std::to_string(ll)), std::string::npos);
    }
}

TEST(OobMessage, FieldActiveMtu) {
    for (uint8_t v : {uint8_t{0}, uint8_t{6}, uint8_t{255}}) {
        EndpointInfo e = sample();
        e.active_mtu = v;
        EXPECT_NE(decode_err(raw(e)).find("active_mtu " + std::to_string(v)), std::string::npos);
    }
}

TEST(OobMessage, FieldQpn) {
    for (uint32_t v : {0u, 0x1000000u, 0xFFFFFFFFu}) {
        EndpointInfo e = sample();
        e.qpn = v;
        EXPECT_NE(decode_err(raw(e)).find("qpn " + std::to_string(v)), std::string::npos);
    }
}

TEST(OobMessage, FieldPsn) {
    EndpointInfo e = sample();
    e.psn = 0x1000000;
    EXPECT_NE(decode_err(raw(e)).find("psn 16777216"), std::string::npos);
}

TEST(OobMessage, FieldRecvCredits) {
    for (uint32_t v : {0u, kOobMaxCredits + 1}) {
        EndpointInfo e = sample();
        e.recv_credits = v;
        EXPECT_NE(decode_err(raw(e)).find("recv_credits " + std::to_string(v)), std::string::npos);
    }
}

TEST(OobMessage, FieldMaxFrame) {
    for (uint32_t v : {0u, kOobMinFrame - 1, kOobMaxFrame + 1}) {
        EndpointInfo e = sample();
        e.max_frame = v;
        EXPECT_NE(decode_err(raw(e)).find("max_frame " + std::to_string(v)), std::string::npos);
    }
}

TEST(OobMessage, FieldNameLength) {
    EndpointInfo e = sample();
    e.name = "";
    EXPECT_NE(decode_err(raw(e)).find("name length 0"), std::string::npos);
    Bytes m = encode(sample());
    m[59] = 16;
    fix_crc(m);
    EXPECT_NE(decode_err(m).find("name length 16"), std::string::npos);
}

TEST(OobMessage, FieldNameCharacters) {
    for (const char* bad : {"Upper", "sp ace", "dot.", "nul\x01", "\xff"}) {
        EndpointInfo e = sample();
        e.name = bad;
        const std::string err = decode_err(raw(e));
        EXPECT_NE(err.find("name: byte"), std::string::npos) << bad << ": " << err;
    }
}

TEST(OobMessage, FieldIbLid) {
    for (uint16_t lid : {uint16_t{0}, uint16_t{0xC000}, uint16_t{0xFFFF}}) {
        EndpointInfo e = sample();
        e.link_layer = LinkLayer::infiniband;
        e.lid = lid;
        EXPECT_NE(decode_err(raw(e)).find("lid " + std::to_string(lid)), std::string::npos);
    }
}

TEST(OobMessage, FieldEthernetGid) {
    EndpointInfo e = sample();
    e.gid = {};
    EXPECT_NE(decode_err(raw(e)).find("gid"), std::string::npos);
}

TEST(OobMessage, CheckEndpointMatchesDecode) {
    EndpointInfo e = sample();
    std::string err;
    EXPECT_TRUE(check_endpoint(e, &err)) << err;
    e.name = "sixteen-chars-xx";
    EXPECT_FALSE(check_endpoint(e, &err));
    EXPECT_NE(err.find("name length 16"), std::string::npos) << err;
    // encode() truncates rather than failing; the result decodes to 15 bytes.
    const Bytes m = encode(e);
    const auto d = decode(m.data(), m.size(), &err);
    ASSERT_TRUE(d.has_value()) << err;
    EXPECT_EQ(d->name, "sixteen-chars-x");
}

}  // namespace
