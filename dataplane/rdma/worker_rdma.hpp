// The workers' side of RDMA peers (rdma_ports.hpp): sending a burst to a
// peer's port, and the owner's per-loop work. Called once per burst and per
// loop, never per packet: the routing fast path pays nothing when no peer is
// configured (worker.cpp tests one flag per burst).
#pragma once

#include <cstdint>

#include "dataplane/counters.hpp"

struct rte_mbuf;

namespace sluice::dp {

struct RdmaPort;

// Sends pkts[0..n) from worker `worker` to the peer behind `rp`: directly
// when the worker owns it, else through the hand-off ring. Returns how many
// were taken; the rest are freed here and counted in `c` (rdma_peer_down,
// rdma_no_credit or rdma_handoff_full).
uint16_t rdma_send(RdmaPort& rp, uint32_t worker, rte_mbuf** pkts, uint16_t n, CoreCounters& c);

// The owner's loop step for one peer: completions and credits (poll), the
// frames other threads handed over, then up to `burst` received frames into
// pkts (port id set, destination MAC rewritten to ours). Returns how many.
uint16_t rdma_owner_step(RdmaPort& rp, rte_mbuf** pkts, uint16_t burst);

// The agent's transmit to a peer port: through the hand-off ring. True when
// taken.
bool rdma_agent_send(RdmaPort& rp, rte_mbuf* m);

}  // namespace sluice::dp
