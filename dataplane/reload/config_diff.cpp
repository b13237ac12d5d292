#include "dataplane/reload/config_diff.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "config/load.hpp"
#include "config/rdma.hpp"
#include "dataplane/tables/builder.hpp"

namespace sluice::dp {

FixedAtStart FixedAtStart::of(const config::Config& c) {
    FixedAtStart f;
    f.mbufs = c.mbufs;
    f.mbuf_cache = c.mbuf_cache;
    f.neighbor_capacity = c.neighbor.capacity;
    f.lb_flow_table_size = c.lb.flow_table_size;
    for (const auto& p : c.ports) f.ports.push_back(p);
    f.control_socket = c.control.socket;
    f.control_group = c.control.group;
    f.control_max_message = c.control.max_message;
    f.rdma_peers = c.rdma_peers;
    return f;
}

std::vector<std::string> restart_only_changes(const config::Config& next, const FixedAtStart& fixed) {
    std::vector<std::string> out;
    const std::string& file = next.source;
    auto restart = [&](const std::string& field, const std::string& was, const std::string& now) {
        out.push_back(file + ": " + field + ": cannot change at run time (was " + was + ", now " + now +
                      "); restart to change it");
    };
    if (next.mbufs != fixed.mbufs) restart("mbufs", std::to_string(fixed.mbufs), std::to_string(next.mbufs));
    if (next.mbuf_cache != fixed.mbuf_cache)
        restart("mbuf_cache", std::to_string(fixed.mbuf_cache), std::to_string(next.mbuf_cache));
    if (next.neighbor.capacity != fixed.neighbor_capacity)
        restart("neighbor.capacity", std::to_string(fixed.neighbor_capacity), std::to_string(next.neighbor.capacity));
    if (next.lb.flow_table_size != fixed.lb_flow_table_size)
        restart("lb.flow_table_size", std::to_string(fixed.lb_flow_table_size),
                std::to_string(next.lb.flow_table_size));
    // The channel listens on one socket with one access policy for the
    // process's life; the control process's own fields (cli_socket,
    // metrics, cores) are not the data plane's to check.
    auto quoted = [](const std::string& v) { return "\"" + v + "\""; };
    if (next.control.socket != fixed.control_socket)
        restart("control.socket", quoted(fixed.control_socket), quoted(next.control.socket));
    if (next.control.group != fixed.control_group)
        restart("control.group", quoted(fixed.control_group), quoted(next.control.group));
    if (next.control.max_message != fixed.control_max_message)
        restart("control.max_message", std::to_string(fixed.control_max_message),
                std::to_string(next.control.max_message));
    // An RDMA peer's queue pair, registered memory and worker are set up
    // once (docs/config.md, "rdma"): no field of it reloads.
    if (next.rdma_peers.size() != fixed.rdma_peers.size()) {
        out.push_back(file + ": rdma.peers: the number of RDMA peers changed from " +
                      std::to_string(fixed.rdma_peers.size()) + " to " + std::to_string(next.rdma_peers.size()) +
                      "; peers cannot be added or removed without a restart");
    } else {
        for (size_t i = 0; i < next.rdma_peers.size(); ++i) {
            auto fields = config::changed_rdma_fields(fixed.rdma_peers[i], next.rdma_peers[i]);
            if (fields.empty()) continue;
            std::string names;
            for (auto f : fields) names += (names.empty() ? "" : ", ") + std::string(f);
            out.push_back(file + ":" + std::to_string(next.rdma_peers[i].mark.line) + ": rdma.peers[" +
                          std::to_string(i) + "]: " + names + " cannot change at run time (restart to change " +
                          (fields.size() == 1 ? "it" : "them") + "); no RDMA peer field reloads");
        }
    }
    if (next.ports.size() != fixed.ports.size()) {
        out.push_back(file + ": ports: the number of ports changed from " + std::to_string(fixed.ports.size()) +
                      " to " + std::to_string(next.ports.size()) +
                      "; ports cannot be added or removed without a restart");
        return out;
    }
    for (size_t i = 0; i < next.ports.size(); ++i) {
        const net::PortSpec& now = next.ports[i];
        auto fields = net::changed_fields(fixed.ports[i], now);
        if (fields.empty()) continue;
        std::string names;
        for (auto f : fields) names += (names.empty() ? "" : ", ") + std::string(f);
        out.push_back(file + ":" + std::to_string(next.ports[i].mark.line) + ": ports[" + std::to_string(i) + "]: " +
                      names + " cannot change at run time (restart to change " +
                      (fields.size() == 1 ? "it" : "them") + "); only addresses reload");
    }
    return out;
}

namespace {

// Interns next-hop lists so a table of a million routes over a few
// gateways carries a few sets. The config's own lists are compared (no
// conversion per route); consecutive routes usually share one, so the last
// one is checked first, then (few sets, the usual case) every one.
class SetInterner {
public:
    explicit SetInterner(api::Batch& b) : b_(b) {}
    uint32_t index(const std::vector<config::NextHop>& hops) {
        if (!seen_.empty() && seen_[last_] == hops) return last_;
        if (seen_.size() <= kLinear) {
            for (uint32_t i = 0; i < seen_.size(); ++i)
                if (seen_[i] == hops) return last_ = i;
        } else if (auto it = ids_.find(hops); it != ids_.end()) {
            return last_ = it->second;
        }
        last_ = uint32_t(seen_.size());
        seen_.push_back(hops);
        ids_.emplace(hops, last_);
        std::vector<api::Nexthop> set;
        for (const auto& h : hops) set.push_back(api::Nexthop{h.via, h.port});
        b_.nexthop_sets.push_back(std::move(set));
        return last_;
    }

private:
    static constexpr size_t kLinear = 16;
    api::Batch& b_;
    std::vector<std::vector<config::NextHop>> seen_;  // parallel to b_.nexthop_sets
    std::map<std::vector<config::NextHop>, uint32_t> ids_;
    uint32_t last_ = 0;
};

// The order-free form of a VIP: backends by (address, port), encap_source
// by family (at most one each), as the data plane builds its tables.
api::Vip canonical(const api::Vip& v) {
    api::Vip c = v;
    std::sort(c.backends.begin(), c.backends.end(), [](const api::Backend& a, const api::Backend& b) {
        return std::tie(a.address, a.port, a.weight, a.state) < std::tie(b.address, b.port, b.weight, b.state);
    });
    std::sort(c.encap_source.begin(), c.encap_source.end());
    return c;
}

}  // namespace

void diff_vips(const std::vector<config::VipConfig>& next, const std::map<api::VipKey, api::Vip>& running,
               api::Batch& out) {
    std::set<api::VipKey> wanted;
    for (const config::VipConfig& v : next) {
        const api::Vip& vip = v;
        wanted.insert(vip.key);
        auto it = running.find(vip.key);
        if (it != running.end() && canonical(it->second) == canonical(vip)) continue;
        out.vips.push_back({api::VipUpdate::Op::set, vip});
    }
    for (const auto& [key, vip] : running) {
        if (wanted.count(key)) continue;
        api::VipUpdate del;
        del.op = api::VipUpdate::Op::del;
        del.vip.key = key;
        del.vip.name = vip.name;  // for the builder's messages; only the key is read
        out.vips.push_back(std::move(del));
    }
}

void diff_settings_and_addresses(const config::Config& next, const TableBuilder& running, api::Batch& b) {
    if (!(next.workers == running.workers())) b.workers = next.workers;
    if (!(next.neighbor == running.neighbor())) b.neighbor = next.neighbor;
    if (!(next.icmp == running.icmp())) b.icmp = next.icmp;
    // lb.flow_table_size is restart only: restart_only_changes() refuses a
    // file that changes it before this runs.
    if (!(next.lb == running.lb())) b.lb = next.lb;

    // Addresses: a port whose list differs in any way (order included: the
    // first address of a family is the source of ICMP errors) is replaced
    // whole, in one publication.
    auto diff_addresses = [&](const std::string& name, const std::vector<net::Prefix>& want) {
        int id = running.port_id(name);
        if (id < 0) return;
        const auto& have = running.addresses(uint16_t(id));
        if (have == want) return;
        for (const auto& a : have) b.addresses.push_back({api::AddressUpdate::Op::del, name, a});
        for (const auto& a : want) b.addresses.push_back({api::AddressUpdate::Op::add, name, a});
    };
    for (const auto& pc : next.ports) diff_addresses(pc.name, pc.addresses);
    // An RDMA peer is a port to the tables (dataplane/rdma/rdma_ports.hpp);
    // its addresses are restart-only, so this adds them once, at start-up.
    for (const auto& rp : next.rdma_peers) diff_addresses(rp.name, rp.addresses);
}

void diff_routes(const std::vector<config::Route>& next, TableBuilder& running, api::Batch& b) {
    // One lookup each against the running table (marking what `next` still
    // has), then whatever was not marked goes.
    SetInterner sets(b);
    std::map<std::pair<uint32_t, bool>, uint64_t> set_values;
    uint32_t mark = running.next_mark();
    for (const auto& r : next) {
        bool v6 = r.prefix.addr.is_v6();
        uint32_t idx = sets.index(r.nexthops);
        auto sv = set_values.find({idx, v6});
        if (sv == set_values.end())
            sv = set_values.emplace(std::make_pair(idx, v6), running.value_of(b.nexthop_sets[idx], v6)).first;
        uint64_t have = running.route_value(r.prefix, mark);
        if (have == kNoRoute || have != sv->second) b.routes.push_back({api::RouteUpdate::Op::set, r.prefix, idx});
    }
    running.for_each_unmarked_route(mark, [&](const net::Prefix& p) {
        b.routes.push_back({api::RouteUpdate::Op::del, p, 0});
    });
}

void diff_neighbors(const std::vector<config::StaticNeighbor>& next, const TableBuilder& running, api::Batch& b) {
    std::set<std::pair<uint16_t, net::IpAddr>> wanted;
    for (const auto& n : next) {
        int id = running.port_id(n.port);
        if (id < 0) continue;
        auto key = std::make_pair(uint16_t(id), n.address);
        wanted.insert(key);
        auto it = running.static_neighbors().find(key);
        if (it == running.static_neighbors().end() || it->second != n.mac)
            b.neighbors.push_back({api::NeighborUpdate::Op::set, n.port, n.address, n.mac});
    }
    for (const auto& [key, mac] : running.static_neighbors())
        if (!wanted.count(key))
            b.neighbors.push_back({api::NeighborUpdate::Op::clear, running.port_name(key.first), key.second, mac});
}

void diff_vips(const std::vector<config::VipConfig>& next, const TableBuilder& running, api::Batch& out) {
    diff_vips(next, running.vips(), out);
}

api::Batch diff_config(const config::Config& next, TableBuilder& running, DiffScope scope) {
    api::Batch b;
    diff_settings_and_addresses(next, running, b);
    if (scope == DiffScope::settings_and_addresses) return b;
    diff_routes(next.routes, running, b);
    diff_neighbors(next.neighbors, running, b);
    diff_vips(next.vips, running, b);
    return b;
}

}  // namespace sluice::dp
