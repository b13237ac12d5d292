// Building, starting and stopping the RDMA peers of a config (rdma_ports.hpp).
#include <cstdio>
#include <map>

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "config/model.hpp"
#include "config/rdma.hpp"
#include "dataplane/port_registry.hpp"
#include "dataplane/rdma/rdma_ports.hpp"
#include "drivers/rdma/link/link_thread.hpp"
#include "drivers/rdma/standin/standin.hpp"
#include "drivers/rdma/transport/device.hpp"
#include "drivers/rdma/transport/peer.hpp"
#include "drivers/rdma/transport/receive_queue.hpp"

namespace sluice::dp {

namespace rd = drivers::rdma;

namespace {

constexpr unsigned kHandoffRing = 1024;
// The stand-in's endpoints meet by fabric name: every sluice process on the
// machine uses the same one (node identities are unique per process).
constexpr const char* kStandinFabric = "sluice";

}  // namespace

RdmaRuntime::RdmaRuntime() = default;
RdmaRuntime::~RdmaRuntime() {
    if (link) link->stop();
    link.reset();
    peers.clear();
    receive_queues.clear();
    devices.clear();
    for (auto& p : ports)
        if (p->handoff) rte_ring_free(p->handoff);
}

std::string setup_rdma(const config::Config& cfg, rte_mempool* pool, uint32_t n_workers, PortRegistry* ports,
                       std::unique_ptr<RdmaRuntime>* out) {
    if (cfg.rdma_peers.empty()) return {};
    auto rt = std::make_unique<RdmaRuntime>();
    std::map<std::string, rd::Device*> devices;        // by device name
    std::map<std::pair<uint32_t, rd::Device*>, uint32_t> rq_size;  // receive buffers per (worker, device)
    std::vector<rd::Device*> peer_dev(cfg.rdma_peers.size(), nullptr);
    std::vector<uint32_t> owner(cfg.rdma_peers.size(), 0);
    bool standin_added = false;

    // 1. Devices, owners, receive queue sizes.
    uint32_t next_owner = 0;
    for (size_t i = 0; i < cfg.rdma_peers.size(); ++i) {
        const config::RdmaPeerConfig& pc = cfg.rdma_peers[i];
        owner[i] = pc.worker >= 0 ? uint32_t(pc.worker) % n_workers : next_owner++ % n_workers;
        if (pc.worker >= 0 && uint32_t(pc.worker) >= n_workers)
            std::printf("rdma: peer %s: worker %d does not exist (%u workers); worker %u owns it\n", pc.name.c_str(),
                        pc.worker, n_workers, owner[i]);
        std::string key = pc.device + "/" + std::to_string(pc.device_port);
        auto it = devices.find(key);
        if (it == devices.end()) {
            const rd::VerbsOps* ops = &rd::real_verbs();
            if (pc.device == "standin") {
                if (!standin_added) {
                    rd::standin::DeviceSpec spec;
                    spec.name = "standin";
                    spec.fabric = kStandinFabric;
                    spec.link_layer =
                        pc.link_layer == "infiniband" ? rd::LinkLayer::infiniband : rd::LinkLayer::ethernet;
                    rd::standin::add_device(spec);
                    standin_added = true;
                }
                ops = &rd::standin::ops();
            }
            rd::Discovery found = rd::Discovery::failed;
            std::string err;
            auto dev = rd::Device::open(*ops, pc.device, pc.device_port, &found, &err);
            if (dev && !dev->register_pool(pool, &err)) dev.reset();
            rd::Device* d = dev.get();
            if (!dev) {
                if (pc.required)
                    return "rdma peer " + pc.name + " (required): device " + pc.device + ": " + err;
                std::printf("rdma: peer %s: device %s: %s; running without it (frames routed to it drop as "
                            "rdma_peer_down)\n",
                            pc.name.c_str(), pc.device.c_str(), err.c_str());
            } else {
                std::printf("rdma: device %s port %u open (%s), packet pool registered in %zu regions\n",
                            pc.device.c_str(), unsigned(pc.device_port), ops->name, d->regions().size());
                rt->devices.push_back(std::move(dev));
            }
            it = devices.emplace(key, d).first;
        }
        peer_dev[i] = it->second;
        if (peer_dev[i]) rq_size[{owner[i], peer_dev[i]}] += pc.recv_queue;
    }

    // 2. A shared receive queue per (worker, device), sized for every peer's
    // credits: the senders can never find it empty (no RNR on the fast path).
    std::map<std::pair<uint32_t, rd::Device*>, rd::ReceiveQueue*> rqs;
    uint32_t max_frame = 0;
    for (const auto& pc : cfg.rdma_peers) max_frame = std::max<uint32_t>(max_frame, pc.mtu + 18u);
    for (auto& [k, size] : rq_size) {
        std::string err;
        auto rq = rd::ReceiveQueue::create(*k.second, pool, size, max_frame, &err);
        if (!rq) return "rdma: receive queue of worker " + std::to_string(k.first) + " on " + k.second->name() + ": " + err;
        rqs[k] = rq.get();
        rt->receive_queues.push_back(std::move(rq));
    }

    // 3. Peers and their ports.
    std::vector<rd::LinkSpec> links;
    uint16_t next_id = kMaxPorts;
    for (size_t i = 0; i < cfg.rdma_peers.size(); ++i) {
        const config::RdmaPeerConfig& pc = cfg.rdma_peers[i];
        do {
            if (next_id == 0) return "rdma peer " + pc.name + ": no port id left (limit " + std::to_string(kMaxPorts) + ")";
            --next_id;
        } while (ports->port[next_id].open);
        auto rp = std::make_unique<RdmaPort>();
        rp->port_id = next_id;
        rp->owner = owner[i];
        rp->name = pc.name;
        rp->device = pc.device;
        // The configured MAC or the one derived from the name (config/rdma.hpp,
        // docs/config.md): the exchange tells the other side, and it is the
        // destination of every frame we receive.
        rp->mac = config::link_mac(pc);
        std::string ring = "sl_rdma" + std::to_string(i);
        rp->handoff = rte_ring_create(ring.c_str(), kHandoffRing, int(rte_socket_id()), RING_F_SC_DEQ);
        if (!rp->handoff) return "rte_ring_create(" + ring + "): " + rte_strerror(rte_errno);
        if (rd::Device* d = peer_dev[i]) {
            rd::PeerParams pp;
            pp.name = pc.name;
            pp.send_queue = pc.send_queue;
            pp.recv_credits = pc.recv_queue;
            pp.inline_max = pc.inline_max;
            pp.signal_every = pc.signal_every;
            pp.device_port = pc.device_port;
            pp.gid_index = pc.gid_index;
            pp.max_frame = max_frame;
            auto peer = std::make_unique<rd::Peer>(*d, *rqs.at({owner[i], d}), pp);
            rp->peer = peer.get();
            rd::LinkSpec ls;
            ls.peer = peer.get();
            ls.name = pc.name;
            ls.listen = pc.listen;
            ls.connect = pc.connect;
            ls.mac = rp->mac;
            links.push_back(std::move(ls));
            rt->peers.push_back(std::move(peer));
        }
        Port& p = ports->port[next_id];
        p.open = true;
        p.spec.name = pc.name;
        p.spec.device = "rdma:" + pc.device;
        p.spec.mtu = pc.mtu;
        p.spec.mac = rp->mac;
        p.info.port_id = next_id;
        p.info.driver = peer_dev[i] ? "rdma" : "rdma (no device)";
        p.info.mac = rp->mac;
        p.info.rx_queues = 1;
        p.info.tx_queues = 1;
        rt->by_port[next_id] = rp.get();
        rt->ports.push_back(std::move(rp));
    }
    if (!links.empty()) rt->link = std::make_unique<rd::LinkThread>(std::move(links));
    *out = std::move(rt);
    return {};
}

std::string start_rdma_links(RdmaRuntime& rt, void (*pin)(void*), void* pin_arg) {
    if (!rt.link) return {};
    std::string err;
    if (!rt.link->start([pin, pin_arg] { if (pin) pin(pin_arg); }, &err)) return err;
    return {};
}

void stop_rdma_links(RdmaRuntime& rt) {
    if (rt.link) rt.link->stop();
}

void teardown_rdma(RdmaRuntime& rt, CoreCounters& counters) {
    stop_rdma_links(rt);
    for (auto& p : rt.peers) p->teardown();
    rte_mbuf* h[64];
    for (auto& p : rt.ports) {
        unsigned k;
        while (p->handoff && (k = rte_ring_dequeue_burst(p->handoff, reinterpret_cast<void**>(h), 64, nullptr)) > 0) {
            counters.drop(DropReason::shutdown, k);
            rte_pktmbuf_free_bulk(h, k);
        }
    }
    rt.peers.clear();
    rt.receive_queues.clear();
    rt.devices.clear();
}

}  // namespace sluice::dp
