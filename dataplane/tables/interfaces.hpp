// The interface table the workers and the agent read: per DPDK port id, the
// MAC, MTU and addresses. Immutable once published; an address change
// publishes a new one (it is small) together with the FIB entries the
// address implies (connected subnet, own host route, subnet broadcast).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "api/net.hpp"
#include "dataplane/counters.hpp"

namespace sluice::dp {

struct Interface {
    bool present = false;
    uint16_t port_id = 0;
    net::MacAddr mac{};
    uint16_t mtu = 1500;
    std::vector<net::Prefix> v4;                 // interface addresses
    std::vector<net::Prefix> v6;                 // global addresses
    std::array<uint8_t, 16> link_local{};        // fe80::/64 + modified EUI-64 (RFC 4291 2.5.1)
};

struct Interfaces {
    std::array<Interface, kMaxPorts> port{};     // indexed by DPDK port id
    uint16_t ports = 0;                          // 1 + the highest present port id
    // Bytes 6-13 of the Ethernet header of an IPv4 / IPv6 packet leaving
    // each port, as one word: the port's MAC, then the EtherType in network
    // order (l3fwd keeps a per-port header the same way). Derived from `port`
    // by the table builder (eth_src_word).
    std::array<uint64_t, kMaxPorts> eth_src4{}, eth_src6{};

    // True when addr is one of the port's own addresses (incl. link-local).
    bool is_local(uint16_t port, const net::IpAddr& addr) const;
    // True when addr is one of our addresses on any port.
    bool is_ours(const net::IpAddr& addr) const;
    // The port's first address of the family (v6: global if any, else link-local).
    const uint8_t* source_address4(uint16_t port) const;
    const uint8_t* source_address6(uint16_t port) const;
};

std::array<uint8_t, 16> link_local_from_mac(const net::MacAddr& mac);
// A source MAC and an EtherType (host order, e.g. 0x0800) as the eight bytes
// they are in a frame from offset 6, loaded as a native word.
uint64_t eth_src_word(const net::MacAddr& mac, uint16_t ether_type);

}  // namespace sluice::dp
