// bench_rdma_transport: A -> B through the stand-in, bursts of 32, one
// thread doing both ends (the stand-in has no thread of its own). Prints
// packets per second and nanoseconds per packet of tx_burst + poll +
// rx_burst for 64-byte (inline) and 1500-byte (zero-copy) frames. For
// docs/perf.md; the stand-in's memcpy onto its ring is in the figure, so
// it bounds the transport's own cost from above.
#include <rte_mbuf.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/unit/rdma/transport/pair.hpp"
#include "tests/unit/rdma/transport/pools.hpp"

using namespace sluice::test::rdma;

namespace {

constexpr uint16_t kBurst = 32;

struct Args {
    std::string device = "standin";  // or an RDMA device: both peers on it (the HCA loops back)
    std::vector<uint32_t> sizes{60, 1496};  // frame bytes without FCS (64 and 1500 on the wire)
    double seconds = 2;
    bool json = false;
};

// Runs A -> B for `seconds`; prints one line (JSON with --json).
bool bench(const Args& args, uint32_t len) {
    PairOptions o;
    o.a.name = "a";
    o.b.name = "b";
    o.verbs_device = args.device == "standin" ? "" : args.device;
    std::string err;
    bool skip = false;
    auto p = Pair::open(args.device == "standin" ? Fabric::standin : Fabric::verbs, o, &err, &skip);
    if (!p || !p->connect(&err)) {
        std::fprintf(stderr, "bench: %s\n", err.c_str());
        return false;
    }
    Peer& a = *p->a.peer;
    Peer& b = *p->b.peer;
    // Frames are allocated as they go (the content is not checked here: the
    // tests do that); what B receives is freed.
    rte_mbuf* tx[kBurst];
    rte_mbuf* rx[64];
    uint64_t sent = 0, received = 0;
    uint16_t have = 0;
    auto t0 = std::chrono::steady_clock::now();
    auto deadline = t0 + std::chrono::duration<double>(args.seconds);
    for (uint64_t iter = 0;; ++iter) {
        if ((iter & 1023) == 0 && std::chrono::steady_clock::now() >= deadline) break;
        while (have < kBurst) {
            rte_mbuf* m = rte_pktmbuf_alloc(pool());
            if (!m) break;
            rte_pktmbuf_append(m, uint16_t(len));
            tx[have++] = m;
        }
        uint16_t k = a.tx_burst(tx, have);
        sent += k;
        std::memmove(tx, tx + k, sizeof(tx[0]) * (have - k));
        have = uint16_t(have - k);
        a.poll();
        uint16_t n = b.rx_burst(rx, 64);
        received += n;
        rte_pktmbuf_free_bulk(rx, n);
        b.poll();
        n = a.rx_burst(rx, 64);  // credit updates
        rte_pktmbuf_free_bulk(rx, n);
    }
    auto t1 = std::chrono::steady_clock::now();
    rte_pktmbuf_free_bulk(tx, have);
    double s = std::chrono::duration<double>(t1 - t0).count();
    double mpps = double(received) / s / 1e6;
    double ns = received ? s * 1e9 / double(received) : 0;
    unsigned long long doorbells = a.counters().doorbells.load(), sig = a.counters().signalled.load(),
                       upd = b.counters().credit_updates_sent.load(), stalls = a.counters().credit_stalls.load();
    if (args.json)
        std::printf("{\"device\": \"%s\", \"size\": %u, \"mpps\": %.3f, \"ns_per_packet\": %.1f, \"frames\": %llu, "
                    "\"doorbells\": %llu, \"signalled\": %llu, \"credit_updates\": %llu, \"credit_stalls\": %llu}\n",
                    args.device.c_str(), len + 4, mpps, ns, (unsigned long long)received, doorbells, sig, upd, stalls);
    else
        std::printf("%5u B  %9.3f Mpps  %7.1f ns/packet  (%llu frames, %llu doorbells, %llu signalled, %llu credit "
                    "updates, %llu credit stalls)\n",
                    len + 4, mpps, ns, (unsigned long long)received, doorbells, sig, upd, stalls);
    std::fflush(stdout);
    settle(*p);
    return true;
}

}  // namespace

// Usage: bench_rdma_transport [--device standin|NAME] [--size BYTES] [--seconds S] [--json]
//   --size: frame bytes without the FCS (default: 60 and 1496)
int main(int argc, char** argv) {
    Args args;
    for (int i = 1; i < argc; ++i) {
        std::string k = argv[i];
        auto val = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "bench_rdma_transport: %s needs a value\n", k.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (k == "--device") {
            args.device = val();
        } else if (k == "--size") {
            long v = std::strtol(val(), nullptr, 10);
            if (v < 1 || v > 9000) {
                std::fprintf(stderr, "bench_rdma_transport: --size: expected 1..9000 bytes\n");
                return 2;
            }
            args.sizes = {uint32_t(v)};
        } else if (k == "--seconds") {
            args.seconds = std::strtod(val(), nullptr);
            if (!(args.seconds > 0 && args.seconds <= 600)) {
                std::fprintf(stderr, "bench_rdma_transport: --seconds: expected (0, 600]\n");
                return 2;
            }
        } else if (k == "--json") {
            args.json = true;
        } else {
            std::fprintf(stderr,
                         "usage: bench_rdma_transport [--device standin|NAME] [--size BYTES] [--seconds S] [--json]\n");
            return 2;
        }
    }
    if (!init_eal_and_pools("bench_rdma_transport")) return 1;
    if (!args.json) std::printf("A -> B on %s, bursts of %u, one thread\n", args.device.c_str(), kBurst);
    bool ok = true;
    for (uint32_t len : args.sizes) ok = ok && bench(args, len);
    free_eal_and_pools();
    return ok ? 0 : 1;
}
