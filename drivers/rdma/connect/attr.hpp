// The queue pair's attributes for each transition, and the choices behind
// them that differ between InfiniBand and RoCEv2 (docs/rdma.md, "InfiniBand
// and RoCEv2"): addressing by LID (and SL) or by GID (index chosen by GID
// type and address family), path MTU clamped to both ends. Pure functions
// over plain values: unit-tested with fake GID tables, no device needed.
#pragma once

#include <infiniband/verbs.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "drivers/rdma/connect/oob_message.hpp"

namespace sluice::drivers::rdma {

struct GidEntry {
    uint32_t index = 0;
    std::array<uint8_t, 16> gid{};
    uint32_t type = IBV_GID_TYPE_IB;  // enum ibv_gid_type: IB, RoCEv1, RoCEv2
};

enum class AddrFamily : uint8_t { any, v4, v6 };

// The GID index to use. `configured` >= 0 is checked (present, not all-zero,
// a RoCE type on Ethernet); -1 chooses: on InfiniBand the port GID (index 0);
// on Ethernet a RoCEv2 entry of `family` (IPv4-mapped ::ffff:a.b.c.d for v4)
// first, else any RoCEv2, else RoCEv1, lowest index first. -1 and *err when
// none fits.
//
// Choices within that rule (docs/rdma.md, "InfiniBand and RoCEv2"):
// - `table` lists the port's slots by their `index` (sparse is fine: an
//   empty slot, ENODATA from ibv_query_gid_ex, is simply absent); all-zero
//   GIDs and, on Ethernet, IB-type entries are never chosen.
// - v4 wants an IPv4-mapped GID (::ffff:0:0/96). v6 wants any other
//   non-zero GID, a global one before a link-local fe80::/10 one: a
//   link-local RoCEv2 GID only reaches the same L2 segment, so a routed
//   fabric would drop our packets. `any` takes the lowest-index RoCEv2 entry
//   whatever its family.
// - Within every class the lowest index wins (rdma-core and the kernel keep
//   the default GIDs first; the result is stable across restarts).
int select_gid(LinkLayer ll, std::span<const GidEntry> table, AddrFamily family, int configured, std::string* err);

// "fe80::1", "::ffff:198.18.1.1", for log lines (inet_ntop form).
std::string gid_to_string(const std::array<uint8_t, 16>& gid);

// Bytes of an enum ibv_mtu (IBV_MTU_256 -> 256 ... IBV_MTU_4096 -> 4096); 0 if unknown.
uint32_t mtu_bytes(uint8_t ibv_mtu);
// The path MTU: the smaller of both ports' active MTUs (RC segments each
// SEND into packets of this size). 0 when either is not a valid ibv_mtu.
uint8_t clamp_path_mtu(uint8_t local_active, uint8_t remote_active);

struct Transition {
    ibv_qp_attr attr{};
    int mask = 0;
};

struct RcTiming {
    uint8_t timeout = 14;       // 4.096 us * 2^14 = 67 ms local ACK timeout
    uint8_t retry_cnt = 7;      // transport retries before IBV_WC_RETRY_EXC_ERR
    uint8_t rnr_retry = 7;      // 7 = infinite; credits keep RNR off the fast path
    uint8_t min_rnr_timer = 12; // 0.64 ms
    uint8_t sl = 0;             // InfiniBand service level
    uint8_t traffic_class = 0;  // RoCEv2 DSCP << 2
    uint8_t hop_limit = 64;     // GRH hop limit (RoCEv2, or routed IB)
};

// RESET -> INIT: port, pkey index 0, remote access none (SEND/RECV only).
Transition to_init(uint8_t port);
// INIT -> RTR towards `remote`: on InfiniBand dlid + SL (a GRH only when
// the remote GID's subnet prefix differs from ours); on Ethernet is_global
// with dgid, our sgid_index, hop limit and traffic class. *err when remote
// does not match our link layer or has no usable address.
bool to_rtr(const EndpointInfo& local, const EndpointInfo& remote, uint8_t port, uint8_t path_mtu,
            const RcTiming& t, Transition* out, std::string* err);
// RTR -> RTS: our send PSN, timeout, retry counts.
Transition to_rts(uint32_t sq_psn, const RcTiming& t);

}  // namespace sluice::drivers::rdma
