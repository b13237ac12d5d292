// Semantic checks of the load balancer's sections: `lb:` ranges, and each
// VIP (name, address, table size, mode-specific fields, backends), then the
// rules across VIPs (keys, names, host routes, NAT endpoints). Errors name
// model paths ("vips[2].backends[0].port") and the VIP's SourceMark;
// parse_config() refines them to the line of the value (parse.cpp).
// docs/config.md ("lb", "vips[]") lists every rule with its message.
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "api/addr_class.hpp"
#include "config/load.hpp"
#include "config/rules.hpp"

namespace sluice::config {

namespace {

using api::LbMode;
using api::LbProto;
using net::non_unicast_reason;
using net::v4_edge;

const char* family_name(const IpAddr& a) { return a.is_v4() ? "IPv4" : "IPv6"; }

std::string at_line(const SourceMark& m) { return m.line > 0 ? ", line " + std::to_string(m.line) : std::string(); }

bool valid_vip_name(const std::string& n) {
    if (n.empty() || n.size() > rules::kMaxVipNameLen) return false;
    for (char c : n) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '.' || c == '-';
        if (!ok) return false;
    }
    return true;
}

// IPv4 169.254.0.0/16 (RFC 3927) and IPv6 fe80::/10 (RFC 4291): valid on
// one link only, never behind a route.
bool link_local(const IpAddr& a) {
    if (a.is_v4()) return (a.v4_host() >> 16) == 0xa9fe;
    return is_link_local6(a);
}

bool host_bits_clear(const Prefix& p) { return p.len <= max_len(p.addr) && network_of(p).addr == p.addr; }

// The protocols a VIP serves, as bits (tcp 1, udp 2, both 3).
unsigned proto_bits(LbProto p) { return unsigned(p); }

std::string port_text(uint16_t port) { return port == 0 ? "all ports" : "port " + std::to_string(port); }

std::string key_text(const api::VipKey& k) {
    return to_string(k.address) + " " + api::to_string(k.proto) + " " + port_text(k.port);
}

uint32_t prime_below(uint32_t n) {
    while (n > 2 && !rules::is_prime(n)) --n;
    return n;
}
uint32_t prime_above(uint32_t n) {
    while (n < api::kMaxMaglevSize && !rules::is_prime(n)) ++n;
    return n;
}

class LbValidator : rules::SectionValidator {
public:
    LbValidator(const Config& c, std::vector<ConfigError>& errs) : SectionValidator(c, errs) {}

    void run() {
        settings();
        for (size_t i = 0; i < cfg_.ports.size(); ++i)
            for (size_t j = 0; j < cfg_.ports[i].addresses.size(); ++j)
                own_.emplace(cfg_.ports[i].addresses[j].addr, std::make_pair(i, j));
        for (size_t i = 0; i < cfg_.vips.size(); ++i) vip_addresses_.emplace(cfg_.vips[i].key.address, i);
        if (cfg_.vips.size() > rules::kMaxVips)
            err(cfg_.vips[rules::kMaxVips].mark, "vips",
                "expected at most " + std::to_string(rules::kMaxVips) + " VIPs, got " + std::to_string(cfg_.vips.size()));
        for (size_t i = 0; i < cfg_.vips.size(); ++i) vip(i);
        host_routes();
        nat_endpoints();
    }

private:
    void settings() {
        const LbConfig& l = cfg_.lb;
        range(rules::kFlowTableSize, l.flow_table_size, "lb.flow_table_size");
        range(rules::kTimeoutS, l.tcp_timeout_s, "lb.tcp_timeout");
        range(rules::kTimeoutS, l.tcp_closing_timeout_s, "lb.tcp_closing_timeout");
        range(rules::kTimeoutS, l.udp_timeout_s, "lb.udp_timeout");
        range(rules::kNewFlowBurst, l.new_flow_burst, "lb.new_flow_burst");
    }

