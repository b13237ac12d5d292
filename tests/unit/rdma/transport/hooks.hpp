// The stand-in's verbs table wrapped for fault injection the stand-in does
// not offer itself: finding a peer's queue pair (for inject_qp_error),
// failing post_send, an empty device list, a device that fails to open.
#pragma once

#include <vector>

#include "drivers/rdma/verbs/ops.hpp"

namespace sluice::test::rdma {

struct Hooks {
    std::vector<ibv_qp*> qps;    // created, in order (destroyed ones removed)
    int fail_post_send = 0;      // the next n post_send calls fail (ENOMEM)
    bool empty_list = false;     // get_device_list returns an empty list
    bool fail_open = false;      // open_device fails (EACCES)
    void clear() { *this = Hooks{}; }
};
Hooks& hooks();
const drivers::rdma::VerbsOps& hooked_standin();

}  // namespace sluice::test::rdma
