// The packet pools of test_rdma_transport (created in eal_main.cpp).
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

namespace sluice::test::rdma {

// Room for a 9018-byte frame after the headroom.
inline constexpr uint16_t kDataRoom = 9216 + RTE_PKTMBUF_HEADROOM;
inline constexpr unsigned kPoolSize = 4095;
inline constexpr unsigned kSmallPoolSize = 160;

rte_mempool* pool();        // the main pool, registered on every device
rte_mempool* small_pool();  // for receive-queue exhaustion
rte_mempool* other_pool();  // never registered

// A minimal EAL (one lcore, no hugepages, no PCI) and the pools; false
// (with a line on stderr) on failure.
bool init_eal_and_pools(const char* prog);
void free_eal_and_pools();

}  // namespace sluice::test::rdma
