// What a worker decides about one received frame before any table lookup:
// gather it for its family's FIB lookup, hand it to the agent, or drop it
// under exactly one reason. One pure function of the frame bytes and a few
// mbuf and port facts, so the unit tests run the code the worker runs
// without EAL or mbufs: forward_burst's parse loop is classify() below, with
// classify_slow called out of line.
#pragma once

#include <cstdint>

#include "dataplane/drop_reasons.hpp"
#include "dataplane/pkt/eth.hpp"
#include "dataplane/pkt/fast_path.hpp"
#include "dataplane/pkt/ip.hpp"
#include "dataplane/pkt/validate.hpp"

namespace sluice::pkt {

// A received frame as the worker sees it, mbuf fields as plain values.
struct RxFrame {
    const uint8_t* data = nullptr;  // the Ethernet header (rte_pktmbuf_mtod)
    uint32_t len = 0;               // bytes at data: the first segment (data_len)
    uint32_t pkt_len = 0;           // bytes in the whole mbuf chain (pkt_len)
    uint64_t ol_flags = 0;          // RX offload flags; only the IPv4 checksum bits are read
};

// The receiving port as the classification needs it (`port_mac` below): its
// MAC as mac48(), or kNoPortMac when the port is not in the snapshot. No
// frame matches kNoPortMac (mac48() is below 2^48), so the fast path needs
// no separate test for it.
inline constexpr uint64_t kNoPortMac = ~uint64_t(0);

enum class Action : uint8_t {
    gather_v4,   // to the IPv4 FIB lookup, L3 header at data + kEthHdrLen
    gather_v6,   // to the IPv6 FIB lookup, likewise
    punt_local,  // to the agent: ARP, ND, DAD, link-local and link-scope multicast
    drop,        // counted under `why`
};

struct Verdict {
    Action action = Action::drop;
    dp::DropReason why = dp::DropReason::none;  // set for Action::drop only
    friend bool operator==(const Verdict&, const Verdict&) = default;
};

inline constexpr Verdict drop_as(dp::DropReason why) { return {Action::drop, why}; }

// A single-segment frame the fast path (fast_path.hpp) vouches for.
[[gnu::always_inline]] inline FastPath fast_path(const RxFrame& f, const HeaderMatch& hm) {
    // A chained mbuf is given length 0, which fast_path's first length test
    // sends to the slow path: a conditional move instead of a second branch
    // (one instruction per packet less under callgrind, docs/perf.md).
    uint32_t len = f.pkt_len == f.len ? f.len : 0;
    return fast_path(f.data, len, hm, f.ol_flags);
}
[[gnu::always_inline]] inline FastPath fast_path(const RxFrame& f, uint64_t port_mac) {
    return fast_path(f, header_match(port_mac));
}

// The full checks in RFC order, for everything the fast path does not vouch
// for: gives the drop reason, or accepts an uncommon but valid packet (IPv4
// options, NIC checksum verdicts, link-local and multicast IPv6, ARP).
inline Verdict classify_slow(const RxFrame& f, uint64_t port_mac) {
    using dp::DropReason;
    const uint8_t* d = f.data;
    uint32_t len = f.len;
    // The worker parses and rewrites the first segment only, and a frame's
    // headers may continue in the next one: chained mbufs (scatter RX of
    // jumbo frames, vhost mergeable buffers) are not parsed at all.
    if (f.pkt_len != len) return drop_as(DropReason::multi_segment);
    if (len < kEthHdrLen) return drop_as(DropReason::l2_truncated);
    if (port_mac == kNoPortMac) return drop_as(DropReason::port_down);
    // Unicast frames must be for us; group frames (broadcast, multicast)
    // are looked at by the protocol handlers.
    if (!is_multicast_mac(d) && mac48(d) != port_mac) return drop_as(DropReason::l2_not_for_us);
    const uint8_t* ip = d + kEthHdrLen;
    uint32_t avail = len - uint32_t(kEthHdrLen);
    switch (eth_type(d)) {
    case kEtherTypeIpv4: {
        DropReason why = validate_ipv4(ip, avail, rx_csum_of(f.ol_flags));
        if (why != DropReason::none) return drop_as(why);
        uint32_t dst = ipv4_dst(ip);
        // Multicast and limited broadcast are not routed here
        // (RFC 1812 5.3.5.1); they end at this router unprocessed.
        if (ipv4_addr_is_multicast(dst) || ipv4_addr_is_limited_broadcast(dst))
            return drop_as(DropReason::local_unsupported);
        return {Action::gather_v4};
    }
    case kEtherTypeIpv6: {
        DropReason why = validate_ipv6(ip, avail);
        const uint8_t* dst = ipv6_dst(ip);
        // Duplicate address detection and MLD come from :: to link-local
        // multicast (RFC 4862 5.4.2): the agent's.
        if (why == DropReason::ipv6_bad_source && ipv6_addr_is_multicast(dst) &&
            ipv6_multicast_scope(dst) == kIpv6ScopeLinkLocal && ipv6_addr_is_unspecified(ipv6_src(ip)))
            return {Action::punt_local};
        if (why != DropReason::none) return drop_as(why);
        if (ipv6_addr_is_multicast(dst)) {
            // Link-local scope multicast carries ND and echo to all-nodes:
            // the agent's. Wider scopes are not routed.
            if (ipv6_multicast_scope(dst) == kIpv6ScopeLinkLocal) return {Action::punt_local};
            return drop_as(DropReason::ipv6_multicast);
        }
        if (ipv6_addr_is_link_local(dst)) return {Action::punt_local};  // never leaves the link
        return {Action::gather_v6};
    }
    case kEtherTypeArp:
        return {Action::punt_local};
    default:
        return drop_as(DropReason::l2_unknown_ethertype);
    }
}

// The worker's decision for one frame: the inline fast path where it
// vouches, else the full checks. Always equal to classify_slow(f, port_mac):
// tests/unit/pkt/test_classify.cpp holds that on generated frames.
inline Verdict classify(const RxFrame& f, uint64_t port_mac) {
    switch (fast_path(f, port_mac)) {
    case FastPath::v4:
        return {Action::gather_v4};
    case FastPath::v6:
        return {Action::gather_v6};
    case FastPath::slow:
        break;
    }
    return classify_slow(f, port_mac);
}

}  // namespace sluice::pkt
