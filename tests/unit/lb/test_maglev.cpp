// Properties of the Maglev table build (dataplane/lb/maglev.hpp): every slot
// filled, the same bytes whatever the run or the config order, shares within
// 1% of the weight shares at M >= 100 x N (Eisenbud et al., NSDI 2016, 3.4),
// few slots moved when one backend leaves or joins. The disruption figures
// printed here are the ones in docs/lb-maglev.md.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "dataplane/lb/maglev.hpp"

namespace {

using sluice::lb::kNoBackend;
using sluice::lb::MaglevInput;
using sluice::lb::MaglevKey;
using sluice::lb::maglev_build;
using sluice::lb::maglev_key;

constexpr uint32_t kM = 65537;

// Backend i: 198.18.0.0/15 (i < 2^17) or 2001:db8::/32 with i in the last
// four bytes; documentation and benchmarking ranges only.
MaglevKey v4_key(uint32_t i, uint16_t port = 80) {
    const uint8_t a[4] = {198, uint8_t(18 + ((i >> 16) & 1)), uint8_t(i >> 8), uint8_t(i)};
    return maglev_key(false, a, port);
}
MaglevKey v6_key(uint32_t i, uint16_t port = 80) {
    uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8};
    a[12] = uint8_t(i >> 24);
    a[13] = uint8_t(i >> 16);
    a[14] = uint8_t(i >> 8);
    a[15] = uint8_t(i);
    return maglev_key(true, a, port);
}

void sort_by_key(std::vector<MaglevInput>& b) {
    std::sort(b.begin(), b.end(), [](const MaglevInput& x, const MaglevInput& y) { return x.key < y.key; });
}

// n backends with distinct keys (IPv4 and IPv6 mixed when `mixed`), sorted.
std::vector<MaglevInput> backends_equal(uint32_t n, bool mixed = false, uint32_t weight = 1) {
    std::vector<MaglevInput> b;
    for (uint32_t i = 0; i < n; ++i) b.push_back({mixed && i % 2 ? v6_key(i) : v4_key(i), weight});
    sort_by_key(b);
    return b;
}

std::vector<uint16_t> build(const std::vector<MaglevInput>& b, uint32_t m) {
    std::vector<uint16_t> t;
    std::string err = maglev_build(b, m, t);
    EXPECT_EQ(err, "");
    return t;
}

std::vector<uint32_t> slot_counts(const std::vector<uint16_t>& t, size_t n) {
    std::vector<uint32_t> c(n, 0);
    for (uint16_t s : t)
        if (s < n) ++c[s];
    return c;
}

uint64_t fnv1a(const std::vector<uint16_t>& t) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint16_t s : t)
        for (uint8_t byte : {uint8_t(s), uint8_t(s >> 8)}) h = (h ^ byte) * 0x100000001b3ull;
    return h;
}

// Straight transcription of the paper's Pseudocode 1 (permutation[i][j] by
// multiplication and modulo, next[i]) with the weighting described in
// maglev.cpp, without its shortcuts (bitmap, cursor arithmetic, the endgame,
// skipped idle rounds). With equal weights it is the paper's algorithm.
std::vector<uint16_t> reference_build(const std::vector<MaglevInput>& b, uint32_t m) {
    std::vector<uint16_t> entry(m, kNoBackend);
    uint64_t total = 0;
    size_t n = 0;
    for (const auto& x : b)
        if (x.weight) total += x.weight, ++n;
    if (n == 0) return entry;
    std::vector<uint64_t> offset(b.size()), skip(b.size()), next(b.size(), 0), credit(b.size(), 0);
    std::vector<uint64_t> quota(b.size(), 0);
    std::vector<std::pair<uint64_t, size_t>> rem;
    uint64_t given = 0;
    for (size_t i = 0; i < b.size(); ++i) {
        offset[i] = sluice::lb::murmur3_x86_32(b[i].key.bytes.data(), 19, sluice::lb::kMaglevOffsetSeed) % m;
        skip[i] = sluice::lb::murmur3_x86_32(b[i].key.bytes.data(), 19, sluice::lb::kMaglevSkipSeed) % (m - 1) + 1;
        if (!b[i].weight) continue;
        quota[i] = uint64_t(m) * b[i].weight / total;
        given += quota[i];
        rem.emplace_back(uint64_t(m) * b[i].weight % total, i);
    }
    std::sort(rem.begin(), rem.end(),
              [](const auto& x, const auto& y) {
                  return x.first != y.first ? x.first > y.first : x.second < y.second;
              });
    for (uint64_t e = 0; e < m - given; ++e) ++quota[rem[e].second];
    size_t with_quota = 0;
    for (uint64_t q : quota) with_quota += q > 0;
    const uint64_t quantum = std::max<uint64_t>(1, total / with_quota);
    uint32_t filled = 0;
    while (filled < m) {
        for (size_t i = 0; i < b.size() && filled < m; ++i) {
            if (quota[i] == 0) continue;
            credit[i] += b[i].weight;
            while (credit[i] >= quantum && quota[i] > 0) {
                credit[i] -= quantum;
                uint64_t c = (offset[i] + next[i] * skip[i]) % m;
                while (entry[c] != kNoBackend) c = (offset[i] + ++next[i] * skip[i]) % m;
                entry[c] = uint16_t(i);
                ++next[i];
                --quota[i];
                ++filled;
            }
        }
    }
    return entry;
}

