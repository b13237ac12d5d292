// The neighbor (adjacency) table the workers read and the agent writes.
// rte_hash in lock-free reader/writer mode maps (port, family, address) to a
// slot; each slot holds the MAC and a valid bit in one 64-bit atomic, so a
// worker reads a consistent MAC with one load and the agent can change it
// (resolution, refresh, failure) without a snapshot rebuild. Slots and hash
// key positions are reused only after an RCU grace period.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/tables/nexthops.hpp"

struct rte_hash;

namespace sluice::dp {

class RcuDomain;

// 8-byte aligned and padded to 24 bytes: rte_hash_crc reads the key 8 bytes
// at a time, and every byte (padding included) is part of the key.
struct alignas(8) NeighborKey {
    uint16_t port = 0;
    uint8_t v6 = 0;
    uint8_t pad = 0;
    uint8_t addr[16] = {};   // IPv4 in the first 4 bytes (network order)
    uint8_t pad2[4] = {};

    static NeighborKey v4(uint16_t port, const uint8_t a[4]) {
        NeighborKey k;
        k.port = port;
        std::memcpy(k.addr, a, 4);
        return k;
    }
    static NeighborKey v6addr(uint16_t port, const uint8_t a[16]) {
        NeighborKey k;
        k.port = port;
        k.v6 = 1;
        std::memcpy(k.addr, a, 16);
        return k;
    }
};
static_assert(sizeof(NeighborKey) == 24);

inline constexpr uint64_t kMacValid = 1ull << 63;

inline uint64_t mac_word(const std::array<uint8_t, 6>& m) {
    uint64_t w = 0;
    for (int i = 0; i < 6; ++i) w |= uint64_t(m[size_t(i)]) << (8 * i);
    return w | kMacValid;
}
inline void mac_from_word(uint64_t w, uint8_t out[6]) {
    for (int i = 0; i < 6; ++i) out[i] = uint8_t(w >> (8 * i));
}

class NeighborTable {
public:
    static std::unique_ptr<NeighborTable> create(uint32_t capacity, std::string* error);
    ~NeighborTable();
    NeighborTable(const NeighborTable&) = delete;
    NeighborTable& operator=(const NeighborTable&) = delete;

    uint32_t capacity() const { return capacity_; }

    // --- readers (workers, any thread) ---
    uint64_t word(uint32_t slot) const { return slots_[size_t(slot) + 1].load(std::memory_order_acquire); }
    // The words themselves, for a loop that keeps their base in a register:
    // word(slot) is words()[slot + 1] (with acquire), and words()[0] is
    // always 0, never valid. A next hop keeps its slot + 1 (NhHot::nbr1),
    // so kNoNeighbor (on-link) wraps to 0 and reads that word: one test of
    // the word's valid bit covers the on-link case too (forward.cpp).
    const std::atomic<uint64_t>* words() const { return slots_.get(); }
    // Changes whenever the slot's key is removed or a new key takes the
    // slot: a reader that remembers a
    // slot across quiescent states (the load balancer's per-backend cache)
    // remembers its generation too and looks the key up again when it moved.
    uint32_t generation(uint32_t slot) const { return gens_[slot].load(std::memory_order_acquire); }
    // Bulk lookup; slots[i] = slot or kNoNeighbor. n <= 64.
    void lookup_bulk(const NeighborKey* const* keys, uint32_t n, uint32_t* slots) const;
    uint32_t lookup(const NeighborKey& k) const;

    // --- writer (agent only) ---
    uint32_t insert(const NeighborKey& k);   // existing or new slot; kNoNeighbor if full
    void set_mac(uint32_t slot, const std::array<uint8_t, 6>& mac) {
        slots_[size_t(slot) + 1].store(mac_word(mac), std::memory_order_release);
    }
    void invalidate(uint32_t slot) { slots_[size_t(slot) + 1].store(0, std::memory_order_release); }
    // Removes the key now; the slot is reused after readers pass a quiescent state.
    void remove(uint32_t slot, RcuDomain& rcu);
    const NeighborKey& key(uint32_t slot) const { return keys_[slot]; }
    bool in_use(uint32_t slot) const { return used_[slot]; }
    uint32_t size() const { return capacity_ - uint32_t(free_.size()); }

private:
    NeighborTable() = default;
    rte_hash* hash_ = nullptr;
    uint32_t capacity_ = 0;
    std::unique_ptr<std::atomic<uint64_t>[]> slots_;  // capacity_ + 1 words: [0] always 0, slot s at s + 1
    std::unique_ptr<std::atomic<uint32_t>[]> gens_;
    std::vector<NeighborKey> keys_;
    std::vector<bool> used_;
    std::vector<uint32_t> free_;
};

}  // namespace sluice::dp
