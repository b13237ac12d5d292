// The forwarding stage over one burst: parse and validate (RFC 1812 /
// RFC 8200), one bulk FIB lookup per family, one bulk neighbor lookup for
// on-link destinations, then rewrite. It only decides: the caller transmits,
// punts and frees, so tests can drive it with hand-made mbufs.
#pragma once

#include <cstdint>

#include "dataplane/counters.hpp"
#include "dataplane/lb/flow_table.hpp"
#include "dataplane/tables/root.hpp"
#include "dataplane/neighbor/table.hpp"

struct rte_mbuf;

namespace sluice::dp {

inline constexpr uint16_t kMaxBurst = 256;

struct LbWorker;

// The load balancer stage's per-packet scratch (lb/stage.cpp).
struct LbScratch {
    lb::FlowKey key[kMaxBurst];
    uint32_t hash[kMaxBurst];
    uint32_t vip[kMaxBurst];
    uint32_t backend[kMaxBurst];
    uint8_t flags[kMaxBurst];
    rte_mbuf* m4[kMaxBurst];  // chosen, waiting for the backend's FIB lookup, per family
    uint32_t dst4[kMaxBurst];
    uint64_t nh4[kMaxBurst];
    uint16_t i4[kMaxBurst];   // index into the arrays above
    uint8_t dst6[kMaxBurst][16];
    uint64_t nh6[kMaxBurst];
    uint16_t i6[kMaxBurst];
};

// Per-burst scratch for the gather/lookup/scatter steps; lives in the
// worker's BurstResult so nothing is constructed per burst.
struct BurstScratch {
    // Per family: the packet, its L3 header (no pointer chase from an index
    // later), where its lookup starts, and the bulk lookup's input and answer.
    rte_mbuf* m4[kMaxBurst];
    uint8_t* ip4[kMaxBurst];
    const void* line4[kMaxBurst];  // the tbl24 entry of the destination (fib_direct_line)
    uint32_t dst4[kMaxBurst];      // for the bulk lookup only (FibDirect unverified)
    uint64_t nh4[kMaxBurst];
    rte_mbuf* m6[kMaxBurst];
    uint8_t* ip6[kMaxBurst];
    uint8_t dst6[kMaxBurst][16];
    uint64_t nh6[kMaxBurst];
    // Packets to on-link destinations, waiting for the neighbor lookup.
    rte_mbuf* fwd_m[kMaxBurst];
    uint16_t fwd_port[kMaxBurst];
    uint32_t fwd_slot[kMaxBurst];
    const uint8_t* fwd_addr[kMaxBurst];  // address to resolve; null: the packet's destination
    uint32_t fwd_lb[kMaxBurst];          // 0: routed; else load-balanced (burst_ops.hpp, queue_onlink)
    uint32_t fwd_backend[kMaxBurst];     // load-balanced: the backend slot whose neighbor this is, else UINT32_MAX
    uint16_t n_fwd;
    NeighborKey keys[kMaxBurst];
    const NeighborKey* key_ptr[kMaxBurst];
    // Packets to VIP addresses (the FIB said NhKind::vip), for lb/stage.cpp.
    rte_mbuf* lb_m[kMaxBurst];
    uint32_t lb_addr[kMaxBurst];  // LbTables::addresses index
    uint16_t n_lb;
    LbScratch lb;
};

struct BurstResult {
    BurstResult() {
        for (uint16_t p = 0; p < kMaxPorts; ++p) tail[p] = tx[p];
    }
    BurstResult(const BurstResult&) = delete;  // `tail` points into this object
    BurstResult& operator=(const BurstResult&) = delete;

    BurstScratch scratch;
    // Packets ready to send, per egress port: tx[p][0, tx_count[p]) for the
    // ports listed in `ports_used` (set by list_ports_used, at the end of
    // forward_burst).
    uint16_t tx_count[kMaxPorts] = {};
    rte_mbuf* tx[kMaxPorts][kMaxBurst];
    uint16_t ports_used[kMaxPorts];
    uint16_t n_ports_used = 0;
    // Where the burst's next packet for port p goes (enqueue_tx): one load,
    // one store and one add a packet, where a count took eight instructions
    // to index tx[p] (callgrind line costs).
    rte_mbuf** tail[kMaxPorts];
    // Packets for the agent, reason set with set_punt().
    rte_mbuf* punt[kMaxBurst];
    uint16_t n_punt = 0;
    // Packets to free; their reason is already counted.
    rte_mbuf* drop[kMaxBurst];
    uint16_t n_drop = 0;

    void clear() {
        for (uint16_t i = 0; i < n_ports_used; ++i) {
            const uint16_t p = ports_used[i];
            tx_count[p] = 0;
            tail[p] = tx[p];
        }
        n_ports_used = n_punt = n_drop = 0;
    }
    // Lists the ports with packets to send, in port order, and their counts:
    // once per burst instead of a test in every enqueue, as l3fwd drains its
    // TX buffers port by port. `ports`: 1 + the highest port id a packet can
    // be sent to (Root::Hot::tx_ports). IPv4, 1k prefixes x 1k flows,
    // under callgrind: 331.3 -> 329.9 instructions a packet with a count
    // test per enqueue gone, -> 327.2 with `tail` (IPv6 345.4 -> 342.3).
    void list_ports_used(uint16_t ports = kMaxPorts) {
        n_ports_used = 0;
        for (uint16_t p = 0; p < ports; ++p) {
            if (tail[p] == tx[p]) continue;
            tx_count[p] = uint16_t(tail[p] - tx[p]);
            ports_used[n_ports_used++] = p;
        }
    }
};

// forward_burst's `rx_port` when the burst's packets may come from
// different ports (each mbuf's `port` is read).
inline constexpr uint16_t kAnyRxPort = UINT16_MAX;

// n <= kMaxBurst. `res` must be clear() on entry. `lb`: the worker's load
// balancer state; null (tests of routing alone) drops VIP traffic as
// lb_no_backend. `rx_port`: the port every packet of the burst was received
// on (the RX queue's; each mbuf's `port` must say the same, which debug
// builds verify), or kAnyRxPort.
void forward_burst(const Root& root, const NeighborTable& nbrs, rte_mbuf** pkts, uint16_t n,
                   BurstResult& res, CoreCounters& counters, LbWorker* lb = nullptr,
                   uint16_t rx_port = kAnyRxPort);

}  // namespace sluice::dp