// |count - exact share| < 1 slot for every backend; and within 1% of the
// exact share wherever that share is at least 100 slots (M >= 100 x N with
// equal weights). Weight 0: no slot.
void expect_shares(const std::vector<MaglevInput>& b, const std::vector<uint16_t>& t, const std::string& what) {
    uint64_t total = 0;
    for (const auto& x : b) total += x.weight;
    auto c = slot_counts(t, b.size());
    for (size_t i = 0; i < b.size(); ++i) {
        const double exact = double(t.size()) * b[i].weight / double(total);
        EXPECT_LT(std::fabs(c[i] - exact), 1.0) << what << " backend " << i << " weight " << b[i].weight;
        if (exact >= 100) {
            EXPECT_LE(std::fabs(c[i] - exact), 0.01 * exact) << what << " backend " << i;
        }
        if (b[i].weight == 0) {
            EXPECT_EQ(c[i], 0u) << what;
        }
    }
}

TEST(MaglevHash, Murmur3MatchesPublishedValues) {
    using sluice::lb::murmur3_x86_32;
    // SMHasher's VerificationTest: keys {}, {0}, {0,1}, ... {0..254} with
    // seed 256 - len; the 256 hashes (little-endian) hashed with seed 0.
    std::array<uint8_t, 256> key{};
    std::array<uint8_t, 1024> hashes{};
    for (uint32_t i = 0; i < 256; ++i) {
        key[i] = uint8_t(i);
        uint32_t h = murmur3_x86_32(key.data(), i, 256 - i);
        for (int b = 0; b < 4; ++b) hashes[4 * i + b] = uint8_t(h >> (8 * b));
    }
    EXPECT_EQ(murmur3_x86_32(hashes.data(), hashes.size(), 0), 0xB0F57EE3u);
    EXPECT_EQ(murmur3_x86_32(nullptr, 0, 0), 0u);
    EXPECT_EQ(murmur3_x86_32(nullptr, 0, 1), 0x514E28B7u);
    const uint8_t zeros[4] = {};
    EXPECT_EQ(murmur3_x86_32(zeros, 4, 0), 0x2362F9DEu);
    const std::string hello = "Hello, world!";
    EXPECT_EQ(murmur3_x86_32(reinterpret_cast<const uint8_t*>(hello.data()), hello.size(), 0x9747b28c), 0x24884CBAu);
}

TEST(Maglev, KeyLayout) {
    const uint8_t a4[4] = {198, 18, 0, 7};
    MaglevKey k = maglev_key(false, a4, 0x1F90);
    std::array<uint8_t, 19> want4{4, 198, 18, 0, 7};
    want4[17] = 0x1F;
    want4[18] = 0x90;
    EXPECT_EQ(k.bytes, want4);
    const uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    k = maglev_key(true, a6, 443);
    EXPECT_EQ(k.bytes[0], 6);
    EXPECT_TRUE(std::equal(a6, a6 + 16, k.bytes.begin() + 1));
    EXPECT_EQ(k.bytes[17], 443 >> 8);
    EXPECT_EQ(k.bytes[18], 443 & 0xff);
    // Family first, then address, then port: IPv4 keys sort before IPv6.
    EXPECT_LT(v4_key(5), v6_key(0));
    EXPECT_LT(v4_key(5, 80), v4_key(5, 81));
}

TEST(Maglev, IsPrime) {
    using sluice::lb::is_prime;
    for (uint32_t p : {2u, 3u, 5u, 251u, 65537u, 655373u, 1000003u, 4294967291u}) EXPECT_TRUE(is_prime(p)) << p;
    for (uint32_t n : {0u, 1u, 4u, 9u, 65535u, 65536u, 655371u, 1000001u, 4294967295u}) EXPECT_FALSE(is_prime(n)) << n;
    uint32_t count = 0;  // primes below 10000
    for (uint32_t n = 0; n < 10000; ++n) count += is_prime(n);
    EXPECT_EQ(count, 1229u);
}

