// Delivery: in order, immediate data, byte counts, gathers and scatters,
// selective signalling and send-queue slots, inline data, a full wire.
#include <arpa/inet.h>

#include <cerrno>

#include "tests/unit/rdma/standin/helpers.hpp"

namespace sluice::drivers::rdma::standin::testing {
namespace {

class StandinDelivery : public TwoDevices {};

TEST_F(StandinDelivery, InOrderWithImmediateAndByteLen) {
    pair();
    constexpr int kN = 20;
    ASSERT_EQ(post_recvs(b_, kN, 512, 0, 100), 0);
    auto msgs_before = stats().messages;
    for (int i = 0; i < kN; ++i) {
        std::memset(a_.buf.data() + i * 512, 'a' + i, 512);
        uint32_t len = 10 + static_cast<uint32_t>(i) * 7;
        ASSERT_EQ(send(a_, static_cast<uint64_t>(i), static_cast<size_t>(i) * 512, len, IBV_SEND_SIGNALED, i % 2 == 0,
                       htonl(0xC0DE0000u + static_cast<uint32_t>(i))),
                  0);
    }
    auto rx = poll_n(b_.rcq, kN);
    ASSERT_EQ(rx.size(), static_cast<size_t>(kN));
    for (int i = 0; i < kN; ++i) {
        const ibv_wc& wc = rx[static_cast<size_t>(i)];
        EXPECT_EQ(wc.status, IBV_WC_SUCCESS);
        EXPECT_EQ(wc.opcode, IBV_WC_RECV);
        EXPECT_EQ(wc.wr_id, 100u + static_cast<uint64_t>(i));  // receives consumed in posting order
        EXPECT_EQ(wc.byte_len, 10u + static_cast<uint32_t>(i) * 7);
        EXPECT_EQ(wc.qp_num, b_.qp->qp_num);
        EXPECT_EQ(wc.src_qp, a_.qp->qp_num);
        if (i % 2 == 0) {
            EXPECT_TRUE(wc.wc_flags & IBV_WC_WITH_IMM);
            EXPECT_EQ(ntohl(wc.imm_data), 0xC0DE0000u + static_cast<uint32_t>(i));
        } else {
            EXPECT_FALSE(wc.wc_flags & IBV_WC_WITH_IMM);
        }
        EXPECT_EQ(b_.buf[static_cast<size_t>(i) * 512], 'a' + i);
        EXPECT_EQ(b_.buf[static_cast<size_t>(i) * 512 + wc.byte_len - 1], 'a' + i);
    }
    auto tx = poll_n(a_.scq, kN);
    ASSERT_EQ(tx.size(), static_cast<size_t>(kN));
    for (int i = 0; i < kN; ++i) {
        EXPECT_EQ(tx[static_cast<size_t>(i)].status, IBV_WC_SUCCESS);
        EXPECT_EQ(tx[static_cast<size_t>(i)].opcode, IBV_WC_SEND);
        EXPECT_EQ(tx[static_cast<size_t>(i)].wr_id, static_cast<uint64_t>(i));
        EXPECT_EQ(tx[static_cast<size_t>(i)].qp_num, a_.qp->qp_num);
    }
    EXPECT_EQ(stats().messages, msgs_before + kN);
}

TEST_F(StandinDelivery, SenderCompletionWaitsForTheReceiversAck) {
    pair();
    ASSERT_EQ(post_recvs(b_, 1, 256), 0);
    ASSERT_EQ(send(a_, 1, 0, 64), 0);
    EXPECT_TRUE(poll_some(a_.scq, 10).empty());  // not acknowledged until b polls
    ASSERT_EQ(poll_n(b_.rcq, 1).size(), 1u);
    auto tx = poll_n(a_.scq, 1);
    ASSERT_EQ(tx.size(), 1u);
    EXPECT_EQ(tx[0].status, IBV_WC_SUCCESS);
}

TEST_F(StandinDelivery, BothDirectionsAndZeroLength) {
    pair();
    ASSERT_EQ(post_recvs(a_, 2, 128), 0);
    ASSERT_EQ(post_recvs(b_, 2, 128), 0);
    ASSERT_EQ(send(a_, 1, 0, 0), 0);
    ASSERT_EQ(send(b_, 2, 0, 100), 0);
    auto rb = poll_n(b_.rcq, 1);
    auto ra = poll_n(a_.rcq, 1);
    ASSERT_EQ(rb.size(), 1u);
    ASSERT_EQ(ra.size(), 1u);
    EXPECT_EQ(rb[0].byte_len, 0u);
    EXPECT_EQ(ra[0].byte_len, 100u);
    EXPECT_EQ(ra[0].src_qp, b_.qp->qp_num);
    EXPECT_EQ(poll_n(a_.scq, 1).size(), 1u);
    EXPECT_EQ(poll_n(b_.scq, 1).size(), 1u);
}

TEST_F(StandinDelivery, GatherFromSeveralSgesScatterIntoSeveral) {
    pair();
    std::memcpy(a_.buf.data() + 100, "hello ", 6);
    std::memcpy(a_.buf.data() + 900, "world", 5);
    ibv_sge rs[2] = {{b_.addr_of(0), 4, b_.mr->lkey}, {b_.addr_of(1000), 64, b_.mr->lkey}};
    ibv_recv_wr rw{};
    rw.sg_list = rs;
    rw.num_sge = 2;
    ibv_recv_wr* rbad = nullptr;
    ASSERT_EQ(V().post_srq_recv(b_.srq, &rw, &rbad), 0);
    ibv_sge ss[2] = {{a_.addr_of(100), 6, a_.mr->lkey}, {a_.addr_of(900), 5, a_.mr->lkey}};
    ibv_send_wr sw{};
    sw.sg_list = ss;
    sw.num_sge = 2;
    sw.opcode = IBV_WR_SEND;
    sw.send_flags = IBV_SEND_SIGNALED;
    ibv_send_wr* bad = nullptr;
    ASSERT_EQ(V().post_send(a_.qp, &sw, &bad), 0);
    auto rx = poll_n(b_.rcq, 1);
    ASSERT_EQ(rx.size(), 1u);
    EXPECT_EQ(rx[0].byte_len, 11u);
    EXPECT_EQ(std::memcmp(b_.buf.data(), "hell", 4), 0);
    EXPECT_EQ(std::memcmp(b_.buf.data() + 1000, "o world", 7), 0);
}

TEST_F(StandinDelivery, UnsupportedOpcodeAndTooManySgesAreEinval) {
    pair();
    ibv_sge sge[3] = {{a_.addr_of(0), 8, a_.mr->lkey}, {a_.addr_of(8), 8, a_.mr->lkey}, {a_.addr_of(16), 8, a_.mr->lkey}};
    ibv_send_wr w{};
    w.sg_list = sge;
    w.num_sge = 1;
    w.opcode = IBV_WR_RDMA_WRITE;
    ibv_send_wr* bad = nullptr;
    EXPECT_EQ(V().post_send(a_.qp, &w, &bad), EINVAL);
    EXPECT_EQ(bad, &w);
    w.opcode = IBV_WR_SEND;
    w.num_sge = 3;  // max_send_sge is 2
    bad = nullptr;
    EXPECT_EQ(V().post_send(a_.qp, &w, &bad), EINVAL);
    EXPECT_EQ(bad, &w);
    EXPECT_EQ(a_.qp->state, IBV_QPS_RTS);  // a refused post does not break the QP
}

TEST_F(StandinDelivery, ListPostsInOrderUpToTheFirstFailure) {
    pair();
    ASSERT_EQ(post_recvs(b_, 4, 64), 0);
    ibv_sge sge{a_.addr_of(0), 8, a_.mr->lkey};
    ibv_send_wr w[3]{};
    for (int i = 0; i < 3; ++i) {
        w[i].wr_id = static_cast<uint64_t>(i);
        w[i].sg_list = &sge;
        w[i].num_sge = 1;
        w[i].opcode = IBV_WR_SEND;
        w[i].send_flags = IBV_SEND_SIGNALED;
        if (i < 2) w[i].next = &w[i + 1];
    }
    w[1].opcode = IBV_WR_RDMA_READ;
    ibv_send_wr* bad = nullptr;
    EXPECT_EQ(V().post_send(a_.qp, w, &bad), EINVAL);
    EXPECT_EQ(bad, &w[1]);
    EXPECT_EQ(poll_n(b_.rcq, 1).size(), 1u);  // w[0] went
    EXPECT_TRUE(poll_some(b_.rcq, 10).empty());
    auto tx = poll_n(a_.scq, 1);
    ASSERT_EQ(tx.size(), 1u);
    EXPECT_EQ(tx[0].wr_id, 0u);
}

// man ibv_post_send: with selective signalling an unsignalled WR's slot is
// released only when a later signalled WR's completion is polled.
TEST_F(StandinDelivery, SelectiveSignallingSlotAccounting) {
    EndpointOpts o;
    o.send_wr = 8;
    pair(LinkLayer::ethernet, o);
    ASSERT_EQ(post_recvs(b_, 32, 64), 0);
    for (int i = 0; i < 8; ++i) ASSERT_EQ(send(a_, static_cast<uint64_t>(i), 0, 16, 0), 0) << i;
    EXPECT_EQ(send(a_, 99, 0, 16, 0), ENOMEM);  // all 8 slots held
    ASSERT_EQ(poll_n(b_.rcq, 8).size(), 8u);    // delivered and acked...
    EXPECT_TRUE(poll_some(a_.scq, 10).empty()); // ...but unsignalled: no completion,
    EXPECT_EQ(send(a_, 99, 0, 16, 0), ENOMEM);  // and no slot back: the queue is stuck
    EXPECT_EQ(send(a_, 99, 0, 16, IBV_SEND_SIGNALED), ENOMEM);  // for good (the bug this catches)
}

TEST_F(StandinDelivery, PollingASignalledCompletionReturnsEarlierSlots) {
    EndpointOpts o;
    o.send_wr = 8;
    pair(LinkLayer::ethernet, o);
    ASSERT_EQ(post_recvs(b_, 64, 64), 0);
    for (int i = 0; i < 7; ++i) ASSERT_EQ(send(a_, static_cast<uint64_t>(i), 0, 16, 0), 0);
    ASSERT_EQ(send(a_, 7, 0, 16, IBV_SEND_SIGNALED), 0);
    EXPECT_EQ(send(a_, 8, 0, 16, IBV_SEND_SIGNALED), ENOMEM);
    ASSERT_EQ(poll_n(b_.rcq, 8).size(), 8u);
    // Acked, but the slots return only when the completion is polled.
    EXPECT_EQ(send(a_, 8, 0, 16, IBV_SEND_SIGNALED), ENOMEM);
    auto tx = poll_n(a_.scq, 1);
    ASSERT_EQ(tx.size(), 1u);
    EXPECT_EQ(tx[0].wr_id, 7u);
    for (int i = 0; i < 8; ++i) EXPECT_EQ(send(a_, 100 + static_cast<uint64_t>(i), 0, 16, 0), 0) << i;
    EXPECT_EQ(send(a_, 200, 0, 16, 0), ENOMEM);
}

TEST_F(StandinDelivery, SqSigAllSignalsEveryWr) {
    EndpointOpts o;
    o.sig_all = 1;
    pair(LinkLayer::ethernet, o);
    ASSERT_EQ(post_recvs(b_, 3, 64), 0);
    for (int i = 0; i < 3; ++i) ASSERT_EQ(send(a_, static_cast<uint64_t>(i), 0, 16, 0), 0);
    ASSERT_EQ(poll_n(b_.rcq, 3).size(), 3u);
    EXPECT_EQ(poll_n(a_.scq, 3).size(), 3u);
}

TEST_F(StandinDelivery, InlineLimitAndBufferReusableAtOnce) {
    EndpointOpts o;
    o.inline_data = 32;
    pair(LinkLayer::ethernet, o);
    ASSERT_EQ(post_recvs(b_, 2, 64), 0);
    EXPECT_EQ(send(a_, 1, 0, 33, IBV_SEND_INLINE | IBV_SEND_SIGNALED), EINVAL);
    // Inline data needs no registered memory: a stack buffer, lkey ignored.
    char local[32];
    std::memset(local, 'x', sizeof(local));
    ibv_sge sge{reinterpret_cast<uintptr_t>(local), 32, 0};
    ibv_send_wr w{};
    w.sg_list = &sge;
    w.num_sge = 1;
    w.opcode = IBV_WR_SEND;
    w.send_flags = IBV_SEND_INLINE | IBV_SEND_SIGNALED;
    ibv_send_wr* bad = nullptr;
    ASSERT_EQ(V().post_send(a_.qp, &w, &bad), 0);
    std::memset(local, 'y', sizeof(local));  // copied at post: reuse is safe
    auto rx = poll_n(b_.rcq, 1);
    ASSERT_EQ(rx.size(), 1u);
    EXPECT_EQ(rx[0].byte_len, 32u);
    EXPECT_EQ(b_.buf[0], 'x');
    EXPECT_EQ(b_.buf[31], 'x');
    EXPECT_EQ(poll_n(a_.scq, 1).size(), 1u);
}

// The wire holds ring_slots messages: more stay queued at the sender and go
// out as the receiver drains and the sender polls.
TEST_F(StandinDelivery, FullWireQueuesAtTheSender) {
    DeviceSpec extra;
    extra.ring_slots = 4;
    pair(LinkLayer::ethernet, {}, 7, extra);
    ASSERT_EQ(post_recvs(b_, 16, 64), 0);
    for (int i = 0; i < 16; ++i) {
        a_.buf[static_cast<size_t>(i)] = static_cast<uint8_t>(i);
        ASSERT_EQ(send(a_, static_cast<uint64_t>(i), static_cast<size_t>(i), 1), 0);
    }
    std::vector<ibv_wc> rx, tx;
    for (int round = 0; round < 100 && (rx.size() < 16 || tx.size() < 16); ++round) {
        auto r = poll_some(b_.rcq, 1);
        EXPECT_LE(r.size(), 4u);  // at most a ring's worth per poll
        rx.insert(rx.end(), r.begin(), r.end());
        auto t = poll_some(a_.scq, 1);
        tx.insert(tx.end(), t.begin(), t.end());
    }
    ASSERT_EQ(rx.size(), 16u);
    ASSERT_EQ(tx.size(), 16u);
    for (size_t i = 0; i < 16; ++i) {
        EXPECT_EQ(b_.buf[i * 64], i);  // in order
        EXPECT_EQ(tx[i].wr_id, i);
    }
}

TEST_F(StandinDelivery, ResetAndReconnectWithNewPsns) {
    pair();
    ASSERT_EQ(post_recvs(b_, 4, 64), 0);
    ASSERT_EQ(send(a_, 1, 0, 8), 0);
    ASSERT_EQ(poll_n(b_.rcq, 1).size(), 1u);
    ASSERT_EQ(poll_n(a_.scq, 1).size(), 1u);
    ibv_qp_attr r{};
    r.qp_state = IBV_QPS_RESET;
    ASSERT_EQ(V().modify_qp(a_.qp, &r, IBV_QP_STATE), 0);
    ASSERT_EQ(V().modify_qp(b_.qp, &r, IBV_QP_STATE), 0);
    a_.psn = 777;
    b_.psn = 888;
    ASSERT_TRUE(connect_pair(a_, b_));
    ASSERT_EQ(send(a_, 2, 0, 8), 0);
    auto rx = poll_n(b_.rcq, 1);
    ASSERT_EQ(rx.size(), 1u);
    EXPECT_EQ(rx[0].status, IBV_WC_SUCCESS);
    auto tx = poll_n(a_.scq, 1);
    ASSERT_EQ(tx.size(), 1u);
    EXPECT_EQ(tx[0].status, IBV_WC_SUCCESS);
}

TEST_F(StandinDelivery, LargeMessageSpansPacketsAndPsnsStayInStep) {
    pair();  // path MTU 1024: a 9000-byte SEND is 9 packets
    ASSERT_EQ(post_recvs(b_, 3, 9216), 0);
    for (int i = 0; i < 3; ++i) ASSERT_EQ(send(a_, static_cast<uint64_t>(i), 0, 9000), 0);
    auto rx = poll_n(b_.rcq, 3);
    ASSERT_EQ(rx.size(), 3u);
    for (auto& wc : rx) {
        EXPECT_EQ(wc.status, IBV_WC_SUCCESS);
        EXPECT_EQ(wc.byte_len, 9000u);
    }
}

TEST_F(StandinDelivery, MessageLargerThanTheWireIsLocalLengthError) {
    DeviceSpec extra;
    extra.slot_bytes = 2048;
    pair(LinkLayer::ethernet, {}, 7, extra);
    ASSERT_EQ(send(a_, 1, 0, 2049), 0);
    auto tx = poll_n(a_.scq, 1);
    ASSERT_EQ(tx.size(), 1u);
    EXPECT_EQ(tx[0].status, IBV_WC_LOC_LEN_ERR);
    EXPECT_EQ(a_.qp->state, IBV_QPS_ERR);
}

}  // namespace
}  // namespace sluice::drivers::rdma::standin::testing
