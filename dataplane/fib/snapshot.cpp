#include "dataplane/fib/snapshot.hpp"
#include "dataplane/fib/fib_plan.hpp"
#include "config/load.hpp"
#include "dataplane/pkt/flow_hash.hpp"
#include "dataplane/pkt/ip.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <tuple>

#include <rte_errno.h>
#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_memory.h>

namespace sluice::dp {

using config::IpAddr;
using config::Prefix;

Snapshot::~Snapshot() {
    rte_fib_free(fib4);
    rte_fib6_free(fib6);
}

uint64_t Snapshot::lookup4(uint32_t dst_host) const {
    uint64_t nh = 0;
    rte_fib_lookup_bulk(fib4, &dst_host, &nh, 1);
    return nh;
}

uint64_t Snapshot::lookup6(const uint8_t dst[16]) const {
    uint8_t ips[1][16];
    std::memcpy(ips[0], dst, 16);
    uint64_t nh = 0;
    rte_fib6_lookup_bulk(fib6, ips, &nh, 1);
    return nh;
}

Snapshot::RouteResult Snapshot::route(const uint8_t* ip, uint32_t avail) const {
    bool v6 = (ip[0] >> 4) == 6;
    uint64_t nhv = v6 ? lookup6(ip + 24) : lookup4(pkt::ipv4_dst(ip));
    RouteResult r{nh_kind(nhv), nullptr};
    uint32_t idx = nh_index(nhv);
    if (r.kind == NhKind::group)
        idx = group_members[ecmp_pick(groups[idx], v6 ? pkt::flow_hash_v6(ip, avail) : pkt::flow_hash_v4(ip, avail))];
    if (r.kind == NhKind::single || r.kind == NhKind::group) r.nh = &nexthops[idx];
    return r;
}

bool Snapshot::is_local(uint16_t port, const IpAddr& addr) const {
    if (port >= kMaxPorts || !ifaces[port].present) return false;
    const Interface& i = ifaces[port];
    if (addr.is_v4()) {
        for (const auto& p : i.v4)
            if (p.addr == addr) return true;
        return false;
    }
    if (std::memcmp(addr.bytes.data(), i.link_local.data(), 16) == 0) return true;
    for (const auto& p : i.v6)
        if (p.addr == addr) return true;
    return false;
}

const uint8_t* Snapshot::source_address4(uint16_t port) const {
    if (port >= kMaxPorts || ifaces[port].v4.empty()) return nullptr;
    return ifaces[port].v4.front().addr.bytes.data();
}

const uint8_t* Snapshot::source_address6(uint16_t port) const {
    if (port >= kMaxPorts || !ifaces[port].present) return nullptr;
    if (!ifaces[port].v6.empty()) return ifaces[port].v6.front().addr.bytes.data();
    return ifaces[port].link_local.data();
}

namespace {

Prefix host_route(const IpAddr& a) { return Prefix{a, uint8_t(a.is_v4() ? 32 : 128)}; }

class Builder {
public:
    Builder(const config::Config& cfg, const SnapshotEnv& env, Snapshot& s) : cfg_(cfg), env_(env), s_(s) {}

    std::string run(uint64_t version) {
        if (auto e = interfaces(); !e.empty()) return e;
        if (auto e = connected(); !e.empty()) return e;
        if (auto e = routes(); !e.empty()) return e;
        return create_fibs(version);
    }

private:
    std::string interfaces() {
        for (const auto& pc : cfg_.ports) {
            int id = env_.port_id(pc.name);
            if (id < 0 || id >= kMaxPorts) return "port " + pc.name + " is not open";
            Interface& i = s_.ifaces[size_t(id)];
            i.present = true;
            i.port_id = uint16_t(id);
            i.name = pc.name;
            i.mac = env_.port_mac(uint16_t(id));
            i.mtu = pc.mtu;
            for (const auto& a : pc.addresses) (a.addr.is_v4() ? i.v4 : i.v6).push_back(a);
            i.link_local = link_local_from_mac(i.mac);
        }
        return {};
    }

    // One on-link next hop per (port, family); connected subnets point at it.
    uint32_t onlink_nexthop(uint16_t port, bool v6) {
        auto key = std::make_tuple(port, v6, std::array<uint8_t, 16>{}, true);
        auto it = nh_index_.find(key);
        if (it != nh_index_.end()) return it->second;
        NextHop nh;
        nh.port = port;
        nh.mtu = s_.ifaces[port].mtu;
        nh.v6 = v6;
        s_.nexthops.push_back(nh);
        return nh_index_[key] = uint32_t(s_.nexthops.size() - 1);
    }

