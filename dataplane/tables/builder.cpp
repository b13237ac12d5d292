#include "dataplane/tables/builder.hpp"

#include <algorithm>
#include <chrono>
#include <set>

#include <absl/container/flat_hash_set.h>

#include "api/addr_class.hpp"

namespace sluice::dp {

namespace {

constexpr size_t kMaxEcmp = 64;
constexpr uint16_t kMinIpv6Mtu = 1280;  // RFC 8200 section 5

// A batch this large relative to the table rebuilds the FIB copy from the
// state (sorted, so each add writes only its own range) instead of
// patching it entry by entry.
bool bulk(size_t changes, size_t installed) { return changes > 4096 && changes * 4 > installed; }

std::string fam(const net::IpAddr& a) { return a.is_v4() ? "IPv4" : "IPv6"; }

MemberKey member_key(uint16_t port, bool v6, const std::optional<net::IpAddr>& via) {
    MemberKey k;
    k.port = port;
    k.v6 = v6;
    if (via) {
        k.onlink = false;
        k.gw = via->bytes;
    }
    return k;
}

net::IpAddr gw_addr(const MemberKey& k) {
    net::IpAddr a;
    a.family = k.v6 ? net::IpAddr::Family::V6 : net::IpAddr::Family::V4;
    a.bytes = k.gw;
    return a;
}

}  // namespace

struct TableBuilder::Txn {
    api::BatchResult res;
    // Resolved requests.
    std::vector<int> addr_port, nbr_port;
    // Next-hop sets resolved per family (a set may serve IPv4 and IPv6
    // routes; on-link members differ by family).
    std::map<std::pair<uint32_t, bool>, std::vector<MemberKey>> sets;
    // The addresses and static neighbors as they will be after the batch.
    std::array<std::vector<net::Prefix>, kMaxPorts> new_addrs;
    std::map<std::pair<uint16_t, net::IpAddr>, net::MacAddr> new_statics;
    bool addrs_changed = false;
    std::set<uint16_t> addr_removed_ports;
    // Gateway slots taken for next hops this batch may create.
    std::map<MemberKey, uint32_t> new_slots;
    // Undo.
    std::vector<Undo4> undo4;
    std::vector<Undo6> undo6;
    absl::flat_hash_map<Key4, size_t, Key4Hash> touched4;
    absl::flat_hash_map<Key6, size_t, Key6Hash> touched6;
    std::array<std::vector<net::Prefix>, kMaxPorts> old_addrs;
    std::map<std::pair<uint16_t, net::IpAddr>, net::MacAddr> old_statics;
    size_t old_static_routes = 0;
    std::vector<uint64_t> acquired;          // references taken (undone by releasing them)
    std::vector<uint64_t> deferred_release;  // references to drop once published
    std::vector<StaticNeighborOp> nbr_ops;
    // The table was empty: no undo record per entry (an undo empties it
    // again), duplicates are found while applying, counts made at the end.
    bool from_empty = false;
    bool settled = false;   // per-length counts follow the batch
    bool ops_made = false;  // /24 counts and IPv6 helpers follow the batch
    std::vector<FibOp> ops4, ops6;
    bool bulk4 = false, bulk6 = false;
    LbBuilder::Staged lb;