    std::string vip_place(size_t i) const {
        const VipConfig& v = cfg_.vips[i];
        return "vips[" + std::to_string(i) + "] (" + v.name + at_line(v.mark) + ")";
    }

    // "(ports[0].addresses[1] on port p0)" when a is one of ours, else empty.
    std::string own_address(const IpAddr& a) const {
        auto it = own_.find(a);
        if (it == own_.end()) return {};
        return "ports[" + std::to_string(it->second.first) + "].addresses[" + std::to_string(it->second.second) +
               "] on port " + cfg_.ports[it->second.first].name;
    }

    // The usable port address whose subnet holds a, or null.
    const Prefix* connected(const IpAddr& a, size_t* port) const {
        if (link_local(a)) return nullptr;
        for (size_t i = 0; i < cfg_.ports.size(); ++i)
            for (const auto& p : cfg_.ports[i].addresses)
                if (rules::usable_interface_address(p) && contains(p, a)) {
                    *port = i;
                    return &p;
                }
        return nullptr;
    }

    std::string subnets(const IpAddr& family) const {
        std::string s;
        for (const auto& port : cfg_.ports)
            for (const auto& p : port.addresses) {
                if (p.addr.family != family.family || !rules::usable_interface_address(p)) continue;
                if (!s.empty()) s += ", ";
                s += to_string(network_of(p)) + " on " + port.name;
            }
        if (s.empty()) return std::string("no port has an ") + family_name(family) + " address";
        return std::string(family_name(family)) + " subnets: " + s;
    }

    void vip(size_t i) {
        const VipConfig& v = cfg_.vips[i];
        const std::string V = "vips[" + std::to_string(i) + "]";
        const SourceMark& m = v.mark;

        if (!valid_vip_name(v.name)) {
            err(m, V + ".name",
                "expected a name of 1..32 characters from A-Z, a-z, 0-9, '_', '.' and '-', got \"" + v.name + "\"");
        } else if (auto [it, fresh] = names_.emplace(v.name, i); !fresh) {
            err(m, V + ".name", "duplicate VIP name \"" + v.name + "\" (first at " + vip_place(it->second) + ")");
        }

        const IpAddr& a = v.key.address;
        const std::string as = to_string(a);
        bool address_ok = false;
        if (auto why = non_unicast_reason(a); !why.empty()) {
            err(m, V + ".address", "VIP address " + as + " " + why + "; expected a unicast address");
        } else if (link_local(a)) {
            err(m, V + ".address",
                "VIP address " + as + " is link-local (" + (a.is_v4() ? "169.254.0.0/16" : "fe80::/10") +
                    "); expected an address that can be routed to this balancer");
        } else if (auto own = own_address(a); !own.empty()) {
            err(m, V + ".address",
                "VIP address " + as + " is this router's own address (" + own + "); a VIP needs an address of its own");
        } else {
            address_ok = true;
        }
        if (address_ok) key(i);

        if (!rules::kTableSize.ok(v.table_size) || !rules::is_prime(v.table_size)) {
            std::string msg = std::string("expected ") + rules::kTableSize.text + ", got " + std::to_string(v.table_size);
            if (rules::kTableSize.ok(v.table_size))
                msg += " (not prime; the nearest primes are " + std::to_string(prime_below(v.table_size)) + " and " +
                       std::to_string(prime_above(v.table_size)) + ")";
            err(m, V + ".table_size", msg);
        } else if (v.table_size < v.backends.size()) {
            err(m, V + ".table_size",
                "table_size " + std::to_string(v.table_size) + " is smaller than the number of backends (" +
                    std::to_string(v.backends.size()) +
                    "); expected a prime at least that large (about 100 times the backends keeps each backend's "
                    "share within 1% of its weight's)");
        }

        bool encap = v.mode == LbMode::ipip || v.mode == LbMode::gue;
        if (!encap && !v.encap_source.empty())
            err(m, V + ".encap_source",
                std::string("encap_source is only for modes ipip and gue (the outer source address); mode ") +
                    api::to_string(v.mode) + " does not encapsulate: remove it");
        if (v.mode != LbMode::gue && (v.gue_port_set || v.gue_port != api::kDefaultGuePort))
            err(m, V + ".gue_port",
                std::string("gue_port is only for mode gue; this VIP's mode is ") + api::to_string(v.mode) +
                    ": remove it");
        if (v.mode == LbMode::gue) range(rules::kPort, v.gue_port, V + ".gue_port", m);
        if (encap) encap_sources(i);

        backends(i, address_ok);
    }