    std::string gateway_nexthop(uint16_t port, const IpAddr& gw, uint32_t* out) {
        auto key = std::make_tuple(port, gw.is_v6(), gw.bytes, false);
        if (auto it = nh_index_.find(key); it != nh_index_.end()) {
            *out = it->second;
            return {};
        }
        NextHop nh;
        nh.port = port;
        nh.mtu = s_.ifaces[port].mtu;
        nh.v6 = gw.is_v6();
        nh.gateway = gw.bytes;
        nh.neighbor = env_.gateway_slot(port, gw);
        if (nh.neighbor == kNoNeighbor) return "neighbor table full: cannot add gateway " + config::to_string(gw);
        s_.nexthops.push_back(nh);
        *out = nh_index_[key] = uint32_t(s_.nexthops.size() - 1);
        return {};
    }

    std::string connected() {
        for (const auto& i : s_.ifaces) {
            if (!i.present) continue;
            for (const auto& a : i.v4) {
                add(config::network_of(a), nh_encode(NhKind::single, onlink_nexthop(i.port_id, false)));
                add(host_route(a.addr), nh_encode(NhKind::local, i.port_id));
                if (a.len < 31) {  // subnet broadcast is ours too (RFC 1812 5.3.5: not forwarded)
                    uint32_t host_mask = a.len == 0 ? ~0u : (~0u >> a.len);
                    add(host_route(IpAddr::from_v4_host(a.addr.v4_host() | host_mask)),
                        nh_encode(NhKind::local, i.port_id));
                }
            }
            for (const auto& a : i.v6) {
                add(config::network_of(a), nh_encode(NhKind::single, onlink_nexthop(i.port_id, true)));
                add(host_route(a.addr), nh_encode(NhKind::local, i.port_id));
            }
        }
        return {};
    }

    std::string routes() {
        for (const auto& r : cfg_.routes) {
            std::vector<uint32_t> members;
            for (const auto& h : r.nexthops) {
                int id = env_.port_id(h.port);
                if (id < 0) return "route " + config::to_string(r.prefix) + ": port '" + h.port + "' is not open";
                uint32_t idx = 0;
                if (h.via) {
                    if (auto e = gateway_nexthop(uint16_t(id), *h.via, &idx); !e.empty()) return e;
                } else {
                    idx = onlink_nexthop(uint16_t(id), r.prefix.addr.is_v6());
                }
                members.push_back(idx);
            }
            if (members.empty()) return "route " + config::to_string(r.prefix) + " has no next hop";
            if (members.size() == 1) {
                add(r.prefix, nh_encode(NhKind::single, members[0]));
                continue;
            }
            // Stable member order (by gateway, then port), never the order
            // written in the file: reordering the config must not move flows.
            std::sort(members.begin(), members.end(), [&](uint32_t a, uint32_t b) {
                const NextHop& x = s_.nexthops[a];
                const NextHop& y = s_.nexthops[b];
                return std::tie(x.gateway, x.port) < std::tie(y.gateway, y.port);
            });
            EcmpGroup g{uint32_t(s_.group_members.size()), uint32_t(members.size())};
            s_.group_members.insert(s_.group_members.end(), members.begin(), members.end());
            s_.groups.push_back(g);
            add(r.prefix, nh_encode(NhKind::group, uint32_t(s_.groups.size() - 1)));
        }
        if (s_.nexthops.size() >= kMaxNexthops || s_.groups.size() >= kMaxNexthops)
            return "too many next hops";
        return {};
    }

    void add(const Prefix& p, uint64_t value) { (p.addr.is_v4() ? v4_ : v6_).push_back({p, value}); }

