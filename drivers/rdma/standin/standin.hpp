// The software stand-in for an RDMA NIC (docs/rdma.md, "The stand-in"): a
// VerbsOps table (drivers/rdma/verbs/ops.hpp) over the real verbs structs,
// deterministic (no thread of its own: work progresses inside the calls),
// faithful where transport bugs hide:
//   - the QP state machine: RESET -> INIT -> RTR -> RTS with the attribute
//     masks each transition requires, posting a send before RTS fails;
//   - RC delivery in order, addressed by LID (InfiniBand) or GID (RoCE) and
//     QPN, PSNs checked; completions with the real status codes;
//   - send-queue slots freed only when a later signalled completion is
//     polled; inline size limits; lkey and length checks against registered
//     regions; receive buffers too small;
//   - RNR when no receive is posted (retried rnr_retry times, 7 = forever);
//   - CQ overflow; the error state that flushes all outstanding work;
//   - a peer that dies (its process gone, or kill_device) makes the sender's
//     outstanding work complete with IBV_WC_RETRY_EXC_ERR.
// Two endpoints meet through shared memory (a ring per receiving QP under
// /dev/shm), in one process or in two.
//
// What to know when using it (details in the .cpp files):
//   - get_device_list with no device added returns NULL with errno ENOSYS,
//     exactly as libibverbs on a kernel without RDMA: "no RDMA devices".
//   - Devices belong to the process that added them: a forked child lists
//     none until it adds its own (its node identity is then its own).
//   - RC QPs only, receiving through an SRQ only (create_qp without srq is
//     EINVAL); SEND and SEND_WITH_IMM only; one port; SQD/SQE and path
//     migration are not modelled (ALT_PATH is accepted and ignored).
//   - Progress happens only inside calls: a SEND reaches the receiver when
//     the receiver polls its recv CQ; the sender's completion appears when
//     the sender polls its send CQ after that. CQs hold exactly `cqe`.
//   - A ring has one producer: a second QP aiming at an already connected
//     QP gets IBV_WC_RETRY_EXC_ERR, as would an unanswered real one.
//   - Files: /dev/shm/sluice-standin.<fabric>.node.<id> (identity) and
//     .<fabric>.<node>.<qpn> (rings). Destroying a QP or closing its device
//     unlinks them; a normal exit unlinks what the process owns; files of
//     dead processes are swept whenever a device is added or opened.
//   - Threads: as a real provider; one thread at a time per QP/SRQ/CQ; the
//     control path may create or change QPs on CQs other threads poll.
//     Receives land in the SRQ when a recv CQ is polled, so the recv CQs
//     of an SRQ's QPs are polled by the thread that posts to that SRQ.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "drivers/rdma/connect/attr.hpp"
#include "drivers/rdma/verbs/ops.hpp"

namespace sluice::drivers::rdma::standin {

struct DeviceSpec {
    std::string name = "standin0";     // what get_device_name reports
    std::string fabric = "default";    // endpoints meet when their fabrics match
    LinkLayer link_layer = LinkLayer::ethernet;
    uint8_t active_mtu = IBV_MTU_4096;
    // Empty: a table like a ConnectX port's. Ethernet: RoCEv1 and RoCEv2
    // entries for a link-local IPv6 GID, then for an IPv4-mapped
    // ::ffff:198.18.x.y GID (x.y from the node). InfiniBand: the port GID
    // fe80::<guid> at index 0.
    std::vector<GidEntry> gids;
    uint32_t max_inline = 256;         // bytes of inline data a QP may ask for
    uint32_t max_qp_wr = 16384;
    uint32_t max_sge = 4;
    uint32_t max_cqe = 65536;
    uint32_t max_srq_wr = 32768;
    uint32_t ring_slots = 1024;        // messages a receiving QP's ring holds (the wire)
    uint32_t slot_bytes = 9216 + 64;   // largest message the wire carries
};

// Adds a device to what get_device_list returns in this process. Its node
// identity (LID, GIDs, QPNs) is unique across the processes of a machine.
void add_device(const DeviceSpec& spec);
// Forgets every device added (open contexts stay valid until closed).
void remove_devices();
// The table.
const VerbsOps& ops();

// ---- fault injection, for tests ----
// As a fatal transport error on `qp`: it moves to IBV_QPS_ERR and all its
// outstanding work completes with IBV_WC_WR_FLUSH_ERR.
void inject_qp_error(ibv_qp* qp);
// The next `count` reg_mr calls fail (NULL, errno ENOMEM).
void fail_next_reg_mr(int count);
// `context`'s node vanishes as if its process died: its QPs stop answering
// (no ACK, no NAK); peers' outstanding and later sends complete with
// IBV_WC_RETRY_EXC_ERR. The context stays valid for destroy/close calls.
void kill_device(ibv_context* context);
// True once `cq` has overflowed (a completion found it full).
bool cq_overflowed(const ibv_cq* cq);

// Counters of what the stand-in saw, per process.
struct Stats {
    uint64_t rnr_naks = 0;        // deliveries refused for want of a posted receive
    uint64_t retry_exceeded = 0;  // sends failed with IBV_WC_RETRY_EXC_ERR
    uint64_t cq_overflows = 0;
    uint64_t messages = 0;        // SENDs delivered
};
Stats stats();

}  // namespace sluice::drivers::rdma::standin
