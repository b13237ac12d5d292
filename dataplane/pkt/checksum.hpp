// Internet checksum (RFC 1071) and its users: the IPv4 header checksum, the
// RFC 1624 incremental update for a TTL decrement, and the TCP/UDP/ICMPv6
// pseudo-header sums (RFC 768, RFC 793, RFC 8200 8.1, RFC 4443 2.3).
//
// Conventions:
//  * A "partial sum" (uint32_t) is a ones-complement sum of big-endian 16-bit
//    words, not yet folded or complemented. Start from 0 and chain csum_add
//    calls; only the last chunk may have an odd length (an odd chunk in the
//    middle would shift the word alignment of what follows).
//  * csum_fold turns a partial sum into the value to store in a checksum
//    field: folded, complemented, in host order (store it big-endian).
//  * Computing: zero the checksum field, checksum the data, store the result.
//    Verifying: checksum the data with the field as received; 0 means valid.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "dataplane/pkt/bytes.hpp"

namespace sluice::pkt {

namespace detail {

// Ones-complement sum of the 16-bit words of [p, p+len) read in *native*
// byte order, folded to 16 bits. Works on 8-byte words: 2^64 = 1 mod 0xFFFF,
// so a 64-bit end-around-carry sum folds to the same 16-bit sum.
inline uint16_t csum_native(const uint8_t* p, size_t len) {
    uint64_t acc = 0;
    while (len >= 32) {
        uint64_t w[4];
        std::memcpy(w, p, 32);
        for (uint64_t x : w) {
            acc += x;
            acc += (acc < x);
        }
        p += 32;
        len -= 32;
    }
    while (len >= 8) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        acc += w;
        acc += (acc < w);
        p += 8;
        len -= 8;
    }
    if (len >= 4) {
        uint32_t w;
        std::memcpy(&w, p, 4);
        acc += w;
        acc += (acc < w);
        p += 4;
        len -= 4;
    }
    if (len >= 2) {
        uint16_t w;
        std::memcpy(&w, p, 2);
        acc += w;
        acc += (acc < w);
        p += 2;
        len -= 2;
    }
    if (len) {
        // Odd trailing byte: padded with a zero byte after it (RFC 1071).
        uint64_t w = std::endian::native == std::endian::little ? uint64_t(p[0]) : uint64_t(p[0]) << 8;
        acc += w;
        acc += (acc < w);
    }
    acc = (acc & 0xffffffffu) + (acc >> 32);
    acc = (acc & 0xffffffffu) + (acc >> 32);
    acc = (acc & 0xffffu) + (acc >> 16);
    acc = (acc & 0xffffu) + (acc >> 16);
    acc = (acc & 0xffffu) + (acc >> 16);
    return uint16_t(acc);
}

// 32-bit ones-complement addition (2^32 = 1 mod 0xFFFF).
inline uint32_t add1c(uint32_t a, uint32_t b) {
    uint32_t r = a + b;
    return r + (r < b);
}

}  // namespace detail

// Adds [data, data+len) to a partial sum. Handles odd length and any alignment.
inline uint32_t csum_add(uint32_t sum, const void* data, size_t len) {
    uint16_t s = detail::csum_native(static_cast<const uint8_t*>(data), len);
    // The ones-complement sum commutes with byte swapping (RFC 1071 2.B).
    if constexpr (std::endian::native == std::endian::little) s = bswap16(s);
    return detail::add1c(sum, s);
}

// Adds one 16-bit word (host order value of a big-endian field).
inline uint32_t csum_add16(uint32_t sum, uint16_t word) { return detail::add1c(sum, word); }

// Adds a 32-bit value as two 16-bit words.
inline uint32_t csum_add_u32(uint32_t sum, uint32_t v) {
    return detail::add1c(detail::add1c(sum, v >> 16), v & 0xffffu);
}

// Final checksum: folded and complemented, host order.
inline uint16_t csum_fold(uint32_t sum) {
    sum = (sum & 0xffffu) + (sum >> 16);
    sum = (sum & 0xffffu) + (sum >> 16);
    return uint16_t(~sum);
}

// Over the header as it is: returns the value to store when the checksum
// field (bytes 10-11) is zero, and 0 when the stored checksum is correct.
inline uint16_t ipv4_header_checksum(const uint8_t* ip, size_t hdr_len) { return csum_fold(csum_add(0, ip, hdr_len)); }

// The common case, a 20-byte header, as five 32-bit loads into a 64-bit
// accumulator, with no fold: 2^16 = 1 (mod 2^16 - 1), so the ones'-complement
// sum of the 16-bit words is 0xFFFF exactly when the plain sum S is a
// non-zero multiple of 0xFFFF (RFC 1071 2.A: the sum is addition mod
// 2^16 - 1). Loading in host order multiplies S by 2^8 mod 2^16 - 1, which
// is invertible, so byte order does not matter either. The division by a
// constant is a multiply and a shift.
inline bool ipv4_header20_checksum_ok(const uint8_t* ip) {
    // Five separate loads: one 20-byte memcpy makes GCC bounce the header
    // through the stack.
    auto word = [ip](int off) {
        uint32_t v;
        std::memcpy(&v, ip + off, 4);
        return uint64_t(v);
    };
    uint64_t s = word(0) + word(4) + word(8) + word(12) + word(16);
    return s != 0 && s % 0xFFFF == 0;
}

