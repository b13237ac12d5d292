// Building the running data plane from a config: mbuf pool, RCU domain,
// neighbor table, ports, punt rings, agent, and one worker per lcore.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "dataplane/agent/agent.hpp"
#include "dataplane/worker/worker.hpp"

namespace sluice::dp {

struct Runtime {
    Shared shared;
    std::unique_ptr<Agent> agent;
    std::vector<std::unique_ptr<WorkerSetup>> workers;
    std::vector<unsigned> worker_lcores;
    uint32_t pool_size = 0;
};

// Empty string on success, else what failed and why.
std::string setup_runtime(std::shared_ptr<const config::Config> cfg, const std::string& config_path,
                          const std::atomic<bool>* stop, Runtime* rt);
void launch_workers(Runtime* rt);
// Stops ports and frees everything; returns mbufs not returned to the pool.
uint32_t teardown_runtime(Runtime* rt);

}  // namespace sluice::dp
