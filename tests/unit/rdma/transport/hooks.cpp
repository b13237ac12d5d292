#include "tests/unit/rdma/transport/hooks.hpp"

#include <algorithm>
#include <cerrno>

#include "drivers/rdma/standin/standin.hpp"

namespace sluice::test::rdma {

namespace {

using drivers::rdma::VerbsOps;
namespace standin = drivers::rdma::standin;

Hooks g_hooks;
ibv_device* g_empty[1] = {nullptr};

ibv_device** get_list(int* n) {
    if (g_hooks.empty_list) {
        if (n) *n = 0;
        return g_empty;
    }
    return standin::ops().get_device_list(n);
}
void free_list(ibv_device** l) {
    if (l != g_empty) standin::ops().free_device_list(l);
}
ibv_context* open_dev(ibv_device* d) {
    if (g_hooks.fail_open) {
        errno = EACCES;
        return nullptr;
    }
    return standin::ops().open_device(d);
}
ibv_qp* create_qp(ibv_pd* pd, ibv_qp_init_attr* a) {
    ibv_qp* q = standin::ops().create_qp(pd, a);
    if (q) g_hooks.qps.push_back(q);
    return q;
}
int destroy_qp(ibv_qp* q) {
    g_hooks.qps.erase(std::remove(g_hooks.qps.begin(), g_hooks.qps.end(), q), g_hooks.qps.end());
    return standin::ops().destroy_qp(q);
}
int post_send(ibv_qp* q, ibv_send_wr* wr, ibv_send_wr** bad) {
    if (g_hooks.fail_post_send > 0) {
        --g_hooks.fail_post_send;
        *bad = wr;
        return ENOMEM;
    }
    return standin::ops().post_send(q, wr, bad);
}

VerbsOps make() {
    VerbsOps o = standin::ops();
    o.name = "standin+hooks";
    o.get_device_list = get_list;
    o.free_device_list = free_list;
    o.open_device = open_dev;
    o.create_qp = create_qp;
    o.destroy_qp = destroy_qp;
    o.post_send = post_send;
    return o;
}

}  // namespace

Hooks& hooks() { return g_hooks; }

const VerbsOps& hooked_standin() {
    static const VerbsOps ops = make();
    return ops;
}

}  // namespace sluice::test::rdma
