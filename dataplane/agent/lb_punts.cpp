// What the agent does with the load balancer's punts (lb/stage.cpp): echo
// requests to a VIP address, and balanced packets whose next MAC is not
// known yet. Too-big ones go through icmp_errors.cpp with the MTU the
// worker computed.
#include <cstring>

#include <rte_mbuf.h>

#include "dataplane/agent/agent.hpp"
#include "dataplane/pkt/bytes.hpp"
#include "dataplane/pkt/eth.hpp"
#include "dataplane/pkt/icmp.hpp"

namespace sluice::dp {

// An echo request to a VIP address is answered by the balancer itself, from
// the VIP (docs/lb.md, "ICMP"): the address answers pings whatever its
// backends' state, as Katran and IPVS directors do.
void Agent::handle_vip_echo(rte_mbuf* m) {
    uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, kEthHdr);
    uint32_t avail = m->data_len - kEthHdr;
    bool v6 = (ip[0] >> 4) == 6;
    uint32_t len = v6 ? 40u + pkt::load_be16(ip + 4) : pkt::load_be16(ip + 2);
    if (len > avail) {
        drop(m, DropReason::icmp_invalid);
        return;
    }
    bool ok;
    if (v6) {
        uint8_t vip[16];
        std::memcpy(vip, ip + 24, 16);
        ok = pkt::icmp6_echo_reply_inplace(ip, len, vip);
    } else {
        ok = pkt::icmp4_echo_reply_inplace(ip, len);
    }
    if (!ok) {
        drop(m, DropReason::icmp_invalid);
        return;
    }
    m->data_len = uint16_t(kEthHdr + len);
    m->pkt_len = m->data_len;
    bump(v6 ? icmp_.v6_sent[129] : icmp_.v4_sent[0]);
    route_and_send(m, false);
}

// A balanced packet waiting for a MAC. NAT and encapsulated packets name
// their backend as destination already: routed as they are (no TTL change,
// the worker did what was due). An L2 DSR packet still names the VIP: the
// payload says which backend's MAC it needs.
void Agent::lb_resolve(rte_mbuf* m) {
    uint32_t p = punt_payload(m);
    if (p == 0) {
        route_and_send(m, false);
        return;
    }
    const Root& root = *sh_.tables->get();
    const uint32_t slot = p - 1;
    if (slot >= root.lb->backends.size() || root.lb->backends[slot].uid == 0) {
        drop(m, DropReason::lb_backend_unreachable);  // removed meanwhile
        return;
    }
    const LbBackend& b = root.lb->backends[slot];
    uint64_t nhv = b.v6 ? root.fib6->lookup(b.addr.data()) : root.fib4->lookup(pkt::load_be32(b.addr.data()));
    NhKind kind = nh_kind(nhv);
    const NextHop* nh = kind == NhKind::single ? &root.nexthops->nh[nh_index(nhv)] : nullptr;
    if (!nh || nh->neighbor != kNoNeighbor) {
        drop(m, DropReason::lb_backend_unreachable);
        return;
    }
    uint32_t n = ensure_slot(b.v6 ? NeighborKey::v6addr(nh->port, b.addr.data()) : NeighborKey::v4(nh->port, b.addr.data()));
    if (n == kNoNeighbor) {
        drop(m, DropReason::neighbor_table_full);
        return;
    }
    deliver(m, nh->port, n);
}

}  // namespace sluice::dp
