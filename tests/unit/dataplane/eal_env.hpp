// A minimal EAL for unit tests that need DPDK memory (rte_fib, rte_hash,
// mempools): one lcore, no hugepages, no PCI, no files in /var/run.
#pragma once

#include <gtest/gtest.h>

namespace sluice::test {

class EalEnvironment : public ::testing::Environment {
public:
    void SetUp() override;
    void TearDown() override;
};

}  // namespace sluice::test
