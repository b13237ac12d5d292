// The stand-in's wire: shared memory under /dev/shm, so two endpoints meet
// whether they live in one process or in two.
//   /dev/shm/sluice-standin.<fabric>.node.<id>      a node's identity (LID, GIDs)
//   /dev/shm/sluice-standin.<fabric>.<node>.<qpn>   a receiving QP's inbound ring
// A ring is single-producer single-consumer and lock-free: the one sending
// QP that claimed it writes slots and publishes `prod` (release); the owning
// QP reads them, writes each slot's status (the ACK or NAK) and publishes
// `cons` (release). The sender reuses a slot only after reading its status.
// std::atomic of 32/64 bits is lock-free on x86-64 and so valid in memory
// shared between processes.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "drivers/rdma/connect/attr.hpp"

namespace sluice::drivers::rdma::standin::detail {

inline constexpr uint64_t kRingMagic = 0x534c5549434552ULL;  // "SLUICER"
inline constexpr uint64_t kNodeMagic = 0x534c5549434e4fULL;  // "SLUICNO"
inline constexpr uint32_t kMaxNodeGids = 32;
inline constexpr uint16_t kMaxNodeId = 0xBFFF;  // unicast LIDs are 0x0001..0xBFFF (IBA 4.1.3)

static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free,
              "shared-memory rings need address-free lock-free atomics");

// The first bytes of every file: who owns it (a dead owner makes it stale).
struct FileHeader {
    std::atomic<uint64_t> magic;  // written last (release): the rest is valid once set
    int32_t owner_pid;
    uint32_t version;
};

enum Responder : uint32_t { kNotReady = 0, kReady = 1, kErrored = 2 };

struct RingHeader {
    FileHeader fh;
    uint32_t slots;
    uint32_t slot_bytes;
    uint32_t node;
    uint32_t qpn;
    std::atomic<uint32_t> alive;      // 1 while the owning QP exists and its node lives
    std::atomic<uint32_t> responder;  // enum Responder: the owning QP's state, as a peer sees it
    std::atomic<uint64_t> producer;   // the token of the sending QP that claimed the ring, 0 = none
    alignas(64) std::atomic<uint64_t> prod;
    alignas(64) std::atomic<uint64_t> cons;
};

// What the receiver answered for a message (written before `cons` moves).
enum SlotStatus : uint32_t {
    kAck = 0,
    kPsnError,     // out of sequence: ignored (the sender times out)
    kRnrExceeded,  // no receive posted after rnr_retry NAKs
    kLenError,     // longer than the receive buffer (responder: invalid request)
    kRemOpError,   // the receive buffer failed its lkey / access check
    kDiscarded,    // dropped (an earlier message of this sender failed, or the QP reset)
};

struct SlotHeader {
    uint64_t token;  // the sending connection
    uint32_t len;
    uint32_t psn;
    uint32_t npkts;  // packets of path_mtu bytes: the receiver's PSN advances by this
    uint32_t src_qpn;
    uint32_t imm;    // network order
    uint16_t src_lid;
    uint8_t with_imm;
    uint8_t rnr_retry;
    uint32_t status;  // enum SlotStatus, written by the receiver
};

class Ring {
public:
    Ring() = default;
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;
    ~Ring() { close(); }

    // Creates (exclusively) and maps our own inbound ring. False and errno on failure.
    bool create(const std::string& fabric, uint32_t node, uint32_t qpn, uint32_t slots, uint32_t slot_bytes);
    // Maps a peer's ring. False when it does not exist or is not a live ring.
    bool open(const std::string& fabric, uint32_t node, uint32_t qpn);
    // Unmaps; the creator first clears `alive` and unlinks the file.
    void close();
    // Clears `alive` without unlinking (a node that vanishes).
    void kill();

    bool mapped() const { return hdr_ != nullptr; }
    RingHeader* hdr() const { return hdr_; }
    SlotHeader* slot(uint64_t seq) const {
        return reinterpret_cast<SlotHeader*>(base_ + (seq % hdr_->slots) * stride_);
    }
    uint8_t* payload(uint64_t seq) const { return reinterpret_cast<uint8_t*>(slot(seq)) + sizeof(SlotHeader); }

private:
    RingHeader* hdr_ = nullptr;
    uint8_t* base_ = nullptr;
    size_t map_len_ = 0;
    size_t stride_ = 0;
    std::string name_;
    bool creator_ = false;
};

std::string ring_name(const std::string& fabric, uint32_t node, uint32_t qpn);
std::string node_name(const std::string& fabric, uint32_t node);

// Claims a node id (1..kMaxNodeId) on `fabric`, starting the search at
// `seed`: creates the node file exclusively (a file whose owner is dead is
// taken over). 0 and errno when none is free.
uint16_t claim_node(const std::string& fabric, uint32_t seed);
// Publishes the node's address table (after its GIDs are known).
void publish_node(const std::string& fabric, uint16_t id, uint8_t link_layer, const std::vector<GidEntry>& gids);
// Unlinks the node file when this process owns it.
void release_node(const std::string& fabric, uint16_t id);
// The live node on `fabric` whose GID table holds `gid`; 0 when none.
uint16_t find_node_by_gid(const std::string& fabric, const uint8_t gid[16]);
// Removes the stand-in's files (every fabric's) whose owner process is
// gone: a process that dies leaves its files behind, as it would leave
// nothing behind on a real fabric.
void sweep_stale();
// Unlinks the names of every file this process owns (at exit: the kernel
// would tear down a dying process's QPs). Mappings stay valid.
void unlink_own_files();
// True when `pid` no longer exists (kill(pid, 0) fails with ESRCH).
bool pid_gone(int32_t pid);

}  // namespace sluice::drivers::rdma::standin::detail
