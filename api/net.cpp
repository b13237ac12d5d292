// Text forms of the network value types (api/net.hpp).
#include "api/net.hpp"

#include <arpa/inet.h>

#include <cstdio>
#include <string>

namespace sluice::net {

namespace {

constexpr size_t kMaxAddrText = 45;  // INET6_ADDRSTRLEN - 1

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::optional<IpAddr> parse_ip(std::string_view text) {
    if (text.empty() || text.size() > kMaxAddrText) return std::nullopt;
    for (char c : text) {
        // inet_pton stops at NUL and would accept "1.2.3.4\0junk";
        // zone ids ("fe80::1%eth0") and spaces are not addresses either.
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.' ||
                  c == ':';
        if (!ok) return std::nullopt;
    }
    std::string s(text);
    IpAddr r;
    if (s.find(':') != std::string::npos) {
        r.family = IpAddr::Family::V6;
        if (inet_pton(AF_INET6, s.c_str(), r.bytes.data()) != 1) return std::nullopt;
    } else {
        r.family = IpAddr::Family::V4;
        if (inet_pton(AF_INET, s.c_str(), r.bytes.data()) != 1) return std::nullopt;
    }
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
    Prefix r = p;
    unsigned total = max_len(p.addr);
    unsigned len = p.len > total ? total : p.len;
    for (unsigned bit = len; bit < 128; ++bit) {
        size_t byte = bit / 8;
        r.addr.bytes[byte] = uint8_t(r.addr.bytes[byte] & ~(0x80u >> (bit % 8)));
    }
    return r;
}

}  // namespace sluice::net
