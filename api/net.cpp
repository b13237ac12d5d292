// Text forms of the network value types (api/net.hpp).
#include "api/net.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <string>

namespace sluice::net {

namespace {

constexpr size_t kMaxAddrText = 45;  // INET6_ADDRSTRLEN - 1

// Hex digit values, -1 for anything else (a table: IPv6 text is parsed a
// character at a time, 10^6 times for a full table).
constexpr std::array<int8_t, 256> kHexValue = [] {
    std::array<int8_t, 256> t{};
    for (auto& v : t) v = -1;
    for (int c = 0; c < 10; ++c) t[size_t('0' + c)] = int8_t(c);
    for (int c = 0; c < 6; ++c) t[size_t('a' + c)] = t[size_t('A' + c)] = int8_t(10 + c);
    return t;
}();

int hex_digit(char c) { return kHexValue[uint8_t(c)]; }

// The two parsers accept exactly what glibc's inet_pton() accepts (the
// rules of its resolv/inet_pton.c), without the copy into a NUL-terminated
// string and the library call per address that a million-route table
// would pay; tests/unit/config/test_address_parser.cpp holds them to
// inet_pton on edge cases and on random strings.

// IPv4 dotted quad: exactly four decimal parts 0..255 joined by single
// dots, no leading zeros ("01" is octal to inet_aton, so it is refused
// rather than guessed), nothing before, between or after.
bool parse_v4(const char* p, const char* end, uint8_t* out) {
    uint8_t tmp[4];
    for (int part = 0;; ++part) {
        if (p == end) return false;
        unsigned v = unsigned(uint8_t(*p) - '0');
        if (v > 9) return false;
        ++p;
        // A part starting with 0 is "0" alone; else up to two more digits
        // (a fourth one can only follow as a refused next character).
        if (v != 0 && p != end) {
            unsigned d = unsigned(uint8_t(*p) - '0');
            if (d <= 9) {
                v = v * 10 + d;
                ++p;
                if (p != end && (d = unsigned(uint8_t(*p) - '0')) <= 9) {
                    v = v * 10 + d;
                    ++p;
                    if (v > 255) return false;
                }
            }
        }
        tmp[part] = uint8_t(v);
        if (part == 3) break;
        if (p == end || *p != '.') return false;
        ++p;
    }
    if (p != end) return false;
    std::memcpy(out, tmp, 4);
    return true;
}

// RFC 4291 2.2 text form: up to eight groups of 1-4 hex digits, one "::"
// for a run of zero groups, optionally a dotted quad as the last 32 bits.
bool parse_v6(const char* src, const char* end, uint8_t* out) {
    uint8_t tmp[16] = {};
    size_t t = 0;      // bytes written to tmp
    constexpr size_t kNoGap = SIZE_MAX;
    size_t gap = kNoGap;  // where "::" stands (it may stand at 16, after eight groups)
    if (src == end) return false;
    if (*src == ':') {  // a leading colon must be the start of "::"
        ++src;
        if (src == end || *src != ':') return false;
    }
    const char* token = src;
    int digits = 0;
    unsigned val = 0;
    while (src < end) {
        char c = *src++;
        int d = hex_digit(c);
        if (d >= 0) {
            if (digits == 4) return false;
            val = (val << 4) | unsigned(d);
            ++digits;
            continue;
        }
        if (c == ':') {
            token = src;
            if (digits == 0) {
                if (gap != kNoGap) return false;  // a second "::"
                gap = t;
                continue;
            }
            if (src == end) return false;  // trailing single colon
            if (t + 2 > 16) return false;
            tmp[t++] = uint8_t(val >> 8);
            tmp[t++] = uint8_t(val);
            digits = 0;
            val = 0;
            continue;
        }
        if (c == '.' && t + 4 <= 16 && parse_v4(token, end, tmp + t)) {
            t += 4;
            digits = 0;
            break;
        }
        return false;
    }
    if (digits > 0) {
        if (t + 2 > 16) return false;
        tmp[t++] = uint8_t(val >> 8);
        tmp[t++] = uint8_t(val);
    }
    if (gap != kNoGap) {
        if (t == 16) return false;  // "::" standing for no group at all
        size_t n = t - gap;
        std::memmove(tmp + 16 - n, tmp + gap, n);
        std::memset(tmp + gap, 0, 16 - n - gap);
        t = 16;
    }
    if (t != 16) return false;
    std::memcpy(out, tmp, 16);
    return true;
}

}  // namespace

std::optional<IpAddr> parse_ip(std::string_view text) {
    // Every character outside [0-9a-fA-F.:] fails in the parsers below, so
    // "1.2.3.4\0junk", zone ids ("fe80::1%eth0") and spaces are rejected
    // without a separate scan; a string never stops early at a NUL.
    if (text.empty() || text.size() > kMaxAddrText) return std::nullopt;
    // Text with a ':' is IPv6, else IPv4. A dotted quad never holds one, so
    // trying IPv4 first decides the common case without a scan.
    IpAddr r;
    const char* b = text.data();
    const char* e = b + text.size();
    if (parse_v4(b, e, r.bytes.data())) return r;
    if (std::memchr(b, ':', text.size()) == nullptr) return std::nullopt;
    r.family = IpAddr::Family::V6;
    if (!parse_v6(b, e, r.bytes.data())) return std::nullopt;
    return r;
}

std::optional<Prefix> parse_prefix(std::string_view text) {
    size_t slash = text.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    auto addr = parse_ip(text.substr(0, slash));
    if (!addr) return std::nullopt;
    std::string_view len = text.substr(slash + 1);
    // 1..3 decimal digits, no sign, no leading zero ("/024"), no spaces.
    if (len.empty() || len.size() > 3) return std::nullopt;
    if (len.size() > 1 && len[0] == '0') return std::nullopt;
    unsigned v = 0;
    for (char c : len) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + unsigned(c - '0');
    }
    if (v > max_len(*addr)) return std::nullopt;
    return Prefix{*addr, uint8_t(v)};
}

