// A table builder over three fake ports (no NICs), a fake neighbor service
// and a real RCU domain and real rte_fib/rte_fib6 copies (EAL memory), and
// a reference model to check FIB answers against.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/update.hpp"
#include "dataplane/port_registry.hpp"
#include "dataplane/rcu/domain.hpp"
#include "dataplane/tables/builder.hpp"

namespace sluice::test {

net::IpAddr ip(const std::string& s);
net::Prefix pfx(const std::string& s);

// Slots handed out per (port, address), counted; records what the builder
// asked for.
class FakeNeighbors : public dp::NeighborService {
public:
    std::vector<uint32_t> acquire_gateways(const std::vector<dp::GatewayRef>& gws) override;
    void release_gateways(const std::vector<uint32_t>& slots) override;
    void apply(const std::vector<dp::StaticNeighborOp>& ops, const std::optional<api::NeighborSettings>& nbr,
               const std::optional<api::IcmpSettings>& icmp) override;
    void published() override { ++publications; }

    uint32_t capacity = 1u << 16;
    std::map<std::pair<uint16_t, net::IpAddr>, uint32_t> slot_of;
    std::map<uint32_t, int> refs;  // slot -> references held by next hops
    std::map<std::pair<uint16_t, net::IpAddr>, net::MacAddr> statics;
    std::optional<api::NeighborSettings> neighbor;
    std::optional<api::IcmpSettings> icmp;
    int publications = 0;
    uint32_t next_slot = 0;
};

struct TableLab {
    TableLab();
    ~TableLab();
    api::BatchResult apply(const api::Batch& b) { return builder->apply(b); }
    const dp::Root& root() const { return *published->get(); }

    dp::PortRegistry ports;
    std::unique_ptr<dp::RcuDomain> rcu;
    std::unique_ptr<dp::Published<dp::Root>> published;
    FakeNeighbors nbrs;
    std::unique_ptr<dp::TableBuilder> builder;
};

// What a lookup answered, decoded through the root's next-hop table.
struct Answer {
    dp::NhKind kind = dp::NhKind::none;
    uint16_t local_port = 0;
    std::vector<dp::MemberKey> members;  // sorted
    friend bool operator==(const Answer&, const Answer&) = default;
};
Answer lookup(const dp::Root& r, const net::IpAddr& a);
std::string describe(const Answer& a);

// Reference: longest match over explicit entries.
struct Model {
    std::map<std::pair<uint8_t, net::IpAddr>, Answer> entries;  // (len, network) -> answer
    Answer lookup(const net::IpAddr& a) const;
    void set(const net::Prefix& p, Answer a) { entries[{p.len, p.addr}] = std::move(a); }
    void del(const net::Prefix& p) { entries.erase({p.len, p.addr}); }
};

dp::MemberKey gw_member(uint16_t port, const std::string& gw);
dp::MemberKey onlink_member(uint16_t port, bool v6);

// Batch building.
uint32_t add_set(api::Batch& b, std::vector<api::Nexthop> hops);
api::Nexthop via(const std::string& gw, const std::string& port);
api::Nexthop onlink(const std::string& port);

}  // namespace sluice::test
