// RDMA peers as ports (docs/rdma.md, "In the data plane"). Each configured
// peer gets a port id from the top of the port range (kMaxPorts - 1 down),
// an entry in the port registry (name, MTU, link MAC), interface addresses
// like any port, and a static neighbor for the other end (config/: added by
// parse_config). Routing therefore needs nothing new: a route through a peer
// resolves to its port id, and flush() hands that port's frames to the peer.
//
// Which thread does what:
//   - the owning worker polls the peer (rx_burst, poll) and sends its own
//     frames to it directly;
//   - other workers and the agent hand frames to the owner through the
//     peer's hand-off ring (multi-producer, single consumer), as an ethdev
//     port's TX queues would take them; the owner sends them on its next
//     loop;
//   - the link thread (drivers/rdma/link/) connects and reconnects.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/counters.hpp"

struct rte_ring;
struct rte_mempool;

namespace sluice::drivers::rdma {
class Device;
class Peer;
class ReceiveQueue;
class LinkThread;
}  // namespace sluice::drivers::rdma

namespace sluice::config {
struct Config;
}

namespace sluice::dp {

struct PortRegistry;

struct alignas(64) RdmaPort {
    uint16_t port_id = 0;
    uint32_t owner = 0;                     // the worker that owns the queue pair
    drivers::rdma::Peer* peer = nullptr;    // null: the device is missing (the port is down for good)
    rte_ring* handoff = nullptr;            // frames from other workers and the agent, for the owner
    std::array<uint8_t, 6> mac{};           // our link MAC: every frame that arrives is for us
    std::string name;
    std::string device;
    // Frames the hand-off took that the owner could not send (no credit,
    // peer down): counted here, like a NIC's TX errors after its queue took
    // them; the submitter counted them as transmitted.
    std::atomic<uint64_t> handoff_dropped{0};
    std::atomic<uint64_t> handoff_sent{0};
};

// Everything RDMA in the running data plane; owned by Shared.
struct RdmaRuntime {
    std::vector<std::unique_ptr<RdmaPort>> ports;            // in config order
    std::array<RdmaPort*, kMaxPorts> by_port{};               // port id -> peer port, or null
    std::vector<std::unique_ptr<drivers::rdma::Device>> devices;
    std::vector<std::unique_ptr<drivers::rdma::ReceiveQueue>> receive_queues;  // per (worker, device)
    std::vector<std::unique_ptr<drivers::rdma::Peer>> peers;
    std::unique_ptr<drivers::rdma::LinkThread> link;

    RdmaRuntime();
    ~RdmaRuntime();
    const RdmaPort* get(uint16_t port) const { return port < kMaxPorts ? by_port[port] : nullptr; }
};

// Builds the peers of cfg.rdma_peers: opens devices (the stand-in for
// "standin"), registers `pool`, creates receive queues and peers, registers
// each as a port in `ports`. A missing device is one log line and a port
// that stays down, unless the peer is `required` (then the error names the
// peer). Empty string on success.
std::string setup_rdma(const config::Config& cfg, rte_mempool* pool, uint32_t n_workers, PortRegistry* ports,
                       std::unique_ptr<RdmaRuntime>* out);
// Starts the link thread (pinned by on_thread_start).
std::string start_rdma_links(RdmaRuntime& rt, void (*pin)(void*), void* pin_arg);
// Stops the link thread (before the workers stop).
void stop_rdma_links(RdmaRuntime& rt);
// After the workers stopped: tears every peer down (what was in flight is
// counted lost), frees what waits in the hand-off rings (counted in
// `drops[shutdown]` of `counters`) and the receive queues' buffers, closes
// the devices.
void teardown_rdma(RdmaRuntime& rt, CoreCounters& counters);

}  // namespace sluice::dp
