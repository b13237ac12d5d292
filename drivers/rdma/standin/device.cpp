// Devices, node identity, discovery, contexts and their queries, stats and
// the device-level fault injection (standin.hpp).
#include <endian.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "drivers/rdma/standin/internal.hpp"

namespace sluice::drivers::rdma::standin {

namespace detail {

Registry& registry() {
    // Never destroyed: ibv_device pointers handed out stay valid, and no
    // exit-time destructor can touch files of a process that forked us.
    static Registry* r = new Registry;
    return *r;
}

Node::~Node() { release_node(fabric, id); }

namespace {

constexpr uint32_t kDefaultGidTable = 16;
constexpr uint64_t kGuidBase = 0x02534c0000000000ULL;  // locally administered, "SL"

// Fabric names become file names: keep [A-Za-z0-9_-].
std::string sanitize(const std::string& s) {
    std::string out;
    for (char c : s.substr(0, 64)) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        out.push_back(ok ? c : '_');
    }
    return out.empty() ? "default" : out;
}

GidEntry make_gid(uint32_t index, const std::array<uint8_t, 16>& gid, uint32_t type) {
    GidEntry e;
    e.index = index;
    e.gid = gid;
    e.type = type;
    return e;
}

// The default port GID table (see DeviceSpec::gids). Ethernet: like a
// ConnectX port with an IPv6 link-local and an IPv4 address, each as RoCEv1
// and RoCEv2; InfiniBand: the port GID fe80::<port guid> (IBA 4.1.1).
std::vector<GidEntry> default_gids(LinkLayer ll, uint16_t node) {
    std::vector<GidEntry> t(kDefaultGidTable);
    for (uint32_t i = 0; i < t.size(); ++i) t[i].index = i;
    auto hi = static_cast<uint8_t>(node >> 8), lo = static_cast<uint8_t>(node);
    if (ll == LinkLayer::infiniband) {
        std::array<uint8_t, 16> g{0xfe, 0x80};
        uint64_t guid = kGuidBase | node;
        for (int i = 0; i < 8; ++i) g[8 + i] = static_cast<uint8_t>(guid >> (56 - 8 * i));
        t[0] = make_gid(0, g, IBV_GID_TYPE_IB);
        return t;
    }
    // Link-local from the EUI-64 of MAC 02:53:4c:00:<hi>:<lo> (RFC 4291 App. A).
    std::array<uint8_t, 16> ll6{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x00, 0x53, 0x4c, 0xff, 0xfe, 0x00, hi, lo};
    // IPv4-mapped ::ffff:198.18.<hi>.<lo> (RFC 2544 benchmarking range).
    std::array<uint8_t, 16> v4{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, hi, lo};
    t[0] = make_gid(0, ll6, IBV_GID_TYPE_ROCE_V1);
    t[1] = make_gid(1, ll6, IBV_GID_TYPE_ROCE_V2);
    t[2] = make_gid(2, v4, IBV_GID_TYPE_ROCE_V1);
    t[3] = make_gid(3, v4, IBV_GID_TYPE_ROCE_V2);
    return t;
}

bool gid_empty(const std::array<uint8_t, 16>& g) {
    for (auto b : g)
        if (b) return false;
    return true;
}

void copy_name(char* dst, size_t cap, const std::string& s) {
    std::snprintf(dst, cap, "%s", s.c_str());
}

}  // namespace

ibv_device** get_device_list(int* num_devices) {
    auto& r = registry();
    std::lock_guard lk(r.mu);
    std::vector<ibv_device*> found;
    for (auto* e : r.devices)
        if (!e->removed && e->pid == getpid()) found.push_back(&e->dev);
    if (num_devices) *num_devices = static_cast<int>(found.size());
    if (found.empty()) {
        // As libibverbs on a kernel without RDMA support (no uverbs devices
        // and no sysfs class): NULL with ENOSYS. Callers read that as "no
        // RDMA devices", the same as an empty list.
        errno = ENOSYS;
        return nullptr;
    }
    auto** list = static_cast<ibv_device**>(std::calloc(found.size() + 1, sizeof(ibv_device*)));
    if (!list) return fail_null<ibv_device*>(ENOMEM);
    for (size_t i = 0; i < found.size(); ++i) list[i] = found[i];
    return list;
}

void free_device_list(ibv_device** list) { std::free(list); }

const char* get_device_name(ibv_device* device) { return device ? device->name : nullptr; }

ibv_context* open_device(ibv_device* device) {
    auto& r = registry();
    std::lock_guard lk(r.mu);
    DeviceEntry* entry = nullptr;
    for (auto* e : r.devices)
        if (&e->dev == device && e->pid == getpid() && !e->removed) entry = e;
    if (!entry) return fail_null<ibv_context>(ENODEV);
    sweep_stale();
    auto* c = new Ctx;
    c->ctx.device = device;
    c->ctx.cmd_fd = -1;
    c->ctx.async_fd = -1;
    c->ctx.num_comp_vectors = 1;
    pthread_mutex_init(&c->ctx.mutex, nullptr);
    c->entry = entry;
    c->node = entry->node;
    return &c->ctx;
}

int close_device(ibv_context* context) {
    if (!context) return fail_int(EINVAL);
    auto& r = registry();
    std::lock_guard lk(r.mu);
    Ctx* c = to_ctx(context);
    // As the kernel does for a closed file: the QPs vanish from the wire
    // (alive cleared, rings unlinked). Objects not destroyed first stay
    // allocated (as with libibverbs, using them afterwards is undefined).
    for (Qp* q : c->qps) {
        QpCqLock cl(q);
        q->in.close();
        release_out(q);
    }
    if (c->qps.empty() && c->pds == 0 && c->cqs == 0 && c->srqs == 0) {
        pthread_mutex_destroy(&c->ctx.mutex);
        delete c;
    }
    return 0;
}

int query_device(ibv_context* context, ibv_device_attr* attr) {
    if (!context || !attr) return fail_int(EINVAL);
    const Ctx* c = to_ctx(context);
    const DeviceSpec& s = c->entry->spec;
    *attr = ibv_device_attr{};
    copy_name(attr->fw_ver, sizeof(attr->fw_ver), "standin-1.0");
    attr->node_guid = htobe64(kGuidBase | c->node->id);
    attr->sys_image_guid = attr->node_guid;
    attr->max_mr_size = ~0ULL;
    attr->page_size_cap = 0xfffff000;
    attr->vendor_id = 0x02c9;
    attr->vendor_part_id = 0xffff;
    attr->max_qp = 1 << 16;
    attr->max_qp_wr = static_cast<int>(s.max_qp_wr);
    attr->device_cap_flags = IBV_DEVICE_RC_RNR_NAK_GEN | IBV_DEVICE_SRQ_RESIZE;
    attr->max_sge = static_cast<int>(s.max_sge);
    attr->max_sge_rd = static_cast<int>(s.max_sge);
    attr->max_cq = 1 << 16;
    attr->max_cqe = static_cast<int>(s.max_cqe);
    attr->max_mr = 1 << 16;
    attr->max_pd = 1 << 16;
    attr->max_qp_rd_atom = 16;
    attr->max_qp_init_rd_atom = 16;
    attr->max_res_rd_atom = 1 << 20;
    attr->max_srq = 1 << 16;
    attr->max_srq_wr = static_cast<int>(s.max_srq_wr);
    attr->max_srq_sge = static_cast<int>(s.max_sge);
    attr->max_pkeys = 1;
    attr->phys_port_cnt = 1;
    return 0;
}

int query_port(ibv_context* context, uint8_t port_num, ibv_port_attr* attr) {
    if (!context || !attr || port_num != 1) return fail_int(EINVAL);
    const Ctx* c = to_ctx(context);
    const DeviceSpec& s = c->entry->spec;
    *attr = ibv_port_attr{};
    attr->state = IBV_PORT_ACTIVE;
    attr->max_mtu = IBV_MTU_4096;
    attr->active_mtu = static_cast<ibv_mtu>(s.active_mtu);
    attr->gid_tbl_len = static_cast<int>(c->node->gid_tbl_len);
    attr->max_msg_sz = s.slot_bytes;
    attr->pkey_tbl_len = 1;
    attr->active_width = 2;  // 4x
    attr->active_speed = 32; // EDR
    attr->phys_state = 5;    // LinkUp
    if (s.link_layer == LinkLayer::infiniband) {
        attr->link_layer = IBV_LINK_LAYER_INFINIBAND;
        attr->lid = c->node->id;
        attr->sm_lid = 1;
        attr->port_cap_flags = 0;
    } else {
        attr->link_layer = IBV_LINK_LAYER_ETHERNET;
        attr->port_cap_flags = IBV_PORT_IP_BASED_GIDS;
    }
    return 0;
}

int query_gid_ex(ibv_context* context, uint32_t port_num, uint32_t gid_index, ibv_gid_entry* entry,
                 uint32_t flags) {
    if (!context || !entry || port_num != 1 || flags != 0) return fail_int(EINVAL);
    const Node& n = *to_ctx(context)->node;
    if (gid_index >= n.gid_tbl_len) return fail_int(EINVAL);
    const GidEntry& g = n.gids[gid_index];
    if (gid_empty(g.gid)) return fail_int(ENODATA);  // an empty slot, as libibverbs reports it
    *entry = ibv_gid_entry{};
    std::memcpy(entry->gid.raw, g.gid.data(), 16);
    entry->gid_index = gid_index;
    entry->port_num = port_num;
    entry->gid_type = g.type;
    return 0;
}

}  // namespace detail

