// Packet construction helpers for the pkt unit tests (test code only: these
// allocate freely). Addresses are written as text and parsed with inet_pton.
#pragma once

// The specs below are filled with designated initializers that name only the
// fields a case changes; GCC 12 warns about the rest under -Wextra (the
// project build already passes -Wno-missing-field-initializers).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/pkt/bytes.hpp"
#include "dataplane/pkt/checksum.hpp"
#include "dataplane/pkt/eth.hpp"

namespace sluice::pkt::test {

using Bytes = std::vector<uint8_t>;
using A4 = std::array<uint8_t, 4>;
using A16 = std::array<uint8_t, 16>;

// "45 00 0a:bc" -> bytes; spaces, colons and newlines ignored.
// Two unicast, locally administered MACs for frames built in tests.
inline const MacBytes kMacA{0x02, 0, 0, 0, 0, 0x01};
inline const MacBytes kMacB{0x02, 0, 0, 0, 0, 0x02};

// A parameterised case's name from its description (gtest allows [A-Za-z0-9_]).
inline std::string case_name(const char* d) {
    std::string s;
    for (const char* p = d; *p; ++p) s += std::isalnum(static_cast<unsigned char>(*p)) ? *p : '_';
    return s;
}

inline Bytes hex(std::string_view s) {
    Bytes out;
    int hi = -1;
    for (char c : s) {
        if (!std::isxdigit(static_cast<unsigned char>(c))) continue;
        int v = std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (std::tolower(c) - 'a' + 10);
        if (hi < 0) {
            hi = v;
        } else {
            out.push_back(uint8_t(hi * 16 + v));
            hi = -1;
        }
    }
    if (hi >= 0) throw std::invalid_argument("odd hex digit count");
    return out;
}

inline std::string to_hex(const uint8_t* p, size_t n) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; ++i) {
        if (i) s += ' ';
        s += d[p[i] >> 4];
        s += d[p[i] & 15];
    }
    return s;
}
inline std::string to_hex(const Bytes& b) { return to_hex(b.data(), b.size()); }

inline A4 ip4(const char* s) {
    A4 a{};
    if (inet_pton(AF_INET, s, a.data()) != 1) throw std::invalid_argument(s);
    return a;
}
inline A16 ip6(const char* s) {
    A16 a{};
    if (inet_pton(AF_INET6, s, a.data()) != 1) throw std::invalid_argument(s);
    return a;
}

// Reference checksum, straight from RFC 1071: 16-bit big-endian words, one
// at a time, odd byte padded.
inline uint16_t ref_checksum(const uint8_t* p, size_t n) {
    uint64_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2) s += uint32_t(p[i] << 8 | p[i + 1]);
    if (n & 1) s += uint32_t(p[n - 1]) << 8;
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return uint16_t(~s);
}

inline void put16(uint8_t* p, uint16_t v) { store_be16(p, v); }

// Appends one byte at a time: memcpy from an empty vector's null data() is
// UB, and GCC 12 misreports -Warray-bounds both on a zero-length copy to the
// end of a buffer (-O2) and on vector::insert of a range (-O3, GCC bug
// 107852). Test fixtures are tiny; the loop costs nothing that matters.
inline void append(Bytes& dst, const Bytes& src) {
    dst.reserve(dst.size() + src.size());
    for (uint8_t b : src) dst.push_back(b);
}
inline uint16_t get16(const uint8_t* p) { return load_be16(p); }

inline void fix_ipv4_checksum(uint8_t* ip) { ipv4_set_header_checksum(ip); }

struct Ip4Spec {
    const char* src = "192.0.2.1";
    const char* dst = "198.51.100.7";
    uint8_t proto = 17;
    uint8_t ttl = 64;
    uint8_t tos = 0;
    uint16_t id = 0x1234;
    uint16_t frag = 0;  // flags + fragment offset word
    Bytes options;      // padded to 4 bytes with EOL by the builder
    Bytes l4;           // everything after the header
};

