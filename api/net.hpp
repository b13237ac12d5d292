// Network value types shared by every part of sluice: the config file's
// model, the data plane's tables and update requests, the control process.
// Plain values, no DPDK, no YAML: any process may link them.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::net {

using MacAddr = std::array<uint8_t, 6>;

// An IPv4 or IPv6 address. IPv4 is stored in bytes[0..3] in network order,
// the rest zero, so both families compare and hash the same way.
struct IpAddr {
    enum class Family : uint8_t { V4, V6 };
    Family family = Family::V4;
    std::array<uint8_t, 16> bytes{};

    bool is_v4() const { return family == Family::V4; }
    bool is_v6() const { return family == Family::V6; }
    // IPv4 address in host byte order (only meaningful when is_v4()).
    uint32_t v4_host() const {
        return (uint32_t(bytes[0]) << 24) | (uint32_t(bytes[1]) << 16) | (uint32_t(bytes[2]) << 8) |
               uint32_t(bytes[3]);
    }
    static IpAddr from_v4_host(uint32_t a) {
        IpAddr r;
        r.bytes[0] = uint8_t(a >> 24);
        r.bytes[1] = uint8_t(a >> 16);
        r.bytes[2] = uint8_t(a >> 8);
        r.bytes[3] = uint8_t(a);
        return r;
    }
    static IpAddr v4(const uint8_t* network_order) {
        IpAddr r;
        for (int i = 0; i < 4; ++i) r.bytes[size_t(i)] = network_order[i];
        return r;
    }
    static IpAddr v6(const uint8_t* network_order) {
        IpAddr r;
        r.family = Family::V6;
        for (int i = 0; i < 16; ++i) r.bytes[size_t(i)] = network_order[i];
        return r;
    }
    friend bool operator==(const IpAddr&, const IpAddr&) = default;
    friend auto operator<=>(const IpAddr&, const IpAddr&) = default;
};

inline constexpr unsigned max_len(IpAddr::Family f) { return f == IpAddr::Family::V4 ? 32 : 128; }
inline unsigned max_len(const IpAddr& a) { return max_len(a.family); }

// addr/len. For route prefixes the host bits are zero; for interface
// addresses addr is the interface's own address.
struct Prefix {
    IpAddr addr;
    uint8_t len = 0;
    friend bool operator==(const Prefix&, const Prefix&) = default;
    friend auto operator<=>(const Prefix&, const Prefix&) = default;
};

// fe80::/10 (RFC 4291 2.5.6): valid on one link only.
inline bool is_link_local6(const uint8_t* a) { return a[0] == 0xfe && (a[1] & 0xc0) == 0x80; }
inline bool is_link_local6(const IpAddr& a) { return a.is_v6() && is_link_local6(a.bytes.data()); }

// Text forms: strict on input (no spaces, no signs, no leading zeros in a
// prefix length, no zone ids), canonical on output (RFC 5952 for IPv6).
std::optional<IpAddr> parse_ip(std::string_view text);
std::optional<Prefix> parse_prefix(std::string_view text);  // "a.b.c.d/len" or "x::y/len"
std::optional<MacAddr> parse_mac(std::string_view text);    // "02:00:00:00:00:01"
std::string to_string(const IpAddr& a);
std::string to_string(const Prefix& p);
std::string to_string(const MacAddr& m);
// True when a lies inside prefix p (families must match).
bool contains(const Prefix& p, const IpAddr& a);
// p with the host bits cleared.
Prefix network_of(const Prefix& p);
// True when the host bits of p are clear.
inline bool is_network(const Prefix& p) { return network_of(p) == p; }

}  // namespace sluice::net
