// Maglev lookup table build (Eisenbud et al., NSDI 2016, section 3.4,
// Pseudocode 1), with weights. docs/lb-maglev.md has the measured figures.
#include "dataplane/lb/maglev.hpp"

#include <algorithm>
#include <cstring>

namespace sluice::lb {

namespace {

__extension__ typedef unsigned __int128 u128;  // GCC and Clang: the high half of a 64 x 64 product

// One backend while the table fills. `pos` is the paper's next[i] turned into
// the slot it names: permutation[i][j] = (offset + j * skip) mod M is walked
// by adding skip and subtracting M on wrap, so the loop has no division.
// `back` = M - skip: pos + skip >= M exactly when pos >= back, which also
// keeps the sum from overflowing for any M.
struct Filler {
    uint64_t credit = 0;
    uint32_t weight = 0;
    uint32_t left = 0;    // turns still owed (its quota, below)
    uint32_t pos = 0;
    uint32_t skip = 0;
    uint32_t back = 0;
    uint32_t offset = 0;
    uint32_t inv = 0;     // skip^-1 mod M, 0 until the endgame needs it
    uint16_t index = 0;
};

inline uint32_t step(uint32_t pos, uint32_t skip, uint32_t back) { return pos >= back ? pos - back : pos + skip; }

uint32_t isqrt(uint32_t n) {
    uint32_t r = 0;
    while (uint64_t(r + 1) * (r + 1) <= n) ++r;
    return r;
}

// The last few turns. Walking a permutation to the next empty slot costs
// about M / E probes when E slots are empty: the last sqrt(M) turns would
// cost as much as all the others (M ln sqrt(M) probes). Instead, for each
// empty slot e the turn computes e's index in the backend's permutation,
// j = (e - offset) * skip^-1 mod M (M is prime, so skip is invertible), and
// takes the empty slot with the smallest j: every slot at an index below the
// backend's cursor is filled, so that is the slot the walk would reach.
// E products per turn instead of M / E probes. The size (sqrt(M) / 2) was
// measured best: 65537 and 655373 slots, 100 and 1000 backends.
class Endgame {
public:
    explicit Endgame(uint32_t m) : m_(m), mu_(UINT64_MAX / m), size_(std::max<uint32_t>(2, isqrt(m) / 2)) {}

    uint32_t size() const { return size_; }

    // The slot `f` takes; called with at most size() slots empty.
    uint32_t take(Filler& f, const uint64_t* filled) {
        if (!listed_) {
            listed_ = true;
            for (size_t w = 0; w < (size_t(m_) + 63) / 64; ++w) {
                for (uint64_t free = ~filled[w]; free; free &= free - 1) {
                    const uint32_t pos = uint32_t(w * 64 + size_t(__builtin_ctzll(free)));
                    if (pos < m_) empty_.push_back(pos);
                }
            }
        }
        if (f.inv == 0) f.inv = inverse(f.skip);
        uint64_t best_j = UINT64_MAX;
        size_t best = 0;
        for (size_t k = 0; k < empty_.size(); ++k) {
            const uint32_t e = empty_[k];
            const uint64_t j = mod(uint64_t(e >= f.offset ? e - f.offset : e + (m_ - f.offset)) * f.inv);
            if (j < best_j) {
                best_j = j;
                best = k;
            }
        }
        const uint32_t pos = empty_[best];
        empty_[best] = empty_.back();
        empty_.pop_back();
        return pos;
    }

private:
    // x mod M for any 64-bit x (Barrett: the quotient estimate is short by at most 2).
    uint64_t mod(uint64_t x) const {
        uint64_t r = x - uint64_t((u128(x) * mu_) >> 64) * m_;
        r -= r >= m_ ? m_ : 0;
        r -= r >= m_ ? m_ : 0;
        return r;
    }

    uint32_t inverse(uint32_t s) const {  // s^(M-2) mod M (Fermat; M prime)
        uint64_t result = 1;
        uint64_t base = s;
        for (uint32_t e = m_ - 2; e; e >>= 1) {
            if (e & 1) result = mod(result * base);
            base = mod(base * base);
        }
        return uint32_t(result);
    }