    void error(std::string what, std::string msg) { res.errors.push_back({std::move(what), std::move(msg)}); }
};

TableBuilder::TableBuilder(const PortRegistry& ports, Published<Root>& out, RcuDomain& rcu, NeighborService& nbrs,
                           const api::NeighborSettings& neighbor_at_start)
    : ports_(ports),
      out_(out),
      rcu_(rcu),
      nbrs_(nbrs),
      registry_([&ports](uint16_t p) { return ports.get(p) ? ports.port[p].spec.mtu : uint16_t(1500); }),
      workers_(std::make_shared<api::WorkerSettings>()),
      neighbor_(neighbor_at_start) {}

TableBuilder::~TableBuilder() = default;

// --- the running state for diffs ---------------------------------------------------

uint64_t TableBuilder::route_value(const net::Prefix& p, uint32_t mark) {
    auto mark_it = [&](auto& map, const auto& k) -> uint64_t {
        const RouteEntry* e = map.find(k);
        if (!e || e->route == kNoRoute) return kNoRoute;
        const_cast<RouteEntry*>(e)->mark = mark;
        return e->route;
    };
    return p.addr.is_v4() ? mark_it(routes4_, Key4::of(p)) : mark_it(routes6_, Key6::of(p));
}

uint64_t TableBuilder::value_of(const std::vector<api::Nexthop>& nexthops, bool v6) const {
    std::vector<MemberKey> keys;
    keys.reserve(nexthops.size());
    for (const auto& h : nexthops) {
        int port = ports_.find(h.port);
        if (port < 0) return kNoRoute;
        keys.push_back(member_key(uint16_t(port), v6, h.via));
    }
    return registry_.find(keys);
}

BuilderStats TableBuilder::stats() const {
    std::lock_guard<std::mutex> g(stats_mu_);
    return stats_copy_;
}

void TableBuilder::publish_stats() {
    BuilderStats s = stats_;
    s.fib_bytes = fib4_.bytes() + fib6_.bytes();
    s.nexthops = uint32_t(registry_.nexthop_count());
    s.groups = uint32_t(registry_.group_count());
    std::lock_guard<std::mutex> g(stats_mu_);
    stats_copy_ = s;
}

// --- validation ---------------------------------------------------------------------

bool TableBuilder::validate(const api::Batch& b, Txn& t) {
    // Settings.
    if (b.workers) {
        const auto& w = *b.workers;
        if (w.burst < 1 || w.burst > 256)
            t.error("workers.burst", "expected a whole number 1..256, got " + std::to_string(w.burst));
        if (w.idle.sleep_after < w.idle.pause_after)
            t.error("workers.idle_backoff.sleep_after", "must be >= pause_after (" +
                                                             std::to_string(w.idle.pause_after) + "), got " +
                                                             std::to_string(w.idle.sleep_after));
    }
    if (b.neighbor) {
        const auto& n = *b.neighbor;
        if (n.capacity != neighbor_.capacity)
            t.error("neighbor.capacity", "cannot change at run time (it sizes the neighbor table): running " +
                                             std::to_string(neighbor_.capacity) + ", requested " +
                                             std::to_string(n.capacity) + "; restart to change it");
        if (n.reachable_ms < 1) t.error("neighbor.reachable_ms", "expected a whole number >= 1, got 0");
        if (n.retrans_ms < 1) t.error("neighbor.retrans_ms", "expected a whole number >= 1, got 0");
        if (n.max_probes < 1) t.error("neighbor.max_probes", "expected a whole number >= 1, got 0");
        if (n.max_pending > api::kMaxPendingPerNeighbor ||
            uint64_t(n.capacity) * n.max_pending > api::kMaxPendingSlots)
            t.error("neighbor.max_pending", "expected at most " + std::to_string(api::kMaxPendingPerNeighbor) +
                                                " and capacity x max_pending at most " +
                                                std::to_string(api::kMaxPendingSlots) + ", got " +
                                                std::to_string(n.max_pending));
    }
    if (b.icmp && b.icmp->burst < 1) t.error("icmp.burst", "expected a whole number >= 1, got 0");

    // Addresses, and what they will be after the batch.
    t.new_addrs = addrs_;
    t.addr_port.assign(b.addresses.size(), -1);
    // A request may delete and add the same address (the config diff
    // replaces a port's list that way to keep its order), not name it
    // twice for the same operation.
    std::set<std::tuple<uint16_t, net::Prefix, bool>> seen_addr;
    for (size_t i = 0; i < b.addresses.size(); ++i) {
        const auto& u = b.addresses[i];
        std::string W = "addresses[" + std::to_string(i) + "]";
        int port = ports_.find(u.port);
        if (port < 0) {
            t.error(W + ".port", "unknown port \"" + u.port + "\"");
            continue;
        }
        const net::Prefix& a = u.address;
        if (a.len < 1 || a.len > net::max_len(a.addr)) {
            t.error(W + ".address", "expected a prefix length 1.." + std::to_string(net::max_len(a.addr)) +
                                        " for an " + fam(a.addr) + " interface address, got " +
                                        std::to_string(a.len));
            continue;
        }
        if (auto why = net::non_unicast_reason(a.addr); !why.empty()) {
            t.error(W + ".address", net::to_string(a.addr) + " " + why + "; expected a unicast address");
            continue;
        }
        if (net::is_link_local6(a.addr)) {
            t.error(W + ".address", "link-local addresses are derived from the port MAC; expected a global address");
            continue;
        }
        if (auto edge = net::v4_edge(a, a.addr); !edge.empty()) {
            t.error(W + ".address", net::to_string(a.addr) + " is the " + edge + " address of " +
                                        net::to_string(net::network_of(a)));
            continue;
        }
        if (a.addr.is_v6() && ports_.port[size_t(port)].spec.mtu < kMinIpv6Mtu) {
            t.error(W + ".address", "port " + u.port + " has mtu " +
                                        std::to_string(ports_.port[size_t(port)].spec.mtu) +
                                        "; an IPv6 address needs >= 1280 (RFC 8200)");
            continue;
        }
        if (!seen_addr.emplace(uint16_t(port), a, u.op == api::AddressUpdate::Op::add).second) {
            t.error(W, "the same address appears twice in this request");
            continue;
        }
        t.addr_port[i] = port;
    }
    // What the list will be: deletions first, then additions in request
    // order (as mutate() applies them).
    for (int pass = 0; pass < 2; ++pass)
        for (size_t i = 0; i < b.addresses.size(); ++i) {
            const auto& u = b.addresses[i];
            bool del = u.op == api::AddressUpdate::Op::del;
            if (t.addr_port[i] < 0 || del != (pass == 0)) continue;
            auto& list = t.new_addrs[size_t(t.addr_port[i])];
            auto it = std::find(list.begin(), list.end(), u.address);
            if (!del && it == list.end()) {
                list.push_back(u.address);
                t.addrs_changed = true;
            } else if (del && it != list.end()) {
                list.erase(it);
                t.addrs_changed = true;
                t.addr_removed_ports.insert(uint16_t(t.addr_port[i]));
            }
        }
    // Subnets of different ports must not overlap; an address is on one port.
    if (t.addrs_changed) {
        for (uint16_t p = 0; p < kMaxPorts; ++p)
            for (const auto& a : t.new_addrs[p])
                for (uint16_t q = p; q < kMaxPorts; ++q)
                    for (const auto& b2 : t.new_addrs[q]) {
                        if (&a == &b2 || a.addr.family != b2.addr.family) continue;
                        if (p == q) {
                            if (a.addr == b2.addr)
                                t.error("addresses", "address " + net::to_string(a.addr) + " twice on port " +
                                                         ports_.name(p));
                            continue;
                        }
                        net::Prefix na = net::network_of(a), nb = net::network_of(b2);
                        if (net::contains(na, nb.addr) || net::contains(nb, na.addr))
                            t.error("addresses", "subnet " + net::to_string(na) + " of port " + ports_.name(p) +
                                                     " overlaps " + net::to_string(nb) + " of port " +
                                                     ports_.name(q) + "; each port needs its own subnet");
                    }
    }
    auto ours_after = [&](const net::IpAddr& x) {
        for (uint16_t p = 0; p < kMaxPorts; ++p) {
            for (const auto& a : t.new_addrs[p])
                if (a.addr == x) return true;
            if (ports_.get(p) && x.is_v6() &&
                link_local_from_mac(ports_.port[p].info.mac) == x.bytes)
                return true;
        }
        return false;
    };
    auto on_link_after = [&](uint16_t port, const net::IpAddr& x) {
        if (net::is_link_local6(x)) return true;
        for (const auto& a : t.new_addrs[port])
            if (net::contains(net::network_of(a), x) && net::v4_edge(a, x).empty()) return true;
        return false;
    };
    auto subnets = [&](uint16_t port, const net::IpAddr& x) {
        std::string s;
        for (const auto& a : t.new_addrs[port])
            if (a.addr.family == x.family) s += (s.empty() ? "" : ", ") + net::to_string(net::network_of(a));
        return s.empty() ? "it has no " + fam(x) + " address" : "it has " + s;
    };

    // Routes and the next-hop sets they use.
    absl::flat_hash_set<Key4, Key4Hash> seen4;
    absl::flat_hash_set<Key6, Key6Hash> seen6;
    if (!t.from_empty) seen4.reserve(b.routes.size());
    auto resolve_set = [&](uint32_t idx, bool v6, const std::string& W) -> bool {
        if (t.sets.count({idx, v6})) return true;
        if (idx >= b.nexthop_sets.size()) {
            t.error(W + ".nexthops", "next-hop set " + std::to_string(idx) + " does not exist (the request has " +
                                         std::to_string(b.nexthop_sets.size()) + ")");
            return false;
        }
        const auto& set = b.nexthop_sets[idx];
        std::string S = "nexthop_sets[" + std::to_string(idx) + "]";
        if (set.empty() || set.size() > kMaxEcmp) {
            t.error(S, "expected 1.." + std::to_string(kMaxEcmp) + " next hops, got " + std::to_string(set.size()));
            return false;
        }
        std::vector<MemberKey> keys;
        bool ok = true;
        for (size_t j = 0; j < set.size(); ++j) {
            const auto& h = set[j];
            std::string H = S + "[" + std::to_string(j) + "]";
            int port = ports_.find(h.port);
            if (port < 0) {
                t.error(H + ".port", "unknown port \"" + h.port + "\"");
                ok = false;
                continue;
            }
            if (h.via) {
                const net::IpAddr& g = *h.via;
                std::string gs = net::to_string(g);
                if (g.is_v6() != v6) {
                    t.error(H + ".via", "gateway " + gs + " is " + fam(g) + " but " + W + " is " +
                                            (v6 ? "IPv6" : "IPv4") + "; a next hop must be of the prefix's family");
                    ok = false;
                    continue;
                }
                if (auto why = net::non_unicast_reason(g); !why.empty()) {
                    t.error(H + ".via", "gateway " + gs + " " + why + "; expected a unicast address");
                    ok = false;
                    continue;
                }
                if (ours_after(g)) {
                    t.error(H + ".via", "gateway " + gs + " is this router's own address");
                    ok = false;
                    continue;
                }
                if (!on_link_after(uint16_t(port), g)) {
                    t.error(H + ".via", "gateway " + gs + " is not in a connected subnet of port " + h.port + " (" +
                                            subnets(uint16_t(port), g) + ")");
                    ok = false;
                    continue;
                }
            }
            keys.push_back(member_key(uint16_t(port), v6, h.via));
        }
        if (!ok) return false;
        std::vector<MemberKey> sorted = keys;
        std::sort(sorted.begin(), sorted.end());
        if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
            t.error(S, "the same next hop appears twice");
            return false;
        }
        t.sets[{idx, v6}] = std::move(keys);
        return true;
    };
    for (size_t i = 0; i < b.routes.size(); ++i) {
        const auto& u = b.routes[i];
        std::string W = "routes[" + std::to_string(i) + "]";
        const net::Prefix& p = u.prefix;
        if (p.len > net::max_len(p.addr)) {
            t.error(W + ".prefix", "expected an " + fam(p.addr) + " prefix length 0.." +
                                       std::to_string(net::max_len(p.addr)) + ", got " + std::to_string(p.len));
            continue;
        }
        bool network = p.addr.is_v4() ? Key4::of(p) == Key4::of(p).masked(p.len) : Key6::of(p) == Key6::of(p).masked(p.len);
        if (!network) {
            t.error(W + ".prefix", "host bits are set in " + net::to_string(p) + "; did you mean " +
                                       net::to_string(net::network_of(p)) + "?");
            continue;
        }
        if (!t.from_empty &&
            !(p.addr.is_v4() ? seen4.insert(Key4::of(p)).second : seen6.insert(Key6::of(p)).second)) {
            t.error(W + ".prefix", "the same prefix appears twice in this request");
            continue;
        }
        if (u.op == api::RouteUpdate::Op::set) resolve_set(u.nexthops, p.addr.is_v6(), W);
    }

