// The stand-in's data path: post_send, post_srq_recv, poll_cq. No thread of
// its own: a send is copied onto the wire (the receiver's ring) when posted
// or at a later poll of the sender's send CQ when the ring was full; a
// message is delivered when the receiver polls its receive CQ; the
// sender's completion appears when it polls its send CQ after the receiver
// answered (ACK or NAK, written into the slot). No process-wide lock, no
// allocation: each QP / CQ / SRQ is used by one thread at a time.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "drivers/rdma/standin/internal.hpp"

namespace sluice::drivers::rdma::standin::detail {

namespace {

// A sender with work outstanding and no answer checks whether the
// receiver's process still exists once per this many polls (kill(pid, 0)
// is a system call; the alive flag is read every time).
constexpr uint32_t kDeathCheckEvery = 64;
constexpr uint32_t kPsnMask = 0xFFFFFF;
constexpr uint8_t kRnrInfinite = 7;  // IBA 9.7.5.2.8: rnr_retry 7 retries forever

SendWqe& wqe(Qp* q, uint64_t i) { return q->sq[i % q->cap.max_send_wr]; }
ibv_sge* wqe_sges(Qp* q, uint64_t i) { return &q->sq_sges[(i % q->cap.max_send_wr) * q->cap.max_send_sge]; }
uint8_t* wqe_inline(Qp* q, uint64_t i) { return &q->sq_inline[(i % q->cap.max_send_wr) * q->cap.max_inline_data]; }

void complete_send(Qp* q, uint64_t i, ibv_wc_status status) {
    const SendWqe& w = wqe(q, i);
    // An unsignalled WR completes silently when it succeeds; an error
    // (flush included) always produces a completion (InfiniBand Architecture spec, volume 1, chapter 10.8.3, "Work Request Completion").
    if (status == IBV_WC_SUCCESS && !w.signalled) return;
    ibv_wc wc{};
    wc.wr_id = w.wr_id;
    wc.status = status;
    wc.opcode = IBV_WC_SEND;
    wc.qp_num = q->qp.qp_num;
    push_completion(q->scq, wc, q, i);
}

// In the error state every WR not yet completed completes: the one that
// failed with its error, all others with IBV_WC_WR_FLUSH_ERR.
void flush(Qp* q) {
    for (uint64_t i = q->done; i < q->tail; ++i) {
        SendWqe& w = wqe(q, i);
        auto st = w.status != IBV_WC_SUCCESS ? static_cast<ibv_wc_status>(w.status) : IBV_WC_WR_FLUSH_ERR;
        complete_send(q, i, st);
    }
    q->done = q->wire = q->tail;
}

void fail_wqe(Qp* q, uint64_t i, ibv_wc_status status) {
    wqe(q, i).status = status;
    if (status == IBV_WC_RETRY_EXC_ERR) registry().retry_exceeded.fetch_add(1, std::memory_order_relaxed);
    set_error(q);
}

ibv_wc_status status_of(uint32_t slot_status) {
    switch (slot_status) {
    case kRnrExceeded: return IBV_WC_RNR_RETRY_EXC_ERR;
    case kLenError: return IBV_WC_REM_INV_REQ_ERR;   // the responder NAKs an invalid request
    case kRemOpError: return IBV_WC_REM_OP_ERR;      // the responder failed to place it
    default: return IBV_WC_RETRY_EXC_ERR;            // ignored (PSN) or dropped: no answer
    }
}

// Reads the receiver's answers in order. True when any arrived.
bool process_acks(Qp* q) {
    RingHeader* h = q->out.hdr();
    uint64_t cons = h->cons.load(std::memory_order_acquire);
    bool progressed = false;
    while (q->out_acked < cons && q->qp.state != IBV_QPS_ERR) {
        uint64_t seq = q->out_acked++;
        if (seq < q->out_skip || q->done >= q->wire) continue;
        uint32_t st = q->out.slot(seq)->status;
        progressed = true;
        if (st == kAck) {
            complete_send(q, q->done, IBV_WC_SUCCESS);
            ++q->done;
        } else {
            fail_wqe(q, q->done, status_of(st));
        }
    }
    return progressed;
}

uint64_t sge_total(const ibv_sge* sges, uint32_t n) {
    uint64_t t = 0;
    for (uint32_t i = 0; i < n; ++i) t += sges[i].length;
    return t;
}

// Puts WR i on the wire. False when the ring has no room (it stays queued).
// A WR that cannot be sent fails here and the QP enters the error state.
bool execute(Qp* q, uint64_t i) {
    SendWqe& w = wqe(q, i);
    RingHeader* h = q->out.hdr();
    const ibv_sge* sges = wqe_sges(q, i);
    uint64_t len = w.is_inline ? w.length : sge_total(sges, w.num_sge);
    if (!w.is_inline) {
        // The HCA translates each SGE through its lkey when it reads the
        // buffer: unknown key, other PD or range outside the region fails.
        for (uint32_t k = 0; k < w.num_sge; ++k) {
            if (!sge_ok(q->pd, sges[k], 0)) {
                fail_wqe(q, i, IBV_WC_LOC_PROT_ERR);
                return true;
            }
        }
    }
    if (len > q->ctx->entry->spec.slot_bytes) {
        fail_wqe(q, i, IBV_WC_LOC_LEN_ERR);  // beyond our port's max_msg_sz
        return true;
    }
    // Local checks come first (the HCA reads the buffer before anything
    // goes out); then whether anyone answers.
    if (!h || h->alive.load(std::memory_order_acquire) == 0 ||
        h->responder.load(std::memory_order_acquire) == kErrored) {
        fail_wqe(q, i, IBV_WC_RETRY_EXC_ERR);  // nobody answers: retry_cnt timeouts
        return true;
    }
    if (len > h->slot_bytes) {
        fail_wqe(q, i, IBV_WC_REM_INV_REQ_ERR);  // beyond the responder's max_msg_sz
        return true;
    }
    // A slot is reused only after its answer was read (out_acked).
    if (q->out_prod - q->out_acked >= h->slots) return false;
    uint64_t seq = q->out_prod;
    SlotHeader* s = q->out.slot(seq);
    uint8_t* dst = q->out.payload(seq);
    if (w.is_inline) {
        std::memcpy(dst, wqe_inline(q, i), w.length);
    } else {
        for (uint32_t k = 0; k < w.num_sge; ++k) {
            if (sges[k].length) std::memcpy(dst, reinterpret_cast<const void*>(sges[k].addr), sges[k].length);
            dst += sges[k].length;
        }
    }
    uint32_t npkts = len == 0 ? 1 : static_cast<uint32_t>((len + q->mtu_bytes - 1) / q->mtu_bytes);
    s->token = q->token;
    s->len = static_cast<uint32_t>(len);
    s->psn = q->next_psn;
    s->npkts = npkts;
    s->src_qpn = q->qp.qp_num;
    s->imm = w.imm;
    s->src_lid = q->ctx->entry->spec.link_layer == LinkLayer::infiniband ? q->ctx->node->id : 0;
    s->with_imm = w.with_imm ? 1 : 0;
    s->rnr_retry = q->attr.rnr_retry;
    s->status = kAck;
    h->prod.store(seq + 1, std::memory_order_release);
    q->out_prod = seq + 1;
    q->next_psn = (q->next_psn + npkts) & kPsnMask;
    ++q->wire;
    return true;
}

// The sender's side of progress: answers, then queued WRs onto the wire,
// then, when nothing moves, whether the receiver is still there.
void progress_send(Qp* q) {
    if (q->ctx->killed.load(std::memory_order_relaxed)) return;  // a dead node does nothing
    if (q->done == q->tail) return;
    if (q->qp.state == IBV_QPS_ERR) {
        flush(q);
        return;
    }
    if (q->qp.state != IBV_QPS_RTS) return;
    bool progressed = q->out.mapped() && process_acks(q);
    while (q->qp.state == IBV_QPS_RTS && q->wire < q->tail && execute(q, q->wire)) progressed = true;
    if (q->qp.state == IBV_QPS_RTS && q->done < q->wire && !progressed) {
        RingHeader* h = q->out.hdr();
        bool gone = h->alive.load(std::memory_order_acquire) == 0 ||
                    h->responder.load(std::memory_order_acquire) == kErrored;
        if (!gone && ++q->idle_polls % kDeathCheckEvery == 0) gone = pid_gone(h->fh.owner_pid);
        // The receiver may have answered just before it went away: those
        // answers count first.
        if (gone && !process_acks(q) && q->qp.state == IBV_QPS_RTS) fail_wqe(q, q->done, IBV_WC_RETRY_EXC_ERR);
    } else {
        q->idle_polls = 0;
    }
    if (q->qp.state == IBV_QPS_ERR) flush(q);
}

// The receiver's side: messages waiting in our ring, in order, into the
// SRQ's receives (IBA 9.7.5: RC responder; 9.7.5.2.8 RNR NAK).
void drain(Qp* q) {
    if (q->ctx->killed.load(std::memory_order_relaxed)) return;
    if (q->qp.state != IBV_QPS_RTR && q->qp.state != IBV_QPS_RTS) return;
    RingHeader* h = q->in.hdr();
    if (!h) return;
    auto& r = registry();
    uint64_t prod = h->prod.load(std::memory_order_acquire);
    uint64_t cons = h->cons.load(std::memory_order_relaxed);
    Srq* srq = q->srq;
    while (cons < prod && q->qp.state != IBV_QPS_ERR) {
        SlotHeader* s = q->in.slot(cons);
        uint32_t status = kAck;
        if (q->failed_token != 0 && s->token == q->failed_token) {
            status = kDiscarded;
        } else if (s->psn != q->expected_psn) {
            status = kPsnError;  // out of sequence: silently dropped
        } else if (srq->head == srq->tail) {
            r.rnr_naks.fetch_add(1, std::memory_order_relaxed);
            if (s->rnr_retry == kRnrInfinite || ++q->rnr_naks <= s->rnr_retry) break;  // retried at a later poll
            status = kRnrExceeded;
            q->failed_token = s->token;  // what this sender queued after it is discarded
            q->rnr_naks = 0;
        } else {
            q->rnr_naks = 0;
            uint64_t idx = srq->head++ % srq->max_wr;
            const RecvWqe& rw = srq->wqes[idx];
            const ibv_sge* sges = &srq->sges[idx * srq->max_sge];
            ibv_wc wc{};
            wc.wr_id = rw.wr_id;
            wc.qp_num = q->qp.qp_num;
            wc.src_qp = s->src_qpn;
            wc.slid = s->src_lid;
            wc.opcode = IBV_WC_RECV;
            uint64_t room = sge_total(sges, rw.num_sge);
            uint32_t len = s->len;
            bool prot_ok = true;
            // The SGEs the message lands in must be registered for local write.
            uint64_t left = len;
            for (uint32_t k = 0; k < rw.num_sge && left > 0; ++k) {
                if (!sge_ok(srq->pd, sges[k], IBV_ACCESS_LOCAL_WRITE)) prot_ok = false;
                left -= std::min<uint64_t>(left, sges[k].length);
            }
            if (len > room) {
                wc.status = IBV_WC_LOC_LEN_ERR;
                status = kLenError;
            } else if (!prot_ok) {
                wc.status = IBV_WC_LOC_PROT_ERR;
                status = kRemOpError;
            } else {
                const uint8_t* src = q->in.payload(cons);
                left = len;
                for (uint32_t k = 0; k < rw.num_sge && left > 0; ++k) {
                    uint64_t n = std::min<uint64_t>(left, sges[k].length);
                    std::memcpy(reinterpret_cast<void*>(sges[k].addr), src, n);
                    src += n;
                    left -= n;
                }
                wc.status = IBV_WC_SUCCESS;
                wc.byte_len = len;
                if (s->with_imm) {
                    wc.wc_flags = IBV_WC_WITH_IMM;
                    wc.imm_data = s->imm;
                }
                q->expected_psn = (q->expected_psn + s->npkts) & kPsnMask;
                r.messages.fetch_add(1, std::memory_order_relaxed);
            }
            push_completion(q->rcq, wc, nullptr, 0);
            if (status != kAck) set_error(q);  // a responder error moves the receiving QP to ERR
        }
        s->status = status;
        ++cons;
        h->cons.store(cons, std::memory_order_release);
    }
}

}  // namespace

void set_error(Qp* q) {
    if (q->qp.state == IBV_QPS_ERR) return;
    q->qp.state = IBV_QPS_ERR;
    q->attr.qp_state = IBV_QPS_ERR;
    if (RingHeader* h = q->in.hdr()) h->responder.store(kErrored, std::memory_order_release);
}

void clean_cqs(Qp* q) {
    for (Cq* c : {q->scq, q->rcq}) {
        for (auto& e : c->ring)
            if (e.release_qp == q) e.release_qp = nullptr;
    }
}

void push_completion(Cq* cq, const ibv_wc& wc, Qp* release_qp, uint64_t release_seq) {
    if (cq->overflowed) return;
    if (cq->count == cq->ring.size()) {
        // CQ overrun (IBA 11.4.2.1: an async CQ error; the QPs using it go
        // to the error state). What it held stays pollable; then poll fails.
        cq->overflowed = true;
        registry().cq_overflows.fetch_add(1, std::memory_order_relaxed);
        for (Qp* q : cq->send_qps) set_error(q);
        for (Qp* q : cq->recv_qps) set_error(q);
        return;
    }
    CqEntry& e = cq->ring[(cq->head + cq->count) % cq->ring.size()];
    e.wc = wc;
    e.release_qp = release_qp;
    e.release_seq = release_seq;
    ++cq->count;
}

int post_send(ibv_qp* qp, ibv_send_wr* wr, ibv_send_wr** bad_wr) {
    Qp* q = to_qp(qp);
    int err = 0;
    for (ibv_send_wr* w = wr; w; w = w->next) {
        ibv_qp_state st = q->qp.state;
        bool inl = (w->send_flags & IBV_SEND_INLINE) != 0;
        uint64_t total = 0;
        if (w->num_sge >= 0 && static_cast<uint32_t>(w->num_sge) <= q->cap.max_send_sge)
            total = sge_total(w->sg_list, static_cast<uint32_t>(w->num_sge));
        if (st != IBV_QPS_RTS && st != IBV_QPS_ERR) {
            err = EINVAL;  // a send queue exists only from RTS on (man ibv_post_send)
        } else if (w->opcode != IBV_WR_SEND && w->opcode != IBV_WR_SEND_WITH_IMM) {
            err = EINVAL;  // SEND only: the stand-in does not model RDMA READ/WRITE/atomics
        } else if (w->num_sge < 0 || static_cast<uint32_t>(w->num_sge) > q->cap.max_send_sge) {
            err = EINVAL;
        } else if (inl && total > q->cap.max_inline_data) {
            err = EINVAL;
        } else if (q->tail - q->head >= q->cap.max_send_wr) {
            err = ENOMEM;  // send queue full: slots return as completions are polled
        }
        if (err) {
            if (bad_wr) *bad_wr = w;
            break;
        }
        uint64_t i = q->tail;
        SendWqe& e = wqe(q, i);
        e.wr_id = w->wr_id;
        e.with_imm = w->opcode == IBV_WR_SEND_WITH_IMM;
        e.imm = e.with_imm ? w->imm_data : 0;
        e.signalled = q->sig_all || (w->send_flags & IBV_SEND_SIGNALED);
        e.is_inline = inl;
        e.num_sge = static_cast<uint32_t>(w->num_sge);
        e.length = static_cast<uint32_t>(total);
        e.status = IBV_WC_SUCCESS;
        if (inl) {
            // Inline data is copied now: the buffer may be reused at once.
            uint8_t* dst = wqe_inline(q, i);
            for (int k = 0; k < w->num_sge; ++k) {
                if (w->sg_list[k].length)
                    std::memcpy(dst, reinterpret_cast<const void*>(w->sg_list[k].addr), w->sg_list[k].length);
                dst += w->sg_list[k].length;
            }
        } else if (w->num_sge > 0) {
            std::memcpy(wqe_sges(q, i), w->sg_list, sizeof(ibv_sge) * static_cast<size_t>(w->num_sge));
        }
        ++q->tail;
    }
    std::lock_guard lk(q->scq->mu);
    progress_send(q);
    return err;
}

int post_srq_recv(ibv_srq* srq, ibv_recv_wr* wr, ibv_recv_wr** bad_wr) {
    Srq* s = to_srq(srq);
    for (ibv_recv_wr* w = wr; w; w = w->next) {
        int err = 0;
        if (w->num_sge < 0 || static_cast<uint32_t>(w->num_sge) > s->max_sge)
            err = EINVAL;
        else if (s->tail - s->head >= s->max_wr)
            err = ENOMEM;  // max_wr receives outstanding
        if (err) {
            if (bad_wr) *bad_wr = w;
            return err;
        }
        uint64_t idx = s->tail % s->max_wr;
        s->wqes[idx].wr_id = w->wr_id;
        s->wqes[idx].num_sge = static_cast<uint32_t>(w->num_sge);
        if (w->num_sge > 0)
            std::memcpy(&s->sges[idx * s->max_sge], w->sg_list, sizeof(ibv_sge) * static_cast<size_t>(w->num_sge));
        ++s->tail;
    }
    return 0;
}

int poll_cq(ibv_cq* cq, int num_entries, ibv_wc* wc) {
    Cq* c = to_cq(cq);
    if (num_entries < 0 || (num_entries > 0 && !wc)) return -1;
    std::lock_guard lk(c->mu);
    if (!c->overflowed) {
        for (Qp* q : c->recv_qps) drain(q);
        for (Qp* q : c->send_qps) progress_send(q);
    }
    if (c->overflowed && c->count == 0) return -1;
    int n = 0;
    while (n < num_entries && c->count > 0) {
        CqEntry& e = c->ring[c->head];
        wc[n++] = e.wc;
        // Polling a send completion frees its WR's slot and those of the
        // unsignalled WRs before it (man ibv_post_send, "selective signaling").
        if (Qp* q = e.release_qp; q && e.release_seq + 1 > q->head) q->head = e.release_seq + 1;
        e.release_qp = nullptr;
        c->head = (c->head + 1) % static_cast<uint32_t>(c->ring.size());
        --c->count;
    }
    return n;
}

}  // namespace sluice::drivers::rdma::standin::detail
