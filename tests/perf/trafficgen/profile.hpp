// What the benchmark traffic source sends: one description, shared by the
// shim (which writes packets) and by the tests that check it.
//
// Destinations: prefix i of N is, for IPv4, the /30 at 100.64.0.0 + 4*i
// (RFC 6598 shared address space, never globally routed; 2^20 /30s fill
// 100.64.0.0/10 exactly, so 1 000 000 distinct prefixes fit), host .1; for
// IPv6 the /64 2001:db8:(i>>16):(i&0xffff)::/64, host ::1. These addresses
// exist only inside net_null ports: nothing leaves the process.
// Sources: flow f of F is 198.18.0.0 + (f >> 15) port 1024 + (f & 0x7fff)
// (IPv6: 2001:db8:ffff::(f >> 15)).
// Load balancer profiles (tests/perf/lb_bench.py) send every IPv4 packet to
// one VIP address instead (SLUICE_TG_DST), UDP destination port kDstPort:
// the flows are then F distinct 5-tuples to that VIP.
#pragma once

#include <cstdint>

namespace sluice::perf {

inline constexpr uint32_t kV4PrefixBase = (100u << 24) | (64u << 16);  // 100.64.0.0
inline constexpr uint8_t kV4PrefixLen = 30;
inline constexpr uint8_t kV6PrefixLen = 64;
inline constexpr uint32_t kMaxPrefixes = 1u << 20;
inline constexpr uint16_t kDstPort = 5000;  // UDP destination port of every packet (trafficgen.cpp's templates)

inline uint32_t v4_prefix(uint32_t i) { return kV4PrefixBase + (i << 2); }
inline uint32_t v4_host(uint32_t i) { return v4_prefix(i) + 1; }

inline void v6_prefix(uint32_t i, uint8_t out[16]) {
    const uint8_t base[16] = {0x20, 0x01, 0x0d, 0xb8};
    for (int k = 0; k < 16; ++k) out[k] = base[k];
    out[4] = uint8_t(i >> 24);
    out[5] = uint8_t(i >> 16);
    out[6] = uint8_t(i >> 8);
    out[7] = uint8_t(i);
}
inline void v6_host(uint32_t i, uint8_t out[16]) {
    v6_prefix(i, out);
    out[15] = 1;
}

}  // namespace sluice::perf