    // Static neighbors, as they will be after the batch.
    t.new_statics = statics_;
    std::set<std::pair<uint16_t, net::IpAddr>> seen_nbr;
    for (size_t i = 0; i < b.neighbors.size(); ++i) {
        const auto& u = b.neighbors[i];
        std::string W = "neighbors[" + std::to_string(i) + "]";
        int port = ports_.find(u.port);
        if (port < 0) {
            t.error(W + ".port", "unknown port \"" + u.port + "\"");
            continue;
        }
        auto key = std::make_pair(uint16_t(port), u.address);
        if (!seen_nbr.insert(key).second) {
            t.error(W, "the same neighbor appears twice in this request");
            continue;
        }
        if (u.op == api::NeighborUpdate::Op::clear) {
            t.new_statics.erase(key);
            continue;
        }
        std::string as = net::to_string(u.address);
        if (auto why = net::non_unicast_reason(u.address); !why.empty()) {
            t.error(W + ".address", as + " " + why + "; expected a unicast address");
            continue;
        }
        if (ours_after(u.address)) {
            t.error(W + ".address", as + " is this router's own address");
            continue;
        }
        if (!on_link_after(uint16_t(port), u.address)) {
            t.error(W + ".address", as + " is not in a connected subnet of port " + u.port + " (" +
                                        subnets(uint16_t(port), u.address) + ")");
            continue;
        }
        if (auto m = net::mac_problem(u.mac); !m.empty()) {
            t.error(W + ".mac", m);
            continue;
        }
        t.new_statics[key] = u.mac;
    }
    // Static neighbors that stay must stay on a connected subnet.
    for (uint16_t port : t.addr_removed_ports)
        for (const auto& [k, mac] : t.new_statics)
            if (k.first == port && !on_link_after(port, k.second))
                t.error("neighbors", "static neighbor " + net::to_string(k.second) + " on port " + ports_.name(port) +
                                         " would no longer be in a connected subnet; remove it in the same request");
    return t.res.errors.empty();
}

