// Device: discovery, open, port and GID table, packet pool registration.
#include "drivers/rdma/transport/device.hpp"

#include <rte_mempool.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "drivers/rdma/verbs/ops.hpp"

namespace sluice::drivers::rdma {

namespace {

std::string errno_text(int e) { return std::strerror(e); }

// The port's GID table. ibv_query_gid_ex(3): an empty slot fails with
// ENODATA; such slots (and any other that fails to read) are left out, as
// select_gid takes a sparse table.
std::vector<GidEntry> read_gids(const VerbsOps& ops, ibv_context* ctx, uint8_t port, int tbl_len) {
    std::vector<GidEntry> out;
    for (int i = 0; i < tbl_len; ++i) {
        ibv_gid_entry e{};
        errno = 0;
        if (ops.query_gid_ex(ctx, port, uint32_t(i), &e, 0) != 0) continue;
        GidEntry g;
        g.index = uint32_t(i);
        std::memcpy(g.gid.data(), e.gid.raw, 16);
        g.type = e.gid_type;
        out.push_back(g);
    }
    return out;
}

}  // namespace

std::unique_ptr<Device> Device::open(const VerbsOps& ops, const std::string& name, uint8_t port, Discovery* result,
                                     std::string* err) {
    auto fail = [&](Discovery d, std::string msg) -> std::unique_ptr<Device> {
        if (result) *result = d;
        if (err) *err = std::move(msg);
        return nullptr;
    };
    int num = 0;
    errno = 0;
    ibv_device** list = ops.get_device_list(&num);
    if (list == nullptr) {
        // ENOSYS: the kernel has no RDMA subsystem (uverbs) at all.
        return fail(Discovery::no_devices,
                    "no RDMA devices (ibv_get_device_list: " + errno_text(errno ? errno : ENODEV) + ")");
    }
    if (num <= 0 || list[0] == nullptr) {
        ops.free_device_list(list);
        return fail(Discovery::no_devices, "no RDMA devices (ibv_get_device_list: none found)");
    }
    ibv_device* found = nullptr;
    std::string present;
    for (int i = 0; i < num && list[i] != nullptr; ++i) {
        const char* n = ops.get_device_name(list[i]);
        std::string dn = n ? n : "";
        if (dn == name) found = list[i];
        present += (present.empty() ? "" : ", ") + dn;
    }
    if (found == nullptr) {
        ops.free_device_list(list);
        return fail(Discovery::not_found, "RDMA device '" + name + "' not found (present: " + present + ")");
    }
    std::unique_ptr<Device> d(new Device(ops));
    d->name_ = name;
    d->port_ = port;
    errno = 0;
    d->ctx_ = ops.open_device(found);
    int open_errno = errno;
    // ibv_get_device_list(3): the list may be freed once the wanted devices
    // are open.
    ops.free_device_list(list);
    if (d->ctx_ == nullptr)
        return fail(Discovery::failed, "ibv_open_device(" + name + "): " + errno_text(open_errno ? open_errno : EIO));

    ibv_device_attr dattr{};
    if (int rc = ops.query_device(d->ctx_, &dattr); rc != 0)
        return fail(Discovery::failed, "ibv_query_device(" + name + "): " + errno_text(rc > 0 ? rc : errno));
    d->max_qp_wr_ = uint32_t(std::max(dattr.max_qp_wr, 0));
    d->max_srq_wr_ = uint32_t(std::max(dattr.max_srq_wr, 0));
    d->max_cqe_ = uint32_t(std::max(dattr.max_cqe, 0));

    ibv_port_attr pattr{};
    if (int rc = ops.query_port(d->ctx_, port, &pattr); rc != 0)
        return fail(Discovery::failed, "ibv_query_port(" + name + ", port " + std::to_string(port) +
                                           "): " + errno_text(rc > 0 ? rc : errno));
    // IBV_LINK_LAYER_UNSPECIFIED comes from old InfiniBand-only providers.
    d->link_layer_ = pattr.link_layer == IBV_LINK_LAYER_ETHERNET ? LinkLayer::ethernet : LinkLayer::infiniband;
    d->active_mtu_ = uint8_t(pattr.active_mtu);
    d->lid_ = pattr.lid;
    d->gids_ = read_gids(ops, d->ctx_, port, pattr.gid_tbl_len);

    errno = 0;
    d->pd_ = ops.alloc_pd(d->ctx_);
    if (d->pd_ == nullptr)
        return fail(Discovery::failed, "ibv_alloc_pd(" + name + "): " + errno_text(errno ? errno : ENOMEM));
    if (result) *result = Discovery::found;
    return d;
}

Device::~Device() {
    for (const Region& r : regions_) ops_.dereg_mr(static_cast<ibv_mr*>(r.mr));
    if (pd_) ops_.dealloc_pd(pd_);
    if (ctx_) ops_.close_device(ctx_);
}

namespace {

struct RegisterWalk {
    const VerbsOps* ops;
    ibv_pd* pd;
    std::vector<Device::Region>* regions;
    std::string error;  // the first failure
};

void register_chunk(rte_mempool* mp, void* opaque, rte_mempool_memhdr* memhdr, unsigned idx) {
    auto* w = static_cast<RegisterWalk*>(opaque);
    if (!w->error.empty()) return;  // rte_mempool_mem_iter cannot be stopped
    errno = 0;
    // Local write: the HCA writes received frames into these buffers. No
    // remote access: the peer only SENDs (ibv_reg_mr(3)).
    ibv_mr* mr = w->ops->reg_mr(w->pd, memhdr->addr, memhdr->len, IBV_ACCESS_LOCAL_WRITE);
    if (mr == nullptr) {
        int e = errno ? errno : ENOMEM;
        w->error = "ibv_reg_mr of mempool '" + std::string(mp->name) + "' chunk " + std::to_string(idx) + " (" +
                   std::to_string(memhdr->len) + " bytes) failed: " + std::strerror(e);
        return;
    }
    uintptr_t start = reinterpret_cast<uintptr_t>(memhdr->addr);
    w->regions->push_back({start, start + memhdr->len, mr->lkey, mr});
}

}  // namespace

bool Device::register_pool(rte_mempool* pool, std::string* err) {
    if (pool == nullptr) {
        if (err) *err = "register_pool: no mempool given";
        return false;
    }
    RegisterWalk w{&ops_, pd_, &regions_, {}};
    rte_mempool_mem_iter(pool, register_chunk, &w);
    std::sort(regions_.begin(), regions_.end(), [](const Region& a, const Region& b) { return a.start < b.start; });
    if (!w.error.empty()) {
        if (err) *err = w.error;
        return false;
    }
    return true;
}

bool Device::lkey_of(const void* addr, uint32_t len, uint32_t* lkey) const {
    uintptr_t a = reinterpret_cast<uintptr_t>(addr);
    // The last region starting at or before a.
    auto it = std::upper_bound(regions_.begin(), regions_.end(), a,
                               [](uintptr_t v, const Region& r) { return v < r.start; });
    if (it == regions_.begin()) return false;
    --it;
    if (a + len > it->end || a + len < a) return false;
    *lkey = it->lkey;
    return true;
}

}  // namespace sluice::drivers::rdma
