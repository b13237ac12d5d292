// Helpers for the stand-in's tests: devices on a fabric private to the
// test (the pid and a counter in its name, so parallel runs never meet),
// endpoints (PD, CQs, SRQ, QP, a registered buffer) and the RESET -> INIT
// -> RTR -> RTS sequence rc_pingpong performs.
#pragma once

#include <gtest/gtest.h>
#include <infiniband/verbs.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "drivers/rdma/standin/standin.hpp"

namespace sluice::drivers::rdma::standin::testing {

inline const VerbsOps& V() { return ops(); }

inline std::string unique_fabric(const char* tag) {
    static int n = 0;
    return std::string("t") + tag + "-" + std::to_string(getpid()) + "-" + std::to_string(n++);
}

inline ibv_context* open_named(const std::string& name) {
    int num = 0;
    ibv_device** list = V().get_device_list(&num);
    if (!list) return nullptr;
    ibv_context* ctx = nullptr;
    for (int i = 0; list[i]; ++i)
        if (name == V().get_device_name(list[i])) ctx = V().open_device(list[i]);
    V().free_device_list(list);
    return ctx;
}

struct EndpointOpts {
    uint32_t send_wr = 64;
    uint32_t send_sge = 2;
    uint32_t inline_data = 64;
    int send_cqe = 256;
    int recv_cqe = 256;
    uint32_t srq_wr = 256;
    uint32_t srq_sge = 2;
    int sig_all = 0;
    size_t buf_bytes = 1 << 20;
};

// Addressing facts exchanged between the two ends (what EndpointInfo carries).
struct Addr {
    uint16_t lid = 0;
    ibv_gid gid{};
    uint32_t qpn = 0;
    uint32_t psn = 0;
};

struct Endpoint {
    ibv_context* ctx = nullptr;
    ibv_pd* pd = nullptr;
    ibv_cq* scq = nullptr;
    ibv_cq* rcq = nullptr;
    ibv_srq* srq = nullptr;
    ibv_qp* qp = nullptr;
    ibv_mr* mr = nullptr;
    std::vector<uint8_t> buf;
    bool ib = false;
    uint8_t gid_index = 1;  // RoCEv2 link-local in the default table
    uint32_t psn = 0;

    bool init(ibv_context* c, const EndpointOpts& o = {}) {
        ctx = c;
        ibv_port_attr pa{};
        if (!ctx || V().query_port(ctx, 1, &pa) != 0) return false;
        ib = pa.link_layer == IBV_LINK_LAYER_INFINIBAND;
        gid_index = ib ? 0 : 1;
        pd = V().alloc_pd(ctx);
        scq = V().create_cq(ctx, o.send_cqe, nullptr, nullptr, 0);
        rcq = V().create_cq(ctx, o.recv_cqe, nullptr, nullptr, 0);
        ibv_srq_init_attr sa{};
        sa.attr.max_wr = o.srq_wr;
        sa.attr.max_sge = o.srq_sge;
        srq = pd ? V().create_srq(pd, &sa) : nullptr;
        if (!pd || !scq || !rcq || !srq) return false;
        ibv_qp_init_attr qa{};
        qa.send_cq = scq;
        qa.recv_cq = rcq;
        qa.srq = srq;
        qa.qp_type = IBV_QPT_RC;
        qa.sq_sig_all = o.sig_all;
        qa.cap.max_send_wr = o.send_wr;
        qa.cap.max_send_sge = o.send_sge;
        qa.cap.max_inline_data = o.inline_data;
        qp = V().create_qp(pd, &qa);
        buf.assign(o.buf_bytes, 0);
        mr = V().reg_mr(pd, buf.data(), buf.size(), IBV_ACCESS_LOCAL_WRITE);
        return qp && mr;
    }

    Addr addr() const {
        Addr a;
        ibv_port_attr pa{};
        V().query_port(ctx, 1, &pa);
        a.lid = pa.lid;
        ibv_gid_entry e{};
        if (V().query_gid_ex(ctx, 1, gid_index, &e, 0) == 0) a.gid = e.gid;
        a.qpn = qp->qp_num;
        a.psn = psn;
        return a;
    }

