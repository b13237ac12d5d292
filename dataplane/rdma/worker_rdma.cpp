#include "dataplane/rdma/worker_rdma.hpp"

#include <cstring>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dataplane/rdma/rdma_ports.hpp"
#include "drivers/rdma/transport/peer.hpp"

namespace sluice::dp {

namespace {

using drivers::rdma::PeerState;

DropReason why_not_sent(const RdmaPort& rp) {
    return rp.peer && rp.peer->state() == PeerState::up ? DropReason::rdma_no_credit : DropReason::rdma_peer_down;
}

}  // namespace

uint16_t rdma_send(RdmaPort& rp, uint32_t worker, rte_mbuf** pkts, uint16_t n, CoreCounters& c) {
    uint16_t taken;
    DropReason why;
    if (rp.owner == worker) {
        taken = rp.peer ? rp.peer->tx_burst(pkts, n) : 0;
        why = why_not_sent(rp);
    } else {
        taken = uint16_t(rte_ring_mp_enqueue_burst(rp.handoff, reinterpret_cast<void* const*>(pkts), n, nullptr));
        why = DropReason::rdma_handoff_full;
    }
    if (taken < n) {
        c.drop(why, n - taken);
        rte_pktmbuf_free_bulk(pkts + taken, n - taken);
    }
    return taken;
}

bool rdma_agent_send(RdmaPort& rp, rte_mbuf* m) { return rte_ring_mp_enqueue(rp.handoff, m) == 0; }

uint16_t rdma_owner_step(RdmaPort& rp, rte_mbuf** pkts, uint16_t burst) {
    drivers::rdma::Peer* peer = rp.peer;
    // What other threads handed over: sent as they come, in bursts of `burst`.
    rte_mbuf* h[64];
    for (int rounds = 0; rounds < 4; ++rounds) {
        unsigned k = rte_ring_sc_dequeue_burst(rp.handoff, reinterpret_cast<void**>(h), 64, nullptr);
        if (k == 0) break;
        uint16_t sent = peer ? peer->tx_burst(h, uint16_t(k)) : 0;
        if (sent) rp.handoff_sent.fetch_add(sent, std::memory_order_relaxed);
        if (sent < k) {
            rp.handoff_dropped.fetch_add(k - sent, std::memory_order_relaxed);
            rte_pktmbuf_free_bulk(h + sent, k - sent);
        }
    }
    if (!peer) return 0;
    peer->poll();
    uint16_t n = peer->rx_burst(pkts, burst);
    // A point-to-point link (as PPP): every frame that arrives is for us,
    // whatever destination MAC the sender's neighbor entry wrote; make it
    // ours so the parser's L2 check passes. 6 bytes per frame.
    for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        m->port = rp.port_id;
        if (m->data_len >= 6) std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), rp.mac.data(), 6);
    }
    return n;
}

}  // namespace sluice::dp
