// The load balancer's config sections, `lb:` and `vips:` (docs/config.md):
// every field read with its default, every typing error and every rule with
// its message and line, through parse_config, and validate() on a Config
// built in code (model paths, the VIP's SourceMark).
#include <gtest/gtest.h>

#include <string>

#include "config/load.hpp"
#include "config/rules.hpp"
#include "tests/unit/config/helpers.hpp"

namespace sluice::config {
namespace {

using api::BackendState;
using api::DownRule;
using api::LbHash;
using api::LbMode;
using api::LbProto;
using cfgtest::HasError;
using cfgtest::kFirstFreeLine;
using cfgtest::load;
using cfgtest::Loads;
using cfgtest::OnlyError;
using cfgtest::with_ports;

using cfgtest::ip;
using cfgtest::pfx;

// The two ports of helpers.hpp (p0: 198.18.1.1/24 and 2001:db8:1::1/64,
// p1: 198.18.2.1/24 and 2001:db8:2::1/64), then one VIP:
//   8  vips:
//   9    - name: web
//  10      address: 198.18.100.1
//  11..    `fields`, one per line (k lines)
//  11+k    backends:
//  12+k      - address: 198.18.2.10      (each of `backends`, one line each)
constexpr int kVipLine = kFirstFreeLine + 1;     // 9: "- name: web"
constexpr int kAddressLine = kFirstFreeLine + 2;  // 10
constexpr int kFieldLine = kFirstFreeLine + 3;    // 11: the first extra field

std::string one_vip(const std::string& fields = "", const std::string& backends = "      - address: 198.18.2.10\n",
                    const std::string& address = "198.18.100.1") {
    return with_ports("vips:\n  - name: web\n    address: " + address + "\n" + fields + "    backends:\n" + backends);
}

// A whole VIP list item (for configs with several VIPs), in flow style: one line.
std::string item(const std::string& name, const std::string& address, const std::string& rest,
                 const std::string& backends = "[{ address: 198.18.2.10 }]") {
    return "  - { name: " + name + ", address: \"" + address + "\", " + rest + (rest.empty() ? "" : ", ") +
           "backends: " + backends + " }\n";
}

// ---- parsing: fields and defaults ----------------------------------------

TEST(LbParse, DefaultsWithoutTheSections) {
    auto r = load(with_ports(""));
    ASSERT_TRUE(Loads(r));
    const Config& c = r.config();
    EXPECT_TRUE(c.vips.empty());
    EXPECT_EQ(c.lb, api::LbSettings{});
    EXPECT_EQ(c.lb.flow_table_size, 1048576u);
    EXPECT_EQ(c.lb.tcp_timeout_s, 300u);
    EXPECT_EQ(c.lb.tcp_closing_timeout_s, 10u);
    EXPECT_EQ(c.lb.udp_timeout_s, 30u);
    EXPECT_EQ(c.lb.new_flow_rate, 1000000u);
    EXPECT_EQ(c.lb.new_flow_burst, 10000u);
}

TEST(LbParse, EmptySectionsMeanDefaults) {
    auto r = load(with_ports("lb:\nvips:\n"));
    ASSERT_TRUE(Loads(r));
    EXPECT_TRUE(r.config().vips.empty());
    EXPECT_EQ(r.config().lb, api::LbSettings{});
}

TEST(LbParse, VipDefaults) {
    auto r = load(one_vip());
    ASSERT_TRUE(Loads(r));
    ASSERT_EQ(r.config().vips.size(), 1u);
    const VipConfig& v = r.config().vips[0];
    EXPECT_EQ(v.name, "web");
    EXPECT_EQ(v.key.address, ip("198.18.100.1"));
    EXPECT_EQ(v.key.proto, LbProto::tcp);
    EXPECT_EQ(v.key.port, 0) << "all ports";
    EXPECT_EQ(v.mode, LbMode::l2_dsr);
    EXPECT_EQ(v.table_size, 65537u);
    EXPECT_EQ(v.hash, LbHash::five_tuple);
    EXPECT_EQ(v.on_down, DownRule::reschedule);
    EXPECT_TRUE(v.encap_source.empty());
    EXPECT_EQ(v.gue_port, 9886);
    EXPECT_FALSE(v.gue_port_set);
    EXPECT_EQ(v.mark.line, kVipLine);
    ASSERT_EQ(v.backends.size(), 1u);
    const api::Backend& b = v.backends[0];
    EXPECT_EQ(b.address, ip("198.18.2.10"));
    EXPECT_EQ(b.port, 0) << "keep the packet's port";
    EXPECT_EQ(b.weight, 1u);
    EXPECT_EQ(b.state, BackendState::up);
}

TEST(LbParse, EveryFieldRead) {
    auto r = load(with_ports(
        "lb:\n"
        "  flow_table_size: 2048\n"
        "  tcp_timeout: 600\n"
        "  tcp_closing_timeout: 5\n"
        "  udp_timeout: 60\n"
        "  new_flow_rate: 0\n"
        "  new_flow_burst: 100000000\n"
        "vips:\n"
        "  - name: Dns.v6_1\n"
        "    address: \"2001:db8:100::53\"\n"
        "    protocol: udp\n"
        "    port: 53\n"
        "    mode: gue\n"
        "    table_size: 251\n"
        "    hash: addresses\n"
        "    on_backend_down: drop\n"
        "    encap_source: [\"198.18.250.0/24\", \"2001:db8:250::/64\"]\n"
        "    gue_port: 6080\n"
        "    backends:\n"
        "      - { address: 198.19.7.1, weight: 0, state: drain }\n"
        "      - { address: \"2001:db8:7::1\", weight: 10000, state: down }\n"
        "  - name: api\n"
        "    address: 198.18.100.2\n"
        "    protocol: both\n"
        "    port: 443\n"
        "    mode: nat\n"
        "    backends:\n"
        "      - { address: 198.18.2.20, port: 8443, weight: 3 }\n"
        "      - { address: 198.18.2.21 }\n"));
    ASSERT_TRUE(Loads(r));
    const Config& c = r.config();
    EXPECT_EQ(c.lb.flow_table_size, 2048u);
    EXPECT_EQ(c.lb.tcp_timeout_s, 600u);
    EXPECT_EQ(c.lb.tcp_closing_timeout_s, 5u);
    EXPECT_EQ(c.lb.udp_timeout_s, 60u);
    EXPECT_EQ(c.lb.new_flow_rate, 0u);
    EXPECT_EQ(c.lb.new_flow_burst, 100000000u);
    ASSERT_EQ(c.vips.size(), 2u);
    const VipConfig& d = c.vips[0];
    EXPECT_EQ(d.name, "Dns.v6_1");
    EXPECT_EQ(d.key.address, ip("2001:db8:100::53"));
    EXPECT_EQ(d.key.proto, LbProto::udp);
    EXPECT_EQ(d.key.port, 53);
    EXPECT_EQ(d.mode, LbMode::gue);
    EXPECT_EQ(d.table_size, 251u);
    EXPECT_EQ(d.hash, LbHash::addresses);
    EXPECT_EQ(d.on_down, DownRule::drop);
    EXPECT_EQ(d.encap_source, (std::vector<Prefix>{pfx("198.18.250.0/24"), pfx("2001:db8:250::/64")}));
    EXPECT_EQ(d.gue_port, 6080);
    EXPECT_TRUE(d.gue_port_set);
    ASSERT_EQ(d.backends.size(), 2u);
    EXPECT_EQ(d.backends[0].address, ip("198.19.7.1"));
    EXPECT_EQ(d.backends[0].weight, 0u);
    EXPECT_EQ(d.backends[0].state, BackendState::drain);
    EXPECT_EQ(d.backends[1].weight, 10000u);
    EXPECT_EQ(d.backends[1].state, BackendState::down);
    const VipConfig& a = c.vips[1];
    EXPECT_EQ(a.key.proto, LbProto::both);
    EXPECT_EQ(a.key.port, 443);
    EXPECT_EQ(a.mode, LbMode::nat);
    EXPECT_EQ(a.backends[0].port, 8443);
    EXPECT_EQ(a.backends[0].weight, 3u);
    EXPECT_EQ(a.backends[1].port, 0);
}

TEST(LbParse, EnumSpellings) {
    auto proto = [](const char* p) {
        auto r = load(one_vip(std::string("    protocol: ") + p + "\n"));
        return r.ok() ? r.config().vips[0].key.proto : LbProto(0);
    };
    EXPECT_EQ(proto("tcp"), LbProto::tcp);
    EXPECT_EQ(proto("udp"), LbProto::udp);
    EXPECT_EQ(proto("both"), LbProto::both);
    auto mode = [](const char* m, const char* extra) {
        auto r = load(one_vip(std::string("    mode: ") + m + "\n" + extra));
        EXPECT_TRUE(Loads(r)) << m;
        return r.ok() ? r.config().vips[0].mode : LbMode(99);
    };
    EXPECT_EQ(mode("l2_dsr", ""), LbMode::l2_dsr);
    EXPECT_EQ(mode("ipip", "    encap_source: 198.18.250.0/24\n"), LbMode::ipip);
    EXPECT_EQ(mode("gue", "    encap_source: 198.18.250.0/24\n"), LbMode::gue);
    EXPECT_EQ(mode("nat", ""), LbMode::nat);
    auto r = load(one_vip("    hash: 5-tuple\n    on_backend_down: reschedule\n",
                          "      - { address: 198.18.2.10, state: up }\n"));
    ASSERT_TRUE(Loads(r));
    EXPECT_EQ(r.config().vips[0].hash, LbHash::five_tuple);
    EXPECT_EQ(r.config().vips[0].on_down, DownRule::reschedule);
    EXPECT_EQ(r.config().vips[0].backends[0].state, BackendState::up);
}

TEST(LbParse, EncapSourceOneOrAList) {
    auto one = load(one_vip("    mode: ipip\n    encap_source: 198.18.250.0/24\n"));
    ASSERT_TRUE(Loads(one));
    EXPECT_EQ(one.config().vips[0].encap_source, std::vector<Prefix>{pfx("198.18.250.0/24")});
    auto list = load(one_vip("    mode: ipip\n    encap_source: [\"2001:db8:250::/64\", 198.18.250.0/24]\n"));
    ASSERT_TRUE(Loads(list));
    EXPECT_EQ(list.config().vips[0].encap_source.size(), 2u);
}

TEST(LbParse, IpipCrossesFamilies) {
    // An IPv6 backend behind an IPv4 VIP and the reverse: IPv6-in-IPv6 /
    // IPv4-in-IPv4 outer headers with the backend's family.
    auto r = load(with_ports("vips:\n" +
                             item("v4", "198.18.100.1", "mode: ipip, encap_source: [198.18.250.0/24, \"2001:db8:250::/64\"]",
                                  "[{ address: \"2001:db8:7::1\" }, { address: 198.19.7.1 }]") +
                             item("v6", "2001:db8:100::1", "mode: gue, encap_source: 198.18.250.0/24",
                                  "[{ address: 198.19.7.1 }]")));
    EXPECT_TRUE(Loads(r));
}

TEST(LbParse, ConfigWithVipsAndRoutesLoads) {
    auto r = load(with_ports("routes:\n  - { prefix: 198.19.0.0/16, via: 198.18.2.2 }\n"
                             "  - { prefix: 198.18.100.0/24, via: 198.18.2.2 }\n"  // covers, not equal to, the VIP
                             "vips:\n" +
                             item("web", "198.18.100.1", "port: 80") + item("web-all", "198.18.100.1", "") +
                             item("web-udp", "198.18.100.1", "protocol: udp, port: 80") +
                             item("six", "2001:db8:100::1", "port: 80", "[{ address: \"2001:db8:2::10\" }]")));
    EXPECT_TRUE(Loads(r)) << "an all-ports VIP beside a one-port VIP, tcp beside udp";
}

// ---- typing errors --------------------------------------------------------

TEST(LbTyping, UnknownFieldsSuggestTheSpelling) {
    auto lb = load(with_ports("lb:\n  tcp_timout: 30\n"));
    EXPECT_TRUE(OnlyError(lb, "lb.tcp_timout", kFirstFreeLine + 1,
                          "unknown field \"tcp_timout\" (did you mean \"tcp_timeout\"?); expected one of: "
                          "flow_table_size, tcp_timeout, tcp_closing_timeout, udp_timeout, new_flow_rate, "
                          "new_flow_burst"));
    auto vip = load(one_vip("    protcol: udp\n"));
    EXPECT_TRUE(OnlyError(vip, "vips[0].protcol", kFieldLine,
                          "unknown field \"protcol\" (did you mean \"protocol\"?); expected one of: name, address, "
                          "protocol, port, mode, table_size, hash, on_backend_down, encap_source, gue_port, backends"));
    auto backend = load(one_vip("", "      - { address: 198.18.2.10, wieght: 2 }\n"));
    EXPECT_TRUE(OnlyError(backend, "vips[0].backends[0].wieght", kFieldLine + 1,
                          "unknown field \"wieght\" (did you mean \"weight\"?); expected one of: address, port, weight, "
                          "state"));
    auto top = load(with_ports("vip:\n"));
    EXPECT_TRUE(OnlyError(top, "vip", kFirstFreeLine, "(did you mean \"vips\"?)"));
    auto none = load(one_vip("    colour: red\n"));
    EXPECT_TRUE(OnlyError(none, "vips[0].colour", kFieldLine, "unknown field \"colour\"; expected one of: name"));
}

TEST(LbTyping, DuplicateFields) {
    auto r = load(one_vip("    port: 80\n    port: 81\n"));
    EXPECT_TRUE(OnlyError(r, "vips[0].port", kFieldLine + 1, "duplicate field \"port\" (first set on line 11)"));
    auto l = load(with_ports("lb:\n  udp_timeout: 1\n  udp_timeout: 2\n"));
    EXPECT_TRUE(OnlyError(l, "lb.udp_timeout", kFirstFreeLine + 2, "duplicate field \"udp_timeout\" (first set on line 9)"));
}

TEST(LbTyping, RequiredFields) {
    auto r = load(with_ports("vips:\n  - { name: a, address: 198.18.100.1 }\n"
                             "  - { name: b, backends: [{ address: 198.18.2.10 }] }\n"
                             "  - { address: 198.18.100.3, backends: [{ port: 80 }] }\n"));
    EXPECT_TRUE(HasError(r, "vips[0].backends", kFirstFreeLine + 1,
                         "required field \"backends\" is missing; expected a list of backends like"));
    EXPECT_TRUE(HasError(r, "vips[1].address", kFirstFreeLine + 2,
                         "required field \"address\" is missing; expected an IPv4 or IPv6 address like 198.18.100.1"));
    EXPECT_TRUE(HasError(r, "vips[2].name", kFirstFreeLine + 3,
                         "required field \"name\" is missing; expected a VIP name like web"));
    EXPECT_TRUE(HasError(r, "vips[2].backends[0].address", kFirstFreeLine + 3,
                         "required field \"address\" is missing; expected an IPv4 or IPv6 address like 198.18.2.10"));
    EXPECT_EQ(r.errors().size(), 4u) << r.error_text();
}

TEST(LbTyping, EnumValues) {
    struct Case {
        const char* field;
        const char* value;
        const char* message;
    } cases[] = {
        {"protocol", "sctp", "expected tcp, udp or both, got \"sctp\""},
        {"protocol", "TCP", "expected tcp, udp or both, got \"TCP\""},
        {"mode", "dsr", "expected l2_dsr, ipip, gue or nat, got \"dsr\""},
        {"hash", "5tuple", "expected 5-tuple or addresses, got \"5tuple\""},
        {"on_backend_down", "ignore", "expected reschedule or drop, got \"ignore\""},
        {"protocol", "[tcp]", "expected tcp, udp or both, got a list"},
    };
    for (const auto& c : cases) {
        auto r = load(one_vip(std::string("    ") + c.field + ": " + c.value + "\n"));
        EXPECT_TRUE(OnlyError(r, std::string("vips[0].") + c.field, kFieldLine, c.message)) << c.field << c.value;
    }
    auto s = load(one_vip("", "      - { address: 198.18.2.10, state: sick }\n"));
    EXPECT_TRUE(OnlyError(s, "vips[0].backends[0].state", kFieldLine + 1, "expected up, drain or down, got \"sick\""));
}

TEST(LbTyping, Numbers) {
    EXPECT_TRUE(OnlyError(load(one_vip("    port: 65536\n")), "vips[0].port", kFieldLine,
                          "expected a whole number 0..65535 (0: all ports), got \"65536\" (too large)"));
    EXPECT_TRUE(OnlyError(load(one_vip("    port: http\n")), "vips[0].port", kFieldLine,
                          "expected a whole number 0..65535 (0: all ports), got \"http\""));
    EXPECT_TRUE(OnlyError(load(one_vip("    table_size: -7\n")), "vips[0].table_size", kFieldLine,
                          "expected a prime number 3..1000003, got \"-7\" (negative)"));
    EXPECT_TRUE(OnlyError(load(one_vip("    mode: gue\n    encap_source: 198.18.250.0/24\n    gue_port: 99999\n")),
                          "vips[0].gue_port", kFieldLine + 2, "expected a whole number 1..65535, got \"99999\" (too large)"));
    EXPECT_TRUE(OnlyError(load(one_vip("", "      - { address: 198.18.2.10, weight: heavy }\n")),
                          "vips[0].backends[0].weight", kFieldLine + 1, "expected a whole number 0..10000, got \"heavy\""));
    EXPECT_TRUE(OnlyError(load(with_ports("lb:\n  tcp_timeout: -1\n")), "lb.tcp_timeout", kFirstFreeLine + 1,
                          "expected a whole number of seconds 1..86400, got \"-1\" (negative)"));
    EXPECT_TRUE(OnlyError(load(with_ports("lb:\n  flow_table_size: 4294967296\n")), "lb.flow_table_size",
                          kFirstFreeLine + 1, "expected a whole number 1024..67108864, got \"4294967296\" (too large)"));
}

TEST(LbTyping, BackendPortZeroIsAnError) {
    auto r = load(one_vip("    mode: nat\n    port: 80\n", "      - { address: 198.18.2.10, port: 0 }\n"));
    EXPECT_TRUE(OnlyError(r, "vips[0].backends[0].port", kFieldLine + 3,
                          "expected a whole number 1..65535, got \"0\" (leave port out to keep the packet's "
                          "destination port)"));
}

TEST(LbTyping, Addresses) {
    EXPECT_TRUE(OnlyError(load(one_vip("", "      - address: 198.18.2.300\n")), "vips[0].backends[0].address",
                          kFieldLine + 1, "expected an IPv4 or IPv6 address like 198.18.1.2 or 2001:db8:1::2, got"));
    EXPECT_TRUE(OnlyError(load(one_vip("", "      - address: 198.18.2.10\n", "198.18.100.1/32")), "vips[0].address",
                          kAddressLine, "expected an IPv4 or IPv6 address"));
    EXPECT_TRUE(OnlyError(load(one_vip("    mode: ipip\n    encap_source: 198.18.250.0\n")), "vips[0].encap_source",
                          kFieldLine + 1,
                          "expected a prefix like 198.18.250.0/24 or 2001:db8:250::/64, got \"198.18.250.0\" "
                          "(missing \"/length\")"));
    EXPECT_TRUE(OnlyError(load(one_vip("    mode: ipip\n    encap_source: [198.18.250.0/24, 198.18.251.0/33]\n")),
                          "vips[0].encap_source[1]", kFieldLine + 1, "(IPv4 prefix length must be 0..32)"));
    EXPECT_TRUE(OnlyError(load(one_vip("    mode: ipip\n    encap_source: { v4: 198.18.250.0/24 }\n")),
                          "vips[0].encap_source", kFieldLine + 1,
                          "expected a prefix like 198.18.250.0/24 or 2001:db8:250::/64 or a list of them (at most "
                          "one per family), got a map"));
}

TEST(LbTyping, Shapes) {
    EXPECT_TRUE(OnlyError(load(with_ports("vips:\n  name: web\n")), "vips", kFirstFreeLine + 1,
                          "expected a list of VIPs (each item starting with \"- name:\"), got a map"));
    EXPECT_TRUE(OnlyError(load(with_ports("lb: 5\n")), "lb", kFirstFreeLine,
                          "expected a map with flow_table_size, tcp_timeout"));
    EXPECT_TRUE(OnlyError(load(with_ports("vips:\n  - web\n")), "vips[0]", kFirstFreeLine + 1,
                          "expected a VIP (a map with name, address, backends, ...), got \"web\""));
    EXPECT_TRUE(OnlyError(load(one_vip("", "      - 198.18.2.10\n")), "vips[0].backends[0]", kFieldLine + 1,
                          "expected a backend (a map with address, and port, weight, state), got \"198.18.2.10\""));
    EXPECT_TRUE(OnlyError(load(with_ports("vips:\n  - { name: a, address: 198.18.100.1, backends: 198.18.2.10 }\n")),
                          "vips[0].backends", kFirstFreeLine + 1,
                          "expected a list of backends (each item starting with \"- address:\"), got \"198.18.2.10\""));
}

// ---- rules: lb settings -----------------------------------------------------

TEST(LbRules, SettingRanges) {
    struct Case {
        const char* field;
        const char* value;
        const char* message;
    } cases[] = {
        {"flow_table_size", "1023", "expected a whole number 1024..67108864, got 1023"},
        {"flow_table_size", "67108865", "expected a whole number 1024..67108864, got 67108865"},
        {"tcp_timeout", "0", "expected a whole number of seconds 1..86400, got 0"},
        {"tcp_timeout", "86401", "expected a whole number of seconds 1..86400, got 86401"},
        {"tcp_closing_timeout", "0", "expected a whole number of seconds 1..86400, got 0"},
        {"udp_timeout", "100000", "expected a whole number of seconds 1..86400, got 100000"},
        {"new_flow_burst", "0", "expected a whole number 1..100000000, got 0"},
        {"new_flow_burst", "100000001", "expected a whole number 1..100000000, got 100000001"},
    };
    for (const auto& c : cases) {
        auto r = load(with_ports(std::string("lb:\n  ") + c.field + ": " + c.value + "\n"));
        EXPECT_TRUE(OnlyError(r, std::string("lb.") + c.field, kFirstFreeLine + 1, c.message));
    }
    EXPECT_TRUE(Loads(load(with_ports("lb: { flow_table_size: 1024, tcp_timeout: 86400, new_flow_rate: 4294967295 }\n"))));
    EXPECT_TRUE(Loads(load(with_ports("lb: { flow_table_size: 67108864, udp_timeout: 1, new_flow_burst: 1 }\n"))));
}

// ---- rules: one VIP -----------------------------------------------------------

TEST(VipRules, NameSyntaxAndUniqueness) {
    for (const char* bad : {"\"\"", "web/1", "\"a b\"", "abcdefghijklmnopqrstuvwxyzABCDEFG"}) {
        auto r = load(with_ports(std::string("vips:\n  - name: ") + bad +
                                 "\n    address: 198.18.100.1\n    backends: [{ address: 198.18.2.10 }]\n"));
        EXPECT_TRUE(OnlyError(r, "vips[0].name", kVipLine,
                              "expected a name of 1..32 characters from A-Z, a-z, 0-9, '_', '.' and '-', got"))
            << bad;
    }
    EXPECT_TRUE(Loads(load(with_ports("vips:\n" + item("abcdefghijklmnopqrstuvwxyzABCDEF", "198.18.100.1", "") +
                                      item("A.b_c-9", "198.18.100.2", "")))));
    auto dup = load(with_ports("vips:\n" + item("web", "198.18.100.1", "") + item("web", "198.18.100.2", "")));
    EXPECT_TRUE(OnlyError(dup, "vips[1].name", kFirstFreeLine + 2,
                          "duplicate VIP name \"web\" (first at vips[0] (web, line 9))"));
}

TEST(VipRules, AddressMustBeUnicastAndRoutable) {
    struct Case {
        const char* address;
        const char* message;
    } cases[] = {
        {"0.0.0.0", "VIP address 0.0.0.0 is the unspecified address; expected a unicast address"},
        {"0.1.2.3", "VIP address 0.1.2.3 is in 0.0.0.0/8 (\"this network\"); expected a unicast address"},
        {"127.0.0.1", "VIP address 127.0.0.1 is a loopback address (127.0.0.0/8); expected a unicast address"},
        {"224.0.0.9", "VIP address 224.0.0.9 is a multicast address (224.0.0.0/4); expected a unicast address"},
        {"255.255.255.255", "VIP address 255.255.255.255 is the limited broadcast address; expected a unicast address"},
        {"\"::\"", "VIP address :: is the unspecified address"},
        {"\"::1\"", "VIP address ::1 is the loopback address"},
        {"\"ff02::1\"", "VIP address ff02::1 is a multicast address (ff00::/8)"},
        {"169.254.1.1",
         "VIP address 169.254.1.1 is link-local (169.254.0.0/16); expected an address that can be routed to this "
         "balancer"},
        {"\"fe80::1\"", "VIP address fe80::1 is link-local (fe80::/10)"},
        {"198.18.2.1",
         "VIP address 198.18.2.1 is this router's own address (ports[1].addresses[0] on port p1); a VIP needs an "
         "address of its own"},
    };
    for (const auto& c : cases) {
        auto r = load(one_vip("", "      - address: 198.18.2.10\n", c.address));
        EXPECT_TRUE(HasError(r, "vips[0].address", kAddressLine, c.message)) << c.address;
        // Nothing else: a VIP whose address is refused is not checked for
        // its backends' family.
        if (!r.ok()) {
            EXPECT_EQ(r.errors().size(), 1u) << r.error_text();
        }
    }
}

TEST(VipRules, NoHostRouteForAVipAddress) {
    auto r = load(with_ports("routes:\n"
                             "  - { prefix: 198.18.100.1/32, via: 198.18.2.2 }\n"   // 9
                             "  - { prefix: 198.18.100.0/24, via: 198.18.2.2 }\n"   // 10: fine
                             "  - { prefix: \"2001:db8:100::1/128\", via: \"2001:db8:2::2\" }\n"
                             "vips:\n"                                                // 12
                             "  - name: web\n"                                        // 13
                             "    address: 198.18.100.1\n"                            // 14
                             "    port: 80\n"
                             "    backends: [{ address: 198.18.2.10 }]\n" +
                             item("web2", "198.18.100.1", "port: 81") +  // same address: reported once
                             item("six", "2001:db8:100::1", "", "[{ address: \"2001:db8:2::10\" }]")));
    EXPECT_TRUE(HasError(r, "vips[0].address", 14,
                         "VIP address 198.18.100.1 is also the prefix of a route (198.18.100.1/32 at routes[0], line "
                         "9); the balancer installs the VIP's own host entry: remove the route"));
    EXPECT_TRUE(HasError(r, "vips[2].address", 18, "(2001:db8:100::1/128 at routes[2], line 11)"));
    EXPECT_EQ(r.errors().size(), 2u) << r.error_text();
}

TEST(VipRules, TableSize) {
    EXPECT_TRUE(OnlyError(load(one_vip("    table_size: 65536\n")), "vips[0].table_size", kFieldLine,
                          "expected a prime number 3..1000003, got 65536 (not prime; the nearest primes are 65521 and "
                          "65537)"));
    EXPECT_TRUE(OnlyError(load(one_vip("    table_size: 2\n")), "vips[0].table_size", kFieldLine,
                          "expected a prime number 3..1000003, got 2"));
    EXPECT_TRUE(OnlyError(load(one_vip("    table_size: 1000033\n")), "vips[0].table_size", kFieldLine,
                          "expected a prime number 3..1000003, got 1000033"));
    EXPECT_TRUE(Loads(load(one_vip("    table_size: 1000003\n"))));
    EXPECT_TRUE(Loads(load(one_vip("    table_size: 3\n"))));
    auto few = load(one_vip("    table_size: 3\n",
                            "      - address: 198.18.2.10\n      - address: 198.18.2.11\n"
                            "      - address: 198.18.2.12\n      - address: 198.18.2.13\n"));
    EXPECT_TRUE(OnlyError(few, "vips[0].table_size", kFieldLine,
                          "table_size 3 is smaller than the number of backends (4); expected a prime at least that "
                          "large (about 100 times the backends keeps each backend's share within 1% of its weight's)"));
}

TEST(VipRules, IsPrime) {
    int count = 0;
    for (uint32_t n = 0; n < 100; ++n) count += rules::is_prime(n);
    EXPECT_EQ(count, 25);
    EXPECT_TRUE(rules::is_prime(65537));
    EXPECT_TRUE(rules::is_prime(1000003));
    EXPECT_FALSE(rules::is_prime(1000001));  // 101 x 9901
    EXPECT_FALSE(rules::is_prime(65535));
    EXPECT_FALSE(rules::is_prime(4294967295u));
    EXPECT_TRUE(rules::is_prime(4294967291u));  // the largest 32-bit prime: the loop must not overflow
}

TEST(VipRules, EncapSourceOnlyForEncapsulation) {
    EXPECT_TRUE(OnlyError(load(one_vip("    encap_source: 198.18.250.0/24\n")), "vips[0].encap_source", kFieldLine,
                          "encap_source is only for modes ipip and gue (the outer source address); mode l2_dsr does not "
                          "encapsulate: remove it"));
    EXPECT_TRUE(OnlyError(load(one_vip("    mode: nat\n    encap_source: 198.18.250.0/24\n")), "vips[0].encap_source",
                          kFieldLine + 1, "mode nat does not encapsulate: remove it"));
}

TEST(VipRules, EncapSourceRequiredPerBackendFamily) {
    EXPECT_TRUE(OnlyError(load(one_vip("    mode: ipip\n")), "vips[0].encap_source", kVipLine,
                          "mode ipip needs encap_source: the prefix the outer source addresses are taken from, one per "
                          "family of the backends (e.g. 198.18.250.0/24)"));
    EXPECT_TRUE(OnlyError(load(one_vip("    mode: gue\n    encap_source: []\n")), "vips[0].encap_source",
                          kFieldLine + 1, "mode gue needs encap_source"));
    auto v6 = load(one_vip("    mode: ipip\n    encap_source: 198.18.250.0/24\n",
                           "      - address: 198.18.2.10\n      - address: \"2001:db8:7::1\"\n"));
    EXPECT_TRUE(OnlyError(v6, "vips[0].encap_source", kFieldLine + 1,
                          "IPv6 backends (backends[1] 2001:db8:7::1) need an IPv6 encap_source prefix for their outer "
                          "source address"));
    auto v4 = load(one_vip("    mode: gue\n    encap_source: \"2001:db8:250::/64\"\n"));
    EXPECT_TRUE(OnlyError(v4, "vips[0].encap_source", kFieldLine + 1,
                          "IPv4 backends (backends[0] 198.18.2.10) need an IPv4 encap_source prefix"));
    // A prefix of a family no backend has is allowed (a later backend may need it).
    EXPECT_TRUE(Loads(load(one_vip("    mode: ipip\n    encap_source: [198.18.250.0/24, \"2001:db8:250::/64\"]\n"))));
}

TEST(VipRules, EncapSourcePrefixes) {
    struct Case {
        const char* value;
        const char* field;
        const char* message;
    } cases[] = {
        {"[198.18.250.0/24, 198.18.251.0/24]", "vips[0].encap_source[1]",
         "a second IPv4 prefix (198.18.251.0/24, after 198.18.250.0/24); expected at most one prefix per family"},
        {"198.18.250.1/24", "vips[0].encap_source", "host bits are set in 198.18.250.1/24; did you mean 198.18.250.0/24?"},
        {"0.0.0.0/0", "vips[0].encap_source", "expected an IPv4 prefix length 1..32, got 0.0.0.0/0"},
        {"224.0.0.0/24", "vips[0].encap_source",
         "encap_source 224.0.0.0/24: 224.0.0.0 is a multicast address (224.0.0.0/4); expected a prefix of unicast "
         "addresses (the outer source addresses)"},
        {"169.254.0.0/16", "vips[0].encap_source",
         "encap_source 169.254.0.0/16 is link-local; expected a prefix of routable addresses"},
    };
    for (const auto& c : cases) {
        auto r = load(one_vip(std::string("    mode: ipip\n    encap_source: ") + c.value + "\n"));
        EXPECT_TRUE(OnlyError(r, c.field, kFieldLine + 1, c.message)) << c.value;
    }
}

TEST(VipRules, GuePortOnlyForGue) {
    EXPECT_TRUE(OnlyError(load(one_vip("    gue_port: 9886\n")), "vips[0].gue_port", kFieldLine,
                          "gue_port is only for mode gue; this VIP's mode is l2_dsr: remove it"));
    EXPECT_TRUE(OnlyError(load(one_vip("    mode: ipip\n    encap_source: 198.18.250.0/24\n    gue_port: 6080\n")),
                          "vips[0].gue_port", kFieldLine + 2, "this VIP's mode is ipip"));
    EXPECT_TRUE(OnlyError(load(one_vip("    mode: gue\n    encap_source: 198.18.250.0/24\n    gue_port: 0\n")),
                          "vips[0].gue_port", kFieldLine + 2, "expected a whole number 1..65535, got 0"));
}

TEST(VipRules, BackendCount) {
    auto none = load(with_ports("vips:\n  - { name: a, address: 198.18.100.1, backends: [] }\n"));
    EXPECT_TRUE(OnlyError(none, "vips[0].backends", kFirstFreeLine + 1,
                          "a VIP needs at least one backend, got an empty list"));
    std::string many;
    for (int i = 0; i < 4097; ++i)
        many += "      - address: 198.19." + std::to_string(i / 256) + "." + std::to_string(i % 256) + "\n";
    auto r = load(one_vip("    mode: ipip\n    encap_source: 198.18.250.0/24\n", many));
    // A block list is reported where it starts: its first item.
    EXPECT_TRUE(OnlyError(r, "vips[0].backends", kFieldLine + 3, "expected at most 4096 backends, got 4097"));
}

TEST(VipRules, BackendWeight) {
    EXPECT_TRUE(OnlyError(load(one_vip("", "      - { address: 198.18.2.10, weight: 10001 }\n")),
                          "vips[0].backends[0].weight", kFieldLine + 1, "expected a whole number 0..10000, got 10001"));
    EXPECT_TRUE(Loads(load(one_vip("", "      - { address: 198.18.2.10, weight: 0 }\n"))))
        << "weight 0 behaves as drain";
}

TEST(VipRules, BackendsUniqueWithinAVip) {
    auto r = load(one_vip("", "      - address: 198.18.2.10\n      - address: 198.18.2.11\n      - address: 198.18.2.10\n"));
    EXPECT_TRUE(OnlyError(r, "vips[0].backends[2]", kFieldLine + 3,
                          "duplicate backend 198.18.2.10 in this VIP (first at backends[0])"));
    auto nat = load(one_vip("    mode: nat\n    port: 80\n",
                            "      - { address: 198.18.2.10, port: 8080 }\n      - { address: 198.18.2.10 }\n"
                            "      - { address: 198.18.2.10, port: 80 }\n"));
    EXPECT_TRUE(OnlyError(nat, "vips[0].backends[2]", kFieldLine + 5,
                          "duplicate backend 198.18.2.10 port 80 in this VIP (first at backends[1]) (both reach port 80)"));
    EXPECT_TRUE(Loads(load(one_vip("    mode: nat\n    port: 80\n",
                                   "      - { address: 198.18.2.10, port: 8080 }\n      - { address: 198.18.2.10 }\n"))));
}

TEST(VipRules, BackendPortOnlyForNat) {
    EXPECT_TRUE(OnlyError(load(one_vip("    port: 80\n", "      - { address: 198.18.2.10, port: 8080 }\n")),
                          "vips[0].backends[0].port", kFieldLine + 2,
                          "a backend port is only for mode nat; mode l2_dsr cannot change the destination port (the "
                          "packet reaches the backend as the client sent it)"));
    EXPECT_TRUE(OnlyError(load(one_vip("    mode: gue\n    encap_source: 198.18.250.0/24\n",
                                       "      - { address: 198.18.2.10, port: 8080 }\n")),
                          "vips[0].backends[0].port", kFieldLine + 3, "mode gue cannot change the destination port"));
    EXPECT_TRUE(OnlyError(load(one_vip("    mode: nat\n", "      - { address: 198.18.2.10, port: 8080 }\n")),
                          "vips[0].backends[0].port", kFieldLine + 2,
                          "a backend port needs a VIP port: an all-ports NAT VIP keeps the client's port, since a reply "
                          "from port 8080 could not be mapped back to the port the client used"));
}

TEST(VipRules, BackendAddresses) {
    struct Case {
        const char* address;
        const char* message;
    } cases[] = {
        {"224.1.1.1", "backend 224.1.1.1 is a multicast address (224.0.0.0/4); expected a unicast address"},
        {"127.0.0.2", "backend 127.0.0.2 is a loopback address (127.0.0.0/8)"},
        {"169.254.9.9", "backend 169.254.9.9 is link-local; expected an address that can be routed to"},
        {"198.18.1.1", "backend 198.18.1.1 is this router's own address (ports[0].addresses[0] on port p0)"},
        {"198.18.100.1",
         "backend 198.18.100.1 is the address of vips[0] (web, line 9); a backend must be a host behind the balancer, "
         "not a VIP"},
    };
    for (const auto& c : cases) {
        for (const char* mode : {"l2_dsr", "nat"}) {
            auto r = load(one_vip(std::string("    mode: ") + mode + "\n", std::string("      - address: ") + c.address + "\n"));
            EXPECT_TRUE(OnlyError(r, "vips[0].backends[0].address", kFieldLine + 2, c.message)) << c.address << mode;
        }
    }
}

TEST(VipRules, L2DsrBackendsOnAConnectedSubnet) {
    auto far = load(one_vip("", "      - address: 198.19.9.9\n"));
    EXPECT_TRUE(OnlyError(far, "vips[0].backends[0].address", kFieldLine + 1,
                          "backend 198.19.9.9 is not in any port's connected subnet (IPv4 subnets: 198.18.1.0/24 on p0, "
                          "198.18.2.0/24 on p1); mode l2_dsr only rewrites the destination MAC, so a backend must be on "
                          "a directly connected link"));
    EXPECT_TRUE(OnlyError(load(one_vip("", "      - address: 198.18.2.255\n")), "vips[0].backends[0].address",
                          kFieldLine + 1, "backend 198.18.2.255 is the broadcast address of 198.18.2.0/24"));
    EXPECT_TRUE(OnlyError(load(one_vip("", "      - address: 198.18.1.0\n")), "vips[0].backends[0].address",
                          kFieldLine + 1, "backend 198.18.1.0 is the network address of 198.18.1.0/24"));
    // Either port's subnet will do; IPv6 too.
    EXPECT_TRUE(Loads(load(one_vip("", "      - address: 198.18.1.10\n      - address: 198.18.2.10\n"))));
    EXPECT_TRUE(Loads(load(one_vip("", "      - address: \"2001:db8:1::10\"\n", "\"2001:db8:100::1\""))));
    // Routed backends are for the other modes.
    EXPECT_TRUE(Loads(load(one_vip("    mode: nat\n", "      - address: 198.19.9.9\n"))));
    EXPECT_TRUE(Loads(load(one_vip("    mode: ipip\n    encap_source: 198.18.250.0/24\n", "      - address: 198.19.9.9\n"))));
}

TEST(VipRules, L2DsrAndNatBackendsHaveTheVipsFamily) {
    auto dsr = load(one_vip("", "      - address: \"2001:db8:2::10\"\n"));
    EXPECT_TRUE(OnlyError(dsr, "vips[0].backends[0].address", kFieldLine + 1,
                          "backend 2001:db8:2::10 is IPv6 but the VIP 198.18.100.1 is IPv4; mode l2_dsr needs backends "
                          "of the VIP's family (ipip and gue can cross families)"));
    auto nat = load(one_vip("    mode: nat\n", "      - address: 198.18.2.10\n", "\"2001:db8:100::1\""));
    EXPECT_TRUE(OnlyError(nat, "vips[0].backends[0].address", kFieldLine + 2,
                          "backend 198.18.2.10 is IPv4 but the VIP 2001:db8:100::1 is IPv6; mode nat needs backends of "
                          "the VIP's family"));
}

TEST(VipRules, TooManyVips) {
    std::string text = "vips:\n";
    for (int i = 0; i < 4097; ++i) text += item("v" + std::to_string(i), "198.18.100.1", "port: " + std::to_string(i + 1));
    auto r = load(with_ports(text));
    EXPECT_TRUE(OnlyError(r, "vips", 0, "expected at most 4096 VIPs, got 4097"));
}

// ---- rules across VIPs --------------------------------------------------------

TEST(VipRules, KeysAreUnique) {
    auto dup = load(with_ports("vips:\n" + item("a", "198.18.100.1", "port: 80") + item("b", "198.18.100.1", "port: 80")));
    EXPECT_TRUE(OnlyError(dup, "vips[1]", kFirstFreeLine + 2,
                          "VIP 198.18.100.1 tcp port 80 is already defined by vips[0] (a, line 9)"));
    auto all = load(with_ports("vips:\n" + item("a", "198.18.100.1", "protocol: udp") + item("b", "198.18.100.1", "protocol: udp")));
    EXPECT_TRUE(OnlyError(all, "vips[1]", kFirstFreeLine + 2, "VIP 198.18.100.1 udp all ports is already defined by vips[0]"));
    auto both = load(with_ports("vips:\n" + item("a", "198.18.100.1", "protocol: udp, port: 53") +
                                item("b", "198.18.100.1", "protocol: both, port: 53")));
    EXPECT_TRUE(OnlyError(both, "vips[1]", kFirstFreeLine + 2,
                          "VIP 198.18.100.1 both port 53 overlaps vips[0] (a, line 9), which is 198.18.100.1 udp port 53 "
                          "(both means tcp and udp)"));
    auto six = load(with_ports("vips:\n" + item("a", "2001:db8:100::1", "port: 80", "[{ address: \"2001:db8:2::10\" }]") +
                               item("b", "2001:db8:100:0::1", "port: 80", "[{ address: \"2001:db8:2::10\" }]")));
    EXPECT_TRUE(OnlyError(six, "vips[1]", kFirstFreeLine + 2, "VIP 2001:db8:100::1 tcp port 80 is already defined"))
        << "compared as addresses, not text";
    EXPECT_TRUE(Loads(load(with_ports("vips:\n" + item("a", "198.18.100.1", "protocol: tcp, port: 53") +
                                      item("b", "198.18.100.1", "protocol: udp, port: 53") +
                                      item("c", "198.18.100.1", "protocol: both, port: 54") +
                                      item("d", "198.18.100.1", "protocol: both") + item("e", "198.18.100.2", "port: 53")))));
}

TEST(VipRules, NatBackendEndpointsBelongToOneVip) {
    auto nat = [](const std::string& name, const std::string& addr, const std::string& rest, const std::string& backends) {
        return item(name, addr, "mode: nat" + (rest.empty() ? "" : ", " + rest), backends);
    };
    // Same backend, same port (kept from both VIPs' port 80).
    auto same = load(with_ports("vips:\n" + nat("a", "198.18.100.1", "port: 80", "[{ address: 198.18.2.10 }]") +
                                nat("b", "198.18.100.2", "port: 80", "[{ address: 198.18.2.11 }, { address: 198.18.2.10 }]")));
    EXPECT_TRUE(OnlyError(same, "vips[1].backends[1]", kFirstFreeLine + 2,
                          "backend 198.18.2.10 tcp port 80 is already a backend of NAT VIP vips[0] (a, line 9) "
                          "(backends[0], tcp port 80); replies are matched to their NAT VIP by the backend's address "
                          "and port alone, so an endpoint can serve one NAT VIP"));
    // A rewritten port equal to another VIP's kept port.
    auto rewritten = load(with_ports("vips:\n" + nat("a", "198.18.100.1", "port: 80", "[{ address: 198.18.2.10 }]") +
                                     nat("b", "198.18.100.2", "port: 443", "[{ address: 198.18.2.10, port: 80 }]")));
    EXPECT_TRUE(OnlyError(rewritten, "vips[1].backends[0]", kFirstFreeLine + 2, "backend 198.18.2.10 tcp port 80 is already"));
    // An all-ports VIP's port-keeping backend covers every port.
    auto all = load(with_ports("vips:\n" + nat("a", "198.18.100.1", "protocol: udp", "[{ address: 198.18.2.10 }]") +
                               nat("b", "198.18.100.2", "protocol: both, port: 53", "[{ address: 198.18.2.10 }]")));
    EXPECT_TRUE(OnlyError(all, "vips[1].backends[0]", kFirstFreeLine + 2,
                          "backend 198.18.2.10 both port 53 is already a backend of NAT VIP vips[0] (a, line 9) "
                          "(backends[0], udp all ports)"));
    // Different ports, different protocols, or a DSR VIP: no conflict.
    EXPECT_TRUE(Loads(load(with_ports("vips:\n" + nat("a", "198.18.100.1", "port: 80", "[{ address: 198.18.2.10 }]") +
                                      nat("b", "198.18.100.2", "port: 81", "[{ address: 198.18.2.10 }]") +
                                      nat("c", "198.18.100.3", "protocol: udp", "[{ address: 198.18.2.10 }]") +
                                      item("d", "198.18.100.4", "port: 80", "[{ address: 198.18.2.10 }]") +
                                      nat("e", "198.18.100.5", "port: 80", "[{ address: 198.18.2.10, port: 8080 }]")))));
}

TEST(VipRules, EveryProblemIsReported) {
    auto r = load(with_ports("lb: { tcp_timeout: 0 }\n"
                             "vips:\n" +
                             item("a", "198.18.1.1", "table_size: 4") +
                             item("b", "198.18.100.1", "mode: ipip", "[{ address: 198.18.2.10, weight: 20000 }]")));
    EXPECT_TRUE(HasError(r, "lb.tcp_timeout", kFirstFreeLine, "got 0"));
    EXPECT_TRUE(HasError(r, "vips[0].address", kFirstFreeLine + 2, "own address"));
    EXPECT_TRUE(HasError(r, "vips[0].table_size", kFirstFreeLine + 2, "not prime"));
    EXPECT_TRUE(HasError(r, "vips[1].encap_source", kFirstFreeLine + 3, "needs encap_source"));
    EXPECT_TRUE(HasError(r, "vips[1].backends[0].weight", kFirstFreeLine + 3, "got 20000"));
    EXPECT_EQ(r.errors().size(), 5u) << r.error_text();
    for (size_t i = 1; i < r.errors().size(); ++i) EXPECT_LE(r.errors()[i - 1].line, r.errors()[i].line) << "sorted";
}

// ---- validate() on a Config built in code ----------------------------------------

Config coded() {
    Config c;
    c.source = "<code>";
    PortConfig p;
    p.name = "p0";
    p.device = "net_null0";
    p.addresses = {pfx("198.18.1.1/24")};
    c.ports = {p};
    VipConfig v;
    v.name = "web";
    v.key.address = ip("198.18.100.1");
    v.mark.line = 42;
    v.backends = {api::Backend{ip("198.18.1.10")}};
    c.vips = {v};
    return c;
}

TEST(VipValidate, ModelPathsAndTheVipsMark) {
    EXPECT_TRUE(validate(coded()).empty());
    Config c = coded();
    c.vips[0].gue_port = 4789;  // not written, but not the default either
    c.vips[0].backends[0].port = 8080;
    c.lb.udp_timeout_s = 0;
    auto errs = validate(c);
    ASSERT_EQ(errs.size(), 3u);
    EXPECT_EQ(errs[0].field, "lb.udp_timeout");
    EXPECT_EQ(errs[0].line, 0);
    EXPECT_EQ(errs[1].field, "vips[0].gue_port");
    EXPECT_EQ(errs[1].line, 42);
    EXPECT_EQ(errs[1].file, "<code>");
    EXPECT_EQ(errs[2].field, "vips[0].backends[0].port");
    EXPECT_EQ(errs[2].line, 42);
}

}  // namespace
}  // namespace sluice::config
