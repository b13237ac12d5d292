#include "tests/unit/dataplane/tables_env.hpp"

#include "config/load.hpp"
#include "dataplane/reload/config_diff.hpp"

namespace sluice::test {

namespace {
dp::NeighborKey key_of(uint16_t port, const net::IpAddr& a) {
    return a.is_v4() ? dp::NeighborKey::v4(port, a.bytes.data()) : dp::NeighborKey::v6addr(port, a.bytes.data());
}
}  // namespace

std::vector<uint32_t> DirectNeighbors::acquire_gateways(const std::vector<dp::GatewayRef>& gws) {
    std::vector<uint32_t> out;
    for (const auto& g : gws) {
        uint32_t s = t_.insert(key_of(g.port, g.addr));
        if (s != dp::kNoNeighbor) ++refs[s];
        out.push_back(s);
    }
    return out;
}

void DirectNeighbors::release_gateways(const std::vector<uint32_t>& slots) {
    for (uint32_t s : slots)
        if (--refs[s] == 0) refs.erase(s);
}

void DirectNeighbors::apply(const std::vector<dp::StaticNeighborOp>& ops, const std::optional<api::NeighborSettings>&,
                            const std::optional<api::IcmpSettings>&) {
    for (const auto& op : ops) {
        uint32_t s = t_.insert(key_of(op.port, op.addr));
        if (s == dp::kNoNeighbor) continue;
        if (op.set)
            t_.set_mac(s, op.mac);
        else
            t_.invalidate(s);
    }
}

std::vector<net::PortSpec> TablesEnv::two_ports() {
    std::vector<net::PortSpec> v(2);
    for (size_t i = 0; i < 2; ++i) {
        v[i].name = "p" + std::to_string(i);
        v[i].device = "net_null" + std::to_string(i);
    }
    return v;
}

TablesEnv::TablesEnv(const std::vector<net::PortSpec>& specs, uint32_t neighbor_capacity) {
    for (uint16_t i = 0; i < specs.size() && i < dp::kMaxPorts; ++i) {
        dp::Port& p = ports.port[i];
        p.open = true;
        p.spec = specs[i];
        p.info.port_id = i;
        p.info.mac = {0x02, 0, 0, 0, uint8_t(i), 0x10};  // p0, p1: frames.hpp's kMac0, kMac1
    }
    std::string err;
    rcu = dp::RcuDomain::create(2, &err);
    nbrs = dp::NeighborTable::create(neighbor_capacity, &err);
    published = std::make_unique<dp::Published<dp::Root>>(*rcu);
    direct = std::make_unique<DirectNeighbors>(*nbrs);
    api::NeighborSettings ns;
    ns.capacity = neighbor_capacity;
    builder = std::make_unique<dp::TableBuilder>(ports, *published, *rcu, *direct, ns);
}

TablesEnv::~TablesEnv() {
    builder.reset();
    published.reset();
    rcu->drain();
    nbrs.reset();
}

std::string TablesEnv::load(const config::Config& cfg) {
    api::Batch b = dp::diff_config(cfg, *builder);
    auto r = builder->apply(b);
    std::string out;
    for (const auto& e : r.errors) out += e.what + ": " + e.message + "\n";
    return out;
}

void TablesEnv::resolve(uint16_t port, const std::string& addr, const std::array<uint8_t, 6>& mac) {
    auto a = net::parse_ip(addr);
    uint32_t s = nbrs->insert(key_of(port, *a));
    nbrs->set_mac(s, mac);
}

}  // namespace sluice::test
