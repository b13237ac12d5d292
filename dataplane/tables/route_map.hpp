// The builder's record of every prefix in one family's FIB and why it is
// there: a route (its next-hop value), a connected subnet of an interface
// address, or one of our own addresses (host route, IPv4 subnet broadcast).
// The value the FIB holds for a prefix is derived from those sources by a
// fixed precedence (effective()), so adding or removing one source can be
// answered with the one FIB write it implies.
#pragma once

#include <array>
#include <cstdint>

#include <absl/container/flat_hash_map.h>

#include "dataplane/tables/nexthops.hpp"
#include "dataplane/tables/prefix_key.hpp"

namespace sluice::dp {

struct RouteEntry {
    uint64_t route = kNoRoute;      // a configured/requested route's value (single or group)
    uint64_t connected = kNoRoute;  // on-link next hop of a connected subnet
    uint16_t local_port = 0;
    uint8_t local_refs = 0;         // our addresses (and subnet broadcasts) on local_port
    uint8_t connected_refs = 0;     // interface addresses whose subnet this is
    uint32_t mark = 0;              // for producers diffing against the running routes
    uint32_t vip = 0;               // a VIP address: its LbTables::addresses index + 1 (0: none)

    // Precedence: a packet to one of our addresses is ours (RFC 1812 5.2.4,
    // local delivery before forwarding); a VIP address is the balancer's
    // (its host route beats any route covering it); a route overrides the
    // connected subnet of the same prefix (as an operator's explicit route
    // does on Linux and in the previous whole-config builder); then the subnet.
    uint64_t effective() const {
        if (local_refs) return nh_encode(NhKind::local, local_port);
        if (vip) return nh_encode(NhKind::vip, vip - 1);
        if (route != kNoRoute) return route;
        if (connected_refs) return connected;
        return kNoRoute;
    }
    bool empty() const { return route == kNoRoute && !local_refs && !connected_refs && !vip; }
};

// A flat (open addressing) table: one cache miss per lookup and no node
// per entry. Measured here on 10^6 entries: find 76-97 ms against
// std::unordered_map's 176-186 ms, iteration 13 ms against 135-140 ms, and
// no heap of a million nodes to free (whose malloc consolidation cost the
// next batch 300 ms). Entries do not keep their address across inserts.
template <class Key, class Hash, unsigned MaxLen>
class RouteMap {
public:
    using Map = absl::flat_hash_map<Key, RouteEntry, Hash>;

    const RouteEntry* find(const Key& k) const {
        auto it = map_.find(k);
        return it == map_.end() ? nullptr : &it->second;
    }
    RouteEntry& at(const Key& k) { return map_[k]; }
    // Keeps the per-length counts right: call after changing an entry's
    // sources, with its effective value before the change.
    void settle(const Key& k, uint64_t before) {
        auto it = map_.find(k);
        uint64_t after = it == map_.end() ? kNoRoute : it->second.effective();
        if (before == kNoRoute && after != kNoRoute) ++per_len_[len_of(k)];
        if (before != kNoRoute && after == kNoRoute) --per_len_[len_of(k)];
        if (it != map_.end() && it->second.empty()) map_.erase(it);
    }
    uint64_t value(const Key& k) const {
        const RouteEntry* e = find(k);
        return e ? e->effective() : kNoRoute;
    }
    // The value of the longest installed prefix covering k whose length is
    // in [min_len, max_len]; kNoRoute if none. Probes only lengths in use.
    uint64_t cover(const Key& k, int min_len, int max_len, Key* found = nullptr) const {
        for (int l = max_len; l >= min_len; --l) {
            if (!per_len_[size_t(l)]) continue;
            Key m = k.masked(uint8_t(l));
            auto it = map_.find(m);
            if (it != map_.end()) {
                uint64_t v = it->second.effective();
                if (v != kNoRoute) {
                    if (found) *found = m;
                    return v;
                }
            }
        }
        return kNoRoute;
    }
    size_t installed() const {
        size_t n = 0;
        for (uint32_t c : per_len_) n += c;
        return n;
    }
    const Map& entries() const { return map_; }
    void reserve(size_t n) { map_.reserve(n); }
    // After filling an empty map without settle(): counts from scratch,
    // empty entries dropped.
    void recount() {
        per_len_.fill(0);
        absl::erase_if(map_, [](const auto& kv) { return kv.second.empty(); });
        for (const auto& [k, e] : map_)
            if (e.effective() != kNoRoute) ++per_len_[len_of(k)];
    }
    void clear() {
        map_.clear();
        per_len_.fill(0);
    }

private:
    static unsigned len_of(const Key& k) {
        if constexpr (requires { k.len(); })
            return k.len();
        else
            return k.len;
    }
    Map map_;
    std::array<uint32_t, MaxLen + 1> per_len_{};
};

using RouteMap4 = RouteMap<Key4, Key4Hash, 32>;
using RouteMap6 = RouteMap<Key6, Key6Hash, 128>;

}  // namespace sluice::dp
