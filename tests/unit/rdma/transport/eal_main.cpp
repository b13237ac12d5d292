// main() of test_rdma_transport: a minimal EAL and the packet pools the
// tests share (pools.cpp).
#include <gtest/gtest.h>

#include "tests/unit/rdma/transport/pools.hpp"

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    if (!sluice::test::rdma::init_eal_and_pools("test_rdma_transport")) {
        std::fprintf(stderr, "the RDMA transport tests cannot run\n");
        return 1;
    }
    int rc = RUN_ALL_TESTS();
    sluice::test::rdma::free_eal_and_pools();
    return rc;
}
