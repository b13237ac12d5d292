// Discovery, port and GID queries, and resource creation limits.
#include <dirent.h>
#include <sys/wait.h>

#include <cerrno>
#include <set>

#include "tests/unit/rdma/standin/helpers.hpp"

namespace sluice::drivers::rdma::standin::testing {
namespace {

TEST(StandinDiscovery, NoDevicesIsNullWithEnosys) {
    remove_devices();
    int num = 42;
    errno = 0;
    EXPECT_EQ(V().get_device_list(&num), nullptr);
    EXPECT_EQ(errno, ENOSYS);  // as libibverbs on a kernel without RDMA
    EXPECT_EQ(num, 0);
    EXPECT_STREQ(V().name, "standin");
}

TEST(StandinDiscovery, ListsAddedDevicesNullTerminated) {
    DeviceSpec s;
    s.fabric = unique_fabric("d");
    s.name = "mlx5_7";
    add_device(s);
    s.name = "mlx5_8";
    add_device(s);
    int num = 0;
    ibv_device** list = V().get_device_list(&num);
    ASSERT_NE(list, nullptr);
    EXPECT_EQ(num, 2);
    EXPECT_STREQ(V().get_device_name(list[0]), "mlx5_7");
    EXPECT_STREQ(V().get_device_name(list[1]), "mlx5_8");
    EXPECT_EQ(list[2], nullptr);
    V().free_device_list(list);
    remove_devices();
    EXPECT_EQ(V().get_device_list(&num), nullptr);
}

class StandinQuery : public TwoDevices {};

TEST_F(StandinQuery, EthernetPortAndGidTable) {
    DeviceSpec extra;
    extra.active_mtu = IBV_MTU_2048;
    add(LinkLayer::ethernet, extra);
    ibv_port_attr pa{};
    ASSERT_EQ(V().query_port(ca_, 1, &pa), 0);
    EXPECT_EQ(pa.state, IBV_PORT_ACTIVE);
    EXPECT_EQ(pa.link_layer, IBV_LINK_LAYER_ETHERNET);
    EXPECT_EQ(pa.active_mtu, IBV_MTU_2048);
    EXPECT_EQ(pa.lid, 0);
    EXPECT_GE(pa.gid_tbl_len, 4);
    EXPECT_NE(V().query_port(ca_, 2, &pa), 0);  // one port

    ibv_gid_entry e{};
    ASSERT_EQ(V().query_gid_ex(ca_, 1, 0, &e, 0), 0);
    EXPECT_EQ(e.gid_type, IBV_GID_TYPE_ROCE_V1);
    EXPECT_EQ(e.gid.raw[0], 0xfe);
    EXPECT_EQ(e.gid.raw[1], 0x80);
    ASSERT_EQ(V().query_gid_ex(ca_, 1, 1, &e, 0), 0);
    EXPECT_EQ(e.gid_type, IBV_GID_TYPE_ROCE_V2);
    ASSERT_EQ(V().query_gid_ex(ca_, 1, 3, &e, 0), 0);
    EXPECT_EQ(e.gid_type, IBV_GID_TYPE_ROCE_V2);
    EXPECT_EQ(e.gid.raw[10], 0xff);  // ::ffff:198.18.x.y
    EXPECT_EQ(e.gid.raw[11], 0xff);
    EXPECT_EQ(e.gid.raw[12], 198);
    EXPECT_EQ(e.gid.raw[13], 18);
    EXPECT_EQ(V().query_gid_ex(ca_, 1, 5, &e, 0), ENODATA);  // empty slot
    EXPECT_EQ(V().query_gid_ex(ca_, 1, static_cast<uint32_t>(pa.gid_tbl_len), &e, 0), EINVAL);

    // Each device is its own node: different GIDs.
    ibv_gid_entry f{};
    ASSERT_EQ(V().query_gid_ex(cb_, 1, 3, &f, 0), 0);
    EXPECT_NE(std::memcmp(e.gid.raw, f.gid.raw, 16), 0);
}

TEST_F(StandinQuery, InfinibandPortHasLidAndPortGid) {
    add(LinkLayer::infiniband);
    ibv_port_attr pa{}, pb{};
    ASSERT_EQ(V().query_port(ca_, 1, &pa), 0);
    ASSERT_EQ(V().query_port(cb_, 1, &pb), 0);
    EXPECT_EQ(pa.link_layer, IBV_LINK_LAYER_INFINIBAND);
    EXPECT_NE(pa.lid, 0);
    EXPECT_LE(pa.lid, 0xBFFF);  // unicast
    EXPECT_NE(pa.lid, pb.lid);
    ibv_gid_entry e{};
    ASSERT_EQ(V().query_gid_ex(ca_, 1, 0, &e, 0), 0);
    EXPECT_EQ(e.gid_type, IBV_GID_TYPE_IB);
    EXPECT_EQ(e.gid.raw[0], 0xfe);
    EXPECT_EQ(V().query_gid_ex(ca_, 1, 1, &e, 0), ENODATA);
}

TEST_F(StandinQuery, CustomGidTableIsReported) {
    DeviceSpec extra;
    GidEntry g;
    g.index = 2;
    g.gid = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
    g.type = IBV_GID_TYPE_ROCE_V2;
    extra.gids = {g};
    add(LinkLayer::ethernet, extra);
    ibv_gid_entry e{};
    EXPECT_EQ(V().query_gid_ex(ca_, 1, 0, &e, 0), ENODATA);
    ASSERT_EQ(V().query_gid_ex(ca_, 1, 2, &e, 0), 0);
    EXPECT_EQ(e.gid.raw[15], 7);
    EXPECT_EQ(e.gid_type, IBV_GID_TYPE_ROCE_V2);
}

TEST_F(StandinQuery, DeviceLimitsFromSpec) {
    DeviceSpec extra;
    extra.max_qp_wr = 100;
    extra.max_sge = 3;
    extra.max_cqe = 77;
    add(LinkLayer::ethernet, extra);
    ibv_device_attr da{};
    ASSERT_EQ(V().query_device(ca_, &da), 0);
    EXPECT_EQ(da.max_qp_wr, 100);
    EXPECT_EQ(da.max_sge, 3);
    EXPECT_EQ(da.max_cqe, 77);
    EXPECT_EQ(da.phys_port_cnt, 1);
}

TEST_F(StandinQuery, RegMrChecksAndFailInjection) {
    add(LinkLayer::ethernet);
    ibv_pd* pd = V().alloc_pd(ca_);
    ASSERT_NE(pd, nullptr);
    std::vector<uint8_t> mem(4096);
    // Remote write without local write is invalid (man ibv_reg_mr).
    errno = 0;
    EXPECT_EQ(V().reg_mr(pd, mem.data(), mem.size(), IBV_ACCESS_REMOTE_WRITE), nullptr);
    EXPECT_EQ(errno, EINVAL);

    fail_next_reg_mr(2);
    errno = 0;
    EXPECT_EQ(V().reg_mr(pd, mem.data(), mem.size(), IBV_ACCESS_LOCAL_WRITE), nullptr);
    EXPECT_EQ(errno, ENOMEM);
    EXPECT_EQ(V().reg_mr(pd, mem.data(), mem.size(), IBV_ACCESS_LOCAL_WRITE), nullptr);
    ibv_mr* m1 = V().reg_mr(pd, mem.data(), mem.size(), IBV_ACCESS_LOCAL_WRITE);
    ibv_mr* m2 = V().reg_mr(pd, mem.data(), 100, IBV_ACCESS_LOCAL_WRITE);
    ASSERT_NE(m1, nullptr);
    ASSERT_NE(m2, nullptr);
    EXPECT_NE(m1->lkey, m2->lkey);
    EXPECT_EQ(m1->addr, mem.data());
    EXPECT_EQ(m1->length, mem.size());
    EXPECT_EQ(m1->pd, pd);
    EXPECT_EQ(V().dealloc_pd(pd), EBUSY);  // regions still registered
    EXPECT_EQ(V().dereg_mr(m1), 0);
    EXPECT_EQ(V().dereg_mr(m2), 0);
    EXPECT_EQ(V().dealloc_pd(pd), 0);
}

TEST_F(StandinQuery, CqAndSrqLimits) {
    DeviceSpec extra;
    extra.max_cqe = 128;
    extra.max_srq_wr = 64;
    extra.max_sge = 2;
    add(LinkLayer::ethernet, extra);
    ibv_cq* cq = V().create_cq(ca_, 100, nullptr, nullptr, 0);
    ASSERT_NE(cq, nullptr);
    EXPECT_EQ(cq->cqe, 100);  // exactly what was asked
    errno = 0;
    EXPECT_EQ(V().create_cq(ca_, 129, nullptr, nullptr, 0), nullptr);
    EXPECT_EQ(errno, EINVAL);
    EXPECT_EQ(V().create_cq(ca_, 0, nullptr, nullptr, 0), nullptr);

    ibv_pd* pd = V().alloc_pd(ca_);
    ibv_srq_init_attr sa{};
    sa.attr.max_wr = 65;
    sa.attr.max_sge = 1;
    EXPECT_EQ(V().create_srq(pd, &sa), nullptr);
    sa.attr.max_wr = 64;
    sa.attr.max_sge = 3;
    EXPECT_EQ(V().create_srq(pd, &sa), nullptr);
    sa.attr.max_sge = 2;
    ibv_srq* srq = V().create_srq(pd, &sa);
    ASSERT_NE(srq, nullptr);
    EXPECT_EQ(srq->pd, pd);
    EXPECT_EQ(V().destroy_srq(srq), 0);
    EXPECT_EQ(V().destroy_cq(cq), 0);
    EXPECT_EQ(V().dealloc_pd(pd), 0);
}

TEST_F(StandinQuery, SrqPostBeyondMaxWrIsEnomemWithBadWr) {
    add(LinkLayer::ethernet);
    EndpointOpts o;
    o.srq_wr = 4;
    ASSERT_TRUE(a_.init(ca_, o));
    ASSERT_EQ(post_recvs(a_, 4, 64), 0);
    ibv_sge sge{a_.addr_of(0), 64, a_.mr->lkey};
    ibv_recv_wr w2{};
    w2.wr_id = 2;
    w2.sg_list = &sge;
    w2.num_sge = 1;
    ibv_recv_wr* bad = nullptr;
    EXPECT_EQ(V().post_srq_recv(a_.srq, &w2, &bad), ENOMEM);
    EXPECT_EQ(bad, &w2);
    ibv_sge many[3] = {sge, sge, sge};
    w2.sg_list = many;
    w2.num_sge = 3;  // srq_sge is 2
    EXPECT_EQ(V().post_srq_recv(a_.srq, &w2, &bad), EINVAL);
}

TEST_F(StandinQuery, DestroyWhileInUseIsEbusy) {
    add(LinkLayer::ethernet);
    ASSERT_TRUE(a_.init(ca_));
    EXPECT_EQ(V().destroy_cq(a_.scq), EBUSY);
    EXPECT_EQ(V().destroy_srq(a_.srq), EBUSY);
    EXPECT_EQ(V().dealloc_pd(a_.pd), EBUSY);
}

TEST_F(StandinQuery, CreateQpChecksCapsAndReportsThem) {
    DeviceSpec extra;
    extra.max_qp_wr = 128;
    extra.max_sge = 2;
    extra.max_inline = 64;
    add(LinkLayer::ethernet, extra);
    ASSERT_TRUE(a_.init(ca_));
    ibv_qp_init_attr qa{};
    qa.send_cq = a_.scq;
    qa.recv_cq = a_.rcq;
    qa.srq = a_.srq;
    qa.qp_type = IBV_QPT_RC;
    qa.cap.max_send_wr = 129;
    qa.cap.max_send_sge = 1;
    errno = 0;
    EXPECT_EQ(V().create_qp(a_.pd, &qa), nullptr);
    EXPECT_EQ(errno, EINVAL);
    qa.cap.max_send_wr = 128;
    qa.cap.max_send_sge = 3;
    EXPECT_EQ(V().create_qp(a_.pd, &qa), nullptr);
    qa.cap.max_send_sge = 2;
    qa.cap.max_inline_data = 65;
    EXPECT_EQ(V().create_qp(a_.pd, &qa), nullptr);
    qa.cap.max_inline_data = 64;
    qa.qp_type = IBV_QPT_UD;
    EXPECT_EQ(V().create_qp(a_.pd, &qa), nullptr);
    qa.qp_type = IBV_QPT_RC;
    qa.srq = nullptr;  // receives only through an SRQ
    EXPECT_EQ(V().create_qp(a_.pd, &qa), nullptr);
    qa.srq = a_.srq;
    qa.cap.max_recv_wr = 10;
    ibv_qp* qp = V().create_qp(a_.pd, &qa);
    ASSERT_NE(qp, nullptr);
    EXPECT_EQ(qa.cap.max_send_wr, 128u);
    EXPECT_EQ(qa.cap.max_inline_data, 64u);
    EXPECT_EQ(qa.cap.max_recv_wr, 0u);  // the SRQ holds the receives
    EXPECT_EQ(qp->state, IBV_QPS_RESET);
    EXPECT_EQ(qp->send_cq, a_.scq);
    EXPECT_EQ(qp->srq, a_.srq);
    EXPECT_EQ(qp->pd, a_.pd);
    EXPECT_EQ(qp->context, ca_);
    EXPECT_LE(qp->qp_num, 0xFFFFFFu);
    EXPECT_GE(qp->qp_num, 2u);
    EXPECT_NE(qp->qp_num, a_.qp->qp_num);
    EXPECT_EQ(V().destroy_qp(qp), 0);
}

// A process that dies without cleaning up leaves its files; the next
// device opened on that fabric removes them.
TEST(StandinFiles, StaleFilesOfDeadProcessesAreRemoved) {
    std::string fabric = unique_fabric("s");
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        DeviceSpec s;
        s.fabric = fabric;
        s.name = "dead0";
        add_device(s);
        ibv_context* c = open_named("dead0");
        Endpoint e;
        bool ok = c && e.init(c);
        _exit(ok ? 0 : 1);  // no cleanup: as if killed
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    auto count = [&] {
        int n = 0;
        std::string prefix = "sluice-standin." + fabric + ".";
        DIR* d = opendir("/dev/shm");
        while (dirent* de = d ? readdir(d) : nullptr)
            if (std::string(de->d_name).rfind(prefix, 0) == 0) ++n;
        if (d) closedir(d);
        return n;
    };
    EXPECT_EQ(count(), 2);  // the child's node file and its QP's ring
    DeviceSpec s;
    s.fabric = fabric;
    s.name = "live0";
    add_device(s);
    EXPECT_EQ(count(), 1);  // only our node file
    remove_devices();
    EXPECT_EQ(count(), 0);
}

}  // namespace
}  // namespace sluice::drivers::rdma::standin::testing
