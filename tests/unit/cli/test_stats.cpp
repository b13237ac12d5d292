// The rates of the stats views: deltas over the time between two replies,
// counter resets, rows that appear, and the rendered frames.
#include <gtest/gtest.h>

#include "control/cli/stats.hpp"

namespace sluice::cli {
namespace {

TEST(Rate, DeltaOverSeconds) {
    EXPECT_DOUBLE_EQ(rate(100, 1100, 2.0), 500.0);
    EXPECT_DOUBLE_EQ(rate(5, 5, 1.0), 0.0);
    EXPECT_DOUBLE_EQ(rate(0, 250, 0.5), 500.0);
}

TEST(Rate, AResetCountsFromZero) {
    // The data plane restarted: its counter began again at 0 within the
    // interval, so all of the new value is this interval's.
    EXPECT_DOUBLE_EQ(rate(1000000, 300, 1.0), 300.0);
}

TEST(Rate, NoTimeNoRate) {
    EXPECT_DOUBLE_EQ(rate(0, 100, 0.0), 0.0);
    EXPECT_DOUBLE_EQ(rate(0, 100, -1.0), 0.0);
}

TEST(Si, ShortNumbers) {
    EXPECT_EQ(si(0), "0");
    EXPECT_EQ(si(950), "950");
    EXPECT_EQ(si(999.4), "999");
    EXPECT_EQ(si(1000), "1.00k");
    EXPECT_EQ(si(12345), "12.3k");
    EXPECT_EQ(si(123456), "123k");
    EXPECT_EQ(si(1.05e6), "1.05M");
    EXPECT_EQ(si(2.5e9), "2.50G");
    EXPECT_EQ(si(8e12), "8.00T");
}

Json ports(uint64_t rx, uint64_t rx_bytes, uint64_t tx, uint64_t drops) {
    return Json{{"ports",
                 {{{"name", "p0"},
                   {"link", true},
                   {"rx_packets", rx},
                   {"rx_bytes", rx_bytes},
                   {"tx_packets", tx},
                   {"tx_bytes", tx * 100},
                   {"rx_drops", drops},
                   {"tx_drops", 0}},
                  {{"name", "p1"},
                   {"link", false},
                   {"rx_packets", 0},
                   {"rx_bytes", 0},
                   {"tx_packets", 0},
                   {"tx_bytes", 0},
                   {"rx_drops", 0},
                   {"tx_drops", 0}}}}};
}

TEST(Sample, ReadsEveryUnsignedCounterOfEachRow) {
    Sample s = sample_of("ports", ports(10, 1000, 5, 1), 7.5);
    EXPECT_DOUBLE_EQ(s.t, 7.5);
    EXPECT_EQ(s.order, (std::vector<std::string>{"p0", "p1"}));
    EXPECT_EQ(s.counters["p0"]["rx_packets"], 10u);
    EXPECT_EQ(s.counters["p0"]["tx_bytes"], 500u);
    EXPECT_EQ(s.counters["p0"].count("link"), 0u);  // a bool is not a counter
}

TEST(Stats, PortsRatesFromDeltas) {
    Sample a = sample_of("ports", ports(1000, 100000, 500, 0), 10.0);
    Sample b = sample_of("ports", ports(3000, 350000, 1500, 4), 12.0);
    // p0: rx (3000-1000)/2 = 1000 pps, (350000-100000)*8/2 = 1 Mbit/s,
    // tx 500 pps, tx bytes (150000-50000)*8/2 = 400 kbit/s, drops 2/s.
    EXPECT_EQ(render_stats("ports", a, b),
              "NAME  LINK  RX-PPS  RX-BPS  TX-PPS  TX-BPS  DROPS/S  RX-PKTS  TX-PKTS  DROPS\n"
              "p0    up     1.00k   1.00M     500    400k        2     3000     1500      4\n"
              "p1    down       0       0       0       0        0        0        0      0\n");
}

Json vips(uint64_t web_packets, bool with_new) {
    Json v = Json::array();
    v.push_back({{"name", "web"}, {"address", "198.18.100.1"}, {"packets", web_packets}, {"bytes", web_packets * 125},
                 {"new_flows", web_packets / 10}, {"tracked_flows", 7}});
    if (with_new)
        v.push_back({{"name", "api"}, {"address", "198.18.100.2"}, {"packets", 40}, {"bytes", 4000},
                     {"new_flows", 4}, {"tracked_flows", 1}});
    return Json{{"vips", v}};
}

TEST(Stats, VipsAndANewRowHasNoRateYet) {
    Sample a = sample_of("vips", vips(1000, false), 0.0);
    Sample b = sample_of("vips", vips(1500, true), 0.5);
    EXPECT_EQ(render_stats("vips", a, b),
              "NAME  ADDRESS         PPS    BPS  NEW-FLOWS/S  TRACKED  PACKETS\n"
              "web   198.18.100.1  1.00k  1.00M          100        7     1500\n"
              "api   198.18.100.2      -      -            -        1       40\n");
}

TEST(Stats, DropsNonzeroOnlyUnlessAll) {
    Json d1 = Json::parse(R"({"drops": {"ipv4_no_route": 10, "tx_full": 0, "l2_not_for_us": 0}})");
    Json d2 = Json::parse(R"({"drops": {"ipv4_no_route": 30, "tx_full": 0, "l2_not_for_us": 5}})");
    Sample a = sample_of("drops", d1, 1.0);
    Sample b = sample_of("drops", d2, 2.0);
    EXPECT_EQ(render_stats("drops", a, b),
              "REASON         COUNT  PER-S\n"
              "ipv4_no_route     30     20\n"
              "l2_not_for_us      5      5\n");
    EXPECT_EQ(render_stats("drops", a, b, true),
              "REASON         COUNT  PER-S\n"
              "ipv4_no_route     30     20\n"
              "l2_not_for_us      5      5\n"
              "tx_full            0      0\n");
    Sample z = sample_of("drops", Json::parse(R"({"drops": {"a": 0}})"), 3.0);
    EXPECT_EQ(render_stats("drops", z, z), "no drops (1 reasons at 0; --all lists them)\n");
}

TEST(Stats, DropsFromAList) {
    Json d1 = Json::parse(R"({"drops": [{"reason": "tx_full", "count": 100}]})");
    Json d2 = Json::parse(R"({"drops": [{"reason": "tx_full", "count": 400}]})");
    EXPECT_EQ(render_stats("drops", sample_of("drops", d1, 0), sample_of("drops", d2, 3)),
              "REASON   COUNT  PER-S\n"
              "tx_full    400    100\n");
}

TEST(Stats, BackendsAreKeyedByAddressAndPort) {
    Json b1 = Json::parse(R"({"vip": "web", "backends": [
        {"address": "198.18.2.10", "port": 0, "state": "up", "packets": 0, "bytes": 0, "new_flows": 0,
         "tracked_flows": 0},
        {"address": "198.18.2.10", "port": 8080, "state": "drain", "packets": 0, "bytes": 0, "new_flows": 0,
         "tracked_flows": 0}]})");
    Json b2 = b1;
    b2["backends"][1]["packets"] = 20;
    b2["backends"][1]["bytes"] = 2000;
    Sample a = sample_of("backends", b1, 0), b = sample_of("backends", b2, 1);
    EXPECT_EQ(b.order, (std::vector<std::string>{"198.18.2.10 0", "198.18.2.10 8080"}));
    EXPECT_EQ(render_stats("backends", a, b),
              "ADDRESS      PORT  STATE  PPS    BPS  NEW-FLOWS/S  TRACKED  PACKETS\n"
              "198.18.2.10     *  up       0      0            0        0        0\n"
              "198.18.2.10  8080  drain   20  16.0k            0        0       20\n");
}

TEST(Stats, WorkersRatesAndIdleShare) {
    Json w1 = Json::parse(R"({"workers": {"worker0": {"rx": 0, "forwarded": 0, "punted": 0, "dropped": 0,
                                                      "polls": 1000, "idle_polls": 0}}})");
    Json w2 = Json::parse(R"({"workers": {"worker0": {"rx": 2000000, "forwarded": 1999000, "punted": 500,
                                                      "dropped": 500, "polls": 11000, "idle_polls": 2500}}})");
    // 2500 of 10000 polls found nothing: 25% idle.
    EXPECT_EQ(render_stats("workers", sample_of("workers", w1, 0), sample_of("workers", w2, 1)),
              "NAME      RX/S  FORWARDED/S  PUNTED/S  DROPPED/S  IDLE%\n"
              "worker0  2.00M        2.00M       500        500     25\n");
}

}  // namespace
}  // namespace sluice::cli
