// ICMP (RFC 792, RFC 1812 4.3.2) and ICMPv6 (RFC 4443): when an error may be
// sent, building the error, and answering echo requests in place.
// Buffers start at the IP header (no Ethernet). Slow path: out of line.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::pkt {

inline constexpr size_t kIcmpHdrLen = 8;
// RFC 1812 4.3.2.3: an ICMPv4 error is at most 576 bytes of IP datagram.
inline constexpr size_t kIcmp4ErrorMaxLen = 576;
// RFC 4443 2.4(c): an ICMPv6 error must not exceed the minimum IPv6 MTU.
inline constexpr size_t kIcmp6ErrorMaxLen = 1280;
inline constexpr uint8_t kIcmpErrorTtl = 64;
// RFC 1812 4.3.2.5: errors other than source quench SHOULD carry precedence 6
// (internetwork control), i.e. TOS 0xC0 (DSCP CS6).
inline constexpr uint8_t kIcmp4ErrorTos = 0xc0;

// ICMPv4 types.
inline constexpr uint8_t kIcmp4EchoReply = 0;
inline constexpr uint8_t kIcmp4DestUnreachable = 3;
inline constexpr uint8_t kIcmp4SourceQuench = 4;
inline constexpr uint8_t kIcmp4Redirect = 5;
inline constexpr uint8_t kIcmp4EchoRequest = 8;
inline constexpr uint8_t kIcmp4TimeExceeded = 11;
inline constexpr uint8_t kIcmp4ParamProblem = 12;
// ICMPv6 types.
inline constexpr uint8_t kIcmp6DestUnreachable = 1;
inline constexpr uint8_t kIcmp6PacketTooBig = 2;
inline constexpr uint8_t kIcmp6TimeExceeded = 3;
inline constexpr uint8_t kIcmp6ParamProblem = 4;
inline constexpr uint8_t kIcmp6EchoRequest = 128;
inline constexpr uint8_t kIcmp6EchoReply = 129;

// True when an ICMPv4 error may be sent about the IPv4 packet at orig_ip
// (`len` readable bytes). False for (RFC 1812 4.3.2.7, RFC 1122 3.2.2):
//  * a truncated / non-IPv4 header;
//  * an ICMP error (types 3, 4, 5, 11, 12) or a malformed ICMP message
//    (shorter than 8 bytes, or a complete unfragmented one whose checksum
//    is wrong);
//  * a non-first fragment;
//  * destination multicast or 255.255.255.255;
//  * source 0/8, 127/8, multicast, or class E (255.255.255.255 included).
// Not checkable here, left to the caller: a link-layer broadcast/multicast
// frame, and subnet-directed broadcast destinations.
bool icmp4_error_allowed(const uint8_t* orig_ip, size_t len);

// Writes IPv4 + ICMP error at `out` (must not overlap orig_ip): TOS 0xC0,
// id 0, DF clear, TTL 64, proto 1, src = our_src, dst = original source;
// ICMP type/code/rest_of_header (e.g. next-hop MTU in the low 16 bits for
// type 3 code 4, RFC 1191); then the start of the original datagram (header
// included, never past its total length) so that the whole is at most
// 576 bytes. Returns the length written, or 0 when orig_len < 20 or cap is
// smaller than that length.
size_t build_icmp4_error(uint8_t* out, size_t cap, const uint8_t* orig_ip, size_t orig_len, const uint8_t our_src[4],
                         uint8_t type, uint8_t code, uint32_t rest_of_header);

// True when an ICMPv6 error may be sent about the IPv6 packet at orig_ip
// (RFC 4443 2.4(e)). False for a truncated / non-IPv6 header, an unparsable
// extension header chain, an ICMPv6 error (type < 128) or a malformed ICMPv6
// message (shorter than 8 bytes, or complete, unfragmented and with a wrong
// checksum), a multicast, unspecified or loopback source, and a multicast
// destination. The type/code overload allows the 2.4(e.3) exceptions to a
// multicast destination: Packet Too Big, and Parameter Problem code 2.
// Non-first fragments are allowed (their upper layer cannot be seen).
bool icmp6_error_allowed(const uint8_t* orig_ip, size_t len);
bool icmp6_error_allowed(const uint8_t* orig_ip, size_t len, uint8_t type, uint8_t code);

// Writes IPv6 + ICMPv6 error at `out` (must not overlap orig_ip): traffic
// class 0, flow label 0, hop limit 64, src = our_src, dst = original source,
// then as much of the original packet (never past 40 + payload length) as
// keeps the whole at most 1280 bytes. Checksum over the pseudo-header.
// Returns the length written, or 0 when orig_len < 40 or cap is too small.
size_t build_icmp6_error(uint8_t* out, size_t cap, const uint8_t* orig_ip, size_t orig_len, const uint8_t our_src[16],
                         uint8_t type, uint8_t code, uint32_t rest_of_header);

// If ip[0, len) holds a valid unfragmented IPv4 ICMP echo request (IHL and
// total length consistent with len, header checksum and ICMP checksum over
// total_length - IHL correct), turns it into the echo reply in place: src and
// dst swapped, TTL 64, type 0 (code, id, sequence, data and IP options kept),
// both checksums recomputed. Length is unchanged. Otherwise returns false and
// leaves the packet untouched.
bool icmp4_echo_reply_inplace(uint8_t* ip, size_t len);

// Same for ICMPv6 (next header 58 directly after the IPv6 header, checksum
// valid, type 128, unicast non-loopback source): type 129, src = our_src
// (the request may have gone to a multicast address), dst = original source,
// hop limit 64, checksum recomputed. our_src may point into the packet.
bool icmp6_echo_reply_inplace(uint8_t* ip, size_t len, const uint8_t our_src[16]);

}  // namespace sluice::pkt
