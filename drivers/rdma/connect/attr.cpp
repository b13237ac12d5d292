// Queue pair attributes per transition, GID choice and path MTU (attr.hpp).
// The attribute masks are the ones the IB spec (IBA 1.4, 11.2.5.2, table
// "QP State Transition Properties") requires for an RC QP and that
// ibv_modify_qp(3) lists; rdma-core's rc_pingpong.c sets the same fields.
#include "drivers/rdma/connect/attr.hpp"

#include "drivers/rdma/connect/fail.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

namespace sluice::drivers::rdma {

namespace {

using Gid = std::array<uint8_t, 16>;

bool gid_zero(const Gid& g) {
    for (uint8_t b : g)
        if (b != 0) return false;
    return true;
}

// ::ffff:a.b.c.d (RFC 4291 2.5.5.2): how the kernel fills a RoCE GID table
// entry for an IPv4 address of the netdev.
bool gid_v4_mapped(const Gid& g) {
    for (int i = 0; i < 10; ++i)
        if (g[i] != 0) return false;
    return g[10] == 0xff && g[11] == 0xff;
}

// fe80::/10: the link-local GID every RoCE port has (derived from its MAC).
bool gid_link_local(const Gid& g) { return g[0] == 0xfe && (g[1] & 0xc0) == 0x80; }

bool is_roce(uint32_t type) { return type == IBV_GID_TYPE_ROCE_V1 || type == IBV_GID_TYPE_ROCE_V2; }

const char* type_name(uint32_t type) {
    switch (type) {
        case IBV_GID_TYPE_IB: return "IB";
        case IBV_GID_TYPE_ROCE_V1: return "RoCEv1";
        case IBV_GID_TYPE_ROCE_V2: return "RoCEv2";
        default: return "unknown";
    }
}

const char* family_name(AddrFamily f) {
    switch (f) {
        case AddrFamily::v4: return "v4";
        case AddrFamily::v6: return "v6";
        default: return "any";
    }
}

// One line about the table for errors: what was there to choose from.
std::string describe(std::span<const GidEntry> table) {
    if (table.empty()) return "the GID table is empty";
    unsigned v2 = 0, v2_v4 = 0, v1 = 0, ib = 0, zero = 0, other = 0;
    for (const GidEntry& e : table) {
        if (gid_zero(e.gid)) {
            ++zero;
        } else if (e.type == IBV_GID_TYPE_ROCE_V2) {
            ++v2;
            v2_v4 += gid_v4_mapped(e.gid) ? 1 : 0;
        } else if (e.type == IBV_GID_TYPE_ROCE_V1) {
            ++v1;
        } else if (e.type == IBV_GID_TYPE_IB) {
            ++ib;
        } else {
            ++other;
        }
    }
    std::string s = "the GID table has " + std::to_string(table.size()) + " entries: " + std::to_string(v2) +
                    " RoCEv2 (" + std::to_string(v2_v4) + " IPv4-mapped), " + std::to_string(v1) + " RoCEv1, " +
                    std::to_string(ib) + " IB, " + std::to_string(zero) + " all-zero";
    if (other != 0) s += ", " + std::to_string(other) + " of unknown type";
    return s;
}

const GidEntry* find_index(std::span<const GidEntry> table, uint32_t index) {
    for (const GidEntry& e : table)
        if (e.index == index) return &e;
    return nullptr;
}

// The lowest-index usable entry satisfying `pred`, or -1.
template <typename Pred>
int lowest(std::span<const GidEntry> table, Pred pred) {
    int best = -1;
    for (const GidEntry& e : table) {
        if (e.index > 255 || gid_zero(e.gid) || !pred(e)) continue;  // sgid_index is a u8
        if (best < 0 || e.index < static_cast<uint32_t>(best)) best = static_cast<int>(e.index);
    }
    return best;
}

}  // namespace

std::string gid_to_string(const Gid& gid) {
    char buf[INET6_ADDRSTRLEN] = {};
    in6_addr a{};
    std::memcpy(&a, gid.data(), gid.size());
    if (inet_ntop(AF_INET6, &a, buf, sizeof buf) == nullptr) return "?";
    return buf;
}

int select_gid(LinkLayer ll, std::span<const GidEntry> table, AddrFamily family, int configured, std::string* err) {
    if (ll != LinkLayer::infiniband && ll != LinkLayer::ethernet) {
        fail(err, "gid: link layer " + std::to_string(static_cast<unsigned>(ll)) + " is neither InfiniBand nor Ethernet");
        return -1;
    }
    const bool ib = ll == LinkLayer::infiniband;
    if (configured < -1 || configured > 255) {
        fail(err, "gid index " + std::to_string(configured) + ": expected -1 (choose) or 0..255");
        return -1;
    }
    if (configured >= 0) {
        const GidEntry* e = find_index(table, static_cast<uint32_t>(configured));
        if (e == nullptr) {
            fail(err, "gid index " + std::to_string(configured) + " is not in the port's table; " + describe(table));
            return -1;
        }
        if (gid_zero(e->gid)) {
            fail(err, "gid index " + std::to_string(configured) + " is all-zero (an unused slot); " + describe(table));
            return -1;
        }
        if (!ib && !is_roce(e->type)) {
            fail(err, "gid index " + std::to_string(configured) + " has type " + type_name(e->type) +
                          ", an Ethernet port needs RoCEv1 or RoCEv2");
            return -1;
        }
        return configured;
    }
    if (ib) {
        // IBA 4.1.1: GID index 0 is the port GID (subnet prefix + port GUID).
        const GidEntry* e = find_index(table, 0);
        if (e == nullptr || gid_zero(e->gid)) {
            fail(err, std::string("gid: InfiniBand port has ") + (e == nullptr ? "no" : "an all-zero") +
                          " port GID at index 0; " + describe(table));
            return -1;
        }
        return 0;
    }
    const auto v2 = [](const GidEntry& e) { return e.type == IBV_GID_TYPE_ROCE_V2; };
    int idx = -1;
    if (family == AddrFamily::v4) {
        idx = lowest(table, [&](const GidEntry& e) { return v2(e) && gid_v4_mapped(e.gid); });
    } else if (family == AddrFamily::v6) {
        idx = lowest(table,
                     [&](const GidEntry& e) { return v2(e) && !gid_v4_mapped(e.gid) && !gid_link_local(e.gid); });
        if (idx < 0) idx = lowest(table, [&](const GidEntry& e) { return v2(e) && gid_link_local(e.gid); });
    }
    if (idx < 0) idx = lowest(table, v2);
    if (idx < 0) idx = lowest(table, [](const GidEntry& e) { return e.type == IBV_GID_TYPE_ROCE_V1; });
    if (idx < 0)
        fail(err, std::string("gid: no usable RoCE GID for family ") + family_name(family) +
                      " (looked for RoCEv2 of that family, then any RoCEv2, then RoCEv1); " + describe(table));
    return idx;
}

uint32_t mtu_bytes(uint8_t ibv_mtu) {
    if (ibv_mtu < IBV_MTU_256 || ibv_mtu > IBV_MTU_4096) return 0;
    return 128u << ibv_mtu;  // IBV_MTU_256 = 1
}

uint8_t clamp_path_mtu(uint8_t local_active, uint8_t remote_active) {
    if (mtu_bytes(local_active) == 0 || mtu_bytes(remote_active) == 0) return 0;
    return local_active < remote_active ? local_active : remote_active;
}

Transition to_init(uint8_t port) {
    Transition t;
    t.attr.qp_state = IBV_QPS_INIT;
    t.attr.pkey_index = 0;  // the default partition (full member 0xFFFF sits at index 0)
    t.attr.port_num = port;
    // SEND/RECV only: no remote side ever reads, writes or does atomics on
    // our memory, so grant nothing (a stray RDMA op fails with a remote
    // access error instead of touching the mempool).
    t.attr.qp_access_flags = 0;
    t.mask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS;
    return t;
}

bool to_rtr(const EndpointInfo& local, const EndpointInfo& remote, uint8_t port, uint8_t path_mtu,
            const RcTiming& t, Transition* out, std::string* err) {
    if (out == nullptr) return fail(err, "to_rtr: no output");
    if (local.link_layer != remote.link_layer)
        return fail(err, std::string("remote link layer ") +
                             (remote.link_layer == LinkLayer::infiniband ? "InfiniBand" : "Ethernet") +
                             " differs from ours (" +
                             (local.link_layer == LinkLayer::infiniband ? "InfiniBand" : "Ethernet") + ")");
    if (mtu_bytes(path_mtu) == 0)
        return fail(err, "path_mtu " + std::to_string(path_mtu) + ": expected an ibv_mtu 1..5 (256..4096 bytes)");

    Transition tr;
    ibv_qp_attr& a = tr.attr;
    a.qp_state = IBV_QPS_RTR;
    a.path_mtu = static_cast<ibv_mtu>(path_mtu);
    a.dest_qp_num = remote.qpn;
    a.rq_psn = remote.psn;  // the first PSN the peer sends with
    // Responder resources for incoming RDMA READ / atomics. We use neither
    // (access flags are 0), so 0 would do; 1 is what rc_pingpong and perftest
    // set, the path every provider is tested on, and costs one slot.
    a.max_dest_rd_atomic = 1;
    a.min_rnr_timer = t.min_rnr_timer;
    a.ah_attr.port_num = port;
    a.ah_attr.sl = t.sl;  // IB: service level; RoCE providers map it to the 802.1p priority
    a.ah_attr.src_path_bits = 0;
    a.ah_attr.static_rate = 0;  // full port rate

    const auto grh = [&](const Gid& dgid) {
        a.ah_attr.is_global = 1;
        std::memcpy(a.ah_attr.grh.dgid.raw, dgid.data(), dgid.size());
        a.ah_attr.grh.sgid_index = local.gid_index;
        a.ah_attr.grh.hop_limit = t.hop_limit;
        a.ah_attr.grh.traffic_class = t.traffic_class;
        a.ah_attr.grh.flow_label = 0;
    };

    if (remote.link_layer == LinkLayer::infiniband) {
        // IBA 4.1.3: unicast LIDs are 0x0001..0xBFFF; 0 is unassigned (the SM
        // has not configured the port), 0xC000.. multicast, 0xFFFF permissive.
        if (remote.lid == 0 || remote.lid >= 0xC000)
            return fail(err, "remote lid " + std::to_string(remote.lid) +
                                 ": InfiniBand needs a unicast LID 1..0xBFFF (is the subnet manager running?)");
        a.ah_attr.dlid = remote.lid;
        // Within one subnet the LID routes; a GRH is needed only to cross an
        // IB router, i.e. when the subnet prefixes (GID bytes 0..7) differ.
        // Unknown GIDs (all-zero) cannot be routed to, so they mean "local".
        if (!gid_zero(local.gid) && !gid_zero(remote.gid) &&
            std::memcmp(local.gid.data(), remote.gid.data(), 8) != 0)
            grh(remote.gid);
        else
            a.ah_attr.is_global = 0;
    } else {
        // RoCE has no LIDs: every packet carries a GRH (RoCEv1) or IP header
        // (RoCEv2, built from the GRH fields), addressed by GID.
        if (gid_zero(remote.gid)) return fail(err, "remote gid is all-zero: RoCE addresses the peer by GID");
        a.ah_attr.dlid = 0;
        grh(remote.gid);
    }
    tr.mask = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
              IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;
    *out = tr;
    return true;
}

Transition to_rts(uint32_t sq_psn, const RcTiming& t) {
    Transition tr;
    tr.attr.qp_state = IBV_QPS_RTS;
    tr.attr.timeout = t.timeout;
    tr.attr.retry_cnt = t.retry_cnt;
    tr.attr.rnr_retry = t.rnr_retry;
    tr.attr.sq_psn = sq_psn & 0xFFFFFF;
    // Initiator depth for our own RDMA READ / atomics: unused, 1 as above.
    tr.attr.max_rd_atomic = 1;
    tr.mask = IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
              IBV_QP_MAX_QP_RD_ATOMIC;
    return tr;
}

}  // namespace sluice::drivers::rdma
