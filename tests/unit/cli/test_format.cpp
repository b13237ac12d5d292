// Tables of show results (stable alignment, numbers right-aligned), change
// summaries, --json passthrough and the structured errors.
#include <gtest/gtest.h>

#include "control/cli/format.hpp"

namespace sluice::cli {
namespace {

// Every line of a table has its columns at the same offsets: the column
// starts found in the header line hold in every row for left-aligned
// columns, and right-aligned columns end at the same offset.
void expect_aligned(const std::string& table) {
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < table.size()) {
        size_t nl = table.find('\n', start);
        if (nl == std::string::npos) nl = table.size();
        lines.push_back(table.substr(start, nl - start));
        start = nl + 1;
    }
    ASSERT_FALSE(lines.empty());
    for (const auto& l : lines) {
        EXPECT_TRUE(l.empty() || l.back() != ' ') << "trailing blank: [" << l << "]";
    }
}

TEST(Table, AlignsTextLeftAndNumbersRight) {
    Table t;
    t.headers = {"NAME", "PACKETS", "STATE"};
    t.rows = {{"web", "5", "up"}, {"dns-long-name", "123456", "drain"}, {"x", "-", "down"}};
    EXPECT_EQ(t.render(),
              "NAME           PACKETS  STATE\n"
              "web                  5  up\n"
              "dns-long-name   123456  drain\n"
              "x                    -  down\n");
}

TEST(Table, AColumnWithTextIsLeftAligned) {
    Table t;
    t.headers = {"A", "B"};
    t.rows = {{"1", "10"}, {"2", "n/a"}};
    EXPECT_EQ(t.render(),
              "A  B\n"
              "1  10\n"
              "2  n/a\n");
}

TEST(Table, RatesWithUnitsCountAsNumbers) {
    EXPECT_TRUE(is_numeric_cell("1.25M"));
    EXPECT_TRUE(is_numeric_cell("950"));
    EXPECT_TRUE(is_numeric_cell("-"));
    EXPECT_FALSE(is_numeric_cell("up"));
    EXPECT_FALSE(is_numeric_cell("198.18.0.1"));  // two dots: an address, not a number
}

TEST(Cell, Values) {
    EXPECT_EQ(cell(Json(12345u)), "12345");
    EXPECT_EQ(cell(Json(-3)), "-3");
    EXPECT_EQ(cell(Json(0.5)), "0.5");
    EXPECT_EQ(cell(Json(2.0)), "2");
    EXPECT_EQ(cell(Json(true)), "yes");
    EXPECT_EQ(cell(Json(nullptr)), "-");
    EXPECT_EQ(cell(Json("")), "-");
    EXPECT_EQ(cell(Json::array({"198.18.250.0/24", "2001:db8:250::/64"})), "198.18.250.0/24,2001:db8:250::/64");
}

const char* kPorts = R"({"ports": [
  {"name": "p0", "id": 0, "driver": "net_tap", "link": {"up": true, "speed": 10000},
   "rx_packets": 1234, "rx_bytes": 156789, "rx_drops": 2, "tx_packets": 1200, "tx_bytes": 150000, "tx_drops": 0,
   "nic": {"ipackets": 1234, "opackets": 1200, "imissed": 0},
   "queues": [{"queue": 0, "rx_packets": 1234}]},
  {"name": "p1", "id": 1, "driver": "net_tap", "link": {"up": false},
   "rx_packets": 5, "rx_bytes": 300, "rx_drops": 0, "tx_packets": 7, "tx_bytes": 420, "tx_drops": 0}]})";

