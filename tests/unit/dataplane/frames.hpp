// Hand-built test frames (Ethernet + IPv4/IPv6 + UDP) and a two-port lab
// snapshot shared by the data plane unit tests.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "dataplane/neighbor/table.hpp"

struct rte_mbuf;
struct rte_mempool;

namespace sluice::test {

using Mac = std::array<uint8_t, 6>;
inline constexpr Mac kMac0 = {0x02, 0, 0, 0, 0x00, 0x10};   // router port 0
inline constexpr Mac kMac1 = {0x02, 0, 0, 0, 0x01, 0x10};   // router port 1
inline constexpr Mac kHostA = {0x02, 0, 0, 0, 0x00, 0x02};  // host on port 0
inline constexpr Mac kHostB = {0x02, 0, 0, 0, 0x01, 0x02};  // host on port 1

struct Ip4Spec {
    std::string src = "198.18.1.2", dst = "198.18.2.2";
    uint8_t ttl = 64;
    uint8_t proto = 17;
    uint16_t sport = 1000, dport = 2000;
    uint16_t payload = 18;
    bool df = false;
    Mac dst_mac = kMac0;
};
struct Ip6Spec {
    std::string src = "2001:db8:1::2", dst = "2001:db8:2::2";
    uint8_t hop_limit = 64;
    uint16_t sport = 1000, dport = 2000;
    uint16_t payload = 18;
    Mac dst_mac = kMac0;
};

std::vector<uint8_t> ipv4_udp(const Ip4Spec& s);
std::vector<uint8_t> ipv6_udp(const Ip6Spec& s);
std::vector<uint8_t> arp_request(const std::string& sender, const std::string& target);

// An mbuf from `pool` holding `frame`, received on `port`.
rte_mbuf* make_mbuf(rte_mempool* pool, const std::vector<uint8_t>& frame, uint16_t port = 0);

config::Config lab_config();

}  // namespace sluice::test
