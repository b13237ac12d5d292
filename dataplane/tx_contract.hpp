// The promise every transmit path of the data plane keeps, and the one place
// that says so: every mbuf handed to rte_eth_tx_burst is direct (not an
// indirect clone, no external buffer), unshared (refcnt 1) and from the one
// packet pool. Ports request RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE only while
// this holds (drivers/ports: PortUse::tx_mbufs_direct_one_pool), since with
// it the PMD returns mbufs to a pool without looking at them.
//
// Whoever adds a path that sends clones (mirroring), external or attached
// buffers (encapsulation with rte_pktmbuf_attach_extbuf, memif zero-copy,
// RDMA-backed buffers) or mbufs of a second pool must set this to false:
// then the offload is off and the PMD frees each mbuf the careful way.
// Debug builds check the promise on every transmitted mbuf (tx_checked()).
#pragma once

#include <rte_mbuf.h>

namespace sluice::dp {

inline constexpr bool kTxMbufsDirectOnePool = true;

// True when m keeps the promise for `pool`. Called under !NDEBUG only.
inline bool tx_checked(const rte_mbuf* m, const rte_mempool* pool) {
    return RTE_MBUF_DIRECT(m) && rte_mbuf_refcnt_read(m) == 1 && m->pool == pool && m->next == nullptr;
}

}  // namespace sluice::dp