TEST(Show, Ports) {
    const std::string out = format_show("ports", Json::parse(kPorts));
    EXPECT_EQ(out,
              "NAME  ID  DRIVER   LINK    RX-PKTS  TX-PKTS  RX-BYTES  TX-BYTES  RX-DROPS  TX-DROPS\n"
              "p0     0  net_tap  up 10G     1234     1200    156789    150000         2         0\n"
              "p1     1  net_tap  down          5        7       300       420         0         0\n"
              "\n"
              "p0:\n"
              "  nic: imissed 0, ipackets 1234, opackets 1200\n"
              "  queues[0]: queue 0, rx_packets 1234\n");
}

// The data plane's own shape (dataplane/channel/show.cpp): telemetry's port
// counters, the link as an object, per queue counters as a list.
TEST(Show, PortsOfTheDataplane) {
    Json r = Json::parse(R"({"ports": [{"name": "a", "port_id": 0, "driver": "net_tap",
        "link": {"up": true, "speed_mbps": 10000, "full_duplex": true},
        "rx_packets": 12, "tx_packets": 9, "nic_rx_packets": 14, "nic_tx_packets": 9, "nic_rx_bytes": 1380,
        "nic_tx_bytes": 882, "rx_missed": 0, "rx_errors": 0, "tx_errors": 0, "rx_nombuf": 0, "rx_queues": 1,
        "rss": 0, "rx_ip_cksum_offload": 1, "tx_fast_free": 1,
        "rx_queue_counters": [{"queue": 0, "rx_packets": 12, "nic_rx_packets": 14}]}]})");
    EXPECT_EQ(format_show("ports", r),
              "NAME  ID  DRIVER   LINK    RX-PKTS  TX-PKTS  RX-BYTES  TX-BYTES  RX-MISSED  RX-ERRORS  TX-ERRORS  "
              "RX-NOMBUF\n"
              "a      0  net_tap  up 10G       12        9      1380       882          0          0          0  "
              "        0\n"
              "\n"
              "a:\n"
              "  nic_rx_packets 14, nic_tx_packets 9, rss 0, rx_ip_cksum_offload 1, rx_queues 1, tx_fast_free 1\n"
              "  rx_queue_counters[0]: nic_rx_packets 14, queue 0, rx_packets 12\n");
}

TEST(Show, PortsKeyedByNameAndLinkAsBool) {
    Json r = Json::parse(R"({"ports": {"p0": {"id": 3, "link": true, "rx_packets": 1},
                                       "p1": {"id": 4, "link": false, "rx_packets": 22}}})");
    const std::string out = format_show("ports", r);
    EXPECT_EQ(out,
              "NAME  ID  LINK  RX-PKTS\n"
              "p0     3  up          1\n"
              "p1     4  down       22\n");
}

TEST(Show, Routes) {
    Json r = Json::parse(R"({"total": 3, "routes": [
      {"prefix": "198.19.0.0/16", "nexthops": [{"via": "198.18.1.2", "port": "p0"}]},
      {"prefix": "198.19.1.0/24", "nexthops": [{"via": "198.18.1.2", "port": "p0"},
                                               {"via": "198.18.2.2", "port": "p1"}]},
      {"prefix": "2001:db8:77::/64", "nexthops": [{"port": "p1"}]}]})");
    EXPECT_EQ(format_show("routes", r),
              "PREFIX            NEXTHOPS\n"
              "198.19.0.0/16     via 198.18.1.2 dev p0\n"
              "198.19.1.0/24     via 198.18.1.2 dev p0, via 198.18.2.2 dev p1\n"
              "2001:db8:77::/64  dev p1\n"
              "3 routes\n");
    r["total"] = 1000000;
    const std::string paged = format_show("routes", r);
    EXPECT_NE(paged.find("3 of 1000000 routes shown (--offset/--limit for more)"), std::string::npos) << paged;
}

TEST(Show, RoutesEmpty) {
    EXPECT_EQ(format_show("routes", Json::parse(R"({"total": 0, "offset": 0, "limit": 1000, "routes": []})")),
              "no routes\n");
}

