// The load balancer stage, run inside forward_burst on the packets whose
// destination the FIB marked as a VIP address (NhKind::vip): match the VIP
// by protocol and port, hash the flow, look the flow table up, else take the
// Maglev slot (and track the new flow), rewrite or encapsulate for the
// chosen backend, and send it on through the ordinary FIB and neighbor path,
// in the same burst. docs/lb.md describes the rules; every packet ends
// forwarded, punted or dropped under a named reason.
#pragma once

#include <cstdint>

#include "dataplane/lb/lb_worker.hpp"
#include "dataplane/neighbor/table.hpp"
#include "dataplane/tables/root.hpp"
#include "dataplane/worker/forward.hpp"

namespace sluice::dp {

// The packets in sc.lb_m[0..sc.n_lb). `w` null: all dropped as lb_no_backend.
void lb_burst(const Root::Hot& s, const NeighborTable& nbrs, LbWorker* w, BurstScratch& sc, BurstResult& r,
              CoreCounters& c);

// The NAT return path past the filter (lb_nat_return): the map lookup and
// the rewrite.
void lb_nat_return_match(const Root::Hot& s, uint8_t* ip, uint32_t avail, bool v6);

// NAT return path, for a routed packet (not to a VIP): when its source is a
// NAT backend's (address, protocol, port), rewrites the source to the VIP.
// Called only when the root has NAT VIPs (Root::Hot::nat_filter). The
// filter test is inline, so a routed packet that is no backend's reply
// (most of them) pays no call: as a call it cost 45 instructions a packet
// under callgrind (NAT profile, where every packet is tested), inline the
// thread's total fell by 24. One filter hash per family, so that its byte
// loop unrolls (49 instructions with the family a variable).
inline void lb_nat_return(const Root::Hot& s, uint8_t* ip, uint32_t avail) {
    const bool v6 = (ip[0] >> 4) == 6;
    const uint8_t* src = ip + (v6 ? 8 : 12);
    const uint32_t bit = v6 ? nat_filter_bit(src, true) : nat_filter_bit(src, false);
    if (!(s.nat_filter[bit / 64] & (uint64_t(1) << (bit % 64)))) return;
    lb_nat_return_match(s, ip, avail, v6);
}

// After forward_burst's bulk neighbor lookup: remembers the slots found for
// on-link backends in the worker's neighbor cache.
void lb_remember_neighbors(const Root::Hot& s, const NeighborTable& nbrs, LbWorker& w, const BurstScratch& sc);

// Answers the telemetry thread's question, if any (once per poll loop).
void lb_answer_query(const Root& root, LbWorker& w);

// The flow hash of a key (software, fixed seed: the same on every instance
// and independent of the NIC's RSS key).
uint32_t lb_flow_hash(const lb::FlowKey& k);

}  // namespace sluice::dp
