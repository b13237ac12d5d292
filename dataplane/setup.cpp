#include "dataplane/setup.hpp"

#include <algorithm>

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "drivers/ports/port.hpp"

namespace sluice::dp {

namespace {
constexpr unsigned kPuntRingSize = 4096;
}

std::string setup_runtime(std::shared_ptr<const config::Config> cfg, const std::string& config_path,
                          const std::atomic<bool>* stop, Runtime* rt) {
    Shared& sh = rt->shared;
    sh.config_path = config_path;
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore) rt->worker_lcores.push_back(lcore);
    if (rt->worker_lcores.empty())
        return "no worker lcores: give EAL at least two (e.g. -l 0-1); the main lcore runs the agent";
    uint32_t n_workers = uint32_t(rt->worker_lcores.size());

    uint16_t max_mtu = 1500;
    for (const auto& p : cfg->ports) max_mtu = std::max(max_mtu, p.mtu);
    // One segment per packet: room for the largest frame plus VLAN tag.
    uint32_t room = std::max<uint32_t>(RTE_MBUF_DEFAULT_BUF_SIZE, max_mtu + 14 + 4 + 4 + RTE_PKTMBUF_HEADROOM);
    sh.pool = rte_pktmbuf_pool_create("sluice_mbufs", cfg->mbufs, cfg->mbuf_cache, 0, uint16_t(room),
                                      int(rte_socket_id()));
    if (!sh.pool)
        return "cannot create the mbuf pool of " + std::to_string(cfg->mbufs) + " mbufs: " + rte_strerror(rte_errno) +
               " (more hugepages, or -m with --no-huge, or a smaller 'mbufs')";
    rt->pool_size = cfg->mbufs;

    std::string err;
    sh.rcu = RcuDomain::create(n_workers, &err);
    if (!sh.rcu) return err;
    sh.neighbors = NeighborTable::create(cfg->neighbor.capacity, &err);
    if (!sh.neighbors) return err;
    sh.snapshot = std::make_unique<Published<Snapshot>>(*sh.rcu);
    for (uint32_t i = 0; i <= n_workers; ++i) sh.cores.push_back(std::make_unique<CoreCounters>());
    sh.queues = std::make_unique<QueueCounters[][kMaxQueuesPerPort]>(kMaxPorts);
    for (uint32_t i = 0; i < n_workers; ++i) {
        std::string name = "sl_punt" + std::to_string(i);
        rte_ring* r = rte_ring_create(name.c_str(), kPuntRingSize, int(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (!r) return "rte_ring_create(" + name + "): " + rte_strerror(rte_errno);
        sh.punt_rings.push_back(r);
    }

    // Each worker has its own TX queue on every port; the agent has the last.
    sh.ports.resize(kMaxPorts);
    sh.agent_txq = uint16_t(n_workers);
    for (const auto& pc : cfg->ports) {
        drivers::PortSetup ps;
        ps.name = pc.name;
        ps.device = pc.device;
        ps.rx_queues = pc.rx_queues;
        ps.tx_queues = uint16_t(n_workers + 1);
        ps.rx_desc = pc.rx_desc;
        ps.tx_desc = pc.tx_desc;
        ps.mtu = pc.mtu;
        ps.mac = pc.mac;
        ps.promiscuous = pc.promiscuous;
        ps.pool = sh.pool;
        auto r = drivers::open_port(ps);
        if (!r.info) return r.error;
        if (r.info->port_id >= kMaxPorts) {
            drivers::close_port(r.info->port_id);
            return "port " + pc.name + ": DPDK port id " + std::to_string(r.info->port_id) + " above the limit " +
                   std::to_string(kMaxPorts - 1);
        }
        PortRuntime& p = sh.ports[r.info->port_id];
        p.open = true;
        p.port_id = r.info->port_id;
        p.name = pc.name;
        p.device = pc.device;
        p.driver = r.info->driver;
        p.mac = r.info->mac;
        p.rx_queues = r.info->rx_queues;
        p.tx_queues = r.info->tx_queues;
        p.rss = r.info->rss;
    }

    rt->agent = std::make_unique<Agent>(sh, cfg);
    if (!rt->agent->start(&err)) return "building the forwarding tables: " + err;

    // Spread (port, queue) pairs over the workers round-robin.
    for (uint32_t i = 0; i < n_workers; ++i) {
        auto w = std::make_unique<WorkerSetup>();
        w->id = i;
        w->burst = cfg->workers.burst;
        w->idle = cfg->workers.idle;
        w->counters = sh.cores[i].get();
        w->queue_counters = sh.queues.get();
        w->snapshot = sh.snapshot.get();
        w->neighbors = sh.neighbors.get();
        w->rcu = sh.rcu.get();
        w->punt_ring = sh.punt_rings[i];
        w->stop = stop;
        rt->workers.push_back(std::move(w));
    }
    uint32_t next = 0;
    for (const auto& p : sh.ports) {
        if (!p.open) continue;
        for (uint16_t q = 0; q < p.rx_queues; ++q) rt->workers[next++ % n_workers]->rx.push_back({p.port_id, q});
    }
    return {};
}

void launch_workers(Runtime* rt) {
    for (size_t i = 0; i < rt->workers.size(); ++i)
        rte_eal_remote_launch(worker_main, rt->workers[i].get(), rt->worker_lcores[i]);
}

uint32_t teardown_runtime(Runtime* rt) {
    Shared& sh = rt->shared;
    if (rt->agent) rt->agent->drain_all();
    for (auto& p : sh.ports)
        if (p.open) drivers::close_port(p.port_id);
    for (rte_ring* r : sh.punt_rings) rte_ring_free(r);
    sh.punt_rings.clear();
    rt->agent.reset();
    sh.snapshot.reset();
    if (sh.rcu) sh.rcu->drain();
    sh.neighbors.reset();
    sh.rcu.reset();
    uint32_t leaked = 0;
    if (sh.pool) {
        leaked = rt->pool_size - rte_mempool_avail_count(sh.pool);
        rte_mempool_free(sh.pool);
        sh.pool = nullptr;
    }
    return leaked;
}

}  // namespace sluice::dp
