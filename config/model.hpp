// The configuration model shared by the data plane and the control process.
// Plain values only: parsing and validation live in parse.cpp / validate.cpp,
// so the data plane can build snapshots from a Config without touching YAML.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/lb.hpp"
#include "api/net.hpp"
#include "api/port.hpp"
#include "api/settings.hpp"

namespace sluice::config {

using net::IpAddr;
using net::MacAddr;
using net::Prefix;

// Where a config value came from, for error messages after load (reload
// diagnostics name the same line the operator edited).
struct SourceMark {
    int line = 0;    // 1-based; 0 = unknown
    int column = 0;  // 1-based
    uint32_t file = 0;  // 0 = the config file; k = Config::route_files[k - 1]
};

// The workers, neighbor and icmp sections (api/settings.hpp: shared with the
// data plane's update requests).
using IdleBackoff = api::IdleBackoff;
using WorkerConfig = api::WorkerSettings;
using NeighborConfig = api::NeighborSettings;
using IcmpConfig = api::IcmpSettings;

// The hardware part (net::PortSpec: name, device, queues, descriptors, MTU,
// MAC, promiscuous) is fixed for the process's life; addresses reload.
struct PortConfig : net::PortSpec {
    std::vector<Prefix> addresses; // interface addresses with prefix length
    SourceMark mark;
};

struct NextHop {
    std::optional<IpAddr> via;     // gateway; absent = destination is on-link
    std::string port;              // egress port name; empty = derived from via
    friend bool operator==(const NextHop&, const NextHop&) = default;
    friend auto operator<=>(const NextHop&, const NextHop&) = default;
};

struct Route {
    Prefix prefix;
    std::vector<NextHop> nexthops; // more than one = ECMP group
    SourceMark mark;
};

struct StaticNeighbor {
    IpAddr address;
    MacAddr mac{};
    std::string port;
    SourceMark mark;
};

// A `vips:` item (api/lb.hpp; docs/config.md, "vips[]").
struct VipConfig : api::Vip {
    SourceMark mark;
    // gue_port was written: only gue has one (a Config built in code is
    // checked by value: a gue_port other than the default).
    bool gue_port_set = false;
};

// The `lb:` section.
using LbConfig = api::LbSettings;

struct Config {
    std::string source;            // file path (or "<string>") it was read from
    uint32_t mbufs = 16383;        // mbufs in the pool (per socket)
    uint16_t mbuf_cache = 256;
    WorkerConfig workers;
    NeighborConfig neighbor;
    IcmpConfig icmp;
    std::vector<PortConfig> ports;
    std::vector<Route> routes;         // the YAML's, then each route file's in order
    std::vector<std::string> route_files;  // resolved paths (config/route_file.hpp)
    std::vector<StaticNeighbor> neighbors;
    LbConfig lb;
    std::vector<VipConfig> vips;
};

}  // namespace sluice::config
