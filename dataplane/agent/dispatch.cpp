// What the agent does with each punted packet: ARP (RFC 826), neighbor
// discovery (RFC 4861), echo to the router's addresses (RFC 792 / 4443),
// ICMP errors for transit packets, and transit packets waiting on a neighbor.
#include <cstring>

#include <rte_byteorder.h>
#include <rte_mbuf.h>

#include "dataplane/agent/agent.hpp"
#include "dataplane/pkt/eth.hpp"
#include "dataplane/pkt/arp.hpp"
#include "dataplane/pkt/icmp.hpp"
#include "dataplane/pkt/nd.hpp"

namespace sluice::dp {

namespace {

void set_len(rte_mbuf* m, size_t len) {
    m->data_len = uint16_t(len);
    m->pkt_len = uint32_t(len);
}

}  // namespace

// Each punted packet counts once here and ends in exactly one of handled,
// a drop reason or a pending queue (docs/architecture.md, "Counters").
void Agent::handle(rte_mbuf* m) {
    bump(c_.agent.punted_in);
    uint32_t kind = uint32_t(punt_of(m));
    PuntHandler h = kind < kPuntKinds ? punt_handlers_[kind] : nullptr;
    if (!h) {
        drop(m, DropReason::local_unsupported);
        return;
    }
    (this->*h)(m);
}

// Addressed to the router (or link-scope): by ethertype. The worker only
// punts "local" for frames at least as long as an Ethernet header.
void Agent::handle_local(rte_mbuf* m) {
    switch (pkt::eth_type(rte_pktmbuf_mtod(m, const uint8_t*))) {
    case pkt::kEtherTypeArp:
        handle_arp(m);
        return;
    case pkt::kEtherTypeIpv4:
        handle_local4(m);
        return;
    case pkt::kEtherTypeIpv6:
        handle_local6(m);
        return;
    default:
        drop(m, DropReason::l2_unknown_ethertype);
        return;
    }
}

void Agent::handle_arp(rte_mbuf* m) {
    const Interfaces& ifs = *sh_.tables->get()->ifaces;
    uint16_t port = m->port;
    uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
    auto a = pkt::parse_arp(d + kEthHdr, m->data_len - kEthHdr);
    if (!a) {
        drop(m, DropReason::arp_invalid);
        return;
    }
    net::IpAddr tpa = net::IpAddr::from_v4_host(a->tpa);
    net::IpAddr spa = net::IpAddr::from_v4_host(a->spa);
    bool for_us = ifs.is_local(port, tpa);
    bool sender_on_link = false;
    for (const auto& p : ifs.port[port].v4) sender_on_link |= net::contains(p, spa) && !(p.addr == spa);
    // RFC 826 "merge": update an existing entry from any ARP; create one
    // only when we are the target. ARP probes (sender 0.0.0.0) teach nothing.
    if (a->spa != 0 && sender_on_link)
        learn(port, spa.bytes.data(), false, a->sha, a->op == 2 && for_us, true, for_us);
    if (!for_us) {
        drop(m, DropReason::arp_not_for_us);
        return;
    }
    if (a->op != 1) {
        consumed(m);  // a reply to us: learned above
        return;
    }
    pkt::ArpPacket r{};
    r.op = 2;
    r.sha = ifs.port[port].mac;
    r.spa = a->tpa;
    r.tha = a->sha;
    r.tpa = a->spa;
    size_t len = pkt::build_arp_frame(d, rte_pktmbuf_data_room_size(m->pool) - m->data_off, a->sha,
                                      ifs.port[port].mac, r);
    set_len(m, len);
    send_on(port, m);
}

void Agent::handle_local4(rte_mbuf* m) {
    const Interfaces& ifs = *sh_.tables->get()->ifaces;
    uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, kEthHdr);
    uint16_t total = pkt::load_be16(ip + 2);
    bool ours = ifs.is_ours(net::IpAddr::v4(ip + 16));
    if (!ours) {  // a subnet broadcast: nothing listens here
        drop(m, DropReason::local_unsupported);
        return;
    }
    uint8_t proto = ip[9];
    uint8_t ihl = uint8_t((ip[0] & 0x0f) * 4);
    if (proto == 1 && total > ihl && ip[ihl] == 8) {
        if (!pkt::icmp4_echo_reply_inplace(ip, total)) {
            drop(m, DropReason::icmp_invalid);
            return;
        }
        set_len(m, kEthHdr + total);
        bump(icmp_.v4_sent[0]);
        route_and_send(m, false);
        return;
    }
    if (proto == 17) {
        // Nothing listens on UDP here: port unreachable, which is how a
        // UDP traceroute learns it reached the router (RFC 1122 3.2.2.1).
        icmp_send(m, false, 3, 3, 0);
    }
    drop(m, DropReason::local_unsupported);
}

