// The RC state machine: legal transitions, required and allowed attribute
// masks (man ibv_modify_qp), RoCE/IB addressing checks, posting before RTS.
#include <cerrno>

#include "tests/unit/rdma/standin/helpers.hpp"

namespace sluice::drivers::rdma::standin::testing {
namespace {

class StandinQpState : public TwoDevices {
protected:
    void SetUp() override {
        add(LinkLayer::ethernet);
        ASSERT_TRUE(a_.init(ca_));
        ASSERT_TRUE(b_.init(cb_));
    }
    int go(ibv_qp_state s, int mask = IBV_QP_STATE) {
        ibv_qp_attr a{};
        a.qp_state = s;
        return V().modify_qp(a_.qp, &a, mask);
    }
};

TEST_F(StandinQpState, IllegalTransitionsFromResetAreEinval) {
    ibv_qp_attr r = rtr_attr(a_, b_.addr());
    EXPECT_EQ(V().modify_qp(a_.qp, &r, kRtrMask), EINVAL);  // RESET -> RTR
    ibv_qp_attr s = rts_attr(1);
    EXPECT_EQ(V().modify_qp(a_.qp, &s, kRtsMask), EINVAL);  // RESET -> RTS
    EXPECT_EQ(go(IBV_QPS_SQD), EINVAL);
    EXPECT_EQ(a_.qp->state, IBV_QPS_RESET);
}

TEST_F(StandinQpState, IllegalTransitionsFromInitAndRtrAreEinval) {
    ASSERT_EQ(to_init(a_.qp), 0);
    ibv_qp_attr s = rts_attr(1);
    EXPECT_EQ(V().modify_qp(a_.qp, &s, kRtsMask), EINVAL);  // INIT -> RTS
    EXPECT_EQ(a_.qp->state, IBV_QPS_INIT);
    ibv_qp_attr r = rtr_attr(a_, b_.addr());
    ASSERT_EQ(V().modify_qp(a_.qp, &r, kRtrMask), 0);
    EXPECT_EQ(a_.qp->state, IBV_QPS_RTR);
    EXPECT_EQ(to_init(a_.qp), EINVAL);                      // RTR -> INIT
    EXPECT_EQ(V().modify_qp(a_.qp, &r, kRtrMask), EINVAL);  // RTR -> RTR
    EXPECT_EQ(a_.qp->state, IBV_QPS_RTR);
}

TEST_F(StandinQpState, ErrorStateOnlyLeavesToReset) {
    ASSERT_EQ(to_init(a_.qp), 0);
    ASSERT_EQ(go(IBV_QPS_ERR), 0);
    EXPECT_EQ(a_.qp->state, IBV_QPS_ERR);
    EXPECT_EQ(to_init(a_.qp), EINVAL);
    ibv_qp_attr s = rts_attr(1);
    EXPECT_EQ(V().modify_qp(a_.qp, &s, kRtsMask), EINVAL);
    EXPECT_EQ(go(IBV_QPS_ERR), 0);  // ERR -> ERR
    ASSERT_EQ(go(IBV_QPS_RESET), 0);
    EXPECT_EQ(a_.qp->state, IBV_QPS_RESET);
    EXPECT_EQ(to_init(a_.qp), 0);  // usable again
}

TEST_F(StandinQpState, AnyStateToResetAndErr) {
    ASSERT_TRUE(connect_pair(a_, b_));
    ASSERT_EQ(go(IBV_QPS_RESET), 0);  // RTS -> RESET
    EXPECT_EQ(a_.qp->state, IBV_QPS_RESET);
    ASSERT_EQ(go(IBV_QPS_ERR), 0);  // RESET -> ERR
    ASSERT_EQ(go(IBV_QPS_RESET), 0);
    ASSERT_EQ(to_init(a_.qp), 0);
    ASSERT_EQ(to_init(a_.qp), 0);  // INIT -> INIT is legal
    ASSERT_EQ(go(IBV_QPS_ERR), 0);  // INIT -> ERR
    EXPECT_EQ(a_.qp->state, IBV_QPS_ERR);
    ibv_qp_attr e{};
    e.qp_state = IBV_QPS_ERR;
    ASSERT_EQ(V().modify_qp(b_.qp, &e, IBV_QP_STATE), 0);  // RTS -> ERR
    EXPECT_EQ(b_.qp->state, IBV_QPS_ERR);
}

TEST_F(StandinQpState, EveryMissingRequiredBitIsEinval) {
    const int init_req[] = {IBV_QP_PKEY_INDEX, IBV_QP_PORT, IBV_QP_ACCESS_FLAGS};
    const int rtr_req[] = {IBV_QP_AV, IBV_QP_PATH_MTU, IBV_QP_DEST_QPN, IBV_QP_RQ_PSN, IBV_QP_MAX_DEST_RD_ATOMIC,
                           IBV_QP_MIN_RNR_TIMER};
    const int rts_req[] = {IBV_QP_TIMEOUT, IBV_QP_RETRY_CNT, IBV_QP_RNR_RETRY, IBV_QP_SQ_PSN, IBV_QP_MAX_QP_RD_ATOMIC};
    constexpr int kInitMask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS;
    ibv_qp_attr i{};
    i.qp_state = IBV_QPS_INIT;
    i.port_num = 1;
    for (int bit : init_req) {
        EXPECT_EQ(V().modify_qp(a_.qp, &i, kInitMask & ~bit), EINVAL) << "INIT without bit " << bit;
        EXPECT_EQ(a_.qp->state, IBV_QPS_RESET);
    }
    ASSERT_EQ(V().modify_qp(a_.qp, &i, kInitMask), 0);
    ibv_qp_attr r = rtr_attr(a_, b_.addr());
    for (int bit : rtr_req) {
        EXPECT_EQ(V().modify_qp(a_.qp, &r, kRtrMask & ~bit), EINVAL) << "RTR without bit " << bit;
        EXPECT_EQ(a_.qp->state, IBV_QPS_INIT);
    }
    // Without IBV_QP_STATE the mask modifies INIT in place, and RTR's
    // attributes are not INIT's: rejected too.
    EXPECT_EQ(V().modify_qp(a_.qp, &r, kRtrMask & ~IBV_QP_STATE), EINVAL);
    ASSERT_EQ(V().modify_qp(a_.qp, &r, kRtrMask), 0);
    ibv_qp_attr s = rts_attr(7);
    for (int bit : rts_req) {
        EXPECT_EQ(V().modify_qp(a_.qp, &s, kRtsMask & ~bit), EINVAL) << "RTS without bit " << bit;
        EXPECT_EQ(a_.qp->state, IBV_QPS_RTR);
    }
    ASSERT_EQ(V().modify_qp(a_.qp, &s, kRtsMask), 0);
    EXPECT_EQ(a_.qp->state, IBV_QPS_RTS);
}

TEST_F(StandinQpState, AttributeNotAllowedForTransitionIsEinval) {
    ibv_qp_attr i{};
    i.qp_state = IBV_QPS_INIT;
    i.port_num = 1;
    constexpr int kInitMask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS;
    EXPECT_EQ(V().modify_qp(a_.qp, &i, kInitMask | IBV_QP_SQ_PSN), EINVAL);
    i.port_num = 2;  // one port
    EXPECT_EQ(V().modify_qp(a_.qp, &i, kInitMask), EINVAL);
    i.port_num = 1;
    ASSERT_EQ(V().modify_qp(a_.qp, &i, kInitMask), 0);
    ibv_qp_attr r = rtr_attr(a_, b_.addr());
    r.sq_psn = 1;
    EXPECT_EQ(V().modify_qp(a_.qp, &r, kRtrMask | IBV_QP_SQ_PSN), EINVAL);
    r.rnr_retry = 8;
    ASSERT_EQ(V().modify_qp(a_.qp, &r, kRtrMask), 0);
    ibv_qp_attr s = rts_attr(1);
    s.retry_cnt = 8;  // 3 bits
    EXPECT_EQ(V().modify_qp(a_.qp, &s, kRtsMask), EINVAL);
    s.retry_cnt = 7;
    s.cur_qp_state = IBV_QPS_INIT;  // wrong current state given
    EXPECT_EQ(V().modify_qp(a_.qp, &s, kRtsMask | IBV_QP_CUR_STATE), EINVAL);
    s.cur_qp_state = IBV_QPS_RTR;
    EXPECT_EQ(V().modify_qp(a_.qp, &s, kRtsMask | IBV_QP_CUR_STATE), 0);
    // RTS -> RTS with an allowed attribute only.
    ibv_qp_attr t{};
    t.min_rnr_timer = 3;
    EXPECT_EQ(V().modify_qp(a_.qp, &t, IBV_QP_MIN_RNR_TIMER), 0);
    EXPECT_EQ(V().modify_qp(a_.qp, &t, IBV_QP_SQ_PSN), EINVAL);
}

TEST_F(StandinQpState, RoceRequiresGrhAndValidSgid) {
    ASSERT_EQ(to_init(a_.qp), 0);
    ibv_qp_attr r = rtr_attr(a_, b_.addr());
    r.ah_attr.is_global = 0;  // no GRH: RoCE has no LIDs
    EXPECT_EQ(V().modify_qp(a_.qp, &r, kRtrMask), EINVAL);
    r = rtr_attr(a_, b_.addr());
    r.ah_attr.grh.sgid_index = 6;  // an empty slot
    EXPECT_EQ(V().modify_qp(a_.qp, &r, kRtrMask), EINVAL);
    r.ah_attr.grh.sgid_index = 200;  // beyond the table
    EXPECT_EQ(V().modify_qp(a_.qp, &r, kRtrMask), EINVAL);
    EXPECT_EQ(a_.qp->state, IBV_QPS_INIT);
}

TEST_F(StandinQpState, PathMtuAboveActiveMtuIsEinval) {
    ASSERT_EQ(to_init(a_.qp), 0);
    DeviceSpec defaults;
    ASSERT_EQ(defaults.active_mtu, IBV_MTU_4096);
    ibv_qp_attr r = rtr_attr(a_, b_.addr(), IBV_MTU_4096);
    r.path_mtu = static_cast<ibv_mtu>(6);  // not an MTU
    EXPECT_EQ(V().modify_qp(a_.qp, &r, kRtrMask), EINVAL);
    r.path_mtu = IBV_MTU_4096;
    EXPECT_EQ(V().modify_qp(a_.qp, &r, kRtrMask), 0);
}

TEST_F(StandinQpState, QueryQpReportsStateAndAttributes) {
    a_.psn = 0x111;
    b_.psn = 0x222;
    ASSERT_TRUE(connect_pair(a_, b_));
    ibv_qp_attr qa{};
    ibv_qp_init_attr ia{};
    ASSERT_EQ(V().query_qp(a_.qp, &qa, IBV_QP_STATE, &ia), 0);
    EXPECT_EQ(qa.qp_state, IBV_QPS_RTS);
    EXPECT_EQ(qa.dest_qp_num, b_.qp->qp_num);
    EXPECT_EQ(qa.rq_psn, 0x222u);
    EXPECT_EQ(qa.sq_psn, 0x111u);
    EXPECT_EQ(qa.path_mtu, IBV_MTU_1024);
    EXPECT_EQ(qa.rnr_retry, 7);
    EXPECT_EQ(qa.ah_attr.is_global, 1);
    EXPECT_EQ(ia.srq, a_.srq);
    EXPECT_EQ(ia.cap.max_send_wr, 64u);
    EXPECT_EQ(ia.qp_type, IBV_QPT_RC);
}

TEST_F(StandinQpState, PostSendBeforeRtsFails) {
    auto try_post = [&] {
        ibv_sge sge{a_.addr_of(0), 8, a_.mr->lkey};
        ibv_send_wr w1{}, w2{};
        w1.sg_list = w2.sg_list = &sge;
        w1.num_sge = w2.num_sge = 1;
        w1.opcode = w2.opcode = IBV_WR_SEND;
        w1.next = &w2;
        ibv_send_wr* bad = nullptr;
        int rc = V().post_send(a_.qp, &w1, &bad);
        EXPECT_EQ(bad, &w1);
        return rc;
    };
    EXPECT_EQ(try_post(), EINVAL);  // RESET
    ASSERT_EQ(to_init(a_.qp), 0);
    EXPECT_EQ(try_post(), EINVAL);  // INIT
    ibv_qp_attr r = rtr_attr(a_, b_.addr());
    ASSERT_EQ(V().modify_qp(a_.qp, &r, kRtrMask), 0);
    EXPECT_EQ(try_post(), EINVAL);  // RTR: receives only
    EXPECT_TRUE(poll_some(a_.scq, 4).empty());
}

class StandinAddressing : public TwoDevices {};

TEST_F(StandinAddressing, PathMtuAbovePortActiveMtuIsEinval) {
    DeviceSpec extra;
    extra.active_mtu = IBV_MTU_1024;
    add(LinkLayer::infiniband, extra);
    ASSERT_TRUE(a_.init(ca_));
    ASSERT_TRUE(b_.init(cb_));
    ASSERT_EQ(to_init(a_.qp), 0);
    ibv_qp_attr r = rtr_attr(a_, b_.addr(), IBV_MTU_2048);
    EXPECT_EQ(V().modify_qp(a_.qp, &r, kRtrMask), EINVAL);
    r.path_mtu = IBV_MTU_1024;
    EXPECT_EQ(V().modify_qp(a_.qp, &r, kRtrMask), 0);
}

TEST_F(StandinAddressing, InfinibandByLidWithoutGrh) {
    pair(LinkLayer::infiniband);
    ASSERT_EQ(post_recvs(b_, 1, 256, 4096), 0);
    std::memcpy(a_.buf.data(), "lid", 3);
    ASSERT_EQ(send(a_, 1, 0, 3), 0);
    auto rx = poll_n(b_.rcq, 1);
    ASSERT_EQ(rx.size(), 1u);
    EXPECT_EQ(rx[0].status, IBV_WC_SUCCESS);
    EXPECT_EQ(rx[0].src_qp, a_.qp->qp_num);
    ibv_port_attr pa{};
    V().query_port(ca_, 1, &pa);
    EXPECT_EQ(rx[0].slid, pa.lid);
    EXPECT_EQ(std::memcmp(b_.buf.data() + 4096, "lid", 3), 0);
    auto tx = poll_n(a_.scq, 1);
    ASSERT_EQ(tx.size(), 1u);
    EXPECT_EQ(tx[0].status, IBV_WC_SUCCESS);
}

TEST_F(StandinAddressing, WrongDestinationEndsInRetryExceeded) {
    add(LinkLayer::ethernet);
    ASSERT_TRUE(a_.init(ca_));
    ASSERT_TRUE(b_.init(cb_));
    Addr bogus = b_.addr();
    bogus.qpn = 0xFFFFF0;  // no such QP on b's node
    ASSERT_EQ(to_init(a_.qp), 0);
    ASSERT_EQ(bring_up(a_, bogus), 0);  // a real HCA does not check either
    auto before = stats().retry_exceeded;
    ASSERT_EQ(send(a_, 7, 0, 16), 0);
    auto tx = poll_n(a_.scq, 1);
    ASSERT_EQ(tx.size(), 1u);
    EXPECT_EQ(tx[0].status, IBV_WC_RETRY_EXC_ERR);
    EXPECT_EQ(tx[0].wr_id, 7u);
    EXPECT_EQ(a_.qp->state, IBV_QPS_ERR);
    EXPECT_EQ(stats().retry_exceeded, before + 1);
}

}  // namespace
}  // namespace sluice::drivers::rdma::standin::testing
