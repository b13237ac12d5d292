// GID choice over realistic fake tables, path MTU clamping, and the QP
// attributes of each transition (drivers/rdma/connect/attr.hpp).
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "drivers/rdma/connect/attr.hpp"

namespace {

using namespace sluice::drivers::rdma;
using Gid = std::array<uint8_t, 16>;

Gid gid6(const char* text) {
    Gid g{};
    in6_addr a{};
    EXPECT_EQ(inet_pton(AF_INET6, text, &a), 1) << text;
    std::memcpy(g.data(), &a, 16);
    return g;
}

GidEntry entry(uint32_t index, const char* text, uint32_t type) { return GidEntry{index, gid6(text), type}; }

// A ConnectX port on Ethernet with one IPv4 and one IPv6 address: the kernel
// adds each address twice, RoCEv1 then RoCEv2, after the link-local pair.
std::vector<GidEntry> connectx_table() {
    return {
        entry(0, "fe80::268a:7ff:fe55:4410", IBV_GID_TYPE_ROCE_V1),
        entry(1, "fe80::268a:7ff:fe55:4410", IBV_GID_TYPE_ROCE_V2),
        entry(2, "::ffff:198.18.1.1", IBV_GID_TYPE_ROCE_V1),
        entry(3, "::ffff:198.18.1.1", IBV_GID_TYPE_ROCE_V2),
        entry(4, "2001:db8::1", IBV_GID_TYPE_ROCE_V1),
        entry(5, "2001:db8::1", IBV_GID_TYPE_ROCE_V2),
    };
}

// An InfiniBand port: the port GID (default subnet prefix + port GUID).
std::vector<GidEntry> ib_table() {
    return {
        entry(0, "fe80::2:c903:a:1b2c", IBV_GID_TYPE_IB),
        entry(1, "fec0::2:c903:a:1b2c", IBV_GID_TYPE_IB),
    };
}

int pick(LinkLayer ll, const std::vector<GidEntry>& t, AddrFamily f, int configured, std::string* err) {
    return select_gid(ll, std::span<const GidEntry>(t.data(), t.size()), f, configured, err);
}

// ---- select_gid: Ethernet (RoCE) ----

TEST(SelectGid, RoceV4PicksMappedRoceV2) {
    std::string err;
    EXPECT_EQ(pick(LinkLayer::ethernet, connectx_table(), AddrFamily::v4, -1, &err), 3) << err;
}

TEST(SelectGid, RoceV6PicksGlobalRoceV2OverLinkLocal) {
    std::string err;
    EXPECT_EQ(pick(LinkLayer::ethernet, connectx_table(), AddrFamily::v6, -1, &err), 5) << err;
}

TEST(SelectGid, RoceV6FallsBackToLinkLocalRoceV2) {
    auto t = connectx_table();
    t.erase(t.begin() + 4, t.end());  // no global IPv6 address
    std::string err;
    EXPECT_EQ(pick(LinkLayer::ethernet, t, AddrFamily::v6, -1, &err), 1) << err;
}

TEST(SelectGid, RoceAnyPicksLowestRoceV2) {
    std::string err;
    EXPECT_EQ(pick(LinkLayer::ethernet, connectx_table(), AddrFamily::any, -1, &err), 1) << err;
}

TEST(SelectGid, RoceV4WithoutMappedFallsBackToAnyRoceV2) {
    auto t = connectx_table();
    t.erase(t.begin() + 2, t.begin() + 4);  // no IPv4 address on the netdev
    std::string err;
    EXPECT_EQ(pick(LinkLayer::ethernet, t, AddrFamily::v4, -1, &err), 1) << err;
}

TEST(SelectGid, RoceOnlyV1FallsBackToLowestV1) {
    std::vector<GidEntry> t = {entry(4, "2001:db8::1", IBV_GID_TYPE_ROCE_V1),
                               entry(2, "::ffff:198.18.1.1", IBV_GID_TYPE_ROCE_V1)};
    std::string err;
    EXPECT_EQ(pick(LinkLayer::ethernet, t, AddrFamily::v4, -1, &err), 2) << err;
    EXPECT_EQ(pick(LinkLayer::ethernet, t, AddrFamily::v6, -1, &err), 2) << err;
}

TEST(SelectGid, LowestIndexWinsWhateverTheOrder) {
    std::vector<GidEntry> t = {entry(9, "::ffff:198.18.1.9", IBV_GID_TYPE_ROCE_V2),
                               entry(7, "::ffff:198.18.1.7", IBV_GID_TYPE_ROCE_V2),
                               entry(8, "::ffff:198.18.1.8", IBV_GID_TYPE_ROCE_V2)};
    std::string err;
    EXPECT_EQ(pick(LinkLayer::ethernet, t, AddrFamily::v4, -1, &err), 7) << err;
}

TEST(SelectGid, ZeroEntriesAreSkipped) {
    auto t = connectx_table();
    t[3].gid = Gid{};  // the slot was cleared (address removed)
    t[1].gid = Gid{};
    std::string err;
    EXPECT_EQ(pick(LinkLayer::ethernet, t, AddrFamily::v4, -1, &err), 5) << err;  // any RoCEv2 left
}

TEST(SelectGid, IbTypeEntriesNeverChosenOnEthernet) {
    std::vector<GidEntry> t = {entry(0, "::ffff:198.18.1.1", IBV_GID_TYPE_IB)};
    std::string err;
    EXPECT_EQ(pick(LinkLayer::ethernet, t, AddrFamily::any, -1, &err), -1);
    EXPECT_NE(err.find("1 IB"), std::string::npos) << err;
}

TEST(SelectGid, EmptyTableFails) {
    std::string err;
    EXPECT_EQ(pick(LinkLayer::ethernet, {}, AddrFamily::v4, -1, &err), -1);
    EXPECT_NE(err.find("empty"), std::string::npos) << err;
    EXPECT_NE(err.find("v4"), std::string::npos) << err;
    err.clear();
    EXPECT_EQ(pick(LinkLayer::infiniband, {}, AddrFamily::any, -1, &err), -1);
    EXPECT_NE(err.find("index 0"), std::string::npos) << err;
}

TEST(SelectGid, AllZeroTableFails) {
    std::vector<GidEntry> t = {entry(0, "::", IBV_GID_TYPE_ROCE_V2), entry(1, "::", IBV_GID_TYPE_ROCE_V1)};
    std::string err;
    EXPECT_EQ(pick(LinkLayer::ethernet, t, AddrFamily::any, -1, &err), -1);
    EXPECT_NE(err.find("2 all-zero"), std::string::npos) << err;
}

TEST(SelectGid, ConfiguredGoodIndexIsKept) {
    std::string err;
    // Even a RoCEv1 or link-local one: the operator decided.
    EXPECT_EQ(pick(LinkLayer::ethernet, connectx_table(), AddrFamily::v4, 0, &err), 0) << err;
    EXPECT_EQ(pick(LinkLayer::ethernet, connectx_table(), AddrFamily::v4, 4, &err), 4) << err;
    EXPECT_EQ(pick(LinkLayer::infiniband, ib_table(), AddrFamily::any, 1, &err), 1) << err;
}

TEST(SelectGid, ConfiguredOutOfRangeFails) {
    std::string err;
    EXPECT_EQ(pick(LinkLayer::ethernet, connectx_table(), AddrFamily::v4, 6, &err), -1);
    EXPECT_NE(err.find("gid index 6 is not in the port's table"), std::string::npos) << err;
    EXPECT_NE(err.find("6 entries"), std::string::npos) << err;
    EXPECT_EQ(pick(LinkLayer::ethernet, connectx_table(), AddrFamily::v4, 256, &err), -1);
    EXPECT_NE(err.find("0..255"), std::string::npos) << err;
    EXPECT_EQ(pick(LinkLayer::ethernet, connectx_table(), AddrFamily::v4, -2, &err), -1);
}

TEST(SelectGid, ConfiguredZeroEntryFails) {
    auto t = connectx_table();
    t[3].gid = Gid{};
    std::string err;
    EXPECT_EQ(pick(LinkLayer::ethernet, t, AddrFamily::v4, 3, &err), -1);
    EXPECT_NE(err.find("all-zero"), std::string::npos) << err;
}

TEST(SelectGid, ConfiguredWrongTypeOnEthernetFails) {
    std::vector<GidEntry> t = {entry(0, "fe80::1", IBV_GID_TYPE_IB)};
    std::string err;
    EXPECT_EQ(pick(LinkLayer::ethernet, t, AddrFamily::any, 0, &err), -1);
    EXPECT_NE(err.find("type IB"), std::string::npos) << err;
}

// ---- select_gid: InfiniBand ----

TEST(SelectGid, IbDefaultIsPortGid) {
    std::string err;
    EXPECT_EQ(pick(LinkLayer::infiniband, ib_table(), AddrFamily::v4, -1, &err), 0) << err;
}

TEST(SelectGid, IbZeroPortGidFails) {
    auto t = ib_table();
    t[0].gid = Gid{};
    std::string err;
    EXPECT_EQ(pick(LinkLayer::infiniband, t, AddrFamily::any, -1, &err), -1);
    EXPECT_NE(err.find("all-zero port GID"), std::string::npos) << err;
}

TEST(SelectGid, IbConfiguredMissingFails) {
    std::string err;
    EXPECT_EQ(pick(LinkLayer::infiniband, ib_table(), AddrFamily::any, 5, &err), -1);
    EXPECT_NE(err.find("gid index 5"), std::string::npos) << err;
}

TEST(GidToString, Formats) {
    EXPECT_EQ(gid_to_string(gid6("::ffff:198.18.1.1")), "::ffff:198.18.1.1");
    EXPECT_EQ(gid_to_string(gid6("2001:db8::1")), "2001:db8::1");
}

// ---- MTU ----

TEST(Mtu, Bytes) {
    EXPECT_EQ(mtu_bytes(0), 0u);
    EXPECT_EQ(mtu_bytes(IBV_MTU_256), 256u);
    EXPECT_EQ(mtu_bytes(IBV_MTU_512), 512u);
    EXPECT_EQ(mtu_bytes(IBV_MTU_1024), 1024u);
    EXPECT_EQ(mtu_bytes(IBV_MTU_2048), 2048u);
    EXPECT_EQ(mtu_bytes(IBV_MTU_4096), 4096u);
    EXPECT_EQ(mtu_bytes(6), 0u);
    EXPECT_EQ(mtu_bytes(255), 0u);
}

TEST(Mtu, ClampAllPairs) {
    for (int l = 0; l <= 7; ++l) {
        for (int r = 0; r <= 7; ++r) {
            const bool valid = l >= 1 && l <= 5 && r >= 1 && r <= 5;
            const uint8_t want = valid ? static_cast<uint8_t>(l < r ? l : r) : 0;
            EXPECT_EQ(clamp_path_mtu(static_cast<uint8_t>(l), static_cast<uint8_t>(r)), want) << l << "," << r;
        }
    }
    EXPECT_EQ(clamp_path_mtu(255, 3), 0);
}

// ---- transitions ----

EndpointInfo roce_end(const char* gid, uint8_t gid_index, uint32_t qpn, uint32_t psn) {
    EndpointInfo e;
    e.link_layer = LinkLayer::ethernet;
    e.active_mtu = IBV_MTU_4096;
    e.gid = gid6(gid);
    e.gid_index = gid_index;
    e.qpn = qpn;
    e.psn = psn;
    e.recv_credits = 512;
    e.max_frame = 2048;
    e.name = "n";
    return e;
}

EndpointInfo ib_end(uint16_t lid, const char* gid, uint32_t qpn, uint32_t psn) {
    EndpointInfo e = roce_end(gid, 0, qpn, psn);
    e.link_layer = LinkLayer::infiniband;
    e.lid = lid;
    return e;
}

constexpr int kRtrMask = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
                         IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;

TEST(Transition, InitMaskAndFields) {
    const Transition t = to_init(2);
    EXPECT_EQ(t.mask, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
    EXPECT_EQ(t.attr.qp_state, IBV_QPS_INIT);
    EXPECT_EQ(t.attr.pkey_index, 0);
    EXPECT_EQ(t.attr.port_num, 2);
    EXPECT_EQ(t.attr.qp_access_flags, 0u);
}

TEST(Transition, RtsMaskAndFields) {
    RcTiming timing;
    timing.timeout = 18;
    timing.retry_cnt = 6;
    timing.rnr_retry = 5;
    const Transition t = to_rts(0xABCDEF, timing);
    EXPECT_EQ(t.mask, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
                          IBV_QP_MAX_QP_RD_ATOMIC);
    EXPECT_EQ(t.attr.qp_state, IBV_QPS_RTS);
    EXPECT_EQ(t.attr.timeout, 18);
    EXPECT_EQ(t.attr.retry_cnt, 6);
    EXPECT_EQ(t.attr.rnr_retry, 5);
    EXPECT_EQ(t.attr.sq_psn, 0xABCDEFu);
    EXPECT_EQ(t.attr.max_rd_atomic, 1);
}

TEST(Transition, RtrInfiniBandSameSubnetNoGrh) {
    const EndpointInfo local = ib_end(7, "fe80::2:c903:a:1", 0x111, 1);
    const EndpointInfo remote = ib_end(9, "fe80::2:c903:a:2", 0x222, 0x333);
    RcTiming timing;
    timing.sl = 3;
    timing.min_rnr_timer = 14;
    Transition t;
    std::string err;
    ASSERT_TRUE(to_rtr(local, remote, 1, IBV_MTU_2048, timing, &t, &err)) << err;
    EXPECT_EQ(t.mask, kRtrMask);
    EXPECT_EQ(t.attr.qp_state, IBV_QPS_RTR);
    EXPECT_EQ(t.attr.path_mtu, IBV_MTU_2048);
    EXPECT_EQ(t.attr.dest_qp_num, 0x222u);
    EXPECT_EQ(t.attr.rq_psn, 0x333u);
    EXPECT_EQ(t.attr.max_dest_rd_atomic, 1);
    EXPECT_EQ(t.attr.min_rnr_timer, 14);
    EXPECT_EQ(t.attr.ah_attr.port_num, 1);
    EXPECT_EQ(t.attr.ah_attr.dlid, 9);
    EXPECT_EQ(t.attr.ah_attr.sl, 3);
    EXPECT_EQ(t.attr.ah_attr.is_global, 0);
}

TEST(Transition, RtrInfiniBandOtherSubnetUsesGrh) {
    EndpointInfo local = ib_end(7, "fe80::2:c903:a:1", 0x111, 1);
    local.gid_index = 1;
    const EndpointInfo remote = ib_end(9, "fec0::2:c903:a:2", 0x222, 0x333);
    RcTiming timing;
    timing.hop_limit = 5;
    Transition t;
    std::string err;
    ASSERT_TRUE(to_rtr(local, remote, 1, IBV_MTU_4096, timing, &t, &err)) << err;
    EXPECT_EQ(t.attr.ah_attr.is_global, 1);
    EXPECT_EQ(t.attr.ah_attr.dlid, 9);
    EXPECT_EQ(std::memcmp(t.attr.ah_attr.grh.dgid.raw, remote.gid.data(), 16), 0);
    EXPECT_EQ(t.attr.ah_attr.grh.sgid_index, 1);
    EXPECT_EQ(t.attr.ah_attr.grh.hop_limit, 5);
}

TEST(Transition, RtrInfiniBandUnknownRemoteGidNoGrh) {
    const EndpointInfo local = ib_end(7, "fe80::2:c903:a:1", 0x111, 1);
    const EndpointInfo remote = ib_end(9, "::", 0x222, 0x333);
    Transition t;
    std::string err;
    ASSERT_TRUE(to_rtr(local, remote, 1, IBV_MTU_4096, RcTiming{}, &t, &err)) << err;
    EXPECT_EQ(t.attr.ah_attr.is_global, 0);
}

TEST(Transition, RtrRoceGrhFields) {
    const EndpointInfo local = roce_end("::ffff:198.18.1.1", 3, 0x111, 1);
    const EndpointInfo remote = roce_end("::ffff:198.18.1.2", 5, 0xFFFFFF, 0xFFFFFF);
    RcTiming timing;
    timing.traffic_class = 26 << 2;  // DSCP AF31
    timing.hop_limit = 64;
    Transition t;
    std::string err;
    ASSERT_TRUE(to_rtr(local, remote, 1, IBV_MTU_1024, timing, &t, &err)) << err;
    EXPECT_EQ(t.mask, kRtrMask);
    EXPECT_EQ(t.attr.dest_qp_num, 0xFFFFFFu);
    EXPECT_EQ(t.attr.rq_psn, 0xFFFFFFu);
    EXPECT_EQ(t.attr.path_mtu, IBV_MTU_1024);
    EXPECT_EQ(t.attr.ah_attr.is_global, 1);
    EXPECT_EQ(t.attr.ah_attr.dlid, 0);
    EXPECT_EQ(t.attr.ah_attr.port_num, 1);
    EXPECT_EQ(std::memcmp(t.attr.ah_attr.grh.dgid.raw, remote.gid.data(), 16), 0);
    EXPECT_EQ(t.attr.ah_attr.grh.sgid_index, 3);  // ours, not the remote's 5
    EXPECT_EQ(t.attr.ah_attr.grh.hop_limit, 64);
    EXPECT_EQ(t.attr.ah_attr.grh.traffic_class, 26 << 2);
}

TEST(Transition, RtrErrorLinkLayersDiffer) {
    const EndpointInfo local = roce_end("::ffff:198.18.1.1", 3, 0x111, 1);
    const EndpointInfo remote = ib_end(9, "fe80::1", 0x222, 0x333);
    Transition t;
    std::string err;
    EXPECT_FALSE(to_rtr(local, remote, 1, IBV_MTU_1024, RcTiming{}, &t, &err));
    EXPECT_NE(err.find("link layer"), std::string::npos) << err;
}

TEST(Transition, RtrErrorIbBadLids) {
    const EndpointInfo local = ib_end(7, "fe80::1", 0x111, 1);
    for (uint16_t lid : {uint16_t{0}, uint16_t{0xC000}, uint16_t{0xFFFF}}) {
        const EndpointInfo remote = ib_end(lid, "fe80::2", 0x222, 0x333);
        Transition t;
        std::string err;
        EXPECT_FALSE(to_rtr(local, remote, 1, IBV_MTU_1024, RcTiming{}, &t, &err)) << lid;
        EXPECT_NE(err.find("remote lid " + std::to_string(lid)), std::string::npos) << err;
    }
    const EndpointInfo top = ib_end(0xBFFF, "fe80::2", 0x222, 0x333);
    Transition t;
    std::string err;
    EXPECT_TRUE(to_rtr(local, top, 1, IBV_MTU_1024, RcTiming{}, &t, &err)) << err;
}

TEST(Transition, RtrErrorRoceZeroGid) {
    const EndpointInfo local = roce_end("::ffff:198.18.1.1", 3, 0x111, 1);
    const EndpointInfo remote = roce_end("::", 3, 0x222, 0x333);
    Transition t;
    std::string err;
    EXPECT_FALSE(to_rtr(local, remote, 1, IBV_MTU_1024, RcTiming{}, &t, &err));
    EXPECT_NE(err.find("gid"), std::string::npos) << err;
}

TEST(Transition, RtrErrorInvalidPathMtu) {
    const EndpointInfo local = roce_end("::ffff:198.18.1.1", 3, 0x111, 1);
    const EndpointInfo remote = roce_end("::ffff:198.18.1.2", 3, 0x222, 0x333);
    for (uint8_t mtu : {uint8_t{0}, uint8_t{6}}) {
        Transition t;
        std::string err;
        EXPECT_FALSE(to_rtr(local, remote, 1, mtu, RcTiming{}, &t, &err));
        EXPECT_NE(err.find("path_mtu"), std::string::npos) << err;
    }
}

TEST(Transition, RtrFailureLeavesOutputUntouched) {
    const EndpointInfo local = roce_end("::ffff:198.18.1.1", 3, 0x111, 1);
    const EndpointInfo remote = roce_end("::", 3, 0x222, 0x333);
    Transition t;
    t.mask = 12345;
    std::string err;
    EXPECT_FALSE(to_rtr(local, remote, 1, IBV_MTU_1024, RcTiming{}, &t, &err));
    EXPECT_EQ(t.mask, 12345);
    EXPECT_FALSE(to_rtr(local, remote, 1, IBV_MTU_1024, RcTiming{}, nullptr, &err));
}

}  // namespace
