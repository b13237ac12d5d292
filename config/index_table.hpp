// Internal to the config library: an open-addressing hash index for the
// checks that run once per route of a full table (duplicate prefixes, the
// next-hop cache), replacing std::map/std::set and their node per entry.
// It stores 32-bit indices into the caller's own array plus 32 bits of each
// hash: an index over 10^6 routes takes 16 MiB, and a probe rarely has to
// look at the routes themselves.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "api/net.hpp"
#include "config/huge_pages.hpp"

namespace sluice::config {

// A 64-bit mix of an address (family included) and a prefix length; the
// low 32 bits place the entry, so all of them must be well mixed.
inline uint64_t hash_ip(const net::IpAddr& a, unsigned extra = 0) {
    uint64_t lo = 0, hi = 0;
    std::memcpy(&lo, a.bytes.data(), 8);
    std::memcpy(&hi, a.bytes.data() + 8, 8);
    uint64_t h = lo * 0x9e3779b97f4a7c15ull ^ (hi + (uint64_t(extra) << 8 | uint64_t(a.family))) * 0xc2b2ae3d27d4eb4full;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}
inline uint64_t hash_prefix(const net::Prefix& p) { return hash_ip(p.addr, p.len); }

class IndexTable {
public:
    static constexpr uint32_t kNone = UINT32_MAX;

    // Room for `expected` entries without growing.
    explicit IndexTable(size_t expected = 8) {
        size_t cap = 16;
        while (cap < expected * 2) cap *= 2;
        slots_.reserve(cap);
        advise_huge_pages(slots_.data(), cap * sizeof(Slot));
        slots_.assign(cap, Slot{});
    }

    // The index of an entry for which same(index) holds, or kNone.
    template <class Same>
    uint32_t find(uint64_t hash, Same&& same) const {
        const uint32_t h = uint32_t(hash);
        const size_t mask = slots_.size() - 1;
        for (size_t i = h & mask;; i = (i + 1) & mask) {
            const Slot& s = slots_[i];
            if (s.index == kNone) return kNone;
            if (s.hash == h && same(s.index)) return s.index;
        }
    }

    // As find(); when there is no such entry, adds `index` and returns it.
    template <class Same>
    uint32_t find_or_insert(uint64_t hash, uint32_t index, Same&& same) {
        const uint32_t h = uint32_t(hash);
        const size_t mask = slots_.size() - 1;
        for (size_t i = h & mask;; i = (i + 1) & mask) {
            Slot& s = slots_[i];
            if (s.index == kNone) {
                s = Slot{index, h};
                if (++count_ * 2 > slots_.size()) grow();
                return index;
            }
            if (s.hash == h && same(s.index)) return s.index;
        }
    }

    // Brings the slot for `hash` into the cache ahead of its use.
    void prefetch(uint64_t hash) const { __builtin_prefetch(&slots_[uint32_t(hash) & (slots_.size() - 1)]); }

private:
    struct Slot {
        uint32_t index = kNone;
        uint32_t hash = 0;
    };

    void grow() {
        std::vector<Slot> old(slots_.size() * 2, Slot{});
        old.swap(slots_);
        const size_t mask = slots_.size() - 1;
        for (const Slot& s : old) {
            if (s.index == kNone) continue;
            size_t i = s.hash & mask;
            while (slots_[i].index != kNone) i = (i + 1) & mask;
            slots_[i] = s;
        }
    }

    std::vector<Slot> slots_;
    size_t count_ = 0;
};

// A strict total order of prefixes, equal exactly when the prefixes are:
// family, then the 128 address bits, then the length.
inline bool prefix_less(const net::Prefix& a, const net::Prefix& b) {
    if (a.addr.family != b.addr.family) return a.addr.family < b.addr.family;
    uint64_t x[2], y[2];
    std::memcpy(x, a.addr.bytes.data(), 16);
    std::memcpy(y, b.addr.bytes.data(), 16);
    for (int w = 0; w < 2; ++w) {
        if (x[w] != y[w]) return __builtin_bswap64(x[w]) < __builtin_bswap64(y[w]);
    }
    return a.len < b.len;
}

// Finds repeated prefixes in a list, asked about each entry in order.
// Tables are usually written in prefix order (a RIB dump is): while the
// prefixes asked about keep increasing none can repeat an earlier one, so
// nothing is stored. At the first one out of order, an IndexTable of every
// entry asked about so far is built and used from then on.
template <class PrefixOf, class TakesPart>
class FirstSeen {
public:
    // prefix(i) is entry i's prefix, takes_part(i) whether it was (or will
    // be) asked about; n is the number of entries.
    FirstSeen(PrefixOf prefix, TakesPart takes_part, size_t n) : prefix_(prefix), takes_part_(takes_part), n_(n) {}

    // The first entry before i with i's prefix, or i when there is none;
    // asked for each entry that takes part, in increasing order.
    uint32_t first(uint32_t i) {
        if (!table_) {
            if (last_ == IndexTable::kNone || prefix_less(prefix_(last_), prefix_(i))) {
                last_ = i;
                return i;
            }
            table_ = std::make_unique<IndexTable>(n_);
            for (uint32_t k = 0; k < i; ++k)
                if (takes_part_(k)) insert(k);
        }
        if (i + kAhead < n_) table_->prefetch(hash_prefix(prefix_(i + kAhead)));
        return insert(i);
    }

private:
    // Each entry lands in a random slot of a table far larger than the
    // cache: the slot of an entry a few ahead is fetched early.
    static constexpr uint32_t kAhead = 8;

    uint32_t insert(uint32_t i) {
        const net::Prefix& p = prefix_(i);
        return table_->find_or_insert(hash_prefix(p), i, [&](uint32_t k) { return prefix_(k) == p; });
    }

    PrefixOf prefix_;
    TakesPart takes_part_;
    size_t n_;
    uint32_t last_ = IndexTable::kNone;  // while in order: the last entry asked about
    // A pointer, not std::optional: GCC 12 at -O3 warns (falsely) that an
    // optional's IndexTable may be used uninitialised (-Wmaybe-uninitialized).
    std::unique_ptr<IndexTable> table_;
};

}  // namespace sluice::config
