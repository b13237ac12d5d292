// What /sluice/rdma and the live counters show of the RDMA peers
// (docs/rdma.md, "Counters").
#pragma once

#include <string>

#include "dataplane/agent/telemetry_data.hpp"

namespace sluice::dp {

struct RdmaRuntime;

// { "<peer>": { state, phase, device, port_id, owner, credits, in_flight,
//   tx/rx packets and bytes, credit_stalls, qp_resets, lost_in_flight, ... } }
TelJson gather_rdma(const RdmaRuntime& rt);
// One line per peer for the counters view.
std::string rdma_lines(const RdmaRuntime& rt);

}  // namespace sluice::dp