std::optional<MacAddr> parse_mac(std::string_view text) {
    // Exactly "xx:xx:xx:xx:xx:xx", either case.
    if (text.size() != 17) return std::nullopt;
    MacAddr m{};
    for (size_t i = 0; i < 6; ++i) {
        int hi = hex_digit(text[i * 3]);
        int lo = hex_digit(text[i * 3 + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        if (i < 5 && text[i * 3 + 2] != ':') return std::nullopt;
        m[i] = uint8_t(hi * 16 + lo);
    }
    return m;
}

std::string to_string(const IpAddr& a) {
    char buf[INET6_ADDRSTRLEN] = {};
    const char* r = a.is_v4() ? inet_ntop(AF_INET, a.bytes.data(), buf, sizeof buf)
                              : inet_ntop(AF_INET6, a.bytes.data(), buf, sizeof buf);
    return r ? std::string(r) : std::string("?");
}

std::string to_string(const Prefix& p) { return to_string(p.addr) + "/" + std::to_string(unsigned(p.len)); }

std::string to_string(const MacAddr& m) {
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return buf;
}

bool contains(const Prefix& p, const IpAddr& a) {
    if (p.addr.family != a.family) return false;
    unsigned len = p.len > max_len(a) ? max_len(a) : p.len;
    size_t full = len / 8;
    for (size_t i = 0; i < full; ++i)
        if (p.addr.bytes[i] != a.bytes[i]) return false;
    unsigned rest = len % 8;
    if (rest == 0) return true;
    uint8_t mask = uint8_t(0xff << (8 - rest));
    return (p.addr.bytes[full] & mask) == (a.bytes[full] & mask);
}

Prefix network_of(const Prefix& p) {
    // Clears every bit from len to 127 (for IPv4 that includes bytes 4..15).
    Prefix r = p;
    unsigned total = max_len(p.addr);
    size_t byte = (p.len > total ? total : p.len) / 8u;
    unsigned rest = (p.len > total ? total : p.len) % 8u;
    if (rest != 0) r.addr.bytes[byte++] &= uint8_t(0xff << (8 - rest));
    for (; byte < 16; ++byte) r.addr.bytes[byte] = 0;
    return r;
}

}  // namespace sluice::net
