// The stand-in's objects (private to drivers/rdma/standin/). Each embeds
// the real verbs struct as its FIRST member, so the transport reads
// qp->qp_num, qp->state, cq->cqe, mr->lkey, ... from the structs it would
// get from libibverbs, and the stand-in gets back to its object with a cast.
//
// Threads: control-path calls (open/close, create/modify/destroy, reg/dereg)
// take registry().mu, and the locks of the CQs of a QP they change; the
// fast path (post_send, post_srq_recv, poll_cq) takes no process-wide lock,
// only the (uncontended) lock of the CQ it polls or completes into. As with
// a real provider, one thread at a time posts to a QP or SRQ and polls a
// CQ; a QP and the CQs it uses belong to one thread at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "drivers/rdma/standin/shm_ring.hpp"
#include "drivers/rdma/standin/standin.hpp"

namespace sluice::drivers::rdma::standin::detail {

// A node: one device's identity on the fabric (LID, GIDs, QPN space),
// claimed in shared memory so it is unique across the machine's processes.
struct Node {
    std::string fabric;
    uint16_t id = 0;  // also the InfiniBand LID
    int32_t owner_pid = 0;
    std::atomic<uint32_t> next_qpn{0};
    std::vector<GidEntry> gids;  // the port's table (index -> entry)
    uint32_t gid_tbl_len = 0;
    ~Node();
};

struct DeviceEntry {
    ibv_device dev{};  // FIRST
    DeviceSpec spec;
    std::shared_ptr<Node> node;
    int32_t pid = 0;       // the process that added it (a forked child does not see it)
    bool removed = false;  // remove_devices() ran: no longer listed
};

struct Qp;
struct Cq;

struct Ctx {
    ibv_context ctx{};  // FIRST
    DeviceEntry* entry = nullptr;
    std::shared_ptr<Node> node;
    std::atomic<bool> killed{false};
    std::vector<Qp*> qps;  // under registry().mu
    int pds = 0, cqs = 0, srqs = 0;
};

struct Pd {
    ibv_pd pd{};  // FIRST
    Ctx* ctx = nullptr;
    int mrs = 0, qps = 0, srqs = 0;
};

struct Mr {
    ibv_mr mr{};  // FIRST
    Pd* pd = nullptr;
    int access = 0;
    uint32_t slot = 0;
};

// A completion and, for a send completion, the send-queue position whose
// slots polling it frees (an unsignalled WR's slot is freed only when a
// later completion of its queue pair is polled).
struct CqEntry {
    ibv_wc wc{};
    Qp* release_qp = nullptr;
    uint64_t release_seq = 0;
};

struct Cq {
    ibv_cq cq{};  // FIRST
    Ctx* ctx = nullptr;
    // Held by poll_cq and by a post_send progressing onto this CQ, and by
    // the control path while it changes a QP that uses this CQ: creating a
    // QP on a CQ another thread polls is legal verbs usage. Per CQ, so
    // uncontended on the fast path.
    std::mutex mu;
    std::vector<CqEntry> ring;  // exactly cqe entries
    uint32_t head = 0, count = 0;
    bool overflowed = false;
    std::vector<Qp*> send_qps, recv_qps;  // control path only
};

struct RecvWqe {
    uint64_t wr_id = 0;
    uint32_t num_sge = 0;
};

struct Srq {
    ibv_srq srq{};  // FIRST
    Pd* pd = nullptr;
    uint32_t max_wr = 0, max_sge = 0;
    std::vector<RecvWqe> wqes;  // max_wr
    std::vector<ibv_sge> sges;  // max_wr * max_sge
    uint64_t head = 0, tail = 0;  // consumed / posted
    int qps = 0;
};

struct SendWqe {
    uint64_t wr_id = 0;
    uint32_t imm = 0;  // network order, as in ibv_send_wr
    bool with_imm = false;
    bool signalled = false;
    bool is_inline = false;
    uint32_t num_sge = 0;
    uint32_t length = 0;
    int status = IBV_WC_SUCCESS;  // an error decided for this WR
};

struct Qp {
    ibv_qp qp{};  // FIRST
    Ctx* ctx = nullptr;
    Pd* pd = nullptr;
    Cq* scq = nullptr;
    Cq* rcq = nullptr;
    Srq* srq = nullptr;
    ibv_qp_cap cap{};
    bool sig_all = false;
    ibv_qp_attr attr{};  // what modify_qp set, for query_qp
    int attr_mask = 0;

    // Send queue: [head, done) completed (or skipped) but slots held,
    // [done, wire) on the wire awaiting an ACK, [wire, tail) not yet sent.
    std::vector<SendWqe> sq;
    std::vector<ibv_sge> sq_sges;      // max_send_wr * max_send_sge
    std::vector<uint8_t> sq_inline;    // max_send_wr * max_inline_data
    uint64_t head = 0, done = 0, wire = 0, tail = 0;

    // Outbound: the destination's ring (mapped at RTR).
    Ring out;
    bool out_claimed = false;
    uint64_t token = 0;        // this connection's producer token
    uint64_t out_prod = 0;     // next ring sequence we write
    uint64_t out_acked = 0;    // ring sequences whose status we processed
    uint64_t out_skip = 0;     // sequences below this are not ours (an earlier sender)
    uint32_t next_psn = 0;
    uint32_t mtu_bytes = 4096;
    uint32_t idle_polls = 0;   // progress calls with work outstanding and nothing acked

