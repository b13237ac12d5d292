// The load balancer's published tables: VIPs, their backends and Maglev
// tables, the VIP addresses the FIBs point at, and the NAT return map.
// Immutable once published, like every table of the root (tables/root.hpp).
// The builder (tables/lb_builder.hpp) copies the small descriptor vectors on
// a change and rebuilds only the Maglev tables of the VIPs whose backends
// changed; unchanged VIPs share their Maglev table with the previous
// publication (shared_ptr).
//
// Slots (VIP, backend, address indices) are stable while the thing exists,
// so a worker's tracked flows (lb/flow_table.hpp) and FIB values stay
// valid across publications; each slot also carries a never-reused uid, so
// a flow tracked to a slot that was freed and reused is told apart.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "api/lb.hpp"
#include "dataplane/lb/flow_table.hpp"

namespace sluice::dp {

inline constexpr uint32_t kMaxLbBackends = lb::kMaxBackendSlots;  // all VIPs together
inline constexpr uint32_t kMaxVipAddresses = 4096;

// Protocol bits a VIP serves.
inline constexpr uint8_t kLbTcp = 1, kLbUdp = 2;

struct MaglevTable {
    uint32_t m = 0;
    std::vector<uint16_t> slot;      // m entries: index into members, or lb::kNoBackend
    std::vector<uint32_t> members;   // index -> global backend slot, in key order
    std::vector<uint32_t> held;      // index -> slots it holds (counted once, when built)
};

struct LbBackend {
    uint32_t uid = 0;                // 0: slot free
    uint32_t vip = 0;                // its VIP's slot
    std::array<uint8_t, 16> addr{};  // network order; IPv4 in the first four bytes
    uint16_t port_be = 0;            // NAT: new destination port (network order); 0 keeps it
    uint8_t v6 = 0;
    api::BackendState state = api::BackendState::up;
    uint32_t weight = 0;
    uint32_t slots = 0;              // Maglev slots it holds (telemetry)
};

struct LbVip {
    uint32_t uid = 0;                // 0: slot free
    api::LbMode mode = api::LbMode::l2_dsr;
    api::LbHash hash = api::LbHash::five_tuple;
    api::DownRule on_down = api::DownRule::reschedule;
    uint8_t v6 = 0;
    uint8_t protos = 0;              // kLbTcp | kLbUdp
    uint16_t port_be = 0;            // 0: all ports
    uint16_t gue_port_be = 0;
    uint8_t src4_len = 0, src6_len = 0;  // encap_source prefixes (len 0xff: none)
    std::array<uint8_t, 4> src4{};
    std::array<uint8_t, 16> src6{};
    // Maglev, as raw pointers into `maglev` for the hot path.
    uint32_t m = 0;
    const uint16_t* slot = nullptr;
    const uint32_t* members = nullptr;
    std::shared_ptr<const MaglevTable> maglev;
    std::shared_ptr<const api::Vip> config;  // as requested (telemetry)
};

// A VIP address (the FIB's NhKind::vip value indexes these): the VIPs on it.
struct LbAddress {
    struct Entry {
        uint8_t protos = 0;
        uint16_t port_be = 0;  // 0: all ports
        uint32_t vip = 0;
    };
    std::vector<Entry> vips;   // exact ports first, then all-ports (lb/stage.cpp matches in order)
};

// NAT return path: a reply from (backend address, protocol, backend port)
// goes out from the VIP. Port 0 in the key: the backend keeps the client's
// destination port, so any source port of that address matches.
struct NatReturnKey {
    std::array<uint8_t, 16> addr{};
    uint16_t port_be = 0;
    uint8_t proto = 0;
    uint8_t v6 = 0;
    friend bool operator==(const NatReturnKey&, const NatReturnKey&) = default;
    template <class H>
    friend H AbslHashValue(H h, const NatReturnKey& k) {
        return H::combine(std::move(h), k.addr, k.port_be, k.proto, k.v6);
    }
};
struct NatReturn {
    std::array<uint8_t, 16> vip_addr{};
    uint16_t vip_port_be = 0;  // 0: keep the port (all-ports VIP, port-keeping backend)
    uint32_t vip = 0;
};

struct LbTables {
    std::vector<LbVip> vips;            // by VIP slot
    std::vector<LbBackend> backends;    // by backend slot
    // By backend slot: its uid while it keeps its tracked flows (up or
    // draining), else 0. The stage's one-load check of a tracked flow's
    // backend (lb/stage.cpp); anything else takes the full check.
    std::vector<uint32_t> keeps_flows;
    std::vector<LbAddress> addresses;   // by address index
    absl::flat_hash_map<NatReturnKey, NatReturn> nat_return;
    // One bit per hash of a NAT backend's address: the worker tests a
    // routed packet's source here before looking the map up, so routing
    // pays one load when NAT VIPs exist and nothing when they do not.
    static constexpr uint32_t kNatFilterBits = 1u << 16;
    std::vector<uint64_t> nat_filter;   // kNatFilterBits / 64 words, empty when no NAT VIP
    uint32_t vip_count = 0, backend_count = 0;
};

// The filter's bit for an address (bytes: 4 for IPv4, 16 for IPv6).
inline uint32_t nat_filter_bit(const uint8_t* a, bool v6) {
    uint32_t h = 0x9e3779b9u;
    for (unsigned i = 0; i < (v6 ? 16u : 4u); ++i) h = (h ^ a[i]) * 0x01000193u;
    return (h ^ (h >> 16)) & (LbTables::kNatFilterBits - 1);
}

}  // namespace sluice::dp
