// The out-of-band exchange message (oob_message.hpp has the layout). Every
// field is written and read byte by byte in network order, so the code has
// no alignment or host byte order assumptions.
#include "drivers/rdma/connect/oob_message.hpp"

#include "drivers/rdma/connect/fail.hpp"

#include <array>
#include <cstring>
#include <string>

namespace sluice::drivers::rdma {

namespace {

constexpr std::array<uint8_t, 4> kMagic = {'S', 'L', 'R', 'D'};

// Field offsets of version 1 (oob_message.hpp).
constexpr size_t kOffVersion = 4;
constexpr size_t kOffLength = 6;
constexpr size_t kOffLinkLayer = 8;
constexpr size_t kOffMtu = 9;
constexpr size_t kOffLid = 10;
constexpr size_t kOffGidIndex = 12;
constexpr size_t kOffGid = 13;
constexpr size_t kOffQpn = 29;
constexpr size_t kOffPsn = 33;
constexpr size_t kOffCredits = 37;
constexpr size_t kOffMaxFrame = 41;
constexpr size_t kOffInstance = 45;
constexpr size_t kOffMac = 53;
constexpr size_t kOffNameLen = 59;
constexpr size_t kOffName = 60;
constexpr size_t kOffCrcV1 = 75;
static_assert(kOffName + kOobMaxName == kOffCrcV1);
static_assert(kOffCrcV1 + 4 == kOobV1Size);

// The reflected Castagnoli table, built at compile time.
constexpr std::array<uint32_t, 256> make_crc_table() {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        t[i] = c;
    }
    return t;
}
constexpr std::array<uint32_t, 256> kCrcTable = make_crc_table();

void put16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}
void put64(uint8_t* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (56 - 8 * i));
}
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t get32(const uint8_t* p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | p[i];
    return v;
}
uint64_t get64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
    return v;
}

std::string hex(uint32_t v, int digits) {
    static const char* kHex = "0123456789abcdef";
    std::string s = "0x";
    for (int i = digits - 1; i >= 0; --i) s += kHex[(v >> (4 * i)) & 15];
    return s;
}

bool name_char_ok(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; }

}  // namespace

