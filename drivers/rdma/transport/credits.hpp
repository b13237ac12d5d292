// Credit accounting of one peer, both directions (docs/rdma.md, "Credits").
// Pure: no verbs, no mbufs; the Peer drives it and the unit tests drive it
// through a randomised two-sided model.
//
// Why credits: an RC SEND that finds no posted receive is refused with an
// RNR NAK and retried by the HCA after min_rnr_timer (IB spec 9.7.5.2.8);
// with rnr_retry 7 it retries forever, stalling every later message of the
// queue pair behind it. The fast path must never depend on that, so a
// sender only sends what the receiver has promised buffers for.
//
// The rules (as UCX's rc flow control and MVAPICH's credit scheme):
// - Sending: each message (data or credit update) uses one credit. A data
//   message never takes the last credit: it is kept for a credit update,
//   so a side that owes credits can always return them even when the other
//   side has nothing to send.
// - Receiving: each message received consumes one receive buffer of the
//   shared receive queue. Its credit goes back to the sender only after the
//   shared queue has been refilled past it (`release`): a credit the sender
//   holds always stands for a buffer that is posted, so no RNR.
// - Returning: every data send carries all owed credits in its immediate
//   (capped at kMaxGrant). With nothing to carry them, an explicit update is
//   due when owed >= max(2, window / 4) (liveness: a sender starved of data
//   credits has at least window - 1 unreturned, more than the threshold),
//   or, once idle, when a data message's credit is owed. A credit update's
//   own credit never makes an update due on its own: two idle sides never
//   ping-pong updates.
#pragma once

#include <algorithm>
#include <cstdint>

namespace sluice::drivers::rdma {

class Credits {
public:
    // What one immediate can carry (the rest waits for the next message).
    static constexpr uint32_t kMaxGrant = 0xFFFF;

    // A fresh connection: we may send `send_window` messages (the remote's
    // receive buffers for us); we granted `recv_window` to the remote.
    void reset(uint32_t send_window, uint32_t recv_window) {
        held_ = send_window;
        recv_window_ = recv_window;
        pending_ = owed_ = 0;
        data_unreturned_ = false;
    }

    // ---- sending side ----
    uint32_t held() const { return held_; }
    // Data messages that may be sent now (one credit stays in reserve).
    uint32_t data_allowance() const { return held_ > 1 ? held_ - 1 : 0; }
    // Takes credits for n data messages; n <= data_allowance().
    void take_data(uint32_t n) { held_ -= std::min(n, data_allowance()); }
    // Takes the credit of one credit update (may be the last one).
    bool take_update() {
        if (held_ == 0) return false;
        --held_;
        return true;
    }
    // Credits returned by the remote (a message's immediate).
    void grant(uint32_t n) { held_ += n; }

    // ---- receiving side ----
    // One message from the remote consumed a receive buffer.
    void received(bool data) {
        ++pending_;
        data_unreturned_ = data_unreturned_ || data;
    }
    // The shared receive queue lacks `deficit` buffers (consumed, not yet
    // reposted). Buffers are not told apart by peer, so a peer keeps back
    // min(pending, deficit) credits: then either it alone covers the deficit
    // or it keeps everything it has, and the credits outstanding over all
    // peers never exceed the buffers posted. Returns how many were released.
    uint32_t release(uint32_t deficit) {
        uint32_t keep = std::min(pending_, deficit);
        uint32_t r = pending_ - keep;
        pending_ = keep;
        owed_ += r;
        return r;
    }
    uint32_t pending() const { return pending_; }
    uint32_t owed() const { return owed_; }
    // The credits to put in the next message's immediate (all owed, capped).
    uint32_t take_owed() {
        uint32_t g = std::min(owed_, kMaxGrant);
        owed_ -= g;
        if (owed_ == 0 && pending_ == 0) data_unreturned_ = false;
        return g;
    }
    uint32_t update_threshold() const { return std::max<uint32_t>(2, recv_window_ / 4); }
    // An explicit credit update is due (nothing else to carry it). `idle`:
    // no traffic for a few polls.
    bool update_due(bool idle) const {
        if (owed_ >= update_threshold()) return true;
        return idle && owed_ > 0 && data_unreturned_;
    }

    // The smallest window for which the rules are live (a window of 2 or 3
    // would let a lone update's credit reach the threshold: a ping-pong).
    static constexpr uint32_t kMinWindow = 4;

private:
    uint32_t held_ = 0;
    uint32_t recv_window_ = 0;
    uint32_t pending_ = 0;  // consumed, not yet known to be reposted
    uint32_t owed_ = 0;     // returnable, not yet sent
    bool data_unreturned_ = false;
};

}  // namespace sluice::drivers::rdma
