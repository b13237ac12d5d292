// The raw verbs calls the transport makes, as a table of function pointers
// (docs/rdma.md, "One transport, two fabrics"). real_verbs() forwards each to
// rdma-core's libibverbs; the software stand-in (drivers/rdma/standin/)
// implements the same table over the same structs (ibv_qp, ibv_wc, ...), so
// the transport code that runs in CI is the code that runs on a NIC.
//
// The table holds only what the transport uses. Every entry keeps the
// libibverbs contract: NULL / non-zero return with errno (or the returned
// error number, as ibv_post_send and ibv_modify_qp do) set the same way.
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>

namespace sluice::drivers::rdma {

struct VerbsOps {
    const char* name;  // "verbs" or "standin", for logs

    // Discovery. get_device_list returns NULL with errno set (ENOSYS on a
    // kernel without RDMA) or a NULL-terminated list.
    ibv_device** (*get_device_list)(int* num_devices);
    void (*free_device_list)(ibv_device** list);
    const char* (*get_device_name)(ibv_device* device);
    ibv_context* (*open_device)(ibv_device* device);
    int (*close_device)(ibv_context* context);
    int (*query_device)(ibv_context* context, ibv_device_attr* attr);
    int (*query_port)(ibv_context* context, uint8_t port_num, ibv_port_attr* attr);
    // 0 on success; entry->gid_type is enum ibv_gid_type. An empty slot of
    // the table fails with ENODATA (as libibverbs does).
    int (*query_gid_ex)(ibv_context* context, uint32_t port_num, uint32_t gid_index, ibv_gid_entry* entry,
                        uint32_t flags);

    // Resources.
    ibv_pd* (*alloc_pd)(ibv_context* context);
    int (*dealloc_pd)(ibv_pd* pd);
    ibv_mr* (*reg_mr)(ibv_pd* pd, void* addr, size_t length, int access);
    int (*dereg_mr)(ibv_mr* mr);
    ibv_cq* (*create_cq)(ibv_context* context, int cqe, void* cq_context, ibv_comp_channel* channel,
                         int comp_vector);
    int (*destroy_cq)(ibv_cq* cq);
    ibv_srq* (*create_srq)(ibv_pd* pd, ibv_srq_init_attr* attr);
    int (*destroy_srq)(ibv_srq* srq);
    ibv_qp* (*create_qp)(ibv_pd* pd, ibv_qp_init_attr* attr);
    int (*modify_qp)(ibv_qp* qp, ibv_qp_attr* attr, int attr_mask);
    int (*query_qp)(ibv_qp* qp, ibv_qp_attr* attr, int attr_mask, ibv_qp_init_attr* init_attr);
    int (*destroy_qp)(ibv_qp* qp);

    // The fast path. post_send / post_srq_recv return 0 or an error number
    // with *bad_wr at the first request not posted; poll_cq returns the
    // number of completions (>= 0) or a negative value on a CQ error.
    int (*post_send)(ibv_qp* qp, ibv_send_wr* wr, ibv_send_wr** bad_wr);
    int (*post_srq_recv)(ibv_srq* srq, ibv_recv_wr* wr, ibv_recv_wr** bad_wr);
    int (*poll_cq)(ibv_cq* cq, int num_entries, ibv_wc* wc);
};

// libibverbs itself.
const VerbsOps& real_verbs();

}  // namespace sluice::drivers::rdma
