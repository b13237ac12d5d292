// Text helpers: addresses, prefixes, MACs, containment and error formatting.
#include <gtest/gtest.h>

#include <string>

#include "config/load.hpp"

namespace sluice::config {
namespace {

IpAddr ip_or_fail(std::string_view s) {
    auto a = parse_ip(s);
    EXPECT_TRUE(a.has_value()) << s;
    return a.value_or(IpAddr{});
}
Prefix pfx_or_fail(std::string_view s) {
    auto p = parse_prefix(s);
    EXPECT_TRUE(p.has_value()) << s;
    return p.value_or(Prefix{});
}

TEST(ParseIp, V4) {
    auto a = parse_ip("198.18.1.2");
    ASSERT_TRUE(a);
    EXPECT_TRUE(a->is_v4());
    EXPECT_EQ(a->v4_host(), 0xc6120102u);
    EXPECT_EQ(a->bytes[0], 198);
    EXPECT_EQ(a->bytes[3], 2);
    for (size_t i = 4; i < 16; ++i) EXPECT_EQ(a->bytes[i], 0) << i;
    EXPECT_EQ(*a, IpAddr::from_v4_host(0xc6120102u));
}

TEST(ParseIp, V6IsCanonicalOnOutput) {
    auto a = parse_ip("2001:DB8:0:0:0:0:0:1");
    ASSERT_TRUE(a);
    EXPECT_TRUE(a->is_v6());
    EXPECT_EQ(a->bytes[0], 0x20);
    EXPECT_EQ(a->bytes[1], 0x01);
    EXPECT_EQ(a->bytes[15], 0x01);
    EXPECT_EQ(to_string(*a), "2001:db8::1");
    EXPECT_EQ(to_string(ip_or_fail("2001:db8:0:0:1:0:0:1")), "2001:db8::1:0:0:1");  // RFC 5952 4.2.3: first run
    EXPECT_EQ(to_string(ip_or_fail("2001:db8::0:1")), "2001:db8::1");
    EXPECT_EQ(to_string(ip_or_fail("::")), "::");
    EXPECT_EQ(to_string(ip_or_fail("fe80::1")), "fe80::1");
}

TEST(ParseIp, RoundTrips) {
    for (const char* s : {"198.18.0.1", "0.0.0.0", "255.255.255.255", "2001:db8:1::2", "::1", "fe80::a:b"}) {
        EXPECT_EQ(to_string(ip_or_fail(s)), s);
    }
}

TEST(ParseIp, RejectsMalformed) {
    for (std::string_view s :
         {"", " 198.18.1.1", "198.18.1.1 ", "198.18.1", "198.18.1.1.1", "256.1.1.1", "01.2.3.4", "1.2.3.-4",
          "+1.2.3.4", "2001:db8::g", "2001:db8:::1", "fe80::1%eth0", "198.18.1.1/32", "localhost", "::ffff:1.2.3"}) {
        EXPECT_FALSE(parse_ip(s)) << '"' << s << '"';
    }
    using namespace std::string_view_literals;
    EXPECT_FALSE(parse_ip("1.2.3.4\0junk"sv));  // embedded NUL must not truncate
}

TEST(ParsePrefix, Valid) {
    Prefix p = pfx_or_fail("198.18.0.0/15");
    EXPECT_TRUE(p.addr.is_v4());
    EXPECT_EQ(p.len, 15);
    EXPECT_EQ(p.addr, ip_or_fail("198.18.0.0"));
    EXPECT_EQ(pfx_or_fail("0.0.0.0/0").len, 0);
    EXPECT_EQ(pfx_or_fail("198.18.1.1/32").len, 32);
    EXPECT_EQ(pfx_or_fail("::/0").len, 0);
    EXPECT_EQ(pfx_or_fail("2001:db8::1/128").len, 128);
    // The address is kept as written (interface addresses have host bits).
    EXPECT_EQ(pfx_or_fail("198.18.1.1/24").addr, ip_or_fail("198.18.1.1"));
}

TEST(ParsePrefix, RoundTrips) {
    for (const char* s : {"198.18.0.0/15", "198.18.1.1/24", "0.0.0.0/0", "2001:db8::/32", "2001:db8:1::1/64", "::/0"})
        EXPECT_EQ(to_string(pfx_or_fail(s)), s);
    EXPECT_EQ(to_string(pfx_or_fail("2001:DB8:0::/48")), "2001:db8::/48");
}

TEST(ParsePrefix, RejectsMalformed) {
    for (std::string_view s :
         {"198.18.0.0", "198.18.0.0/", "/24", "198.18.0.0/33", "2001:db8::/129", "198.18.0.0/+8", "198.18.0.0/-1",
          "198.18.0.0/ 8", " 198.18.0.0/8", "198.18.0.0/8 ", "198.18.0.0 /8", "198.18.0.0/8x", "198.18.0.0/08",
          "198.18.0.0//8", "198.18.0.0/8/8", "198.18.0/8", "198.18.0.0/1000", "junk", ""}) {
        EXPECT_FALSE(parse_prefix(s)) << '"' << s << '"';
    }
}

TEST(ParseMac, ValidAndCanonical) {
    auto m = parse_mac("02:00:5E:0a:ff:01");
    ASSERT_TRUE(m);
    EXPECT_EQ(*m, (MacAddr{0x02, 0x00, 0x5e, 0x0a, 0xff, 0x01}));
    EXPECT_EQ(to_string(*m), "02:00:5e:0a:ff:01");
}

TEST(ParseMac, RejectsMalformed) {
    for (std::string_view s : {"", "02:00:00:00:00", "02:00:00:00:00:01:", "02-00-00-00-00-01", "2:0:0:0:0:1",
                               "02:00:00:00:00:0g", "0200.0000.0001", " 02:00:00:00:00:01", "02:00:00:00:00:001"}) {
        EXPECT_FALSE(parse_mac(s)) << '"' << s << '"';
    }
}

TEST(Contains, V4) {
    Prefix p = pfx_or_fail("198.18.0.0/15");
    EXPECT_TRUE(contains(p, ip_or_fail("198.18.0.0")));
    EXPECT_TRUE(contains(p, ip_or_fail("198.19.255.255")));
    EXPECT_FALSE(contains(p, ip_or_fail("198.20.0.0")));
    EXPECT_FALSE(contains(p, ip_or_fail("198.17.255.255")));
    // Host bits in the prefix do not matter.
    EXPECT_TRUE(contains(pfx_or_fail("198.18.1.1/24"), ip_or_fail("198.18.1.200")));
    EXPECT_TRUE(contains(pfx_or_fail("0.0.0.0/0"), ip_or_fail("203.0.113.9")));
    EXPECT_TRUE(contains(pfx_or_fail("198.18.1.1/32"), ip_or_fail("198.18.1.1")));
    EXPECT_FALSE(contains(pfx_or_fail("198.18.1.1/32"), ip_or_fail("198.18.1.2")));
}

TEST(Contains, V6AndFamilies) {
    EXPECT_TRUE(contains(pfx_or_fail("2001:db8:1::/64"), ip_or_fail("2001:db8:1::ffff")));
    EXPECT_FALSE(contains(pfx_or_fail("2001:db8:1::/64"), ip_or_fail("2001:db8:1:1::1")));
    EXPECT_TRUE(contains(pfx_or_fail("2001:db8::/29"), ip_or_fail("2001:dbf::1")));
    EXPECT_FALSE(contains(pfx_or_fail("2001:db8::/29"), ip_or_fail("2001:dc0::1")));
    EXPECT_TRUE(contains(pfx_or_fail("::/0"), ip_or_fail("2001:db8::1")));
    // Families never mix, even when the bytes would match.
    EXPECT_FALSE(contains(pfx_or_fail("0.0.0.0/0"), ip_or_fail("2001:db8::1")));
    EXPECT_FALSE(contains(pfx_or_fail("::/0"), ip_or_fail("198.18.1.1")));
}

TEST(NetworkOf, ClearsHostBits) {
    EXPECT_EQ(network_of(pfx_or_fail("198.18.1.77/24")), pfx_or_fail("198.18.1.0/24"));
    EXPECT_EQ(network_of(pfx_or_fail("198.19.255.255/13")), pfx_or_fail("198.16.0.0/13"));
    EXPECT_EQ(network_of(pfx_or_fail("198.18.1.77/32")), pfx_or_fail("198.18.1.77/32"));
    EXPECT_EQ(network_of(pfx_or_fail("198.18.1.77/0")), pfx_or_fail("0.0.0.0/0"));
    EXPECT_EQ(network_of(pfx_or_fail("2001:db8:1::1/64")), pfx_or_fail("2001:db8:1::/64"));
    EXPECT_EQ(network_of(pfx_or_fail("2001:db8:ffff::1/29")), pfx_or_fail("2001:db8::/29"));
    EXPECT_EQ(network_of(pfx_or_fail("2001:db8::1/128")), pfx_or_fail("2001:db8::1/128"));
}

TEST(ConfigErrorText, Format) {
    ConfigError e{"lab.yaml", 12, 5, "routes[3].via[1]", "expected something"};
    EXPECT_EQ(e.to_string(), "lab.yaml:12:5: routes[3].via[1]: expected something");
    e.column = 0;
    EXPECT_EQ(e.to_string(), "lab.yaml:12: routes[3].via[1]: expected something");
    e.line = 0;
    e.field = "";
    EXPECT_EQ(e.to_string(), "lab.yaml: expected something");
}

TEST(ConfigErrorText, ErrorTextJoinsLines) {
    LoadResult bad(std::vector<ConfigError>{{"a.yaml", 1, 2, "mbufs", "m1"}, {"a.yaml", 3, 4, "icmp.burst", "m2"}});
    EXPECT_FALSE(bad.ok());
    EXPECT_EQ(bad.error_text(), "a.yaml:1:2: mbufs: m1\na.yaml:3:4: icmp.burst: m2");
    LoadResult good(Config{});
    EXPECT_TRUE(good.ok());
    EXPECT_EQ(good.error_text(), "");
}

}  // namespace
}  // namespace sluice::config
