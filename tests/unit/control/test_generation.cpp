// Generations (control/daemon/generation.hpp) and the link's use of them
// against a fake data plane: the first sync above the data plane's
// generation, a restarted data plane (new instance) resynced above its new
// generation, and a stale_generation answer (someone applied a newer one)
// recovered by reconnecting and syncing above it.
#include <gtest/gtest.h>

#include "control/daemon/generation.hpp"
#include "control/daemon/log.hpp"
#include "control/daemon/service.hpp"
#include "tests/unit/control/fake_dataplane.hpp"
#include "tests/unit/control/helpers.hpp"

namespace sluice::control {
namespace {

using test::eventually;
using test::FakeDataplane;
using test::TempDir;

TEST(Generations, StrictlyIncreasingAboveObserved) {
    Generations g;
    EXPECT_EQ(g.next(), 1u);
    g.observe(41);
    EXPECT_EQ(g.next(), 42u);
    g.observe(10);  // an older report never goes back
    EXPECT_EQ(g.next(), 43u);
    g.observe(43);
    EXPECT_EQ(g.next(), 44u);
    uint64_t last = 0;
    for (int i = 0; i < 1000; ++i) {
        if (i % 7 == 0) g.observe(g.last() + uint64_t(i % 3));
        const uint64_t n = g.next();
        EXPECT_GT(n, last);
        last = n;
    }
}

struct LinkFixture : ::testing::Test {
    void SetUp() override { set_log_quiet(true); }
    void TearDown() override { set_log_quiet(false); }
    TempDir dir;
    std::string dp = dir.file("dp.sock");
    std::string cli = dir.file("cli.sock");
    Service::Options opts() {
        Service::Options o;
        o.health = false;
        o.initial_wait = std::chrono::milliseconds(200);
        return o;
    }
};

TEST_F(LinkFixture, FirstSyncAboveTheDataplanesGeneration) {
    FakeDataplane fake(dp, 41);
    ASSERT_TRUE(fake.start());
    Service svc(test::parse_or_die(test::test_yaml(dp, cli)), opts());
    ASSERT_TRUE(svc.start(nullptr));
    ASSERT_TRUE(eventually([&] { return svc.link_status().synced; }));
    EXPECT_EQ(fake.commit_generations(), std::vector<uint64_t>{42});
    EXPECT_EQ(fake.routes().size(), 2u);
    EXPECT_EQ(fake.vips().size(), 2u);
    EXPECT_EQ(fake.neighbors().size(), 1u);
    svc.stop();
}

TEST_F(LinkFixture, RestartedDataplaneGetsAFullSyncQuickly) {
    auto fake = std::make_unique<FakeDataplane>(dp, 41, "first");
    ASSERT_TRUE(fake->start());
    Service svc(test::parse_or_die(test::test_yaml(dp, cli)), opts());
    ASSERT_TRUE(svc.start(nullptr));
    ASSERT_TRUE(eventually([&] { return svc.link_status().synced; }));
    fake->stop();
    fake.reset();
    ASSERT_TRUE(eventually([&] { return !svc.link_status().connected; }));
    // The new data plane comes up empty, with its own generation.
    FakeDataplane second(dp, 100, "second");
    ASSERT_TRUE(second.start());
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(eventually([&] { return second.vips().size() == 2; }));
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(took, std::chrono::seconds(1)) << "the full state within a second of the socket appearing";
    EXPECT_EQ(second.commit_generations(), std::vector<uint64_t>{101});
    EXPECT_EQ(second.routes().size(), 2u);
    EXPECT_EQ(svc.link_status().instance, "second");
    svc.stop();
}

TEST_F(LinkFixture, StaleGenerationRecoversAbove) {
    FakeDataplane fake(dp, 41);
    ASSERT_TRUE(fake.start());
    Service svc(test::parse_or_die(test::test_yaml(dp, cli)), opts());
    ASSERT_TRUE(svc.start(nullptr));
    ASSERT_TRUE(eventually([&] { return svc.link_status().synced; }));
    fake.set_generation(500);  // another controller was here
    BackendSet drain{BackendKey{"web", *net::parse_ip("198.18.2.10"), 0}, std::nullopt, true};
    Outcome o = svc.change(drain);
    ASSERT_TRUE(std::holds_alternative<Json>(o));
    // The apply was refused as stale; the link reconnects and syncs above 500,
    // and that sync carries the drain.
    ASSERT_TRUE(eventually([&] {
        auto g = fake.commit_generations();
        return !g.empty() && g.back() > 500;
    }));
    EXPECT_EQ(test::backend_of(fake.vips()["web"], "198.18.2.10")["state"], "drain");
    svc.stop();
}

TEST_F(LinkFixture, NeitherProcessNeedsTheOtherFirst) {
    Service svc(test::parse_or_die(test::test_yaml(dp, cli)), opts());
    ASSERT_TRUE(svc.start(nullptr));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(svc.link_status().connected);
    // A change while the data plane is away: kept, sent with the first sync.
    Outcome o = svc.change(BackendSet{BackendKey{"web", *net::parse_ip("198.18.2.11"), 0}, 9u, std::nullopt});
    ASSERT_TRUE(std::holds_alternative<Json>(o));
    EXPECT_EQ(std::get<Json>(o)["pushed"], false);
    FakeDataplane fake(dp, 7);
    ASSERT_TRUE(fake.start());
    ASSERT_TRUE(eventually([&] { return fake.vips().size() == 2; }));
    EXPECT_EQ(test::backend_of(fake.vips()["web"], "198.18.2.11")["weight"], 9);
    EXPECT_EQ(fake.commit_generations(), std::vector<uint64_t>{8});
    svc.stop();
}

}  // namespace
}  // namespace sluice::control
