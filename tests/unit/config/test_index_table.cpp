// The duplicate-prefix finder and hash index behind validate() (internal
// config/index_table.hpp), against a std::map: in order, out of order, in
// order up to a point, with repeats early and late, both families.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

#include "config/index_table.hpp"
#include "config/load.hpp"

namespace sluice::config {
namespace {

Prefix random_prefix(std::mt19937_64& rng, unsigned distinct) {
    Prefix p;
    p.addr.family = rng() % 2 ? IpAddr::Family::V4 : IpAddr::Family::V6;
    uint32_t v = uint32_t(rng() % distinct);
    p.addr.bytes[0] = uint8_t(v >> 8);
    p.addr.bytes[1] = uint8_t(v);
    if (p.addr.is_v6()) p.addr.bytes[9] = uint8_t(v >> 4);  // a byte in the second half too
    p.len = uint8_t(8 + v % 3);
    return p;
}

// For each entry taking part, the first earlier entry with its prefix.
std::vector<uint32_t> expected_firsts(const std::vector<Prefix>& ps, const std::vector<bool>& part) {
    std::map<Prefix, uint32_t> seen;
    std::vector<uint32_t> out(ps.size(), IndexTable::kNone);
    for (uint32_t i = 0; i < ps.size(); ++i)
        if (part[i]) out[i] = seen.emplace(ps[i], i).first->second;
    return out;
}

std::vector<uint32_t> firsts(const std::vector<Prefix>& ps, const std::vector<bool>& part) {
    FirstSeen seen([&](uint32_t k) -> const Prefix& { return ps[k]; }, [&](uint32_t k) { return bool(part[k]); },
                   ps.size());
    std::vector<uint32_t> out(ps.size(), IndexTable::kNone);
    for (uint32_t i = 0; i < ps.size(); ++i)
        if (part[i]) out[i] = seen.first(i);
    return out;
}

TEST(FirstSeen, MatchesAMapInEveryOrder) {
    std::mt19937_64 rng(3);
    for (int round = 0; round < 200; ++round) {
        size_t n = 1 + rng() % 3000;
        std::vector<Prefix> ps(n);
        for (auto& p : ps) p = random_prefix(rng, round % 2 ? 100000 : 500);
        switch (round % 4) {
            case 0: break;  // random order
            case 1: std::sort(ps.begin(), ps.end(), prefix_less); break;
            case 2:  // in order up to a point, then anything
                std::sort(ps.begin(), ps.begin() + long(rng() % n), prefix_less);
                break;
            default:  // in order, with a repeat of an early entry at the end
                std::sort(ps.begin(), ps.end(), prefix_less);
                ps.push_back(ps[rng() % n]);
        }
        std::vector<bool> part(ps.size());
        for (size_t i = 0; i < part.size(); ++i) part[i] = rng() % 10 != 0;
        ASSERT_EQ(firsts(ps, part), expected_firsts(ps, part)) << "round " << round;
    }
}

TEST(FirstSeen, SortedInputWithoutRepeatsNeedsNoIndex) {
    // Strictly increasing: each entry is its own first (and nothing is built).
    std::vector<Prefix> ps;
    for (uint32_t i = 0; i < 1000; ++i) ps.push_back(*parse_prefix("198.18." + std::to_string(i / 4) + ".0/24"));
    ps.erase(std::unique(ps.begin(), ps.end()), ps.end());
    std::vector<bool> part(ps.size(), true);
    auto f = firsts(ps, part);
    for (uint32_t i = 0; i < f.size(); ++i) EXPECT_EQ(f[i], i);
}

TEST(PrefixLess, IsAStrictOrderConsistentWithEquality) {
    std::mt19937_64 rng(5);
    for (int i = 0; i < 100000; ++i) {
        Prefix a = random_prefix(rng, 50), b = random_prefix(rng, 50);
        bool lt = prefix_less(a, b), gt = prefix_less(b, a);
        ASSERT_FALSE(lt && gt);
        ASSERT_EQ(!lt && !gt, a == b) << to_string(a) << " " << to_string(b);
    }
}

TEST(IndexTable, FindsWhatWasInsertedThroughGrowth) {
    std::vector<uint64_t> keys;
    IndexTable t;  // starts small and grows
    std::mt19937_64 rng(9);
    for (uint32_t i = 0; i < 50000; ++i) {
        uint64_t k = rng();
        keys.push_back(k);
        auto same = [&](uint32_t j) { return keys[j] == k; };
        ASSERT_EQ(t.find(k, same), IndexTable::kNone);
        ASSERT_EQ(t.find_or_insert(k, i, same), i);
    }
    for (uint32_t i = 0; i < keys.size(); ++i)
        ASSERT_EQ(t.find(keys[i], [&](uint32_t j) { return keys[j] == keys[i]; }), i);
}

}  // namespace
}  // namespace sluice::config
