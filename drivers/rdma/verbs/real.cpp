// real_verbs(): the table over libibverbs. ibv_post_send, ibv_poll_cq and
// friends are static inline in <infiniband/verbs.h> (they jump through the
// provider's context ops); the wrappers here give them an address. The cost
// is one indirect call per burst, not per packet: the transport posts a list
// of work requests and polls an array of completions per call.
#include "drivers/rdma/verbs/ops.hpp"

namespace sluice::drivers::rdma {

namespace {

ibv_context* open_device(ibv_device* d) { return ibv_open_device(d); }
int query_device(ibv_context* c, ibv_device_attr* a) { return ibv_query_device(c, a); }
int query_port(ibv_context* c, uint8_t p, ibv_port_attr* a) { return ibv_query_port(c, p, a); }
int query_gid_ex(ibv_context* c, uint32_t p, uint32_t i, ibv_gid_entry* e, uint32_t f) {
    return ibv_query_gid_ex(c, p, i, e, f);
}
ibv_mr* reg_mr(ibv_pd* pd, void* addr, size_t len, int access) { return ibv_reg_mr(pd, addr, len, access); }
int post_send(ibv_qp* qp, ibv_send_wr* wr, ibv_send_wr** bad) { return ibv_post_send(qp, wr, bad); }
int post_srq_recv(ibv_srq* srq, ibv_recv_wr* wr, ibv_recv_wr** bad) { return ibv_post_srq_recv(srq, wr, bad); }
int poll_cq(ibv_cq* cq, int n, ibv_wc* wc) { return ibv_poll_cq(cq, n, wc); }

const VerbsOps kReal = {
    "verbs",
    ibv_get_device_list,
    ibv_free_device_list,
    ibv_get_device_name,
    open_device,
    ibv_close_device,
    query_device,
    query_port,
    query_gid_ex,
    ibv_alloc_pd,
    ibv_dealloc_pd,
    reg_mr,
    ibv_dereg_mr,
    ibv_create_cq,
    ibv_destroy_cq,
    ibv_create_srq,
    ibv_destroy_srq,
    ibv_create_qp,
    ibv_modify_qp,
    ibv_query_qp,
    ibv_destroy_qp,
    post_send,
    post_srq_recv,
    poll_cq,
};

}  // namespace

const VerbsOps& real_verbs() { return kReal; }

}  // namespace sluice::drivers::rdma
