// Errors with their real completion statuses: protection and length
// checks, RNR, PSNs, CQ overflow, the error state's flush, peer death.
#include <cerrno>

#include "tests/unit/rdma/standin/helpers.hpp"

namespace sluice::drivers::rdma::standin::testing {
namespace {

class StandinErrors : public TwoDevices {};

TEST_F(StandinErrors, UnknownLkeyIsLocalProtectionErrorThenFlush) {
    pair();
    ASSERT_EQ(post_recvs(b_, 4, 64), 0);
    ASSERT_EQ(send(a_, 1, 0, 16, IBV_SEND_SIGNALED, false, 0, 0xdead00), 0);  // posting succeeds
    ASSERT_EQ(send(a_, 2, 0, 16, 0), 0);                                       // unsignalled, flushed anyway
    ASSERT_EQ(send(a_, 3, 0, 16), 0);
    auto tx = poll_n(a_.scq, 3);
    ASSERT_EQ(tx.size(), 3u);
    EXPECT_EQ(tx[0].wr_id, 1u);
    EXPECT_EQ(tx[0].status, IBV_WC_LOC_PROT_ERR);
    EXPECT_EQ(tx[1].wr_id, 2u);
    EXPECT_EQ(tx[1].status, IBV_WC_WR_FLUSH_ERR);
    EXPECT_EQ(tx[2].status, IBV_WC_WR_FLUSH_ERR);
    EXPECT_EQ(a_.qp->state, IBV_QPS_ERR);
    EXPECT_TRUE(poll_some(b_.rcq, 5).empty());  // nothing went out
}

TEST_F(StandinErrors, SgeOutsideItsRegionIsLocalProtectionError) {
    pair();
    // Starts inside the 1 MiB region, ends 1 byte past it.
    ASSERT_EQ(send(a_, 1, a_.buf.size() - 15, 16), 0);
    auto tx = poll_n(a_.scq, 1);
    ASSERT_EQ(tx.size(), 1u);
    EXPECT_EQ(tx[0].status, IBV_WC_LOC_PROT_ERR);
    EXPECT_EQ(a_.qp->state, IBV_QPS_ERR);
}

TEST_F(StandinErrors, DeregisteredRegionAndOtherPdAreProtectionErrors) {
    pair();
    std::vector<uint8_t> mem(256);
    ibv_mr* m = V().reg_mr(a_.pd, mem.data(), mem.size(), IBV_ACCESS_LOCAL_WRITE);
    ASSERT_NE(m, nullptr);
    uint32_t stale = m->lkey;
    ASSERT_EQ(V().dereg_mr(m), 0);
    ibv_sge sge{reinterpret_cast<uintptr_t>(mem.data()), 16, stale};
    ibv_send_wr w{};
    w.sg_list = &sge;
    w.num_sge = 1;
    w.opcode = IBV_WR_SEND;
    w.send_flags = IBV_SEND_SIGNALED;
    ibv_send_wr* bad = nullptr;
    ASSERT_EQ(V().post_send(a_.qp, &w, &bad), 0);
    auto tx = poll_n(a_.scq, 1);
    ASSERT_EQ(tx.size(), 1u);
    EXPECT_EQ(tx[0].status, IBV_WC_LOC_PROT_ERR);

    // A region of a's PD over b's buffer: the range fits, the PD does not.
    ibv_mr* other = V().reg_mr(a_.pd, b_.buf.data(), 4096, IBV_ACCESS_LOCAL_WRITE);
    ASSERT_NE(other, nullptr);
    ASSERT_EQ(post_recvs(a_, 1, 64), 0);
    ASSERT_EQ(send(b_, 1, 0, 16, IBV_SEND_SIGNALED, false, 0, other->lkey), 0);
    auto tb = poll_n(b_.scq, 1);
    ASSERT_EQ(tb.size(), 1u);
    EXPECT_EQ(tb[0].status, IBV_WC_LOC_PROT_ERR);
    EXPECT_EQ(V().dereg_mr(other), 0);
}

TEST_F(StandinErrors, ReceiveBufferTooSmall) {
    pair();
    ASSERT_EQ(post_recvs(b_, 2, 32), 0);
    ASSERT_EQ(send(a_, 1, 0, 33), 0);
    ASSERT_EQ(send(a_, 2, 0, 8), 0);
    auto rx = poll_n(b_.rcq, 1);
    ASSERT_EQ(rx.size(), 1u);
    EXPECT_EQ(rx[0].status, IBV_WC_LOC_LEN_ERR);
    EXPECT_EQ(rx[0].wr_id, 1000u);
    EXPECT_EQ(b_.qp->state, IBV_QPS_ERR);
    auto tx = poll_n(a_.scq, 2);
    ASSERT_EQ(tx.size(), 2u);
    EXPECT_EQ(tx[0].status, IBV_WC_REM_INV_REQ_ERR);
    EXPECT_EQ(tx[1].status, IBV_WC_WR_FLUSH_ERR);
    EXPECT_EQ(a_.qp->state, IBV_QPS_ERR);
}

TEST_F(StandinErrors, ReceiveSgeWithoutLocalWriteIsRemoteOperationalError) {
    pair();
    std::vector<uint8_t> mem(256);
    ibv_mr* ro = V().reg_mr(b_.pd, mem.data(), mem.size(), 0);  // no local write
    ASSERT_NE(ro, nullptr);
    ibv_sge sge{reinterpret_cast<uintptr_t>(mem.data()), 256, ro->lkey};
    ibv_recv_wr rw{};
    rw.wr_id = 5;
    rw.sg_list = &sge;
    rw.num_sge = 1;
    ibv_recv_wr* rbad = nullptr;
    ASSERT_EQ(V().post_srq_recv(b_.srq, &rw, &rbad), 0);
    ASSERT_EQ(send(a_, 1, 0, 16), 0);
    auto rx = poll_n(b_.rcq, 1);
    ASSERT_EQ(rx.size(), 1u);
    EXPECT_EQ(rx[0].status, IBV_WC_LOC_PROT_ERR);
    auto tx = poll_n(a_.scq, 1);
    ASSERT_EQ(tx.size(), 1u);
    EXPECT_EQ(tx[0].status, IBV_WC_REM_OP_ERR);
    EXPECT_EQ(V().dereg_mr(ro), 0);  // before TearDown frees the PD
}

TEST_F(StandinErrors, RnrRetryForeverWaitsThenDelivers) {
    pair(LinkLayer::ethernet, {}, 7);
    auto naks = stats().rnr_naks;
    ASSERT_EQ(send(a_, 1, 0, 16), 0);
    ASSERT_EQ(send(a_, 2, 0, 16), 0);
    EXPECT_TRUE(poll_some(b_.rcq, 50).empty());
    EXPECT_TRUE(poll_some(a_.scq, 50).empty());
    EXPECT_GE(stats().rnr_naks, naks + 50);  // one NAK per attempt
    EXPECT_EQ(a_.qp->state, IBV_QPS_RTS);
    ASSERT_EQ(post_recvs(b_, 2, 64), 0);
    auto rx = poll_n(b_.rcq, 2);
    ASSERT_EQ(rx.size(), 2u);
    EXPECT_EQ(rx[0].status, IBV_WC_SUCCESS);
    auto tx = poll_n(a_.scq, 2);
    ASSERT_EQ(tx.size(), 2u);
    EXPECT_EQ(tx[0].wr_id, 1u);
    EXPECT_EQ(tx[1].status, IBV_WC_SUCCESS);
}

TEST_F(StandinErrors, RnrRetryExceeded) {
    pair(LinkLayer::ethernet, {}, 1);
    auto naks = stats().rnr_naks;
    ASSERT_EQ(send(a_, 1, 0, 16), 0);
    ASSERT_EQ(send(a_, 2, 0, 16), 0);
    EXPECT_TRUE(poll_some(b_.rcq, 5).empty());  // NAK, NAK: more than rnr_retry = 1
    EXPECT_EQ(stats().rnr_naks, naks + 2);
    auto tx = poll_n(a_.scq, 2);
    ASSERT_EQ(tx.size(), 2u);
    EXPECT_EQ(tx[0].status, IBV_WC_RNR_RETRY_EXC_ERR);
    EXPECT_EQ(tx[1].status, IBV_WC_WR_FLUSH_ERR);
    EXPECT_EQ(a_.qp->state, IBV_QPS_ERR);
    EXPECT_EQ(b_.qp->state, IBV_QPS_RTS);  // the responder carries on
    ASSERT_EQ(post_recvs(b_, 2, 64), 0);
    EXPECT_TRUE(poll_some(b_.rcq, 5).empty());  // what the failed sender queued is discarded
}

TEST_F(StandinErrors, PsnMismatchEndsInRetryExceeded) {
    add(LinkLayer::ethernet);
    ASSERT_TRUE(a_.init(ca_));
    ASSERT_TRUE(b_.init(cb_));
    ASSERT_EQ(to_init(a_.qp), 0);
    ASSERT_EQ(to_init(b_.qp), 0);
    a_.psn = 100;
    b_.psn = 200;
    Addr aa = a_.addr();
    aa.psn = 101;  // b expects a different first PSN than a sends
    ASSERT_EQ(bring_up(a_, b_.addr()), 0);
    ASSERT_EQ(bring_up(b_, aa), 0);
    ASSERT_EQ(post_recvs(b_, 2, 64), 0);
    auto retries = stats().retry_exceeded;
    ASSERT_EQ(send(a_, 1, 0, 16), 0);
    EXPECT_TRUE(poll_some(b_.rcq, 3).empty());  // ignored: out of sequence
    auto tx = poll_n(a_.scq, 1);
    ASSERT_EQ(tx.size(), 1u);
    EXPECT_EQ(tx[0].status, IBV_WC_RETRY_EXC_ERR);
    EXPECT_EQ(stats().retry_exceeded, retries + 1);
}

TEST_F(StandinErrors, PsnWrapsAt24Bits) {
    add(LinkLayer::ethernet);
    ASSERT_TRUE(a_.init(ca_));
    ASSERT_TRUE(b_.init(cb_));
    a_.psn = 0xFFFFFE;
    b_.psn = 1;
    ASSERT_TRUE(connect_pair(a_, b_));
    ASSERT_EQ(post_recvs(b_, 4, 2048), 0);
    for (int i = 0; i < 4; ++i) ASSERT_EQ(send(a_, static_cast<uint64_t>(i), 0, 1500), 0);  // 2 packets each
    auto rx = poll_n(b_.rcq, 4);
    ASSERT_EQ(rx.size(), 4u);
    for (auto& wc : rx) EXPECT_EQ(wc.status, IBV_WC_SUCCESS);
}

TEST_F(StandinErrors, CqOverflow) {
    EndpointOpts o;
    o.recv_cqe = 4;
    pair(LinkLayer::ethernet, o);
    auto overflows = stats().cq_overflows;
    ASSERT_EQ(post_recvs(b_, 6, 64), 0);  // more receives than the CQ holds: the bug
    for (int i = 0; i < 6; ++i) ASSERT_EQ(send(a_, static_cast<uint64_t>(i), 0, 8), 0);
    ibv_wc wc[16];
    int n = V().poll_cq(b_.rcq, 16, wc);
    EXPECT_EQ(n, 4);  // what it held
    EXPECT_TRUE(cq_overflowed(b_.rcq));
    EXPECT_EQ(stats().cq_overflows, overflows + 1);
    EXPECT_EQ(b_.qp->state, IBV_QPS_ERR);
    EXPECT_LT(V().poll_cq(b_.rcq, 16, wc), 0);
    EXPECT_LT(V().poll_cq(b_.rcq, 16, wc), 0);
    EXPECT_FALSE(cq_overflowed(a_.scq));
}

TEST_F(StandinErrors, InjectedErrorFlushesAllOutstanding) {
    pair();
    for (int i = 0; i < 5; ++i) ASSERT_EQ(send(a_, static_cast<uint64_t>(i), 0, 8, i == 4 ? IBV_SEND_SIGNALED : 0), 0);
    inject_qp_error(a_.qp);
    EXPECT_EQ(a_.qp->state, IBV_QPS_ERR);
    auto tx = poll_n(a_.scq, 5);
    ASSERT_EQ(tx.size(), 5u);
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(tx[static_cast<size_t>(i)].wr_id, static_cast<uint64_t>(i));
        EXPECT_EQ(tx[static_cast<size_t>(i)].status, IBV_WC_WR_FLUSH_ERR);
    }
    // Posting in the error state is accepted and flushes at once.
    ASSERT_EQ(send(a_, 9, 0, 8, 0), 0);
    tx = poll_n(a_.scq, 1);
    ASSERT_EQ(tx.size(), 1u);
    EXPECT_EQ(tx[0].wr_id, 9u);
    EXPECT_EQ(tx[0].status, IBV_WC_WR_FLUSH_ERR);
}

TEST_F(StandinErrors, KilledPeerEndsInRetryExceeded) {
    pair();
    ASSERT_EQ(post_recvs(b_, 4, 64), 0);
    ASSERT_EQ(send(a_, 1, 0, 8), 0);  // outstanding when b dies
    kill_device(cb_);
    EXPECT_TRUE(poll_some(b_.rcq, 3).empty());  // a dead node answers nothing
    auto tx = poll_n(a_.scq, 1);
    ASSERT_EQ(tx.size(), 1u);
    EXPECT_EQ(tx[0].status, IBV_WC_RETRY_EXC_ERR);
    EXPECT_EQ(a_.qp->state, IBV_QPS_ERR);
}

TEST_F(StandinErrors, SendAfterPeerKilledEndsInRetryExceeded) {
    pair();
    kill_device(cb_);
    ASSERT_EQ(send(a_, 1, 0, 8), 0);
    ASSERT_EQ(send(a_, 2, 0, 8), 0);
    auto tx = poll_n(a_.scq, 2);
    ASSERT_EQ(tx.size(), 2u);
    EXPECT_EQ(tx[0].status, IBV_WC_RETRY_EXC_ERR);
    EXPECT_EQ(tx[1].status, IBV_WC_WR_FLUSH_ERR);
}

TEST_F(StandinErrors, DestroyedPeerQpEndsInRetryExceeded) {
    pair();
    ASSERT_EQ(send(a_, 1, 0, 8), 0);  // no receive posted: waits (RNR, retried forever)
    ASSERT_EQ(V().destroy_qp(b_.qp), 0);
    b_.qp = nullptr;
    auto tx = poll_n(a_.scq, 1);
    ASSERT_EQ(tx.size(), 1u);
    EXPECT_EQ(tx[0].status, IBV_WC_RETRY_EXC_ERR);
}

TEST_F(StandinErrors, PeerInErrorStateStopsAnswering) {
    pair();
    inject_qp_error(b_.qp);
    ASSERT_EQ(post_recvs(b_, 2, 64), 0);
    ASSERT_EQ(send(a_, 1, 0, 8), 0);
    auto tx = poll_n(a_.scq, 1);
    ASSERT_EQ(tx.size(), 1u);
    EXPECT_EQ(tx[0].status, IBV_WC_RETRY_EXC_ERR);
}

// An RC QP has one peer: a second QP that aims at the same receiver gets
// no answers (the wire under a receiving QP has a single producer).
TEST_F(StandinErrors, SecondSenderToAConnectedQpGetsNoAnswer) {
    pair();
    ASSERT_EQ(post_recvs(b_, 4, 64), 0);
    ibv_qp_init_attr qa{};
    qa.send_cq = a_.scq;
    qa.recv_cq = a_.rcq;
    qa.srq = a_.srq;
    qa.qp_type = IBV_QPT_RC;
    qa.cap.max_send_wr = 4;
    qa.cap.max_send_sge = 1;
    Endpoint intruder;  // a's device, PD, CQs and buffer; its own QP
    intruder.ctx = ca_;
    intruder.qp = V().create_qp(a_.pd, &qa);
    ASSERT_NE(intruder.qp, nullptr);
    intruder.psn = b_.addr().psn;
    ASSERT_EQ(bring_up(intruder, b_.addr()), 0);
    ibv_sge sge{a_.addr_of(0), 8, a_.mr->lkey};
    ibv_send_wr w{};
    w.wr_id = 5;
    w.sg_list = &sge;
    w.num_sge = 1;
    w.opcode = IBV_WR_SEND;
    w.send_flags = IBV_SEND_SIGNALED;
    ibv_send_wr* bad = nullptr;
    ASSERT_EQ(V().post_send(intruder.qp, &w, &bad), 0);
    auto tx = poll_n(a_.scq, 1);
    ASSERT_EQ(tx.size(), 1u);
    EXPECT_EQ(tx[0].wr_id, 5u);
    EXPECT_EQ(tx[0].status, IBV_WC_RETRY_EXC_ERR);
    EXPECT_EQ(V().destroy_qp(intruder.qp), 0);
    intruder.qp = nullptr;
    // The connected pair is unaffected.
    ASSERT_EQ(send(a_, 6, 0, 8), 0);
    ASSERT_EQ(poll_n(b_.rcq, 1).size(), 1u);
    tx = poll_n(a_.scq, 1);
    ASSERT_EQ(tx.size(), 1u);
    EXPECT_EQ(tx[0].status, IBV_WC_SUCCESS);
}

}  // namespace
}  // namespace sluice::drivers::rdma::standin::testing
