#include "dataplane/pkt/arp.hpp"

#include <cstring>

#include "dataplane/pkt/bytes.hpp"

namespace sluice::pkt {

std::optional<ArpPacket> parse_arp(const uint8_t* p, size_t len) {
    if (len < kArpLen) return std::nullopt;
    if (load_be16(p) != kArpHtypeEthernet || load_be16(p + 2) != kEtherTypeIpv4 || p[4] != 6 || p[5] != 4)
        return std::nullopt;
    ArpPacket a;
    a.op = load_be16(p + 6);
    if (a.op != kArpOpRequest && a.op != kArpOpReply) return std::nullopt;
    std::memcpy(a.sha.data(), p + 8, 6);
    a.spa = load_be32(p + 14);
    std::memcpy(a.tha.data(), p + 18, 6);
    a.tpa = load_be32(p + 24);
    return a;
}

size_t build_arp_frame(uint8_t* out, size_t cap, const MacBytes& eth_dst, const MacBytes& eth_src, const ArpPacket& a) {
    if (cap < kEthMinFrameLen) return 0;
    // Built aside: the arguments may live in the frame being overwritten.
    uint8_t f[kEthMinFrameLen] = {};
    write_eth_header(f, eth_dst, eth_src, kEtherTypeArp);
    uint8_t* p = f + kEthHdrLen;
    store_be16(p, kArpHtypeEthernet);
    store_be16(p + 2, kEtherTypeIpv4);
    p[4] = 6;
    p[5] = 4;
    store_be16(p + 6, a.op);
    std::memcpy(p + 8, a.sha.data(), 6);
    store_be32(p + 14, a.spa);
    std::memcpy(p + 18, a.tha.data(), 6);
    store_be32(p + 24, a.tpa);
    std::memcpy(out, f, sizeof f);
    return sizeof f;
}

}  // namespace sluice::pkt
