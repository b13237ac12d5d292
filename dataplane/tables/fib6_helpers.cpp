#include "dataplane/tables/fib6_helpers.hpp"

#include <algorithm>

namespace sluice::dp {

namespace {

FibOp set_op(const Key6& k, uint64_t v) { return FibOp{k.prefix(), v, false}; }
FibOp del_op(const Key6& k) { return FibOp{k.prefix(), 0, true}; }

}  // namespace

bool Fib6Helpers::helper_value(const Key6& k, uint64_t* v) const {
    auto it = helpers_.find(k);
    if (it == helpers_.end()) return false;
    *v = it->second.value;
    return true;
}

void Fib6Helpers::update_inside(const Key6& p, std::vector<FibOp>& ops) {
    // Helpers strictly inside p: from (p.hi, p.lo, p.len + 1) while inside.
    auto it = helpers_.lower_bound(Key6{p.hi, p.lo, uint8_t(p.len + 1)});
    for (; it != helpers_.end() && it->first.inside(p); ++it) {
        const Key6& h = it->first;
        if (h.len <= p.len) continue;
        if (routes_.value(h) != kNoRoute) continue;                // a route owns that entry
        if (routes_.cover(h, p.len + 1, h.len) != kNoRoute) continue;  // shielded by a longer prefix
        uint64_t v = routes_.cover(h, 0, p.len);
        if (v == it->second.value) continue;
        it->second.value = v;
        ops.push_back(set_op(h, v));
    }
}

void Fib6Helpers::changed(const Key6& k, uint64_t before, uint64_t after, std::vector<FibOp>& ops) {
    if (before == after) return;
    bool appear = before == kNoRoute;
    bool vanish = after == kNoRoute;
    if (appear) {
        count_level_route(k, +1);
        // The chain above k, shortest first, before k itself.
        for (unsigned h = kFirstLevel; h < k.len; h += kStep) {
            Key6 hk = k.masked(uint8_t(h));
            auto [it, fresh] = helpers_.try_emplace(hk);
            Helper& e = it->second;
            if (e.refs++ > 0) continue;
            if (!fresh) {
                --idle_;  // a tombstone: in the FIB already, its value kept current
                continue;
            }
            e.value = cover_of(hk);
            if (routes_.value(hk) == kNoRoute) ops.push_back(set_op(hk, e.value));
        }
    }
    if (!vanish) {
        ops.push_back(set_op(k, after));
    } else if (k.len < kFirstLevel) {
        ops.push_back(del_op(k));  // tbl24 only: a delete reserves nothing
    } else {
        // Not deleted: a tombstone answering what k's cover answers (see
        // the header: rte_fib6_delete leaks tbl8 reservations in 22.11).
        auto [it, fresh] = helpers_.try_emplace(k);
        if (fresh) ++idle_;
        it->second.value = routes_.cover(k, 0, k.len - 1);
        ops.push_back(set_op(k, it->second.value));
    }
    update_inside(k, ops);
    if (vanish) {
        count_level_route(k, -1);
        // The chain above k, longest first: idle now, left in place.
        unsigned top = kFirstLevel;
        while (top + kStep < k.len) top += kStep;
        for (int h = int(top); h >= int(kFirstLevel) && unsigned(h) < k.len; h -= int(kStep)) {
            auto it = helpers_.find(k.masked(uint8_t(h)));
            if (it != helpers_.end() && it->second.refs > 0 && --it->second.refs == 0) ++idle_;
        }
    }
}

void Fib6Helpers::rebuild() {
    helpers_.clear();
    idle_ = 0;
    level_routes_ = 0;
    std::vector<Key6> keys;
    for (const auto& [k, e] : routes_.entries()) {
        if (e.effective() == kNoRoute) continue;
        count_level_route(k, +1);
        for (unsigned h = kFirstLevel; h < k.len; h += kStep) keys.push_back(k.masked(uint8_t(h)));
    }
    std::sort(keys.begin(), keys.end());
    for (size_t i = 0; i < keys.size();) {
        size_t j = i;
        while (j < keys.size() && keys[j] == keys[i]) ++j;
        auto it = helpers_.emplace_hint(helpers_.end(), keys[i], Helper{uint32_t(j - i), kNoRoute});
        it->second.value = cover_of(keys[i]);
        i = j;
    }
}

std::vector<FibOp> Fib6Helpers::full_ops() const {
    struct Item {
        uint8_t len;
        bool helper;
        Key6 k;
        uint64_t v;
    };
    std::vector<Item> items;
    items.reserve(routes_.entries().size() + helpers_.size());
    for (const auto& [k, h] : helpers_)
        if (routes_.value(k) == kNoRoute) items.push_back({k.len, true, k, h.value});
    for (const auto& [k, e] : routes_.entries())
        if (uint64_t v = e.effective(); v != kNoRoute) items.push_back({k.len, false, k, v});
    // By length (shortest first; within a length helpers first, so each
    // prefix reserves at most one group), then by address for rib locality.
    std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
        if (a.len != b.len) return a.len < b.len;
        if (a.helper != b.helper) return a.helper;
        return a.k < b.k;
    });
    std::vector<FibOp> ops;
    ops.reserve(items.size());
    for (const auto& i : items) ops.push_back(set_op(i.k, i.v));
    return ops;
}

}  // namespace sluice::dp
