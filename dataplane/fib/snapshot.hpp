// The immutable forwarding state the workers read: interfaces, FIBs, next
// hops, ECMP groups. Built by the agent from a Config off the worker path and
// published through RCU (see rcu/domain.hpp); never modified once published.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "dataplane/counters.hpp"
#include "dataplane/fib/nexthop.hpp"

struct rte_fib;
struct rte_fib6;

namespace sluice::dp {

struct Interface {
    bool present = false;
    uint16_t port_id = 0;
    std::string name;
    std::array<uint8_t, 6> mac{};
    uint16_t mtu = 1500;
    std::vector<config::Prefix> v4;              // interface addresses
    std::vector<config::Prefix> v6;              // global addresses
    std::array<uint8_t, 16> link_local{};        // fe80::/64 + modified EUI-64 (RFC 4291 2.5.1)
};

struct Snapshot {
    uint64_t version = 0;
    std::shared_ptr<const config::Config> config;
    std::array<Interface, kMaxPorts> ifaces{};   // indexed by DPDK port id
    rte_fib* fib4 = nullptr;
    rte_fib6* fib6 = nullptr;
    std::vector<NextHop> nexthops;
    std::vector<EcmpGroup> groups;
    std::vector<uint32_t> group_members;          // nexthop indices
    uint32_t routes4 = 0, routes6 = 0;
    uint32_t fib6_helpers = 0;  // covering prefixes added for tbl8 sizing (fib_plan.hpp)
    uint32_t fib_tbl8_scale = 1;  // > 1 if the tbl8 estimate fell short and the build retried

    Snapshot() = default;
    Snapshot(const Snapshot&) = delete;
    Snapshot& operator=(const Snapshot&) = delete;
    ~Snapshot();

    // Slow-path helpers (agent, tests).
    uint64_t lookup4(uint32_t dst_host) const;
    uint64_t lookup6(const uint8_t dst[16]) const;
    // Slow-path routing of one IP packet (agent): FIB lookup by destination,
    // ECMP member by flow hash, as the workers do. nh is null unless kind is
    // single or group (then it is the chosen member).
    struct RouteResult {
        NhKind kind = NhKind::none;
        const NextHop* nh = nullptr;
    };
    RouteResult route(const uint8_t* ip, uint32_t avail) const;
    // True when addr is one of the port's own addresses (incl. link-local).
    bool is_local(uint16_t port, const config::IpAddr& addr) const;
    // The port's first address of the family (v6: global if any, else link-local).
    const uint8_t* source_address4(uint16_t port) const;
    const uint8_t* source_address6(uint16_t port) const;
};

// How the builder learns about the outside world; injected so tests can
// build snapshots without ports or a neighbor table.
struct SnapshotEnv {
    // DPDK port id of a configured port name, or -1.
    std::function<int(const std::string& name)> port_id;
    std::function<std::array<uint8_t, 6>(uint16_t port_id)> port_mac;
    // Returns the neighbor slot for a gateway on a port, creating it (and
    // starting resolution) if needed; kNoNeighbor when the table is full.
    std::function<uint32_t(uint16_t port_id, const config::IpAddr& gw)> gateway_slot;
};

struct BuildResult {
    std::unique_ptr<Snapshot> snapshot;
    std::string error;   // non-empty on failure
};

// Builds a snapshot from a validated config. Unique DPDK object names are
// derived from `version`, so several snapshots can coexist during a swap.
BuildResult build_snapshot(std::shared_ptr<const config::Config> cfg, const SnapshotEnv& env,
                           uint64_t version);

// Defined in tables/interfaces.cpp (the snapshot is being replaced by tables/).
std::array<uint8_t, 16> link_local_from_mac(const std::array<uint8_t, 6>& mac);

}  // namespace sluice::dp
