// IPv6 Neighbor Discovery (RFC 4861): Neighbor Solicitation (135) and
// Neighbor Advertisement (136) parsing with the full 7.1.1 / 7.1.2
// validation, and frame builders. Slow path: out of line.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "dataplane/pkt/eth.hpp"
#include "dataplane/pkt/ip.hpp"

namespace sluice::pkt {

inline constexpr uint8_t kNdNeighborSolicit = 135;
inline constexpr uint8_t kNdNeighborAdvert = 136;
inline constexpr uint8_t kNdOptSourceLladdr = 1;
inline constexpr uint8_t kNdOptTargetLladdr = 2;
inline constexpr uint8_t kNdHopLimit = 255;
inline constexpr size_t kNdMinLen = 24;      // ICMPv6 header + reserved/flags + target
inline constexpr size_t kNdLladdrOptLen = 8; // link-layer address option for Ethernet
// Ethernet + IPv6 + NS/NA + link-layer address option.
inline constexpr size_t kNdFrameLen = kEthHdrLen + kIpv6HdrLen + kNdMinLen + kNdLladdrOptLen;  // 86

struct NdMessage {
    uint8_t type = 0;  // 135 NS, 136 NA
    std::array<uint8_t, 16> target{};
    std::optional<MacBytes> lladdr;  // SLLA for NS, TLLA for NA (first one of length 1)
    bool router = false;
    bool solicited = false;
    bool override_flag = false;
};

// `ip6` points at the IPv6 header, `avail` bytes readable (padding fine).
// Returns nullopt unless all of RFC 4861 7.1.1 / 7.1.2 hold: next header 58
// directly after the IPv6 header, hop limit 255, type 135/136, code 0,
// ICMPv6 checksum valid, ICMPv6 length >= 24, target not multicast, every
// option of non-zero length and within the message; NS from the unspecified
// address: destination solicited-node multicast and no SLLA option; NA to a
// multicast destination: Solicited flag clear. Link-layer address options of
// a length other than 1 (8 bytes) and unknown options are ignored.
std::optional<NdMessage> parse_nd(const uint8_t* ip6, size_t avail);

// Neighbor Solicitation in an Ethernet frame, hop limit 255, with the SLLA
// option (omitted when our_ip is unspecified, i.e. for DAD). Multicast form
// (no unicast_dst_mac): IPv6 dst = solicited-node group of target, Ethernet
// dst = 33:33:ff:XX:XX:XX. Unicast probe form (RFC 4861 7.3.3): IPv6 dst =
// target, Ethernet dst = the given MAC. Returns the frame length (86, 78
// without SLLA) or 0 when cap is smaller. Arguments may alias `out`.
size_t build_ns_frame(uint8_t* out, size_t cap, const MacBytes& our_mac, const uint8_t our_ip[16],
                      const uint8_t target[16], std::optional<MacBytes> unicast_dst_mac);

// Neighbor Advertisement with a TLLA option (our_mac). Returns 86 or 0 when
// cap is smaller. Arguments may alias `out`.
size_t build_na_frame(uint8_t* out, size_t cap, const MacBytes& our_mac, const uint8_t our_ip[16],
                      const MacBytes& dst_mac, const uint8_t dst_ip[16], const uint8_t target[16], bool router,
                      bool solicited, bool override_flag);

// ff02::1:ffXX:XXXX from the low 24 bits of target (RFC 4291 2.7.1).
// out may alias target.
void solicited_node_multicast(const uint8_t target[16], uint8_t out[16]);

// 33:33 + low 32 bits of the group address (RFC 2464 7).
MacBytes ipv6_multicast_mac(const uint8_t ip[16]);

}  // namespace sluice::pkt
