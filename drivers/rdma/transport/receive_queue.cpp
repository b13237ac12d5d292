// ReceiveQueue: the SRQ's buffers, their slots and the refill.
#include "drivers/rdma/transport/receive_queue.hpp"

#include <infiniband/verbs.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

#include "drivers/rdma/transport/device.hpp"
#include "drivers/rdma/verbs/ops.hpp"

namespace sluice::drivers::rdma {

ReceiveQueue::ReceiveQueue(Device& dev, rte_mempool* pool, uint32_t size, uint32_t buffer_len)
    : dev_(dev), pool_(pool), size_(size), buffer_len_(buffer_len), slot_mbuf_(size, nullptr), slot_posted_(size, 0),
      wrs_(new ibv_recv_wr[kBatch]), sges_(new ibv_sge[kBatch]) {
    free_.reserve(size);
    // Lowest slots on top of the stack: posted first.
    for (uint32_t i = size; i > 0; --i) free_.push_back(i - 1);
    uint32_t cap = std::bit_ceil(std::max<uint32_t>(size, 2));
    ret_ring_.assign(cap, 0);
    ret_mask_ = cap - 1;
}

std::unique_ptr<ReceiveQueue> ReceiveQueue::create(Device& dev, rte_mempool* pool, uint32_t size, uint32_t max_frame,
                                                   std::string* err) {
    auto fail = [&](std::string m) -> std::unique_ptr<ReceiveQueue> {
        if (err) *err = std::move(m);
        return nullptr;
    };
    if (pool == nullptr) return fail("receive queue: no mempool given");
    if (size == 0 || (dev.max_srq_wr() != 0 && size > dev.max_srq_wr()))
        return fail("receive queue of " + std::to_string(size) + " buffers on " + dev.name() +
                    ": expected 1.." + std::to_string(dev.max_srq_wr()) + " (device max_srq_wr)");
    uint32_t room = rte_pktmbuf_data_room_size(pool);
    if (room <= RTE_PKTMBUF_HEADROOM) return fail("receive queue: mempool '" + std::string(pool->name) +
                                                  "' has no data room after the headroom");
    uint32_t buffer_len = std::min<uint32_t>(room - RTE_PKTMBUF_HEADROOM, max_frame);
    std::unique_ptr<ReceiveQueue> rq(new ReceiveQueue(dev, pool, size, buffer_len));

    ibv_srq_init_attr ia{};
    ia.attr.max_wr = size;
    ia.attr.max_sge = 1;
    errno = 0;
    rq->srq_ = dev.ops().create_srq(dev.pd(), &ia);
    if (rq->srq_ == nullptr)
        return fail("ibv_create_srq(" + dev.name() + ", " + std::to_string(size) +
                    " receives): " + std::strerror(errno ? errno : ENOMEM));
    rq->refill();
    if (rq->last_post_error() != 0)
        return fail("ibv_post_srq_recv(" + dev.name() + "): " + std::strerror(rq->last_post_error()) +
                    " (is the mempool registered on the device?)");
    return rq;
}

ReceiveQueue::~ReceiveQueue() {
    // ibv_destroy_srq(3): outstanding receives are discarded, no completion
    // tells us about them; the slots do.
    if (srq_) dev_.ops().destroy_srq(srq_);
    for (rte_mbuf*& m : slot_mbuf_) {
        if (m) rte_pktmbuf_free(m);
        m = nullptr;
    }
}

rte_mbuf* ReceiveQueue::take(uint64_t wr_id) {
    if (wr_id >= size_ || !slot_posted_[wr_id]) return nullptr;
    rte_mbuf* m = slot_mbuf_[wr_id];
    slot_mbuf_[wr_id] = nullptr;
    slot_posted_[wr_id] = 0;
    free_.push_back(uint32_t(wr_id));
    --posted_;
    return m;
}

void ReceiveQueue::recycle(uint64_t wr_id) {
    if (wr_id >= size_ || !slot_posted_[wr_id]) return;
    slot_posted_[wr_id] = 0;
    free_.push_back(uint32_t(wr_id));
    --posted_;
}

void ReceiveQueue::recycle_from_link(uint64_t wr_id) {
    if (wr_id >= size_) return;
    uint32_t h = ret_head_.load(std::memory_order_relaxed);
    uint32_t t = ret_tail_.load(std::memory_order_acquire);
    if (h - t > ret_mask_) return;  // cannot happen: each slot is returned once
    ret_ring_[h & ret_mask_] = uint32_t(wr_id);
    ret_head_.store(h + 1, std::memory_order_release);
}

void ReceiveQueue::drain_returns() {
    uint32_t t = ret_tail_.load(std::memory_order_relaxed);
    uint32_t h = ret_head_.load(std::memory_order_acquire);
    for (; t != h; ++t) recycle(ret_ring_[t & ret_mask_]);
    ret_tail_.store(t, std::memory_order_release);
}

bool ReceiveQueue::post_batch(const uint32_t* slots, uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) {
        rte_mbuf* m = slot_mbuf_[slots[i]];
        // The data room after the headroom: a received frame starts where
        // rte_pktmbuf_mtod expects it.
        m->data_off = RTE_PKTMBUF_HEADROOM;
        void* addr = rte_pktmbuf_mtod(m, void*);
        uint32_t lkey = 0;
        if (!dev_.lkey_of(addr, buffer_len_, &lkey)) {
            post_error_ = EFAULT;
            return false;
        }
        sges_[i] = {reinterpret_cast<uintptr_t>(addr), buffer_len_, lkey};
        wrs_[i].wr_id = slots[i];
        wrs_[i].sg_list = &sges_[i];
        wrs_[i].num_sge = 1;
        wrs_[i].next = i + 1 < n ? &wrs_[i + 1] : nullptr;
    }
    ibv_recv_wr* bad = nullptr;
    int rc = dev_.ops().post_srq_recv(srq_, wrs_.get(), &bad);
    uint32_t ok = n;
    if (rc != 0) {
        post_error_ = rc;
        ok = bad ? uint32_t(bad - wrs_.get()) : 0;
    }
    for (uint32_t i = 0; i < ok; ++i) slot_posted_[slots[i]] = 1;
    posted_ += ok;
    return rc == 0;
}

