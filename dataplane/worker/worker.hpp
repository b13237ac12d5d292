// A worker lcore: polls its RX queues, runs forward_burst, transmits on its
// own TX queue of every port, punts to the agent over its own ring, and
// reports an RCU quiescent state once per loop.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "dataplane/counters.hpp"
#include "dataplane/tables/root.hpp"
#include "dataplane/neighbor/table.hpp"
#include "dataplane/rcu/domain.hpp"

struct rte_mempool;
struct rte_ring;

namespace sluice::dp {

struct LbWorker;
struct RdmaPort;
struct RdmaRuntime;

struct RxQueueRef {
    uint16_t port;
    uint16_t queue;
};

struct WorkerSetup {
    uint32_t id = 0;                    // RCU reader id and TX queue index
    std::vector<RxQueueRef> rx;
    CoreCounters* counters = nullptr;
    QueueCounters (*queue_counters)[kMaxQueuesPerPort] = nullptr;  // [port][queue]
    const Published<Root>* tables = nullptr;  // burst and idle back-off too (root->workers)
    rte_mempool* pool = nullptr;             // the one packet pool (dataplane/tx_contract.hpp)
    const NeighborTable* neighbors = nullptr;
    RcuDomain* rcu = nullptr;
    rte_ring* punt_ring = nullptr;
    const std::atomic<bool>* stop = nullptr;
    LbWorker* lb = nullptr;                  // the worker's flow table and LB counters (lb/lb_worker.hpp)
    // RDMA peers (rdma/rdma_ports.hpp): the ones this worker owns and polls,
    // and every peer port by id (null when none is configured).
    std::vector<RdmaPort*> rdma_owned;
    const RdmaRuntime* rdma = nullptr;
};

// lcore entry point; arg is a WorkerSetup*.
int worker_main(void* arg);

}  // namespace sluice::dp
