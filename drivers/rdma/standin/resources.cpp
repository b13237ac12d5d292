// Protection domains, memory regions, completion queues and shared receive
// queues of the stand-in. Memory regions are found by lkey without a lock
// (the data path checks every SGE against them, as an HCA's MTT lookup does).
#include <cerrno>
#include <cstdint>
#include <memory>

#include "drivers/rdma/standin/internal.hpp"

namespace sluice::drivers::rdma::standin {

namespace detail {

namespace {

// lkey = slot << 8 | generation: a stale lkey (its region deregistered, the
// slot reused) does not match the new region.
constexpr uint32_t kMrSlots = 1u << 16;

struct MrTable {
    std::unique_ptr<std::atomic<Mr*>[]> slots{new std::atomic<Mr*>[kMrSlots]()};
    std::vector<uint8_t> gen = std::vector<uint8_t>(kMrSlots, 0);  // under registry().mu
    std::vector<uint32_t> free_slots;                               // under registry().mu
    uint32_t next = 1;                                              // slot 0 unused: lkey 0 is never valid
};

MrTable& mr_table() {
    static MrTable* t = new MrTable;
    return *t;
}

}  // namespace

const Mr* find_mr(uint32_t lkey) {
    uint32_t slot = lkey >> 8;
    if (slot == 0 || slot >= kMrSlots) return nullptr;
    const Mr* m = mr_table().slots[slot].load(std::memory_order_acquire);
    return m && m->mr.lkey == lkey ? m : nullptr;
}

bool sge_ok(const Pd* pd, const ibv_sge& sge, int need_access) {
    const Mr* m = find_mr(sge.lkey);
    if (!m || m->pd != pd) return false;
    if (need_access && (m->access & need_access) != need_access) return false;
    auto start = reinterpret_cast<uintptr_t>(m->mr.addr);
    uint64_t end = start + m->mr.length;
    return sge.addr >= start && sge.addr <= end && sge.length <= end - sge.addr;
}

ibv_pd* alloc_pd(ibv_context* context) {
    if (!context) return fail_null<ibv_pd>(EINVAL);
    std::lock_guard lk(registry().mu);
    auto* p = new Pd;
    p->pd.context = context;
    p->ctx = to_ctx(context);
    p->ctx->pds++;
    return &p->pd;
}

int dealloc_pd(ibv_pd* pd) {
    if (!pd) return fail_int(EINVAL);
    std::lock_guard lk(registry().mu);
    Pd* p = to_pd(pd);
    if (p->mrs || p->qps || p->srqs) return fail_int(EBUSY);  // resources still use it
    p->ctx->pds--;
    delete p;
    return 0;
}

ibv_mr* reg_mr(ibv_pd* pd, void* addr, size_t length, int access) {
    auto& r = registry();
    if (!pd || length == 0) return fail_null<ibv_mr>(EINVAL);
    // man ibv_reg_mr: remote write or atomic access requires local write.
    if ((access & (IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC)) && !(access & IBV_ACCESS_LOCAL_WRITE))
        return fail_null<ibv_mr>(EINVAL);
    int pending = r.fail_reg_mr.load();
    while (pending > 0) {
        if (r.fail_reg_mr.compare_exchange_weak(pending, pending - 1)) return fail_null<ibv_mr>(ENOMEM);
    }
    std::lock_guard lk(r.mu);
    auto& t = mr_table();
    uint32_t slot;
    if (!t.free_slots.empty()) {
        slot = t.free_slots.back();
        t.free_slots.pop_back();
    } else if (t.next < kMrSlots) {
        slot = t.next++;
    } else {
        return fail_null<ibv_mr>(ENOMEM);
    }
    Pd* p = to_pd(pd);
    auto* m = new Mr;
    m->mr.context = pd->context;
    m->mr.pd = pd;
    m->mr.addr = addr;
    m->mr.length = length;
    m->mr.handle = slot;
    m->mr.lkey = slot << 8 | ++t.gen[slot];
    m->mr.rkey = m->mr.lkey;
    m->pd = p;
    m->access = access;
    m->slot = slot;
    p->mrs++;
    t.slots[slot].store(m, std::memory_order_release);
    return &m->mr;
}

int dereg_mr(ibv_mr* mr) {
    if (!mr) return fail_int(EINVAL);
    std::lock_guard lk(registry().mu);
    auto* m = reinterpret_cast<Mr*>(mr);
    auto& t = mr_table();
    t.slots[m->slot].store(nullptr, std::memory_order_release);
    t.free_slots.push_back(m->slot);
    m->pd->mrs--;
    delete m;
    return 0;
}

ibv_cq* create_cq(ibv_context* context, int cqe, void* cq_context, ibv_comp_channel* channel, int comp_vector) {
    if (!context) return fail_null<ibv_cq>(EINVAL);
    Ctx* c = to_ctx(context);
    // Exactly cqe entries (a real provider may round up; holding exactly
    // what was asked makes an undersized CQ overflow here first).
    if (cqe < 1 || static_cast<uint32_t>(cqe) > c->entry->spec.max_cqe || comp_vector != 0)
        return fail_null<ibv_cq>(EINVAL);
    std::lock_guard lk(registry().mu);
    auto* q = new Cq;
    q->cq.context = context;
    q->cq.channel = channel;
    q->cq.cq_context = cq_context;
    q->cq.cqe = cqe;
    q->ctx = c;
    q->ring.resize(static_cast<size_t>(cqe));
    c->cqs++;
    return &q->cq;
}

int destroy_cq(ibv_cq* cq) {
    if (!cq) return fail_int(EINVAL);
    std::lock_guard lk(registry().mu);
    Cq* q = to_cq(cq);
    if (!q->send_qps.empty() || !q->recv_qps.empty()) return fail_int(EBUSY);  // QPs still attached
    q->ctx->cqs--;
    delete q;
    return 0;
}

ibv_srq* create_srq(ibv_pd* pd, ibv_srq_init_attr* attr) {
    if (!pd || !attr) return fail_null<ibv_srq>(EINVAL);
    Pd* p = to_pd(pd);
    const DeviceSpec& s = p->ctx->entry->spec;
    uint32_t wr = attr->attr.max_wr, sge = attr->attr.max_sge;
    if (wr < 1 || wr > s.max_srq_wr || sge < 1 || sge > s.max_sge) return fail_null<ibv_srq>(EINVAL);
    std::lock_guard lk(registry().mu);
    auto* q = new Srq;
    q->srq.context = pd->context;
    q->srq.srq_context = attr->srq_context;
    q->srq.pd = pd;
    q->pd = p;
    q->max_wr = wr;
    q->max_sge = sge;
    q->wqes.resize(wr);
    q->sges.resize(static_cast<size_t>(wr) * sge);
    p->srqs++;
    return &q->srq;
}

int destroy_srq(ibv_srq* srq) {
    if (!srq) return fail_int(EINVAL);
    std::lock_guard lk(registry().mu);
    Srq* q = to_srq(srq);
    if (q->qps) return fail_int(EBUSY);
    q->pd->srqs--;
    delete q;
    return 0;
}

}  // namespace detail

using namespace detail;

void fail_next_reg_mr(int count) { registry().fail_reg_mr.store(count > 0 ? count : 0); }

bool cq_overflowed(const ibv_cq* cq) { return cq && to_cq(cq)->overflowed; }

}  // namespace sluice::drivers::rdma::standin
