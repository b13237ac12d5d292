// Two connected peers for the transport tests, on one of the fabrics the
// contract suite runs over, and the traffic helpers that move, check and
// count frames between them.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "drivers/rdma/connect/oob_message.hpp"
#include "drivers/rdma/transport/device.hpp"
#include "drivers/rdma/transport/peer.hpp"
#include "drivers/rdma/transport/receive_queue.hpp"
#include "drivers/rdma/verbs/ops.hpp"

struct rte_mbuf;
struct rte_mempool;

namespace sluice::test::rdma {

using namespace sluice::drivers::rdma;

enum class Fabric { standin, standin_ib, verbs };
const char* fabric_name(Fabric f);

struct Side {
    std::string dev_name;
    std::unique_ptr<Device> dev;
    std::unique_ptr<ReceiveQueue> rq;
    std::unique_ptr<Peer> peer;
    EndpointInfo info;
    void destroy();  // peer, then receive queue, then device
};

struct PairOptions {
    PeerParams a, b;
    uint32_t rq_size = 1024;
    rte_mempool* rx_pool = nullptr;  // default: pool()
    // The stand-in's table by default; tests wrap it to inject faults.
    const VerbsOps* ops = nullptr;
    // Fabric::verbs: the device both peers use (empty: the first listed).
    std::string verbs_device;
};

class Pair {
public:
    // Opens two devices on `f` and a receive queue and a peer on each.
    // Null with *skip set when the fabric has no devices (the reason in
    // *why), or *why on any other failure.
    static std::unique_ptr<Pair> open(Fabric f, const PairOptions& o, std::string* why, bool* skip);
    ~Pair();
    // prepare() both, swap EndpointInfo, connect() both, activate() both.
    bool connect(std::string* err);
    // Replaces side b by a new device (a restarted node) and its peer.
    bool replace_b(std::string* err);

    Fabric fabric;
    PairOptions opts;
    std::string fabric_id;
    Side a, b;

private:
    bool open_side(Side& s, const std::string& name, const PeerParams& p, std::string* err);
};

// Frame i of a stream: its sequence number in the first 8 bytes, then a
// pattern derived from it, so a reordered, truncated or corrupted frame
// shows.
rte_mbuf* make_frame(rte_mempool* mp, uint32_t len, uint64_t seq);
// "" when m is frame `seq` of `len` bytes, else what differs.
std::string check_frame(const rte_mbuf* m, uint32_t len, uint64_t seq);

// One direction of traffic: `total` frames of `len` bytes (0: lengths
// cycling through 64, 1500, 9000 and small odd sizes) in bursts of `burst`.
struct Stream {
    uint64_t total = 0;
    uint32_t len = 64;
    uint16_t burst = 32;
    rte_mempool* tx_pool = nullptr;  // default: pool()
    bool rx_enabled = true;          // false: the receiver does not call rx_burst
    bool hold_rx = false;            // keep received mbufs (in held) instead of freeing them
    uint64_t sent = 0, received = 0;
    std::vector<rte_mbuf*> backlog;  // built, not taken yet
    std::vector<rte_mbuf*> held;
    std::string error;               // the first bad frame
    uint32_t len_of(uint64_t seq) const;
    bool done() const { return received == total; }
    void free_all();
};

// Rounds of: tx on both sides, poll both, rx on both, until both streams are
// done, `max_rounds` pass or `limit` is reached. True when both are done.
// A stream may be null (no traffic that way).
bool run(Pair& p, Stream* ab, Stream* ba, uint64_t max_rounds, std::chrono::milliseconds limit = std::chrono::seconds(60));
// A peer's state and counters in one line, for failure messages.
std::string describe(const Peer& p);
std::string describe(const Pair& p, const Stream* ab, const Stream* ba);

// poll() both sides until nothing is in flight and no credit is owed
// (bounded); true when quiet.
bool settle(Pair& p, int max_rounds = 2000);

}  // namespace sluice::test::rdma
