// A minimal EAL for unit tests that need DPDK memory (rte_fib, rte_hash,
// mempools): one lcore, no hugepages, no PCI, no files in /var/run.
#pragma once

#include <gtest/gtest.h>

namespace sluice::test {

class EalEnvironment : public ::testing::Environment {
public:
    explicit EalEnvironment(unsigned memory_mb = 1536) : memory_mb_(memory_mb) {}
    void SetUp() override;
    void TearDown() override;

private:
    unsigned memory_mb_;
};

}  // namespace sluice::test
