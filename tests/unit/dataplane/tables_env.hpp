// Published tables for tests and benchmarks that forward packets without an
// agent: a real table builder, RCU domain and neighbor table, two ports
// (p0 = id 0 / kMac0, p1 = id 1 / kMac1, as lab_config() names them), and a
// neighbor service that writes the neighbor table directly (gateway slots,
// static MACs) where the agent would run its state machines.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "config/model.hpp"
#include "dataplane/neighbor/table.hpp"
#include "dataplane/port_registry.hpp"
#include "dataplane/rcu/domain.hpp"
#include "dataplane/tables/builder.hpp"

namespace sluice::test {

class DirectNeighbors : public dp::NeighborService {
public:
    explicit DirectNeighbors(dp::NeighborTable& t) : t_(t) {}
    std::vector<uint32_t> acquire_gateways(const std::vector<dp::GatewayRef>& gws) override;
    void release_gateways(const std::vector<uint32_t>& slots) override;
    void apply(const std::vector<dp::StaticNeighborOp>& ops, const std::optional<api::NeighborSettings>&,
               const std::optional<api::IcmpSettings>&) override;
    void published() override {}
    std::map<uint32_t, int> refs;

private:
    dp::NeighborTable& t_;
};

struct TablesEnv {
    // Ports p0 and p1 (as lab_config() has them).
    TablesEnv() : TablesEnv(two_ports(), api::NeighborSettings{}.capacity) {}
    // Ports with these specs, DPDK ids 0.., MACs 02:00:00:00:<id>:10.
    TablesEnv(const std::vector<net::PortSpec>& specs, uint32_t neighbor_capacity);
    static std::vector<net::PortSpec> two_ports();
    ~TablesEnv();
    // Applies a config as the reload would (diff against the running
    // tables); empty on success, else the errors.
    std::string load(const config::Config& cfg);
    const dp::Root& root() const { return *published->get(); }
    // Gives a neighbor (e.g. a route's gateway) a MAC.
    void resolve(uint16_t port, const std::string& addr, const std::array<uint8_t, 6>& mac);

    dp::PortRegistry ports;
    std::unique_ptr<dp::RcuDomain> rcu;
    std::unique_ptr<dp::NeighborTable> nbrs;
    std::unique_ptr<dp::Published<dp::Root>> published;
    std::unique_ptr<DirectNeighbors> direct;
    std::unique_ptr<dp::TableBuilder> builder;
};

}  // namespace sluice::test
