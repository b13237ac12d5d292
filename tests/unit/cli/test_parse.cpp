// Parsing: every command into the request type and arguments it sends
// (docs/control-protocol.md), and the rejection of bad arguments with a
// message that names what was expected.
#include <gtest/gtest.h>

#include "control/cli/command.hpp"
#include "control/cli/words.hpp"

namespace sluice::cli {
namespace {

Parsed parse(const std::string& line, const std::string& env = "") {
    std::vector<std::string> words;
    std::string err;
    EXPECT_TRUE(split_words(line, &words, &err)) << err;
    return parse_command_line(words, env);
}

struct RequestCase {
    const char* line;
    const char* type;
    const char* args;  // JSON
    bool change;
};

class Requests : public ::testing::TestWithParam<RequestCase> {};

TEST_P(Requests, SendsTypeAndArgs) {
    const RequestCase& c = GetParam();
    Parsed p = parse(c.line);
    ASSERT_EQ(p.exit_code, -1) << c.line << "\n" << p.err;
    EXPECT_EQ(p.cmd.action, Action::request) << c.line;
    EXPECT_EQ(p.cmd.type, c.type) << c.line;
    EXPECT_EQ(p.cmd.args, Json::parse(c.args)) << c.line << "\n got " << p.cmd.args.dump();
    EXPECT_EQ(p.cmd.change, c.change) << c.line;
}

const RequestCase kRequests[] = {
    {"show ports", "show", R"({"what":"ports"})", false},
    {"show routes", "show", R"({"what":"routes"})", false},
    {"show routes 198.19.0.0/16", "show", R"({"what":"routes","prefix":"198.19.0.0/16"})", false},
    {"show routes 2001:DB8:99::/48", "show", R"({"what":"routes","prefix":"2001:db8:99::/48"})", false},
    {"show routes --lookup 198.19.1.1 --limit 10", "show", R"({"what":"routes","lookup":"198.19.1.1","limit":10})",
     false},
    {"show routes --offset 1000 --limit 500", "show", R"({"what":"routes","offset":1000,"limit":500})", false},
    {"show route 2001:db8:99::1", "show", R"({"what":"routes","lookup":"2001:db8:99::1"})", false},
    {"show neighbors", "show", R"({"what":"neighbors"})", false},
    {"show neighbors --limit 20 --offset 5", "show", R"({"what":"neighbors","limit":20,"offset":5})", false},
    {"show vips", "show", R"({"what":"vips"})", false},
    {"show backends web", "show", R"({"what":"backends","vip":"web"})", false},
    {"show health", "show", R"({"what":"health"})", false},
    {"show drops", "show", R"({"what":"drops"})", false},
    {"show drops --all", "show", R"({"what":"drops"})", false},
    {"show which tcp 198.18.1.2 40000 198.18.100.1 80", "show",
     R"({"what":"which","protocol":"tcp","src":"198.18.1.2","sport":40000,"dst":"198.18.100.1","dport":80})", false},
    {"show which udp 2001:db8:1::2 53000 2001:db8:100::53 53", "show",
     R"({"what":"which","protocol":"udp","src":"2001:db8:1::2","sport":53000,"dst":"2001:db8:100::53","dport":53})",
     false},
    {"show workers", "show", R"({"what":"workers"})", false},
    {"show status", "show", R"({"what":"status"})", false},
    {"show rdma", "show", R"({"what":"rdma"})", false},
    // route add: one gateway, ECMP with ports, on-link, link-local, `port` for `dev`
    {"route add 198.19.0.0/16 via 198.18.1.2", "route_add",
     R"({"prefix":"198.19.0.0/16","nexthops":[{"via":"198.18.1.2"}]})", true},
    {"route add 198.19.0.0/16 via 198.18.1.2 dev p0 via 198.18.2.2 dev p1", "route_add",
     R"({"prefix":"198.19.0.0/16","nexthops":[{"via":"198.18.1.2","port":"p0"},{"via":"198.18.2.2","port":"p1"}]})",
     true},
    {"route add 2001:db8:99::/48 via 2001:db8:1::2 via 2001:db8:2::2", "route_add",
     R"({"prefix":"2001:db8:99::/48","nexthops":[{"via":"2001:db8:1::2"},{"via":"2001:db8:2::2"}]})", true},
    {"route add 198.18.50.0/24 dev p1", "route_add", R"({"prefix":"198.18.50.0/24","nexthops":[{"port":"p1"}]})",
     true},
    {"route add 2001:db8:77::/64 via fe80::1 dev p0", "route_add",
     R"({"prefix":"2001:db8:77::/64","nexthops":[{"via":"fe80::1","port":"p0"}]})", true},
    {"route add 198.19.1.0/24 via 198.18.1.2 port p0", "route_add",
     R"({"prefix":"198.19.1.0/24","nexthops":[{"via":"198.18.1.2","port":"p0"}]})", true},
    {"route add 198.19.2.0/24 dev p0 dev p1", "route_add",
     R"({"prefix":"198.19.2.0/24","nexthops":[{"port":"p0"},{"port":"p1"}]})", true},
    {"route add 0.0.0.0/0 via 198.18.1.2", "route_add", R"({"prefix":"0.0.0.0/0","nexthops":[{"via":"198.18.1.2"}]})",
     true},
    {"route del 198.19.0.0/16", "route_del", R"({"prefix":"198.19.0.0/16"})", true},
    {"route del 2001:db8:99::/48", "route_del", R"({"prefix":"2001:db8:99::/48"})", true},
    // backends
    {"backend add web 198.18.2.10", "backend_add", R"({"vip":"web","backend":{"address":"198.18.2.10"}})", true},
    {"backend add api 198.18.2.20 port 8443 weight 3", "backend_add",
     R"({"vip":"api","backend":{"address":"198.18.2.20","port":8443,"weight":3}})", true},
    {"backend add web 198.18.2.11 weight 0", "backend_add",
     R"({"vip":"web","backend":{"address":"198.18.2.11","weight":0}})", true},
    {"backend del web 198.18.2.10", "backend_del", R"({"vip":"web","address":"198.18.2.10","port":0})", true},
    {"backend del api 198.18.2.20 port 8443", "backend_del", R"({"vip":"api","address":"198.18.2.20","port":8443})",
     true},
    {"backend set web 198.18.2.10 weight 5", "backend_set",
     R"({"vip":"web","address":"198.18.2.10","port":0,"weight":5})", true},
    {"backend set api 198.18.2.20 port 8443 weight 10000", "backend_set",
     R"({"vip":"api","address":"198.18.2.20","port":8443,"weight":10000})", true},
    {"backend drain web 198.18.2.10", "backend_set",
     R"({"vip":"web","address":"198.18.2.10","port":0,"admin":"drain"})", true},
    {"backend undrain web 2001:db8:2::10", "backend_set",
     R"({"vip":"web","address":"2001:db8:2::10","port":0,"admin":"up"})", true},
    {"reload", "reload", "{}", true},
    // global options before and after the command
    {"--json show vips", "show", R"({"what":"vips"})", false},
    {"show vips --json --timeout 200", "show", R"({"what":"vips"})", false},
    // the command's words may be quoted (interactive lines)
    {"show backends 'web'", "show", R"({"what":"backends","vip":"web"})", false},
};

INSTANTIATE_TEST_SUITE_P(AllCommands, Requests, ::testing::ValuesIn(kRequests));

TEST(Parse, ShowDropsAllSetsTheFlag) {
    EXPECT_TRUE(parse("show drops --all").cmd.all);
    EXPECT_FALSE(parse("show drops").cmd.all);
}

TEST(Parse, HealthIsForTheControlProcessOnly) {
    EXPECT_TRUE(parse("show health").cmd.control_only);
    EXPECT_FALSE(parse("show vips").cmd.control_only);
}

TEST(Parse, GlobalOptions) {
    Parsed p = parse("--socket /tmp/c.sock --config /etc/sluice.yaml --timeout 250 --json show ports");
    ASSERT_EQ(p.exit_code, -1) << p.err;
    EXPECT_EQ(p.global.socket, "/tmp/c.sock");
    EXPECT_EQ(p.global.config, "/etc/sluice.yaml");
    EXPECT_EQ(p.global.timeout_ms, 250u);
    EXPECT_TRUE(p.global.json);
    EXPECT_TRUE(p.global.socket_given);
    EXPECT_TRUE(p.global.config_given);
    EXPECT_FALSE(p.global.dataplane_given);
    EXPECT_EQ(p.global.timeout_ms, 250u);
}

TEST(Parse, DataplaneComesFromTheEnvironmentUnlessGiven) {
    Parsed p = parse("show vips", "/run/dp.sock");
    EXPECT_EQ(p.global.dataplane, "/run/dp.sock");
    EXPECT_FALSE(p.global.dataplane_given);
    p = parse("--dataplane /tmp/other.sock show vips", "/run/dp.sock");
    EXPECT_EQ(p.global.dataplane, "/tmp/other.sock");
    EXPECT_TRUE(p.global.dataplane_given);
}

TEST(Parse, NoCommandIsTheInteractivePrompt) {
    Parsed p = parse("");
    EXPECT_EQ(p.exit_code, -1);
    EXPECT_EQ(p.cmd.action, Action::none);
    p = parse("-i");
    EXPECT_TRUE(p.global.interactive);
    EXPECT_EQ(p.cmd.action, Action::none);
}

struct StatsCase {
    const char* line;
    const char* what;
    double interval;
    uint32_t count;
};

TEST(Parse, StatsViews) {
    const StatsCase cases[] = {
        {"show ports stats", "ports", 1.0, 0},
        {"show vips stats --interval 0.5 --count 3", "vips", 0.5, 3},
        {"show drops stats --count 2 --all", "drops", 1.0, 2},
        {"show backends web stats --interval 2", "backends", 2.0, 0},
        {"show workers stats --count 1", "workers", 1.0, 1},
    };
    for (const auto& c : cases) {
        Parsed p = parse(c.line);
        ASSERT_EQ(p.exit_code, -1) << c.line << ": " << p.err;
        EXPECT_EQ(p.cmd.action, Action::stats) << c.line;
        EXPECT_EQ(p.cmd.type, "show");
        EXPECT_EQ(p.cmd.what, c.what);
        EXPECT_EQ(p.cmd.args["what"], c.what);
        EXPECT_DOUBLE_EQ(p.cmd.stats.interval_s, c.interval) << c.line;
        EXPECT_EQ(p.cmd.stats.count, c.count) << c.line;
    }
    EXPECT_TRUE(parse("show drops stats --all").cmd.all);
    EXPECT_EQ(parse("show backends web stats").cmd.args["vip"], "web");
}

TEST(Parse, Capture) {
    Parsed p = parse("capture p0 -w /tmp/x.pcapng -c 10");
    ASSERT_EQ(p.exit_code, -1) << p.err;
    EXPECT_EQ(p.cmd.action, Action::capture);
    EXPECT_EQ(p.cmd.capture.port, "p0");
    EXPECT_EQ(p.cmd.capture.file, "/tmp/x.pcapng");
    EXPECT_EQ(p.cmd.capture.count, 10u);
    EXPECT_EQ(p.cmd.capture.direction, Direction::both);
    EXPECT_EQ(p.cmd.capture.dumpcap, kDefaultDumpcap);
    EXPECT_FALSE(p.cmd.capture.print_command);

    p = parse("capture p1 --rx -w out.pcapng --duration 5 --filter 'udp port 53' --print-command "
              "--file-prefix sl1 --dumpcap /opt/dumpcap");
    ASSERT_EQ(p.exit_code, -1) << p.err;
    EXPECT_EQ(p.cmd.capture.direction, Direction::rx);
    EXPECT_EQ(p.cmd.capture.duration_s, 5u);
    EXPECT_EQ(p.cmd.capture.filter, "udp port 53");
    EXPECT_TRUE(p.cmd.capture.print_command);
    EXPECT_EQ(p.cmd.capture.file_prefix, "sl1");
    EXPECT_EQ(p.cmd.capture.dumpcap, "/opt/dumpcap");
    EXPECT_EQ(parse("capture p1 --tx -w o -f icmp").cmd.capture.direction, Direction::tx);
    EXPECT_EQ(parse("capture p1 --both -w o").cmd.capture.direction, Direction::both);
    EXPECT_EQ(parse("capture p1 --tx -w o -f icmp").cmd.capture.filter, "icmp");
}

struct RejectCase {
    const char* line;
    const char* message;  // a part of the message
};

class Rejects : public ::testing::TestWithParam<RejectCase> {};

TEST_P(Rejects, WithAClearMessageAndStatus2) {
    const RejectCase& c = GetParam();
    Parsed p = parse(c.line);
    EXPECT_EQ(p.exit_code, kExitUsage) << c.line;
    EXPECT_NE(p.err.find(c.message), std::string::npos) << c.line << "\n got: " << p.err;
    EXPECT_EQ(p.err.rfind("sluicectl: ", 0), 0u) << p.err;
    EXPECT_EQ(p.cmd.action, Action::none);
}

const RejectCase kRejects[] = {
    {"frob", "unknown command \"frob\"; expected one of: show, route, backend, reload, capture"},
    {"show frob", "unknown show command \"frob\"; expected one of: ports, routes"},
    {"route frob 198.18.0.0/24", "unknown route command \"frob\"; expected one of: add, del"},
    {"show", "show needs one of: ports, routes"},
    {"backend", "backend needs one of: add, del, set, drain, undrain"},
    {"show ports extra", "unknown show ports command \"extra\"; expected one of: stats"},
    {"show status extra", "show status: unexpected \"extra\""},
    {"show vips --bogus", "unknown option \"--bogus\""},
    // prefixes
    {"route add 198.18.0.1/24 via 198.18.1.1", "host bits are set in 198.18.0.1/24; did you mean 198.18.0.0/24?"},
    {"route add 198.18.0.0/33 via 198.18.1.1", "expected an IPv4 or IPv6 prefix like 198.18.0.0/24"},
    {"route add 198.18.0.1 via 198.18.1.1", "a prefix needs a length"},
    {"route add banana via 198.18.1.1", "got \"banana\""},
    {"route del 2001:db8::1/48", "did you mean 2001:db8::/48?"},
    {"show routes 198.18.0.0/99", "expected an IPv4 or IPv6 prefix"},
    // next hops
    {"route add 198.18.0.0/24", "needs a next hop: via ADDRESS [dev PORT] (repeat for ECMP) or dev PORT"},
    {"route add 198.18.0.0/24 via", "\"via\" needs an address"},
    {"route add 198.18.0.0/24 dev", "\"dev\" needs a port name"},
    {"route add 198.18.0.0/24 gw 198.18.1.1", "unexpected \"gw\": expected via ADDRESS or dev PORT"},
    {"route add 198.18.0.0/24 via 198.18.1", "via: expected a gateway address"},
    {"route add 198.18.0.0/24 via 2001:db8::1", "gateway 2001:db8::1 is IPv6 but the prefix 198.18.0.0/24 is IPv4"},
    {"route add 2001:db8:77::/64 via fe80::1", "link-local gateway fe80::1 needs dev PORT"},
    {"route add 198.18.0.0/24 dev P0", "dev: expected a port name of 1..15 characters"},
    {"route add 198.18.0.0/24 via 198.18.1.1 via 198.18.1.1", "next hop 2 repeats next hop 1"},
    {"route del", "PREFIX is required"},
    // backends
    {"backend add web", "ADDR is required"},
    {"backend add web 198.18.2.999", "expected a backend address"},
    {"backend add web 198.18.2.10 port 0", "expected a backend port 1..65535, got \"0\""},
    {"backend add web 198.18.2.10 port 65536", "expected a backend port 1..65535"},
    {"backend add web 198.18.2.10 weight 10001", "expected a weight 0..10000, got \"10001\""},
    {"backend add web 198.18.2.10 weight -1", "expected a weight 0..10000"},
    {"backend add web 198.18.2.10 weight", "\"weight\" needs a number"},
    {"backend add web 198.18.2.10 port 80 port 81", "port given twice"},
    {"backend add web 198.18.2.10 color red", "unexpected \"color\": expected port N or weight N"},
    {"backend del web 198.18.2.10 weight 3", "unexpected \"weight\": expected port N"},
    {"backend drain web 198.18.2.10 weight 3", "unexpected \"weight\": expected port N"},
    {"backend set web 198.18.2.10", "backend set needs weight N"},
    {"backend add we/b 198.18.2.10", "expected a VIP name of 1..32 characters"},
    {"show backends", "VIP is required"},
    // show arguments
    {"show which sctp 198.18.1.2 1 198.18.100.1 80", "expected tcp or udp, got \"sctp\""},
    {"show which tcp 198.18.1.2 99999 198.18.100.1 80", "expected a source port 0..65535"},
    {"show which tcp 198.18.1.2 1 2001:db8::1 80", "are of different families"},
    {"show which tcp 198.18.1.2 1 198.18.100.1", "DPORT is required"},
    {"show routes --limit 0", "expected a limit 1..1000000000, got \"0\""},
    {"show routes --limit ten", "expected a limit"},
    {"show routes 198.18.0.0/16 --lookup 198.18.0.1", "not both"},
    {"show route 198.18.0.0/16", "expected an address to look up"},
    {"show ports stats --interval 0", "expected an interval of 0.1..3600 seconds"},
    {"show ports stats --interval soon", "expected an interval"},
    {"show ports stats --count 0", "expected a refresh count 1..1000000"},
    {"--timeout abc show vips", "expected a timeout in ms 1..3600000"},
    {"show routes --limit", "show routes: --limit needs a value (N)"},
    {"--socket", "--socket needs a value (PATH)"},
    // capture
    {"capture p0", "-w is required"},
    {"capture -w x.pcapng", "PORT is required"},
    {"capture p0 -w x --rx --tx", "excludes"},
    {"capture p0 -w x -c 0", "expected a packet count"},
    {"capture p0 -w x --duration 0", "expected a duration in seconds"},
};

INSTANTIATE_TEST_SUITE_P(BadArguments, Rejects, ::testing::ValuesIn(kRejects));

TEST(Parse, HelpGoesToStdoutWithStatus0) {
    Parsed p = parse("--help");
    EXPECT_EQ(p.exit_code, kExitOk);
    EXPECT_NE(p.out.find("Usage: sluicectl"), std::string::npos) << p.out;
    EXPECT_TRUE(p.err.empty());
    p = parse("help show");
    EXPECT_EQ(p.exit_code, kExitOk);
    EXPECT_NE(p.out.find("Usage: sluicectl show"), std::string::npos) << p.out;
    EXPECT_NE(p.out.find("which"), std::string::npos) << p.out;
    p = parse("route add --help");
    EXPECT_EQ(p.exit_code, kExitOk);
    EXPECT_NE(p.out.find("via ADDR"), std::string::npos) << p.out;
}

TEST(Parse, KeepsTheCommandTextForMessages) {
    EXPECT_EQ(parse("show vips stats --count 2").cmd.text, "show vips stats --count 2");
    EXPECT_EQ(parse("capture p0 -w 'my file'").cmd.text, "capture p0 -w 'my file'");
    // The global options are not the command's.
    EXPECT_EQ(parse("--config /etc/s.yaml show ports stats --json --timeout=9 --count 2").cmd.text,
              "show ports stats --count 2");
    EXPECT_EQ(parse("--dataplane /x.sock route del 198.19.0.0/16").cmd.text, "route del 198.19.0.0/16");
}

TEST(Parse, ANameThatIsAlsoACommandIsAPlainWord) {
    // "status" and "stats" are subcommands elsewhere; as a VIP name they are
    // just the VIP.
    Parsed p = parse("backend add status 198.18.2.10");
    ASSERT_EQ(p.exit_code, -1) << p.err;
    EXPECT_EQ(p.cmd.args["vip"], "status");
    p = parse("show backends vips");
    ASSERT_EQ(p.exit_code, -1) << p.err;
    EXPECT_EQ(p.cmd.args["vip"], "vips");
}

TEST(Parse, CommandTreeListsEveryCommand) {
    CommandNode t = command_tree();
    std::vector<std::string> top;
    for (const auto& c : t.children) top.push_back(c.name);
    EXPECT_EQ(top, (std::vector<std::string>{"show", "route", "backend", "reload", "capture"}));
    EXPECT_EQ(t.children[0].children.size(), 12u);
    bool json = false;
    for (const auto& o : t.options) json = json || o == "--json";
    EXPECT_TRUE(json);
}

}  // namespace
}  // namespace sluice::cli