    // (address, protocol, port) unique; `both` overlaps tcp and udp.
    void key(size_t i) {
        const VipConfig& v = cfg_.vips[i];
        auto& seen = keys_[{v.key.address, v.key.port}];
        for (size_t k : seen) {
            const VipConfig& o = cfg_.vips[k];
            if ((proto_bits(o.key.proto) & proto_bits(v.key.proto)) == 0) continue;
            std::string msg = o.key.proto == v.key.proto
                                  ? "VIP " + key_text(v.key) + " is already defined by " + vip_place(k)
                                  : "VIP " + key_text(v.key) + " overlaps " + vip_place(k) + ", which is " +
                                        key_text(o.key) + " (both means tcp and udp)";
            err(v.mark, "vips[" + std::to_string(i) + "]", msg);
            return;
        }
        seen.push_back(i);
    }

    void encap_sources(size_t i) {
        const VipConfig& v = cfg_.vips[i];
        const std::string V = "vips[" + std::to_string(i) + "]";
        const std::string E = V + ".encap_source";
        const Prefix* by_family[2] = {nullptr, nullptr};
        for (size_t j = 0; j < v.encap_source.size(); ++j) {
            const Prefix& p = v.encap_source[j];
            const std::string P = E + "[" + std::to_string(j) + "]";
            const std::string ps = to_string(p);
            if (p.len < 1 || p.len > max_len(p.addr)) {
                err(v.mark, P,
                    std::string("expected an ") + family_name(p.addr) + " prefix length 1.." +
                        std::to_string(max_len(p.addr)) + ", got " + ps);
                continue;
            }
            if (!host_bits_clear(p)) {
                err(v.mark, P, "host bits are set in " + ps + "; did you mean " + to_string(network_of(p)) + "?");
                continue;
            }
            if (auto why = non_unicast_reason(p.addr); !why.empty()) {
                err(v.mark, P, "encap_source " + ps + ": " + to_string(p.addr) + " " + why +
                                   "; expected a prefix of unicast addresses (the outer source addresses)");
                continue;
            }
            if (link_local(p.addr)) {
                err(v.mark, P, "encap_source " + ps + " is link-local; expected a prefix of routable addresses");
                continue;
            }
            const Prefix*& slot = by_family[p.addr.is_v6()];
            if (slot) {
                err(v.mark, P,
                    "a second " + std::string(family_name(p.addr)) + " prefix (" + ps + ", after " + to_string(*slot) +
                        "); expected at most one prefix per family");
                continue;
            }
            slot = &p;
        }
        if (v.encap_source.empty()) {
            err(v.mark, E,
                std::string("mode ") + api::to_string(v.mode) +
                    " needs encap_source: the prefix the outer source addresses are taken from, one per family of "
                    "the backends (e.g. 198.18.250.0/24)");
            return;
        }
        // A prefix for every outer family the backends need (the outer
        // header has the backend's family).
        for (int fam = 0; fam < 2; ++fam) {
            if (by_family[fam]) continue;
            for (size_t j = 0; j < v.backends.size(); ++j) {
                const IpAddr& b = v.backends[j].address;
                if (b.is_v6() != bool(fam)) continue;
                bool bad_prefix = false;  // a prefix of that family was given but reported above
                for (const auto& p : v.encap_source) bad_prefix |= p.addr.family == b.family;
                if (bad_prefix) break;
                err(v.mark, E,
                    std::string(family_name(b)) + " backends (backends[" + std::to_string(j) + "] " + to_string(b) +
                        ") need an " + family_name(b) + " encap_source prefix for their outer source address");
                break;
            }
        }
    }

