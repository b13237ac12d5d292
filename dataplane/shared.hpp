// What the running data plane's threads share, owned by main (setup.hpp):
// the packet pool, the RCU domain, the neighbor table, the published
// tables, the punt rings, the per-core counters and the open ports.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "dataplane/counters.hpp"
#include "dataplane/lb/lb_worker.hpp"
#include "dataplane/neighbor/table.hpp"
#include "dataplane/port_registry.hpp"
#include "dataplane/rdma/rdma_ports.hpp"
#include "dataplane/rcu/domain.hpp"
#include "dataplane/tables/root.hpp"

struct rte_mempool;
struct rte_ring;

namespace sluice::dp {

struct Shared {
    rte_mempool* pool = nullptr;
    std::unique_ptr<RcuDomain> rcu;               // readers: workers 0..n-1, the agent n, then transient
    std::unique_ptr<NeighborTable> neighbors;
    std::unique_ptr<Published<Root>> tables;
    std::vector<rte_ring*> punt_rings;            // one per worker
    std::vector<std::unique_ptr<CoreCounters>> cores;  // workers..., then the agent
    std::unique_ptr<QueueCounters[][kMaxQueuesPerPort]> queues;
    PortRegistry ports;
    uint16_t agent_txq = 0;                       // TX queue index the agent uses
    uint32_t agent_reader = 0;                    // the agent's RCU reader id
    std::vector<std::unique_ptr<LbWorker>> lb_workers;  // one per worker, in worker order
    std::unique_ptr<RdmaRuntime> rdma;            // RDMA peers as ports (rdma/rdma_ports.hpp); null: none
};

}  // namespace sluice::dp
