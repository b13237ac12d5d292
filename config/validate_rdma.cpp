// Semantic checks of `rdma.peers` (docs/config.md, "rdma"): each field's
// range, exactly one of listen/connect, the peer's addresses (the rules of a
// port's addresses, with ports and peers sharing one address space and one
// name space), its peer addresses (one per family, inside its subnets) and
// MACs unique among ports and peers. Errors name model paths
// ("rdma.peers[1].peer_addresses[0]") with the peer's SourceMark;
// parse_config() refines them to the line of the value. Routes and static
// neighbors that name a peer are checked with the ports' (validate.cpp).
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "api/addr_class.hpp"
#include "config/control.hpp"
#include "config/load.hpp"
#include "config/quote.hpp"
#include "config/rdma.hpp"
#include "config/rules.hpp"

namespace sluice::config {

namespace {

using net::mac_problem;
using net::non_unicast_reason;
using net::v4_edge;

const char* family_name(const IpAddr& a) { return a.is_v4() ? "IPv4" : "IPv6"; }

bool valid_name(const std::string& n) {
    if (n.empty() || n.size() > rules::kMaxNameLen) return false;
    return std::all_of(n.begin(), n.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}

// ibv_get_device_name(): the kernel's name of the device (mlx5_0, rxe0,
// siw_eth0, irdma-ens1f0), at most IBV_SYSFS_NAME_MAX - 1 bytes.
bool valid_device(const std::string& d) {
    if (d.empty() || d.size() > rules::kMaxRdmaDeviceName) return false;
    return std::all_of(d.begin(), d.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
               c == '.';
    });
}

bool unspecified(const IpAddr& a) { return std::all_of(a.bytes.begin(), a.bytes.end(), [](uint8_t b) { return b == 0; }); }

std::string at_line(const SourceMark& m) { return m.line > 0 ? ", line " + std::to_string(m.line) : std::string(); }

class RdmaValidator : rules::SectionValidator {
public:
    RdmaValidator(const Config& c, std::vector<ConfigError>& errs) : SectionValidator(c, errs) {}

    void run() {
        const auto& peers = cfg_.rdma_peers;
        if (peers.empty()) return;
        ports();
        if (cfg_.ports.size() + peers.size() > rules::kMaxPorts) {
            size_t first_over = cfg_.ports.size() < rules::kMaxPorts ? rules::kMaxPorts - cfg_.ports.size() : 0;
            err(peers[std::min(first_over, peers.size() - 1)].mark, "rdma.peers",
                "expected at most " + std::to_string(rules::kMaxPorts) +
                    " ports and RDMA peers together (a peer is a port to routes), got " +
                    std::to_string(cfg_.ports.size()) + " ports and " + std::to_string(peers.size()) + " peers");
        }
        for (size_t k = 0; k < peers.size(); ++k) peer(k);
    }

private:
    struct Subnet {
        Prefix net;         // network_of(address)
        std::string owner;  // "port p0 (ports[0].addresses[1])"
        size_t peer;        // index in rdma_peers, or kPort
    };
    static constexpr size_t kPort = SIZE_MAX;

    // What the ports hold that a peer must not repeat: names, addresses,
    // subnets, MACs (first occurrence each; the ports' own duplicates are
    // validate.cpp's to report).
    void ports() {
        for (size_t i = 0; i < cfg_.ports.size(); ++i) {
            const PortConfig& p = cfg_.ports[i];
            const std::string P = "ports[" + std::to_string(i) + "]";
            if (valid_name(p.name)) names_.emplace(p.name, P);
            if (p.mac && mac_problem(*p.mac).empty()) macs_.emplace(*p.mac, P + " (" + p.name + ")");
            for (size_t j = 0; j < p.addresses.size() && j < rules::kMaxAddressesPerPort; ++j) {
                const Prefix& a = p.addresses[j];
                if (!rules::usable_interface_address(a)) continue;
                const std::string A = P + ".addresses[" + std::to_string(j) + "]";
                if (!own_.emplace(a.addr, A).second) continue;
                subnets_.push_back({network_of(a), "port " + p.name + " (" + A + ")", kPort});
            }
        }
    }

