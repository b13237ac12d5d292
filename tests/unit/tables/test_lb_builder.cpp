// The load balancer's part of the table builder (tables/lb_builder.hpp)
// through TableBuilder::apply: what a batch of VIP updates publishes (VIPs,
// backends, Maglev tables, FIB host routes of kind vip, the NAT return map),
// what a replacement rebuilds and what it keeps (Maglev tables, slots,
// never-reused uids), and that every refused batch changes nothing.
// docs/lb.md describes the behaviour checked here.
#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "dataplane/lb/maglev.hpp"
#include "tests/unit/tables/lab.hpp"

namespace sluice::test {
namespace {

using api::AddressUpdate;
using api::BackendState;
using api::LbMode;
using api::LbProto;
using api::RouteUpdate;
using api::VipUpdate;

uint16_t be16(uint16_t h) { return uint16_t((h >> 8) | (h << 8)); }

std::string errors_of(const api::BatchResult& r) {
    std::string s;
    for (const auto& e : r.errors) s += e.what + ": " + e.message + "\n";
    return s;
}

api::Backend backend(const char* addr, uint32_t weight = 1, uint16_t port = 0, BackendState st = BackendState::up) {
    api::Backend b;
    b.address = ip(addr);
    b.weight = weight;
    b.port = port;
    b.state = st;
    return b;
}

api::Vip make_vip(const char* name, const char* addr, LbProto proto, uint16_t port, std::vector<api::Backend> bs,
                  LbMode mode = LbMode::l2_dsr, uint32_t size = 251) {
    api::Vip v;
    v.name = name;
    v.key = {ip(addr), proto, port};
    v.mode = mode;
    v.table_size = size;
    v.backends = std::move(bs);
    return v;
}

VipUpdate set_of(const api::Vip& v) { return {VipUpdate::Op::set, v}; }
VipUpdate del_of(const api::VipKey& k) {
    VipUpdate u;
    u.op = VipUpdate::Op::del;
    u.vip.key = k;
    return u;
}
api::Batch vips_batch(std::vector<VipUpdate> us) {
    api::Batch b;
    b.vips = std::move(us);
    return b;
}

// Addresses on p0 and p1, a covering route for the VIPs' 198.19.0.0/16 and
// 2001:db8:99::/48, and a /32 route that a VIP may not take.
api::Batch base() {
    api::Batch b;
    b.addresses.push_back({AddressUpdate::Op::add, "p0", pfx("198.18.0.1/24")});
    b.addresses.push_back({AddressUpdate::Op::add, "p1", pfx("198.18.1.1/24")});
    b.addresses.push_back({AddressUpdate::Op::add, "p0", pfx("2001:db8:0:1::1/64")});
    b.addresses.push_back({AddressUpdate::Op::add, "p1", pfx("2001:db8:0:2::1/64")});
    uint32_t s4 = add_set(b, {via("198.18.1.2", "p1")});
    uint32_t s6 = add_set(b, {via("2001:db8:0:2::2", "p1")});
    b.routes.push_back({RouteUpdate::Op::set, pfx("198.19.0.0/16"), s4});
    b.routes.push_back({RouteUpdate::Op::set, pfx("198.19.50.5/32"), s4});
    b.routes.push_back({RouteUpdate::Op::set, pfx("2001:db8:99::/48"), s6});
    b.lb = api::LbSettings{};
    b.lb->flow_table_size = 4096;
    return b;
}

// The VIP slot the FIB leads to for (address, protocol, port), or -1.
int vip_slot(const dp::Root& r, const char* addr, uint8_t proto_bit, uint16_t port) {
    net::IpAddr a = ip(addr);
    uint64_t v = a.is_v4() ? r.fib4->lookup(a.v4_host()) : r.fib6->lookup(a.bytes.data());
    if (dp::nh_kind(v) != dp::NhKind::vip) return -1;
    uint32_t idx = dp::nh_index(v);
    if (idx >= r.lb->addresses.size()) return -1;
    for (const auto& e : r.lb->addresses[idx].vips)
        if ((e.protos & proto_bit) && e.port_be == be16(port)) return int(e.vip);
    return -1;
}

using EndpointKey = std::pair<net::IpAddr, uint16_t>;
struct SlotUid {
    uint32_t slot = 0, uid = 0;
    friend bool operator==(const SlotUid&, const SlotUid&) = default;
};

// A VIP's backends in the published tables, by (address, port).
std::map<EndpointKey, SlotUid> backends_of(const dp::Root& r, uint32_t vip) {
    std::map<EndpointKey, SlotUid> m;
    const auto& t = *r.lb;
    for (uint32_t s = 0; s < t.backends.size(); ++s) {
        const auto& b = t.backends[s];
        if (b.uid == 0 || b.vip != vip) continue;
        net::IpAddr a = b.v6 ? net::IpAddr::v6(b.addr.data()) : net::IpAddr::v4(b.addr.data());
        m[{a, be16(b.port_be)}] = {s, b.uid};
    }
    return m;
}

// The Maglev table of a VIP as backend addresses, slot by slot.
std::vector<std::string> table_as_addresses(const dp::LbTables& t, uint32_t vip) {
    const dp::LbVip& v = t.vips.at(vip);
    std::vector<std::string> out;
    out.reserve(v.m);
    for (uint32_t j = 0; j < v.m; ++j) {
        uint16_t i = v.slot[j];
        if (i == lb::kNoBackend) {
            out.push_back("-");
            continue;
        }
        const dp::LbBackend& b = t.backends.at(v.members[i]);
        net::IpAddr a = b.v6 ? net::IpAddr::v6(b.addr.data()) : net::IpAddr::v4(b.addr.data());
        out.push_back(net::to_string(a) + " " + std::to_string(be16(b.port_be)));
    }
    return out;
}

// Every structural property a published VIP must have.
void check_vip(const dp::Root& r, const api::Vip& c) {
    SCOPED_TRACE(c.name);
    uint8_t bit = c.key.proto == LbProto::udp ? dp::kLbUdp : dp::kLbTcp;
    int s = vip_slot(r, net::to_string(c.key.address).c_str(), bit, c.key.port);
    ASSERT_GE(s, 0) << "the FIB leads to the VIP";
    const dp::LbTables& t = *r.lb;
    const dp::LbVip& v = t.vips.at(size_t(s));
    EXPECT_NE(v.uid, 0u);
    EXPECT_EQ(v.mode, c.mode);
    EXPECT_EQ(v.v6, c.key.address.is_v6() ? 1 : 0);
    EXPECT_EQ(v.port_be, be16(c.key.port));
    EXPECT_EQ(v.protos, uint8_t(c.key.proto));
    ASSERT_TRUE(v.maglev);
    EXPECT_EQ(v.m, c.table_size);
    EXPECT_EQ(v.maglev->m, c.table_size);
    ASSERT_EQ(v.maglev->slot.size(), c.table_size);
    EXPECT_EQ(v.slot, v.maglev->slot.data());
    EXPECT_EQ(v.members, v.maglev->members.data());
    ASSERT_EQ(v.maglev->members.size(), c.backends.size());
    ASSERT_TRUE(v.config);
    EXPECT_EQ(*v.config, c);
    // Members: this VIP's backends, in strictly increasing key order.
    std::set<EndpointKey> want, got;
    for (const auto& b : c.backends) want.insert({b.address, b.port});
    lb::MaglevKey prev{};
    for (size_t i = 0; i < v.maglev->members.size(); ++i) {
        const dp::LbBackend& b = t.backends.at(v.maglev->members[i]);
        EXPECT_NE(b.uid, 0u);
        EXPECT_EQ(b.vip, uint32_t(s));
        lb::MaglevKey k = lb::maglev_key(b.v6, b.addr.data(), be16(b.port_be));
        if (i > 0) {
            EXPECT_LT(prev, k) << "members sorted by key, member " << i;
        }
        prev = k;
        got.insert({b.v6 ? net::IpAddr::v6(b.addr.data()) : net::IpAddr::v4(b.addr.data()), be16(b.port_be)});
    }
    EXPECT_EQ(got, want);
    bool any_up = false;
    for (const auto& b : c.backends) any_up |= b.state == BackendState::up && b.weight > 0;
    // Every slot filled (a VIP with a backend up), and the slot counts add up.
    uint64_t held = 0;
    for (uint32_t j = 0; j < v.m; ++j) {
        uint16_t i = v.slot[j];
        if (any_up) {
            ASSERT_NE(i, lb::kNoBackend) << "slot " << j;
        }
        if (i != lb::kNoBackend) {
            ASSERT_LT(i, v.maglev->members.size()) << "slot " << j;
        }
    }
    for (uint32_t m : v.maglev->members) held += t.backends.at(m).slots;
    EXPECT_EQ(held, any_up ? c.table_size : 0u);
}

TEST(LbBuilder, VipsArePublishedWithTablesAndHostRoutes) {
    TableLab lab;
    api::Batch b = base();
    api::Vip web = make_vip("web", "198.19.100.1", LbProto::tcp, 80,
                            {backend("198.18.1.12", 3), backend("198.18.1.10", 1), backend("198.18.1.11", 2)});
    api::Vip dns = make_vip("dns", "198.19.100.2", LbProto::udp, 53,
                            {backend("198.18.1.20", 1, 5353), backend("198.18.1.21", 1, 5353)}, LbMode::nat,
                            api::kDefaultMaglevSize);
    api::Vip six = make_vip("six", "2001:db8:99::100", LbProto::tcp, 443,
                            {backend("2001:db8:0:2::10"), backend("198.18.1.30"), backend("2001:db8:0:2::11")},
                            LbMode::gue, 1009);
    six.encap_source = {pfx("2001:db8:ee::/64"), pfx("198.18.200.0/24")};
    six.gue_port = 6080;
    b.vips = {set_of(web), set_of(dns), set_of(six)};
    auto r = lab.apply(b);
    ASSERT_TRUE(r.applied) << errors_of(r);
    const dp::Root& root = lab.root();
    ASSERT_TRUE(root.lb);
    EXPECT_EQ(root.hot.lb, root.lb.get());
    EXPECT_EQ(root.lb->vip_count, 3u);
    EXPECT_EQ(root.lb->backend_count, 8u);
    EXPECT_EQ(root.lb_settings->flow_table_size, 4096u);
    check_vip(root, web);
    check_vip(root, dns);
    check_vip(root, six);
    EXPECT_EQ(lab.builder->vips().size(), 3u);

    // Weighted: 3:1:2 of 251 slots, each within one slot of its share.
    int ws = vip_slot(root, "198.19.100.1", dp::kLbTcp, 80);
    auto wb = backends_of(root, uint32_t(ws));
    EXPECT_NEAR(root.lb->backends[wb.at({ip("198.18.1.12"), 0}).slot].slots, 251.0 * 3 / 6, 1.0);
    EXPECT_NEAR(root.lb->backends[wb.at({ip("198.18.1.10"), 0}).slot].slots, 251.0 * 1 / 6, 1.0);

    // Encapsulation fields of the IPv6 VIP.
    const dp::LbVip& sv = root.lb->vips.at(size_t(vip_slot(root, "2001:db8:99::100", dp::kLbTcp, 443)));
    EXPECT_EQ(sv.gue_port_be, be16(6080));
    EXPECT_EQ(sv.src6_len, 64);
    EXPECT_EQ(sv.src4_len, 24);
    EXPECT_EQ(net::IpAddr::v6(sv.src6.data()), ip("2001:db8:ee::"));
    EXPECT_EQ(net::IpAddr::v4(sv.src4.data()), ip("198.18.200.0"));

    // A VIP address beats the covering route; its neighbours do not change.
    EXPECT_EQ(lookup(root, ip("198.19.100.1")).kind, dp::NhKind::vip);
    EXPECT_EQ(lookup(root, ip("2001:db8:99::100")).kind, dp::NhKind::vip);
    EXPECT_EQ(lookup(root, ip("198.19.100.3")).members.at(0), gw_member(1, "198.18.1.2"));
    EXPECT_EQ(lookup(root, ip("2001:db8:99::101")).members.at(0), gw_member(1, "2001:db8:0:2::2"));
    // Two addresses, two entries.
    uint64_t v1 = root.fib4->lookup(ip("198.19.100.1").v4_host());
    uint64_t v2 = root.fib4->lookup(ip("198.19.100.2").v4_host());
    EXPECT_NE(dp::nh_index(v1), dp::nh_index(v2));
}

TEST(LbBuilder, ReweightRebuildsOnlyThatVipsTable) {
    TableLab lab;
    api::Batch b = base();
    api::Vip a = make_vip("a", "198.19.100.1", LbProto::tcp, 80,
                          {backend("198.18.1.10"), backend("198.18.1.11"), backend("198.18.1.12")});
    api::Vip vb = make_vip("b", "198.19.100.2", LbProto::tcp, 80, {backend("198.18.1.20"), backend("198.18.1.21")});
    api::Vip vc = make_vip("c", "2001:db8:99::100", LbProto::udp, 0, {backend("2001:db8:0:2::10")});
    b.vips = {set_of(a), set_of(vb), set_of(vc)};
    ASSERT_TRUE(lab.apply(b).applied);
    const int sa = vip_slot(lab.root(), "198.19.100.1", dp::kLbTcp, 80);
    const int sb = vip_slot(lab.root(), "198.19.100.2", dp::kLbTcp, 80);
    const int sc = vip_slot(lab.root(), "2001:db8:99::100", dp::kLbUdp, 0);
    ASSERT_GE(sa, 0);
    ASSERT_GE(sb, 0);
    ASSERT_GE(sc, 0);
    auto lb0 = lab.root().lb;
    auto a_before = backends_of(lab.root(), uint32_t(sa));
    std::set<uint32_t> uids;  // every uid handed out so far
    for (const auto& v : lb0->vips) if (v.uid) uids.insert(v.uid);
    for (const auto& x : lb0->backends) if (x.uid) uids.insert(x.uid);
    EXPECT_EQ(uids.size(), 3u + 6u) << "VIP and backend uids are all distinct";

    // One backend's weight changes: only a's table is rebuilt.
    a.backends[1].weight = 5;
    auto r = lab.apply(vips_batch({set_of(a)}));
    ASSERT_TRUE(r.applied) << errors_of(r);
    auto lb1 = lab.root().lb;
    EXPECT_NE(lb1, lb0);
    EXPECT_NE(lb1->vips[size_t(sa)].maglev, lb0->vips[size_t(sa)].maglev) << "a's table rebuilt";
    EXPECT_EQ(lb1->vips[size_t(sb)].maglev, lb0->vips[size_t(sb)].maglev) << "b's table is the same object";
    EXPECT_EQ(lb1->vips[size_t(sc)].maglev, lb0->vips[size_t(sc)].maglev) << "c's table is the same object";
    EXPECT_EQ(lb1->vips[size_t(sa)].uid, lb0->vips[size_t(sa)].uid) << "the VIP keeps its uid";
    EXPECT_EQ(vip_slot(lab.root(), "198.19.100.1", dp::kLbTcp, 80), sa) << "and its slot";
    EXPECT_EQ(backends_of(lab.root(), uint32_t(sa)), a_before) << "every backend keeps slot and uid";
    EXPECT_EQ(lb1->backends[a_before.at({ip("198.18.1.11"), 0}).slot].weight, 5u);
    check_vip(lab.root(), a);

    // .10 removed, .13 added.
    const SlotUid gone = a_before.at({ip("198.18.1.10"), 0});
    a.backends.erase(a.backends.begin());
    a.backends.push_back(backend("198.18.1.13"));
    r = lab.apply(vips_batch({set_of(a)}));
    ASSERT_TRUE(r.applied) << errors_of(r);
    auto lb2 = lab.root().lb;
    EXPECT_EQ(lb2->vips[size_t(sb)].maglev, lb0->vips[size_t(sb)].maglev);
    auto a_after = backends_of(lab.root(), uint32_t(sa));
    ASSERT_EQ(a_after.size(), 3u);
    EXPECT_EQ(a_after.at({ip("198.18.1.11"), 0}), a_before.at({ip("198.18.1.11"), 0}));
    EXPECT_EQ(a_after.at({ip("198.18.1.12"), 0}), a_before.at({ip("198.18.1.12"), 0}));
    EXPECT_TRUE(gone.slot >= lb2->backends.size() || lb2->backends[gone.slot].uid == 0)
        << "the removed backend's slot is free";
    const SlotUid fresh = a_after.at({ip("198.18.1.13"), 0});
    EXPECT_EQ(uids.count(fresh.uid), 0u) << "a new backend gets a uid never used before";
    uids.insert(fresh.uid);
    check_vip(lab.root(), a);

    // The freed slot is the next one handed out (oldest freed first), with a
    // fresh uid: a flow tracked to the old backend there is told apart.
    api::Vip d = make_vip("d", "198.19.100.4", LbProto::tcp, 80, {backend("198.18.1.40")});
    r = lab.apply(vips_batch({set_of(d)}));
    ASSERT_TRUE(r.applied) << errors_of(r);
    int sd = vip_slot(lab.root(), "198.19.100.4", dp::kLbTcp, 80);
    ASSERT_GE(sd, 0);
    const SlotUid d1 = backends_of(lab.root(), uint32_t(sd)).at({ip("198.18.1.40"), 0});
    EXPECT_EQ(d1.slot, gone.slot) << "the freed slot is reused";
    EXPECT_NE(d1.uid, gone.uid);
    EXPECT_EQ(uids.count(d1.uid), 0u) << "with a uid never used before";
    EXPECT_EQ(uids.count(lab.root().lb->vips[size_t(sd)].uid), 0u);
}

TEST(LbBuilder, ChangesThatLeaveTheBackendsKeepTheMaglevTable) {
    TableLab lab;
    api::Batch b = base();
    api::Vip a = make_vip("a", "198.19.100.1", LbProto::tcp, 80,
                          {backend("198.18.1.10"), backend("198.18.1.11", 2), backend("198.18.1.12")});
    b.vips = {set_of(a)};
    ASSERT_TRUE(lab.apply(b).applied);
    const size_t s = size_t(vip_slot(lab.root(), "198.19.100.1", dp::kLbTcp, 80));
    auto table = lab.root().lb->vips[s].maglev;

    struct Step {
        const char* what;
        void (*change)(api::Vip&);
        bool rebuilt;
    };
    const Step steps[] = {
        {"on_backend_down: drop", [](api::Vip& v) { v.on_down = api::DownRule::drop; }, false},
        {"hash: addresses", [](api::Vip& v) { v.hash = api::LbHash::addresses; }, false},
        {"backends listed in another order", [](api::Vip& v) { std::reverse(v.backends.begin(), v.backends.end()); },
         false},
        {"mode ipip", [](api::Vip& v) {
             v.mode = LbMode::ipip;
             v.encap_source = {pfx("198.18.200.0/24")};
         }, false},
        {"a backend drained", [](api::Vip& v) { v.backends[0].state = BackendState::drain; }, true},
        {"the drained backend at weight 0 instead (Maglev weight 0 either way)", [](api::Vip& v) {
             v.backends[0].state = BackendState::up;
             v.backends[0].weight = 0;
         }, false},
        {"table size", [](api::Vip& v) { v.table_size = 257; }, true},
    };
    for (const auto& st : steps) {
        SCOPED_TRACE(st.what);
        st.change(a);
        auto lb_before = lab.root().lb;
        auto r = lab.apply(vips_batch({set_of(a)}));
        ASSERT_TRUE(r.applied) << errors_of(r);
        EXPECT_NE(lab.root().lb, lb_before) << "new tables published";
        EXPECT_EQ(*lab.root().lb->vips[s].config, a);
        if (st.rebuilt) {
            EXPECT_NE(lab.root().lb->vips[s].maglev, table);
        } else {
            EXPECT_EQ(lab.root().lb->vips[s].maglev, table);
        }
        table = lab.root().lb->vips[s].maglev;
        check_vip(lab.root(), a);
    }
    EXPECT_EQ(lab.root().lb->vips[s].on_down, api::DownRule::drop);
    EXPECT_EQ(lab.root().lb->vips[s].hash, api::LbHash::addresses);
    EXPECT_EQ(lab.root().lb->vips[s].mode, LbMode::ipip);
    // The weight-0 backend holds no slot.
    auto bs = backends_of(lab.root(), uint32_t(s));
    EXPECT_EQ(lab.root().lb->backends[bs.at({ip("198.18.1.12"), 0}).slot].slots, 0u);
}

TEST(LbBuilder, VipsOnOneAddressShareItsEntryAndLeaveTheFibWithTheLast) {
    TableLab lab;
    api::Batch b = base();
    api::Vip t_all = make_vip("t-all", "198.19.100.1", LbProto::tcp, 0, {backend("198.18.1.10")});
    api::Vip t80 = make_vip("t80", "198.19.100.1", LbProto::tcp, 80, {backend("198.18.1.11")});
    api::Vip t443 = make_vip("t443", "198.19.100.1", LbProto::tcp, 443, {backend("198.18.1.12")});
    api::Vip u_all = make_vip("u-all", "198.19.100.1", LbProto::udp, 0, {backend("198.18.1.13")});
    api::Vip other = make_vip("other", "198.19.100.2", LbProto::tcp, 80, {backend("198.18.1.14")});
    api::Vip six = make_vip("six", "2001:db8:99::100", LbProto::udp, 53, {backend("2001:db8:0:2::10")});
    b.vips = {set_of(u_all), set_of(t443), set_of(t_all), set_of(other), set_of(t80), set_of(six)};
    auto r = lab.apply(b);
    ASSERT_TRUE(r.applied) << errors_of(r);
    {
        const dp::Root& root = lab.root();
        uint64_t v = root.fib4->lookup(ip("198.19.100.1").v4_host());
        ASSERT_EQ(dp::nh_kind(v), dp::NhKind::vip);
        const auto& list = root.lb->addresses.at(dp::nh_index(v)).vips;
        ASSERT_EQ(list.size(), 4u) << "four VIPs, one address entry";
        // Exact ports first, all-ports after (lb/stage.cpp matches in order).
        bool seen_all = false;
        for (const auto& e : list) {
            if (e.port_be == 0) {
                seen_all = true;
            } else {
                EXPECT_FALSE(seen_all) << "exact port " << be16(e.port_be) << " after an all-ports entry";
            }
        }
        std::set<uint16_t> ports;
        for (const auto& e : list) ports.insert(be16(e.port_be));
        EXPECT_EQ(ports, (std::set<uint16_t>{0, 80, 443}));
        EXPECT_NE(dp::nh_index(root.fib4->lookup(ip("198.19.100.2").v4_host())), dp::nh_index(v));
        for (const auto* c : {&t_all, &t80, &t443, &u_all, &other, &six}) check_vip(root, *c);
    }

    // Deleting one of them leaves the address.
    r = lab.apply(vips_batch({del_of(t443.key)}));
    ASSERT_TRUE(r.applied) << errors_of(r);
    EXPECT_EQ(lookup(lab.root(), ip("198.19.100.1")).kind, dp::NhKind::vip);
    EXPECT_EQ(lab.root().lb->addresses.at(dp::nh_index(lab.root().fib4->lookup(ip("198.19.100.1").v4_host())))
                  .vips.size(),
              3u);
    EXPECT_EQ(vip_slot(lab.root(), "198.19.100.1", dp::kLbTcp, 443), -1);

    // Deleting the last ones removes the host route: the covering route answers.
    r = lab.apply(vips_batch({del_of(t_all.key), del_of(t80.key), del_of(u_all.key), del_of(six.key)}));
    ASSERT_TRUE(r.applied) << errors_of(r);
    Answer a = lookup(lab.root(), ip("198.19.100.1"));
    EXPECT_EQ(a.kind, dp::NhKind::single);
    ASSERT_EQ(a.members.size(), 1u);
    EXPECT_EQ(a.members[0], gw_member(1, "198.18.1.2"));
    Answer a6 = lookup(lab.root(), ip("2001:db8:99::100"));
    ASSERT_EQ(a6.members.size(), 1u);
    EXPECT_EQ(a6.members[0], gw_member(1, "2001:db8:0:2::2"));
    EXPECT_EQ(lookup(lab.root(), ip("198.19.100.2")).kind, dp::NhKind::vip) << "the other address stays";
    EXPECT_EQ(lab.root().lb->vip_count, 1u);
    EXPECT_EQ(lab.root().lb->backend_count, 1u);
    EXPECT_EQ(lab.builder->vips().size(), 1u);

    // And the address can come back.
    r = lab.apply(vips_batch({set_of(t80)}));
    ASSERT_TRUE(r.applied) << errors_of(r);
    check_vip(lab.root(), t80);
}

// Everything a refused batch could have changed, to compare before and after.
struct Snapshot {
    uint64_t generation;
    std::shared_ptr<const dp::LbTables> lb;
    std::map<api::VipKey, api::Vip> vips;
    uint64_t vip_value, route_value, new_route_value;
    explicit Snapshot(TableLab& lab)
        : generation(lab.root().generation),
          lb(lab.root().lb),
          vips(lab.builder->vips()),
          vip_value(lab.root().fib4->lookup(ip("198.19.100.1").v4_host())),
          route_value(lab.root().fib4->lookup(ip("198.19.50.5").v4_host())),
          new_route_value(lab.root().fib4->lookup(ip("198.20.1.1").v4_host())) {}
    void expect_same(TableLab& lab) const {
        EXPECT_EQ(lab.root().generation, generation);
        EXPECT_EQ(lab.root().lb, lb);
        EXPECT_EQ(lab.builder->vips(), vips);
        EXPECT_EQ(lab.root().fib4->lookup(ip("198.19.100.1").v4_host()), vip_value);
        EXPECT_EQ(lab.root().fib4->lookup(ip("198.19.50.5").v4_host()), route_value);
        EXPECT_EQ(lab.root().fib4->lookup(ip("198.20.1.1").v4_host()), new_route_value);
        EXPECT_EQ(lab.builder->lb().flow_table_size, 4096u);
    }
};

TEST(LbBuilder, RefusedBatchesChangeNothing) {
    TableLab lab;
    api::Batch b = base();
    api::Vip web = make_vip("web", "198.19.100.1", LbProto::tcp, 80, {backend("198.18.1.10"), backend("198.18.1.11")});
    api::Vip dns = make_vip("dns", "198.19.100.2", LbProto::udp, 53, {backend("198.18.1.20")});
    b.vips = {set_of(web), set_of(dns)};
    ASSERT_TRUE(lab.apply(b).applied);
    const Snapshot before(lab);

    auto ok_vip = [](const char* addr) {
        return make_vip("new", addr, LbProto::tcp, 80, {backend("198.18.1.30")});
    };
    struct Case {
        const char* what;
        api::Batch batch;
        const char* expect;  // in the error text
    };
    std::vector<Case> cases;
    {
        api::Vip v = ok_vip("198.19.100.3");
        v.table_size = 1000;
        cases.push_back({"table size not prime", vips_batch({set_of(v)}), "table_size 1000"});
    }
    cases.push_back({"the same key twice", vips_batch({set_of(ok_vip("198.19.100.3")), set_of(ok_vip("198.19.100.3"))}),
                     "appears twice"});
    {
        api::Vip v = make_vip("both", "198.19.100.1", LbProto::both, 80, {backend("198.18.1.30")});
        cases.push_back({"both against tcp on one address and port", vips_batch({set_of(v)}), "serves too"});
    }
    {
        api::Vip v = ok_vip("198.19.100.3");
        v.name = "web";
        cases.push_back({"a second VIP named web", vips_batch({set_of(v)}), "same name"});
    }
    cases.push_back({"the VIP is a port's own address", vips_batch({set_of(ok_vip("198.18.0.1"))}),
                     "ports' own addresses"});
    cases.push_back({"the VIP is a port's own IPv6 address",
                     vips_batch({set_of(make_vip("new6", "2001:db8:0:1::1", LbProto::tcp, 80,
                                                 {backend("2001:db8:0:2::30")}))}),
                     "ports' own addresses"});
    cases.push_back({"a route has exactly the VIP's prefix (route first)", vips_batch({set_of(ok_vip("198.19.50.5"))}),
                     "also a route's prefix"});
    {
        api::Batch r;
        uint32_t s = add_set(r, {via("198.18.1.2", "p1")});
        r.routes.push_back({RouteUpdate::Op::set, pfx("198.19.100.1/32"), s});
        cases.push_back({"a route with exactly the VIP's prefix (VIP first)", r, "is a VIP's address"});
    }
    {
        api::Vip v = ok_vip("198.19.100.9");
        cases.push_back({"delete a VIP that does not exist", vips_batch({del_of(v.key)}), "no VIP 198.19.100.9"});
    }
    {
        api::Batch r;
        r.lb = api::LbSettings{};
        r.lb->flow_table_size = 8192;
        cases.push_back({"flow_table_size changed at run time", r, "lb.flow_table_size"});
    }
    {
        api::Batch r;
        uint32_t s = add_set(r, {via("198.18.1.2", "p1")});
        r.routes.push_back({RouteUpdate::Op::set, pfx("198.20.0.0/16"), s});
        api::Vip v = ok_vip("198.19.100.3");
        v.table_size = 4;
        r.vips = {set_of(v)};
        cases.push_back({"a valid route with an invalid VIP", r, "table_size 4"});
    }
    {
        api::Batch r;
        r.vips = {set_of(ok_vip("198.19.100.3"))};  // valid
        api::Vip v = ok_vip("198.19.100.4");
        v.mode = LbMode::gue;  // no encap_source
        r.vips.push_back(set_of(v));
        cases.push_back({"a valid VIP with an invalid one", r, "encap_source"});
    }
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        auto r = lab.apply(c.batch);
        EXPECT_FALSE(r.applied);
        std::string all = errors_of(r);
        EXPECT_NE(all.find(c.expect), std::string::npos) << all;
        EXPECT_EQ(r.generation, before.generation);
        before.expect_same(lab);
    }
    // The builder is still consistent: a good batch goes through.
    auto r = lab.apply(vips_batch({set_of(ok_vip("198.19.100.3"))}));
    ASSERT_TRUE(r.applied) << errors_of(r);
    EXPECT_EQ(lab.root().generation, before.generation + 1);
    check_vip(lab.root(), ok_vip("198.19.100.3"));
    check_vip(lab.root(), web);
    check_vip(lab.root(), dns);
}

// Order inside a batch does not matter (api/update.hpp): the result is
// validated as a whole. A route may take a VIP's prefix in the batch that
// removes the VIP, and a VIP a route's in the batch that removes the route.
TEST(LbBuilder, VipAndRouteSwapPlacesInOneBatch) {
    TableLab lab;
    api::Batch b = base();
    api::Vip web = make_vip("web", "198.19.100.1", LbProto::tcp, 80, {backend("198.18.1.10")});
    b.vips = {set_of(web)};
    ASSERT_TRUE(lab.apply(b).applied);

    // The route goes, a VIP takes its address.
    api::Batch to_vip;
    to_vip.routes.push_back({RouteUpdate::Op::del, pfx("198.19.50.5/32"), 0});
    to_vip.vips = {set_of(make_vip("was-route", "198.19.50.5", LbProto::tcp, 80, {backend("198.18.1.11")}))};
    auto r = lab.apply(to_vip);
    EXPECT_TRUE(r.applied) << errors_of(r);
    EXPECT_EQ(lookup(lab.root(), ip("198.19.50.5")).kind, dp::NhKind::vip);

    // The VIP goes, a route takes its address.
    api::Batch to_route;
    to_route.vips = {del_of(web.key)};
    uint32_t s = add_set(to_route, {via("198.18.1.2", "p1")});
    to_route.routes.push_back({RouteUpdate::Op::set, pfx("198.19.100.1/32"), s});
    r = lab.apply(to_route);
    EXPECT_TRUE(r.applied) << errors_of(r);
    EXPECT_EQ(lookup(lab.root(), ip("198.19.100.1")).kind, dp::NhKind::single);
}

TEST(LbBuilder, NatReturnMapAndFilter) {
    TableLab lab;
    api::Batch b = base();
    api::Vip dsr = make_vip("dsr", "198.19.100.9", LbProto::tcp, 80, {backend("198.18.1.90")});
    b.vips = {set_of(dsr)};
    ASSERT_TRUE(lab.apply(b).applied);
    EXPECT_TRUE(lab.root().lb->nat_return.empty());
    EXPECT_TRUE(lab.root().lb->nat_filter.empty());
    EXPECT_EQ(lab.root().hot.nat_filter, nullptr) << "no NAT VIP: routing checks nothing";

    api::Vip web = make_vip("web", "198.19.100.1", LbProto::tcp, 80,
                            {backend("198.18.1.10", 1, 8080), backend("198.18.1.11")}, LbMode::nat);
    api::Vip any = make_vip("any", "198.19.100.2", LbProto::both, 0, {backend("198.18.1.20")}, LbMode::nat);
    api::Vip dns6 = make_vip("dns6", "2001:db8:99::100", LbProto::udp, 53, {backend("2001:db8:0:2::10", 1, 5353)},
                             LbMode::nat);
    auto r = lab.apply(vips_batch({set_of(web), set_of(any), set_of(dns6)}));
    ASSERT_TRUE(r.applied) << errors_of(r);
    const dp::LbTables& t = *lab.root().lb;
    const int sw = vip_slot(lab.root(), "198.19.100.1", dp::kLbTcp, 80);
    const int sa = vip_slot(lab.root(), "198.19.100.2", dp::kLbUdp, 0);
    const int s6 = vip_slot(lab.root(), "2001:db8:99::100", dp::kLbUdp, 53);

    auto key = [](const char* addr, uint16_t port, uint8_t proto) {
        net::IpAddr a = ip(addr);
        return dp::NatReturnKey{a.bytes, be16(port), proto, uint8_t(a.is_v6())};
    };
    struct Want {
        dp::NatReturnKey k;
        const char* vip;
        uint16_t vip_port;  // 0: the port is kept
        int slot;
    };
    const Want want[] = {
        {key("198.18.1.10", 8080, 6), "198.19.100.1", 80, sw},  // explicit backend port: back to the VIP's
        {key("198.18.1.11", 80, 6), "198.19.100.1", 0, sw},     // port-keeping: its source port is the VIP's
        {key("198.18.1.20", 0, 6), "198.19.100.2", 0, sa},      // all-ports VIP: any port, both protocols
        {key("198.18.1.20", 0, 17), "198.19.100.2", 0, sa},
        {key("2001:db8:0:2::10", 5353, 17), "2001:db8:99::100", 53, s6},
    };
    EXPECT_EQ(t.nat_return.size(), std::size(want)) << "no entry for the DSR VIP's backend, none extra";
    for (const auto& w : want) {
        auto it = t.nat_return.find(w.k);
        ASSERT_NE(it, t.nat_return.end()) << w.vip << " port " << w.vip_port;
        EXPECT_EQ(it->second.vip_addr, ip(w.vip).bytes);
        EXPECT_EQ(it->second.vip_port_be, be16(w.vip_port));
        EXPECT_EQ(it->second.vip, uint32_t(w.slot));
    }
    ASSERT_EQ(t.nat_filter.size(), dp::LbTables::kNatFilterBits / 64);
    EXPECT_EQ(lab.root().hot.nat_filter, t.nat_filter.data());
    size_t bits = 0;
    for (uint64_t w : t.nat_filter) bits += size_t(__builtin_popcountll(w));
    EXPECT_GE(bits, 1u);
    EXPECT_LE(bits, 4u) << "one bit per NAT backend address";
    for (const char* a : {"198.18.1.10", "198.18.1.11", "198.18.1.20", "2001:db8:0:2::10"}) {
        net::IpAddr x = ip(a);
        uint32_t bit = dp::nat_filter_bit(x.bytes.data(), x.is_v6());
        EXPECT_TRUE(t.nat_filter[bit / 64] & (uint64_t(1) << (bit % 64))) << a;
    }

    // The NAT VIPs go: no map, no filter.
    r = lab.apply(vips_batch({del_of(web.key), del_of(any.key), del_of(dns6.key)}));
    ASSERT_TRUE(r.applied) << errors_of(r);
    EXPECT_TRUE(lab.root().lb->nat_return.empty());
    EXPECT_TRUE(lab.root().lb->nat_filter.empty());
    EXPECT_EQ(lab.root().hot.nat_filter, nullptr);
}

TEST(LbBuilder, MaglevTablesDoNotDependOnBackendOrder) {
    TableLab lab;
    std::vector<api::Backend> bs = {backend("198.18.1.10", 1), backend("198.18.1.11", 3), backend("198.18.1.12", 2),
                                    backend("198.18.1.13", 1), backend("198.18.1.14", 7), backend("198.18.1.15", 1),
                                    backend("198.18.1.16", 0), backend("198.18.1.17", 4, 0, BackendState::drain)};
    std::vector<api::Backend> reversed(bs.rbegin(), bs.rend());
    std::vector<api::Backend> shuffled = {bs[3], bs[6], bs[0], bs[7], bs[5], bs[1], bs[4], bs[2]};
    api::Batch b = base();
    b.vips = {set_of(make_vip("x", "198.19.100.1", LbProto::tcp, 80, bs, LbMode::l2_dsr, 1009)),
              set_of(make_vip("y", "198.19.100.2", LbProto::tcp, 80, reversed, LbMode::l2_dsr, 1009)),
              set_of(make_vip("z", "198.19.100.3", LbProto::udp, 0, shuffled, LbMode::l2_dsr, 1009))};
    auto r = lab.apply(b);
    ASSERT_TRUE(r.applied) << errors_of(r);
    const dp::LbTables& t = *lab.root().lb;
    auto x = table_as_addresses(t, uint32_t(vip_slot(lab.root(), "198.19.100.1", dp::kLbTcp, 80)));
    auto y = table_as_addresses(t, uint32_t(vip_slot(lab.root(), "198.19.100.2", dp::kLbTcp, 80)));
    auto z = table_as_addresses(t, uint32_t(vip_slot(lab.root(), "198.19.100.3", dp::kLbUdp, 0)));
    ASSERT_EQ(x.size(), 1009u);
    EXPECT_TRUE(x == y) << "reversed list, same table";
    EXPECT_TRUE(x == z) << "shuffled list, same table";
    EXPECT_EQ(std::count(x.begin(), x.end(), "-"), 0);
    EXPECT_EQ(std::count(x.begin(), x.end(), "198.18.1.16 0"), 0) << "weight 0 holds no slot";
    EXPECT_EQ(std::count(x.begin(), x.end(), "198.18.1.17 0"), 0) << "drained holds no slot";
    // Raw slot arrays are the same too: members are in key order in each.
    const dp::LbVip& vx = t.vips[size_t(vip_slot(lab.root(), "198.19.100.1", dp::kLbTcp, 80))];
    const dp::LbVip& vy = t.vips[size_t(vip_slot(lab.root(), "198.19.100.2", dp::kLbTcp, 80))];
    EXPECT_TRUE(vx.maglev->slot == vy.maglev->slot);
}


// keeps_flows (the stage's one-load check of a tracked flow's backend): the
// backend's uid while it is up or draining, 0 when down or when its slot
// is free, after every batch that changes a state or removes a backend.
TEST(LbBuilder, KeepsFlowsFollowsStatesAndRemovals) {
    TableLab lab;
    api::Batch b = base();
    api::Vip v = make_vip("x", "198.19.100.1", LbProto::tcp, 80,
                          {backend("198.18.1.10"), backend("198.18.1.11", 1, 0, BackendState::drain),
                           backend("198.18.1.12", 1, 0, BackendState::down)});
    b.vips = {set_of(v)};
    auto r = lab.apply(b);
    ASSERT_TRUE(r.applied) << errors_of(r);
    auto check = [&](const char* when) {
        const dp::LbTables& t = *lab.root().lb;
        ASSERT_EQ(t.keeps_flows.size(), t.backends.size()) << when;
        for (size_t i = 0; i < t.backends.size(); ++i) {
            const dp::LbBackend& x = t.backends[i];
            uint32_t want = x.uid == 0 || x.state == BackendState::down ? 0 : x.uid;
            EXPECT_EQ(t.keeps_flows[i], want) << when << ": slot " << i;
        }
    };
    check("first batch");
    {
        const dp::LbTables& t = *lab.root().lb;
        size_t nonzero = std::count_if(t.keeps_flows.begin(), t.keeps_flows.end(), [](uint32_t u) { return u != 0; });
        EXPECT_EQ(nonzero, 2u) << "up and drain keep their flows, down does not";
    }
    // Up goes down, down comes up; then the drained backend is removed.
    v.backends[0].state = BackendState::down;
    v.backends[2].state = BackendState::up;
    b = api::Batch{};
    b.vips = {set_of(v)};
    r = lab.apply(b);
    ASSERT_TRUE(r.applied) << errors_of(r);
    check("states swapped");
    v.backends.erase(v.backends.begin() + 1);
    b.vips = {set_of(v)};
    r = lab.apply(b);
    ASSERT_TRUE(r.applied) << errors_of(r);
    check("drained backend removed");
    const dp::LbTables& t = *lab.root().lb;
    size_t nonzero = std::count_if(t.keeps_flows.begin(), t.keeps_flows.end(), [](uint32_t u) { return u != 0; });
    EXPECT_EQ(nonzero, 1u) << "only the backend that came up";
}

}  // namespace
}  // namespace sluice::test