    std::string create_fibs(uint64_t version) {
        // A config may name the same prefix as a connected subnet and a
        // route; the later entry wins, as in the order added (routes last).
        Fib6Plan plan6 = plan_fib6(v6_);
        uint32_t tbl8_4 = fib4_tbl8_needed(v4_);
        // The estimates follow DPDK 22.11's reservation rules; should a
        // build still run out of groups (-ENOSPC), it retries with twice
        // the groups, a bounded number of times.
        std::string err;
        for (uint32_t scale = 1; scale <= 8; scale *= 2) {
            err = fill_fibs(version, plan6, tbl8_4, scale);
            if (err != "ENOSPC") return err;
            rte_fib_free(s_.fib4);
            rte_fib6_free(s_.fib6);
            s_.fib4 = nullptr;
            s_.fib6 = nullptr;
        }
        return "the FIB ran out of tbl8 groups even at 8x the estimate (" + std::to_string(tbl8_4) + " IPv4, " +
               std::to_string(plan6.tbl8_needed) + " IPv6)";
    }

    // "" on success, "ENOSPC" when a table ran out of tbl8 groups, else a
    // message.
    std::string fill_fibs(uint64_t version, const Fib6Plan& plan6, uint32_t tbl8_4, uint32_t scale) {
        std::string name4 = "sl4_" + std::to_string(version) + "_" + std::to_string(scale);
        std::string name6 = "sl6_" + std::to_string(version) + "_" + std::to_string(scale);

        rte_fib_conf c4{};
        c4.type = RTE_FIB_DIR24_8;
        c4.default_nh = nh_encode(NhKind::none, 0);
        c4.max_routes = int(v4_.size() + 16);
        c4.dir24_8.nh_sz = RTE_FIB_DIR24_8_4B;
        c4.dir24_8.num_tbl8 = std::max<uint32_t>(256, (tbl8_4 + 64) * scale);
        s_.fib4 = rte_fib_create(name4.c_str(), SOCKET_ID_ANY, &c4);
        if (!s_.fib4) return "rte_fib_create(" + name4 + "): " + rte_strerror(rte_errno);

        rte_fib6_conf c6{};
        c6.type = RTE_FIB6_TRIE;
        c6.default_nh = nh_encode(NhKind::none, 0);
        c6.max_routes = int(plan6.steps.size() + 16);
        c6.trie.nh_sz = RTE_FIB6_TRIE_4B;
        c6.trie.num_tbl8 = std::max<uint32_t>(256, (plan6.tbl8_needed + 64) * scale);
        s_.fib6 = rte_fib6_create(name6.c_str(), SOCKET_ID_ANY, &c6);
        if (!s_.fib6) return "rte_fib6_create(" + name6 + "): " + rte_strerror(rte_errno);

        for (const auto& e : v4_) {
            int rc = rte_fib_add(s_.fib4, e.prefix.addr.v4_host(), e.prefix.len, e.value);
            if (rc == -ENOSPC) return "ENOSPC";
            if (rc < 0) return "rte_fib_add(" + config::to_string(e.prefix) + "): " + rte_strerror(-rc);
        }
        for (const auto& st : plan6.steps) {
            uint64_t value = st.value;
            if (st.helper) {
                uint8_t ip[1][16];
                std::memcpy(ip[0], st.prefix.addr.bytes.data(), 16);
                rte_fib6_lookup_bulk(s_.fib6, ip, &value, 1);
            }
            int rc = rte_fib6_add(s_.fib6, st.prefix.addr.bytes.data(), st.prefix.len, value);
            if (rc == -ENOSPC) return "ENOSPC";
            if (rc < 0) return "rte_fib6_add(" + config::to_string(st.prefix) + "): " + rte_strerror(-rc);
        }
        s_.routes4 = uint32_t(v4_.size());
        s_.routes6 = uint32_t(v6_.size());
        s_.fib6_helpers = plan6.helpers;
        s_.fib_tbl8_scale = scale;
        return {};
    }

    const config::Config& cfg_;
    const SnapshotEnv& env_;
    Snapshot& s_;
    std::map<std::tuple<uint16_t, bool, std::array<uint8_t, 16>, bool>, uint32_t> nh_index_;
    // Every (prefix -> value) pair, collected first so the FIBs can be
    // sized before anything is added (fib_plan.hpp).
    std::vector<FibEntry> v4_, v6_;
};

}  // namespace

BuildResult build_snapshot(std::shared_ptr<const config::Config> cfg, const SnapshotEnv& env, uint64_t version) {
    BuildResult r;
    auto s = std::make_unique<Snapshot>();
    s->version = version;
    s->config = cfg;
    Builder b(*cfg, env, *s);
    r.error = b.run(version);
    if (r.error.empty()) r.snapshot = std::move(s);
    return r;
}

}  // namespace sluice::dp