    void peer(size_t k) {
        const RdmaPeerConfig& p = cfg_.rdma_peers[k];
        const SourceMark& m = p.mark;
        const std::string P = "rdma.peers[" + std::to_string(k) + "]";

        bool name_taken = false;  // its derived MAC is then taken too: one error is enough
        if (!valid_name(p.name)) {
            err(m, P + ".name", "expected a name of 1..15 characters from a-z, 0-9, '_' and '-', got " + quote(p.name));
        } else if (auto [it, fresh] = names_.emplace(p.name, P + at_line(m)); !fresh) {
            name_taken = true;
            err(m, P + ".name",
                "name " + quote(p.name) + " is already used by " + it->second +
                    "; a peer's name is a port name to routes and neighbors, so it must differ from every port's and "
                    "peer's");
        }

        const bool standin = p.device == kStandinDevice;
        if (!valid_device(p.device))
            err(m, P + ".device",
                "expected an RDMA device name like mlx5_0 (letters, digits, '_', '-' and '.', at most " +
                    std::to_string(rules::kMaxRdmaDeviceName) + " characters) or \"standin\", got " + quote(p.device));
        range(rules::kDevicePort, p.device_port, P + ".device_port", m);
        auto_or(rules::kGidIndex, p.gid_index, P + ".gid_index", m);
        if (!p.link_layer.empty()) {
            if (p.link_layer != "ethernet" && p.link_layer != "infiniband")
                err(m, P + ".link_layer", "expected ethernet or infiniband, got " + quote(p.link_layer));
            else if (!standin)
                err(m, P + ".link_layer",
                    "only for device standin; device " + quote(p.device) +
                        " reports its own link layer (ibv_query_port): remove it");
        }

        endpoints(k, P, m);
        const bool has_v6 = addresses(k, P, m);
        peer_addresses(k, P, m);

        if (range(rules::kRdmaMtu, p.mtu, P + ".mtu", m) && has_v6 && p.mtu < rules::kMinIpv6Mtu)
            err(m, P + ".mtu", "a peer with an IPv6 address needs mtu >= 1280 (RFC 8200), got " + std::to_string(p.mtu));

        mac(k, P, m, name_taken);

        const bool sq_ok = range(rules::kRdmaQueue, p.send_queue, P + ".send_queue", m);
        range(rules::kRdmaQueue, p.recv_queue, P + ".recv_queue", m);
        range(rules::kInlineMax, p.inline_max, P + ".inline_max", m);
        if (sq_ok) {
            const uint32_t max = p.send_queue / 2;
            if (p.signal_every < 1 || p.signal_every > max)
                err(m, P + ".signal_every",
                    "expected a whole number 1.." + std::to_string(max) + " (send_queue / 2), got " +
                        std::to_string(p.signal_every));
        } else {
            range(rules::kSignalEveryAny, p.signal_every, P + ".signal_every", m);
        }
        auto_or(rules::kRdmaWorker, p.worker, P + ".worker", m);
    }

    // -1 ("auto") or a value of r.
    void auto_or(const rules::Range& r, int32_t v, const std::string& field, const SourceMark& m) {
        if (v == -1 || (v >= 0 && r.ok(uint64_t(v)))) return;
        err(m, field, std::string("expected ") + r.text + ", got " + std::to_string(v));
    }