TEST(Maglev, Errors) {
    std::vector<uint16_t> t = {7, 7};  // left as is on error
    auto b = backends_equal(5);
    for (uint32_t m : {0u, 1u, 4u, 65536u}) {
        EXPECT_NE(maglev_build(b, m, t), "") << m;
    }
    EXPECT_NE(maglev_build({}, 65536, t), "");
    EXPECT_NE(maglev_build(b, 3, t), "");  // 5 backends, 3 slots
    auto unsorted = b;
    std::swap(unsorted[1], unsorted[3]);
    EXPECT_NE(maglev_build(unsorted, kM, t), "");
    auto dup = b;
    dup[2].key = dup[1].key;
    EXPECT_NE(maglev_build(dup, kM, t), "");
    auto dup_weight0 = b;  // a duplicate is an error even at weight 0
    dup_weight0[2] = {dup_weight0[1].key, 0};
    EXPECT_NE(maglev_build(dup_weight0, kM, t), "");
    auto many = backends_equal(sluice::lb::kMaxBackendsPerVip + 1);
    EXPECT_NE(maglev_build(many, kM, t), "");
    EXPECT_EQ(t, (std::vector<uint16_t>{7, 7}));
    // The limits themselves are fine.
    EXPECT_EQ(maglev_build(backends_equal(sluice::lb::kMaxBackendsPerVip), kM, t), "");
    EXPECT_EQ(maglev_build(backends_equal(5), 5, t), "");
    EXPECT_EQ(slot_counts(t, 5), (std::vector<uint32_t>{1, 1, 1, 1, 1}));
}

TEST(Maglev, NoBackendOrAllWeightsZero) {
    std::vector<uint16_t> t;
    ASSERT_EQ(maglev_build({}, 251, t), "");
    EXPECT_EQ(t, std::vector<uint16_t>(251, kNoBackend));
    auto b = backends_equal(4, true, 0);
    ASSERT_EQ(maglev_build(b, 251, t), "");
    EXPECT_EQ(t, std::vector<uint16_t>(251, kNoBackend));
    // One backend with weight takes every slot; the others none.
    b[2].weight = 3;
    ASSERT_EQ(maglev_build(b, 251, t), "");
    EXPECT_EQ(t, std::vector<uint16_t>(251, 2));
    ASSERT_EQ(maglev_build(backends_equal(1), 2, t), "");
    EXPECT_EQ(t, std::vector<uint16_t>(2, 0));
}

// Pinned outputs: a change of hash, seed, key layout or weighting shows here.
// If the change is intended, every instance must be upgraded together (two
// instances behind ECMP must agree) and these values updated with it.
TEST(Maglev, GoldenChecksum) {
    auto equal = backends_equal(10, true);
    auto t = build(equal, kM);
    EXPECT_EQ(fnv1a(t), 0xae3f90c984b2319bull) << std::hex << fnv1a(t);
    std::vector<MaglevInput> weighted;
    for (uint32_t i = 0; i < 7; ++i) weighted.push_back({v4_key(i, uint16_t(8000 + i)), i * i});
    for (uint32_t i = 0; i < 5; ++i) weighted.push_back({v6_key(i * 1000), 10000 - i});
    sort_by_key(weighted);
    t = build(weighted, 4099);
    EXPECT_EQ(fnv1a(t), 0xf1f1e7cc7c2b07dbull) << std::hex << fnv1a(t);
}

// The transcription gives the same bytes: the paper's algorithm with equal
// weights (of any value), the weighted variant otherwise.
TEST(Maglev, MatchesReferenceTranscription) {
    for (uint32_t n : {1u, 2u, 3u, 10u, 100u}) {
        for (uint32_t w : {1u, 7u}) {
            auto b = backends_equal(n, true, w);
            EXPECT_EQ(build(b, kM), reference_build(b, kM)) << n << " backends, weight " << w;
        }
    }
    std::mt19937_64 rng(8);
    for (int iter = 0; iter < 40; ++iter) {
        const uint32_t m = std::array<uint32_t, 4>{13, 251, 1009, 4099}[iter % 4];
        const uint32_t n = 1 + uint32_t(rng() % std::min<uint32_t>(m, 40));
        std::vector<MaglevInput> b;
        for (uint32_t i = 0; i < n; ++i) {
            // Light backends beside heavy ones exercise the skipped idle rounds.
            uint32_t w = iter % 3 == 0 ? uint32_t(rng() % 4) : iter % 3 == 1 ? 1 + uint32_t(rng() % 10000) : 1;
            if (iter % 3 == 2 && i == 0) w = 10000;
            b.push_back({rng() % 2 ? v6_key(uint32_t(rng())) : v4_key(uint32_t(rng() % 131072)), w});
        }
        sort_by_key(b);
        b.erase(std::unique(b.begin(), b.end(), [](const auto& x, const auto& y) { return x.key == y.key; }), b.end());
        EXPECT_EQ(build(b, m), reference_build(b, m)) << "iteration " << iter;
    }
}

