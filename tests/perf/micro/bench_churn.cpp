// Forwarding while the table changes: one worker lcore runs forward_burst
// over a 10^6-route table (from a route file: tests/perf/route_table.py)
// while the main lcore applies route changes through the table builder at
// a fixed rate (batches of 100 every 10 ms = 10 000 changes/s by default).
// Phases with and without changes alternate; the rate of each is reported,
// and their ratio (median of per-round ratios: the machine's speed drifts).
//
// Stale or wrong next hops: the changes move 4 096 "probe" routes (/24s
// with nothing more specific inside) from gateway to gateway, and the
// traffic goes to those routes. The worker records, for a sample of the
// packets it forwarded, the root generation it used, the route and the
// gateway the packet was sent to (its new destination MAC names the
// gateway). Afterwards every sample is checked against the change log: the
// gateway must be the one the route had in that generation. A FIB copy
// that missed a batch (the spare not caught up before it was patched and
// published), a root published before its FIB was patched, or a reader
// reading a copy being patched would show as a sample whose gateway is an
// older one (stale) or none the route ever had (wrong).
//
//   build/tests/perf/bench_churn --config table.yaml [--rate 10000] [--seconds 2] [--rounds 3]
// Prints one JSON object.
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "config/load.hpp"
#include "dataplane/pkt/checksum.hpp"
#include "dataplane/reload/config_diff.hpp"
#include "dataplane/worker/forward.hpp"
#include "dataplane/worker/punt.hpp"
#include "tests/unit/dataplane/frames.hpp"
#include "tests/unit/dataplane/tables_env.hpp"

