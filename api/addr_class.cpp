#include "api/addr_class.hpp"

#include <algorithm>

namespace sluice::net {

std::string non_unicast_reason(const IpAddr& a) {
    if (a.is_v4()) {
        uint32_t v = a.v4_host();
        if (v == 0) return "is the unspecified address";
        if (v == 0xffffffffu) return "is the limited broadcast address";
        if ((v >> 24) == 0) return "is in 0.0.0.0/8 (\"this network\")";
        if ((v >> 24) == 127) return "is a loopback address (127.0.0.0/8)";
        if ((v >> 28) == 0xe) return "is a multicast address (224.0.0.0/4)";
        if ((v >> 28) == 0xf) return "is in the reserved block 240.0.0.0/4";
        return {};
    }
    bool zero_prefix = std::all_of(a.bytes.begin(), a.bytes.begin() + 15, [](uint8_t b) { return b == 0; });
    if (zero_prefix && a.bytes[15] == 0) return "is the unspecified address";
    if (zero_prefix && a.bytes[15] == 1) return "is the loopback address";
    if (a.bytes[0] == 0xff) return "is a multicast address (ff00::/8)";
    return {};
}

std::string v4_edge(const Prefix& p, const IpAddr& a) {
    if (!a.is_v4() || p.len > 30) return {};
    uint32_t host_mask = p.len == 0 ? ~0u : (~0u >> p.len);
    uint32_t v = a.v4_host();
    if ((v & host_mask) == 0) return "network";
    if ((v & host_mask) == host_mask) return "broadcast";
    return {};
}

std::string mac_problem(const MacAddr& m) {
    if (std::all_of(m.begin(), m.end(), [](uint8_t b) { return b == 0; }))
        return "expected a unicast MAC address, got 00:00:00:00:00:00 (all zero)";
    if (m[0] & 1)
        return "expected a unicast MAC address (lowest bit of the first byte clear), got " + to_string(m) +
               (m == MacAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff} ? " (broadcast)" : " (multicast)");
    return {};
}

}  // namespace sluice::net
