#include <gtest/gtest.h>

#include "control/api/codec.hpp"

namespace sluice::channel {
namespace {

net::IpAddr ip(const char* s) { return *net::parse_ip(s); }
net::Prefix pfx(const char* s) { return *net::parse_prefix(s); }

// Decodes j as T and expects failure at `field` with `message_part` in the message.
template <class T>
void expect_bad(const Json& j, const std::string& field, const std::string& message_part) {
    T out{};
    FieldError err;
    EXPECT_FALSE(from_json(j, "args.x", &out, &err)) << j.dump();
    EXPECT_EQ(err.field, field) << j.dump() << " -> " << err.message;
    EXPECT_NE(err.message.find(message_part), std::string::npos)
        << j.dump() << ": \"" << err.message << "\" lacks \"" << message_part << "\"";
}

TEST(Codec, Address) {
    for (const char* s : {"198.18.0.1", "2001:db8::1", "::", "0.0.0.0"}) {
        net::IpAddr a;
        FieldError err;
        ASSERT_TRUE(from_json(to_json(ip(s)), "a", &a, &err)) << s;
        EXPECT_EQ(a, ip(s));
        EXPECT_EQ(to_json(a), s);
    }
    expect_bad<net::IpAddr>(Json("1.2.3"), "args.x", "IPv4 or IPv6 address");
    expect_bad<net::IpAddr>(Json(5), "args.x", "got 5");
    expect_bad<net::IpAddr>(Json(nullptr), "args.x", "got null");
    expect_bad<net::IpAddr>(Json("198.18.2.4/8"), "args.x", "\"198.18.2.4/8\"");
}

TEST(Codec, Prefix) {
    for (const char* s : {"198.18.0.0/24", "2001:db8::/32", "0.0.0.0/0", "198.19.2.3/15"}) {
        net::Prefix p;
        FieldError err;
        ASSERT_TRUE(from_json(to_json(pfx(s)), "p", &p, &err)) << s;
        EXPECT_EQ(p, pfx(s));
    }
    expect_bad<net::Prefix>(Json("198.18.0.0"), "args.x", "prefix");
    expect_bad<net::Prefix>(Json("198.18.0.0/33"), "args.x", "prefix");
    expect_bad<net::Prefix>(Json::array(), "args.x", "got an array");
}

TEST(Codec, Mac) {
    net::MacAddr m{2, 0, 0, 0, 0, 1};
    EXPECT_EQ(mac_to_json(m), "02:00:00:00:00:01");
    net::MacAddr back{};
    FieldError err;
    ASSERT_TRUE(mac_from_json(mac_to_json(m), "m", &back, &err));
    EXPECT_EQ(back, m);
    EXPECT_FALSE(mac_from_json(Json("02:00:00:00:00"), "args.mac", &back, &err));
    EXPECT_EQ(err.field, "args.mac");
    EXPECT_NE(err.message.find("MAC address"), std::string::npos);
    EXPECT_FALSE(mac_from_json(Json(1), "args.mac", &back, &err));
}

TEST(Codec, RouteRoundTrip) {
    config::Route r;
    r.prefix = pfx("198.18.0.0/15");
    r.nexthops = {config::NextHop{ip("198.18.1.1"), "p0"}, config::NextHop{ip("fe80::1"), ""},
                  config::NextHop{std::nullopt, "p1"}};
    Json j = to_json(r);
    EXPECT_EQ(j["nexthops"][1].count("port"), 0u);
    EXPECT_EQ(j["nexthops"][2].count("via"), 0u);
    config::Route back;
    FieldError err;
    ASSERT_TRUE(from_json(j, "args.routes[0]", &back, &err)) << err.field << ": " << err.message;
    EXPECT_EQ(back.prefix, r.prefix);
    EXPECT_EQ(back.nexthops, r.nexthops);
}

TEST(Codec, RouteErrors) {
    using R = config::Route;
    expect_bad<R>(Json::array(), "args.x", "a route");
    expect_bad<R>(Json{{"nexthops", Json::array({{{"port", "p0"}}})}}, "args.x.prefix",
                  "required field \"prefix\"");
    expect_bad<R>(Json{{"prefix", "198.18.0.0/15"}}, "args.x.nexthops", "required field \"nexthops\"");
    expect_bad<R>(Json{{"prefix", "198.18.0.1/15"}, {"nexthops", Json::array({{{"port", "p0"}}})}}, "args.x.prefix",
                  "host bits set: did you mean 198.18.0.0/15?");
    expect_bad<R>(Json{{"prefix", "198.18.0.0/15"}, {"nexthops", Json::array()}}, "args.x.nexthops", "at least one");
    expect_bad<R>(Json{{"prefix", "198.18.0.0/15"}, {"nexthops", "p0"}}, "args.x.nexthops", "list of next hops");
    expect_bad<R>(Json{{"prefix", "198.18.0.0/15"}, {"nexthops", Json::array({Json::object()})}},
                  "args.x.nexthops[0]", "needs via");
    expect_bad<R>(Json{{"prefix", "198.18.0.0/15"}, {"nexthops", Json::array({{{"via", "198.18.2.4"}}, {{"via", "x"}}})}},
                  "args.x.nexthops[1].via", "IPv4 or IPv6 address");
    expect_bad<R>(Json{{"prefix", "198.18.0.0/15"}, {"nexthops", Json::array({{{"port", 3}}})}},
                  "args.x.nexthops[0].port", "port name");
    expect_bad<R>(Json{{"prefix", "198.18.0.0/15"}, {"nexthops", Json::array({{{"port", ""}}})}},
                  "args.x.nexthops[0].port", "empty string");
    expect_bad<R>(Json{{"prefix", "198.18.0.0/15"}, {"nexthops", Json::array({{{"port", "p0"}, {"gw", "198.18.1.1"}}})}},
                  "args.x.nexthops[0].gw", "unknown field \"gw\"");
    expect_bad<R>(Json{{"prefix", "198.18.0.0/15"}, {"via", "198.18.1.1"}, {"nexthops", Json::array({{{"port", "p0"}}})}},
                  "args.x.via", "unknown field \"via\"; expected one of: prefix, nexthops");
    expect_bad<R>(Json{{"prefix", "198.18.0.0/15"}, {"nexthops", Json::array({"p0"})}}, "args.x.nexthops[0]",
                  "a next hop");
}

TEST(Codec, NeighborRoundTripAndErrors) {
    config::StaticNeighbor n;
    n.port = "p1";
    n.address = ip("198.18.1.5");
    n.mac = {2, 0, 0, 0, 0, 9};
    config::StaticNeighbor back;
    FieldError err;
    ASSERT_TRUE(from_json(to_json(n), "n", &back, &err));
    EXPECT_EQ(back.port, n.port);
    EXPECT_EQ(back.address, n.address);
    EXPECT_EQ(back.mac, n.mac);

    using N = config::StaticNeighbor;
    Json ok = to_json(n);
    for (const char* k : {"port", "address", "mac"}) {
        Json j = ok;
        j.erase(k);
        expect_bad<N>(j, std::string("args.x.") + k, "required field");
    }
    Json j = ok;
    j["mac"] = "zz";
    expect_bad<N>(j, "args.x.mac", "MAC address");
    j = ok;
    j["address"] = 1;
    expect_bad<N>(j, "args.x.address", "address");
    j = ok;
    j["extra"] = 1;
    expect_bad<N>(j, "args.x.extra", "unknown field");
    expect_bad<N>(Json("x"), "args.x", "a neighbor");
}

TEST(Codec, BackendDefaultsAndRoundTrip) {
    api::Backend b;
    FieldError err;
    ASSERT_TRUE(from_json(Json{{"address", "198.18.2.10"}}, "b", &b, &err));
    EXPECT_EQ(b.port, 0);
    EXPECT_EQ(b.weight, 1u);
    EXPECT_EQ(b.state, api::BackendState::up);

    for (auto st : {api::BackendState::up, api::BackendState::drain, api::BackendState::down}) {
        api::Backend x{ip("2001:db8::5"), 8080, 10000, st};
        Json j = to_json(x);
        EXPECT_EQ(j["state"], api::to_string(st));
        api::Backend y;
        ASSERT_TRUE(from_json(j, "b", &y, &err));
        EXPECT_EQ(x, y);
    }
}

TEST(Codec, BackendErrors) {
    using B = api::Backend;
    expect_bad<B>(Json::object(), "args.x.address", "required field \"address\"");
    expect_bad<B>(Json{{"address", "198.18.2.4"}, {"port", 65536}}, "args.x.port", "0..65535");
    expect_bad<B>(Json{{"address", "198.18.2.4"}, {"port", -1}}, "args.x.port", "got -1");
    expect_bad<B>(Json{{"address", "198.18.2.4"}, {"port", 1.5}}, "args.x.port", "got 1.5");
    expect_bad<B>(Json{{"address", "198.18.2.4"}, {"port", "80"}}, "args.x.port", "got \"80\"");
    expect_bad<B>(Json{{"address", "198.18.2.4"}, {"weight", 10001}}, "args.x.weight", "0..10000");
    expect_bad<B>(Json{{"address", "198.18.2.4"}, {"state", "sick"}}, "args.x.state", "expected up, drain or down");
    expect_bad<B>(Json{{"address", "198.18.2.4"}, {"admin", "up"}}, "args.x.admin",
                  "expected one of: address, port, weight, state");
}

api::Vip full_vip() {
    api::Vip v;
    v.name = "web";
    v.key = {ip("198.18.100.1"), api::LbProto::both, 443};
    v.mode = api::LbMode::gue;
    v.table_size = 1000003;
    v.hash = api::LbHash::addresses;
    v.on_down = api::DownRule::drop;
    v.encap_source = {pfx("198.18.250.0/24"), pfx("2001:db8:250::/64")};
    v.gue_port = 6080;
    v.backends = {{ip("198.18.2.10"), 0, 1, api::BackendState::up},
                  {ip("2001:db8::2"), 8443, 7, api::BackendState::drain}};
    return v;
}

TEST(Codec, VipRoundTripEveryField) {
    api::Vip v = full_vip();
    Json j = to_json(v);
    for (const char* k : {"name", "address", "protocol", "port", "mode", "table_size", "hash", "on_backend_down",
                          "encap_source", "gue_port", "backends"})
        EXPECT_EQ(j.count(k), 1u) << k;
    api::Vip back;
    FieldError err;
    ASSERT_TRUE(from_json(j, "v", &back, &err)) << err.field << ": " << err.message;
    EXPECT_EQ(back, v);
    // Through text as well (what actually crosses the socket).
    ASSERT_TRUE(from_json(Json::parse(j.dump()), "v", &back, &err)) << err.message;
    EXPECT_EQ(back, v);
}

TEST(Codec, VipEveryEnumValueRoundTrips) {
    api::Vip v = full_vip();
    FieldError err;
    for (auto p : {api::LbProto::tcp, api::LbProto::udp, api::LbProto::both})
        for (auto m : {api::LbMode::l2_dsr, api::LbMode::ipip, api::LbMode::gue, api::LbMode::nat})
            for (auto h : {api::LbHash::five_tuple, api::LbHash::addresses})
                for (auto d : {api::DownRule::reschedule, api::DownRule::drop}) {
                    v.key.proto = p;
                    v.mode = m;
                    v.hash = h;
                    v.on_down = d;
                    api::Vip back;
                    ASSERT_TRUE(from_json(to_json(v), "v", &back, &err)) << err.message;
                    EXPECT_EQ(back, v);
                }
    // The protocol document's spelling of the hash is accepted too.
    Json j = to_json(v);
    j["hash"] = "five_tuple";
    api::Vip back;
    ASSERT_TRUE(from_json(j, "v", &back, &err));
    EXPECT_EQ(back.hash, api::LbHash::five_tuple);
}

TEST(Codec, VipDefaults) {
    api::Vip v;
    FieldError err;
    ASSERT_TRUE(from_json(Json{{"name", "w"}, {"address", "198.18.100.1"}, {"backends", Json::array()}}, "v", &v, &err))
        << err.message;
    api::Vip d;
    d.name = "w";
    d.key.address = ip("198.18.100.1");
    EXPECT_EQ(v, d);
    EXPECT_EQ(v.key.proto, api::LbProto::tcp);
    EXPECT_EQ(v.key.port, 0);
    EXPECT_EQ(v.mode, api::LbMode::l2_dsr);
    EXPECT_EQ(v.table_size, api::kDefaultMaglevSize);
    EXPECT_EQ(v.hash, api::LbHash::five_tuple);
    EXPECT_EQ(v.on_down, api::DownRule::reschedule);
    EXPECT_TRUE(v.encap_source.empty());
    EXPECT_EQ(v.gue_port, api::kDefaultGuePort);
    // Null reads as left out.
    ASSERT_TRUE(from_json(Json{{"name", "w"}, {"address", "198.18.100.1"}, {"port", nullptr}, {"backends", Json::array()}},
                          "v", &v, &err));
}

TEST(Codec, VipErrorsWithPaths) {
    Json ok = to_json(full_vip());
    auto with = [&](const char* k, Json val) {
        Json j = ok;
        j[k] = std::move(val);
        return j;
    };
    auto without = [&](const char* k) {
        Json j = ok;
        j.erase(k);
        return j;
    };
    using V = api::Vip;
    expect_bad<V>(without("name"), "args.x.name", "required field \"name\"");
    expect_bad<V>(without("address"), "args.x.address", "required field \"address\"");
    expect_bad<V>(without("backends"), "args.x.backends", "required field \"backends\"");
    expect_bad<V>(with("name", ""), "args.x.name", "VIP name");
    expect_bad<V>(with("name", "has space"), "args.x.name", "VIP name");
    expect_bad<V>(with("name", std::string(33, 'a')), "args.x.name", "VIP name");
    expect_bad<V>(with("address", "nope"), "args.x.address", "address");
    expect_bad<V>(with("protocol", "sctp"), "args.x.protocol", "expected tcp, udp or both, got \"sctp\"");
    expect_bad<V>(with("port", 70000), "args.x.port", "0..65535");
    expect_bad<V>(with("mode", "dsr"), "args.x.mode", "expected l2_dsr, ipip, gue or nat");
    expect_bad<V>(with("table_size", 65536), "args.x.table_size", "not prime");
    expect_bad<V>(with("table_size", 2), "args.x.table_size", "3..1000003");
    expect_bad<V>(with("table_size", 1000033), "args.x.table_size", "3..1000003");
    expect_bad<V>(with("hash", "crc"), "args.x.hash", "expected 5-tuple, five_tuple or addresses");
    expect_bad<V>(with("on_backend_down", "retry"), "args.x.on_backend_down", "expected reschedule or drop");
    expect_bad<V>(with("encap_source", "198.18.250.0/24"), "args.x.encap_source", "a list of prefixes");
    expect_bad<V>(with("encap_source", Json::array({"198.18.250.0/24", "x"})), "args.x.encap_source[1]", "prefix");
    expect_bad<V>(with("encap_source", Json::array({"198.18.250.1/24"})), "args.x.encap_source[0]",
                  "host bits set: did you mean 198.18.250.0/24?");
    expect_bad<V>(with("gue_port", 0), "args.x.gue_port", "1..65535");
    expect_bad<V>(with("backends", Json::object()), "args.x.backends", "a list of backends");
    expect_bad<V>(with("bogus", 1), "args.x.bogus", "unknown field \"bogus\"");
    expect_bad<V>(Json::array(), "args.x", "a VIP");
}

TEST(Codec, NestedBackendPath) {
    Json sync = {{"vips", Json::array({to_json(full_vip()), to_json(full_vip()), to_json(full_vip())})}};
    sync["vips"][2]["backends"][0]["address"] = "198.18.2.300";
    FieldError err;
    const Json& vips = sync["vips"];
    for (size_t i = 0; i < vips.size(); ++i) {
        api::Vip v;
        bool ok = from_json(vips[i], "args.vips[" + std::to_string(i) + "]", &v, &err);
        EXPECT_EQ(ok, i != 2);
    }
    EXPECT_EQ(err.field, "args.vips[2].backends[0].address");
    EXPECT_NE(err.message.find("\"198.18.2.300\""), std::string::npos);
}

TEST(Codec, GetU64AndString) {
    Json args = {{"generation", 42}, {"what", "routes"}, {"neg", -1}, {"f", 1.5}};
    uint64_t g = 0;
    FieldError err;
    ASSERT_TRUE(get_u64(args, "args", "generation", &g, &err));
    EXPECT_EQ(g, 42u);
    EXPECT_FALSE(get_u64(args, "args", "missing", &g, &err));
    EXPECT_EQ(err.field, "args.missing");
    EXPECT_NE(err.message.find("required"), std::string::npos);
    g = 7;
    EXPECT_TRUE(get_u64(args, "args", "missing", &g, &err, true));
    EXPECT_EQ(g, 7u);
    EXPECT_FALSE(get_u64(args, "args", "neg", &g, &err));
    EXPECT_EQ(err.field, "args.neg");
    EXPECT_FALSE(get_u64(args, "args", "f", &g, &err));
    EXPECT_FALSE(get_u64(args, "args", "what", &g, &err));
    Json big = Json::parse(R"({"g":18446744073709551615})");
    ASSERT_TRUE(get_u64(big, "args", "g", &g, &err));
    EXPECT_EQ(g, UINT64_MAX);

    std::string s;
    ASSERT_TRUE(get_string(args, "args", "what", &s, &err));
    EXPECT_EQ(s, "routes");
    EXPECT_FALSE(get_string(args, "args", "generation", &s, &err));
    EXPECT_EQ(err.field, "args.generation");
    EXPECT_FALSE(get_string(args, "args", "nothing", &s, &err));
    EXPECT_TRUE(get_string(args, "args", "nothing", &s, &err, true));
    EXPECT_FALSE(get_string(Json::array(), "args", "x", &s, &err));
    EXPECT_EQ(err.field, "args");
}

TEST(Codec, DecodersAcceptNullErr) {
    api::Vip v;
    EXPECT_FALSE(from_json(Json(1), "v", &v, nullptr));
}

}  // namespace
}  // namespace sluice::channel