namespace {

using namespace sluice;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kProbes = 4096;
constexpr uint32_t kGateways = 4;  // gateway g: MAC 02:00:00:00:99:g
constexpr uint32_t kPackets = 8192;
constexpr uint16_t kBurst = 32;

struct Sample {
    uint64_t generation;
    uint32_t route;
    uint32_t gateway;  // from the destination MAC; kGateways = not forwarded
};

struct Shared {
    test::TablesEnv* env = nullptr;
    std::vector<rte_mbuf*> pkts;
    std::vector<uint32_t> route_of;  // packet -> probe route
    std::array<uint8_t, 6> port_mac{};
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> packets{0};
    std::vector<Sample> samples;
    std::atomic<size_t> n_samples{0};
    uint32_t sample_every = 64;
};

int worker(void* arg) {
    Shared& s = *static_cast<Shared*>(arg);
    s.env->rcu->register_reader(0);
    auto res = std::make_unique<dp::BurstResult>();
    auto counters = std::make_unique<dp::CoreCounters>();
    size_t off = 0;
    uint64_t n = 0;
    while (!s.stop.load(std::memory_order_relaxed)) {
        const dp::Root* root = s.env->published->get();
        res->clear();
        dp::forward_burst(*root, *s.env->nbrs, &s.pkts[off], kBurst, *res, *counters);
        // Check and restore what forward_burst rewrote (destination MAC,
        // TTL, checksum), so each packet can go round again.
        for (uint16_t i = 0; i < kBurst; ++i) {
            rte_mbuf* m = s.pkts[off + i];
            uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
            if ((n + i) % s.sample_every == 0) {
                size_t k = s.n_samples.load(std::memory_order_relaxed);
                if (k < s.samples.size()) {
                    uint32_t gw = (d[0] == 0x02 && d[4] == 0x99) ? d[5] : kGateways;
                    s.samples[k] = Sample{root->generation, s.route_of[off + i], gw};
                    s.n_samples.store(k + 1, std::memory_order_relaxed);
                }
            }
            std::memcpy(d, s.port_mac.data(), 6);
            uint8_t* ip = d + 14;
            ip[8] = 64;
            ip[10] = ip[11] = 0;
            uint16_t c = pkt::ipv4_header_checksum(ip, 20);
            ip[10] = uint8_t(c >> 8);
            ip[11] = uint8_t(c);
        }
        n += kBurst;
        s.packets.store(n, std::memory_order_relaxed);
        off = (off + kBurst) % s.pkts.size();
        s.env->rcu->quiescent(0);
    }
    s.env->rcu->unregister_reader(0);
    return 0;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    std::string cfg_path;
    double rate = 10000, seconds = 2;
    int rounds = 3;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--config") cfg_path = next();
        else if (a == "--rate") rate = std::stod(next());
        else if (a == "--seconds") seconds = std::stod(next());
        else if (a == "--rounds") rounds = std::stoi(next());
        else {
            std::fprintf(stderr, "usage: bench_churn --config FILE [--rate N] [--seconds S] [--rounds R]\n");
            return 2;
        }
    }
    if (cfg_path.empty()) {
        std::fprintf(stderr, "bench_churn: --config FILE is required\n");
        return 2;
    }
    std::vector<std::string> eal_args = {"bench_churn", "-l", "0-1", "--no-huge", "-m", "12288", "--no-pci",
                                         "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"};
    std::vector<char*> eal;
    for (auto& x : eal_args) eal.push_back(x.data());
    if (rte_eal_init(int(eal.size()), eal.data()) < 0 || !dp::punt_field_register().empty()) {
        std::fprintf(stderr, "bench_churn: EAL start failed\n");
        return 1;
    }
    auto loaded = config::load_config_file(cfg_path);
    if (!loaded.ok()) {
        std::fprintf(stderr, "%s\n", loaded.error_text().c_str());
        return 1;
    }
    const config::Config& cfg = loaded.config();
    std::vector<net::PortSpec> specs(cfg.ports.begin(), cfg.ports.end());
    if (specs.size() < 2) {
        std::fprintf(stderr, "bench_churn: the config needs two ports (traffic in on the first)\n");
        return 1;
    }
    auto envp = std::make_unique<test::TablesEnv>(specs, cfg.neighbor.capacity);
    test::TablesEnv& env = *envp;
    if (std::string e = env.load(cfg); !e.empty()) {
        std::fprintf(stderr, "load: %s\n", e.c_str());
        return 1;
    }
    // The gateways the changes use: the first address of the second port's
    // IPv4 subnet + 100.., each with a MAC naming it.
    net::Prefix sub = net::network_of(cfg.ports[1].addresses.at(0));
    std::vector<api::Nexthop> gws;
    for (uint32_t g = 0; g < kGateways; ++g) {
        net::IpAddr a = net::IpAddr::from_v4_host(sub.addr.v4_host() + 100 + g);
        gws.push_back(api::Nexthop{a, cfg.ports[1].name});
        env.resolve(1, net::to_string(a), {0x02, 0, 0, 0, 0x99, uint8_t(g)});
    }
    // Probe routes: /24s of the table (the BGP-like mix has nothing longer).
    std::vector<net::Prefix> probes;
    std::mt19937_64 rng(7);
    std::vector<uint32_t> idx(cfg.routes.size());
    for (uint32_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::shuffle(idx.begin(), idx.end(), rng);
    for (uint32_t i : idx) {
        const auto& r = cfg.routes[i];
        if (r.prefix.addr.is_v4() && r.prefix.len == 24) probes.push_back(r.prefix);
        if (probes.size() == kProbes) break;
    }
    if (probes.size() < kProbes) {
        std::fprintf(stderr, "bench_churn: the table needs %u IPv4 /24 routes\n", kProbes);
        return 1;
    }
    // Generation 0 of the log: every probe on gateway 0.
    std::vector<std::vector<std::pair<uint64_t, uint32_t>>> history(kProbes);
    {
        api::Batch b;
        for (const auto& g : gws) b.nexthop_sets.push_back({g});
        for (const auto& p : probes) b.routes.push_back({api::RouteUpdate::Op::set, p, 0});
        auto r = env.builder->apply(b);
        if (!r.applied) {
            std::fprintf(stderr, "probe setup failed: %s\n", r.errors.at(0).message.c_str());
            return 1;
        }
        for (auto& h : history) h.push_back({r.generation, 0});
    }

    Shared s;
    s.env = &env;
    s.port_mac = env.ports.port[0].info.mac;
    rte_mempool* pool = rte_pktmbuf_pool_create("churn", kPackets * 2 - 1, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    for (uint32_t i = 0; i < kPackets; ++i) {
        uint32_t r = uint32_t(rng() % kProbes);
        test::Ip4Spec spec;
        spec.src = "198.18.0.2";
        spec.dst = net::to_string(net::IpAddr::from_v4_host(probes[r].addr.v4_host() + 1 + uint32_t(rng() % 254)));
        spec.dst_mac = s.port_mac;
        s.pkts.push_back(test::make_mbuf(pool, test::ipv4_udp(spec), 0));
        s.route_of.push_back(r);
    }
    s.samples.resize(size_t(8) << 20);

    unsigned lcore = rte_get_next_lcore(-1, 1, 0);
    rte_eal_remote_launch(worker, &s, lcore);

    // Phases: quiet, churn, quiet, churn, ...
    std::vector<double> quiet, busy, ratios;
    uint64_t changes = 0, batches = 0;
    double apply_ms_max = 0;
    uint32_t next_probe = 0;
    for (int round = 0; round < rounds; ++round) {
        for (int churn = 0; churn < 2; ++churn) {
            uint64_t p0 = s.packets.load();
            auto t0 = Clock::now();
            auto end = t0 + std::chrono::duration<double>(seconds);
            auto next = t0;
            const auto period = std::chrono::milliseconds(10);
            const uint32_t per_batch = uint32_t(rate / 100);
            while (Clock::now() < end) {
                if (!churn) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(5));
                    continue;
                }
                std::this_thread::sleep_until(next);
                next += period;
                api::Batch b;
                for (const auto& g : gws) b.nexthop_sets.push_back({g});
                std::vector<std::pair<uint32_t, uint32_t>> moved;
                for (uint32_t k = 0; k < per_batch; ++k) {
                    uint32_t p = next_probe++ % kProbes;
                    uint32_t g = (history[p].back().second + 1) % kGateways;
                    b.routes.push_back({api::RouteUpdate::Op::set, probes[p], g});
                    moved.push_back({p, g});
                }
                auto a = Clock::now();
                auto r = env.builder->apply(b);
                apply_ms_max = std::max(apply_ms_max, std::chrono::duration<double, std::milli>(Clock::now() - a).count());
                if (!r.applied) {
                    std::fprintf(stderr, "change failed: %s\n", r.errors.at(0).message.c_str());
                    s.stop = true;
                    rte_eal_mp_wait_lcore();
                    return 1;
                }
                for (auto [p, g] : moved) history[p].push_back({r.generation, g});
                changes += b.routes.size();
                ++batches;
            }
            double secs = std::chrono::duration<double>(Clock::now() - t0).count();
            double mpps = double(s.packets.load() - p0) / secs / 1e6;
            (churn ? busy : quiet).push_back(mpps);
        }
        ratios.push_back(busy.back() / quiet.back());
    }
    s.stop = true;
    rte_eal_mp_wait_lcore();

