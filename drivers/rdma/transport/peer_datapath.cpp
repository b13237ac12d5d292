// Peer, fast path (the owning worker): tx_burst, rx_burst, poll, and the
// failure that gives the queue pair up. No locks, no allocation.
//
// Wire format: one frame per SEND_WITH_IMM; the 32-bit immediate returns
// credits (credits.hpp). A zero-length SEND_WITH_IMM (num_sge 0, legal on
// RC) is a credit update alone: the receiver recycles its buffer.
#include <arpa/inet.h>
#include <rte_mbuf.h>

#include <algorithm>

#include "drivers/rdma/transport/device.hpp"
#include "drivers/rdma/transport/peer.hpp"
#include "drivers/rdma/transport/peer_impl.hpp"
#include "drivers/rdma/transport/receive_queue.hpp"
#include "drivers/rdma/verbs/ops.hpp"

namespace sluice::drivers::rdma {

namespace {

// Frees mbufs in groups (rte_pktmbuf_free_bulk returns each group to the
// pool's cache in one call).
struct FreeBatch {
    rte_mbuf* m[64];
    uint32_t n = 0;
    void add(rte_mbuf* x) {
        m[n++] = x;
        if (n == 64) flush();
    }
    void flush() {
        if (n) rte_pktmbuf_free_bulk(m, n);
        n = 0;
    }
};

}  // namespace

uint16_t Peer::tx_burst(rte_mbuf** pkts, uint16_t n) {
    if (state_.load(std::memory_order_relaxed) != PeerState::up) return 0;
    Impl& im = *impl_;
    const VerbsOps& ops = dev_.ops();
    uint32_t r = 0;  // next frame to look at
    uint32_t w = 0;  // frames taken, packed at the front
    uint64_t bytes = 0, inlined = 0, signalled = 0, refused = 0;
    bool failed = false;
    while (r < n) {
        uint32_t budget = std::min({im.credits.data_allowance(), im.sq_free(), Impl::kMaxList});
        if (budget == 0) break;
        uint32_t k = 0;
        for (; r < n && k < budget; ++r) {
            rte_mbuf* m = pkts[r];
            uint32_t len = m->data_len;
            // One segment, non-empty (an empty SEND means "credits only"),
            // within what the remote's buffers hold.
            if (m->nb_segs != 1 || len == 0 || len > im.remote_max_frame) {
                ++refused;
                continue;
            }
            void* addr = rte_pktmbuf_mtod(m, void*);
            bool inl = len <= im.inline_max;
            uint32_t lkey = 0;
            // An inline frame is copied into the WQE by ibv_post_send: no
            // lkey needed (ibv_post_send(3), IBV_SEND_INLINE).
            if (!inl && !dev_.lkey_of(addr, len, &lkey)) {
                ++refused;
                continue;
            }
            uint64_t seq = im.sq_head + k;
            ibv_sge& sge = im.sges[k];
            sge.addr = reinterpret_cast<uintptr_t>(addr);
            sge.length = len;
            sge.lkey = lkey;
            ibv_send_wr& wr = im.wrs[k];
            wr.wr_id = seq;
            wr.next = nullptr;
            if (k) im.wrs[k - 1].next = &wr;
            wr.sg_list = &sge;
            wr.num_sge = 1;
            wr.opcode = IBV_WR_SEND_WITH_IMM;
            // All owed credits ride on the list's first WR.
            wr.imm_data = htonl(k == 0 ? im.credits.take_owed() : 0);
            wr.send_flags = 0;
            if (inl) {
                wr.send_flags |= IBV_SEND_INLINE;
                ++inlined;
            }
            if (im.next_signalled(seq, false)) {
                wr.send_flags |= IBV_SEND_SIGNALED;
                ++signalled;
            }
            im.sq_mbuf[seq % im.sq_size] = m;
            bytes += len;
            std::swap(pkts[w], pkts[r]);  // [w, r) holds only refused frames
            ++w;
            ++k;
        }
        if (k == 0) break;  // the rest were refused
        ibv_send_wr* bad = nullptr;
        int rc = ops.post_send(im.qp, im.wrs.get(), &bad);
        bump(counters_.doorbells);
        uint64_t first = im.sq_head;
        im.sq_head += k;
        im.credits.take_data(k);
        if (rc != 0) {
            failed = true;
            break;
        }
        // Inline frames were copied at the post: free them now (eRPC does
        // the same with its inline small messages).
        FreeBatch fb;
        for (uint32_t i = 0; i < k; ++i) {
            rte_mbuf*& m = im.sq_mbuf[(first + i) % im.sq_size];
            if (im.wrs[i].send_flags & IBV_SEND_INLINE) {
                fb.add(m);
                m = nullptr;
            } else {
                ++im.inflight_mbufs;
            }
        }
        fb.flush();
        bump(counters_.tx_packets, k);
    }
    if (failed) {
        // Frames of the failed list are in the send ring: fail() frees them
        // as lost. Inline ones were never freed: count them in flight too.
        im.inflight_mbufs = 0;
        for (uint64_t s = im.sq_tail; s != im.sq_head; ++s) im.inflight_mbufs += im.sq_mbuf[s % im.sq_size] != nullptr;
        fail(true);
        return uint16_t(w);
    }
    if (r < n && im.credits.data_allowance() == 0) bump(counters_.credit_stalls, n - r);
    if (refused) bump(counters_.tx_refused, refused);
    if (w) {
        bump(counters_.tx_bytes, bytes);
        if (inlined) bump(counters_.inline_sends, inlined);
        if (signalled) bump(counters_.signalled, signalled);
        im.active = true;
        im.publish();
    }
    return uint16_t(w);
}

uint16_t Peer::rx_burst(rte_mbuf** pkts, uint16_t n) {
    if (state_.load(std::memory_order_relaxed) != PeerState::up) return 0;
    Impl& im = *impl_;
    const VerbsOps& ops = dev_.ops();
    uint32_t got = 0;
    uint64_t bytes = 0, updates = 0, dropped = 0;
    bool error = false, real_error = false;
    while (got < n) {
        int want = int(std::min<uint32_t>(n - got, Impl::kPollBatch));
        int c = ops.poll_cq(im.rcq, want, im.wc);
        if (c < 0) {  // the CQ overflowed (or the device is gone)
            error = real_error = true;
            break;
        }
        for (int i = 0; i < c; ++i) {
            const ibv_wc& wc = im.wc[i];
            if (wc.status != IBV_WC_SUCCESS) {
                // Flushed receives (our QP is in error) come after the real
                // error that put it there; the buffer is intact either way.
                error = true;
                real_error = real_error || wc.status != IBV_WC_WR_FLUSH_ERR;
                rq_.recycle(wc.wr_id);
                continue;
            }
            bool has_imm = (wc.wc_flags & IBV_WC_WITH_IMM) != 0;
            bool data = wc.byte_len > 0;
            im.credits.received(data);
            if (!has_imm) {  // not from a peer of ours: no credit header
                ++dropped;
                rq_.recycle(wc.wr_id);
                continue;
            }
            im.credits.grant(ntohl(wc.imm_data));
            if (!data) {
                ++updates;
                rq_.recycle(wc.wr_id);
                continue;
            }
            rte_mbuf* m = rq_.take(wc.wr_id);
            if (m == nullptr) {
                ++dropped;
                continue;
            }
            m->data_len = uint16_t(wc.byte_len);
            m->pkt_len = wc.byte_len;
            pkts[got++] = m;
            bytes += wc.byte_len;
        }
        if (error || c < want) break;
    }
    if (got) {
        bump(counters_.rx_packets, got);
        bump(counters_.rx_bytes, bytes);
        im.active = true;
    }
    if (updates) bump(counters_.credit_updates_received, updates);
    if (dropped) bump(counters_.rx_dropped, dropped);
    if (error) fail(real_error);
    im.publish();
    return uint16_t(got);
}

void Peer::complete_sends(uint64_t upto) {
    Impl& im = *impl_;
    // A completion for s completes every WR before it too (send queues
    // complete in order on RC).
    if (upto < im.sq_tail || upto >= im.sq_head) return;
    FreeBatch fb;
    for (; im.sq_tail <= upto; ++im.sq_tail) {
        rte_mbuf*& m = im.sq_mbuf[im.sq_tail % im.sq_size];
        if (m) {
            fb.add(m);
            m = nullptr;
            --im.inflight_mbufs;
        }
    }
    fb.flush();
}

bool Peer::send_update(bool signal) {
    Impl& im = *impl_;
    if (im.sq_free() == 0 || !im.credits.take_update()) return false;
    uint64_t seq = im.sq_head;
    ibv_send_wr& wr = im.wrs[0];
    wr = ibv_send_wr{};
    wr.wr_id = seq;
    wr.sg_list = nullptr;
    wr.num_sge = 0;
    wr.opcode = IBV_WR_SEND_WITH_IMM;
    wr.imm_data = htonl(im.credits.take_owed());
    if (im.next_signalled(seq, signal)) {
        wr.send_flags = IBV_SEND_SIGNALED;
        bump(counters_.signalled);
    }
    im.sq_mbuf[seq % im.sq_size] = nullptr;
    ibv_send_wr* bad = nullptr;
    int rc = dev_.ops().post_send(im.qp, &wr, &bad);
    bump(counters_.doorbells);
    im.sq_head++;
    if (rc != 0) {
        fail(true);
        return false;
    }
    bump(counters_.credit_updates_sent);
    return true;
}

void Peer::poll() {
    Impl& im = *impl_;
    PeerState st = state_.load(std::memory_order_relaxed);
    if (st == PeerState::up && reset_requested_.load(std::memory_order_acquire)) {
        reset_requested_.store(false, std::memory_order_relaxed);
        fail(false);
        return;
    }
    if (st != PeerState::up) return;
    const VerbsOps& ops = dev_.ops();

    // Send completions: each signalled one frees the slots (and mbufs) of
    // the WRs up to it.
    for (int round = 0; round < 64; ++round) {
        int c = ops.poll_cq(im.scq, int(Impl::kPollBatch), im.wc);
        if (c < 0) {
            fail(true);
            return;
        }
        for (int i = 0; i < c; ++i) {
            if (im.wc[i].status != IBV_WC_SUCCESS) {
                // The send queue completes in order: the WRs before the one
                // that failed (or was flushed first) were delivered, their
                // completions only unsignalled (IB spec 10.8.3).
                if (im.wc[i].wr_id > im.sq_tail) complete_sends(im.wc[i].wr_id - 1);
                fail(im.wc[i].status != IBV_WC_WR_FLUSH_ERR);
                return;
            }
            complete_sends(im.wc[i].wr_id);
        }
        if (c < int(Impl::kPollBatch)) break;
    }

    // Receive buffers back into the SRQ, then the credits they stand for.
    if (uint32_t short_now = rq_.refill()) bump(counters_.rx_refill_failed, short_now);
    im.credits.release(rq_.deficit());

    if (im.active) {
        im.idle_polls = 0;
        im.active = false;
    } else if (im.idle_polls < Impl::kIdlePolls) {
        ++im.idle_polls;
    }
    bool idle = im.idle_polls >= Impl::kIdlePolls;
    // Unsignalled WRs hold their mbufs and send slots until a later
    // signalled completion; when traffic stops, one signalled (empty)
    // message releases them.
    bool flush = idle && im.unsignalled_run > 0 && im.sq_head != im.sq_tail;
    if (im.credits.update_due(idle) || flush) send_update(flush);
    im.publish();
}

void Peer::stop_and_drain_receives(bool from_link) {
    Impl& im = *impl_;
    const VerbsOps& ops = dev_.ops();
    if (im.qp) {
        // The error state first: the HCA stops using our buffers and
        // flushes the receives it had taken from the SRQ to our CQ (IB spec
        // 10.3.1, SRQ: WQEs in progress complete in error).
        ibv_qp_attr a{};
        a.qp_state = IBV_QPS_ERR;
        ops.modify_qp(im.qp, &a, IBV_QP_STATE);
    }
    // Receive completions already there: the buffers go back to the SRQ
    // (it is shared with the worker's other peers).
    if (!im.rcq) return;
    for (int round = 0; round < 1 << 16; ++round) {
        int c = ops.poll_cq(im.rcq, int(Impl::kPollBatch), im.wc);
        if (c <= 0) break;
        for (int i = 0; i < c; ++i) {
            if (im.wc[i].status == IBV_WC_SUCCESS && im.wc[i].byte_len > 0) bump(counters_.rx_dropped);
            if (from_link)
                rq_.recycle_from_link(im.wc[i].wr_id);
            else
                rq_.recycle(im.wc[i].wr_id);
        }
    }
}

void Peer::free_in_flight() {
    Impl& im = *impl_;
    uint32_t lost = 0;
    FreeBatch fb;
    for (; im.sq_tail != im.sq_head; ++im.sq_tail) {
        rte_mbuf*& m = im.sq_mbuf[im.sq_tail % im.sq_size];
        if (m) {
            fb.add(m);
            m = nullptr;
            ++lost;
        }
    }
    fb.flush();
    bump(counters_.lost_in_flight, lost);
    im.inflight_mbufs = 0;
}

void Peer::fail(bool completion_error) {
    Impl& im = *impl_;
    if (completion_error) bump(counters_.completion_errors);
    stop_and_drain_receives(false);
    free_in_flight();
    im.publish();
    state_.store(PeerState::failed, std::memory_order_release);
}

}  // namespace sluice::drivers::rdma
