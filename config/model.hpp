// The configuration model shared by the data plane and the control process.
// Plain values only: parsing and validation live in parse.cpp / validate.cpp,
// so the data plane can build snapshots from a Config without touching YAML.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sluice::config {

using MacAddr = std::array<uint8_t, 6>;

// An IPv4 or IPv6 address. IPv4 is stored in bytes[0..3] in network order,
// the rest zero, so both families compare and hash the same way.
struct IpAddr {
    enum class Family : uint8_t { V4, V6 };
    Family family = Family::V4;
    std::array<uint8_t, 16> bytes{};

    bool is_v4() const { return family == Family::V4; }
    bool is_v6() const { return family == Family::V6; }
    // IPv4 address in host byte order (only meaningful when is_v4()).
    uint32_t v4_host() const {
        return (uint32_t(bytes[0]) << 24) | (uint32_t(bytes[1]) << 16) |
               (uint32_t(bytes[2]) << 8) | uint32_t(bytes[3]);
    }
    static IpAddr from_v4_host(uint32_t a) {
        IpAddr r;
        r.bytes[0] = uint8_t(a >> 24);
        r.bytes[1] = uint8_t(a >> 16);
        r.bytes[2] = uint8_t(a >> 8);
        r.bytes[3] = uint8_t(a);
        return r;
    }
    friend bool operator==(const IpAddr&, const IpAddr&) = default;
    friend auto operator<=>(const IpAddr&, const IpAddr&) = default;
};

// addr/len. For route prefixes the host bits are zero (validated); for
// interface addresses addr is the interface's own address.
struct Prefix {
    IpAddr addr;
    uint8_t len = 0;
    friend bool operator==(const Prefix&, const Prefix&) = default;
};

// Where a config value came from, for error messages after load (reload
// diagnostics name the same line the operator edited).
struct SourceMark {
    int line = 0;    // 1-based; 0 = unknown
    int column = 0;  // 1-based
    uint32_t file = 0;  // 0 = the config file; k = Config::route_files[k - 1]
};

struct IdleBackoff {
    bool enabled = false;          // off by default: bare metal busy-polls
    uint32_t pause_after = 64;     // empty polls before rte_pause() between polls
    uint32_t sleep_after = 1024;   // empty polls before sleeping
    uint32_t sleep_us = 100;       // sleep length once past sleep_after
};

struct WorkerConfig {
    uint16_t burst = 32;           // rx/tx burst size, 1..256
    IdleBackoff idle;
};

struct NeighborConfig {
    uint32_t capacity = 4096;      // neighbor entries per family
    uint32_t reachable_ms = 30000; // RFC 4861 REACHABLE_TIME
    uint32_t retrans_ms = 1000;    // RFC 4861 RETRANS_TIMER
    uint32_t max_probes = 3;       // solicitations before FAILED
    uint32_t max_pending = 16;     // packets queued per unresolved neighbor
    uint32_t gc_ms = 60000;        // FAILED/unused entries are deleted after this
};

struct IcmpConfig {
    uint32_t rate_pps = 1000;      // token bucket refill, ICMP errors per second
    uint32_t burst = 100;          // bucket depth
};

struct PortConfig {
    std::string name;              // our name, referenced by routes and neighbors
    std::string device;            // DPDK device: "0000:01:00.0", "net_tap0,iface=dp0", ...
    uint16_t rx_queues = 1;
    uint16_t rx_desc = 1024;
    uint16_t tx_desc = 1024;
    uint16_t mtu = 1500;           // L3 MTU
    std::optional<MacAddr> mac;    // override the device's MAC
    bool promiscuous = false;
    std::vector<Prefix> addresses; // interface addresses with prefix length
    SourceMark mark;
};

struct NextHop {
    std::optional<IpAddr> via;     // gateway; absent = destination is on-link
    std::string port;              // egress port name; empty = derived from via
    friend bool operator==(const NextHop&, const NextHop&) = default;
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
};

}  // namespace sluice::config
