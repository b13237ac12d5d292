// The table builder: the one writer of the published tables. It keeps the
// running state (routes, interface addresses, static neighbors, settings),
// turns a Batch of typed update requests into the few table changes it
// implies, and publishes them in one new Root.
//
// Runs on one thread (the builder thread, tables/service.hpp); nothing here
// is thread-safe on its own. Workers and other readers only see published
// roots.
//
// A batch is all or nothing: it is checked first (ports, prefixes, next
// hops, gateways on connected subnets after the batch, settings that cannot
// change at run time), then applied to the state with an undo record, then
// to the spare FIB copies; any failure restores the state and publishes
// nothing.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <absl/container/flat_hash_map.h>
#include <vector>

#include "api/update.hpp"
#include "dataplane/port_registry.hpp"
#include "dataplane/rcu/domain.hpp"
#include "dataplane/tables/fib6_helpers.hpp"
#include "dataplane/tables/fib_pair.hpp"
#include "dataplane/tables/lb_builder.hpp"
#include "dataplane/tables/neighbor_service.hpp"
#include "dataplane/tables/nexthop_registry.hpp"
#include "dataplane/tables/root.hpp"
#include "dataplane/tables/route_map.hpp"

namespace sluice::dp {

struct BuilderStats {
    uint64_t batches = 0, rejected = 0, rebuilds = 0;
    uint64_t fib_bytes = 0;  // both copies of both families
    uint32_t nexthops = 0, groups = 0;
};

class TableBuilder {
public:
    TableBuilder(const PortRegistry& ports, Published<Root>& out, RcuDomain& rcu, NeighborService& nbrs,
                 const api::NeighborSettings& neighbor_at_start);
    ~TableBuilder();
    TableBuilder(const TableBuilder&) = delete;
    TableBuilder& operator=(const TableBuilder&) = delete;

    api::BatchResult apply(const api::Batch& b);
    // Brings the spare FIB copies up to date with the published ones (after
    // a grace period). Cheap when they are; the builder's thread calls it
    // when idle. True when both are in sync.
    bool catch_up();

    // --- the running state, for producers that diff against it (the config
    // reload). Builder thread only.
    uint64_t generation() const { return generation_; }
    // The value of the route for p (not a connected or local entry), or
    // kNoRoute; marks it with `mark` (see for_each_unmarked_route).
    uint64_t route_value(const net::Prefix& p, uint32_t mark);
    // The value a route with these next hops would have now, or kNoRoute if
    // any part of it does not exist yet (then it differs from every route).
    uint64_t value_of(const std::vector<api::Nexthop>& nexthops, bool v6) const;
    // Every route not marked with `mark` since.
    template <class F>
    void for_each_unmarked_route(uint32_t mark, F&& f) const {
        for (const auto& [k, e] : routes4_.entries())
            if (e.route != kNoRoute && mark_of(e) != mark) f(k.prefix());
        for (const auto& [k, e] : routes6_.entries())
            if (e.route != kNoRoute && mark_of(e) != mark) f(k.prefix());
    }
    uint32_t next_mark() { return ++mark_; }
    int port_id(std::string_view name) const { return ports_.find(name); }
    std::string port_name(uint16_t id) const { return ports_.name(id); }
    const std::vector<net::Prefix>& addresses(uint16_t port) const { return addrs_[port]; }
    const std::map<std::pair<uint16_t, net::IpAddr>, net::MacAddr>& static_neighbors() const { return statics_; }
    const api::WorkerSettings& workers() const { return *workers_; }
    const api::NeighborSettings& neighbor() const { return neighbor_; }
    const api::IcmpSettings& icmp() const { return icmp_; }
    // The VIPs as last applied (key order) and the load balancer settings.
    const std::map<api::VipKey, api::Vip>& vips() const { return lb_.vips(); }
    const api::LbSettings& lb() const { return *lb_.settings(); }
    size_t route_count() const { return static_routes_; }
    // Any thread (telemetry): the counts as of the last batch.
    BuilderStats stats() const;

private:
    struct Undo4 {
        Key4 k;
        RouteEntry old;
        bool existed;
        uint64_t before;
    };
    struct Undo6 {
        Key6 k;
        RouteEntry old;
        bool existed;
        uint64_t before;
    };
    struct Txn;  // one batch in flight (builder.cpp)

    static uint32_t mark_of(const RouteEntry& e) { return e.mark; }

    bool validate(const api::Batch& b, Txn& t);
    bool acquire_gateways(Txn& t);
    void mutate(const api::Batch& b, Txn& t);
    bool check_after(Txn& t);
    void settle(Txn& t);
    void fib_ops(Txn& t);
    bool commit_fibs(Txn& t, std::string* error);
    void undo(Txn& t);
    void publish(Txn& t);

    RouteEntry& touch(Txn& t, const net::Prefix& p);
    void add_address(Txn& t, uint16_t port, const net::Prefix& a, int delta);
    std::vector<FibOp> full_ops4() const;
    FibCapacity need4() const;
    FibCapacity need6() const;
    std::shared_ptr<const Interfaces> interfaces() const;

    const PortRegistry& ports_;
    Published<Root>& out_;
    RcuDomain& rcu_;
    NeighborService& nbrs_;

    RouteMap4 routes4_;
    RouteMap6 routes6_;
    Fib6Helpers helpers6_{routes6_};
    absl::flat_hash_map<uint32_t, uint32_t> long24_;  // /24 -> installed IPv4 prefixes longer than /24 in it
    NexthopRegistry registry_;
    FibPair<Fib4> fib4_;
    FibPair<Fib6> fib6_;
    std::array<std::vector<net::Prefix>, kMaxPorts> addrs_;
    std::map<std::pair<uint16_t, net::IpAddr>, net::MacAddr> statics_;
    std::shared_ptr<const api::WorkerSettings> workers_;
    api::NeighborSettings neighbor_;
    api::IcmpSettings icmp_;
    LbBuilder lb_;
    std::shared_ptr<const Interfaces> ifaces_;
    std::shared_ptr<const Nexthops> nexthops_;
    uint64_t generation_ = 0;
    uint32_t mark_ = 0;
    bool rebuild6_next_ = false;  // after an undo: rebuild the IPv6 copies, do not patch
    size_t static_routes_ = 0;
    BuilderStats stats_;
    mutable std::mutex stats_mu_;
    BuilderStats stats_copy_;  // what stats() returns, under stats_mu_
    void publish_stats();
};

}  // namespace sluice::dp
