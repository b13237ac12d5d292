// The Peer's private state (drivers/rdma/transport/ only): the verbs
// objects, the send ring and the credit accounting. All storage the fast
// path uses is allocated here, in the constructor.
#pragma once

#include <infiniband/verbs.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "drivers/rdma/transport/credits.hpp"
#include "drivers/rdma/transport/peer.hpp"

struct rte_mbuf;

namespace sluice::drivers::rdma {

// Counters have one writer at a time: a load and a store, not a locked
// read-modify-write, on the fast path.
inline void bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

struct Peer::Impl {
    // Work requests per post list (one doorbell). eRPC posts lists of 16;
    // longer lists amortise the doorbell further and a burst is <= 64 here.
    static constexpr uint32_t kMaxList = 64;
    // Completions per poll_cq call.
    static constexpr uint32_t kPollBatch = 64;
    // poll() calls without traffic before the peer counts as idle.
    static constexpr uint32_t kIdlePolls = 3;

    explicit Impl(const PeerParams& p);

    ibv_cq* scq = nullptr;
    ibv_cq* rcq = nullptr;
    ibv_qp* qp = nullptr;
    bool connected = false;  // RTS reached
    EndpointInfo local;
    uint32_t remote_max_frame = 0;
    uint32_t psn = 0;

    Credits credits;

    // The send ring: WR sequence s uses slot s % sq_size; its mbuf (null
    // for inline frames and credit updates) waits there for a signalled
    // completion at or after s. [sq_tail, sq_head) are outstanding.
    uint32_t sq_size;
    uint32_t signal_every;
    uint32_t inline_max;
    std::vector<rte_mbuf*> sq_mbuf;
    uint64_t sq_head = 0, sq_tail = 0;
    uint32_t unsignalled_run = 0;  // WRs posted since the last signalled one
    uint32_t inflight_mbufs = 0;

    std::unique_ptr<ibv_send_wr[]> wrs;  // kMaxList
    std::unique_ptr<ibv_sge[]> sges;     // kMaxList
    ibv_wc wc[kPollBatch];

    uint32_t idle_polls = 0;
    bool active = false;  // frames moved since the last poll()

    // For credits() / in_flight() from other threads.
    std::atomic<uint32_t> credits_seen{0}, inflight_seen{0};

    uint32_t sq_free() const { return sq_size - uint32_t(sq_head - sq_tail); }
    // Whether WR `seq` (about to be posted) is signalled: every
    // signal_every-th, and the one that fills the send queue, since an
    // unsignalled WR's slot is freed only by a later signalled completion
    // (ibv_post_send(3), IBV_SEND_SIGNALED): a full queue of unsignalled
    // WRs would never drain.
    bool next_signalled(uint64_t seq, bool force) {
        uint32_t used_after = uint32_t(seq + 1 - sq_tail);
        bool s = force || ++unsignalled_run >= signal_every || used_after >= sq_size;
        if (s) unsignalled_run = 0;
        return s;
    }
    void publish() {
        credits_seen.store(credits.held(), std::memory_order_relaxed);
        inflight_seen.store(inflight_mbufs, std::memory_order_relaxed);
    }
};

}  // namespace sluice::drivers::rdma
