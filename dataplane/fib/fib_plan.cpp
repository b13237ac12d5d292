#include "dataplane/fib/fib_plan.hpp"

#include <algorithm>
#include <array>

namespace sluice::dp {

namespace {

using Bytes16 = std::array<uint8_t, 16>;

Bytes16 mask(const Bytes16& a, unsigned len) {
    Bytes16 r{};
    for (unsigned i = 0; i < 16; ++i) {
        if (len >= 8 * (i + 1))
            r[i] = a[i];
        else if (len > 8 * i)
            r[i] = uint8_t(a[i] & (0xFF00u >> (len - 8 * i)));
    }
    return r;
}

constexpr unsigned kTbl24Depth = 24;

}  // namespace

uint32_t fib4_tbl8_needed(const std::vector<FibEntry>& v4) {
    std::vector<uint32_t> slash24;
    for (const auto& e : v4)
        if (e.prefix.len > kTbl24Depth) slash24.push_back(e.prefix.addr.v4_host() >> 8);
    std::sort(slash24.begin(), slash24.end());
    return uint32_t(std::unique(slash24.begin(), slash24.end()) - slash24.begin());
}

Fib6Plan plan_fib6(const std::vector<FibEntry>& v6) {
    Fib6Plan plan;
    // Helpers: visiting routes in address order makes each level's masked
    // prefixes non-decreasing, so duplicates are adjacent: one "last seen"
    // per level removes them without a set.
    std::vector<uint32_t> by_addr(v6.size());
    for (uint32_t i = 0; i < v6.size(); ++i) by_addr[i] = i;
    std::sort(by_addr.begin(), by_addr.end(),
              [&](uint32_t a, uint32_t b) { return v6[a].prefix.addr.bytes < v6[b].prefix.addr.bytes; });
    constexpr unsigned kLevels = 13;  // helper lengths 25, 33, ..., 121
    std::array<Bytes16, kLevels> last{};
    std::array<bool, kLevels> have{};
    std::vector<Fib6Step> helpers;
    for (uint32_t i : by_addr) {
        const config::Prefix& p = v6[i].prefix;
        for (unsigned lvl = 0; lvl < kLevels; ++lvl) {
            unsigned h = kTbl24Depth + 1 + 8 * lvl;
            if (h >= p.len) break;
            Bytes16 m = mask(p.addr.bytes, h);
            if (have[lvl] && last[lvl] == m) continue;
            have[lvl] = true;
            last[lvl] = m;
            Fib6Step s;
            s.prefix.addr.family = config::IpAddr::Family::V6;
            s.prefix.addr.bytes = m;
            s.prefix.len = uint8_t(h);
            s.helper = true;
            helpers.push_back(s);
        }
    }
    plan.helpers = uint32_t(helpers.size());

    // Order: by length; within a length, helpers first, then routes in
    // their original order.
    plan.steps.reserve(helpers.size() + v6.size());
    for (auto& h : helpers) plan.steps.push_back(h);
    for (const auto& e : v6) plan.steps.push_back(Fib6Step{e.prefix, false, e.value});
    std::stable_sort(plan.steps.begin(), plan.steps.end(), [](const Fib6Step& a, const Fib6Step& b) {
        if (a.prefix.len != b.prefix.len) return a.prefix.len < b.prefix.len;
        return a.helper && !b.helper;
    });

    // Each helper reserves at most one group (its cover is one byte level
    // up); a route reserves one only when its length is a helper length
    // (8k + 1), else its own helper shares its last byte level.
    uint32_t n = plan.helpers;
    for (const auto& e : v6)
        if (e.prefix.len > kTbl24Depth && e.prefix.len % 8 == 1) ++n;
    plan.tbl8_needed = n;
    return plan;
}

}  // namespace sluice::dp
