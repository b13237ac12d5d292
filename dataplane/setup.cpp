#include "dataplane/setup.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cstdio>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "dataplane/tx_contract.hpp"
#include "dataplane/worker/punt.hpp"
#include "drivers/ports/port.hpp"

namespace sluice::dp {

namespace {
constexpr unsigned kPuntRingSize = 4096;
}

std::string setup_runtime(const config::Config& cfg, const std::string& config_path, const std::atomic<bool>* stop,
                          Runtime* rt) {
    Shared& sh = rt->shared;
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore) rt->worker_lcores.push_back(lcore);
    if (rt->worker_lcores.empty())
        return "no worker lcores: give EAL at least two (e.g. -l 0-1); the main lcore runs the agent";
    uint32_t n_workers = uint32_t(rt->worker_lcores.size());
    if (std::string e = punt_field_register(); !e.empty()) return e;

    uint16_t max_mtu = 1500;
    for (const auto& p : cfg.ports) max_mtu = std::max(max_mtu, p.mtu);
    for (const auto& p : cfg.rdma_peers) max_mtu = std::max(max_mtu, p.mtu);
    // One segment per packet: room for the largest frame plus VLAN tag.
    uint32_t room = std::max<uint32_t>(RTE_MBUF_DEFAULT_BUF_SIZE, max_mtu + 14 + 4 + 4 + RTE_PKTMBUF_HEADROOM);
    sh.pool = rte_pktmbuf_pool_create("sluice_mbufs", cfg.mbufs, cfg.mbuf_cache, 0, uint16_t(room),
                                      int(rte_socket_id()));
    if (!sh.pool)
        return "cannot create the mbuf pool of " + std::to_string(cfg.mbufs) + " mbufs: " + rte_strerror(rte_errno) +
               " (more hugepages, or -m with --no-huge, or a smaller 'mbufs')";
    rt->pool_size = cfg.mbufs;

