// The control side's config sections, `control:` and `vips[].health`
// (docs/config.md): every field read with its default, every typing error
// and every rule with its message and line, through parse_config, and
// validate() on a Config built in code (model paths).
#include <gtest/gtest.h>

#include <string>

#include "config/control.hpp"
#include "config/load.hpp"
#include "tests/unit/config/helpers.hpp"

namespace sluice::config {
namespace {

using cfgtest::HasError;
using cfgtest::kFirstFreeLine;
using cfgtest::load;
using cfgtest::Loads;
using cfgtest::OnlyError;
using cfgtest::with_ports;
using Type = HealthCheckConfig::Type;

// "control:" on line 8, its fields from line 9 (one per line).
constexpr int kControlLine = kFirstFreeLine;  // 8
constexpr int kCtl = kFirstFreeLine + 1;      // 9: the first field

std::string control(const std::string& fields) { return with_ports("control:\n" + fields); }

// One VIP with a port (unless vip_port is empty) and a health check:
//   8  vips:
//   9    - name: web
//  10      address: 198.18.100.1
//  11      port: 80
//  12      health:
//  13..      `health`, one field per line (k lines)
//  13+k    backends:
//  14+k      - address: 198.18.2.10
constexpr int kHealthLine = kFirstFreeLine + 4;  // 12
constexpr int kH = kFirstFreeLine + 5;           // 13: the first health field

std::string vip_health(const std::string& health, const std::string& vip_port = "80",
                       const std::string& backend = "      - address: 198.18.2.10\n") {
    return with_ports("vips:\n  - name: web\n    address: 198.18.100.1\n    port: " + vip_port +
                      "\n    health:\n" + health + "    backends:\n" + backend);
}

// ---- control: fields and defaults -------------------------------------------

TEST(ControlParse, DefaultsWithoutTheSection) {
    auto r = load(with_ports(""));
    ASSERT_TRUE(Loads(r));
    const ControlConfig& c = r.config().control;
    EXPECT_EQ(c.socket, "/run/sluice/dataplane.sock");
    EXPECT_EQ(c.cli_socket, "/run/sluice/control.sock");
    EXPECT_EQ(c.group, "");
    EXPECT_EQ(c.metrics, "127.0.0.1:9642");
    EXPECT_TRUE(c.cores.empty());
    EXPECT_EQ(c.max_message, 16u << 20);
}

TEST(ControlParse, EmptySectionMeansDefaults) {
    auto r = load(control(""));
    ASSERT_TRUE(Loads(r));
    EXPECT_EQ(r.config().control.socket, "/run/sluice/dataplane.sock");
    EXPECT_EQ(r.config().control.max_message, 16u << 20);
}

TEST(ControlParse, EveryFieldRead) {
    auto r = load(control("  socket: /var/run/sl/dp.sock\n"
                          "  cli_socket: /var/run/sl/ctl.sock\n"
                          "  group: sluice\n"
                          "  metrics: \"[::1]:9100\"\n"
                          "  cores: [2, 3, 0]\n"
                          "  max_message: 4096\n"));
    ASSERT_TRUE(Loads(r));
    const ControlConfig& c = r.config().control;
    EXPECT_EQ(c.socket, "/var/run/sl/dp.sock");
    EXPECT_EQ(c.cli_socket, "/var/run/sl/ctl.sock");
    EXPECT_EQ(c.group, "sluice");
    EXPECT_EQ(c.metrics, "[::1]:9100");
    EXPECT_EQ(c.cores, (std::vector<uint32_t>{2, 3, 0}));
    EXPECT_EQ(c.max_message, 4096u);
    EXPECT_EQ(c.mark.line, kCtl);
}

TEST(ControlParse, MetricsForms) {
    for (const char* ok : {"127.0.0.1:9642", "127.1.2.3:1", "\"[::1]:65535\"", "\"\"", "127.0.0.1:80"}) {
        auto r = load(control(std::string("  metrics: ") + ok + "\n"));
        EXPECT_TRUE(Loads(r)) << ok;
    }
    auto off = load(control("  metrics: \"\"\n"));
    ASSERT_TRUE(Loads(off));
    EXPECT_EQ(off.config().control.metrics, "");

    for (const char* bad : {"127.0.0.1", "\"::1:9642\"", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:080",
                            "localhost:9642", "\"[127.0.0.1]:80\"", "\"[::1]9642\"", "127.0.0.1:-1"}) {
        auto r = load(control(std::string("  metrics: ") + bad + "\n"));
        EXPECT_TRUE(OnlyError(r, "control.metrics", kCtl, "expected \"IP:port\" like 127.0.0.1:9642")) << bad;
    }
    for (const char* remote : {"0.0.0.0:9642", "198.18.1.1:9642", "\"[2001:db8::1]:80\"", "\"[::]:80\""}) {
        auto r = load(control(std::string("  metrics: ") + remote + "\n"));
        EXPECT_TRUE(OnlyError(r, "control.metrics", kCtl,
                              "is not a loopback address (127.0.0.0/8 or ::1); the endpoint has no authentication"))
            << remote;
    }
    auto null = load(control("  metrics:\n"));
    EXPECT_TRUE(OnlyError(null, "control.metrics", kCtl, "got nothing"));
}

TEST(ControlParse, CoresForms) {
    auto r = load(control("  cores: \"0-1,3\"\n"));
    ASSERT_TRUE(Loads(r));
    EXPECT_EQ(r.config().control.cores, (std::vector<uint32_t>{0, 1, 3}));
    r = load(control("  cores: 5\n"));
    ASSERT_TRUE(Loads(r));
    EXPECT_EQ(r.config().control.cores, (std::vector<uint32_t>{5}));
    r = load(control("  cores: 4-7\n"));
    ASSERT_TRUE(Loads(r));
    EXPECT_EQ(r.config().control.cores, (std::vector<uint32_t>{4, 5, 6, 7}));
    r = load(control("  cores: []\n"));
    ASSERT_TRUE(Loads(r));
    EXPECT_TRUE(r.config().control.cores.empty());
    r = load(control("  cores: [1023]\n"));
    ASSERT_TRUE(Loads(r));
}

TEST(ControlParse, CoresErrors) {
    struct Bad {
        const char* text;
        const char* why;
    } bad[] = {
        {"\"3-1\"", "runs backwards"},
        {"\"0,,1\"", "empty item"},
        {"\"a\"", "\"a\" is not a CPU number"},
        {"\"1-\"", "not a range"},
        {"\"0-2000\"", "goes above CPU 1023"},
        {"\"01\"", "not a CPU number"},
        {"\"\"", "empty"},
        {"\" 1\"", "not a CPU number"},
    };
    for (const auto& b : bad) {
        auto r = load(control(std::string("  cores: ") + b.text + "\n"));
        EXPECT_TRUE(OnlyError(r, "control.cores", kCtl, "expected a list of CPU numbers like [0, 1, 3] or a CPU list"))
            << b.text;
        EXPECT_TRUE(HasError(r, "control.cores", kCtl, b.why)) << b.text;
    }
    auto map = load(control("  cores: { a: 1 }\n"));
    EXPECT_TRUE(OnlyError(map, "control.cores", kCtl, "got a map"));
    auto neg = load(control("  cores: [0, -1]\n"));
    EXPECT_TRUE(OnlyError(neg, "control.cores[1]", kCtl, "expected a CPU number 0..1023, got \"-1\" (negative)"));
}

TEST(ControlRules, CoresRangeAndDuplicates) {
    auto r = load(control("  cores:\n"
                          "    - 1\n"
                          "    - 1024\n"
                          "    - 1\n"));
    EXPECT_TRUE(HasError(r, "control.cores[1]", kCtl + 2, "expected a CPU number 0..1023, got 1024"));
    EXPECT_TRUE(HasError(r, "control.cores[2]", kCtl + 3, "duplicate CPU 1 (first at cores[0])"));
    EXPECT_EQ(r.errors().size(), 2u) << r.error_text();
    // Duplicates in the string form are reported at the string.
    auto s = load(control("  cores: \"0-2,1\"\n"));
    EXPECT_TRUE(OnlyError(s, "control.cores", kCtl, "duplicate CPU 1 (first at cores[1])"));
}

TEST(ControlRules, SocketPaths) {
    auto rel = load(control("  socket: run/dp.sock\n"));
    EXPECT_TRUE(OnlyError(rel, "control.socket", kCtl,
                          "expected an absolute path like /run/sluice/dataplane.sock, got \"run/dp.sock\""));
    auto empty = load(control("  cli_socket: \"\"\n"));
    EXPECT_TRUE(OnlyError(empty, "control.cli_socket", kCtl, "expected an absolute path like /run/sluice/control.sock"));
    auto dir = load(control("  socket: /run/sluice/\n"));
    EXPECT_TRUE(OnlyError(dir, "control.socket", kCtl, "got a directory"));
    auto longp = load(control("  socket: /" + std::string(107, 'a') + "\n"));
    EXPECT_TRUE(OnlyError(longp, "control.socket", kCtl, "a Unix socket path has at most 107 bytes, got 108"));
    auto max = load(control("  socket: /" + std::string(106, 'a') + "\n"));
    EXPECT_TRUE(Loads(max));
    auto same = load(control("  socket: /run/x.sock\n  cli_socket: /run/x.sock\n"));
    EXPECT_TRUE(OnlyError(same, "control.cli_socket", kCtl + 1, "cli_socket must differ from socket"));
    // Equal to the other's default counts too.
    auto same_default = load(control("  cli_socket: /run/sluice/dataplane.sock\n"));
    EXPECT_TRUE(OnlyError(same_default, "control.cli_socket", kCtl, "cli_socket must differ from socket"));
    auto list = load(control("  socket: [a]\n"));
    EXPECT_TRUE(OnlyError(list, "control.socket", kCtl, "expected an absolute path like /run/sluice/dataplane.sock, got a list"));
}

TEST(ControlRules, Group) {
    auto g = load(control("  group: \"sluice ops\"\n"));
    EXPECT_TRUE(OnlyError(g, "control.group", kCtl, "expected a group name without spaces"));
    auto m = load(control("  group: { a: b }\n"));
    EXPECT_TRUE(OnlyError(m, "control.group", kCtl, "expected a group name, got a map"));
    // Not resolved at validation: an unknown group loads.
    EXPECT_TRUE(Loads(load(control("  group: no-such-group-here\n"))));
}

TEST(ControlRules, MaxMessage) {
    EXPECT_TRUE(Loads(load(control("  max_message: 4096\n"))));
    EXPECT_TRUE(Loads(load(control("  max_message: 268435456\n"))));
    auto lo = load(control("  max_message: 4095\n"));
    EXPECT_TRUE(OnlyError(lo, "control.max_message", kCtl,
                          "expected a whole number of bytes 4096..268435456 (4 KiB..256 MiB), got 4095"));
    auto hi = load(control("  max_message: 268435457\n"));
    EXPECT_TRUE(OnlyError(hi, "control.max_message", kCtl, "got 268435457"));
    auto neg = load(control("  max_message: -5\n"));
    EXPECT_TRUE(OnlyError(neg, "control.max_message", kCtl, "(negative)"));
    auto huge = load(control("  max_message: 99999999999\n"));
    EXPECT_TRUE(OnlyError(huge, "control.max_message", kCtl, "(too large)"));
}

TEST(ControlParse, UnknownAndDuplicateFields) {
    auto r = load(control("  sockt: /run/a.sock\n  socket: /run/b.sock\n  socket: /run/c.sock\n"));
    EXPECT_TRUE(HasError(r, "control.sockt", kCtl,
                         "unknown field \"sockt\" (did you mean \"socket\"?); expected one of: socket, cli_socket, "
                         "group, metrics, cores, max_message"));
    EXPECT_TRUE(HasError(r, "control.socket", kCtl + 2, "duplicate field \"socket\""));
    auto notmap = load(control("  - a\n"));
    EXPECT_TRUE(OnlyError(notmap, "control", kCtl, "expected a map with socket, cli_socket"));
    auto root = load(with_ports("contrl: {}\n"));
    EXPECT_TRUE(OnlyError(root, "contrl", kControlLine, "(did you mean \"control\"?)"));
}

TEST(ControlRules, AllErrorsReported) {
    auto r = load(control("  socket: a\n"
                          "  cli_socket: b\n"
                          "  metrics: 198.18.0.1:80\n"
                          "  cores: [1, 1]\n"
                          "  max_message: 1\n"));
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(HasError(r, "control.socket", kCtl, "absolute"));
    EXPECT_TRUE(HasError(r, "control.cli_socket", kCtl + 1, "absolute"));
    EXPECT_TRUE(HasError(r, "control.metrics", kCtl + 2, "loopback"));
    EXPECT_TRUE(HasError(r, "control.cores[1]", kCtl + 3, "duplicate CPU 1"));
    EXPECT_TRUE(HasError(r, "control.max_message", kCtl + 4, "4096..268435456"));
    EXPECT_EQ(r.errors().size(), 5u) << r.error_text();
    // Sorted by line, file:line:column: field: message.
    EXPECT_EQ(r.errors()[0].to_string().rfind("test.yaml:9:", 0), 0u) << r.errors()[0].to_string();
}

TEST(ControlValidate, ConfigBuiltInCode) {
    Config c;
    c.control.cli_socket = c.control.socket;
    c.control.metrics = "198.18.1.1:9642";
    c.control.max_message = 1;
    auto errs = validate(c);
    EXPECT_TRUE(HasError(errs, "control.cli_socket", 0, "must differ"));
    EXPECT_TRUE(HasError(errs, "control.metrics", 0, "loopback"));
    EXPECT_TRUE(HasError(errs, "control.max_message", 0, "4096"));
}

// ---- helpers shared with the control process -----------------------------------

TEST(ControlHelpers, HostPortAndLoopback) {
    auto a = parse_host_port("127.0.0.1:9642");
    ASSERT_TRUE(a);
    EXPECT_EQ(to_string(a->address), "127.0.0.1");
    EXPECT_EQ(a->port, 9642);
    auto b = parse_host_port("[::1]:80");
    ASSERT_TRUE(b);
    EXPECT_TRUE(b->address.is_v6());
    EXPECT_TRUE(is_loopback(b->address));
    EXPECT_TRUE(is_loopback(*parse_ip("127.255.0.1")));
    EXPECT_FALSE(is_loopback(*parse_ip("128.0.0.1")));
    EXPECT_FALSE(is_loopback(*parse_ip("::")));
    EXPECT_FALSE(is_loopback(*parse_ip("::2")));
    EXPECT_FALSE(is_loopback(*parse_ip("::ffff:127.0.0.1")));
    EXPECT_FALSE(parse_host_port(""));
    EXPECT_FALSE(parse_host_port(":80"));
    EXPECT_FALSE(parse_host_port("[::1]:"));
    EXPECT_FALSE(parse_host_port("[::1"));
}

TEST(ControlHelpers, CpuList) {
    std::vector<uint32_t> v;
    std::string why;
    ASSERT_TRUE(parse_cpu_list("0-1,3", &v, &why));
    EXPECT_EQ(v, (std::vector<uint32_t>{0, 1, 3}));
    ASSERT_TRUE(parse_cpu_list("1023", &v, &why));
    EXPECT_FALSE(parse_cpu_list("0-1,", &v, &why));
    EXPECT_FALSE(parse_cpu_list("4294967296", &v, &why));
    EXPECT_FALSE(parse_cpu_list("0-4294967295", &v, &why));
}

// ---- vips[].health ----------------------------------------------------------------

TEST(HealthParse, AbsentByDefault) {
    auto r = load(with_ports("vips:\n  - { name: web, address: 198.18.100.1, backends: [{ address: 198.18.2.10 }] }\n"));
    ASSERT_TRUE(Loads(r));
    EXPECT_FALSE(r.config().vips[0].health.has_value());
}

TEST(HealthParse, Defaults) {
    auto r = load(vip_health("      type: tcp\n"));
    ASSERT_TRUE(Loads(r));
    ASSERT_TRUE(r.config().vips[0].health.has_value());
    const HealthCheckConfig& h = *r.config().vips[0].health;
    EXPECT_EQ(h.type, Type::tcp);
    EXPECT_EQ(h.port, 0);
    EXPECT_EQ(h.interval_ms, 1000u);
    EXPECT_EQ(h.timeout_ms, 500u);
    EXPECT_EQ(h.rise, 2u);
    EXPECT_EQ(h.fall, 3u);
    EXPECT_EQ(h.jitter_ms, 0u);
    EXPECT_EQ(h.path, "/");
    EXPECT_EQ(h.host, "");
    EXPECT_EQ(h.expect_status, 200);
    EXPECT_EQ(h.send, "");
    EXPECT_EQ(h.expect, "");
    EXPECT_EQ(h.mark.line, kH);
}

TEST(HealthParse, HttpEveryField) {
    auto r = load(vip_health("      type: http\n"
                             "      port: 8080\n"
                             "      interval_ms: 10\n"
                             "      timeout_ms: 9\n"
                             "      rise: 100\n"
                             "      fall: 1\n"
                             "      jitter_ms: 60000\n"
                             "      path: /healthz?full=1\n"
                             "      host: www.example.com\n"
                             "      expect_status: 204\n"));
    ASSERT_TRUE(Loads(r));
    const HealthCheckConfig& h = *r.config().vips[0].health;
    EXPECT_EQ(h.type, Type::http);
    EXPECT_EQ(h.port, 8080);
    EXPECT_EQ(h.interval_ms, 10u);
    EXPECT_EQ(h.timeout_ms, 9u);
    EXPECT_EQ(h.rise, 100u);
    EXPECT_EQ(h.fall, 1u);
    EXPECT_EQ(h.jitter_ms, 60000u);
    EXPECT_EQ(h.path, "/healthz?full=1");
    EXPECT_EQ(h.host, "www.example.com");
    EXPECT_EQ(h.expect_status, 204);
}

TEST(HealthParse, UdpFieldsAndFlowStyle) {
    auto r = load(vip_health("      { type: udp, send: ping, expect: pong, port: 53 }\n"));
    ASSERT_TRUE(Loads(r));
    const HealthCheckConfig& h = *r.config().vips[0].health;
    EXPECT_EQ(h.type, Type::udp);
    EXPECT_EQ(h.send, "ping");
    EXPECT_EQ(h.expect, "pong");
    EXPECT_EQ(h.port, 53);
    auto any = load(vip_health("      type: udp\n      send: \"\\x01\"\n"));
    ASSERT_TRUE(Loads(any));
    EXPECT_EQ(any.config().vips[0].health->send, "\x01");
    EXPECT_EQ(any.config().vips[0].health->expect, "");
}

TEST(HealthParse, TypeRequiredAndNamed) {
    auto none = load(vip_health("      port: 80\n"));
    EXPECT_TRUE(OnlyError(none, "vips[0].health.type", kH, "required field \"type\" is missing; expected tcp, http or udp"));
    auto bad = load(vip_health("      type: icmp\n"));
    EXPECT_TRUE(OnlyError(bad, "vips[0].health.type", kH, "expected tcp, http or udp, got \"icmp\""));
    auto notmap = load(with_ports("vips:\n  - name: web\n    address: 198.18.100.1\n    health: tcp\n"
                                  "    backends: [{ address: 198.18.2.10 }]\n"));
    EXPECT_TRUE(OnlyError(notmap, "vips[0].health", 11, "expected a health check (a map with type"));
    auto empty = load(with_ports("vips:\n  - name: web\n    address: 198.18.100.1\n    health:\n"
                                 "    backends: [{ address: 198.18.2.10 }]\n"));
    EXPECT_TRUE(OnlyError(empty, "vips[0].health", 11, "got nothing"));
}

TEST(HealthParse, UnknownAndTypingErrors) {
    auto r = load(vip_health("      type: tcp\n"
                             "      intervall_ms: 100\n"
                             "      rise: two\n"
                             "      port: 65536\n"
                             "      timeout_ms: -1\n"));
    EXPECT_TRUE(HasError(r, "vips[0].health.intervall_ms", kH + 1,
                         "unknown field \"intervall_ms\" (did you mean \"interval_ms\"?); expected one of: type, port, "
                         "interval_ms, timeout_ms, rise, fall, jitter_ms, path, host, expect_status, send, expect"));
    EXPECT_TRUE(HasError(r, "vips[0].health.rise", kH + 2, "expected a whole number 1..100, got \"two\""));
    EXPECT_TRUE(HasError(r, "vips[0].health.port", kH + 3, "got \"65536\" (too large)"));
    EXPECT_TRUE(HasError(r, "vips[0].health.timeout_ms", kH + 4, "(negative)"));
    EXPECT_EQ(r.errors().size(), 4u) << r.error_text();
}

TEST(HealthParse, FieldsOfAnotherType) {
    auto tcp = load(vip_health("      type: tcp\n      path: /\n      send: x\n"));
    EXPECT_TRUE(HasError(tcp, "vips[0].health.path", kH + 1, "only for type http; this check's type is tcp"));
    EXPECT_TRUE(HasError(tcp, "vips[0].health.send", kH + 2, "only for type udp; this check's type is tcp"));
    EXPECT_EQ(tcp.errors().size(), 2u) << tcp.error_text();
    // The key order does not matter: type may come last.
    auto http = load(vip_health("      send: x\n      expect: y\n      type: http\n"));
    EXPECT_TRUE(HasError(http, "vips[0].health.send", kH, "only for type udp; this check's type is http"));
    EXPECT_TRUE(HasError(http, "vips[0].health.expect", kH + 1, "only for type udp"));
    auto udp = load(vip_health("      type: udp\n      send: x\n      host: a\n      expect_status: 200\n"));
    EXPECT_TRUE(HasError(udp, "vips[0].health.host", kH + 2, "only for type http; this check's type is udp"));
    EXPECT_TRUE(HasError(udp, "vips[0].health.expect_status", kH + 3, "only for type http"));
    EXPECT_EQ(udp.errors().size(), 2u) << udp.error_text();
}

struct RangeCase {
    const char* field;
    const char* value;
    const char* message;
};

TEST(HealthRules, Ranges) {
    const RangeCase cases[] = {
        {"interval_ms", "9", "expected a whole number of milliseconds >= 10, got 9"},
        {"timeout_ms", "0", "expected a whole number of milliseconds >= 1, got 0"},
        {"rise", "0", "expected a whole number 1..100, got 0"},
        {"rise", "101", "expected a whole number 1..100, got 101"},
        {"fall", "0", "expected a whole number 1..100, got 0"},
        {"fall", "101", "expected a whole number 1..100, got 101"},
        {"jitter_ms", "60001", "expected a whole number of milliseconds 0..60000, got 60001"},
    };
    for (const auto& c : cases) {
        auto r = load(vip_health(std::string("      type: tcp\n      ") + c.field + ": " + c.value + "\n"));
        EXPECT_TRUE(OnlyError(r, std::string("vips[0].health.") + c.field, kH + 1, c.message)) << c.field;
    }
    EXPECT_TRUE(Loads(load(vip_health("      type: tcp\n      jitter_ms: 0\n"))));
}

TEST(HealthRules, TimeoutBelowInterval) {
    auto eq = load(vip_health("      type: tcp\n      interval_ms: 500\n      timeout_ms: 500\n"));
    EXPECT_TRUE(OnlyError(eq, "vips[0].health.timeout_ms", kH + 2,
                          "timeout_ms (500) must be less than interval_ms (500)"));
    // Against the default interval (1000) when only the timeout is written.
    auto def = load(vip_health("      type: tcp\n      timeout_ms: 1000\n"));
    EXPECT_TRUE(OnlyError(def, "vips[0].health.timeout_ms", kH + 1, "must be less than interval_ms (1000)"));
    // And the default timeout (500) against a short interval, reported at the interval's... timeout path.
    auto short_interval = load(vip_health("      type: tcp\n      interval_ms: 100\n"));
    EXPECT_TRUE(OnlyError(short_interval, "vips[0].health.timeout_ms", kH,
                          "timeout_ms (500) must be less than interval_ms (100)"));
}

TEST(HealthRules, Http) {
    auto rel = load(vip_health("      type: http\n      path: healthz\n"));
    EXPECT_TRUE(OnlyError(rel, "vips[0].health.path", kH + 1, "expected an HTTP path starting with \"/\""));
    auto space = load(vip_health("      type: http\n      path: \"/a b\"\n"));
    EXPECT_TRUE(OnlyError(space, "vips[0].health.path", kH + 1, "got \"/a b\""));
    auto crlf = load(vip_health("      type: http\n      host: \"a\\r\\nX: y\"\n"));
    EXPECT_TRUE(OnlyError(crlf, "vips[0].health.host", kH + 1, "expected a host name without spaces or control"));
    auto lo = load(vip_health("      type: http\n      expect_status: 99\n"));
    EXPECT_TRUE(OnlyError(lo, "vips[0].health.expect_status", kH + 1, "expected an HTTP status code 100..599, got 99"));
    auto hi = load(vip_health("      type: http\n      expect_status: 600\n"));
    EXPECT_TRUE(OnlyError(hi, "vips[0].health.expect_status", kH + 1, "got 600"));
    auto big = load(vip_health("      type: http\n      expect_status: 70000\n"));
    EXPECT_TRUE(OnlyError(big, "vips[0].health.expect_status", kH + 1, "(too large)"));
    EXPECT_TRUE(Loads(load(vip_health("      type: http\n      expect_status: 100\n"))));
    EXPECT_TRUE(Loads(load(vip_health("      type: http\n      expect_status: 599\n"))));
}

TEST(HealthRules, UdpNeedsSend) {
    auto none = load(vip_health("      type: udp\n"));
    EXPECT_TRUE(OnlyError(none, "vips[0].health.send", kH, "type udp needs send"));
    auto empty = load(vip_health("      type: udp\n      send: \"\"\n"));
    EXPECT_TRUE(OnlyError(empty, "vips[0].health.send", kH + 1, "type udp needs send"));
}

TEST(HealthRules, PortRequiredForAllPortsVip) {
    auto r = load(vip_health("      type: tcp\n", "0"));
    EXPECT_TRUE(OnlyError(r, "vips[0].health.port", kH, "required when the VIP serves every port"));
    EXPECT_TRUE(HasError(r, "vips[0].health.port", kH, "backends[0] (198.18.2.10)"));
    EXPECT_TRUE(Loads(load(vip_health("      type: tcp\n      port: 8080\n", "0"))));
    EXPECT_TRUE(Loads(load(vip_health("      type: tcp\n", "443"))));
    // health.port 0 written is the same as left out.
    auto zero = load(vip_health("      type: tcp\n      port: 0\n", "0"));
    EXPECT_TRUE(OnlyError(zero, "vips[0].health.port", kH + 1, "required when the VIP serves every port"));
}

TEST(HealthRules, IndexOfTheVip) {
    auto r = load(with_ports("vips:\n"
                             "  - { name: a, address: 198.18.100.1, port: 80, backends: [{ address: 198.18.2.10 }] }\n"
                             "  - name: b\n"
                             "    address: 198.18.100.2\n"
                             "    port: 80\n"
                             "    health: { type: tcp, rise: 0 }\n"
                             "    backends: [{ address: 198.18.2.11 }]\n"));
    EXPECT_TRUE(OnlyError(r, "vips[1].health.rise", 13, "expected a whole number 1..100, got 0"));
}

TEST(HealthValidate, ConfigBuiltInCode) {
    Config c;
    VipConfig v;
    v.name = "web";
    v.key.address = *parse_ip("198.18.100.1");
    v.key.port = 80;
    v.backends.push_back(api::Backend{*parse_ip("198.18.2.10"), 0, 1, api::BackendState::up});
    PortConfig p;
    p.name = "p0";
    p.device = "net_null0";
    p.addresses = {*parse_prefix("198.18.2.1/24")};
    c.ports.push_back(p);
    HealthCheckConfig h;
    h.type = Type::tcp;
    h.path = "/x";
    h.send = "ping";
    h.timeout_ms = 2000;
    v.health = h;
    c.vips.push_back(v);
    auto errs = validate(c);
    EXPECT_TRUE(HasError(errs, "vips[0].health.path", 0, "only for type http"));
    EXPECT_TRUE(HasError(errs, "vips[0].health.send", 0, "only for type udp"));
    EXPECT_TRUE(HasError(errs, "vips[0].health.timeout_ms", 0, "must be less than interval_ms (1000)"));
    EXPECT_EQ(errs.size(), 3u);
}

}  // namespace
}  // namespace sluice::config
