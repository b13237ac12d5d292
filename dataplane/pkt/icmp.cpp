#include "dataplane/pkt/icmp.hpp"

#include <cstring>

#include "dataplane/pkt/bytes.hpp"
#include "dataplane/pkt/checksum.hpp"
#include "dataplane/pkt/ip.hpp"

namespace sluice::pkt {

namespace {

bool icmp4_is_error_type(uint8_t t) {
    return t == kIcmp4DestUnreachable || t == kIcmp4SourceQuench || t == kIcmp4Redirect ||
           t == kIcmp4TimeExceeded || t == kIcmp4ParamProblem;
}

// Bytes of the original IPv4 datagram that may be quoted: never past its
// total length (frames may carry Ethernet padding), never past len.
size_t ipv4_extent(const uint8_t* ip, size_t len) {
    size_t total = ipv4_total_length(ip);
    return total >= kIpv4MinHdrLen && total < len ? total : len;
}

size_t ipv6_extent(const uint8_t* ip, size_t len) {
    size_t total = kIpv6HdrLen + ipv6_payload_length(ip);
    return total < len ? total : len;
}

}  // namespace

bool icmp4_error_allowed(const uint8_t* ip, size_t len) {
    if (len < kIpv4MinHdrLen || ipv4_version(ip) != 4) return false;
    size_t hl = ipv4_header_length(ip);
    if (hl < kIpv4MinHdrLen || hl > len) return false;
    if (ipv4_is_fragment_nonfirst(ip)) return false;
    uint32_t src = ipv4_src(ip), dst = ipv4_dst(ip);
    if (ipv4_addr_is_this_network(src) || ipv4_addr_is_loopback(src) || ipv4_addr_is_multicast(src) ||
        ipv4_addr_is_class_e(src))
        return false;
    if (ipv4_addr_is_multicast(dst) || ipv4_addr_is_limited_broadcast(dst)) return false;
    if (ipv4_proto(ip) == kProtoIcmp) {
        size_t total = ipv4_total_length(ip);
        if (total < hl) return false;
        size_t end = total < len ? total : len;
        if (end - hl < kIcmpHdrLen) return false;
        const uint8_t* icmp = ip + hl;
        if (icmp4_is_error_type(icmp[0])) return false;
        // Verify the checksum when the whole message is here.
        if (!ipv4_is_fragment(ip) && total <= len && csum_fold(csum_add(0, icmp, total - hl)) != 0) return false;
    }
    return true;
}

size_t build_icmp4_error(uint8_t* out, size_t cap, const uint8_t* orig_ip, size_t orig_len, const uint8_t our_src[4],
                         uint8_t type, uint8_t code, uint32_t rest_of_header) {
    if (orig_len < kIpv4MinHdrLen) return 0;
    constexpr size_t kHdrs = kIpv4MinHdrLen + kIcmpHdrLen;
    size_t quote = ipv4_extent(orig_ip, orig_len);
    if (quote > kIcmp4ErrorMaxLen - kHdrs) quote = kIcmp4ErrorMaxLen - kHdrs;
    size_t total = kHdrs + quote;
    if (cap < total) return 0;
    uint8_t src[4], dst[4];
    std::memcpy(src, our_src, 4);
    std::memcpy(dst, ipv4_src_bytes(orig_ip), 4);

    uint8_t* ip = out;
    ip[0] = 0x45;
    ip[1] = kIcmp4ErrorTos;
    store_be16(ip + 2, uint16_t(total));
    store_be16(ip + 4, 0);  // id
    store_be16(ip + 6, 0);  // flags (DF clear) / fragment offset
    ip[8] = kIcmpErrorTtl;
    ip[9] = kProtoIcmp;
    store_be16(ip + 10, 0);
    std::memcpy(ip + 12, src, 4);
    std::memcpy(ip + 16, dst, 4);
    store_be16(ip + 10, ipv4_header_checksum(ip, kIpv4MinHdrLen));

    uint8_t* icmp = ip + kIpv4MinHdrLen;
    icmp[0] = type;
    icmp[1] = code;
    store_be16(icmp + 2, 0);
    store_be32(icmp + 4, rest_of_header);
    std::memcpy(icmp + kIcmpHdrLen, orig_ip, quote);
    store_be16(icmp + 2, csum_fold(csum_add(0, icmp, kIcmpHdrLen + quote)));
    return total;
}

namespace {

bool icmp6_allowed_common(const uint8_t* ip, size_t len, bool multicast_dst_ok) {
    if (len < kIpv6HdrLen || ipv6_version(ip) != 6) return false;
    const uint8_t* src = ipv6_src(ip);
    const uint8_t* dst = ipv6_dst(ip);
    if (ipv6_addr_is_multicast(src) || ipv6_addr_is_unspecified(src) || ipv6_addr_is_loopback(src)) return false;
    if (ipv6_addr_is_multicast(dst) && !multicast_dst_ok) return false;
    size_t end = ipv6_extent(ip, len);
    Ipv6Chain c = ipv6_walk_chain(ip, end);
    if (!c.ok) return false;
    if (c.proto == kProtoIcmpv6 && !c.nonfirst_fragment) {
        if (end - c.offset < kIcmpHdrLen) return false;
        const uint8_t* icmp = ip + c.offset;
        if (icmp[0] < 128) return false;  // an ICMPv6 error message (RFC 4443 2.1)
        size_t total = kIpv6HdrLen + ipv6_payload_length(ip);
        if (!c.fragmented && total <= len &&
            l4_checksum_v6(src, dst, kProtoIcmpv6, icmp, total - c.offset) != 0)
            return false;
    }
    return true;
}

}  // namespace

bool icmp6_error_allowed(const uint8_t* orig_ip, size_t len) { return icmp6_allowed_common(orig_ip, len, false); }

bool icmp6_error_allowed(const uint8_t* orig_ip, size_t len, uint8_t type, uint8_t code) {
    bool mc_ok = type == kIcmp6PacketTooBig || (type == kIcmp6ParamProblem && code == 2);
    return icmp6_allowed_common(orig_ip, len, mc_ok);
}

size_t build_icmp6_error(uint8_t* out, size_t cap, const uint8_t* orig_ip, size_t orig_len, const uint8_t our_src[16],
                         uint8_t type, uint8_t code, uint32_t rest_of_header) {
    if (orig_len < kIpv6HdrLen) return 0;
    constexpr size_t kHdrs = kIpv6HdrLen + kIcmpHdrLen;
    size_t quote = ipv6_extent(orig_ip, orig_len);
    if (quote > kIcmp6ErrorMaxLen - kHdrs) quote = kIcmp6ErrorMaxLen - kHdrs;
    size_t total = kHdrs + quote;
    if (cap < total) return 0;
    uint8_t src[16], dst[16];
    std::memcpy(src, our_src, 16);
    std::memcpy(dst, ipv6_src(orig_ip), 16);

    uint8_t* ip = out;
    store_be32(ip, 0x60000000u);  // version 6, traffic class 0, flow label 0
    store_be16(ip + 4, uint16_t(kIcmpHdrLen + quote));
    ip[6] = kProtoIcmpv6;
    ip[7] = kIcmpErrorTtl;
    std::memcpy(ip + 8, src, 16);
    std::memcpy(ip + 24, dst, 16);

    uint8_t* icmp = ip + kIpv6HdrLen;
    icmp[0] = type;
    icmp[1] = code;
    store_be16(icmp + 2, 0);
    store_be32(icmp + 4, rest_of_header);
    std::memcpy(icmp + kIcmpHdrLen, orig_ip, quote);
    store_be16(icmp + 2, l4_checksum_v6(src, dst, kProtoIcmpv6, icmp, kIcmpHdrLen + quote));
    return total;
}

bool icmp4_echo_reply_inplace(uint8_t* ip, size_t len) {
    if (len < kIpv4MinHdrLen || ipv4_version(ip) != 4) return false;
    size_t hl = ipv4_header_length(ip);
    size_t total = ipv4_total_length(ip);
    if (hl < kIpv4MinHdrLen || total < hl + kIcmpHdrLen || total > len) return false;
    if (ipv4_proto(ip) != kProtoIcmp || ipv4_is_fragment(ip)) return false;
    if (ipv4_header_checksum(ip, hl) != 0) return false;
    uint8_t* icmp = ip + hl;
    size_t icmp_len = total - hl;
    if (icmp[0] != kIcmp4EchoRequest) return false;
    if (csum_fold(csum_add(0, icmp, icmp_len)) != 0) return false;

    uint8_t tmp[4];
    std::memcpy(tmp, ip + 12, 4);
    std::memcpy(ip + 12, ip + 16, 4);
    std::memcpy(ip + 16, tmp, 4);
    ip[8] = kIcmpErrorTtl;
    ipv4_set_header_checksum(ip);
    icmp[0] = kIcmp4EchoReply;
    // Full recompute: an incremental update would give 0x0000 instead of
    // 0xFFFF for an all-zero reply (RFC 1624 3).
    store_be16(icmp + 2, 0);
    store_be16(icmp + 2, csum_fold(csum_add(0, icmp, icmp_len)));
    return true;
}

bool icmp6_echo_reply_inplace(uint8_t* ip, size_t len, const uint8_t our_src[16]) {
    if (len < kIpv6HdrLen + kIcmpHdrLen || ipv6_version(ip) != 6) return false;
    size_t plen = ipv6_payload_length(ip);
    if (plen < kIcmpHdrLen || kIpv6HdrLen + plen > len) return false;
    if (ipv6_next_header(ip) != kProtoIcmpv6) return false;
    uint8_t* src = ipv6_src(ip);
    uint8_t* dst = ipv6_dst(ip);
    if (ipv6_addr_is_multicast(src) || ipv6_addr_is_unspecified(src) || ipv6_addr_is_loopback(src)) return false;
    uint8_t* icmp = ip + kIpv6HdrLen;
    if (icmp[0] != kIcmp6EchoRequest) return false;
    if (l4_checksum_v6(src, dst, kProtoIcmpv6, icmp, plen) != 0) return false;

    uint8_t ours[16];
    std::memcpy(ours, our_src, 16);
    std::memcpy(dst, src, 16);
    std::memcpy(src, ours, 16);
    ip[7] = kIcmpErrorTtl;
    icmp[0] = kIcmp6EchoReply;
    store_be16(icmp + 2, 0);
    store_be16(icmp + 2, l4_checksum_v6(src, dst, kProtoIcmpv6, icmp, plen));
    return true;
}

}  // namespace sluice::pkt