TEST(Show, Neighbors) {
    Json r = Json::parse(R"({"neighbors": [
      {"port": "p0", "address": "198.18.1.2", "mac": "02:5e:00:00:00:01", "state": "reachable", "static": false},
      {"port": "p1", "address": "2001:db8:2::99", "mac": "02:5e:00:00:99:66", "state": "permanent",
       "static": true}]})");
    EXPECT_EQ(format_show("neighbors", r),
              "PORT  ADDRESS         MAC                STATE      STATIC\n"
              "p0    198.18.1.2      02:5e:00:00:00:01  reachable  no\n"
              "p1    2001:db8:2::99  02:5e:00:00:99:66  permanent  yes\n");
}

const char* kVips = R"({"untracked_new_flows": 0, "vips": [
  {"name": "web", "address": "198.18.100.1", "protocol": "tcp", "port": 80, "mode": "l2_dsr", "table_size": 65537,
   "backends": 3, "packets": 1500, "bytes": 180000, "new_flows": 300, "tracked_flows": 12},
  {"name": "dns", "address": "2001:db8:100::53", "protocol": "udp", "port": 0, "mode": "gue",
   "backends": [{"address": "198.19.7.1"}, {"address": "2001:db8:7::1"}],
   "packets": 0, "bytes": 0, "new_flows": 0, "tracked_flows": 0}]})";

TEST(Show, Vips) {
    EXPECT_EQ(format_show("vips", Json::parse(kVips)),
              "NAME  ADDRESS           PROTO  PORT  MODE    BACKENDS  PACKETS   BYTES  NEW-FLOWS  TRACKED\n"
              "web   198.18.100.1      tcp      80  l2_dsr         3     1500  180000        300       12\n"
              "dns   2001:db8:100::53  udp       *  gue            2        0       0          0        0\n"
              "untracked_new_flows: 0\n");
}

TEST(Show, BackendsWithHealth) {
    Json r = Json::parse(R"({"vip": "web", "backends": [
      {"address": "198.18.2.10", "port": 0, "weight": 1, "state": "up", "health": "up", "slots": 21846,
       "packets": 10, "bytes": 1200, "new_flows": 2, "tracked_flows": 1},
      {"address": "198.18.2.11", "port": 0, "weight": 2, "state": "down", "health": {"state": "down"}, "slots": 0,
       "packets": 0, "bytes": 0, "new_flows": 0, "tracked_flows": 0}]})");
    EXPECT_EQ(format_show("backends", r),
              "ADDRESS      PORT  WEIGHT  STATE  HEALTH  SLOTS  PACKETS  BYTES  NEW-FLOWS  TRACKED\n"
              "198.18.2.10     *       1  up     up      21846       10   1200          2        1\n"
              "198.18.2.11     *       2  down   down        0        0      0          0        0\n"
              "vip: web\n");
}

// The control process's shape (control/daemon/service.cpp, health_list).
TEST(Show, Health) {
    Json r = Json::parse(R"({"backends": [
      {"vip": "web", "address": "198.18.2.10", "port": 0, "state": "up", "probed": true, "progress": 0, "rise": 2,
       "fall": 3, "checks": 120, "failures": 0, "transitions": 1, "probe_port": 80,
       "last": {"ok": true, "latency_ms": 0.42}, "since": "2026-12-01T14:02:11Z"},
      {"vip": "web", "address": "198.18.2.11", "port": 0, "state": "down", "probed": true, "progress": 1, "rise": 2,
       "fall": 3, "checks": 118, "failures": 9, "transitions": 2, "probe_port": 80,
       "last": {"ok": false, "latency_ms": 0.1, "error": "connection refused"}, "since": "2026-12-01T14:05:40Z"}],
      "checker": {"targets": 2, "probes": 238, "failures": 9, "timeouts": 0, "socket_errors": 0, "in_flight": 1}})");
    EXPECT_EQ(format_show("health", r),
              "VIP  ADDRESS      PORT  STATE  PROGRESS     LAST                        LAST-MS  CHECKS  FAILURES  "
              "TRANSITIONS  SINCE\n"
              "web  198.18.2.10     *  up     0/3 to down  ok                             0.42     120         0  "
              "          1  2026-12-01T14:02:11Z\n"
              "web  198.18.2.11     *  down   1/2 to up    failed: connection refused      0.1     118         9  "
              "          2  2026-12-01T14:05:40Z\n"
              "checker: failures 9, in_flight 1, probes 238, targets 2\n");
}

