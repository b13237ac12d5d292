// Whole commands against an in-test channel server: what is sent (hello
// first), what is printed, which process answers, and the exit status of
// each kind of failure (1 server error, 2 refused, 3 unreachable).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "control/cli/run.hpp"
#include "control/cli/session.hpp"
#include "control/cli/words.hpp"
#include "fake_server.hpp"

namespace sluice::cli {
namespace {

using channel::ErrorCode;
using channel::Request;

const Json kPortsResult = Json::parse(R"({"ports": [
  {"name": "p0", "id": 0, "driver": "net_tap", "link": true, "rx_packets": 10, "tx_packets": 4},
  {"name": "p1", "id": 1, "driver": "net_tap", "link": true, "rx_packets": 0, "tx_packets": 0}]})");

// Answers hello and show ports; everything else with `other`.
test::FakeServer::Handler handler(std::function<std::string(const Request&)> other = nullptr) {
    return [other](const Request& r) -> std::string {
        if (r.type == "hello") return test::hello_reply(r);
        if (r.type == "show" && r.args.value("what", "") == "ports") return test::ok(r, kPortsResult);
        if (other) return other(r);
        return test::error(r, ErrorCode::unknown_type, "no such request type: " + r.type);
    };
}

struct Outcome {
    int status = -1;
    std::string out, err;
};

// One command line through the parser and run_command, as main does.
Outcome run(Session& s, const std::string& line) {
    std::vector<std::string> words;
    std::string e;
    EXPECT_TRUE(split_words(line, &words, &e));
    Parsed p = parse_command_line(words);
    EXPECT_EQ(p.exit_code, -1) << line << ": " << p.err;
    std::ostringstream out, err;
    // stdin /dev/null: not a terminal, so a stats view watches no keys.
    const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    Io io{out, err, null_fd, false, false};
    Outcome r;
    r.status = run_command(s, p.global, p.cmd, io);
    ::close(null_fd);
    r.out = out.str();
    r.err = err.str();
    return r;
}

Endpoints control_at(const std::string& path) {
    Endpoints e;
    e.control = path;
    return e;
}

TEST(Session, ShowSaysHelloFirstAndPrintsATable) {
    test::FakeServer srv(handler());
    ASSERT_TRUE(srv.listening());
    Session s(control_at(srv.path()), std::chrono::milliseconds(2000));
    Outcome r = run(s, "show ports");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out,
              "NAME  ID  DRIVER   LINK  RX-PKTS  TX-PKTS\n"
              "p0     0  net_tap  up         10        4\n"
              "p1     1  net_tap  up          0        0\n");
    auto reqs = srv.requests();
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_EQ(reqs[0].type, "hello");
    EXPECT_EQ(reqs[0].args, (Json{{"client", "sluicectl"}}));
    EXPECT_EQ(reqs[1].type, "show");
    EXPECT_EQ(reqs[1].args, (Json{{"what", "ports"}}));
}

TEST(Session, JsonPrintsExactlyTheResult) {
    test::FakeServer srv(handler());
    Session s(control_at(srv.path()), std::chrono::milliseconds(2000));
    Outcome r = run(s, "--json show ports");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(Json::parse(r.out), kPortsResult);
}

TEST(Session, ServerErrorIsStatus1WithCodeFieldAndMessage) {
    test::FakeServer srv(handler([](const Request& r) {
        return test::error(r, ErrorCode::bad_field, "expected an IPv4 or IPv6 prefix", "args.prefix");
    }));
    Session s(control_at(srv.path()), std::chrono::milliseconds(2000));
    Outcome r = run(s, "route add 198.19.0.0/16 via 198.18.1.2");
    EXPECT_EQ(r.status, kExitServerError);
    EXPECT_EQ(r.err, "sluicectl: bad_field: args.prefix: expected an IPv4 or IPv6 prefix\n");
    EXPECT_TRUE(r.out.empty());
    auto reqs = srv.requests();
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_EQ(reqs[1].type, "route_add");
    EXPECT_EQ(reqs[1].args, Json::parse(R"({"prefix":"198.19.0.0/16","nexthops":[{"via":"198.18.1.2"}]})"));
}