inline Bytes make_ipv4(const Ip4Spec& s) {
    Bytes opt = s.options;
    while (opt.size() % 4) opt.push_back(0);
    size_t hl = 20 + opt.size();
    Bytes b(20, 0);
    append(b, opt);
    append(b, s.l4);
    uint8_t* ip = b.data();
    ip[0] = uint8_t(0x40 | (hl / 4));
    ip[1] = s.tos;
    put16(ip + 2, uint16_t(b.size()));
    put16(ip + 4, s.id);
    put16(ip + 6, s.frag);
    ip[8] = s.ttl;
    ip[9] = s.proto;
    A4 src = ip4(s.src), dst = ip4(s.dst);
    std::memcpy(ip + 12, src.data(), 4);
    std::memcpy(ip + 16, dst.data(), 4);
    fix_ipv4_checksum(ip);
    return b;
}

// 8-byte UDP/TCP-ish header with the given ports, then payload bytes.
inline Bytes ports_l4(uint16_t sport, uint16_t dport, size_t payload = 12) {
    Bytes l4(8 + payload, 0);
    put16(l4.data(), sport);
    put16(l4.data() + 2, dport);
    put16(l4.data() + 4, uint16_t(l4.size()));
    for (size_t i = 0; i < payload; ++i) l4[8 + i] = uint8_t('a' + i % 26);
    return l4;
}

// ICMPv4 message with a correct checksum.
inline Bytes icmp4_msg(uint8_t type, uint8_t code, uint32_t rest, const Bytes& data = {}) {
    Bytes m(8, 0);
    m[0] = type;
    m[1] = code;
    store_be32(m.data() + 4, rest);
    append(m, data);
    put16(m.data() + 2, ref_checksum(m.data(), m.size()));
    return m;
}

struct Ip6Spec {
    const char* src = "2001:db8::1";
    const char* dst = "2001:db8:1::7";
    uint8_t next_header = 17;
    uint8_t hop_limit = 64;
    Bytes payload;  // extension headers + upper layer, as is
};

inline Bytes make_ipv6(const Ip6Spec& s) {
    Bytes b(40, 0);
    append(b, s.payload);
    uint8_t* ip = b.data();
    store_be32(ip, 0x60000000u);
    put16(ip + 4, uint16_t(s.payload.size()));
    ip[6] = s.next_header;
    ip[7] = s.hop_limit;
    A16 src = ip6(s.src), dst = ip6(s.dst);
    std::memcpy(ip + 8, src.data(), 16);
    std::memcpy(ip + 24, dst.data(), 16);
    return b;
}

// Recomputes the ICMPv6 checksum of a message at byte `off` of an IPv6
// packet whose upper layer runs to the end of the payload.
inline void fix_icmp6_checksum(Bytes& pkt, size_t off = 40) {
    uint8_t* ip = pkt.data();
    size_t end = 40 + get16(ip + 4);
    uint8_t* m = ip + off;
    put16(m + 2, 0);
    put16(m + 2, l4_checksum_v6(ip + 8, ip + 24, 58, m, end - off));
}

inline Bytes icmp6_msg(uint8_t type, uint8_t code, uint32_t rest, const Bytes& data = {}) {
    Bytes m(8, 0);
    m[0] = type;
    m[1] = code;
    store_be32(m.data() + 4, rest);
    append(m, data);
    return m;  // checksum: fix_icmp6_checksum once inside a packet
}

// Generic extension header (hop-by-hop/routing/destination options) of
// 8 * (1 + ext_len) bytes with a PadN body.
inline Bytes ext_header(uint8_t next, uint8_t ext_len = 0) {
    Bytes h(8u * (1u + ext_len), 0);
    h[0] = next;
    h[1] = ext_len;
    h[2] = 1;  // PadN
    h[3] = uint8_t(h.size() - 4);
    return h;
}

inline Bytes frag_header(uint8_t next, uint16_t offset_units, bool more, uint32_t id = 0xabcd) {
    Bytes h(8, 0);
    h[0] = next;
    put16(h.data() + 2, uint16_t(offset_units << 3 | (more ? 1 : 0)));
    store_be32(h.data() + 4, id);
    return h;
}

inline Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

}  // namespace sluice::pkt::test
