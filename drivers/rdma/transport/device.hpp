// An opened RDMA device: context, protection domain, port attributes, and
// the packet pool's memory registered chunk by chunk (rte_mempool_mem_iter,
// as DPDK's mana and mlx5 drivers do) so frames are sent and received in
// place. Opened and configured by the set-up thread; read-only afterwards
// (lkey_of is called by the workers).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "drivers/rdma/connect/attr.hpp"

struct rte_mempool;
struct ibv_context;
struct ibv_pd;

namespace sluice::drivers::rdma {

struct VerbsOps;

enum class Discovery : uint8_t {
    found,        // the device is open
    no_devices,   // ibv_get_device_list failed (ENOSYS: no RDMA in this kernel) or returned none
    not_found,    // devices exist, none has this name
    failed,       // found but could not be opened / queried / registered
};

class Device {
public:
    // Opens `name` through `ops` (real_verbs() or the stand-in's table).
    // On anything but found, *err says why in one line.
    static std::unique_ptr<Device> open(const VerbsOps& ops, const std::string& name, uint8_t port,
                                        Discovery* result, std::string* err);
    ~Device();
    Device(const Device&) = delete;
    Device& operator=(const Device&) = delete;

    // Registers every memory chunk of `pool` (local write access, for
    // receives). May be called for several pools. False (and *err) when a
    // registration fails; what was registered stays until the destructor.
    bool register_pool(rte_mempool* pool, std::string* err);
    // The lkey of the registered region holding [addr, addr + len), or
    // false when no region holds it all (a frame from an unregistered pool).
    bool lkey_of(const void* addr, uint32_t len, uint32_t* lkey) const;

    const VerbsOps& ops() const { return ops_; }
    ibv_context* context() const { return ctx_; }
    ibv_pd* pd() const { return pd_; }
    uint8_t port() const { return port_; }
    const std::string& name() const { return name_; }

    // The port as queried at open (ibv_query_port, ibv_query_gid_ex): what
    // a peer puts in its EndpointInfo and picks its GID from.
    LinkLayer link_layer() const { return link_layer_; }
    uint8_t active_mtu() const { return active_mtu_; }  // enum ibv_mtu
    uint16_t lid() const { return lid_; }
    // The port's GID table, empty slots (ENODATA) left out.
    const std::vector<GidEntry>& gids() const { return gids_; }
    // From ibv_query_device: bounds a queue pair or SRQ may ask for.
    uint32_t max_qp_wr() const { return max_qp_wr_; }
    uint32_t max_srq_wr() const { return max_srq_wr_; }
    uint32_t max_cqe() const { return max_cqe_; }

    struct Region {
        uintptr_t start, end;
        uint32_t lkey;
        void* mr;  // ibv_mr*
    };
    const std::vector<Region>& regions() const { return regions_; }

private:
    Device(const VerbsOps& ops) : ops_(ops) {}
    const VerbsOps& ops_;
    ibv_context* ctx_ = nullptr;
    ibv_pd* pd_ = nullptr;
    uint8_t port_ = 1;
    std::string name_;
    LinkLayer link_layer_ = LinkLayer::ethernet;
    uint8_t active_mtu_ = 0;
    uint16_t lid_ = 0;
    std::vector<GidEntry> gids_;
    uint32_t max_qp_wr_ = 0, max_srq_wr_ = 0, max_cqe_ = 0;
    std::vector<Region> regions_;  // sorted by start
};

}  // namespace sluice::drivers::rdma