    void destroy() {
        if (qp) {
            EXPECT_EQ(V().destroy_qp(qp), 0);
        }
        if (mr) {
            EXPECT_EQ(V().dereg_mr(mr), 0);
        }
        if (srq) {
            EXPECT_EQ(V().destroy_srq(srq), 0);
        }
        if (scq) {
            EXPECT_EQ(V().destroy_cq(scq), 0);
        }
        if (rcq) {
            EXPECT_EQ(V().destroy_cq(rcq), 0);
        }
        if (pd) {
            EXPECT_EQ(V().dealloc_pd(pd), 0);
        }
        qp = nullptr;
        mr = nullptr;
        srq = nullptr;
        scq = rcq = nullptr;
        pd = nullptr;
    }

    uint64_t addr_of(size_t off) const { return reinterpret_cast<uintptr_t>(buf.data()) + off; }
};

inline int to_init(ibv_qp* qp) {
    ibv_qp_attr a{};
    a.qp_state = IBV_QPS_INIT;
    a.pkey_index = 0;
    a.port_num = 1;
    a.qp_access_flags = 0;
    return V().modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
}

inline ibv_qp_attr rtr_attr(const Endpoint& self, const Addr& remote, ibv_mtu mtu = IBV_MTU_1024) {
    ibv_qp_attr a{};
    a.qp_state = IBV_QPS_RTR;
    a.path_mtu = mtu;
    a.dest_qp_num = remote.qpn;
    a.rq_psn = remote.psn;
    a.max_dest_rd_atomic = 1;
    a.min_rnr_timer = 12;
    a.ah_attr.port_num = 1;
    if (self.ib) {
        a.ah_attr.dlid = remote.lid;
        a.ah_attr.is_global = 0;
    } else {
        a.ah_attr.is_global = 1;
        a.ah_attr.grh.dgid = remote.gid;
        a.ah_attr.grh.sgid_index = self.gid_index;
        a.ah_attr.grh.hop_limit = 64;
    }
    return a;
}
constexpr int kRtrMask = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
                         IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;

inline ibv_qp_attr rts_attr(uint32_t sq_psn, uint8_t rnr_retry = 7) {
    ibv_qp_attr a{};
    a.qp_state = IBV_QPS_RTS;
    a.timeout = 14;
    a.retry_cnt = 7;
    a.rnr_retry = rnr_retry;
    a.sq_psn = sq_psn;
    a.max_rd_atomic = 1;
    return a;
}
constexpr int kRtsMask =
    IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC;

// Moves `self` to RTS towards `remote`.
inline int bring_up(Endpoint& self, const Addr& remote, uint8_t rnr_retry = 7) {
    if (self.qp->state == IBV_QPS_RESET) {
        if (int rc = to_init(self.qp)) return rc;
    }
    ibv_qp_attr a = rtr_attr(self, remote);
    if (int rc = V().modify_qp(self.qp, &a, kRtrMask)) return rc;
    ibv_qp_attr b = rts_attr(self.psn, rnr_retry);
    return V().modify_qp(self.qp, &b, kRtsMask);
}

// Both ends INIT first (as after an exchange), then RTR/RTS.
inline bool connect_pair(Endpoint& a, Endpoint& b, uint8_t rnr_retry = 7) {
    if (to_init(a.qp) || to_init(b.qp)) return false;
    Addr aa = a.addr(), ba = b.addr();
    return bring_up(a, ba, rnr_retry) == 0 && bring_up(b, aa, rnr_retry) == 0;
}

inline int post_recvs(Endpoint& e, int n, uint32_t size, size_t base_off = 0, uint64_t first_id = 1000) {
    for (int i = 0; i < n; ++i) {
        ibv_sge sge{e.addr_of(base_off + static_cast<size_t>(i) * size), size, e.mr->lkey};
        ibv_recv_wr wr{};
        wr.wr_id = first_id + static_cast<uint64_t>(i);
        wr.sg_list = &sge;
        wr.num_sge = 1;
        ibv_recv_wr* bad = nullptr;
        if (int rc = V().post_srq_recv(e.srq, &wr, &bad)) return rc;
    }
    return 0;
}

// One SEND of `len` bytes from e.buf[off..].
inline int send(Endpoint& e, uint64_t id, size_t off, uint32_t len, unsigned flags = IBV_SEND_SIGNALED,
                bool with_imm = false, uint32_t imm = 0, uint32_t lkey_override = 0) {
    ibv_sge sge{e.addr_of(off), len, lkey_override ? lkey_override : e.mr->lkey};
    ibv_send_wr wr{};
    wr.wr_id = id;
    wr.sg_list = &sge;
    wr.num_sge = 1;
    wr.opcode = with_imm ? IBV_WR_SEND_WITH_IMM : IBV_WR_SEND;
    wr.send_flags = flags;
    wr.imm_data = imm;
    ibv_send_wr* bad = nullptr;
    return V().post_send(e.qp, &wr, &bad);
}

// Polls `cq` until `want` completions arrived (or a poll error, or the
// bounds: 10 s / 20M polls). An empty poll yields: the other end may be
// another process waiting for a core.
inline std::vector<ibv_wc> poll_n(ibv_cq* cq, size_t want, int* err = nullptr) {
    std::vector<ibv_wc> out;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (int i = 0; i < 20000000 && out.size() < want && std::chrono::steady_clock::now() < deadline; ++i) {
        ibv_wc wc[16];
        int n = V().poll_cq(cq, 16, wc);
        if (n < 0) {
            if (err) *err = n;
            break;
        }
        if (n == 0) std::this_thread::yield();
        out.insert(out.end(), wc, wc + n);
    }
    return out;
}

// Polls `cq` a fixed number of times (for "nothing arrives" checks).
inline std::vector<ibv_wc> poll_some(ibv_cq* cq, int times) {
    std::vector<ibv_wc> out;
    for (int i = 0; i < times; ++i) {
        ibv_wc wc[16];
        int n = V().poll_cq(cq, 16, wc);
        if (n < 0) break;
        out.insert(out.end(), wc, wc + n);
    }
    return out;
}

// A test with two devices on a private fabric, opened.
class TwoDevices : public ::testing::Test {
protected:
    void add(LinkLayer ll, DeviceSpec extra = {}) {
        fabric_ = unique_fabric("f");
        DeviceSpec s = extra;
        s.fabric = fabric_;
        s.link_layer = ll;
        s.name = "sa0";
        add_device(s);
        s.name = "sb0";
        add_device(s);
        ca_ = open_named("sa0");
        cb_ = open_named("sb0");
        ASSERT_NE(ca_, nullptr);
        ASSERT_NE(cb_, nullptr);
    }
    void TearDown() override {
        a_.destroy();
        b_.destroy();
        if (ca_) {
            EXPECT_EQ(V().close_device(ca_), 0);
        }
        if (cb_) {
            EXPECT_EQ(V().close_device(cb_), 0);
        }
        remove_devices();
    }
    // Both endpoints created and connected (RTS both ways).
    void pair(LinkLayer ll = LinkLayer::ethernet, const EndpointOpts& o = {}, uint8_t rnr_retry = 7,
              DeviceSpec extra = {}) {
        add(ll, extra);
        ASSERT_TRUE(a_.init(ca_, o));
        ASSERT_TRUE(b_.init(cb_, o));
        a_.psn = 0x1234;
        b_.psn = 0xabcdef;
        ASSERT_TRUE(connect_pair(a_, b_, rnr_retry));
        ASSERT_EQ(a_.qp->state, IBV_QPS_RTS);
        ASSERT_EQ(b_.qp->state, IBV_QPS_RTS);
    }

    std::string fabric_;
    ibv_context* ca_ = nullptr;
    ibv_context* cb_ = nullptr;
    Endpoint a_, b_;
};

}  // namespace sluice::drivers::rdma::standin::testing
