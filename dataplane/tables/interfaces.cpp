#include "dataplane/tables/interfaces.hpp"

#include <cstring>

namespace sluice::dp {

bool Interfaces::is_local(uint16_t p, const net::IpAddr& addr) const {
    if (p >= kMaxPorts || !port[p].present) return false;
    const Interface& i = port[p];
    if (addr.is_v4()) {
        for (const auto& a : i.v4)
            if (a.addr == addr) return true;
        return false;
    }
    if (std::memcmp(addr.bytes.data(), i.link_local.data(), 16) == 0) return true;
    for (const auto& a : i.v6)
        if (a.addr == addr) return true;
    return false;
}

bool Interfaces::is_ours(const net::IpAddr& addr) const {
    for (uint16_t p = 0; p < kMaxPorts; ++p)
        if (port[p].present && is_local(p, addr)) return true;
    return false;
}

const uint8_t* Interfaces::source_address4(uint16_t p) const {
    if (p >= kMaxPorts || port[p].v4.empty()) return nullptr;
    return port[p].v4.front().addr.bytes.data();
}

const uint8_t* Interfaces::source_address6(uint16_t p) const {
    if (p >= kMaxPorts || !port[p].present) return nullptr;
    if (!port[p].v6.empty()) return port[p].v6.front().addr.bytes.data();
    return port[p].link_local.data();
}

std::array<uint8_t, 16> link_local_from_mac(const net::MacAddr& mac) {
    std::array<uint8_t, 16> a{};
    a[0] = 0xfe;
    a[1] = 0x80;
    a[8] = mac[0] ^ 0x02;  // flip the universal/local bit (RFC 4291 appendix A)
    a[9] = mac[1];
    a[10] = mac[2];
    a[11] = 0xff;
    a[12] = 0xfe;
    a[13] = mac[3];
    a[14] = mac[4];
    a[15] = mac[5];
    return a;
}

uint64_t eth_src_word(const net::MacAddr& mac, uint16_t ether_type) {
    uint8_t b[8];
    std::memcpy(b, mac.data(), 6);
    b[6] = uint8_t(ether_type >> 8);
    b[7] = uint8_t(ether_type);
    uint64_t w;
    std::memcpy(&w, b, 8);
    return w;
}

}  // namespace sluice::dp
