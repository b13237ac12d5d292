#include "dataplane/pkt/nd.hpp"

#include <cstring>

#include "dataplane/pkt/bytes.hpp"
#include "dataplane/pkt/checksum.hpp"
#include "dataplane/pkt/ip.hpp"

namespace sluice::pkt {

std::optional<NdMessage> parse_nd(const uint8_t* ip, size_t avail) {
    if (avail < kIpv6HdrLen || ipv6_version(ip) != 6) return std::nullopt;
    size_t plen = ipv6_payload_length(ip);
    if (kIpv6HdrLen + plen > avail) return std::nullopt;
    if (ipv6_next_header(ip) != kProtoIcmpv6) return std::nullopt;
    if (ipv6_hop_limit(ip) != kNdHopLimit) return std::nullopt;
    if (plen < kNdMinLen) return std::nullopt;
    const uint8_t* src = ipv6_src(ip);
    const uint8_t* dst = ipv6_dst(ip);
    const uint8_t* icmp = ip + kIpv6HdrLen;
    uint8_t type = icmp[0];
    if (type != kNdNeighborSolicit && type != kNdNeighborAdvert) return std::nullopt;
    if (icmp[1] != 0) return std::nullopt;
    if (l4_checksum_v6(src, dst, kProtoIcmpv6, icmp, plen) != 0) return std::nullopt;
    const uint8_t* target = icmp + 8;
    if (ipv6_addr_is_multicast(target)) return std::nullopt;

    NdMessage m;
    m.type = type;
    std::memcpy(m.target.data(), target, 16);
    uint8_t want = type == kNdNeighborSolicit ? kNdOptSourceLladdr : kNdOptTargetLladdr;
    bool has_slla = false;
    for (size_t off = kNdMinLen; off < plen;) {
        if (off + 2 > plen) return std::nullopt;
        size_t olen = size_t(icmp[off + 1]) * 8;
        if (olen == 0 || off + olen > plen) return std::nullopt;
        uint8_t ot = icmp[off];
        if (ot == kNdOptSourceLladdr) has_slla = true;
        if (ot == want && olen == kNdLladdrOptLen && !m.lladdr) {
            MacBytes mac;
            std::memcpy(mac.data(), icmp + off + 2, 6);
            m.lladdr = mac;
        }
        off += olen;
    }

    if (type == kNdNeighborSolicit) {
        if (ipv6_addr_is_unspecified(src) && (!ipv6_addr_is_solicited_node(dst) || has_slla)) return std::nullopt;
    } else {
        uint8_t flags = icmp[4];
        m.router = (flags & 0x80) != 0;
        m.solicited = (flags & 0x40) != 0;
        m.override_flag = (flags & 0x20) != 0;
        if (ipv6_addr_is_multicast(dst) && m.solicited) return std::nullopt;
    }
    return m;
}

namespace {

// IPv6 header with hop limit 255 and an ICMPv6 payload of plen bytes.
void write_nd_ipv6(uint8_t* ip, size_t plen, const uint8_t src[16], const uint8_t dst[16]) {
    store_be32(ip, 0x60000000u);
    store_be16(ip + 4, uint16_t(plen));
    ip[6] = kProtoIcmpv6;
    ip[7] = kNdHopLimit;
    std::memcpy(ip + 8, src, 16);
    std::memcpy(ip + 24, dst, 16);
}

void finish_icmp6(uint8_t* ip, size_t plen) {
    uint8_t* icmp = ip + kIpv6HdrLen;
    store_be16(icmp + 2, 0);
    store_be16(icmp + 2, l4_checksum_v6(ip + 8, ip + 24, kProtoIcmpv6, icmp, plen));
}

}  // namespace

void solicited_node_multicast(const uint8_t target[16], uint8_t out[16]) {
    uint8_t low[3] = {target[13], target[14], target[15]};
    static constexpr uint8_t kPrefix[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff};
    std::memcpy(out, kPrefix, sizeof kPrefix);
    std::memcpy(out + 13, low, 3);
}

MacBytes ipv6_multicast_mac(const uint8_t ip[16]) { return {0x33, 0x33, ip[12], ip[13], ip[14], ip[15]}; }

size_t build_ns_frame(uint8_t* out, size_t cap, const MacBytes& our_mac, const uint8_t our_ip[16],
                      const uint8_t target[16], std::optional<MacBytes> unicast_dst_mac) {
    bool with_slla = !ipv6_addr_is_unspecified(our_ip);
    size_t plen = kNdMinLen + (with_slla ? kNdLladdrOptLen : 0);
    size_t len = kEthHdrLen + kIpv6HdrLen + plen;
    if (cap < len) return 0;
    // Built aside: the arguments may live in the frame being overwritten.
    uint8_t f[kNdFrameLen] = {};
    uint8_t dst_ip[16];
    MacBytes dst_mac;
    if (unicast_dst_mac) {
        std::memcpy(dst_ip, target, 16);
        dst_mac = *unicast_dst_mac;
    } else {
        solicited_node_multicast(target, dst_ip);
        dst_mac = ipv6_multicast_mac(dst_ip);
    }
    write_eth_header(f, dst_mac, our_mac, kEtherTypeIpv6);
    uint8_t* ip = f + kEthHdrLen;
    write_nd_ipv6(ip, plen, our_ip, dst_ip);
    uint8_t* icmp = ip + kIpv6HdrLen;
    icmp[0] = kNdNeighborSolicit;
    icmp[1] = 0;
    // bytes 4-7 reserved (zero)
    std::memcpy(icmp + 8, target, 16);
    if (with_slla) {
        icmp[24] = kNdOptSourceLladdr;
        icmp[25] = 1;
        std::memcpy(icmp + 26, our_mac.data(), 6);
    }
    finish_icmp6(ip, plen);
    std::memcpy(out, f, len);
    return len;
}

size_t build_na_frame(uint8_t* out, size_t cap, const MacBytes& our_mac, const uint8_t our_ip[16],
                      const MacBytes& dst_mac, const uint8_t dst_ip[16], const uint8_t target[16], bool router,
                      bool solicited, bool override_flag) {
    constexpr size_t plen = kNdMinLen + kNdLladdrOptLen;
    if (cap < kNdFrameLen) return 0;
    uint8_t f[kNdFrameLen] = {};
    write_eth_header(f, dst_mac, our_mac, kEtherTypeIpv6);
    uint8_t* ip = f + kEthHdrLen;
    write_nd_ipv6(ip, plen, our_ip, dst_ip);
    uint8_t* icmp = ip + kIpv6HdrLen;
    icmp[0] = kNdNeighborAdvert;
    icmp[1] = 0;
    icmp[4] = uint8_t((router ? 0x80 : 0) | (solicited ? 0x40 : 0) | (override_flag ? 0x20 : 0));
    std::memcpy(icmp + 8, target, 16);
    icmp[24] = kNdOptTargetLladdr;
    icmp[25] = 1;
    std::memcpy(icmp + 26, our_mac.data(), 6);
    finish_icmp6(ip, plen);
    std::memcpy(out, f, kNdFrameLen);
    return kNdFrameLen;
}

}  // namespace sluice::pkt