bool TableBuilder::acquire_gateways(Txn& t) {
    std::vector<MemberKey> want;
    for (const auto& [key, members] : t.sets)
        for (const auto& m : members)
            if (!m.onlink && registry_.gateway_slot_of(m) == kNoNeighbor) want.push_back(m);
    std::sort(want.begin(), want.end());
    want.erase(std::unique(want.begin(), want.end()), want.end());
    if (want.empty()) return true;
    std::vector<GatewayRef> refs;
    refs.reserve(want.size());
    for (const auto& m : want) refs.push_back(GatewayRef{m.port, gw_addr(m)});
    std::vector<uint32_t> slots = nbrs_.acquire_gateways(refs);
    std::vector<uint32_t> got;
    bool full = false;
    for (size_t i = 0; i < want.size(); ++i) {
        if (i >= slots.size() || slots[i] == kNoNeighbor) {
            if (!full)
                t.error("nexthop_sets", "neighbor table full: no slot for gateway " + net::to_string(refs[i].addr) +
                                            " (neighbor.capacity " + std::to_string(neighbor_.capacity) + ")");
            full = true;
            continue;
        }
        t.new_slots[want[i]] = slots[i];
        got.push_back(slots[i]);
    }
    if (full) {
        nbrs_.release_gateways(got);
        t.new_slots.clear();
        return false;
    }
    return true;
}

