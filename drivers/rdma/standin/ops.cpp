// The stand-in's VerbsOps table (drivers/rdma/verbs/ops.hpp).
#include "drivers/rdma/standin/internal.hpp"

namespace sluice::drivers::rdma::standin {

namespace {

const VerbsOps kStandin = {
    "standin",
    detail::get_device_list,
    detail::free_device_list,
    detail::get_device_name,
    detail::open_device,
    detail::close_device,
    detail::query_device,
    detail::query_port,
    detail::query_gid_ex,
    detail::alloc_pd,
    detail::dealloc_pd,
    detail::reg_mr,
    detail::dereg_mr,
    detail::create_cq,
    detail::destroy_cq,
    detail::create_srq,
    detail::destroy_srq,
    detail::create_qp,
    detail::modify_qp,
    detail::query_qp,
    detail::destroy_qp,
    detail::post_send,
    detail::post_srq_recv,
    detail::poll_cq,
};

}  // namespace

const VerbsOps& ops() { return kStandin; }

}  // namespace sluice::drivers::rdma::standin
