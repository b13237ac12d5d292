#include "tests/unit/tables/lab.hpp"

#include <algorithm>

#include <gtest/gtest.h>

namespace sluice::test {

net::IpAddr ip(const std::string& s) {
    auto a = net::parse_ip(s);
    EXPECT_TRUE(a) << s;
    return a ? *a : net::IpAddr{};
}

net::Prefix pfx(const std::string& s) {
    auto p = net::parse_prefix(s);
    EXPECT_TRUE(p) << s;
    return p ? *p : net::Prefix{};
}

std::vector<uint32_t> FakeNeighbors::acquire_gateways(const std::vector<dp::GatewayRef>& gws) {
    std::vector<uint32_t> out;
    for (const auto& g : gws) {
        auto key = std::make_pair(g.port, g.addr);
        auto it = slot_of.find(key);
        if (it == slot_of.end()) {
            if (slot_of.size() >= capacity) {
                out.push_back(dp::kNoNeighbor);
                continue;
            }
            it = slot_of.emplace(key, next_slot++).first;
        }
        ++refs[it->second];
        out.push_back(it->second);
    }
    return out;
}

void FakeNeighbors::release_gateways(const std::vector<uint32_t>& slots) {
    for (uint32_t s : slots) {
        EXPECT_GT(refs[s], 0) << "slot " << s << " released more often than acquired";
        if (--refs[s] == 0) {
            refs.erase(s);
            for (auto it = slot_of.begin(); it != slot_of.end(); ++it)
                if (it->second == s) {
                    slot_of.erase(it);
                    break;
                }
        }
    }
}

void FakeNeighbors::apply(const std::vector<dp::StaticNeighborOp>& ops, const std::optional<api::NeighborSettings>& n,
                          const std::optional<api::IcmpSettings>& i) {
    for (const auto& op : ops) {
        if (op.set)
            statics[{op.port, op.addr}] = op.mac;
        else
            statics.erase({op.port, op.addr});
    }
    if (n) neighbor = n;
    if (i) icmp = i;
}

TableLab::TableLab() {
    const char* names[] = {"p0", "p1", "p2"};
    for (uint16_t i = 0; i < 3; ++i) {
        dp::Port& p = ports.port[i];
        p.open = true;
        p.spec.name = names[i];
        p.spec.device = std::string("net_null") + std::to_string(i);
        p.spec.mtu = 1500;
        p.info.port_id = i;
        p.info.mac = {0x02, 0, 0, 0, uint8_t(i), 0x10};
    }
    std::string err;
    rcu = dp::RcuDomain::create(4, &err);
    EXPECT_TRUE(rcu) << err;
    published = std::make_unique<dp::Published<dp::Root>>(*rcu);
    builder = std::make_unique<dp::TableBuilder>(ports, *published, *rcu, nbrs, api::NeighborSettings{});
}

TableLab::~TableLab() {
    builder.reset();
    published.reset();
    rcu->drain();
}

Answer lookup(const dp::Root& r, const net::IpAddr& a) {
    uint64_t v = a.is_v4() ? r.fib4->lookup(a.v4_host()) : r.fib6->lookup(a.bytes.data());
    Answer ans;
    ans.kind = dp::nh_kind(v);
    auto member = [&](uint32_t idx) {
        const dp::NextHop& nh = r.nexthops->nh.at(idx);
        dp::MemberKey k;
        k.port = nh.port;
        k.v6 = nh.v6;
        k.onlink = nh.neighbor == dp::kNoNeighbor;
        if (!k.onlink) k.gw = nh.gateway;
        return k;
    };
    switch (ans.kind) {
    case dp::NhKind::local:
        ans.local_port = uint16_t(dp::nh_index(v));
        break;
    case dp::NhKind::single:
        ans.members.push_back(member(dp::nh_index(v)));
        break;
    case dp::NhKind::group: {
        const dp::EcmpGroup& g = r.nexthops->groups.at(dp::nh_index(v));
        for (uint32_t i = 0; i < g.count; ++i) ans.members.push_back(member(r.nexthops->members.at(g.first + i)));
        std::sort(ans.members.begin(), ans.members.end());
        break;
    }
    default:
        break;
    }
    return ans;
}

std::string describe(const Answer& a) {
    std::string s;
    switch (a.kind) {
    case dp::NhKind::none:
        return "no route";
    case dp::NhKind::local:
        return "local on port " + std::to_string(a.local_port);
    default:
        break;
    }
    for (const auto& m : a.members) {
        net::IpAddr g;
        g.family = m.v6 ? net::IpAddr::Family::V6 : net::IpAddr::Family::V4;
        g.bytes = m.gw;
        s += (s.empty() ? "" : " + ") + (m.onlink ? std::string("on-link") : net::to_string(g)) + " port " +
             std::to_string(m.port);
    }
    return s;
}

Answer Model::lookup(const net::IpAddr& a) const {
    for (int len = int(net::max_len(a)); len >= 0; --len) {
        net::Prefix p = net::network_of(net::Prefix{a, uint8_t(len)});
        auto it = entries.find({uint8_t(len), p.addr});
        if (it != entries.end()) return it->second;
    }
    return Answer{};
}

dp::MemberKey gw_member(uint16_t port, const std::string& gw) {
    dp::MemberKey k;
    net::IpAddr a = ip(gw);
    k.port = port;
    k.v6 = a.is_v6();
    k.onlink = false;
    k.gw = a.bytes;
    return k;
}

dp::MemberKey onlink_member(uint16_t port, bool v6) {
    dp::MemberKey k;
    k.port = port;
    k.v6 = v6;
    return k;
}

uint32_t add_set(api::Batch& b, std::vector<api::Nexthop> hops) {
    b.nexthop_sets.push_back(std::move(hops));
    return uint32_t(b.nexthop_sets.size() - 1);
}

api::Nexthop via(const std::string& gw, const std::string& port) { return api::Nexthop{ip(gw), port}; }
api::Nexthop onlink(const std::string& port) { return api::Nexthop{std::nullopt, port}; }

}  // namespace sluice::test
