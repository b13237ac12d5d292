#include "dataplane/neighbor/table.hpp"

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>

#include "dataplane/rcu/domain.hpp"

namespace sluice::dp {

std::unique_ptr<NeighborTable> NeighborTable::create(uint32_t capacity, std::string* error) {
    std::unique_ptr<NeighborTable> t(new NeighborTable());
    // DPDK object names are global per process; tests create several.
    static std::atomic<uint32_t> instances{0};
    std::string name = "sluice_nbr" + std::to_string(instances.fetch_add(1));
    rte_hash_parameters p{};
    p.name = name.c_str();
    // rte_hash needs headroom over the live key count to keep inserts from
    // failing on full buckets.
    p.entries = capacity * 2;
    p.key_len = sizeof(NeighborKey);
    p.hash_func = rte_hash_crc;
    p.hash_func_init_val = 0;
    p.socket_id = SOCKET_ID_ANY;
    // Lock-free readers with one writer (the agent); key positions freed
    // explicitly after an RCU grace period.
    p.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF;
    t->hash_ = rte_hash_create(&p);
    if (!t->hash_) {
        if (error) *error = std::string("rte_hash_create(neighbors): ") + rte_strerror(rte_errno);
        return nullptr;
    }
    t->capacity_ = capacity;
    t->slots_ = std::make_unique<std::atomic<uint64_t>[]>(size_t(capacity) + 1);
    t->gens_ = std::make_unique<std::atomic<uint32_t>[]>(capacity);
    for (size_t i = 0; i <= capacity; ++i) t->slots_[i].store(0, std::memory_order_relaxed);
    t->keys_.resize(capacity);
    t->used_.assign(capacity, false);
    t->free_.reserve(capacity);
    for (uint32_t i = capacity; i-- > 0;) t->free_.push_back(i);
    return t;
}

NeighborTable::~NeighborTable() { rte_hash_free(hash_); }

void NeighborTable::lookup_bulk(const NeighborKey* const* keys, uint32_t n, uint32_t* slots) const {
    void* data[RTE_HASH_LOOKUP_BULK_MAX];
    uint64_t hits = 0;
    rte_hash_lookup_bulk_data(hash_, reinterpret_cast<const void**>(const_cast<const NeighborKey**>(keys)), n,
                              &hits, data);
    for (uint32_t i = 0; i < n; ++i)
        slots[i] = (hits >> i) & 1 ? uint32_t(reinterpret_cast<uintptr_t>(data[i])) : kNoNeighbor;
}

uint32_t NeighborTable::lookup(const NeighborKey& k) const {
    void* data = nullptr;
    if (rte_hash_lookup_data(hash_, &k, &data) < 0) return kNoNeighbor;
    return uint32_t(reinterpret_cast<uintptr_t>(data));
}

uint32_t NeighborTable::insert(const NeighborKey& k) {
    if (uint32_t s = lookup(k); s != kNoNeighbor) return s;
    if (free_.empty()) return kNoNeighbor;
    uint32_t slot = free_.back();
    slots_[size_t(slot) + 1].store(0, std::memory_order_relaxed);
    // A new key in this slot: a reader that cached the slot for the old key
    // while it was being removed must see a different generation now.
    gens_[slot].store(gens_[slot].load(std::memory_order_relaxed) + 1, std::memory_order_release);
    if (rte_hash_add_key_data(hash_, &k, reinterpret_cast<void*>(uintptr_t(slot))) < 0) return kNoNeighbor;
    free_.pop_back();
    keys_[slot] = k;
    used_[slot] = true;
    return slot;
}

void NeighborTable::remove(uint32_t slot, RcuDomain& rcu) {
    if (!used_[slot]) return;
    invalidate(slot);
    // Before the key can be reused (after the grace period below).
    gens_[slot].store(gens_[slot].load(std::memory_order_relaxed) + 1, std::memory_order_release);
    int32_t pos = rte_hash_del_key(hash_, &keys_[slot]);
    used_[slot] = false;
    rcu.retire([this, slot, pos] {
        if (pos >= 0) rte_hash_free_key_with_position(hash_, pos);
        free_.push_back(slot);
    });
}

}  // namespace sluice::dp
