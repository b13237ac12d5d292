// Micro-benchmarks of the per-packet stages alone: IPv4/IPv6 validation,
// the flow hash, and forward_burst over a 32-packet burst with FIBs of
// growing size. Numbers are per packet (items/s). Run:
//   build/tests/perf/bench_stages [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <rte_eal.h>
#include <rte_mbuf.h>

#include "config/load.hpp"
#include "dataplane/pkt/flow_hash.hpp"
#include "dataplane/pkt/validate.hpp"
#include "dataplane/worker/forward.hpp"
#include "tests/perf/trafficgen/profile.hpp"
#include "tests/unit/dataplane/frames.hpp"

namespace {

using namespace sluice;

void BM_ValidateIpv4(benchmark::State& st) {
    auto f = test::ipv4_udp({});
    for (auto _ : st) benchmark::DoNotOptimize(pkt::validate_ipv4(f.data() + 14, f.size() - 14));
    st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_ValidateIpv4);

void BM_ValidateIpv6(benchmark::State& st) {
    auto f = test::ipv6_udp({});
    for (auto _ : st) benchmark::DoNotOptimize(pkt::validate_ipv6(f.data() + 14, f.size() - 14));
    st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_ValidateIpv6);

void BM_FlowHashV4(benchmark::State& st) {
    auto f = test::ipv4_udp({});
    for (auto _ : st) benchmark::DoNotOptimize(pkt::flow_hash_v4(f.data() + 14, f.size() - 14));
    st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_FlowHashV4);

// forward_burst with `prefixes` routes (the benchmark scheme of
// tests/perf/trafficgen/profile.hpp) and packets spread over them.
void BM_ForwardBurstV4(benchmark::State& st) {
    const uint32_t prefixes = uint32_t(st.range(0));
    static int instance = 0;
    rte_mempool* pool = rte_pktmbuf_pool_create(("bm" + std::to_string(instance++)).c_str(), 4095, 0, 0,
                                                RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    std::string err;
    auto nbrs = dp::NeighborTable::create(64, &err);
    auto cfg = test::lab_config();
    cfg.routes.clear();
    for (uint32_t i = 0; i < prefixes; ++i) {
        config::Route r;
        r.prefix = {config::IpAddr::from_v4_host(perf::v4_prefix(i)), perf::kV4PrefixLen};
        r.nexthops = {config::NextHop{config::parse_ip("198.18.2.2"), "p1"}};
        cfg.routes.push_back(r);
    }
    auto built = dp::build_snapshot(std::make_shared<const config::Config>(cfg), test::lab_env(nbrs.get()),
                                    uint64_t(1000 + instance));
    if (!built.snapshot || !pool) {
        st.SkipWithError(("setup: " + built.error).c_str());
        return;
    }
    auto gw = config::parse_ip("198.18.2.2");
    nbrs->set_mac(nbrs->lookup(dp::NeighborKey::v4(1, gw->bytes.data())), test::kHostB);
    // 1024 packets to distinct prefixes, reused; TTL restored each round.
    std::vector<rte_mbuf*> pkts;
    for (uint32_t i = 0; i < 1024; ++i) {
        test::Ip4Spec s;
        s.dst = config::to_string(config::IpAddr::from_v4_host(perf::v4_host((i * 7919u) % prefixes)));
        s.ttl = 255;
        pkts.push_back(test::make_mbuf(pool, test::ipv4_udp(s)));
    }
    auto res = std::make_unique<dp::BurstResult>();
    auto counters = std::make_unique<dp::CoreCounters>();
    size_t off = 0;
    for (auto _ : st) {
        res->clear();
        dp::forward_burst(*built.snapshot, *nbrs, &pkts[off], 32, *res, *counters);
        off = (off + 32) % pkts.size();
        if (off == 0) {
            st.PauseTiming();
            for (auto* m : pkts) {  // undo the rewrite: fresh TTL and checksum
                uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, 14);
                ip[8] = 255;
                ip[10] = ip[11] = 0;
                uint16_t c = pkt::ipv4_header_checksum(ip, 20);
                ip[10] = uint8_t(c >> 8);
                ip[11] = uint8_t(c);
            }
            st.ResumeTiming();
        }
    }
    st.SetItemsProcessed(st.iterations() * 32);
    for (auto* m : pkts) rte_pktmbuf_free(m);
    built.snapshot.reset();
    nbrs.reset();
    rte_mempool_free(pool);
}
BENCHMARK(BM_ForwardBurstV4)->Arg(1)->Arg(1000)->Arg(100000);

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args = {"bench", "-l", "0", "--no-huge", "-m", "1024", "--no-pci", "--no-shconf",
                                     "--no-telemetry", "--log-level", "lib.eal:error"};
    std::vector<char*> eal;
    for (auto& a : args) eal.push_back(a.data());
    if (rte_eal_init(int(eal.size()), eal.data()) < 0) {
        std::fprintf(stderr, "rte_eal_init failed\n");
        return 1;
    }
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    rte_eal_cleanup();
    return 0;
}
