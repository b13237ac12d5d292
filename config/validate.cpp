// Semantic checks over a typed Config. Every problem is reported (no early
// return), each naming the field path in the Config model
// ("routes[2].nexthops[0].via") and the SourceMark of the enclosing port,
// route or neighbor. parse_config() refines paths and positions with what it
// knows about the YAML (e.g. "routes[2].via" and the line of that value).
#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "config/index_table.hpp"
#include "api/addr_class.hpp"
#include "config/control.hpp"
#include "config/load.hpp"
#include "config/rdma.hpp"
#include "config/rules.hpp"

namespace sluice::config {

namespace {

const char* family_name(const IpAddr& a) { return a.is_v4() ? "IPv4" : "IPv6"; }


// The address classes are shared with the data plane's own checks of
// update requests (api/addr_class.hpp), so both say the same.
using net::non_unicast_reason;
using net::v4_edge;

// network_of(p) == p, without building it: no bit set past the length.
bool host_bits_clear(const Prefix& p) {
    uint64_t hi = 0, lo = 0;  // the 128 address bits, big-endian order
    std::memcpy(&hi, p.addr.bytes.data(), 8);
    std::memcpy(&lo, p.addr.bytes.data() + 8, 8);
    hi = __builtin_bswap64(hi);
    lo = __builtin_bswap64(lo);
    unsigned len = std::min<unsigned>(p.len, max_len(p.addr));
    uint64_t host_hi = len >= 64 ? 0 : ~uint64_t(0) >> len;
    uint64_t host_lo = len <= 64 ? ~uint64_t(0) : len >= 128 ? 0 : ~uint64_t(0) >> (len - 64);
    return (hi & host_hi) == 0 && (lo & host_lo) == 0;
}

// A route prefix the duplicate check looks at: length and host bits fine.
bool valid_route_prefix(const Prefix& p) { return p.len <= max_len(p.addr) && host_bits_clear(p); }

using net::mac_problem;

bool valid_port_name(const std::string& n) {
    if (n.empty() || n.size() > rules::kMaxNameLen) return false;
    return std::all_of(n.begin(), n.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}

std::string at_line(const SourceMark& m) { return m.line > 0 ? ", line " + std::to_string(m.line) : std::string(); }


// An interface is a port (0 .. ports.size() - 1) or an RDMA peer
// (ports.size() + k for rdma_peers[k]): to routes and static neighbors a
// peer is a port (docs/config.md, "rdma").
struct Connected {
    size_t port;   // interface index
    size_t index;  // in that interface's addresses
    Prefix net;    // network_of(address)
};

class Validator {
public:
    // With `fill` (the same Config as c), also sets the port of each gateway
    // written without one, as its check finds it.
    explicit Validator(const Config& c, Config* fill = nullptr) : cfg_(c), fill_(fill) {}

    std::vector<ConfigError> run() {
        globals();
        ports();
        peers();
        routes();
        neighbors();
        rules::validate_lb(cfg_, errs_);
        rules::validate_control(cfg_, errs_);
        rules::validate_rdma(cfg_, errs_);
        return std::move(errs_);
    }

private:
    void err(const SourceMark& m, std::string field, std::string msg) {
        ConfigError e;
        e.file = file_of(m);
        e.line = m.line;
        e.column = m.column;
        e.field = std::move(field);
        e.message = std::move(msg);
        errs_.push_back(std::move(e));
    }

    void range(const rules::Range& r, uint64_t v, const std::string& field, const SourceMark& m = {}) {
        if (!r.ok(v)) err(m, field, std::string("expected ") + r.text + ", got " + std::to_string(v));
    }

    void globals() {
        range(rules::kMbufs, cfg_.mbufs, "mbufs");
        range(rules::kMbufCache, cfg_.mbuf_cache, "mbuf_cache");
        range(rules::kBurst, cfg_.workers.burst, "workers.burst");
        const IdleBackoff& b = cfg_.workers.idle;
        if (b.sleep_after < b.pause_after)
            err({}, "workers.idle_backoff.sleep_after",
                "expected sleep_after >= pause_after (" + std::to_string(b.pause_after) + "), got " +
                    std::to_string(b.sleep_after));
        const NeighborConfig& n = cfg_.neighbor;
        range(rules::kNeighborCapacity, n.capacity, "neighbor.capacity");
        range(rules::kPositiveU32, n.reachable_ms, "neighbor.reachable_ms");
        range(rules::kPositiveU32, n.retrans_ms, "neighbor.retrans_ms");
        range(rules::kPositiveU32, n.max_probes, "neighbor.max_probes");
        range(rules::kMaxPending, n.max_pending, "neighbor.max_pending");
        if (rules::kMaxPending.ok(n.max_pending) && rules::kNeighborCapacity.ok(n.capacity) &&
            uint64_t(n.capacity) * n.max_pending > rules::kMaxPendingSlots)
            err({}, "neighbor.max_pending",
                "capacity x max_pending is " + std::to_string(uint64_t(n.capacity) * n.max_pending) +
                    " queued-packet slots; expected at most " + std::to_string(rules::kMaxPendingSlots) +
                    " (they are preallocated, 8 bytes each): lower max_pending or capacity");
        range(rules::kPositiveU32, cfg_.icmp.burst, "icmp.burst");
    }

    // A port or an RDMA peer of that name (its interface index in *index).
    bool find_port(const std::string& name, size_t* index) const {
        auto it = port_index_.find(name);
        if (it == port_index_.end()) return false;
        *index = it->second;
        return true;
    }

    bool is_peer(size_t iface) const { return iface >= cfg_.ports.size(); }
    const RdmaPeerConfig& peer_of(size_t iface) const { return cfg_.rdma_peers[iface - cfg_.ports.size()]; }
    const std::string& iface_name(size_t iface) const {
        return is_peer(iface) ? peer_of(iface).name : cfg_.ports[iface].name;
    }

    std::string port_list() const {
        std::string s;
        const size_t n = cfg_.ports.size() + cfg_.rdma_peers.size();
        for (size_t i = 0; i < n; ++i) {
            const std::string& name = iface_name(i);
            auto it = port_index_.find(name);
            if (it == port_index_.end() || it->second != i) continue;
            if (!s.empty()) s += ", ";
            s += name;
            if (is_peer(i)) s += " (RDMA peer)";
        }
        return s.empty() ? "(none)" : s;
    }

    std::string unknown_port(const std::string& name) const {
        return "unknown port \"" + name + "\"; defined ports: " + port_list();
    }

    // "198.18.1.0/24, 198.18.5.0/24" for one port and family, or a phrase.
    std::string subnets_of(size_t port, const IpAddr& family) const {
        std::string s;
        for (const auto& c : connected_) {
            if (c.port != port || c.net.addr.family != family.family) continue;
            if (!s.empty()) s += ", ";
            s += to_string(c.net);
        }
        if (s.empty()) return iface_name(port) + " has no " + family_name(family) + " address";
        return iface_name(port) + " has " + s;
    }

    const Connected* connected_in(size_t port, const IpAddr& a) const {
        for (const auto& c : connected_)
            if (c.port == port && contains(c.net, a)) return &c;
        return nullptr;
    }
    const Connected* connected_any(const IpAddr& a) const {
        for (const auto& c : connected_)
            if (contains(c.net, a)) return &c;
        return nullptr;
    }

    // "(ports[0].addresses[1] on port p0)" when a is one of ours, else empty.
    std::string own_address(const IpAddr& a) const {
        auto it = own_.find(a);
        if (it == own_.end()) return {};
        const auto [i, j] = it->second;
        if (is_peer(i))
            return "rdma.peers[" + std::to_string(i - cfg_.ports.size()) + "].addresses[" + std::to_string(j) +
                   "] on RDMA peer " + iface_name(i);
        return "ports[" + std::to_string(i) + "].addresses[" + std::to_string(j) + "] on port " + iface_name(i);
    }

    void ports() {
        const auto& ps = cfg_.ports;
        if (ps.empty())
            err({}, "ports", "at least one port is required; add a \"ports:\" list with a name and a device per port");
        if (ps.size() > rules::kMaxPorts)
            err(ps[rules::kMaxPorts].mark, "ports",
                "expected at most " + std::to_string(rules::kMaxPorts) + " ports, got " + std::to_string(ps.size()));

        std::map<std::string, size_t> devices;
        std::map<MacAddr, size_t> macs;
        for (size_t i = 0; i < ps.size(); ++i) {
            const PortConfig& p = ps[i];
            const std::string P = "ports[" + std::to_string(i) + "]";

            if (!valid_port_name(p.name)) {
                err(p.mark, P + ".name",
                    "expected a name of 1..15 characters from a-z, 0-9, '_' and '-', got \"" + p.name + "\"");
            } else if (auto [it, fresh] = port_index_.emplace(p.name, i); !fresh) {
                err(p.mark, P + ".name",
                    "duplicate port name \"" + p.name + "\" (first at ports[" + std::to_string(it->second) + "]" +
                        at_line(ps[it->second].mark) + ")");
            }

            if (p.device.empty()) {
                err(p.mark, P + ".device",
                    "expected a DPDK device name or devargs string such as 0000:01:00.0 or net_tap0,iface=sl0, "
                    "got an empty string");
            } else if (p.device.find_first_of(" \t\r\n") != std::string::npos) {
                err(p.mark, P + ".device", "expected a DPDK device string without spaces, got \"" + p.device + "\"");
            } else {
                // "net_tap0,iface=a" and "net_tap0,iface=b" are the same device.
                std::string dev = p.device.substr(0, p.device.find(','));
                if (auto [it, fresh] = devices.emplace(dev, i); !fresh)
                    err(p.mark, P + ".device",
                        "device \"" + dev + "\" is already used by ports[" + std::to_string(it->second) + "] (" +
                            ps[it->second].name + at_line(ps[it->second].mark) + ")");
            }

            range(rules::kRxQueues, p.rx_queues, P + ".rx_queues", p.mark);
            range(rules::kDesc, p.rx_desc, P + ".rx_desc", p.mark);
            range(rules::kDesc, p.tx_desc, P + ".tx_desc", p.mark);
            range(rules::kMtu, p.mtu, P + ".mtu", p.mark);

            if (p.mac) {
                if (auto m = mac_problem(*p.mac); !m.empty()) {
                    err(p.mark, P + ".mac", m);
                } else if (auto [it, fresh] = macs.emplace(*p.mac, i); !fresh) {
                    err(p.mark, P + ".mac",
                        "MAC " + to_string(*p.mac) + " is already used by ports[" + std::to_string(it->second) +
                            "] (" + ps[it->second].name + ")");
                }
            }

            bool has_v6 = false;
            if (p.addresses.size() > rules::kMaxAddressesPerPort)
                err(p.mark, P + ".addresses",
                    "expected at most " + std::to_string(rules::kMaxAddressesPerPort) + " addresses per port, got " +
                        std::to_string(p.addresses.size()));
            size_t n = std::min(p.addresses.size(), rules::kMaxAddressesPerPort);
            for (size_t j = 0; j < n; ++j) {
                const Prefix& a = p.addresses[j];
                has_v6 |= a.addr.is_v6();
                address(i, j, a, P + ".addresses[" + std::to_string(j) + "]");
            }
            if (has_v6 && rules::kMtu.ok(p.mtu) && p.mtu < rules::kMinIpv6Mtu)
                err(p.mark, P + ".mtu",
                    "a port with an IPv6 address needs mtu >= 1280 (RFC 8200), got " + std::to_string(p.mtu));
        }
    }

    // The RDMA peers as interfaces for routes and static neighbors: names,
    // addresses and connected subnets, silently. Their errors (a name or
    // an address a port has, overlapping subnets, ...) are validate_rdma's;
    // what it refuses is left out here, so routes see a consistent set.
    void peers() {
        for (size_t k = 0; k < cfg_.rdma_peers.size(); ++k) {
            const RdmaPeerConfig& p = cfg_.rdma_peers[k];
            const size_t i = cfg_.ports.size() + k;
            if (!valid_port_name(p.name) || !port_index_.emplace(p.name, i).second) continue;
            for (size_t j = 0; j < p.addresses.size() && j < rules::kMaxAddressesPerPort; ++j) {
                const Prefix& a = p.addresses[j];
                if (!rules::usable_interface_address(a) || own_.count(a.addr)) continue;
                Prefix net = network_of(a);
                bool overlaps = std::any_of(connected_.begin(), connected_.end(), [&](const Connected& c) {
                    return c.port != i && c.net.addr.family == net.addr.family &&
                           (contains(c.net, net.addr) || contains(net, c.net.addr));
                });
                if (overlaps) continue;
                own_.emplace(a.addr, std::make_pair(i, j));
                connected_.push_back({i, j, net});
            }
        }
    }

    void address(size_t i, size_t j, const Prefix& a, const std::string& A) {
        const PortConfig& p = cfg_.ports[i];
        const std::string text = to_string(a);
        if (a.len < 1 || a.len > max_len(a.addr)) {
            err(p.mark, A,
                std::string("expected a prefix length 1..") + std::to_string(max_len(a.addr)) + " for an " +
                    family_name(a.addr) + " interface address, got " + text);
            return;
        }
        if (auto r = non_unicast_reason(a.addr); !r.empty()) {
            err(p.mark, A, "interface address " + to_string(a.addr) + " " + r + "; expected a unicast address");
            return;
        }
        if (is_link_local6(a.addr)) {
            err(p.mark, A,
                "link-local address " + text +
                    ": the fe80::/64 address is derived from the port's MAC; configure global addresses only");
            return;
        }
        Prefix net = network_of(a);
        if (auto e = v4_edge(a, a.addr); !e.empty()) {
            err(p.mark, A,
                to_string(a.addr) + " is the " + e + " address of " + to_string(net) + "; expected a host address such as " +
                    to_string(IpAddr::from_v4_host(net.addr.v4_host() + 1)) + "/" + std::to_string(a.len));
            return;
        }
        if (auto [it, fresh] = own_.emplace(a.addr, std::make_pair(i, j)); !fresh) {
            err(p.mark, A,
                "address " + to_string(a.addr) + " is already configured at ports[" + std::to_string(it->second.first) +
                    "].addresses[" + std::to_string(it->second.second) + "]");
            return;
        }
        for (const auto& c : connected_) {
            if (c.port == i || c.net.addr.family != a.addr.family) continue;
            if (contains(c.net, net.addr) || contains(net, c.net.addr)) {
                err(p.mark, A,
                    "subnet " + to_string(net) + " overlaps " + to_string(c.net) + " of port " +
                        iface_name(c.port) + " (ports[" + std::to_string(c.port) + "].addresses[" +
                        std::to_string(c.index) + "]); each port needs its own subnet");
                return;
            }
        }
        connected_.push_back({i, j, net});
    }

    std::string file_of(const SourceMark& m) const {
        if (m.file > 0 && m.file <= cfg_.route_files.size()) return cfg_.route_files[m.file - 1];
        return cfg_.source.empty() ? "<config>" : cfg_.source;
    }

    // How a route is named in messages: its place in the YAML list, or its
    // route file (whose line the error carries).
    std::string route_field(size_t i) const {
        const SourceMark& m = cfg_.routes[i].mark;
        if (m.file > 0) return "route_files[" + std::to_string(m.file - 1) + "]";
        return "routes[" + std::to_string(i) + "]";
    }
    std::string route_place(size_t i) const {
        const SourceMark& m = cfg_.routes[i].mark;
        if (m.file > 0) return file_of(m) + ":" + std::to_string(m.line);
        return "routes[" + std::to_string(i) + "]" + at_line(m);
    }

    // Runs once per route of a full table: the success path builds no
    // string and allocates nothing per route. Field names and messages are
    // built only for a route that has an error.
    void routes() {
        const size_t n = cfg_.routes.size();
        auto prefix_of = [this](uint32_t k) -> const Prefix& { return cfg_.routes[k].prefix; };
        FirstSeen seen(prefix_of, [this](uint32_t k) { return valid_route_prefix(cfg_.routes[k].prefix); }, n);
        for (size_t i = 0; i < n; ++i) {
            const Route& r = cfg_.routes[i];
            const IpAddr& fam = r.prefix.addr;
            if (r.prefix.len > max_len(fam)) {
                err(r.mark, route_field(i) + ".prefix",
                    std::string("expected an ") + family_name(fam) + " prefix length 0.." +
                        std::to_string(max_len(fam)) + ", got " + std::to_string(r.prefix.len));
            } else if (!host_bits_clear(r.prefix)) {
                Prefix net = network_of(r.prefix);
                err(r.mark, route_field(i) + ".prefix",
                    "host bits are set in " + to_string(r.prefix) + "; did you mean " + to_string(net) + "?");
            } else if (uint32_t first = seen.first(uint32_t(i)); first != i) {
                err(r.mark, route_field(i) + ".prefix",
                    "duplicate route for " + to_string(r.prefix) + " (first at " + route_place(first) + ")");
            }

            if (r.nexthops.empty()) {
                err(r.mark, route_field(i), "route has no next hop; add via: <gateway>, port: <name>, or a nexthops: list");
                continue;
            }
            if (r.nexthops.size() > rules::kMaxEcmp)
                err(r.mark, route_field(i) + ".nexthops",
                    "expected at most " + std::to_string(rules::kMaxEcmp) + " next hops in an ECMP group, got " +
                        std::to_string(r.nexthops.size()));

            // Members that passed, to find a repeated (gateway, port) pair.
            members_.clear();
            for (size_t j = 0; j < r.nexthops.size(); ++j) {
                const NextHop& h = r.nexthops[j];
                const std::string* port = nullptr;
                if (!nexthop(i, j, h, &port)) continue;
                // *port is a port's own name here, never h.port itself.
                if (fill_ && h.via && h.port.empty()) fill_->routes[i].nexthops[j].port = *port;
                if (r.nexthops.size() == 1) break;
                // A hop through an RDMA peer without via goes to the peer's
                // address (filled in after validation): compare that.
                std::optional<IpAddr> via = h.via;
                if (!via && !cfg_.rdma_peers.empty()) via = peer_gateway(*port, r.prefix.addr.family);
                bool repeated = std::any_of(members_.begin(), members_.end(), [&](const Member& m) {
                    return m.via == via && *m.port == *port;
                });
                if (repeated) {
                    err(r.mark, hop_field(i, j),
                        via ? "duplicate next hop " + to_string(*via) + " on port " + *port + " in this route"
                              : "duplicate on-link next hop on port " + *port + " in this route");
                } else {
                    members_.push_back({via, port});
                }
            }
        }
    }

    // The peer address of family `fam` when `name` is an RDMA peer's.
    std::optional<IpAddr> peer_gateway(const std::string& name, IpAddr::Family fam) const {
        size_t i = 0;
        if (!find_port(name, &i) || !is_peer(i)) return std::nullopt;
        for (const IpAddr& a : peer_of(i).peer_addresses)
            if (a.family == fam) return a;
        return std::nullopt;
    }

    std::string hop_field(size_t route, size_t j) const {
        return route_field(route) + ".nexthops[" + std::to_string(j) + "]";
    }

    // Checks one next hop of route `ri`; on success points *port at the name
    // of its egress port. The outcome depends only on the gateway (when of
    // the prefix's family) and the port name, so successes are cached:
    // a table of 10^6 routes through a few gateways checks each once.
    bool nexthop(size_t ri, size_t j, const NextHop& h, const std::string** port) {
        const Route& r = cfg_.routes[ri];
        if (h.via && h.via->family != r.prefix.addr.family) return nexthop_checks(ri, j, h, port);
        // Without a gateway, a hop through an RDMA peer depends on the
        // prefix's family too (it goes to the peer's address of that family).
        if (!h.via && !cfg_.rdma_peers.empty() && rules::find_rdma_peer(cfg_, h.port) >= 0)
            return nexthop_checks(ri, j, h, port);
        uint64_t hash = h.via ? hash_ip(*h.via, 1) : 0;
        if (!h.port.empty()) hash ^= std::hash<std::string_view>{}(h.port) * 0x9e3779b97f4a7c15ull;
        auto same = [&](uint32_t k) { return hops_seen_[k].via == h.via && hops_seen_[k].port == h.port; };
        if (uint32_t k = hop_index_.find(hash, same); k != IndexTable::kNone) {
            *port = hops_seen_[k].egress;
            return true;
        }
        if (!nexthop_checks(ri, j, h, port)) return false;
        hop_index_.find_or_insert(hash, uint32_t(hops_seen_.size()), same);
        hops_seen_.push_back({h.via, h.port, *port});
        return true;
    }

    // The checks themselves (every problem reported, as before caching).
    bool nexthop_checks(size_t ri, size_t j, const NextHop& h, const std::string** port) {
        const Route& r = cfg_.routes[ri];
        auto H = [&] { return hop_field(ri, j); };
        if (!h.via && h.port.empty()) {
            err(r.mark, H(), "a next hop needs via (a gateway address), port (on-link egress port), or both");
            return false;
        }
        size_t named = 0;
        bool have_port = !h.port.empty();
        if (have_port && !find_port(h.port, &named)) {
            err(r.mark, H() + ".port", unknown_port(h.port));
            return false;
        }
        *port = have_port ? &iface_name(named) : &h.port;
        if (!h.via) {
            if (have_port && is_peer(named)) {
                const auto& pa = peer_of(named).peer_addresses;
                const auto fam = r.prefix.addr.family;
                if (std::none_of(pa.begin(), pa.end(), [&](const IpAddr& a) { return a.family == fam; })) {
                    err(r.mark, H() + ".port",
                        "RDMA peer " + h.port + " has no " + family_name(r.prefix.addr) + " peer address, so " +
                            to_string(r.prefix) + " cannot go through it (a next hop through a peer without via goes "
                            "to the peer's address of the route's family)");
                    return false;
                }
            }
            return true;
        }

        const IpAddr& g = *h.via;
        auto V = [&] { return H() + ".via"; };
        auto gs = [&] { return to_string(g); };
        if (g.family != r.prefix.addr.family) {
            err(r.mark, V(),
                "gateway " + gs() + " is " + family_name(g) + " but the route prefix " + to_string(r.prefix) + " is " +
                    family_name(r.prefix.addr) + "; a next hop must be of the prefix's family");
            return false;
        }
        if (auto why = non_unicast_reason(g); !why.empty()) {
            err(r.mark, V(), "gateway " + gs() + " " + why + "; expected a unicast address");
            return false;
        }
        if (auto own = own_address(g); !own.empty()) {
            err(r.mark, V(), "gateway " + gs() + " is this router's own address (" + own + ")");
            return false;
        }
        if (is_link_local6(g)) {
            if (!have_port) {
                err(r.mark, V(),
                    "link-local gateway " + gs() + " needs a port (it is valid on every link); add port: <name>");
                return false;
            }
            return true;
        }
        const Connected* c = nullptr;
        if (have_port) {
            c = connected_in(named, g);
            if (!c) {
                std::string msg = "gateway " + gs() + " is not in a connected subnet of port " + h.port + " (" +
                                  subnets_of(named, g) + ")";
                if (const Connected* other = connected_any(g))
                    msg += "; it is in " + to_string(other->net) + " of port " + iface_name(other->port);
                err(r.mark, V(), msg);
                return false;
            }
        } else {
            c = connected_any(g);
            if (!c) {
                std::string list;
                for (const auto& k : connected_) {
                    if (k.net.addr.family != g.family) continue;
                    if (!list.empty()) list += ", ";
                    list += to_string(k.net) + " on " + iface_name(k.port);
                }
                err(r.mark, V(),
                    "gateway " + gs() + " is not in any port's connected subnet (" +
                        (list.empty() ? std::string("no port has an ") + family_name(g) + " address"
                                      : std::string(family_name(g)) + " subnets: " + list) +
                        "); a gateway must be directly connected");
                return false;
            }
            *port = &iface_name(c->port);
        }
        if (auto e = v4_edge(c->net, g); !e.empty()) {
            err(r.mark, V(), "gateway " + gs() + " is the " + e + " address of " + to_string(c->net));
            return false;
        }
        return true;
    }

    void neighbors() {
        std::map<std::pair<std::string, IpAddr>, size_t> seen;
        for (size_t i = 0; i < cfg_.neighbors.size(); ++i) {
            const StaticNeighbor& n = cfg_.neighbors[i];
            const std::string N = "neighbors[" + std::to_string(i) + "]";
            const std::string as = to_string(n.address);
            size_t port = 0;
            bool port_ok = find_port(n.port, &port);
            if (!port_ok) err(n.mark, N + ".port", unknown_port(n.port));

            if (auto why = non_unicast_reason(n.address); !why.empty()) {
                err(n.mark, N + ".address", as + " " + why + "; expected a unicast address");
            } else if (auto own = own_address(n.address); !own.empty()) {
                err(n.mark, N + ".address", as + " is this router's own address (" + own + ")");
            } else if (port_ok && !is_link_local6(n.address)) {
                const Connected* c = connected_in(port, n.address);
                if (!c) {
                    err(n.mark, N + ".address",
                        as + " is not in a connected subnet of port " + n.port + " (" + subnets_of(port, n.address) +
                            ")");
                } else if (auto e = v4_edge(c->net, n.address); !e.empty()) {
                    err(n.mark, N + ".address", as + " is the " + e + " address of " + to_string(c->net));
                }
            }

            if (auto m = mac_problem(n.mac); !m.empty()) err(n.mark, N + ".mac", m);

            if (port_ok) {
                if (auto [it, fresh] = seen.emplace(std::make_pair(n.port, n.address), i); !fresh)
                    err(n.mark, N,
                        "duplicate static neighbor " + as + " on port " + n.port + " (first at neighbors[" +
                            std::to_string(it->second) + "]" + at_line(cfg_.neighbors[it->second].mark) + ")");
            }
        }
    }

    const Config& cfg_;
    Config* fill_;
    std::vector<ConfigError> errs_;
    std::map<std::string, size_t> port_index_;              // valid, unique names
    std::map<IpAddr, std::pair<size_t, size_t>> own_;       // our addresses -> (port, index)
    std::vector<Connected> connected_;                      // usable connected subnets

    // routes(): next hops already found valid, and the passing members of
    // the route being checked (both reused, so no allocation per route).
    struct HopSeen {
        std::optional<IpAddr> via;
        std::string port;           // as written
        const std::string* egress;  // name of the egress port (in cfg_.ports)
    };
    std::vector<HopSeen> hops_seen_;
    IndexTable hop_index_;
    struct Member {
        std::optional<IpAddr> via;
        const std::string* port;
    };
    std::vector<Member> members_;
};

}  // namespace

namespace rules {

bool usable_interface_address(const Prefix& a) {
    return a.len >= 1 && a.len <= max_len(a.addr) && non_unicast_reason(a.addr).empty() && !is_link_local6(a.addr) &&
           v4_edge(a, a.addr).empty();
}

std::string connected_port_for(const Config& cfg, const IpAddr& a) {
    if (is_link_local6(a)) return {};
    for (const auto& p : cfg.ports)
        for (const auto& addr : p.addresses)
            if (usable_interface_address(addr) && contains(addr, a)) return p.name;
    for (const auto& p : cfg.rdma_peers)  // to routes, a peer is a port
        for (const auto& addr : p.addresses)
            if (usable_interface_address(addr) && contains(addr, a)) return p.name;
    return {};
}

}  // namespace rules

namespace {

std::vector<ConfigError> run_validator(const Config& cfg, Config* fill) {
    try {
        return Validator(cfg, fill).run();
    } catch (const std::exception& e) {  // std::bad_alloc: never throw out of the API
        ConfigError err;
        err.file = cfg.source.empty() ? "<config>" : cfg.source;
        err.message = std::string("internal error while validating: ") + e.what();
        return {err};
    }
}

}  // namespace

std::vector<ConfigError> validate(const Config& cfg) { return run_validator(cfg, nullptr); }

namespace rules {

std::vector<ConfigError> validate_filling_ports(Config& cfg) { return run_validator(cfg, &cfg); }

}  // namespace rules

}  // namespace sluice::config