    // Inbound: our own ring.
    Ring in;
    uint32_t expected_psn = 0;
    uint32_t rnr_naks = 0;     // NAKs sent for the message at the head
    uint64_t failed_token = 0; // a sender whose messages we discard
};

struct Registry {
    std::mutex mu;
    std::vector<DeviceEntry*> devices;  // never freed (ibv_device pointers stay valid)
    std::atomic<int> fail_reg_mr{0};
    std::atomic<uint64_t> rnr_naks{0}, retry_exceeded{0}, cq_overflows{0}, messages{0};
    std::atomic<uint64_t> next_token{1};
    std::atomic<uint32_t> next_node_seed{0};
};
Registry& registry();

inline Qp* to_qp(ibv_qp* q) { return reinterpret_cast<Qp*>(q); }
inline Cq* to_cq(ibv_cq* c) { return reinterpret_cast<Cq*>(c); }
inline const Cq* to_cq(const ibv_cq* c) { return reinterpret_cast<const Cq*>(c); }
inline Srq* to_srq(ibv_srq* s) { return reinterpret_cast<Srq*>(s); }
inline Pd* to_pd(ibv_pd* p) { return reinterpret_cast<Pd*>(p); }
inline Ctx* to_ctx(ibv_context* c) { return reinterpret_cast<Ctx*>(c); }

// ---- memory regions (mr.cpp): lock-free lookup by lkey for the fast path ----
const Mr* find_mr(uint32_t lkey);
// True when [addr, addr+len) lies in `lkey`'s region of `pd` with `need` access.
bool sge_ok(const Pd* pd, const ibv_sge& sge, int need_access);

// ---- data path (datapath.cpp) ----
// The QP enters the error state: its send queue flushes at the next progress
// and senders towards it stop getting answers.
void set_error(Qp* q);
// Removes q's completions from its CQs (done on RESET and destroy, as mlx5
// cleans its CQs) so no entry points at a dead QP.
void clean_cqs(Qp* q);
// Unmaps the destination ring, giving up our claim as its producer.
void release_out(Qp* q);
// Pushes a completion; on a full CQ the CQ overflows.
void push_completion(Cq* cq, const ibv_wc& wc, Qp* release_qp, uint64_t release_seq);

int post_send(ibv_qp* qp, ibv_send_wr* wr, ibv_send_wr** bad_wr);
int post_srq_recv(ibv_srq* srq, ibv_recv_wr* wr, ibv_recv_wr** bad_wr);
int poll_cq(ibv_cq* cq, int num_entries, ibv_wc* wc);

// ---- control path (device.cpp, resources.cpp, qp.cpp) ----
ibv_device** get_device_list(int* num_devices);
void free_device_list(ibv_device** list);
const char* get_device_name(ibv_device* device);
ibv_context* open_device(ibv_device* device);
int close_device(ibv_context* context);
int query_device(ibv_context* context, ibv_device_attr* attr);
int query_port(ibv_context* context, uint8_t port_num, ibv_port_attr* attr);
int query_gid_ex(ibv_context* context, uint32_t port_num, uint32_t gid_index, ibv_gid_entry* entry,
                 uint32_t flags);
ibv_pd* alloc_pd(ibv_context* context);
int dealloc_pd(ibv_pd* pd);
ibv_mr* reg_mr(ibv_pd* pd, void* addr, size_t length, int access);
int dereg_mr(ibv_mr* mr);
ibv_cq* create_cq(ibv_context* context, int cqe, void* cq_context, ibv_comp_channel* channel, int comp_vector);
int destroy_cq(ibv_cq* cq);
ibv_srq* create_srq(ibv_pd* pd, ibv_srq_init_attr* attr);
int destroy_srq(ibv_srq* srq);
ibv_qp* create_qp(ibv_pd* pd, ibv_qp_init_attr* attr);
int modify_qp(ibv_qp* qp, ibv_qp_attr* attr, int attr_mask);
int query_qp(ibv_qp* qp, ibv_qp_attr* attr, int attr_mask, ibv_qp_init_attr* init_attr);
int destroy_qp(ibv_qp* qp);

// Locks the CQs a QP uses (one lock when they are the same CQ), for the
// control path (which also holds registry().mu, so the order is fixed).
class QpCqLock {
public:
    explicit QpCqLock(Qp* q) : a_(q->scq), b_(q->rcq == q->scq ? nullptr : q->rcq) {
        a_->mu.lock();
        if (b_) b_->mu.lock();
    }
    ~QpCqLock() {
        if (b_) b_->mu.unlock();
        a_->mu.unlock();
    }
    QpCqLock(const QpCqLock&) = delete;
    QpCqLock& operator=(const QpCqLock&) = delete;

private:
    Cq* a_;
    Cq* b_;
};

// Sets errno and returns nullptr / the error number, for one-line returns.
template <typename T>
T* fail_null(int err) {
    errno = err;
    return nullptr;
}
inline int fail_int(int err) {
    errno = err;
    return err;
}

}  // namespace sluice::drivers::rdma::standin::detail
