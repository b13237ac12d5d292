#include "tests/unit/dataplane/eal_env.hpp"

#include <rte_eal.h>

#include <string>
#include <vector>

namespace sluice::test {

void EalEnvironment::SetUp() {
    std::vector<std::string> args = {"unit", "-l", "0", "--no-huge", "-m", "512", "--no-pci", "--in-memory",
                                     "--no-telemetry", "--log-level", "lib.eal:error"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    ASSERT_GE(rte_eal_init(int(argv.size()), argv.data()), 0) << "rte_eal_init failed";
}

void EalEnvironment::TearDown() { rte_eal_cleanup(); }

}  // namespace sluice::test

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new sluice::test::EalEnvironment());
    return RUN_ALL_TESTS();
}
