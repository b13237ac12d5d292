// The small steps every stage of a burst shares: hand a packet to the agent,
// drop it under a reason, write its Ethernet header, queue it for TX. Inline:
// they are a few instructions each, on the hot path.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

#include <rte_mbuf.h>

#include "dataplane/counters.hpp"
#include "dataplane/pkt/eth.hpp"
#include "dataplane/tables/interfaces.hpp"
#include "dataplane/worker/forward.hpp"
#include "dataplane/worker/punt.hpp"

namespace sluice::dp::burst {

inline void punt(BurstResult& r, rte_mbuf* m, Punt why, uint32_t payload = 0) {
    set_punt(m, why, payload);
    r.punt[r.n_punt++] = m;
}

inline void drop(BurstResult& r, CoreCounters& c, rte_mbuf* m, DropReason why) {
    c.drop(why);
    r.drop[r.n_drop++] = m;
}

inline uint8_t* l3(rte_mbuf* m) { return rte_pktmbuf_mtod_offset(m, uint8_t*, pkt::kEthHdrLen); }

// New Ethernet header: destination from the neighbor word (its low six
// bytes, kMacValid in the top bit), source from the egress interface. The
// whole word goes to bytes 0-7 and the source MAC then overwrites bytes
// 6-11: three stores and no masking or shifting of the word (3 instructions
// per packet less under callgrind than masking the flags out and merging the
// source's first two bytes in).
inline void write_l2(uint8_t* d, uint64_t nbr_word, const Interface& out) {
    static_assert(std::endian::native == std::endian::little, "mac_word keeps the MAC's bytes in memory order");
    std::memcpy(d, &nbr_word, 8);
    std::memcpy(d + 6, out.mac.data(), 6);
}

// The same from the egress port's precomputed bytes 6-13 (source MAC and
// EtherType, Interfaces::eth_src4/6) for the family the packet leaves in:
// two stores and one load, as l3fwd's per-port header. write_l2 takes the
// Interface's address (its size is no power of two) and a six-byte copy.
// Under callgrind (1k x 1k, instructions per packet): IPv4 routing 327.2 ->
// 323.3, IPv6 342.3 -> 338.4; load balancer L2 DSR 664.1 -> 660.1, NAT
// 820.5 -> 813.5 (IPIP unchanged, 808.1). write_l2 stays for the rare
// paths that do not know the family (the bulk neighbor lookup's LB packets).
inline void write_l2_word(uint8_t* d, uint64_t nbr_word, uint64_t src_word) {
    std::memcpy(d, &nbr_word, 8);
    std::memcpy(d + 6, &src_word, 8);
}

// The ports used and their counts are found once per burst
// (BurstResult::list_ports_used, at the end of forward_burst).
// `port` as size_t: from a uint16_t GCC sign-extended the index again
// before every use (see forward_burst's counts for what this saved).
inline void enqueue_tx(BurstResult& r, size_t port, rte_mbuf* m) { *r.tail[port]++ = m; }

// Queues a packet for the bulk neighbor lookup of on-link destinations
// (forward.cpp, step 3). `key_addr`: the address to resolve (null: the
// packet's own destination); `lb`: 0 for a routed packet (TTL decremented on
// send), else a load-balanced one (sent as it is; lb - 1 is the punt payload
// for Punt::lb_neighbor).
// `backend`: for a load-balanced packet to an on-link backend, its slot (the
// lookup's answer fills the worker's neighbor cache), else UINT32_MAX.
inline void queue_onlink(BurstScratch& sc, rte_mbuf* m, uint16_t port, const uint8_t* key_addr, uint32_t lb,
                         uint32_t backend = UINT32_MAX) {
    uint16_t k = sc.n_fwd++;
    sc.fwd_m[k] = m;
    sc.fwd_port[k] = port;
    sc.fwd_addr[k] = key_addr;
    sc.fwd_lb[k] = lb;
    sc.fwd_backend[k] = backend;
}

}  // namespace sluice::dp::burst
