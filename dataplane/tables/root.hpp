// The published root: what a worker loads once per poll loop (one acquire
// load through Published<Root>) and uses until its next quiescent report.
//
// It points at independent tables, each immutable while published. A change
// builds or patches only the table it touches and publishes a new Root that
// shares every other one (shared_ptr), so a backend or route change never
// rebuilds the FIBs wholesale, and one pointer load still gives a consistent
// view across tables. Old roots are retired through the RCU domain; a table
// is released when the last root holding it is reclaimed.
//
// Room for more: the load balancer's VIP, backend and Maglev tables join
// here as further shared_ptr<const T> members, built by their own part of
// the table builder (tables/builder.hpp) from their own update requests.
#pragma once

#include <cassert>
#include <cstdint>
#include <memory>

#include "api/settings.hpp"
#include "dataplane/tables/fib.hpp"
#include "api/lb.hpp"
#include "dataplane/tables/interfaces.hpp"
#include "dataplane/tables/lb_tables.hpp"
#include "dataplane/tables/nexthops.hpp"

namespace sluice::dp {

struct Root {
    uint64_t generation = 0;  // increases with every publication
    std::shared_ptr<const Interfaces> ifaces;
    std::shared_ptr<const Nexthops> nexthops;
    std::shared_ptr<const Fib4> fib4;
    std::shared_ptr<const Fib6> fib6;
    std::shared_ptr<const api::WorkerSettings> workers;
    std::shared_ptr<const LbTables> lb;                 // VIPs, backends, Maglev tables
    std::shared_ptr<const api::LbSettings> lb_settings;  // timeouts and the new-flow guard
    // What the tables hold, for telemetry.
    uint32_t routes4 = 0, routes6 = 0;  // FIB entries from routes and addresses
    uint32_t helpers6 = 0;              // IPv6 covering prefixes added for tbl8 sizing (tables/fib6_helpers.hpp)

    // The raw pointers a worker's burst reads, taken from the tables above
    // once, when the root is sealed before publication: a burst copies six
    // words instead of chasing each shared_ptr and vector (worker/forward.cpp).
    struct Hot {
        const Interface* ifaces = nullptr;  // indexed by port id, kMaxPorts of them
        const NhHot* nh = nullptr;  // Nexthops::hot
        const EcmpGroup* groups = nullptr;
        const uint32_t* members = nullptr;
        Fib4::Raw* fib4 = nullptr;
        Fib6::Raw* fib6 = nullptr;
        const LbTables* lb = nullptr;
        const uint64_t* nat_filter = nullptr;  // null: no NAT VIP (routing checks nothing)
        const api::LbSettings* lb_settings = nullptr;
        FibDirect fib4d, fib6d;  // inline lookups (fib_direct.hpp); tbl24 null: use the bulk call
        // 1 + the highest port id a packet can be sent to: every next hop's
        // port is a present interface (the table builder resolves them from
        // the ports it has). The end of a burst looks at these ports only.
        uint16_t tx_ports = kMaxPorts;
        const uint64_t* eth_src4 = nullptr;  // Interfaces::eth_src4 / eth_src6
        const uint64_t* eth_src6 = nullptr;
    } hot;
    // Fills `hot`; the table builder calls it last, before publishing.
    void seal() {
        assert(nexthops->hot.size() == nexthops->nh.size());
        hot = {ifaces->port.data(), nexthops->hot.data(), nexthops->groups.data(),
               nexthops->members.data(), fib4->raw(), fib6->raw(), lb.get(),
               lb->nat_filter.empty() ? nullptr : lb->nat_filter.data(), lb_settings.get(),
               fib4->direct(), fib6->direct(), ifaces->ports ? ifaces->ports : kMaxPorts,
               ifaces->eth_src4.data(), ifaces->eth_src6.data()};
    }
};

// Slow-path routing of one IP packet (agent): FIB lookup by destination,
// ECMP member by flow hash, as the workers do. nh is null unless kind is
// single or group (then it is the chosen member).
struct RouteResult {
    NhKind kind = NhKind::none;
    const NextHop* nh = nullptr;
};
RouteResult route(const Root& r, const uint8_t* ip, uint32_t avail);

}  // namespace sluice::dp