TEST(Show, Rdma) {
    Json r = Json::parse(R"({"rdma": [
      {"name": "r0", "state": "up", "phase": "up", "device": "standin", "credits": 511, "in_flight": 3,
       "tx_packets": 1200, "rx_packets": 1180, "credit_stalls": 0, "qp_resets": 1, "lost_in_flight": 2,
       "connects": 2},
      {"name": "r1", "state": "no_device", "device": "mlx5_0"}]})");
    const std::string out = format_show("rdma", r);
    EXPECT_EQ(out.substr(0, out.find('\n')),
              "NAME  STATE      PHASE  DEVICE   CREDITS  IN-FLIGHT    TX    RX  STALLS  RESETS  LOST");
    EXPECT_NE(out.find("r0    up         up     standin      511          3  1200  1180       0       1     2"),
              std::string::npos) << out;
    EXPECT_NE(out.find("r1    no_device"), std::string::npos) << out;
    EXPECT_NE(out.find("connects 2"), std::string::npos) << out;  // the rest, listed under the table
    EXPECT_EQ(format_show("rdma", Json::parse(R"({"rdma": []})")).find("r0"), std::string::npos);
}

TEST(Show, DropsNonzeroOnlyUnlessAll) {
    Json r = Json::parse(R"({"drops": {"ipv4_no_route": 12, "l2_not_for_us": 0, "tx_full": 3}})");
    EXPECT_EQ(format_show("drops", r),
              "REASON         COUNT\n"
              "ipv4_no_route     12\n"
              "tx_full            3\n");
    EXPECT_EQ(format_show("drops", r, true),
              "REASON         COUNT\n"
              "ipv4_no_route     12\n"
              "l2_not_for_us      0\n"
              "tx_full            3\n");
    EXPECT_EQ(format_show("drops", Json::parse(R"({"drops": {"a": 0, "b": 0}})")),
              "no drops (2 reasons at 0; --all lists them)\n");
}

TEST(Show, DropsAsAListWithDescriptions) {
    Json r = Json::parse(R"({"drops": [{"reason": "ipv4_no_route", "count": 7, "description": "no IPv4 route"},
                                      {"reason": "shutdown", "count": 0, "description": "in flight at shutdown"}]})");
    EXPECT_EQ(format_show("drops", r),
              "REASON         COUNT  DESCRIPTION\n"
              "ipv4_no_route      7  no IPv4 route\n");
}

TEST(Show, WhichAndStatusAsKeyValues) {
    Json w = Json::parse(R"({"vip": "web", "slot": 4711, "maglev_backend": "198.18.2.10 0", "tracked": false,
                             "backend": "198.18.2.10 0", "reason": "maglev"})");
    EXPECT_EQ(format_show("which", w),
              "backend: 198.18.2.10 0\n"
              "maglev_backend: 198.18.2.10 0\n"
              "reason: maglev\n"
              "slot: 4711\n"
              "tracked: no\n"
              "vip: web\n");
    Json s = Json::parse(R"({"pid": 1234, "config": {"version": 3, "file": "/etc/sluice.yaml"},
                             "ports": ["p0", "p1"], "control": {"connected": true, "generation": 41}})");
    EXPECT_EQ(format_show("status", s),
              "config:\n"
              "  file: /etc/sluice.yaml\n"
              "  version: 3\n"
              "control:\n"
              "  connected: yes\n"
              "  generation: 41\n"
              "pid: 1234\n"
              "ports: p0,p1\n");
}

