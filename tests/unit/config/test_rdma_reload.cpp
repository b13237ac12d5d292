// A reload that changes an RDMA peer is refused (docs/config.md, "Reload"):
// dataplane/reload/config_diff.cpp compares every rdma field with what the
// process started with. Its own executable: it links the data plane library,
// which test_config does not need.
#include <gtest/gtest.h>

#include <string>

#include "config/load.hpp"
#include "dataplane/reload/config_diff.hpp"

namespace sluice {
namespace {

// Two ports, then one peer (its first line is line 10).
std::string file(const std::string& peer_extra = "", const std::string& second_peer = "") {
    return "ports:\n"
           "  - name: p0\n"
           "    device: net_tap0\n"
           "    addresses: [198.18.1.1/24]\n"
           "  - name: p1\n"
           "    device: net_tap1\n"
           "    addresses: [198.18.2.1/24]\n"
           "rdma:\n"
           "  peers:\n"
           "    - name: r0\n"
           "      listen: 127.0.0.1:18515\n"
           "      addresses: [198.18.250.1/30]\n"
           "      peer_addresses: [198.18.250.2]\n" +
           peer_extra + second_peer;
}

config::Config load(const std::string& text) {
    auto r = config::parse_config(text, "/etc/sluice.yaml");
    EXPECT_TRUE(r.ok()) << r.error_text();
    return r.ok() ? r.config() : config::Config{};
}

TEST(RdmaReload, SamePeersReload) {
    config::Config start = load(file());
    dp::FixedAtStart fixed = dp::FixedAtStart::of(start);
    ASSERT_EQ(fixed.rdma_peers.size(), 1u);
    // Routes through the peer are not restart-only.
    config::Config next = load(file("", "routes:\n  - { prefix: 198.19.0.0/16, port: r0 }\n"));
    EXPECT_TRUE(dp::restart_only_changes(next, fixed).empty());
}

TEST(RdmaReload, AChangedPeerIsRefused) {
    dp::FixedAtStart fixed = dp::FixedAtStart::of(load(file()));
    config::Config next = load(file("      mtu: 4000\n      worker: 2\n"));
    auto errs = dp::restart_only_changes(next, fixed);
    ASSERT_EQ(errs.size(), 1u);
    EXPECT_EQ(errs[0],
              "/etc/sluice.yaml:10: rdma.peers[0]: mtu, worker cannot change at run time (restart to change them); "
              "no RDMA peer field reloads");
}

TEST(RdmaReload, AddingOrRemovingAPeerIsRefused) {
    dp::FixedAtStart fixed = dp::FixedAtStart::of(load(file()));
    config::Config next = load(file("", "    - name: r1\n"
                                        "      connect: 127.0.0.1:18516\n"
                                        "      addresses: [198.18.251.1/30]\n"
                                        "      peer_addresses: [198.18.251.2]\n"));
    auto errs = dp::restart_only_changes(next, fixed);
    ASSERT_EQ(errs.size(), 1u);
    EXPECT_EQ(errs[0],
              "/etc/sluice.yaml: rdma.peers: the number of RDMA peers changed from 1 to 2; peers cannot be added or "
              "removed without a restart");
}

}  // namespace
}  // namespace sluice