uint32_t crc32c(const uint8_t* p, size_t n, uint32_t crc) {
    crc = ~crc;
    for (size_t i = 0; i < n; ++i) crc = kCrcTable[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

bool check_endpoint(const EndpointInfo& info, std::string* err) {
    const auto ll = static_cast<unsigned>(info.link_layer);
    if (ll != 1 && ll != 2)
        return fail(err, "link_layer " + std::to_string(ll) + ": expected 1 (InfiniBand) or 2 (Ethernet)");
    if (info.active_mtu < 1 || info.active_mtu > 5)
        return fail(err, "active_mtu " + std::to_string(info.active_mtu) + ": expected an ibv_mtu 1..5 (256..4096 bytes)");
    if (info.link_layer == LinkLayer::infiniband && (info.lid == 0 || info.lid > 0xBFFF))
        // IBA 4.1.3: 0x0001-0xBFFF unicast; 0 reserved, 0xC000.. multicast, 0xFFFF permissive.
        return fail(err, "lid " + std::to_string(info.lid) + ": InfiniBand needs a unicast LID 1..0xBFFF");
    if (info.link_layer == LinkLayer::ethernet) {
        bool zero = true;
        for (uint8_t b : info.gid) zero = zero && b == 0;
        if (zero) return fail(err, "gid: Ethernet (RoCE) needs a non-zero GID");
    }
    if (info.qpn == 0 || info.qpn > 0xFFFFFF)
        return fail(err, "qpn " + std::to_string(info.qpn) + ": expected 1..0xFFFFFF (24 bits)");
    if (info.psn > 0xFFFFFF) return fail(err, "psn " + std::to_string(info.psn) + ": expected 0..0xFFFFFF (24 bits)");
    if (info.recv_credits < 1 || info.recv_credits > kOobMaxCredits)
        return fail(err, "recv_credits " + std::to_string(info.recv_credits) + ": expected 1.." +
                             std::to_string(kOobMaxCredits));
    if (info.max_frame < kOobMinFrame || info.max_frame > kOobMaxFrame)
        return fail(err, "max_frame " + std::to_string(info.max_frame) + ": expected " +
                             std::to_string(kOobMinFrame) + ".." + std::to_string(kOobMaxFrame));
    if (info.name.empty() || info.name.size() > kOobMaxName)
        return fail(err, "name length " + std::to_string(info.name.size()) + ": expected 1.." +
                             std::to_string(kOobMaxName));
    for (char c : info.name)
        if (!name_char_ok(c))
            return fail(err, "name: byte " + hex(static_cast<unsigned char>(c), 2) + " not in [a-z0-9_-]");
    return true;
}

std::vector<uint8_t> encode(const EndpointInfo& info) {
    std::vector<uint8_t> out(kOobV1Size, 0);
    uint8_t* p = out.data();
    std::memcpy(p, kMagic.data(), kMagic.size());
    put16(p + kOffVersion, kOobVersion);
    put16(p + kOffLength, static_cast<uint16_t>(kOobV1Size));
    p[kOffLinkLayer] = static_cast<uint8_t>(info.link_layer);
    p[kOffMtu] = info.active_mtu;
    put16(p + kOffLid, info.lid);
    p[kOffGidIndex] = info.gid_index;
    std::memcpy(p + kOffGid, info.gid.data(), info.gid.size());
    put32(p + kOffQpn, info.qpn);
    put32(p + kOffPsn, info.psn);
    put32(p + kOffCredits, info.recv_credits);
    put32(p + kOffMaxFrame, info.max_frame);
    put64(p + kOffInstance, info.instance);
    std::memcpy(p + kOffMac, info.mac.data(), info.mac.size());
    const size_t name_len = info.name.size() < kOobMaxName ? info.name.size() : kOobMaxName;
    p[kOffNameLen] = static_cast<uint8_t>(name_len);
    std::memcpy(p + kOffName, info.name.data(), name_len);
    put32(p + kOffCrcV1, crc32c(p, kOffCrcV1));
    return out;
}

size_t message_size(const uint8_t* p, size_t n) {
    if (p == nullptr || n < kOobHeaderSize) return 0;
    return get16(p + kOffLength);
}

std::optional<EndpointInfo> decode(const uint8_t* p, size_t n, std::string* err) {
    if (p == nullptr || n < kOobHeaderSize) {
        fail(err, "length: " + std::to_string(n) + " bytes, shorter than the " + std::to_string(kOobHeaderSize) +
                      "-byte header");
        return std::nullopt;
    }
    if (std::memcmp(p, kMagic.data(), kMagic.size()) != 0) {
        fail(err, "magic: expected \"SLRD\", not an sluice RDMA exchange message");
        return std::nullopt;
    }
    const uint16_t version = get16(p + kOffVersion);
    if (version != kOobVersion) {
        fail(err, "version " + std::to_string(version) + " not supported, this build speaks " +
                      std::to_string(kOobVersion));
        return std::nullopt;
    }
    const size_t length = get16(p + kOffLength);
    if (length < kOobV1Size) {
        fail(err, "length " + std::to_string(length) + ": expected at least " + std::to_string(kOobV1Size));
        return std::nullopt;
    }
    if (length != n) {
        fail(err, "length " + std::to_string(length) + " but " + std::to_string(n) +
                      " bytes given: expected exactly one whole message");
        return std::nullopt;
    }
    const uint32_t want = get32(p + length - 4);
    const uint32_t got = crc32c(p, length - 4);
    if (want != got) {
        fail(err, "CRC-32C mismatch: message carries " + hex(want, 8) + ", its bytes give " + hex(got, 8) +
                      " (corrupted)");
        return std::nullopt;
    }
    // Check the raw link layer before the enum holds it, so the error names
    // the byte received.
    const uint8_t ll = p[kOffLinkLayer];
    if (ll != 1 && ll != 2) {
        fail(err, "link_layer " + std::to_string(ll) + ": expected 1 (InfiniBand) or 2 (Ethernet)");
        return std::nullopt;
    }
    const uint8_t name_len = p[kOffNameLen];
    if (name_len < 1 || name_len > kOobMaxName) {
        fail(err, "name length " + std::to_string(name_len) + ": expected 1.." + std::to_string(kOobMaxName));
        return std::nullopt;
    }
    EndpointInfo info;
    info.link_layer = static_cast<LinkLayer>(ll);
    info.active_mtu = p[kOffMtu];
    info.lid = get16(p + kOffLid);
    info.gid_index = p[kOffGidIndex];
    std::memcpy(info.gid.data(), p + kOffGid, info.gid.size());
    info.qpn = get32(p + kOffQpn);
    info.psn = get32(p + kOffPsn);
    info.recv_credits = get32(p + kOffCredits);
    info.max_frame = get32(p + kOffMaxFrame);
    info.instance = get64(p + kOffInstance);
    std::memcpy(info.mac.data(), p + kOffMac, info.mac.size());
    info.name.assign(reinterpret_cast<const char*>(p + kOffName), name_len);
    // Bytes [kOffCrcV1, length - 4) belong to fields of a later sender: ignored.
    if (!check_endpoint(info, err)) return std::nullopt;
    return info;
}

}  // namespace sluice::drivers::rdma