// The data plane's workers: an object keyed by name; the agent's own
// counters and per-reason drops go under the table.
TEST(Show, Workers) {
    Json r = Json::parse(R"({"workers": {
        "worker0": {"rx": 100, "forwarded": 90, "punted": 4, "dropped": 6, "polls": 5000, "idle_polls": 4900,
                    "sleeps": 0, "drop_ipv4_no_route": 6},
        "agent": {"rx": 0, "forwarded": 0, "punted": 0, "dropped": 0, "polls": 800, "idle_polls": 790, "sleeps": 12,
                  "punted_in": 4, "handled": 4, "pending": 0}}})");
    EXPECT_EQ(format_show("workers", r),
              "NAME      RX  FORWARDED  PUNTED  DROPPED  POLLS  IDLE-POLLS  SLEEPS\n"
              "agent      0          0       0        0    800         790      12\n"
              "worker0  100         90       4        6   5000        4900       0\n"
              "\n"
              "agent:\n"
              "  handled 4, pending 0, punted_in 4\n"
              "\n"
              "worker0:\n"
              "  drop_ipv4_no_route 6\n");
}

TEST(Show, UnknownShapesStillPrint) {
    // A result without the expected list is printed as key: value lines.
    EXPECT_EQ(format_show("vips", Json::parse(R"({"note": "no lb"})")), "note: no lb\n");
    EXPECT_EQ(format_show("vips", Json::parse(R"({"vips": []})")), "no vips\n");
}

TEST(Show, TablesHaveNoTrailingBlanks) {
    expect_aligned(format_show("ports", Json::parse(kPorts)));
    expect_aligned(format_show("vips", Json::parse(kVips)));
}

TEST(Json, PassthroughIsExactlyTheResult) {
    for (const char* text : {kPorts, kVips, R"({"what": [1, 2, {"x": null}], "s": "ü"})", "[]", "{}"}) {
        const Json r = Json::parse(text);
        const std::string out = format_json(r);
        ASSERT_FALSE(out.empty());
        EXPECT_EQ(out.back(), '\n');
        EXPECT_EQ(Json::parse(out), r) << out;
    }
}

TEST(Change, ApplyResult) {
    Json r = Json::parse(R"({"applied": true, "generation": 42, "changes": {"routes": 1, "neighbors": 0, "vips": 0},
                             "fib_ops": 1, "maglev_rebuilt": 0, "visible_ns": 81234})");
    EXPECT_EQ(format_change("route_add", r),
              "ok: generation 42: routes 1 changed (1 FIB writes, visible after 0.081 ms)\n");
}

// The control process's answers (control/daemon/service.cpp).
TEST(Change, ControlProcessChange) {
    Json r = Json::parse(R"({"changed": true, "pushed": true, "dataplane": {"applied": true,
        "changes": {"neighbors": 0, "routes": 0, "vips": 1}, "fib_ops": 0, "generation": 6, "maglev_rebuilt": 1,
        "visible_ns": 713482}})");
    EXPECT_EQ(format_change("backend_set", r),
              "ok: generation 6: vips 1 changed (1 Maglev tables built, visible after 0.713 ms)\n");
    EXPECT_EQ(format_change("backend_set", Json::parse(R"({"changed": false})")),
              "ok: no change (it was already so)\n");
    EXPECT_EQ(format_change("route_add", Json::parse(R"({"changed": true, "pushed": false,
                                                         "dataplane_error": "not connected"})")),
              "ok: changed in sluice-control; the data plane gets it with the next sync (not connected)\n");
}