TEST(Session, RejectedReloadListsEveryError) {
    test::FakeServer srv(handler([](const Request& r) {
        return test::error(r, ErrorCode::rejected, "the config file has errors; nothing changed", "",
                           {{"", "/etc/sluice.yaml:14:10: ports[0].mtu: mtu cannot change at run time"},
                            {"", "/etc/sluice.yaml:20:3: routes[2].via: not in a connected subnet"}});
    }));
    Session s(control_at(srv.path()), std::chrono::milliseconds(2000));
    Outcome r = run(s, "reload");
    EXPECT_EQ(r.status, kExitServerError);
    EXPECT_EQ(r.err,
              "sluicectl: rejected: the config file has errors; nothing changed\n"
              "  /etc/sluice.yaml:14:10: ports[0].mtu: mtu cannot change at run time\n"
              "  /etc/sluice.yaml:20:3: routes[2].via: not in a connected subnet\n");
}

TEST(Session, ChangeResultIsOneLine) {
    test::FakeServer srv(handler([](const Request& r) {
        return test::ok(r, Json{{"applied", true}, {"generation", 43}, {"changes", {{"vips", 1}}}});
    }));
    Session s(control_at(srv.path()), std::chrono::milliseconds(2000));
    Outcome r = run(s, "backend drain web 198.18.2.10");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "ok: generation 43: vips 1 changed\n");
}

TEST(Session, MissingSocketIsStatus3NamingTheSocket) {
    test::TempDir d;
    const std::string path = d.path() + "/control.sock";
    Session s(control_at(path), std::chrono::milliseconds(500));
    Outcome r = run(s, "show vips");
    EXPECT_EQ(r.status, kExitTransport);
    EXPECT_EQ(r.err, "sluicectl: cannot reach sluice-control: no socket at " + path +
                         " (sluice-control is not running, or listens elsewhere: see --socket, --dataplane, "
                         "--config)\n");
}