    void endpoints(size_t k, const std::string& P, const SourceMark& m) {
        const RdmaPeerConfig& p = cfg_.rdma_peers[k];
        const std::string expect(rules::kHostPortExpect);
        if (p.listen.empty() && p.connect.empty()) {
            err(m, P,
                "a peer needs listen: \"IP:port\" (we wait for the peer's exchange there) or connect: \"IP:port\" "
                "(we reach the peer there)");
            return;
        }
        if (!p.listen.empty() && !p.connect.empty()) {
            err(m, P + ".connect",
                "a peer has either listen (we wait for it) or connect (we reach it), not both: one side of a link "
                "listens, the other connects");
            return;
        }
        const bool listening = !p.listen.empty();
        const std::string F = P + (listening ? ".listen" : ".connect");
        const std::string& text = listening ? p.listen : p.connect;
        auto hp = parse_host_port(text);
        if (!hp) {
            err(m, F, "expected " + expect + ", got " + quote(text));
            return;
        }
        // Loopback is fine (both nodes on one host in tests), and a listener
        // may take the wildcard address; nothing else that is not unicast.
        const IpAddr& a = hp->address;
        if (auto why = non_unicast_reason(a); !why.empty() && !is_loopback(a) && !(listening && unspecified(a))) {
            err(m, F,
                std::string(listening ? "listen" : "connect") + " address " + to_string(a) + " " + why + "; expected " +
                    (listening ? "one of this host's addresses, or 0.0.0.0 / [::] for all"
                               : "the address where the peer listens"));
            return;
        }
        if (!listening) return;
        // One socket per listening peer: two that would bind the same port
        // on the same (or a wildcard) address cannot both start.
        for (const auto& [other, at] : listens_) {
            if (other.port != hp->port || other.address.family != hp->address.family) continue;
            if (other.address == hp->address || unspecified(other.address) || unspecified(hp->address)) {
                err(m, F,
                    "listen " + text + " collides with " + at +
                        "; each listening peer needs its own port (or address)");
                return;
            }
        }
        listens_.emplace_back(*hp, P + ".listen (" + cfg_.rdma_peers[k].listen + ")");
    }

    // Like a port's addresses (validate.cpp), in the name space of ports and
    // peers together. Returns whether the peer has an IPv6 address.
    bool addresses(size_t k, const std::string& P, const SourceMark& m) {
        const RdmaPeerConfig& p = cfg_.rdma_peers[k];
        if (p.addresses.empty()) {
            err(m, P + ".addresses",
                "at least one address is required: our end of the link, like 198.18.250.1/30 (its subnet is the "
                "link's, where the peer's own address lies)");
            return false;
        }
        if (p.addresses.size() > rules::kMaxAddressesPerPort)
            err(m, P + ".addresses",
                "expected at most " + std::to_string(rules::kMaxAddressesPerPort) + " addresses per peer, got " +
                    std::to_string(p.addresses.size()));
        bool has_v6 = false;
        const size_t n = std::min(p.addresses.size(), rules::kMaxAddressesPerPort);
        for (size_t j = 0; j < n; ++j) {
            const Prefix& a = p.addresses[j];
            has_v6 |= a.addr.is_v6();
            address(k, a, P + ".addresses[" + std::to_string(j) + "]", m);
        }
        return has_v6;
    }

    void address(size_t k, const Prefix& a, const std::string& A, const SourceMark& m) {
        const std::string text = to_string(a);
        if (a.len < 1 || a.len > max_len(a.addr)) {
            err(m, A,
                std::string("expected a prefix length 1..") + std::to_string(max_len(a.addr)) + " for an " +
                    family_name(a.addr) + " address, got " + text);
            return;
        }
        if (auto r = non_unicast_reason(a.addr); !r.empty()) {
            err(m, A, "address " + to_string(a.addr) + " " + r + "; expected a unicast address");
            return;
        }
        if (is_link_local6(a.addr)) {
            err(m, A, "link-local address " + text + ": an RDMA link has no link-local addressing; configure global "
                      "addresses only");
            return;
        }
        const Prefix net = network_of(a);
        if (auto e = v4_edge(a, a.addr); !e.empty()) {
            err(m, A,
                to_string(a.addr) + " is the " + e + " address of " + to_string(net) + "; expected a host address such as " +
                    to_string(IpAddr::from_v4_host(net.addr.v4_host() + 1)) + "/" + std::to_string(a.len));
            return;
        }
        if (auto [it, fresh] = own_.emplace(a.addr, A); !fresh) {
            err(m, A, "address " + to_string(a.addr) + " is already configured at " + it->second);
            return;
        }
        const std::string& name = cfg_.rdma_peers[k].name;
        for (const auto& s : subnets_) {
            if (s.peer == k || s.net.addr.family != net.addr.family) continue;
            if (contains(s.net, net.addr) || contains(net, s.net.addr)) {
                err(m, A,
                    "subnet " + to_string(net) + " overlaps " + to_string(s.net) + " of " + s.owner +
                        "; each port and peer needs its own subnet");
                return;
            }
        }
        subnets_.push_back({net, "peer " + name + " (" + A + ")", k});
    }