TEST(Change, ControlProcessReload) {
    Json r = Json::parse(R"({"applied": true,
        "dataplane_reload": {"applied": true, "owner": "control", "summary": "0 route changes", "version": 2},
        "sync": {"applied": true, "changes": {"neighbors": 0, "routes": 0, "vips": 1}, "fib_ops": 0,
                 "generation": 12, "maglev_rebuilt": 0, "visible_ns": 104045}})");
    EXPECT_EQ(format_change("reload", r),
              "ok: config version 2: 0 route changes\n"
              "ok: synced generation 12: vips 1 changed (visible after 0.104 ms)\n");
    Json pending = Json::parse(R"({"applied": true, "sync": {"pushed": false, "error": "not connected"},
                                   "dataplane_reload": {"pushed": false, "error": "not connected"}})");
    EXPECT_EQ(format_change("reload", pending),
              "data plane reload pending: not connected\n"
              "sync pending: not connected\n");
}

TEST(Change, ReloadSummary) {
    Json r = Json::parse(R"({"applied": true, "version": 4, "summary": "1 route changed"})");
    EXPECT_EQ(format_change("reload", r), "ok: config version 4: 1 route changed\n");
    EXPECT_EQ(format_change("backend_set", Json::object()), "ok\n");
    EXPECT_EQ(format_change("backend_set", Json::parse(R"({"applied": true, "weight": 5})")), "ok: weight 5\n");
}

TEST(Error, CodeFieldMessage) {
    channel::Error e;
    e.code = channel::ErrorCode::bad_field;
    e.field = "args.prefix";
    e.message = "expected an IPv4 or IPv6 prefix";
    EXPECT_EQ(format_error(e), "sluicectl: bad_field: args.prefix: expected an IPv4 or IPv6 prefix\n");
    e.field.clear();
    e.code = channel::ErrorCode::unavailable;
    e.message = "the data plane is not connected";
    EXPECT_EQ(format_error(e), "sluicectl: unavailable: the data plane is not connected\n");
}

TEST(Error, EveryItemOnItsOwnLine) {
    channel::Error e;
    e.code = channel::ErrorCode::rejected;
    e.message = "the config file has 2 errors; nothing changed";
    e.errors = {{"/etc/sluice.yaml:14:10", "ports[0].mtu: mtu cannot change at run time"},
                {"", "/etc/sluice.yaml:20:3: routes[2].via: gateway 198.18.9.1 is not in a connected subnet"}};
    EXPECT_EQ(format_error(e),
              "sluicectl: rejected: the config file has 2 errors; nothing changed\n"
              "  /etc/sluice.yaml:14:10: ports[0].mtu: mtu cannot change at run time\n"
              "  /etc/sluice.yaml:20:3: routes[2].via: gateway 198.18.9.1 is not in a connected subnet\n");
    // The control process's reload errors carry the field in `what` and
    // again in the message, after file:line: printed once.
    e.errors = {{"routes[0].prefix", "/etc/sluice.yaml:24:13: routes[0].prefix: host bits are set in 198.19.0.1/16"}};
    EXPECT_EQ(format_error(e),
              "sluicectl: rejected: the config file has 2 errors; nothing changed\n"
              "  /etc/sluice.yaml:24:13: routes[0].prefix: host bits are set in 198.19.0.1/16\n");
}

TEST(Rows, ArrayObjectAndTopLevel) {
    EXPECT_EQ(rows_of(Json::parse(R"({"vips": [{"name": "a"}, {"name": "b"}]})"), "vips").size(), 2u);
    auto keyed = rows_of(Json::parse(R"({"ports": {"p0": {"id": 0}, "p1": {"id": 1}, "n": 3}})"), "ports");
    ASSERT_EQ(keyed.size(), 2u);  // non-object members are not rows
    EXPECT_EQ(keyed[0].key, "p0");
    EXPECT_EQ(rows_of(Json::parse(R"([{"name": "a"}])"), "vips").size(), 1u);
    EXPECT_TRUE(rows_of(Json::parse(R"({"other": 1})"), "vips").empty());
}

}  // namespace
}  // namespace sluice::cli
