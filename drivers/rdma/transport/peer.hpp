// One RDMA peer: an RC queue pair to another data plane node, carrying
// packets (whole Ethernet frames, one per SEND) in place from the packet
// pool. The workers see bursts of mbufs: tx_burst / rx_burst / poll, like an
// ethdev queue; no verbs type crosses this header (docs/rdma.md).
//
// Threads. The link thread (drivers/rdma/link/) owns the peer while it is
// down or connecting: it creates the queue pair, exchanges EndpointInfo with
// the other side and calls connect(), which publishes `up`. From then on
// only the owning worker touches the queue pair and the CQs (tx_burst,
// rx_burst, poll). A completion error, a failed post or request_reset()
// makes the worker count what was in flight as lost, free it, and publish
// `failed`; the link thread then calls teardown() and builds a new queue pair.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "drivers/rdma/connect/oob_message.hpp"

struct rte_mbuf;
struct rte_mempool;

namespace sluice::drivers::rdma {

struct VerbsOps;
class Device;
class ReceiveQueue;

enum class PeerState : uint8_t { down, connecting, up, failed };
const char* to_string(PeerState s);

// Written by the owning worker (and by the link thread while it owns the
// peer), read by telemetry on any thread: relaxed atomics, one writer at a
// time.
struct alignas(64) PeerCounters {
    std::atomic<uint64_t> tx_packets{0}, tx_bytes{0};
    std::atomic<uint64_t> rx_packets{0}, rx_bytes{0};
    std::atomic<uint64_t> credit_stalls{0};    // packets not sent for want of credit
    std::atomic<uint64_t> qp_resets{0};        // queue pairs torn down after an error or a peer restart
    std::atomic<uint64_t> lost_in_flight{0};   // packets posted but never completed (freed at reset)
    std::atomic<uint64_t> completion_errors{0};// completions with a status other than success or flush
    std::atomic<uint64_t> credit_updates_sent{0}, credit_updates_received{0};
    std::atomic<uint64_t> doorbells{0};        // post_send calls (one per burst: a post list)
    std::atomic<uint64_t> inline_sends{0};
    std::atomic<uint64_t> signalled{0};        // sends posted with IBV_SEND_SIGNALED
    std::atomic<uint64_t> rx_refill_failed{0}; // receive buffers not reposted (pool empty)
    std::atomic<uint64_t> rx_dropped{0};       // received messages dropped (bad length, no credit header)
    std::atomic<uint64_t> tx_refused{0};       // frames not sent: not from a registered pool, chained,
                                               // empty or longer than the remote's max_frame
};

struct PeerParams {
    std::string name;              // for log lines
    uint32_t send_queue = 512;     // send work requests
    uint32_t recv_credits = 512;   // receive buffers granted to this peer (its send window)
    uint32_t inline_max = 128;     // bytes; 0 = never inline
    uint32_t signal_every = 32;    // one signalled send per this many
    uint8_t device_port = 1;
    int32_t gid_index = -1;        // -1: select (connect/attr.hpp)
    uint32_t max_frame = 9000 + 18;// bytes of the largest frame sent or received
    // Receive CQ entries; 0: recv_credits + 64, which credits keep from ever
    // overflowing. Tests set it smaller to make the CQ overflow.
    uint32_t recv_cq_size = 0;
};

class Peer {
public:
    // `rq`: the owning worker's shared receive queue, on the same device.
    Peer(Device& dev, ReceiveQueue& rq, const PeerParams& params);
    ~Peer();  // teardown() if needed
    Peer(const Peer&) = delete;
    Peer& operator=(const Peer&) = delete;

    // ---- link thread (while state() is down, connecting or failed) ----
    // Creates the CQs and a queue pair in INIT; fills *local with what the
    // other side needs (a fresh `instance` each time). Publishes connecting.
    bool prepare(EndpointInfo* local, std::string* err);
    // INIT -> RTR -> RTS towards `remote` (attributes by link layer, path
    // MTU clamped to both ends), credits reset to remote.recv_credits. The
    // state stays `connecting`: the link thread calls activate() once the
    // other side has said it reached RTR too (a SEND that reaches a queue
    // pair still in INIT is dropped by it and retried by the HCA until
    // retry_cnt runs out).
    bool connect(const EndpointInfo& remote, std::string* err);
    // Publishes `up`: from here on the owning worker sends and receives.
    void activate();
    // Destroys the queue pair and CQs; frees what was in flight (counted in
    // lost_in_flight) and counts a reset when a queue pair existed.
    // Publishes down.
    void teardown();
    // Any thread: ask the owner to give the peer up (the other side
    // restarted, or the exchange connection closed). The worker publishes
    // failed at its next poll().
    void request_reset() { reset_requested_.store(true, std::memory_order_release); }

    // ---- owning worker ----
    // Sends up to n frames; returns how many were taken (the transport owns
    // them from then on and frees them when their send completes). Not
    // taken: not up, no credit (counted in credit_stalls), no send queue
    // slot, or refused (tx_refused: chained, empty, longer than the remote
    // accepts, not inline and not from a registered pool). As with
    // rte_eth_tx_burst the caller frees pkts[ret..n); the taken frames are
    // moved to the front of pkts in their order, refused ones behind them.
    // Never blocks, never allocates.
    uint16_t tx_burst(rte_mbuf** pkts, uint16_t n);
    // Received frames (data_len/pkt_len set; port left to the caller).
    // Credit updates arrive here too: a worker calls rx_burst on each of
    // its peers every loop, also on one it only sends to.
    uint16_t rx_burst(rte_mbuf** pkts, uint16_t n);
    // Send completions, credit returns (explicit update when owed and idle),
    // the shared receive queue's refill, a pending request_reset().
    void poll();

    PeerState state() const { return state_.load(std::memory_order_acquire); }
    const PeerCounters& counters() const { return counters_; }
    const PeerParams& params() const { return params_; }
    // Credits we hold (may send), and receive buffers the peer still holds
    // for us unreturned: for telemetry and tests.
    uint32_t credits() const;
    uint32_t in_flight() const;   // frames posted in place (not inline), not completed yet

    struct Impl;

private:
    // The worker gives the queue pair up: error state, in-flight frames
    // freed and counted lost, publishes failed. `completion_error`: count
    // it (a real error, not a flush or a requested reset).
    void fail(bool completion_error);
    // Moves the QP to the error state (the HCA stops using our buffers and
    // flushes the receives it took from the SRQ) and hands every receive
    // completion back to the SRQ; `from_link`: called by the link thread
    // (teardown), else by the owning worker (fail).
    void stop_and_drain_receives(bool from_link);
    // Frees every send not completed (counted in lost_in_flight).
    void free_in_flight();
    void complete_sends(uint64_t upto);
    bool send_update(bool signal);

    Device& dev_;
    ReceiveQueue& rq_;
    PeerParams params_;
    std::atomic<PeerState> state_{PeerState::down};
    std::atomic<bool> reset_requested_{false};
    PeerCounters counters_;
    std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::drivers::rdma