// --- applying to the state ------------------------------------------------------------

RouteEntry& TableBuilder::touch(Txn& t, const net::Prefix& p) {
    if (t.from_empty) return p.addr.is_v4() ? routes4_.at(Key4::of(p)) : routes6_.at(Key6::of(p));
    if (p.addr.is_v4()) {
        Key4 k = Key4::of(p);
        auto [it, fresh] = t.touched4.try_emplace(k, t.undo4.size());
        if (fresh) {
            const RouteEntry* e = routes4_.find(k);
            t.undo4.push_back({k, e ? *e : RouteEntry{}, e != nullptr, e ? e->effective() : kNoRoute});
        }
        return routes4_.at(k);
    }
    Key6 k = Key6::of(p);
    auto [it, fresh] = t.touched6.try_emplace(k, t.undo6.size());
    if (fresh) {
        const RouteEntry* e = routes6_.find(k);
        t.undo6.push_back({k, e ? *e : RouteEntry{}, e != nullptr, e ? e->effective() : kNoRoute});
    }
    return routes6_.at(k);
}

// The FIB entries an interface address implies (RFC 1812 5.3.5: the subnet
// broadcast is ours too, not forwarded).
void TableBuilder::add_address(Txn& t, uint16_t port, const net::Prefix& a, int delta) {
    bool v6 = a.addr.is_v6();
    net::Prefix host{a.addr, uint8_t(v6 ? 128 : 32)};
    auto local = [&](const net::Prefix& p) {
        RouteEntry& e = touch(t, p);
        e.local_refs = uint8_t(e.local_refs + delta);
        e.local_port = port;
    };
    local(host);
    if (!v6 && a.len < 31) {
        uint32_t host_mask = a.len == 0 ? ~0u : (~0u >> a.len);
        local(net::Prefix{net::IpAddr::from_v4_host(a.addr.v4_host() | host_mask), 32});
    }
    RouteEntry& c = touch(t, net::network_of(a));
    if (delta > 0) {
        if (c.connected_refs++ == 0) {
            c.connected = registry_.acquire({member_key(port, v6, std::nullopt)}, {});
            t.acquired.push_back(c.connected);
        }
    } else if (--c.connected_refs == 0) {
        t.deferred_release.push_back(c.connected);
        c.connected = kNoRoute;
    }
}

