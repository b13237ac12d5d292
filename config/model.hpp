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

// A VIP's health check (`vips[].health`; docs/config.md, docs/control.md).
// Read by the control process only: the data plane parses and validates it
// (one file for both) and ignores it. Semantics follow HAProxy's and GLB's:
// a backend goes down after `fall` consecutive failures and comes back up
// after `rise` consecutive successes.
struct HealthCheckConfig {
    enum class Type : uint8_t { tcp, http, udp };
    Type type = Type::tcp;
    uint16_t port = 0;             // 0: the backend's port, else the VIP's port (required when both are 0)
    uint32_t interval_ms = 1000;   // between the starts of two probes of one backend
    uint32_t timeout_ms = 500;     // a probe not answered by then failed; < interval_ms
    uint32_t rise = 2;             // consecutive successes that bring a down backend up
    uint32_t fall = 3;             // consecutive failures that take an up backend down
    uint32_t jitter_ms = 0;        // first probe of each backend at a uniform random offset in [0, jitter_ms]
    // http: GET `path` with `Host: host` (default: the backend's address),
    // success when the status code equals expect_status.
    std::string path = "/";
    std::string host;
    uint16_t expect_status = 200;
    // udp: sends `send`, success when a reply arrives that starts with
    // `expect` (empty: any reply).
    std::string send;
    std::string expect;
    SourceMark mark;
    friend bool operator==(const HealthCheckConfig& a, const HealthCheckConfig& b) {
        return a.type == b.type && a.port == b.port && a.interval_ms == b.interval_ms &&
               a.timeout_ms == b.timeout_ms && a.rise == b.rise && a.fall == b.fall && a.jitter_ms == b.jitter_ms &&
               a.path == b.path && a.host == b.host && a.expect_status == b.expect_status && a.send == b.send &&
               a.expect == b.expect;
    }
};

// A `vips:` item (api/lb.hpp; docs/config.md, "vips[]").
struct VipConfig : api::Vip {
    SourceMark mark;
    std::optional<HealthCheckConfig> health;  // absent: backends keep their configured state
    // gue_port was written: only gue has one (a Config built in code is
    // checked by value: a gue_port other than the default).
    bool gue_port_set = false;
};

// The `lb:` section.
using LbConfig = api::LbSettings;

// The `control:` section: how the data plane and the control process meet
// (docs/control.md). Both processes read it from the same file.
struct ControlConfig {
    std::string socket = "/run/sluice/dataplane.sock";  // the data plane's channel (the control process connects)
    std::string cli_socket = "/run/sluice/control.sock"; // the control process's socket for the CLI
    std::string group;            // besides root (and the owner's uid), members of this group may connect
    std::string metrics = "127.0.0.1:9642";  // Prometheus endpoint of the control process; "" = off
    std::vector<uint32_t> cores;  // CPUs of the control side (control process, TBB); empty = not pinned
    uint32_t max_message = 16u << 20;  // bytes of one framed message body, both directions
    SourceMark mark;
};

// An `rdma.peers[]` item (docs/config.md, "rdma"; docs/rdma.md): another
// data plane node reached over an RDMA reliable connection. To routes it is
// a port: `name` is a port name, `addresses` its connected subnets, and the
// peer's own addresses on that point-to-point link (`peer_addresses`) are
// static neighbors that parse_config adds to `Config::neighbors`. Fixed for
// the process's life (a reload that changes it is refused, like a port's
// hardware fields).
struct RdmaPeerConfig {
    std::string name;              // [a-z0-9_-]{1,15}, unique among ports and peers
    std::string device = "standin"; // an RDMA device (ibv_get_device_name: mlx5_0) or "standin"
    uint8_t device_port = 1;       // the device's port number (1-based, as in ibv_query_port)
    int32_t gid_index = -1;        // -1: chosen from the GID table by type (RoCEv2 first) and family
    std::string link_layer;        // stand-in only: "ethernet" (RoCEv2, default) or "infiniband"
    std::string listen;            // host:port where we wait for the peer's exchange...
    std::string connect;           // ...or host:port where we reach it (exactly one of the two)
    std::vector<Prefix> addresses; // our addresses on the link (connected subnets)
    std::vector<IpAddr> peer_addresses;  // the peer's addresses on the link (one per family at most)
    MacAddr mac{};                 // our link MAC; all-zero: derived from the name
    uint16_t mtu = 1500;           // L3 MTU over the link
    uint32_t send_queue = 512;     // send work requests (power of two, 64..8192)
    uint32_t recv_queue = 512;     // receive buffers for this peer = credits granted to it (power of two, 64..8192)
    uint32_t inline_max = 128;     // bytes sent inline (copied into the work request); 0 = never
    uint32_t signal_every = 32;    // one signalled send per this many (1..send_queue/2)
    int32_t worker = -1;           // the worker that owns the queue pair; -1 = round robin
    bool required = false;         // start-up fails when the device is missing
    SourceMark mark;
};

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
    ControlConfig control;
    std::vector<RdmaPeerConfig> rdma_peers;  // `rdma.peers`
};

}  // namespace sluice::config
