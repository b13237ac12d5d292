// Peer, control path (the link thread): prepare, connect, activate,
// teardown. The fast path is in peer_datapath.cpp.
#include "drivers/rdma/transport/peer.hpp"

#include <rte_mbuf.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <random>

#include "drivers/rdma/connect/attr.hpp"
#include "drivers/rdma/transport/device.hpp"
#include "drivers/rdma/transport/peer_impl.hpp"
#include "drivers/rdma/transport/receive_queue.hpp"
#include "drivers/rdma/verbs/ops.hpp"

namespace sluice::drivers::rdma {

const char* to_string(PeerState s) {
    switch (s) {
    case PeerState::down: return "down";
    case PeerState::connecting: return "connecting";
    case PeerState::up: return "up";
    case PeerState::failed: return "failed";
    }
    return "?";
}

Peer::Impl::Impl(const PeerParams& p)
    : sq_size(std::max<uint32_t>(p.send_queue, 1)),
      signal_every(std::clamp<uint32_t>(p.signal_every, 1, std::max<uint32_t>(p.send_queue, 1))),
      inline_max(p.inline_max), sq_mbuf(sq_size, nullptr), wrs(new ibv_send_wr[kMaxList]),
      sges(new ibv_sge[kMaxList]) {}

Peer::Peer(Device& dev, ReceiveQueue& rq, const PeerParams& params)
    : dev_(dev), rq_(rq), params_(params), impl_(std::make_unique<Impl>(params)) {}

Peer::~Peer() { teardown(); }

uint32_t Peer::credits() const { return impl_->credits_seen.load(std::memory_order_relaxed); }
uint32_t Peer::in_flight() const { return impl_->inflight_seen.load(std::memory_order_relaxed); }

namespace {

// Random start PSNs and instance numbers: a rebuilt queue pair must not
// accept packets of its predecessor (IB spec 9.7.1: the PSN space), and the
// other side tells a rebuilt peer by its instance.
uint64_t random64() {
    static std::mutex mu;
    static std::mt19937_64 gen{std::random_device{}()};
    std::lock_guard<std::mutex> g(mu);
    return gen();
}

std::string strerr(int rc) { return std::strerror(rc > 0 ? rc : (errno ? errno : EINVAL)); }

}  // namespace

bool Peer::prepare(EndpointInfo* local, std::string* err) {
    auto fail = [&](std::string m) {
        if (err) *err = params_.name + ": " + m;
        teardown();
        return false;
    };
    teardown();
    reset_requested_.store(false, std::memory_order_relaxed);
    const VerbsOps& ops = dev_.ops();
    Impl& im = *impl_;

    if (params_.recv_credits < Credits::kMinWindow)
        return fail("recv_credits " + std::to_string(params_.recv_credits) + ": expected at least " +
                    std::to_string(Credits::kMinWindow));
    if (params_.recv_credits > rq_.size())
        return fail("recv_credits " + std::to_string(params_.recv_credits) + " exceeds the receive queue's " +
                    std::to_string(rq_.size()) + " buffers");
    if (params_.max_frame > rq_.buffer_len())
        return fail("max_frame " + std::to_string(params_.max_frame) + " exceeds the receive buffers' " +
                    std::to_string(rq_.buffer_len()) + " bytes (mempool data room after headroom)");
    if (&rq_.device() != &dev_) return fail("the receive queue is on another device");

    errno = 0;
    im.scq = ops.create_cq(dev_.context(), int(im.sq_size), nullptr, nullptr, 0);
    if (!im.scq) return fail("ibv_create_cq(send, " + std::to_string(im.sq_size) + "): " + strerr(0));
    // Messages from the peer are bounded by the credits we grant: this CQ
    // cannot overflow while they hold.
    uint32_t rcq_size = params_.recv_cq_size ? params_.recv_cq_size : params_.recv_credits + 64;
    errno = 0;
    im.rcq = ops.create_cq(dev_.context(), int(rcq_size), nullptr, nullptr, 0);
    if (!im.rcq) return fail("ibv_create_cq(receive, " + std::to_string(rcq_size) + "): " + strerr(0));

    ibv_qp_init_attr ia{};
    ia.send_cq = im.scq;
    ia.recv_cq = im.rcq;
    ia.srq = rq_.srq();
    ia.qp_type = IBV_QPT_RC;
    ia.sq_sig_all = 0;  // selective signalling
    ia.cap.max_send_wr = im.sq_size;
    ia.cap.max_send_sge = 1;  // one segment per frame (dataplane/tx_contract.hpp)
    ia.cap.max_inline_data = im.inline_max;
    errno = 0;
    im.qp = ops.create_qp(dev_.pd(), &ia);
    if (!im.qp) return fail("ibv_create_qp(RC, send_queue " + std::to_string(im.sq_size) + ", inline " +
                            std::to_string(im.inline_max) + "): " + strerr(0));
    // ibv_create_qp(3) writes back what was granted, which may be more.
    if (ia.cap.max_send_wr < im.sq_size || ia.cap.max_inline_data < im.inline_max)
        return fail("ibv_create_qp granted send_queue " + std::to_string(ia.cap.max_send_wr) + " inline " +
                    std::to_string(ia.cap.max_inline_data) + ", expected at least " + std::to_string(im.sq_size) +
                    " and " + std::to_string(im.inline_max));

    Transition init = to_init(dev_.port());
    if (int rc = ops.modify_qp(im.qp, &init.attr, init.mask); rc != 0)
        return fail("ibv_modify_qp(RESET -> INIT): " + strerr(rc));

    std::string gerr;
    int gidx = select_gid(dev_.link_layer(), dev_.gids(), AddrFamily::any, params_.gid_index, &gerr);
    if (gidx < 0) return fail("GID: " + gerr);

    EndpointInfo li;
    li.link_layer = dev_.link_layer();
    li.active_mtu = dev_.active_mtu();
    li.lid = dev_.lid();
    for (const GidEntry& g : dev_.gids())
        if (g.index == uint32_t(gidx)) li.gid = g.gid;
    li.gid_index = uint8_t(gidx);
    li.qpn = im.qp->qp_num;
    im.psn = uint32_t(random64() & 0xFFFFFF);
    li.psn = im.psn;
    li.recv_credits = params_.recv_credits;
    li.max_frame = params_.max_frame;
    li.instance = random64();
    li.name = params_.name.substr(0, 15);
    im.local = li;
    im.sq_head = im.sq_tail = 0;
    im.unsignalled_run = 0;
    im.inflight_mbufs = 0;
    im.idle_polls = 0;
    im.active = false;
    im.credits.reset(0, params_.recv_credits);
    im.publish();
    if (local) *local = li;
    state_.store(PeerState::connecting, std::memory_order_release);
    return true;
}

bool Peer::connect(const EndpointInfo& remote, std::string* err) {
    Impl& im = *impl_;
    auto fail = [&](std::string m) {
        if (err) *err = params_.name + ": " + m;
        return false;
    };
    if (state() != PeerState::connecting || !im.qp) return fail("connect before prepare");
    // Frames we send land in the remote's receive buffers whole (one frame
    // per SEND): a longer one would fail there with IBV_WC_LOC_LEN_ERR and
    // take the queue pair down.
    if (remote.max_frame < params_.max_frame)
        return fail("the remote accepts frames up to " + std::to_string(remote.max_frame) +
                    " bytes, we send up to " + std::to_string(params_.max_frame) + " (max_frame must match)");
    if (remote.recv_credits < Credits::kMinWindow)
        return fail("the remote grants " + std::to_string(remote.recv_credits) + " receive credits, expected at least " +
                    std::to_string(Credits::kMinWindow));
    uint8_t mtu = clamp_path_mtu(im.local.active_mtu, remote.active_mtu);
    if (mtu == 0)
        return fail("no path MTU from active MTUs " + std::to_string(im.local.active_mtu) + " and " +
                    std::to_string(remote.active_mtu));
    RcTiming timing;
    Transition rtr;
    std::string terr;
    if (!to_rtr(im.local, remote, dev_.port(), mtu, timing, &rtr, &terr)) return fail(terr);
    const VerbsOps& ops = dev_.ops();
    if (int rc = ops.modify_qp(im.qp, &rtr.attr, rtr.mask); rc != 0)
        return fail("ibv_modify_qp(INIT -> RTR): " + strerr(rc));
    Transition rts = to_rts(im.psn, timing);
    if (int rc = ops.modify_qp(im.qp, &rts.attr, rts.mask); rc != 0)
        return fail("ibv_modify_qp(RTR -> RTS): " + strerr(rc));
    im.remote_max_frame = remote.max_frame;
    im.credits.reset(remote.recv_credits, params_.recv_credits);
    im.connected = true;
    im.publish();
    return true;
}

void Peer::activate() {
    if (state() == PeerState::connecting && impl_->connected)
        state_.store(PeerState::up, std::memory_order_release);
}

void Peer::teardown() {
    Impl& im = *impl_;
    const VerbsOps& ops = dev_.ops();
    if (im.qp) {
        // The receives go back before the QP is destroyed, which removes
        // its completions from the CQs.
        stop_and_drain_receives(true);
        ops.destroy_qp(im.qp);
        im.qp = nullptr;
        bump(counters_.qp_resets);
    }
    if (im.scq) ops.destroy_cq(im.scq);
    if (im.rcq) ops.destroy_cq(im.rcq);
    im.scq = im.rcq = nullptr;
    im.connected = false;
    // What was posted and never completed is lost.
    free_in_flight();
    im.credits.reset(0, params_.recv_credits);
    im.publish();
    state_.store(PeerState::down, std::memory_order_release);
}

}  // namespace sluice::drivers::rdma