void Agent::handle_local6(rte_mbuf* m) {
    const Interfaces& ifs = *sh_.tables->get()->ifaces;
    uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, kEthHdr);
    uint32_t len = 40u + pkt::load_be16(ip + 4);
    const uint8_t* dst = ip + 24;
    bool multicast = dst[0] == 0xff;
    bool ours = ifs.is_ours(net::IpAddr::v6(dst));
    if (ip[6] == 58 && len >= 48) {
        uint8_t type = ip[40];
        if (type == 135 || type == 136) {
            handle_nd(m);
            return;
        }
        if (type == 128 && (ours || (multicast && dst[1] == 0x02 && dst[15] == 1))) {
            const uint8_t* src = ours ? dst : ifs.source_address6(m->port);
            uint8_t our[16];
            std::memcpy(our, src, 16);
            if (!pkt::icmp6_echo_reply_inplace(ip, len, our)) {
                drop(m, DropReason::icmp_invalid);
                return;
            }
            set_len(m, kEthHdr + len);
            bump(icmp_.v6_sent[129]);
            route_and_send(m, false);
            return;
        }
    }
    if (!ours && !multicast) {
        drop(m, DropReason::ipv6_bad_destination);  // someone else's link-local address
        return;
    }
    if (ours && ip[6] == 17) icmp_send(m, true, 1, 4, 0);  // port unreachable (RFC 4443 3.1)
    drop(m, DropReason::local_unsupported);
}

void Agent::handle_nd(rte_mbuf* m) {
    const Interfaces& ifs = *sh_.tables->get()->ifaces;
    uint16_t port = m->port;
    uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
    uint8_t* ip = d + kEthHdr;
    auto nd = pkt::parse_nd(ip, m->data_len - kEthHdr);
    if (!nd) {
        drop(m, DropReason::nd_invalid);
        return;
    }
    const uint8_t* src = ip + 8;
    static constexpr uint8_t kUnspecified[16] = {};
    bool from_unspecified = std::memcmp(src, kUnspecified, 16) == 0;
    if (nd->type == 136) {  // NA: RFC 4861 7.2.5
        if (nd->lladdr) learn(port, nd->target.data(), true, *nd->lladdr, nd->solicited, nd->override_flag, false);
        consumed(m);
        return;
    }
    // NS: RFC 4861 7.2.3
    if (!ifs.is_local(port, net::IpAddr::v6(nd->target.data()))) {
        drop(m, DropReason::nd_not_for_us);
        return;
    }
    std::array<uint8_t, 6> dst_mac;
    uint8_t dst_ip[16];
    if (from_unspecified) {
        // Duplicate address detection: answer to all-nodes (7.2.4).
        static constexpr uint8_t kAllNodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        std::memcpy(dst_ip, kAllNodes, 16);
        dst_mac = {0x33, 0x33, 0, 0, 0, 1};
    } else {
        if (nd->lladdr) learn(port, src, true, *nd->lladdr, false, true, true);
        std::memcpy(dst_ip, src, 16);
        if (nd->lladdr)
            dst_mac = *nd->lladdr;
        else
            std::memcpy(dst_mac.data(), d + 6, 6);
    }
    uint8_t target[16];
    std::memcpy(target, nd->target.data(), 16);
    size_t len = pkt::build_na_frame(d, rte_pktmbuf_data_room_size(m->pool) - m->data_off, ifs.port[port].mac,
                                     target, dst_mac, dst_ip, target, true, !from_unspecified, true);
    set_len(m, len);
    send_on(port, m);
}

}  // namespace sluice::dp