// Random backend sets (seeded, bounded): every slot filled with a valid
// index, shares within a slot of the weight shares, the same bytes across
// builds and across input orders.
TEST(Maglev, PropertiesOnRandomSets) {
    std::mt19937_64 rng(20160316);
    const std::array<uint32_t, 12> primes = {2, 3, 5, 7, 11, 13, 17, 101, 251, 1009, 4099, 65537};
    for (int iter = 0; iter < 300; ++iter) {
        const uint32_t m = primes[rng() % primes.size()];
        const uint32_t n = uint32_t(rng() % (std::min<uint32_t>(m, 64) + 1));  // 0..min(m, 64)
        const int style = int(rng() % 4);
        std::vector<MaglevInput> b;
        for (uint32_t i = 0; i < n; ++i) {
            // Equal; 0..3 (many zeros); 1..10; 0..10000 (far apart).
            const uint32_t w = style == 0   ? 1
                               : style == 1 ? uint32_t(rng() % 4)
                               : style == 2 ? 1 + uint32_t(rng() % 10)
                                            : uint32_t(rng() % 10001);
            const uint16_t port = uint16_t(rng());
            b.push_back({rng() % 2 ? v6_key(uint32_t(rng()), port) : v4_key(uint32_t(rng() % 131072), port), w});
        }
        sort_by_key(b);
        b.erase(std::unique(b.begin(), b.end(), [](const auto& x, const auto& y) { return x.key == y.key; }), b.end());
        const std::string what =
            "iteration " + std::to_string(iter) + " m " + std::to_string(m) + " n " + std::to_string(b.size());

        auto t = build(b, m);
        ASSERT_EQ(t.size(), m) << what;
        bool any_weight = std::any_of(b.begin(), b.end(), [](const auto& x) { return x.weight > 0; });
        for (uint16_t s : t) {
            if (any_weight) {
                ASSERT_LT(s, b.size()) << what;
                ASSERT_GT(b[s].weight, 0u) << what;
            } else {
                ASSERT_EQ(s, kNoBackend) << what;
            }
        }
        if (any_weight) expect_shares(b, t, what);
        EXPECT_EQ(build(b, m), t) << what;
        if (m < 65537) {
            EXPECT_EQ(reference_build(b, m), t) << what;
        }
        // Any config order, sorted by the caller: the same bytes.
        auto shuffled = b;
        std::shuffle(shuffled.begin(), shuffled.end(), rng);
        sort_by_key(shuffled);
        EXPECT_EQ(build(shuffled, m), t) << what;
    }
}

TEST(Maglev, EqualWeightSharesWithinOnePercent) {
    for (uint32_t n : {3u, 10u, 100u, 655u}) {  // 655 x 100 < 65537
        auto b = backends_equal(n, true, 5);
        auto c = slot_counts(build(b, kM), n);
        const double exact = double(kM) / n;
        for (uint32_t i = 0; i < n; ++i) EXPECT_LE(std::fabs(c[i] - exact), 0.01 * exact) << n << " " << i;
        auto [lo, hi] = std::minmax_element(c.begin(), c.end());
        EXPECT_LE(*hi - *lo, 1u) << n;  // the paper's property: M/N rounded either way
    }
    auto b = backends_equal(1000, true);
    expect_shares(b, build(b, 100003), "1000 backends, M = 100003");
}

TEST(Maglev, UnequalWeightSharesWithinOnePercent) {
    std::mt19937_64 rng(3);
    // Weights 1..10 for 100 backends at M = 65537: the lightest backend's
    // share is still above 100 slots, so 1% is within reach of whole slots.
    std::vector<MaglevInput> b;
    for (uint32_t i = 0; i < 100; ++i) b.push_back({v4_key(i), 1 + uint32_t(rng() % 10)});
    sort_by_key(b);
    auto t = build(b, kM);
    uint64_t total = 0;
    for (const auto& x : b) total += x.weight;
    auto c = slot_counts(t, b.size());
    for (size_t i = 0; i < b.size(); ++i) {
        const double exact = double(kM) * b[i].weight / double(total);
        ASSERT_GE(exact, 100.0);
        EXPECT_LE(std::fabs(c[i] - exact), 0.01 * exact) << i;
    }
    // One heavy backend among light ones, and two weights far apart.
    b = backends_equal(50);
    b[7].weight = 10000;
    expect_shares(b, build(b, kM), "one heavy");
    b = backends_equal(2);
    b[0].weight = 10000;
    expect_shares(b, build(b, kM), "10000:1");
    // Weight 0 among others: no slot, the others share evenly.
    b = backends_equal(10);
    b[3].weight = 0;
    auto c0 = slot_counts(build(b, kM), 10);
    EXPECT_EQ(c0[3], 0u);
    for (uint32_t i = 0; i < 10; ++i) {
        if (i != 3) {
            EXPECT_NEAR(c0[i], kM / 9.0, 1.0);
        }
    }
}