    std::string err;
    // Readers: the workers (ids 0..n-1) and the agent (id n); transient
    // readers (telemetry) take ids above.
    sh.rcu = RcuDomain::create(n_workers + 1, &err);
    if (!sh.rcu) return err;
    sh.agent_reader = n_workers;
    sh.neighbors = NeighborTable::create(cfg.neighbor.capacity, &err);
    if (!sh.neighbors) return err;
    sh.tables = std::make_unique<Published<Root>>(*sh.rcu);
    for (uint32_t i = 0; i <= n_workers; ++i) sh.cores.push_back(std::make_unique<CoreCounters>());
    sh.queues = std::make_unique<QueueCounters[][kMaxQueuesPerPort]>(kMaxPorts);
    for (uint32_t i = 0; i < n_workers; ++i) {
        std::string name = "sl_punt" + std::to_string(i);
        rte_ring* r = rte_ring_create(name.c_str(), kPuntRingSize, int(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (!r) return "rte_ring_create(" + name + "): " + rte_strerror(rte_errno);
        sh.punt_rings.push_back(r);
    }

    // Each worker has its own TX queue on every port; the agent has the last.
    sh.agent_txq = uint16_t(n_workers);
    for (const auto& pc : cfg.ports) {
        drivers::PortUse use;
        use.tx_queues = uint16_t(n_workers + 1);
        use.pool = sh.pool;
        use.tx_mbufs_direct_one_pool = kTxMbufsDirectOnePool;
        auto r = drivers::open_port(pc, use);
        if (!r.info) return r.error;
        if (r.info->port_id >= kMaxPorts) {
            drivers::close_port(r.info->port_id);
            return "port " + pc.name + ": DPDK port id " + std::to_string(r.info->port_id) + " above the limit " +
                   std::to_string(kMaxPorts - 1);
        }
        Port& p = sh.ports.port[r.info->port_id];
        p.open = true;
        p.spec = pc;
        p.info = *r.info;
    }

    // RDMA peers become ports before the tables are built: routes name them.
    if (std::string e = setup_rdma(cfg, sh.pool, n_workers, &sh.ports, &sh.rdma); !e.empty()) return e;

    rt->agent = std::make_unique<Agent>(sh, cfg.neighbor, cfg.icmp);
    rt->agent_neighbors = std::make_unique<AgentNeighbors>(*rt->agent);
    rt->builder = std::make_unique<TableBuilder>(sh.ports, *sh.tables, *sh.rcu, *rt->agent_neighbors, cfg.neighbor);
    rt->reloader = std::make_unique<ConfigReloader>(config_path, FixedAtStart::of(cfg));
    // The first tables, built here on the agent's (main) thread: the
    // builder's neighbor requests run inline, nothing reads yet.
    if (std::string e = rt->reloader->load_initial(cfg, *rt->builder); !e.empty())
        return "building the forwarding tables:\n" + e;
    rt->agent->resolve_new_gateways();
    rt->service = std::make_unique<TableService>(*rt->builder);

    // Spread (port, queue) pairs over the workers round-robin.
    for (uint32_t i = 0; i < n_workers; ++i) {
        auto w = std::make_unique<WorkerSetup>();
        w->id = i;
        w->counters = sh.cores[i].get();
        w->queue_counters = sh.queues.get();
        w->tables = sh.tables.get();
        w->pool = sh.pool;
        w->neighbors = sh.neighbors.get();
        w->rcu = sh.rcu.get();
        w->punt_ring = sh.punt_rings[i];
        w->stop = stop;
        sh.lb_workers.push_back(std::make_unique<LbWorker>(cfg.lb.flow_table_size));
        w->lb = sh.lb_workers.back().get();
        if (sh.rdma) {
            w->rdma = sh.rdma.get();
            for (auto& rp : sh.rdma->ports)
                if (rp->owner == i) w->rdma_owned.push_back(rp.get());
        }
        rt->workers.push_back(std::move(w));
    }
    uint32_t next = 0;
    for (const Port& p : sh.ports.port) {
        if (!p.open || (sh.rdma && sh.rdma->get(p.info.port_id))) continue;  // a peer is polled by its owner
        for (uint16_t q = 0; q < p.info.rx_queues; ++q)
            rt->workers[next++ % n_workers]->rx.push_back({p.info.port_id, q});
    }
    return {};
}

void launch(Runtime* rt) {
    rt->service->start();
    if (rt->shared.rdma) {
        // The link thread runs beside the agent, off the workers' cores.
        static rte_cpuset_t set;
        set = rte_lcore_cpuset(rte_get_main_lcore());
        auto pin = [](void* s) {
            cpu_set_t cs = *static_cast<rte_cpuset_t*>(s);
            pthread_setaffinity_np(pthread_self(), sizeof cs, &cs);
        };
        if (std::string e = start_rdma_links(*rt->shared.rdma, pin, &set); !e.empty()) {
            std::printf("rdma: %s; peers stay down\n", e.c_str());
            std::fflush(stdout);
        }
    }
    for (size_t i = 0; i < rt->workers.size(); ++i)
        rte_eal_remote_launch(worker_main, rt->workers[i].get(), rt->worker_lcores[i]);
}

std::string start_channel(Runtime* rt, const config::ControlConfig& cc, const std::string& socket_path) {
    if (!rt->control) rt->control = std::make_unique<ControlState>();
    ShowContext ctx;
    ctx.sh = &rt->shared;
    ctx.agent = rt->agent.get();
    ctx.reloader = rt->reloader.get();
    ctx.builder = rt->builder.get();
    ctx.state = rt->control.get();
    // The EAL runtime directory is /var/run/dpdk/<file prefix>.
    std::string dir = rte_eal_get_runtime_dir();
    ctx.file_prefix = dir.substr(dir.find_last_of('/') + 1);
    rt->channel_backend = std::make_unique<DataplaneBackend>(ctx, *rt->service, *rt->reloader, *rt->control);
    rt->channel = std::make_unique<ChannelServer>(*rt->channel_backend, *rt->control);
    ServerOptions opt;
    opt.path = socket_path;
    opt.group = cc.group;
    opt.max_message = cc.max_message;
    // Off the workers' cores: on the main lcore's CPUs, with the agent and
    // the builder's thread (which inherits them from main).
    rte_cpuset_t set = rte_lcore_cpuset(rte_get_main_lcore());
    opt.on_thread_start = [set] {
        cpu_set_t cs = set;
        pthread_setaffinity_np(pthread_self(), sizeof cs, &cs);
    };
    std::string err;
    if (!rt->channel->start(opt, &err)) {
        rt->channel.reset();
        rt->channel_backend.reset();
        return "control channel: " + err;
    }
    std::printf("channel: listening on %s (%s)\n", socket_path.c_str(),
                cc.group.empty() ? "mode 0600" : ("mode 0660, group " + cc.group).c_str());
    std::fflush(stdout);
    return {};
}

void stop_channel(Runtime* rt) {
    if (rt->channel) rt->channel->stop();
}

void request_reload(Runtime* rt) {
    ConfigReloader* rl = rt->reloader.get();
    rt->service->post([rl](TableBuilder& b) { rl->reload(b); }, "reload");
}

void quiesce(Runtime* rt) {
    // No new request after this; replies still being computed are dropped.
    stop_channel(rt);
    // The builder may be waiting on the agent (neighbor requests): serve
    // its mailbox until the builder's thread has finished.
    if (rt->service) rt->service->stop([rt] { rt->agent->serve_mailbox(); });
    if (rt->agent) rt->agent->drain_all();
    // RDMA peers (the workers have stopped): what they hold goes back to the
    // pool, counted, before the final counters and the leak check.
    if (rt->shared.rdma && !rt->shared.cores.empty()) teardown_rdma(*rt->shared.rdma, *rt->shared.cores.back());
}

uint32_t teardown_runtime(Runtime* rt) {
    Shared& sh = rt->shared;
    quiesce(rt);
    if (sh.rdma)  // not ethdev ports: nothing to close
        for (const auto& rp : sh.rdma->ports) sh.ports.port[rp->port_id].open = false;
    for (const Port& p : sh.ports.port)
        if (p.open) drivers::close_port(p.info.port_id);
    for (rte_ring* r : sh.punt_rings) rte_ring_free(r);
    sh.punt_rings.clear();
    rt->channel.reset();
    rt->channel_backend.reset();
    rt->service.reset();
    rt->builder.reset();
    rt->agent_neighbors.reset();
    rt->agent.reset();
    sh.tables.reset();
    if (sh.rcu) sh.rcu->drain();
    sh.neighbors.reset();
    sh.rcu.reset();
    sh.rdma.reset();
    uint32_t leaked = 0;
    if (sh.pool) {
        leaked = rt->pool_size - rte_mempool_avail_count(sh.pool);
        rte_mempool_free(sh.pool);
        sh.pool = nullptr;
    }
    return leaked;
}

}  // namespace sluice::dp
