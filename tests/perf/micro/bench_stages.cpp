// Micro-benchmarks of the per-packet stages alone: IPv4/IPv6 validation,
// the flow hash, the bulk FIB lookups, and forward_burst over a 32-packet
// burst, with FIBs of growing size. Numbers are per packet (items/s). Run:
//   build/tests/perf/bench_stages [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <rte_eal.h>
#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_mbuf.h>

#include "config/load.hpp"
#include "dataplane/pkt/flow_hash.hpp"
#include "dataplane/pkt/validate.hpp"
#include "dataplane/worker/forward.hpp"
#include "dataplane/worker/punt.hpp"
#include "tests/perf/trafficgen/profile.hpp"
#include "tests/unit/dataplane/frames.hpp"
#include "tests/unit/dataplane/tables_env.hpp"

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
    auto cfg = test::lab_config();
    cfg.routes.clear();
    for (uint32_t i = 0; i < prefixes; ++i) {
        config::Route r;
        r.prefix = {config::IpAddr::from_v4_host(perf::v4_prefix(i)), perf::kV4PrefixLen};
        r.nexthops = {config::NextHop{config::parse_ip("198.18.2.2"), "p1"}};
        cfg.routes.push_back(r);
    }
    auto env = std::make_unique<test::TablesEnv>();
    std::string err = env->load(cfg);
    if (!err.empty() || !pool) {
        st.SkipWithError(("setup: " + err).c_str());
        return;
    }
    env->resolve(1, "198.18.2.2", test::kHostB);
    dp::NeighborTable* nbrs = env->nbrs.get();
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
        dp::forward_burst(env->root(), *nbrs, &pkts[off], 32, *res, *counters);
        off = (off + 32) % pkts.size();
        if (off == 0) {
            st.PauseTiming();
            for (auto* m : pkts) {  // undo the rewrite: our MAC again, fresh TTL and checksum
                // (else every round after the first measures the drop of
                // frames no longer addressed to the port)
                std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), test::kMac0.data(), 6);
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
    env.reset();
    rte_mempool_free(pool);
}
BENCHMARK(BM_ForwardBurstV4)->Arg(1)->Arg(1000)->Arg(100000)->Arg(1000000);

// The bulk FIB lookup alone, 32 destinations a call, spread over `prefixes`
// routes (IPv4: the /30 scheme; IPv6: the /64 scheme), as forward_burst
// calls it. Built through the table layer, so the IPv6 table carries the
// same helper prefixes as in the data plane.
struct LookupFixture {
    std::unique_ptr<test::TablesEnv> env;
    const dp::Root* root = nullptr;
};

LookupFixture lookup_fixture(bool v6, uint32_t prefixes, uint64_t version) {
    LookupFixture f;
    auto cfg = test::lab_config();
    cfg.routes.clear();
    cfg.routes.reserve(prefixes);
    for (uint32_t i = 0; i < prefixes; ++i) {
        config::Route r;
        if (v6) {
            r.prefix.addr.family = config::IpAddr::Family::V6;
            perf::v6_prefix(i, r.prefix.addr.bytes.data());
            r.prefix.len = perf::kV6PrefixLen;
            r.nexthops = {config::NextHop{config::parse_ip("2001:db8:2::2"), "p1"}};
        } else {
            r.prefix = {config::IpAddr::from_v4_host(perf::v4_prefix(i)), perf::kV4PrefixLen};
            r.nexthops = {config::NextHop{config::parse_ip("198.18.2.2"), "p1"}};
        }
        cfg.routes.push_back(std::move(r));
    }
    (void)version;
    f.env = std::make_unique<test::TablesEnv>();
    if (f.env->load(cfg).empty()) f.root = &f.env->root();
    return f;
}

void BM_Fib4LookupBulk(benchmark::State& st) {
    const uint32_t prefixes = uint32_t(st.range(0));
    auto f = lookup_fixture(false, prefixes, 5000 + uint64_t(prefixes));
    if (!f.root) {
        st.SkipWithError("setup failed");
        return;
    }
    std::vector<uint32_t> dst(4096);
    for (uint32_t i = 0; i < dst.size(); ++i) dst[i] = perf::v4_host((i * 2654435761u) % prefixes);
    uint64_t nh[32];
    size_t off = 0;
    for (auto _ : st) {
        rte_fib_lookup_bulk(f.root->fib4->raw(), &dst[off], nh, 32);
        benchmark::DoNotOptimize(nh);
        off = (off + 32) % dst.size();
    }
    st.SetItemsProcessed(st.iterations() * 32);
}
BENCHMARK(BM_Fib4LookupBulk)->Arg(1)->Arg(1000)->Arg(1000000);

void BM_Fib6LookupBulk(benchmark::State& st) {
    const uint32_t prefixes = uint32_t(st.range(0));
    auto f = lookup_fixture(true, prefixes, 6000 + uint64_t(prefixes));
    if (!f.root) {
        st.SkipWithError("setup failed");
        return;
    }
    std::vector<std::array<uint8_t, 16>> dst(4096);
    for (uint32_t i = 0; i < dst.size(); ++i) perf::v6_host((i * 2654435761u) % prefixes, dst[i].data());
    uint64_t nh[32];
    size_t off = 0;
    for (auto _ : st) {
        rte_fib6_lookup_bulk(f.root->fib6->raw(), reinterpret_cast<uint8_t(*)[16]>(dst[off].data()), nh, 32);
        benchmark::DoNotOptimize(nh);
        off = (off + 32) % dst.size();
    }
    st.SetItemsProcessed(st.iterations() * 32);
}
BENCHMARK(BM_Fib6LookupBulk)->Arg(1)->Arg(1000)->Arg(1000000);

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args = {"bench", "-l", "0", "--no-huge", "-m", "4096", "--no-pci", "--no-shconf",
                                     "--no-telemetry", "--log-level", "lib.eal:error"};
    std::vector<char*> eal;
    for (auto& a : args) eal.push_back(a.data());
    if (rte_eal_init(int(eal.size()), eal.data()) < 0) {
        std::fprintf(stderr, "rte_eal_init failed\n");
        return 1;
    }
    if (std::string e = dp::punt_field_register(); !e.empty()) {
        std::fprintf(stderr, "%s\n", e.c_str());
        return 1;
    }
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    rte_eal_cleanup();
    return 0;
}