    const uint32_t m_;
    const uint64_t mu_;  // floor((2^64 - 1) / M)
    const uint32_t size_;
    bool listed_ = false;
    std::vector<uint32_t> empty_;
};

}  // namespace

uint32_t murmur3_x86_32(const uint8_t* data, size_t len, uint32_t seed) {
    // Austin Appleby's MurmurHash3_x86_32 (public domain, SMHasher), with
    // blocks read as little-endian bytes so that every host gives the same value.
    constexpr uint32_t c1 = 0xcc9e2d51u;
    constexpr uint32_t c2 = 0x1b873593u;
    auto rotl = [](uint32_t x, int r) { return (x << r) | (x >> (32 - r)); };
    uint32_t h = seed;
    const size_t nblocks = len / 4;
    for (size_t i = 0; i < nblocks; ++i) {
        const uint8_t* b = data + 4 * i;
        uint32_t k = uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
        k *= c1;
        k = rotl(k, 15);
        k *= c2;
        h ^= k;
        h = rotl(h, 13);
        h = h * 5 + 0xe6546b64u;
    }
    const uint8_t* tail = data + 4 * nblocks;
    uint32_t k = 0;
    switch (len & 3) {
        case 3: k ^= uint32_t(tail[2]) << 16; [[fallthrough]];
        case 2: k ^= uint32_t(tail[1]) << 8; [[fallthrough]];
        case 1:
            k ^= tail[0];
            k *= c1;
            k = rotl(k, 15);
            k *= c2;
            h ^= k;
            break;
        default: break;
    }
    h ^= uint32_t(len);
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

MaglevKey maglev_key(bool v6, const uint8_t* addr, uint16_t port) {
    MaglevKey k;
    k.bytes[0] = v6 ? 6 : 4;
    std::memcpy(k.bytes.data() + 1, addr, v6 ? 16 : 4);
    k.bytes[17] = uint8_t(port >> 8);
    k.bytes[18] = uint8_t(port);
    return k;
}

bool is_prime(uint32_t n) {
    if (n < 2) return false;
    if (n % 2 == 0) return n == 2;
    for (uint32_t d = 3; uint64_t(d) * d <= n; d += 2)
        if (n % d == 0) return false;
    return true;
}

// Weights. The paper (3.4) only says weights adjust how often a backend takes
// a turn. We do that, and also give every backend an exact quota, so its
// share is within one slot of its weight share whatever the weights:
//
//  1. Quota: M slots apportioned by weight with the largest-remainder
//     (Hamilton) method: floor(M * w / W) each, and the slots left over to
//     the largest remainders M * w mod W (ties: key order). A backend with
//     weight 0 gets no quota, hence no slot; one whose exact share is below
//     one slot may get 0 or 1.
//  2. Turns: rounds over the backends in key order; each adds its weight to
//     a credit and takes one turn per quantum Q = floor(W / n) of credit
//     (n: backends with a quota), as Katran's MaglevHashV2 does with
//     Q = max weight. The smaller quantum lets a heavy backend take several
//     turns in one round, so a round places about n slots whatever the
//     spread of weights (with Q = max weight, one backend at 10000 and 4000
//     at 1 would need some 47 000 rounds of 4001 backends for M = 65537).
//  3. A turn is the paper's: the backend takes the next empty slot in its
//     permutation. A backend that has used its quota leaves the rounds.
//
// With equal weights Q equals the weight, each round is one turn per backend
// in key order and the quotas are what the last partial round gives: the
// table is exactly the paper's (the tests compare with a transcription of
// Pseudocode 1).
std::string maglev_build(std::span<const MaglevInput> backends, uint32_t m, std::vector<uint16_t>& table) {
    if (!is_prime(m)) return "Maglev table size " + std::to_string(m) + " is not a prime >= 2";
    if (backends.size() > kMaxBackendsPerVip)
        return std::to_string(backends.size()) + " backends, more than the " + std::to_string(kMaxBackendsPerVip) +
               " a VIP may have";
    if (backends.size() > m)
        return std::to_string(backends.size()) + " backends, more than the " + std::to_string(m) + " table slots";
    for (size_t i = 1; i < backends.size(); ++i) {
        if (backends[i - 1].key == backends[i].key) return "backend " + std::to_string(i) + " has a duplicate key";
        if (backends[i].key < backends[i - 1].key)
            return "backend keys not in increasing order at " + std::to_string(i) + " (the caller sorts them)";
    }

    uint64_t total = 0;
    std::vector<Filler> active;
    active.reserve(backends.size());
    for (size_t i = 0; i < backends.size(); ++i) {
        if (backends[i].weight == 0) continue;
        total += backends[i].weight;
        const MaglevKey& key = backends[i].key;
        Filler f;
        f.weight = backends[i].weight;
        f.index = uint16_t(i);
        f.offset = murmur3_x86_32(key.bytes.data(), key.bytes.size(), kMaglevOffsetSeed) % m;
        f.skip = murmur3_x86_32(key.bytes.data(), key.bytes.size(), kMaglevSkipSeed) % (m - 1) + 1;
        f.pos = f.offset;
        f.back = m - f.skip;
        active.push_back(f);
    }
    table.assign(m, kNoBackend);
    if (active.empty()) return {};

    // 1. Quotas (largest remainder). M * w < 2^32 * 2^32 and W < 2^12 * 2^32: no overflow.
    {
        uint64_t given = 0;
        std::vector<std::pair<uint64_t, uint32_t>> rem;  // (remainder, position in `active`)
        rem.reserve(active.size());
        for (uint32_t a = 0; a < active.size(); ++a) {
            const uint64_t share = uint64_t(m) * active[a].weight;
            active[a].left = uint32_t(share / total);
            given += active[a].left;
            rem.emplace_back(share % total, a);
        }
        const size_t extra = size_t(m - given);  // < active.size()
        if (extra > 0) {
            // The `extra` largest remainders, ties to the lower key; their order does not matter.
            std::nth_element(rem.begin(), rem.begin() + ptrdiff_t(extra - 1), rem.end(),
                             [](const auto& x, const auto& y) {
                                 return x.first != y.first ? x.first > y.first : x.second < y.second;
                             });
            for (size_t e = 0; e < extra; ++e) ++active[rem[e].second].left;
        }
        // Backends left without a slot (exact share below one) take no turn.
        std::erase_if(active, [](const Filler& f) { return f.left == 0; });
    }

    // 2, 3. Rounds of turns. `filled` mirrors the table as a bitmap (8 KB at
    // M = 65537, so the probes stay in L1).
    const uint64_t quantum = std::max<uint64_t>(1, total / active.size());
    std::vector<uint64_t> filled_bits((size_t(m) + 63) / 64, 0);
    uint64_t* const filled = filled_bits.data();
    uint16_t* const out = table.data();
    Endgame endgame(m);
    uint32_t empty = m;  // every turn fills one slot; the quotas add up to M
    while (empty > 0) {
        const uint32_t empty_before = empty;
        for (Filler& f : active) {
            f.credit += f.weight;
            for (; f.credit >= quantum && f.left > 0; f.credit -= quantum) {
                --f.left;
                uint32_t pos;
                if (empty > endgame.size()) {
                    pos = f.pos;
                    while (filled[pos >> 6] >> (pos & 63) & 1) pos = step(pos, f.skip, f.back);
                } else {
                    pos = endgame.take(f, filled);
                }
                filled[pos >> 6] |= uint64_t(1) << (pos & 63);
                out[pos] = f.index;
                f.pos = step(pos, f.skip, f.back);
                --empty;
            }
        }
        std::erase_if(active, [](const Filler& f) { return f.left == 0; });
        if (empty == empty_before) {
            // A round without a turn (only light backends still owe slots):
            // skip the rounds before the next turn instead of looping
            // through them. No backend reaches the quantum in the skipped
            // rounds, so the table is the same as with the plain loop.
            uint64_t rounds = UINT64_MAX;
            for (const Filler& f : active) rounds = std::min(rounds, (quantum - f.credit + f.weight - 1) / f.weight);
            for (Filler& f : active) f.credit += (rounds - 1) * f.weight;
        }
    }
    return {};
}

}  // namespace sluice::lb
