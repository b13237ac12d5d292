// Queue pairs: creation with capability checks, the RC state machine with
// the attribute masks each transition requires and allows (man
// ibv_modify_qp; the kernel's qp_state_table in drivers/infiniband/core/
// verbs.c, IBA 10.3.1), address resolution at RTR, destruction.
#include <unistd.h>

#include <cerrno>

#include "drivers/rdma/standin/internal.hpp"

namespace sluice::drivers::rdma::standin::detail {

namespace {

constexpr uint32_t kQpnMask = 0xFFFFFF;
constexpr int kMaxRdAtomic = 16;

struct Rule {
    bool valid = false;
    int req = 0;
    int opt = 0;
};

// Transitions of an RC QP this stand-in supports (SQD/SQE are not modelled:
// EINVAL). Any state may go to RESET or ERR with no other attribute.
Rule rule(ibv_qp_state cur, ibv_qp_state next) {
    constexpr int kInitOpt = IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS;
    if (next == IBV_QPS_RESET || next == IBV_QPS_ERR) return {true, 0, 0};
    switch (cur) {
    case IBV_QPS_RESET:
        if (next == IBV_QPS_INIT) return {true, IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS, 0};
        break;
    case IBV_QPS_INIT:
        if (next == IBV_QPS_INIT) return {true, 0, kInitOpt};
        if (next == IBV_QPS_RTR)
            return {true,
                    IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
                        IBV_QP_MIN_RNR_TIMER,
                    IBV_QP_ALT_PATH | IBV_QP_ACCESS_FLAGS | IBV_QP_PKEY_INDEX};
        break;
    case IBV_QPS_RTR:
        if (next == IBV_QPS_RTS)
            return {true, IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC,
                    IBV_QP_CUR_STATE | IBV_QP_ALT_PATH | IBV_QP_ACCESS_FLAGS | IBV_QP_MIN_RNR_TIMER |
                        IBV_QP_PATH_MIG_STATE};
        break;
    case IBV_QPS_RTS:
        if (next == IBV_QPS_RTS)
            return {true, 0,
                    IBV_QP_CUR_STATE | IBV_QP_ACCESS_FLAGS | IBV_QP_ALT_PATH | IBV_QP_PATH_MIG_STATE |
                        IBV_QP_MIN_RNR_TIMER};
        break;
    default:
        break;
    }
    return {};
}

bool gid_empty(const uint8_t* g) {
    for (int i = 0; i < 16; ++i)
        if (g[i]) return false;
    return true;
}

// The values of the attributes in `mask`, each within its range.
bool values_ok(const Qp* q, const ibv_qp_attr& a, int mask) {
    const DeviceSpec& s = q->ctx->entry->spec;
    const Node& n = *q->ctx->node;
    if ((mask & IBV_QP_PORT) && a.port_num != 1) return false;
    if ((mask & IBV_QP_PKEY_INDEX) && a.pkey_index != 0) return false;  // pkey table of one
    if ((mask & IBV_QP_PATH_MTU) && (a.path_mtu < IBV_MTU_256 || a.path_mtu > s.active_mtu)) return false;
    if ((mask & IBV_QP_DEST_QPN) && a.dest_qp_num > kQpnMask) return false;
    if ((mask & IBV_QP_MAX_DEST_RD_ATOMIC) && a.max_dest_rd_atomic > kMaxRdAtomic) return false;
    if ((mask & IBV_QP_MAX_QP_RD_ATOMIC) && a.max_rd_atomic > kMaxRdAtomic) return false;
    if ((mask & IBV_QP_MIN_RNR_TIMER) && a.min_rnr_timer > 31) return false;
    if ((mask & IBV_QP_TIMEOUT) && a.timeout > 31) return false;
    if ((mask & IBV_QP_RETRY_CNT) && a.retry_cnt > 7) return false;
    if ((mask & IBV_QP_RNR_RETRY) && a.rnr_retry > 7) return false;
    if (mask & IBV_QP_AV) {
        const ibv_ah_attr& ah = a.ah_attr;
        if (ah.port_num > 1) return false;
        // RoCE has no LIDs: the address is the GRH (the kernel's
        // rdma_check_ah_attr rejects a RoCE AH without IB_AH_GRH).
        if (s.link_layer == LinkLayer::ethernet && !ah.is_global) return false;
        if (ah.is_global) {
            if (ah.grh.sgid_index >= n.gid_tbl_len || gid_empty(n.gids[ah.grh.sgid_index].gid.data())) return false;
            if (s.link_layer == LinkLayer::ethernet && n.gids[ah.grh.sgid_index].type == IBV_GID_TYPE_IB) return false;
        }
    }
    return true;
}

// At RTR: find the destination's ring (IB by DLID, RoCE by DGID; then the
// QPN) and claim it as its one producer. On failure the QP still reaches
// RTR (a real HCA does not check either): its sends end in
// IBV_WC_RETRY_EXC_ERR, as unanswered packets do after retry_cnt timeouts.
void resolve(Qp* q, const ibv_qp_attr& a) {
    release_out(q);
    const DeviceSpec& s = q->ctx->entry->spec;
    uint32_t node = 0;
    if (s.link_layer == LinkLayer::infiniband)
        node = a.ah_attr.dlid;
    else
        node = find_node_by_gid(q->ctx->node->fabric, a.ah_attr.grh.dgid.raw);
    if (node == 0 || !q->out.open(q->ctx->node->fabric, node, a.dest_qp_num)) return;
    auto& r = registry();
    q->token = static_cast<uint64_t>(getpid()) << 32 | (r.next_token.fetch_add(1) & 0xffffffffULL);
    RingHeader* h = q->out.hdr();
    uint64_t cur = 0;
    if (!h->producer.compare_exchange_strong(cur, q->token, std::memory_order_acq_rel)) {
        // Held by another sending QP: take it over only when that one's process is gone.
        if (!pid_gone(static_cast<int32_t>(cur >> 32)) ||
            !h->producer.compare_exchange_strong(cur, q->token, std::memory_order_acq_rel)) {
            q->out.close();
            return;
        }
    }
    q->out_claimed = true;
    // Messages an earlier producer left in the ring are not ours: skip their statuses.
    q->out_prod = h->prod.load(std::memory_order_acquire);
    q->out_acked = h->cons.load(std::memory_order_acquire);
    q->out_skip = q->out_prod;
    q->idle_polls = 0;
}

// To RESET: the queues empty, the connection forgotten. Messages waiting in
// our ring are dropped (their senders see no answer).
void reset(Qp* q) {
    clean_cqs(q);
    release_out(q);
    q->head = q->done = q->wire = q->tail = 0;
    q->idle_polls = 0;
    q->rnr_naks = 0;
    q->failed_token = 0;
    q->expected_psn = 0;
    q->attr = ibv_qp_attr{};
    q->attr_mask = 0;
    if (RingHeader* h = q->in.hdr()) {
        uint64_t prod = h->prod.load(std::memory_order_acquire);
        uint64_t cons = h->cons.load(std::memory_order_relaxed);
        for (; cons < prod; ++cons) q->in.slot(cons)->status = kDiscarded;
        h->cons.store(cons, std::memory_order_release);
        h->responder.store(kNotReady, std::memory_order_release);
    }
}

uint32_t mtu_to_bytes(uint32_t m) { return m >= IBV_MTU_256 && m <= IBV_MTU_4096 ? 128u << m : 4096; }

}  // namespace

// Gives up the destination ring (its producer claim too).
void release_out(Qp* q) {
    if (q->out.mapped() && q->out_claimed) {
        uint64_t mine = q->token;
        q->out.hdr()->producer.compare_exchange_strong(mine, 0, std::memory_order_acq_rel);
    }
    q->out_claimed = false;
    q->out.close();
}

ibv_qp* create_qp(ibv_pd* pd, ibv_qp_init_attr* attr) {
    if (!pd || !attr) return fail_null<ibv_qp>(EINVAL);
    Pd* p = to_pd(pd);
    const DeviceSpec& s = p->ctx->entry->spec;
    ibv_qp_cap& cap = attr->cap;
    // RC only, and receives only through a shared receive queue (the
    // transport's design); a QP with its own receive queue is EINVAL here.
    if (attr->qp_type != IBV_QPT_RC || !attr->send_cq || !attr->recv_cq || !attr->srq) return fail_null<ibv_qp>(EINVAL);
    if (to_cq(attr->send_cq)->ctx != p->ctx || to_cq(attr->recv_cq)->ctx != p->ctx || to_srq(attr->srq)->pd->ctx != p->ctx)
        return fail_null<ibv_qp>(EINVAL);
    if (cap.max_send_wr < 1 || cap.max_send_wr > s.max_qp_wr || cap.max_send_sge > s.max_sge ||
        cap.max_inline_data > s.max_inline)
        return fail_null<ibv_qp>(EINVAL);

    auto& r = registry();
    std::lock_guard lk(r.mu);
    auto* q = new Qp;
    Node& n = *p->ctx->node;
    uint32_t qpn = 0;
    for (int tries = 0; tries < 64; ++tries) {
        qpn = n.next_qpn.fetch_add(1) & kQpnMask;
        if (qpn < 2) continue;  // QP0 and QP1 are the special QPs
        if (q->in.create(n.fabric, n.id, qpn, s.ring_slots, s.slot_bytes)) break;
        qpn = 0;
        if (errno != EEXIST) break;
    }
    if (qpn == 0) {
        int e = errno;
        delete q;
        return fail_null<ibv_qp>(e ? e : ENOMEM);
    }
    q->ctx = p->ctx;
    q->pd = p;
    q->scq = to_cq(attr->send_cq);
    q->rcq = to_cq(attr->recv_cq);
    q->srq = to_srq(attr->srq);
    q->sig_all = attr->sq_sig_all != 0;
    // What was granted, reported back as libibverbs does (with an SRQ the
    // QP has no receive queue of its own).
    cap.max_recv_wr = 0;
    cap.max_recv_sge = 0;
    q->cap = cap;
    q->sq.resize(cap.max_send_wr);
    q->sq_sges.resize(static_cast<size_t>(cap.max_send_wr) * cap.max_send_sge);
    q->sq_inline.resize(static_cast<size_t>(cap.max_send_wr) * cap.max_inline_data);

    q->qp.context = pd->context;
    q->qp.qp_context = attr->qp_context;
    q->qp.pd = pd;
    q->qp.send_cq = attr->send_cq;
    q->qp.recv_cq = attr->recv_cq;
    q->qp.srq = attr->srq;
    q->qp.handle = qpn;
    q->qp.qp_num = qpn;
    q->qp.state = IBV_QPS_RESET;
    q->qp.qp_type = IBV_QPT_RC;

    QpCqLock cl(q);
    p->qps++;
    q->srq->qps++;
    q->ctx->qps.push_back(q);
    q->scq->send_qps.push_back(q);
    q->rcq->recv_qps.push_back(q);
    return &q->qp;
}

int modify_qp(ibv_qp* qp, ibv_qp_attr* attr, int mask) {
    if (!qp || !attr) return fail_int(EINVAL);
    std::lock_guard lk(registry().mu);
    Qp* q = to_qp(qp);
    QpCqLock cl(q);
    ibv_qp_state cur = q->qp.state;
    if ((mask & IBV_QP_CUR_STATE) && attr->cur_qp_state != cur) return fail_int(EINVAL);
    ibv_qp_state next = (mask & IBV_QP_STATE) ? attr->qp_state : cur;
    Rule r = rule(cur, next);
    if (!r.valid) return fail_int(EINVAL);
    if ((mask & r.req) != r.req) return fail_int(EINVAL);           // a required attribute missing
    if (mask & ~(r.req | r.opt | IBV_QP_STATE)) return fail_int(EINVAL);  // one this transition does not take
    if (!values_ok(q, *attr, mask)) return fail_int(EINVAL);

    // Keep what was set, for query_qp and for the data path.
    ibv_qp_attr& a = q->attr;
    if (next == IBV_QPS_RESET) {
        reset(q);
    } else {
        if (mask & IBV_QP_PKEY_INDEX) a.pkey_index = attr->pkey_index;
        if (mask & IBV_QP_PORT) a.port_num = attr->port_num;
        if (mask & IBV_QP_ACCESS_FLAGS) a.qp_access_flags = attr->qp_access_flags;
        if (mask & IBV_QP_AV) a.ah_attr = attr->ah_attr;
        if (mask & IBV_QP_PATH_MTU) a.path_mtu = attr->path_mtu;
        if (mask & IBV_QP_DEST_QPN) a.dest_qp_num = attr->dest_qp_num;
        if (mask & IBV_QP_RQ_PSN) a.rq_psn = attr->rq_psn & kQpnMask;  // PSNs are 24 bits (drivers mask)
        if (mask & IBV_QP_SQ_PSN) a.sq_psn = attr->sq_psn & kQpnMask;
        if (mask & IBV_QP_MAX_DEST_RD_ATOMIC) a.max_dest_rd_atomic = attr->max_dest_rd_atomic;
        if (mask & IBV_QP_MAX_QP_RD_ATOMIC) a.max_rd_atomic = attr->max_rd_atomic;
        if (mask & IBV_QP_MIN_RNR_TIMER) a.min_rnr_timer = attr->min_rnr_timer;
        if (mask & IBV_QP_TIMEOUT) a.timeout = attr->timeout;
        if (mask & IBV_QP_RETRY_CNT) a.retry_cnt = attr->retry_cnt;
        if (mask & IBV_QP_RNR_RETRY) a.rnr_retry = attr->rnr_retry;
        if (mask & IBV_QP_ALT_PATH) {  // accepted, not modelled (no path migration)
            a.alt_ah_attr = attr->alt_ah_attr;
            a.alt_pkey_index = attr->alt_pkey_index;
            a.alt_port_num = attr->alt_port_num;
            a.alt_timeout = attr->alt_timeout;
        }
        if (mask & IBV_QP_PATH_MIG_STATE) a.path_mig_state = attr->path_mig_state;
        q->attr_mask |= mask;
    }

    if (cur == IBV_QPS_INIT && next == IBV_QPS_RTR) {
        q->expected_psn = a.rq_psn;
        q->rnr_naks = 0;
        q->failed_token = 0;
        q->mtu_bytes = mtu_to_bytes(a.path_mtu);
        resolve(q, a);
        if (RingHeader* h = q->in.hdr()) h->responder.store(kReady, std::memory_order_release);
    }
    if (cur == IBV_QPS_RTR && next == IBV_QPS_RTS) q->next_psn = a.sq_psn;
    if (next == IBV_QPS_ERR) {
        set_error(q);
    } else {
        q->qp.state = next;
    }
    a.qp_state = q->qp.state;
    a.cur_qp_state = q->qp.state;
    return 0;
}

int query_qp(ibv_qp* qp, ibv_qp_attr* attr, int /*attr_mask*/, ibv_qp_init_attr* init_attr) {
    if (!qp || !attr || !init_attr) return fail_int(EINVAL);
    std::lock_guard lk(registry().mu);
    const Qp* q = to_qp(qp);
    *attr = q->attr;
    attr->qp_state = q->qp.state;
    attr->cur_qp_state = q->qp.state;
    attr->cap = q->cap;
    attr->sq_draining = 0;
    *init_attr = ibv_qp_init_attr{};
    init_attr->qp_context = q->qp.qp_context;
    init_attr->send_cq = q->qp.send_cq;
    init_attr->recv_cq = q->qp.recv_cq;
    init_attr->srq = q->qp.srq;
    init_attr->cap = q->cap;
    init_attr->qp_type = IBV_QPT_RC;
    init_attr->sq_sig_all = q->sig_all ? 1 : 0;
    return 0;
}

int destroy_qp(ibv_qp* qp) {
    if (!qp) return fail_int(EINVAL);
    std::lock_guard lk(registry().mu);
    Qp* q = to_qp(qp);
    {
        QpCqLock cl(q);
        clean_cqs(q);
        release_out(q);
        q->in.close();  // alive cleared, file unlinked: senders towards us now fail
        std::erase(q->scq->send_qps, q);
        std::erase(q->rcq->recv_qps, q);
    }
    std::erase(q->ctx->qps, q);
    q->pd->qps--;
    q->srq->qps--;
    delete q;
    return 0;
}

}  // namespace sluice::drivers::rdma::standin::detail

namespace sluice::drivers::rdma::standin {

void inject_qp_error(ibv_qp* qp) {
    if (!qp) return;
    std::lock_guard lk(detail::registry().mu);
    detail::QpCqLock cl(detail::to_qp(qp));
    detail::set_error(detail::to_qp(qp));  // its send queue flushes at the next poll or post
}

}  // namespace sluice::drivers::rdma::standin
