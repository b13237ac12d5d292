#include "tests/unit/rdma/transport/pools.hpp"

#include <rte_eal.h>
#include <rte_errno.h>

#include <cstdio>
#include <string>
#include <vector>

namespace sluice::test::rdma {

namespace {
rte_mempool* g_pool = nullptr;
rte_mempool* g_small_pool = nullptr;
rte_mempool* g_other_pool = nullptr;
}  // namespace

rte_mempool* pool() { return g_pool; }
rte_mempool* small_pool() { return g_small_pool; }
rte_mempool* other_pool() { return g_other_pool; }

bool init_eal_and_pools(const char* prog) {
    // No hugepages, no PCI, no shared config files (parallel runs never
    // collide). --in-memory is refused together with --no-huge in 22.11.
    std::vector<std::string> args = {prog, "-l", "0", "--no-huge", "-m", "512", "--no-pci",
                                     "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"};
    std::vector<char*> av;
    for (auto& a : args) av.push_back(a.data());
    if (rte_eal_init(int(av.size()), av.data()) < 0) {
        std::fprintf(stderr, "rte_eal_init failed: %s\n", rte_strerror(rte_errno));
        return false;
    }
    // Cache 0: rte_mempool_in_use_count is exact, so leaks show.
    g_pool = rte_pktmbuf_pool_create("rdma_t_pool", kPoolSize, 0, 0, kDataRoom, SOCKET_ID_ANY);
    g_small_pool = rte_pktmbuf_pool_create("rdma_t_small", kSmallPoolSize, 0, 0, kDataRoom, SOCKET_ID_ANY);
    g_other_pool = rte_pktmbuf_pool_create("rdma_t_other", 63, 0, 0, kDataRoom, SOCKET_ID_ANY);
    if (!g_pool || !g_small_pool || !g_other_pool) {
        std::fprintf(stderr, "rte_pktmbuf_pool_create failed: %s\n", rte_strerror(rte_errno));
        return false;
    }
    return true;
}

void free_eal_and_pools() {
    rte_mempool_free(g_pool);
    rte_mempool_free(g_small_pool);
    rte_mempool_free(g_other_pool);
    g_pool = g_small_pool = g_other_pool = nullptr;
    rte_eal_cleanup();
}

}  // namespace sluice::test::rdma
