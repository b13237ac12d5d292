// sluice-dp: EAL start-up, ports, one worker per lcore, the agent on the
// main lcore, the control channel's server, packet capture for DPDK's
// secondary-process tools (dpdk-dumpcap, dpdk-pdump), clean shutdown with
// final counters and an mbuf leak check.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pdump.h>
#include <rte_ring.h>

#include "config/load.hpp"
#include "dataplane/agent/agent.hpp"
#include "dataplane/agent/telemetry.hpp"
#include "dataplane/options.hpp"
#include "dataplane/setup.hpp"
#include "dataplane/signals.hpp"
#include "dataplane/worker/worker.hpp"

namespace {

int check_config(const std::string& path) {
    auto r = sluice::config::load_config_file(path);
    if (!r.ok()) {
        std::fprintf(stderr, "%s\n", r.error_text().c_str());
        return 1;
    }
    std::printf("%s: ok (%zu ports, %zu routes, %zu static neighbors)\n", path.c_str(), r.config().ports.size(),
                r.config().routes.size(), r.config().neighbors.size());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace sluice;
    // Validation needs no EAL (and no root): handle it before rte_eal_init.
    if (argc == 3 && std::strcmp(argv[1], "--check-config") == 0) return check_config(argv[2]);

    // Before rte_eal_init, so that every thread DPDK starts (and every one we
    // start) inherits the blocked mask: signals then reach only the agent's
    // loop, and one sent during start-up waits for it (signals.hpp).
    dp::SignalSource signals;
    if (!signals.ok()) {
        std::fprintf(stderr, "sluice-dp: cannot take signals: %s\n", signals.error().c_str());
        return 2;
    }
    int eal_args = rte_eal_init(argc, argv);
    if (eal_args < 0) {
        std::fprintf(stderr, "sluice-dp: EAL initialisation failed (see messages above)\n%s", dp::usage());
        return 2;
    }
    dp::Options opt;
    if (std::string e = dp::parse_options(argc - eal_args, argv + eal_args, &opt); !e.empty() || opt.help) {
        std::fprintf(stderr, "sluice-dp: %s\n%s", e.c_str(), dp::usage());
        rte_eal_cleanup();
        return opt.help ? 0 : 2;
    }
    if (!opt.check_config.empty()) {
        int rc = check_config(opt.check_config);
        rte_eal_cleanup();
        return rc;
    }
    // Packet capture: dpdk-dumpcap / dpdk-pdump attach as secondary
    // processes (same --file-prefix) and ask us to copy a port's packets to
    // them. Needs the EAL's multi-process channel (not --in-memory or
    // --no-shconf); the data plane runs without it otherwise.
    bool pdump = rte_pdump_init() == 0;
    if (!pdump)
        std::printf("sluice-dp: packet capture (rte_pdump) unavailable: %s\n", rte_strerror(rte_errno));
    auto loaded = config::load_config_file(opt.config_path);
    if (!loaded.ok()) {
        std::fprintf(stderr, "sluice-dp: invalid config:\n%s\n", loaded.error_text().c_str());
        if (pdump) rte_pdump_uninit();
        rte_eal_cleanup();
        return 1;
    }
    const config::Config& cfg = loaded.config();

    int rc = 0;
    {
        std::atomic<bool> stop{false};   // set by the agent on SIGINT/SIGTERM; workers and stats watch it
        dp::Runtime rt;
        if (std::string e = dp::setup_runtime(cfg, opt.config_path, &stop, &rt); !e.empty()) {
            std::fprintf(stderr, "sluice-dp: %s\n", e.c_str());
            dp::teardown_runtime(&rt);
            if (pdump) rte_pdump_uninit();
            rte_eal_cleanup();
            return 1;
        }
        // The control channel, before "ready": a control process may
        // connect as soon as that line is out (requests that change the
        // tables wait for the builder's thread, started by launch()).
        const std::string socket = opt.control_socket.empty() ? cfg.control.socket : opt.control_socket;
        if (std::string e = dp::start_channel(&rt, cfg.control, socket); !e.empty()) {
            std::fprintf(stderr, "sluice-dp: %s\n", e.c_str());
            dp::teardown_runtime(&rt);
            if (pdump) rte_pdump_uninit();
            rte_eal_cleanup();
            return 1;
        }
        dp::telemetry_register(&rt.shared, rt.agent.get(), rt.reloader.get(), rt.builder.get(), rt.control.get());
        dp::launch(&rt);
        std::printf("sluice-dp: ready (%zu workers, %zu ports, config version %lu)\n", rt.workers.size(),
                    cfg.ports.size(), (unsigned long)rt.reloader->version());
        std::fflush(stdout);
        // The loaded file's model is not kept: the tables hold the running
        // state from here on (a million routes would otherwise stay twice).
        loaded = config::LoadResult(std::vector<config::ConfigError>{});

        std::thread stats;
        if (opt.stats_interval) {
            stats = std::thread([&] {
                auto next = std::chrono::steady_clock::now();
                while (!stop.load()) {
                    next += std::chrono::seconds(opt.stats_interval);
                    while (!stop.load() && std::chrono::steady_clock::now() < next)
                        std::this_thread::sleep_for(std::chrono::milliseconds(50));
                    if (stop.load()) break;
                    std::printf("---- sluice-dp counters ----\n%s",
                                dp::render_stats(rt.shared, rt.reloader->version(), rt.control.get(),
                                                 rt.reloader.get())
                                    .c_str());
                    std::fflush(stdout);
                }
            });
        }
        rt.agent->run(signals, stop, [&rt] { dp::request_reload(&rt); });
        // No new control request from here on; the socket file goes.
        dp::stop_channel(&rt);
        if (rt.shared.rdma) dp::stop_rdma_links(*rt.shared.rdma);
        rte_eal_mp_wait_lcore();
        if (stats.joinable()) stats.join();
        dp::telemetry_unregister();
        dp::quiesce(&rt);
        std::printf("sluice-dp: stopping; final counters:\n%s",
                    dp::render_stats(rt.shared, rt.reloader->version(), rt.control.get(), rt.reloader.get())
                        .c_str());
        uint32_t leaked = dp::teardown_runtime(&rt);
        std::printf("sluice-dp: mbufs leaked: %u\n", leaked);
        std::fflush(stdout);
        if (leaked) rc = 3;
    }
    if (pdump) rte_pdump_uninit();
    rte_eal_cleanup();
    return rc;
}