inline bool ipv4_header_checksum_ok(const uint8_t* ip) {
    return ipv4_header_checksum(ip, size_t(ip[0] & 0x0f) * 4) == 0;
}

// Zeroes bytes 10-11 and stores the correct checksum for an IHL-sized header.
inline void ipv4_set_header_checksum(uint8_t* ip) {
    ip[10] = 0;
    ip[11] = 0;
    store_be16(ip + 10, ipv4_header_checksum(ip, size_t(ip[0] & 0x0f) * 4));
}

// RFC 1624 eqn. 3 for a 16-bit field change m -> m' under checksum HC:
// HC' = ~(~HC + ~m + m'). Exact (no -0/+0 ambiguity) whenever the new data
// sum is not all zero words, which always holds for an IPv4 header.
inline uint16_t csum_update16(uint16_t hc, uint16_t old_word, uint16_t new_word) {
    uint32_t s = uint32_t(uint16_t(~hc)) + uint32_t(uint16_t(~old_word)) + new_word;
    return csum_fold(s);
}

// TTL - 1 with the incremental header checksum update. The caller has
// already checked TTL > 1 (RFC 1812 5.3.1).
// TTL is the high byte of the word it shares with the protocol, so m' = m -
// 0x0100 and RFC 1624 eqn. 3 becomes HC' = ~(~HC + ~m + m') = ~(~HC +
// 0xFEFF): ~m + m' = 0xFFFF - 0x0100 exactly, for any m >= 0x0100. The sum
// is byte-order independent (RFC 1071 2.B), so it runs on the stored bytes
// with the constant in the same order: no byte swaps, one fold.
//
// On little-endian machines, one 32-bit word first: TTL, protocol and the
// checksum as stored, u = ttl | proto << 8 | c0 << 16 | c1 << 24 (c0 the
// checksum's high byte). In network order HC' = HC + 0x0100 with the
// end-around carry, for every HC but 0xFEFF (eqn. 3 gives +0 where that
// sum gives -0) and 0xFFFF (a stored -0); u + 0xFFFF does exactly that sum:
// TTL - 1 (no borrow, TTL >= 1), c0 + 1, and c0's carry lands in c1's low
// bit, which is the end-around carry. Both exceptions have c1 = 0xFF and
// c0 >= 0xFE, i.e. u >= 0xFFFE0000, and take the general path. 5
// instructions instead of 10 under callgrind (docs/perf.md).
inline void ipv4_decrement_ttl(uint8_t* ip) {
    constexpr uint16_t kMinusTtl = std::endian::native == std::endian::little ? 0xFFFE : 0xFEFF;
    if constexpr (std::endian::native == std::endian::little) {
        uint32_t u;
        std::memcpy(&u, ip + 8, 4);
        if (u < 0xFFFE0000u) [[likely]] {
            u += 0xFFFF;
            std::memcpy(ip + 8, &u, 4);
            return;
        }
    }
    ip[8] = uint8_t(ip[8] - 1);
    uint16_t hc;
    std::memcpy(&hc, ip + 10, 2);
    uint32_t s = uint32_t(uint16_t(~hc)) + kMinusTtl;
    s = (s & 0xffff) + (s >> 16);
    hc = uint16_t(~s);
    std::memcpy(ip + 10, &hc, 2);
}

// Pseudo-header partial sums.
inline uint32_t pseudo_header_sum_v4(const uint8_t src[4], const uint8_t dst[4], uint8_t proto, size_t len) {
    uint32_t s = csum_add(0, src, 4);
    s = csum_add(s, dst, 4);
    s = csum_add16(s, proto);
    return csum_add16(s, uint16_t(len));
}

inline uint32_t pseudo_header_sum_v6(const uint8_t src[16], const uint8_t dst[16], uint8_t next_header, size_t len) {
    uint32_t s = csum_add(0, src, 16);
    s = csum_add(s, dst, 16);
    s = csum_add_u32(s, uint32_t(len));
    return csum_add16(s, next_header);
}

// TCP/UDP/ICMP-over-IPv4 style checksum with the RFC 768/793 pseudo-header.
// (ICMPv4 has no pseudo-header: use csum_fold(csum_add(0, icmp, len)).)
// For UDP, a computed 0 is sent as 0xFFFF (RFC 768).
inline uint16_t l4_checksum_v4(const uint8_t src[4], const uint8_t dst[4], uint8_t proto, const uint8_t* l4,
                               size_t len) {
    return csum_fold(csum_add(pseudo_header_sum_v4(src, dst, proto, len), l4, len));
}

// Upper-layer checksum over IPv6 (RFC 8200 8.1), e.g. ICMPv6 (next header 58).
inline uint16_t l4_checksum_v6(const uint8_t src[16], const uint8_t dst[16], uint8_t next_header, const uint8_t* l4,
                               size_t len) {
    return csum_fold(csum_add(pseudo_header_sum_v6(src, dst, next_header, len), l4, len));
}

}  // namespace sluice::pkt
