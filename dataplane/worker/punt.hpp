// Why a worker hands a packet to the agent. Stored in the mbuf (hash.usr,
// which the worker no longer needs once it has decided) so the punt ring
// carries plain mbuf pointers.
#pragma once

#include <cstdint>

#include <rte_mbuf.h>

namespace sluice::dp {

enum class Punt : uint32_t {
    local = 1,        // ARP, ND, or addressed to one of our addresses
    no_route = 2,     // agent sends ICMP unreachable
    ttl = 3,          // agent sends ICMP time exceeded
    too_big = 4,      // agent sends ICMP frag needed / packet too big
    neighbor = 5,     // next hop's MAC unknown: agent resolves and queues
};

inline void set_punt(rte_mbuf* m, Punt p) { m->hash.usr = uint32_t(p); }
inline Punt punt_of(const rte_mbuf* m) { return Punt(m->hash.usr); }

}  // namespace sluice::dp