using namespace detail;

void add_device(const DeviceSpec& spec_in) {
    auto& r = registry();
    std::lock_guard lk(r.mu);
    DeviceSpec spec = spec_in;
    spec.fabric = sanitize(spec.fabric);
    sweep_stale();
    // Names of our files go at a normal exit; a crash leaves them to the
    // next sweep. (A forked child inherits this: it unlinks only its own.)
    static bool at_exit = std::atexit(unlink_own_files) == 0;
    (void)at_exit;
    // Start the search from the pid so processes rarely contend for an id;
    // the exclusive create in claim_node makes it unique regardless.
    uint32_t seed = static_cast<uint32_t>(getpid()) * 8 + r.next_node_seed.fetch_add(1);
    uint16_t id = claim_node(spec.fabric, seed);
    if (id == 0) {
        std::fprintf(stderr, "standin: add_device %s: no free node id on fabric %s (expected one of 1..%u)\n",
                     spec.name.c_str(), spec.fabric.c_str(), kMaxNodeId);
        return;
    }
    auto node = std::make_shared<Node>();
    node->fabric = spec.fabric;
    node->id = id;
    node->owner_pid = getpid();
    node->next_qpn.store(0x100 + (id & 0xff) * 0x100);
    if (spec.gids.empty()) {
        node->gids = default_gids(spec.link_layer, id);
    } else {
        uint32_t len = kDefaultGidTable;
        for (const auto& g : spec.gids) len = std::max(len, g.index + 1);
        node->gids.resize(len);
        for (uint32_t i = 0; i < len; ++i) node->gids[i].index = i;
        for (const auto& g : spec.gids) node->gids[g.index] = g;
    }
    node->gid_tbl_len = static_cast<uint32_t>(node->gids.size());
    std::vector<GidEntry> present;
    for (const auto& g : node->gids)
        if (!gid_empty(g.gid)) present.push_back(g);
    publish_node(spec.fabric, id, spec.link_layer == LinkLayer::infiniband ? IBV_LINK_LAYER_INFINIBAND
                                                                            : IBV_LINK_LAYER_ETHERNET,
                 present);

    auto* e = new DeviceEntry;
    e->spec = spec;
    e->node = std::move(node);
    e->pid = getpid();
    e->dev.node_type = IBV_NODE_CA;
    e->dev.transport_type = IBV_TRANSPORT_IB;
    copy_name(e->dev.name, sizeof(e->dev.name), spec.name);
    std::string uverbs = "uverbs" + std::to_string(r.devices.size());
    copy_name(e->dev.dev_name, sizeof(e->dev.dev_name), uverbs);
    copy_name(e->dev.dev_path, sizeof(e->dev.dev_path), "/sys/class/infiniband_verbs/" + uverbs);
    copy_name(e->dev.ibdev_path, sizeof(e->dev.ibdev_path), "/sys/class/infiniband/" + spec.name);
    r.devices.push_back(e);
}

void remove_devices() {
    auto& r = registry();
    std::lock_guard lk(r.mu);
    for (auto* e : r.devices) {
        if (e->removed) continue;
        e->removed = true;
        e->node.reset();  // open contexts hold their own reference
    }
}

void kill_device(ibv_context* context) {
    if (!context) return;
    auto& r = registry();
    std::lock_guard lk(r.mu);
    Ctx* c = to_ctx(context);
    c->killed.store(true, std::memory_order_release);
    for (Qp* q : c->qps) q->in.kill();
}

Stats stats() {
    auto& r = registry();
    Stats s;
    s.rnr_naks = r.rnr_naks.load(std::memory_order_relaxed);
    s.retry_exceeded = r.retry_exceeded.load(std::memory_order_relaxed);
    s.cq_overflows = r.cq_overflows.load(std::memory_order_relaxed);
    s.messages = r.messages.load(std::memory_order_relaxed);
    return s;
}

}  // namespace sluice::drivers::rdma::standin
