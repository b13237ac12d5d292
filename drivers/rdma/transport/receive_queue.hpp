// A shared receive queue (SRQ) of one worker on one device, shared by the
// peers that worker owns (docs/rdma.md, "Receive buffers"). Buffers are
// packet-pool mbufs, received into in place: the SGE is the mbuf's data room
// after the headroom, so a received frame is handed on without a copy.
//
// Each posted buffer has a slot; wr_id is the slot index (as srq_pingpong
// keeps its buffers in an array). Destroying an SRQ completes nothing
// (ibv_destroy_srq(3)), so the slots are how the destructor finds and frees
// every buffer still posted.
//
// Threads: the owning worker calls take/recycle/refill (from Peer::rx_burst
// and Peer::poll). The link thread, tearing a peer down, hands the slots of
// completions it drained back through recycle_from_link(): a single-producer
// single-consumer ring, drained by the worker's next refill().
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct ibv_srq;
struct ibv_recv_wr;
struct ibv_sge;
struct rte_mbuf;
struct rte_mempool;

namespace sluice::drivers::rdma {

class Device;

class ReceiveQueue {
public:
    // An SRQ of `size` receives on `dev`, filled from `pool` (registered on
    // `dev`); each buffer takes up to `max_frame` bytes (less if the pool's
    // data room after headroom is smaller: buffer_len()). Null and *err when
    // the SRQ cannot be created or the pool's buffers are not registered.
    static std::unique_ptr<ReceiveQueue> create(Device& dev, rte_mempool* pool, uint32_t size, uint32_t max_frame,
                                                std::string* err);
    // Destroys the SRQ, then frees every buffer it held.
    ~ReceiveQueue();
    ReceiveQueue(const ReceiveQueue&) = delete;
    ReceiveQueue& operator=(const ReceiveQueue&) = delete;

    ibv_srq* srq() const { return srq_; }
    Device& device() const { return dev_; }
    uint32_t size() const { return size_; }
    uint32_t buffer_len() const { return buffer_len_; }
    // Receives posted now, and the buffers missing to fill the queue.
    uint32_t posted() const { return posted_; }
    uint32_t deficit() const { return size_ - posted_; }

    // ---- owning worker ----
    // The buffer of a completed receive (wr_id): the caller owns it now.
    // Null for a wr_id that is not a posted slot (never from a sane CQ).
    rte_mbuf* take(uint64_t wr_id);
    // A completed receive whose buffer is not handed on (credit-only
    // message, flushed, dropped): reposted as it is at the next refill.
    void recycle(uint64_t wr_id);
    // Reposts every free slot (new mbufs for slots whose buffer was taken),
    // as post lists of kBatch. Returns how many buffers newly could not be
    // posted (pool empty, or the post failed: last_post_error() says why);
    // a buffer missing over several refills is counted once.
    uint32_t refill();
    int last_post_error() const { return post_error_; }

    // ---- link thread ----
    // As recycle(), from the thread tearing a peer down.
    void recycle_from_link(uint64_t wr_id);

    static constexpr uint32_t kBatch = 32;

private:
    ReceiveQueue(Device& dev, rte_mempool* pool, uint32_t size, uint32_t buffer_len);
    void drain_returns();
    bool post_batch(const uint32_t* slots, uint32_t n);

    Device& dev_;
    rte_mempool* pool_;
    ibv_srq* srq_ = nullptr;
    uint32_t size_;
    uint32_t buffer_len_;
    uint32_t posted_ = 0;
    uint32_t short_ = 0;  // free slots left after the last refill
    int post_error_ = 0;
    std::vector<rte_mbuf*> slot_mbuf_;   // the buffer of each slot (posted or waiting to be)
    std::vector<uint8_t> slot_posted_;   // 1 while the slot's receive is posted
    std::vector<uint32_t> free_;         // slots not posted (a stack)
    std::unique_ptr<ibv_recv_wr[]> wrs_; // kBatch, preallocated: refill never allocates
    std::unique_ptr<ibv_sge[]> sges_;
    // The link thread's returns (single producer, single consumer).
    std::vector<uint32_t> ret_ring_;
    uint32_t ret_mask_ = 0;
    alignas(64) std::atomic<uint32_t> ret_head_{0};  // written by the link thread
    alignas(64) std::atomic<uint32_t> ret_tail_{0};  // written by the worker
};

}  // namespace sluice::drivers::rdma
