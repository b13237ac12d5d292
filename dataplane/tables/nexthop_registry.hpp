// Hands out next-hop and ECMP-group indices (the values the FIBs store) and
// counts how many FIB entries use each, so a route change adds or drops
// only what it needs and the Nexthops table is rebuilt (small) only when an
// entry appeared or went away. Owned by the table builder's thread.
//
// Interning: the same set of next hops always maps to the same FIB value,
// so comparing a route's running value with a requested set is one lookup
// (the config diff relies on it).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "dataplane/tables/nexthops.hpp"

namespace sluice::dp {

// One member of a next-hop set, resolved to a port id.
struct MemberKey {
    uint16_t port = 0;
    bool v6 = false;
    bool onlink = true;                // no gateway
    std::array<uint8_t, 16> gw{};      // gateway (IPv4 in the first 4 bytes)
    friend bool operator==(const MemberKey&, const MemberKey&) = default;
    friend auto operator<=>(const MemberKey&, const MemberKey&) = default;
};

class NexthopRegistry {
public:
    // Port MTUs are fixed at start-up (net::PortSpec); the registry copies
    // them into each next hop so the worker's MTU check reads one entry.
    explicit NexthopRegistry(std::function<uint16_t(uint16_t port)> port_mtu) : port_mtu_(std::move(port_mtu)) {}

    // The FIB value for a set of members if every part of it exists, else
    // kNoRoute. Members in any order; no duplicates.
    uint64_t find(const std::vector<MemberKey>& members) const;
    // The same, creating what is missing and taking one reference.
    // `gateway_slot` gives the neighbor slot for a new gateway next hop.
    uint64_t acquire(const std::vector<MemberKey>& members,
                     const std::function<uint32_t(const MemberKey&)>& gateway_slot);
    // Takes one more reference on an existing value.
    void retain(uint64_t value);
    // Drops one reference. Gateways whose last next hop went away are
    // appended to `released_slots` (the neighbor table may forget them).
    void release(uint64_t value, std::vector<uint32_t>& released_slots);

    // The member keys of a value (for telemetry and tests).
    std::vector<MemberKey> members_of(uint64_t value) const;
    // Whether a gateway next hop exists (its slot is held).
    uint32_t gateway_slot_of(const MemberKey& k) const;
    // Gateway next hops still referenced once `releases` (values about to
    // be released) are dropped.
    std::vector<MemberKey> gateways_in_use_after(const std::vector<uint64_t>& releases) const;

    // True when entries appeared or went away since the last table().
    bool dirty() const { return dirty_; }
    // The table for the workers, with stable indices; clears dirty().
    std::shared_ptr<const Nexthops> table();

    size_t nexthop_count() const { return nh_ids_.size(); }
    size_t group_count() const { return group_ids_.size(); }

private:
    struct NhEntry {
        NextHop nh;
        MemberKey key;
        uint32_t refs = 0;
    };
    struct GroupEntry {
        std::vector<uint32_t> members;  // next hop ids in stable (gateway, port) order
        uint32_t refs = 0;
    };

    uint32_t nh_acquire(const MemberKey& k, const std::function<uint32_t(const MemberKey&)>& gateway_slot);
    void nh_release(uint32_t id, std::vector<uint32_t>& released_slots);
    std::vector<uint32_t> sorted_ids(const std::vector<MemberKey>& members, bool* all_found) const;

    std::function<uint16_t(uint16_t)> port_mtu_;
    std::map<MemberKey, uint32_t> nh_ids_;
    std::vector<NhEntry> nh_;
    std::vector<uint32_t> nh_free_;
    std::map<std::vector<uint32_t>, uint32_t> group_ids_;
    std::vector<GroupEntry> groups_;
    std::vector<uint32_t> group_free_;
    bool dirty_ = true;
};

}  // namespace sluice::dp