// Old table over `before`, new over `after`; slots compared by backend key.
struct Moved {
    double others;  // fraction of the slots of backends in both sets whose owner changed
    uint32_t lost;  // slots of the backend that left (or of those that stayed, for an add) still with it
};

Moved compare(const std::vector<MaglevInput>& before, const std::vector<uint16_t>& t0,
              const std::vector<MaglevInput>& after, const std::vector<uint16_t>& t1, const MaglevKey& changed) {
    uint64_t stay = 0, moved = 0;
    uint32_t lost = 0;
    for (size_t s = 0; s < t0.size(); ++s) {
        const MaglevKey& k0 = before[t0[s]].key;
        const MaglevKey& k1 = after[t1[s]].key;
        if (k0 == changed || k1 == changed) {
            lost += k0 == changed && k1 == changed;
            continue;
        }
        ++stay;
        moved += !(k0 == k1);
    }
    return {stay ? double(moved) / double(stay) : 0.0, lost};
}

// Removing one of N backends (M = 65537, equal weights): all of its slots
// move, and few of the others'. The paper's section 3.4 and Figure 12 discuss
// the same (the reference figure quoted in issue 8: about 0.1% at 3 -> 2 and
// 0.5% at 100 -> 99). Several backends are removed in turn at each N.
TEST(Maglev, DisruptionRemoveOne) {
    std::printf("Maglev remove one, M = %u: N, mean and max fraction of other backends' slots moved\n", kM);
    for (uint32_t n : {3u, 10u, 100u, 1000u}) {
        auto b = backends_equal(n, true);
        auto t0 = build(b, kM);
        const uint32_t tries = std::min<uint32_t>(n, 10);
        double sum = 0, worst = 0;
        for (uint32_t k = 0; k < tries; ++k) {
            const uint32_t gone = k * n / tries;
            auto after = b;
            after.erase(after.begin() + gone);
            auto t1 = build(after, kM);
            Moved mv = compare(b, t0, after, t1, b[gone].key);
            EXPECT_EQ(mv.lost, 0u);
            sum += mv.others;
            worst = std::max(worst, mv.others);
        }
        std::printf("  %4u -> %4u  mean %.4f%%  max %.4f%%\n", n, n - 1, 100 * sum / tries, 100 * worst);
        ::testing::Test::RecordProperty("remove_one_" + std::to_string(n) + "_mean_pct",
                                        std::to_string(100 * sum / tries));
        // Bound: 0.1% at 3 and 0.5% at 100 in the reference; 2% leaves a
        // wide margin over what we measure (docs/lb-maglev.md).
        EXPECT_LT(worst, 0.02) << n;
    }
}

// Adding one backend to N: the slots it takes come from everyone, and few
// slots move between the backends that were already there.
TEST(Maglev, DisruptionAddOne) {
    std::printf("Maglev add one, M = %u: N, fraction of slots moved between existing backends\n", kM);
    for (uint32_t n : {3u, 10u, 100u, 1000u}) {
        auto b = backends_equal(n, true);
        auto t0 = build(b, kM);
        auto after = b;
        const MaglevInput added{v6_key(0x00ffffffu, 443), 1};
        after.push_back(added);
        sort_by_key(after);
        auto t1 = build(after, kM);
        Moved mv = compare(b, t0, after, t1, added.key);
        auto c = slot_counts(t1, after.size());
        const auto at = std::find_if(after.begin(), after.end(), [&](const auto& x) { return x.key == added.key; });
        const uint32_t taken = c[size_t(at - after.begin())];
        std::printf("  %4u -> %4u  %.4f%% (new backend took %u slots)\n", n, n + 1, 100 * mv.others, taken);
        ::testing::Test::RecordProperty("add_one_" + std::to_string(n) + "_pct", std::to_string(100 * mv.others));
        EXPECT_LT(mv.others, 0.02) << n;
    }
}

}  // namespace
