// Ethernet port setup for any DPDK PMD: PCI NICs already probed by EAL, or
// virtual devices (net_tap, net_null, net_ring, net_pcap, net_memif) given
// as devargs and hot-plugged here, so one config line names a port either way.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "api/port.hpp"

struct rte_mempool;

namespace sluice::drivers {

// How the data plane uses a port beyond its spec: queue counts it needs and
// where packets come from.
struct PortUse {
    uint16_t tx_queues = 1;        // one per worker, one for the agent
    rte_mempool* pool = nullptr;   // RX buffers
    // RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE lets the PMD return transmitted
    // mbufs to their pool without checking them; it is only valid while
    // every mbuf sent on the port is direct (not indirect or external),
    // unshared (refcnt 1) and from one pool. The caller says whether its
    // transmit paths promise that (dataplane/tx_contract.hpp); the offload
    // is requested only then, and only where the device has it.
    bool tx_mbufs_direct_one_pool = false;
};

// What the device reported when it was started.
struct PortInfo {
    uint16_t port_id = 0;
    std::string driver;
    std::array<uint8_t, 6> mac{};
    uint16_t rx_queues = 0;
    uint16_t tx_queues = 0;
    bool rss = false;          // RSS configured across the RX queues
    bool rx_ip_cksum = false;  // RX IPv4 checksum offload on (mbufs carry the verdict)
    bool tx_fast_free = false; // MBUF_FAST_FREE on
};

// Error text names the port, the device and the failing step.
struct PortResult {
    std::optional<PortInfo> info;
    std::string error;
};

// Finds or probes the device, configures queues (RSS when more than one RX
// queue and the PMD supports it), MTU, MAC, promiscuous mode, and starts it.
PortResult open_port(const net::PortSpec& spec, const PortUse& use);

// The DPDK device name part of a devargs string ("net_tap0,iface=x" -> "net_tap0").
std::string device_name(const std::string& device);

void close_port(uint16_t port_id);

}  // namespace sluice::drivers
