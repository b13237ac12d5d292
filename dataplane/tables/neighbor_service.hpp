// What the table builder needs from the neighbor side (owned by the agent:
// the neighbor table has one writer and the state machines live there).
// The agent implements it by running each call on its own thread and
// returning the answer (agent/neighbor_service.cpp); tests use a fake.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "api/net.hpp"
#include "api/settings.hpp"

namespace sluice::dp {

struct GatewayRef {
    uint16_t port = 0;
    net::IpAddr addr;
};

struct StaticNeighborOp {
    bool set = true;  // false: clear
    uint16_t port = 0;
    net::IpAddr addr;
    net::MacAddr mac{};
};

class NeighborService {
public:
    virtual ~NeighborService() = default;
    // A neighbor slot per gateway (existing, or created), held for next
    // hops until released; kNoNeighbor where the table is full.
    virtual std::vector<uint32_t> acquire_gateways(const std::vector<GatewayRef>& gws) = 0;
    // Gateways no next hop uses any more: ordinary entries again, aged out
    // by the neighbor state machine.
    virtual void release_gateways(const std::vector<uint32_t>& slots) = 0;
    // Static neighbors and the agent's settings; called before the tables
    // that may use them are published.
    virtual void apply(const std::vector<StaticNeighborOp>& ops, const std::optional<api::NeighborSettings>& nbr,
                       const std::optional<api::IcmpSettings>& icmp) = 0;
    // After a publication: start resolving the gateways acquired since the
    // last call (their port addresses are now in the published tables).
    virtual void published() = 0;
};

}  // namespace sluice::dp
