// Next hops and ECMP groups: the table the FIBs' values point into.
//
// rte_fib/rte_fib6 store a 64-bit value per prefix (4-byte entries here); we
// pack a kind and an index into it, so one lookup tells the worker whether
// to forward, balance, or punt. Indices are stable for as long as a route
// uses them (tables/nexthop_registry.hpp hands them out), so a route change
// that only adds or drops a gateway publishes a new Nexthops table and
// patches the FIB entries that changed, never the whole FIB.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace sluice::dp {

enum class NhKind : uint8_t {
    none = 0,    // default value: no route
    single = 1,  // index into Nexthops::nh
    group = 2,   // index into Nexthops::groups (ECMP)
    local = 3,   // addressed to the router itself (index = port): punt to the agent
    vip = 4,     // a load-balanced VIP address (index into LbTables::addresses): lb/stage.cpp
};

inline constexpr uint32_t kNhIndexBits = 24;
inline constexpr uint32_t kNhIndexMask = (1u << kNhIndexBits) - 1;
inline constexpr uint32_t kMaxNexthops = kNhIndexMask;

constexpr uint64_t nh_encode(NhKind k, uint32_t index) {
    return (uint64_t(k) << kNhIndexBits) | (index & kNhIndexMask);
}
constexpr NhKind nh_kind(uint64_t v) { return NhKind((v >> kNhIndexBits) & 0x7); }
constexpr uint32_t nh_index(uint64_t v) { return uint32_t(v) & kNhIndexMask; }
inline constexpr uint64_t kNoRoute = nh_encode(NhKind::none, 0);

inline constexpr uint32_t kNoNeighbor = UINT32_MAX;

// A resolved forwarding target. Gateways carry their neighbor slot (the
// agent created it when the next hop was first used), so the worker reads
// the MAC without a hash lookup; on-link next hops (connected routes) look
// the packet's own destination up in the neighbor table.
struct NextHop {
    uint16_t port = 0;                 // DPDK port id
    uint16_t mtu = 1500;               // L3 MTU of the egress port
    uint32_t neighbor = kNoNeighbor;   // gateway's neighbor slot, or kNoNeighbor = on-link
    bool v6 = false;
    std::array<uint8_t, 16> gateway{}; // gateway address (for the agent and telemetry)
};

// What the workers read of a next hop, in 8 bytes: an index then scales
// inside the load's address (NextHop's 28 bytes took a multiply and an add
// a packet; forward.cpp gives the count). Same indices as Nexthops::nh.
struct NhHot {
    uint16_t port = 0;
    uint16_t mtu = 1500;
    // The gateway's neighbor slot + 1; 0: on-link (kNoNeighbor + 1 wraps to
    // 0). NeighborTable::words()[nbr1] is the slot's word, and word 0 is
    // never valid.
    uint32_t nbr1 = 0;
};
static_assert(sizeof(NhHot) == 8);
inline NhHot nh_hot(const NextHop& n) { return {n.port, n.mtu, n.neighbor + 1u}; }

struct EcmpGroup {
    uint32_t first = 0;   // index into Nexthops::members
    uint32_t count = 0;
};

// Immutable once published; replaced as a whole (it holds thousands of
// entries at most, so copying beats patching it under readers).
struct Nexthops {
    std::vector<NextHop> nh;
    std::vector<NhHot> hot;  // nh_hot(nh[i]) for every i: what the workers read
    std::vector<EcmpGroup> groups;
    std::vector<uint32_t> members;  // next hop indices, each group's in stable (gateway, port) order
};

// Picks a group member from a flow hash without a division (Lemire's
// multiply-shift reduction): same hash, same member, on every instance.
inline uint32_t ecmp_pick(const EcmpGroup& g, uint32_t flow_hash) {
    return g.first + uint32_t((uint64_t(flow_hash) * g.count) >> 32);
}

}  // namespace sluice::dp