    void backends(size_t i, bool vip_address_ok) {
        const VipConfig& v = cfg_.vips[i];
        const std::string V = "vips[" + std::to_string(i) + "]";
        const SourceMark& m = v.mark;
        if (v.backends.empty()) {
            err(m, V + ".backends", "a VIP needs at least one backend, got an empty list");
            return;
        }
        if (v.backends.size() > rules::kMaxBackends)
            err(m, V + ".backends",
                "expected at most " + std::to_string(rules::kMaxBackends) + " backends, got " +
                    std::to_string(v.backends.size()));
        std::map<std::pair<IpAddr, uint16_t>, size_t> seen;
        for (size_t j = 0; j < v.backends.size(); ++j) {
            const api::Backend& b = v.backends[j];
            const std::string B = V + ".backends[" + std::to_string(j) + "]";
            const std::string bs = to_string(b.address);
            range(rules::kWeight, b.weight, B + ".weight", m);

            if (b.port != 0 && v.mode != LbMode::nat) {
                err(m, B + ".port",
                    std::string("a backend port is only for mode nat; mode ") + api::to_string(v.mode) +
                        " cannot change the destination port (the packet reaches the backend as the client sent it)");
            } else if (b.port != 0 && v.key.port == 0) {
                err(m, B + ".port",
                    "a backend port needs a VIP port: an all-ports NAT VIP keeps the client's port, since a reply from "
                    "port " + std::to_string(b.port) + " could not be mapped back to the port the client used");
            }

            if (auto why = non_unicast_reason(b.address); !why.empty()) {
                err(m, B + ".address", "backend " + bs + " " + why + "; expected a unicast address");
                continue;
            }
            if (link_local(b.address)) {
                err(m, B + ".address", "backend " + bs + " is link-local; expected an address that can be routed to");
                continue;
            }
            if (auto own = own_address(b.address); !own.empty()) {
                err(m, B + ".address", "backend " + bs + " is this router's own address (" + own + ")");
                continue;
            }
            if (auto it = vip_addresses_.find(b.address); it != vip_addresses_.end()) {
                err(m, B + ".address",
                    "backend " + bs + " is the address of " + vip_place(it->second) +
                        "; a backend must be a host behind the balancer, not a VIP");
                continue;
            }
            bool same_family = b.address.family == v.key.address.family;
            if (!same_family && (v.mode == LbMode::l2_dsr || v.mode == LbMode::nat) && vip_address_ok) {
                err(m, B + ".address",
                    "backend " + bs + " is " + family_name(b.address) + " but the VIP " + to_string(v.key.address) +
                        " is " + family_name(v.key.address) + "; mode " + api::to_string(v.mode) +
                        " needs backends of the VIP's family (ipip and gue can cross families)");
                continue;
            }
            if (v.mode == LbMode::l2_dsr) {
                size_t port = 0;
                const Prefix* c = connected(b.address, &port);
                if (!c) {
                    err(m, B + ".address",
                        "backend " + bs + " is not in any port's connected subnet (" + subnets(b.address) +
                            "); mode l2_dsr only rewrites the destination MAC, so a backend must be on a directly "
                            "connected link");
                    continue;
                }
                if (auto e = v4_edge(*c, b.address); !e.empty()) {
                    err(m, B + ".address", "backend " + bs + " is the " + e + " address of " + to_string(network_of(*c)));
                    continue;
                }
            }
            // NAT: a backend keeping the packet's port serves the VIP's port.
            uint16_t port = v.mode == LbMode::nat && b.port == 0 ? v.key.port : b.port;
            if (auto [it, fresh] = seen.emplace(std::make_pair(b.address, port), j); !fresh) {
                const api::Backend& first = v.backends[it->second];
                std::string what = "backend " + bs + (b.port ? " port " + std::to_string(b.port) : std::string());
                std::string why = first.port == b.port ? "" : " (both reach " + port_text(port) + ")";
                err(m, B, "duplicate " + what + " in this VIP (first at backends[" + std::to_string(it->second) + "])" +
                              why);
            }
        }
    }