void TableBuilder::mutate(const api::Batch& b, Txn& t) {
    size_t touches = b.routes.size() + 4 * b.addresses.size();
    t.touched4.reserve(touches);
    t.undo4.reserve(touches);
    if (bulk(b.routes.size(), routes4_.installed() + routes6_.installed())) {
        routes4_.reserve(routes4_.entries().size() + b.routes.size());
        routes6_.reserve(routes6_.entries().size() + b.routes.size() / 4);
    }
    t.old_addrs = addrs_;
    t.old_statics = statics_;
    t.old_static_routes = static_routes_;
    for (int pass = 0; pass < 2; ++pass) {  // deletions first, so a move between ports works
        for (size_t i = 0; i < b.addresses.size(); ++i) {
            const auto& u = b.addresses[i];
            bool del = u.op == api::AddressUpdate::Op::del;
            if (del != (pass == 0)) continue;
            uint16_t port = uint16_t(t.addr_port[i]);
            auto& list = addrs_[port];
            auto it = std::find(list.begin(), list.end(), u.address);
            if (del && it != list.end()) {
                list.erase(it);
                add_address(t, port, u.address, -1);
            } else if (!del && it == list.end()) {
                list.push_back(u.address);
                add_address(t, port, u.address, +1);
            }
        }
    }
    auto slot_for = [&t](const MemberKey& m) {
        auto it = t.new_slots.find(m);
        return it == t.new_slots.end() ? kNoNeighbor : it->second;
    };
    // A million routes share a handful of sets: resolve each set once, then
    // take further references on its value.
    std::map<std::pair<uint32_t, bool>, uint64_t> values;
    for (size_t i = 0; i < b.routes.size(); ++i) {
        const auto& u = b.routes[i];
        RouteEntry& e = touch(t, u.prefix);
        if (t.from_empty && e.route != kNoRoute) {
            // Only this request can have set it (validate() left the
            // duplicate check to here for a full load).
            t.error("routes[" + std::to_string(i) + "].prefix", "the same prefix appears twice in this request");
            continue;
        }
        if (e.route != kNoRoute) {
            t.deferred_release.push_back(e.route);
            e.route = kNoRoute;
            --static_routes_;
        }
        if (u.op == api::RouteUpdate::Op::del) continue;
        auto key = std::make_pair(u.nexthops, u.prefix.addr.is_v6());
        auto it = values.find(key);
        if (it == values.end()) {
            it = values.emplace(key, registry_.acquire(t.sets.at(key), slot_for)).first;
        } else {
            registry_.retain(it->second);
        }
        e.route = it->second;
        t.acquired.push_back(e.route);
        ++static_routes_;
    }
    // VIP addresses: a host route each, pointing at the balancer.
    for (size_t i = 0; i < t.lb.addresses.size(); ++i) {
        const auto& a = t.lb.addresses[i];
        net::Prefix host{a.address, uint8_t(a.address.is_v6() ? 128 : 32)};
        RouteEntry& e = touch(t, host);
        e.vip = a.add ? a.index + 1 : 0;
        if (a.add && e.local_refs)
            t.error("vips", net::to_string(a.address) + " is one of the ports' own addresses; a VIP needs an address "
                            "of its own");
        if (a.add && e.route != kNoRoute)
            t.error("vips", net::to_string(a.address) + " is also a route's prefix (" + net::to_string(host) +
                            "); remove the route or change the VIP");
    }
    // A route on an address that is still a VIP's after the batch (checked
    // after both loops: the batch may move an address from one to the other).
    if (!lb_.tables()->addresses.empty() || !t.lb.addresses.empty()) {
        for (size_t i = 0; i < b.routes.size(); ++i) {
            const auto& u = b.routes[i];
            if (u.op != api::RouteUpdate::Op::set || u.prefix.len != (u.prefix.addr.is_v6() ? 128 : 32)) continue;
            const RouteEntry* e = u.prefix.addr.is_v6() ? routes6_.find(Key6::of(u.prefix)) : routes4_.find(Key4::of(u.prefix));
            bool added_now = false;
            for (const auto& a : t.lb.addresses) added_now |= a.add && a.address == u.prefix.addr;
            if (e && e->vip && !added_now)
                t.error("routes[" + std::to_string(i) + "].prefix",
                        net::to_string(u.prefix) + " is a VIP's address; a route cannot have exactly that prefix");
        }
    }
    for (const auto& [k, mac] : t.new_statics) {
        auto it = statics_.find(k);
        if (it == statics_.end() || it->second != mac) t.nbr_ops.push_back({true, k.first, k.second, mac});
    }
    for (const auto& [k, mac] : statics_)
        if (!t.new_statics.count(k)) t.nbr_ops.push_back({false, k.first, k.second, mac});
    statics_ = t.new_statics;
}

// Gateways of routes the batch did not touch must still be on a connected
// subnet when an address went away.
bool TableBuilder::check_after(Txn& t) {
    if (t.addr_removed_ports.empty()) return true;
    for (const MemberKey& m : registry_.gateways_in_use_after(t.deferred_release)) {
        if (!t.addr_removed_ports.count(m.port)) continue;
        net::IpAddr g = gw_addr(m);
        if (net::is_link_local6(g)) continue;
        bool ok = false;
        for (const auto& a : addrs_[m.port]) ok |= net::contains(net::network_of(a), g);
        if (!ok)
            t.error("addresses", "routes via " + net::to_string(g) + " on port " + ports_.name(m.port) +
                                     " would have no connected subnet for their gateway; change or remove those "
                                     "routes in the same request");
    }
    return t.res.errors.empty();
}

void TableBuilder::settle(Txn& t) {
    t.settled = true;
    if (t.from_empty) {
        routes4_.recount();
        routes6_.recount();
        return;
    }
    for (const auto& u : t.undo4) routes4_.settle(u.k, u.before);
    for (const auto& u : t.undo6) routes6_.settle(u.k, u.before);
}