    void peer_addresses(size_t k, const std::string& P, const SourceMark& m) {
        const RdmaPeerConfig& p = cfg_.rdma_peers[k];
        std::map<IpAddr::Family, size_t> first;  // family -> index of its peer address
        for (size_t j = 0; j < p.peer_addresses.size(); ++j) {
            const IpAddr& a = p.peer_addresses[j];
            const std::string A = P + ".peer_addresses[" + std::to_string(j) + "]";
            const std::string as = to_string(a);
            if (auto [it, fresh] = first.emplace(a.family, j); !fresh) {
                err(m, A,
                    std::string("at most one peer address per family (a point-to-point link has one neighbor); ") +
                        P + ".peer_addresses[" + std::to_string(it->second) + "] is already the " + family_name(a) +
                        " one");
                continue;
            }
            if (auto why = non_unicast_reason(a); !why.empty()) {
                err(m, A, "peer address " + as + " " + why + "; expected a unicast address");
                continue;
            }
            if (auto it = own_.find(a); it != own_.end()) {
                err(m, A, "peer address " + as + " is this router's own address (" + it->second + ")");
                continue;
            }
            const Subnet* in = nullptr;
            for (const auto& s : subnets_)
                if (s.peer == k && contains(s.net, a)) in = &s;
            // The subnets as written: one refused above (overlap, ...) has
            // its own error, and a peer address inside it none more.
            std::string mine;
            bool in_refused = false;
            for (const Prefix& w : p.addresses) {
                if (w.addr.family != a.family || w.len > max_len(w.addr)) continue;
                mine += (mine.empty() ? "" : ", ") + to_string(network_of(w));
                in_refused |= !in && contains(w, a);
            }
            if (in_refused) continue;
            if (!in) {
                err(m, A,
                    "peer address " + as + " is not in a subnet of peer " + p.name + " (" +
                        (mine.empty() ? p.name + " has no " + family_name(a) + " address"
                                      : p.name + " has " + mine) +
                        "); it is the peer's end of the link");
            } else if (auto e = v4_edge(in->net, a); !e.empty()) {
                err(m, A, "peer address " + as + " is the " + e + " address of " + to_string(in->net));
            }
        }
        // Each family we have an address of needs the peer's: routes out of
        // the peer go to it (config/rdma.hpp, normalise_rdma).
        for (const IpAddr::Family fam : {IpAddr::Family::V4, IpAddr::Family::V6}) {
            if (first.count(fam)) continue;
            for (const Prefix& a : p.addresses) {
                if (a.addr.family != fam || !rules::usable_interface_address(a)) continue;
                err(m, P + ".peer_addresses",
                    std::string("the peer's ") + family_name(a.addr) + " address is required: " + p.name + " has " +
                        to_string(a) + ", and routes out of the peer go via the peer's address of their family");
                break;
            }
        }
    }

    void mac(size_t k, const std::string& P, const SourceMark& m, bool name_taken) {
        const RdmaPeerConfig& p = cfg_.rdma_peers[k];
        const bool derived = p.mac == MacAddr{};
        if (derived && name_taken) return;
        if (!derived) {
            if (auto why = mac_problem(p.mac); !why.empty()) {
                err(m, P + ".mac", why);
                return;
            }
        }
        const MacAddr eff = link_mac(p);
        if (auto [it, fresh] = macs_.emplace(eff, P + " (" + p.name + ")"); !fresh) {
            if (derived)
                err(m, P + ".mac",
                    "the MAC derived from the name, " + to_string(eff) + ", is already used by " + it->second +
                        "; set mac: explicitly");
            else
                err(m, P + ".mac", "MAC " + to_string(eff) + " is already used by " + it->second);
        }
    }

    std::map<std::string, std::string> names_;  // port and peer names -> where first defined
    std::map<IpAddr, std::string> own_;          // our addresses -> model path
    std::map<MacAddr, std::string> macs_;        // -> "ports[0] (p0)"
    std::vector<Subnet> subnets_;                // usable connected subnets of ports, then peers
    std::vector<std::pair<HostPort, std::string>> listens_;
};

}  // namespace

namespace rules {

void validate_rdma(const Config& cfg, std::vector<ConfigError>& errs) { RdmaValidator(cfg, errs).run(); }

}  // namespace rules

}  // namespace sluice::config