TEST(Session, StaleSocketSaysTheProcessIsNotRunning) {
    test::TempDir d;
    const std::string path = d.path() + "/dp.sock";
    // A socket file nobody listens on: what a killed server leaves.
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strcpy(sa.sun_path, path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ::close(fd);
    Endpoints e;
    e.control = d.path() + "/none.sock";
    e.dataplane = path;
    e.dataplane_only = true;
    Session s(e, std::chrono::milliseconds(500));
    Outcome r = run(s, "show ports");
    EXPECT_EQ(r.status, kExitTransport);
    EXPECT_EQ(r.err, "sluicectl: cannot reach the data plane (sluice-dp): nothing accepts connections on " + path +
                         " (the data plane (sluice-dp) is not running; the socket is left from an earlier run)\n");
}

TEST(Session, ServerThatDoesNotAnswerIsStatus3) {
    test::FakeServer srv(handler([](const Request& r) {
        // Past the client's deadline (bounded: the test's own server).
        std::this_thread::sleep_for(std::chrono::milliseconds(400));
        return test::ok(r, Json::object());
    }));
    Session s(control_at(srv.path()), std::chrono::milliseconds(2000));
    Outcome r = run(s, "--timeout 100 show vips");
    EXPECT_EQ(r.status, kExitTransport);
    EXPECT_NE(r.err.find("sluice-control at " + srv.path()), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("timed out"), std::string::npos) << r.err;
}

TEST(Session, DataplaneOnlyRefusesChangesAndHealth) {
    test::FakeServer srv(handler());
    Endpoints e;
    e.control = "/nonexistent/control.sock";
    e.dataplane = srv.path();
    e.dataplane_only = true;
    Session s(e, std::chrono::milliseconds(2000));
    Outcome r = run(s, "route add 198.19.0.0/16 via 198.18.1.2");
    EXPECT_EQ(r.status, kExitUsage);
    EXPECT_NE(r.err.find("route add 198.19.0.0/16 via 198.18.1.2: changes go to the control process"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("give --socket PATH or --config FILE"), std::string::npos) << r.err;
    r = run(s, "show health");
    EXPECT_EQ(r.status, kExitUsage);
    EXPECT_NE(r.err.find("sluice-control runs the health checks"), std::string::npos) << r.err;
    r = run(s, "reload");
    EXPECT_EQ(r.status, kExitUsage);
    EXPECT_TRUE(srv.requests().empty());  // nothing was sent
    r = run(s, "show ports");
    EXPECT_EQ(r.status, 0) << r.err;
}

TEST(Session, ShowGoesToTheDataplaneAndChangesToTheControlProcess) {
    test::FakeServer dp(handler());
    test::FakeServer ctl(handler([](const Request& r) { return test::ok(r, Json{{"applied", true}}); }));
    Endpoints e;
    e.control = ctl.path();
    e.dataplane = dp.path();
    Session s(e, std::chrono::milliseconds(2000));
    EXPECT_EQ(run(s, "show ports").status, 0);
    EXPECT_EQ(run(s, "route del 198.19.0.0/16").status, 0);
    ASSERT_EQ(dp.requests().size(), 2u);
    EXPECT_EQ(dp.requests()[1].type, "show");
    ASSERT_EQ(ctl.requests().size(), 2u);
    EXPECT_EQ(ctl.requests()[1].type, "route_del");
}

TEST(Session, AKeptConnectionThatDiedIsReopenedForShow) {
    std::atomic<int> shows{0};
    test::FakeServer srv([&shows](const Request& r) -> std::string {
        if (r.type == "hello") return test::hello_reply(r);
        // The second show finds the server gone (it closes instead of
        // answering), as after a restart.
        if (++shows == 2) return "";
        return test::ok(r, kPortsResult);
    });
    Session s(control_at(srv.path()), std::chrono::milliseconds(2000));
    EXPECT_EQ(run(s, "show ports").status, 0);
    Outcome r = run(s, "show ports");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(shows.load(), 3);
    EXPECT_EQ(srv.requests().size(), 5u);  // hello, show, show (closed), hello, show
}

TEST(Session, StatsViewPrintsCountFramesWithRates) {
    std::atomic<uint64_t> n{0};
    test::FakeServer srv([&n](const Request& r) -> std::string {
        if (r.type == "hello") return test::hello_reply(r);
        const uint64_t v = n += 100;
        return test::ok(r, Json{{"vips", {{{"name", "web"}, {"address", "198.18.100.1"}, {"packets", v},
                                           {"bytes", v * 100}, {"new_flows", v / 10}, {"tracked_flows", 3}}}}});
    });
    Session s(control_at(srv.path()), std::chrono::milliseconds(2000));
    Outcome r = run(s, "show vips stats --interval 0.1 --count 2");
    EXPECT_EQ(r.status, 0) << r.err;
    // Two frames (the first sample only starts the deltas), no ANSI codes
    // when stdout is not a terminal.
    EXPECT_EQ(srv.requests().size(), 4u);
    size_t frames = 0;
    for (size_t at = r.out.find("NAME  ADDRESS"); at != std::string::npos; at = r.out.find("NAME  ADDRESS", at + 1))
        ++frames;
    EXPECT_EQ(frames, 2u) << r.out;
    EXPECT_EQ(r.out.find('\033'), std::string::npos);
    EXPECT_NE(r.out.find("show vips stats --interval 0.1 --count 2  every 0.1 s"), std::string::npos) << r.out;
    // 100 packets per ~0.1 s: about 1000 pps (timing decides the digits).
    EXPECT_NE(r.out.find("web   198.18.100.1"), std::string::npos) << r.out;
}

TEST(Session, StatsJsonIsOneResultPerLine) {
    test::FakeServer srv(handler());
    Session s(control_at(srv.path()), std::chrono::milliseconds(2000));
    Outcome r = run(s, "--json show ports stats --interval 0.1 --count 3");
    EXPECT_EQ(r.status, 0) << r.err;
    std::istringstream in(r.out);
    std::string line;
    int lines = 0;
    while (std::getline(in, line)) {
        EXPECT_EQ(Json::parse(line), kPortsResult);
        ++lines;
    }
    EXPECT_EQ(lines, 3);
}

TEST(Session, CapturePrintCommandAsksTheDataplane) {
    test::FakeServer dp(handler());
    Endpoints e;
    e.control = "/nonexistent/control.sock";
    e.dataplane = dp.path();
    e.dataplane_only = true;
    Session s(e, std::chrono::milliseconds(2000));
    Outcome r = run(s, "capture p1 -w /tmp/x.pcapng -c 5 --print-command");
    EXPECT_EQ(r.status, 0) << r.err;
    // The file prefix from hello, the port's DPDK id from show ports.
    EXPECT_EQ(r.out, "/usr/bin/dpdk-dumpcap --file-prefix slt-test -i 1 -p -w /tmp/x.pcapng -c 5\n");
    r = run(s, "capture p7 -w /tmp/x.pcapng --print-command");
    EXPECT_EQ(r.status, kExitServerError);
    EXPECT_EQ(r.err, "sluicectl: capture: unknown port \"p7\"; the data plane's ports: p0, p1\n");
}

TEST(Session, CaptureWithPrefixAndNumberNeedsNoServer) {
    Endpoints e;
    e.control = "/nonexistent/control.sock";
    e.dataplane = "/nonexistent/dp.sock";
    Session s(e, std::chrono::milliseconds(200));
    Outcome r = run(s, "capture 0 --file-prefix sl -w x.pcapng --tx --print-command");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "/usr/bin/dpdk-dumpcap --file-prefix sl -i 0 -p -w /proc/self/fd/3 3>&1 | sluicectl keeps "
                     "transmitted packets in x.pcapng\n");
}

TEST(Endpoints, FromOptionsConfigAndDefaults) {
    Endpoints e;
    std::string err;
    GlobalOptions g;
    ASSERT_TRUE(resolve_endpoints(g, &e, &err));
    EXPECT_EQ(e.control, "/run/sluice/control.sock");
    EXPECT_EQ(e.config_dataplane, "/run/sluice/dataplane.sock");
    EXPECT_FALSE(e.dataplane_only);

    test::TempDir d;
    const std::string cfg = d.path() + "/sluice.yaml";
    std::ofstream(cfg) << "ports:\n  - name: p0\n    device: \"net_tap0,iface=sl0\"\n"
                       << "control:\n  socket: " << d.path() << "/dp.sock\n  cli_socket: " << d.path()
                       << "/ctl.sock\n";
    g.config = cfg;
    ASSERT_TRUE(resolve_endpoints(g, &e, &err)) << err;
    EXPECT_EQ(e.control, d.path() + "/ctl.sock");
    EXPECT_EQ(e.config_dataplane, d.path() + "/dp.sock");

    g.socket = "/tmp/explicit.sock";  // --socket wins over the config
    g.dataplane = "/tmp/dp.sock";
    ASSERT_TRUE(resolve_endpoints(g, &e, &err));
    EXPECT_EQ(e.control, "/tmp/explicit.sock");
    EXPECT_EQ(e.dataplane, "/tmp/dp.sock");
    EXPECT_FALSE(e.dataplane_only);  // a control process was named too

    GlobalOptions only;
    only.dataplane = "/tmp/dp.sock";
    ASSERT_TRUE(resolve_endpoints(only, &e, &err));
    EXPECT_TRUE(e.dataplane_only);

    GlobalOptions bad;
    bad.config = d.path() + "/missing.yaml";
    EXPECT_FALSE(resolve_endpoints(bad, &e, &err));
    EXPECT_NE(err.find("cannot read the socket paths from " + bad.config), std::string::npos) << err;
}

}  // namespace
}  // namespace sluice::cli