    // The balancer installs a host entry for each VIP address; a /32 or
    // /128 route for the same address would be the same FIB entry.
    void host_routes() {
        if (vip_addresses_.empty()) return;
        for (size_t r = 0; r < cfg_.routes.size(); ++r) {
            const Prefix& p = cfg_.routes[r].prefix;
            if (p.len != max_len(p.addr)) continue;
            auto it = vip_addresses_.find(p.addr);
            if (it == vip_addresses_.end()) continue;
            const SourceMark& rm = cfg_.routes[r].mark;
            std::string where = rm.file > 0 && rm.file <= cfg_.route_files.size()
                                    ? cfg_.route_files[rm.file - 1] + ":" + std::to_string(rm.line)
                                    : "routes[" + std::to_string(r) + "]" + at_line(rm);
            size_t i = it->second;
            err(cfg_.vips[i].mark, "vips[" + std::to_string(i) + "].address",
                "VIP address " + to_string(p.addr) + " is also the prefix of a route (" + to_string(p) + " at " +
                    where + "); the balancer installs the VIP's own host entry: remove the route");
        }
    }

    // The return path of NAT finds the VIP from the reply's source (the
    // backend's address and port) without per-flow state (docs/lb.md), so
    // an endpoint (address, protocol, port) belongs to one NAT VIP.
    void nat_endpoints() {
        struct Endpoint {
            size_t vip, backend;
            unsigned protos;
            uint16_t port;  // 0: every port
        };
        std::map<IpAddr, std::vector<Endpoint>> by_address;
        for (size_t i = 0; i < cfg_.vips.size(); ++i) {
            const VipConfig& v = cfg_.vips[i];
            if (v.mode != LbMode::nat) continue;
            for (size_t j = 0; j < v.backends.size(); ++j) {
                const api::Backend& b = v.backends[j];
                Endpoint e{i, j, proto_bits(v.key.proto), b.port ? b.port : v.key.port};
                auto& list = by_address[b.address];
                for (const Endpoint& o : list) {
                    if (o.vip == i || (o.protos & e.protos) == 0) continue;
                    if (o.port != 0 && e.port != 0 && o.port != e.port) continue;
                    auto text = [&](unsigned protos, uint16_t port) {
                        return std::string(api::to_string(LbProto(protos))) + " " + port_text(port);
                    };
                    err(v.mark, "vips[" + std::to_string(i) + "].backends[" + std::to_string(j) + "]",
                        "backend " + to_string(b.address) + " " + text(e.protos, e.port) +
                            " is already a backend of NAT VIP " + vip_place(o.vip) + " (backends[" +
                            std::to_string(o.backend) + "], " + text(o.protos, o.port) + "); " +
                            "replies are matched to their NAT VIP by the backend's address and port alone, so an "
                            "endpoint can serve one NAT VIP");
                    break;
                }
                list.push_back(e);
            }
        }
    }

    std::map<IpAddr, std::pair<size_t, size_t>> own_;       // port addresses -> (port, index)
    std::map<IpAddr, size_t> vip_addresses_;                // -> first VIP with it
    std::map<std::string, size_t> names_;                   // valid names -> first VIP
    std::map<std::pair<IpAddr, uint16_t>, std::vector<size_t>> keys_;  // (address, port) -> VIPs
};

}  // namespace

namespace rules {

bool is_prime(uint32_t n) {
    if (n < 2) return false;
    if (n % 2 == 0) return n == 2;
    for (uint32_t d = 3; uint64_t(d) * d <= n; d += 2)
        if (n % d == 0) return false;
    return true;
}

void validate_lb(const Config& cfg, std::vector<ConfigError>& errs) { LbValidator(cfg, errs).run(); }

}  // namespace rules

}  // namespace sluice::config
