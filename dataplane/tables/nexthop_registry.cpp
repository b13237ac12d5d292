#include "dataplane/tables/nexthop_registry.hpp"

#include <algorithm>
#include <cassert>
#include <tuple>

namespace sluice::dp {

namespace {

// ECMP members in a stable order, never the order a request listed them:
// reordering a config must not move flows (RFC 2992), and every instance
// given the same routes must pick the same member for a flow.
bool stable_less(const MemberKey& a, const MemberKey& b) {
    return std::tie(a.gw, a.port, a.onlink) < std::tie(b.gw, b.port, b.onlink);
}

}  // namespace

std::vector<uint32_t> NexthopRegistry::sorted_ids(const std::vector<MemberKey>& members, bool* all_found) const {
    std::vector<MemberKey> sorted = members;
    std::sort(sorted.begin(), sorted.end(), stable_less);
    std::vector<uint32_t> ids;
    ids.reserve(sorted.size());
    *all_found = true;
    for (const auto& m : sorted) {
        auto it = nh_ids_.find(m);
        if (it == nh_ids_.end()) {
            *all_found = false;
            return ids;
        }
        ids.push_back(it->second);
    }
    return ids;
}

uint64_t NexthopRegistry::find(const std::vector<MemberKey>& members) const {
    if (members.empty()) return kNoRoute;
    bool found = false;
    if (members.size() == 1) {
        auto it = nh_ids_.find(members[0]);
        return it == nh_ids_.end() ? kNoRoute : nh_encode(NhKind::single, it->second);
    }
    std::vector<uint32_t> ids = sorted_ids(members, &found);
    if (!found) return kNoRoute;
    auto g = group_ids_.find(ids);
    return g == group_ids_.end() ? kNoRoute : nh_encode(NhKind::group, g->second);
}

uint32_t NexthopRegistry::nh_acquire(const MemberKey& k,
                                     const std::function<uint32_t(const MemberKey&)>& gateway_slot) {
    auto it = nh_ids_.find(k);
    if (it != nh_ids_.end()) {
        ++nh_[it->second].refs;
        return it->second;
    }
    uint32_t id;
    if (!nh_free_.empty()) {
        id = nh_free_.back();
        nh_free_.pop_back();
    } else {
        id = uint32_t(nh_.size());
        nh_.emplace_back();
    }
    NhEntry& e = nh_[id];
    e = NhEntry{};
    e.key = k;
    e.refs = 1;
    e.nh.port = k.port;
    e.nh.mtu = port_mtu_(k.port);
    e.nh.v6 = k.v6;
    e.nh.gateway = k.gw;
    e.nh.neighbor = k.onlink ? kNoNeighbor : gateway_slot(k);
    nh_ids_.emplace(k, id);
    dirty_ = true;
    return id;
}

void NexthopRegistry::nh_release(uint32_t id, std::vector<uint32_t>& released_slots) {
    NhEntry& e = nh_[id];
    assert(e.refs > 0);
    if (--e.refs > 0) return;
    if (e.nh.neighbor != kNoNeighbor) released_slots.push_back(e.nh.neighbor);
    nh_ids_.erase(e.key);
    nh_free_.push_back(id);
    dirty_ = true;
}

uint64_t NexthopRegistry::acquire(const std::vector<MemberKey>& members,
                                  const std::function<uint32_t(const MemberKey&)>& gateway_slot) {
    if (members.size() == 1) return nh_encode(NhKind::single, nh_acquire(members[0], gateway_slot));
    std::vector<MemberKey> sorted = members;
    std::sort(sorted.begin(), sorted.end(), stable_less);
    std::vector<uint32_t> ids;
    ids.reserve(sorted.size());
    for (const auto& m : sorted) ids.push_back(nh_acquire(m, gateway_slot));
    auto g = group_ids_.find(ids);
    if (g != group_ids_.end()) {
        // The group holds one reference per member already: drop ours.
        ++groups_[g->second].refs;
        std::vector<uint32_t> none;
        for (uint32_t id : ids) nh_release(id, none);
        assert(none.empty());
        return nh_encode(NhKind::group, g->second);
    }
    uint32_t gid;
    if (!group_free_.empty()) {
        gid = group_free_.back();
        group_free_.pop_back();
    } else {
        gid = uint32_t(groups_.size());
        groups_.emplace_back();
    }
    groups_[gid] = GroupEntry{ids, 1};
    group_ids_.emplace(std::move(ids), gid);
    dirty_ = true;
    return nh_encode(NhKind::group, gid);
}

void NexthopRegistry::retain(uint64_t value) {
    switch (nh_kind(value)) {
    case NhKind::single:
        ++nh_[nh_index(value)].refs;
        break;
    case NhKind::group:
        ++groups_[nh_index(value)].refs;
        break;
    default:
        break;
    }
}

void NexthopRegistry::release(uint64_t value, std::vector<uint32_t>& released_slots) {
    switch (nh_kind(value)) {
    case NhKind::single:
        nh_release(nh_index(value), released_slots);
        break;
    case NhKind::group: {
        uint32_t gid = nh_index(value);
        GroupEntry& g = groups_[gid];
        assert(g.refs > 0);
        if (--g.refs > 0) return;
        for (uint32_t id : g.members) nh_release(id, released_slots);
        group_ids_.erase(g.members);
        g.members.clear();
        group_free_.push_back(gid);
        dirty_ = true;
        break;
    }
    default:
        break;
    }
}

std::vector<MemberKey> NexthopRegistry::members_of(uint64_t value) const {
    std::vector<MemberKey> out;
    if (nh_kind(value) == NhKind::single) out.push_back(nh_[nh_index(value)].key);
    if (nh_kind(value) == NhKind::group)
        for (uint32_t id : groups_[nh_index(value)].members) out.push_back(nh_[id].key);
    return out;
}

uint32_t NexthopRegistry::gateway_slot_of(const MemberKey& k) const {
    auto it = nh_ids_.find(k);
    return it == nh_ids_.end() ? kNoNeighbor : nh_[it->second].nh.neighbor;
}

std::vector<MemberKey> NexthopRegistry::gateways_in_use_after(const std::vector<uint64_t>& releases) const {
    std::map<uint32_t, uint32_t> nh_drop, group_drop;
    for (uint64_t v : releases) {
        if (nh_kind(v) == NhKind::single) ++nh_drop[nh_index(v)];
        if (nh_kind(v) == NhKind::group) ++group_drop[nh_index(v)];
    }
    for (const auto& [gid, n] : group_drop)
        if (groups_[gid].refs <= n)
            for (uint32_t id : groups_[gid].members) ++nh_drop[id];
    std::vector<MemberKey> out;
    for (const auto& [key, id] : nh_ids_) {
        if (key.onlink) continue;
        auto d = nh_drop.find(id);
        if (nh_[id].refs > (d == nh_drop.end() ? 0 : d->second)) out.push_back(key);
    }
    return out;
}

std::shared_ptr<const Nexthops> NexthopRegistry::table() {
    auto t = std::make_shared<Nexthops>();
    t->nh.resize(nh_.size());
    t->hot.resize(nh_.size());
    for (size_t i = 0; i < nh_.size(); ++i) {
        t->nh[i] = nh_[i].nh;
        t->hot[i] = nh_hot(nh_[i].nh);
    }
    t->groups.resize(groups_.size());
    for (size_t g = 0; g < groups_.size(); ++g) {
        t->groups[g] = EcmpGroup{uint32_t(t->members.size()), uint32_t(groups_[g].members.size())};
        t->members.insert(t->members.end(), groups_[g].members.begin(), groups_[g].members.end());
    }
    dirty_ = false;
    return t;
}

}  // namespace sluice::dp
