// Compact hashable keys for prefixes, so the table builder's route maps for
// a full table (10^6 routes) cost tens of bytes per route, not a
// net::Prefix (18 bytes, padded) plus a tuple hash.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <functional>

#include "api/net.hpp"

namespace sluice::dp {

// IPv4: address (host order) << 8 | length.
struct Key4 {
    uint64_t v = 0;
    static Key4 of(const net::Prefix& p) { return Key4{(uint64_t(p.addr.v4_host()) << 8) | p.len}; }
    static Key4 of(uint32_t addr, uint8_t len) { return Key4{(uint64_t(addr) << 8) | len}; }
    uint32_t addr() const { return uint32_t(v >> 8); }
    uint8_t len() const { return uint8_t(v); }
    net::Prefix prefix() const { return net::Prefix{net::IpAddr::from_v4_host(addr()), len()}; }
    // The covering prefix of length l (<= len()).
    Key4 masked(uint8_t l) const { return of(l == 0 ? 0 : addr() & (~0u << (32 - l)), l); }
    friend bool operator==(Key4, Key4) = default;
    friend auto operator<=>(Key4, Key4) = default;
};

// IPv6: the address as two big-endian 64-bit halves (so integer order is
// address order) and the length.
struct Key6 {
    uint64_t hi = 0, lo = 0;
    uint8_t len = 0;
    static Key6 of(const net::Prefix& p) { return of(p.addr.bytes.data(), p.len); }
    static Key6 of(const uint8_t* a, uint8_t len) {
        uint64_t h, l;
        std::memcpy(&h, a, 8);
        std::memcpy(&l, a + 8, 8);
        if constexpr (std::endian::native == std::endian::little) {
            h = __builtin_bswap64(h);
            l = __builtin_bswap64(l);
        }
        return Key6{h, l, len};
    }
    net::Prefix prefix() const {
        net::Prefix p;
        p.addr.family = net::IpAddr::Family::V6;
        uint64_t h = hi, l = lo;
        if constexpr (std::endian::native == std::endian::little) {
            h = __builtin_bswap64(h);
            l = __builtin_bswap64(l);
        }
        std::memcpy(p.addr.bytes.data(), &h, 8);
        std::memcpy(p.addr.bytes.data() + 8, &l, 8);
        p.len = len;
        return p;
    }
    Key6 masked(uint8_t l) const {
        Key6 k{0, 0, l};
        if (l == 0) return k;
        if (l <= 64) {
            k.hi = hi & (~uint64_t(0) << (64 - l));
        } else {
            k.hi = hi;
            k.lo = l >= 128 ? lo : lo & (~uint64_t(0) << (128 - l));
        }
        return k;
    }
    // True when this prefix lies inside p (p no longer than this).
    bool inside(const Key6& p) const { return p.len <= len && masked(p.len) == Key6{p.hi, p.lo, p.len}; }
    friend bool operator==(const Key6&, const Key6&) = default;
    friend auto operator<=>(const Key6&, const Key6&) = default;
};

// splitmix64's finaliser: cheap and well mixed (std::hash<uint64_t> is the
// identity in libstdc++, which clusters sequential prefixes in buckets).
inline uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

struct Key4Hash {
    size_t operator()(Key4 k) const { return size_t(mix64(k.v)); }
};
struct Key6Hash {
    size_t operator()(const Key6& k) const { return size_t(mix64(k.hi ^ mix64(k.lo ^ k.len))); }
};

}  // namespace sluice::dp
