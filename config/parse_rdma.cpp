// The `rdma:` section of the YAML (docs/config.md, "rdma"): typing only;
// the ranges and the rules across fields and sections are in
// validate_rdma.cpp, so a Config built in code is checked the same way.
// Also the derived MACs and the normalisation parse_config() runs once the
// whole file validated (config/rdma.hpp).
#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <utility>

#include "api/addr_class.hpp"
#include "config/parser.hpp"
#include "config/rdma.hpp"

namespace sluice::config {

uint64_t rdma_name_hash(std::string_view name) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (char c : name) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ull;
    }
    return h;
}

MacAddr derived_link_mac(std::string_view name) {
    const uint64_t h = rdma_name_hash(name);
    return MacAddr{0x02, uint8_t(h >> 32), uint8_t(h >> 24), uint8_t(h >> 16), uint8_t(h >> 8), uint8_t(h)};
}

MacAddr link_mac(const RdmaPeerConfig& p) { return p.mac == MacAddr{} ? derived_link_mac(p.name) : p.mac; }

MacAddr peer_neighbor_mac(std::string_view name) {
    const uint64_t h = rdma_name_hash(name);
    const uint16_t f = uint16_t(h ^ (h >> 16) ^ (h >> 32) ^ (h >> 48));  // short names differ in the low bits
    return MacAddr{0x02, 0x00, 0x5e, 0x00, uint8_t(f >> 8), uint8_t(f)};
}

// A field added to RdmaPeerConfig must be compared below, or a reload would
// silently keep the old value: this fails to compile until it is (then
// update the size).
static_assert(sizeof(void*) != 8 || sizeof(RdmaPeerConfig) == 264,
              "RdmaPeerConfig changed: add the new field to changed_rdma_fields()");

std::vector<std::string_view> changed_rdma_fields(const RdmaPeerConfig& a, const RdmaPeerConfig& b) {
    std::vector<std::string_view> out;
    auto check = [&](bool same, std::string_view name) {
        if (!same) out.push_back(name);
    };
    check(a.name == b.name, "name");
    check(a.device == b.device, "device");
    check(a.device_port == b.device_port, "device_port");
    check(a.gid_index == b.gid_index, "gid_index");
    check(a.link_layer == b.link_layer, "link_layer");
    check(a.listen == b.listen, "listen");
    check(a.connect == b.connect, "connect");
    check(a.addresses == b.addresses, "addresses");
    check(a.peer_addresses == b.peer_addresses, "peer_addresses");
    check(a.mac == b.mac, "mac");
    check(a.mtu == b.mtu, "mtu");
    check(a.send_queue == b.send_queue, "send_queue");
    check(a.recv_queue == b.recv_queue, "recv_queue");
    check(a.inline_max == b.inline_max, "inline_max");
    check(a.signal_every == b.signal_every, "signal_every");
    check(a.worker == b.worker, "worker");
    check(a.required == b.required, "required");
    return out;
}

namespace rules {

int find_rdma_peer(const Config& cfg, std::string_view name) {
    for (size_t i = 0; i < cfg.rdma_peers.size(); ++i)
        if (cfg.rdma_peers[i].name == name) return int(i);
    return -1;
}

void normalise_rdma(Config& cfg) {
    if (cfg.rdma_peers.empty()) return;  // a table of 10^6 routes and no peers: no pass over it

    for (auto& p : cfg.rdma_peers)
        if (p.link_layer.empty() && p.device == kStandinDevice) p.link_layer = "ethernet";

    // A point-to-point link has one neighbor per family: an on-link next
    // hop through a peer goes to that neighbor. Validation refused a route
    // whose family the peer has no address of.
    for (auto& r : cfg.routes)
        for (auto& h : r.nexthops) {
            if (h.via || h.port.empty()) continue;
            int k = find_rdma_peer(cfg, h.port);
            if (k < 0) continue;
            for (const IpAddr& a : cfg.rdma_peers[size_t(k)].peer_addresses)
                if (a.family == r.prefix.addr.family) {
                    h.via = a;
                    break;
                }
        }

    // The peer's addresses as static neighbors (no ARP or ND runs over an
    // RDMA link); one the operator wrote for the same address and port wins.
    std::set<std::pair<std::string, IpAddr>> written;
    for (const auto& n : cfg.neighbors) written.emplace(n.port, n.address);
    for (const auto& p : cfg.rdma_peers)
        for (const IpAddr& a : p.peer_addresses) {
            if (written.count({p.name, a})) continue;
            StaticNeighbor s;
            s.address = a;
            s.mac = peer_neighbor_mac(p.name);
            s.port = p.name;
            s.mark = p.mark;
            cfg.neighbors.push_back(std::move(s));
        }
}

}  // namespace rules