void TableBuilder::fib_ops(Txn& t) {
    t.ops_made = true;
    if (t.from_empty) {
        t.bulk4 = t.bulk6 = true;
        long24_.clear();
        for (const auto& [k, e] : routes4_.entries())
            if (k.len() > 24 && e.effective() != kNoRoute) ++long24_[k.addr() >> 8];
        helpers6_.rebuild();
        t.res.routes_changed = uint32_t(routes4_.entries().size() + routes6_.entries().size());
        return;
    }
    t.bulk4 = bulk(t.undo4.size(), routes4_.installed()) || !fib4_.current();
    // IPv6 is rebuilt too when tombstones (fib6_helpers.hpp) have grown to a
    // quarter of its entries, or when an undo left the helper state out of
    // step with the published copy.
    t.bulk6 = bulk(t.undo6.size(), routes6_.installed()) || !fib6_.current() || rebuild6_next_ ||
              helpers6_.idle() * 4 > routes6_.installed() + helpers6_.size() + 4096;
    if (t.bulk6) rebuild6_next_ = false;
    for (const auto& u : t.undo4) {
        uint64_t after = routes4_.value(u.k);
        if (after == u.before) continue;
        if (u.k.len() > 24) {
            uint32_t s24 = u.k.addr() >> 8;
            if (u.before == kNoRoute) ++long24_[s24];
            if (after == kNoRoute && --long24_[s24] == 0) long24_.erase(s24);
        }
        if (!t.bulk4) t.ops4.push_back(FibOp{u.k.prefix(), after, after == kNoRoute});
    }
    if (t.bulk6) {
        helpers6_.rebuild();
    } else {
        for (const auto& u : t.undo6) helpers6_.changed(u.k, u.before, routes6_.value(u.k), t.ops6);
    }
    t.res.routes_changed = uint32_t(t.undo4.size() + t.undo6.size());
    t.res.fib_ops = uint32_t(t.ops4.size() + t.ops6.size());
}

FibCapacity TableBuilder::need4() const { return FibCapacity{uint32_t(routes4_.installed()), uint32_t(long24_.size())}; }
FibCapacity TableBuilder::need6() const {
    return FibCapacity{uint32_t(routes6_.installed() + helpers6_.size()), helpers6_.tbl8_needed()};
}

std::vector<FibOp> TableBuilder::full_ops4() const {
    std::vector<FibOp> ops;
    ops.reserve(routes4_.installed());
    for (const auto& [k, e] : routes4_.entries())
        if (uint64_t v = e.effective(); v != kNoRoute) ops.push_back(FibOp{k.prefix(), v, false});
    // Shortest first: each add then writes only its own range, with no
    // more-specific prefixes to skip; by address within a length, so that
    // consecutive inserts walk the same rib path (cache-warm).
    std::sort(ops.begin(), ops.end(), [](const FibOp& a, const FibOp& b) {
        if (a.prefix.len != b.prefix.len) return a.prefix.len < b.prefix.len;
        return a.prefix.addr.v4_host() < b.prefix.addr.v4_host();
    });
    return ops;
}

bool TableBuilder::commit_fibs(Txn& t, std::string* error) {
    if (!t.ops4.empty() || t.bulk4) {
        FibCommit c = fib4_.commit(t.ops4, t.bulk4, need4(), [this] { return full_ops4(); });
        if (!c.ok) {
            *error = "IPv4 FIB: " + c.error;
            return false;
        }
        t.res.rebuilt |= c.rebuilt;
    }
    if (!t.ops6.empty() || t.bulk6) {
        FibCommit c = fib6_.commit(t.ops6, t.bulk6, need6(), [this] { return helpers6_.full_ops(); });
        if (!c.ok) {
            *error = "IPv6 FIB: " + c.error;
            return false;
        }
        t.res.rebuilt |= c.rebuilt;
    }
    return true;
}

void TableBuilder::undo(Txn& t) {
    if (t.from_empty) {
        routes4_.clear();
        routes6_.clear();
        long24_.clear();
        helpers6_.rebuild();
    }
    for (auto it = t.undo4.rbegin(); it != t.undo4.rend(); ++it) {
        uint64_t now = routes4_.value(it->k);
        if (t.ops_made && it->k.len() > 24 && now != it->before) {
            uint32_t s24 = it->k.addr() >> 8;
            if (it->before == kNoRoute && --long24_[s24] == 0) long24_.erase(s24);
            if (now == kNoRoute && it->before != kNoRoute) ++long24_[s24];
        }
        routes4_.at(it->k) = it->existed ? it->old : RouteEntry{};
        routes4_.settle(it->k, t.settled ? now : it->before);
    }
    for (auto it = t.undo6.rbegin(); it != t.undo6.rend(); ++it) {
        uint64_t now = routes6_.value(it->k);
        routes6_.at(it->k) = it->existed ? it->old : RouteEntry{};
        routes6_.settle(it->k, t.settled ? now : it->before);
    }
    if (t.ops_made) {
        // The helper map is recomputed without the tombstones the published
        // copy holds: patching that copy later would leave them stale, so
        // the next IPv6 change rebuilds both copies.
        helpers6_.rebuild();
        rebuild6_next_ = true;
    }
    std::vector<uint32_t> slots;
    for (uint64_t v : t.acquired) registry_.release(v, slots);
    // New next hops held the slots taken for this batch; give them all back.
    slots.clear();
    for (const auto& [m, s] : t.new_slots) slots.push_back(s);
    if (!slots.empty()) nbrs_.release_gateways(slots);
    addrs_ = t.old_addrs;
    statics_ = t.old_statics;
    static_routes_ = t.old_static_routes;
}

