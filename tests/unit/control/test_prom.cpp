// The metrics renderer (control/daemon/prom.hpp) and the scrape
// (metrics.hpp): text format 0.0.4, escaping, histograms, and
// `promtool check metrics` on the output when promtool is installed
// (skipped otherwise), with the data plane up (fake) and away.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "control/daemon/log.hpp"
#include "control/daemon/metrics.hpp"
#include "control/daemon/prom.hpp"
#include "tests/unit/control/fake_dataplane.hpp"
#include "tests/unit/control/helpers.hpp"

namespace sluice::control {
namespace {

using prom::Family;
using prom::Type;

std::string promtool() {
    if (const char* p = std::getenv("PROMTOOL"); p && *p && std::filesystem::exists(p)) return p;
    for (const char* p : {"/usr/bin/promtool", "/usr/local/bin/promtool"})
        if (std::filesystem::exists(p)) return p;
    return "";
}

// Runs `promtool check metrics` on `text`: its exit status and output.
int promtool_check(const std::string& text, std::string* output) {
    test::TempDir dir;
    const std::string in = dir.file("metrics.txt"), out = dir.file("out.txt");
    test::write_file(in, text);
    const std::string cmd = promtool() + " check metrics < " + in + " > " + out + " 2>&1";
    const int rc = std::system(cmd.c_str());
    std::ifstream f(out);
    output->assign(std::istreambuf_iterator<char>(f), {});
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(Prom, FormatValues) {
    EXPECT_EQ(prom::format_value(0), "0");
    EXPECT_EQ(prom::format_value(42), "42");
    EXPECT_EQ(prom::format_value(0.25), "0.25");
    EXPECT_EQ(prom::format_value(0.0005), "0.0005");
    EXPECT_EQ(prom::format_value(0.1 + 0.2), "0.30000000000000004");
    EXPECT_EQ(prom::format_value(1.0 / 0.0), "+Inf");
    EXPECT_EQ(prom::format_value(-1.0 / 0.0), "-Inf");
    EXPECT_EQ(prom::format_value(std::nan("")), "NaN");
}

TEST(Prom, Escaping) {
    EXPECT_EQ(prom::escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    EXPECT_EQ(prom::escape_help("x\\y\nz \"q\""), "x\\\\y\\nz \"q\"");
    Family f{"sluice_test_total", "A help\nwith a newline \\ and a backslash.", Type::counter, {}};
    f.add({{"vip", "we\"ird\\na\nme"}}, uint64_t(3));
    const std::string t = prom::render({f});
    EXPECT_EQ(t,
              "# HELP sluice_test_total A help\\nwith a newline \\\\ and a backslash.\n"
              "# TYPE sluice_test_total counter\n"
              "sluice_test_total{vip=\"we\\\"ird\\\\na\\nme\"} 3\n");
}

TEST(Prom, HistogramIsCumulative) {
    prom::Histogram h({0.01, 0.1, 1});
    h.observe(0.005);
    h.observe(0.05, 2);
    h.observe(5);
    EXPECT_EQ(h.count, 4u);
    Family f{"sluice_h_seconds", "h", Type::histogram, {}};
    f.add_histogram({{"vip", "web"}}, h);
    const std::string t = prom::render({f});
    EXPECT_NE(t.find("sluice_h_seconds_bucket{vip=\"web\",le=\"0.01\"} 1\n"), std::string::npos) << t;
    EXPECT_NE(t.find("sluice_h_seconds_bucket{vip=\"web\",le=\"0.1\"} 3\n"), std::string::npos) << t;
    EXPECT_NE(t.find("sluice_h_seconds_bucket{vip=\"web\",le=\"1\"} 3\n"), std::string::npos) << t;
    EXPECT_NE(t.find("sluice_h_seconds_bucket{vip=\"web\",le=\"+Inf\"} 4\n"), std::string::npos) << t;
    EXPECT_NE(t.find("sluice_h_seconds_count{vip=\"web\"} 4\n"), std::string::npos) << t;
    EXPECT_NE(t.find("sluice_h_seconds_sum{vip=\"web\"} 5.105"), std::string::npos) << t;
}

TEST(Prom, InvalidNamesAndEmptyFamiliesLeftOut) {
    Family bad{"9bad", "x", Type::gauge, {}};
    bad.add({}, uint64_t(1));
    Family empty{"sluice_empty", "x", Type::gauge, {}};
    Family ok{"sluice_ok", "x", Type::gauge, {}};
    ok.add({{"__reserved", "x"}, {"good", "y"}}, uint64_t(1));
    EXPECT_EQ(prom::render({bad, empty, ok}), "# HELP sluice_ok x\n# TYPE sluice_ok gauge\nsluice_ok{good=\"y\"} 1\n");
}

TEST(Prom, PromtoolAcceptsTheRenderer) {
    if (promtool().empty()) GTEST_SKIP() << "promtool is not installed";
    Family c{"sluice_drops_total", "Packets dropped, by reason.", Type::counter, {}};
    c.add({{"reason", "no_route"}}, uint64_t(3));
    c.add({{"reason", "quote\"and\\slash\nnewline"}}, uint64_t(1));
    Family g{"sluice_backend_state", "State.", Type::gauge, {}};
    g.add({{"vip", "web"}, {"backend", "[2001:db8::1]:80"}, {"state", "up"}}, uint64_t(1));
    prom::Histogram h({0.001, 0.01});
    h.observe(0.002);
    Family hf{"sluice_health_check_duration_seconds", "Latency.", Type::histogram, {}};
    hf.add_histogram({{"vip", "web"}}, h);
    std::string out;
    EXPECT_EQ(promtool_check(prom::render({c, g, hf}), &out), 0) << out;
    // And promtool does catch a broken one (the check is real).
    EXPECT_NE(promtool_check("sluice_x{a=\"b} 1\n", &out), 0);
}

struct ScrapeFixture : ::testing::Test {
    void SetUp() override { set_log_quiet(true); }
    void TearDown() override { set_log_quiet(false); }
    test::TempDir dir;
    std::string dp = dir.file("dp.sock");
    std::string cli = dir.file("cli.sock");
};

TEST_F(ScrapeFixture, WithTheDataplane) {
    test::FakeDataplane fake(dp, 1);
    ASSERT_TRUE(fake.start());
    Service::Options o;
    o.initial_wait = std::chrono::milliseconds(200);
    // Health on: its backends (198.18.2.x) are not reachable from here, so
    // the checks fail, which is fine: they are counted.
    Service svc(test::parse_or_die(test::test_yaml(dp, cli)), o);
    ASSERT_TRUE(svc.start(nullptr));
    ASSERT_TRUE(test::eventually([&] { return svc.link_status().synced; }));
    Metrics m(svc, dp);
    ASSERT_TRUE(test::eventually([&] { return m.scrape().find("sluice_health_checks_total") != std::string::npos; }));
    const std::string t = m.scrape();
    for (const char* name :
         {"sluice_dataplane_up 1", "sluice_control_dataplane_connected 1", "sluice_control_syncs_total 1",
          "sluice_port_rx_packets_total{port=\"p0\"} 100", "sluice_port_rx_bytes_total{port=\"p0\"} 6400",
          "sluice_port_rx_drops_total{port=\"p0\"} 3", "sluice_port_queue_rx_packets_total{port=\"p0\",queue=\"1\"} 40",
          "sluice_drops_total{reason=\"no_route\"} 3", "sluice_vip_packets_total{vip=\"web\"} 10",
          "sluice_rdma_tx_packets_total{peer=\"r0\"} 70", "sluice_rdma_credit_stalls_total{peer=\"r0\"} 4",
          "sluice_rdma_qp_resets_total{peer=\"r0\"} 1", "sluice_rdma_lost_in_flight_total{peer=\"r0\"} 2",
          "sluice_rdma_up{peer=\"r0\"} 1", "sluice_rdma_credits{peer=\"r0\"} 500",
          "sluice_backend_packets_total{vip=\"web\",backend=\"198.18.2.10:0\"} 5",
          "sluice_backend_state{vip=\"web\",backend=\"198.18.2.12:0\",state=\"drain\"} ",  // 1, or 0 once its probes
                                                                                           // failed
          "sluice_backend_desired_state{vip=\"dns\",backend=\"198.18.2.20:0\",state=\"up\"} 1",
          "sluice_health_checks_total{vip=\"web\",backend=\"198.18.2.10:0\",result=\"fail\"}",
          "# TYPE sluice_health_check_duration_seconds histogram", "sluice_health_targets 3"})
        EXPECT_NE(t.find(name), std::string::npos) << name << "\n" << t;
    if (!promtool().empty()) {
        std::string out;
        EXPECT_EQ(promtool_check(t, &out), 0) << out << "\n" << t;
    }
    svc.stop();
}

TEST_F(ScrapeFixture, WithoutTheDataplane) {
    Service::Options o;
    o.health = false;
    o.initial_wait = std::chrono::milliseconds(100);
    Service svc(test::parse_or_die(test::test_yaml(dp, cli)), o);
    ASSERT_TRUE(svc.start(nullptr));
    Metrics m(svc, dp, std::chrono::milliseconds(100));
    const std::string t = m.scrape();
    EXPECT_NE(t.find("sluice_dataplane_up 0\n"), std::string::npos) << t;
    EXPECT_NE(t.find("sluice_control_dataplane_connected 0\n"), std::string::npos) << t;
    EXPECT_EQ(t.find("sluice_port_"), std::string::npos) << t;
    EXPECT_EQ(t.find("sluice_vip_"), std::string::npos) << t;
    if (!promtool().empty()) {
        std::string out;
        EXPECT_EQ(promtool_check(t, &out), 0) << out << "\n" << t;
    }
    svc.stop();
}

TEST(MetricsListen, LoopbackOnly) {
    std::string host, err;
    int port = 0;
    EXPECT_TRUE(Metrics::parse_listen("127.0.0.1:9642", &host, &port, &err));
    EXPECT_EQ(host, "127.0.0.1");
    EXPECT_EQ(port, 9642);
    EXPECT_TRUE(Metrics::parse_listen("[::1]:9000", &host, &port, &err));
    EXPECT_EQ(host, "::1");
    EXPECT_TRUE(Metrics::parse_listen("localhost:1", &host, &port, &err));
    EXPECT_FALSE(Metrics::parse_listen("0.0.0.0:9642", &host, &port, &err));
    EXPECT_NE(err.find("control.metrics"), std::string::npos);
    EXPECT_FALSE(Metrics::parse_listen("198.18.0.1:9642", &host, &port, &err));
    EXPECT_FALSE(Metrics::parse_listen("127.0.0.1", &host, &port, &err));
    EXPECT_FALSE(Metrics::parse_listen("127.0.0.1:70000", &host, &port, &err));
}

TEST(HealthAggregation, ParallelMatchesSerial) {
    // 5000 targets over 10 VIPs: the arena path (>= 512 rows) and the
    // serial one give the same histograms.
    std::vector<HealthRow> rows(5000);
    for (size_t i = 0; i < rows.size(); ++i) {
        rows[i].key.vip = "v" + std::to_string(i % 10);
        rows[i].status.id = i + 1;
        rows[i].status.probed = true;
        rows[i].status.checks = 1 + i % 3;
        rows[i].status.last.latency_us = uint32_t(100 + i * 37 % 200000);
    }
    ControlArena arena({});
    HealthAggregator par(&arena), ser(nullptr);
    par.sample(rows);
    ser.sample(rows);
    for (auto& r : rows) r.status.checks += 1;  // one more probe each
    par.sample(rows);
    ser.sample(rows);
    auto a = par.histograms(), b = ser.histograms();
    ASSERT_EQ(a.size(), 10u);
    for (const auto& [vip, h] : a) {
        EXPECT_EQ(h.counts, b[vip].counts) << vip;
        EXPECT_EQ(h.count, b[vip].count);
    }
    uint64_t total = 0;
    for (const auto& [vip, h] : a) total += h.count;
    uint64_t want = 0;
    for (const auto& r : rows) want += r.status.checks;  // every probe once
    EXPECT_EQ(total, want);
}

}  // namespace
}  // namespace sluice::control