uint32_t ReceiveQueue::refill() {
    drain_returns();
    uint32_t failed = 0;
    while (!free_.empty()) {
        uint32_t n = std::min<uint32_t>(kBatch, uint32_t(free_.size()));
        uint32_t* slots = free_.data() + free_.size() - n;  // the top n of the stack
        // New buffers for the slots whose buffer was handed on.
        rte_mbuf* fresh[kBatch];
        uint32_t need = 0;
        for (uint32_t i = 0; i < n; ++i) need += slot_mbuf_[slots[i]] == nullptr;
        uint32_t got = need;
        if (need && rte_pktmbuf_alloc_bulk(pool_, fresh, need) != 0) {
            // All or nothing: take what is there one by one.
            got = 0;
            while (got < need && (fresh[got] = rte_pktmbuf_alloc(pool_)) != nullptr) ++got;
        }
        // Post the slots that have a buffer; slots left without one stay
        // free for the next refill.
        uint32_t ready[kBatch];
        uint32_t k = 0, used = 0;
        uint32_t keep[kBatch];
        uint32_t nkeep = 0;
        for (uint32_t i = 0; i < n; ++i) {
            uint32_t s = slots[i];
            if (slot_mbuf_[s] == nullptr) {
                if (used == got) {
                    keep[nkeep++] = s;
                    continue;
                }
                slot_mbuf_[s] = fresh[used++];
            }
            ready[k++] = s;
        }
        free_.resize(free_.size() - n);
        bool ok = k == 0 || post_batch(ready, k);
        if (!ok) {
            // Slots not posted go back on the stack with their buffers.
            for (uint32_t i = 0; i < k; ++i)
                if (!slot_posted_[ready[i]]) keep[nkeep++] = ready[i];
        }
        for (uint32_t i = 0; i < nkeep; ++i) free_.push_back(keep[i]);
        failed += nkeep;
        if (nkeep) break;  // pool empty or post failed: try again at the next refill
    }
    if (failed == 0) post_error_ = 0;
    // Count each missing buffer once, not at every refill it stays missing.
    uint32_t short_now = uint32_t(free_.size());
    uint32_t newly = short_now > short_ ? short_now - short_ : 0;
    short_ = short_now;
    return newly;
}

}  // namespace sluice::drivers::rdma
