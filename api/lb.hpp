// The load balancer's shared value types: the config file's `vips:` and `lb:`
// sections, and the typed update requests (api/update.hpp) that change VIPs.
// Plain values, no DPDK: the config parser, the data plane's table builder
// and the control process all link them. docs/config.md documents each
// field; docs/lb.md the behaviour.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "api/net.hpp"

namespace sluice::api {

// Which L4 protocols a VIP serves. `both`: TCP and UDP on the same port(s).
enum class LbProto : uint8_t { tcp = 1, udp = 2, both = 3 };

// How a packet reaches its backend (docs/lb.md, "Forwarding modes").
enum class LbMode : uint8_t {
    l2_dsr,  // destination MAC rewritten to the backend's (backend on a connected subnet, same family)
    ipip,    // IPv4-in-IPv4 / IPv6-in-IPv6 (and IPv4-in-IPv6 for an IPv6 backend behind an IPv4 VIP)
    gue,     // GUE variant 1 (draft-ietf-intarea-gue): outer IP + UDP, inner IP packet directly after
    nat,     // destination address (and port) rewritten; replies rewritten back to the VIP
};

// A backend's administrative state (health checks come from the control
// process later; until then the config sets it).
enum class BackendState : uint8_t {
    up,     // in the Maglev table with its weight
    drain,  // out of the Maglev table (weight 0); its tracked flows stay with it
    down,   // out of the Maglev table; its tracked flows follow Vip::on_down
};

// What a tracked flow whose backend went down (or was removed) does on its
// next packet.
enum class DownRule : uint8_t {
    reschedule,  // to the backend the VIP's Maglev table gives now (the entry is updated)
    drop,        // dropped and counted (lb_backend_down); the client's retry opens a new flow
};

// Which fields the flow hash covers for a VIP.
enum class LbHash : uint8_t {
    five_tuple,  // addresses, protocol and ports (fragments: addresses and protocol)
    addresses,   // source and destination address and protocol only (all of a client's flows together)
};

inline constexpr uint32_t kDefaultMaglevSize = 65537;   // prime (Maglev, NSDI 2016, 3.4)
inline constexpr uint32_t kMaxMaglevSize = 1000003;     // prime; about 4 MB of table per VIP
inline constexpr uint32_t kMaxBackendWeight = 10000;
inline constexpr uint16_t kDefaultGuePort = 9886;        // Katran's GUE destination port

struct Backend {
    net::IpAddr address;
    uint16_t port = 0;        // 0: the packet's destination port is kept (NAT); ignored by DSR and encap modes
    uint32_t weight = 1;      // 0..kMaxBackendWeight; 0 behaves as drain
    BackendState state = BackendState::up;
    friend bool operator==(const Backend&, const Backend&) = default;
};

// A VIP is identified by (address, protocol, port); port 0 means every port.
// A packet to the address matches the VIP with its exact port first, then
// the all-ports VIP of its protocol.
struct VipKey {
    net::IpAddr address;
    LbProto proto = LbProto::tcp;
    uint16_t port = 0;
    friend bool operator==(const VipKey&, const VipKey&) = default;
    friend auto operator<=>(const VipKey&, const VipKey&) = default;
};

struct Vip {
    std::string name;                   // unique; telemetry and counters use it
    VipKey key;
    LbMode mode = LbMode::l2_dsr;
    uint32_t table_size = kDefaultMaglevSize;  // prime, >= 2, <= kMaxMaglevSize
    LbHash hash = LbHash::five_tuple;
    DownRule on_down = DownRule::reschedule;
    // Encapsulation modes: the outer source is taken from this prefix, its
    // host bits from the flow hash, so that a receiver's RSS over the outer
    // header spreads the flows (Katran does the same). Required for ipip and
    // gue, unused otherwise. One per family the VIP's backends use.
    std::vector<net::Prefix> encap_source;
    uint16_t gue_port = kDefaultGuePort;  // GUE: outer UDP destination port
    std::vector<Backend> backends;      // any order: tables are built from them sorted by (address, port)
    friend bool operator==(const Vip&, const Vip&) = default;
};

// Data-plane-wide load balancer settings (config `lb:` section).
struct LbSettings {
    uint32_t flow_table_size = 1u << 20;  // tracked flows per worker (restart only: sizes the table)
    uint32_t tcp_timeout_s = 300;         // idle timeout of a tracked TCP flow
    uint32_t tcp_closing_timeout_s = 10;  // after a FIN or RST was seen
    uint32_t udp_timeout_s = 30;          // idle timeout of a tracked UDP flow
    uint32_t new_flow_rate = 1000000;     // new tracked flows per second per worker; above it: Maglev only
    uint32_t new_flow_burst = 10000;      // token bucket depth for the rate above
    friend bool operator==(const LbSettings&, const LbSettings&) = default;
};

// Update request: set (add or replace) a VIP by its key, or delete it.
// Replacing a VIP rebuilds only its own Maglev table, and only when its
// backends (addresses, ports, weights, states) or table size changed.
struct VipUpdate {
    enum class Op : uint8_t { set, del };
    Op op = Op::set;
    Vip vip;  // del: only vip.key is read
};

// Text forms, for config, telemetry and logs ("tcp", "l2_dsr", "drain", ...).
const char* to_string(LbProto p);
const char* to_string(LbMode m);
const char* to_string(BackendState s);
const char* to_string(DownRule r);
const char* to_string(LbHash h);

}  // namespace sluice::api
