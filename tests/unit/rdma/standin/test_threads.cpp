// Threads as the transport uses them: a sender and a receiver each on its
// own thread (one QP and its CQs per thread), while a third thread - the
// link thread - creates, connects and destroys other QPs on the receiver's
// CQs and SRQ. Meant for TSan.
#include <atomic>
#include <thread>

#include "tests/unit/rdma/standin/helpers.hpp"

namespace sluice::drivers::rdma::standin::testing {
namespace {

class StandinThreads : public TwoDevices {};

TEST_F(StandinThreads, SenderReceiverAndControlPathConcurrently) {
    EndpointOpts o;
    o.send_wr = 32;
    o.srq_wr = 64;
    o.recv_cqe = 128;
    pair(LinkLayer::ethernet, o);
    constexpr int kMessages = 2000;
    ASSERT_EQ(post_recvs(b_, 64, 256), 0);

    std::atomic<int> received{0};
    std::atomic<bool> sender_ok{true}, receiver_ok{true};
    std::thread receiver([&] {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        int got = 0;
        while (got < kMessages && std::chrono::steady_clock::now() < deadline) {
            ibv_wc wc[16];
            int n = V().poll_cq(b_.rcq, 16, wc);
            if (n < 0) break;
            if (n == 0) std::this_thread::yield();
            for (int i = 0; i < n; ++i) {
                if (wc[i].status != IBV_WC_SUCCESS || wc[i].byte_len != 64 ||
                    b_.buf[256 * (wc[i].wr_id - 1000)] != static_cast<uint8_t>(got)) {
                    receiver_ok = false;
                }
                ++got;
                // Repost the same buffer.
                ibv_sge sge{b_.addr_of(256 * (wc[i].wr_id - 1000)), 256, b_.mr->lkey};
                ibv_recv_wr rw{};
                rw.wr_id = wc[i].wr_id;
                rw.sg_list = &sge;
                rw.num_sge = 1;
                ibv_recv_wr* bad = nullptr;
                if (V().post_srq_recv(b_.srq, &rw, &bad) != 0) receiver_ok = false;
            }
        }
        received = got;
    });
    std::thread sender([&] {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        int posted = 0, completed = 0, outstanding = 0;
        while (completed < kMessages && std::chrono::steady_clock::now() < deadline) {
            // One signalled send in every 8; never more outstanding than the
            // receiver's 64 buffers (credits, as the transport keeps them).
            while (posted < kMessages && outstanding < 32) {
                size_t off = 256 * static_cast<size_t>(posted % 32);
                a_.buf[off] = static_cast<uint8_t>(posted);
                bool sig = posted % 8 == 7 || posted == kMessages - 1;
                int rc = send(a_, static_cast<uint64_t>(posted), off, 64, sig ? IBV_SEND_SIGNALED : 0);
                if (rc == ENOMEM) break;
                if (rc != 0) {
                    sender_ok = false;
                    return;
                }
                ++posted;
                ++outstanding;
            }
            ibv_wc wc[16];
            int n = V().poll_cq(a_.scq, 16, wc);
            if (n < 0) {
                sender_ok = false;
                return;
            }
            if (n == 0) std::this_thread::yield();
            for (int i = 0; i < n; ++i) {
                if (wc[i].status != IBV_WC_SUCCESS) sender_ok = false;
                int done_upto = static_cast<int>(wc[i].wr_id) + 1;
                outstanding = posted - done_upto;
                completed = done_upto;
            }
        }
        if (completed != kMessages) sender_ok = false;
    });
    // The link thread's work meanwhile: QPs on the receiver's CQs and SRQ.
    for (int round = 0; round < 50; ++round) {
        ibv_qp_init_attr qa{};
        qa.send_cq = b_.scq;
        qa.recv_cq = b_.rcq;
        qa.srq = b_.srq;
        qa.qp_type = IBV_QPT_RC;
        qa.cap.max_send_wr = 4;
        qa.cap.max_send_sge = 1;
        ibv_qp* qp = V().create_qp(b_.pd, &qa);
        ASSERT_NE(qp, nullptr);
        EXPECT_EQ(to_init(qp), 0);
        Endpoint tmp;
        tmp.ib = false;
        tmp.gid_index = 1;
        ibv_qp_attr r = rtr_attr(tmp, a_.addr());
        r.dest_qp_num = 0xFFFFF0;  // nobody: it only receives (and nothing comes)
        EXPECT_EQ(V().modify_qp(qp, &r, kRtrMask), 0);
        EXPECT_EQ(V().destroy_qp(qp), 0);
    }
    sender.join();
    receiver.join();
    EXPECT_TRUE(sender_ok);
    EXPECT_TRUE(receiver_ok);
    EXPECT_EQ(received.load(), kMessages);
}

}  // namespace
}  // namespace sluice::drivers::rdma::standin::testing
