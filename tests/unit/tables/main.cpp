// The table tests need more DPDK memory than the other data plane tests:
// every builder holds two copies of each family's FIB (64 MiB tbl24 each).
#include <gtest/gtest.h>

#include "tests/unit/dataplane/eal_env.hpp"

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new sluice::test::EalEnvironment(1536));
    return RUN_ALL_TESTS();
}
