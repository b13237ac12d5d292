// ICMP errors for transit packets the workers could not forward: time
// exceeded (RFC 792, RFC 1812 5.3.1; RFC 4443 3.3), destination unreachable
// for no route (RFC 1812 5.2.7.1; RFC 4443 3.1), fragmentation needed /
// packet too big (RFC 1191, RFC 4443 3.2). Sent from the address of the
// interface the packet arrived on, so traceroute shows that hop; rate
// limited by one token bucket (RFC 1812 4.3.2.8, RFC 4443 2.4(f)).
#include <cstring>

#include <rte_byteorder.h>
#include <rte_mbuf.h>

#include "dataplane/agent/agent.hpp"
#include "dataplane/pkt/eth.hpp"
#include "dataplane/pkt/icmp.hpp"
#include "dataplane/pkt/validate.hpp"

namespace sluice::dp {

uint16_t Agent::egress_mtu(const rte_mbuf* m) {
    const uint8_t* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, kEthHdr);
    auto r = route(*sh_.tables->get(), ip, m->data_len - kEthHdr);
    bool v6 = (ip[0] >> 4) == 6;
    return r.nh ? r.nh->mtu : uint16_t(v6 ? 1280 : 576);
}

void Agent::icmp_send(const rte_mbuf* m, bool v6, uint8_t type, uint8_t code, uint32_t rest) {
    const Interfaces& ifs = *sh_.tables->get()->ifaces;
    // Never about a frame sent to a link-layer group address (RFC 1812
    // 4.3.2.7, RFC 4443 2.4(e.2)).
    if (pkt::is_multicast_mac(rte_pktmbuf_mtod(m, const uint8_t*))) return;
    const uint8_t* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, kEthHdr);
    size_t len = m->data_len - kEthHdr;
    if (v6 ? !pkt::icmp6_error_allowed(ip, len) : !pkt::icmp4_error_allowed(ip, len)) return;
    const uint8_t* src = v6 ? ifs.source_address6(m->port) : ifs.source_address4(m->port);
    if (!src) return;
    if (!icmp_bucket_.try_take(now_ns())) {
        bump(icmp_.rate_limited);
        return;
    }
    rte_mbuf* n = alloc();
    if (!n) return;
    uint8_t* out = rte_pktmbuf_mtod_offset(n, uint8_t*, kEthHdr);
    size_t cap = rte_pktmbuf_tailroom(n) - kEthHdr;
    size_t plen = v6 ? pkt::build_icmp6_error(out, cap, ip, len, src, type, code, rest)
                     : pkt::build_icmp4_error(out, cap, ip, len, src, type, code, rest);
    if (plen == 0) {
        rte_pktmbuf_free(n);
        return;
    }
    n->data_len = uint16_t(kEthHdr + plen);
    n->pkt_len = n->data_len;
    n->port = m->port;  // link-local replies leave by the ingress port
    bump(v6 ? icmp_.v6_sent[type] : icmp_.v4_sent[type]);
    route_and_send(n, false);
}

void Agent::icmp_error(rte_mbuf* m) {
    Punt why = punt_of(m);
    const uint8_t* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, kEthHdr);
    bool v6 = (ip[0] >> 4) == 6;
    DropReason reason = DropReason::none;
    switch (why) {
    case Punt::ttl:
        reason = v6 ? DropReason::ipv6_hop_limit_exceeded : DropReason::ipv4_ttl_exceeded;
        icmp_send(m, v6, v6 ? 3 : 11, 0, 0);
        break;
    case Punt::no_route:
        reason = v6 ? DropReason::ipv6_no_route : DropReason::ipv4_no_route;
        icmp_send(m, v6, v6 ? 1 : 3, 0, 0);
        break;
    case Punt::too_big:
    case Punt::lb_too_big: {
        reason = v6 ? DropReason::ipv6_too_big : DropReason::ipv4_frag_needed;
        // The balancer's packets report what is left after its headers.
        uint32_t mtu = why == Punt::lb_too_big ? punt_payload(m) : egress_mtu(m);
        // No fragmentation here: IPv4 without DF is dropped too, counted
        // under the same reason (documented in docs/architecture.md).
        if (v6)
            icmp_send(m, true, 2, 0, mtu);
        else if (ip[6] & 0x40)
            icmp_send(m, false, 3, 4, mtu);
        break;
    }
    default:
        reason = DropReason::local_unsupported;
        break;
    }
    drop(m, reason);
}

}  // namespace sluice::dp