namespace detail {

void Parser::rdma(const YAML::Node& n, const std::string& path) {
    fields(n, path,
           {
               {"peers",
                [&](const YAML::Node& v, const std::string& p) {
                    list(v, p, "a list of RDMA peers (each item starting with \"- name:\")",
                         [&](const YAML::Node& item, const std::string& ip, size_t) { rdma_peer(item, ip); });
                }},
           },
           "a map with peers");
}

void Parser::rdma_peer(const YAML::Node& n, const std::string& path) {
    RdmaPeerConfig pc;
    pc.mark = mark_of(n);
    static const std::string host_port(rules::kHostPortExpect);
    // "auto" (-1) or a number of r's range; the range is validate()'s.
    auto auto_or = [this](const rules::Range& r, int32_t& out) {
        return [this, r, dst = &out](const YAML::Node& v, const std::string& p) {
            if (v.IsScalar() && v.Scalar() == "auto") {
                *dst = -1;
                return;
            }
            uint32_t x = 0;
            size_t before = errs_.size();
            number(v, p, r, x);
            if (errs_.size() == before) *dst = int32_t(std::min<uint32_t>(x, std::numeric_limits<int32_t>::max()));
        };
    };
    // The syntax is validate()'s; an empty text here, since "absent" is
    // how the model says the peer does not use that side.
    auto endpoint = [this](std::string& out) {
        return [this, dst = &out](const YAML::Node& v, const std::string& p) {
            if (!text(v, p, host_port, dst)) return;
            if (dst->empty()) error(v, p, "expected " + host_port + ", got \"\"");
        };
    };
    auto u32 = [this](const rules::Range& r, uint32_t& out) {
        return [this, r, dst = &out](const YAML::Node& v, const std::string& p) { number(v, p, r, *dst); };
    };
    auto seen = fields(
        n, path,
        {
            {"name", [&](const YAML::Node& v, const std::string& p) { text(v, p, "a peer name like r0", &pc.name); }},
            {"device",
             [&](const YAML::Node& v, const std::string& p) {
                 text(v, p, "an RDMA device name like mlx5_0, or standin", &pc.device);
             }},
            {"device_port",
             [&](const YAML::Node& v, const std::string& p) { number(v, p, rules::kDevicePort, pc.device_port); }},
            {"gid_index", auto_or(rules::kGidIndex, pc.gid_index)},
            {"link_layer",
             [&](const YAML::Node& v, const std::string& p) {
                 int which = 0;
                 if (choice(v, p, {{"ethernet", 0}, {"infiniband", 1}}, which))
                     pc.link_layer = which == 0 ? "ethernet" : "infiniband";
             }},
            {"listen", endpoint(pc.listen)},
            {"connect", endpoint(pc.connect)},
            {"addresses",
             [&](const YAML::Node& v, const std::string& p) {
                 list(v, p, "a list of addresses like [\"198.18.250.1/30\", \"2001:db8:250::1/64\"]",
                      [&](const YAML::Node& item, const std::string& ip, size_t) {
                          Prefix a;
                          size_t before = errs_.size();
                          prefix(item, ip, "an address with prefix length like 198.18.250.1/30 or 2001:db8:250::1/64",
                                 &a);
                          if (errs_.size() == before) pc.addresses.push_back(a);
                      });
             }},
            {"peer_addresses",
             [&](const YAML::Node& v, const std::string& p) {
                 list(v, p, "a list of the peer's addresses like [198.18.250.2, \"2001:db8:250::2\"]",
                      [&](const YAML::Node& item, const std::string& ip_path, size_t) {
                          IpAddr a;
                          if (ip(item, ip_path, &a)) pc.peer_addresses.push_back(a);
                      });
             }},
            {"mac",
             [&](const YAML::Node& v, const std::string& p) {
                 MacAddr m{};
                 size_t before = errs_.size();
                 mac(v, p, &m);
                 if (errs_.size() == before) {
                     // All-zero means "derived" in the model: written, it is an error.
                     if (m == MacAddr{}) error(v, p, net::mac_problem(m));
                     pc.mac = m;
                 }
             }},
            {"mtu", [&](const YAML::Node& v, const std::string& p) { number(v, p, rules::kRdmaMtu, pc.mtu); }},
            {"send_queue", u32(rules::kRdmaQueue, pc.send_queue)},
            {"recv_queue", u32(rules::kRdmaQueue, pc.recv_queue)},
            {"inline_max", u32(rules::kInlineMax, pc.inline_max)},
            {"signal_every", u32(rules::kSignalEveryAny, pc.signal_every)},
            {"worker", auto_or(rules::kRdmaWorker, pc.worker)},
            {"required", [&](const YAML::Node& v, const std::string& p) { boolean(v, p, pc.required); }},
        },
        "an RDMA peer (a map with name, listen or connect, addresses, peer_addresses, ...)", false);
    if (!n.IsMap()) return;
    if (!seen.count("name")) missing(n, path, "name", "a peer name like r0");
    cfg_.rdma_peers.push_back(std::move(pc));
}

}  // namespace detail

}  // namespace sluice::config
