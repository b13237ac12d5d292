// Ethernet port setup for any DPDK PMD: PCI NICs already probed by EAL, or
// virtual devices (net_tap, net_null, net_ring, net_pcap, net_memif) given
// as devargs and hot-plugged here, so one config line names a port either way.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

struct rte_mempool;

namespace sluice::drivers {

struct PortSetup {
    std::string name;          // our name, for messages
    std::string device;        // "0000:01:00.0" or "net_tap0,iface=sl0"
    uint16_t rx_queues = 1;
    uint16_t tx_queues = 1;
    uint16_t rx_desc = 1024;
    uint16_t tx_desc = 1024;
    uint16_t mtu = 1500;
    std::optional<std::array<uint8_t, 6>> mac;
    bool promiscuous = false;
    rte_mempool* pool = nullptr;
};

struct PortInfo {
    uint16_t port_id = 0;
    std::string driver;
    std::array<uint8_t, 6> mac{};
    uint16_t rx_queues = 0;
    uint16_t tx_queues = 0;
    bool rss = false;          // RSS configured across the RX queues
};

// Error text names the port, the device and the failing step.
struct PortResult {
    std::optional<PortInfo> info;
    std::string error;
};

// Finds or probes the device, configures queues (RSS when more than one RX
// queue and the PMD supports it), MTU, MAC, promiscuous mode, and starts it.
PortResult open_port(const PortSetup& s);

// The DPDK device name part of a devargs string ("net_tap0,iface=x" -> "net_tap0").
std::string device_name(const std::string& device);

void close_port(uint16_t port_id);

}  // namespace sluice::drivers
