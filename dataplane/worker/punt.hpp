// Why a worker hands a packet to the agent. The reason travels in an mbuf
// dynamic field (rte_mbuf_dynfield_register) registered once at start-up,
// so the punt ring carries plain mbuf pointers and the mbuf's RSS hash
// (hash.rss, which the flow-tracking work reads) is left alone.
#pragma once

#include <cstdint>
#include <string>

#include <rte_mbuf.h>
#include <rte_errno.h>
#include <rte_mbuf_dyn.h>

namespace sluice::dp {

enum class Punt : uint32_t {
    none = 0,         // not from a worker: a packet the agent built itself
    local = 1,        // ARP, ND, or addressed to one of our addresses
    no_route = 2,     // agent sends ICMP unreachable
    ttl = 3,          // agent sends ICMP time exceeded
    too_big = 4,      // agent sends ICMP frag needed / packet too big
    neighbor = 5,     // next hop's MAC unknown: agent resolves and queues
    // The load balancer's (lb/stage.cpp); the payload (punt_payload) says more.
    vip_echo = 6,     // ICMP echo request to a VIP address: the agent answers from the VIP
    lb_too_big = 7,   // would not fit after encapsulation: payload = the MTU to report
    lb_neighbor = 8,  // rewritten for a backend whose MAC is unknown: payload = backend slot + 1
                      // for L2 DSR (the packet still names the VIP), 0 when the packet's own
                      // destination is the one to resolve (NAT, encapsulation)
};
inline constexpr uint32_t kPuntKinds = 16;

namespace detail {
// The field's offset in struct rte_mbuf, set once by punt_field_register()
// before any worker runs; read-only afterwards (DPDK's own dynfield
// helpers keep their offsets the same way).
inline int punt_offset = -1;
}  // namespace detail

// Registers the field (idempotent: the same name gives the same offset).
// Empty on success, else why not.
inline std::string punt_field_register() {
    static const rte_mbuf_dynfield desc = {"sluice_punt_reason", sizeof(uint32_t), alignof(uint32_t), 0};
    int off = rte_mbuf_dynfield_register(&desc);
    if (off < 0) return std::string("rte_mbuf_dynfield_register(sluice_punt_reason): ") + rte_strerror(rte_errno);
    detail::punt_offset = off;
    return {};
}

// The field holds the kind in its low 8 bits and a 24-bit payload above.
inline void set_punt(rte_mbuf* m, Punt p, uint32_t payload = 0) {
    *RTE_MBUF_DYNFIELD(m, detail::punt_offset, uint32_t*) = uint32_t(p) | (payload << 8);
}
inline Punt punt_of(const rte_mbuf* m) {
    return Punt(*RTE_MBUF_DYNFIELD(m, detail::punt_offset, const uint32_t*) & 0xff);
}
inline uint32_t punt_payload(const rte_mbuf* m) { return *RTE_MBUF_DYNFIELD(m, detail::punt_offset, const uint32_t*) >> 8; }

}  // namespace sluice::dp
