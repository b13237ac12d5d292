// Building the running data plane from a config: mbuf pool, RCU domain,
// neighbor table, ports, punt rings, the agent, the table builder (with its
// thread and the config reloader, which loads the first tables), and one
// worker per lcore.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "dataplane/agent/agent.hpp"
#include "dataplane/agent/neighbor_service.hpp"
#include "dataplane/channel/dp_backend.hpp"
#include "dataplane/channel/server.hpp"
#include "dataplane/channel/state.hpp"
#include "dataplane/lb/lb_worker.hpp"
#include "dataplane/reload/reloader.hpp"
#include "dataplane/shared.hpp"
#include "dataplane/tables/builder.hpp"
#include "dataplane/tables/service.hpp"
#include "dataplane/worker/worker.hpp"

namespace sluice::dp {

struct Runtime {
    Shared shared;
    std::unique_ptr<Agent> agent;
    std::unique_ptr<AgentNeighbors> agent_neighbors;
    std::unique_ptr<TableBuilder> builder;
    std::unique_ptr<TableService> service;   // the builder's thread
    std::unique_ptr<ConfigReloader> reloader;
    // The control channel (dataplane/channel/): its state outlives the
    // server (telemetry reads it until shutdown).
    std::unique_ptr<ControlState> control;
    std::unique_ptr<DataplaneBackend> channel_backend;
    std::unique_ptr<ChannelServer> channel;
    std::vector<std::unique_ptr<WorkerSetup>> workers;
    std::vector<unsigned> worker_lcores;
    uint32_t pool_size = 0;
};

// Empty string on success, else what failed and why. The first tables are
// built and published here, on the calling (main) thread.
std::string setup_runtime(const config::Config& cfg, const std::string& config_path, const std::atomic<bool>* stop,
                          Runtime* rt);
// Starts the builder's thread and the workers.
void launch(Runtime* rt);
// Starts the control channel's server on `socket_path` with the config's
// control section (group, max_message), pinned to the main lcore's CPUs
// like the builder's thread. Empty string on success, else why not.
std::string start_channel(Runtime* rt, const config::ControlConfig& cc, const std::string& socket_path);
// Closes every connection and removes the socket file. Idempotent.
void stop_channel(Runtime* rt);
// SIGHUP: hands a reload of the config file to the builder's thread
// (several before it starts make one).
void request_reload(Runtime* rt);
// After the workers have stopped: stops the channel, the builder's thread (serving the
// agent's mailbox meanwhile) and drops what the agent still holds (counted
// as `shutdown`), so the final counters include it. Idempotent.
void quiesce(Runtime* rt);
// Stops the ports and frees everything (quiescing first if not done);
// returns mbufs not returned to the pool.
uint32_t teardown_runtime(Runtime* rt);

}  // namespace sluice::dp
