// The agent's side of the table builder's NeighborService: every call runs
// on the agent's thread (its mailbox) and returns when done, so the
// neighbor table keeps one writer and the state machines stay the agent's.
#pragma once

#include "dataplane/agent/agent.hpp"
#include "dataplane/tables/neighbor_service.hpp"

namespace sluice::dp {

class AgentNeighbors : public NeighborService {
public:
    explicit AgentNeighbors(Agent& a) : a_(a) {}

    std::vector<uint32_t> acquire_gateways(const std::vector<GatewayRef>& gws) override {
        std::vector<uint32_t> out;
        a_.mailbox().call([&] { out = a_.acquire_gateways(gws); });
        return out;
    }
    void release_gateways(const std::vector<uint32_t>& slots) override {
        a_.mailbox().call([&] { a_.release_gateways(slots); });
    }
    void apply(const std::vector<StaticNeighborOp>& ops, const std::optional<api::NeighborSettings>& nbr,
               const std::optional<api::IcmpSettings>& icmp) override {
        a_.mailbox().call([&] { a_.apply_neighbor_changes(ops, nbr, icmp); });
    }
    void published() override {
        a_.mailbox().call([&] { a_.resolve_new_gateways(); });
    }

private:
    Agent& a_;
};

}  // namespace sluice::dp
