#include "tests/unit/dataplane/eal_env.hpp"

#include <rte_eal.h>

#include "dataplane/worker/punt.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace sluice::test {

void EalEnvironment::SetUp() {
    // --no-shconf: no files under /var/run, so parallel runs never collide.
    std::vector<std::string> args = {"unit", "-l", "0", "--no-huge", "-m", std::to_string(memory_mb_), "--no-pci", "--no-shconf",
                                     "--no-telemetry", "--log-level", "lib.eal:error"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    if (rte_eal_init(int(argv.size()), argv.data()) < 0) {
        // A failed environment would otherwise only skip every test.
        std::fprintf(stderr, "rte_eal_init failed: the data plane unit tests cannot run\n");
        std::exit(1);
    }
    // The punt reason's mbuf field, as sluice-dp registers it at start-up.
    if (std::string e = dp::punt_field_register(); !e.empty()) {
        std::fprintf(stderr, "%s\n", e.c_str());
        std::exit(1);
    }
}

void EalEnvironment::TearDown() { rte_eal_cleanup(); }

}  // namespace sluice::test

#ifndef SLUICE_TEST_OWN_MAIN
int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new sluice::test::EalEnvironment());
    return RUN_ALL_TESTS();
}
#endif