std::shared_ptr<const Interfaces> TableBuilder::interfaces() const {
    auto t = std::make_shared<Interfaces>();
    for (uint16_t p = 0; p < kMaxPorts; ++p) {
        const Port* port = ports_.get(p);
        if (!port) continue;
        Interface& i = t->port[p];
        i.present = true;
        i.port_id = p;
        t->ports = uint16_t(p + 1);
        i.mac = port->info.mac;
        i.mtu = port->spec.mtu;
        i.link_local = link_local_from_mac(i.mac);
        t->eth_src4[p] = eth_src_word(i.mac, 0x0800);
        t->eth_src6[p] = eth_src_word(i.mac, 0x86DD);
        for (const auto& a : addrs_[p]) (a.addr.is_v4() ? i.v4 : i.v6).push_back(a);
    }
    return t;
}

void TableBuilder::publish(Txn& t) {
    auto root = std::make_unique<Root>();
    root->generation = ++generation_;
    if (t.addrs_changed || !ifaces_) ifaces_ = interfaces();
    if (registry_.dirty() || !nexthops_) nexthops_ = registry_.table();
    root->ifaces = ifaces_;
    root->nexthops = nexthops_;
    root->fib4 = fib4_.current();
    root->fib6 = fib6_.current();
    root->workers = workers_;
    root->lb = lb_.tables();
    root->lb_settings = lb_.settings();
    root->routes4 = uint32_t(routes4_.installed());
    root->routes6 = uint32_t(routes6_.installed());
    root->helpers6 = uint32_t(helpers6_.size());
    root->seal();
    out_.publish(std::move(root));
    t.res.applied = true;
    t.res.generation = generation_;
}

api::BatchResult TableBuilder::apply(const api::Batch& b) {
    auto t0 = std::chrono::steady_clock::now();
    auto since = [t0] {
        return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
    };
    Txn t;
    catch_up();
    auto reject = [&]() {
        ++stats_.rejected;
        publish_stats();
        t.res.applied = false;
        t.res.generation = generation_;
        return t.res;
    };
    t.from_empty = routes4_.entries().empty() && routes6_.entries().empty();
    if (!validate(b, t) || !lb_.stage(b, t.res.errors, t.lb)) return reject();
    if (!acquire_gateways(t)) {
        lb_.abort();
        return reject();
    }
    mutate(b, t);
    if (!t.res.errors.empty() || !check_after(t)) {
        undo(t);
        lb_.abort();
        return reject();
    }
    settle(t);
    fib_ops(t);
    std::string err;
    if (!commit_fibs(t, &err)) {
        undo(t);
        lb_.abort();
        catch_up();
        t.error("tables", err);
        return reject();
    }
    // Settings the workers read travel with the tables; the agent's go to it
    // (with static neighbors) before routes that may use them are visible.
    if (b.workers && !(*b.workers == *workers_)) workers_ = std::make_shared<api::WorkerSettings>(*b.workers);
    if (b.neighbor) neighbor_ = *b.neighbor;
    if (b.icmp) icmp_ = *b.icmp;
    if (!t.nbr_ops.empty() || b.neighbor || b.icmp) nbrs_.apply(t.nbr_ops, b.neighbor, b.icmp);
    lb_.commit();
    t.res.maglev_rebuilt = t.lb.maglev_rebuilt;
    publish(t);
    t.res.visible_ns = since();
    std::vector<uint32_t> released;
    for (uint64_t v : t.deferred_release) registry_.release(v, released);
    if (!released.empty()) nbrs_.release_gateways(released);
    nbrs_.published();
    ++stats_.batches;
    if (t.res.rebuilt) ++stats_.rebuilds;
    publish_stats();
    return t.res;
}

// Waits until no reader can hold the roots published before, so the old
// FIB copies are ours again, and brings them up to date. The builder's
// thread calls it when idle (so a batch's reply does not wait for it) and
// every batch calls it first (the spare must be current to be patched).
bool TableBuilder::catch_up() {
    if (fib4_.in_sync() && fib6_.in_sync()) return true;
    for (int attempt = 0; attempt < 100 && !(fib4_.in_sync() && fib6_.in_sync()); ++attempt) {
        rcu_.synchronize();
        rcu_.reclaim();
        std::string err;
        bool ok4 = fib4_.current() ? fib4_.catch_up([this] { return full_ops4(); }, &err) : true;
        bool ok6 = fib6_.current() ? fib6_.catch_up([this] { return helpers6_.full_ops(); }, &err) : true;
        if (!err.empty()) {
            // Out of memory for the second copy: the next batch rebuilds it.
            break;
        }
        if (ok4 && ok6) break;
    }
    publish_stats();
    return fib4_.in_sync() && fib6_.in_sync();
}

}  // namespace sluice::dp
