// Typed update requests: the one way the data plane's tables change.
//
// The config file is one producer (a reload is validated, diffed against the
// running state and turned into one Batch); the control process (a later
// issue) is another. A Batch is applied as a whole and published in one
// atomic step: workers see all of it or none of it. Requests name ports by
// their configured name; the data plane resolves them.
//
// Order inside a Batch does not matter: the data plane applies settings,
// address deletions, address additions, route deletions, route additions
// and replacements, then neighbors, then VIPs, and validates the result as
// a whole.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/lb.hpp"
#include "api/net.hpp"
#include "api/settings.hpp"

namespace sluice::api {

// One member of a route's next-hop set: a gateway on a port, or (no `via`)
// the destination itself on the port's link.
struct Nexthop {
    std::optional<net::IpAddr> via;
    std::string port;  // required
    friend bool operator==(const Nexthop&, const Nexthop&) = default;
    friend auto operator<=>(const Nexthop&, const Nexthop&) = default;
};

// Routes share next-hop sets by index (Batch::nexthop_sets), so a table of a
// million routes over a handful of gateways costs a few bytes per route.
struct RouteUpdate {
    enum class Op : uint8_t { set, del };
    Op op = Op::set;
    net::Prefix prefix;       // host bits clear
    uint32_t nexthops = 0;    // index into Batch::nexthop_sets (set only)
};

struct AddressUpdate {
    enum class Op : uint8_t { add, del };
    Op op = Op::add;
    std::string port;
    net::Prefix address;      // the interface's own address with its prefix length
};

struct NeighborUpdate {
    enum class Op : uint8_t { set, clear };  // static neighbor
    Op op = Op::set;
    std::string port;
    net::IpAddr address;
    net::MacAddr mac{};       // set only
};

struct Batch {
    std::vector<std::vector<Nexthop>> nexthop_sets;
    std::vector<RouteUpdate> routes;
    std::vector<AddressUpdate> addresses;
    std::vector<NeighborUpdate> neighbors;
    std::optional<WorkerSettings> workers;
    std::optional<NeighborSettings> neighbor;
    std::optional<IcmpSettings> icmp;
    std::vector<VipUpdate> vips;
    std::optional<LbSettings> lb;

    bool empty() const {
        return routes.empty() && addresses.empty() && neighbors.empty() && !workers && !neighbor && !icmp &&
               vips.empty() && !lb;
    }
    size_t size() const {
        return routes.size() + addresses.size() + neighbors.size() + vips.size() + (workers ? 1 : 0) +
               (neighbor ? 1 : 0) + (icmp ? 1 : 0) + (lb ? 1 : 0);
    }
};

// What went wrong with one request of a batch; a batch with any error
// changes nothing.
struct UpdateError {
    std::string what;     // "routes[12]", "addresses[0]", "neighbor.capacity", ...
    std::string message;  // what was wrong and what was expected
};

struct BatchResult {
    bool applied = false;
    uint64_t generation = 0;          // of the published tables (the running one if not applied)
    std::vector<UpdateError> errors;  // empty when applied
    // What changed, for logs and benchmarks.
    uint32_t routes_changed = 0;
    uint32_t fib_ops = 0;             // FIB entries written (helpers included)
    bool rebuilt = false;             // a FIB was rebuilt instead of patched
    uint32_t maglev_rebuilt = 0;      // VIP Maglev tables rebuilt (others are shared)
    uint64_t visible_ns = 0;          // from receipt to publication (readers see it from then)
};

}  // namespace sluice::api