    // Check every sample against the log.
    uint64_t checked = 0, stale = 0, wrong = 0, not_forwarded = 0;
    size_t n = std::min(s.n_samples.load(), s.samples.size());
    for (size_t i = 0; i < n; ++i) {
        const Sample& x = s.samples[i];
        const auto& h = history[x.route];
        if (x.gateway == kGateways) {
            ++not_forwarded;
            continue;
        }
        // The route's gateway in generation x.generation: the last change
        // at or before it (generations before the probes were set have none).
        auto it = std::upper_bound(h.begin(), h.end(), std::make_pair(x.generation, UINT32_MAX));
        if (it == h.begin()) continue;
        uint32_t want = std::prev(it)->second;
        ++checked;
        if (x.gateway == want) continue;
        bool older = false;
        for (auto j = h.begin(); j != std::prev(it); ++j) older |= j->second == x.gateway;
        (older ? stale : wrong)++;
    }
    std::printf("{\"routes\": %zu, \"rate_target\": %.0f, \"changes\": %lu, \"batches\": %lu, "
                "\"apply_ms_max\": %.2f, \"mpps_quiet\": %.3f, \"mpps_churn\": %.3f, \"ratio_median\": %.4f, "
                "\"rounds\": %d, \"samples_checked\": %lu, \"stale\": %lu, \"wrong\": %lu, \"not_forwarded\": %lu}\n",
                cfg.routes.size(), rate, (unsigned long)changes, (unsigned long)batches, apply_ms_max, median(quiet),
                median(busy), median(ratios), rounds, (unsigned long)checked, (unsigned long)stale,
                (unsigned long)wrong, (unsigned long)not_forwarded);
    std::fflush(stdout);
    for (auto* m : s.pkts) rte_pktmbuf_free(m);
    rte_mempool_free(pool);
    envp.reset();  // DPDK objects go before the EAL does
    rte_eal_cleanup();
    return stale || wrong ? 3 : 0;
}
